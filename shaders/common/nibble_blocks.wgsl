// The loads of the 32-element 4-bit formats (Q4_0, Q4_1, Q5_0), included in each one's part
// of common/weights.wgsl after its Header, nibble_bytes and nibble_parts: a block's 32 nibbles
// are 4 words (one vector) of the data region; chunk j of the block is word j, its low
// nibbles at columns 4j.., its high ones at 16 + 4j...
fn chunk_parts(h: Header, c: u32) -> Parts {
    let j = c % 4u;
    let v = nibble_bytes(h, j, w[h.blk * (DATA_BYTES / 4u) + j]);
    return nibble_parts(h, j, bytes_u8(v.x), bytes_u8(v.y));
}

#ifdef GROUPS
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let q = wv[h.blk * (DATA_BYTES / 16u)];
    var g: array<Parts, 4>;
    for (var k = 0u; k < 4u; k++) {
        let v = nibble_bytes(h, k, q[k]);
        g[k] = nibble_parts(h, k, bytes_u8(v.x), bytes_u8(v.y));
    }
    return g;
}
#endif
