//! `norm`: RMSNorm (`y = x / sqrt(mean(x²) + eps) * w`) or LayerNorm (`y = (x - mean) /
//! sqrt(var + eps) * w + b`) over each row.

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, WG, grid, shaders};

/// Which normalization a model's norms are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm with a weight (llama, Qwen, Gemma, Phi-3).
    Rms,
    /// LayerNorm with a weight and a bias (GPT-2, Falcon, BLOOM). Its weight buffer holds the
    /// weight, then the bias: `(2n,)` f32.
    Layer,
}

impl NormKind {
    /// f32 values a norm's weight buffer holds for rows of `n`.
    pub fn weight_len(self, n: u32) -> u64 {
        match self {
            NormKind::Rms => u64::from(n),
            NormKind::Layer => 2 * u64::from(n),
        }
    }
}

/// A norm's weight buffer and kind: what [`Kernels::norm`] and the normed matvec read.
#[derive(Clone, Copy)]
pub struct Norm<'a> {
    /// `(n,)` f32 weight, or for LayerNorm `(2n,)`: the weight, then the bias.
    pub weights: &'a wgpu::Buffer,
    /// RMSNorm or LayerNorm.
    pub kind: NormKind,
    /// Epsilon.
    pub eps: f32,
}

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        rows: u32,
        n: u32,
        eps: f32,
        _pad: u32,
    }
}

impl Kernels {
    /// `x (rows, n)` normalized by `norm` → `y (rows, n)` act; `y = None` normalizes `x` in place.
    /// `x` is f32 when `x_f32` (the residual stream), act otherwise.
    pub fn norm(
        &mut self,
        ctx: &GpuContext,
        norm: Norm<'_>,
        x: &wgpu::Buffer,
        x_f32: bool,
        y: Option<&wgpu::Buffer>,
        rows: u32,
        n: u32,
    ) -> Result<Dispatch, KernelError> {
        let mut defines = Vec::new();
        if y.is_none() {
            defines.push("IN_PLACE");
        }
        if x_f32 {
            defines.push("IN_F32");
        }
        if norm.kind == NormKind::Layer {
            defines.push("LAYER_NORM");
        }
        self.norm_with(ctx, &defines, x, norm.weights, y, rows, n, norm.eps, None)
    }

    /// [`Kernels::norm`] with RMSNorm.
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
        self.norm(ctx, Norm { weights: w, kind: NormKind::Rms, eps }, x, x_f32, y, rows, n)
    }

    /// `y (rows, n) f32 += rms_norm(x (rows, n) f32) · w`: Gemma's post-norm of a sub-layer's
    /// output and the residual add, in one dispatch; with `scale (1,)` f32, y is then multiplied
    /// by it (Gemma 4's scalar per layer).
    pub fn rms_norm_add(
        &mut self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        w: &wgpu::Buffer,
        y: &wgpu::Buffer,
        scale: Option<&wgpu::Buffer>,
        rows: u32,
        n: u32,
        eps: f32,
    ) -> Result<Dispatch, KernelError> {
        let defines: &[&str] = if scale.is_some() { &["IN_F32", "ADD_F32", "SCALE"] } else { &["IN_F32", "ADD_F32"] };
        self.norm_with(ctx, defines, x, w, Some(y), rows, n, eps, scale)
    }

    fn norm_with(
        &mut self,
        ctx: &GpuContext,
        defines: &[&'static str],
        x: &wgpu::Buffer,
        w: &wgpu::Buffer,
        y: Option<&wgpu::Buffer>,
        rows: u32,
        n: u32,
        eps: f32,
        scale: Option<&wgpu::Buffer>,
    ) -> Result<Dispatch, KernelError> {
        let pipeline = self.pipeline(ctx, &shaders::NORM, defines, &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { rows, n, eps, _pad: 0 })?;
        let mut bindings = vec![x.as_entire_binding(), w.as_entire_binding(), self.uniforms.binding(slot)];
        bindings.extend(y.map(|y| y.as_entire_binding()));
        bindings.extend(scale.map(|s| s.as_entire_binding()));
        Ok(Dispatch::new(ctx, pipeline, &bindings, grid(rows)))
    }
}

/// CPU reference of [`Kernels::rms_norm`].
pub fn rms_norm_ref(x: &[f32], w: &[f32], n: usize, eps: f32) -> Vec<f32> {
    norm_ref(NormKind::Rms, x, w, n, eps)
}

/// CPU reference of [`Kernels::norm`] (in f64): `w` is the weight, for LayerNorm followed by
/// the bias.
pub fn norm_ref(kind: NormKind, x: &[f32], w: &[f32], n: usize, eps: f32) -> Vec<f32> {
    x.chunks_exact(n)
        .flat_map(|row| {
            let mean = match kind {
                NormKind::Rms => 0.0,
                NormKind::Layer => row.iter().map(|v| f64::from(*v)).sum::<f64>() / n as f64,
            };
            let var = row.iter().map(|v| (f64::from(*v) - mean).powi(2)).sum::<f64>() / n as f64;
            let inv = 1.0 / (var + f64::from(eps)).sqrt();
            (0..n).map(move |i| {
                let y = (f64::from(row[i]) - mean) * inv * f64::from(w[i]);
                let b = if kind == NormKind::Layer { f64::from(w[n + i]) } else { 0.0 };
                (y + b) as f32
            })
        })
        .collect()
}
