//! `matvec`: y = W x for one token, with W dequantized on the fly (decode).

use crate::gpu::{Dispatch, GpuContext, GpuWeight};

use super::{GluKind, KernelError, Kernels, Store, grid, shaders, weight_defines};

/// Most rows per workgroup (`MAX_ROWS` in shaders/matvec.wgsl).
const MAX_ROWS_PER_WORKGROUP: u32 = 32;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    scales: u32,
    out_offset: u32,
    x_offset: u32,
    _pad: [u32; 3],
}

impl Kernels {
    /// `W (rows, cols) @ x (cols,) -> y (rows,)`, x act, y as `store` says (`AddF32`: `y += W x`,
    /// a fused residual add). One dispatch per weight page.
    pub fn matvec(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        self.matvec_at(ctx, w, x, 0, y, store)
    }

    /// [`Kernels::matvec`] reading x from row `x_row` of a `(rows, cols)` activation buffer.
    pub fn matvec_at(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        x: &wgpu::Buffer,
        x_row: u32,
        y: &wgpu::Buffer,
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        self.matvec_with(ctx, w, x, x_row, None, y, store)
    }

    /// The FFN's GLU and down projection in one dispatch per page: `y = W (act_fn(gate) · up)`,
    /// with the product made (and rounded to act, as [`Kernels::glu`] stores it) as x loads.
    pub fn matvec_glu(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        kind: GluKind,
        gate: &wgpu::Buffer,
        up: &wgpu::Buffer,
        y: &wgpu::Buffer,
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        self.matvec_with(ctx, w, gate, 0, Some((kind, up)), y, store)
    }

    fn matvec_with(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        x: &wgpu::Buffer,
        x_row: u32,
        glu: Option<(GluKind, &wgpu::Buffer)>,
        y: &wgpu::Buffer,
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        let mut defines = weight_defines("matvec", w.ty, store)?;
        if let Some((kind, _)) = glu {
            defines.push("GLU_X");
            if kind == GluKind::Gelu {
                defines.push("GELU");
            }
        }
        let rows_per_wg = self.matvec_rows.clamp(1, MAX_ROWS_PER_WORKGROUP);
        let wg = self.matvec_wg.clamp(1, 256).next_power_of_two();
        if self.subgroups && wg == self.subgroup_size {
            defines.push("ONE_SUBGROUP");
        }
        let pipeline = self.pipeline(ctx, &shaders::MATVEC, &defines, &[("WG", wg), ("ROWS", rows_per_wg)])?;
        let mut out = Vec::new();
        for page in &w.pages {
            let params = Params {
                rows: page.n_rows,
                cols: w.cols,
                scales: page.scales,
                out_offset: page.first_row,
                x_offset: x_row * w.cols / 4,
                _pad: [0; 3],
            };
            let slot = self.uniforms.push(ctx, &params);
            let mut bindings = vec![
                page.buffer.as_entire_binding(),
                x.as_entire_binding(),
                y.as_entire_binding(),
                self.uniforms.binding(slot),
            ];
            bindings.extend(glu.map(|(_, up)| up.as_entire_binding()));
            out.push(Dispatch::new(ctx, pipeline.clone(), &bindings, grid(page.n_rows.div_ceil(rows_per_wg))));
        }
        Ok(out)
    }
}

/// CPU reference: `w` (rows × cols, row-major f32) times `x`, accumulated in f64.
pub fn matvec_ref(w: &[f32], x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows)
        .map(|r| {
            w[r * cols..(r + 1) * cols].iter().zip(x).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>() as f32
        })
        .collect()
}
