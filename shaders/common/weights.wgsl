// Reading one quantized weight matrix, eight values ("a chunk") at a time.
//
// The including kernel declares `w: array<u32>` (one page of a weight, see
// src/quant/layout.rs) and calls `load_chunk(row, c, cols, scales)`, where `row` is the row
// within the page, `c` the chunk within the row (a row has cols / 8 chunks), `cols` the row
// length and `scales` the word offset of the page's side region (types whose blocks carry a
// lone f16 keep it there, so that every other load is an aligned u32; Q4_K its unpacked
// scales and mins).
//
// A chunk is two groups of four consecutive columns: a at col_a.., b at col_b... Adjacent
// chunks read adjacent words, so adjacent invocations make coalesced loads.
//
// Each type defines `load_parts`: the chunk's small integers q (as f32) with each half's scale
// s, zero point z and min m, the value being s * (q - z) - m. `load_chunk` makes the values
// with the arithmetic of src/quant (same f32 operations, same order); `parts_dot` takes a dot
// product with x as s * dot(q, x) - (s * z + m) * sum(x), where sum(x) is shared by every row
// a matvec workgroup computes: fewer operations per weight, which is what bounds the small
// formats on adapters that are short of arithmetic rather than bandwidth (CPU adapters).

struct Chunk {
    a: vec4<f32>,
    b: vec4<f32>,
    col_a: u32,
    col_b: u32,
}

// Two adjacent chunks c, c + 1 (c even) of one row (load_pair): they share their block, so
// formats with per-block scales load those once.
struct Pair {
    p0: Parts,
    p1: Parts,
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

fn nibbles_lo(q: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(q, q >> 8u, q >> 16u, q >> 24u) & vec4<u32>(0xFu));
}

fn nibbles_hi(q: u32) -> vec4<f32> {
    return vec4<f32>(vec4<u32>(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & vec4<u32>(0xFu));
}

fn bytes_i8(q: u32) -> vec4<f32> {
    let v = bitcast<vec4<i32>>(vec4<u32>(q << 24u, q << 16u, q << 8u, q)) >> vec4<u32>(24u);
    return vec4<f32>(v);
}

// The f16 scale of global block `blk` in the split scale region.
fn split_scale(scales: u32, blk: u32) -> f32 {
    return unpack2x16float(w[scales + blk / 2u])[blk & 1u];
}

// Types whose values are plain scaled integers (z = 0 and m = 0) skip the sum(x) term.
#ifdef W_F32
const ZERO_OFFSET: bool = true;

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    let base = row * cols + 8u * c;
    let a = vec4<f32>(bitcast<f32>(w[base]), bitcast<f32>(w[base + 1u]), bitcast<f32>(w[base + 2u]), bitcast<f32>(w[base + 3u]));
    let b = vec4<f32>(bitcast<f32>(w[base + 4u]), bitcast<f32>(w[base + 5u]), bitcast<f32>(w[base + 6u]), bitcast<f32>(w[base + 7u]));
    return Parts(a, b, vec2<f32>(1.0), vec2<f32>(0.0), 0.0, 8u * c, 8u * c + 4u);
}

fn load_pair(row: u32, c: u32, cols: u32, scales: u32) -> Pair {
    return Pair(load_parts(row, c, cols, scales), load_parts(row, c + 1u, cols, scales));
}
#endif

#ifdef W_F16
const ZERO_OFFSET: bool = true;

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    let base = (row * cols) / 2u + 4u * c;
    let a = vec4<f32>(unpack2x16float(w[base]), unpack2x16float(w[base + 1u]));
    let b = vec4<f32>(unpack2x16float(w[base + 2u]), unpack2x16float(w[base + 3u]));
    return Parts(a, b, vec2<f32>(1.0), vec2<f32>(0.0), 0.0, 8u * c, 8u * c + 4u);
}

fn load_pair(row: u32, c: u32, cols: u32, scales: u32) -> Pair {
    return Pair(load_parts(row, c, cols, scales), load_parts(row, c + 1u, cols, scales));
}
#endif

#ifdef W_Q8_0
// 32 int8 (8 words) per block; d in the scale region. x = d * q.
const ZERO_OFFSET: bool = true;

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    let blk = row * (cols / 32u) + c / 4u;
    let j = c % 4u;
    let d = split_scale(scales, blk);
    let base = blk * 8u + 2u * j;
    let col = (c / 4u) * 32u + 8u * j;
    return Parts(bytes_i8(w[base]), bytes_i8(w[base + 1u]), vec2<f32>(d), vec2<f32>(0.0), 0.0, col, col + 4u);
}

fn load_pair(row: u32, c: u32, cols: u32, scales: u32) -> Pair {
    let blk = row * (cols / 32u) + c / 4u;
    let j = c % 4u;
    let d = vec2<f32>(split_scale(scales, blk));
    let base = blk * 8u + 2u * j;
    let col = (c / 4u) * 32u + 8u * j;
    let z = vec2<f32>(0.0);
    return Pair(
        Parts(bytes_i8(w[base]), bytes_i8(w[base + 1u]), d, z, 0.0, col, col + 4u),
        Parts(bytes_i8(w[base + 2u]), bytes_i8(w[base + 3u]), d, z, 0.0, col + 8u, col + 12u),
    );
}
#endif

#ifdef W_Q4_0
// 16 bytes of nibbles (4 words) per block; d in the scale region. x = d * (q - 8).
const ZERO_OFFSET: bool = false;

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    let blk = row * (cols / 32u) + c / 4u;
    let j = c % 4u;
    let d = split_scale(scales, blk);
    let q = w[blk * 4u + j];
    let col = (c / 4u) * 32u + 4u * j;
    return Parts(nibbles_lo(q), nibbles_hi(q), vec2<f32>(d), vec2<f32>(0.0), 8.0, col, col + 16u);
}

fn load_pair(row: u32, c: u32, cols: u32, scales: u32) -> Pair {
    let blk = row * (cols / 32u) + c / 4u;
    let j = c % 4u;
    let d = vec2<f32>(split_scale(scales, blk));
    let q0 = w[blk * 4u + j];
    let q1 = w[blk * 4u + j + 1u];
    let col = (c / 4u) * 32u + 4u * j;
    let z = vec2<f32>(0.0);
    return Pair(
        Parts(nibbles_lo(q0), nibbles_hi(q0), d, z, 8.0, col, col + 16u),
        Parts(nibbles_lo(q1), nibbles_hi(q1), d, z, 8.0, col + 4u, col + 20u),
    );
}
#endif

#ifdef W_Q4_1
// 5 words per block: (d, m) as two f16, then 16 bytes of nibbles. x = d * q + m.
const ZERO_OFFSET: bool = false;

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    let blk = row * (cols / 32u) + c / 4u;
    let j = c % 4u;
    let dm = unpack2x16float(w[blk * 5u]);
    let q = w[blk * 5u + 1u + j];
    let col = (c / 4u) * 32u + 4u * j;
    return Parts(nibbles_lo(q), nibbles_hi(q), vec2<f32>(dm.x), vec2<f32>(-dm.y), 0.0, col, col + 16u);
}

fn load_pair(row: u32, c: u32, cols: u32, scales: u32) -> Pair {
    return Pair(load_parts(row, c, cols, scales), load_parts(row, c + 1u, cols, scales));
}
#endif

#ifdef W_Q5_0
// 5 words per block: qh (the 5th bits), then 16 bytes of nibbles; d in the scale region.
// x = d * (q - 16).
const ZERO_OFFSET: bool = false;

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    let blk = row * (cols / 32u) + c / 4u;
    let j = c % 4u;
    let d = split_scale(scales, blk);
    let qh = w[blk * 5u];
    let q = w[blk * 5u + 1u + j];
    let sh = vec4<u32>(0u, 1u, 2u, 3u) + 4u * j;
    let ha = vec4<f32>((vec4<u32>(qh) >> sh) & vec4<u32>(1u)) * 16.0;
    let hb = vec4<f32>((vec4<u32>(qh) >> (sh + 16u)) & vec4<u32>(1u)) * 16.0;
    let col = (c / 4u) * 32u + 4u * j;
    return Parts(nibbles_lo(q) + ha, nibbles_hi(q) + hb, vec2<f32>(d), vec2<f32>(0.0), 16.0, col, col + 16u);
}

fn q5_half(q: u32, qh: u32, j: u32, hi: bool) -> vec4<f32> {
    let sh = vec4<u32>(0u, 1u, 2u, 3u) + 4u * j + select(0u, 16u, hi);
    let h = vec4<f32>((vec4<u32>(qh) >> sh) & vec4<u32>(1u)) * 16.0;
    return select(nibbles_lo(q), nibbles_hi(q), hi) + h;
}

fn load_pair(row: u32, c: u32, cols: u32, scales: u32) -> Pair {
    let blk = row * (cols / 32u) + c / 4u;
    let j = c % 4u;
    let d = vec2<f32>(split_scale(scales, blk));
    let qh = w[blk * 5u];
    let q0 = w[blk * 5u + 1u + j];
    let q1 = w[blk * 5u + 2u + j];
    let col = (c / 4u) * 32u + 4u * j;
    let z = vec2<f32>(0.0);
    return Pair(
        Parts(q5_half(q0, qh, j, false), q5_half(q0, qh, j, true), d, z, 16.0, col, col + 16u),
        Parts(q5_half(q1, qh, j + 1u, false), q5_half(q1, qh, j + 1u, true), d, z, 16.0, col + 4u, col + 20u),
    );
}
#endif

#ifdef W_Q4_K
// 33 words per 256-element block in the data region: (d, dmin), then 128 bytes of nibbles;
// sub-block s uses nibble bytes 32 * (s / 2).., low when s is even. The block's 6-bit scales
// and mins, unpacked at upload (src/quant/layout.rs), are 4 words of the side region: word p
// holds bytes (sc 2p, m 2p, sc 2p + 1, m 2p + 1). x = (d * sc) * q - dmin * m.
const ZERO_OFFSET: bool = false;

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    let blk = row * (cols / 256u) + c / 32u;
    let j = c % 32u;
    let base = blk * 33u;
    let dd = unpack2x16float(w[base]);
    let p = j / 8u;
    let q = w[base + 1u + j];
    let sm = vec4<f32>((vec4<u32>(w[scales + blk * 4u + p]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu));
    let col = (c / 32u) * 256u + 64u * p + 4u * (j % 8u);
    let s = vec2<f32>(dd.x * sm.x, dd.x * sm.z);
    return Parts(nibbles_lo(q), nibbles_hi(q), s, vec2<f32>(dd.y * sm.y, dd.y * sm.w), 0.0, col, col + 32u);
}

fn load_pair(row: u32, c: u32, cols: u32, scales: u32) -> Pair {
    let blk = row * (cols / 256u) + c / 32u;
    let j = c % 32u;
    let base = blk * 33u;
    let dd = unpack2x16float(w[base]);
    let p = j / 8u;
    let q0 = w[base + 1u + j];
    let q1 = w[base + 2u + j];
    let sm = vec4<f32>((vec4<u32>(w[scales + blk * 4u + p]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu));
    let col = (c / 32u) * 256u + 64u * p + 4u * (j % 8u);
    let s = vec2<f32>(dd.x * sm.x, dd.x * sm.z);
    let m = vec2<f32>(dd.y * sm.y, dd.y * sm.w);
    return Pair(
        Parts(nibbles_lo(q0), nibbles_hi(q0), s, m, 0.0, col, col + 32u),
        Parts(nibbles_lo(q1), nibbles_hi(q1), s, m, 0.0, col + 4u, col + 36u),
    );
}
#endif

#ifdef W_Q6_K
// 52 words per 256-element block: ql (128 bytes), qh (64 bytes), 16 int8 scales; d in the
// scale region. In half h (128 elements) element r takes nibble r / 64 of ql byte
// 64h + r % 64 and bits 2 * (r / 32) of qh byte 32h + r % 32. x = (d * sc) * (q - 32).
fn scale_i8(base: u32, i: u32) -> f32 {
    let word = w[base + 48u + i / 4u];
    return f32(bitcast<i32>(word << (24u - 8u * (i % 4u))) >> 24u);
}

const ZERO_OFFSET: bool = false;

fn load_parts(row: u32, c: u32, cols: u32, scales: u32) -> Parts {
    let blk = row * (cols / 256u) + c / 32u;
    let j = c % 32u;
    let base = blk * 52u;
    let h = j / 16u;
    let jj = j % 16u;
    let ql = w[base + j];
    let qh = vec4<u32>(w[base + 32u + 8u * h + jj % 8u]) >> vec4<u32>(0u, 8u, 16u, 24u);
    let hi_lo = vec4<f32>((qh >> vec4<u32>(2u * (jj / 8u))) & vec4<u32>(3u));
    let hi_hi = vec4<f32>((qh >> vec4<u32>(4u + 2u * (jj / 8u))) & vec4<u32>(3u));
    let d = split_scale(scales, blk);
    let sa = d * scale_i8(base, 8u * h + jj / 4u);
    let sb = d * scale_i8(base, 8u * h + 4u + jj / 4u);
    let col = (c / 32u) * 256u + 128u * h + 4u * jj;
    return Parts(nibbles_lo(ql) + 16.0 * hi_lo, nibbles_hi(ql) + 16.0 * hi_hi, vec2<f32>(sa, sb), vec2<f32>(0.0), 32.0, col, col + 64u);
}

// The 6-bit values of a chunk: nibbles of ql with their 2 high bits from qh (bits sh..).
fn q6_half(ql: u32, qh: u32, sh: u32, hi: bool) -> vec4<f32> {
    let h = vec4<f32>((vec4<u32>(qh) >> (vec4<u32>(0u, 8u, 16u, 24u) + sh + select(0u, 4u, hi))) & vec4<u32>(3u));
    return select(nibbles_lo(ql), nibbles_hi(ql), hi) + 16.0 * h;
}

fn load_pair(row: u32, c: u32, cols: u32, scales: u32) -> Pair {
    let blk = row * (cols / 256u) + c / 32u;
    let j = c % 32u;
    let base = blk * 52u;
    let h = j / 16u;
    let jj = j % 16u;
    let ql0 = w[base + j];
    let ql1 = w[base + j + 1u];
    let qh0 = w[base + 32u + 8u * h + jj % 8u];
    let qh1 = w[base + 33u + 8u * h + jj % 8u];
    let sh = 2u * (jj / 8u);
    let d = split_scale(scales, blk);
    let s = vec2<f32>(d * scale_i8(base, 8u * h + jj / 4u), d * scale_i8(base, 8u * h + 4u + jj / 4u));
    let col = (c / 32u) * 256u + 128u * h + 4u * jj;
    let z = vec2<f32>(0.0);
    return Pair(
        Parts(q6_half(ql0, qh0, sh, false), q6_half(ql0, qh0, sh, true), s, z, 32.0, col, col + 64u),
        Parts(q6_half(ql1, qh1, sh, false), q6_half(ql1, qh1, sh, true), s, z, 32.0, col + 4u, col + 68u),
    );
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
