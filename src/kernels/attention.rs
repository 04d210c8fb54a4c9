//! Attention over the KV cache (`shaders/attention.wgsl`); [`Kernels::rope_kv`] writes the cache.

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, StepBuffer, WG, shaders};

/// Keys per decode split on GPUs: enough workgroups to fill the GPU for long contexts.
const GPU_SPLIT_KEYS: u32 = 256;

/// The largest head dimension the attention kernels take (`MAX_HEAD_DIM` in
/// shaders/attention.wgsl with `WIDE_HEADS`: Gemma 4's global layers have 512).
pub const MAX_HEAD_DIM: u32 = 512;

/// The largest head dimension of the kernels without `WIDE_HEADS` (`MAX_HEAD_DIM` in
/// shaders/attention.wgsl), which every other model's heads fit at half the workgroup memory
/// and registers.
pub const NARROW_HEAD_DIM: u32 = 256;

/// The most head dimensions one lane of `attn_decode_sg` keeps (`MAX_DPL` in
/// shaders/attention.wgsl).
pub(super) const MAX_DIMS_PER_LANE: u32 = 64;

/// The shape of one layer's attention.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    /// Query heads.
    pub n_head: u32,
    /// Key/value heads (divides `n_head`).
    pub n_kv: u32,
    /// Dimensions per head (at most [`MAX_HEAD_DIM`]).
    pub head_dim: u32,
    /// Slots in the cache; position p lives in slot p % cache_len. A sliding-window layer may
    /// keep a ring of `window + max_tokens - 1` slots; a global layer needs the context length.
    pub cache_len: u32,
    /// Sliding window (0: every earlier position is visible).
    pub window: u32,
    /// Score scale, usually 1 / sqrt(head_dim).
    pub scale: f32,
    /// ALiBi's maximum bias (BLOOM: 8): each head's scores get a slope times the key's
    /// distance; 0 for none.
    pub alibi: f32,
}

impl AttnShape {
    /// ALiBi's slope bases (m0, m1) and the largest power of two at most `n_head`, computed in
    /// f32 as llama.cpp's soft_max does.
    pub fn alibi_bases(&self) -> (f32, f32, u32) {
        let n_log2 = 1u32 << self.n_head.max(1).ilog2();
        let m0 = 2.0f32.powf(-self.alibi / n_log2 as f32);
        let m1 = 2.0f32.powf(-(self.alibi / 2.0) / n_log2 as f32);
        (m0, m1, n_log2)
    }

    /// ALiBi's slope of query head `h` (1 without ALiBi, as llama.cpp's soft_max).
    pub fn alibi_slope(&self, h: u32) -> f32 {
        if self.alibi <= 0.0 {
            return 1.0;
        }
        let (m0, m1, n_log2) = self.alibi_bases();
        if h < n_log2 { m0.powi(h as i32 + 1) } else { m1.powi(2 * (h - n_log2) as i32 + 1) }
    }
}

/// Scratch for split-sequence decoding: per (head, split) a partial (m, l, o\[head_dim\]).
pub struct DecodeScratch {
    partials: wgpu::Buffer,
    n_splits: u32,
    split_keys: u32,
}

impl DecodeScratch {
    /// Scratch for sequences of up to `max_seq` visible keys, with the split size the adapter
    /// wants: one split on CPU adapters (each extra workgroup and dispatch costs more than it
    /// parallelizes), `GPU_SPLIT_KEYS` keys per split on GPUs.
    pub fn for_adapter(ctx: &GpuContext, k: &Kernels, shape: &AttnShape, max_seq: u32) -> Self {
        Self::new(ctx, shape, max_seq, Self::split_keys(k.cpu_shapes, max_seq))
    }

    /// Keys per split on an adapter with or without [`Kernels::cpu_shapes`].
    pub fn split_keys(cpu_shapes: bool, max_seq: u32) -> u32 {
        if cpu_shapes { max_seq.max(1) } else { GPU_SPLIT_KEYS }
    }

    /// Splits and bytes of the scratch for `max_seq` visible keys, `split_keys` per split.
    pub fn size(shape: &AttnShape, max_seq: u32, split_keys: u32) -> (u32, u64) {
        let visible = if shape.window > 0 { max_seq.min(shape.window) } else { max_seq };
        let n_splits = visible.div_ceil(split_keys).max(1);
        (n_splits, u64::from(shape.n_head * n_splits * (shape.head_dim + 2)) * 4)
    }

    /// Scratch for sequences of up to `max_seq` visible keys, `split_keys` keys per workgroup.
    pub fn new(ctx: &GpuContext, shape: &AttnShape, max_seq: u32, split_keys: u32) -> Self {
        let (n_splits, size) = Self::size(shape, max_seq, split_keys);
        DecodeScratch { partials: ctx.storage_buffer(size, "attn_partials"), n_splits, split_keys }
    }
}

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct AttnParams {
        n_head: u32,
        n_kv: u32,
        head_dim: u32,
        cache_len: u32,
        window: u32,
        n_splits: u32,
        split_keys: u32,
        scale: f32,
        alibi_m0: f32,
        alibi_m1: f32,
        alibi_n_log2: u32,
        _pad: u32,
    }
}

impl Kernels {
    /// Invocations per attention workgroup: CPU adapters pay per invocation at each barrier,
    /// so there half a GPU's (lavapipe: each 8 invocations of a workgroup with barriers run as
    /// a coroutine).
    fn attn_wg(&self) -> u32 {
        if self.cpu_shapes { WG / 2 } else { WG }
    }

    fn attn_params(
        &mut self,
        ctx: &GpuContext,
        s: &AttnShape,
        n_splits: u32,
        split_keys: u32,
    ) -> Result<crate::gpu::UniformSlot, KernelError> {
        if s.head_dim > MAX_HEAD_DIM || s.n_kv == 0 || !s.n_head.is_multiple_of(s.n_kv) || s.cache_len == 0 {
            return Err(KernelError::Shape { kernel: "attention", why: format!("unsupported shape {s:?}") });
        }
        let (alibi_m0, alibi_m1, alibi_n_log2) = s.alibi_bases();
        let p = AttnParams {
            n_head: s.n_head,
            n_kv: s.n_kv,
            head_dim: s.head_dim,
            cache_len: s.cache_len,
            window: s.window,
            n_splits,
            split_keys,
            scale: s.scale,
            alibi_m0,
            alibi_m1,
            alibi_n_log2,
            _pad: 0,
        };
        Ok(self.uniforms.push(ctx, &p)?)
    }

    /// Causal attention for every token of the step: `q (T, n_head, head_dim)` over the cache
    /// → `out (T, n_head * head_dim)`. `max_tokens` sizes the dispatch.
    pub fn attn_prefill(
        &mut self,
        ctx: &GpuContext,
        shape: &AttnShape,
        q: &wgpu::Buffer,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        out: &wgpu::Buffer,
        step: &StepBuffer,
        max_tokens: u32,
    ) -> Result<Dispatch, KernelError> {
        let wg = self.attn_wg();
        let pipeline = self.pipeline(ctx, &shaders::ATTN_PREFILL, &attn_defines(shape), &[("WG", wg)])?;
        let slot = self.attn_params(ctx, shape, 1, 0)?;
        Ok(Dispatch::with_bindings(
            ctx,
            pipeline,
            &[
                (0, q.as_entire_binding()),
                (1, k_cache.as_entire_binding()),
                (2, v_cache.as_entire_binding()),
                (3, out.as_entire_binding()),
                (4, self.uniforms.binding(slot)),
                (5, step.buffer.as_entire_binding()),
            ],
            [max_tokens, shape.n_head, 1],
        ))
    }

    /// Attention of the step's last token, split over the sequence (flash-decoding): the
    /// splits, then their merge (none with a single split). Writes `out` for that token.
    pub fn attn_decode(
        &mut self,
        ctx: &GpuContext,
        shape: &AttnShape,
        q: &wgpu::Buffer,
        k_cache: &wgpu::Buffer,
        v_cache: &wgpu::Buffer,
        out: &wgpu::Buffer,
        step: &StepBuffer,
        scratch: &DecodeScratch,
    ) -> Result<Vec<Dispatch>, KernelError> {
        let sg = self.subgroup_size;
        let one_subgroup =
            self.subgroups && sg > 0 && shape.head_dim.is_multiple_of(sg) && shape.head_dim / sg <= MAX_DIMS_PER_LANE;
        let defines = attn_defines(shape);
        let split = if one_subgroup {
            self.pipeline(ctx, &shaders::ATTN_DECODE_SG, &defines, &[("WG", sg)])?
        } else {
            self.pipeline(ctx, &shaders::ATTN_DECODE, &defines, &[("WG", self.attn_wg())])?
        };
        let wg = self.attn_wg();
        let slot = self.attn_params(ctx, shape, scratch.n_splits, scratch.split_keys)?;
        let split_dispatch = Dispatch::with_bindings(
            ctx,
            split,
            &[
                (0, q.as_entire_binding()),
                (1, k_cache.as_entire_binding()),
                (2, v_cache.as_entire_binding()),
                (3, out.as_entire_binding()),
                (4, self.uniforms.binding(slot)),
                (5, step.buffer.as_entire_binding()),
                (6, scratch.partials.as_entire_binding()),
            ],
            [shape.n_head, scratch.n_splits, 1],
        );
        if scratch.n_splits == 1 {
            return Ok(vec![split_dispatch]);
        }
        let wide: &[&str] = if shape.head_dim > NARROW_HEAD_DIM { &["WIDE_HEADS"] } else { &[] };
        let combine = self.pipeline(ctx, &shaders::ATTN_COMBINE, wide, &[("WG", wg)])?;
        let combine_dispatch = Dispatch::with_bindings(
            ctx,
            combine,
            &[
                (3, out.as_entire_binding()),
                (4, self.uniforms.binding(slot)),
                (5, step.buffer.as_entire_binding()),
                (6, scratch.partials.as_entire_binding()),
            ],
            [shape.n_head, 1, 1],
        );
        Ok(vec![split_dispatch, combine_dispatch])
    }
}

/// The defines of an attention pipeline for `shape`.
fn attn_defines(shape: &AttnShape) -> Vec<&'static str> {
    let mut d = Vec::new();
    if shape.alibi > 0.0 {
        d.push("ALIBI");
    }
    if shape.head_dim > NARROW_HEAD_DIM {
        d.push("WIDE_HEADS");
    }
    d
}

/// CPU reference: `q (T, n_head, hd)` at positions `pos0..pos0 + T` attending to `k`, `v`
/// `(n_pos, n_kv, hd)` indexed by position → `(T, n_head * hd)`.
pub fn attention_ref(q: &[f32], k: &[f32], v: &[f32], pos0: usize, s: &AttnShape) -> Vec<f32> {
    let (h, kv, hd) = (s.n_head as usize, s.n_kv as usize, s.head_dim as usize);
    let n_tokens = q.len() / (h * hd);
    let mut out = vec![0.0f32; q.len()];
    for t in 0..n_tokens {
        let pos = pos0 + t;
        let lo = if s.window > 0 { (pos + 1).saturating_sub(s.window as usize) } else { 0 };
        for head in 0..h {
            let kh = head / (h / kv);
            let qv = &q[(t * h + head) * hd..][..hd];
            let scores: Vec<f64> = (lo..=pos)
                .map(|j| {
                    let kr = &k[(j * kv + kh) * hd..][..hd];
                    let dot = qv.iter().zip(kr).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>();
                    let bias = if s.alibi > 0.0 {
                        f64::from(s.alibi_slope(head as u32)) * (j as f64 - pos as f64)
                    } else {
                        0.0
                    };
                    dot * f64::from(s.scale) + bias
                })
                .collect();
            let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|x| (x - m).exp()).collect();
            let sum: f64 = e.iter().sum();
            for d in 0..hd {
                let acc: f64 = (lo..=pos).zip(&e).map(|(j, p)| p * f64::from(v[(j * kv + kh) * hd + d])).sum();
                out[(t * h + head) * hd + d] = (acc / sum) as f32;
            }
        }
    }
    out
}
