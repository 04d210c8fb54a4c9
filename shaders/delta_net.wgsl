// delta_net: the gated delta rule of Qwen3.5's linear-attention layers over a step's tokens,
// one workgroup per value head, walking the tokens one by one (decode steps; prefill runs
// delta_net_chunked.wgsl), with the gated RMS norm of the output folded in. Per token t and value head h (key head
// hk = h mod n_k_heads, as llama.cpp's kernel pairs them):
//
//   q, k = l2_norm(q[hk]), l2_norm(k[hk]);  q *= 1 / sqrt(dim)
//   g = exp(softplus(alpha[h] + dt_bias[h]) * a[h]);  b = sigmoid(beta[h])
//   S = g * S;  d = (v[h] - S^T k) * b;  S += k d^T;  o = S^T q
//   y[h] = rms_norm(o) * norm_w * silu(z[h])
//
// S is dim x dim per head, f32, [i (key dim)][j (value dim)]: invocation j owns column j, so
// neighbouring invocations read neighbouring words. The state lives in `state` as `slots`
// snapshots by position: a step from pos0 over n tokens reads the snapshot of pos0 (slot
// pos0 % slots; zeros at position 0, so a new sequence needs no reset) and leaves the state
// after its last token in slot (pos0 + n) % slots. A step run ahead and dropped, or a
// conversation resumed at an earlier snapshot, therefore finds the state it starts from.
#include "common/header.wgsl"
#include "common/reduce.wgsl"
#include "common/step.wgsl"
#include "common/delta_net_io.wgsl"

override WG: u32 = 64u;

// Value dims per invocation: dim <= ROWS * WG (src/kernels/delta_net.rs checks it).
const ROWS: u32 = 4u;
const MAX_DIM: u32 = 256u;

var<workgroup> qs: array<f32, MAX_DIM>;
var<workgroup> ks: array<f32, MAX_DIM>;

@compute @workgroup_size(WG)
fn delta_net(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
#include "common/subgroup_args.wgsl"
) {
#include "common/subgroup_init.wgsl"
    let h = wid.x;
    let n = p.dim;
    let hk = h % p.n_k_heads;
    let channels = (2u * p.n_k_heads + p.n_v_heads) * n;
    let width = p.n_v_heads * n;
    let src = state_slot(step.pos0, h);
    let dst = state_slot(step.pos0 + step.n_tokens, h);
    // The state this step starts from, into the slot it ends in (each invocation its columns).
    if (src != dst || step.pos0 == 0u) {
        for (var j = lid; j < n; j += WG) {
            for (var i = 0u; i < n; i++) {
                var s = 0.0;
                if (step.pos0 > 0u) {
                    s = state[src + i * n + j];
                }
                state[dst + i * n + j] = s;
            }
        }
    }
    for (var t = 0u; t < step.n_tokens; t++) {
        let row = t * channels;
        // This token's q and k of key head hk, with their sums of squares for the l2 norms.
        workgroupBarrier();
        var sq = 0.0;
        var sk = 0.0;
        for (var i = lid; i < n; i += WG) {
            let qv = f32(qkv[row + hk * n + i]);
            let kv = f32(qkv[row + (p.n_k_heads + hk) * n + i]);
            qs[i] = qv;
            ks[i] = kv;
            sq += qv * qv;
            sk += kv * kv;
        }
        // ggml's l2 norm: x / sqrt(sum x^2 + eps); q then scaled by 1 / sqrt(dim).
        let q_scale = inverseSqrt(reduce_sum(sq, lid) + p.eps) * inverseSqrt(f32(n));
        let k_scale = inverseSqrt(reduce_sum(sk, lid) + p.eps);
        let gh = t * p.n_v_heads + h;
        let decay = exp(softplus(f32(alpha[gh]) + dt_bias[h]) * a_log[h]);
        let b = sigmoid(f32(beta[gh]));
        var o: array<f32, ROWS>;
        var ss = 0.0;
        for (var r = 0u; r < ROWS; r++) {
            let j = lid + r * WG;
            if (j >= n) {
                break;
            }
            // d_j = (v_j - (g S)^T k) b
            var sk_j = 0.0;
            for (var i = 0u; i < n; i++) {
                sk_j += state[dst + i * n + j] * ks[i];
            }
            let v = f32(qkv[row + 2u * p.n_k_heads * n + h * n + j]);
            let d = (v - decay * sk_j * k_scale) * b;
            // S = g S + k d^T;  o_j = S^T q
            var o_j = 0.0;
            for (var i = 0u; i < n; i++) {
                let s = decay * state[dst + i * n + j] + ks[i] * k_scale * d;
                state[dst + i * n + j] = s;
                o_j += s * qs[i];
            }
            o[r] = o_j * q_scale;
            ss += o[r] * o[r];
        }
        // y = rms_norm(o) * norm_w * silu(z) over the head's values.
        let inv = inverseSqrt(reduce_sum(ss, lid) / f32(n) + p.eps);
        for (var r = 0u; r < ROWS; r++) {
            let j = lid + r * WG;
            if (j >= n) {
                break;
            }
            let zi = t * width + h * n + j;
            let zv = f32(z[zi]);
            y[zi] = act(o[r] * inv * norm_w[j] * (zv / (1.0 + exp(-zv))));
        }
    }
}
