// matvec: y = W x for one token (decode), dequantizing W on the fly.
// W (rows, cols) in one page, x (cols,) at x_offset, y (rows_total,): this page writes
// y[out_offset..].
// One workgroup per row; invocations stride over the row's chunks (coalesced loads), then
// reduce. ACCUMULATE adds into y instead (the residual add fused into the projection); OUT_F32
// makes y f32 (the residual stream).
#include "common/header.wgsl"
#include "common/reduce.wgsl"
#include "common/weights.wgsl"

override WG: u32 = 64u;

struct Params {
    rows: u32,
    cols: u32,
    scales: u32,
    out_offset: u32,
    // x starts at x[x_offset] (in vec4s): the last token's row of a prefill, for example.
    x_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<act4>;
@group(0) @binding(2) var<storage, read_write> y: array<out_t>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn matvec(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
#include "common/subgroup_args.wgsl"
) {
#include "common/subgroup_init.wgsl"
    let row = flat_workgroup(wid, nwg);
    if (row >= p.rows) {
        return;
    }
    var acc = 0.0;
    for (var c = lid; c < p.cols / 8u; c += WG) {
        let ch = load_chunk(row, c, p.cols, p.scales);
        acc += dot(ch.a, vec4<f32>(x[p.x_offset + ch.col_a / 4u])) + dot(ch.b, vec4<f32>(x[p.x_offset + ch.col_b / 4u]));
    }
    let total = reduce_sum(acc, lid);
    if (lid == 0u) {
        let i = p.out_offset + row;
#ifdef ACCUMULATE
        y[i] = out_t(f32(y[i]) + total);
#else
        y[i] = out_t(total);
#endif
    }
}
