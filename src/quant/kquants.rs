//! The 256-element "K" super-block formats: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
//!
//! Layouts (little-endian, `d`/`dmin` f16):
//! - Q2_K (84 B): `scales[16]` (per 16 elements: scale in the low nibble, min in the high),
//!   `qs[64]`, `d`, `dmin`. In each half `h` (128 elements), element `r` is 2-bit field
//!   `r / 32` of `qs[32h + r % 32]`; `x = (d * sc) * q - (dmin * m)`.
//! - Q3_K (110 B): `hmask[32]`, `qs[64]`, `scales[12]` (sixteen 6-bit scales, see
//!   [`q3_k_scale`]), `d`. The low 2 bits as Q2_K's; element `e`'s third bit is bit
//!   `e / 32` of `hmask[e % 32]`, and a clear bit subtracts 4: `x = (d * (sc - 32)) * q`
//!   with `q = low - (bit ? 0 : 4)`.
//! - Q4_K (144 B): `d`, `dmin`, `scales[12]` (eight 6-bit scales and eight 6-bit mins,
//!   see [`get_scale_min_k4`]), `qs[128]`. Sub-block `s` (32 elements) uses chunk
//!   `qs[32 * (s / 2)..][..32]`, low nibbles when `s` is even, high when odd;
//!   `x = (d * sc[s]) * q - (dmin * m[s])`.
//! - Q5_K (176 B): as Q4_K plus `qh[32]` before `qs`: bit `s` of `qh[i]` is the 5th bit of
//!   element `i` of sub-block `s`.
//! - Q6_K (210 B): `ql[128]`, `qh[64]`, `scales[16]` i8, `d`. In each half `h` (128
//!   elements), element `r` takes nibble `r / 64` of `ql[64h + r % 64]` and 2-bit field
//!   `r / 32` of `qh[32h + r % 32]`; `x = (d * scales[e / 16]) * (q - 32)`.

use super::f16_at;

/// Elements per K super-block.
pub const QK_K: usize = 256;

/// Unpacks sub-block `j`'s 6-bit scale and min from Q4_K/Q5_K's 12 packed bytes:
/// bytes 0..4 hold scales 0..4 (low 6 bits) and the top 2 bits of scales 4..8, bytes 4..8 the
/// same for mins, bytes 8..12 the low 4 bits of scales 4..8 (low nibble) and mins (high).
pub fn get_scale_min_k4(j: usize, s: &[u8]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        let sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        let m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        (sc, m)
    }
}

/// Q3_K's scale `k` (of 16) minus 32, from its 12 packed bytes: the low 4 bits are nibble
/// `k / 8` of byte `k % 8`, the high 2 bits field `k / 4` of byte `8 + k % 4`.
pub fn q3_k_scale(scales: &[u8], k: usize) -> i8 {
    let lo = (scales[k % 8] >> (4 * (k / 8))) & 0x0F;
    let hi = (scales[8 + k % 4] >> (2 * (k / 4))) & 0x03;
    (lo | (hi << 4)) as i8 - 32
}

pub(super) fn q2_k_block(b: &[u8], out: &mut [f32]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    for (e, o) in out.iter_mut().enumerate() {
        let (h, r) = (e / 128, e % 128);
        let q = (qs[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
        let sc = scales[e / 16];
        let (dl, ml) = (d * f32::from(sc & 0x0F), dmin * f32::from(sc >> 4));
        *o = dl * f32::from(q) - ml;
    }
}

pub(super) fn q3_k_block(b: &[u8], out: &mut [f32]) {
    let (hmask, qs, scales) = (&b[0..32], &b[32..96], &b[96..108]);
    let d = f16_at(b, 108);
    for (e, o) in out.iter_mut().enumerate() {
        let (h, r) = (e / 128, e % 128);
        let low = ((qs[32 * h + r % 32] >> (2 * (r / 32))) & 0x03) as i8;
        let bit = (hmask[e % 32] >> (e / 32)) & 1;
        let q = low - if bit == 1 { 0 } else { 4 };
        let dl = d * f32::from(q3_k_scale(scales, e / 16));
        *o = dl * f32::from(q);
    }
}

pub(super) fn q4_k_block(b: &[u8], out: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qs) = (&b[4..16], &b[16..144]);
    for (s, sub) in out.chunks_exact_mut(32).enumerate() {
        let (sc, m) = get_scale_min_k4(s, scales);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        let chunk = &qs[32 * (s / 2)..32 * (s / 2) + 32];
        let shift = 4 * (s % 2);
        for (o, &q) in sub.iter_mut().zip(chunk) {
            *o = dl * f32::from((q >> shift) & 0x0F) - ml;
        }
    }
}

pub(super) fn q5_k_block(b: &[u8], out: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let (scales, qh, qs) = (&b[4..16], &b[16..48], &b[48..176]);
    for (s, sub) in out.chunks_exact_mut(32).enumerate() {
        let (sc, m) = get_scale_min_k4(s, scales);
        let (dl, ml) = (d * f32::from(sc), dmin * f32::from(m));
        let chunk = &qs[32 * (s / 2)..32 * (s / 2) + 32];
        let shift = 4 * (s % 2);
        for (i, o) in sub.iter_mut().enumerate() {
            let q = ((chunk[i] >> shift) & 0x0F) | (((qh[i] >> s) & 1) << 4);
            *o = dl * f32::from(q) - ml;
        }
    }
}

pub(super) fn q6_k_block(b: &[u8], out: &mut [f32]) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16_at(b, 208);
    for (e, o) in out.iter_mut().enumerate() {
        let (h, r) = (e / 128, e % 128);
        let lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 0x0F;
        let hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 0x03;
        let q = (lo | (hi << 4)) as i8 - 32;
        let dl = d * f32::from(scales[e / 16] as i8);
        *o = dl * f32::from(q);
    }
}
