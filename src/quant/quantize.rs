//! CPU quantizers for the 32-element formats, following ggml's reference quantizers (the same
//! algorithms as gguf-py's `quantize`). Tests use them to make weights for the GPU kernels,
//! and check them byte for byte against gguf-py.

use half::f16;

use crate::gguf::GgmlType;

use super::QuantError;

/// Quantizes `x` (a whole number of blocks) to `ty`: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 or
/// Q5_1.
pub fn quantize(ty: GgmlType, x: &[f32]) -> Result<Vec<u8>, QuantError> {
    let bs = ty.block_size() as usize;
    if !x.len().is_multiple_of(bs) {
        return Err(QuantError::SizeMismatch {
            ty,
            n_bytes: 0,
            n_out: x.len(),
            per_block: ty.block_size(),
            type_size: ty.type_size(),
        });
    }
    let block: fn(&[f32], &mut Vec<u8>) = match ty {
        GgmlType::F32 => |b, out| out.extend_from_slice(&b[0].to_le_bytes()),
        GgmlType::F16 => |b, out| out.extend_from_slice(&f16::from_f32(b[0]).to_le_bytes()),
        GgmlType::BF16 => |b, out| out.extend_from_slice(&bf16(b[0]).to_le_bytes()),
        GgmlType::Q8_0 => q8_0,
        GgmlType::Q4_0 => q4_0,
        GgmlType::Q4_1 => q4_1,
        GgmlType::Q5_0 => q5_0,
        GgmlType::Q5_1 => q5_1,
        other => return Err(QuantError::Unsupported(other)),
    };
    let mut out = Vec::with_capacity(x.len() / bs * ty.type_size() as usize);
    x.chunks_exact(bs).for_each(|b| block(b, &mut out));
    Ok(out)
}

fn put_f16(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&f16::from_f32(v).to_le_bytes());
}

/// The element of largest magnitude, with its sign (the first one on ties).
fn signed_absmax(b: &[f32]) -> f32 {
    b.iter().fold(0.0f32, |m, &v| if v.abs() > m.abs() { v } else { m })
}

fn inverse(d: f32) -> f32 {
    if d == 0.0 { 0.0 } else { 1.0 / d }
}

/// Packs 32 4-bit values: element j < 16 in the low nibble of byte j, j >= 16 in the high
/// nibble of byte j - 16.
fn pack_nibbles(q: &[u8; 32], out: &mut Vec<u8>) {
    out.extend((0..16).map(|j| (q[j] & 0x0F) | (q[j + 16] << 4)));
}

fn q8_0(b: &[f32], out: &mut Vec<u8>) {
    let d = b.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
    let id = inverse(d);
    put_f16(out, d);
    // ggml rounds half away from zero (roundf).
    out.extend(b.iter().map(|&v| (v * id).round() as i8 as u8));
}

fn q4_0(b: &[f32], out: &mut Vec<u8>) {
    let d = signed_absmax(b) / -8.0;
    let id = inverse(d);
    put_f16(out, d);
    let q: [u8; 32] = std::array::from_fn(|j| ((b[j] * id + 8.5).trunc() as i32).clamp(0, 15) as u8);
    pack_nibbles(&q, out);
}

fn q4_1(b: &[f32], out: &mut Vec<u8>) {
    let (min, max) = b.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let d = (max - min) / 15.0;
    let id = inverse(d);
    put_f16(out, d);
    put_f16(out, min);
    let q: [u8; 32] = std::array::from_fn(|j| (((b[j] - min) * id + 0.5).trunc() as i32).clamp(0, 15) as u8);
    pack_nibbles(&q, out);
}

fn q5_0(b: &[f32], out: &mut Vec<u8>) {
    let d = signed_absmax(b) / -16.0;
    let id = inverse(d);
    put_f16(out, d);
    let q: [u8; 32] = std::array::from_fn(|j| ((b[j] * id + 16.5).trunc() as i32).clamp(0, 31) as u8);
    let qh: u32 = (0..32).map(|j| u32::from(q[j] >> 4) << j).sum();
    out.extend_from_slice(&qh.to_le_bytes());
    pack_nibbles(&q, out);
}

fn q5_1(b: &[f32], out: &mut Vec<u8>) {
    let (min, max) = b.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let d = (max - min) / 31.0;
    let id = inverse(d);
    put_f16(out, d);
    put_f16(out, min);
    let q: [u8; 32] = std::array::from_fn(|j| (((b[j] - min) * id + 0.5).trunc() as i32).clamp(0, 31) as u8);
    let qh: u32 = (0..32).map(|j| u32::from(q[j] >> 4) << j).sum();
    out.extend_from_slice(&qh.to_le_bytes());
    pack_nibbles(&q, out);
}

/// An f32 rounded to bf16 (to nearest, ties to even; a NaN stays a quiet NaN), as ggml does.
fn bf16(v: f32) -> u16 {
    let u = v.to_bits();
    if v.is_nan() {
        return ((u >> 16) | 64) as u16;
    }
    ((u + (0x7FFF + ((u >> 16) & 1))) >> 16) as u16
}
