// matvec: y = W x for one token (decode), dequantizing W on the fly.
// W (rows, cols) in one page, x (cols,) at x_offset, y (rows_total,): this page writes
// y[out_offset..].
// One workgroup computes ROWS consecutive rows: invocations stride over the chunks of the
// rows (adjacent invocations read adjacent words), each x chunk is loaded once and used for
// all ROWS rows, and the ROWS partial sums are reduced together, so the reduction's barriers
// are paid once per ROWS rows. ACCUMULATE adds into y instead (the residual add fused into
// the projection); OUT_F32 makes y f32 (the residual stream).
// Fused inputs: NORM_X makes x rms_norm(x) · norm_w as it loads (x f32, the residual stream:
// the sub-layer's input norm folded in; with LAYER_NORM a LayerNorm, norm_w then holding the
// weight and the bias), GLU_X makes it act_fn(gate) · up (the FFN's GLU; with NO_UP
// act_fn(gate) alone: a plain FFN's activation), F32_X makes it act(x) of an f32 x (the
// residual stream itself: Gemma 4's per-layer gate). BIAS adds bias[row] (a projection's bias,
// over the rows of all stacked tensors).
// OUTPUTS_2 / OUTPUTS_3: W is two or three tensors stacked by rows (q, k, v; gate, up), and
// rows from p.split1 (p.split2) on go to y1 (y2): one dispatch for all of them.
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
    // First rows of the second and third stacked tensors (OUTPUTS_2, OUTPUTS_3).
    split1: u32,
    split2: u32,
    // The norm's epsilon (NORM_X).
    eps: f32,
}

@group(0) @binding(0) var<storage, read> w: array<u32>;
#ifdef GROUPS
// The same page as vectors: a group of four chunks' words (common/weights.wgsl). Block formats
// read their scales from w; F32 and F16 only from wv (then w is not in the layout).
@group(0) @binding(8) var<storage, read> wv: array<vec4<u32>>;
#endif
#ifdef NORM_X
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
// (cols,) f32 weight; with LAYER_NORM (2 cols,): the weight, then the bias.
@group(0) @binding(5) var<storage, read> norm_w: array<vec4<f32>>;
#else
#ifdef F32_X
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
#else
@group(0) @binding(1) var<storage, read> x: array<act4>;
#endif
#endif
@group(0) @binding(2) var<storage, read_write> y: array<out_t>;
@group(0) @binding(3) var<uniform> p: Params;
#ifdef OUTPUTS_2
@group(0) @binding(6) var<storage, read_write> y1: array<out_t>;
#endif
#ifdef OUTPUTS_3
@group(0) @binding(7) var<storage, read_write> y2: array<out_t>;
#endif
#ifdef BIAS
// (rows of the whole weight,) f32.
@group(0) @binding(9) var<storage, read> bias: array<f32>;
#endif

#ifdef GLU_X
// GLU_X: x is the FFN's gated product act_fn(gate) * up, made as it is loaded (gate bound as
// x, up here): the GLU folded into the down projection. Rounded to act like the glu kernel's
// output, so the result is the same as glu then matvec. SiLU, GELU (tanh) with GELU, the
// sigmoid with SIGMOID.
#ifndef NO_UP
@group(0) @binding(4) var<storage, read> x_up: array<act4>;
#endif

fn load_x(i: u32) -> vec4<f32> {
    let g = vec4<f32>(x[i]);
#ifdef GELU
    let inner = clamp(0.7978845608 * (g + 0.044715 * g * g * g), vec4<f32>(-15.0), vec4<f32>(15.0));
    let a = 0.5 * g * (1.0 + tanh(inner));
#else
#ifdef SIGMOID
    let a = 1.0 / (1.0 + exp(-g));
#else
    let a = g / (1.0 + exp(-g));
#endif
#endif
#ifdef NO_UP
    return vec4<f32>(act4(a));
#else
    return vec4<f32>(act4(a * vec4<f32>(x_up[i])));
#endif
}
#else
#ifdef NORM_X
// This token's 1 / sqrt(var + eps) and (LAYER_NORM) mean, computed by each workgroup before its
// rows.
var<private> inv_rms: f32;
var<private> x_mean: f32;

// Rounded to act as the norm kernel stores its output, so the result is that of the norm then
// matvec (up to the order in which the sums are added up).
fn load_x(i: u32) -> vec4<f32> {
    let j = i - p.x_offset;
#ifdef LAYER_NORM
    return vec4<f32>(act4((x[i] - vec4<f32>(x_mean)) * inv_rms * norm_w[j] + norm_w[p.cols / 4u + j]));
#else
    return vec4<f32>(act4(x[i] * inv_rms * norm_w[j]));
#endif
}
#else
#ifdef F32_X
// Rounded to act as the to_act kernel stores it: the same as to_act then matvec.
fn load_x(i: u32) -> vec4<f32> {
    return vec4<f32>(act4(x[i]));
}
#else
fn load_x(i: u32) -> vec4<f32> {
    return vec4<f32>(x[i]);
}
#endif
#endif
#endif

#ifndef ONE_SUBGROUP
// partials[r * WG + i]: invocation i's sum for row r (without SUBGROUPS); with SUBGROUPS,
// partials[r * n_subgroups + s]: subgroup s's.
var<workgroup> partials: array<f32, PARTIALS>;
#endif

const MAX_ROWS: u32 = 32u;

#ifdef NORM_X
var<private> sg_size_p: u32 = 1u;
var<private> sg_lane_p: u32 = 0u;

// The sum of v over the workgroup (uniform control flow), for the norm's statistics. Reduced in
// `partials` rather than with common/reduce.wgsl, whose own workgroup buffer would add to the
// memory each workgroup zero-initializes; the barriers around it let the row sums below, and
// a second call, reuse `partials`.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
#ifdef ONE_SUBGROUP
    return subgroupAdd(v);
#else
    workgroupBarrier();
#ifdef SUBGROUPS
    let s = subgroupAdd(v);
    if (sg_lane_p == 0u) {
        partials[lid / sg_size_p] = s;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var i = 0u; i < (WG + sg_size_p - 1u) / sg_size_p; i++) {
        total += partials[i];
    }
#else
    partials[lid] = v;
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        workgroupBarrier();
        if (lid < s) {
            partials[lid] += partials[lid + s];
        }
    }
    workgroupBarrier();
    let total = partials[0];
#endif
    workgroupBarrier();
    return total;
#endif
}
#endif

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
#ifdef NORM_X
    // The token's statistics, once per workgroup: x is (cols,) f32, a small read next to the
    // ROWS weight rows, and it saves the separate norm dispatch and its h buffer. LayerNorm
    // takes the mean first and the variance around it, as the norm kernel does.
#ifdef SUBGROUPS
    sg_size_p = sg_size;
    sg_lane_p = sg_lane;
#endif
    var mean = 0.0;
#ifdef LAYER_NORM
    var sx = 0.0;
    for (var c = lid; c < p.cols / 4u; c += WG) {
        sx += dot(x[p.x_offset + c], vec4<f32>(1.0));
    }
    mean = workgroup_sum(sx, lid) / f32(p.cols);
#endif
    var ss = 0.0;
    for (var c = lid; c < p.cols / 4u; c += WG) {
        let v = x[p.x_offset + c] - vec4<f32>(mean);
        ss += dot(v, v);
    }
    inv_rms = 1.0 / sqrt(workgroup_sum(ss, lid) / f32(p.cols) + p.eps);
    x_mean = mean;
#endif
    // Rows past the end repeat the last row (their sums are not written): no divergence.
    let last = p.rows - 1u;
    var acc: array<f32, MAX_ROWS>;
#ifdef GROUPS
#ifdef SPAN_8
    // Eight adjacent chunks per step, two groups under one header (the K formats' scales
    // cover 64 columns or more): the header's loads are paid once per 64 columns.
    for (var c = 8u * lid; c < p.cols / 8u; c += 8u * WG) {
        let h0 = load_header(min(row0, last), c, p.cols, p.scales);
        let g0 = group_parts(h0, c);
        let g1 = group_parts(h0, c + 4u);
        let x0 = group_x(g0);
        let x1 = group_x(g1);
        acc[0] += group_dot(g0, x0) + group_dot(g1, x1);
        for (var r = 1u; r < ROWS; r++) {
            let h = load_header(min(row0 + r, last), c, p.cols, p.scales);
            acc[r] += group_dot(group_parts(h, c), x0) + group_dot(group_parts(h, c + 4u), x1);
        }
    }
#else
    // Four adjacent chunks per step (rows of a multiple of 32 elements have a multiple of four
    // chunks): one header (a block's scales are loaded once) and whole vectors (load_group).
    for (var c = 4u * lid; c < p.cols / 8u; c += 4u * WG) {
        let first = load_group(min(row0, last), c, p.cols, p.scales);
        let gx = group_x(first);
        acc[0] += group_dot(first, gx);
        for (var r = 1u; r < ROWS; r++) {
            acc[r] += group_dot(load_group(min(row0 + r, last), c, p.cols, p.scales), gx);
        }
    }
#endif
#else
    for (var c = lid; c < p.cols / 8u; c += WG) {
        // x and its sums are loaded once for all ROWS rows (see parts_dot).
        let first = load_parts(min(row0, last), c, p.cols, p.scales);
        let xa = load_x(p.x_offset + first.col_a / 4u);
        let xb = load_x(p.x_offset + first.col_b / 4u);
        let sum_x = vec2<f32>(dot(xa, vec4<f32>(1.0)), dot(xb, vec4<f32>(1.0)));
        acc[0] += parts_dot(first, xa, xb, sum_x);
        for (var r = 1u; r < ROWS; r++) {
            acc[r] += parts_dot(load_parts(min(row0 + r, last), c, p.cols, p.scales), xa, xb, sum_x);
        }
    }
#endif

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

// A group's x (loaded once for all ROWS rows) and the sums of its a and b halves.
struct GroupX {
    a: array<vec4<f32>, 4>,
    b: array<vec4<f32>, 4>,
    sums: vec2<f32>,
}

fn group_x(g: array<Parts, 4>) -> GroupX {
    var gx: GroupX;
    for (var k = 0u; k < 4u; k++) {
        gx.a[k] = load_x(p.x_offset + g[k].col_a / 4u);
        gx.b[k] = load_x(p.x_offset + g[k].col_b / 4u);
        gx.sums += vec2<f32>(dot(gx.a[k], vec4<f32>(1.0)), dot(gx.b[k], vec4<f32>(1.0)));
    }
    return gx;
}

// The chunks of a group share their scales, zero point and mins per half (one block, or one
// K-format sub-block pair: common/weights.wgsl), so each is applied once to sums of plain
// dot products: s * Σ dot(q, x) - (s * z + m) * Σ sum(x), half by half (see parts_dot).
fn group_dot(g: array<Parts, 4>, gx: GroupX) -> f32 {
    let da = dot(g[0].qa, gx.a[0]) + dot(g[1].qa, gx.a[1]) + dot(g[2].qa, gx.a[2]) + dot(g[3].qa, gx.a[3]);
    let db = dot(g[0].qb, gx.b[0]) + dot(g[1].qb, gx.b[1]) + dot(g[2].qb, gx.b[2]) + dot(g[3].qb, gx.b[3]);
    let d = g[0].s.x * da + g[0].s.y * db;
    if (ZERO_OFFSET) {
        return d;
    }
    return d - dot(g[0].s * g[0].z + g[0].m, gx.sums);
}

fn store(i: u32, sum: f32) {
#ifdef BIAS
    let total = sum + bias[i];
#else
    let total = sum;
#endif
#ifdef OUTPUTS_3
    if (i >= p.split2) {
        y2[i - p.split2] = out_t(total);
        return;
    }
#endif
#ifdef OUTPUTS_2
    if (i >= p.split1) {
        y1[i - p.split1] = out_t(total);
        return;
    }
#endif
#ifdef ACCUMULATE
    y[i] = out_t(f32(y[i]) + total);
#else
    y[i] = out_t(total);
#endif
}
