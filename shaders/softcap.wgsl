// softcap: x (n,) act in place = cap · tanh(x / cap): Gemma's final logit soft-capping.
#include "common/header.wgsl"

override WG: u32 = 64u;

struct Params {
    n: u32,
    cap: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<act>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn softcap(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    // Clamped: tanh of a large argument is +-1, and some tanh implementations overflow.
    x[i] = act(p.cap * tanh(clamp(f32(x[i]) / p.cap, -15.0, 15.0)));
}
