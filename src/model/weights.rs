//! Model weights: GGUF tensors mapped by name onto GPU buffers, with shape checks.

use std::collections::HashMap;

use crate::gguf::{GgmlType, Gguf, TensorInfo};
use crate::gpu::{GpuContext, GpuWeight, WeightError};
use crate::quant::{self, QuantError};
use crate::source::{Reader, Source, SourceError};

use super::ModelConfig;

/// Why weights could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// A tensor the architecture needs is absent.
    #[error("tensor '{0}' is missing from the file")]
    Missing(String),
    /// A tensor with another shape than the configuration implies.
    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    Shape {
        /// The tensor.
        name: String,
        /// Its dimensions, innermost first.
        found: Vec<u64>,
        /// What the configuration implies.
        expected: Vec<u64>,
    },
    /// A weight the GPU kernels cannot take.
    #[error(transparent)]
    Weight(#[from] WeightError),
    /// A vector tensor whose type cannot be dequantized.
    #[error("tensor '{name}': {source}")]
    Quant {
        /// The tensor.
        name: String,
        /// Why.
        source: QuantError,
    },
    /// A tensor hearth cannot read.
    #[error("tensor '{name}': {why}")]
    Read {
        /// The tensor.
        name: String,
        /// Why.
        why: String,
    },
    /// The source failed while the tensor streamed in.
    #[error("reading tensor '{name}': {source}")]
    Source {
        /// The tensor.
        name: String,
        /// Why.
        source: SourceError,
    },
}

/// One transformer block's weights. Matrices are (rows = out features, cols = in features).
pub struct LayerWeights {
    /// (D,) f32
    pub attn_norm: wgpu::Buffer,
    /// Q (H·hd, D), K and V (KV·hd, D), stacked by rows where their types match: one to
    /// three weights whose parts are q, k, v in order.
    pub qkv: Vec<GpuWeight>,
    /// Biases of Q, K, V (qwen2): (H·hd,), (KV·hd,), (KV·hd,) in activation precision.
    pub qkv_bias: Option<[wgpu::Buffer; 3]>,
    /// (hd,) f32 norms of Q and K heads (qwen3, gemma3).
    pub qk_norm: Option<[wgpu::Buffer; 2]>,
    /// (D, H·hd)
    pub wo: GpuWeight,
    /// (D,) f32 norm of the attention output (gemma3).
    pub post_attn_norm: Option<wgpu::Buffer>,
    /// (D,) f32
    pub ffn_norm: wgpu::Buffer,
    /// Gate and up (F, D), stacked by rows where their types match: one or two weights.
    pub gate_up: Vec<GpuWeight>,
    /// (D, F)
    pub down: GpuWeight,
    /// (D,) f32 norm of the FFN output (gemma3).
    pub post_ffn_norm: Option<wgpu::Buffer>,
}

/// All weights of a model.
pub struct ModelWeights {
    /// (V, D) token embeddings.
    pub token_embd: GpuWeight,
    /// (D,) f32 final norm.
    pub output_norm: wgpu::Buffer,
    /// (V, D) LM head, or `None` when tied to `token_embd`.
    pub output: Option<GpuWeight>,
    /// Blocks in order.
    pub layers: Vec<LayerWeights>,
    /// Bytes of weight data uploaded.
    pub n_bytes: u64,
}

impl ModelWeights {
    /// The LM head (the token embedding when tied).
    pub fn lm_head(&self) -> &GpuWeight {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

/// Bytes of tensor data read from the source at a time: a whole number of rows, written
/// straight into the weight's GPU buffer. This, not the model's size, bounds the memory a load
/// needs (in the browser: wasm memory).
pub const UPLOAD_CHUNK: usize = 4 << 20;

/// Uploaded bytes after which a load waits for the GPU to take them (back-pressure: written
/// data must not pile up in staging memory faster than the device consumes it).
const UPLOAD_IN_FLIGHT: u64 = 32 << 20;

/// Largest vector (norm weight, bias) read whole.
pub(super) const MAX_VECTOR_BYTES: u64 = 16 << 20;

/// What the architecture makes of a tensor.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    /// A weight matrix of `rows` × `cols`, for the matrix kernels.
    Matrix { rows: u32, cols: u32 },
    /// A vector dequantized to f32 (norm weights).
    Vector { n: u32 },
    /// A vector in activation precision (biases, added to activations).
    ActVector { n: u32 },
}

impl Kind {
    /// The dimensions a tensor of this kind has in a file, innermost first.
    pub(super) fn dims(self) -> Vec<u64> {
        match self {
            Kind::Matrix { rows, cols } => vec![u64::from(cols), u64::from(rows)],
            Kind::Vector { n } | Kind::ActVector { n } => vec![u64::from(n)],
        }
    }
}

/// Every tensor `cfg` needs, by GGUF name.
pub(super) fn wanted_tensors(cfg: &ModelConfig) -> Vec<(String, Kind)> {
    let (d, f, v) = (cfg.d_model, cfg.d_ff, cfg.n_vocab);
    let (qd, kvd) = (cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim);
    let matrix = |rows, cols| Kind::Matrix { rows, cols };
    let mut out = vec![("token_embd.weight".to_owned(), matrix(v, d))];
    if !cfg.tied_embeddings {
        out.push(("output.weight".to_owned(), matrix(v, d)));
    }
    out.push(("output_norm.weight".to_owned(), Kind::Vector { n: d }));
    for i in 0..cfg.n_layer {
        let mut layer = |s: &str, kind| out.push((format!("blk.{i}.{s}"), kind));
        layer("attn_norm.weight", Kind::Vector { n: d });
        layer("attn_q.weight", matrix(qd, d));
        layer("attn_k.weight", matrix(kvd, d));
        layer("attn_v.weight", matrix(kvd, d));
        if cfg.qkv_bias {
            layer("attn_q.bias", Kind::ActVector { n: qd });
            layer("attn_k.bias", Kind::ActVector { n: kvd });
            layer("attn_v.bias", Kind::ActVector { n: kvd });
        }
        if cfg.qk_norm {
            layer("attn_q_norm.weight", Kind::Vector { n: cfg.head_dim });
            layer("attn_k_norm.weight", Kind::Vector { n: cfg.head_dim });
        }
        layer("attn_output.weight", matrix(d, qd));
        if cfg.post_norms {
            layer("post_attention_norm.weight", Kind::Vector { n: d });
        }
        layer("ffn_norm.weight", Kind::Vector { n: d });
        layer("ffn_gate.weight", matrix(f, d));
        layer("ffn_up.weight", matrix(f, d));
        layer("ffn_down.weight", matrix(d, f));
        if cfg.post_norms {
            layer("post_ffw_norm.weight", Kind::Vector { n: d });
        }
    }
    out
}

/// Every tensor `cfg` needs, by GGUF name, with the dimensions it must have (innermost
/// first, as GGUF lists them): what a file of this architecture must hold.
pub fn tensor_shapes(cfg: &ModelConfig) -> Vec<(String, Vec<u64>)> {
    wanted_tensors(cfg).into_iter().map(|(name, kind)| (name, kind.dims())).collect()
}

/// Tensors multiplied by the same input, stacked into one weight where their types match
/// (see [`GpuWeight::allocate_stacked`]): per layer q, k, v and gate, up.
fn stack_groups(cfg: &ModelConfig) -> Vec<Vec<String>> {
    (0..cfg.n_layer)
        .flat_map(|i| {
            let n = move |s: &str| format!("blk.{i}.{s}.weight");
            [vec![n("attn_q"), n("attn_k"), n("attn_v")], vec![n("ffn_gate"), n("ffn_up")]]
        })
        .collect()
}

/// A tensor's place on the GPU.
enum Slot {
    /// One part of the weight `Slots::matrices[stack]` (its rows: [`GpuWeight::part`]).
    Matrix {
        stack: String,
    },
    Vector(Option<wgpu::Buffer>),
}

/// The GPU buffers of a load, by tensor name, filled as the data streams in.
struct Slots {
    tensors: HashMap<String, Slot>,
    /// Weights by the name of their first tensor.
    matrices: HashMap<String, GpuWeight>,
}

impl Slots {
    fn matrix(&mut self, name: &str) -> Result<GpuWeight, LoadError> {
        self.matrices.remove(name).ok_or_else(|| LoadError::Missing(name.to_owned()))
    }

    /// The weights holding `names`, in order (each stack once).
    fn stacked(&mut self, names: &[String]) -> Result<Vec<GpuWeight>, LoadError> {
        let mut out: Vec<GpuWeight> = Vec::new();
        for name in names {
            let Some(Slot::Matrix { stack, .. }) = self.tensors.get(name) else {
                return Err(LoadError::Missing(name.clone()));
            };
            if out.last().is_none_or(|w| w.part(name).is_none()) {
                out.push(self.matrix(&stack.clone())?);
            }
        }
        Ok(out)
    }

    fn vector(&mut self, name: &str) -> Result<wgpu::Buffer, LoadError> {
        match self.tensors.remove(name) {
            Some(Slot::Vector(Some(b))) => Ok(b),
            _ => Err(LoadError::Missing(name.to_owned())),
        }
    }
}

/// Checks `t` against what the architecture expects of it, innermost dimension first.
fn check_shape(t: &TensorInfo, expected: &[u64]) -> Result<(), LoadError> {
    if t.dims != expected {
        return Err(LoadError::Shape { name: t.name.clone(), found: t.dims.clone(), expected: expected.to_vec() });
    }
    Ok(())
}

/// Uploads every weight `cfg` needs as it streams from `reader` (positioned after the header),
/// in file order, a bounded chunk at a time. All GPU buffers are allocated (and so checked
/// against the device's limits) before the first byte of tensor data is read.
pub async fn load_weights<S: Source>(
    ctx: &GpuContext,
    gguf: &Gguf,
    cfg: &ModelConfig,
    act_f16: bool,
    reader: &mut Reader<S>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ModelWeights, LoadError> {
    let wanted = wanted_tensors(cfg);
    let mut slots = Slots { tensors: HashMap::with_capacity(wanted.len()), matrices: HashMap::new() };
    let mut kinds = HashMap::with_capacity(wanted.len());
    for (name, kind) in &wanted {
        let t = gguf.tensor(name).ok_or_else(|| LoadError::Missing(name.clone()))?;
        check_shape(t, &kind.dims())?;
        kinds.insert(name.as_str(), *kind);
    }
    // Stacks: runs of tensors of a group with the same type and an even number of rows.
    let mut stacks: Vec<Vec<&TensorInfo>> = Vec::new();
    let mut grouped = std::collections::HashSet::new();
    for group in stack_groups(cfg) {
        let mut run: Vec<&TensorInfo> = Vec::new();
        for name in &group {
            let t = gguf.tensor(name).ok_or_else(|| LoadError::Missing(name.clone()))?;
            let stackable = |t: &TensorInfo| t.dims.get(1).is_some_and(|r| r % 2 == 0);
            if run.last().is_some_and(|last| last.ty != t.ty || !stackable(last) || !stackable(t)) {
                stacks.push(std::mem::take(&mut run));
            }
            run.push(t);
            grouped.insert(name.clone());
        }
        stacks.push(run);
    }
    stacks.extend(
        wanted
            .iter()
            .filter(|(name, kind)| matches!(kind, Kind::Matrix { .. }) && !grouped.contains(name))
            .filter_map(|(name, _)| gguf.tensor(name))
            .map(|t| vec![t]),
    );
    for stack in stacks {
        let Some(first) = stack.first() else { continue };
        let parts: Vec<(&str, u64)> = stack.iter().map(|t| (t.name.as_str(), t.dims[1])).collect();
        let w = GpuWeight::allocate_stacked(ctx, &parts, first.ty, first.dims[0])?;
        for p in &w.parts {
            slots.tensors.insert(p.name.clone(), Slot::Matrix { stack: first.name.clone() });
        }
        slots.matrices.insert(first.name.clone(), w);
    }
    for (name, kind) in &wanted {
        let Some(t) = gguf.tensor(name) else { continue };
        let slot = match *kind {
            Kind::Matrix { .. } => continue,
            Kind::Vector { .. } | Kind::ActVector { .. } => {
                if !quant::is_supported(t.ty) {
                    return Err(LoadError::Quant { name: name.clone(), source: QuantError::Unsupported(t.ty) });
                }
                if t.n_bytes > MAX_VECTOR_BYTES {
                    return Err(LoadError::Read {
                        name: name.clone(),
                        why: format!("a vector of {} bytes", t.n_bytes),
                    });
                }
                Slot::Vector(None)
            }
        };
        slots.tensors.insert(name.clone(), slot);
    }

    // Stream the tensors in file order.
    let mut order: Vec<&TensorInfo> = gguf.tensors().iter().filter(|t| kinds.contains_key(t.name.as_str())).collect();
    order.sort_by_key(|t| t.offset);
    let total: u64 = order.iter().map(|t| t.n_bytes).sum();
    let (mut done, mut in_flight) = (0u64, 0u64);
    let mut chunk: Vec<u8> = Vec::new();
    let mut scales = Vec::new();
    for t in order {
        let read_err = |e: SourceError| LoadError::Source { name: t.name.clone(), source: e };
        reader.skip_to(gguf.tensor_range(t).start).await.map_err(read_err)?;
        match slots.tensors.get_mut(&t.name) {
            Some(Slot::Matrix { stack }) => {
                let w = &slots.matrices[stack.as_str()];
                let (first_row, rows) = w.part(&t.name).map_or((0, 0), |p| (p.first_row, p.rows));
                let row_bytes = w.row_bytes();
                if row_bytes > UPLOAD_CHUNK as u64 / 2 {
                    return Err(LoadError::Read {
                        name: t.name.clone(),
                        why: format!("rows of {row_bytes} bytes are larger than hearth uploads at once"),
                    });
                }
                // An even number of rows per chunk keeps split scales on whole words.
                let rows_per_chunk = ((UPLOAD_CHUNK as u64 / row_bytes) & !1) as u32;
                let mut row = first_row;
                while row < first_row + rows {
                    let n = rows_per_chunk.min(w.page_end(row) - row).min(first_row + rows - row);
                    let len = (u64::from(n) * row_bytes) as usize;
                    chunk.resize(len, 0);
                    reader.read_exact(&mut chunk).await.map_err(read_err)?;
                    w.write_rows(ctx, row, &mut chunk, &mut scales)?;
                    row += n;
                    (done, in_flight) = (done + len as u64, in_flight + len as u64);
                    progress(done, total);
                    if in_flight >= UPLOAD_IN_FLIGHT {
                        ctx.idle().await.map_err(WeightError::from)?;
                        in_flight = 0;
                    }
                }
            }
            Some(Slot::Vector(slot)) => {
                let mut data = vec![0u8; t.n_bytes as usize];
                reader.read_exact(&mut data).await.map_err(read_err)?;
                let n = t.n_elements() as usize;
                let v = quant::dequantize_to_vec(t.ty, &data, n)
                    .map_err(|source| LoadError::Quant { name: t.name.clone(), source })?;
                let bytes: Vec<u8> = match kinds.get(t.name.as_str()) {
                    Some(Kind::ActVector { .. }) if act_f16 => {
                        v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
                    }
                    _ => bytemuck::cast_slice(&v).to_vec(),
                };
                *slot = Some(ctx.upload(&bytes, &t.name));
                done += t.n_bytes;
                progress(done, total);
            }
            None => {}
        }
    }
    ctx.idle().await.map_err(WeightError::from)?;

    // Assemble the model from the filled slots.
    let token_embd = slots.matrix("token_embd.weight")?;
    let output = if cfg.tied_embeddings { None } else { Some(slots.matrix("output.weight")?) };
    let output_norm = slots.vector("output_norm.weight")?;
    let mut layers = Vec::with_capacity(cfg.n_layer as usize);
    for i in 0..cfg.n_layer {
        let n = |s: &str| format!("blk.{i}.{s}.weight");
        let bias = |s: &str| format!("blk.{i}.{s}.bias");
        layers.push(LayerWeights {
            attn_norm: slots.vector(&n("attn_norm"))?,
            qkv: slots.stacked(&[n("attn_q"), n("attn_k"), n("attn_v")])?,
            qkv_bias: if cfg.qkv_bias {
                Some([slots.vector(&bias("attn_q"))?, slots.vector(&bias("attn_k"))?, slots.vector(&bias("attn_v"))?])
            } else {
                None
            },
            qk_norm: if cfg.qk_norm {
                Some([slots.vector(&n("attn_q_norm"))?, slots.vector(&n("attn_k_norm"))?])
            } else {
                None
            },
            wo: slots.matrix(&n("attn_output"))?,
            post_attn_norm: if cfg.post_norms { Some(slots.vector(&n("post_attention_norm"))?) } else { None },
            ffn_norm: slots.vector(&n("ffn_norm"))?,
            gate_up: slots.stacked(&[n("ffn_gate"), n("ffn_up")])?,
            down: slots.matrix(&n("ffn_down"))?,
            post_ffn_norm: if cfg.post_norms { Some(slots.vector(&n("post_ffw_norm"))?) } else { None },
        });
    }
    Ok(ModelWeights { token_embd, output_norm, output, layers, n_bytes: done })
}

/// Types of the matrices of a file, for error messages about unsupported quantizations.
pub fn matrix_types(gguf: &Gguf) -> Vec<GgmlType> {
    let mut t: Vec<GgmlType> = gguf.tensors().iter().filter(|t| t.dims.len() == 2).map(|t| t.ty).collect();
    t.sort();
    t.dedup();
    t
}
