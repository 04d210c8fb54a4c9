// per_layer: Gemma 4's per-layer token embeddings, two kernels.
// per_layer_inputs: the inputs every layer l takes for token t, in place over the projection
//   inputs[t, l] (P,) act = (rms_norm(inputs[t, l] · proj_scale) · norm + rows[t, l]) · in_scale,
//   from inputs (T, L·P) act holding the scaled token embedding projected by
//   per_layer_model_proj (each invocation reads only the values it then writes), and
//   rows (T, L·P) f32, the token's rows of per_layer_token_embd (gathered already times
//   sqrt(P)); proj_scale = 1 / sqrt(D), in_scale = 1 / sqrt(2) as llama.cpp's graph has them.
//   One workgroup per (t, l): p.rows = T·L rows of p.n = P.
// to_act: h (n,) act = x (n,) f32: the residual stream as a matrix kernel's input (the
//   per-layer gate projects x itself, not a norm of it).
#include "common/header.wgsl"
#include "common/reduce.wgsl"

override WG: u32 = 64u;

struct Params {
    rows: u32,
    n: u32,
    eps: f32,
    proj_scale: f32,
    in_scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(1) var<storage, read> rows: array<f32>;
@group(0) @binding(2) var<storage, read> norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> inputs: array<act>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> x: array<f32>;
@group(0) @binding(6) var<storage, read_write> h: array<act>;

@compute @workgroup_size(WG)
fn per_layer_inputs(
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
        let v = f32(inputs[base + i]) * p.proj_scale;
        ss += v * v;
    }
    let inv = 1.0 / sqrt(reduce_sum(ss, lid) / f32(p.n) + p.eps);
    for (var i = lid; i < p.n; i += WG) {
        let normed = f32(inputs[base + i]) * p.proj_scale * inv * norm[i];
        inputs[base + i] = act((normed + rows[base + i]) * p.in_scale);
    }
}

@compute @workgroup_size(WG)
fn to_act(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i < p.n) {
        h[i] = act(x[i]);
    }
}
