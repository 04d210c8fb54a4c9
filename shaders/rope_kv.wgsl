// rope_kv: one layer's RoPE and KV-cache append in one dispatch, with Qwen3/Gemma 3's per-head
// q and k norms (QK_NORM) before the rotation. For each token t of the step, at position
// pos = step.pos0 + t:
// - q (n_tokens, n_head, head_dim) is normalized and rotated in place;
// - k (n_tokens, n_kv, head_dim) normalized and rotated, and v as it is, go to slot
//   pos % cache_len of k_cache and v_cache (cache_len, n_kv * head_dim).
// Rotation: the first rot_dims dimensions of a head in pairs, adjacent (2i, 2i + 1) by default
// ("normal", llama; GGUF Q/K are pre-permuted), (i, i + rot_dims / 2) with NEOX; table
// (max_pos, rot_dims / 2) holds (cos, sin) of pos * freq_i, computed in f64 on the host.
// V_NORM RMS-normalizes each v head (without a weight) as it is cached (Gemma 4); Q_ONLY
// normalizes and rotates the queries alone (a layer attending over another layer's cache).
// One workgroup per head of a token: the q heads, then the k heads, then the v heads.
// Invocation i owns the pairs i, i + WG, … of its head and the unrotated dimensions
// rot_dims + i, …: it reads and writes only those, so q rotates in place without a barrier,
// even with the norm (whose sum of squares needs the whole head before any write).
#include "common/header.wgsl"
#include "common/step.wgsl"
#include "common/reduce.wgsl"

override WG: u32 = 64u;

struct Params {
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    rot_dims: u32,
    max_pos: u32,
    cache_len: u32,
    // The q and k norms' epsilon (QK_NORM).
    eps: f32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> q: array<act>;
@group(0) @binding(1) var<storage, read> k: array<act>;
@group(0) @binding(2) var<storage, read> v: array<act>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<act>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<act>;
@group(0) @binding(5) var<storage, read> table: array<vec2<f32>>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<uniform> step: Step;
#ifdef QK_NORM
// (head_dim,) f32 norm weights of q heads and k heads.
@group(0) @binding(8) var<storage, read> q_norm: array<f32>;
@group(0) @binding(9) var<storage, read> k_norm: array<f32>;
#endif

// Dimensions (d0, d1) of rotated pair `pair` of a head.
fn pair_dims(pair: u32) -> vec2<u32> {
#ifdef NEOX
    return vec2<u32>(pair, pair + p.rot_dims / 2u);
#else
    return vec2<u32>(2u * pair, 2u * pair + 1u);
#endif
}

// The head being worked on: a q head (in place at q[src..]) or a k head (from k[src..] to
// k_cache[dst..]).
struct Head {
    is_q: bool,
    src: u32,
    dst: u32,
}

fn load(h: Head, d: u32) -> f32 {
    if (h.is_q) {
        return f32(q[h.src + d]);
    }
    return f32(k[h.src + d]);
}

// Dimension d of the head as the rotation takes it: normalized (rounded to act, as the
// separate norm kernel stored it) with QK_NORM, else as loaded.
fn input(h: Head, d: u32, inv: f32) -> f32 {
#ifdef QK_NORM
    let w = select(k_norm[d], q_norm[d], h.is_q);
    return f32(act(load(h, d) * inv * w));
#else
    return load(h, d);
#endif
}

fn put(h: Head, d: u32, value: f32) {
    if (h.is_q) {
        q[h.src + d] = act(value);
    } else {
        k_cache[h.dst + d] = act(value);
    }
}

@compute @workgroup_size(WG)
fn rope_kv(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
#include "common/subgroup_args.wgsl"
) {
#include "common/subgroup_init.wgsl"
#ifdef Q_ONLY
    let units = p.n_head;
#else
    let units = p.n_head + 2u * p.n_kv;
#endif
    let g = flat_workgroup(wid, nwg);
    if (g >= step.n_tokens * units) {
        return;
    }
    let t = g / units;
    let u = g % units;
    let hd = p.head_dim;
    let kvd = p.n_kv * hd;
    let pos = step.pos0 + t;
    let slot = pos % p.cache_len;
    if (u >= p.n_head + p.n_kv) {
        // A v head, copied (V_NORM: normalized, rounded to act as the norm kernel stores it).
        let off = (u - p.n_head - p.n_kv) * hd;
        var v_inv = 1.0;
#ifdef V_NORM
        var vss = 0.0;
        for (var d = lid; d < hd; d += WG) {
            let a = f32(v[t * kvd + off + d]);
            vss += a * a;
        }
        v_inv = 1.0 / sqrt(reduce_sum(vss, lid) / f32(hd) + p.eps);
#endif
        for (var d = lid; d < hd; d += WG) {
            v_cache[slot * kvd + off + d] = act(f32(v[t * kvd + off + d]) * v_inv);
        }
        return;
    }
    let is_q = u < p.n_head;
    let kv_head = select(u - p.n_head, 0u, is_q);
    let h = Head(is_q, select(t * kvd + kv_head * hd, (t * p.n_head + u) * hd, is_q), slot * kvd + kv_head * hd);
    let half_rot = p.rot_dims / 2u;

    var inv = 1.0;
#ifdef QK_NORM
    // Over the dimensions this invocation owns (see the top).
    var ss = 0.0;
    for (var pair = lid; pair < half_rot; pair += WG) {
        let dims = pair_dims(pair);
        let a = load(h, dims.x);
        let b = load(h, dims.y);
        ss += a * a + b * b;
    }
    for (var d = p.rot_dims + lid; d < hd; d += WG) {
        let a = load(h, d);
        ss += a * a;
    }
    inv = 1.0 / sqrt(reduce_sum(ss, lid) / f32(hd) + p.eps);
#endif

    let cs_row = min(pos, p.max_pos - 1u) * half_rot;
    for (var pair = lid; pair < half_rot; pair += WG) {
        let dims = pair_dims(pair);
        let cs = table[cs_row + pair];
        let x0 = input(h, dims.x, inv);
        let x1 = input(h, dims.y, inv);
        put(h, dims.x, x0 * cs.x - x1 * cs.y);
        put(h, dims.y, x0 * cs.y + x1 * cs.x);
    }
    for (var d = p.rot_dims + lid; d < hd; d += WG) {
        put(h, d, input(h, d, inv));
    }
}
