// The loads of the 32-element 4-bit formats (Q4_0, Q4_1, Q5_0), included in each one's part
// of common/weights.wgsl after its Header and nibble_parts: a block's 32 nibbles are 4 words
// (one vector) of the data region; chunk j of the block is word j, its low nibbles at columns
// 4j.., its high ones at 16 + 4j...
fn chunk_parts(h: Header, c: u32) -> Parts {
    let j = c % 4u;
    return nibble_parts(h, j, w[h.blk * 4u + j]);
}

#ifdef GROUPS
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let q = wv[h.blk];
    return array<Parts, 4>(nibble_parts(h, 0u, q.x), nibble_parts(h, 1u, q.y), nibble_parts(h, 2u, q.z), nibble_parts(h, 3u, q.w));
}
#endif
