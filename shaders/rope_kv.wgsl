// rope_kv: one layer's RoPE and KV-cache append in one dispatch. For each token t of the step,
// at position pos = step.pos0 + t:
// - q (n_tokens, n_head, head_dim) rotates in place;
// - k (n_tokens, n_kv, head_dim) rotated, and v as it is, go to slot pos % cache_len of
//   k_cache and v_cache (cache_len, n_kv * head_dim).
// Rotation: the first rot_dims dimensions of a head in pairs, adjacent (2i, 2i + 1) by default
// ("normal", llama; GGUF Q/K are pre-permuted), (i, i + rot_dims / 2) with NEOX; table
// (max_pos, rot_dims / 2) holds (cos, sin) of pos * freq_i, computed in f64 on the host.
// One invocation per q pair, per k element and per v element: each writes what it computes
// and nothing another invocation reads.
#include "common/header.wgsl"
#include "common/step.wgsl"

override WG: u32 = 64u;

struct Params {
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    rot_dims: u32,
    max_pos: u32,
    cache_len: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> q: array<act>;
@group(0) @binding(1) var<storage, read> k: array<act>;
@group(0) @binding(2) var<storage, read> v: array<act>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<act>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<act>;
@group(0) @binding(5) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<uniform> step: Step;

// Dimensions (d0, d1) of rotated pair `pair` of a head starting at `base`.
fn pair_dims(base: u32, pair: u32) -> vec2<u32> {
#ifdef NEOX
    return vec2<u32>(base + pair, base + pair + p.rot_dims / 2u);
#else
    return vec2<u32>(base + 2u * pair, base + 2u * pair + 1u);
#endif
}

@compute @workgroup_size(WG)
fn rope_kv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let half_rot = p.rot_dims / 2u;
    let kvd = p.n_kv * p.head_dim;
    let q_items = p.n_head * half_rot;
    let per_token = q_items + 2u * kvd;
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= step.n_tokens * per_token) {
        return;
    }
    let t = i / per_token;
    let r = i % per_token;
    let pos = step.pos0 + t;
    let cs_row = min(pos, p.max_pos - 1u) * half_rot;
    if (r < q_items) {
        // A rotated pair of q, in place.
        let head = r / half_rot;
        let pair = r % half_rot;
        let dims = pair_dims((t * p.n_head + head) * p.head_dim, pair);
        let cs = table[cs_row + pair];
        let x0 = f32(q[dims.x]);
        let x1 = f32(q[dims.y]);
        q[dims.x] = act(x0 * cs.x - x1 * cs.y);
        q[dims.y] = act(x0 * cs.y + x1 * cs.x);
        return;
    }
    let slot = pos % p.cache_len;
    let e = r - q_items;
    if (e >= kvd) {
        // An element of v.
        let j = e - kvd;
        v_cache[slot * kvd + j] = v[t * kvd + j];
        return;
    }
    // An element of k: rotated when its dimension is in a rotated pair.
    let d = e % p.head_dim;
    let src = t * kvd + e;
    var value = f32(k[src]);
    if (d < p.rot_dims) {
#ifdef NEOX
        let pair = d % half_rot;
        let first = d < half_rot;
#else
        let pair = d / 2u;
        let first = d % 2u == 0u;
#endif
        let dims = pair_dims(src - d, pair);
        let cs = table[cs_row + pair];
        let x0 = f32(k[dims.x]);
        let x1 = f32(k[dims.y]);
        value = select(x0 * cs.y + x1 * cs.x, x0 * cs.x - x1 * cs.y, first);
    }
    k_cache[slot * kvd + e] = act(value);
}
