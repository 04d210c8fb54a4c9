// delta_net_chunked: the gated delta rule of delta_net.wgsl (same math, buffers and state
// snapshots) over a prefill step, L tokens at a time instead of one: the recurrence's state is
// read and written once per chunk instead of three times per token, and the work between is
// small dense products any GPU runs in parallel. Within a chunk, with the cumulative log decay
// G_t = sum_{s<=t} log g_s, gamma_t = exp(G_t), and S0 the state before the chunk, unrolling
// S_t = g_t S_{t-1} + k_t d_t^T gives (t, s in the chunk):
//
//   d_t + sum_{s<t} A[t,s] d_s = b_t (v_t - gamma_t S0^T k_t),  A[t,s] = b_t e^(G_t-G_s) k_t.k_s
//   so d = T e with T = (I + A)^-1 (unit lower triangular) and e_t = b_t (v_t - gamma_t S0^T k_t)
//   o_t = gamma_t S0^T q_t + sum_{s<=t} e^(G_t-G_s) (q_t.k_s) d_s
//   S_L = gamma_L S0 + sum_s e^(G_L-G_s) k_s d_s^T
//
// (the WY form of the delta rule, as chunked linear-attention kernels compute it). Every
// exponent is <= 0: nothing grows. One workgroup per value head; value dim (column) j is
// independent of the others given the chunk's q, k and gates, so invocations own columns
// as in delta_net.wgsl, and only the output's RMS norm joins them, once per chunk.
#include "common/header.wgsl"
#include "common/step.wgsl"
#include "common/delta_net_io.wgsl"

override WG: u32 = 64u;

// Value dims per invocation: dim <= ROWS * WG (src/kernels/delta_net.rs checks it).
const ROWS: u32 = 4u;
const MAX_DIM: u32 = 256u;
// Tokens per chunk: at most MAX_CHUNK, and L dim <= CHUNK_FLOATS so that the chunk's q and k
// fit in workgroup memory (WebGPU guarantees 16 KiB): 16 tokens at dim 64, 12 at 128, 6 at 256.
const MAX_CHUNK: u32 = 16u;
const CHUNK_FLOATS: u32 = 1536u;

// (L, dim) the chunk's l2-normed keys; after its columns, the output's partial sums of squares.
var<workgroup> kc: array<f32, CHUNK_FLOATS>;
// (L, dim) the chunk's l2-normed queries, times 1 / sqrt(dim).
var<workgroup> qc: array<f32, CHUNK_FLOATS>;
// (L, L) by rows of MAX_CHUNK: A, T = (I + A)^-1 and M[t,s] = e^(G_t-G_s) q_t.k_s (s <= t).
var<workgroup> a_m: array<f32, 256>;
var<workgroup> t_m: array<f32, 256>;
var<workgroup> m_m: array<f32, 256>;
// (L,) G_t; b_t; the l2 norms' scales of k and q, then the output norm's 1 / rms.
var<workgroup> g_cum: array<f32, MAX_CHUNK>;
var<workgroup> b_t: array<f32, MAX_CHUNK>;
var<workgroup> k_sc: array<f32, MAX_CHUNK>;
var<workgroup> q_sc: array<f32, MAX_CHUNK>;

@compute @workgroup_size(WG)
fn delta_net_chunked(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let h = wid.x;
    let n = p.dim;
    let hk = h % p.n_k_heads;
    let channels = (2u * p.n_k_heads + p.n_v_heads) * n;
    let width = p.n_v_heads * n;
    let src = state_slot(step.pos0, h);
    let dst = state_slot(step.pos0 + step.n_tokens, h);
    let len = min(MAX_CHUNK, CHUNK_FLOATS / n);
    for (var c0 = 0u; c0 < step.n_tokens; c0 += len) {
        let l = min(len, step.n_tokens - c0);
        // S0: the step's snapshot for the first chunk (zeros at position 0), then the state
        // the previous chunk left in the step's own slot.
        let has_state = c0 > 0u || step.pos0 > 0u;
        let s0_at = select(dst, src, c0 == 0u);

        // The chunk's q and k, log decays and betas.
        workgroupBarrier();
        for (var e = lid; e < l * n; e += WG) {
            let row = (c0 + e / n) * channels;
            let i = e % n;
            qc[e] = f32(qkv[row + hk * n + i]);
            kc[e] = f32(qkv[row + (p.n_k_heads + hk) * n + i]);
        }
        if (lid < l) {
            let gh = (c0 + lid) * p.n_v_heads + h;
            g_cum[lid] = softplus(f32(alpha[gh]) + dt_bias[h]) * a_log[h];
            b_t[lid] = sigmoid(f32(beta[gh]));
        }
        workgroupBarrier();
        // ggml's l2 norm, x / sqrt(sum x^2 + eps), per token; G as a running sum.
        if (lid < l) {
            var sq = 0.0;
            var sk = 0.0;
            for (var i = 0u; i < n; i++) {
                sq += qc[lid * n + i] * qc[lid * n + i];
                sk += kc[lid * n + i] * kc[lid * n + i];
            }
            q_sc[lid] = inverseSqrt(sq + p.eps) * inverseSqrt(f32(n));
            k_sc[lid] = inverseSqrt(sk + p.eps);
        }
        if (lid == WG - 1u) {
            var acc = 0.0;
            for (var t = 0u; t < l; t++) {
                acc += g_cum[t];
                g_cum[t] = acc;
            }
        }
        workgroupBarrier();
        for (var e = lid; e < l * n; e += WG) {
            qc[e] *= q_sc[e / n];
            kc[e] *= k_sc[e / n];
        }
        workgroupBarrier();
        // A and M, one entry per invocation in turn.
        for (var e = lid; e < l * l; e += WG) {
            let t = e / l;
            let s = e % l;
            var kk = 0.0;
            var qk = 0.0;
            if (s <= t) {
                for (var i = 0u; i < n; i++) {
                    kk += kc[t * n + i] * kc[s * n + i];
                    qk += qc[t * n + i] * kc[s * n + i];
                }
            }
            let decay = select(0.0, exp(g_cum[t] - g_cum[s]), s <= t);
            a_m[t * MAX_CHUNK + s] = select(0.0, b_t[t] * decay * kk, s < t);
            m_m[t * MAX_CHUNK + s] = decay * qk;
        }
        workgroupBarrier();
        // T = (I + A)^-1 by forward substitution, invocation s its column s:
        // T[t,s] = [t = s] - sum_{s<=r<t} A[t,r] T[r,s].
        if (lid < l) {
            let s = lid;
            for (var t = 0u; t < l; t++) {
                var v = select(0.0, 1.0, t == s);
                if (t > s) {
                    for (var r = s; r < t; r++) {
                        v -= a_m[t * MAX_CHUNK + r] * t_m[r * MAX_CHUNK + s];
                    }
                }
                t_m[t * MAX_CHUNK + s] = v;
            }
        }
        workgroupBarrier();

        // Each invocation's columns j: d, o and the state after the chunk.
        // The arrays are zeroed by explicit initializers: Chromium (Tint, seen under SwiftShader)
        // did not zero an array declared bare inside a loop on the loop's second pass.
        let g_last = g_cum[l - 1u];
        var o_keep = array<f32, ROWS * MAX_CHUNK>(); // (r, t) this invocation's outputs
        var ss = array<f32, MAX_CHUNK>(); // (t,) their sums of squares
        for (var r = 0u; r < ROWS; r++) {
            let j = lid + r * WG;
            if (j >= n) {
                break;
            }
            // pk_t = S0^T k_t, pq_t = S0^T q_t (column j).
            var pk = array<f32, MAX_CHUNK>();
            var pq = array<f32, MAX_CHUNK>();
            if (has_state) {
                for (var i = 0u; i < n; i++) {
                    let s0 = state[s0_at + i * n + j];
                    for (var t = 0u; t < l; t++) {
                        pk[t] += kc[t * n + i] * s0;
                        pq[t] += qc[t * n + i] * s0;
                    }
                }
            }
            // e_t, then d = T e in place (row t reads e_s for s <= t only: last row first).
            var d = array<f32, MAX_CHUNK>();
            for (var t = 0u; t < l; t++) {
                let v = f32(qkv[(c0 + t) * channels + 2u * p.n_k_heads * n + h * n + j]);
                d[t] = b_t[t] * (v - exp(g_cum[t]) * pk[t]);
            }
            for (var t = l; t > 0u; t--) {
                var acc = 0.0;
                for (var s = 0u; s < t; s++) {
                    acc += t_m[(t - 1u) * MAX_CHUNK + s] * d[s];
                }
                d[t - 1u] = acc;
            }
            for (var t = 0u; t < l; t++) {
                var o = exp(g_cum[t]) * pq[t];
                for (var s = 0u; s <= t; s++) {
                    o += m_m[t * MAX_CHUNK + s] * d[s];
                }
                o_keep[r * MAX_CHUNK + t] = o;
                ss[t] += o * o;
            }
            // S_L[:, j] = gamma_L S0[:, j] + sum_s e^(G_L-G_s) k_s d_s[j]
            for (var s = 0u; s < l; s++) {
                d[s] *= exp(g_last - g_cum[s]);
            }
            let g_all = exp(g_last);
            for (var i = 0u; i < n; i++) {
                var acc = 0.0;
                if (has_state) {
                    acc = g_all * state[s0_at + i * n + j];
                }
                for (var s = 0u; s < l; s++) {
                    acc += kc[s * n + i] * d[s];
                }
                state[dst + i * n + j] = acc;
            }
        }

        // y = rms_norm(o) * norm_w * silu(z) per token over the head's values: the partial sums
        // of squares meet in kc (l WG <= CHUNK_FLOATS), one invocation adds up each token's.
        workgroupBarrier();
        for (var t = 0u; t < l; t++) {
            kc[t * WG + lid] = ss[t];
        }
        workgroupBarrier();
        if (lid < l) {
            var total = 0.0;
            for (var u = 0u; u < WG; u++) {
                total += kc[lid * WG + u];
            }
            k_sc[lid] = inverseSqrt(total / f32(n) + p.eps);
        }
        workgroupBarrier();
        for (var r = 0u; r < ROWS; r++) {
            let j = lid + r * WG;
            if (j >= n) {
                break;
            }
            for (var t = 0u; t < l; t++) {
                let zi = (c0 + t) * width + h * n + j;
                let zv = f32(z[zi]);
                y[zi] = act(o_keep[r * MAX_CHUNK + t] * k_sc[t] * norm_w[j] * zv * sigmoid(zv));
            }
        }
    }
}
