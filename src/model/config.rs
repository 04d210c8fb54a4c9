//! `ModelConfig`: an architecture's hyper-parameters, read from GGUF metadata.
//!
//! Architectures are data, not forks: llama, qwen2, qwen3 and gemma3 differ only in the flags
//! below (biases, QK-norm, extra norms, activation, rope layout, sliding windows), and one
//! forward pass reads them.

use crate::gguf::{Gguf, GgufError};
use crate::kernels::{GluKind, RopeLayout};

/// Architectures hearth runs.
pub const SUPPORTED: [&str; 4] = ["llama", "qwen2", "qwen3", "gemma3"];

/// Why a model cannot be configured.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// An architecture hearth does not implement.
    #[error("architecture '{0}' is not supported (supported: {list})", list = SUPPORTED.join(", "))]
    Unsupported(String),
    /// A metadata key is missing or has the wrong type.
    #[error(transparent)]
    Metadata(#[from] GgufError),
    /// Hyper-parameters that contradict each other.
    #[error("inconsistent hyper-parameters: {0}")]
    Inconsistent(String),
    /// A value outside what hearth (or any real model) can have.
    #[error("the model's '{key}' is {value}: {why}")]
    OutOfRange {
        /// The metadata key (or the derived quantity) at fault.
        key: String,
        /// Its value.
        value: String,
        /// The bound it breaks.
        why: String,
    },
}

/// Caps on hyper-parameters: far above any real model, low enough that every size derived
/// from them fits in 64-bit arithmetic and no allocation is sized by a hostile file.
pub mod caps {
    /// Transformer blocks.
    pub const LAYERS: u32 = 1024;
    /// Model width and FFN width.
    pub const WIDTH: u32 = 1 << 17;
    /// Attention heads.
    pub const HEADS: u32 = 1024;
    /// Dimensions per head (the attention kernels' bound).
    pub const HEAD_DIM: u32 = 256;
    /// Vocabulary entries.
    pub const VOCAB: u32 = 1 << 21;
    /// Training context and sliding window.
    pub const CONTEXT: u32 = 1 << 24;
}

/// Everything the forward pass needs to know about an architecture instance.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// `general.architecture`.
    pub arch: String,
    /// Transformer blocks.
    pub n_layer: u32,
    /// Model width D.
    pub d_model: u32,
    /// FFN hidden width.
    pub d_ff: u32,
    /// Query heads.
    pub n_head: u32,
    /// Key/value heads.
    pub n_kv_head: u32,
    /// Dimensions per head (keys and values).
    pub head_dim: u32,
    /// Vocabulary size.
    pub n_vocab: u32,
    /// Training context length.
    pub n_ctx_train: u32,
    /// RMSNorm epsilon.
    pub norm_eps: f32,
    /// Rope base of global layers.
    pub rope_base: f64,
    /// Rope base of sliding-window layers (gemma3: 10000).
    pub rope_base_local: f64,
    /// Rotated dimensions per head.
    pub rope_dims: u32,
    /// Linear rope scaling (1 / factor of `rope.scaling.factor` when the type is linear).
    pub rope_freq_scale: f64,
    /// Pair layout of rope.
    pub rope_layout: RopeLayout,
    /// Gate activation of the FFN.
    pub glu: GluKind,
    /// Sliding window of local layers (0: none).
    pub sliding_window: u32,
    /// Every n-th layer (n-1, 2n-1, …) is global when sliding windows are used.
    pub sliding_window_pattern: u32,
    /// Norms on Q and K per head (qwen3, gemma3).
    pub qk_norm: bool,
    /// Norms after attention and FFN outputs (gemma3).
    pub post_norms: bool,
    /// Biases on Q, K, V (qwen2).
    pub qkv_bias: bool,
    /// Embeddings are multiplied by sqrt(d_model) (gemma).
    pub scale_embeddings: bool,
    /// The LM head is the token embedding (no `output.weight`).
    pub tied_embeddings: bool,
    /// Attention score scale.
    pub attn_scale: f32,
}

impl ModelConfig {
    /// Reads the configuration of `g`'s architecture.
    pub fn from_gguf(g: &Gguf) -> Result<Self, ConfigError> {
        let arch = g.architecture()?.to_owned();
        if !SUPPORTED.contains(&arch.as_str()) {
            return Err(ConfigError::Unsupported(arch));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let u = |k: &str| g.get_u32(&key(k));
        let opt_u = |k: &str| g.optional(&key(k), Gguf::get_u32);
        let opt_f = |k: &str| g.optional(&key(k), Gguf::get_f32);

        let d_model = u("embedding_length")?;
        let n_head = u("attention.head_count")?;
        let n_kv_head = opt_u("attention.head_count_kv")?.unwrap_or(n_head);
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 {
            return Err(ConfigError::Inconsistent(format!("{n_head} heads over {n_kv_head} KV heads")));
        }
        let head_dim = match opt_u("attention.key_length")? {
            Some(k) => k,
            None if d_model % n_head == 0 => d_model / n_head,
            None => return Err(ConfigError::Inconsistent(format!("width {d_model} over {n_head} heads"))),
        };
        if let Some(v) = opt_u("attention.value_length")?
            && v != head_dim
        {
            return Err(ConfigError::Inconsistent(format!("key length {head_dim} != value length {v}")));
        }
        let n_vocab = match opt_u("vocab_size")? {
            Some(n) => n,
            None => g.get_array("tokenizer.ggml.tokens")?.len() as u32,
        };
        let gemma = arch == "gemma3";
        let rope_scaling = g.optional(&key("rope.scaling.type"), Gguf::get_str)?;
        let rope_freq_scale = match (rope_scaling, opt_f("rope.scaling.factor")?) {
            (Some("linear"), Some(f)) if f > 0.0 => 1.0 / f64::from(f),
            _ => 1.0,
        };
        let tied_embeddings = g.tensor("output.weight").is_none();
        let cfg = ModelConfig {
            n_layer: u("block_count")?,
            d_model,
            d_ff: u("feed_forward_length")?,
            n_head,
            n_kv_head,
            head_dim,
            n_vocab,
            n_ctx_train: opt_u("context_length")?.unwrap_or(2048),
            norm_eps: opt_f("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5),
            rope_base: f64::from(opt_f("rope.freq_base")?.unwrap_or(10000.0)),
            rope_base_local: if gemma { 10000.0 } else { f64::from(opt_f("rope.freq_base")?.unwrap_or(10000.0)) },
            rope_dims: opt_u("rope.dimension_count")?.unwrap_or(head_dim),
            rope_freq_scale,
            rope_layout: if arch == "llama" { RopeLayout::Normal } else { RopeLayout::Neox },
            glu: if gemma { GluKind::Gelu } else { GluKind::Silu },
            sliding_window: if gemma { opt_u("attention.sliding_window")?.unwrap_or(0) } else { 0 },
            sliding_window_pattern: if gemma { 6 } else { 0 },
            qk_norm: arch == "qwen3" || gemma,
            post_norms: gemma,
            qkv_bias: arch == "qwen2",
            scale_embeddings: gemma,
            tied_embeddings,
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            arch,
        };
        cfg.validate()?;
        for id_key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"] {
            if let Some(id) = g.optional(id_key, Gguf::get_u32)?
                && id >= cfg.n_vocab
            {
                return Err(out_of_range(id_key, id, format!("past the vocabulary of {} tokens", cfg.n_vocab)));
            }
        }
        Ok(cfg)
    }

    /// Checks every hyper-parameter against [`caps`] and the others, naming the key at fault:
    /// run before anything is sized from them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key = |k: &str| format!("{}.{k}", self.arch);
        let within = |k: &str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) { Ok(()) } else { Err(out_of_range(&key(k), v, format!("must be {lo} to {hi}"))) }
        };
        within("block_count", self.n_layer, 1, caps::LAYERS)?;
        within("embedding_length", self.d_model, 8, caps::WIDTH)?;
        within("feed_forward_length", self.d_ff, 8, caps::WIDTH)?;
        within("attention.head_count", self.n_head, 1, caps::HEADS)?;
        within("attention.head_count_kv", self.n_kv_head, 1, self.n_head)?;
        within("attention.key_length", self.head_dim, 2, caps::HEAD_DIM)?;
        within("rope.dimension_count", self.rope_dims, 2, self.head_dim)?;
        within("vocab_size", self.n_vocab, 1, caps::VOCAB)?;
        within("context_length", self.n_ctx_train, 1, caps::CONTEXT)?;
        within("attention.sliding_window", self.sliding_window, 0, caps::CONTEXT)?;
        for (k, v) in [("embedding_length", self.d_model), ("feed_forward_length", self.d_ff)] {
            if !v.is_multiple_of(8) {
                return Err(out_of_range(&key(k), v, "must be a multiple of 8".into()));
            }
        }
        if !self.head_dim.is_multiple_of(2) || !self.rope_dims.is_multiple_of(2) {
            return Err(out_of_range(
                &key("attention.key_length"),
                self.head_dim,
                "head and rope dims must be even".into(),
            ));
        }
        // Query width: heads × head dim, within the width cap (so products of it stay small).
        let q_width = u64::from(self.n_head) * u64::from(self.head_dim);
        if q_width > u64::from(caps::WIDTH) {
            return Err(out_of_range("heads × head dim", q_width, format!("must be at most {}", caps::WIDTH)));
        }
        for (k, v) in
            [("attention.layer_norm_rms_epsilon", f64::from(self.norm_eps)), ("rope.freq_base", self.rope_base)]
        {
            if !(v.is_finite() && v > 0.0) {
                return Err(out_of_range(&key(k), v, "must be a positive number".into()));
            }
        }
        if !(self.rope_freq_scale.is_finite() && self.rope_freq_scale > 0.0) {
            return Err(out_of_range(&key("rope.scaling.factor"), self.rope_freq_scale, "must be positive".into()));
        }
        Ok(())
    }

    /// The factor token embeddings are multiplied by.
    pub fn embed_scale(&self) -> f32 {
        if self.scale_embeddings { (self.d_model as f32).sqrt() } else { 1.0 }
    }

    /// Whether layer `l` attends through a sliding window.
    pub fn is_local_layer(&self, l: u32) -> bool {
        self.sliding_window > 0
            && self.sliding_window_pattern > 0
            && !(l + 1).is_multiple_of(self.sliding_window_pattern)
    }
}

fn out_of_range(key: &str, value: impl std::fmt::Display, why: String) -> ConfigError {
    ConfigError::OutOfRange { key: key.to_owned(), value: value.to_string(), why }
}
