// The header of the 2-bit-value K formats (Q2_K, Q3_K), included in each one's part of
// common/weights.wgsl after its DATA_BYTES, SIDE_BYTES and VALUE_WORD (the word of the block's
// data region where its 16 value words start; Q3_K's 8 high-bit words come first).
//
// Value word i (of 16) holds four 2-bit fields per byte: field f of byte b is element
// 128 (i / 8) + 32 f + 4 (i % 8) + b. Chunk j (of 32) of a block is value word j % 16, fields
// f = 2 (j / 16) (half a) and f + 1 (half b, 32 columns on). Each 16 elements have a scale: a
// chunk's half a has scale 8 (i / 8) + 4 (j / 16) + (i % 8) / 4, half b that plus 2. The 8
// chunks 8p..8p + 8 (a quarter: value words 8 (p % 2).., fields of p / 2) have the 4 scales of
// scale word 2 (p % 2) + p / 2, which the header holds (SPAN_8); a group of 4 chunks has one
// scale per half.

struct Header {
    blk: u32,
    // The quarter's four scales and mins (d * sc, dmin * m).
    s: vec4<f32>,
    m: vec4<f32>,
    col: u32,
}

// The word (of 4) of a block's scales that chunk c's quarter uses.
fn quarter_scale_word(c: u32) -> u32 {
    let p = (c % 32u) / 8u;
    return 2u * (p % 2u) + p / 2u;
}

// The first column of chunk c's quarter.
fn quarter_col(c: u32) -> u32 {
    let p = (c % 32u) / 8u;
    return (c / 32u) * 256u + 128u * (p % 2u) + 64u * (p / 2u);
}
