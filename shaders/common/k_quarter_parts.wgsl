// The chunks of the 2-bit-value K formats (Q2_K, Q3_K), after each one's high_word and
// high_vec (see common/k_quarter.wgsl for the layout).

// Chunk c's values, halves a and b a byte each, from its value word q and its high bits qh:
// bit 4 (i / 8) + f of each byte is the third bit of field f (zero for Q2_K).
fn quarter_bytes(c: u32, q: u32, qh: u32) -> vec2<u32> {
    let j = c % 32u;
    let f = 2u * (j / 16u);
    let hb = 4u * ((j % 16u) / 8u) + f;
    let low = vec2<u32>(q >> (2u * f), q >> (2u * f + 2u)) & vec2<u32>(0x03030303u);
    return low | ((vec2<u32>(qh >> hb, qh >> (hb + 1u)) & vec2<u32>(0x01010101u)) << vec2<u32>(2u));
}

// Chunk c, of its header's quarter, from its halves' values.
fn quarter_parts(h: Header, c: u32, v: vec2<u32>) -> Parts {
    let jj = c % 8u;
    let k = jj / 4u;
    let col = h.col + 4u * jj;
    return Parts(bytes_u8(v.x), bytes_u8(v.y), vec2<f32>(h.s[k], h.s[k + 2u]), vec2<f32>(h.m[k], h.m[k + 2u]), ZERO_POINT, col, col + 32u);
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let i = c % 16u;
    let base = h.blk * (DATA_BYTES / 4u);
    return quarter_parts(h, c, quarter_bytes(c, w[base + VALUE_WORD + i], high_word(base, i)));
}

#ifdef GROUPS
// The group's value words are one vector, and so are its high-bit words.
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let i = c % 16u;
    let base = h.blk * (DATA_BYTES / 16u);
    let q = wv[base + VALUE_WORD / 4u + i / 4u];
    let qh = high_vec(base, i);
    var g: array<Parts, 4>;
    for (var k = 0u; k < 4u; k++) {
        g[k] = quarter_parts(h, c + k, quarter_bytes(c + k, q[k], qh[k]));
    }
    return g;
}
#endif
