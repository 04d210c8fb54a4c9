//! The GPU memory a model needs, computed from its header alone: weights in their GPU layout,
//! KV caches at a context length, activations and tables. The same figures decide whether a
//! load goes ahead (checked before its first GPU buffer) and what `Hearth.inspect` reports
//! before a single weight byte is downloaded.

use serde::Serialize;

use super::config::ModelConfig;
use super::state::{StateKind, StateSizes};
use super::weights::{
    Kind, MAX_VECTOR_BYTES, UPLOAD_CHUNK, UnexpectedTensor, unexpected_tensor, wanted_tensors, weight_plan,
};
use crate::gguf::Gguf;
use crate::gpu::{UniformArena, WeightError, buffer_bytes, page_layout};
use crate::quant::{QuantError, gpu_layout_bytes, is_supported};

/// Bytes of GPU memory a model needs, by kind.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryPlan {
    /// Context length the plan is for (the request, at least 1).
    pub context_length: u32,
    /// Largest prompt chunk of one step.
    pub max_chunk: u32,
    /// Weights in their GPU layout, in their pages, with the norm vectors and biases.
    pub weights: u64,
    /// KV caches of the attention layers (they grow with the context).
    pub kv_cache: u64,
    /// The recurrent layers' state, of one size whatever the context: conv rings (LFM2,
    /// Qwen3.5) and delta-net state snapshots (Qwen3.5).
    pub recurrent_state: u64,
    /// Activations, logits, rope tables, decode scratch, kernel parameters and the step's
    /// small buffers.
    pub activations: u64,
    /// Everything: the bytes a load allocates on the GPU, and holds while it runs.
    pub total: u64,
    /// The largest weight row (it must fit one storage binding).
    pub largest_row: u64,
    /// The largest single buffers besides the weights, which must each fit the device's limits.
    pub buffers: Vec<PlannedBuffer>,
}

/// One buffer the device must be able to create and bind.
#[derive(Clone, Debug, Serialize)]
pub struct PlannedBuffer {
    /// What it holds, for messages.
    pub what: &'static str,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Why a plan cannot be made: a tensor the architecture needs is missing, has another shape,
/// or a type hearth cannot run, or the file has a tensor the architecture does not use.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    /// The file lacks a tensor.
    #[error("the file has no tensor '{0}'")]
    Missing(String),
    /// The file has a tensor the architecture does not use.
    #[error("{0}")]
    Unexpected(UnexpectedTensor),
    /// A tensor's dimensions differ from what the hyper-parameters imply.
    #[error("tensor '{name}' has dimensions {found:?}, but the hyper-parameters make it {expected:?}")]
    Shape {
        /// The tensor.
        name: String,
        /// Its dimensions in the file (innermost first).
        found: Vec<u64>,
        /// The dimensions the configuration implies.
        expected: Vec<u64>,
    },
    /// A tensor type hearth has no kernels for.
    #[error("tensor '{name}' is of type {ty}, which hearth cannot run yet")]
    Unsupported {
        /// The tensor.
        name: String,
        /// Its type.
        ty: crate::gguf::GgmlType,
    },
    /// A tensor hearth could run but not in this form.
    #[error("tensor '{name}': {why}")]
    Malformed {
        /// The tensor.
        name: String,
        /// What is wrong.
        why: String,
    },
}

/// Why a planned model does not fit the device: one buffer over a limit, or the whole over
/// the memory budget. Found from the header alone, before anything is allocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} needs {} ({need} bytes), over this GPU's {limit} of {} ({max} bytes): use a shorter context or a smaller model",
    mib(*.need),
    mib(*.max)
)]
pub struct DoesNotFit {
    /// What the memory is for ("the KV cache of one layer", "a weight row", "the model").
    pub what: String,
    /// Bytes it needs.
    pub need: u64,
    /// The limit's name: WebGPU's (`maxStorageBufferBindingSize`, `maxBufferSize`) or
    /// `memory budget`.
    pub limit: &'static str,
    /// The limit's value in bytes.
    pub max: u64,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// What a device allows, as far as a plan is concerned.
#[derive(Clone, Copy, Debug)]
pub struct DeviceBudget {
    /// maxStorageBufferBindingSize.
    pub max_binding: u64,
    /// maxBufferSize.
    pub max_buffer: u64,
    /// The most GPU memory the model may use in all, when the user set one (WebGPU does not
    /// tell how much memory a GPU has).
    pub memory: Option<u64>,
}

/// Context length and chunk a load will use for a requested context and chunk. A context
/// longer than the training context is allowed (as llama.cpp allows it; front ends warn), up
/// to [`ModelConfig::max_context`]: [`super::config::caps::CONTEXT`], or the table of a
/// model with learned positions.
pub fn effective_context(cfg: &ModelConfig, n_ctx: u32, max_chunk: u32) -> (u32, u32) {
    let n_ctx = n_ctx.clamp(1, cfg.max_context().min(super::config::caps::CONTEXT));
    (n_ctx, max_chunk.clamp(1, n_ctx))
}

/// What a plan needs to know of the device and of the kernels a load will use on it.
#[derive(Clone, Copy, Debug)]
pub struct PlanTarget {
    /// Bytes per activation: 2 for f16, 4 for f32.
    pub act: u64,
    /// Whether the kernels take the CPU adapters' shapes (their decode scratch differs).
    pub cpu_shapes: bool,
    /// Largest weight page ([`crate::gpu::GpuContext::weight_page_bytes`]).
    pub weight_page_bytes: u64,
}

impl PlanTarget {
    /// A GPU with WebGPU's default limits (pages of 128 MiB), for a plan made without one.
    pub fn default_gpu(act: u64) -> Self {
        PlanTarget { act, cpu_shapes: false, weight_page_bytes: 128 << 20 }
    }
}

/// The buffers of `sizes` that must each fit the device's limits: the largest of each kind.
fn limited_buffers(sizes: &StateSizes) -> Vec<PlannedBuffer> {
    let mut out: Vec<PlannedBuffer> = Vec::new();
    for b in &sizes.buffers {
        match out.iter_mut().find(|p| p.what == b.what) {
            Some(p) => p.bytes = p.bytes.max(b.bytes),
            None => out.push(PlannedBuffer { what: b.what, bytes: b.bytes }),
        }
    }
    out
}

impl MemoryPlan {
    /// Plans a model with `cfg` read from `gguf`, for a requested context of `n_ctx` tokens,
    /// prompt chunks of `max_chunk`, on `target`.
    pub fn new(
        gguf: &Gguf,
        cfg: &ModelConfig,
        n_ctx: u32,
        max_chunk: u32,
        target: &PlanTarget,
    ) -> Result<Self, PlanError> {
        let (n_ctx, max_chunk) = effective_context(cfg, n_ctx, max_chunk);
        let mut largest_row = 0u64;
        for (name, kind) in wanted_tensors(cfg) {
            let t = gguf.tensor(&name).ok_or_else(|| PlanError::Missing(name.clone()))?;
            let dims = kind.dims();
            if t.dims != dims {
                return Err(PlanError::Shape { name, found: t.dims.clone(), expected: dims });
            }
            let bad = |why: String| PlanError::Malformed { name: name.clone(), why };
            match kind {
                Kind::Matrix { rows, cols } => {
                    if !is_supported(t.ty) {
                        return Err(PlanError::Unsupported { name, ty: t.ty });
                    }
                    let row = t.ty.row_bytes(u64::from(cols)).ok_or_else(|| bad("rows are not whole blocks".into()))?;
                    if row > UPLOAD_CHUNK as u64 / 2 {
                        return Err(bad(format!("rows of {row} bytes are larger than hearth uploads at once")));
                    }
                    largest_row = largest_row.max(row);
                    let blocks = u64::from(rows) * u64::from(cols) / u64::from(t.ty.block_size());
                    match gpu_layout_bytes(t.ty, blocks) {
                        Ok(_) => {}
                        Err(QuantError::Unsupported(ty)) => return Err(PlanError::Unsupported { name, ty }),
                        Err(e) => return Err(bad(e.to_string())),
                    }
                }
                Kind::Vector { .. } | Kind::HostVector { .. } | Kind::Table { .. } => {}
            }
            if !matches!(kind, Kind::Matrix { .. }) {
                if !is_supported(t.ty) {
                    return Err(PlanError::Unsupported { name, ty: t.ty });
                }
                if t.n_bytes > MAX_VECTOR_BYTES {
                    return Err(bad(format!("a vector of {} bytes", t.n_bytes)));
                }
            }
        }
        if let Some(u) = unexpected_tensor(gguf, cfg) {
            return Err(PlanError::Unexpected(u));
        }
        let weights = weight_bytes(gguf, cfg, target)?;
        let state = StateSizes::new(cfg, n_ctx, max_chunk, target.act, target.cpu_shapes);
        let kv_cache = state.bytes(StateKind::KvCache);
        let recurrent_state = state.bytes(StateKind::Recurrent);
        let activations = state.bytes(StateKind::Other) + UniformArena::BYTES;
        Ok(MemoryPlan {
            context_length: n_ctx,
            max_chunk,
            weights,
            kv_cache,
            recurrent_state,
            activations,
            total: weights + kv_cache + recurrent_state + activations,
            largest_row,
            buffers: limited_buffers(&state),
        })
    }

    /// Checks every planned buffer against the device's per-buffer limits (weights are paged
    /// under them, so only a weight row must fit one page) and the total against the budget.
    pub fn check(&self, device: &DeviceBudget) -> Result<(), DoesNotFit> {
        let limits = [("maxBufferSize", device.max_buffer), ("maxStorageBufferBindingSize", device.max_binding)];
        let row = PlannedBuffer { what: "a weight row", bytes: self.largest_row + 4 };
        for b in std::iter::once(&row).chain(&self.buffers) {
            for (limit, max) in limits {
                if b.bytes > max {
                    return Err(DoesNotFit { what: b.what.to_owned(), need: b.bytes, limit, max });
                }
            }
        }
        match device.memory {
            Some(max) if self.total > max => Err(DoesNotFit {
                what: "the model at this context".into(),
                need: self.total,
                limit: "memory budget",
                max,
            }),
            _ => Ok(()),
        }
    }
}

/// Bytes of the weights as the load allocates them: each GPU weight (tensors stacked or fused
/// as the load joins them) in its pages, its biases joined into one vector of its rows, and
/// every other vector (norms) uploaded as f32. Shapes and types are checked before.
fn weight_bytes(gguf: &Gguf, cfg: &ModelConfig, target: &PlanTarget) -> Result<u64, PlanError> {
    let weights = weight_plan(gguf, cfg).map_err(|e| PlanError::Missing(e.to_string()))?;
    let mut total = 0u64;
    let mut biases = std::collections::HashSet::new();
    for w in &weights {
        let first = &w.tensors[0].0;
        let t = gguf.tensor(first).ok_or_else(|| PlanError::Missing(first.clone()))?;
        let (rows, cols) = (w.parts.iter().map(|p| p.1).sum::<u64>(), t.dims[0]);
        // A row over the page is refused by `check` as "a weight row", with the limit's name.
        let row = t.ty.row_bytes(cols).unwrap_or(0);
        let page_bytes = target.weight_page_bytes.max(row + 4);
        let pages = page_layout(first, t.ty, rows, cols, page_bytes).map_err(|e| match e {
            WeightError::Quant { source: QuantError::Unsupported(ty), .. } => {
                PlanError::Unsupported { name: first.clone(), ty }
            }
            e => PlanError::Malformed { name: first.clone(), why: e.to_string() },
        })?;
        total += pages.iter().map(|p| p.bytes).sum::<u64>();
        if w.biases.iter().any(Option::is_some) {
            total += buffer_bytes(4 * rows);
            biases.extend(w.biases.iter().flatten().cloned());
        }
    }
    // Norms: a LayerNorm's weight and bias share one buffer of their sum.
    let layer_norm = cfg.family.norm == crate::kernels::NormKind::Layer;
    for (name, kind) in wanted_tensors(cfg) {
        if let Kind::Table { inner, outer } = kind {
            total += buffer_bytes(4 * u64::from(inner) * u64::from(outer));
        }
        if let Kind::Vector { n } = kind
            && !biases.contains(&name)
        {
            let joined_bias = layer_norm && name.ends_with("norm.bias");
            if !joined_bias {
                let n = u64::from(n) * if layer_norm && name.ends_with("norm.weight") { 2 } else { 1 };
                total += buffer_bytes(4 * n);
            }
        }
    }
    Ok(total)
}
