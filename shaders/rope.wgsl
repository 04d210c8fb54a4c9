// rope: rotary position embedding, in place on x (n_tokens, n_heads, head_dim).
// Token t sits at position step.pos0 + t. The first rot_dims dimensions of each head rotate
// in pairs: adjacent (2i, 2i + 1) by default ("normal", llama), (i, i + rot_dims / 2) with NEOX.
// table (max_pos, rot_dims / 2) holds (cos, sin) of pos * freq_i, computed in f64 on the host.
#include "common/header.wgsl"
#include "common/step.wgsl"

override WG: u32 = 64u;

struct Params {
    n_heads: u32,
    head_dim: u32,
    rot_dims: u32,
    max_pos: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<act>;
@group(0) @binding(1) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let half_rot = p.rot_dims / 2u;
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= step.n_tokens * p.n_heads * half_rot) {
        return;
    }
    let pair = i % half_rot;
    let head = i / half_rot;
    let t = head / p.n_heads;
    let pos = min(step.pos0 + t, p.max_pos - 1u);
    let cs = table[pos * half_rot + pair];
    let base = head * p.head_dim;
#ifdef NEOX
    let i0 = base + pair;
    let i1 = base + pair + half_rot;
#else
    let i0 = base + 2u * pair;
    let i1 = i0 + 1u;
#endif
    let x0 = f32(x[i0]);
    let x1 = f32(x[i1]);
    x[i0] = act(x0 * cs.x - x1 * cs.y);
    x[i1] = act(x0 * cs.y + x1 * cs.x);
}
