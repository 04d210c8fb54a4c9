//! The GPU layout of weight blocks: what shaders/common/weights.wgsl reads.
//!
//! Block formats keep each block's quantized values in the *data region*, whole 16-byte
//! vectors per block (a matvec loads four adjacent 8-element chunks as one or two `vec4<u32>`:
//! on CPU adapters every load costs a loop over the lanes whatever its width, on GPUs it is
//! one wide load), and what the block's values share (scales, mins, high bits) in a *side
//! region* after all blocks' data, as aligned words:
//! - Q4_0, Q8_0, Q6_K: the lone f16 scale, packed two per word (no byte padded);
//! - Q4_1: (d, m), two f16 in one word;
//! - Q5_0: the high bits' word, then d widened to f32 (8 bytes for the file's 6: an f16 next
//!   to the word would straddle words);
//! - Q5_1: (d, m), two f16 in one word, then the high bits' word;
//! - IQ4_NL: the lone f16 scale, as Q4_0's; IQ4_XS: d as f32, then its eight 6-bit sub-block
//!   scales unpacked to one signed byte each;
//! - IQ3_XXS, IQ2_XS, IQ2_S, IQ1_S: d as f32, then what follows the grid indices (and IQ2_S's
//!   signs) in the block as it is; IQ2_XXS: the lone f16 scale (its scale-and-signs words stay
//!   in the data region, between the index words); IQ3_S: d as f32, qh, the packed scales (the
//!   data region: the grid indices, then the sign bits); the grid of each, before the blocks'
//!   entries ([`GpuLayout::table`]);
//! - Q2_K: (d, dmin), two f16 in one word; its 16 bytes of 4-bit scales and mins stay in the
//!   data region, before the 2-bit values (80 bytes: five vectors);
//! - Q3_K: d as f32, then its sixteen 6-bit scales, packed into 12 bytes in the file, unpacked
//!   to `sc - 32` as i8 (the data region: the high bits, then the 2-bit values);
//! - Q4_K, Q5_K: (d, dmin) in one word, then its eight 6-bit scales and mins, packed into 12
//!   bytes in the file, unpacked into 16 (one byte each), so that a chunk's two (scale, min)
//!   pairs are one word with no bit shuffling (Q5_K's data region: its high bits, then the
//!   nibbles as Q4_K's).
//!
//! F32, F16 and BF16 rows are left as they are.

use std::ops::Range;

use crate::gguf::GgmlType;

use super::iq_grids::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID};
use super::{QuantError, get_scale_min_k4, iq1_m_d, iq4_xs_scale, q3_k_scale};

/// What a type keeps in the side region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Nothing: blocks are uploaded as they are.
    None,
    /// Bytes `at..at + len` of the block, as they are (an f16 scale: 2 bytes; Q4_1's (d, m): 4).
    Bytes {
        /// First byte within the block.
        at: u32,
        /// How many bytes.
        len: u32,
    },
    /// Q5_0's d and qh (bytes 0..6) as two words: qh, then d as f32.
    Q5_0,
    /// IQ4_XS's d and packed scales (bytes 0..8) as 12 bytes: d as f32, then the eight
    /// sub-blocks' scales `ls - 32` as i8.
    Iq4Xs,
    /// Q3_K's packed scales and d (bytes 96..110) as 20 bytes: d as f32, then the sixteen
    /// scales `sc - 32` as i8.
    Q3K,
    /// Q4_K's and Q5_K's (d, dmin) and packed scales and mins (bytes 0..16) as 20 bytes:
    /// (d, dmin), then word p holding (scale 2p, min 2p, scale 2p + 1, min 2p + 1).
    Q4K,
    /// d (bytes 0..2) as f32, then the `rest` bytes from `data_end`; bytes 2..data_end stay in
    /// the data region (IQ3_XXS: its scale-and-signs words; IQ2_XS, IQ2_S: scales and high
    /// bits; IQ1_S: its u16 per sub-block).
    DThenRest {
        /// One past the data region's last byte within the block.
        data_end: u32,
        /// Bytes after it that move to the side region.
        rest: u32,
    },
    /// IQ1_M's d (the top nibbles of its scales) as f32, then its qh and scales (bytes 32..56)
    /// as they are; `qs` stays in the data region.
    Iq1M,
    /// IQ3_S's d, qh and scales (bytes 0..2, 66..74 and 106..110) as 16 bytes: d as f32, qh,
    /// the scales; `qs` and then the signs (bytes 74..106) stay in the data region.
    Iq3S,
}

impl Side {
    /// Bytes per block in the side region.
    pub fn bytes(self) -> u32 {
        match self {
            Side::None => 0,
            Side::Bytes { len, .. } => len,
            Side::Q5_0 => 8,
            Side::Iq4Xs => 12,
            Side::Q3K | Side::Q4K => 20,
            Side::DThenRest { rest, .. } => 4 + rest,
            Side::Iq3S => 16,
            Side::Iq1M => 28,
        }
    }

    /// The byte ranges of a `block_bytes`-byte block that stay in the data region, in order;
    /// the rest moves to the side region.
    fn data_ranges(self, block_bytes: usize) -> [Range<usize>; 2] {
        let around = |at: usize, len: usize| [0..at, at + len..block_bytes];
        match self {
            Side::None => [0..block_bytes, 0..0],
            Side::Bytes { at, len } => around(at as usize, len as usize),
            Side::Q5_0 => around(0, 6),
            Side::Iq4Xs => around(0, 8),
            Side::Q3K => around(96, 14),
            Side::Q4K => around(0, 16),
            Side::DThenRest { data_end, .. } => [2..data_end as usize, 0..0],
            Side::Iq3S => [2..66, 74..106],
            Side::Iq1M => [0..32, 0..0],
        }
    }

    /// Appends what the side region keeps for `block`.
    fn push(self, block: &[u8], side: &mut Vec<u8>) {
        let f16_as_f32 = |at: usize| half::f16::from_le_bytes([block[at], block[at + 1]]).to_f32().to_le_bytes();
        match self {
            Side::None => {}
            Side::Bytes { at, len } => side.extend_from_slice(&block[at as usize..(at + len) as usize]),
            Side::Q5_0 => {
                side.extend_from_slice(&block[2..6]);
                side.extend_from_slice(&f16_as_f32(0));
            }
            Side::Iq4Xs => {
                side.extend_from_slice(&f16_as_f32(0));
                side.extend((0..8).map(|s| iq4_xs_scale(block, s) as u8));
            }
            Side::Q3K => {
                side.extend_from_slice(&f16_as_f32(108));
                side.extend((0..16).map(|k| q3_k_scale(&block[96..108], k) as u8));
            }
            Side::Q4K => {
                side.extend_from_slice(&block[..4]);
                for s in 0..8 {
                    let (sc, m) = get_scale_min_k4(s, &block[4..16]);
                    side.extend_from_slice(&[sc, m]);
                }
            }
            Side::DThenRest { data_end, rest } => {
                side.extend_from_slice(&f16_as_f32(0));
                side.extend_from_slice(&block[data_end as usize..(data_end + rest) as usize]);
            }
            Side::Iq1M => {
                side.extend_from_slice(&iq1_m_d(block).to_le_bytes());
                side.extend_from_slice(&block[32..56]);
            }
            Side::Iq3S => {
                side.extend_from_slice(&f16_as_f32(0));
                side.extend_from_slice(&block[66..74]);
                side.extend_from_slice(&block[106..110]);
            }
        }
    }
}

/// The largest block of a type with a side region (Q6_K's 210 bytes), with room to spare.
const MAX_BLOCK_BYTES: usize = 256;

/// How a type's blocks are laid out on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpuLayout {
    /// Bytes of each block kept in the data region.
    pub data_bytes: u32,
    /// What each block keeps in the side region.
    pub side: Side,
    /// Words every page holds at the start of its side region, before the blocks' entries:
    /// the i-quant grids, uploaded from their one Rust table (a WGSL array of hundreds of
    /// literals made pipeline compiles seconds long), empty for the other types.
    pub table: &'static [u32],
}

impl GpuLayout {
    /// GPU bytes of one block (data and side region), without padding or table.
    pub fn block_bytes(&self, ty: GgmlType) -> u32 {
        if self.side == Side::None { ty.type_size() } else { self.data_bytes + self.side.bytes() }
    }

    /// Bytes of the table at the start of each page's side region.
    pub fn table_bytes(&self) -> u64 {
        4 * self.table.len() as u64
    }
}

/// The GPU layout of `ty`, or an error when no kernel reads that type.
pub fn gpu_layout(ty: GgmlType) -> Result<GpuLayout, QuantError> {
    let layout = |data_bytes, side| Ok(GpuLayout { data_bytes, side, table: &[] });
    let with_table = |data_bytes, side, table| Ok(GpuLayout { data_bytes, side, table });
    match ty {
        GgmlType::F32 => layout(4, Side::None),
        GgmlType::F16 | GgmlType::BF16 => layout(2, Side::None),
        GgmlType::Q4_1 => layout(16, Side::Bytes { at: 0, len: 4 }),
        GgmlType::Q2_K => layout(80, Side::Bytes { at: 80, len: 4 }),
        GgmlType::Q3_K => layout(96, Side::Q3K),
        GgmlType::Q4_K => layout(128, Side::Q4K),
        GgmlType::Q8_0 => layout(32, Side::Bytes { at: 0, len: 2 }),
        GgmlType::Q4_0 => layout(16, Side::Bytes { at: 0, len: 2 }),
        GgmlType::Q5_0 => layout(16, Side::Q5_0),
        GgmlType::Q5_1 => layout(16, Side::Bytes { at: 0, len: 8 }),
        GgmlType::Q5_K => layout(160, Side::Q4K),
        GgmlType::Q6_K => layout(208, Side::Bytes { at: 208, len: 2 }),
        GgmlType::IQ4_NL => layout(16, Side::Bytes { at: 0, len: 2 }),
        GgmlType::IQ4_XS => layout(128, Side::Iq4Xs),
        GgmlType::IQ3_XXS => with_table(64, Side::DThenRest { data_end: 66, rest: 32 }, &IQ3XXS_GRID),
        GgmlType::IQ2_XXS => with_table(64, Side::Bytes { at: 0, len: 2 }, &IQ2XXS_GRID),
        GgmlType::IQ2_XS => with_table(64, Side::DThenRest { data_end: 66, rest: 8 }, &IQ2XS_GRID),
        GgmlType::IQ2_S => with_table(64, Side::DThenRest { data_end: 66, rest: 16 }, &IQ2S_GRID),
        GgmlType::IQ1_S => with_table(32, Side::DThenRest { data_end: 34, rest: 16 }, &IQ1S_GRID),
        GgmlType::IQ1_M => with_table(32, Side::Iq1M, &IQ1S_GRID),
        GgmlType::IQ3_S => with_table(96, Side::Iq3S, &IQ3S_GRID),
        other => Err(QuantError::Unsupported(other)),
    }
}

/// Bytes of `n_blocks` blocks of `ty` in the GPU layout (padded to 4, with the type's table),
/// and the word offset of their side region (0 for types without one): what a page of weights
/// allocates before its data arrives.
pub fn gpu_layout_bytes(ty: GgmlType, n_blocks: u64) -> Result<(u64, u32), QuantError> {
    let layout = gpu_layout(ty)?;
    let too_large = || QuantError::TooLarge { ty, n_blocks };
    let bytes = |per_block: u64| n_blocks.checked_mul(per_block).ok_or_else(too_large);
    if layout.side == Side::None {
        return Ok((bytes(u64::from(ty.type_size()))?.next_multiple_of(4), 0));
    }
    let data = bytes(u64::from(layout.data_bytes))?;
    let side = (bytes(u64::from(layout.side.bytes()))? + layout.table_bytes()).next_multiple_of(4);
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
    if layout.side == Side::None {
        return Ok(blocks.len());
    }
    let data_bytes = layout.data_bytes as usize;
    let n = blocks.len() / ts;
    side.reserve(n * layout.side.bytes() as usize);
    let ranges = layout.side.data_ranges(ts);
    debug_assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), data_bytes);
    let mut block = [0u8; MAX_BLOCK_BYTES];
    for i in 0..n {
        // Block i moves to i·data_bytes ≤ i·ts: forward over blocks never overwrites one not
        // yet read (each is copied out first).
        let block = &mut block[..ts];
        block.copy_from_slice(&blocks[i * ts..(i + 1) * ts]);
        layout.side.push(block, side);
        let mut dst = i * data_bytes;
        for r in &ranges {
            blocks[dst..dst + r.len()].copy_from_slice(&block[r.clone()]);
            dst += r.len();
        }
    }
    Ok(n * data_bytes)
}

/// Rearranges whole blocks of `ty` into the GPU layout (data region, table, side region).
/// Returns the bytes and the word offset of the side region (0 for types without one).
pub fn to_gpu_layout(ty: GgmlType, blocks: &[u8]) -> Result<(Vec<u8>, u32), QuantError> {
    let mut out = blocks.to_vec();
    let mut side = Vec::new();
    let data_len = split_in_place(ty, &mut out, &mut side)?;
    out.truncate(data_len);
    out.extend(gpu_layout(ty)?.table.iter().flat_map(|w| w.to_le_bytes()));
    out.extend_from_slice(&side);
    out.resize(out.len().next_multiple_of(4), 0);
    let words = if gpu_layout(ty)?.side == Side::None { 0 } else { (data_len / 4) as u32 };
    Ok((out, words))
}
