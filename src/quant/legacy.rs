//! The 32-element block formats: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1.
//!
//! Layouts (little-endian, `d`/`m` are f16):
//! - Q8_0 (34 B): `d`, `qs[32]` i8; `x = qs * d`.
//! - Q4_0 (18 B): `d`, `qs[16]`; element `j < 16` is the low nibble of `qs[j]`, `j >= 16` the
//!   high nibble of `qs[j - 16]`; `x = d * (q - 8)`.
//! - Q4_1 (20 B): `d`, `m`, `qs[16]` as Q4_0; `x = d * q + m`.
//! - Q5_0 (22 B): `d`, `qh` u32, `qs[16]`; bit `j` of `qh` is the 5th bit of element `j`;
//!   `x = d * (q - 16)`.
//! - Q5_1 (24 B): `d`, `m`, `qh`, `qs[16]`; `x = d * q + m`.

use super::f16_at;

/// Element `j` (0..32) of a 16-byte nibble array.
#[inline]
fn nibble(qs: &[u8], j: usize) -> u8 {
    if j < 16 { qs[j] & 0x0F } else { qs[j - 16] >> 4 }
}

pub(super) fn q8_0_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (o, &q) in out.iter_mut().zip(&b[2..34]) {
        *o = f32::from(q as i8) * d;
    }
}

pub(super) fn q4_0_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * f32::from(nibble(&b[2..18], j) as i8 - 8);
    }
}

pub(super) fn q4_1_block(b: &[u8], out: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * f32::from(nibble(&b[4..20], j)) + m;
    }
}

fn q5(qh: u32, qs: &[u8], j: usize) -> u8 {
    nibble(qs, j) | ((((qh >> j) & 1) as u8) << 4)
}

pub(super) fn q5_0_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * f32::from(q5(qh, &b[6..22], j) as i8 - 16);
    }
}

pub(super) fn q5_1_block(b: &[u8], out: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for (j, o) in out.iter_mut().enumerate() {
        *o = d * f32::from(q5(qh, &b[8..24], j)) + m;
    }
}
