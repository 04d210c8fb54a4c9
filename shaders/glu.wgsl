// glu: the gated FFN product out = act_fn(gate) * up, elementwise over n values.
// SiLU (x * sigmoid(x)) by default, GELU (tanh approximation) with GELU, the sigmoid alone
// with SIGMOID (Qwen3.5's attention output gate). IN_PLACE writes the
// product over gate (out is not bound). NO_UP: out = act_fn(gate) alone (a plain, non-gated
// FFN's activation; up is not bound). STRIDED_UP reads up as rows of up_width values,
// up_stride apart from up_offset: value i takes up[(i / up_width) · up_stride + up_offset +
// i % up_width] (Gemma 4's per-layer gate times layer l's slice of the per-layer inputs).
#include "common/header.wgsl"

override WG: u32 = 64u;

struct Params {
    n: u32,
    // STRIDED_UP: see the top.
    up_width: u32,
    up_stride: u32,
    up_offset: u32,
}

@group(0) @binding(0) var<storage, read_write> gate: array<act>;
#ifndef NO_UP
@group(0) @binding(1) var<storage, read> up: array<act>;
#endif
@group(0) @binding(2) var<uniform> p: Params;
#ifndef IN_PLACE
@group(0) @binding(3) var<storage, read_write> out: array<act>;
#endif

@compute @workgroup_size(WG)
fn glu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n) {
        return;
    }
    let g = f32(gate[i]);
#ifdef GELU
    // Clamped: tanh of a large argument is +-1, and some tanh implementations overflow.
    let inner = clamp(0.7978845608 * (g + 0.044715 * g * g * g), -15.0, 15.0);
    let a = 0.5 * g * (1.0 + tanh(inner));
#else
#ifdef SIGMOID
    let a = 1.0 / (1.0 + exp(-g));
#else
    let a = g / (1.0 + exp(-g));
#endif
#endif
#ifdef NO_UP
    let v = a;
#else
#ifdef STRIDED_UP
    let v = a * f32(up[(i / p.up_width) * p.up_stride + p.up_offset + i % p.up_width]);
#else
    let v = a * f32(up[i]);
#endif
#endif
#ifdef IN_PLACE
    gate[i] = act(v);
#else
    out[i] = act(v);
#endif
}
