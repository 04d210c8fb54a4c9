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
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

impl Kernels {
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
        let mut defines = Vec::new();
        defines.extend(kind.define());
        if out.is_none() {
            defines.push("IN_PLACE");
        }
        if up.is_none() {
            defines.push("NO_UP");
        }
        let pipeline = self.pipeline(ctx, &shaders::GLU, &defines, &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { n, ..Default::default() })?;
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
