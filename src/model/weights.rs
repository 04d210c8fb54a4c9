//! Model weights: GGUF tensors mapped by name onto GPU buffers, with shape checks, and the
//! tensor map of every family (which tensors a file of a configuration must hold, and how
//! they are multiplied together).

use std::collections::HashMap;

use crate::gguf::{GgmlType, Gguf, TensorInfo};
use crate::gpu::{GpuContext, GpuWeight, WeightError};
use crate::kernels::{Norm, NormKind};
use crate::quant::{self, QuantError};
use crate::source::{Reader, Source, SourceError};

use super::family::{BlockShape, Positions};
use super::{ModelConfig, QkvBias, RopeFactors};

/// Why weights could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// A tensor the architecture needs is absent.
    #[error("tensor '{0}' is missing from the file")]
    Missing(String),
    /// A tensor the architecture does not use: running without it would compute something
    /// else than the model.
    #[error("{0}")]
    Unexpected(UnexpectedTensor),
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

/// A tensor of the file that the model's architecture does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the file has a tensor '{name}' that hearth's {arch} does not use: running without it would not be this model (it may be a variant hearth does not run yet)"
)]
pub struct UnexpectedTensor {
    /// The tensor.
    pub name: String,
    /// The architecture.
    pub arch: String,
}

/// Tensors llama.cpp loads for these families but never uses to generate text, so a file may
/// hold them and still be the model: (architecture, tensor, why).
pub const IGNORED_TENSORS: [(&str, &str, &str); 3] = [
    ("qwen3", "cls.output.weight", "a reranker's classification head, used only to score documents"),
    ("gemma3", "dense_2.weight", "EmbeddingGemma's projection after pooling, used only for sentence embeddings"),
    ("gemma3", "dense_3.weight", "EmbeddingGemma's projection after pooling, used only for sentence embeddings"),
];

/// A norm's weights on the GPU: `(n,)` f32, or for LayerNorm `(2n,)`: the weight, then the
/// bias.
pub struct NormWeights {
    /// The f32 values.
    pub buffer: wgpu::Buffer,
    /// RMSNorm or LayerNorm.
    pub kind: NormKind,
}

impl NormWeights {
    /// This norm as the kernels take it.
    pub fn norm(&self, eps: f32) -> Norm<'_> {
        Norm { weights: &self.buffer, kind: self.kind, eps }
    }
}

/// One transformer block's weights. Matrices are (rows = out features, cols = in features);
/// a bias, when the model has one, is part of its matrix ([`GpuWeight::bias`]).
pub struct LayerWeights {
    /// (D,) the input norm of attention (and, in a parallel block, of the FFN).
    pub attn_norm: NormWeights,
    /// (D,) Falcon-40B: attention's own norm, next to `attn_norm` for the FFN.
    pub attn_norm_2: Option<NormWeights>,
    /// Q (H·hd, D), K and V (KV·hd, D): one to three weights whose parts are q, k, v in order
    /// (one fused tensor, or three stacked by rows where their types match); with an output
    /// gate (Qwen3.5) the parts are q, gate, k, v, the file's queries and gates interleaved by
    /// head taken apart as they upload. In a conv layer, its input projection (3D, D): one
    /// weight whose parts are b, c, x. In a delta net, `attn_qkv` and `attn_gate`, then
    /// `ssm_beta` and `ssm_alpha`, each pair stacked where their types match: parts qkv, z,
    /// beta, alpha.
    pub qkv: Vec<GpuWeight>,
    /// (channels, taps) f32: the convolution's kernel of a conv layer (LFM2) or a delta net
    /// (Qwen3.5), None in an attention layer.
    pub conv: Option<wgpu::Buffer>,
    /// A delta net's vectors (Qwen3.5), None in other layers.
    pub delta: Option<DeltaNetWeights>,
    /// (hd,) f32 norms of Q and K heads (qwen3, gemma3).
    pub qk_norm: Option<[wgpu::Buffer; 2]>,
    /// (D, H·hd); a conv layer's output projection (D, D); a delta net's (D, inner).
    pub wo: GpuWeight,
    /// (D,) f32 norm of the attention output (gemma3).
    pub post_attn_norm: Option<wgpu::Buffer>,
    /// (D,) the FFN's input norm (none in parallel blocks: the FFN takes `attn_norm`).
    pub ffn_norm: Option<NormWeights>,
    /// The FFN's input projections: gate and up (F, D) of a gated FFN (one fused tensor, or
    /// two stacked where their types match: one or two weights whose parts are gate, up), or
    /// up alone for a plain FFN.
    pub ffn_in: Vec<GpuWeight>,
    /// (D, F)
    pub down: GpuWeight,
    /// (D,) f32 norm of the FFN output (gemma3).
    pub post_ffn_norm: Option<wgpu::Buffer>,
    /// Gemma 4's per-layer input projections, where the model has per-layer embeddings.
    pub per_layer: Option<PerLayerWeights>,
    /// (1,) f32 the scalar the layer's output is multiplied by (Gemma 4).
    pub out_scale: Option<wgpu::Buffer>,
}

/// One layer's share of Gemma 4's per-layer embeddings: x += rms_norm((gelu(x W_gate^T) ·
/// inputs[l]) W_proj^T) · post_norm.
pub struct PerLayerWeights {
    /// (P, D) `inp_gate`.
    pub gate: GpuWeight,
    /// (D, P) `proj`.
    pub proj: GpuWeight,
    /// (D,) f32 `post_norm`.
    pub post_norm: wgpu::Buffer,
}

/// Gemma 4's per-layer token embeddings and their projection from the token embedding: the
/// inputs (T, L, P) = (rms_norm(x0 W_proj^T / sqrt(D)) · norm + table[tokens] · sqrt(P)) /
/// sqrt(2), from the scaled embedding x0.
pub struct PerLayerEmbeddings {
    /// (V, L·P) `per_layer_token_embd`.
    pub table: GpuWeight,
    /// (L·P, D) `per_layer_model_proj`.
    pub proj: GpuWeight,
    /// (P,) f32 `per_layer_proj_norm`.
    pub norm: wgpu::Buffer,
}

/// The vectors of a delta-net layer (Qwen3.5), f32.
pub struct DeltaNetWeights {
    /// (n_v_heads,) `ssm_dt.bias`.
    pub dt_bias: wgpu::Buffer,
    /// (n_v_heads,) `ssm_a`: -exp(A_log), as the converter writes it.
    pub a: wgpu::Buffer,
    /// (head_dim,) `ssm_norm.weight`: the gated output norm's weight.
    pub norm: wgpu::Buffer,
}

/// RoPE factor tables read from the file (per rotated pair), kept on the host: the rope table
/// is made from them for the context a load asks for.
#[derive(Clone, Debug, Default)]
pub struct RopeFactorTables {
    /// Llama 3.x's `rope_freqs`.
    pub freqs: Option<Vec<f32>>,
    /// longrope's table for long contexts.
    pub long: Option<Vec<f32>>,
    /// longrope's table for contexts up to the original one.
    pub short: Option<Vec<f32>>,
}

impl RopeFactorTables {
    /// The factors a context of `n_ctx` positions uses (llama.cpp's choice: `rope_freqs`
    /// when present, else the long table past the original context, else the short one).
    pub fn for_context(&self, cfg: &ModelConfig, n_ctx: u32) -> Option<&[f32]> {
        let long_short = if cfg.long_rope(n_ctx) { &self.long } else { &self.short };
        self.freqs.as_deref().or(long_short.as_deref())
    }
}

/// All weights of a model.
pub struct ModelWeights {
    /// (V, D) token embeddings.
    pub token_embd: GpuWeight,
    /// (n_ctx_train, D) learned position embeddings (gpt2).
    pub position_embd: Option<GpuWeight>,
    /// (D,) the norm on the embeddings (bloom).
    pub embd_norm: Option<NormWeights>,
    /// (D,) final norm.
    pub output_norm: NormWeights,
    /// (V, D) LM head, or `None` when tied to `token_embd`.
    pub output: Option<GpuWeight>,
    /// Gemma 4's per-layer token embeddings, where the model has them.
    pub per_layer_embd: Option<PerLayerEmbeddings>,
    /// Blocks in order.
    pub layers: Vec<LayerWeights>,
    /// RoPE factor tables.
    pub rope_factors: RopeFactorTables,
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

/// Largest vector (norm weight, bias, factor table) read whole.
pub(super) const MAX_VECTOR_BYTES: u64 = 16 << 20;

/// What the architecture makes of a tensor.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    /// A weight matrix of `rows` × `cols`, for the matrix kernels.
    Matrix { rows: u32, cols: u32 },
    /// A vector read as f32 and uploaded (norm weights and biases).
    Vector { n: u32 },
    /// A vector read as f32 and kept on the host (RoPE factor tables).
    HostVector { n: u32 },
    /// A small matrix read as f32 and uploaded whole: `outer` rows of `inner` (a conv layer's
    /// taps per channel).
    Table { inner: u32, outer: u32 },
}

impl Kind {
    /// The dimensions a tensor of this kind has in a file, innermost first.
    pub(super) fn dims(self) -> Vec<u64> {
        match self {
            Kind::Matrix { rows, cols } => vec![u64::from(cols), u64::from(rows)],
            Kind::Vector { n } | Kind::HostVector { n } => vec![u64::from(n)],
            Kind::Table { inner, outer } => vec![u64::from(inner), u64::from(outer)],
        }
    }
}

/// A layer tensor's name.
fn blk(i: u32, s: &str) -> String {
    format!("blk.{i}.{s}")
}

/// Every tensor `cfg` needs, by GGUF name: the tensor map of every family, its optional parts
/// as the file has them ([`super::TensorLayout`]).
pub(super) fn wanted_tensors(cfg: &ModelConfig) -> Vec<(String, Kind)> {
    let (d, v) = (cfg.d_model, cfg.n_vocab);
    let (fam, lay) = (&cfg.family, &cfg.layout);
    let layer_norm = fam.norm == NormKind::Layer;
    let matrix = |rows, cols| Kind::Matrix { rows, cols };
    let vector = |n| Kind::Vector { n };
    let mut out = vec![("token_embd.weight".to_owned(), matrix(v, d))];
    let norm = |out: &mut Vec<(String, Kind)>, name: String| {
        if layer_norm {
            out.push((name.replace(".weight", ".bias"), vector(d)));
        }
        out.push((name, vector(d)));
    };
    if fam.positions == Positions::Learned {
        out.push(("position_embd.weight".to_owned(), matrix(cfg.n_ctx_train, d)));
    }
    if fam.embed_norm {
        norm(&mut out, "token_embd_norm.weight".to_owned());
    }
    if !cfg.tied_embeddings {
        out.push(("output.weight".to_owned(), matrix(v, d)));
    }
    if lay.output_bias {
        out.push(("output.bias".to_owned(), vector(v)));
    }
    norm(&mut out, format!("{}.weight", fam.output_norm));
    let pl = cfg.per_layer_dim;
    if pl > 0 {
        out.push(("per_layer_token_embd.weight".to_owned(), matrix(v, pl * cfg.n_layer)));
        out.push(("per_layer_model_proj.weight".to_owned(), matrix(pl * cfg.n_layer, d)));
        out.push(("per_layer_proj_norm.weight".to_owned(), vector(pl)));
    }
    let half_rot = cfg.rope_dims / 2;
    match lay.rope_factors {
        RopeFactors::None => {}
        RopeFactors::Freqs => out.push(("rope_freqs.weight".to_owned(), Kind::HostVector { n: half_rot })),
        RopeFactors::LongShort => {
            for t in ["rope_factors_long.weight", "rope_factors_short.weight"] {
                out.push((t.to_owned(), Kind::HostVector { n: half_rot }));
            }
        }
    }
    for i in 0..cfg.n_layer {
        let ((qd, kvd), f) = (cfg.qkv_widths(i), cfg.ff_width(i));
        let head_dim = cfg.attn_dims(i).head_dim;
        // Queries and, with an output gate, one gate per query.
        let q_rows = if fam.attn_output_gate { 2 * qd } else { qd };
        let own_kv = cfg.has_own_kv(i);
        let mut layer = |s: &str, kind| out.push((blk(i, s), kind));
        if cfg.is_conv_layer(i) {
            layer("shortconv.in_proj.weight", matrix(3 * d, d));
            layer("shortconv.conv.weight", Kind::Table { inner: cfg.conv_taps, outer: d });
            layer("shortconv.out_proj.weight", matrix(d, d));
        } else if let Some(dn) = cfg.delta_net.filter(|_| cfg.is_delta_layer(i)) {
            let (channels, inner, hv) = (dn.conv_channels(), dn.inner(), dn.n_v_heads);
            layer("attn_qkv.weight", matrix(channels, d));
            layer("attn_gate.weight", matrix(inner, d));
            layer("ssm_beta.weight", matrix(hv, d));
            layer("ssm_alpha.weight", matrix(hv, d));
            layer("ssm_conv1d.weight", Kind::Table { inner: cfg.conv_taps, outer: channels });
            layer("ssm_dt.bias", vector(hv));
            layer("ssm_a", vector(hv));
            layer("ssm_norm.weight", vector(dn.head_dim));
            layer("ssm_out.weight", matrix(d, inner));
        } else if lay.fused_qkv {
            layer("attn_qkv.weight", matrix(qd + 2 * kvd, d));
        } else {
            layer("attn_q.weight", matrix(q_rows, d));
            if own_kv {
                layer("attn_k.weight", matrix(kvd, d));
                layer("attn_v.weight", matrix(kvd, d));
            }
        }
        let attention = cfg.is_attention_layer(i);
        match lay.qkv_bias.filter(|_| attention) {
            Some(QkvBias::Fused) => layer("attn_qkv.bias", vector(qd + 2 * kvd)),
            Some(QkvBias::Split) => {
                layer("attn_q.bias", vector(qd));
                layer("attn_k.bias", vector(kvd));
                layer("attn_v.bias", vector(kvd));
            }
            None => {}
        }
        if fam.qk_norm && attention {
            layer("attn_q_norm.weight", vector(head_dim));
            if own_kv {
                layer("attn_k_norm.weight", vector(head_dim));
            }
        }
        if attention {
            layer("attn_output.weight", matrix(d, qd));
        }
        if lay.attn_out_bias && attention {
            layer("attn_output.bias", vector(d));
        }
        if fam.post_norms {
            layer("post_attention_norm.weight", vector(d));
            layer("post_ffw_norm.weight", vector(d));
        }
        if lay.fused_gate_up {
            layer("ffn_up.weight", matrix(2 * f, d));
        } else {
            if fam.gated_ffn {
                layer("ffn_gate.weight", matrix(f, d));
            }
            layer("ffn_up.weight", matrix(f, d));
        }
        if lay.ffn_gate_bias {
            layer("ffn_gate.bias", vector(f));
        }
        if lay.ffn_up_bias {
            layer("ffn_up.bias", vector(if lay.fused_gate_up { 2 * f } else { f }));
        }
        layer("ffn_down.weight", matrix(d, f));
        if lay.ffn_down_bias {
            layer("ffn_down.bias", vector(d));
        }
        norm(&mut out, blk(i, "attn_norm.weight"));
        if lay.attn_norm_2 {
            norm(&mut out, blk(i, "attn_norm_2.weight"));
        }
        if fam.block == BlockShape::Sequential {
            norm(&mut out, blk(i, &format!("{}.weight", fam.ffn_norm)));
        }
        if pl > 0 {
            out.push((blk(i, "inp_gate.weight"), matrix(pl, d)));
            out.push((blk(i, "proj.weight"), matrix(d, pl)));
            out.push((blk(i, "post_norm.weight"), vector(d)));
        }
        if lay.layer_output_scale {
            out.push((blk(i, "layer_output_scale.weight"), vector(1)));
        }
    }
    out
}

/// Every tensor `cfg` needs, by GGUF name, with the dimensions it must have (innermost
/// first, as GGUF lists them): what a file of this architecture must hold.
pub fn tensor_shapes(cfg: &ModelConfig) -> Vec<(String, Vec<u64>)> {
    wanted_tensors(cfg).into_iter().map(|(name, kind)| (name, kind.dims())).collect()
}

/// The first tensor of `gguf` that `cfg`'s architecture does not read (and that llama.cpp
/// does not ignore either, [`IGNORED_TENSORS`]).
pub fn unexpected_tensor(gguf: &Gguf, cfg: &ModelConfig) -> Option<UnexpectedTensor> {
    let wanted: std::collections::HashSet<String> = wanted_tensors(cfg).into_iter().map(|(n, _)| n).collect();
    let ignored = |name: &str| IGNORED_TENSORS.iter().any(|&(arch, t, _)| arch == cfg.arch && t == name);
    gguf.tensors()
        .iter()
        .find(|t| !wanted.contains(&t.name) && !ignored(&t.name))
        .map(|t| UnexpectedTensor { name: t.name.clone(), arch: cfg.arch.clone() })
}

/// One weight of the GPU: the tensors whose rows it holds and the parts it writes to separate
/// outputs.
pub(super) struct PlannedWeight {
    /// The file's tensors and the first row of each in the weight.
    pub(super) tensors: Vec<(String, u32)>,
    /// Output parts (name, rows), in row order.
    pub(super) parts: Vec<(String, u64)>,
    /// Bias tensors of the parts in row order (a part without one gets zeros; one tensor may
    /// cover all parts of a fused weight), empty for none.
    pub(super) biases: Vec<Option<String>>,
    /// Whether the parts are one fused tensor of any row counts.
    fused: bool,
    /// A tensor of the weight whose rows interleave two parts by head, and the rows of each
    /// part per head: Qwen3.5's queries and output gates in `attn_q`, (q, gate) per head, which
    /// upload as a q part then a gate part.
    pub(super) interleaved: Option<(String, u32)>,
}

/// How the matrices of `cfg` become GPU weights: Q/K/V and gate/up multiplied by one input
/// are stacked into one weight where their types match (or are one fused tensor already).
pub(super) fn weight_plan(gguf: &Gguf, cfg: &ModelConfig) -> Result<Vec<PlannedWeight>, LoadError> {
    let lay = &cfg.layout;
    let tensor = |name: &str| gguf.tensor(name).ok_or_else(|| LoadError::Missing(name.to_owned()));
    let single = |name: String, bias: Option<String>| PlannedWeight {
        tensors: vec![(name.clone(), 0)],
        parts: vec![(name, 0)],
        biases: vec![bias],
        fused: false,
        interleaved: None,
    };
    // Runs of tensors with the same type and an even number of rows, stacked.
    let stacks = |names: Vec<(String, Option<String>)>| -> Result<Vec<PlannedWeight>, LoadError> {
        let mut out: Vec<PlannedWeight> = Vec::new();
        let mut last: Option<&TensorInfo> = None;
        for (name, bias) in names {
            let t = tensor(&name)?;
            let stackable = |t: &TensorInfo| t.dims.get(1).is_some_and(|r| r % 2 == 0);
            let joins = last.is_some_and(|l| l.ty == t.ty && stackable(l) && stackable(t));
            let rows = t.dims.get(1).copied().unwrap_or(0);
            match out.last_mut() {
                Some(w) if joins => {
                    let first = w.parts.iter().map(|p| p.1).sum::<u64>() as u32;
                    w.tensors.push((name.clone(), first));
                    w.parts.push((name, rows));
                    w.biases.push(bias);
                }
                _ => out.push(PlannedWeight {
                    tensors: vec![(name.clone(), 0)],
                    parts: vec![(name, rows)],
                    biases: vec![bias],
                    fused: false,
                    interleaved: None,
                }),
            }
            last = Some(t);
        }
        Ok(out)
    };
    // The head's bias goes with the head: the token table when tied (the embedding gather does
    // not add it).
    let head_bias = || lay.output_bias.then(|| "output.bias".to_owned());
    let mut plan = vec![single("token_embd.weight".into(), if cfg.tied_embeddings { head_bias() } else { None })];
    if cfg.family.positions == Positions::Learned {
        plan.push(single("position_embd.weight".into(), None));
    }
    if !cfg.tied_embeddings {
        plan.push(single("output.weight".into(), head_bias()));
    }
    if cfg.per_layer_dim > 0 {
        plan.push(single("per_layer_token_embd.weight".into(), None));
        plan.push(single("per_layer_model_proj.weight".into(), None));
    }
    for i in 0..cfg.n_layer {
        let ((qd, kvd), f) = (cfg.qkv_widths(i), cfg.ff_width(i));
        let head_dim = cfg.attn_dims(i).head_dim;
        let bias = |on: bool, s: &str| on.then(|| blk(i, s));
        if cfg.is_conv_layer(i) {
            // b, c, x: each (D, D) of the input projection, in that order.
            let name = blk(i, "shortconv.in_proj.weight");
            let d = u64::from(cfg.d_model);
            plan.push(PlannedWeight {
                tensors: vec![(name.clone(), 0)],
                parts: ["b", "c", "x"].map(|p| (format!("{name}:{p}"), d)).to_vec(),
                biases: vec![],
                fused: true,
                interleaved: None,
            });
            plan.push(single(blk(i, "shortconv.out_proj.weight"), None));
        } else if cfg.is_delta_layer(i) {
            // Two stacks at most: a matrix kernel writes up to three outputs (a fourth binding
            // would pass WebGPU's 8 storage buffers per stage).
            for pair in [["attn_qkv", "attn_gate"], ["ssm_beta", "ssm_alpha"]] {
                plan.extend(stacks(pair.iter().map(|t| (blk(i, &format!("{t}.weight")), None)).collect())?);
            }
            plan.push(single(blk(i, "ssm_out.weight"), None));
        } else if lay.fused_qkv {
            let name = blk(i, "attn_qkv.weight");
            plan.push(PlannedWeight {
                tensors: vec![(name.clone(), 0)],
                parts: vec![
                    (format!("{name}:q"), qd.into()),
                    (format!("{name}:k"), kvd.into()),
                    (format!("{name}:v"), kvd.into()),
                ],
                // One fused bias covers all three parts; llama.cpp also takes three beside a
                // fused weight.
                biases: match lay.qkv_bias {
                    Some(QkvBias::Fused) => vec![Some(blk(i, "attn_qkv.bias"))],
                    Some(QkvBias::Split) => {
                        ["attn_q", "attn_k", "attn_v"].map(|t| Some(blk(i, &format!("{t}.bias")))).to_vec()
                    }
                    None => vec![],
                },
                fused: true,
                interleaved: None,
            });
        } else {
            let split = lay.qkv_bias == Some(QkvBias::Split);
            let weights = |names: &[&str]| {
                stacks(
                    names.iter().map(|t| (blk(i, &format!("{t}.weight")), bias(split, &format!("{t}.bias")))).collect(),
                )
            };
            if cfg.family.attn_output_gate {
                // attn_q's 2·H·hd rows become a q part and a gate part of H·hd each, in a weight
                // of its own (a matrix kernel writes up to three outputs).
                let mut q = weights(&["attn_q"])?;
                let name = blk(i, "attn_q.weight");
                q[0].parts = vec![(name.clone(), qd.into()), (format!("{name}:gate"), qd.into())];
                q[0].biases = vec![None, None];
                q[0].interleaved = Some((name, head_dim));
                plan.extend(q);
                plan.extend(weights(&["attn_k", "attn_v"])?);
            } else if cfg.has_own_kv(i) {
                plan.extend(weights(&["attn_q", "attn_k", "attn_v"])?);
            } else {
                plan.extend(weights(&["attn_q"])?);
            }
        }
        if cfg.is_attention_layer(i) {
            plan.push(single(blk(i, "attn_output.weight"), bias(lay.attn_out_bias, "attn_output.bias")));
        }
        if lay.fused_gate_up {
            let name = blk(i, "ffn_up.weight");
            plan.push(PlannedWeight {
                tensors: vec![(name.clone(), 0)],
                parts: vec![(format!("{name}:gate"), f.into()), (format!("{name}:up"), f.into())],
                biases: vec![bias(lay.ffn_up_bias, "ffn_up.bias")],
                fused: true,
                interleaved: None,
            });
        } else if cfg.family.gated_ffn {
            plan.extend(stacks(vec![
                (blk(i, "ffn_gate.weight"), bias(lay.ffn_gate_bias, "ffn_gate.bias")),
                (blk(i, "ffn_up.weight"), bias(lay.ffn_up_bias, "ffn_up.bias")),
            ])?);
        } else {
            plan.push(single(blk(i, "ffn_up.weight"), bias(lay.ffn_up_bias, "ffn_up.bias")));
        }
        plan.push(single(blk(i, "ffn_down.weight"), bias(lay.ffn_down_bias, "ffn_down.bias")));
        if cfg.per_layer_dim > 0 {
            plan.push(single(blk(i, "inp_gate.weight"), None));
            plan.push(single(blk(i, "proj.weight"), None));
        }
    }
    // Single tensors: their one part has all the tensor's rows.
    for w in &mut plan {
        if !w.fused && w.parts.len() == 1 {
            w.parts[0].1 = tensor(&w.tensors[0].0)?.dims.get(1).copied().unwrap_or(0);
        }
    }
    Ok(plan)
}

/// Where a matrix tensor's rows go: the weight (by its first tensor's name), the first row,
/// and for a tensor that interleaves two parts by head, the rows of each per head.
struct MatrixSlot {
    weight: String,
    first_row: u32,
    interleaved: Option<u32>,
}

impl MatrixSlot {
    /// The weight row of the tensor's row `r` of `rows`, and how many rows from there go on
    /// contiguously: an interleaved tensor's head blocks (a, b) of `n` rows each go to part a's
    /// rows and part b's (rows / 2 after it).
    fn place(&self, r: u32, rows: u32) -> (u32, u32) {
        match self.interleaved {
            None => (self.first_row + r, rows - r),
            Some(n) => {
                let (block, within) = (r / n, r % n);
                let part = (block % 2) * (rows / 2);
                (self.first_row + part + (block / 2) * n + within, n - within)
            }
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

/// Checks that `gguf` holds exactly the tensors `cfg` reads, each of the expected shape (and,
/// for vectors, a readable type and size), and returns their kinds by name.
fn check_tensors<'a>(
    gguf: &Gguf,
    cfg: &ModelConfig,
    wanted: &'a [(String, Kind)],
) -> Result<HashMap<&'a str, Kind>, LoadError> {
    let mut kinds = HashMap::with_capacity(wanted.len());
    for (name, kind) in wanted {
        let t = gguf.tensor(name).ok_or_else(|| LoadError::Missing(name.clone()))?;
        check_shape(t, &kind.dims())?;
        if !matches!(kind, Kind::Matrix { .. }) {
            if !quant::is_supported(t.ty) {
                return Err(LoadError::Quant { name: name.clone(), source: QuantError::Unsupported(t.ty) });
            }
            if t.n_bytes > MAX_VECTOR_BYTES {
                return Err(LoadError::Read { name: name.clone(), why: format!("a vector of {} bytes", t.n_bytes) });
            }
        }
        kinds.insert(name.as_str(), *kind);
    }
    if let Some(u) = unexpected_tensor(gguf, cfg) {
        return Err(LoadError::Unexpected(u));
    }
    Ok(kinds)
}

/// Uploads every weight `cfg` needs as it streams from `reader` (positioned after the header),
/// in file order, a bounded chunk at a time. All matrix buffers are allocated (and so checked
/// against the device's limits) before the first byte of tensor data is read; vectors (norms,
/// biases, factor tables: a few MiB at most) are read to the host and uploaded at the end,
/// each bias joined to its matrix.
pub async fn load_weights<S: Source>(
    ctx: &GpuContext,
    gguf: &Gguf,
    cfg: &ModelConfig,
    reader: &mut Reader<S>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ModelWeights, LoadError> {
    let wanted = wanted_tensors(cfg);
    let kinds = check_tensors(gguf, cfg, &wanted)?;
    let mut matrices: HashMap<String, GpuWeight> = HashMap::new();
    let mut slots: HashMap<String, MatrixSlot> = HashMap::new();
    let mut biases: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for w in weight_plan(gguf, cfg)? {
        let first = &w.tensors[0].0;
        let t = gguf.tensor(first).ok_or_else(|| LoadError::Missing(first.clone()))?;
        let parts: Vec<(&str, u64)> = w.parts.iter().map(|(n, r)| (n.as_str(), *r)).collect();
        let gw = if w.fused {
            GpuWeight::allocate_parts(ctx, &parts, t.ty, t.dims[0])?
        } else {
            GpuWeight::allocate_stacked(ctx, &parts, t.ty, t.dims[0])?
        };
        for (name, first_row) in &w.tensors {
            let interleaved = w.interleaved.as_ref().filter(|(t, _)| t == name).map(|&(_, n)| n);
            slots.insert(name.clone(), MatrixSlot { weight: first.clone(), first_row: *first_row, interleaved });
        }
        if w.biases.iter().any(Option::is_some) {
            biases.insert(first.clone(), w.biases);
        }
        matrices.insert(first.clone(), gw);
    }

    // Stream the tensors in file order.
    let mut order: Vec<&TensorInfo> = gguf.tensors().iter().filter(|t| kinds.contains_key(t.name.as_str())).collect();
    order.sort_by_key(|t| t.offset);
    let total: u64 = order.iter().map(|t| t.n_bytes).sum();
    let (mut done, mut in_flight) = (0u64, 0u64);
    let mut chunk: Vec<u8> = Vec::new();
    let mut scales = Vec::new();
    let mut vectors: HashMap<String, Vec<f32>> = HashMap::new();
    for t in order {
        let read_err = |e: SourceError| LoadError::Source { name: t.name.clone(), source: e };
        reader.skip_to(gguf.tensor_range(t).start).await.map_err(read_err)?;
        if let Some(slot) = slots.get(&t.name) {
            let w = &matrices[slot.weight.as_str()];
            let rows = t.dims.get(1).copied().unwrap_or(0) as u32;
            let row_bytes = w.row_bytes();
            if row_bytes > UPLOAD_CHUNK as u64 / 2 {
                return Err(LoadError::Read {
                    name: t.name.clone(),
                    why: format!("rows of {row_bytes} bytes are larger than hearth uploads at once"),
                });
            }
            // An even number of rows per chunk keeps split scales on whole words.
            let rows_per_chunk = ((UPLOAD_CHUNK as u64 / row_bytes) & !1) as u32;
            // r: the tensor's row; row: where it goes in the weight.
            let mut r = 0;
            while r < rows {
                let (row, contiguous) = slot.place(r, rows);
                let n = rows_per_chunk.min(w.page_end(row) - row).min(contiguous);
                let len = (u64::from(n) * row_bytes) as usize;
                chunk.resize(len, 0);
                reader.read_exact(&mut chunk).await.map_err(read_err)?;
                w.write_rows(ctx, row, &mut chunk, &mut scales)?;
                r += n;
                (done, in_flight) = (done + len as u64, in_flight + len as u64);
                progress(done, total);
                if in_flight >= UPLOAD_IN_FLIGHT {
                    ctx.idle().await.map_err(WeightError::from)?;
                    in_flight = 0;
                }
            }
        } else {
            let mut data = vec![0u8; t.n_bytes as usize];
            reader.read_exact(&mut data).await.map_err(read_err)?;
            let v = quant::dequantize_to_vec(t.ty, &data, t.n_elements() as usize)
                .map_err(|source| LoadError::Quant { name: t.name.clone(), source })?;
            vectors.insert(t.name.clone(), v);
            done += t.n_bytes;
            progress(done, total);
        }
    }
    ctx.idle().await.map_err(WeightError::from)?;
    assemble(ctx, cfg, matrices, biases, vectors, done)
}

/// The model from its loaded matrices and host vectors: norms and biases uploaded, biases
/// joined to their weights in row order.
fn assemble(
    ctx: &GpuContext,
    cfg: &ModelConfig,
    mut matrices: HashMap<String, GpuWeight>,
    biases: HashMap<String, Vec<Option<String>>>,
    mut vectors: HashMap<String, Vec<f32>>,
    n_bytes: u64,
) -> Result<ModelWeights, LoadError> {
    let upload = |v: &[f32], label: &str| ctx.upload(bytemuck::cast_slice(v), label);
    // Weights with their biases, joined in row order (zeros for a part without one; a fused
    // bias is the first and only name and covers every part).
    for (first, names) in &biases {
        let w = matrices.get_mut(first).ok_or_else(|| LoadError::Missing(first.clone()))?;
        let mut joined = Vec::with_capacity(w.rows as usize);
        for (name, part) in names.iter().zip(&w.parts) {
            match name {
                Some(n) => joined.extend(take(&mut vectors, n)?),
                None => joined.extend(std::iter::repeat_n(0.0, part.rows as usize)),
            }
        }
        if joined.len() != w.rows as usize {
            let why = format!("biases of {} values for {} rows", joined.len(), w.rows);
            return Err(LoadError::Read { name: first.clone(), why });
        }
        w.bias = Some(upload(&joined, &format!("{}.bias", w.name)));
    }
    let mut matrix = |name: &str| matrices.remove(name).ok_or_else(|| LoadError::Missing(name.to_owned()));
    let kind = cfg.family.norm;
    // A norm's weight, and for LayerNorm its bias after it, in one buffer.
    let norm = |vectors: &mut HashMap<String, Vec<f32>>, name: &str| -> Result<NormWeights, LoadError> {
        let mut v = take(vectors, name)?;
        if kind == NormKind::Layer {
            v.extend(take(vectors, &name.replace(".weight", ".bias"))?);
        }
        Ok(NormWeights { buffer: upload(&v, name), kind })
    };
    let vector = |vectors: &mut HashMap<String, Vec<f32>>, name: &str| take(vectors, name).map(|v| upload(&v, name));
    let (fam, lay) = (&cfg.family, &cfg.layout);
    let token_embd = matrix("token_embd.weight")?;
    let position_embd = if fam.positions == Positions::Learned { Some(matrix("position_embd.weight")?) } else { None };
    let embd_norm = if fam.embed_norm { Some(norm(&mut vectors, "token_embd_norm.weight")?) } else { None };
    let output = if cfg.tied_embeddings { None } else { Some(matrix("output.weight")?) };
    let output_norm = norm(&mut vectors, &format!("{}.weight", fam.output_norm))?;
    let per_layer_embd = if cfg.per_layer_dim > 0 {
        Some(PerLayerEmbeddings {
            table: matrix("per_layer_token_embd.weight")?,
            proj: matrix("per_layer_model_proj.weight")?,
            norm: vector(&mut vectors, "per_layer_proj_norm.weight")?,
        })
    } else {
        None
    };
    let mut layers = Vec::with_capacity(cfg.n_layer as usize);
    for i in 0..cfg.n_layer {
        let n = |s: &str| blk(i, &format!("{s}.weight"));
        let conv = cfg.is_conv_layer(i);
        let delta = cfg.is_delta_layer(i);
        let qkv = if conv {
            vec![matrix(&n("shortconv.in_proj"))?]
        } else if delta {
            stacked(&mut matrix, &[n("attn_qkv"), n("attn_gate"), n("ssm_beta"), n("ssm_alpha")])?
        } else if lay.fused_qkv {
            vec![matrix(&n("attn_qkv"))?]
        } else if cfg.has_own_kv(i) {
            stacked(&mut matrix, &[n("attn_q"), n("attn_k"), n("attn_v")])?
        } else {
            vec![matrix(&n("attn_q"))?]
        };
        let ffn_in = if lay.fused_gate_up || !fam.gated_ffn {
            vec![matrix(&n("ffn_up"))?]
        } else {
            stacked(&mut matrix, &[n("ffn_gate"), n("ffn_up")])?
        };
        let v = &mut vectors;
        let attention = cfg.is_attention_layer(i);
        layers.push(LayerWeights {
            conv: match (conv, delta) {
                (true, _) => Some(vector(v, &n("shortconv.conv"))?),
                (_, true) => Some(vector(v, &n("ssm_conv1d"))?),
                _ => None,
            },
            delta: if delta {
                Some(DeltaNetWeights {
                    dt_bias: vector(v, &blk(i, "ssm_dt.bias"))?,
                    a: vector(v, &blk(i, "ssm_a"))?,
                    norm: vector(v, &n("ssm_norm"))?,
                })
            } else {
                None
            },
            qk_norm: match (fam.qk_norm && attention, cfg.has_own_kv(i)) {
                (true, true) => Some([vector(v, &n("attn_q_norm"))?, vector(v, &n("attn_k_norm"))?]),
                // A layer reading another's cache normalizes its queries alone.
                (true, false) => {
                    let q = vector(v, &n("attn_q_norm"))?;
                    Some([q.clone(), q])
                }
                (false, _) => None,
            },
            per_layer: if cfg.per_layer_dim > 0 {
                Some(PerLayerWeights {
                    gate: matrix(&n("inp_gate"))?,
                    proj: matrix(&n("proj"))?,
                    post_norm: vector(v, &n("post_norm"))?,
                })
            } else {
                None
            },
            out_scale: if lay.layer_output_scale { Some(vector(v, &n("layer_output_scale"))?) } else { None },
            post_attn_norm: if fam.post_norms { Some(vector(v, &n("post_attention_norm"))?) } else { None },
            post_ffn_norm: if fam.post_norms { Some(vector(v, &n("post_ffw_norm"))?) } else { None },
            attn_norm: norm(v, &n("attn_norm"))?,
            attn_norm_2: if lay.attn_norm_2 { Some(norm(v, &n("attn_norm_2"))?) } else { None },
            qkv,
            wo: matrix(&n(match (conv, delta) {
                (true, _) => "shortconv.out_proj",
                (_, true) => "ssm_out",
                _ => "attn_output",
            }))?,
            ffn_norm: if fam.block == BlockShape::Sequential { Some(norm(v, &n(fam.ffn_norm))?) } else { None },
            ffn_in,
            down: matrix(&n("ffn_down"))?,
        });
    }
    let rope_factors = RopeFactorTables {
        freqs: vectors.remove("rope_freqs.weight"),
        long: vectors.remove("rope_factors_long.weight"),
        short: vectors.remove("rope_factors_short.weight"),
    };
    // Every tensor read has a use: one left here would be silently dropped.
    if let Some(name) = vectors.keys().chain(matrices.keys()).next() {
        return Err(LoadError::Read {
            name: name.clone(),
            why: "read but not used (hearth's tensor map is wrong)".into(),
        });
    }
    Ok(ModelWeights {
        token_embd,
        position_embd,
        embd_norm,
        output_norm,
        output,
        per_layer_embd,
        layers,
        rope_factors,
        n_bytes,
    })
}

/// Takes a host vector read from the file.
fn take(vectors: &mut HashMap<String, Vec<f32>>, name: &str) -> Result<Vec<f32>, LoadError> {
    vectors.remove(name).ok_or_else(|| LoadError::Missing(name.to_owned()))
}

/// The weights holding tensors `names` in order (each stack once: a stack is keyed by its
/// first tensor).
fn stacked(
    matrix: &mut impl FnMut(&str) -> Result<GpuWeight, LoadError>,
    names: &[String],
) -> Result<Vec<GpuWeight>, LoadError> {
    let mut out: Vec<GpuWeight> = Vec::new();
    for name in names {
        if out.last().is_none_or(|w| w.part(name).is_none()) {
            out.push(matrix(name)?);
        }
    }
    Ok(out)
}

/// Types of the matrices of a file, for error messages about unsupported quantizations.
pub fn matrix_types(gguf: &Gguf) -> Vec<GgmlType> {
    let mut t: Vec<GgmlType> = gguf.tensors().iter().filter(|t| t.dims.len() == 2).map(|t| t.ty).collect();
    t.sort();
    t.dedup();
    t
}
