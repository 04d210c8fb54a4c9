// rms_norm: y = x / sqrt(mean(x^2) + eps) * w, for each row of x.
// x (rows, n) in_t (f32 with IN_F32: the residual stream), w (n,) f32, y (rows, n) act; one
// workgroup per row. IN_PLACE writes back into x (y is not bound).
#include "common/header.wgsl"
#include "common/reduce.wgsl"

override WG: u32 = 64u;

struct Params {
    rows: u32,
    n: u32,
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<in_t>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
#ifndef IN_PLACE
#ifdef ADD_F32
// ADD_F32: y is f32 and the result is added to it (Gemma's post-norm and residual add as one).
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> y: array<act>;
#endif
#endif

@compute @workgroup_size(WG)
fn rms_norm(
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
    let base = row * p.n;
    var ss = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        let v = f32(x[base + i]);
        ss += v * v;
    }
    let inv = 1.0 / sqrt(reduce_sum(ss, lid) / f32(p.n) + p.eps);
    for (var i = lid; i < p.n; i += WG) {
#ifdef IN_PLACE
        x[base + i] = in_t(f32(x[base + i]) * inv * w[i]);
#else
#ifdef ADD_F32
        y[base + i] = y[base + i] + f32(x[base + i]) * inv * w[i];
#else
        y[base + i] = act(f32(x[base + i]) * inv * w[i]);
#endif
#endif
    }
}
