//! `matmul`: Y = X W^T for many tokens, with W dequantized on the fly (prefill).

use crate::gpu::{Dispatch, GpuContext, GpuWeight};

use super::{KernelError, Kernels, Store, matvec::output_splits, shaders, weight_defines};

/// Tokens per invocation (`TT` in shaders/matmul.wgsl).
pub(super) const TOKENS_PER_INVOCATION: u32 = 8;
/// Rows per invocation (`RR` in shaders/matmul.wgsl).
pub(super) const ROWS_PER_INVOCATION: u32 = 8;

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        rows: u32,
        cols: u32,
        scales: u32,
        out_offset: u32,
        n_tokens: u32,
        out_stride: u32,
        split1: u32,
        split2: u32,
    }
}

impl Kernels {
    /// `X (T, cols) @ W^T (cols, rows) (+ b) -> Y (T, rows)`, X act, Y as `store` says
    /// (`AddF32`: `Y += X W^T`). One dispatch per weight page; the weight's bias, when it has
    /// one, is added.
    pub fn matmul(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        n_tokens: u32,
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        self.matmul_into(ctx, w, x, &[y], n_tokens, store)
    }

    /// [`Kernels::matmul`] where each tensor stacked in `w` writes its columns of Y to its own
    /// `(T, its rows)` buffer of `ys` (one per [`GpuWeight::parts`], in order).
    pub fn matmul_into(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        x: &wgpu::Buffer,
        ys: &[&wgpu::Buffer],
        n_tokens: u32,
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        let mut defines = weight_defines("matmul", w.ty, store)?;
        let (split1, split2) = output_splits("matmul", w, ys, store, &mut defines)?;
        if w.bias.is_some() {
            defines.push("BIAS");
        }
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
                split1,
                split2,
            };
            let slot = self.uniforms.push(ctx, &params)?;
            let groups = [page.n_rows.div_ceil(rows_per_workgroup), n_tokens.div_ceil(TOKENS_PER_INVOCATION), 1];
            let mut bindings = vec![
                (0, page.buffer.as_entire_binding()),
                (1, x.as_entire_binding()),
                (2, ys[0].as_entire_binding()),
                (3, self.uniforms.binding(slot)),
            ];
            bindings.extend(ys.iter().skip(1).zip(6..).map(|(y, i)| (i, y.as_entire_binding())));
            if let Some(b) = &w.bias {
                bindings.push((9, b.as_entire_binding()));
            }
            out.push(Dispatch::with_bindings(ctx, pipeline.clone(), &bindings, groups));
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
