//! `matmul`: Y = X W^T for many tokens, with W dequantized on the fly (prefill).

use crate::gpu::{Dispatch, GpuContext, GpuWeight};

use super::{KernelError, Kernels, Store, shaders, weight_defines};

/// Tokens per invocation (`TT` in shaders/matmul.wgsl).
const TOKENS_PER_INVOCATION: u32 = 8;
/// Rows per invocation (`RR` in shaders/matmul.wgsl).
const ROWS_PER_INVOCATION: u32 = 8;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    scales: u32,
    out_offset: u32,
    n_tokens: u32,
    out_stride: u32,
    _pad: [u32; 2],
}

impl Kernels {
    /// `X (T, cols) @ W^T (cols, rows) -> Y (T, rows)`, X act, Y as `store` says (`AddF32`:
    /// `Y += X W^T`). One dispatch per weight page.
    pub fn matmul(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        n_tokens: u32,
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        let defines = weight_defines("matmul", w.ty, store)?;
        // CPU adapters: small workgroups measured fastest (lavapipe, 1536x576 Q8_0, 32 tokens:
        // 2.6 GFLOP/s at 16 vs 2.4 at 32); GPUs: at least a warp.
        let wg = if self.cpu_shapes { 16 } else { 64 };
        let rows_per_workgroup = wg * ROWS_PER_INVOCATION;
        let pipeline = self.pipeline(ctx, &shaders::MATMUL, &defines, &[("WG", wg)])?;
        let mut out = Vec::new();
        for page in &w.pages {
            let params = Params {
                rows: page.n_rows,
                cols: w.cols,
                scales: page.scales,
                out_offset: page.first_row,
                n_tokens,
                out_stride: w.rows,
                _pad: [0; 2],
            };
            let slot = self.uniforms.push(ctx, &params);
            let groups = [page.n_rows.div_ceil(rows_per_workgroup), n_tokens.div_ceil(TOKENS_PER_INVOCATION), 1];
            out.push(Dispatch::new(
                ctx,
                pipeline.clone(),
                &[
                    page.buffer.as_entire_binding(),
                    x.as_entire_binding(),
                    y.as_entire_binding(),
                    self.uniforms.binding(slot),
                ],
                groups,
            ));
        }
        Ok(out)
    }
}

/// CPU reference: `x` (T × cols) times `w`^T (`w` rows × cols), accumulated in f64.
pub fn matmul_ref(w: &[f32], x: &[f32], rows: usize, cols: usize, n_tokens: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity(n_tokens * rows);
    for t in 0..n_tokens {
        y.extend(super::matvec_ref(w, &x[t * cols..(t + 1) * cols], rows, cols));
    }
    y
}
