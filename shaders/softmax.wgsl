// softmax: in place over each row of x (rows, n); one workgroup per row.
#include "common/header.wgsl"
#include "common/reduce.wgsl"

override WG: u32 = 64u;

struct Params {
    rows: u32,
    n: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<act>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn softmax(
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
    var m = -3.4e38;
    for (var i = lid; i < p.n; i += WG) {
        m = max(m, f32(x[base + i]));
    }
    m = reduce_max(m, lid);
    var s = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        s += exp(f32(x[base + i]) - m);
    }
    let inv = 1.0 / reduce_sum(s, lid);
    for (var i = lid; i < p.n; i += WG) {
        x[base + i] = act(exp(f32(x[base + i]) - m) * inv);
    }
}
