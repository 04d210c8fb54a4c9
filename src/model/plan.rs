//! The GPU memory a model needs, computed from its header alone: weights in their GPU layout,
//! KV caches at a context length, activations and tables. The same figures decide whether a
//! load goes ahead (checked before its first GPU buffer) and what `Hearth.inspect` reports
//! before a single weight byte is downloaded.

use serde::Serialize;

use super::config::ModelConfig;
use super::transformer::cache_len;
use super::weights::{Kind, MAX_VECTOR_BYTES, UPLOAD_CHUNK, UnexpectedTensor, unexpected_tensor, wanted_tensors};
use crate::gguf::Gguf;
use crate::quant::{QuantError, gpu_layout_bytes, is_supported};

/// Bytes of GPU memory a model needs, by kind.
#[derive(Clone, Debug, Serialize)]
pub struct MemoryPlan {
    /// Context length the plan is for (the request, at least 1).
    pub context_length: u32,
    /// Largest prompt chunk of one step.
    pub max_chunk: u32,
    /// Weights in their GPU layout.
    pub weights: u64,
    /// KV caches of all layers.
    pub kv_cache: u64,
    /// Activations, logits, rope tables and small scratch buffers.
    pub activations: u64,
    /// Everything.
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

/// Bytes of a rope table for `n_ctx` positions (one (cos, sin) pair at least: a binding cannot
/// be empty).
fn rope_table_bytes(cfg: &ModelConfig, n_ctx: u32) -> u64 {
    (u64::from(n_ctx) * u64::from(cfg.rope_dims) * 4).max(8)
}

/// The buffers of a model's [`super::State`] that grow with its shape and must each fit the
/// device's limits, for contexts of `n_ctx` positions, steps of `max_chunk` tokens and
/// activations of `act` bytes.
fn state_buffers(cfg: &ModelConfig, n_ctx: u32, max_chunk: u32, act: u64) -> Vec<PlannedBuffer> {
    let t = u64::from(max_chunk);
    let (d, f) = (u64::from(cfg.d_model), u64::from(cfg.d_ff));
    let (qd, kvd) = (u64::from(cfg.n_head * cfg.head_dim), u64::from(cfg.n_kv_head * cfg.head_dim));
    let longest_cache = (0..cfg.n_layer).map(|l| cache_len(cfg, l, n_ctx, max_chunk)).max().unwrap_or(0);
    [
        ("the KV cache of one layer", u64::from(longest_cache) * kvd * act),
        ("the logits", u64::from(cfg.n_vocab) * act),
        ("the FFN activations of a prefill chunk", t * f * act),
        ("the attention activations of a prefill chunk", t * qd.max(d) * 4),
        ("the rope table", rope_table_bytes(cfg, n_ctx)),
    ]
    .into_iter()
    .map(|(what, bytes)| PlannedBuffer { what, bytes })
    .collect()
}

impl MemoryPlan {
    /// Plans a model with `cfg` read from `gguf`, for a requested context of `n_ctx` tokens,
    /// prompt chunks of `max_chunk` and activations of `act` bytes (2 for f16, 4 for f32).
    pub fn new(gguf: &Gguf, cfg: &ModelConfig, n_ctx: u32, max_chunk: u32, act: u64) -> Result<Self, PlanError> {
        let (n_ctx, max_chunk) = effective_context(cfg, n_ctx, max_chunk);
        let (mut weights, mut largest_row) = (0u64, 0u64);
        for (name, kind) in wanted_tensors(cfg) {
            let t = gguf.tensor(&name).ok_or_else(|| PlanError::Missing(name.clone()))?;
            let dims = kind.dims();
            if t.dims != dims {
                return Err(PlanError::Shape { name, found: t.dims.clone(), expected: dims });
            }
            let bad = |why: String| PlanError::Malformed { name: name.clone(), why };
            weights += match kind {
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
                        Ok((bytes, _)) => bytes,
                        Err(QuantError::Unsupported(ty)) => return Err(PlanError::Unsupported { name, ty }),
                        Err(e) => return Err(bad(e.to_string())),
                    }
                }
                Kind::Vector { n } => u64::from(n) * 4,
                Kind::HostVector { .. } => 0,
            };
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
        let kvd = u64::from(cfg.n_kv_head * cfg.head_dim);
        let kv_cache = (0..cfg.n_layer).map(|l| 2 * u64::from(cache_len(cfg, l, n_ctx, max_chunk)) * kvd * act).sum();
        let t = u64::from(max_chunk);
        let (d, f, v) = (u64::from(cfg.d_model), u64::from(cfg.d_ff), u64::from(cfg.n_vocab));
        let qd = u64::from(cfg.n_head * cfg.head_dim);
        let has_local = (0..cfg.n_layer).any(|l| cfg.is_local_layer(l));
        let rope_tables = if has_local { 2 } else { 1 } * rope_table_bytes(cfg, n_ctx);
        let activations = 2 * t * d * 4  // x, o
            + t * d * act                // h
            + 2 * t * qd * act           // q, att
            + 2 * t * kvd * act          // k, v
            + 2 * t * f * act            // gate, up
            + v * act                    // logits
            + rope_tables
            + 4 * t; // prompt ids
        Ok(MemoryPlan {
            context_length: n_ctx,
            max_chunk,
            weights,
            kv_cache,
            activations,
            total: weights + kv_cache + activations,
            largest_row,
            buffers: state_buffers(cfg, n_ctx, max_chunk, act),
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
