//! `ModelConfig`: an architecture's hyper-parameters, read from GGUF metadata, and which of the
//! optional tensors llama.cpp reads the file has.
//!
//! Architectures are data, not forks: a family ([`super::family`]) says what its graph does,
//! the metadata gives the sizes, the file's tensors the optional parts, and one forward pass
//! reads them.

use crate::gguf::{Gguf, GgufError};

use super::family::{self, Family, Positions};

/// Why a model cannot be configured.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// An architecture hearth does not implement.
    #[error("architecture '{0}' is not supported (supported: {list})", list = family::supported().join(", "))]
    Unsupported(String),
    /// A feature of a supported architecture that hearth does not implement.
    #[error("this {arch} model uses {what}, which hearth does not run yet")]
    UnsupportedFeature {
        /// The architecture.
        arch: String,
        /// The feature, as a reader would name it.
        what: String,
    },
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
    pub const HEAD_DIM: u32 = crate::kernels::MAX_HEAD_DIM;
    /// Vocabulary entries.
    pub const VOCAB: u32 = 1 << 21;
    /// Training context and sliding window.
    pub const CONTEXT: u32 = 1 << 24;
}

/// How a model's biases on Q, K and V are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QkvBias {
    /// One tensor `attn_qkv.bias` (with a fused `attn_qkv.weight`).
    Fused,
    /// Three tensors `attn_q.bias`, `attn_k.bias`, `attn_v.bias`.
    Split,
}

/// RoPE frequency factor tables (per rotated pair: how much slower it turns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeFactors {
    /// None: every pair at its base frequency.
    None,
    /// `rope_freqs.weight` (Llama 3.x's llama3 scaling), at every context length.
    Freqs,
    /// `rope_factors_long.weight` and `rope_factors_short.weight` (Phi-3 "longrope"): the long
    /// table for contexts past `rope.scaling.original_context_length`, as llama.cpp picks.
    LongShort,
}

/// Which of the tensors llama.cpp reads as optional a file has. Read from layer 0 and the
/// global tensors; every layer must then have the same (a layer that differs shows as a
/// missing or an unexpected tensor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorLayout {
    /// Q, K and V in one tensor `attn_qkv` (rows q, then k, then v), else three.
    pub fused_qkv: bool,
    /// Biases on Q, K and V.
    pub qkv_bias: Option<QkvBias>,
    /// A bias on the attention output (`attn_output.bias`).
    pub attn_out_bias: bool,
    /// Gate and up in one tensor `ffn_up` of 2F rows, gate first (Phi-3).
    pub fused_gate_up: bool,
    /// Biases on the FFN's up, gate and down projections.
    pub ffn_up_bias: bool,
    /// See `ffn_up_bias`.
    pub ffn_gate_bias: bool,
    /// See `ffn_up_bias`.
    pub ffn_down_bias: bool,
    /// A bias on the LM head (`output.bias`, some Qwen2 files).
    pub output_bias: bool,
    /// Falcon-40B: attention's own LayerNorm (`attn_norm_2`) next to the FFN's.
    pub attn_norm_2: bool,
    /// RoPE factor tables.
    pub rope_factors: RopeFactors,
    /// A scalar each layer's output is multiplied by (`layer_output_scale`, Gemma 4).
    pub layer_output_scale: bool,
}

impl TensorLayout {
    /// The optional tensors `g` has, for a model of `family` whose first attention layer is
    /// `attn` (the FFN's are read from layer 0).
    fn of(g: &Gguf, family: &Family, attn: u32) -> Self {
        let has = |name: &str| g.tensor(name).is_some();
        let a = |s: &str| format!("blk.{attn}.{s}");
        let fused_qkv = has(&a("attn_qkv.weight"));
        let qkv_bias = if fused_qkv && has(&a("attn_qkv.bias")) {
            Some(QkvBias::Fused)
        } else if has(&a("attn_q.bias")) {
            Some(QkvBias::Split)
        } else {
            None
        };
        let rope = family.positions == Positions::Rope;
        let rope_factors = if rope && has("rope_freqs.weight") {
            RopeFactors::Freqs
        } else if rope && (has("rope_factors_long.weight") || has("rope_factors_short.weight")) {
            RopeFactors::LongShort
        } else {
            RopeFactors::None
        };
        TensorLayout {
            fused_qkv,
            qkv_bias,
            attn_out_bias: has(&a("attn_output.bias")),
            fused_gate_up: family.gated_ffn && !has("blk.0.ffn_gate.weight") && has("blk.0.ffn_up.weight"),
            ffn_up_bias: has("blk.0.ffn_up.bias"),
            ffn_gate_bias: family.gated_ffn && has("blk.0.ffn_gate.bias"),
            ffn_down_bias: has("blk.0.ffn_down.bias"),
            output_bias: has("output.bias"),
            attn_norm_2: family.block == super::family::BlockShape::Parallel && has(&a("attn_norm_2.weight")),
            rope_factors,
            layer_output_scale: has("blk.0.layer_output_scale.weight"),
        }
    }
}

/// Everything the forward pass needs to know about an architecture instance.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// `general.architecture`.
    pub arch: String,
    /// What the architecture's graph does.
    pub family: Family,
    /// Which optional tensors the file has.
    pub layout: TensorLayout,
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
    /// Training context length (learned positions: the size of their table).
    pub n_ctx_train: u32,
    /// Norm epsilon (RMSNorm's or LayerNorm's key, by the family's norm).
    pub norm_eps: f32,
    /// Rope base of global layers.
    pub rope_base: f64,
    /// Rope base of sliding-window layers (gemma3: 10000).
    pub rope_base_local: f64,
    /// Rotated dimensions per head (0 without RoPE).
    pub rope_dims: u32,
    /// Linear rope scaling: 1 / `rope.scaling.factor`.
    pub rope_freq_scale: f64,
    /// Scale of the rotated dimensions of q and k (`rope.scaling.attn_factor`, longrope).
    pub rope_attn_factor: f64,
    /// The context the RoPE factors were trained at: longer contexts take the long factors
    /// (`rope.scaling.original_context_length`, default the training context).
    pub rope_orig_ctx: u32,
    /// Sliding window of local layers (0: none).
    pub sliding_window: u32,
    /// The LM head is the token embedding (no `output.weight`).
    pub tied_embeddings: bool,
    /// Attention score scale.
    pub attn_scale: f32,
    /// What each layer mixes tokens with: attention, or a recurrent mixer (LFM2's short
    /// convolutions, Qwen3.5's gated delta nets).
    pub layer_kinds: Vec<LayerKind>,
    /// Taps of the convolutions (LFM2's `shortconv.l_cache`, Qwen3.5's `ssm.conv_kernel`; 0
    /// without convolutions).
    pub conv_taps: u32,
    /// The sizes of the gated delta nets (Qwen3.5), where the model has them.
    pub delta_net: Option<DeltaNetDims>,
    /// Per layer: attends through the sliding window (Gemma 3's pattern, Gemma 4's
    /// `attention.sliding_window_pattern`).
    pub local_layers: Vec<bool>,
    /// KV heads, head dimension and rotated dimensions of sliding-window layers (Gemma 4's
    /// `*_swa` keys; the global layers' otherwise).
    pub local_dims: AttnDims,
    /// FFN width of each layer (Gemma 4 E2B's shared-KV layers are twice as wide); `d_ff` is
    /// the widest.
    pub ff_widths: Vec<u32>,
    /// Layers from the first that keep their own KV cache; the others attend over the cache
    /// of the last local or global layer before them that has one (Gemma 4's
    /// `attention.shared_kv_layers`).
    pub n_kv_layers: u32,
    /// Dimensions per layer of Gemma 4's per-layer token embeddings (0: none).
    pub per_layer_dim: u32,
    /// Final logits become cap · tanh(logits / cap) (0: none).
    pub final_softcap: f32,
}

/// The geometry of one kind of attention layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnDims {
    /// Key/value heads.
    pub n_kv_head: u32,
    /// Dimensions per head (keys and values).
    pub head_dim: u32,
    /// Rotated dimensions per head.
    pub rope_dims: u32,
}

/// What one layer mixes tokens with. Attention keeps a KV cache; the others keep a fixed-size
/// state (a window of past inputs, a matrix per head) whatever the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerKind {
    /// Softmax attention over a KV cache.
    Attention,
    /// LFM2's gated short convolution.
    ShortConv,
    /// Qwen3.5's gated delta net: a causal convolution, then the delta rule on a matrix state
    /// per head.
    DeltaNet,
}

/// The sizes of a model's gated delta nets (llama.cpp's `ssm.*` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeltaNetDims {
    /// Query/key heads (`ssm.group_count`).
    pub n_k_heads: u32,
    /// Value heads, each with its own state (`ssm.time_step_rank`): value head h reads key
    /// head h mod n_k_heads, as llama.cpp's kernel does.
    pub n_v_heads: u32,
    /// Dimensions per head of keys and values alike (`ssm.state_size`): the state of a head is
    /// head_dim × head_dim.
    pub head_dim: u32,
}

impl DeltaNetDims {
    /// Channels of the convolution: q, k (n_k_heads · head_dim each), then v (n_v_heads ·
    /// head_dim).
    pub fn conv_channels(&self) -> u32 {
        (2 * self.n_k_heads + self.n_v_heads) * self.head_dim
    }

    /// Width of the values, the output and the gate z (`ssm.inner_size`).
    pub fn inner(&self) -> u32 {
        self.n_v_heads * self.head_dim
    }
}

impl ModelConfig {
    /// Reads the configuration of `g`'s architecture.
    pub fn from_gguf(g: &Gguf) -> Result<Self, ConfigError> {
        let arch = g.architecture()?.to_owned();
        let family = *family::family(&arch).ok_or_else(|| ConfigError::Unsupported(arch.clone()))?;
        let key = |k: &str| format!("{arch}.{k}");
        let u = |k: &str| g.get_u32(&key(k));
        let opt_u = |k: &str| g.optional(&key(k), Gguf::get_u32);
        let opt_f = |k: &str| g.optional(&key(k), Gguf::get_f32);

        let d_model = u("embedding_length")?;
        let n_head = u("attention.head_count")?;
        // Checked first: per-layer keys are read into a vector of this many entries.
        let n_layer = u("block_count")?;
        if !(1..=caps::LAYERS).contains(&n_layer) {
            return Err(out_of_range(&key("block_count"), n_layer, format!("must be 1 to {}", caps::LAYERS)));
        }
        let unsupported = |what: String| ConfigError::UnsupportedFeature { arch: arch.clone(), what };
        // One KV head count, or one per layer where 0 marks a conv layer (LFM2).
        let kv_per_layer = g
            .optional(&key("attention.head_count_kv"), |g, k| g.get_u32_per_layer(k, n_layer))?
            .unwrap_or_else(|| vec![n_head; n_layer as usize]);
        let conv = kv_per_layer.iter().map(|&n| n == 0);
        let mut layer_kinds: Vec<LayerKind> =
            conv.map(|c| if c { LayerKind::ShortConv } else { LayerKind::Attention }).collect();
        if !family.conv_layers && layer_kinds.contains(&LayerKind::ShortConv) {
            return Err(ConfigError::Inconsistent(format!("a layer with 0 KV heads in a {arch} model")));
        }
        let sliding_window = if family.sliding_window_pattern > 0 || family.swa_pattern_key {
            opt_u("attention.sliding_window")?.unwrap_or(0)
        } else {
            0
        };
        let local_layers = local_layers(g, &family, &arch, n_layer, sliding_window)?;
        // One KV head count for the global layers and one for the local ones.
        let kv_of = |local: bool| {
            let mut counts = kv_per_layer.iter().zip(&local_layers).filter(|&(&n, &l)| n != 0 && l == local);
            let first = counts.next().map(|(&n, _)| n);
            (first, counts.all(|(&n, _)| Some(n) == first))
        };
        let ((global_kv, global_same), (local_kv, local_same)) = (kv_of(false), kv_of(true));
        let n_kv_head = global_kv.or(local_kv).unwrap_or(n_head);
        if !global_same || !local_same || (!family.swa_pattern_key && local_kv.is_some_and(|n| n != n_kv_head)) {
            return Err(unsupported(format!("a different number of KV heads per layer ({kv_per_layer:?})")));
        }
        let n_kv_head_local = local_kv.unwrap_or(n_kv_head);
        let mut conv_taps = if layer_kinds.contains(&LayerKind::ShortConv) { u("shortconv.l_cache")? } else { 0 };
        let delta_net = if family.delta_net {
            layer_kinds = delta_net_layers(g, &arch, n_layer)?;
            conv_taps = u("ssm.conv_kernel")?;
            let dims = DeltaNetDims {
                n_k_heads: u("ssm.group_count")?,
                n_v_heads: u("ssm.time_step_rank")?,
                head_dim: u("ssm.state_size")?,
            };
            let inner = u("ssm.inner_size")?;
            if dims.n_k_heads == 0 || !dims.n_v_heads.is_multiple_of(dims.n_k_heads) {
                return Err(ConfigError::Inconsistent(format!(
                    "{} delta-net value heads over {} key heads",
                    dims.n_v_heads, dims.n_k_heads
                )));
            }
            if u64::from(inner) != u64::from(dims.n_v_heads) * u64::from(dims.head_dim) {
                return Err(ConfigError::Inconsistent(format!(
                    "a delta-net inner size of {inner} for {} value heads of {} (llama.cpp's delta net needs keys and values of one size)",
                    dims.n_v_heads, dims.head_dim
                )));
            }
            Some(dims)
        } else {
            None
        };
        if (family.conv_layers || family.delta_net) && opt_u("attention.sliding_window")?.is_some_and(|w| w > 0) {
            return Err(unsupported("sliding-window attention in its attention layers".into()));
        }
        if n_head == 0 || n_kv_head == 0 || n_head % n_kv_head != 0 {
            return Err(ConfigError::Inconsistent(format!("{n_head} heads over {n_kv_head} KV heads")));
        }
        let head_dim = match opt_u("attention.key_length")? {
            Some(k) => k,
            None if d_model % n_head == 0 => d_model / n_head,
            None => return Err(ConfigError::Inconsistent(format!("width {d_model} over {n_head} heads"))),
        };
        let head_dim_local = opt_u("attention.key_length_swa")?.unwrap_or(head_dim);
        for (k, hd) in [("attention.value_length", head_dim), ("attention.value_length_swa", head_dim_local)] {
            if let Some(v_len) = opt_u(k)?
                && v_len != hd
            {
                return Err(ConfigError::Inconsistent(format!("key length {hd} != value length {v_len} ({k})")));
            }
        }
        let n_vocab = match opt_u("vocab_size")? {
            Some(n) => n,
            None => g.get_array("tokenizer.ggml.tokens")?.len() as u32,
        };
        let n_ctx_train = opt_u("context_length")?.unwrap_or(2048);
        // RoPE as llama.cpp sets it up: a linear factor unless the type is "none" (the default
        // type is linear); YaRN's interpolation ramp is not implemented.
        let rope = family.positions == Positions::Rope;
        let rope_scaling = g.optional(&key("rope.scaling.type"), Gguf::get_str)?.unwrap_or("linear");
        let rope_freq_scale = match (rope_scaling, opt_f("rope.scaling.factor")?) {
            ("none", _) | (_, None) => 1.0,
            ("linear" | "longrope", Some(0.0)) => 1.0,
            ("linear" | "longrope", Some(f)) => 1.0 / f64::from(f),
            (other, Some(_)) => return Err(unsupported(format!("RoPE scaling '{other}'"))),
        };
        let rope_dims = if rope { opt_u("rope.dimension_count")?.unwrap_or(head_dim) } else { 0 };
        let rope_base = f64::from(opt_f("rope.freq_base")?.unwrap_or(10000.0));
        let rope_base_local = if family.swa_pattern_key {
            f64::from(opt_f("rope.freq_base_swa")?.unwrap_or(10000.0))
        } else if family.sliding_window_pattern > 0 {
            family.local_rope_base
        } else {
            rope_base
        };
        let rope_dims_local = if rope { opt_u("rope.dimension_count_swa")?.unwrap_or(rope_dims) } else { 0 };
        let ff_widths = g.get_u32_per_layer(&key("feed_forward_length"), n_layer)?;
        let d_ff = ff_widths.iter().copied().max().unwrap_or(0);
        let shared_kv = opt_u("attention.shared_kv_layers")?.unwrap_or(0);
        if shared_kv >= n_layer {
            return Err(out_of_range(
                &key("attention.shared_kv_layers"),
                shared_kv,
                format!("must be below {n_layer}"),
            ));
        }
        // Gemma 3 27B (62 layers) scales scores by the width per head, not the head dimension.
        let scale_dim = if arch == "gemma3" && u("block_count")? == 62 { d_model / n_head } else { head_dim };
        let cfg = ModelConfig {
            family,
            layout: TensorLayout::of(
                g,
                &family,
                layer_kinds.iter().position(|&k| k == LayerKind::Attention).unwrap_or(0) as u32,
            ),
            n_layer,
            d_model,
            d_ff,
            n_head,
            n_kv_head,
            head_dim,
            n_vocab,
            n_ctx_train,
            norm_eps: opt_f(family.eps_key())?.unwrap_or(1e-5),
            rope_base,
            rope_base_local,
            rope_dims,
            rope_freq_scale,
            rope_attn_factor: f64::from(opt_f("rope.scaling.attn_factor")?.unwrap_or(1.0)),
            rope_orig_ctx: opt_u("rope.scaling.original_context_length")?.unwrap_or(n_ctx_train),
            sliding_window,
            tied_embeddings: g.tensor("output.weight").is_none(),
            attn_scale: if family.unit_attn_scale { 1.0 } else { 1.0 / (scale_dim.max(1) as f32).sqrt() },
            layer_kinds,
            conv_taps,
            delta_net,
            local_layers,
            local_dims: AttnDims { n_kv_head: n_kv_head_local, head_dim: head_dim_local, rope_dims: rope_dims_local },
            ff_widths,
            n_kv_layers: n_layer - shared_kv,
            per_layer_dim: opt_u("embedding_length_per_layer_input")?.unwrap_or(0),
            final_softcap: if family.logit_softcap { opt_f("final_logit_softcapping")?.unwrap_or(0.0) } else { 0.0 },
            arch,
        };
        cfg.validate()?;
        if family.attn_output_gate && (cfg.layout.fused_qkv || cfg.layout.qkv_bias.is_some()) {
            return Err(ConfigError::UnsupportedFeature {
                arch: cfg.arch.clone(),
                what: "a fused or biased query projection with output gates".into(),
            });
        }
        if rope && family.full_rotary && rope_dims != head_dim {
            return Err(ConfigError::Inconsistent(format!(
                "{rope_dims} rotated dimensions of {head_dim} (llama.cpp's {} rotates whole heads)",
                cfg.arch
            )));
        }
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
        if self.family.positions == Positions::Rope {
            within("rope.dimension_count", self.rope_dims, 2, self.head_dim)?;
        }
        within("vocab_size", self.n_vocab, 1, caps::VOCAB)?;
        within("context_length", self.n_ctx_train, 1, caps::CONTEXT)?;
        within("attention.sliding_window", self.sliding_window, 0, caps::CONTEXT)?;
        let local = self.local_dims;
        within("attention.head_count_kv", local.n_kv_head, 1, self.n_head)?;
        within("attention.key_length_swa", local.head_dim, 2, caps::HEAD_DIM)?;
        if self.family.positions == Positions::Rope {
            within("rope.dimension_count_swa", local.rope_dims, 2, local.head_dim)?;
        }
        if !self.n_head.is_multiple_of(local.n_kv_head) || !local.head_dim.is_multiple_of(2) {
            return Err(ConfigError::Inconsistent(format!(
                "{} heads over {} KV heads of {} dims in sliding-window layers",
                self.n_head, local.n_kv_head, local.head_dim
            )));
        }
        if self.local_layers.len() != self.n_layer as usize || self.ff_widths.len() != self.n_layer as usize {
            return Err(ConfigError::Inconsistent(format!("per-layer keys of other than {} layers", self.n_layer)));
        }
        if self.local_layers.contains(&true) && self.sliding_window == 0 {
            return Err(ConfigError::Inconsistent("sliding-window layers without a window".into()));
        }
        for (l, &f) in self.ff_widths.iter().enumerate() {
            within(&format!("feed_forward_length[{l}]"), f, 8, caps::WIDTH)?;
            if !f.is_multiple_of(8) {
                return Err(out_of_range(&key("feed_forward_length"), f, "must be a multiple of 8".into()));
            }
        }
        within("per-layer embedding length", self.per_layer_dim, 0, caps::WIDTH)?;
        if u64::from(self.per_layer_dim) * u64::from(self.n_layer) > u64::from(caps::WIDTH) {
            return Err(out_of_range(
                &key("embedding_length_per_layer_input"),
                self.per_layer_dim,
                format!("times {} layers must be at most {}", self.n_layer, caps::WIDTH),
            ));
        }
        if self.n_kv_layers < self.n_layer {
            // The layers shared KV caches come from must be of the kinds llama.cpp assumes, and
            // attention layers.
            let n = self.n_kv_layers;
            let ok = n >= 2
                && self.is_local_layer(n - 2)
                && !self.is_local_layer(n - 1)
                && (0..self.n_layer).all(|l| self.is_attention_layer(l));
            if !ok {
                return Err(ConfigError::Inconsistent(format!(
                    "{} layers sharing the KV caches of layers {} (local) and {} (global)",
                    self.n_layer - n,
                    n.saturating_sub(2),
                    n.saturating_sub(1)
                )));
            }
        }
        if !(self.final_softcap.is_finite() && self.final_softcap >= 0.0) {
            return Err(out_of_range(
                &key("final_logit_softcapping"),
                self.final_softcap,
                "must be 0 or positive".into(),
            ));
        }
        if self.layer_kinds.len() != self.n_layer as usize {
            return Err(ConfigError::Inconsistent(format!(
                "{} layer kinds for {} layers",
                self.layer_kinds.len(),
                self.n_layer
            )));
        }
        if self.has_conv_layers() {
            within("shortconv.l_cache", self.conv_taps, 2, crate::kernels::MAX_CONV_TAPS)?;
        }
        if let Some(dn) = &self.delta_net {
            within("ssm.conv_kernel", self.conv_taps, 2, crate::kernels::MAX_CONV_TAPS)?;
            within("ssm.state_size", dn.head_dim, 1, crate::kernels::MAX_DELTA_HEAD_DIM)?;
            within("ssm.group_count", dn.n_k_heads, 1, caps::HEADS)?;
            within("ssm.time_step_rank", dn.n_v_heads, 1, caps::HEADS)?;
            let conv = u64::from(dn.n_k_heads * 2 + dn.n_v_heads) * u64::from(dn.head_dim);
            if conv > u64::from(caps::WIDTH) {
                return Err(out_of_range("delta-net channels", conv, format!("must be at most {}", caps::WIDTH)));
            }
        }
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
        let q_width = u64::from(self.n_head) * u64::from(self.head_dim.max(self.local_dims.head_dim));
        if q_width > u64::from(caps::WIDTH) {
            return Err(out_of_range("heads × head dim", q_width, format!("must be at most {}", caps::WIDTH)));
        }
        for (k, v) in [
            (self.family.eps_key(), f64::from(self.norm_eps)),
            ("rope.freq_base", self.rope_base),
            ("rope.scaling.attn_factor", self.rope_attn_factor),
        ] {
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
        if self.family.scale_embeddings { (self.d_model as f32).sqrt() } else { 1.0 }
    }

    /// What layer `l` mixes tokens with.
    pub fn layer_kind(&self, l: u32) -> LayerKind {
        self.layer_kinds.get(l as usize).copied().unwrap_or(LayerKind::Attention)
    }

    /// Whether any layer is a gated short convolution (LFM2).
    pub fn has_conv_layers(&self) -> bool {
        self.layer_kinds.contains(&LayerKind::ShortConv)
    }

    /// Whether layer `l` is a gated short convolution rather than attention.
    pub fn is_conv_layer(&self, l: u32) -> bool {
        self.layer_kind(l) == LayerKind::ShortConv
    }

    /// Whether layer `l` is a gated delta net rather than attention.
    pub fn is_delta_layer(&self, l: u32) -> bool {
        self.layer_kind(l) == LayerKind::DeltaNet
    }

    /// Whether layer `l` attends over a KV cache.
    pub fn is_attention_layer(&self, l: u32) -> bool {
        self.layer_kind(l) == LayerKind::Attention
    }

    /// Whether layer `l` attends through a sliding window.
    pub fn is_local_layer(&self, l: u32) -> bool {
        self.local_layers.get(l as usize).copied().unwrap_or(false)
    }

    /// KV heads, head dimension and rotated dimensions of attention layer `l`.
    pub fn attn_dims(&self, l: u32) -> AttnDims {
        if self.is_local_layer(l) {
            self.local_dims
        } else {
            AttnDims { n_kv_head: self.n_kv_head, head_dim: self.head_dim, rope_dims: self.rope_dims }
        }
    }

    /// The layer whose KV cache layer `l` attends over: itself, or for a layer past
    /// `n_kv_layers`, the last layer of its kind (local or global) that keeps one, as
    /// llama.cpp's Gemma 4 reuses them (`n_kv_layers - 2` for a local layer, `- 1` for a
    /// global one: [`ModelConfig::validate`] checks that those are of the kind).
    pub fn kv_layer(&self, l: u32) -> u32 {
        if self.has_own_kv(l) {
            l
        } else if self.is_local_layer(l) {
            self.n_kv_layers.saturating_sub(2)
        } else {
            self.n_kv_layers.saturating_sub(1)
        }
    }

    /// Whether layer `l` projects and caches its own keys and values.
    pub fn has_own_kv(&self, l: u32) -> bool {
        l < self.n_kv_layers
    }

    /// The FFN width of layer `l`.
    pub fn ff_width(&self, l: u32) -> u32 {
        self.ff_widths.get(l as usize).copied().unwrap_or(self.d_ff)
    }

    /// The widths of attention layer `l`'s queries (H · hd) and of its keys and values (KV ·
    /// hd).
    pub fn qkv_widths(&self, l: u32) -> (u32, u32) {
        let dims = self.attn_dims(l);
        (self.n_head * dims.head_dim, dims.n_kv_head * dims.head_dim)
    }

    /// The widest queries and keys ([`ModelConfig::qkv_widths`]) of any attention layer.
    pub fn max_qkv_widths(&self) -> (u32, u32) {
        let widths = (0..self.n_layer).filter(|&l| self.is_attention_layer(l)).map(|l| self.qkv_widths(l));
        widths.fold((0, 0), |(q, kv), (lq, lkv)| (q.max(lq), kv.max(lkv)))
    }

    /// The longest context this model can take: its learned position table's length, else
    /// `caps::CONTEXT` (RoPE and ALiBi extend past the training context, as llama.cpp allows).
    pub fn max_context(&self) -> u32 {
        match self.family.positions {
            Positions::Learned => self.n_ctx_train,
            Positions::Rope | Positions::Alibi => caps::CONTEXT,
        }
    }

    /// Whether a context of `n_ctx` positions takes longrope's long factor table: llama.cpp's
    /// choice, past the original training context, for its context rounded up to a multiple of
    /// 256 (as llama.cpp pads every context).
    pub fn long_rope(&self, n_ctx: u32) -> bool {
        n_ctx.div_ceil(256).saturating_mul(256) > self.rope_orig_ctx
    }
}

/// Which layers attend through the sliding window: Gemma 4's flag per layer
/// (`attention.sliding_window_pattern`), or every layer but each `sliding_window_pattern`-th of
/// a family with a fixed pattern (Gemma 3), where the file has a window.
fn local_layers(g: &Gguf, family: &Family, arch: &str, n_layer: u32, window: u32) -> Result<Vec<bool>, ConfigError> {
    if family.swa_pattern_key {
        return layer_flags(g, &format!("{arch}.attention.sliding_window_pattern"), n_layer);
    }
    let pattern = family.sliding_window_pattern;
    Ok((0..n_layer).map(|l| window > 0 && pattern > 0 && !(l + 1).is_multiple_of(pattern)).collect())
}

/// Qwen3.5's layer kinds: a per-layer flag list (`attention.recurrent_layers`) where the file
/// has one, else every `full_attention_interval`-th layer (default 4, as llama.cpp) attends
/// and the others are gated delta nets.
fn delta_net_layers(g: &Gguf, arch: &str, n_layer: u32) -> Result<Vec<LayerKind>, ConfigError> {
    let kind = |recurrent: bool| if recurrent { LayerKind::DeltaNet } else { LayerKind::Attention };
    let flags_key = format!("{arch}.attention.recurrent_layers");
    if g.get(&flags_key).is_ok() {
        return Ok(layer_flags(g, &flags_key, n_layer)?.into_iter().map(kind).collect());
    }
    let interval = g.optional(&format!("{arch}.full_attention_interval"), Gguf::get_u32)?.unwrap_or(4);
    if interval == 0 {
        return Err(out_of_range(&format!("{arch}.full_attention_interval"), 0, "must be at least 1".into()));
    }
    Ok((0..n_layer).map(|l| kind(!(l + 1).is_multiple_of(interval))).collect())
}

/// A flag per layer: the boolean array `key` of `n_layer` entries.
fn layer_flags(g: &Gguf, key: &str, n_layer: u32) -> Result<Vec<bool>, ConfigError> {
    match g.get_array(key)? {
        crate::gguf::Array::Bool(v) if v.len() == n_layer as usize => Ok(v.clone()),
        a => Err(ConfigError::Inconsistent(format!("'{key}' has {} entries for {n_layer} layers", a.len()))),
    }
}

fn out_of_range(key: &str, value: impl std::fmt::Display, why: String) -> ConfigError {
    ConfigError::OutOfRange { key: key.to_owned(), value: value.to_string(), why }
}
