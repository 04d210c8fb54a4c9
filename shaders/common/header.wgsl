// Included first by every kernel: optional extensions and the activation element type.
// ACT_F16: activations (inputs, outputs, KV cache) are f16; accumulation stays f32.
#ifdef ACT_F16
enable f16;
#endif
// SUBGROUPS needs no `enable` under naga (wgpu's native path); browsers would want
// `enable subgroups;`, but wgpu 30 on the web does not expose the feature, so web builds
// never define SUBGROUPS.
#ifdef ACT_F16
alias act = f16;
alias act4 = vec4<f16>;
#else
alias act = f32;
alias act4 = vec4<f32>;
#endif

// IN_F32 / OUT_F32: a kernel's input / output is f32 whatever `act` is. The residual stream
// (and a sub-layer's output on its way into it) stays f32 on the f16 path: Gemma's grows past
// f16's range, and it is only (T, D) values, a small part of the traffic.
#ifdef IN_F32
alias in_t = f32;
#else
alias in_t = act;
#endif
#ifdef OUT_F32
alias out_t = f32;
#else
alias out_t = act;
#endif

// Workgroups are laid out in 2-D when a dimension would exceed 65535: flatten them.
fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}
