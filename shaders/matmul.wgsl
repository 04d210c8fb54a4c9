// matmul: Y = X W^T for many tokens (prefill), dequantizing W on the fly.
// W (rows, cols) in one page, X (n_tokens, cols), Y (n_tokens, out_stride): this page writes
// columns out_offset.. of Y. Each invocation owns one weight row and TT tokens, so each
// weight chunk is decoded once and used TT times; no workgroup barriers (they are
// pathologically slow on CPU adapters). ACCUMULATE adds into Y; OUT_F32 makes Y f32.
#include "common/header.wgsl"
#include "common/weights.wgsl"

override WG: u32 = 64u;
const TT: u32 = 8u;

struct Params {
    rows: u32,
    cols: u32,
    scales: u32,
    out_offset: u32,
    n_tokens: u32,
    out_stride: u32,
}

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<act4>;
@group(0) @binding(2) var<storage, read_write> y: array<out_t>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn matmul(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let row = wid.x * WG + lid;
    let t0 = wid.y * TT;
    if (row >= p.rows) {
        return;
    }
    let nt = min(TT, p.n_tokens - t0);
    let x_stride = p.cols / 4u;
    var acc: array<f32, TT>;
    for (var c = 0u; c < p.cols / 8u; c++) {
        let ch = load_chunk(row, c, p.cols, p.scales);
        for (var t = 0u; t < nt; t++) {
            let xr = (t0 + t) * x_stride;
            acc[t] += dot(ch.a, vec4<f32>(x[xr + ch.col_a / 4u])) + dot(ch.b, vec4<f32>(x[xr + ch.col_b / 4u]));
        }
    }
    for (var t = 0u; t < nt; t++) {
        let i = (t0 + t) * p.out_stride + p.out_offset + row;
#ifdef ACCUMULATE
        y[i] = out_t(f32(y[i]) + acc[t]);
#else
        y[i] = out_t(acc[t]);
#endif
    }
}
