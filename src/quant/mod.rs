//! Quant block formats: layouts and CPU dequantization.
//!
//! This is the plain-Rust reference that every GPU kernel is checked against, and it is
//! itself checked bit for bit against gguf-py's `gguf.quants.dequantize` (tests/quant.rs).
//! Each function follows gguf-py's order of f32 operations exactly (e.g. Q4_1 is
//! `(d * q) + m`, two roundings, never a fused multiply-add), which is why the results can be
//! compared bit for bit.

mod float;
mod iq_grids;
mod iquants;
mod kquants;
mod layout;
mod legacy;
mod quantize;

use crate::gguf::GgmlType;

pub use iq_grids::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID};
pub use iquants::{IQ1S_DELTA, KVALUES_IQ4NL, iq_signs, iq1_m_d, iq4_xs_scale};
pub use kquants::{QK_K, get_scale_min_k4, q3_k_scale};
pub use layout::{GpuLayout, Side, gpu_layout, gpu_layout_bytes, split_in_place, to_gpu_layout};
pub use quantize::quantize;

/// Why a buffer could not be dequantized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    /// hearth has no dequantization for this type.
    #[error("tensor type {0} is not supported (supported: {list})", list = supported_list())]
    Unsupported(GgmlType),
    /// Input bytes and output length disagree.
    #[error("{ty}: {n_bytes} bytes do not hold {n_out} elements ({per_block} per {type_size}-byte block)")]
    SizeMismatch {
        /// The type.
        ty: GgmlType,
        /// Bytes given.
        n_bytes: usize,
        /// Elements asked for.
        n_out: usize,
        /// The type's block size.
        per_block: u32,
        /// The type's block bytes.
        type_size: u32,
    },
    /// A tensor too large to lay out (its size overflows).
    #[error("{ty}: {n_blocks} blocks are more than one GPU buffer can describe")]
    TooLarge {
        /// The type.
        ty: GgmlType,
        /// Blocks asked for.
        n_blocks: u64,
    },
}

/// The types hearth can dequantize (and so compute with).
pub const SUPPORTED: [GgmlType; 22] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::IQ3_XXS,
    GgmlType::IQ3_S,
    GgmlType::IQ2_XXS,
    GgmlType::IQ2_XS,
    GgmlType::IQ2_S,
    GgmlType::IQ1_S,
    GgmlType::IQ1_M,
];

fn supported_list() -> String {
    SUPPORTED.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}

/// Whether [`dequantize`] handles `ty`.
pub fn is_supported(ty: GgmlType) -> bool {
    SUPPORTED.contains(&ty)
}

/// Dequantizes `bytes` (whole blocks of type `ty`) into `out`, one f32 per element.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let (bs, ts) = (ty.block_size() as usize, ty.type_size() as usize);
    if !is_supported(ty) {
        return Err(QuantError::Unsupported(ty));
    }
    if !bytes.len().is_multiple_of(ts) || bytes.len() / ts * bs != out.len() {
        return Err(QuantError::SizeMismatch {
            ty,
            n_bytes: bytes.len(),
            n_out: out.len(),
            per_block: ty.block_size(),
            type_size: ty.type_size(),
        });
    }
    let decode: fn(&[u8], &mut [f32]) = match ty {
        GgmlType::F32 => float::f32_block,
        GgmlType::F16 => float::f16_block,
        GgmlType::BF16 => float::bf16_block,
        GgmlType::Q8_0 => legacy::q8_0_block,
        GgmlType::Q4_0 => legacy::q4_0_block,
        GgmlType::Q4_1 => legacy::q4_1_block,
        GgmlType::Q5_0 => legacy::q5_0_block,
        GgmlType::Q5_1 => legacy::q5_1_block,
        GgmlType::Q2_K => kquants::q2_k_block,
        GgmlType::Q3_K => kquants::q3_k_block,
        GgmlType::Q4_K => kquants::q4_k_block,
        GgmlType::Q5_K => kquants::q5_k_block,
        GgmlType::Q6_K => kquants::q6_k_block,
        GgmlType::IQ4_NL => iquants::iq4_nl_block,
        GgmlType::IQ4_XS => iquants::iq4_xs_block,
        GgmlType::IQ3_XXS => iquants::iq3_xxs_block,
        GgmlType::IQ3_S => iquants::iq3_s_block,
        GgmlType::IQ2_XXS => iquants::iq2_xxs_block,
        GgmlType::IQ2_XS => iquants::iq2_xs_block,
        GgmlType::IQ2_S => iquants::iq2_s_block,
        GgmlType::IQ1_S => iquants::iq1_s_block,
        GgmlType::IQ1_M => iquants::iq1_m_block,
        other => return Err(QuantError::Unsupported(other)),
    };
    for (block, o) in bytes.chunks_exact(ts).zip(out.chunks_exact_mut(bs)) {
        decode(block, o);
    }
    Ok(())
}

/// Dequantizes into a new vector of `n` elements.
pub fn dequantize_to_vec(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<f32>, QuantError> {
    let mut out = vec![0.0; n];
    dequantize(ty, bytes, &mut out)?;
    Ok(out)
}

/// The f16 at `b[at..at + 2]` as f32 (exact).
#[inline]
fn f16_at(b: &[u8], at: usize) -> f32 {
    half::f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}
