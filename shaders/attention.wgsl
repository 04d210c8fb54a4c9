// Attention over the KV cache: causal, grouped-query (head h reads KV head h / (n_head / n_kv)),
// optional sliding window, online softmax over tiles of WG keys (nothing of size seq_len is
// ever stored). Entry points:
// - attn_prefill: one workgroup per (query token, head), writes out (n_tokens, n_head * head_dim);
// - attn_decode: flash-decoding for the step's last token: workgroup (head, split) covers
//   split_keys keys and writes a partial (m, l, o[head_dim]); attn_combine merges the splits.
//   With a single split it writes the output itself (no attn_combine).
// Token t of the step sits at position step.pos0 + t and sees positions
// [max(0, pos - window + 1), pos] (all of [0, pos] when window is 0). Keys live at slot
// position % cache_len (a ring for sliding-window layers).
// ALIBI: position by linear biases (BLOOM) instead of rotations: the score of key position j
// gets slope(head) * (j - pos), with llama.cpp's slopes (m0^(h+1) for the first n_log2 heads,
// m1^(2(h - n_log2) + 1) after).
#include "common/header.wgsl"
#include "common/reduce.wgsl"
#include "common/step.wgsl"

override WG: u32 = 64u;
// WIDE_HEADS: heads of up to 512 dimensions (Gemma 4's global layers), at twice the workgroup
// memory and registers; 256 otherwise.
#ifdef WIDE_HEADS
const MAX_HEAD_DIM: u32 = 512u;
// Dimensions of the output each invocation accumulates (MAX_HEAD_DIM / WG, WG >= 32).
const DPI: u32 = 16u;
#else
const MAX_HEAD_DIM: u32 = 256u;
const DPI: u32 = 8u;
#endif

struct Params {
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    cache_len: u32,
    window: u32,
    n_splits: u32,
    split_keys: u32,
    scale: f32,
    // ALIBI: the slopes' bases and the largest power of two at most n_head.
    alibi_m0: f32,
    alibi_m1: f32,
    alibi_n_log2: u32,
    _pad: u32,
}

// The score bias of key position j for a query of `head` at position pos (0 without ALIBI).
fn position_bias(head: u32, j: u32, pos: u32) -> f32 {
#ifdef ALIBI
    var slope: f32;
    if (head < p.alibi_n_log2) {
        slope = pow(p.alibi_m0, f32(head + 1u));
    } else {
        slope = pow(p.alibi_m1, f32(2u * (head - p.alibi_n_log2) + 1u));
    }
    return slope * (f32(j) - f32(pos));
#else
    return 0.0;
#endif
}

@group(0) @binding(0) var<storage, read> q: array<act>;
@group(0) @binding(1) var<storage, read> k_cache: array<act>;
@group(0) @binding(2) var<storage, read> v_cache: array<act>;
@group(0) @binding(3) var<storage, read_write> out: array<act>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<uniform> step: Step;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

var<workgroup> q_sh: array<f32, MAX_HEAD_DIM>;
var<workgroup> p_sh: array<f32, 256>;
var<private> o: array<f32, DPI>;

fn load_q(base: u32, lid: u32) {
    for (var d = lid; d < p.head_dim; d += WG) {
        q_sh[d] = f32(q[base + d]);
    }
}

// First position visible from position `pos`.
fn first_visible(pos: u32) -> u32 {
    if (p.window == 0u || pos + 1u <= p.window) {
        return 0u;
    }
    return pos + 1u - p.window;
}

// Query `head` at position `pos` attends to key positions [lo, hi), hi > lo. Leaves the
// unnormalized output in `o` and returns (running max m, softmax denominator l).
fn attend(head: u32, pos: u32, lo: u32, hi: u32, lid: u32) -> vec2<f32> {
    let kv_head = head / (p.n_head / p.n_kv);
    for (var k = 0u; k < DPI; k++) {
        o[k] = 0.0;
    }
    var m = -3.0e38;
    var l = 0.0;
    workgroupBarrier();
    let width = p.n_kv * p.head_dim;
    let head_off = kv_head * p.head_dim;
    for (var t0 = lo; t0 < hi; t0 += WG) {
        let j = t0 + lid;
        var s = -3.0e38;
        if (j < hi) {
            let kb = (j % p.cache_len) * width + head_off;
            var acc = 0.0;
            for (var d = 0u; d < p.head_dim; d++) {
                acc += q_sh[d] * f32(k_cache[kb + d]);
            }
            s = acc * p.scale + position_bias(head, j, pos);
        }
        let m_new = max(m, reduce_max(s, lid));
        let pj = select(0.0, exp(s - m_new), j < hi);
        let corr = exp(m - m_new);
        l = l * corr + reduce_sum(pj, lid);
        p_sh[lid] = pj;
        workgroupBarrier();
        let n = min(WG, hi - t0);
        for (var k = 0u; k < DPI; k++) {
            let d = lid + k * WG;
            if (d < p.head_dim) {
                var acc = o[k] * corr;
                for (var jj = 0u; jj < n; jj++) {
                    acc += p_sh[jj] * f32(v_cache[((t0 + jj) % p.cache_len) * width + head_off + d]);
                }
                o[k] = acc;
            }
        }
        workgroupBarrier();
        m = m_new;
    }
    return vec2<f32>(m, l);
}

@compute @workgroup_size(WG)
fn attn_prefill(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
#include "common/subgroup_args.wgsl"
) {
#include "common/subgroup_init.wgsl"
    let t = wid.x;
    let head = wid.y;
    if (t >= step.n_tokens) {
        return;
    }
    let pos = step.pos0 + t;
    let base = (t * p.n_head + head) * p.head_dim;
    load_q(base, lid);
    let ml = attend(head, pos, first_visible(pos), pos + 1u, lid);
    for (var k = 0u; k < DPI; k++) {
        let d = lid + k * WG;
        if (d < p.head_dim) {
            out[base + d] = act(o[k] / ml.y);
        }
    }
}

// Decode split `split` of `head`, for the step's last token: its key positions [x, y) and
// the index z of its partial (m, l, o[head_dim]) in `partials`.
fn decode_split(head: u32, split: u32) -> vec3<u32> {
    let pos = step.pos0 + step.n_tokens - 1u;
    let lo = first_visible(pos) + split * p.split_keys;
    let hi = min(lo + p.split_keys, pos + 1u);
    return vec3<u32>(lo, hi, (head * p.n_splits + split) * (p.head_dim + 2u));
}

// A split's running max and softmax denominator, at the head of its partial.
fn write_split_stats(pbase: u32, lid: u32, m: f32, l: f32) {
    if (lid == 0u) {
        partials[pbase] = m;
        partials[pbase + 1u] = l;
    }
}

@compute @workgroup_size(WG)
fn attn_decode(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
#include "common/subgroup_args.wgsl"
) {
#include "common/subgroup_init.wgsl"
    let head = wid.x;
    let sp = decode_split(head, wid.y);
    let lo = sp.x;
    let hi = sp.y;
    let pbase = sp.z;
    if (lo >= hi) {
        // No keys: a partial that attn_combine weighs by 0.
        write_split_stats(pbase, lid, -3.0e38, 0.0);
        return;
    }
    load_q(((step.n_tokens - 1u) * p.n_head + head) * p.head_dim, lid);
    let ml = attend(head, step.pos0 + step.n_tokens - 1u, lo, hi, lid);
    if (p.n_splits == 1u) {
        let out_base = ((step.n_tokens - 1u) * p.n_head + head) * p.head_dim;
        for (var k = 0u; k < DPI; k++) {
            let d = lid + k * WG;
            if (d < p.head_dim) {
                out[out_base + d] = act(o[k] / ml.y);
            }
        }
        return;
    }
    write_split_stats(pbase, lid, ml.x, ml.y);
    for (var k = 0u; k < DPI; k++) {
        let d = lid + k * WG;
        if (d < p.head_dim) {
            partials[pbase + 2u + d] = o[k];
        }
    }
}

@compute @workgroup_size(WG)
fn attn_combine(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let head = wid.x;
    let stride = p.head_dim + 2u;
    let first = head * p.n_splits * stride;
    var m = -3.0e38;
    for (var s = 0u; s < p.n_splits; s++) {
        m = max(m, partials[first + s * stride]);
    }
    var l = 0.0;
    for (var s = 0u; s < p.n_splits; s++) {
        l += partials[first + s * stride + 1u] * exp(partials[first + s * stride] - m);
    }
    let out_base = ((step.n_tokens - 1u) * p.n_head + head) * p.head_dim;
    for (var d = lid; d < p.head_dim; d += WG) {
        var acc = 0.0;
        for (var s = 0u; s < p.n_splits; s++) {
            let b = first + s * stride;
            if (partials[b + 1u] > 0.0) {
                acc += partials[b + 2u + d] * exp(partials[b] - m);
            }
        }
        out[out_base + d] = act(acc / l);
    }
}

#ifdef SUBGROUPS
// attn_decode_sg: attn_decode for a workgroup that is exactly one subgroup (WG = the
// adapter's only subgroup size), with no workgroup memory and no barrier: lane i owns the
// head's dimensions i, i + WG, …, a key's score is the subgroupAdd of the lanes' partial dot
// products, and every lane keeps the same running max and denominator. CPU adapters run a
// workgroup with barriers as coroutines and pay for it per workgroup (lavapipe: ~4 ms per
// dispatch of attn_decode at 9 heads, whatever the sequence length); GPUs skip the shared
// memory round trips. Same splits and partials as attn_decode.
const MAX_DPL: u32 = 64u;

@compute @workgroup_size(WG)
fn attn_decode_sg(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let head = wid.x;
    let sp = decode_split(head, wid.y);
    let lo = sp.x;
    let hi = sp.y;
    let pbase = sp.z;
    if (lo >= hi) {
        // No keys: a partial that attn_combine weighs by 0.
        write_split_stats(pbase, lid, -3.0e38, 0.0);
        return;
    }
    // Dimensions per lane: head_dim is a multiple of WG (checked by the host).
    let n_d = p.head_dim / WG;
    let q_base = ((step.n_tokens - 1u) * p.n_head + head) * p.head_dim + lid;
    var qv: array<f32, MAX_DPL>;
    var acc: array<f32, MAX_DPL>;
    for (var i = 0u; i < n_d; i++) {
        qv[i] = f32(q[q_base + i * WG]);
        acc[i] = 0.0;
    }
    let width = p.n_kv * p.head_dim;
    let head_off = (head / (p.n_head / p.n_kv)) * p.head_dim + lid;
    let pos = step.pos0 + step.n_tokens - 1u;
    var m = -3.0e38;
    var l = 0.0;
    for (var j = lo; j < hi; j++) {
        let kb = (j % p.cache_len) * width + head_off;
        var part = 0.0;
        for (var i = 0u; i < n_d; i++) {
            part += qv[i] * f32(k_cache[kb + i * WG]);
        }
        let s = subgroupAdd(part) * p.scale + position_bias(head, j, pos);
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let pj = exp(s - m_new);
        l = l * corr + pj;
        for (var i = 0u; i < n_d; i++) {
            acc[i] = acc[i] * corr + pj * f32(v_cache[kb + i * WG]);
        }
        m = m_new;
    }
    if (p.n_splits == 1u) {
        for (var i = 0u; i < n_d; i++) {
            out[q_base + i * WG] = act(acc[i] / l);
        }
        return;
    }
    write_split_stats(pbase, lid, m, l);
    for (var i = 0u; i < n_d; i++) {
        partials[pbase + 2u + lid + i * WG] = acc[i];
    }
}
#endif
