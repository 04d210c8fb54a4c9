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
        Ok(ModelConfig {
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
        })
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
