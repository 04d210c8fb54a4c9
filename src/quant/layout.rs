//! The GPU layout of weight blocks: what shaders/common/weights.wgsl reads.
//!
//! Most block formats are a whole number of 4-byte words (Q4_1, Q4_K, F32) and are uploaded
//! as they are. Formats whose block is a lone f16 scale plus 4-byte-aligned data (Q4_0, Q5_0,
//! Q8_0, Q6_K) are *split*: all blocks' data first, then all their scales packed two per
//! word, so that every load is an aligned u32 and no byte is read twice or padded. F16 rows
//! are left as they are (pairs of halves per word).

use crate::gguf::GgmlType;

use super::QuantError;

/// How a type's blocks are laid out on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuLayout {
    /// Bytes of each block kept in the data region.
    pub data_bytes: u32,
    /// Where the lone f16 scale sits in the file's block, when the type is split.
    pub split_scale_at: Option<u32>,
}

/// The GPU layout of `ty`, or an error when no kernel reads that type.
pub fn gpu_layout(ty: GgmlType) -> Result<GpuLayout, QuantError> {
    let whole = |n| Ok(GpuLayout { data_bytes: n, split_scale_at: None });
    let split = |n, at| Ok(GpuLayout { data_bytes: n, split_scale_at: Some(at) });
    match ty {
        GgmlType::F32 => whole(4),
        GgmlType::F16 => whole(2),
        GgmlType::Q4_1 => whole(20),
        GgmlType::Q4_K => whole(144),
        GgmlType::Q8_0 => split(32, 0),
        GgmlType::Q4_0 => split(16, 0),
        GgmlType::Q5_0 => split(20, 0),
        GgmlType::Q6_K => split(208, 208),
        other => Err(QuantError::Unsupported(other)),
    }
}

/// Rearranges whole blocks of `ty` into the GPU layout. Returns the bytes and the word
/// offset of the scale region (0 for types that are not split).
pub fn to_gpu_layout(ty: GgmlType, blocks: &[u8]) -> Result<(Vec<u8>, u32), QuantError> {
    let layout = gpu_layout(ty)?;
    let ts = ty.type_size() as usize;
    let mismatch = || QuantError::SizeMismatch {
        ty,
        n_bytes: blocks.len(),
        n_out: 0,
        per_block: ty.block_size(),
        type_size: ty.type_size(),
    };
    if !blocks.len().is_multiple_of(ts) {
        return Err(mismatch());
    }
    let Some(at) = layout.split_scale_at else {
        let mut out = blocks.to_vec();
        out.resize(blocks.len().next_multiple_of(4), 0);
        return Ok((out, 0));
    };
    let at = at as usize;
    let n = blocks.len() / ts;
    let data_len = n * layout.data_bytes as usize;
    let mut out = Vec::with_capacity(data_len + (2 * n).next_multiple_of(4));
    for b in blocks.chunks_exact(ts) {
        out.extend_from_slice(&b[..at]);
        out.extend_from_slice(&b[at + 2..]);
    }
    for b in blocks.chunks_exact(ts) {
        out.extend_from_slice(&b[at..at + 2]);
    }
    out.resize(out.len().next_multiple_of(4), 0);
    Ok((out, (data_len / 4) as u32))
}
