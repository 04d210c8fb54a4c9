//! `hearth`: the native command-line front end of the engine (the browser uses `www/`).

#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod bench_model;
#[cfg(not(target_arch = "wasm32"))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod inspect;
#[cfg(not(target_arch = "wasm32"))]
mod load;
#[cfg(not(target_arch = "wasm32"))]
mod run;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Chat(args) => run::chat(&args),
        Command::Eval(args) => eval::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hearth: error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The CLI is native only; the wasm build exposes the library through `web` instead.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Parser)]
#[command(name = "hearth", version, about = "Open-weight language models from GGUF files on WebGPU")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[cfg(not(target_arch = "wasm32"))]
#[derive(clap::Subcommand)]
enum Command {
    /// Show a GGUF file's architecture, hyper-parameters, tokenizer and tensors.
    Inspect(inspect::Args),
    /// Measure kernel speed against the adapter's copy bandwidth.
    Bench(bench::Args),
    /// Generate from a prompt, streaming the text to stdout.
    Run(run::RunArgs),
    /// Chat with a model in the terminal.
    Chat(run::ChatArgs),
    /// Teacher-forced logits of a list of token ids.
    Eval(eval::Args),
}
