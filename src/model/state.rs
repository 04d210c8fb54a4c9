//! `State`: the GPU buffers of one model instance besides its weights (activations, KV caches,
//! tables, scratch, the step's small buffers), allocated at load from one list of sizes,
//! [`StateSizes`], which the memory plan sums: what a plan says is what a load allocates.

use crate::gpu::{GpuContext, Readback, buffer_bytes};
use crate::kernels::{
    AttnShape, ConvShape, DecodeScratch, DeltaNetShape, Kernels, LOGPROB_WORDS, RopeTable, StepBuffer, rope_freqs,
};

use super::ModelWeights;
use super::transformer::attn_shape;
use super::{LayerKind, ModelConfig};

/// Tokens the penalties look back over (llama.cpp's `penalty_last_n`).
pub const PENALTY_WINDOW: u32 = 64;

/// Sampled-token read-back buffers: two, so one step's id is read while the next is sampled.
pub const READBACKS: usize = 2;

/// Snapshots of each delta net's state, by position: the state after the last step and the
/// one before it, so that a decode step run ahead and dropped (the end of a reply) leaves the
/// state the next request resumes from ([`SnapshotMarks`]).
pub const DELTA_SNAPSHOTS: u32 = 2;

/// GPU buffers of one model instance, all allocated at load.
pub struct State {
    /// (T, D) f32 the residual stream.
    pub x: wgpu::Buffer,
    /// (T, D) normalized input of a sub-layer.
    pub h: wgpu::Buffer,
    /// (T, D) f32 a sub-layer's output before its post-norm (gemma3).
    pub o: wgpu::Buffer,
    /// (T, H·hd) queries.
    pub q: wgpu::Buffer,
    /// (T, KV·hd) keys of this step.
    pub k: wgpu::Buffer,
    /// (T, KV·hd) values of this step.
    pub v: wgpu::Buffer,
    /// (T, H·hd) attention output.
    pub att: wgpu::Buffer,
    /// (T, F) FFN gate, then the gated product.
    pub gate: wgpu::Buffer,
    /// (T, F) FFN up projection.
    pub up: wgpu::Buffer,
    /// (V,) logits of the last token.
    pub logits: wgpu::Buffer,
    /// Per attention layer: K and V caches (cache_len, KV·hd) and cache_len (None for a conv
    /// layer).
    pub caches: Vec<Option<(wgpu::Buffer, wgpu::Buffer, u32)>>,
    /// Per conv layer: its past inputs by position, (ring_len, D) f32 (None for an attention
    /// layer).
    pub conv_rings: Vec<Option<wgpu::Buffer>>,
    /// (T, D) the conv layers' b, c, x and output, where the model has conv layers.
    pub conv: Option<[wgpu::Buffer; 4]>,
    /// Per delta-net layer: its states, (DELTA_SNAPSHOTS, n_v_heads, dim, dim) f32 (None for
    /// other layers).
    pub delta_states: Vec<Option<wgpu::Buffer>>,
    /// The delta nets' activations, where the model has them.
    pub delta: Option<DeltaNetActs>,
    /// (T, H·hd) the attention output gates (Qwen3.5), where the model has them.
    pub q_gate: Option<wgpu::Buffer>,
    /// Gemma 4's per-layer inputs, where the model has per-layer embeddings.
    pub per_layer: Option<PerLayerActs>,
    /// (n_ctx, rope_dims / 2) cos/sin tables (with the model's RoPE factors for this context
    /// and longrope's attention factor): global layers, then local layers (gemma3).
    pub rope: (RopeTable, Option<RopeTable>),
    /// Flash-decoding scratch: global layers, local layers.
    pub scratch: (DecodeScratch, Option<DecodeScratch>),
    /// The step uniform.
    pub step: StepBuffer,
    /// (1,) u32: the current token; the sampler writes the next one here.
    pub token: wgpu::Buffer,
    /// (T_max,) u32: prompt tokens of a prefill chunk.
    pub prompt: wgpu::Buffer,
    /// (PENALTY_WINDOW,) u32: recent tokens for the penalties, the latest last (u32::MAX =
    /// empty, at the front).
    pub hist: wgpu::Buffer,
    /// (ceil(n_vocab / 32),) u32: the tokens a grammar allows next, one bit each (constrained
    /// decoding; the CPU writes it before each masked sampling).
    pub mask: wgpu::Buffer,
    /// Where sampled ids are copied for the CPU to read.
    pub readbacks: [Readback; READBACKS],
    /// (LOGPROB_WORDS,) u32: a drawn token's log-probabilities (`logprobs` requests).
    pub logprobs: wgpu::Buffer,
    /// (2 · PENALTY_WINDOW,) u32: the logits of the penalties' window before the sampler.
    pub logprob_saved: wgpu::Buffer,
    /// Where `logprobs` is copied for the CPU to read, beside each read-back slot.
    pub logprob_readbacks: [Readback; READBACKS],
    /// Largest T of one step.
    pub max_chunk: u32,
    /// Context length (positions 0..n_ctx).
    pub n_ctx: u32,
}

/// The activations of a delta-net layer over a step, act.
pub struct DeltaNetActs {
    /// (T, channels) the input projection's q | k | v, before the convolution.
    pub mixed: wgpu::Buffer,
    /// (T, channels) after the convolution and SiLU.
    pub conv: wgpu::Buffer,
    /// (T, inner) the output gate.
    pub z: wgpu::Buffer,
    /// (T, n_v_heads) beta, alpha before their activations.
    pub beta: wgpu::Buffer,
    /// See `beta`.
    pub alpha: wgpu::Buffer,
    /// (T, inner) the normed, gated output.
    pub y: wgpu::Buffer,
}

/// Gemma 4's per-layer activations over a step.
pub struct PerLayerActs {
    /// (T, L·P) f32 the tokens' rows of `per_layer_token_embd`, times sqrt(P).
    pub rows: wgpu::Buffer,
    /// (T, L·P) the projection of the scaled token embedding, then (in place) every layer's
    /// inputs.
    pub inputs: wgpu::Buffer,
    /// (T, P) a layer's gate, then its product with the layer's inputs.
    pub gate: wgpu::Buffer,
}

/// One buffer of a [`State`] as the plan sees it.
#[derive(Clone, Copy, Debug)]
pub struct StateBuffer {
    /// What it holds, for messages ("the KV cache of one layer").
    pub what: &'static str,
    /// Its size in bytes, as allocated ([`buffer_bytes`]).
    pub bytes: u64,
    /// What kind of memory it is.
    pub kind: StateKind,
}

/// The kinds of a [`State`]'s memory, as the plan and `Hearth.inspect` report them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateKind {
    /// Attention layers' KV caches: grow with the context.
    KvCache,
    /// Recurrent layers' state of a fixed size whatever the context: conv rings (LFM2,
    /// Qwen3.5) and delta-net state snapshots (Qwen3.5).
    Recurrent,
    /// Activations, tables, scratch and the step's small buffers.
    Other,
}

/// Every buffer a [`State`] allocates, for a model, a context, a chunk, an activation size
/// and the kernels' shapes: [`State::new`] allocates these, the memory plan sums them.
pub struct StateSizes {
    /// The buffers, in allocation order.
    pub buffers: Vec<StateBuffer>,
}

impl StateSizes {
    /// The buffers of a state for contexts of `n_ctx` positions, steps of up to `max_chunk`
    /// tokens, activations of `act` bytes, with or without the CPU adapters' kernel shapes.
    pub fn new(cfg: &ModelConfig, n_ctx: u32, max_chunk: u32, act: u64, cpu_shapes: bool) -> Self {
        let t = u64::from(max_chunk);
        let (d, f) = (u64::from(cfg.d_model), u64::from(cfg.d_ff));
        let (qd, kvd) = cfg.max_qkv_widths();
        let (qd, kvd) = (u64::from(qd), u64::from(kvd));
        let mut buffers = Vec::new();
        let mut add = |what, bytes, kind| buffers.push(StateBuffer { what, bytes: buffer_bytes(bytes), kind });
        let (kv, rec, other) = (StateKind::KvCache, StateKind::Recurrent, StateKind::Other);
        let conv = conv_shape(cfg, max_chunk);
        for l in 0..cfg.n_layer {
            match cfg.layer_kind(l) {
                LayerKind::ShortConv => {
                    add("the convolution state of one layer", u64::from(conv.ring_len * conv.d) * 4, rec);
                }
                LayerKind::DeltaNet => {
                    add("the convolution state of one layer", u64::from(conv.ring_len * conv.d) * 4, rec);
                    if let Some(shape) = delta_shape(cfg) {
                        add("the delta-net state of one layer", shape.state_bytes(), rec);
                    }
                }
                LayerKind::Attention if cfg.has_own_kv(l) => {
                    let len = u64::from(cache_len(cfg, l, n_ctx, max_chunk));
                    let kvd = u64::from(cfg.qkv_widths(l).1);
                    add("the KV cache of one layer", len * kvd * act, kv);
                    add("the KV cache of one layer", len * kvd * act, kv);
                }
                LayerKind::Attention => {}
            }
        }
        add("the residual stream of a prefill chunk", t * d * 4, other);
        add("the normalized activations of a prefill chunk", t * d * act, other);
        add("the sub-layer output of a prefill chunk", t * d * 4, other);
        add("the attention activations of a prefill chunk", t * qd * act, other);
        add("the keys of a prefill chunk", t * kvd * act, other);
        add("the values of a prefill chunk", t * kvd * act, other);
        add("the attention activations of a prefill chunk", t * qd * act, other);
        add("the FFN activations of a prefill chunk", t * f * act, other);
        add("the FFN activations of a prefill chunk", t * f * act, other);
        if cfg.has_conv_layers() {
            for _ in 0..4 {
                add("the convolution activations of a prefill chunk", t * d * act, other);
            }
        }
        if let Some(dn) = &cfg.delta_net {
            let (channels, inner, hv) = (u64::from(dn.conv_channels()), u64::from(dn.inner()), u64::from(dn.n_v_heads));
            for (n, what) in [
                (channels, "the delta-net activations of a prefill chunk"),
                (channels, "the delta-net activations of a prefill chunk"),
                (inner, "the delta-net gates of a prefill chunk"),
                (hv, "the delta-net gates of a prefill chunk"),
                (hv, "the delta-net gates of a prefill chunk"),
                (inner, "the delta-net output of a prefill chunk"),
            ] {
                add(what, t * n * act, other);
            }
        }
        if cfg.family.attn_output_gate {
            add("the attention output gates of a prefill chunk", t * qd * act, other);
        }
        if cfg.per_layer_dim > 0 {
            let all = u64::from(cfg.per_layer_dim * cfg.n_layer);
            add("the per-layer embeddings of a prefill chunk", t * all * 4, other);
            add("the per-layer inputs of a prefill chunk", t * all * act, other);
            add("the per-layer gate of a prefill chunk", t * u64::from(cfg.per_layer_dim) * act, other);
        }
        add("the logits", u64::from(cfg.n_vocab) * act, other);
        let (global_shape, local_shape) = attn_shapes(cfg, n_ctx, max_chunk);
        add("the rope table", RopeTable::bytes(cfg.rope_dims / 2, n_ctx), other);
        if local_shape.is_some() {
            add("the rope table", RopeTable::bytes(cfg.local_dims.rope_dims / 2, n_ctx), other);
        }
        let split_keys = DecodeScratch::split_keys(cpu_shapes, n_ctx);
        add("the decode attention scratch", DecodeScratch::size(&global_shape, n_ctx, split_keys).1, other);
        if let Some(local) = &local_shape {
            add("the decode attention scratch", DecodeScratch::size(local, n_ctx, split_keys).1, other);
        }
        add("the step uniform", StepBuffer::BYTES, other);
        add("the sampled token", 4, other);
        add("the prompt ids of a prefill chunk", 4 * t, other);
        add("the penalties' history", 4 * u64::from(PENALTY_WINDOW), other);
        add("a grammar's token mask", mask_bytes(cfg.n_vocab), other);
        for _ in 0..READBACKS {
            add("a sampled token's read-back", 4, other);
        }
        add("a token's log-probabilities", 4 * LOGPROB_WORDS, other);
        add("the window's logits before the penalties", 8 * u64::from(PENALTY_WINDOW), other);
        for _ in 0..READBACKS {
            add("a token's log-probabilities' read-back", 4 * LOGPROB_WORDS, other);
        }
        StateSizes { buffers }
    }

    /// Bytes of one kind.
    pub fn bytes(&self, kind: StateKind) -> u64 {
        self.buffers.iter().filter(|b| b.kind == kind).map(|b| b.bytes).sum()
    }
}

/// The attention shapes of the global layers and, where the model has them, of the
/// sliding-window layers (each kind's decode scratch is sized by its shape).
fn attn_shapes(cfg: &ModelConfig, n_ctx: u32, max_chunk: u32) -> (AttnShape, Option<AttnShape>) {
    let first = |local: bool| (0..cfg.n_layer).find(|&l| cfg.is_attention_layer(l) && cfg.is_local_layer(l) == local);
    let local = first(true).map(|l| attn_shape(cfg, l, n_ctx, max_chunk));
    let global = match first(false) {
        Some(l) => attn_shape(cfg, l, n_ctx, max_chunk),
        // Every layer local (or none attends): a global shape of the main dimensions.
        None => AttnShape { window: 0, ..attn_shape(cfg, 0, n_ctx, max_chunk) },
    };
    (global, local)
}

impl State {
    /// Allocates the buffers of [`StateSizes::new`] for contexts of `n_ctx` positions and
    /// steps of up to `max_chunk` tokens, with the RoPE factors of `w` for this context. The
    /// load checks them against the device first ([`super::MemoryPlan::check`]); an
    /// allocation that still fails is caught by the load's error scopes.
    pub fn new(
        ctx: &GpuContext,
        k: &Kernels,
        cfg: &ModelConfig,
        w: &ModelWeights,
        n_ctx: u32,
        max_chunk: u32,
    ) -> State {
        let t = u64::from(max_chunk);
        let (d, f) = (u64::from(cfg.d_model), u64::from(cfg.d_ff));
        let (qd, kvd) = cfg.max_qkv_widths();
        let (qd, kvd) = (u64::from(qd), u64::from(kvd));
        let act = |n: u64, label: &str| k.act_buffer(ctx, n, label);
        let f32s = |n: u64, label: &str| ctx.storage_buffer(4 * n, label);
        // Allocated in the order StateSizes lists them.
        let (mut caches, mut conv_rings, mut delta_states) = (Vec::new(), Vec::new(), Vec::new());
        let conv = conv_shape(cfg, max_chunk);
        for l in 0..cfg.n_layer {
            let kind = cfg.layer_kind(l);
            let ring = (kind != LayerKind::Attention).then(|| f32s(u64::from(conv.ring_len * conv.d), "conv_ring"));
            conv_rings.push(ring);
            let states = delta_shape(cfg).filter(|_| kind == LayerKind::DeltaNet);
            delta_states.push(states.map(|s| ctx.storage_buffer(s.state_bytes(), "delta_state")));
            if kind == LayerKind::Attention && cfg.has_own_kv(l) {
                let len = cache_len(cfg, l, n_ctx, max_chunk);
                let n = u64::from(len) * u64::from(cfg.qkv_widths(l).1);
                caches.push(Some((act(n, "k_cache"), act(n, "v_cache"), len)));
            } else {
                caches.push(None);
            }
        }
        let factors = w.rope_factors.for_context(cfg, n_ctx);
        let local_factors = if cfg.family.rope_factors_global_only { None } else { factors };
        let table = |base, dims, factors| {
            let freqs = rope_freqs(base, dims, cfg.rope_freq_scale, factors);
            RopeTable::new(ctx, &freqs, n_ctx, cfg.rope_attn_factor)
        };
        let (global_shape, local_shape) = attn_shapes(cfg, n_ctx, max_chunk);
        let split_keys = DecodeScratch::split_keys(k.cpu_shapes, n_ctx);
        let scratch = |shape: &AttnShape| DecodeScratch::new(ctx, shape, n_ctx, split_keys);
        State {
            x: f32s(t * d, "x"),
            h: act(t * d, "h"),
            o: f32s(t * d, "o"),
            q: act(t * qd, "q"),
            k: act(t * kvd, "k"),
            v: act(t * kvd, "v"),
            att: act(t * qd, "att"),
            gate: act(t * f, "gate"),
            up: act(t * f, "up"),
            conv: cfg.has_conv_layers().then(|| ["conv_b", "conv_c", "conv_x", "conv_y"].map(|l| act(t * d, l))),
            delta: cfg.delta_net.map(|dn| {
                let (channels, inner, hv) =
                    (u64::from(dn.conv_channels()), u64::from(dn.inner()), u64::from(dn.n_v_heads));
                DeltaNetActs {
                    mixed: act(t * channels, "delta_mixed"),
                    conv: act(t * channels, "delta_conv"),
                    z: act(t * inner, "delta_z"),
                    beta: act(t * hv, "delta_beta"),
                    alpha: act(t * hv, "delta_alpha"),
                    y: act(t * inner, "delta_y"),
                }
            }),
            q_gate: cfg.family.attn_output_gate.then(|| act(t * qd, "q_gate")),
            per_layer: (cfg.per_layer_dim > 0).then(|| {
                let all = u64::from(cfg.per_layer_dim * cfg.n_layer);
                PerLayerActs {
                    rows: f32s(t * all, "per_layer_rows"),
                    inputs: act(t * all, "per_layer_inputs"),
                    gate: act(t * u64::from(cfg.per_layer_dim), "per_layer_gate"),
                }
            }),
            delta_states,
            logits: act(u64::from(cfg.n_vocab), "logits"),
            caches,
            conv_rings,
            rope: (
                table(cfg.rope_base, cfg.rope_dims, factors),
                local_shape.map(|_| table(cfg.rope_base_local, cfg.local_dims.rope_dims, local_factors)),
            ),
            scratch: (scratch(&global_shape), local_shape.as_ref().map(scratch)),
            step: StepBuffer::new(ctx),
            token: ctx.storage_buffer(4, "token"),
            prompt: ctx.storage_buffer(4 * t, "prompt"),
            hist: ctx.upload(bytemuck::cast_slice(&[u32::MAX; PENALTY_WINDOW as usize]), "hist"),
            mask: ctx.storage_buffer(mask_bytes(cfg.n_vocab), "mask"),
            readbacks: std::array::from_fn(|_| Readback::new(ctx, 4)),
            logprobs: ctx.storage_buffer(4 * LOGPROB_WORDS, "logprobs"),
            logprob_saved: ctx.storage_buffer(8 * u64::from(PENALTY_WINDOW), "logprob_saved"),
            logprob_readbacks: std::array::from_fn(|_| Readback::new(ctx, 4 * LOGPROB_WORDS)),
            max_chunk,
            n_ctx,
        }
    }

    /// How far before the furthest position written a step may start (a conversation cut
    /// back, or a step run ahead and dropped): where a layer keeps its past in a ring (a
    /// sliding-window cache, a conv layer), that ring's spare slots, max_chunk; else
    /// anywhere. Starting further back needs a run from position 0.
    pub fn cut_back_reach(&self, cfg: &ModelConfig) -> Option<u32> {
        let ring = |l: u32| !cfg.is_attention_layer(l) || cache_len(cfg, l, self.n_ctx, self.max_chunk) < self.n_ctx;
        (0..cfg.n_layer).any(ring).then_some(self.max_chunk)
    }
}

/// Which positions' delta-net states the snapshot slots hold (each step from pos0 over n
/// tokens leaves the state after pos0 + n in slot (pos0 + n) % slots, over whatever was
/// there): where a conversation can resume without running from position 0. Position 0 is
/// always held (a zero state). The engine keeps one next to its cached tokens.
#[derive(Clone, Debug, Default)]
pub struct SnapshotMarks {
    slots: u32,
    held: Vec<u32>,
}

impl SnapshotMarks {
    /// Marks for a model with delta nets (`slots` snapshots each), or none (0: any position).
    pub fn new(slots: u32) -> Self {
        SnapshotMarks { slots, held: Vec::new() }
    }

    /// A step from `pos0` over `n` tokens ran (or was submitted).
    pub fn ran(&mut self, pos0: u32, n: u32) {
        self.overwritten(pos0 + n);
        if self.slots > 0 {
            self.held.push(pos0 + n);
        }
    }

    /// The slot of position `end` was written with something else than its state (a timing
    /// run over stale inputs).
    pub fn overwritten(&mut self, end: u32) {
        if self.slots > 0 {
            self.held.retain(|&p| p % self.slots != end % self.slots);
        }
    }

    /// The furthest position at or before `pos` a step can start from: `pos` itself without
    /// delta nets, else the latest held snapshot there (0 at worst).
    pub fn resume_at(&self, pos: u32) -> u32 {
        if self.slots == 0 {
            return pos;
        }
        self.held.iter().copied().filter(|&p| p <= pos).max().unwrap_or(0)
    }

    /// The cached tokens were cut back to `pos`: snapshots past it are of tokens no longer in
    /// the conversation.
    pub fn forget_after(&mut self, pos: u32) {
        self.held.retain(|&p| p <= pos);
    }
}

/// The convolution of `cfg`'s conv layers (LFM2: over the width; Qwen3.5's delta nets: over
/// q, k and v), with a ring of taps - 1 + max_chunk positions: a chunk's first token still
/// sees its taps after a cut back of max_chunk positions.
pub(super) fn conv_shape(cfg: &ModelConfig, max_chunk: u32) -> ConvShape {
    let d = cfg.delta_net.map_or(cfg.d_model, |dn| dn.conv_channels());
    ConvShape { d, taps: cfg.conv_taps, ring_len: cfg.conv_taps.saturating_sub(1) + max_chunk }
}

/// The recurrence of `cfg`'s delta nets, with [`DELTA_SNAPSHOTS`] snapshots.
pub(super) fn delta_shape(cfg: &ModelConfig) -> Option<DeltaNetShape> {
    cfg.delta_net.map(|dn| DeltaNetShape {
        n_k_heads: dn.n_k_heads,
        n_v_heads: dn.n_v_heads,
        dim: dn.head_dim,
        slots: DELTA_SNAPSHOTS,
        eps: cfg.norm_eps,
    })
}

/// Cache slots of layer `l`: the whole context, or a ring of window + max_chunk - 1 slots for
/// a sliding-window layer (enough for a chunk's earliest query to still see its window).
pub(super) fn cache_len(cfg: &ModelConfig, l: u32, n_ctx: u32, max_chunk: u32) -> u32 {
    if cfg.is_local_layer(l) { (cfg.sliding_window + max_chunk - 1).min(n_ctx) } else { n_ctx }
}

/// Bytes of a token mask of `n_vocab` bits, in whole u32 words.
pub fn mask_bytes(n_vocab: u32) -> u64 {
    4 * u64::from(n_vocab.div_ceil(32))
}
