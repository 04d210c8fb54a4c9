//! Shared helpers for the native test suites: fixture models, test data, comparisons.
#![allow(dead_code)]

pub mod gpu;
pub mod heap;
pub mod reference;

use std::path::PathBuf;

/// The folder `./build.sh models` fills (or `HEARTH_MODELS`).
pub fn models_dir() -> PathBuf {
    std::env::var_os("HEARTH_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// A fixture model file. A missing fixture fails the test: CI must never skip silently.
pub fn model(name: &str) -> PathBuf {
    let p = models_dir().join(name);
    assert!(p.is_file(), "fixture {} is missing: run ./build.sh models", p.display());
    p
}

/// The header of a fixture model file.
pub fn header(name: &str) -> hearth::gguf::Gguf {
    let path = model(name);
    let size = std::fs::metadata(&path).unwrap().len();
    hearth::gguf::Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap()
}

/// The SmolLM2 fixtures, by quant type.
pub const SMOLLM2: [&str; 4] = [
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "SmolLM2-135M-Instruct.F16.gguf",
    "SmolLM2-135M-Instruct.Q8_0.gguf",
    "SmolLM2-135M-Instruct.Q4_0.gguf",
];

/// SmolLM2 requantized by llama.cpp's own quantizer (tests/quant).
pub const LLAMA_QUANTIZE: [&str; 12] = [
    "SmolLM2-135M-Instruct.Q5_K_M.gguf",
    "SmolLM2-135M-Instruct.Q5_1.gguf",
    "SmolLM2-135M-Instruct.BF16.gguf",
    "SmolLM2-135M-Instruct.IQ4_XS.gguf",
    "SmolLM2-135M-Instruct.Q3_K_M.gguf",
    "SmolLM2-135M-Instruct.Q2_K.gguf",
    "SmolLM2-135M-Instruct.Q2_K-pure.gguf",
    "SmolLM2-135M-Instruct.IQ3_M.gguf",
    "SmolLM2-135M-Instruct.IQ4_NL.gguf",
    "SmolLM2-135M-Instruct.IQ3_XXS.gguf",
    "SmolLM2-135M-Instruct.IQ2_XS.gguf",
    "SmolLM2-135M-Instruct.IQ1_M.gguf",
];

/// The Gemma 3 fixture.
pub const GEMMA: &str = "gemma-3-270m-Q4_K_M.gguf";

/// The crate's seeded generator of test data.
#[allow(unused_imports)]
pub use hearth::rng::Rng;

/// Asserts `|got - want| <= tol(i, want)` everywhere, naming the first index that is not.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: impl Fn(usize, f32) -> f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let mut worst = (0usize, 0.0f32);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        assert!(
            err <= tol(i, *w) && g.is_finite() == w.is_finite(),
            "{what}: index {i}: got {g}, want {w} (|d| {err} > tol {})",
            tol(i, *w)
        );
        if err > worst.1 {
            worst = (i, err);
        }
    }
    eprintln!("{what}: max |d| {:.3e} at {}", worst.1, worst.0);
}
