//! `hearth inspect FILE.gguf [--ctx N] [--f32] [--json]`.

use std::io::Write;
use std::path::PathBuf;

use hearth::session::{F16, Inspection, LoadOptions, inspect};
use hearth::source::ReadSource;

/// Arguments of `hearth inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The GGUF file.
    file: PathBuf,
    /// Context length the memory estimate is for.
    #[arg(long = "ctx", default_value_t = hearth::session::LoadOptions::default().context_length)]
    ctx: u32,
    /// Estimate for f32 activations even where shader-f16 is available.
    #[arg(long)]
    f32: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Reads only the header of the file and prints its summary, the GPU memory the model needs
/// and whether this machine's GPU can run it (the same report as `Hearth.inspect`).
pub fn run(args: &Args) -> Result<(), String> {
    let name = args.file.display();
    let source = ReadSource::open(&args.file).map_err(|e| e.to_string())?;
    let opts = LoadOptions {
        context_length: args.ctx,
        f16: if args.f32 { F16::Off } else { F16::Auto },
        ..Default::default()
    };
    let report = pollster::block_on(inspect(source, &opts)).map_err(|e| format!("{name}: {e}"))?;
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
    } else {
        format!("{}\n{}", report.summary, verdict(&report))
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        // A closed pipe (`hearth inspect … | head`) is the reader's choice, not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// The architecture, the memory estimate and the verdict, as text.
fn verdict(r: &Inspection) -> String {
    let a = &r.architecture;
    let name = a.name.as_deref().unwrap_or("(none)");
    let mut s = match (a.supported, a.verified, &a.missing) {
        (true, Some(how), None) => format!("architecture {name}: supported, verified on {how}\n"),
        (true, _, Some(what)) => format!("architecture {name}: supported, but not this file: {what}\n"),
        (_, _, what) => format!(
            "architecture {name}: not supported{}\n",
            what.as_ref().map_or(String::new(), |w| format!(" ({w})"))
        ),
    };
    s += "GPU memory";
    match &r.memory {
        Some(m) => {
            s += &format!(
                " ({} path, context {}): weights {}, KV cache {}, activations {}, total {}\n",
                r.precision,
                m.context_length,
                mib(m.weights),
                mib(m.kv_cache),
                mib(m.activations),
                mib(m.total)
            );
            if m.recurrent_state > 0 {
                s += &format!("  recurrent layers' state (one size at any context): {}\n", mib(m.recurrent_state));
            }
        }
        None => s += ": unknown\n",
    }
    let gpu = r.adapter.as_ref().map_or("no GPU adapter".to_owned(), |a| a.name.clone());
    s += &match &r.reason {
        None => format!("runs on {gpu}"),
        Some(why) => format!("does not run on {gpu}: {why}"),
    };
    s
}
