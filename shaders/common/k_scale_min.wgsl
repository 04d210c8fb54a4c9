// The header of the K formats with 6-bit scales and mins (Q4_K, Q5_K), included in each one's
// part of common/weights.wgsl after its DATA_BYTES and SIDE_BYTES. Side region, 5 words per
// block: (d, dmin), then the 6-bit scales and mins unpacked at upload (src/quant/layout.rs):
// word 1 + p holds (sc 2p, m 2p, sc 2p + 1, m 2p + 1), sub-blocks 2p and 2p + 1 being the low
// and high nibbles of chunks 8p..8p + 8 of the block. The header is a sub-block pair's: 8
// chunks (SPAN_8).

struct Header {
    blk: u32,
    s: vec2<f32>,
    m: vec2<f32>,
    col: u32,
}

fn load_header(row: u32, c: u32, cols: u32, scales: u32) -> Header {
    let blk = row * (cols / 256u) + c / 32u;
    let j = c % 32u;
    let side = scales + (SIDE_BYTES / 4u) * blk;
    let dd = unpack2x16float(w[side]);
    let word = w[side + 1u + j / 8u];
    let sm = vec4<f32>((vec4<u32>(word) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xFFu));
    let col = (c / 32u) * 256u + 64u * (j / 8u);
    return Header(blk, vec2<f32>(dd.x * sm.x, dd.x * sm.z), vec2<f32>(dd.y * sm.y, dd.y * sm.w), col);
}

// Chunk jj (of 8) of the header's sub-block pair.
fn k_parts(h: Header, jj: u32, qa: vec4<f32>, qb: vec4<f32>) -> Parts {
    let col = h.col + 4u * jj;
    return Parts(qa, qb, h.s, h.m, 0.0, col, col + 32u);
}
