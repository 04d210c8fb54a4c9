//! Elementwise kernels: `glu`, the FFN's activation (times up in a gated FFN).

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, WG, grid, shaders};

/// The FFN's activation function (of the gate, in a gated FFN).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GluKind {
    /// SiLU: x · sigmoid(x) (llama, Qwen).
    Silu,
    /// GELU, tanh approximation (Gemma).
    Gelu,
    /// The sigmoid alone (Qwen3.5's attention output gate: att · sigmoid(gate)).
    Sigmoid,
}

impl GluKind {
    /// The shaders' define for this activation (SiLU is their default).
    pub(super) fn define(self) -> Option<&'static str> {
        match self {
            GluKind::Silu => None,
            GluKind::Gelu => Some("GELU"),
            GluKind::Sigmoid => Some("SIGMOID"),
        }
    }
}

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        n: u32,
        up_width: u32,
        up_stride: u32,
        up_offset: u32,
    }
}

/// Where a [`Kernels::glu_strided`]'s `up` values are: rows of `width` values, `stride` apart
/// from `offset`.
#[derive(Clone, Copy, Debug)]
pub struct UpRows {
    /// Values per row (the gate's row width).
    pub width: u32,
    /// Values from one row's start to the next.
    pub stride: u32,
    /// Where the first row starts.
    pub offset: u32,
}

impl Kernels {
    /// `gate (n,) = f(gate) · up[(i / w) · stride + offset + i % w]` in place, `up` read as
    /// `rows` says (Gemma 4's per-layer gate times layer l's slice of the per-layer inputs).
    pub fn glu_strided(
        &mut self,
        ctx: &GpuContext,
        kind: GluKind,
        gate: &wgpu::Buffer,
        up: &wgpu::Buffer,
        rows: UpRows,
        n: u32,
    ) -> Result<Dispatch, KernelError> {
        if rows.width == 0 || rows.width > rows.stride {
            return Err(KernelError::Shape { kernel: "glu", why: format!("up rows {rows:?}") });
        }
        let params = Params { n, up_width: rows.width, up_stride: rows.stride, up_offset: rows.offset };
        self.glu_with(ctx, kind, &["STRIDED_UP"], params, gate, Some(up), None)
    }

    /// `out (n,) = f(gate (n,)) * up (n,)`, or `f(gate)` alone without `up` (a plain FFN);
    /// `out = None` writes over `gate`.
    pub fn glu(
        &mut self,
        ctx: &GpuContext,
        kind: GluKind,
        gate: &wgpu::Buffer,
        up: Option<&wgpu::Buffer>,
        out: Option<&wgpu::Buffer>,
        n: u32,
    ) -> Result<Dispatch, KernelError> {
        self.glu_with(ctx, kind, &[], Params { n, ..Default::default() }, gate, up, out)
    }

    /// The glu dispatch over `params.n` values, with `extra` defines besides the activation's
    /// and those the buffers given imply.
    fn glu_with(
        &mut self,
        ctx: &GpuContext,
        kind: GluKind,
        extra: &[&'static str],
        params: Params,
        gate: &wgpu::Buffer,
        up: Option<&wgpu::Buffer>,
        out: Option<&wgpu::Buffer>,
    ) -> Result<Dispatch, KernelError> {
        let mut defines = extra.to_vec();
        defines.extend(kind.define());
        if out.is_none() {
            defines.push("IN_PLACE");
        }
        if up.is_none() {
            defines.push("NO_UP");
        }
        let pipeline = self.pipeline(ctx, &shaders::GLU, &defines, &[("WG", WG)])?;
        let n = params.n;
        let slot = self.uniforms.push(ctx, &params)?;
        let mut bindings = vec![(0, gate.as_entire_binding()), (2, self.uniforms.binding(slot))];
        bindings.extend(up.map(|u| (1, u.as_entire_binding())));
        bindings.extend(out.map(|o| (3, o.as_entire_binding())));
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, grid(n.div_ceil(WG))))
    }
}

/// CPU reference of [`Kernels::glu`] (without `up`: a plain FFN's activation alone).
pub fn glu_ref(kind: GluKind, gate: &[f32], up: Option<&[f32]>) -> Vec<f32> {
    gate.iter()
        .enumerate()
        .map(|(i, &g)| {
            let u = up.map_or(1.0, |up| up[i]);
            let g = f64::from(g);
            let a = match kind {
                GluKind::Silu => g / (1.0 + (-g).exp()),
                GluKind::Sigmoid => 1.0 / (1.0 + (-g).exp()),
                GluKind::Gelu => {
                    0.5 * g * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (g + 0.044715 * g.powi(3))).tanh())
                }
            };
            (a * f64::from(u)) as f32
        })
        .collect()
}
