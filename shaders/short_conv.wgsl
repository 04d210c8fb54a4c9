// short_conv: a causal short convolution over a step's tokens, one invocation per channel
// walking the step's tokens in order. LFM2's conv layers gate it:
//
//   v = b * x;  y = c * sum_j kernel[ch, j] * v[pos - (taps - 1) + j]
//
// b, c, x (T, D) being the layer's input projection's three parts; with SILU (Qwen3.5's delta
// nets, before the delta rule) there are no gates and the sum goes through SiLU:
//
//   v = x;  y = silu(sum_j kernel[ch, j] * v[pos - (taps - 1) + j])
// The convolution's past
// inputs live in `ring`: v of position p in row p % ring_len, f32, (ring_len, D). Kept by
// position like a KV cache rather than as "the last taps - 1 values", so that a step run ahead
// and dropped, or a conversation cut back to an earlier position (within ring_len - taps), is
// undone by simply running from there; positions before 0 count as zero (a new sequence needs
// no reset).
#include "common/header.wgsl"
#include "common/step.wgsl"

override WG: u32 = 64u;

struct Params {
    d: u32,
    taps: u32,
    ring_len: u32,
    _pad: u32,
}

#ifndef SILU
@group(0) @binding(0) var<storage, read> b: array<act>;
@group(0) @binding(1) var<storage, read> c: array<act>;
#endif
@group(0) @binding(2) var<storage, read> x: array<act>;
// (D, taps) f32: channel ch's taps, oldest input first.
@group(0) @binding(3) var<storage, read> kernel_w: array<f32>;
@group(0) @binding(4) var<storage, read_write> ring: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<act>;
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<uniform> step: Step;

@compute @workgroup_size(WG)
fn short_conv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let ch = gid.x;
    if (ch >= p.d) {
        return;
    }
    let k0 = ch * p.taps;
    for (var t = 0u; t < step.n_tokens; t++) {
        let pos = step.pos0 + t;
        let i = t * p.d + ch;
#ifdef SILU
        let v = f32(x[i]);
#else
        let v = f32(b[i]) * f32(x[i]);
#endif
        // Oldest input first, as llama.cpp's ssm_conv sums.
        var acc = 0.0;
        for (var j = 0u; j + 1u < p.taps; j++) {
            let back = p.taps - 1u - j;
            if (back <= pos) {
                acc += ring[((pos - back) % p.ring_len) * p.d + ch] * kernel_w[k0 + j];
            }
        }
        acc += v * kernel_w[k0 + p.taps - 1u];
        ring[(pos % p.ring_len) * p.d + ch] = v;
#ifdef SILU
        y[i] = act(acc / (1.0 + exp(-acc)));
#else
        y[i] = act(f32(c[i]) * acc);
#endif
    }
}
