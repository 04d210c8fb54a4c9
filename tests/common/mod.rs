//! Shared helpers for the native test suites: fixture models, test data, comparisons.
#![allow(dead_code)]

pub mod gpu;
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

/// The SmolLM2 fixtures, by quant type.
pub const SMOLLM2: [&str; 4] = [
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "SmolLM2-135M-Instruct.F16.gguf",
    "SmolLM2-135M-Instruct.Q8_0.gguf",
    "SmolLM2-135M-Instruct.Q4_0.gguf",
];

/// The Gemma 3 fixture.
pub const GEMMA: &str = "gemma-3-270m-Q4_K_M.gguf";

/// A seeded xorshift generator for test data (no dependency, same numbers everywhere).
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next raw 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal (sum of uniforms), with ~1% outliers 20x larger.
    pub fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v = (0..4).map(|_| self.uniform()).sum::<f32>() - 2.0;
                if self.next_u64().is_multiple_of(100) { v * 20.0 } else { v }
            })
            .collect()
    }
}

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
