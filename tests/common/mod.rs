//! Shared helpers for the native test suites: where the fixture models are.
#![allow(dead_code)]

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
    assert!(
        p.is_file(),
        "fixture {} is missing: run ./build.sh models",
        p.display()
    );
    p
}

/// The SmolLM2 fixtures, by quant type.
pub const SMOLLM2: [&str; 4] = [
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "SmolLM2-135M-Instruct.F16.gguf",
    "SmolLM2-135M-Instruct.Q8_0.gguf",
    "SmolLM2-135M-Instruct.Q4_0.gguf",
];

/// The Gemma 3 fixture.
pub const GEMMA: &str = "gemma-3-270m-Q4_K_M.gguf";
