//! Loading a model for the CLI: header, tokenizer, chat template and engine, with progress
//! on stderr.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use hearth::chat::ChatTemplate;
use hearth::engine::{Engine, EngineOptions};
use hearth::gguf::Gguf;
use hearth::gpu::GpuContext;
use hearth::kernels::SamplerParams;
use hearth::tokenizer::Tokenizer;

/// Options shared by every command that loads a model.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// The GGUF file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Context length in tokens.
    #[arg(long = "ctx", default_value_t = 2048)]
    pub ctx: u32,
    /// Compute with f32 activations even where shader-f16 is available.
    #[arg(long)]
    pub f32: bool,
    /// A tokenizer.json to use instead of the GGUF's own tokenizer.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
}

/// Sampling options.
#[derive(clap::Args, Clone)]
pub struct SamplingArgs {
    /// Temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Top-k (0: off).
    #[arg(long, default_value_t = 40)]
    pub top_k: u32,
    /// Top-p (1: off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Min-p (0: off).
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Repetition penalty (1: off).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Frequency penalty.
    #[arg(long, default_value_t = 0.0)]
    pub frequency_penalty: f32,
    /// Presence penalty.
    #[arg(long, default_value_t = 0.0)]
    pub presence_penalty: f32,
    /// RNG seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
}

impl SamplingArgs {
    /// The sampler settings.
    pub fn params(&self) -> SamplerParams {
        SamplerParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            seed: self.seed,
        }
    }
}

/// Everything a command needs to generate.
pub struct Loaded {
    /// The header.
    pub gguf: Gguf,
    /// The tokenizer.
    pub tokenizer: Tokenizer,
    /// The engine.
    pub engine: Engine,
    /// Load time in ms.
    pub load_ms: f64,
}

fn err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// Opens the GPU and loads the model, printing progress to stderr.
pub fn load(args: &ModelArgs, sampler: SamplerParams) -> Result<Loaded, String> {
    let t0 = hearth::clock::now_ms();
    let path = &args.model;
    let mut file = File::open(path).map_err(|e| err(path, e))?;
    let size = file.metadata().map_err(|e| err(path, e))?.len();
    let gguf = Gguf::read(&mut file, size).map_err(|e| err(path, e))?;
    let tokenizer = match &args.tokenizer {
        Some(json) => {
            let bytes = std::fs::read(json).map_err(|e| err(json, e))?;
            Tokenizer::from_json(&bytes, Some(&gguf)).map_err(|e| err(json, e))?
        }
        None => Tokenizer::from_gguf(&gguf).map_err(|e| err(path, e))?,
    };
    let ctx = pollster::block_on(GpuContext::new()).map_err(|e| e.to_string())?;
    let opts = EngineOptions { n_ctx: args.ctx, max_chunk: 128, f16: !args.f32, sampler };
    let mut last = 0u64;
    let mut progress = |done: u64, total: u64| {
        let pct = done * 100 / total.max(1);
        if pct != last {
            last = pct;
            eprint!("\rloading {}: {pct}% of {} MiB", path.display(), total >> 20);
            let _ = std::io::stderr().flush();
        }
    };
    let engine = Engine::load(ctx, &gguf, &mut file, &opts, &mut progress).map_err(|e| err(path, e))?;
    eprintln!();
    Ok(Loaded { gguf, tokenizer, engine, load_ms: hearth::clock::now_ms() - t0 })
}

/// The chat template, telling the user when it is hearth's built-in one.
pub fn template(gguf: &Gguf) -> Result<ChatTemplate, String> {
    let t = ChatTemplate::from_gguf(gguf).map_err(|e| e.to_string())?;
    if let hearth::chat::TemplateSource::BuiltIn(name) = t.source {
        eprintln!("note: the file has no chat template; using hearth's built-in '{name}' template");
    }
    Ok(t)
}
