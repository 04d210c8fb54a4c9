//! `hearth eval -m FILE --ids 1,2,3 [--logits out.npy]`: teacher-forced logits of every
//! position, for debugging against a reference.

use std::io::Write;
use std::path::PathBuf;

use crate::load::{ModelArgs, load};

/// Arguments of `hearth eval`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Token ids, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    ids: Vec<u32>,
    /// Write the logits (ids, n_vocab) as a float32 .npy file.
    #[arg(long)]
    logits: Option<PathBuf>,
}

/// Runs the ids and prints each position's argmax and its logit.
pub fn run(args: &Args) -> Result<(), String> {
    let mut m = load(&args.model)?;
    let v = m.engine.cfg.n_vocab as usize;
    if let Some(bad) = args.ids.iter().find(|&&id| id as usize >= v) {
        return Err(format!("token id {bad} is outside the vocabulary of {v}"));
    }
    let logits = pollster::block_on(m.engine.eval_logits(&args.ids)).map_err(|e| e.to_string())?;
    for (pos, row) in logits.chunks_exact(v).enumerate() {
        let best = row.iter().enumerate().fold(0, |b, (i, &x)| if x > row[b] { i } else { b });
        println!(
            "{pos:>4} {:>8} -> argmax {best:>8} ({:.4}) {:?}",
            args.ids[pos],
            row[best],
            m.tokenizer().decode(&[best as u32])
        );
    }
    if let Some(path) = &args.logits {
        write_npy(path, &logits, args.ids.len(), v).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// A float32 C-order .npy file of shape (rows, cols).
fn write_npy(path: &std::path::Path, data: &[f32], rows: usize, cols: usize) -> std::io::Result<()> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for x in data {
        f.write_all(&x.to_le_bytes())?;
    }
    f.flush()
}
