//! The kernel library: one wrapper per WGSL family (`shaders/`), each describing its
//! dispatches and each with a plain-Rust CPU reference that defines the contract and is the
//! test oracle.
//!
//! Shapes use the same names everywhere: T tokens, D model width, rows/cols of a weight.
//! Activations are `act` on the GPU: f32, or f16 when [`Kernels::f16`] is set (accumulation is
//! always f32). The residual stream is f32 on both paths (see [`Store`]).

mod attention;
pub mod contract;
mod conv;
mod delta_net;
mod elementwise;
mod embed;
mod matmul;
mod matvec;
mod norm;
mod per_layer;
mod rope;
mod sample;
pub mod shaders;
mod step;

use std::sync::Arc;

use crate::gguf::GgmlType;
use crate::gpu::{
    GpuContext, Pipeline, PipelineCache, PreprocessError, ShaderDef, UniformArena, UniformsFull, WeightError,
};

pub use attention::{AttnShape, DecodeScratch, MAX_HEAD_DIM, attention_ref};
pub use conv::{ConvBuffers, ConvShape, MAX_CONV_TAPS, short_conv_ref};
pub use delta_net::{
    DeltaNetBuffers, DeltaNetInputs, DeltaNetShape, DeltaNetWalk, MAX_CHUNK_TOKENS, MAX_DELTA_HEAD_DIM, chunk_tokens,
    delta_net_ref,
};
pub use elementwise::{GluKind, UpRows, glu_ref};
pub use embed::embed_ref;
pub use matmul::matmul_ref;
pub use matvec::{MatvecX, matvec_ref};
pub use norm::{Norm, NormKind, norm_ref, rms_norm_ref};
pub use per_layer::{PerLayerShape, per_layer_inputs_ref, softcap_ref};
pub use rope::{QkNorm, QkvBuffers, RopeLayout, RopeTable, rope_freqs, rope_ref, rope_scaled_ref};
pub use sample::{
    History, LOGPROB_WORDS, MAX_TOP_LOGPROBS, SamplerParams, TokenLogprobs, allowed_masked_ref, allowed_ref,
    argmax_ref, logprobs_ref, mask_allows, penalize_ref,
};
pub use step::{Step, StepBuffer};

/// Why a kernel could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KernelError {
    /// A shader failed to preprocess (a bug in hearth's shaders).
    #[error("shader source: {0}")]
    Shader(#[from] PreprocessError),
    /// Operands whose shapes do not fit the kernel.
    #[error("{kernel}: {why}")]
    Shape {
        /// The kernel.
        kernel: &'static str,
        /// What does not fit.
        why: String,
    },
    /// A weight that cannot be uploaded.
    #[error(transparent)]
    Weight(#[from] WeightError),
    /// No room for another dispatch's parameters until the owner recycles the arena.
    #[error(transparent)]
    UniformsFull(#[from] UniformsFull),
}

/// Pipelines, parameters and the variant choices (f16 activations, subgroups) for one device.
pub struct Kernels {
    cache: PipelineCache,
    uniforms: UniformArena,
    /// Activations in f16 (requires shader-f16).
    pub f16: bool,
    /// Use subgroup reductions (requires subgroups).
    pub subgroups: bool,
    /// Use the kernel shapes tuned for CPU adapters (lavapipe, SwiftShader), which pay per
    /// workgroup and per barrier rather than gaining from parallelism: smaller matmul and
    /// attention workgroups, decode attention in one split. Set for CPU adapters; the results
    /// are the same either way (the tests run both).
    pub cpu_shapes: bool,
    /// Output rows per matvec workgroup (1..=32): more rows share each loaded x chunk and one
    /// reduction, fewer give more workgroups to spread over a GPU's cores.
    pub matvec_rows: u32,
    /// Invocations per matvec workgroup (a power of two up to 256).
    pub matvec_wg: u32,
    /// The adapter's subgroup size when it has only one (lavapipe 8, NVIDIA 32), else 0:
    /// kernels whose workgroup is exactly one subgroup need no barrier.
    pub subgroup_size: u32,
}

/// The subgroup size of an adapter whose subgroups all have one size (a power of two from 4
/// to 128), else 0.
fn single_subgroup_size(info: &wgpu::AdapterInfo) -> u32 {
    let (lo, hi) = (info.subgroup_min_size, info.subgroup_max_size);
    if lo == hi && lo.is_power_of_two() && (4..=128).contains(&lo) { lo } else { 0 }
}

/// Invocations per workgroup of the reduction kernels.
const WG: u32 = 64;

impl Kernels {
    /// Kernels using every optional feature `ctx` has.
    pub fn new(ctx: &GpuContext) -> Self {
        Self::with_variant(ctx, ctx.has_f16(), ctx.has_subgroups())
    }

    /// Kernels with an explicit variant (each flag only where the device allows it).
    pub fn with_variant(ctx: &GpuContext, f16: bool, subgroups: bool) -> Self {
        let cpu = Self::is_cpu_adapter(ctx.adapter.get_info().device_type);
        let subgroups = subgroups && ctx.has_subgroups();
        let subgroup_size = single_subgroup_size(&ctx.adapter.get_info());
        // CPU adapters (lavapipe, SwiftShader) pay dearly per workgroup and per invocation of
        // one (measured on lavapipe, SmolLM2 decode: 0.76 tok/s at 1 row, 1.56 at 16;
        // SwiftShader, the 49152x576 LM head: 1868 ms at 64 invocations x 16 rows, 68 ms at
        // 4 x 32); GPUs want enough workgroups and invocations. With subgroups of one size, a
        // CPU adapter's matvec workgroup is one subgroup: no barrier (lavapipe, SmolLM2 Q8_0
        // decode, three rounds alternating: 5.1-5.7 tok/s at 4 invocations x 32 rows, 6.5-9.0
        // at 8 x 32, 6.4-7.5 at 8 x 16, 5.8-7.1 at 8 x 8).
        let matvec_wg = match (cpu, subgroups && subgroup_size > 0) {
            (true, true) => subgroup_size,
            (true, false) => 4,
            (false, _) => 64,
        };
        Kernels {
            cache: PipelineCache::new(shaders::includes()),
            uniforms: UniformArena::new(ctx),
            f16: f16 && ctx.has_f16(),
            subgroups,
            matvec_rows: if cpu { 32 } else { 4 },
            matvec_wg,
            cpu_shapes: cpu,
            subgroup_size,
        }
    }

    /// Keeps the parameters of every dispatch built so far through later recycling (the
    /// engine seals what its load builds).
    pub fn seal_uniforms(&mut self) {
        self.uniforms.seal();
    }

    /// Frees the parameter space of the dispatches built since [`Kernels::seal_uniforms`]:
    /// they must be dropped or rebuilt before they are submitted again.
    pub fn recycle_uniforms(&mut self) {
        self.uniforms.recycle();
    }

    /// Bytes of kernel parameters stored.
    pub fn uniform_bytes(&self) -> u64 {
        self.uniforms.used()
    }

    /// Whether `device_type` is a CPU adapter's (lavapipe, SwiftShader), which gets the kernel shapes
    /// tuned for it ([`Kernels::cpu_shapes`]).
    pub fn is_cpu_adapter(device_type: wgpu::DeviceType) -> bool {
        device_type == wgpu::DeviceType::Cpu
    }

    /// Bytes per activation element.
    pub fn act_size(&self) -> u64 {
        if self.f16 { 2 } else { 4 }
    }

    /// Activations as the GPU stores them.
    pub fn act_bytes(&self, v: &[f32]) -> Vec<u8> {
        if self.f16 {
            v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
        } else {
            bytemuck::cast_slice(v).to_vec()
        }
    }

    /// Activations read back from the GPU, as f32.
    pub fn act_values(&self, bytes: &[u8]) -> Vec<f32> {
        if self.f16 {
            bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        } else {
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
    }

    /// A storage buffer for `n` activations.
    pub fn act_buffer(&self, ctx: &GpuContext, n: u64, label: &str) -> wgpu::Buffer {
        ctx.storage_buffer(n * self.act_size(), label)
    }

    /// The pipeline for `shader` with this variant's defines plus `extra`.
    fn pipeline(
        &mut self,
        ctx: &GpuContext,
        shader: &ShaderDef,
        extra: &[&'static str],
        overrides: &[(&'static str, u32)],
    ) -> Result<Arc<Pipeline>, KernelError> {
        let defines = self.variant_defines(extra);
        Ok(self.cache.get(&ctx.device, shader, &defines, overrides)?)
    }

    /// `extra` plus the defines of this variant (f16 activations, subgroups).
    fn variant_defines(&self, extra: &[&'static str]) -> Vec<&'static str> {
        // IN_F32/OUT_F32 change nothing when activations are f32: leaving them out there keeps
        // one pipeline per kernel.
        let mut defines: Vec<_> =
            extra.iter().copied().filter(|d| self.f16 || !matches!(*d, "IN_F32" | "OUT_F32")).collect();
        if self.f16 {
            defines.push("ACT_F16");
        }
        if self.subgroups {
            defines.push("SUBGROUPS");
        }
        defines
    }

    /// The pipeline of a shader that takes no variant defines (e.g. `copy`).
    pub fn raw_pipeline(
        &mut self,
        ctx: &GpuContext,
        shader: &ShaderDef,
        overrides: &[(&'static str, u32)],
    ) -> Result<Arc<Pipeline>, KernelError> {
        Ok(self.cache.get(&ctx.device, shader, &[], overrides)?)
    }

    /// The WGSL a shader becomes in this variant (for validation and debugging).
    pub fn source(&self, shader: &ShaderDef, extra: &[&'static str]) -> Result<String, KernelError> {
        Ok(self.cache.source(shader, &self.variant_defines(extra))?)
    }

    /// Number of pipelines compiled so far.
    pub fn n_pipelines(&self) -> usize {
        self.cache.len()
    }

    /// The keys of the pipelines compiled so far (shader, defines with this variant's, override
    /// constants).
    pub fn pipeline_keys(&self) -> Vec<crate::gpu::PipelineKey> {
        self.cache.keys()
    }
}

/// The `#define` that selects a weight type's `load_chunk` in shaders/common/weights.wgsl.
pub fn weight_define(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::F32 => "W_F32",
        GgmlType::F16 => "W_F16",
        GgmlType::BF16 => "W_BF16",
        GgmlType::Q8_0 => "W_Q8_0",
        GgmlType::Q4_0 => "W_Q4_0",
        GgmlType::Q4_1 => "W_Q4_1",
        GgmlType::Q5_0 => "W_Q5_0",
        GgmlType::Q5_1 => "W_Q5_1",
        GgmlType::Q2_K => "W_Q2_K",
        GgmlType::Q3_K => "W_Q3_K",
        GgmlType::Q4_K => "W_Q4_K",
        GgmlType::Q5_K => "W_Q5_K",
        GgmlType::Q6_K => "W_Q6_K",
        GgmlType::IQ4_NL => "W_IQ4_NL",
        GgmlType::IQ4_XS => "W_IQ4_XS",
        GgmlType::IQ3_XXS => "W_IQ3_XXS",
        GgmlType::IQ3_S => "W_IQ3_S",
        GgmlType::IQ2_XXS => "W_IQ2_XXS",
        GgmlType::IQ2_XS => "W_IQ2_XS",
        GgmlType::IQ2_S => "W_IQ2_S",
        GgmlType::IQ1_S => "W_IQ1_S",
        GgmlType::IQ1_M => "W_IQ1_M",
        _ => return None,
    })
}

/// How a matrix kernel stores its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// Written as activations (`act`).
    Act,
    /// Written as f32: a sub-layer's output on its way into the residual stream.
    F32,
    /// Added into an f32 buffer: the residual add fused into the projection.
    AddF32,
}

/// The defines of a kernel reading `ty` weights and storing as `store`.
fn weight_defines(kernel: &'static str, ty: GgmlType, store: Store) -> Result<Vec<&'static str>, KernelError> {
    let define =
        weight_define(ty).ok_or_else(|| KernelError::Shape { kernel, why: format!("no kernel reads {ty} weights") })?;
    Ok(match store {
        Store::Act => vec![define],
        Store::F32 => vec![define, "OUT_F32"],
        Store::AddF32 => vec![define, "OUT_F32", "ACCUMULATE"],
    })
}

/// Weight types the matrix kernels read: every type `quant` dequantizes (each has its part of
/// shaders/common/weights.wgsl, [`weight_define`]; tests/contract.rs checks their layouts).
pub const WEIGHT_TYPES: [GgmlType; crate::quant::SUPPORTED.len()] = crate::quant::SUPPORTED;

/// Splits `n` workgroups over x and y so that neither exceeds 65535 (kernels flatten them).
pub fn grid(n: u32) -> [u32; 3] {
    const MAX: u32 = 65535;
    if n <= MAX { [n.max(1), 1, 1] } else { [MAX, n.div_ceil(MAX), 1] }
}
