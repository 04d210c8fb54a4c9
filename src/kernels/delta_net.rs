//! `delta_net`: the gated delta rule of Qwen3.5's linear-attention layers with its output norm,
//! over a step's tokens, its matrix state per head kept as snapshots by position: token by
//! token (`shaders/delta_net.wgsl`) or in chunks (`shaders/delta_net_chunked.wgsl`).

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, StepBuffer, WG, shaders};

/// Largest head dimension (keys and values) of a delta net.
pub const MAX_DELTA_HEAD_DIM: u32 = 256;

/// Value dimensions each invocation owns: the shader's private accumulators.
pub(super) const ROWS_PER_INVOCATION: u32 = MAX_DELTA_HEAD_DIM / WG;

/// Most tokens in one chunk of the chunked kernel.
pub const MAX_CHUNK_TOKENS: u32 = 16;

/// Workgroup floats the chunked kernel holds a chunk's q (and as many its k) in: a chunk is
/// at most this many values of a head.
pub(super) const CHUNK_FLOATS: u32 = 1536;

// The chunked kernel adds up the output's partial sums (one per invocation and token) in the
// keys' workgroup array.
const _: () = assert!(MAX_CHUNK_TOKENS * WG <= CHUNK_FLOATS);

/// Tokens per chunk of the chunked kernel at a head dimension (as the shader computes it).
pub fn chunk_tokens(dim: u32) -> u32 {
    MAX_CHUNK_TOKENS.min(CHUNK_FLOATS / dim.max(1))
}

/// How [`Kernels::delta_net`] walks a step's tokens. Both give the same outputs and states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeltaNetWalk {
    /// One token after another, the state read and written at each (decode: one token).
    TokenByToken,
    /// [`chunk_tokens`] at a time in the WY form (prefill): the state read and written once
    /// per chunk, the work between it dense products.
    Chunked,
}

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        n_k_heads: u32,
        n_v_heads: u32,
        dim: u32,
        slots: u32,
        eps: f32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

/// The sizes of one delta-net layer's recurrence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeltaNetShape {
    /// Query/key heads.
    pub n_k_heads: u32,
    /// Value heads (each with a state; head h reads key head h mod n_k_heads).
    pub n_v_heads: u32,
    /// Dimensions per head of q, k and v.
    pub dim: u32,
    /// Snapshots of the state kept, by position.
    pub slots: u32,
    /// Epsilon of the l2 norms of q and k and of the output's RMS norm.
    pub eps: f32,
}

impl DeltaNetShape {
    /// Bytes of the state buffer: `slots` snapshots of n_v_heads matrices of dim × dim f32.
    pub fn state_bytes(&self) -> u64 {
        u64::from(self.slots) * u64::from(self.n_v_heads) * u64::from(self.dim).pow(2) * 4
    }
}

/// The buffers of one delta-net layer's recurrence.
pub struct DeltaNetBuffers<'a> {
    /// (T, (2 n_k_heads + n_v_heads) dim) act: the convolution's output, q | k | v.
    pub qkv: &'a wgpu::Buffer,
    /// (T, n_v_heads dim) act: the output gate z.
    pub z: &'a wgpu::Buffer,
    /// (T, n_v_heads) act: beta before its sigmoid.
    pub beta: &'a wgpu::Buffer,
    /// (T, n_v_heads) act: alpha before the time step.
    pub alpha: &'a wgpu::Buffer,
    /// (n_v_heads,) f32 `ssm_dt.bias`.
    pub dt_bias: &'a wgpu::Buffer,
    /// (n_v_heads,) f32 `ssm_a` (-exp(A_log)).
    pub a: &'a wgpu::Buffer,
    /// (dim,) f32 `ssm_norm`.
    pub norm: &'a wgpu::Buffer,
    /// (slots, n_v_heads, dim, dim) f32 the states.
    pub state: &'a wgpu::Buffer,
    /// (T, n_v_heads dim) act output.
    pub y: &'a wgpu::Buffer,
}

impl Kernels {
    /// `y = rms_norm(delta_rule(q, k, v, g, b)) · norm · silu(z)` over the step's tokens
    /// (positions and count from `step`), starting from the snapshot of the step's first
    /// position and leaving the state after its last in that position's slot: one dispatch,
    /// one workgroup per value head, walking the tokens as `walk` says.
    pub fn delta_net(
        &mut self,
        ctx: &GpuContext,
        shape: &DeltaNetShape,
        bufs: &DeltaNetBuffers<'_>,
        step: &StepBuffer,
        walk: DeltaNetWalk,
    ) -> Result<Dispatch, KernelError> {
        let ok = (1..=MAX_DELTA_HEAD_DIM).contains(&shape.dim)
            && shape.n_k_heads > 0
            && shape.n_v_heads.is_multiple_of(shape.n_k_heads)
            && shape.slots > 0;
        if !ok {
            return Err(KernelError::Shape {
                kernel: "delta_net",
                why: format!(
                    "{} value heads over {} key heads of {} dims (1 to {MAX_DELTA_HEAD_DIM}), {} slots",
                    shape.n_v_heads, shape.n_k_heads, shape.dim, shape.slots
                ),
            });
        }
        let shader = match walk {
            DeltaNetWalk::TokenByToken => &shaders::DELTA_NET,
            DeltaNetWalk::Chunked => &shaders::DELTA_NET_CHUNKED,
        };
        let pipeline = self.pipeline(ctx, shader, &[], &[("WG", WG)])?;
        let params = Params {
            n_k_heads: shape.n_k_heads,
            n_v_heads: shape.n_v_heads,
            dim: shape.dim,
            slots: shape.slots,
            eps: shape.eps,
            ..Default::default()
        };
        let slot = self.uniforms.push(ctx, &params)?;
        let bindings = [
            (0, bufs.qkv.as_entire_binding()),
            (1, bufs.z.as_entire_binding()),
            (2, bufs.beta.as_entire_binding()),
            (3, bufs.alpha.as_entire_binding()),
            (4, bufs.dt_bias.as_entire_binding()),
            (5, bufs.a.as_entire_binding()),
            (6, bufs.norm.as_entire_binding()),
            (7, bufs.state.as_entire_binding()),
            (8, bufs.y.as_entire_binding()),
            (9, self.uniforms.binding(slot)),
            (10, step.buffer.as_entire_binding()),
        ];
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, [shape.n_v_heads, 1, 1]))
    }
}

/// The inputs of [`delta_net_ref`], as the kernel's buffers hold them (T rows each).
pub struct DeltaNetInputs<'a> {
    /// (T, (2 n_k_heads + n_v_heads) dim).
    pub qkv: &'a [f32],
    /// (T, n_v_heads dim).
    pub z: &'a [f32],
    /// (T, n_v_heads).
    pub beta: &'a [f32],
    /// (T, n_v_heads).
    pub alpha: &'a [f32],
    /// (n_v_heads,).
    pub dt_bias: &'a [f32],
    /// (n_v_heads,).
    pub a: &'a [f32],
    /// (dim,).
    pub norm: &'a [f32],
}

/// CPU reference of [`Kernels::delta_net`] in f64, written from llama.cpp's
/// `ggml_compute_forward_gated_delta_net` and Qwen3.5's graph: the whole sequence from a zero
/// state. Returns y (T, n_v_heads dim).
pub fn delta_net_ref(shape: &DeltaNetShape, x: &DeltaNetInputs<'_>) -> Vec<f32> {
    let (hk_n, hv_n, n) = (shape.n_k_heads as usize, shape.n_v_heads as usize, shape.dim as usize);
    let eps = f64::from(shape.eps);
    let channels = (2 * hk_n + hv_n) * n;
    let t_n = x.qkv.len() / channels;
    // s[h][i][j]: key dim i, value dim j.
    let mut s = vec![0f64; hv_n * n * n];
    let mut y = vec![0f32; t_n * hv_n * n];
    let l2 = |v: &[f32]| {
        let inv = 1.0 / (v.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>() + eps).sqrt();
        v.iter().map(|&a| f64::from(a) * inv).collect::<Vec<f64>>()
    };
    let softplus = |v: f64| if v > 20.0 { v } else { v.exp().ln_1p() };
    for t in 0..t_n {
        let row = &x.qkv[t * channels..(t + 1) * channels];
        for h in 0..hv_n {
            let hk = h % hk_n;
            let q: Vec<f64> = l2(&row[hk * n..(hk + 1) * n]).iter().map(|v| v / (n as f64).sqrt()).collect();
            let k = l2(&row[(hk_n + hk) * n..(hk_n + hk + 1) * n]);
            let v = &row[(2 * hk_n + h) * n..(2 * hk_n + h + 1) * n];
            let gh = t * hv_n + h;
            let g = (softplus(f64::from(x.alpha[gh]) + f64::from(x.dt_bias[h])) * f64::from(x.a[h])).exp();
            let b = 1.0 / (1.0 + (-f64::from(x.beta[gh])).exp());
            let st = &mut s[h * n * n..(h + 1) * n * n];
            st.iter_mut().for_each(|e| *e *= g);
            let mut o = vec![0f64; n];
            for j in 0..n {
                let sk: f64 = (0..n).map(|i| st[i * n + j] * k[i]).sum();
                let d = (f64::from(v[j]) - sk) * b;
                for i in 0..n {
                    st[i * n + j] += k[i] * d;
                }
                o[j] = (0..n).map(|i| st[i * n + j] * q[i]).sum();
            }
            let inv = 1.0 / (o.iter().map(|a| a * a).sum::<f64>() / n as f64 + eps).sqrt();
            for (j, o) in o.iter().enumerate() {
                let zi = t * hv_n * n + h * n + j;
                let z = f64::from(x.z[zi]);
                y[zi] = (o * inv * f64::from(x.norm[j]) * z / (1.0 + (-z).exp())) as f32;
            }
        }
    }
    y
}
