// The parameters and buffers of a delta-net layer's recurrence, shared by delta_net.wgsl (token
// by token) and delta_net_chunked.wgsl (in chunks): see delta_net.wgsl for the math and the
// state's snapshots by position. Include after common/header.wgsl.

struct Params {
    n_k_heads: u32,
    n_v_heads: u32,
    dim: u32,
    slots: u32,
    eps: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// (T, (2 n_k_heads + n_v_heads) dim): the convolution's output, q | k | v.
@group(0) @binding(0) var<storage, read> qkv: array<act>;
// (T, n_v_heads dim) the output gate.
@group(0) @binding(1) var<storage, read> z: array<act>;
// (T, n_v_heads) before their sigmoid / softplus.
@group(0) @binding(2) var<storage, read> beta: array<act>;
@group(0) @binding(3) var<storage, read> alpha: array<act>;
// (n_v_heads,) f32 each: the time-step bias and a = -exp(A_log), as the file has them.
@group(0) @binding(4) var<storage, read> dt_bias: array<f32>;
@group(0) @binding(5) var<storage, read> a_log: array<f32>;
// (dim,) f32 the output norm's weight.
@group(0) @binding(6) var<storage, read> norm_w: array<f32>;
// (slots, n_v_heads, dim, dim) f32.
@group(0) @binding(7) var<storage, read_write> state: array<f32>;
// (T, n_v_heads dim) act.
@group(0) @binding(8) var<storage, read_write> y: array<act>;
@group(0) @binding(9) var<uniform> p: Params;
@group(0) @binding(10) var<uniform> step: Step;

fn softplus(x: f32) -> f32 {
    // As ggml_softplus: x itself past 20, where log(1 + e^x) rounds to it.
    if (x > 20.0) {
        return x;
    }
    return log(1.0 + exp(x));
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// The state slot (its first word) head h of a step starting at `pos` reads or writes.
fn state_slot(pos: u32, h: u32) -> u32 {
    return ((pos % p.slots) * p.n_v_heads + h) * p.dim * p.dim;
}
