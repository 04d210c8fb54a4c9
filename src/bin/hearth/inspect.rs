//! `hearth inspect FILE.gguf [--json]`.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use hearth::gguf::{Gguf, Summary};

/// Arguments of `hearth inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The GGUF file.
    file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Reads only the header of the file and prints its summary.
pub fn run(args: &Args) -> Result<(), String> {
    let name = args.file.display();
    let mut file = File::open(&args.file).map_err(|e| format!("{name}: {e}"))?;
    let size = file.metadata().map_err(|e| format!("{name}: {e}"))?.len();
    let gguf = Gguf::read(&mut file, size).map_err(|e| format!("{name}: {e}"))?;
    let summary = Summary::new(&gguf);
    let text = if args.json {
        serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?
    } else {
        summary.to_string()
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        // A closed pipe (`hearth inspect … | head`) is the reader's choice, not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
        _ => Ok(()),
    }
}
