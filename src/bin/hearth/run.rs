//! `hearth run`: a prompt or requests, each reply streamed as it comes; `hearth chat`: an
//! interactive conversation.
//! Both build the same requests the JS API takes and hand them to the library's session.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use hearth::engine::Cancel;
use hearth::session::{ChatMessage, Content, Request, Session, Usage};

use crate::load::{ModelArgs, SamplingArgs, load};

/// Arguments of `hearth run`.
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// The prompt (with --chat: the user's message).
    #[arg(short = 'p', long, required_unless_present = "request")]
    prompt: Option<String>,
    /// An OpenAI-style request as JSON (`messages` for a chat, `prompt` for a text
    /// completion), exactly as the JS API takes it; the sampling flags are then ignored.
    /// Repeatable: the requests run one after another on the one loaded model (each reuses
    /// what the cache holds of its prompt, as the JS API's do).
    #[arg(long, conflicts_with_all = ["prompt", "chat", "system"])]
    request: Vec<PathBuf>,
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
    /// Print each response object (with prompt and reply token ids) as one line of JSON on
    /// stdout; the text then streams to stderr.
    #[arg(long)]
    json: bool,
}

fn message(role: &str, text: &str) -> ChatMessage {
    ChatMessage { role: role.into(), content: Some(Content::Text(text.into())), ..ChatMessage::default() }
}

/// Streams the reply to `request` to `out` (then a newline) and returns the final response
/// as JSON and its usage.
fn answer(s: &mut Session, request: &Request, out: &mut dyn Write) -> Result<(serde_json::Value, Usage), String> {
    let mut print = |text: &str| {
        let _ = write!(out, "{text}");
        let _ = out.flush();
    };
    let cancel = Cancel::new();
    let fail = |e: hearth::session::Error| format!("{e} [{}]", e.code());
    let (value, usage) = if request.messages.is_some() {
        let r = pollster::block_on(s.chat(request, &cancel, &mut |c| {
            for choice in &c.choices {
                // With `n` > 1, the choices one after another, each under its number.
                if choice.delta.role.is_some() && choice.index > 0 {
                    print(&format!("\n\n[choice {}]\n", choice.index));
                }
                choice.delta.content.as_deref().into_iter().for_each(&mut print);
                // Tool calls as they are written: `[call NAME] {arguments…}`.
                for piece in choice.delta.tool_calls.iter().flatten() {
                    if let Some(name) = &piece.function.name {
                        print(&format!("\n[call {name}] "));
                    }
                    print(&piece.function.arguments);
                }
            }
        }))
        .map_err(fail)?;
        let usage = r.usage.clone();
        (serde_json::to_value(r).map_err(|e| e.to_string())?, usage)
    } else {
        let mut current = 0;
        let r = pollster::block_on(s.complete(request, &cancel, &mut |c| {
            for choice in &c.choices {
                if choice.index != current {
                    current = choice.index;
                    print(&format!("\n\n[choice {current}]\n"));
                }
                print(&choice.text);
            }
        }))
        .map_err(fail)?;
        let usage = r.usage.clone().unwrap_or_default();
        (serde_json::to_value(r).map_err(|e| e.to_string())?, usage)
    };
    print("\n");
    Ok((value, usage))
}

fn print_usage(u: &Usage) {
    eprintln!(
        "prompt {} tokens ({} cached), prefill {:.1} tok/s, first token after {:.0} ms; {} generated, decode {:.2} tok/s",
        u.prompt_tokens,
        u.prompt_tokens_details.cached_tokens,
        u.extra.prefill_tokens_per_s,
        u.extra.time_to_first_token_s * 1e3,
        u.completion_tokens,
        u.extra.decode_tokens_per_s,
    );
}

/// Runs the prompt, or each request in turn.
pub fn run(args: &RunArgs) -> Result<(), String> {
    let requests = match (&args.request[..], &args.prompt) {
        ([], Some(prompt)) => {
            let mut r = args.sampling.request(args.n, &args.stop);
            if args.chat {
                let system = args.system.iter().map(|s| message("system", s));
                r.messages = Some(system.chain([message("user", prompt)]).collect());
            } else {
                r.prompt = Some(prompt.clone());
            }
            vec![r]
        }
        ([], None) => return Err("give a prompt (-p) or a request (--request FILE.json)".into()),
        (paths, _) => paths
            .iter()
            .map(|path| {
                let json = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                Request::from_json(&json).map_err(|e| format!("{}: {e}", path.display()))
            })
            .collect::<Result<Vec<Request>, String>>()?,
    };
    let mut s = load(&args.model)?;
    for mut request in requests {
        // Streamed either way; --json adds the ids to the final object.
        request.stream = true;
        request.return_token_ids |= args.json;
        let (value, usage) = if args.json {
            answer(&mut s, &request, &mut std::io::stderr().lock())?
        } else {
            answer(&mut s, &request, &mut std::io::stdout().lock())?
        };
        print_usage(&usage);
        if args.json {
            let _ = writeln!(std::io::stdout().lock(), "{value}");
        }
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
    #[arg(short = 'n', long = "n-predict", default_value_t = hearth::session::CHAT_MAX_TOKENS as usize)]
    n: usize,
}

/// An interactive conversation: each turn reuses the cached conversation so far.
pub fn chat(args: &ChatArgs) -> Result<(), String> {
    let mut s = load(&args.model)?;
    let mut messages: Vec<ChatMessage> = args.system.iter().map(|s| message("system", s)).collect();
    eprintln!("chat with {} (empty line or Ctrl-D to quit)", args.model.model.display());
    let stdin = std::io::stdin();
    loop {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| e.to_string())? == 0 || line.trim().is_empty() {
            return Ok(());
        }
        messages.push(message("user", line.trim_end()));
        let mut request = args.sampling.request(args.n, &[]);
        request.messages = Some(messages.clone());
        let (value, usage) = answer(&mut s, &request, &mut std::io::stdout().lock())?;
        print_usage(&usage);
        let reply = value["choices"][0]["message"]["content"].as_str().unwrap_or_default();
        messages.push(message("assistant", reply.trim()));
    }
}
