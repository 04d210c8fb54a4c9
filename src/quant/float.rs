//! Plain float element types: F32, F16 and BF16 (a "block" is one element).

use super::f16_at;

/// F32: 4 little-endian bytes.
pub(super) fn f32_block(b: &[u8], out: &mut [f32]) {
    out[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
}

/// F16: IEEE half, converted exactly.
pub(super) fn f16_block(b: &[u8], out: &mut [f32]) {
    out[0] = f16_at(b, 0);
}

/// BF16: the upper 16 bits of an f32.
pub(super) fn bf16_block(b: &[u8], out: &mut [f32]) {
    out[0] = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16);
}
