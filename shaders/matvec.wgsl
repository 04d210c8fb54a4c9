// matvec: y = W x for one token (decode), dequantizing W on the fly.
// W (rows, cols) in one page, x (cols,) at x_offset, y (rows_total,): this page writes
// y[out_offset..].
// One workgroup computes ROWS consecutive rows: invocations stride over the chunks of the
// rows (adjacent invocations read adjacent words), each x chunk is loaded once and used for
// all ROWS rows, and the ROWS partial sums are reduced together, so the reduction's barriers
// are paid once per ROWS rows. ACCUMULATE adds into y instead (the residual add fused into
// the projection); OUT_F32 makes y f32 (the residual stream).
#include "common/header.wgsl"
#include "common/weights.wgsl"

override WG: u32 = 64u;
override ROWS: u32 = 4u;
// Workgroup memory sized to what a shape uses: its zero-initialization (WebGPU's rule) is
// paid per workgroup, and on CPU adapters it was most of the kernel's time (SwiftShader:
// 0.5 ms per workgroup at a fixed 16 KiB, 0.02 ms at 256 bytes).
override PARTIALS: u32 = ROWS * WG;

struct Params {
    rows: u32,
    cols: u32,
    scales: u32,
    out_offset: u32,
    // x starts at x[x_offset] (in vec4s): the last token's row of a prefill, for example.
    x_offset: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> x: array<act4>;
@group(0) @binding(2) var<storage, read_write> y: array<out_t>;
@group(0) @binding(3) var<uniform> p: Params;

#ifdef GLU_X
// GLU_X: x is the FFN's gated product act_fn(gate) * up, made as it is loaded (gate bound as
// x, up here): the GLU folded into the down projection. Rounded to act like the glu kernel's
// output, so the result is the same as glu then matvec. SiLU, or GELU (tanh) with GELU.
@group(0) @binding(4) var<storage, read> x_up: array<act4>;

fn load_x(i: u32) -> vec4<f32> {
    let g = vec4<f32>(x[i]);
#ifdef GELU
    let inner = clamp(0.7978845608 * (g + 0.044715 * g * g * g), vec4<f32>(-15.0), vec4<f32>(15.0));
    let a = 0.5 * g * (1.0 + tanh(inner));
#else
    let a = g / (1.0 + exp(-g));
#endif
    return vec4<f32>(act4(a * vec4<f32>(x_up[i])));
}
#else
fn load_x(i: u32) -> vec4<f32> {
    return vec4<f32>(x[i]);
}
#endif

#ifndef ONE_SUBGROUP
// partials[r * WG + i]: invocation i's sum for row r (without SUBGROUPS); with SUBGROUPS,
// partials[r * n_subgroups + s]: subgroup s's.
var<workgroup> partials: array<f32, PARTIALS>;
#endif

const MAX_ROWS: u32 = 32u;

@compute @workgroup_size(WG)
fn matvec(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
#ifdef SUBGROUPS
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
#endif
) {
    let row0 = flat_workgroup(wid, nwg) * ROWS;
    if (row0 >= p.rows) {
        return;
    }
    // Rows past the end repeat the last row (their sums are not written): no divergence.
    let last = p.rows - 1u;
    var acc: array<f32, MAX_ROWS>;
    for (var c = lid; c < p.cols / 8u; c += WG) {
        let first = load_chunk(min(row0, last), c, p.cols, p.scales);
        let xa = load_x(p.x_offset + first.col_a / 4u);
        let xb = load_x(p.x_offset + first.col_b / 4u);
        acc[0] += dot(first.a, xa) + dot(first.b, xb);
        for (var r = 1u; r < ROWS; r++) {
            let ch = load_chunk(min(row0 + r, last), c, p.cols, p.scales);
            acc[r] += dot(ch.a, xa) + dot(ch.b, xb);
        }
    }

#ifdef ONE_SUBGROUP
    // The workgroup is exactly one subgroup (WG = the adapter's only subgroup size): each
    // row's sum is one subgroupAdd, with no workgroup memory and no barrier (CPU adapters run
    // workgroups with barriers as coroutines, and pay for it per workgroup).
    for (var r = 0u; r < ROWS; r++) {
        let total = subgroupAdd(acc[r]);
        if (lid == 0u && row0 + r < p.rows) {
            store(p.out_offset + row0 + r, total);
        }
    }
#else
#ifdef SUBGROUPS
    let n_sg = (WG + sg_size - 1u) / sg_size;
    for (var r = 0u; r < ROWS; r++) {
        let s = subgroupAdd(acc[r]);
        if (sg_lane == 0u) {
            partials[r * n_sg + lid / sg_size] = s;
        }
    }
    workgroupBarrier();
    // Invocation i writes rows i, i + WG, … (a workgroup may have fewer invocations than rows).
    for (var r = lid; r < ROWS && row0 + r < p.rows; r += WG) {
        var total = 0.0;
        for (var i = 0u; i < n_sg; i++) {
            total += partials[r * n_sg + i];
        }
        store(p.out_offset + row0 + r, total);
    }
#else
    for (var r = 0u; r < ROWS; r++) {
        partials[r * WG + lid] = acc[r];
    }
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            for (var r = 0u; r < ROWS; r++) {
                partials[r * WG + lid] += partials[r * WG + lid + s];
            }
        }
    }
    workgroupBarrier();
    for (var r = lid; r < ROWS && row0 + r < p.rows; r += WG) {
        store(p.out_offset + row0 + r, partials[r * WG]);
    }
#endif
#endif
}

fn store(i: u32, total: f32) {
#ifdef ACCUMULATE
    y[i] = out_t(f32(y[i]) + total);
#else
    y[i] = out_t(total);
#endif
}
