//! `matvec`: y = W x for one token, with W dequantized on the fly (decode).

use crate::gguf::GgmlType;
use crate::gpu::{Dispatch, GpuContext, GpuWeight};

use super::{GluKind, KernelError, Kernels, Norm, NormKind, Store, grid, shaders, weight_defines};

/// Most rows per workgroup (`MAX_ROWS` in shaders/matvec.wgsl).
pub(super) const MAX_ROWS_PER_WORKGROUP: u32 = 32;

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        rows: u32,
        cols: u32,
        scales: u32,
        out_offset: u32,
        x_offset: u32,
        split1: u32,
        split2: u32,
        eps: f32,
    }
}

/// The x a matvec multiplies, made as it loads.
#[derive(Clone, Copy)]
pub enum MatvecX<'a> {
    /// Row `row` of a (rows, cols) act buffer.
    Act {
        /// The activations.
        x: &'a wgpu::Buffer,
        /// The row.
        row: u32,
    },
    /// `norm(x[row])` rounded to act, x a (rows, cols) f32 buffer (the residual stream): a
    /// sub-layer's input norm folded into its projections.
    Normed {
        /// The residual stream.
        x: &'a wgpu::Buffer,
        /// The row.
        row: u32,
        /// The norm (RMSNorm or LayerNorm) and its weights.
        norm: Norm<'a>,
    },
    /// Row `row` of a (rows, cols) f32 buffer (the residual stream) rounded to act, as
    /// [`Kernels::to_act`] stores it: a projection of x itself (Gemma 4's per-layer gate).
    F32 {
        /// The residual stream.
        x: &'a wgpu::Buffer,
        /// The row.
        row: u32,
    },
    /// The FFN's GLU `act_fn(gate) · up`, or a plain FFN's `act_fn(gate)` without `up`, rounded
    /// to act as [`Kernels::glu`] stores it.
    Glu {
        /// Which activation function.
        kind: GluKind,
        /// (cols,) act
        gate: &'a wgpu::Buffer,
        /// (cols,) act, or none for a plain FFN.
        up: Option<&'a wgpu::Buffer>,
    },
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
        self.matvec_into(ctx, w, MatvecX::Act { x, row: 0 }, &[y], store)
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
        self.matvec_into(ctx, w, MatvecX::Act { x, row: x_row }, &[y], store)
    }

    /// The FFN's GLU and down projection in one dispatch per page: `y = W (act_fn(gate) · up)`
    /// (`y = W act_fn(gate)` without `up`: a plain FFN), with the product made (and rounded to
    /// act, as [`Kernels::glu`] stores it) as x loads.
    pub fn matvec_glu(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        kind: GluKind,
        gate: &wgpu::Buffer,
        up: Option<&wgpu::Buffer>,
        y: &wgpu::Buffer,
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        self.matvec_into(ctx, w, MatvecX::Glu { kind, gate, up }, &[y], store)
    }

    /// `W x (+ b)` for an x made as `x` says, one dispatch per page; each tensor stacked in `w`
    /// writes its rows to its own buffer of `ys` (one per [`GpuWeight::parts`], in order;
    /// several only with `Store::Act`). The weight's bias, when it has one, is added.
    pub fn matvec_into(
        &mut self,
        ctx: &GpuContext,
        w: &GpuWeight,
        x: MatvecX<'_>,
        ys: &[&wgpu::Buffer],
        store: Store,
    ) -> Result<Vec<Dispatch>, KernelError> {
        let mut defines = weight_defines("matvec", w.ty, store)?;
        let (split1, split2) = output_splits("matvec", w, ys, store, &mut defines)?;
        let (x_buffer, x_row, eps) = match x {
            MatvecX::Act { x, row } => (x, row, 0.0),
            MatvecX::F32 { x, row } => {
                defines.push("F32_X");
                (x, row, 0.0)
            }
            MatvecX::Normed { x, row, norm } => {
                defines.push("NORM_X");
                if norm.kind == NormKind::Layer {
                    defines.push("LAYER_NORM");
                }
                (x, row, norm.eps)
            }
            MatvecX::Glu { kind, gate, up } => {
                defines.push("GLU_X");
                defines.extend(kind.define());
                if up.is_none() {
                    defines.push("NO_UP");
                }
                (gate, 0, 0.0)
            }
        };
        if w.bias.is_some() {
            defines.push("BIAS");
        }
        let rows_per_wg = self.matvec_rows.clamp(1, MAX_ROWS_PER_WORKGROUP);
        let wg = self.matvec_wg.clamp(1, 256).next_power_of_two();
        // Rows of a multiple of 32 elements have a multiple of four 8-element chunks, whose
        // words are whole vectors: the page is bound a second time, as array<vec4<u32>>. Then
        // only the block formats read single words (their scales): a binding the shader does
        // not use is not in its layout.
        let groups = w.cols.is_multiple_of(32);
        let words = !groups || w.ty.block_size() >= 32;
        if groups {
            defines.push("GROUPS");
            // K formats: a header (Q2_K's and Q3_K's quarter, Q4_K's and Q5_K's sub-block
            // pair, Q6_K's half) covers 8
            // chunks or more, so two groups share it; on GPUs only where every invocation
            // still has a step.
            let k_format =
                matches!(w.ty, GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K);
            if k_format && (self.cpu_shapes || w.cols / 64 >= wg) {
                defines.push("SPAN_8");
            }
        }
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
                split1,
                split2,
                eps,
            };
            let slot = self.uniforms.push(ctx, &params)?;
            let mut bindings = vec![
                (1, x_buffer.as_entire_binding()),
                (2, ys[0].as_entire_binding()),
                (3, self.uniforms.binding(slot)),
            ];
            if words {
                bindings.push((0, page.buffer.as_entire_binding()));
            }
            if groups {
                bindings.push((8, page.buffer.as_entire_binding()));
            }
            match x {
                MatvecX::Glu { up: Some(up), .. } => bindings.push((4, up.as_entire_binding())),
                MatvecX::Normed { norm, .. } => bindings.push((5, norm.weights.as_entire_binding())),
                MatvecX::Glu { up: None, .. } | MatvecX::Act { .. } | MatvecX::F32 { .. } => {}
            }
            if let Some(b) = &w.bias {
                bindings.push((9, b.as_entire_binding()));
            }
            bindings.extend(ys.iter().skip(1).zip(6..).map(|(y, i)| (i, y.as_entire_binding())));
            out.push(Dispatch::with_bindings(
                ctx,
                pipeline.clone(),
                &bindings,
                grid(page.n_rows.div_ceil(rows_per_wg)),
            ));
        }
        Ok(out)
    }
}

/// Checks that `ys` has one buffer per tensor stacked in `w`, adds the defines for them and
/// returns the first rows of the second and third tensors (the total when there are fewer).
pub(super) fn output_splits(
    kernel: &'static str,
    w: &GpuWeight,
    ys: &[&wgpu::Buffer],
    store: Store,
    defines: &mut Vec<&'static str>,
) -> Result<(u32, u32), KernelError> {
    let shape_err = |why: String| KernelError::Shape { kernel, why };
    if ys.len() != w.parts.len().max(1) || ys.len() > 3 {
        return Err(shape_err(format!("{} outputs for the {} tensors of '{}'", ys.len(), w.parts.len(), w.name)));
    }
    if ys.len() > 1 && store != Store::Act {
        return Err(shape_err(format!("stacked tensors of '{}' store activations only", w.name)));
    }
    let first = |i: usize| w.parts.get(i).map_or(w.rows, |p| p.first_row);
    if ys.len() >= 2 {
        defines.push("OUTPUTS_2");
    }
    if ys.len() == 3 {
        defines.push("OUTPUTS_3");
    }
    Ok((first(1), first(2)))
}

/// CPU reference: `w` (rows × cols, row-major f32) times `x`, accumulated in f64.
pub fn matvec_ref(w: &[f32], x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..rows)
        .map(|r| {
            w[r * cols..(r + 1) * cols].iter().zip(x).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum::<f64>() as f32
        })
        .collect()
}
