//! What identifies a response: its id (`chatcmpl-…`, drawn at random as OpenAI's are, so that
//! ids from two engines, two page loads or two processes never collide) and the
//! `system_fingerprint` (which model, engine version and precision produced it: replies
//! with the same seed are equal when it is).

use sha2::{Digest, Sha256};

use crate::gguf::{Gguf, Value};
use crate::rng::Rng;

/// Characters of the random part of an id.
const ID_CHARS: usize = 24;

/// Draws response and tool-call ids.
pub struct Ids(Rng);

impl Ids {
    /// A generator seeded from the system's randomness (the clock where there is none).
    pub fn new() -> Self {
        let seed = getrandom::u64().unwrap_or_else(|_| crate::clock::now_ms().to_bits() ^ crate::clock::unix_seconds());
        Ids(Rng::new(seed))
    }

    /// `prefix-` and 24 random letters and digits.
    pub fn next(&mut self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut id = format!("{prefix}-");
        id.extend((0..ID_CHARS).map(|_| ALPHABET[(self.0.next_u64() % ALPHABET.len() as u64) as usize] as char));
        id
    }

    /// A random seed (for the ids of a reply's tool calls).
    pub fn seed(&mut self) -> u64 {
        self.0.next_u64()
    }
}

impl Default for Ids {
    fn default() -> Self {
        Self::new()
    }
}

/// `fp_` and 16 hex digits of the SHA-256 of the model's header (its metadata, arrays by
/// type and length, and its tensors' names, types, shapes and offsets), hearth's version and
/// the activations' precision: what decides a reply besides the request.
pub fn system_fingerprint(gguf: &Gguf, f16: bool) -> String {
    let mut h = Sha256::new();
    h.update(format!("hearth {} f16 {f16} gguf {}\n", env!("CARGO_PKG_VERSION"), gguf.version()));
    for (key, value) in gguf.metadata() {
        let value = match value {
            Value::Array(a) => format!("array of {}", a.len()),
            v => format!("{v:?}"),
        };
        h.update(format!("{key}={value}\n"));
    }
    for t in gguf.tensors() {
        h.update(format!("{} {} {:?} {}\n", t.name, t.ty, t.dims, t.offset));
    }
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("fp_{hex}")
}
