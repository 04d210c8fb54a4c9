//! The non-linear 4-bit "i-quants": IQ4_NL and IQ4_XS, whose 4-bit indices select values of
//! one fixed table ([`KVALUES_IQ4NL`]) instead of being the values themselves.
//!
//! Layouts (little-endian, `d` f16):
//! - IQ4_NL (18 B, 32 elements): `d`, `qs[16]`; element `j < 16` is table entry `qs[j] & 15`,
//!   `j >= 16` entry `qs[j - 16] >> 4`; `x = d * table[q]`.
//! - IQ4_XS (136 B, 256 elements): `d`, `scales_h` (u16: 2 high bits per sub-block),
//!   `scales_l[4]` (4 low bits per sub-block), `qs[128]`. Sub-block `s` (32 elements) has the
//!   6-bit scale `ls = (scales_l[s / 2] >> 4 (s % 2)) & 15 | ((scales_h >> 2s) & 3) << 4` and
//!   the nibbles `qs[16s..16s + 16]` as IQ4_NL's; `x = (d * (ls - 32)) * table[q]`.

use super::f16_at;

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
