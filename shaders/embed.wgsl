// embed: out[t] = table[tokens[t]] * scale, gathering rows of a (quantized) table.
// The table may be paged: this dispatch holds rows first_row.. of it and writes only the
// tokens whose row it holds (one dispatch per page covers them all).
// tokens (token_offset + n_tokens,) u32, out (n_tokens, cols) out_t (f32 with OUT_F32: the residual
// stream); one workgroup per token. POSITIONS: the rows are positions step.pos0 + t (learned
// absolute position embeddings, GPT-2) instead of token ids, and are added to out.
#include "common/header.wgsl"
#include "common/weights.wgsl"
#ifdef POSITIONS
#include "common/step.wgsl"
#endif

override WG: u32 = 64u;

struct Params {
    first_row: u32,
    n_rows: u32,
    cols: u32,
    scales: u32,
    n_tokens: u32,
    token_offset: u32,
    scale: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> w: array<u32>;
#ifdef POSITIONS
@group(0) @binding(4) var<uniform> step: Step;
#else
@group(0) @binding(1) var<storage, read> tokens: array<u32>;
#endif
@group(0) @binding(2) var<storage, read_write> out: array<vec4<out_t>>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn embed(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = wid.x;
    if (t >= p.n_tokens) {
        return;
    }
#ifdef POSITIONS
    if (t >= step.n_tokens) {
        return;
    }
    let id = step.pos0 + t;
#else
    let id = tokens[p.token_offset + t];
#endif
    if (id < p.first_row || id >= p.first_row + p.n_rows) {
        return;
    }
    let base = t * (p.cols / 4u);
    for (var c = lid; c < p.cols / 8u; c += WG) {
        let ch = load_chunk(id - p.first_row, c, p.cols, p.scales);
#ifdef POSITIONS
        out[base + ch.col_a / 4u] += vec4<out_t>(ch.a * p.scale);
        out[base + ch.col_b / 4u] += vec4<out_t>(ch.b * p.scale);
#else
        out[base + ch.col_a / 4u] = vec4<out_t>(ch.a * p.scale);
        out[base + ch.col_b / 4u] = vec4<out_t>(ch.b * p.scale);
#endif
    }
}
