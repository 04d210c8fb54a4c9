// add: x += y elementwise over n values, y repeating every y_len values (a bias broadcast over
// tokens when y_len is the row length). x is out_t and y in_t (act unless OUT_F32 / IN_F32).
#include "common/header.wgsl"

override WG: u32 = 64u;

struct Params {
    n: u32,
    y_len: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<out_t>;
@group(0) @binding(1) var<storage, read> y: array<in_t>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i < p.n) {
        x[i] = out_t(f32(x[i]) + f32(y[i % p.y_len]));
    }
}
