//! `rms_norm`: y = x / sqrt(mean(x²) + eps) * w over each row.

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, WG, grid, shaders};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    n: u32,
    eps: f32,
    _pad: u32,
}

impl Kernels {
    /// `x (rows, n)`, `w (n,)` f32 → `y (rows, n)` act; `y = None` normalizes `x` in place. `x` is
    /// f32 when `x_f32` (the residual stream), act otherwise.
    pub fn rms_norm(
        &mut self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        x_f32: bool,
        w: &wgpu::Buffer,
        y: Option<&wgpu::Buffer>,
        rows: u32,
        n: u32,
        eps: f32,
    ) -> Result<Dispatch, KernelError> {
        let mut defines = Vec::new();
        if y.is_none() {
            defines.push("IN_PLACE");
        }
        if x_f32 {
            defines.push("IN_F32");
        }
        self.rms_norm_with(ctx, &defines, x, w, y, rows, n, eps)
    }

    /// `y (rows, n) f32 += rms_norm(x (rows, n) f32) · w`: Gemma's post-norm of a sub-layer's
    /// output and the residual add, in one dispatch.
    pub fn rms_norm_add(
        &mut self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        w: &wgpu::Buffer,
        y: &wgpu::Buffer,
        rows: u32,
        n: u32,
        eps: f32,
    ) -> Result<Dispatch, KernelError> {
        self.rms_norm_with(ctx, &["IN_F32", "ADD_F32"], x, w, Some(y), rows, n, eps)
    }

    fn rms_norm_with(
        &mut self,
        ctx: &GpuContext,
        defines: &[&'static str],
        x: &wgpu::Buffer,
        w: &wgpu::Buffer,
        y: Option<&wgpu::Buffer>,
        rows: u32,
        n: u32,
        eps: f32,
    ) -> Result<Dispatch, KernelError> {
        let pipeline = self.pipeline(ctx, &shaders::RMS_NORM, defines, &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { rows, n, eps, _pad: 0 });
        let mut bindings = vec![x.as_entire_binding(), w.as_entire_binding(), self.uniforms.binding(slot)];
        bindings.extend(y.map(|y| y.as_entire_binding()));
        Ok(Dispatch::new(ctx, pipeline, &bindings, grid(rows)))
    }
}

/// CPU reference of [`Kernels::rms_norm`].
pub fn rms_norm_ref(x: &[f32], w: &[f32], n: usize, eps: f32) -> Vec<f32> {
    x.chunks_exact(n)
        .flat_map(|row| {
            let ms = row.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / n as f64;
            let inv = 1.0 / (ms + f64::from(eps)).sqrt();
            row.iter().zip(w).map(move |(v, w)| (f64::from(*v) * inv * f64::from(*w)) as f32)
        })
        .collect()
}
