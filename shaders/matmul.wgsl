// matmul: Y = X W^T for many tokens (prefill), dequantizing W on the fly.
// W (rows, cols) in one page, X (n_tokens, cols), Y (n_tokens, out_stride): this page writes
// columns out_offset.. of Y. Register tiling: each invocation owns RR weight rows (lid + k·WG
// within its workgroup's block of WG·RR rows) and TT tokens, so each weight chunk it decodes
// serves TT tokens and each activation load serves RR rows. No workgroup barriers (they are
// pathologically slow on CPU adapters). ACCUMULATE adds into Y; OUT_F32 makes Y f32.
// OUTPUTS_2 / OUTPUTS_3: W is two or three tensors stacked by rows, and rows from p.split1
// (p.split2) on go to Y1 (Y2), each (n_tokens, its own rows): one dispatch for all of them.
// BIAS adds bias[row] (a projection's bias, over the rows of all stacked tensors).
#include "common/header.wgsl"
#include "common/weights.wgsl"

override WG: u32 = 16u;
// Tokens and rows per invocation. Loops over them have constant trip counts so that the
// accumulators stay in registers (tokens or rows past the end repeat the last one and are not
// written).
const TT: u32 = 8u;
const RR: u32 = 8u;

struct Params {
    rows: u32,
    cols: u32,
    scales: u32,
    out_offset: u32,
    n_tokens: u32,
    out_stride: u32,
    split1: u32,
    split2: u32,
}

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<act4>;
@group(0) @binding(2) var<storage, read_write> y: array<out_t>;
@group(0) @binding(3) var<uniform> p: Params;
#ifdef OUTPUTS_2
@group(0) @binding(6) var<storage, read_write> y1: array<out_t>;
#endif
#ifdef OUTPUTS_3
@group(0) @binding(7) var<storage, read_write> y2: array<out_t>;
#endif
#ifdef BIAS
// (rows of the whole weight,) f32.
@group(0) @binding(9) var<storage, read> bias: array<f32>;
#endif

@compute @workgroup_size(WG)
fn matmul(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.x * WG * RR + lid;
    let t0 = wid.y * TT;
    if (row0 >= p.rows) {
        return;
    }
    let x_stride = p.cols / 4u;
    let last_t = p.n_tokens - 1u;
    let last_row = p.rows - 1u;
    var acc: array<f32, RR * TT>;
    for (var c = 0u; c < p.cols / 8u; c++) {
        var wa: array<vec4<f32>, RR>;
        var wb: array<vec4<f32>, RR>;
        var ca = 0u;
        var cb = 0u;
        for (var r = 0u; r < RR; r++) {
            let ch = load_chunk(min(row0 + r * WG, last_row), c, p.cols, p.scales);
            wa[r] = ch.a;
            wb[r] = ch.b;
            ca = ch.col_a / 4u;
            cb = ch.col_b / 4u;
        }
        for (var t = 0u; t < TT; t++) {
            let xr = min(t0 + t, last_t) * x_stride;
            let xa = vec4<f32>(x[xr + ca]);
            let xb = vec4<f32>(x[xr + cb]);
            for (var r = 0u; r < RR; r++) {
                acc[r * TT + t] += dot(wa[r], xa) + dot(wb[r], xb);
            }
        }
    }
    for (var r = 0u; r < RR; r++) {
        let row = row0 + r * WG;
        for (var t = 0u; t < TT; t++) {
            if (row < p.rows && t0 + t < p.n_tokens) {
                store(t0 + t, p.out_offset + row, acc[r * TT + t]);
            }
        }
    }
}

// Stores Y[t, g] for row g of the (stacked) weight.
fn store(t: u32, g: u32, sum: f32) {
#ifdef BIAS
    let v = sum + bias[g];
#else
    let v = sum;
#endif
#ifdef OUTPUTS_3
    if (g >= p.split2) {
        y2[t * (p.out_stride - p.split2) + g - p.split2] = out_t(v);
        return;
    }
#endif
#ifdef OUTPUTS_2
    if (g >= p.split1) {
        // split2 is the total row count when there are two tensors.
        y1[t * (p.split2 - p.split1) + g - p.split1] = out_t(v);
        return;
    }
    let i = t * p.split1 + g;
#else
    let i = t * p.out_stride + g;
#endif
#ifdef ACCUMULATE
    y[i] = out_t(f32(y[i]) + v);
#else
    y[i] = out_t(v);
#endif
}
