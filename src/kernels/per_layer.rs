//! `per_layer_inputs` and `to_act` (`shaders/per_layer.wgsl`): Gemma 4's per-layer token
//! embeddings; `softcap` (`shaders/softcap.wgsl`): Gemma's final logit soft-capping.

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, WG, grid, shaders};

crate::uniform_struct! {
    /// The uniform `shaders/per_layer.wgsl` declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        rows: u32,
        n: u32,
        eps: f32,
        proj_scale: f32,
        in_scale: f32,
        _pad0: u32,
        _pad1: u32,
        _pad2: u32,
    }
}

crate::uniform_struct! {
    /// The uniform `shaders/softcap.wgsl` declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct SoftcapParams {
        n: u32,
        cap: f32,
        _pad0: u32,
        _pad1: u32,
    }
}

/// The sizes of Gemma 4's per-layer inputs.
#[derive(Clone, Copy, Debug)]
pub struct PerLayerShape {
    /// Layers L.
    pub n_layer: u32,
    /// Dimensions per layer P.
    pub dim: u32,
    /// Model width D (the projection's input is scaled by 1 / sqrt(D)).
    pub d_model: u32,
    /// Epsilon of the projection's RMS norm.
    pub eps: f32,
}

impl Kernels {
    /// `inputs (T, L, P) act = (rms_norm(inputs[t, l] / sqrt(D)) · norm + rows[t, l]) / sqrt(2)`
    /// in place, `inputs (T, L·P)` act holding the scaled token embedding projected by
    /// `per_layer_model_proj`, `rows (T, L·P)` f32 the tokens' rows of `per_layer_token_embd`
    /// (gathered times sqrt(P)).
    pub fn per_layer_inputs(
        &mut self,
        ctx: &GpuContext,
        shape: &PerLayerShape,
        rows: &wgpu::Buffer,
        norm: &wgpu::Buffer,
        inputs: &wgpu::Buffer,
        n_tokens: u32,
    ) -> Result<Dispatch, KernelError> {
        let pipeline = self.pipeline(ctx, &shaders::PER_LAYER_INPUTS, &[], &[("WG", WG)])?;
        let params = Params {
            rows: n_tokens * shape.n_layer,
            n: shape.dim,
            eps: shape.eps,
            proj_scale: 1.0 / (shape.d_model as f32).sqrt(),
            in_scale: std::f32::consts::FRAC_1_SQRT_2,
            ..Default::default()
        };
        let slot = self.uniforms.push(ctx, &params)?;
        let bindings = [
            (1, rows.as_entire_binding()),
            (2, norm.as_entire_binding()),
            (3, inputs.as_entire_binding()),
            (4, self.uniforms.binding(slot)),
        ];
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, grid(params.rows)))
    }

    /// `h (n,) act = x (n,) f32`: the residual stream as a matrix kernel's input.
    pub fn to_act(
        &mut self,
        ctx: &GpuContext,
        x: &wgpu::Buffer,
        h: &wgpu::Buffer,
        n: u32,
    ) -> Result<Dispatch, KernelError> {
        let pipeline = self.pipeline(ctx, &shaders::TO_ACT, &[], &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &Params { n, ..Default::default() })?;
        let bindings = [(4, self.uniforms.binding(slot)), (5, x.as_entire_binding()), (6, h.as_entire_binding())];
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, grid(n.div_ceil(WG))))
    }

    /// `x (n,) act = cap · tanh(x / cap)` in place: final logit soft-capping.
    pub fn softcap(&mut self, ctx: &GpuContext, x: &wgpu::Buffer, n: u32, cap: f32) -> Result<Dispatch, KernelError> {
        if !(cap.is_finite() && cap > 0.0) {
            return Err(KernelError::Shape { kernel: "softcap", why: format!("a cap of {cap}") });
        }
        let pipeline = self.pipeline(ctx, &shaders::SOFTCAP, &[], &[("WG", WG)])?;
        let slot = self.uniforms.push(ctx, &SoftcapParams { n, cap, ..Default::default() })?;
        let bindings = [(0, x.as_entire_binding()), (1, self.uniforms.binding(slot))];
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, grid(n.div_ceil(WG))))
    }
}

/// CPU reference of [`Kernels::per_layer_inputs`] (in f64): `proj` and `rows` (T, L·P).
pub fn per_layer_inputs_ref(shape: &PerLayerShape, proj: &[f32], rows: &[f32], norm: &[f32]) -> Vec<f32> {
    let p = shape.dim as usize;
    let scale = 1.0 / f64::from(shape.d_model).sqrt();
    proj.chunks_exact(p)
        .zip(rows.chunks_exact(p))
        .flat_map(|(pr, rw)| {
            let ss = pr.iter().map(|&v| (f64::from(v) * scale).powi(2)).sum::<f64>() / p as f64;
            let inv = 1.0 / (ss + f64::from(shape.eps)).sqrt();
            (0..p).map(move |i| {
                let normed = f64::from(pr[i]) * scale * inv * f64::from(norm[i]);
                ((normed + f64::from(rw[i])) * std::f64::consts::FRAC_1_SQRT_2) as f32
            })
        })
        .collect()
}

/// CPU reference of [`Kernels::softcap`].
pub fn softcap_ref(x: &[f32], cap: f32) -> Vec<f32> {
    x.iter().map(|&v| (f64::from(cap) * (f64::from(v) / f64::from(cap)).tanh()) as f32).collect()
}
