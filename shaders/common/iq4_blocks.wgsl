// The loads of IQ4_NL and IQ4_XS, included in each one's part of common/weights.wgsl after its
// Header (blk, the chunk's scale s, the column of its 32 elements): 32 elements are 4 nibble
// words, chunk jj of them word jj, its low nibbles at columns 4 jj.., its high ones at
// 16 + 4 jj..; each nibble selects a value of the table (common/iq_tables.wgsl).

#include "common/iq_tables.wgsl"

// Chunk jj (of 4) of the header's 32 elements, from its nibble word.
fn iq4_parts(h: Header, jj: u32, q: u32) -> Parts {
    let v = nibbles(q);
    let col = h.col + 4u * jj;
    return Parts(iq4_values(v.x), iq4_values(v.y), vec2<f32>(h.s), vec2<f32>(0.0), 0.0, col, col + 16u);
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    let j = c % (DATA_BYTES / 4u);
    return iq4_parts(h, j % 4u, w[h.blk * (DATA_BYTES / 4u) + j]);
}

#ifdef GROUPS
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let q = wv[h.blk * (DATA_BYTES / 16u) + (c % (DATA_BYTES / 4u)) / 4u];
    return array<Parts, 4>(iq4_parts(h, 0u, q.x), iq4_parts(h, 1u, q.y), iq4_parts(h, 2u, q.z), iq4_parts(h, 3u, q.w));
}
#endif
