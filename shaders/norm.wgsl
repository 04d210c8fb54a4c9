// norm: y = (x - mean) / sqrt(var + eps) * w + b over each row: RMSNorm by default (no mean,
// var = mean(x^2), no b), LayerNorm with LAYER_NORM (mean-centered, with a bias).
// x (rows, n) in_t (f32 with IN_F32: the residual stream), w (n,) f32 (LAYER_NORM: (2n,), the
// weight then the bias), y (rows, n) act; one workgroup per row. IN_PLACE writes back into x
// (y is not bound); ADD_F32 adds the result to an f32 y (Gemma's post-norm and residual add),
// with SCALE then multiplies y by scale[0] (Gemma 4's scalar per layer).
// LayerNorm takes two passes over the row (the mean, then the variance around it), as
// llama.cpp's ggml_norm does: the one-pass E[x^2] - E[x]^2 loses digits on residual streams
// with a large mean.
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
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> y: array<act>;
#endif
#endif
#ifdef SCALE
@group(0) @binding(4) var<storage, read> scale: array<f32>;
#endif

@compute @workgroup_size(WG)
fn norm(
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
    var mean = 0.0;
#ifdef LAYER_NORM
    var s = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        s += f32(x[base + i]);
    }
    mean = reduce_sum(s, lid) / f32(p.n);
#endif
    var ss = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        let v = f32(x[base + i]) - mean;
        ss += v * v;
    }
    let inv = 1.0 / sqrt(reduce_sum(ss, lid) / f32(p.n) + p.eps);
    for (var i = lid; i < p.n; i += WG) {
        var v = (f32(x[base + i]) - mean) * inv * w[i];
#ifdef LAYER_NORM
        v += w[p.n + i];
#endif
#ifdef IN_PLACE
        x[base + i] = in_t(v);
#else
#ifdef ADD_F32
#ifdef SCALE
        y[base + i] = (y[base + i] + v) * scale[0];
#else
        y[base + i] = y[base + i] + v;
#endif
#else
        y[base + i] = act(v);
#endif
#endif
    }
}
