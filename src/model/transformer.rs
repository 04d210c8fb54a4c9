//! The transformer forward pass, for every supported architecture: a straight list of kernel
//! calls, recorded once per step into one command encoder.
//!
//! Shapes: T tokens in the step, D model width, H query heads, KV key/value heads, hd head
//! dim, F FFN width, V vocabulary. Activations are `act` (f32, or f16 on the f16 path); the
//! residual stream `x` and a sub-layer's output `o` are f32 on both paths.

use crate::gpu::{Dispatch, GpuContext, GpuWeight, Recorder};
use crate::kernels::{
    AttnShape, DecodeScratch, History, KernelError, Kernels, MatvecX, QkNorm, QkvBuffers, RopeTable, SamplerParams,
    Step, StepBuffer, Store, rope_freqs,
};

use super::{ModelConfig, ModelWeights};

/// Tokens the penalties look back over (llama.cpp's `penalty_last_n`).
pub const PENALTY_WINDOW: u32 = 64;

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
    /// Per layer: K and V caches (cache_len, KV·hd) and cache_len.
    pub caches: Vec<(wgpu::Buffer, wgpu::Buffer, u32)>,
    /// (n_ctx, rope_dims / 2) cos/sin tables: global layers, then local layers (gemma3).
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
    /// Largest T of one step.
    pub max_chunk: u32,
    /// Context length (positions 0..n_ctx).
    pub n_ctx: u32,
}

/// Where a step's token ids come from.
#[derive(Clone, Copy)]
pub enum Tokens {
    /// The sampled token (decode).
    Sampled,
    /// The prompt buffer (prefill).
    Prompt,
}

/// What a step computes after the last layer.
pub enum Head<'a> {
    /// Logits of the step's last token into `State::logits`.
    Last,
    /// Logits of every token into this (T, V) buffer (teacher-forced evaluation).
    All(&'a wgpu::Buffer),
}

impl State {
    /// Allocates every buffer for contexts of `n_ctx` positions and steps of up to `max_chunk`
    /// tokens. The load checks them against the device first ([`super::MemoryPlan::check`]);
    /// an allocation that still fails is caught by the load's error scopes.
    pub fn new(ctx: &GpuContext, k: &Kernels, cfg: &ModelConfig, n_ctx: u32, max_chunk: u32) -> State {
        let t = u64::from(max_chunk);
        let (d, f) = (u64::from(cfg.d_model), u64::from(cfg.d_ff));
        let (qd, kvd) = (u64::from(cfg.n_head * cfg.head_dim), u64::from(cfg.n_kv_head * cfg.head_dim));
        let act = |n: u64, label: &str| k.act_buffer(ctx, n, label);
        let f32s = |n: u64, label: &str| ctx.storage_buffer(4 * n, label);
        let caches = (0..cfg.n_layer)
            .map(|l| {
                let len = cache_len(cfg, l, n_ctx, max_chunk);
                (act(u64::from(len) * kvd, "k_cache"), act(u64::from(len) * kvd, "v_cache"), len)
            })
            .collect();
        let table = |base| RopeTable::new(ctx, &rope_freqs(base, cfg.rope_dims, cfg.rope_freq_scale, None), n_ctx);
        let has_local = (0..cfg.n_layer).any(|l| cfg.is_local_layer(l));
        let shape = attn_shape(cfg, 0, n_ctx, max_chunk);
        let hist = ctx.upload(bytemuck::cast_slice(&[u32::MAX; PENALTY_WINDOW as usize]), "hist");
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
            logits: act(u64::from(cfg.n_vocab), "logits"),
            caches,
            rope: (table(cfg.rope_base), has_local.then(|| table(cfg.rope_base_local))),
            scratch: (
                DecodeScratch::for_adapter(ctx, k, &AttnShape { window: 0, ..shape }, n_ctx),
                has_local.then(|| {
                    DecodeScratch::for_adapter(ctx, k, &AttnShape { window: cfg.sliding_window, ..shape }, n_ctx)
                }),
            ),
            step: StepBuffer::new(ctx),
            token: ctx.storage_buffer(4, "token"),
            prompt: ctx.storage_buffer(4 * t, "prompt"),
            hist,
            max_chunk,
            n_ctx,
        }
    }
}

/// Cache slots of layer `l`: the whole context, or a ring of window + max_chunk - 1 slots for
/// a sliding-window layer (enough for a chunk's earliest query to still see its window).
pub(super) fn cache_len(cfg: &ModelConfig, l: u32, n_ctx: u32, max_chunk: u32) -> u32 {
    if cfg.is_local_layer(l) { (cfg.sliding_window + max_chunk - 1).min(n_ctx) } else { n_ctx }
}

fn attn_shape(cfg: &ModelConfig, l: u32, n_ctx: u32, max_chunk: u32) -> AttnShape {
    AttnShape {
        n_head: cfg.n_head,
        n_kv: cfg.n_kv_head,
        head_dim: cfg.head_dim,
        cache_len: cache_len(cfg, l, n_ctx, max_chunk),
        window: if cfg.is_local_layer(l) { cfg.sliding_window } else { 0 },
        scale: cfg.attn_scale,
    }
}

/// Builds the dispatches of one forward step over `n_tokens` tokens (positions from the step
/// uniform), ending with `head`.
pub fn forward(
    ctx: &GpuContext,
    k: &mut Kernels,
    cfg: &ModelConfig,
    w: &ModelWeights,
    s: &State,
    n_tokens: u32,
    tokens: Tokens,
    head: Head<'_>,
) -> Result<Vec<Dispatch>, KernelError> {
    let t = n_tokens;
    let (d, f) = (cfg.d_model, cfg.d_ff);
    let (qd, kvd) = (cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim);
    let decode = t == 1;
    let mut out = Vec::new();
    // Projections: one matvec when decoding, a matmul over the chunk when prefilling.
    let proj = |k: &mut Kernels, w, x: &wgpu::Buffer, y: &wgpu::Buffer, store| {
        if decode { k.matvec(ctx, w, x, y, store) } else { k.matmul(ctx, w, x, y, t, store) }
    };
    // A sub-layer's input projections (one weight per stack of tensors, each tensor into its
    // buffer of `outs`) of h = rms_norm(x) · norm: folded into the matvecs when decoding, a
    // norm into h then matmuls when prefilling.
    let eps = cfg.norm_eps;
    let project_in = |k: &mut Kernels, stacks: &[GpuWeight], norm: &wgpu::Buffer, outs: &[&wgpu::Buffer]| {
        let mut v = Vec::new();
        if !decode {
            v.push(k.rms_norm(ctx, &s.x, true, norm, Some(&s.h), t, d, eps)?);
        }
        let mut outs = outs.iter().copied();
        for w in stacks {
            let ys: Vec<&wgpu::Buffer> = outs.by_ref().take(w.parts.len()).collect();
            v.extend(if decode {
                k.matvec_into(ctx, w, MatvecX::Normed { x: &s.x, row: 0, norm, eps }, &ys, Store::Act)?
            } else {
                k.matmul_into(ctx, w, &s.h, &ys, t, Store::Act)?
            });
        }
        Ok::<_, KernelError>(v)
    };
    // x += input W^T, or with a post-norm (gemma3) x += rms_norm(input W^T) · post_norm.
    let add_to_residual = |k: &mut Kernels, w, input: &wgpu::Buffer, post_norm: Option<&wgpu::Buffer>| {
        let Some(pn) = post_norm else { return proj(k, w, input, &s.x, Store::AddF32) };
        let mut v = proj(k, w, input, &s.o, Store::F32)?;
        v.push(k.rms_norm_add(ctx, &s.o, pn, &s.x, t, d, cfg.norm_eps)?);
        Ok(v)
    };

    // x (T, D) f32 = token_embd[tokens] (· sqrt(D) for gemma)
    let (ids, scale) = (if matches!(tokens, Tokens::Sampled) { &s.token } else { &s.prompt }, cfg.embed_scale());
    out.extend(k.embed(ctx, &w.token_embd, ids, 0, &s.x, t, scale)?);

    for (l, lw) in w.layers.iter().enumerate() {
        let shape = attn_shape(cfg, l as u32, s.n_ctx, s.max_chunk);
        let local = shape.window > 0;
        let (k_cache, v_cache, _) = &s.caches[l];
        let rope = if local { s.rope.1.as_ref().unwrap_or(&s.rope.0) } else { &s.rope.0 };

        // --- attention ---
        // q (T, H·hd), k, v (T, KV·hd) = (rms_norm(x) · attn_norm) W^T (+ bias)
        out.extend(project_in(k, &lw.qkv, &lw.attn_norm, &[&s.q, &s.k, &s.v])?);
        if let Some([bq, bk, bv]) = &lw.qkv_bias {
            out.push(k.add_broadcast(ctx, &s.q, bq, t * qd, qd)?);
            out.push(k.add_broadcast(ctx, &s.k, bk, t * kvd, kvd)?);
            out.push(k.add_broadcast(ctx, &s.v, bv, t * kvd, kvd)?);
        }
        // per-head q, k norms (qwen3, gemma3); rotate q, k by position; append k, v to the cache
        let qk_norm = lw.qk_norm.as_ref().map(|[q, k]| QkNorm { q, k, eps });
        let qkv = QkvBuffers { q: &s.q, k: &s.k, v: &s.v, k_cache, v_cache, qk_norm };
        out.push(k.rope_kv(ctx, &qkv, rope, &s.step, cfg.rope_layout, &shape, t)?);
        // att (T, H·hd) = softmax(q k^T · scale + causal/window mask) v
        if decode {
            let scratch = if local { s.scratch.1.as_ref().unwrap_or(&s.scratch.0) } else { &s.scratch.0 };
            out.extend(k.attn_decode(ctx, &shape, &s.q, k_cache, v_cache, &s.att, &s.step, scratch)?);
        } else {
            out.push(k.attn_prefill(ctx, &shape, &s.q, k_cache, v_cache, &s.att, &s.step, t)?);
        }
        // x += att Wo^T  (gemma3: x += rms_norm(att Wo^T) · post_attention_norm)
        out.extend(add_to_residual(k, &lw.wo, &s.att, lw.post_attn_norm.as_ref())?);

        // --- feed-forward ---
        // gate, up (T, F) = (rms_norm(x) · ffn_norm) W^T
        out.extend(project_in(k, &lw.gate_up, &lw.ffn_norm, &[&s.gate, &s.up])?);
        // x += gate Wd^T  (gemma3: x += rms_norm(gate Wd^T) · post_ffw_norm); when decoding,
        // the GLU is made as the down projection loads its input.
        match (decode, lw.post_ffn_norm.as_ref()) {
            (true, None) => out.extend(k.matvec_glu(ctx, &lw.down, cfg.glu, &s.gate, &s.up, &s.x, Store::AddF32)?),
            (true, Some(pn)) => {
                out.extend(k.matvec_glu(ctx, &lw.down, cfg.glu, &s.gate, &s.up, &s.o, Store::F32)?);
                out.push(k.rms_norm_add(ctx, &s.o, pn, &s.x, t, d, cfg.norm_eps)?);
            }
            (false, post_norm) => {
                out.push(k.glu(ctx, cfg.glu, &s.gate, &s.up, None, t * f)?);
                out.extend(add_to_residual(k, &lw.down, &s.gate, post_norm)?);
            }
        }
    }

    // logits = rms_norm(x) · output_norm · W_out^T (of the last token: the norm folded in)
    match head {
        Head::Last => {
            let x = MatvecX::Normed { x: &s.x, row: t - 1, norm: &w.output_norm, eps };
            out.extend(k.matvec_into(ctx, w.lm_head(), x, &[&s.logits], Store::Act)?);
        }
        Head::All(all) => {
            out.push(k.rms_norm(ctx, &s.x, true, &w.output_norm, Some(&s.h), t, d, eps)?);
            out.extend(k.matmul(ctx, w.lm_head(), &s.h, all, t, Store::Act)?);
        }
    }
    Ok(out)
}

/// Dispatches per transformer layer in a forward list of `n_dispatches` for one token: those
/// besides the embedding and the LM head (one per page of their tables; the final norm is
/// folded into the head), over the number of layers.
pub fn layer_dispatches(n_dispatches: usize, w: &ModelWeights, cfg: &ModelConfig) -> f64 {
    let outside = w.token_embd.pages.len() + w.lm_head().pages.len();
    n_dispatches.saturating_sub(outside) as f64 / f64::from(cfg.n_layer)
}

/// The sampling dispatch: writes the next token into `State::token` and appends it to
/// `State::hist`, the penalties' window, so that steps submitted ahead of the CPU see it.
pub fn sampler(
    ctx: &GpuContext,
    k: &mut Kernels,
    cfg: &ModelConfig,
    s: &State,
    params: &SamplerParams,
) -> Result<Dispatch, KernelError> {
    let hist = History { buffer: &s.hist, len: PENALTY_WINDOW, push: true };
    k.sample(ctx, &s.logits, &s.token, 0, cfg.n_vocab, &s.step, &hist, params)
}

/// Records and submits one step.
pub fn submit(ctx: &GpuContext, s: &State, step: Step, dispatches: &[&[Dispatch]]) {
    s.step.write(ctx, step);
    let mut r = Recorder::new(ctx);
    for d in dispatches {
        r.record(d);
    }
    r.submit(ctx);
}
