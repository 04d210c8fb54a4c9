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
    y_len: u32,
    _pad: [u32; 2],
}

impl Kernels {
    /// `out (n,) = f(gate (n,)) * up (n,)`; `out = None` writes over `gate`.
    pub fn glu(
        &mut self,
        ctx: &GpuContext,
        kind: GluKind,
        gate: &wgpu::Buffer,
        up: &wgpu::Buffer,
        out: Option<&wgpu::Buffer>,
        n: u32,
    ) -> Result<Dispatch, KernelError> {
        let mut defines = Vec::new();
        if kind == GluKind::Gelu {
            defines.push("GELU");
        }
        if out.is_none() {
            defines.push("IN_PLACE");
        }
        let pipeline = self.pipeline(ctx, &shaders::GLU, &defines, &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { n, y_len: 0, _pad: [0; 2] });
        let mut bindings = vec![gate.as_entire_binding(), up.as_entire_binding(), self.uniforms.binding(slot)];
        bindings.extend(out.map(|o| o.as_entire_binding()));
        Ok(Dispatch::new(ctx, pipeline, &bindings, grid(n.div_ceil(WG))))
    }

    /// `x (n,) += y` where y `(y_len,)` repeats, both act (a bias added to every token's row).
    pub fn add_broadcast(
        &mut self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        n: u32,
        y_len: u32,
    ) -> Result<Dispatch, KernelError> {
        let pipeline = self.pipeline(ctx, &shaders::ADD, &[], &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { n, y_len: y_len.max(1), _pad: [0; 2] });
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
