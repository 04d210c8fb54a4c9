//! Elementwise kernels: `glu` (the gated FFN product) and `add` (the residual add).

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, WG, grid, shaders};

/// The gate's activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GluKind {
    /// SiLU: x · sigmoid(x) (llama, Qwen).
    Silu,
    /// GELU, tanh approximation (Gemma).
    Gelu,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    _pad: [u32; 3],
}

impl Kernels {
    /// `out (n,) = f(gate (n,)) * up (n,)`.
    pub fn glu(
        &mut self,
        ctx: &GpuContext,
        kind: GluKind,
        gate: &wgpu::Buffer,
        up: &wgpu::Buffer,
        out: &wgpu::Buffer,
        n: u32,
    ) -> Result<Dispatch, KernelError> {
        let defines: &[&str] = if kind == GluKind::Gelu { &["GELU"] } else { &[] };
        let pipeline = self.pipeline(ctx, &shaders::GLU, defines, &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { n, _pad: [0; 3] });
        Ok(Dispatch::new(
            ctx,
            pipeline,
            &[gate.as_entire_binding(), up.as_entire_binding(), out.as_entire_binding(), self.uniforms.binding(slot)],
            grid(n.div_ceil(WG)),
        ))
    }

    /// `x (n,) += y (n,)`.
    pub fn add(
        &mut self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        n: u32,
    ) -> Result<Dispatch, KernelError> {
        let pipeline = self.pipeline(ctx, &shaders::ADD, &[], &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { n, _pad: [0; 3] });
        Ok(Dispatch::new(
            ctx,
            pipeline,
            &[x.as_entire_binding(), y.as_entire_binding(), self.uniforms.binding(slot)],
            grid(n.div_ceil(WG)),
        ))
    }
}

/// CPU reference of [`Kernels::glu`].
pub fn glu_ref(kind: GluKind, gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.iter()
        .zip(up)
        .map(|(&g, &u)| {
            let g = f64::from(g);
            let a = match kind {
                GluKind::Silu => g / (1.0 + (-g).exp()),
                GluKind::Gelu => {
                    0.5 * g * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (g + 0.044715 * g.powi(3))).tanh())
                }
            };
            (a * f64::from(u)) as f32
        })
        .collect()
}
