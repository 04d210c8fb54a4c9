//! `Rng`: the one seeded pseudo-random generator of the crate's test and benchmark data
//! (random weights, kernel inputs, corrupted headers), so the same seed gives the same numbers
//! natively, in the browser and in every suite. Not for sampling: that happens on the GPU.

/// A seeded xorshift64 generator (Marsaglia's 13/7/17 triple).
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any seed, 0 included: it is mixed to a non-zero state).
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

    /// Roughly normal (a sum of four uniforms, in [-2, 2)), with ~1 % outliers 20 times larger:
    /// test data that exercises a kernel's range as real activations and weights do.
    pub fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v = (0..4).map(|_| self.uniform()).sum::<f32>() - 2.0;
                if self.next_u64().is_multiple_of(100) { v * 20.0 } else { v }
            })
            .collect()
    }
}
