//! `rope_kv`: rotary position embeddings on q and k, with a (cos, sin) table made on the host,
//! and the append of k and v to the KV cache.

use crate::gpu::{Dispatch, GpuContext};

use super::{AttnShape, KernelError, Kernels, StepBuffer, WG, grid, shaders};

/// How dimensions pair up for rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeLayout {
    /// llama.cpp's "normal" rope: pairs (2i, 2i + 1) (llama; GGUF Q/K are pre-permuted).
    Normal,
    /// "neox" rope: pairs (i, i + rot_dims / 2) (Gemma, Qwen, …).
    Neox,
}

/// The (cos, sin) of `pos * freq_i` for every position below `max_pos`, computed in f64.
pub struct RopeTable {
    /// (max_pos, rot_dims / 2) pairs of f32.
    pub buffer: wgpu::Buffer,
    /// Rotated dimensions per head.
    pub rot_dims: u32,
    /// Positions covered.
    pub max_pos: u32,
}

/// Frequencies `base^(-2i / rot_dims)` scaled by `1 / factors[i]` (llama3-style per-dimension
/// factors) and by `freq_scale` (linear scaling).
pub fn rope_freqs(base: f64, rot_dims: u32, freq_scale: f64, factors: Option<&[f32]>) -> Vec<f64> {
    (0..rot_dims / 2)
        .map(|i| {
            let f = base.powf(-2.0 * f64::from(i) / f64::from(rot_dims)) * freq_scale;
            f / factors.and_then(|fs| fs.get(i as usize)).map_or(1.0, |&x| f64::from(x))
        })
        .collect()
}

impl RopeTable {
    /// Bytes of a table of `n_pairs` rotated pairs for `max_pos` positions: a (cos, sin) pair
    /// of f32 each, one pair at least (a binding cannot be empty).
    pub fn bytes(n_pairs: u32, max_pos: u32) -> u64 {
        (u64::from(max_pos) * u64::from(n_pairs) * 8).max(8)
    }

    /// A table for frequencies `freqs` (one per rotated pair) and positions `0..max_pos`, the
    /// rotated values scaled by `mscale` (longrope's attention factor; 1 otherwise). No
    /// frequencies (a model without RoPE) give a table that rotates nothing.
    pub fn new(ctx: &GpuContext, freqs: &[f64], max_pos: u32, mscale: f64) -> Self {
        let mut data = Vec::with_capacity(max_pos as usize * freqs.len() * 2);
        for pos in 0..max_pos {
            for f in freqs {
                let a = f64::from(pos) * f;
                data.push((a.cos() * mscale) as f32);
                data.push((a.sin() * mscale) as f32);
            }
        }
        // A buffer binding cannot be empty.
        if data.is_empty() {
            data.extend([1.0, 0.0]);
        }
        let buffer = ctx.upload(bytemuck::cast_slice(&data), "rope_table");
        RopeTable { buffer, rot_dims: 2 * freqs.len() as u32, max_pos }
    }
}

impl Kernels {
    /// One layer's rotary position embedding and cache append in one dispatch: `q (T, n_head,
    /// head_dim)` rotates in place (token t at position `step.pos0 + t`); rotated `k` and `v`
    /// go to slot `(step.pos0 + t) % shape.cache_len` of the caches (k itself is left as it
    /// was). With `bufs.qk_norm`, each q and k head is RMS-normalized first (rounded to act,
    /// as [`Kernels::rms_norm`] stores it); with `bufs.v_norm_eps` each v head too, without a
    /// weight; with `bufs.q_only` only q is worked on. `max_tokens` sizes the dispatch (the step's
    /// `n_tokens` may be smaller).
    pub fn rope_kv(
        &mut self,
        ctx: &GpuContext,
        bufs: &QkvBuffers<'_>,
        table: &RopeTable,
        step: &StepBuffer,
        layout: RopeLayout,
        shape: &AttnShape,
        max_tokens: u32,
    ) -> Result<Dispatch, KernelError> {
        if table.rot_dims > shape.head_dim || !table.rot_dims.is_multiple_of(2) || shape.cache_len == 0 {
            return Err(KernelError::Shape {
                kernel: "rope_kv",
                why: format!("{} rotated dims of {}, {} cache slots", table.rot_dims, shape.head_dim, shape.cache_len),
            });
        }
        let mut defines = Vec::new();
        if layout == RopeLayout::Neox {
            defines.push("NEOX");
        }
        if bufs.qk_norm.is_some() {
            defines.push("QK_NORM");
        }
        if bufs.v_norm_eps.is_some() {
            defines.push("V_NORM");
        }
        if bufs.q_only {
            defines.push("Q_ONLY");
        }
        if bufs.v_norm_eps.is_some_and(|e| bufs.qk_norm.as_ref().is_some_and(|n| n.eps != e)) {
            return Err(KernelError::Shape { kernel: "rope_kv", why: "q/k and v norms of other epsilons".into() });
        }
        // A workgroup per head; where it can be one subgroup, the norm's sum needs no barrier.
        let wg = if self.subgroups && self.subgroup_size > 0 {
            defines.push("ONE_SUBGROUP");
            self.subgroup_size
        } else {
            WG
        };
        let pipeline = self.pipeline(ctx, &shaders::ROPE_KV, &defines, &[("WG", wg)])?;
        let params = RopeKvParams {
            n_head: shape.n_head,
            n_kv: shape.n_kv,
            head_dim: shape.head_dim,
            rot_dims: table.rot_dims,
            max_pos: table.max_pos,
            cache_len: shape.cache_len,
            eps: bufs.qk_norm.as_ref().map(|n| n.eps).or(bufs.v_norm_eps).unwrap_or(0.0),
            _pad: 0,
        };
        let slot = self.uniforms.push(ctx, &params)?;
        let mut bindings = vec![
            (0, bufs.q.as_entire_binding()),
            (1, bufs.k.as_entire_binding()),
            (2, bufs.v.as_entire_binding()),
            (3, bufs.k_cache.as_entire_binding()),
            (4, bufs.v_cache.as_entire_binding()),
            (5, table.buffer.as_entire_binding()),
            (6, self.uniforms.binding(slot)),
            (7, step.buffer.as_entire_binding()),
        ];
        if let Some(n) = &bufs.qk_norm {
            bindings.extend([(8, n.q.as_entire_binding()), (9, n.k.as_entire_binding())]);
        }
        let heads_per_token = if bufs.q_only { shape.n_head } else { shape.n_head + 2 * shape.n_kv };
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, grid(max_tokens * heads_per_token)))
    }
}

/// One layer's step queries, keys and values and its caches (see [`Kernels::rope_kv`]).
pub struct QkvBuffers<'a> {
    /// (T, n_head, head_dim) queries, rotated in place.
    pub q: &'a wgpu::Buffer,
    /// (T, n_kv, head_dim) keys.
    pub k: &'a wgpu::Buffer,
    /// (T, n_kv, head_dim) values.
    pub v: &'a wgpu::Buffer,
    /// (cache_len, n_kv * head_dim) key cache.
    pub k_cache: &'a wgpu::Buffer,
    /// (cache_len, n_kv * head_dim) value cache.
    pub v_cache: &'a wgpu::Buffer,
    /// Per-head norms of q and k (qwen3, gemma3), applied before the rotation.
    pub qk_norm: Option<QkNorm<'a>>,
    /// Each v head RMS-normalized without a weight, with this epsilon (Gemma 4; the q/k norms'
    /// epsilon where there are both).
    pub v_norm_eps: Option<f32>,
    /// Queries alone: k and v are neither rotated nor cached (a layer attending over another
    /// layer's cache; the caches bound are that layer's and left as they are).
    pub q_only: bool,
}

/// Per-head RMS norms of queries and keys.
pub struct QkNorm<'a> {
    /// (head_dim,) f32 weight of the q heads' norm.
    pub q: &'a wgpu::Buffer,
    /// (head_dim,) f32 weight of the k heads' norm.
    pub k: &'a wgpu::Buffer,
    /// Epsilon of both.
    pub eps: f32,
}

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct RopeKvParams {
        n_head: u32,
        n_kv: u32,
        head_dim: u32,
        rot_dims: u32,
        max_pos: u32,
        cache_len: u32,
        eps: f32,
        _pad: u32,
    }
}

/// CPU reference of the rotation [`Kernels::rope_kv`] applies to `x (T, n_heads, head_dim)`
/// (angles in f64, like the tables) with a table of scale 1.
pub fn rope_ref(x: &[f32], pos0: u32, freqs: &[f64], layout: RopeLayout, n_heads: usize, head_dim: usize) -> Vec<f32> {
    rope_scaled_ref(x, pos0, freqs, 1.0, layout, n_heads, head_dim)
}

/// [`rope_ref`] for a table whose rotated values are scaled by `mscale`.
pub fn rope_scaled_ref(
    x: &[f32],
    pos0: u32,
    freqs: &[f64],
    mscale: f64,
    layout: RopeLayout,
    n_heads: usize,
    head_dim: usize,
) -> Vec<f32> {
    let half = freqs.len();
    let mut out = x.to_vec();
    for (h, head) in out.chunks_exact_mut(head_dim).enumerate() {
        let pos = f64::from(pos0) + (h / n_heads) as f64;
        for (i, f) in freqs.iter().enumerate() {
            let (s, c) = (((pos * f).sin() * mscale) as f32, ((pos * f).cos() * mscale) as f32);
            let (i0, i1) = match layout {
                RopeLayout::Normal => (2 * i, 2 * i + 1),
                RopeLayout::Neox => (i, i + half),
            };
            let (x0, x1) = (head[i0], head[i1]);
            head[i0] = x0 * c - x1 * s;
            head[i1] = x0 * s + x1 * c;
        }
    }
    out
}
