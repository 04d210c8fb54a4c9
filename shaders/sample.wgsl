// Choosing the next token on the GPU, so that only its id (4 bytes) is read back.
// One workgroup of WG invocations scans the vocabulary. Entry points:
// - argmax: the first index of the largest logit (greedy decoding, temperature 0);
// - sample: llama.cpp's chain: repetition/frequency/presence penalties over the history ids,
//   top-k, top-p and min-p on softmax(logits), then temperature, then a draw from a
//   counter-based RNG seeded by (seed, step.counter): the same seed gives the same tokens.
// Thresholds are found by bitwise binary search over the order-preserving bits of the
// values (32 counting passes), so nothing is sorted. The chosen id goes to ids[out_index].
// With MASK, only tokens whose bit is set in `mask` can be chosen (constrained decoding: a
// grammar's allowed tokens, computed on the CPU): they alone enter the maximum, the top-k
// count, the top-p mass and the draw, as if the others' logits were -inf.
// - logprobs_top (before `sample`, which applies the penalties in place) and logprobs_chosen
//   (after it): log-probabilities of the model's distribution, before penalties, filters and
//   masks, so that only the k most likely tokens' and the drawn one's come back (OpenAI's
//   `logprobs`). lp_out: [0] the drawn id, [1] its logprob, [2] log-sum-exp of the logits,
//   [3] k, then k (id, logprob) pairs, most likely first (ties: lower id first); logprobs are
//   f32 bits.
#include "common/header.wgsl"
#include "common/step.wgsl"

override WG: u32 = 256u;

struct Params {
    n_vocab: u32,
    out_index: u32,
    top_k: u32,
    n_hist: u32,
    temperature: f32,
    top_p: f32,
    min_p: f32,
    repeat_penalty: f32,
    frequency_penalty: f32,
    presence_penalty: f32,
    seed: u32,
    // 1: shift hist left by one and put the chosen id last (the engine's history of recent
    // tokens stays current on the GPU while steps run ahead of the CPU).
    push_hist: u32,
}

@group(0) @binding(0) var<storage, read_write> logits: array<act>;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<storage, read_write> hist: array<u32>;

#ifdef MASK
@group(0) @binding(5) var<storage, read> mask: array<u32>;

fn allowed(i: u32) -> bool {
    return ((mask[i >> 5u] >> (i & 31u)) & 1u) != 0u;
}
#else
fn allowed(i: u32) -> bool {
    return true;
}
#endif

@group(0) @binding(6) var<storage, read_write> lp_out: array<u32>;
// (id, raw logit) of each id of the penalties' window, saved before the sampler changes them.
@group(0) @binding(7) var<storage, read_write> lp_saved: array<u32>;

var<workgroup> sh_f: array<f32, 256>;
var<workgroup> sh_u: array<u32, 256>;

// Sum over the workgroup (tree; WG a power of two).
fn wg_sum(v: f32, lid: u32) -> f32 {
    workgroupBarrier();
    sh_f[lid] = v;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            sh_f[lid] += sh_f[lid + s];
        }
    }
    workgroupBarrier();
    return sh_f[0];
}

// (largest value, its first index) over the workgroup.
fn wg_argmax(v: f32, i: u32, lid: u32) -> u32 {
    workgroupBarrier();
    sh_f[lid] = v;
    sh_u[lid] = i;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            let ov = sh_f[lid + s];
            let oi = sh_u[lid + s];
            if (ov > sh_f[lid] || (ov == sh_f[lid] && oi < sh_u[lid])) {
                sh_f[lid] = ov;
                sh_u[lid] = oi;
            }
        }
    }
    workgroupBarrier();
    return sh_u[0];
}

fn logit(i: u32) -> f32 {
    return f32(logits[i]);
}

@compute @workgroup_size(WG)
fn argmax(@builtin(local_invocation_index) lid: u32) {
    var best = -3.4e38;
    var best_i = 0xFFFFFFFFu;
    for (var i = lid; i < p.n_vocab; i += WG) {
        let v = logit(i);
        if (allowed(i) && v > best) {
            best = v;
            best_i = i;
        }
    }
    let id = wg_argmax(best, best_i, lid);
    if (lid == 0u) {
        ids[p.out_index] = id;
    }
}

// Order-preserving u32 key of an f32 (larger float, larger key).
fn key(f: f32) -> u32 {
    let b = bitcast<u32>(f);
    return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

var<private> kth_key: u32 = 0u;
var<private> max_logit: f32 = 0.0;
var<private> min_rel: f32 = 0.0;
var<private> top_p_key: u32 = 0u;

// Whether token i survives top-k, min-p and top-p (each stage once its threshold is set).
fn survives(i: u32) -> bool {
    let l = logit(i);
    if (!allowed(i) || key(l) < kth_key) {
        return false;
    }
    let e = exp(l - max_logit);
    return e >= min_rel && bitcast<u32>(e) >= top_p_key;
}

fn hash(x: u32) -> u32 {
    // PCG-style integer hash.
    var s = x * 747796405u + 2891336453u;
    s = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (s >> 22u) ^ s;
}

@compute @workgroup_size(WG)
fn sample(@builtin(local_invocation_index) lid: u32) {
    let n = p.n_vocab;
    // Penalties, applied once per distinct id of the history.
    for (var h = lid; h < p.n_hist; h += WG) {
        let id = hist[h];
        var first = true;
        var count = 0u;
        for (var h2 = 0u; h2 < p.n_hist; h2++) {
            if (hist[h2] == id) {
                count++;
                first = first && h2 >= h;
            }
        }
        if (first && id < n) {
            var l = logit(id);
            l = select(l * p.repeat_penalty, l / p.repeat_penalty, l > 0.0);
            l -= f32(count) * p.frequency_penalty + p.presence_penalty;
            logits[id] = act(l);
        }
    }
    storageBarrier();
    workgroupBarrier();

    // Largest logit (always survives).
    var best = -3.4e38;
    var best_i = 0u;
    for (var i = lid; i < n; i += WG) {
        if (allowed(i) && logit(i) > best) {
            best = logit(i);
            best_i = i;
        }
    }
    let top = wg_argmax(best, best_i, lid);
    max_logit = logit(top);

    // Top-k: the largest key K with count(key >= K) >= k.
    if (p.top_k > 0u && p.top_k < n) {
        var res = 0u;
        for (var bit = 31i; bit >= 0i; bit--) {
            let cand = res | (1u << u32(bit));
            var c = 0.0;
            for (var i = lid; i < n; i += WG) {
                c += select(0.0, 1.0, allowed(i) && key(logit(i)) >= cand);
            }
            if (wg_sum(c, lid) >= f32(p.top_k)) {
                res = cand;
            }
        }
        kth_key = res;
    }
    // Min-p: p_i >= min_p * p_max, i.e. exp(l_i - max) >= min_p.
    min_rel = p.min_p;
    // Top-p: the largest threshold T on e_i = exp(l_i - max) whose survivors hold >= top_p of
    // the mass of those left after top-k and min-p.
    if (p.top_p < 1.0) {
        var mass = 0.0;
        for (var i = lid; i < n; i += WG) {
            mass += select(0.0, exp(logit(i) - max_logit), survives(i));
        }
        let goal = p.top_p * wg_sum(mass, lid);
        var res = 0u;
        for (var bit = 30i; bit >= 0i; bit--) {
            let cand = res | (1u << u32(bit));
            var s = 0.0;
            for (var i = lid; i < n; i += WG) {
                let e = exp(logit(i) - max_logit);
                s += select(0.0, e, survives(i) && bitcast<u32>(e) >= cand);
            }
            if (wg_sum(s, lid) >= goal) {
                res = cand;
            }
        }
        top_p_key = res;
    }

    // Temperature, then a draw over each invocation's contiguous range of the vocabulary.
    let per = (n + WG - 1u) / WG;
    let lo = min(lid * per, n);
    let hi = min(lo + per, n);
    var part = 0.0;
    for (var i = lo; i < hi; i++) {
        part += select(0.0, exp((logit(i) - max_logit) / p.temperature), survives(i));
    }
    workgroupBarrier();
    sh_f[lid] = part;
    workgroupBarrier();
    if (lid == 0u) {
        var total = 0.0;
        for (var j = 0u; j < WG; j++) {
            total += sh_f[j];
        }
        let r = f32(hash(p.seed ^ hash(step.counter)) >> 8u) / 16777216.0;
        let u = r * total;
        var acc = 0.0;
        var owner = 0u;
        for (var j = 0u; j < WG; j++) {
            if (sh_f[j] > 0.0) {
                owner = j;
                if (u < acc + sh_f[j]) {
                    break;
                }
                acc += sh_f[j];
            }
        }
        sh_u[0] = owner;
        sh_f[0] = u - acc;
    }
    workgroupBarrier();
    if (lid == sh_u[0]) {
        let u = sh_f[0];
        var acc = 0.0;
        var chosen = top;
        for (var i = lo; i < hi; i++) {
            if (survives(i)) {
                chosen = i;
                acc += exp((logit(i) - max_logit) / p.temperature);
                if (u < acc) {
                    break;
                }
            }
        }
        ids[p.out_index] = chosen;
        // Every invocation read hist before the barriers above; this one alone writes it.
        if (p.push_hist != 0u && p.n_hist > 0u) {
            for (var h = 1u; h < p.n_hist; h++) {
                hist[h - 1u] = hist[h];
            }
            hist[p.n_hist - 1u] = chosen;
        }
    }
}

// Top-k by repeated selection: each round takes the largest (logit, -id) below the previous.
@compute @workgroup_size(WG)
fn logprobs_top(@builtin(local_invocation_index) lid: u32) {
    let n = p.n_vocab;
    var m = -3.4e38;
    var m_i = 0u;
    for (var i = lid; i < n; i += WG) {
        if (logit(i) > m) {
            m = logit(i);
            m_i = i;
        }
    }
    let mx = logit(wg_argmax(m, m_i, lid));
    var s = 0.0;
    for (var i = lid; i < n; i += WG) {
        s += exp(logit(i) - mx);
    }
    let lse = mx + log(wg_sum(s, lid));
    var prev_v = 3.4e38;
    var prev_i = 0u;
    for (var j = 0u; j < p.top_k; j++) {
        var bv = -3.4e38;
        var bi = 0xFFFFFFFFu;
        for (var i = lid; i < n; i += WG) {
            let v = logit(i);
            let below = v < prev_v || (v == prev_v && i > prev_i);
            if (below && (v > bv || (v == bv && i < bi))) {
                bv = v;
                bi = i;
            }
        }
        let best = wg_argmax(bv, bi, lid);
        prev_v = logit(best);
        prev_i = best;
        if (lid == 0u) {
            lp_out[4u + 2u * j] = best;
            lp_out[5u + 2u * j] = bitcast<u32>(prev_v - lse);
        }
    }
    for (var h = lid; h < p.n_hist; h += WG) {
        let id = hist[h];
        lp_saved[2u * h] = id;
        lp_saved[2u * h + 1u] = bitcast<u32>(select(0.0, logit(min(id, n - 1u)), id < n));
    }
    if (lid == 0u) {
        lp_out[2] = bitcast<u32>(lse);
        lp_out[3] = p.top_k;
    }
}

// The drawn token ids[out_index]'s logprob, from its logit before the penalties.
@compute @workgroup_size(1)
fn logprobs_chosen() {
    let id = ids[p.out_index];
    var raw = logit(min(id, p.n_vocab - 1u));
    for (var h = 0u; h < p.n_hist; h++) {
        if (lp_saved[2u * h] == id) {
            raw = bitcast<f32>(lp_saved[2u * h + 1u]);
        }
    }
    lp_out[0] = id;
    lp_out[1] = bitcast<u32>(raw - bitcast<f32>(lp_out[2]));
}
