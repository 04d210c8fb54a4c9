//! Loading a model for the CLI, with progress on stderr, and the flags that become a request.

use std::io::Write;
use std::path::PathBuf;

use hearth::chat::TemplateSource;
use hearth::engine::Phase;
use hearth::gpu::LimitCaps;
use hearth::kernels::SamplerParams;
use hearth::session::{F16, LoadOptions, Request, Session, Stop};
use hearth::source::ReadSource;

/// Options shared by every command that loads a model.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// The GGUF file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Context length in tokens.
    #[arg(long = "ctx", default_value_t = LoadOptions::default().context_length)]
    pub ctx: u32,
    /// The most GPU memory the model may take, in MiB: a model planned over it is refused
    /// before loading (GPUs do not tell hearth how much memory they have).
    #[arg(long = "gpu-memory", value_name = "MIB")]
    pub gpu_memory: Option<u64>,
    /// Compute with f32 activations even where shader-f16 is available.
    #[arg(long)]
    pub f32: bool,
    /// A tokenizer.json to use instead of the GGUF's own tokenizer.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// A chat template (Jinja) to use instead of the GGUF's own.
    #[arg(long = "chat-template-file", value_name = "FILE")]
    pub chat_template: Option<PathBuf>,
}

/// Sampling options.
#[derive(clap::Args, Clone)]
pub struct SamplingArgs {
    /// Temperature; 0 is greedy.
    #[arg(long, default_value_t = SamplerParams::default().temperature)]
    pub temperature: f32,
    /// Top-k (0: off).
    #[arg(long, default_value_t = SamplerParams::default().top_k)]
    pub top_k: u32,
    /// Top-p (1: off).
    #[arg(long, default_value_t = SamplerParams::default().top_p)]
    pub top_p: f32,
    /// Min-p (0: off).
    #[arg(long, default_value_t = SamplerParams::default().min_p)]
    pub min_p: f32,
    /// Repetition penalty (1: off).
    #[arg(long, default_value_t = SamplerParams::default().repeat_penalty)]
    pub repeat_penalty: f32,
    /// Frequency penalty.
    #[arg(long, default_value_t = SamplerParams::default().frequency_penalty)]
    pub frequency_penalty: f32,
    /// Presence penalty.
    #[arg(long, default_value_t = SamplerParams::default().presence_penalty)]
    pub presence_penalty: f32,
    /// RNG seed.
    #[arg(long, default_value_t = SamplerParams::default().seed)]
    pub seed: u32,
}

impl SamplingArgs {
    /// A request with these sampling settings, `max_tokens` and `stop`; the caller adds the
    /// messages or the prompt. The request layer checks the values, as it does for the web.
    pub fn request(&self, max_tokens: usize, stop: &[String]) -> Request {
        Request {
            temperature: Some(self.temperature),
            top_k: Some(self.top_k),
            top_p: Some(self.top_p),
            min_p: Some(self.min_p),
            repetition_penalty: Some(self.repeat_penalty),
            frequency_penalty: Some(self.frequency_penalty),
            presence_penalty: Some(self.presence_penalty),
            seed: Some(u64::from(self.seed)),
            max_tokens: Some(u32::try_from(max_tokens).unwrap_or(u32::MAX)),
            stop: (!stop.is_empty()).then(|| Stop::Many(stop.to_vec())),
            stream: true,
            ..Request::default()
        }
    }
}

/// Opens the GPU and loads the model through the library's [`Session`], printing progress
/// to stderr.
pub fn load(args: &ModelArgs) -> Result<Session, String> {
    let path = &args.model;
    let tokenizer_json = match &args.tokenizer {
        Some(json) => Some(std::fs::read(json).map_err(|e| format!("{}: {e}", json.display()))?),
        None => None,
    };
    let chat_template = match &args.chat_template {
        Some(file) => Some(std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?),
        None => None,
    };
    let opts = LoadOptions {
        context_length: args.ctx,
        f16: if args.f32 { F16::Off } else { F16::Auto },
        tokenizer_json,
        chat_template,
        limits: LimitCaps { memory_budget: args.gpu_memory.map(|m| m.saturating_mul(1 << 20)), ..LimitCaps::default() },
        ..LoadOptions::default()
    };
    let source = ReadSource::open(path).map_err(|e| e.to_string())?;
    let mut last = None;
    let mut progress = |phase: Phase, done: u64, total: u64| {
        let pct = done * 100 / total.max(1);
        if last != Some((phase, pct)) {
            last = Some((phase, pct));
            match phase {
                Phase::Load => eprint!("\rloading {}: {pct}% of {} MiB", path.display(), total >> 20),
                Phase::Compile => eprint!("\rcompiling kernels: {done}/{total}{:30}", ""),
            }
            let _ = std::io::stderr().flush();
        }
    };
    let session = pollster::block_on(Session::load(source, &opts, &mut progress))
        .map_err(|e| format!("{}: {e} [{}]", path.display(), e.code()))?;
    eprintln!();
    let train = session.engine.cfg.n_ctx_train;
    if args.ctx > train {
        eprintln!("note: the model was trained on {train} tokens; positions past that may give poor text");
    }
    if let TemplateSource::BuiltIn(name) = session.template().source {
        eprintln!("note: the file has no chat template; using hearth's built-in '{name}' template");
    }
    Ok(session)
}
