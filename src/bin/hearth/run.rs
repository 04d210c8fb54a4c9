//! `hearth run`: one prompt, streamed to stdout; `hearth chat`: an interactive conversation.

use std::io::{BufRead, Write};

use hearth::chat::Message;
use hearth::engine::{GenerateOptions, Generation};

use crate::load::{Loaded, ModelArgs, SamplingArgs, load, template};

/// Generates after `ids`, printing each piece to stdout as it comes, then a newline.
fn generate_to_stdout(m: &mut Loaded, ids: &[u32], opts: &GenerateOptions) -> Result<Generation, String> {
    let mut out = std::io::stdout().lock();
    let g = pollster::block_on(m.engine.generate(&m.tokenizer, ids, opts, &mut |piece| {
        let _ = write!(out, "{piece}");
        let _ = out.flush();
        true
    }))
    .map_err(|e| e.to_string())?;
    let _ = writeln!(out);
    Ok(g)
}

/// Arguments of `hearth run`.
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// The prompt (with --chat: the user's message).
    #[arg(short = 'p', long)]
    prompt: String,
    /// Wrap the prompt in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// With --chat: a system message.
    #[arg(long)]
    system: Option<String>,
    /// Most tokens to generate.
    #[arg(short = 'n', long = "n-predict", default_value_t = 256)]
    n: usize,
    /// Stop when the output ends with this text (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print one JSON object on the last line (prompt_ids, generated_ids, text, timings).
    #[arg(long)]
    json: bool,
}

/// Runs one prompt.
pub fn run(args: &RunArgs) -> Result<(), String> {
    let mut m = load(&args.model, args.sampling.params())?;
    let prompt_ids = if args.chat {
        let t = template(&m.gguf)?;
        let mut messages = Vec::new();
        if let Some(s) = &args.system {
            messages.push(Message::new("system", s));
        }
        messages.push(Message::new("user", &args.prompt));
        let text = t.render(&messages, true).map_err(|e| e.to_string())?;
        m.tokenizer.encode(&text, !t.renders_bos(&text), true).map_err(|e| e.to_string())?
    } else {
        m.tokenizer.encode(&args.prompt, true, true).map_err(|e| e.to_string())?
    };
    let opts = GenerateOptions { max_tokens: args.n, stop: args.stop.clone() };
    let g = generate_to_stdout(&mut m, &prompt_ids, &opts)?;
    let t = g.timings;
    eprintln!(
        "prefill {} tokens in {:.0} ms ({:.1} tok/s), decode {} tokens in {:.0} ms ({:.2} tok/s), stop: {:?}",
        t.prefill_tokens,
        t.prefill_ms,
        t.prefill_tokens as f64 / (t.prefill_ms / 1e3),
        t.decode_tokens,
        t.decode_ms,
        t.decode_tokens as f64 / (t.decode_ms / 1e3).max(1e-9),
        g.stop_reason
    );
    if args.json {
        let v = serde_json::json!({
            "prompt_ids": prompt_ids,
            "generated_ids": g.generated_ids,
            "text": g.text,
            "stop_reason": g.stop_reason,
            "timings": { "load_ms": m.load_ms, "prefill_tokens": t.prefill_tokens, "prefill_ms": t.prefill_ms,
                         "decode_tokens": t.decode_tokens, "decode_ms": t.decode_ms },
        });
        let _ = writeln!(std::io::stdout().lock(), "{v}");
    }
    Ok(())
}

/// Arguments of `hearth chat`.
#[derive(clap::Args)]
pub struct ChatArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// A system message.
    #[arg(long)]
    system: Option<String>,
    /// Most tokens per answer.
    #[arg(short = 'n', long = "n-predict", default_value_t = 512)]
    n: usize,
}

/// An interactive conversation: each turn reuses the cached conversation so far.
pub fn chat(args: &ChatArgs) -> Result<(), String> {
    let mut m = load(&args.model, args.sampling.params())?;
    let t = template(&m.gguf)?;
    let mut messages: Vec<Message> = args.system.iter().map(|s| Message::new("system", s)).collect();
    eprintln!("chat with {} (empty line or Ctrl-D to quit)", args.model.model.display());
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| e.to_string())? == 0 || line.trim().is_empty() {
            return Ok(());
        }
        messages.push(Message::new("user", line.trim_end()));
        let text = t.render(&messages, true).map_err(|e| e.to_string())?;
        let ids = m.tokenizer.encode(&text, !t.renders_bos(&text), true).map_err(|e| e.to_string())?;
        let opts = GenerateOptions { max_tokens: args.n, stop: Vec::new() };
        let g = generate_to_stdout(&mut m, &ids, &opts)?;
        eprintln!(
            "[{} new prompt tokens, {} generated, {:.2} tok/s]",
            g.timings.prefill_tokens,
            g.timings.decode_tokens,
            g.timings.decode_tokens as f64 / (g.timings.decode_ms / 1e3).max(1e-9)
        );
        messages.push(Message::new("assistant", g.text.trim()));
    }
}
