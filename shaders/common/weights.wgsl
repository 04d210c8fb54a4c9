// Reading one quantized weight matrix, eight values ("a chunk") at a time.
//
// The including kernel declares `w: array<u32>` (one page of a weight, see
// src/quant/layout.rs; with GROUPS also `wv: array<vec4<u32>>`, the same page as vectors) and
// calls `load_chunk(row, c, cols, scales)`, where `row` is the row within the page, `c` the
// chunk within the row (a row has cols / 8 chunks), `cols` the row length and `scales` the
// word offset of the page's side region (what a block's values share: scales, mins, high bits).
//
// A chunk is two groups of four consecutive columns: a at col_a.., b at col_b... Adjacent
// chunks read adjacent words, so adjacent invocations make coalesced loads.
//
// Each type defines `load_parts`: the chunk's small integers q (as f32) with each half's scale
// s, zero point z and min m, the value being s * (q - z) - m. `load_chunk` makes the values
// with the arithmetic of src/quant (same f32 operations, same order); `parts_dot` takes a dot
// product with x as s * dot(q, x) - (s * z + m) * sum(x), where sum(x) is shared by every row
// a matvec workgroup computes: fewer operations per weight, which is what bounds the small
// formats on adapters that are short of arithmetic rather than bandwidth (CPU adapters). The
// chunks of a group of four share s, z and m per half, which the matvec uses (group_dot).

struct Chunk {
    a: vec4<f32>,
    b: vec4<f32>,
    col_a: u32,
    col_b: u32,
}

struct Parts {
    qa: vec4<f32>,
    qb: vec4<f32>,
    // Scales and mins of halves a and b.
    s: vec2<f32>,
    m: vec2<f32>,
    // The zero point, the same for both halves.
    z: f32,
    col_a: u32,
    col_b: u32,
}

fn bytes_u8(q: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(0xFFu));
}

// A word of 8 nibbles as the low nibbles' word and the high nibbles' word, a byte each: what
// the 4-bit formats' halves a and b are made of.
fn nibbles(q: u32) -> vec2<u32> {
    return vec2<u32>(q, q >> 4u) & vec2<u32>(0x0F0F0F0Fu);
}

// Bits 0..3 of b moved to bit 4 of bytes 0..3, to be or-ed onto four nibbles: a format's
// high bits joined to its nibbles in one word, so each value is extracted and converted once.
// The product adds copies of b shifted by 0, 7, 14 and 21 bits: they do not overlap (no
// carries), and copy k has bit k at bit 8k.
fn spread_bits4(b: u32) -> u32 {
    return (((b & 0xFu) * 0x00204081u) & 0x01010101u) << 4u;
}

fn bytes_i8(q: u32) -> vec4<f32> {
    let v = bitcast<vec4<i32>>(vec4<u32>(q << 24u, q << 16u, q << 8u, q)) >> vec4<u32>(24u);
    return vec4<f32>(v);
}

// A grid entry's four byte values with the signs of bits 0..3 of `signs` (set: negative), the
// sign bit set by xor so that the magnitudes are exactly the table's.
fn signed_grid(entry: u32, signs: u32) -> vec4<f32> {
    let neg = ((vec4<u32>(signs) >> vec4<u32>(0u, 1u, 2u, 3u)) & vec4<u32>(1u)) << vec4<u32>(31u);
    return bitcast<vec4<f32>>(bitcast<vec4<u32>>(bytes_u8(entry)) ^ neg);
}

// The 8 sign bits of a group of 8 from its 7-bit index: the eighth is the seven's parity
// (src/quant/iquants.rs, iq_signs).
fn iq_signs(index: u32) -> u32 {
    let i = index & 0x7Fu;
    return i | ((countOneBits(i) & 1u) << 7u);
}

// The f16 scale of global block `blk` in the split scale region (SIDE_BYTES = 2: two blocks'
// scales per word).
fn split_scale(scales: u32, blk: u32) -> f32 {
    return unpack2x16float(w[scales + (blk * SIDE_BYTES) / 4u])[blk & 1u];
}

// Each type splits a chunk's load in two: load_header reads what the chunk's block (for the K
// formats, its sub-block pair or half: 8 chunks or more) shares, such as scales; chunk_parts
// reads the chunk's own words. A group of 4 chunks c.. with c % 4 == 0 has one header, and its
// words are one, two or four aligned vectors (GROUPS, matvec: group_parts reads them from wv):
// what the matvec takes per step, or two groups under one header for the K formats (SPAN_8).
// Types whose values are plain scaled integers (z = 0 and m = 0) skip the sum(x) term.
// Each type also names its GPU layout (src/quant/layout.rs, checked by tests/contract.rs):
// DATA_BYTES of each block in the data region, SIDE_BYTES in the side region.
#ifdef W_F32
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 4u;
const SIDE_BYTES: u32 = 0u;

struct Header {
    base: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    return Header(row * cols);
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let base = h.base + 8u * c;
    let a = vec4<f32>(bitcast<f32>(w[base]), bitcast<f32>(w[base + 1u]), bitcast<f32>(w[base + 2u]), bitcast<f32>(w[base + 3u]));
    let b = vec4<f32>(bitcast<f32>(w[base + 4u]), bitcast<f32>(w[base + 5u]), bitcast<f32>(w[base + 6u]), bitcast<f32>(w[base + 7u]));
    return Parts(a, b, vec2<f32>(1.0), vec2<f32>(0.0), 0.0, 8u * c, 8u * c + 4u);
}

#ifdef GROUPS
// Chunk c is vectors 2c, 2c + 1 of the row.
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    var g: array<Parts, 4>;
    for (var k = 0u; k < 4u; k++) {
        let i = h.base / 4u + 2u * (c + k);
        let col = 8u * (c + k);
        g[k] = Parts(bitcast<vec4<f32>>(wv[i]), bitcast<vec4<f32>>(wv[i + 1u]), vec2<f32>(1.0), vec2<f32>(0.0), 0.0, col, col + 4u);
    }
    return g;
}
#endif
#endif

#ifdef W_F16
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 2u;
const SIDE_BYTES: u32 = 0u;

struct Header {
    base: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    return Header((row * cols) / 2u);
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let base = h.base + 4u * c;
    let a = vec4<f32>(unpack2x16float(w[base]), unpack2x16float(w[base + 1u]));
    let b = vec4<f32>(unpack2x16float(w[base + 2u]), unpack2x16float(w[base + 3u]));
    return Parts(a, b, vec2<f32>(1.0), vec2<f32>(0.0), 0.0, 8u * c, 8u * c + 4u);
}

#ifdef GROUPS
// Chunk c is vector c of the row (rows start on whole vectors: cols % 32 == 0).
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    var g: array<Parts, 4>;
    for (var k = 0u; k < 4u; k++) {
        let q = wv[h.base / 4u + c + k];
        let col = 8u * (c + k);
        g[k] = Parts(vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)), vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)), vec2<f32>(1.0), vec2<f32>(0.0), 0.0, col, col + 4u);
    }
    return g;
}
#endif
#endif

#ifdef W_BF16
// Two bf16 per word, each the upper half of an f32.
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 2u;
const SIDE_BYTES: u32 = 0u;

struct Header {
    base: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    return Header((row * cols) / 2u);
}

fn unpack_bf16(q: u32) -> vec2<f32> {
    return bitcast<vec2<f32>>(vec2<u32>(q << 16u, q & 0xFFFF0000u));
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let base = h.base + 4u * c;
    let a = vec4<f32>(unpack_bf16(w[base]), unpack_bf16(w[base + 1u]));
    let b = vec4<f32>(unpack_bf16(w[base + 2u]), unpack_bf16(w[base + 3u]));
    return Parts(a, b, vec2<f32>(1.0), vec2<f32>(0.0), 0.0, 8u * c, 8u * c + 4u);
}

#ifdef GROUPS
// Chunk c is vector c of the row (rows start on whole vectors: cols % 32 == 0).
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    var g: array<Parts, 4>;
    for (var k = 0u; k < 4u; k++) {
        let q = wv[h.base / 4u + c + k];
        let col = 8u * (c + k);
        g[k] = Parts(vec4<f32>(unpack_bf16(q.x), unpack_bf16(q.y)), vec4<f32>(unpack_bf16(q.z), unpack_bf16(q.w)), vec2<f32>(1.0), vec2<f32>(0.0), 0.0, col, col + 4u);
    }
    return g;
}
#endif
#endif

#ifdef W_Q8_0
// 32 int8 (8 words) per block; d in the side region. x = d * q. Chunk j of a block is words
// 2j, 2j + 1.
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 32u;
const SIDE_BYTES: u32 = 2u;

struct Header {
    blk: u32,
    d: f32,
    col: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 32u) + c / 4u;
    return Header(blk, split_scale(scales, blk), (c / 4u) * 32u);
}

fn q8_parts(h: Header, j: u32, q0: u32, q1: u32) -> Parts {
    let col = h.col + 8u * j;
    return Parts(bytes_i8(q0), bytes_i8(q1), vec2<f32>(h.d), vec2<f32>(0.0), 0.0, col, col + 4u);
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let j = c % 4u;
    let base = h.blk * (DATA_BYTES / 4u);
    return q8_parts(h, j, w[base + 2u * j], w[base + 2u * j + 1u]);
}

#ifdef GROUPS
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let a = wv[(DATA_BYTES / 16u) * h.blk];
    let b = wv[(DATA_BYTES / 16u) * h.blk + 1u];
    return array<Parts, 4>(q8_parts(h, 0u, a.x, a.y), q8_parts(h, 1u, a.z, a.w), q8_parts(h, 2u, b.x, b.y), q8_parts(h, 3u, b.z, b.w));
}
#endif
#endif

// The 32-element 4-bit formats: their headers, nibble_bytes (chunk j's values, halves a and b,
// a byte each) and nibble_parts, then common/nibble_blocks.wgsl.
#ifdef W_Q4_0
// d in the side region. x = d * (q - 8).
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 16u;
const SIDE_BYTES: u32 = 2u;

struct Header {
    blk: u32,
    d: f32,
    col: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 32u) + c / 4u;
    return Header(blk, split_scale(scales, blk), (c / 4u) * 32u);
}

fn nibble_bytes(h: Header, j: u32, q: u32) -> vec2<u32> {
    return nibbles(q);
}

fn nibble_parts(h: Header, j: u32, qa: vec4<f32>, qb: vec4<f32>) -> Parts {
    let col = h.col + 4u * j;
    return Parts(qa, qb, vec2<f32>(h.d), vec2<f32>(0.0), 8.0, col, col + 16u);
}

#include "common/nibble_blocks.wgsl"
#endif

#ifdef W_Q4_1
// (d, m) as two f16 in the side region. x = d * q + m.
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 16u;
const SIDE_BYTES: u32 = 4u;

struct Header {
    blk: u32,
    dm: vec2<f32>,
    col: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 32u) + c / 4u;
    return Header(blk, unpack2x16float(w[scales + (SIDE_BYTES / 4u) * blk]), (c / 4u) * 32u);
}

fn nibble_bytes(h: Header, j: u32, q: u32) -> vec2<u32> {
    return nibbles(q);
}

fn nibble_parts(h: Header, j: u32, qa: vec4<f32>, qb: vec4<f32>) -> Parts {
    let col = h.col + 4u * j;
    return Parts(qa, qb, vec2<f32>(h.dm.x), vec2<f32>(-h.dm.y), 0.0, col, col + 16u);
}

#include "common/nibble_blocks.wgsl"
#endif

#ifdef W_Q5_0
// Side region: qh (the 5th bits: bit i for column i), then d as f32. x = d * (q - 16).
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 16u;
const SIDE_BYTES: u32 = 8u;

struct Header {
    blk: u32,
    d: f32,
    qh: u32,
    col: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 32u) + c / 4u;
    let side = scales + (SIDE_BYTES / 4u) * blk;
    return Header(blk, bitcast<f32>(w[side + 1u]), w[side], (c / 4u) * 32u);
}

fn nibble_bytes(h: Header, j: u32, q: u32) -> vec2<u32> {
    return nibbles(q) | vec2<u32>(spread_bits4(h.qh >> (4u * j)), spread_bits4(h.qh >> (16u + 4u * j)));
}

fn nibble_parts(h: Header, j: u32, qa: vec4<f32>, qb: vec4<f32>) -> Parts {
    let col = h.col + 4u * j;
    return Parts(qa, qb, vec2<f32>(h.d), vec2<f32>(0.0), 16.0, col, col + 16u);
}

#include "common/nibble_blocks.wgsl"
#endif

#ifdef W_Q5_1
// Side region: (d, m) as two f16, then qh (the 5th bits: bit i for column i). x = d * q + m.
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 16u;
const SIDE_BYTES: u32 = 8u;

struct Header {
    blk: u32,
    dm: vec2<f32>,
    qh: u32,
    col: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 32u) + c / 4u;
    let side = scales + (SIDE_BYTES / 4u) * blk;
    return Header(blk, unpack2x16float(w[side]), w[side + 1u], (c / 4u) * 32u);
}

fn nibble_bytes(h: Header, j: u32, q: u32) -> vec2<u32> {
    return nibbles(q) | vec2<u32>(spread_bits4(h.qh >> (4u * j)), spread_bits4(h.qh >> (16u + 4u * j)));
}

fn nibble_parts(h: Header, j: u32, qa: vec4<f32>, qb: vec4<f32>) -> Parts {
    let col = h.col + 4u * j;
    return Parts(qa, qb, vec2<f32>(h.dm.x), vec2<f32>(-h.dm.y), 0.0, col, col + 16u);
}

#include "common/nibble_blocks.wgsl"
#endif

#ifdef W_Q2_K
// 20 words (5 vectors) per 256-element block: the 16 scale bytes (scale in the low nibble, min
// in the high, per 16 elements), then 16 words of 2-bit values; (d, dmin) in the side region.
// Value word i (of 16) holds, in 2-bit field f of byte b, element 128 (i / 8) + 32 f +
// 4 (i % 8) + b. x = (d * sc) * q - dmin * m. See common/k_quarter.wgsl for the chunks.
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 80u;
const SIDE_BYTES: u32 = 4u;
const VALUE_WORD: u32 = 4u;
const ZERO_POINT: f32 = 0.0;

#include "common/k_quarter.wgsl"

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let dm = unpack2x16float(w[scales + blk]);
    let word = w[blk * (DATA_BYTES / 4u) + quarter_scale_word(c)];
    let sm = (vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu);
    return Header(blk, dm.x * vec4<f32>(sm & vec4<u32>(15u)), dm.y * vec4<f32>(sm >> vec4<u32>(4u)), quarter_col(c));
}

// No high bits.
fn high_word(base: u32, i: u32) -> u32 {
    return 0u;
}

#ifdef GROUPS
fn high_vec(base: u32, i: u32) -> vec4<u32> {
    return vec4<u32>(0u);
}
#endif

#include "common/k_quarter_parts.wgsl"
#endif

#ifdef W_Q3_K
// 24 words (6 vectors) per 256-element block: hmask (8 words: bit k of byte b is the third bit
// of element 32 k + b), then the 2-bit values as Q2_K's (16 words); side region, 5 words per
// block: d as f32, then the 16 scales sc - 32 as i8. q = low | bit << 2, x = (d * sc) * (q - 4).
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 96u;
const SIDE_BYTES: u32 = 20u;
const VALUE_WORD: u32 = 8u;
const ZERO_POINT: f32 = 4.0;

#include "common/k_quarter.wgsl"

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let side = scales + (SIDE_BYTES / 4u) * blk;
    let sc = bytes_i8(w[side + 1u + quarter_scale_word(c)]);
    return Header(blk, bitcast<f32>(w[side]) * sc, vec4<f32>(0.0), quarter_col(c));
}

// The hmask word of value word i (its bytes' elements), from the block's data at word `base`.
fn high_word(base: u32, i: u32) -> u32 {
    return w[base + i % 8u];
}

#ifdef GROUPS
// The hmask vector of value words i.. (i % 4 == 0), from the block's data at vector `base`.
fn high_vec(base: u32, i: u32) -> vec4<u32> {
    return wv[base + (i % 8u) / 4u];
}
#endif

#include "common/k_quarter_parts.wgsl"
#endif

#ifdef W_Q4_K
// 32 words of nibbles per 256-element block; sub-block s uses nibble bytes 32 * (s / 2)..,
// low when s is even. The side region as in common/k_scale_min.wgsl. Chunk j (of 32) of a
// block takes nibble word j and sub-blocks 2p, 2p + 1 with p = j / 8: a group of 4 chunks
// shares p. x = (d * sc) * q - dmin * m.
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 128u;
const SIDE_BYTES: u32 = 20u;

#include "common/k_scale_min.wgsl"

fn chunk_parts(h: Header, c: u32) -> Parts {
    let j = c % 32u;
    let v = nibbles(w[h.blk * (DATA_BYTES / 4u) + j]);
    return k_parts(h, j % 8u, bytes_u8(v.x), bytes_u8(v.y));
}

#ifdef GROUPS
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let j = c % 32u;
    let q = wv[h.blk * (DATA_BYTES / 16u) + j / 4u];
    var g: array<Parts, 4>;
    for (var k = 0u; k < 4u; k++) {
        let v = nibbles(q[k]);
        g[k] = k_parts(h, j % 8u + k, bytes_u8(v.x), bytes_u8(v.y));
    }
    return g;
}
#endif
#endif

#ifdef W_Q5_K
// 40 words (10 vectors) per 256-element block: qh (8 words), then the nibbles as Q4_K's (32
// words); the side region as in common/k_scale_min.wgsl. Chunk j (of 32) takes nibble word
// 8 + j and qh word j % 8, whose bits 2p and 2p + 1 of each byte (p = j / 8) are the fifth
// bits of its low and high nibbles. x = (d * sc) * q - dmin * m.
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 160u;
const SIDE_BYTES: u32 = 20u;

#include "common/k_scale_min.wgsl"

// Chunk j's values from its nibble word and its qh word: halves a and b, a byte each.
fn q5k_bytes(j: u32, q: u32, qh: u32) -> vec2<u32> {
    let p = j / 8u;
    return nibbles(q) | ((vec2<u32>(qh >> (2u * p), qh >> (2u * p + 1u)) & vec2<u32>(0x01010101u)) << vec2<u32>(4u));
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let j = c % 32u;
    let base = h.blk * (DATA_BYTES / 4u);
    let v = q5k_bytes(j, w[base + 8u + j], w[base + j % 8u]);
    return k_parts(h, j % 8u, bytes_u8(v.x), bytes_u8(v.y));
}

#ifdef GROUPS
// The group's nibble words are one vector, and so are its qh words (j % 8 is 0 or 4).
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let j = c % 32u;
    let base = h.blk * (DATA_BYTES / 16u);
    let q = wv[base + 2u + j / 4u];
    let qh = wv[base + (j % 8u) / 4u];
    var g: array<Parts, 4>;
    for (var k = 0u; k < 4u; k++) {
        let v = q5k_bytes(j + k, q[k], qh[k]);
        g[k] = k_parts(h, j % 8u + k, bytes_u8(v.x), bytes_u8(v.y));
    }
    return g;
}
#endif
#endif

#ifdef W_Q6_K
// 52 words (13 vectors) per 256-element block: ql (128 bytes), qh (64 bytes), 16 int8
// scales; d in the side region. In half h (128 elements) element r takes nibble r / 64 of ql
// byte 64h + r % 64 and bits 2 * (r / 32) of qh byte 32h + r % 32. x = (d * sc) * (q - 32).
// Chunk j (of 32) of a block is in half h = j / 16 with scales 8h + jj / 4 and 8h + 4 + jj / 4
// (jj = j % 16): bytes jj / 4 of scale words 2h and 2h + 1, which the header holds for the
// half (a group of 4 chunks shares both scales).
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 208u;
const SIDE_BYTES: u32 = 2u;

struct Header {
    base: u32,
    d: f32,
    sc: vec2<u32>,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let base = blk * (DATA_BYTES / 4u);
    let h = (c % 32u) / 16u;
    return Header(base, split_scale(scales, blk), vec2<u32>(w[base + 48u + 2u * h], w[base + 49u + 2u * h]));
}

// Chunk c's values from its ql word and its qh word: halves a and b, a byte each.
fn q6k_bytes(c: u32, ql: u32, qh: u32) -> vec2<u32> {
    // Each byte's two high bits for the low nibbles, then for the high ones, moved to bits 4..5.
    let shift = 2u * ((c % 16u) / 8u);
    return nibbles(ql) | ((vec2<u32>(qh >> shift, qh >> (4u + shift)) & vec2<u32>(0x03030303u)) << vec2<u32>(4u));
}

fn q6k_parts(hd: Header, c: u32, qa: vec4<f32>, qb: vec4<f32>) -> Parts {
    let j = c % 32u;
    let jj = j % 16u;
    let sc = vec2<f32>(bitcast<vec2<i32>>(hd.sc << vec2<u32>(24u - 8u * (jj / 4u))) >> vec2<u32>(24u));
    let col = (c / 32u) * 256u + 128u * (j / 16u) + 4u * jj;
    return Parts(qa, qb, hd.d * sc, vec2<f32>(0.0), 32.0, col, col + 64u);
}

fn chunk_parts(hd: Header, c: u32) -> Parts {
    let j = c % 32u;
    let v = q6k_bytes(c, w[hd.base + j], w[hd.base + 32u + 8u * (j / 16u) + j % 8u]);
    return q6k_parts(hd, c, bytes_u8(v.x), bytes_u8(v.y));
}

#ifdef GROUPS
// The group's ql words are one vector, and so are its qh words (jj % 8 is 0 or 4 at its start).
fn group_parts(hd: Header, c: u32) -> array<Parts, 4> {
    let j = c % 32u;
    let ql = wv[hd.base / 4u + j / 4u];
    let qh = wv[hd.base / 4u + 8u + 2u * (j / 16u) + (j % 8u) / 4u];
    var g: array<Parts, 4>;
    for (var k = 0u; k < 4u; k++) {
        let v = q6k_bytes(c + k, ql[k], qh[k]);
        g[k] = q6k_parts(hd, c + k, bytes_u8(v.x), bytes_u8(v.y));
    }
    return g;
}
#endif
#endif

#ifdef W_IQ4_NL
// As Q4_0 (d in the side region, chunk j of a block is nibble word j), but each 4-bit index
// selects a value of common/iq_tables.wgsl. x = d * table[q].
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 16u;
const SIDE_BYTES: u32 = 2u;

struct Header {
    blk: u32,
    s: f32,
    col: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 32u) + c / 4u;
    return Header(blk, split_scale(scales, blk), (c / 4u) * 32u);
}

#include "common/iq4_blocks.wgsl"
#endif

#ifdef W_IQ4_XS
// 32 nibble words per 256-element block: sub-block s (32 elements) is words 4s..4s + 4, laid
// out as an IQ4_NL block's. Side region, 3 words per block: d as f32, then the eight
// sub-blocks' scales ls - 32 as i8. Chunk j (of 32) is word j of sub-block j / 4: a group of 4
// chunks is one sub-block. x = (d * (ls - 32)) * table[q].
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 128u;
const SIDE_BYTES: u32 = 12u;

struct Header {
    blk: u32,
    s: f32,
    col: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let sub = (c % 32u) / 4u;
    let side = scales + (SIDE_BYTES / 4u) * blk;
    let ls = bitcast<i32>(w[side + 1u + sub / 4u] << (24u - 8u * (sub % 4u))) >> 24u;
    return Header(blk, bitcast<f32>(w[side]) * f32(ls), (c / 32u) * 256u + 32u * sub);
}

#include "common/iq4_blocks.wgsl"
#endif

#ifdef W_IQ3_XXS
// 16 words (4 vectors) of grid indices per 256-element block: byte i selects the grid entry of
// elements 4i..4i + 4 (entry e, four byte values, is word e of the table at the start of the
// side region: quant::IQ3XXS_GRID). Then 9 words per block: d as f32, then sub-block s's
// scale-and-signs word (bits 28..32 its scale ls, bits 7g.. the sign index of its elements
// 8g..8g + 8). Chunk j (of 32) is elements 8j..8j + 8: index bytes 2j and 2j + 1, sign group
// j % 4 of sub-block j / 4; a group of 4 chunks is one sub-block.
// x = ((d * (0.5 + ls)) * 0.5) * grid * sign.
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 64u;
const SIDE_BYTES: u32 = 36u;
const TABLE_WORDS: u32 = 256u;

struct Header {
    blk: u32,
    s: f32,
    aux: u32,
    col: u32,
    // Word offset of the grid.
    grid: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let sub = (c % 32u) / 4u;
    let side = scales + TABLE_WORDS + (SIDE_BYTES / 4u) * blk;
    let aux = w[side + 1u + sub];
    let s = bitcast<f32>(w[side]) * (0.5 + f32(aux >> 28u)) * 0.5;
    return Header(blk, s, aux, (c / 32u) * 256u + 32u * sub, scales);
}

// Chunk jj (of 4) of the header's sub-block, from its two index bytes (the low 16 bits of q).
fn iq3xxs_parts(h: Header, jj: u32, q: u32) -> Parts {
    let signs = iq_signs(h.aux >> (7u * jj));
    let a = signed_grid(w[h.grid + (q & 0xFFu)], signs);
    let b = signed_grid(w[h.grid + ((q >> 8u) & 0xFFu)], signs >> 4u);
    let col = h.col + 8u * jj;
    return Parts(a, b, vec2<f32>(h.s), vec2<f32>(0.0), 0.0, col, col + 4u);
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let j = c % 32u;
    return iq3xxs_parts(h, j % 4u, w[h.blk * (DATA_BYTES / 4u) + j / 2u] >> (16u * (j % 2u)));
}

#ifdef GROUPS
// The sub-block's 8 index bytes are half a vector.
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let j = c % 32u;
    let v = wv[h.blk * (DATA_BYTES / 16u) + j / 8u];
    let q = select(v.xy, v.zw, (j / 4u) % 2u == 1u);
    return array<Parts, 4>(iq3xxs_parts(h, 0u, q.x), iq3xxs_parts(h, 1u, q.x >> 16u), iq3xxs_parts(h, 2u, q.y), iq3xxs_parts(h, 3u, q.y >> 16u));
}
#endif
#endif

#ifdef W_IQ3_S
// 24 words (6 vectors) per 256-element block: 16 words of grid index bytes (byte i: the low 8
// bits of the index of elements 4i..4i + 4), then 8 words of sign bits (bit e: element e, set
// negative). Side region: the grid (entry e, four byte values, is word e: quant::IQ3S_GRID),
// then 4 words per block: d as f32, qh (bit i: the 9th bit of index i), the scales (nibble s:
// sub-block s's ls). Chunk j (of 32) is elements 8j..8j + 8: index bytes 2j
// and 2j + 1, sign byte j; a group of 4 chunks is one sub-block. x = (d * (1 + 2 ls)) * grid *
// sign.
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 96u;
const SIDE_BYTES: u32 = 16u;
const TABLE_WORDS: u32 = 512u;

struct Header {
    blk: u32,
    s: f32,
    // The 9th bits of the sub-block's 8 indices.
    qh: u32,
    col: u32,
    // Word offset of the grid.
    grid: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let sub = (c % 32u) / 4u;
    let side = scales + TABLE_WORDS + (SIDE_BYTES / 4u) * blk;
    let qh = (w[side + 1u + sub / 4u] >> (8u * (sub % 4u))) & 0xFFu;
    let ls = (w[side + 3u] >> (4u * sub)) & 0xFu;
    return Header(blk, bitcast<f32>(w[side]) * f32(1u + 2u * ls), qh, (c / 32u) * 256u + 32u * sub, scales);
}

// Chunk jj (of 4) of the header's sub-block, from its two index bytes (the low 16 bits of q)
// and its sign byte (the low 8 bits of signs).
fn iq3s_parts(h: Header, jj: u32, q: u32, signs: u32) -> Parts {
    let hi = (vec2<u32>(h.qh >> (2u * jj), h.qh >> (2u * jj + 1u)) & vec2<u32>(1u)) << vec2<u32>(8u);
    let a = signed_grid(w[h.grid + ((q & 0xFFu) | hi.x)], signs);
    let b = signed_grid(w[h.grid + (((q >> 8u) & 0xFFu) | hi.y)], signs >> 4u);
    let col = h.col + 8u * jj;
    return Parts(a, b, vec2<f32>(h.s), vec2<f32>(0.0), 0.0, col, col + 4u);
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let j = c % 32u;
    let base = h.blk * (DATA_BYTES / 4u);
    return iq3s_parts(h, j % 4u, w[base + j / 2u] >> (16u * (j % 2u)), w[base + 16u + j / 4u] >> (8u * (j % 4u)));
}

#ifdef GROUPS
// The sub-block's 8 index bytes are half a vector, its 4 sign bytes one word.
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let j = c % 32u;
    let base = h.blk * (DATA_BYTES / 16u);
    let v = wv[base + j / 8u];
    let q = select(v.xy, v.zw, (j / 4u) % 2u == 1u);
    let signs = wv[base + 4u + j / 16u][(j / 4u) % 4u];
    return array<Parts, 4>(iq3s_parts(h, 0u, q.x, signs), iq3s_parts(h, 1u, q.x >> 16u, signs >> 8u), iq3s_parts(h, 2u, q.y, signs >> 16u), iq3s_parts(h, 3u, q.y >> 16u, signs >> 24u));
}
#endif
#endif

#ifdef W_IQ2_XXS
// Data region, 16 words per 256-element block: per sub-block of 32 (a header's 4 entries) a
// word of 4 grid indices, then its scale-and-signs word as IQ3_XXS's. Side region: the grid
// (quant::IQ2XXS_GRID), then d as f16, two blocks to a word. x = ((d * (0.5 + ls)) * 0.25) *
// grid * sign.
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 64u;
const SIDE_BYTES: u32 = 2u;
const TABLE_WORDS: u32 = 512u;

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let g = (c % 32u) / 4u;
    let aux = w[blk * (DATA_BYTES / 4u) + 2u * g + 1u];
    let d = unpack2x16float(w[scales + TABLE_WORDS + blk / 2u])[blk & 1u];
    let s = d * (0.5 + f32(aux >> 28u)) * 0.25;
    return Header(vec2<f32>(s), 0.0, (c / 32u) * 256u + 32u * g, scales, blk, g, 0u);
}

// The index word and the scale-and-signs word.
fn chunk_words(h: Header) -> vec2<u32> {
    return pair_words(h);
}

#ifdef GROUPS
fn group_words(h: Header) -> vec2<u32> {
    return pair_vec(h);
}
#endif

fn entry_index(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return (q.x >> (8u * r)) & 0xFFu;
}

fn entry_signs(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return iq_signs(q.y >> (7u * r));
}

fn grid_values(word: u32, signs: u32) -> vec4<f32> {
    return signed_grid(word, signs);
}

#include "common/iq_grid8.wgsl"
#endif

#ifdef W_IQ2_XS
// Data region, 16 words per 256-element block: 32 u16, entry j's (bits 0..9 its grid index,
// bits 9..16 its sign index). Side region: the grid (quant::IQ2XS_GRID), then per block d as
// f32 and the scales' 8 bytes (nibble t: elements 16t..16t + 16). x = ((d * (0.5 + ls)) * 0.25)
// * grid * sign.
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 64u;
const SIDE_BYTES: u32 = 12u;
const TABLE_WORDS: u32 = 1024u;

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let g = (c % 32u) / 4u;
    let side = scales + TABLE_WORDS + (SIDE_BYTES / 4u) * blk;
    let s = iq2_scales(bitcast<f32>(w[side]), w[side + 1u + g / 4u], g);
    return Header(s, 0.0, (c / 32u) * 256u + 32u * g, scales, blk, g, 0u);
}

// The header's entries' u16, two to a word.
fn chunk_words(h: Header) -> vec2<u32> {
    return pair_words(h);
}

#ifdef GROUPS
fn group_words(h: Header) -> vec2<u32> {
    return pair_vec(h);
}
#endif

// Entry r's u16.
fn iq2xs_entry(q: vec2<u32>, r: u32) -> u32 {
    return (select(q.x, q.y, r >= 2u) >> (16u * (r % 2u))) & 0xFFFFu;
}

fn entry_index(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return iq2xs_entry(q, r) & 511u;
}

fn entry_signs(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return iq_signs(iq2xs_entry(q, r) >> 9u);
}

fn grid_values(word: u32, signs: u32) -> vec4<f32> {
    return signed_grid(word, signs);
}

#include "common/iq_grid8.wgsl"
#endif

#ifdef W_IQ2_S
// Data region, 16 words per 256-element block: 8 words of index bytes (entry j's low 8 bits),
// then 8 words of sign bytes (entry j's 8 signs). Side region: the grid (quant::IQ2S_GRID),
// then per block d as f32, qh (2 bits per entry: the index's bits 8..10) and the scales as
// IQ2_XS's. x = ((d * (0.5 + ls)) * 0.25) * grid * sign.
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 64u;
const SIDE_BYTES: u32 = 20u;
const TABLE_WORDS: u32 = 2048u;

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let g = (c % 32u) / 4u;
    let side = scales + TABLE_WORDS + (SIDE_BYTES / 4u) * blk;
    let qh = (w[side + 1u + g / 4u] >> (8u * (g % 4u))) & 0xFFu;
    let s = iq2_scales(bitcast<f32>(w[side]), w[side + 3u + g / 4u], g);
    return Header(s, 0.0, (c / 32u) * 256u + 32u * g, scales, blk, g, qh);
}

// The header's entries' index bytes and sign bytes.
fn chunk_words(h: Header) -> vec2<u32> {
    let base = h.blk * (DATA_BYTES / 4u) + h.g;
    return vec2<u32>(w[base], w[base + 8u]);
}

#ifdef GROUPS
fn group_words(h: Header) -> vec2<u32> {
    let base = h.blk * (DATA_BYTES / 16u) + h.g / 4u;
    return vec2<u32>(wv[base][h.g % 4u], wv[base + 2u][h.g % 4u]);
}
#endif

fn entry_index(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return ((q.x >> (8u * r)) & 0xFFu) | (((h.extra >> (2u * r)) & 3u) << 8u);
}

fn entry_signs(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return (q.y >> (8u * r)) & 0xFFu;
}

fn grid_values(word: u32, signs: u32) -> vec4<f32> {
    return signed_grid(word, signs);
}

#include "common/iq_grid8.wgsl"
#endif

#ifdef W_IQ1_S
// Data region, 8 words per 256-element block: entry j's low 8 index bits. Side region: the
// grid (quant::IQ1S_GRID: values -1, 0, 1 as i8), then per block d as f32 and 8 u16, one per
// sub-block of 32 (bits 3r..3r + 3: entry r's index bits 8..11; bits 12..15: ls; bit 15: the
// offset's sign). x = (d * (2 ls + 1)) * (grid + delta), delta = ±0.125: z = -delta.
const ZERO_OFFSET: bool = false;
const DATA_BYTES: u32 = 32u;
const SIDE_BYTES: u32 = 20u;
const TABLE_WORDS: u32 = 4096u;

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let g = (c % 32u) / 4u;
    let side = scales + TABLE_WORDS + (SIDE_BYTES / 4u) * blk;
    let qh = (w[side + 1u + g / 2u] >> (16u * (g % 2u))) & 0xFFFFu;
    let s = bitcast<f32>(w[side]) * f32(2u * ((qh >> 12u) & 7u) + 1u);
    let z = select(-0.125, 0.125, (qh & 0x8000u) != 0u);
    return Header(vec2<f32>(s), z, (c / 32u) * 256u + 32u * g, scales, blk, g, qh);
}

// The header's entries' index bytes.
fn chunk_words(h: Header) -> vec2<u32> {
    return vec2<u32>(index_word(h), 0u);
}

#ifdef GROUPS
fn group_words(h: Header) -> vec2<u32> {
    return vec2<u32>(index_vec_word(h), 0u);
}
#endif

fn entry_index(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return ((q.x >> (8u * r)) & 0xFFu) | (((h.extra >> (3u * r)) & 7u) << 8u);
}

fn entry_signs(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return 0u;
}

fn grid_values(word: u32, signs: u32) -> vec4<f32> {
    return bytes_i8(word);
}

#include "common/iq_grid8.wgsl"
#endif

#ifdef W_IQ1_M
// Data region, 8 words per 256-element block: entry j's low 8 index bits. Side region: the
// grid (quant::IQ1S_GRID), then per block d as f32 (the file splits it over the top nibbles of
// its scales), qh (4 words: a nibble per entry, bits 0..3 its index's bits 8..11, bit 3 its
// offset's sign) and the scales (2 words: bits 3t..3t + 3 of u16 t / 4, the scale of 16
// elements). The offset is per entry, so it is added to the values (exactly: they are -1, 0,
// 1): x = (d * (2 ls + 1)) * (grid + delta), delta = ±0.125.
const ZERO_OFFSET: bool = true;
const DATA_BYTES: u32 = 32u;
const SIDE_BYTES: u32 = 28u;
const TABLE_WORDS: u32 = 4096u;

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let g = (c % 32u) / 4u;
    let side = scales + TABLE_WORDS + (SIDE_BYTES / 4u) * blk;
    let qh = (w[side + 1u + g / 2u] >> (16u * (g % 2u))) & 0xFFFFu;
    // Scales 2g and 2g + 1: u16 g / 2, bits 6 (g % 2)...
    let sc = (w[side + 5u + g / 4u] >> (16u * ((g / 2u) % 2u) + 6u * (g % 2u))) & 0x3Fu;
    let ls = vec2<u32>(sc & 7u, sc >> 3u);
    let s = bitcast<f32>(w[side]) * vec2<f32>(2u * ls + vec2<u32>(1u));
    return Header(s, 0.0, (c / 32u) * 256u + 32u * g, scales, blk, g, qh);
}

fn chunk_words(h: Header) -> vec2<u32> {
    return vec2<u32>(index_word(h), 0u);
}

#ifdef GROUPS
fn group_words(h: Header) -> vec2<u32> {
    return vec2<u32>(index_vec_word(h), 0u);
}
#endif

fn entry_index(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return ((q.x >> (8u * r)) & 0xFFu) | (((h.extra >> (4u * r)) & 7u) << 8u);
}

// The offset's sign bit, in bits 0 and 4 (grid_half shifts by 4 for an entry's second half).
fn entry_signs(h: Header, q: vec2<u32>, r: u32) -> u32 {
    return ((h.extra >> (4u * r + 3u)) & 1u) * 0x11u;
}

fn grid_values(word: u32, signs: u32) -> vec4<f32> {
    return bytes_i8(word) + vec4<f32>(select(0.125, -0.125, (signs & 1u) != 0u));
}

#include "common/iq_grid8.wgsl"
#endif

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    return chunk_parts(load_header(row, c, cols, scales), c);
}

#ifdef GROUPS
// Chunks c..c + 3 (c % 4 == 0) of a row: one header, their words as vectors (group_parts).
fn load_group(row: u32, c: u32, cols: u32, scales: u32) -> array<Parts, 4> {
    return group_parts(load_header(row, c, cols, scales), c);
}
#endif

// The chunk's values, as src/quant computes them: s * (q - z) - m (z and m are 0 where the
// format has none, and subtracting 0 changes nothing).
fn load_chunk(row: u32, c: u32, cols: u32, scales: u32) -> Chunk {
    let p = load_parts(row, c, cols, scales);
    return Chunk(p.s.x * (p.qa - p.z) - p.m.x, p.s.y * (p.qb - p.z) - p.m.y, p.col_a, p.col_b);
}

// dot(chunk, (xa, xb)) as s * dot(q, x) - (s * z + m) * sum(x), given sum_x = (sum(xa),
// sum(xb)).
fn parts_dot(p: Parts, xa: vec4<f32>, xb: vec4<f32>, sum_x: vec2<f32>) -> f32 {
    let d = p.s.x * dot(p.qa, xa) + p.s.y * dot(p.qb, xb);
    if (ZERO_OFFSET) {
        return d;
    }
    return d - dot(p.s * p.z + p.m, sum_x);
}
