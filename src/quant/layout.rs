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

/// Bytes of `n_blocks` blocks of `ty` in the GPU layout (padded to 4), and the word offset
/// of their scale region (0 for types that are not split): what a page of weights allocates
/// before its data arrives.
pub fn gpu_layout_bytes(ty: GgmlType, n_blocks: u64) -> Result<(u64, u32), QuantError> {
    let layout = gpu_layout(ty)?;
    let too_large = || QuantError::TooLarge { ty, n_blocks };
    let bytes = |per_block: u64| n_blocks.checked_mul(per_block).ok_or_else(too_large);
    match layout.split_scale_at {
        None => Ok((bytes(u64::from(ty.type_size()))?.next_multiple_of(4), 0)),
        Some(_) => {
            let data = bytes(u64::from(layout.data_bytes))?;
            let scales = bytes(2)?.next_multiple_of(4);
            let words = u32::try_from(data / 4).map_err(|_| too_large())?;
            Ok((data.checked_add(scales).ok_or_else(too_large)?, words))
        }
    }
}

/// Rearranges whole blocks of `ty` in place into the data part of the GPU layout, appending
/// the split types' f16 scales to `scales` (cleared first). Returns how many bytes of `blocks`
/// now hold the data region; for types that are not split that is all of them, unchanged.
///
/// In place so that a chunk of a streamed tensor exists once in memory on its way to the GPU.
pub fn split_in_place(ty: GgmlType, blocks: &mut [u8], scales: &mut Vec<u8>) -> Result<usize, QuantError> {
    let layout = gpu_layout(ty)?;
    let ts = ty.type_size() as usize;
    if !blocks.len().is_multiple_of(ts) {
        return Err(QuantError::SizeMismatch {
            ty,
            n_bytes: blocks.len(),
            n_out: 0,
            per_block: ty.block_size(),
            type_size: ty.type_size(),
        });
    }
    scales.clear();
    let Some(at) = layout.split_scale_at else { return Ok(blocks.len()) };
    let (at, data_bytes) = (at as usize, layout.data_bytes as usize);
    let n = blocks.len() / ts;
    scales.reserve(2 * n);
    for i in 0..n {
        let (src, dst) = (i * ts, i * data_bytes);
        scales.extend_from_slice(&blocks[src + at..src + at + 2]);
        // Block i moves to i·data_bytes ≤ i·ts: forward over blocks never overwrites one not
        // yet moved (copy_within is a memmove).
        blocks.copy_within(src..src + at, dst);
        blocks.copy_within(src + at + 2..src + ts, dst + at);
    }
    Ok(n * data_bytes)
}

/// Rearranges whole blocks of `ty` into the GPU layout. Returns the bytes and the word
/// offset of the scale region (0 for types that are not split).
pub fn to_gpu_layout(ty: GgmlType, blocks: &[u8]) -> Result<(Vec<u8>, u32), QuantError> {
    let mut out = blocks.to_vec();
    let mut scales = Vec::new();
    let data_len = split_in_place(ty, &mut out, &mut scales)?;
    out.truncate(data_len);
    out.extend_from_slice(&scales);
    out.resize(out.len().next_multiple_of(4), 0);
    let words = if gpu_layout(ty)?.split_scale_at.is_some() { (data_len / 4) as u32 } else { 0 };
    Ok((out, words))
}
