//! `embed`: gathers (and dequantizes) rows of an embedding table for a list of token ids.

use crate::gpu::{Dispatch, GpuContext, GpuWeight};

use super::{KernelError, Kernels, StepBuffer, Store, WG, shaders, weight_defines};

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        first_row: u32,
        n_rows: u32,
        cols: u32,
        scales: u32,
        n_tokens: u32,
        token_offset: u32,
        scale: f32,
        _pad: u32,
    }
}

impl Kernels {
    /// `out (T, cols) f32 = table[tokens[token_offset + t]] * scale` (the residual stream, f32 on
    /// both paths). One dispatch per page of the table; each writes the tokens whose rows it
    /// holds. Ids outside the table write nothing.
    pub fn embed(
        &mut self,
        ctx: &GpuContext,
        table: &GpuWeight,
        tokens: &wgpu::Buffer,
        token_offset: u32,
        out: &wgpu::Buffer,
        n_tokens: u32,
        scale: f32,
    ) -> Result<Vec<Dispatch>, KernelError> {
        let defines = weight_defines("embed", table.ty, Store::F32)?;
        let pipeline = self.pipeline(ctx, &shaders::EMBED, &defines, &[("WG", WG)])?;
        let mut out_dispatches = Vec::new();
        for page in &table.pages {
            let params = Params {
                first_row: page.first_row,
                n_rows: page.n_rows,
                cols: table.cols,
                scales: page.scales,
                n_tokens,
                token_offset,
                scale,
                _pad: 0,
            };
            let slot = self.uniforms.push(ctx, &params)?;
            out_dispatches.push(Dispatch::new(
                ctx,
                pipeline.clone(),
                &[
                    page.buffer.as_entire_binding(),
                    tokens.as_entire_binding(),
                    out.as_entire_binding(),
                    self.uniforms.binding(slot),
                ],
                [n_tokens, 1, 1],
            ));
        }
        Ok(out_dispatches)
    }
}

impl Kernels {
    /// `out (T, cols) f32 += table[step.pos0 + t] * scale`: learned absolute position
    /// embeddings (GPT-2) added to the token embeddings, for the step's tokens (`max_tokens`
    /// sizes the dispatch). Positions outside the table add nothing.
    pub fn embed_positions(
        &mut self,
        ctx: &GpuContext,
        table: &GpuWeight,
        step: &StepBuffer,
        out: &wgpu::Buffer,
        max_tokens: u32,
    ) -> Result<Vec<Dispatch>, KernelError> {
        let mut defines = weight_defines("embed", table.ty, Store::F32)?;
        defines.push("POSITIONS");
        let pipeline = self.pipeline(ctx, &shaders::EMBED, &defines, &[("WG", WG)])?;
        let mut dispatches = Vec::new();
        for page in &table.pages {
            let params = Params {
                first_row: page.first_row,
                n_rows: page.n_rows,
                cols: table.cols,
                scales: page.scales,
                n_tokens: max_tokens,
                token_offset: 0,
                scale: 1.0,
                _pad: 0,
            };
            let slot = self.uniforms.push(ctx, &params)?;
            dispatches.push(Dispatch::with_bindings(
                ctx,
                pipeline.clone(),
                &[
                    (0, page.buffer.as_entire_binding()),
                    (2, out.as_entire_binding()),
                    (3, self.uniforms.binding(slot)),
                    (4, step.buffer.as_entire_binding()),
                ],
                [max_tokens, 1, 1],
            ));
        }
        Ok(dispatches)
    }
}

/// CPU reference of [`Kernels::embed`]: rows of the dequantized table, scaled.
pub fn embed_ref(table: &[f32], cols: usize, tokens: &[u32], scale: f32) -> Vec<f32> {
    tokens
        .iter()
        .flat_map(|&t| table[t as usize * cols..(t as usize + 1) * cols].iter().map(move |v| v * scale))
        .collect()
}
