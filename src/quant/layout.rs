//! The GPU layout of weight blocks: what shaders/common/weights.wgsl reads.
//!
//! Most block formats are a whole number of 4-byte words (Q4_1, F32) and are uploaded as they
//! are. The others keep part of each block apart, in a *side region* after all blocks' data,
//! so that every load is an aligned u32 and no byte is read twice or padded:
//! - formats whose block is a lone f16 scale plus 4-byte-aligned data (Q4_0, Q5_0, Q8_0,
//!   Q6_K): the scales, packed two per word;
//! - Q4_K: its eight 6-bit scales and mins, packed into 12 bytes in the file, unpacked into 16
//!   (one byte each), so that a chunk's two (scale, min) pairs are one word with no bit
//!   shuffling (4 more bytes per 144-byte block).
//!
//! F16 rows are left as they are (pairs of halves per word).

use crate::gguf::GgmlType;

use super::{QuantError, get_scale_min_k4};

/// What a type keeps in the side region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Nothing: blocks are uploaded as they are.
    None,
    /// The lone f16 scale at this byte of the block (2 bytes per block).
    F16At(u32),
    /// Q4_K's packed scales and mins (bytes 4..16 of the block) as 16 bytes: word p holds
    /// (scale 2p, min 2p, scale 2p + 1, min 2p + 1).
    Q4KScales,
}

impl Side {
    /// Bytes per block in the side region.
    pub fn bytes(self) -> u32 {
        match self {
            Side::None => 0,
            Side::F16At(_) => 2,
            Side::Q4KScales => 16,
        }
    }
}

/// How a type's blocks are laid out on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuLayout {
    /// Bytes of each block kept in the data region.
    pub data_bytes: u32,
    /// What each block keeps in the side region.
    pub side: Side,
}

/// The GPU layout of `ty`, or an error when no kernel reads that type.
pub fn gpu_layout(ty: GgmlType) -> Result<GpuLayout, QuantError> {
    let layout = |data_bytes, side| Ok(GpuLayout { data_bytes, side });
    match ty {
        GgmlType::F32 => layout(4, Side::None),
        GgmlType::F16 => layout(2, Side::None),
        GgmlType::Q4_1 => layout(20, Side::None),
        GgmlType::Q4_K => layout(132, Side::Q4KScales),
        GgmlType::Q8_0 => layout(32, Side::F16At(0)),
        GgmlType::Q4_0 => layout(16, Side::F16At(0)),
        GgmlType::Q5_0 => layout(20, Side::F16At(0)),
        GgmlType::Q6_K => layout(208, Side::F16At(208)),
        other => Err(QuantError::Unsupported(other)),
    }
}

/// Bytes of `n_blocks` blocks of `ty` in the GPU layout (padded to 4), and the word offset
/// of their side region (0 for types without one): what a page of weights allocates before
/// its data arrives.
pub fn gpu_layout_bytes(ty: GgmlType, n_blocks: u64) -> Result<(u64, u32), QuantError> {
    let layout = gpu_layout(ty)?;
    let too_large = || QuantError::TooLarge { ty, n_blocks };
    let bytes = |per_block: u64| n_blocks.checked_mul(per_block).ok_or_else(too_large);
    if layout.side == Side::None {
        return Ok((bytes(u64::from(ty.type_size()))?.next_multiple_of(4), 0));
    }
    let data = bytes(u64::from(layout.data_bytes))?;
    let side = bytes(u64::from(layout.side.bytes()))?.next_multiple_of(4);
    let words = u32::try_from(data / 4).map_err(|_| too_large())?;
    Ok((data.checked_add(side).ok_or_else(too_large)?, words))
}

/// Rearranges whole blocks of `ty` in place into the data part of the GPU layout, appending
/// what goes to the side region to `side` (cleared first). Returns how many bytes of `blocks`
/// now hold the data region; for types without a side region that is all of them, unchanged.
///
/// In place so that a chunk of a streamed tensor exists once in memory on its way to the GPU.
pub fn split_in_place(ty: GgmlType, blocks: &mut [u8], side: &mut Vec<u8>) -> Result<usize, QuantError> {
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
    side.clear();
    // The bytes of a block that move to the side region, and what is written there.
    let (at, len) = match layout.side {
        Side::None => return Ok(blocks.len()),
        Side::F16At(at) => (at as usize, 2),
        Side::Q4KScales => (4, 12),
    };
    let data_bytes = layout.data_bytes as usize;
    let n = blocks.len() / ts;
    side.reserve(n * layout.side.bytes() as usize);
    for i in 0..n {
        let (src, dst) = (i * ts, i * data_bytes);
        let moved = &blocks[src + at..src + at + len];
        match layout.side {
            Side::Q4KScales => {
                for s in 0..8 {
                    let (sc, m) = get_scale_min_k4(s, moved);
                    side.extend_from_slice(&[sc, m]);
                }
            }
            _ => side.extend_from_slice(moved),
        }
        // Block i moves to i·data_bytes ≤ i·ts: forward over blocks never overwrites one not
        // yet moved (copy_within is a memmove).
        blocks.copy_within(src..src + at, dst);
        blocks.copy_within(src + at + len..src + ts, dst + at);
    }
    Ok(n * data_bytes)
}

/// Rearranges whole blocks of `ty` into the GPU layout. Returns the bytes and the word
/// offset of the side region (0 for types without one).
pub fn to_gpu_layout(ty: GgmlType, blocks: &[u8]) -> Result<(Vec<u8>, u32), QuantError> {
    let mut out = blocks.to_vec();
    let mut side = Vec::new();
    let data_len = split_in_place(ty, &mut out, &mut side)?;
    out.truncate(data_len);
    out.extend_from_slice(&side);
    out.resize(out.len().next_multiple_of(4), 0);
    let words = if gpu_layout(ty)?.side == Side::None { 0 } else { (data_len / 4) as u32 };
    Ok((out, words))
}
