//! The architecture families hearth runs, as data: one entry per `general.architecture`, read
//! from llama.cpp's loader and graph for that family (`src/models/NAME.cpp` of the llama.cpp
//! that llama-cpp-python 0.3.36 vendors). Adding the next family is adding an entry here, and
//! a kernel only where it needs an operation no family had before.
//!
//! What an entry does not say, the file does: the tensors llama.cpp reads as optional (q/k/v
//! in one fused tensor or three, biases on any projection, Falcon-40B's second norm, rope
//! factor tables, an untied head) are taken from the file when present
//! ([`super::TensorLayout`]).

use crate::kernels::{GluKind, NormKind, RopeLayout};

/// How positions reach attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positions {
    /// Rotary embeddings on q and k (`rope.*` keys, optional factor tables).
    Rope,
    /// ALiBi: a per-head linear bias on the scores by distance (BLOOM, max bias 8).
    Alibi,
    /// Learned absolute position embeddings added to the token embeddings (`position_embd`;
    /// the context can be no longer than the table).
    Learned,
}

/// How a block combines attention and the FFN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockShape {
    /// `x += attn(norm(x)); x += ffn(norm(x))`.
    Sequential,
    /// `x += attn(norm(x)) + ffn(norm(x))`, both from the block's input (Falcon; with
    /// `attn_norm_2`, attention has its own norm).
    Parallel,
}

/// One architecture family: what its graph does, as llama.cpp builds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Family {
    /// `general.architecture`.
    pub arch: &'static str,
    /// The norms (LayerNorm norms have a bias tensor next to each weight).
    pub norm: NormKind,
    /// How positions reach attention.
    pub positions: Positions,
    /// Pair layout of RoPE (unused without it).
    pub rope_layout: RopeLayout,
    /// Sequential or parallel attention and FFN.
    pub block: BlockShape,
    /// The FFN's activation.
    pub act: GluKind,
    /// A gated FFN (`act(gate) · up`, then down) rather than a plain one (`act(up)`, then down).
    pub gated_ffn: bool,
    /// Per-head RMS norms on q and k (`attn_q_norm`, `attn_k_norm`).
    pub qk_norm: bool,
    /// Norms after attention and FFN outputs (`post_attention_norm`, `post_ffw_norm`).
    pub post_norms: bool,
    /// Token embeddings are multiplied by sqrt(d_model).
    pub scale_embeddings: bool,
    /// A LayerNorm on the embeddings (`token_embd_norm`).
    pub embed_norm: bool,
    /// Sliding-window layers from `attention.sliding_window`: every n-th layer (n-1, 2n-1, …)
    /// is global, the others local with their own RoPE base (0: the family has none; Phi-3
    /// files carry the key, but llama.cpp runs them without a window).
    pub sliding_window_pattern: u32,
    /// RoPE base of local layers.
    pub local_rope_base: f64,
    /// ALiBi's maximum bias (llama.cpp sets it in code, not from a key).
    pub alibi_max_bias: f32,
    /// llama.cpp refuses a `rope.dimension_count` other than the head dimension.
    pub full_rotary: bool,
    /// Layers whose KV head count is 0 are gated short convolutions instead of attention
    /// (LFM2: `shortconv.in_proj`, `shortconv.conv`, `shortconv.out_proj`, taps from
    /// `shortconv.l_cache`).
    pub conv_layers: bool,
    /// Layers are gated delta nets but every `full_attention_interval`-th, which attends
    /// (Qwen3.5: `attn_qkv`, `attn_gate`, `ssm_conv1d`, `ssm_a`, `ssm_dt`, `ssm_alpha`,
    /// `ssm_beta`, `ssm_norm`, `ssm_out` and the `ssm.*` keys).
    pub delta_net: bool,
    /// The query projection gives each head its queries and a gate, interleaved by head; the
    /// attention output is multiplied by sigmoid(gate) before its projection (Qwen3.5).
    pub attn_output_gate: bool,
    /// The sliding-window layers are listed by `attention.sliding_window_pattern`, one flag per
    /// layer, with their own head size, rotated dimensions and RoPE base (`*_swa` keys; Gemma 4).
    pub swa_pattern_key: bool,
    /// Values are RMS-normalized per head, without a weight, before the cache (Gemma 4).
    pub v_norm: bool,
    /// Attention scores are not scaled (Gemma 4: q and k are normalized instead).
    pub unit_attn_scale: bool,
    /// Final logits are soft-capped by `final_logit_softcapping` (Gemma 4).
    pub logit_softcap: bool,
    /// The file's `rope_freqs` apply to global layers only (Gemma 4's proportional RoPE).
    pub rope_factors_global_only: bool,
    /// The final norm's tensor (LFM2's converter names it `token_embd_norm`).
    pub output_norm: &'static str,
    /// The FFN's input norm's tensor in each layer (Qwen3.5's converter names it
    /// `post_attention_norm`).
    pub ffn_norm: &'static str,
    /// Where this family's graph is in llama.cpp, for readers.
    pub source: &'static str,
    /// What hearth's forward pass for it is verified against (tests/model.rs, tests/arch.rs).
    pub verified: &'static str,
}

impl Family {
    /// The metadata key (after `ARCH.`) of its norms' epsilon.
    pub fn eps_key(&self) -> &'static str {
        match self.norm {
            NormKind::Rms => "attention.layer_norm_rms_epsilon",
            NormKind::Layer => "attention.layer_norm_epsilon",
        }
    }
}

const BASE: Family = Family {
    arch: "",
    norm: NormKind::Rms,
    positions: Positions::Rope,
    rope_layout: RopeLayout::Neox,
    block: BlockShape::Sequential,
    act: GluKind::Silu,
    gated_ffn: true,
    qk_norm: false,
    post_norms: false,
    scale_embeddings: false,
    embed_norm: false,
    sliding_window_pattern: 0,
    local_rope_base: 0.0,
    alibi_max_bias: 0.0,
    full_rotary: false,
    conv_layers: false,
    delta_net: false,
    attn_output_gate: false,
    swa_pattern_key: false,
    v_norm: false,
    unit_attn_scale: false,
    logit_softcap: false,
    rope_factors_global_only: false,
    output_norm: "output_norm",
    ffn_norm: "ffn_norm",
    source: "",
    verified: "",
};

/// Random-weight files in the family's real layout (tests/arch), against llama.cpp.
const RANDOM: &str = "random weights in its real layout, against llama.cpp";

/// Every family hearth runs.
pub const FAMILIES: [Family; 11] = [
    // Llama 1-3, SmolLM, Mistral, DeepSeek-R1 distills of Llama: normal-pair RoPE (the
    // converter permutes Q and K), optional rope_freqs (Llama 3.x) or longrope factors.
    Family {
        arch: "llama",
        rope_layout: RopeLayout::Normal,
        full_rotary: true,
        source: "models/llama.cpp",
        verified: "real weights (SmolLM2-135M-Instruct F16, Q8_0, Q4_1, Q4_0) and random weights in Llama 3.x's layout with rope_freqs factors, against llama.cpp",
        ..BASE
    },
    Family {
        arch: "qwen2",
        source: "models/qwen2.cpp",
        verified: "random weights with and without Q/K/V biases, against llama.cpp",
        ..BASE
    },
    Family { arch: "qwen3", qk_norm: true, source: "models/qwen3.cpp", verified: RANDOM, ..BASE },
    Family {
        arch: "gemma3",
        act: GluKind::Gelu,
        qk_norm: true,
        post_norms: true,
        scale_embeddings: true,
        sliding_window_pattern: 6,
        local_rope_base: 10000.0,
        source: "models/gemma3.cpp",
        verified: "real weights (Gemma-3-270M Q4_K_M), against llama.cpp",
        ..BASE
    },
    // Phi-3, Phi-3.5, Phi-4-mini: fused QKV, gate and up fused in ffn_up, partial rotary on
    // Phi-4-mini, longrope factor tables on the 128k variants.
    Family {
        arch: "phi3",
        source: "models/phi3.cpp",
        verified: "random weights in Phi-3-mini's and Phi-4-mini's layouts (longrope factors, partial rotary), against llama.cpp",
        ..BASE
    },
    Family {
        arch: "gpt2",
        norm: NormKind::Layer,
        positions: Positions::Learned,
        act: GluKind::Gelu,
        gated_ffn: false,
        source: "models/gpt2.cpp",
        verified: RANDOM,
        ..BASE
    },
    Family {
        arch: "falcon",
        norm: NormKind::Layer,
        block: BlockShape::Parallel,
        act: GluKind::Gelu,
        gated_ffn: false,
        full_rotary: true,
        source: "models/falcon.cpp",
        verified: "random weights in Falcon-7B's and Falcon-40B's layouts, against llama.cpp",
        ..BASE
    },
    Family {
        arch: "bloom",
        norm: NormKind::Layer,
        positions: Positions::Alibi,
        act: GluKind::Gelu,
        gated_ffn: false,
        embed_norm: true,
        alibi_max_bias: 8.0,
        source: "models/bloom.cpp",
        verified: RANDOM,
        ..BASE
    },
    // LFM2: gated short convolutions in most layers, attention with q/k norms in the others
    // (which, by a per-layer KV head count, the file says), a SwiGLU FFN in every layer.
    Family {
        arch: "lfm2",
        qk_norm: true,
        conv_layers: true,
        output_norm: "token_embd_norm",
        source: "models/lfm2.cpp",
        verified: RANDOM,
        ..BASE
    },
    // Qwen3.5: gated delta nets in three layers of four, gated attention with q/k norms and
    // partial rotary in the fourth (its interleaved M-RoPE is plain neox RoPE for text, where
    // every section has the same position), a SwiGLU FFN in every layer.
    Family {
        arch: "qwen35",
        qk_norm: true,
        delta_net: true,
        attn_output_gate: true,
        ffn_norm: "post_attention_norm",
        source: "models/qwen35.cpp, models/delta-net-base.cpp",
        verified: RANDOM,
        ..BASE
    },
    // Gemma 4 (E2B, E4B): Gemma 3's block (q/k norms, post-norms, GELU, scaled embeddings) with
    // sliding-window and global layers of their own head sizes, RoPE bases and rotated dims
    // (proportional RoPE on global layers through rope_freqs), values normed without a weight,
    // unscaled scores, the last layers reading earlier layers' KV caches, per-layer token
    // embeddings projected into every layer, a scalar per layer, soft-capped logits.
    Family {
        arch: "gemma4",
        act: GluKind::Gelu,
        qk_norm: true,
        post_norms: true,
        scale_embeddings: true,
        swa_pattern_key: true,
        v_norm: true,
        unit_attn_scale: true,
        logit_softcap: true,
        rope_factors_global_only: true,
        source: "models/gemma4.cpp",
        verified: RANDOM,
        ..BASE
    },
];

/// The family of `arch`, if hearth runs it.
pub fn family(arch: &str) -> Option<&'static Family> {
    FAMILIES.iter().find(|f| f.arch == arch)
}

/// The architectures hearth runs, for messages.
pub fn supported() -> Vec<&'static str> {
    FAMILIES.iter().map(|f| f.arch).collect()
}
