// The loads of the i-quants whose indices select 8 values of a grid (IQ2_XXS, IQ2_XS, IQ2_S,
// IQ1_S, IQ1_M), included in each one's part of common/weights.wgsl after its load_header,
// chunk_words(h) and group_words(h) (the two data words of the header's 4 entries, read as
// words or from a vector), entry_index(h, q, r), entry_signs(h, q, r) (entry r of the header's
// 4 from those words, its 8 sign bits) and grid_values(word, signs) (4 values of a grid word
// with the signs of bits 0..3).
//
// The grid (entry i: words 2i and 2i + 1, four byte values each) is at the start of the side
// region (quant::GpuLayout::table). A header covers 4 entries, 32 elements, with the scale of
// its first two entries and of its last two (the formats with a scale per 16 elements).
// Chunk k (of 4) of a header takes half p = k % 2 of entries r = k / 2 (half a) and r + 2
// (half b): the chunks' halves a share one scale and their halves b the other.

struct Header {
    // Scales of halves a and b.
    s: vec2<f32>,
    // The zero point (IQ1_S: minus its offset).
    z: f32,
    // First column of the header's 32 elements.
    col: u32,
    // Word offset of the grid.
    grid: u32,
    blk: u32,
    // Which 32 elements of the block (0..8).
    g: u32,
    // What the type's entries read from the side region (high bits).
    extra: u32,
}

// Data words 2g and 2g + 1 of the header's block (IQ2_XXS: the index word and the
// scale-and-signs word; IQ2_XS: the four entries' u16), as words and as half a vector.
fn pair_words(h: Header) -> vec2<u32> {
    let base = h.blk * (DATA_BYTES / 4u) + 2u * h.g;
    return vec2<u32>(w[base], w[base + 1u]);
}

// Data word g of the header's block (IQ1_S, IQ1_M: the four entries' index bytes).
fn index_word(h: Header) -> u32 {
    return w[h.blk * (DATA_BYTES / 4u) + h.g];
}

#ifdef GROUPS
fn pair_vec(h: Header) -> vec2<u32> {
    let v = wv[h.blk * (DATA_BYTES / 16u) + h.g / 2u];
    return select(v.xy, v.zw, h.g % 2u == 1u);
}

fn index_vec_word(h: Header) -> u32 {
    return wv[h.blk * (DATA_BYTES / 16u) + h.g / 4u][h.g % 4u];
}
#endif

// IQ2_XS's and IQ2_S's scales of the header's halves: nibbles 2g and 2g + 1 (byte g % 4 of
// `word`), each d * (0.5 + ls) * 0.25.
fn iq2_scales(d: f32, word: u32, g: u32) -> vec2<f32> {
    let ls = (vec2<u32>(word >> (8u * (g % 4u))) >> vec2<u32>(0u, 4u)) & vec2<u32>(0xFu);
    return d * (vec2<f32>(0.5) + vec2<f32>(ls)) * 0.25;
}

// Half p (of 2) of entry r (of 4) of the header: 4 values.
fn grid_half(h: Header, q: vec2<u32>, r: u32, p: u32) -> vec4<f32> {
    let word = w[h.grid + 2u * entry_index(h, q, r) + p];
    return grid_values(word, entry_signs(h, q, r) >> (4u * p));
}

fn grid_parts(h: Header, q: vec2<u32>, k: u32) -> Parts {
    let r = k / 2u;
    let p = k % 2u;
    let col = h.col + 8u * r + 4u * p;
    return Parts(grid_half(h, q, r, p), grid_half(h, q, r + 2u, p), h.s, vec2<f32>(0.0), h.z, col, col + 16u);
}

fn chunk_parts(h: Header, c: u32) -> Parts {
    return grid_parts(h, chunk_words(h), c % 4u);
}

#ifdef GROUPS
fn group_parts(h: Header, c: u32) -> array<Parts, 4> {
    let q = group_words(h);
    return array<Parts, 4>(grid_parts(h, q, 0u), grid_parts(h, q, 1u), grid_parts(h, q, 2u), grid_parts(h, q, 3u));
}
#endif
