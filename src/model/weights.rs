//! Model weights: GGUF tensors mapped by name onto GPU buffers, with shape checks.

use std::ops::Range;

use crate::gguf::{GgmlType, Gguf, TensorInfo};
use crate::gpu::{GpuContext, GpuWeight, WeightError};
use crate::quant::{self, QuantError};

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
    /// Reading tensor data failed.
    #[error("reading tensor '{name}': {why}")]
    Read {
        /// The tensor.
        name: String,
        /// Why.
        why: String,
    },
}

/// Where tensor bytes come from: a file natively, storage in the browser.
pub trait TensorSource {
    /// The bytes at `range` of the file.
    fn read(&mut self, range: Range<u64>) -> Result<Vec<u8>, String>;
}

impl<R: std::io::Read + std::io::Seek> TensorSource for R {
    fn read(&mut self, range: Range<u64>) -> Result<Vec<u8>, String> {
        self.seek(std::io::SeekFrom::Start(range.start)).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; (range.end - range.start) as usize];
        self.read_exact(&mut buf).map_err(|e| e.to_string())?;
        Ok(buf)
    }
}

/// One transformer block's weights. Matrices are (rows = out features, cols = in features).
pub struct LayerWeights {
    /// (D,) f32
    pub attn_norm: wgpu::Buffer,
    /// (H·hd, D)
    pub wq: GpuWeight,
    /// (KV·hd, D)
    pub wk: GpuWeight,
    /// (KV·hd, D)
    pub wv: GpuWeight,
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
    /// (F, D)
    pub gate: GpuWeight,
    /// (F, D)
    pub up: GpuWeight,
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

/// Loads tensors one at a time, reporting progress as (bytes done, bytes total).
pub struct Loader<'a> {
    ctx: &'a GpuContext,
    gguf: &'a Gguf,
    source: &'a mut dyn TensorSource,
    progress: &'a mut dyn FnMut(u64, u64),
    act_f16: bool,
    done: u64,
    total: u64,
}

impl<'a> Loader<'a> {
    fn info(&self, name: &str) -> Result<&'a TensorInfo, LoadError> {
        self.gguf.tensor(name).ok_or_else(|| LoadError::Missing(name.to_owned()))
    }

    fn bytes(&mut self, t: &TensorInfo) -> Result<Vec<u8>, LoadError> {
        let data =
            self.source.read(self.gguf.tensor_range(t)).map_err(|why| LoadError::Read { name: t.name.clone(), why })?;
        self.done += t.n_bytes;
        (self.progress)(self.done, self.total);
        Ok(data)
    }

    fn check(t: &TensorInfo, expected: &[u64]) -> Result<(), LoadError> {
        if t.dims != expected {
            return Err(LoadError::Shape { name: t.name.clone(), found: t.dims.clone(), expected: expected.to_vec() });
        }
        Ok(())
    }

    /// A matrix of `rows` × `cols`.
    fn matrix(&mut self, name: &str, rows: u32, cols: u32) -> Result<GpuWeight, LoadError> {
        let t = self.info(name)?;
        Self::check(t, &[u64::from(cols), u64::from(rows)])?;
        let data = self.bytes(t)?;
        Ok(GpuWeight::upload(self.ctx, name, t.ty, u64::from(rows), u64::from(cols), &data)?)
    }

    fn dequantized(&mut self, name: &str, n: u32) -> Result<Vec<f32>, LoadError> {
        let t = self.info(name)?;
        Self::check(t, &[u64::from(n)])?;
        let data = self.bytes(t)?;
        quant::dequantize_to_vec(t.ty, &data, n as usize)
            .map_err(|source| LoadError::Quant { name: name.to_owned(), source })
    }

    /// A vector as f32 (norm weights).
    fn vector(&mut self, name: &str, n: u32) -> Result<wgpu::Buffer, LoadError> {
        let v = self.dequantized(name, n)?;
        Ok(self.ctx.upload(bytemuck::cast_slice(&v), name))
    }

    /// A vector in activation precision (biases, added to activations).
    fn act_vector(&mut self, name: &str, n: u32) -> Result<wgpu::Buffer, LoadError> {
        let v = self.dequantized(name, n)?;
        let bytes: Vec<u8> = if self.act_f16 {
            v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
        } else {
            bytemuck::cast_slice(&v).to_vec()
        };
        Ok(self.ctx.upload(&bytes, name))
    }
}

/// Uploads every weight `cfg` needs from `source`, checking each shape.
pub fn load_weights(
    ctx: &GpuContext,
    gguf: &Gguf,
    cfg: &ModelConfig,
    act_f16: bool,
    source: &mut dyn TensorSource,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<ModelWeights, LoadError> {
    let total = gguf.tensors().iter().map(|t| t.n_bytes).sum();
    let mut l = Loader { ctx, gguf, source, progress, act_f16, done: 0, total };
    let (d, f, v) = (cfg.d_model, cfg.d_ff, cfg.n_vocab);
    let (qd, kvd) = (cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim);
    let token_embd = l.matrix("token_embd.weight", v, d)?;
    let output = if cfg.tied_embeddings { None } else { Some(l.matrix("output.weight", v, d)?) };
    let output_norm = l.vector("output_norm.weight", d)?;
    let mut layers = Vec::with_capacity(cfg.n_layer as usize);
    for i in 0..cfg.n_layer {
        let n = |s: &str| format!("blk.{i}.{s}.weight");
        let bias = |s: &str| format!("blk.{i}.{s}.bias");
        layers.push(LayerWeights {
            attn_norm: l.vector(&n("attn_norm"), d)?,
            wq: l.matrix(&n("attn_q"), qd, d)?,
            wk: l.matrix(&n("attn_k"), kvd, d)?,
            wv: l.matrix(&n("attn_v"), kvd, d)?,
            qkv_bias: if cfg.qkv_bias {
                Some([
                    l.act_vector(&bias("attn_q"), qd)?,
                    l.act_vector(&bias("attn_k"), kvd)?,
                    l.act_vector(&bias("attn_v"), kvd)?,
                ])
            } else {
                None
            },
            qk_norm: if cfg.qk_norm {
                Some([l.vector(&n("attn_q_norm"), cfg.head_dim)?, l.vector(&n("attn_k_norm"), cfg.head_dim)?])
            } else {
                None
            },
            wo: l.matrix(&n("attn_output"), d, qd)?,
            post_attn_norm: if cfg.post_norms { Some(l.vector(&n("post_attention_norm"), d)?) } else { None },
            ffn_norm: l.vector(&n("ffn_norm"), d)?,
            gate: l.matrix(&n("ffn_gate"), f, d)?,
            up: l.matrix(&n("ffn_up"), f, d)?,
            down: l.matrix(&n("ffn_down"), d, f)?,
            post_ffn_norm: if cfg.post_norms { Some(l.vector(&n("post_ffw_norm"), d)?) } else { None },
        });
    }
    let n_bytes = l.done;
    Ok(ModelWeights { token_embd, output_norm, output, layers, n_bytes })
}

/// Types of the matrices of a file, for error messages about unsupported quantizations.
pub fn matrix_types(gguf: &Gguf) -> Vec<GgmlType> {
    let mut t: Vec<GgmlType> = gguf.tensors().iter().filter(|t| t.dims.len() == 2).map(|t| t.ty).collect();
    t.sort();
    t.dedup();
    t
}
