//! The "i-quants", whose indices select values of fixed tables instead of being the values
//! themselves: the non-linear 4-bit IQ4_NL and IQ4_XS (one value per index, from
//! [`KVALUES_IQ4NL`]), and the 3-bit IQ3_XXS and IQ3_S (four values per index, from a grid of
//! [`super::iq_grids`], with explicit signs).
//!
//! Layouts (little-endian, `d` f16):
//! - IQ4_NL (18 B, 32 elements): `d`, `qs[16]`; element `j < 16` is table entry `qs[j] & 15`,
//!   `j >= 16` entry `qs[j - 16] >> 4`; `x = d * table[q]`.
//! - IQ4_XS (136 B, 256 elements): `d`, `scales_h` (u16: 2 high bits per sub-block),
//!   `scales_l[4]` (4 low bits per sub-block), `qs[128]`. Sub-block `s` (32 elements) has the
//!   6-bit scale `ls = (scales_l[s / 2] >> 4 (s % 2)) & 15 | ((scales_h >> 2s) & 3) << 4` and
//!   the nibbles `qs[16s..16s + 16]` as IQ4_NL's; `x = (d * (ls - 32)) * table[q]`.
//! - IQ3_XXS (98 B, 256 elements): `d`, `qs[64]`, then one u32 per sub-block `s` of 32: bits
//!   28..32 its scale `ls`, bits `7g..7g + 7` the signs of its 8 elements `8g..8g + 8` (the
//!   eighth sign makes their count even, see [`iq_signs`]). Elements `4i..4i + 4` of the block
//!   are grid entry `qs[i]`; `x = ((d * (0.5 + ls)) * 0.5) * grid * sign`.
//! - IQ3_S (110 B, 256 elements): `d`, `qs[64]`, `qh[8]`, `signs[32]`, `scales[4]`. Elements
//!   `4i..4i + 4` are grid entry `qs[i] | (bit i % 8 of qh[i / 8]) << 8`, element `e`'s sign
//!   bit `e % 8` of `signs[e / 8]`, sub-block `s`'s scale nibble `s % 2` of `scales[s / 2]`;
//!   `x = (d * (1 + 2 ls)) * grid * sign`.
//! - IQ2_XXS (66 B): `d`, then per sub-block of 32 two u32: four grid indices (bytes), and the
//!   signs and scale word as IQ3_XXS's; each index selects 8 values;
//!   `x = ((d * (0.5 + ls)) * 0.25) * grid * sign`.
//! - IQ2_XS (74 B): `d`, `qs[32]` u16 (bits 0..9 the grid index of elements `8j..8j + 8`, bits
//!   9..16 their sign index), `scales[8]` (a nibble per 16 elements); `x` as IQ2_XXS's.
//! - IQ2_S (82 B): `d`, `qs[32]` (low 8 bits of entry `j`'s index), `signs[32]` (byte `j`: the
//!   signs of elements `8j..8j + 8`), `qh[8]` (2 high index bits per entry), `scales[8]` as
//!   IQ2_XS's.
//! - IQ1_S (50 B): `d`, `qs[32]` (low 8 bits of entry `j`'s index), `qh[8]` u16 per sub-block
//!   of 32: bits `3i..3i + 3` the high bits of its entry `i`, bits 12..15 its scale `ls`, bit 15
//!   the sign of its offset; values -1, 0, 1: `x = (d * (2 ls + 1)) * (grid ± 0.125)`.
//! - IQ1_M (56 B): `qs[32]` as IQ1_S's, `qh[16]` (a nibble per entry: bits 0..3 its index's
//!   bits 8..11, bit 3 its offset's sign), `scales[4]` u16 (bits 3t..3t + 3 of u16 `t / 4`: the
//!   scale of elements 16t..16t + 16; the top nibbles of the four: d's 16 bits, see
//!   [`iq1_m_d`]); `x = (d * (2 ls + 1)) * (grid ± 0.125)`.

use super::f16_at;
use super::iq_grids::{IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID};

/// The 16 values IQ4_NL's and IQ4_XS's indices select: the one table, from which the shaders'
/// copy is generated too (`kernels::shaders`).
pub const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

fn nl(q: u8) -> f32 {
    f32::from(KVALUES_IQ4NL[usize::from(q & 15)])
}

pub(super) fn iq4_nl_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..16 {
        out[j] = d * nl(b[2 + j]);
        out[j + 16] = d * nl(b[2 + j] >> 4);
    }
}

/// IQ4_XS sub-block `s`'s scale, `ls - 32`.
pub fn iq4_xs_scale(b: &[u8], s: usize) -> i8 {
    let scales_h = u16::from_le_bytes([b[2], b[3]]);
    let lo = (b[4 + s / 2] >> (4 * (s % 2))) & 15;
    let hi = ((scales_h >> (2 * s)) & 3) as u8;
    (lo | (hi << 4)) as i8 - 32
}

pub(super) fn iq4_xs_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (s, sub) in out.chunks_exact_mut(32).enumerate() {
        let dl = d * f32::from(iq4_xs_scale(b, s));
        let qs = &b[8 + 16 * s..8 + 16 * s + 16];
        for j in 0..16 {
            sub[j] = dl * nl(qs[j]);
            sub[j + 16] = dl * nl(qs[j] >> 4);
        }
    }
}

/// The 8 sign bits of a group of 8 elements from its 7-bit index: the eighth is the parity of
/// the seven (an even number of elements is negative).
pub fn iq_signs(index: u32) -> u32 {
    let i = index & 0x7F;
    i | ((i.count_ones() & 1) << 7)
}

/// `v` with the sign of bit `bit` of `signs` (set: negative).
fn signed(v: f32, signs: u32, bit: usize) -> f32 {
    if (signs >> bit) & 1 == 1 { -v } else { v }
}

/// The `k`th value of a grid entry.
fn grid_value(entry: u32, k: usize) -> f32 {
    ((entry >> (8 * k)) & 0xFF) as f32
}

pub(super) fn iq3_xxs_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (s, sub) in out.chunks_exact_mut(32).enumerate() {
        let aux = u32::from_le_bytes([b[66 + 4 * s], b[67 + 4 * s], b[68 + 4 * s], b[69 + 4 * s]]);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
        for (i, four) in sub.chunks_exact_mut(4).enumerate() {
            let entry = IQ3XXS_GRID[usize::from(b[2 + 8 * s + i])];
            let signs = iq_signs(aux >> (7 * (i / 2)));
            for (k, o) in four.iter_mut().enumerate() {
                *o = signed(db * grid_value(entry, k), signs, 4 * (i % 2) + k);
            }
        }
    }
}

pub(super) fn iq3_s_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (s, sub) in out.chunks_exact_mut(32).enumerate() {
        let ls = (b[106 + s / 2] >> (4 * (s % 2))) & 0x0F;
        let db = d * f32::from(1 + 2 * ls);
        for (i, four) in sub.chunks_exact_mut(4).enumerate() {
            let high = usize::from((b[66 + s] >> i) & 1) << 8;
            let entry = IQ3S_GRID[usize::from(b[2 + 8 * s + i]) | high];
            let e0 = 32 * s + 4 * i;
            let signs = u32::from(b[74 + e0 / 8]);
            for (k, o) in four.iter_mut().enumerate() {
                *o = signed(db * grid_value(entry, k), signs, (e0 + k) % 8);
            }
        }
    }
}

/// Value `k` (of 8) of entry `index` of an 8-value grid, as its unsigned byte.
fn grid8(table: &[u32], index: usize, k: usize) -> u8 {
    (table[2 * index + k / 4] >> (8 * (k % 4))) as u8
}

/// The offset IQ1_S's values take, with the sign of their sub-block.
pub const IQ1S_DELTA: f32 = 0.125;

pub(super) fn iq2_xxs_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (s, sub) in out.chunks_exact_mut(32).enumerate() {
        let at = 2 + 8 * s;
        let aux = u32::from_le_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.25;
        for (i, eight) in sub.chunks_exact_mut(8).enumerate() {
            let signs = iq_signs(aux >> (7 * i));
            for (k, o) in eight.iter_mut().enumerate() {
                let v = f32::from(grid8(&IQ2XXS_GRID, usize::from(b[at + i]), k));
                *o = signed(db * v, signs, k);
            }
        }
    }
}

/// The scale of 16 elements `t` in IQ2_XS's and IQ2_S's nibbles at `b[at..]`.
fn iq2_scale(d: f32, b: &[u8], at: usize, t: usize) -> f32 {
    let ls = (b[at + t / 2] >> (4 * (t % 2))) & 0x0F;
    d * (0.5 + f32::from(ls)) * 0.25
}

pub(super) fn iq2_xs_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, eight) in out.chunks_exact_mut(8).enumerate() {
        let q = u16::from_le_bytes([b[2 + 2 * j], b[3 + 2 * j]]);
        let db = iq2_scale(d, b, 66, j / 2);
        let signs = iq_signs(u32::from(q >> 9));
        for (k, o) in eight.iter_mut().enumerate() {
            let v = f32::from(grid8(&IQ2XS_GRID, usize::from(q & 511), k));
            *o = signed(db * v, signs, k);
        }
    }
}

pub(super) fn iq2_s_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, eight) in out.chunks_exact_mut(8).enumerate() {
        let high = usize::from((b[66 + j / 4] >> (2 * (j % 4))) & 3) << 8;
        let index = usize::from(b[2 + j]) | high;
        let db = iq2_scale(d, b, 74, j / 2);
        let signs = u32::from(b[34 + j]);
        for (k, o) in eight.iter_mut().enumerate() {
            *o = signed(db * f32::from(grid8(&IQ2S_GRID, index, k)), signs, k);
        }
    }
}

pub(super) fn iq1_s_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (s, sub) in out.chunks_exact_mut(32).enumerate() {
        let h = u16::from_le_bytes([b[34 + 2 * s], b[35 + 2 * s]]);
        let dl = d * f32::from(2 * ((h >> 12) & 7) + 1);
        let delta = if h & 0x8000 == 0 { IQ1S_DELTA } else { -IQ1S_DELTA };
        for (i, eight) in sub.chunks_exact_mut(8).enumerate() {
            let index = usize::from(b[2 + 4 * s + i]) | (usize::from((h >> (3 * i)) & 7) << 8);
            for (k, o) in eight.iter_mut().enumerate() {
                let v = f32::from(grid8(&IQ1S_GRID, index, k) as i8);
                *o = dl * (v + delta);
            }
        }
    }
}

/// IQ1_M's d, whose 16 bits are the top nibbles of its four scale u16 (at `b[48..56]`).
pub fn iq1_m_d(b: &[u8]) -> f32 {
    let sc = |k: usize| u16::from_le_bytes([b[48 + 2 * k], b[49 + 2 * k]]);
    let bits = (sc(0) >> 12) | ((sc(1) >> 8) & 0x00F0) | ((sc(2) >> 4) & 0x0F00) | (sc(3) & 0xF000);
    half::f16::from_bits(bits).to_f32()
}

pub(super) fn iq1_m_block(b: &[u8], out: &mut [f32]) {
    let d = iq1_m_d(b);
    for (j, eight) in out.chunks_exact_mut(8).enumerate() {
        let nibble = (b[32 + j / 2] >> (4 * (j % 2))) & 0x0F;
        let index = usize::from(b[j]) | (usize::from(nibble & 7) << 8);
        let delta = if nibble & 8 == 0 { IQ1S_DELTA } else { -IQ1S_DELTA };
        let t = j / 2;
        let sc = u16::from_le_bytes([b[48 + 2 * (t / 4)], b[49 + 2 * (t / 4)]]);
        let dl = d * f32::from(2 * ((sc >> (3 * (t % 4))) & 7) + 1);
        for (k, o) in eight.iter_mut().enumerate() {
            let v = f32::from(grid8(&IQ1S_GRID, index, k) as i8);
            *o = dl * (v + delta);
        }
    }
}
