//! `softmax` over each row, in place.

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, WG, grid, shaders};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    n: u32,
    _pad: [u32; 2],
}

impl Kernels {
    /// `x (rows, n)` ← softmax of each row.
    pub fn softmax(&mut self, ctx: &GpuContext, x: &wgpu::Buffer, rows: u32, n: u32) -> Result<Dispatch, KernelError> {
        let pipeline = self.pipeline(ctx, &shaders::SOFTMAX, &[], &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { rows, n, _pad: [0; 2] });
        Ok(Dispatch::new(ctx, pipeline, &[x.as_entire_binding(), self.uniforms.binding(slot)], grid(rows)))
    }
}

/// CPU reference of [`Kernels::softmax`].
pub fn softmax_ref(x: &[f32], n: usize) -> Vec<f32> {
    x.chunks_exact(n)
        .flat_map(|row| {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let e: Vec<f64> = row.iter().map(|&v| f64::from(v - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(move |v| (v / s) as f32)
        })
        .collect()
}
