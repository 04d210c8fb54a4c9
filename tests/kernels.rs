//! Every kernel against its CPU reference, in every variant (f32/f16 activations × subgroup
//! or workgroup reductions), on seeded random data with outliers, at shapes that are not
//! multiples of the workgroup size. Natively on whatever adapter is present (lavapipe in CI).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu::{as_act, context, name, read_act, read_f32, run, variants};
use common::{Rng, assert_close};
use hearth::gguf::{GgmlType, Gguf};
use hearth::gpu::{GpuContext, GpuWeight};
use hearth::kernels::{Kernels, MatvecX, Store, WEIGHT_TYPES, matmul_ref, matvec_ref};
use hearth::quant;

/// A test weight: the file bytes and their dequantization.
struct TestWeight {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    bytes: Vec<u8>,
    values: Vec<f32>,
}

/// Rows of a real fixture tensor (the only source of real K-quant data here).
fn fixture_rows(file: &str, tensor: &str, first_row: usize, rows: usize) -> TestWeight {
    use std::io::{Read, Seek, SeekFrom};
    let path = common::model(file);
    let mut f = std::fs::File::open(&path).unwrap();
    let size = f.metadata().unwrap().len();
    let g = Gguf::read(&mut f, size).unwrap();
    let t = g.tensor(tensor).unwrap_or_else(|| panic!("{tensor} not in {file}"));
    let cols = t.row_len() as usize;
    let row_bytes = t.ty.row_bytes(cols as u64).unwrap() as usize;
    let mut bytes = vec![0u8; rows * row_bytes];
    f.seek(SeekFrom::Start(g.tensor_range(t).start + (first_row * row_bytes) as u64)).unwrap();
    f.read_exact(&mut bytes).unwrap();
    let values = quant::dequantize_to_vec(t.ty, &bytes, rows * cols).unwrap();
    TestWeight { ty: t.ty, rows, cols, bytes, values }
}

/// A weight of type `ty`: Q4_K and Q6_K from Gemma's tensors, Q2_K, Q3_K, Q5_K and the
/// i-quants from random
/// blocks, the rest quantized from random data.
fn test_weight(ty: GgmlType, rows: usize, cols_hint: usize, rng: &mut Rng) -> TestWeight {
    match ty {
        GgmlType::Q4_K => fixture_rows(common::GEMMA, "blk.0.attn_output.weight", 5, rows),
        GgmlType::Q6_K => fixture_rows(common::GEMMA, "blk.0.ffn_down.weight", 11, rows),
        GgmlType::IQ4_NL => random_k_weight(ty, rows, cols_hint, rng),
        GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q5_K => random_k_weight(ty, rows, 512, rng),
        _ if ty.to_string().starts_with("IQ") => random_k_weight(ty, rows, 512, rng),
        _ => {
            let cols = cols_hint;
            let bytes = quant::quantize(ty, &rng.values(rows * cols)).unwrap();
            let values = quant::dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
            TestWeight { ty, rows, cols, bytes, values }
        }
    }
}

fn upload(ctx: &GpuContext, w: &TestWeight) -> GpuWeight {
    GpuWeight::upload(ctx, "w", w.ty, w.rows as u64, w.cols as u64, &w.bytes).unwrap()
}

/// Tolerance of a dot product of length n: relative to the sum of |w x| terms (the scale of
/// rounding error), looser when the output is stored as f16.
fn dot_tol(k: &Kernels, store: Store, scale: f32, want: f32) -> f32 {
    if k.f16 && store == Store::Act { 2e-3 * want.abs() + 1e-4 * scale } else { 2e-5 * scale + 1e-6 }
}

fn abs_dot_scale(w: &[f32], x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let aw: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    matvec_ref(&aw, &ax, rows, cols)
}

/// An output buffer for `store` holding `y0`, and how to read it back.
fn output(ctx: &GpuContext, k: &Kernels, store: Store, y0: &[f32]) -> (wgpu::Buffer, Vec<f32>) {
    match store {
        Store::Act => {
            let y0 = as_act(k, y0);
            (ctx.upload(&k.act_bytes(&y0), "y"), y0)
        }
        Store::F32 | Store::AddF32 => (ctx.upload(bytemuck::cast_slice(y0), "y"), y0.to_vec()),
    }
}

fn read_output(ctx: &GpuContext, k: &Kernels, store: Store, y: &wgpu::Buffer, n: usize) -> Vec<f32> {
    if store == Store::Act { read_act(ctx, k, y, n) } else { read_f32(ctx, y, n) }
}

const STORES: [Store; 3] = [Store::Act, Store::F32, Store::AddF32];

#[test]
fn matvec_every_type_and_variant() {
    let ctx = context();
    let mut rng = Rng::new(1);
    let (mut one_subgroup, mut span_8) = (0, 0);
    // 352 columns (11 × 32): four chunks per step (GROUPS); F32 and F16 rows may also be any
    // multiple of 8, such as 360: one chunk per step.
    let cases: Vec<(GgmlType, usize)> = WEIGHT_TYPES
        .into_iter()
        .flat_map(|ty| if ty.block_size() == 1 { vec![(ty, 352), (ty, 360)] } else { vec![(ty, 352)] })
        .collect();
    // 37 rows: a partial last workgroup at 4, 8, 16 and 32 rows per workgroup; workgroups of 64
    // invocations (GPUs), of 4 (fewer than a subgroup) and of 8 (one lavapipe subgroup: the
    // barrier-free ONE_SUBGROUP reduction). Two halves, each with every store and every
    // workgroup size; a case takes one half in two of its variants and the other half in the
    // other two, so each case meets every shape and each variant every shape (the full cross
    // product compiled twice the pipelines, at ~0.3 s of LLVM each on a fresh lavapipe).
    let halves = [
        [(Store::Act, 1, 64), (Store::AddF32, 16, 4), (Store::F32, 32, 8)],
        [(Store::F32, 4, 64), (Store::Act, 32, 4), (Store::AddF32, 8, 8)],
    ];
    for (c, &(ty, cols)) in cases.iter().enumerate() {
        let w = test_weight(ty, 37, cols, &mut rng);
        let gw = upload(&ctx, &w);
        for (v, mut k) in variants(&ctx).into_iter().enumerate() {
            for (store, rows_per_wg, wg) in halves[(c + v) % 2] {
                (k.matvec_rows, k.matvec_wg) = (rows_per_wg, wg);
                // 64 invocations as on a GPU: the K formats' 640-column rows are too short for
                // eight chunks per step there (SPAN_8 is taken at 4 and 8, CPU shapes).
                k.cpu_shapes = wg != 64;
                let x = as_act(&k, &rng.values(w.cols));
                let xb = ctx.upload(&k.act_bytes(&x), "x");
                let (yb, y0) = output(&ctx, &k, store, &rng.values(w.rows));
                let dispatches = k.matvec(&ctx, &gw, &xb, &yb, store).unwrap();
                one_subgroup += usize::from(dispatches[0].pipeline.key.defines.contains(&"ONE_SUBGROUP"));
                span_8 += usize::from(dispatches[0].pipeline.key.defines.contains(&"SPAN_8"));
                run(&ctx, &dispatches);
                let got = read_output(&ctx, &k, store, &yb, w.rows);
                let mut want = matvec_ref(&w.values, &x, w.rows, w.cols);
                if store == Store::AddF32 {
                    want.iter_mut().zip(&y0).for_each(|(a, b)| *a += b);
                }
                let scale = abs_dot_scale(&w.values, &x, w.rows, w.cols);
                let what = format!("matvec {ty} {} cols {} {store:?} rows/wg {rows_per_wg} wg {wg}", w.cols, name(&k));
                assert_close(&what, &got, &want, |i, v| dot_tol(&k, store, scale[i] + y0[i].abs(), v));
            }
        }
    }
    if ctx.report().name.starts_with("llvmpipe") {
        // One shape of 8 invocations per half × two subgroup variants × every case.
        assert_eq!(one_subgroup, 2 * cases.len(), "matvecs that took the one-subgroup reduction");
    }
    assert!(span_8 > 0, "no matvec took eight chunks per step");
}

/// Sets IQ1_M's d, whose 16 bits are the top nibbles of its four scale u16 (bytes 48..56).
fn set_iq1_m_d(blk: &mut [u8], d: f32) {
    let bits = half::f16::from_f32(d).to_bits();
    for k in 0..4 {
        let at = 48 + 2 * k;
        let sc = u16::from_le_bytes([blk[at], blk[at + 1]]) & 0x0FFF | ((bits >> (4 * k)) & 0xF) << 12;
        blk[at..at + 2].copy_from_slice(&sc.to_le_bytes());
    }
}

/// `rows` rows of `cols` columns of a format without a quantizer here (the K formats, the
/// i-quants) from random bytes with small finite scales (any such bytes are a valid block).
fn random_k_weight(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> TestWeight {
    let (block, scale_at) = match ty {
        GgmlType::Q4_K | GgmlType::Q5_K => (ty.type_size() as usize, 0..4),
        GgmlType::Q2_K => (84, 80..84),
        GgmlType::Q3_K => (110, 108..110),
        GgmlType::Q6_K => (210, 208..210),
        _ if ty.to_string().starts_with("IQ") => (ty.type_size() as usize, 0..2),
        _ => panic!("{ty} has no random blocks here"),
    };
    let n_blocks = rows * cols / ty.block_size() as usize;
    let mut bytes: Vec<u8> = (0..n_blocks * block).map(|_| rng.next_u64() as u8).collect();
    for blk in bytes.chunks_exact_mut(block) {
        for (i, at) in scale_at.clone().step_by(2).enumerate() {
            let d = half::f16::from_f32(0.002 * (1 + i) as f32);
            blk[at..at + 2].copy_from_slice(&d.to_le_bytes());
        }
        if ty == GgmlType::IQ1_M {
            set_iq1_m_d(blk, 0.002);
        }
    }
    let values = quant::dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
    TestWeight { ty, rows, cols, bytes, values }
}

/// The K formats' eight chunks per step (SPAN_8) in the shape real GPUs take it: workgroups of
/// 64 invocations over rows of at least 64 × 64 columns (FFN-down of every real model), as a
/// plain matvec and as the FFN-down with the GLU folded in.
#[test]
fn span_8_at_gpu_shapes_for_every_k_format() {
    let ctx = context();
    let mut rng = Rng::new(31);
    for ty in WEIGHT_TYPES.into_iter().filter(|t| t.block_size() == 256 && !t.to_string().starts_with("IQ")) {
        let w = random_k_weight(ty, 9, 4096, &mut rng);
        let gw = upload(&ctx, &w);
        for mut k in variants(&ctx) {
            (k.matvec_rows, k.matvec_wg, k.cpu_shapes) = (4, 64, false);
            let gate = as_act(&k, &rng.values(w.cols));
            let up = as_act(&k, &rng.values(w.cols));
            let (gb, ub) = (ctx.upload(&k.act_bytes(&gate), "gate"), ctx.upload(&k.act_bytes(&up), "up"));
            let (yb, _) = output(&ctx, &k, Store::F32, &rng.values(w.rows));
            for glu in [false, true] {
                let d = if glu {
                    k.matvec_glu(&ctx, &gw, GluKind::Silu, &gb, Some(&ub), &yb, Store::F32).unwrap()
                } else {
                    k.matvec(&ctx, &gw, &gb, &yb, Store::F32).unwrap()
                };
                assert!(d[0].pipeline.key.defines.contains(&"SPAN_8"), "{ty}: no SPAN_8 at 64 invocations");
                run(&ctx, &d);
                let x = if glu { as_act(&k, &glu_ref(GluKind::Silu, &gate, Some(&up))) } else { gate.clone() };
                let want = matvec_ref(&w.values, &x, w.rows, w.cols);
                let scale = abs_dot_scale(&w.values, &x, w.rows, w.cols);
                let what = format!("SPAN_8 {ty} glu {glu} {}", name(&k));
                let got = read_output(&ctx, &k, Store::F32, &yb, w.rows);
                assert_close(&what, &got, &want, |i, v| dot_tol(&k, Store::F32, scale[i], v));
            }
        }
    }
}

/// The GLU (or a plain FFN's activation, without up) folded into the down projection (one
/// dispatch) against the chain it replaces on the CPU: glu_ref, rounded to activations as the
/// glu kernel stores them, then matvec_ref.
#[test]
fn matvec_glu_matches_glu_then_matvec() {
    let ctx = context();
    let mut rng = Rng::new(21);
    for (t, ty) in [
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q5_1,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::IQ4_XS,
    ]
    .into_iter()
    .enumerate()
    {
        let w = test_weight(ty, 37, 512, &mut rng);
        let gw = upload(&ctx, &w);
        // Each half has both workgroup shapes; a type takes each half in two variants.
        let halves = [
            [(GluKind::Silu, true, (32, 8)), (GluKind::Sigmoid, true, (4, 64))],
            [(GluKind::Gelu, true, (4, 64)), (GluKind::Gelu, false, (32, 8))],
        ];
        for (v, mut k) in variants(&ctx).into_iter().enumerate() {
            for (kind, gated, (rows_per_wg, wg)) in halves[(t + v) % 2] {
                (k.matvec_rows, k.matvec_wg) = (rows_per_wg, wg);
                let gate = as_act(&k, &rng.values(w.cols).iter().map(|v| 3.0 * v).collect::<Vec<_>>());
                let up = as_act(&k, &rng.values(w.cols));
                let (gb, ub) = (ctx.upload(&k.act_bytes(&gate), "gate"), ctx.upload(&k.act_bytes(&up), "up"));
                let (yb, y0) = output(&ctx, &k, Store::AddF32, &rng.values(w.rows));
                let ub = gated.then_some(&ub);
                run(&ctx, &k.matvec_glu(&ctx, &gw, kind, &gb, ub, &yb, Store::AddF32).unwrap());
                let x = as_act(&k, &glu_ref(kind, &gate, gated.then_some(&up)));
                let mut want = matvec_ref(&w.values, &x, w.rows, w.cols);
                want.iter_mut().zip(&y0).for_each(|(a, b)| *a += b);
                let scale = abs_dot_scale(&w.values, &x, w.rows, w.cols);
                let got = read_output(&ctx, &k, Store::AddF32, &yb, w.rows);
                let what = format!("matvec_glu {ty} {kind:?} gated {gated} {} rows/wg {rows_per_wg} wg {wg}", name(&k));
                assert_close(&what, &got, &want, |i, v| dot_tol(&k, Store::AddF32, scale[i] + y0[i].abs(), v));
            }
        }
    }
}

/// The matvec of one row of a (T, cols) activation buffer (the last token of a prefill).
#[test]
fn matvec_reads_a_row_of_a_batch() {
    let ctx = context();
    let mut rng = Rng::new(12);
    let w = test_weight(GgmlType::Q8_0, 19, 64, &mut rng);
    let gw = upload(&ctx, &w);
    for mut k in variants(&ctx) {
        let x = as_act(&k, &rng.values(5 * w.cols));
        let xb = ctx.upload(&k.act_bytes(&x), "x");
        let yb = k.act_buffer(&ctx, w.rows as u64, "y");
        run(&ctx, &k.matvec_at(&ctx, &gw, &xb, 3, &yb, Store::Act).unwrap());
        let row = &x[3 * w.cols..4 * w.cols];
        let want = matvec_ref(&w.values, row, w.rows, w.cols);
        let scale = abs_dot_scale(&w.values, row, w.rows, w.cols);
        assert_close(&format!("matvec_at {}", name(&k)), &read_act(&ctx, &k, &yb, w.rows), &want, |i, v| {
            dot_tol(&k, Store::Act, scale[i], v)
        });
        // A row of the f32 residual stream itself, rounded to act as it loads (Gemma 4's
        // per-layer gate): the same as to_act, then the matvec.
        let x32: Vec<f32> = rng.values(5 * w.cols).iter().map(|v| v * 37.0).collect();
        let xb = ctx.upload(bytemuck::cast_slice(&x32), "x32");
        run(&ctx, &k.matvec_into(&ctx, &gw, MatvecX::F32 { x: &xb, row: 2 }, &[&yb], Store::Act).unwrap());
        let row = as_act(&k, &x32[2 * w.cols..3 * w.cols]);
        let want = matvec_ref(&w.values, &row, w.rows, w.cols);
        let scale = abs_dot_scale(&w.values, &row, w.rows, w.cols);
        assert_close(&format!("matvec f32 x {}", name(&k)), &read_act(&ctx, &k, &yb, w.rows), &want, |i, v| {
            dot_tol(&k, Store::Act, scale[i], v)
        });
    }
}

/// Bounds the effect of an f16 input rounded at a different point: folding the norm into the
/// matvec sums the squares in another order than the CPU (and the rms_norm kernel), so an
/// element of h may round to the neighbouring f16 (2^-11 relative), moving the dot product by
/// up to 2^-11 of the sum of |w h| terms. f32 activations do not round there.
fn norm_fold_tol(k: &Kernels, scale: f32) -> f32 {
    if k.f16 { scale / 2048.0 } else { 0.0 }
}

/// The input norm (RMSNorm, or LayerNorm with its bias) folded into the matvec (one dispatch)
/// against the chain it replaces on the CPU: norm_ref of a row of the f32 residual stream,
/// rounded to activations as the norm kernel stores them, then matvec_ref.
#[test]
fn matvec_norm_matches_norm_then_matvec() {
    let ctx = context();
    let mut rng = Rng::new(22);
    for (t, ty) in [GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K].into_iter().enumerate() {
        let w = test_weight(ty, 37, 512, &mut rng);
        let gw = upload(&ctx, &w);
        for (v, mut k) in variants(&ctx).into_iter().enumerate() {
            // Each shape with one of the two norms, the other in the next variant and type.
            let shapes = [(Store::Act, 32, 8), (Store::Act, 4, 64), (Store::F32, 16, 4)];
            let kinds = [NormKind::Rms, NormKind::Layer];
            for (i, (store, rows_per_wg, wg)) in shapes.into_iter().enumerate() {
                let kind = kinds[(i + v + t) % 2];
                (k.matvec_rows, k.matvec_wg) = (rows_per_wg, wg);
                // Row 3 of a (5, cols) residual stream with a large spread and (for LayerNorm)
                // a mean far from 0, as real ones have.
                let shift = if kind == NormKind::Layer { 30.0 } else { 0.0 };
                let x: Vec<f32> = rng.values(5 * w.cols).iter().map(|v| 20.0 * v + shift).collect();
                let norm = rng.values(kind.weight_len(w.cols as u32) as usize);
                let xb = ctx.upload(bytemuck::cast_slice(&x), "x");
                let nb = ctx.upload(bytemuck::cast_slice(&norm), "norm");
                let (yb, _) = output(&ctx, &k, store, &rng.values(w.rows));
                let xn = MatvecX::Normed { x: &xb, row: 3, norm: Norm { weights: &nb, kind, eps: 1e-6 } };
                run(&ctx, &k.matvec_into(&ctx, &gw, xn, &[&yb], store).unwrap());
                let h = as_act(&k, &norm_ref(kind, &x[3 * w.cols..4 * w.cols], &norm, w.cols, 1e-6));
                let want = matvec_ref(&w.values, &h, w.rows, w.cols);
                let scale = abs_dot_scale(&w.values, &h, w.rows, w.cols);
                let got = read_output(&ctx, &k, store, &yb, w.rows);
                let what = format!("matvec norm {kind:?} {ty} {} {store:?} rows/wg {rows_per_wg} wg {wg}", name(&k));
                assert_close(&what, &got, &want, |i, v| dot_tol(&k, store, scale[i], v) + norm_fold_tol(&k, scale[i]));
            }
        }
    }
}

/// Writes `w`'s file bytes as the rows from `first` of `gw`, a page at a time (as the loader
/// does).
fn write_part(ctx: &GpuContext, gw: &GpuWeight, first: u32, w: &TestWeight) {
    let row_bytes = gw.row_bytes() as usize;
    let (mut row, mut scales) = (0u32, Vec::new());
    while (row as usize) < w.rows {
        let n = (gw.page_end(first + row) - first - row).min(w.rows as u32 - row);
        let mut chunk = w.bytes[row as usize * row_bytes..(row + n) as usize * row_bytes].to_vec();
        gw.write_rows(ctx, first + row, &mut chunk, &mut scales).unwrap();
        row += n;
    }
}

/// Tensors stacked by rows into one weight (q, k, v; gate, up), over pages of a few rows so
/// that tensors start inside pages and pages end inside tensors: one matvec (plain and with the
/// norm folded in) and one matmul write each tensor's rows to its own output, without and with
/// the weight's bias (each tensor's bias, joined in row order).
#[test]
fn stacked_tensors_go_to_their_own_outputs() {
    let mut rng = Rng::new(23);
    for ty in [GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::Q4_K] {
        for (r, rows) in [&[12usize, 6, 6][..], &[10, 8]].into_iter().enumerate() {
            let parts: Vec<TestWeight> = rows
                .iter()
                .enumerate()
                .map(|(i, &r)| match ty {
                    GgmlType::Q4_K => fixture_rows(common::GEMMA, "blk.0.attn_output.weight", 20 * i, r),
                    _ => test_weight(ty, r, 256, &mut rng),
                })
                .collect();
            let cols = parts[0].cols;
            let mut ctx = context();
            // 5 rows per page, rounded down to 4 so that stacked tensors start on even blocks.
            ctx.limit_weight_pages(5 * ty.row_bytes(cols as u64).unwrap() + 4);
            let names = ["a", "b", "c"];
            let spec: Vec<(&str, u64)> = names.iter().zip(rows).map(|(n, &r)| (*n, r as u64)).collect();
            let mut gw = GpuWeight::allocate_stacked(&ctx, &spec, ty, cols as u64).unwrap();
            assert!(gw.pages.iter().all(|p| p.n_rows == 4 || p.first_row + p.n_rows == gw.rows), "{:?}", gw.pages);
            for (p, w) in gw.parts.iter().zip(&parts) {
                write_part(&ctx, &gw, p.first_row, w);
            }
            let biases: Vec<Vec<f32>> = parts.iter().map(|w| rng.values(w.rows)).collect();
            let joined: Vec<f32> = biases.concat();
            for with_bias in [false, true] {
                gw.bias = with_bias.then(|| ctx.upload(bytemuck::cast_slice(&joined), "bias"));
                // Half the variants per (rows, bias): with and without subgroups each meet
                // both stackings, with and without the bias.
                let pick = (r + usize::from(with_bias)) % 2;
                for (_, mut k) in variants(&ctx).into_iter().enumerate().filter(|(v, _)| v % 2 == pick) {
                    let what = format!("stacked {ty} {rows:?} bias {with_bias} {}", name(&k));
                    let n_tokens = 5;
                    let x: Vec<f32> = rng.values(n_tokens * cols).iter().map(|v| 4.0 * v).collect();
                    let x_act = as_act(&k, &x);
                    let xb = ctx.upload(&k.act_bytes(&x_act), "x");
                    let xf = ctx.upload(bytemuck::cast_slice(&x), "x_f32");
                    let norm = rng.values(cols);
                    let nb = ctx.upload(bytemuck::cast_slice(&norm), "norm");
                    let h = as_act(&k, &rms_norm_ref(&x[2 * cols..3 * cols], &norm, cols, 1e-5));
                    let outs: Vec<wgpu::Buffer> =
                        parts.iter().map(|w| k.act_buffer(&ctx, (n_tokens * w.rows) as u64, "y")).collect();
                    let ys: Vec<&wgpu::Buffer> = outs.iter().collect();
                    let check = |label: &str, k: &Kernels, xs: &[f32], t: usize, extra: f32| {
                        for ((w, yb), i) in parts.iter().zip(&outs).zip(0..) {
                            let mut want = matmul_ref(&w.values, xs, w.rows, w.cols, t);
                            if with_bias {
                                want.iter_mut().enumerate().for_each(|(j, v)| *v += biases[i][j % w.rows]);
                            }
                            let ax: Vec<f32> = xs.iter().map(|v| v.abs()).collect();
                            let aw: Vec<f32> = w.values.iter().map(|v| v.abs()).collect();
                            let scale = matmul_ref(&aw, &ax, w.rows, w.cols, t);
                            let got = read_act(&ctx, k, yb, want.len());
                            assert_close(&format!("{what} {label} output {i}"), &got, &want, |j, v| {
                                dot_tol(k, Store::Act, scale[j] + v.abs(), v) + extra * norm_fold_tol(k, scale[j])
                            });
                        }
                    };
                    for (rows_per_wg, wg) in [(32, 8), (4, 64)] {
                        (k.matvec_rows, k.matvec_wg) = (rows_per_wg, wg);
                        let xr = MatvecX::Act { x: &xb, row: 1 };
                        run(&ctx, &k.matvec_into(&ctx, &gw, xr, &ys, Store::Act).unwrap());
                        check(&format!("matvec {rows_per_wg}x{wg}"), &k, &x_act[cols..2 * cols], 1, 0.0);
                        let norm = Norm { weights: &nb, kind: NormKind::Rms, eps: 1e-5 };
                        let xn = MatvecX::Normed { x: &xf, row: 2, norm };
                        run(&ctx, &k.matvec_into(&ctx, &gw, xn, &ys, Store::Act).unwrap());
                        check(&format!("matvec norm {rows_per_wg}x{wg}"), &k, &h, 1, 1.0);
                    }
                    if !k.subgroups {
                        for cpu_shapes in [true, false] {
                            k.cpu_shapes = cpu_shapes;
                            run(&ctx, &k.matmul_into(&ctx, &gw, &xb, &ys, n_tokens as u32, Store::Act).unwrap());
                            check(&format!("matmul cpu_shapes={cpu_shapes}"), &k, &x_act, n_tokens, 0.0);
                        }
                    }
                    let err = k.matvec_into(&ctx, &gw, MatvecX::Act { x: &xb, row: 0 }, &ys[..1], Store::Act);
                    assert!(err.is_err(), "{what}: one output for {} tensors", rows.len());
                }
            }
        }
    }
}

#[test]
fn matmul_every_type_and_variant() {
    let ctx = context();
    let mut rng = Rng::new(2);
    for (t, ty) in WEIGHT_TYPES.into_iter().enumerate() {
        let w = test_weight(ty, 21, 96, &mut rng);
        let gw = upload(&ctx, &w);
        for (v, mut k) in variants(&ctx).into_iter().filter(|k| !k.subgroups).enumerate() {
            // Both workgroup shapes (CPU-adapter and GPU); two of the three stores per variant,
            // a different one left out in each, so that a type meets all three.
            let left_out = (t + v) % 3;
            for (_, (store, cpu_shapes)) in
                STORES.into_iter().zip([true, false, true]).enumerate().filter(|(i, _)| *i != left_out)
            {
                k.cpu_shapes = cpu_shapes;
                let n_tokens = 11; // not a multiple of the 8 tokens per invocation
                let x = as_act(&k, &rng.values(n_tokens * w.cols));
                let xb = ctx.upload(&k.act_bytes(&x), "x");
                let (yb, y0) = output(&ctx, &k, store, &rng.values(n_tokens * w.rows));
                run(&ctx, &k.matmul(&ctx, &gw, &xb, &yb, n_tokens as u32, store).unwrap());
                let got = read_output(&ctx, &k, store, &yb, n_tokens * w.rows);
                let mut want = matmul_ref(&w.values, &x, w.rows, w.cols, n_tokens);
                if store == Store::AddF32 {
                    want.iter_mut().zip(&y0).for_each(|(a, b)| *a += b);
                }
                let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
                let aw: Vec<f32> = w.values.iter().map(|v| v.abs()).collect();
                let scale = matmul_ref(&aw, &ax, w.rows, w.cols, n_tokens);
                assert_close(
                    &format!("matmul {ty} {} {store:?} cpu_shapes={cpu_shapes}", name(&k)),
                    &got,
                    &want,
                    |i, v| dot_tol(&k, store, scale[i] + y0[i].abs(), v),
                );
            }
        }
    }
}

use hearth::kernels::{
    AttnShape, DecodeScratch, GluKind, History, Norm, NormKind, QkNorm, QkvBuffers, RopeLayout, RopeTable,
    SamplerParams, Step, StepBuffer, attention_ref, embed_ref, glu_ref, norm_ref, rms_norm_ref, rope_freqs, rope_ref,
    rope_scaled_ref,
};

/// Elementwise tolerance: f32 is near-exact; f16 storage rounds to 11 bits.
fn elem_tol(k: &Kernels, want: f32) -> f32 {
    if k.f16 { 2e-3 * want.abs() + 2e-3 } else { 1e-5 * want.abs() + 1e-6 }
}

/// Per element of a LayerNorm of rows of `n`, (|x| + |mean|) / sqrt(var) · |w| (0 for RMSNorm,
/// which does not center): what an f32 error in the mean is relative to.
fn centering_scale(kind: NormKind, x: &[f32], w: &[f32], n: usize) -> Vec<f32> {
    if kind == NormKind::Rms {
        return vec![0.0; x.len()];
    }
    x.chunks_exact(n)
        .flat_map(|row| {
            let mean = row.iter().map(|v| f64::from(*v)).sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (f64::from(*v) - mean).powi(2)).sum::<f64>() / n as f64;
            let inv = 1.0 / var.sqrt();
            row.iter().zip(w).map(move |(v, w)| ((f64::from(*v).abs() + mean.abs()) * inv * f64::from(w.abs())) as f32)
        })
        .collect()
}

#[test]
fn norm_rows_and_in_place() {
    let ctx = context();
    let mut rng = Rng::new(3);
    let (rows, n) = (5, 333);
    for mut k in variants(&ctx) {
        for kind in [NormKind::Rms, NormKind::Layer] {
            // x as activations (per-head norms) or as the f32 residual stream; LayerNorm's rows
            // with a mean far from 0.
            for x_f32 in [false, true] {
                let shift = if kind == NormKind::Layer { 25.0 } else { 0.0 };
                let x: Vec<f32> = rng.values(rows * n).iter().map(|v| v + shift).collect();
                let x = if x_f32 { x } else { as_act(&k, &x) };
                let x_bytes = if x_f32 { bytemuck::cast_slice(&x).to_vec() } else { k.act_bytes(&x) };
                let w: Vec<f32> = rng.values(kind.weight_len(n as u32) as usize);
                let want = norm_ref(kind, &x, &w, n, 1e-5);
                let xb = ctx.upload(&x_bytes, "x");
                let wb = ctx.upload(bytemuck::cast_slice(&w), "w");
                let norm = Norm { weights: &wb, kind, eps: 1e-5 };
                let yb = k.act_buffer(&ctx, (rows * n) as u64, "y");
                let what = format!("norm {kind:?} {} x_f32={x_f32}", name(&k));
                // LayerNorm centers by a mean computed in f32: its error is relative to the
                // values before centering, (|x| + |mean|) · inv · |w|, not to the result.
                let centering = centering_scale(kind, &x, &w, n);
                let f32_err = |i: usize| 2e-6 * centering[i];
                run(&ctx, &[k.norm(&ctx, norm, &xb, x_f32, Some(&yb), rows as u32, n as u32).unwrap()]);
                assert_close(&what, &read_act(&ctx, &k, &yb, rows * n), &want, |i, v| elem_tol(&k, v) + f32_err(i));
                run(&ctx, &[k.norm(&ctx, norm, &xb, x_f32, None, rows as u32, n as u32).unwrap()]);
                let got = if x_f32 { read_f32(&ctx, &xb, rows * n) } else { read_act(&ctx, &k, &xb, rows * n) };
                let tol = |v: f32| if x_f32 { 1e-5 * v.abs() + 1e-6 } else { elem_tol(&k, v) };
                assert_close(&format!("{what} in place"), &got, &want, |i, v| tol(v) + f32_err(i));
            }
        }
        // Added to an f32 buffer (the post-norm and residual add of Gemma): y0 + rms_norm(x) · w.
        let (x, w, y0) = (rng.values(rows * n), rng.values(n), rng.values(rows * n));
        let [xb, wb, yb] = [&x, &w, &y0].map(|v| ctx.upload(bytemuck::cast_slice(v), "rms_norm_add"));
        run(&ctx, &[k.rms_norm_add(&ctx, &xb, &wb, &yb, None, rows as u32, n as u32, 1e-5).unwrap()]);
        let want: Vec<f32> = rms_norm_ref(&x, &w, n, 1e-5).iter().zip(&y0).map(|(a, b)| a + b).collect();
        assert_close(&format!("rms_norm_add {}", name(&k)), &read_f32(&ctx, &yb, rows * n), &want, |_, v| {
            1e-5 * v.abs() + 1e-6
        });
        // Then times a scalar (Gemma 4's per layer): (y + rms_norm(x) · w) · scale.
        let scale = ctx.upload(bytemuck::cast_slice(&[0.75f32]), "scale");
        run(&ctx, &[k.rms_norm_add(&ctx, &xb, &wb, &yb, Some(&scale), rows as u32, n as u32, 1e-5).unwrap()]);
        let want: Vec<f32> = rms_norm_ref(&x, &w, n, 1e-5).iter().zip(&want).map(|(a, y)| (a + y) * 0.75).collect();
        assert_close(&format!("rms_norm_add_scaled {}", name(&k)), &read_f32(&ctx, &yb, rows * n), &want, |_, v| {
            1e-5 * v.abs() + 1e-6
        });
    }
}

/// rope_kv (one dispatch) against the chain it replaces, on the CPU: with the per-head norms,
/// rms_norm_ref of each q and k head rounded to activations; rope_ref on q and k; then k and v
/// stored at their positions' slots of a ring cache that wraps within the step.
#[test]
fn rope_kv_rotates_and_appends_to_the_cache() {
    let ctx = context();
    let mut rng = Rng::new(14);
    let (n_tokens, n_head, n_kv, head_dim, cache_len) = (3usize, 4usize, 2usize, 64usize, 7u32);
    let kvd = n_kv * head_dim;
    for mut k in variants(&ctx) {
        // (layout, rotated dims, base, per-head norms, table scale): partial rotation, longrope's
        // scaled table and no rotation at all (ALiBi and learned positions) among them.
        let cases = [
            (RopeLayout::Normal, 64, 10000.0, false, 1.0),
            (RopeLayout::Neox, 48, 1e6, false, 1.0),
            (RopeLayout::Neox, 48, 1e4, false, 1.19),
            (RopeLayout::Neox, 0, 1e4, false, 1.0),
        ];
        let normed = [(RopeLayout::Neox, 64, 1e6, true, 1.0), (RopeLayout::Normal, 48, 10000.0, true, 1.0)];
        // Gemma 4: v heads normed too (without a weight), and a layer reading another layer's
        // cache (queries alone: the caches and k are left as they are).
        let cases = cases.into_iter().chain(normed).map(|c| (c, false, false));
        let gemma4 = [
            ((RopeLayout::Neox, 64, 1e6, true, 1.0), true, false),
            ((RopeLayout::Neox, 48, 1e4, true, 1.0), true, true),
        ];
        for ((layout, rot_dims, base, qk_norm, mscale), v_norm, q_only) in cases.chain(gemma4) {
            let freqs = rope_freqs(base, rot_dims, 1.0, None);
            let table = RopeTable::new(&ctx, &freqs, 64, mscale);
            let step = StepBuffer::new(&ctx);
            // Positions 40, 41, 42: slots 5, 6, 0 of 7.
            let pos0 = 40;
            step.write(&ctx, Step { pos0, n_tokens: n_tokens as u32, ..Default::default() });
            let [q, kk, v] = [n_head, n_kv, n_kv].map(|h| as_act(&k, &rng.values(n_tokens * h * head_dim)));
            let cache0 = as_act(&k, &rng.values(cache_len as usize * kvd));
            let up = |x: &[f32], label| ctx.upload(&k.act_bytes(x), label);
            let (qb, kb, vb) = (up(&q, "q"), up(&kk, "k"), up(&v, "v"));
            let (kc, vc) = (up(&cache0, "k_cache"), up(&cache0, "v_cache"));
            let shape = AttnShape {
                n_head: n_head as u32,
                n_kv: n_kv as u32,
                head_dim: head_dim as u32,
                cache_len,
                window: 0,
                scale: 1.0,
                alibi: 0.0,
            };
            let (qn, kn) = (rng.values(head_dim), rng.values(head_dim));
            let (qnb, knb) = (ctx.upload(bytemuck::cast_slice(&qn), "qn"), ctx.upload(bytemuck::cast_slice(&kn), "kn"));
            let norms = qk_norm.then_some(QkNorm { q: &qnb, k: &knb, eps: 1e-6 });
            let bufs = QkvBuffers {
                q: &qb,
                k: &kb,
                v: &vb,
                k_cache: &kc,
                v_cache: &vc,
                qk_norm: norms,
                v_norm_eps: v_norm.then_some(1e-6),
                q_only,
            };
            run(&ctx, &[k.rope_kv(&ctx, &bufs, &table, &step, layout, &shape, 8).unwrap()]);

            let what = format!(
                "rope_kv {layout:?} rot {rot_dims} qk_norm {qk_norm} v_norm {v_norm} q_only {q_only} scale {mscale} {}",
                name(&k)
            );
            let tol = |_, v| elem_tol(&k, v) * 4.0;
            let norm = |x: &[f32], w: &[f32]| {
                if qk_norm { as_act(&k, &rms_norm_ref(x, w, head_dim, 1e-6)) } else { x.to_vec() }
            };
            let want_q = rope_scaled_ref(&norm(&q, &qn), pos0, &freqs, mscale, layout, n_head, head_dim);
            assert_close(&format!("{what} q"), &read_act(&ctx, &k, &qb, q.len()), &want_q, tol);
            let rotated_k = rope_scaled_ref(&norm(&kk, &kn), pos0, &freqs, mscale, layout, n_kv, head_dim);
            let v = if v_norm { as_act(&k, &rms_norm_ref(&v, &vec![1.0; head_dim], head_dim, 1e-6)) } else { v };
            let (mut want_kc, mut want_vc) = (cache0.clone(), cache0.clone());
            for t in (0..n_tokens).filter(|_| !q_only) {
                let slot = (pos0 as usize + t) % cache_len as usize;
                want_kc[slot * kvd..][..kvd].copy_from_slice(&rotated_k[t * kvd..][..kvd]);
                want_vc[slot * kvd..][..kvd].copy_from_slice(&v[t * kvd..][..kvd]);
            }
            let n = cache0.len();
            assert_close(&format!("{what} k cache"), &read_act(&ctx, &k, &kc, n), &want_kc, tol);
            assert_close(&format!("{what} v cache"), &read_act(&ctx, &k, &vc, n), &want_vc, tol);
            assert_eq!(read_act(&ctx, &k, &kb, kk.len()), kk, "{what}: k itself is left as it was");
        }
    }
}

#[test]
fn glu_gated_plain_and_in_place() {
    let ctx = context();
    let mut rng = Rng::new(5);
    let n = 1000;
    for mut k in variants(&ctx) {
        let gate = as_act(&k, &rng.values(n));
        let up = as_act(&k, &rng.values(n));
        let (gb, ub) = (ctx.upload(&k.act_bytes(&gate), "gate"), ctx.upload(&k.act_bytes(&up), "up"));
        // Gated (SiLU, GELU) and plain (GELU of the gate alone, as GPT-2's FFN).
        let kinds = [(GluKind::Silu, true), (GluKind::Gelu, true), (GluKind::Gelu, false), (GluKind::Sigmoid, true)];
        for (kind, gated) in kinds {
            let ob = k.act_buffer(&ctx, n as u64, "out");
            run(&ctx, &[k.glu(&ctx, kind, &gb, gated.then_some(&ub), Some(&ob), n as u32).unwrap()]);
            let want = glu_ref(kind, &gate, gated.then_some(&up));
            let what = format!("glu {kind:?} gated {gated} {}", name(&k));
            assert_close(&what, &read_act(&ctx, &k, &ob, n), &want, |_, v| elem_tol(&k, v) + 1e-5);
        }
        // GLU written over the gate.
        let gb = ctx.upload(&k.act_bytes(&gate), "gate");
        run(&ctx, &[k.glu(&ctx, GluKind::Silu, &gb, Some(&ub), None, n as u32).unwrap()]);
        let want = glu_ref(GluKind::Silu, &gate, Some(&up));
        assert_close(&format!("glu in place {}", name(&k)), &read_act(&ctx, &k, &gb, n), &want, |_, v| {
            elem_tol(&k, v) + 1e-5
        });
        // Up read in rows (Gemma 4's per-layer gate of rows of 10 times layer 2's slice of
        // 4 layers' inputs): up[(i / 10) · 40 + 20 + i % 10].
        let gb = ctx.upload(&k.act_bytes(&gate), "gate");
        let rows = hearth::kernels::UpRows { width: 10, stride: 40, offset: 20 };
        let n_gate = 200;
        run(&ctx, &[k.glu_strided(&ctx, GluKind::Gelu, &gb, &ub, rows, n_gate as u32).unwrap()]);
        let picked: Vec<f32> = (0..n_gate).map(|i| up[(i / 10) * 40 + 20 + i % 10]).collect();
        let want = glu_ref(GluKind::Gelu, &gate[..n_gate], Some(&picked));
        let got = read_act(&ctx, &k, &gb, n);
        assert_close(&format!("glu strided {}", name(&k)), &got[..n_gate], &want, |_, v| elem_tol(&k, v) + 1e-5);
        assert_eq!(&got[n_gate..], &gate[n_gate..], "glu strided: values past n left as they were");
    }
}

/// Gemma 4's per-layer inputs (the projection normed per layer slice, plus the gathered rows,
/// over sqrt(2)), the residual stream cast to activations, and the logits' soft-capping.
#[test]
fn per_layer_inputs_cast_and_softcap() {
    use hearth::kernels::{PerLayerShape, per_layer_inputs_ref, softcap_ref};
    let ctx = context();
    let mut rng = Rng::new(41);
    let shape = PerLayerShape { n_layer: 3, dim: 40, d_model: 64, eps: 1e-6 };
    let (t, all) = (5usize, 120usize);
    for mut k in variants(&ctx) {
        // A projection of the scaled embedding is large: values ~8.
        let proj = as_act(&k, &rng.values(t * all).iter().map(|v| v * 8.0).collect::<Vec<_>>());
        let (rows, norm) = (rng.values(t * all), rng.values(shape.dim as usize));
        let inputs = ctx.upload(&k.act_bytes(&proj), "inputs");
        let rb = ctx.upload(bytemuck::cast_slice(&rows), "rows");
        let nb = ctx.upload(bytemuck::cast_slice(&norm), "norm");
        run(&ctx, &[k.per_layer_inputs(&ctx, &shape, &rb, &nb, &inputs, t as u32).unwrap()]);
        let want = per_layer_inputs_ref(&shape, &proj, &rows, &norm);
        let what = format!("per_layer_inputs {}", name(&k));
        assert_close(&what, &read_act(&ctx, &k, &inputs, t * all), &want, |_, v| elem_tol(&k, v) * 2.0);

        let x: Vec<f32> = rng.values(333).iter().map(|v| v * 300.0).collect();
        let (xb, hb) = (ctx.upload(bytemuck::cast_slice(&x), "x"), k.act_buffer(&ctx, 333, "h"));
        run(&ctx, &[k.to_act(&ctx, &xb, &hb, 333).unwrap()]);
        assert_eq!(read_act(&ctx, &k, &hb, 333), as_act(&k, &x), "to_act {}", name(&k));

        // Logits far past the cap and near 0.
        let logits = as_act(&k, &rng.values(1000).iter().map(|v| v * 80.0).collect::<Vec<_>>());
        let lb = ctx.upload(&k.act_bytes(&logits), "logits");
        run(&ctx, &[k.softcap(&ctx, &lb, 1000, 30.0).unwrap()]);
        let want = softcap_ref(&logits, 30.0);
        assert_close(&format!("softcap {}", name(&k)), &read_act(&ctx, &k, &lb, 1000), &want, |_, v| {
            elem_tol(&k, v) + 1e-5
        });
        assert!(k.softcap(&ctx, &lb, 1000, 0.0).is_err(), "a cap of 0 is refused");
    }
}

#[test]
fn embed_gathers_quantized_rows() {
    let ctx = context();
    let mut rng = Rng::new(6);
    for ty in WEIGHT_TYPES {
        let w = test_weight(ty, 50, 96, &mut rng);
        let gw = upload(&ctx, &w);
        let tokens = [7u32, 0, 49, 7, 23];
        let tb = ctx.upload(bytemuck::cast_slice(&tokens), "tokens");
        for mut k in variants(&ctx).into_iter().filter(|k| !k.subgroups) {
            let ob = ctx.storage_buffer(4 * (tokens.len() * w.cols) as u64, "out");
            run(&ctx, &k.embed(&ctx, &gw, &tb, 0, &ob, tokens.len() as u32, 0.5).unwrap());
            let want = embed_ref(&w.values, w.cols, &tokens, 0.5);
            assert_close(&format!("embed {ty} {}", name(&k)), &read_f32(&ctx, &ob, want.len()), &want, |_, _| 1e-6);
            // Learned positions (GPT-2) added: rows 46..50 for a step of 4 tokens at position
            // 46 (the dispatch sized for 5; the fifth writes nothing).
            let step = StepBuffer::new(&ctx);
            step.write(&ctx, Step { pos0: 46, n_tokens: 4, ..Default::default() });
            run(&ctx, &k.embed_positions(&ctx, &gw, &step, &ob, tokens.len() as u32).unwrap());
            let mut want_pos = want.clone();
            let pos_rows = embed_ref(&w.values, w.cols, &[46, 47, 48, 49], 1.0);
            want_pos.iter_mut().zip(&pos_rows).for_each(|(a, b)| *a += b);
            let got = read_f32(&ctx, &ob, want.len());
            assert_close(&format!("embed positions {ty} {}", name(&k)), &got, &want_pos, |_, v| 1e-6 * (1.0 + v.abs()));
        }
    }
}

/// Writes `n_pos` positions of K/V through rope_kv in chunks (k rotated, as the model does),
/// then checks prefill attention for the last chunk and split decoding for the last position.
#[test]
fn attention_prefill_and_split_decode() {
    let ctx = context();
    let mut rng = Rng::new(7);
    let cases = [
        // (n_head, n_kv, head_dim, window, cache_len, ALiBi's max bias)
        (4, 2, 64, 0, 80, 0.0),
        (3, 1, 256, 9, 9 + 5 - 1, 0.0),
        (2, 2, 40, 0, 80, 0.0),
        // Gemma 4's global heads: WIDE_HEADS.
        (2, 1, 512, 0, 80, 0.0),
        // BLOOM's ALiBi over 6 heads: the first 4 take m0's powers, the last 2 m1's.
        (6, 6, 32, 0, 80, 8.0),
    ];
    for (n_head, n_kv, head_dim, window, cache_len, alibi) in cases {
        let scale = 1.0 / (head_dim as f32).sqrt();
        let shape = AttnShape { n_head, n_kv, head_dim, cache_len, window, scale, alibi };
        let (hd, width) = (head_dim as usize, (n_kv * head_dim) as usize);
        for (i, mut k) in variants(&ctx).into_iter().enumerate() {
            // Attention workgroups of both shapes (CPU-adapter and GPU), alternating by variant.
            k.cpu_shapes = (i + i / 2) % 2 == 0;
            let n_pos = 23usize;
            let kv_k = as_act(&k, &rng.values(n_pos * width));
            let kv_v = as_act(&k, &rng.values(n_pos * width));
            let kc = k.act_buffer(&ctx, u64::from(cache_len) * width as u64, "k_cache");
            let vc = k.act_buffer(&ctx, u64::from(cache_len) * width as u64, "v_cache");
            let step = StepBuffer::new(&ctx);
            let max_tokens = 5u32;
            let (ks, vs) = (k.act_buffer(&ctx, 5 * width as u64, "k"), k.act_buffer(&ctx, 5 * width as u64, "v"));
            // The chunks' own queries are rotated into a scratch buffer; attention reads `q`.
            let q_scratch = k.act_buffer(&ctx, u64::from(max_tokens * n_head * head_dim), "q_scratch");
            let freqs = rope_freqs(10000.0, 32, 1.0, None);
            let table = RopeTable::new(&ctx, &freqs, n_pos as u32, 1.0);
            let bufs = QkvBuffers {
                q: &q_scratch,
                k: &ks,
                v: &vs,
                k_cache: &kc,
                v_cache: &vc,
                qk_norm: None,
                v_norm_eps: None,
                q_only: false,
            };
            let append = k.rope_kv(&ctx, &bufs, &table, &step, RopeLayout::Neox, &shape, max_tokens).unwrap();
            let kv_k_rotated = as_act(&k, &rope_ref(&kv_k, 0, &freqs, RopeLayout::Neox, n_kv as usize, hd));
            let q = as_act(&k, &rng.values(max_tokens as usize * n_head as usize * hd));
            let qb = ctx.upload(&k.act_bytes(&q), "q");
            let out = k.act_buffer(&ctx, q.len() as u64, "out");
            let prefill = k.attn_prefill(&ctx, &shape, &qb, &kc, &vc, &out, &step, max_tokens).unwrap();
            // Feed positions in chunks of up to 5 (the last chunk is a prefill of 3 tokens).
            let mut pos = 0;
            while pos < n_pos {
                let n = (n_pos - pos).min(max_tokens as usize);
                ctx.write(&ks, 0, &k.act_bytes(&kv_k[pos * width..(pos + n) * width]));
                ctx.write(&vs, 0, &k.act_bytes(&kv_v[pos * width..(pos + n) * width]));
                step.write(&ctx, Step { pos0: pos as u32, n_tokens: n as u32, ..Default::default() });
                run(&ctx, &[append.clone(), prefill.clone()]);
                if pos + n == n_pos {
                    let got = read_act(&ctx, &k, &out, n * n_head as usize * hd);
                    let want = attention_ref(&q[..got.len()], &kv_k_rotated, &kv_v, pos, &shape);
                    let what = format!(
                        "attn_prefill h{n_head} kv{n_kv} hd{head_dim} w{window} alibi {alibi} {} cpu_shapes={}",
                        name(&k),
                        k.cpu_shapes
                    );
                    assert_close(&what, &got, &want, |_, v| elem_tol(&k, v) * 2.0 + 1e-5);
                }
                pos += n;
            }
            // Decode the last position with splits of 4 keys, then in one split; with
            // subgroups, by one-subgroup workgroups (attn_decode_sg) and by the general kernel.
            let last = n_pos - 1;
            step.write(&ctx, Step { pos0: last as u32, n_tokens: 1, ..Default::default() });
            let sizes = if k.subgroups { vec![k.subgroup_size, 0] } else { vec![k.subgroup_size] };
            for (split_keys, sg) in [4, 64].into_iter().flat_map(|s| sizes.iter().map(move |&sg| (s, sg))) {
                k.subgroup_size = sg;
                let scratch = DecodeScratch::new(&ctx, &shape, 64, split_keys);
                let out1 = k.act_buffer(&ctx, u64::from(n_head * head_dim), "out1");
                let d = k.attn_decode(&ctx, &shape, &qb, &kc, &vc, &out1, &step, &scratch).unwrap();
                assert_eq!(d.len(), if split_keys == 64 { 1 } else { 2 });
                let kernel = d[0].pipeline.key.shader;
                if ctx.report().name.starts_with("llvmpipe") && k.subgroups && sg > 0 {
                    // lavapipe's subgroups are 8 wide: every head size here takes the one-subgroup kernel.
                    assert_eq!(kernel, "attn_decode_sg");
                }
                run(&ctx, &d);
                let got = read_act(&ctx, &k, &out1, n_head as usize * hd);
                let want = attention_ref(&q[..got.len()], &kv_k_rotated, &kv_v, last, &shape);
                let what = format!(
                    "{kernel} h{n_head} kv{n_kv} hd{head_dim} w{window} alibi {alibi} split {split_keys} {} cpu_shapes={}",
                    name(&k),
                    k.cpu_shapes
                );
                assert_close(&what, &got, &want, |_, v| elem_tol(&k, v) * 2.0 + 1e-5);
            }
        }
    }
}

fn history(buffer: &wgpu::Buffer, len: usize, push: bool) -> History<'_> {
    History { buffer, len: len as u32, push }
}

fn read_ids(ctx: &GpuContext, ids: &wgpu::Buffer, n: usize) -> Vec<u32> {
    bytemuck::cast_slice(&pollster::block_on(ctx.read_back(ids, 0, 4 * n as u64)).unwrap()).to_vec()
}

/// Draws over many seeds follow the distribution the CPU computes after penalties, top-k,
/// top-p, min-p and temperature: a chi-square goodness-of-fit test at p = 1e-4 over 3000
/// draws per setting (a uniform draw over the allowed tokens, or an ignored temperature or
/// penalty, fails it by orders of magnitude).
#[test]
fn sampler_draws_follow_the_filtered_distribution() {
    let ctx = context();
    let (n, draws) = (128usize, 3000usize);
    let mut rng = Rng::new(21);
    let hist = [3u32, 17, 3, 99];
    let settings = [
        SamplerParams { top_k: 0, top_p: 1.0, min_p: 0.0, temperature: 1.0, ..Default::default() },
        SamplerParams {
            top_k: 12,
            top_p: 1.0,
            min_p: 0.0,
            temperature: 0.7,
            repeat_penalty: 1.5,
            ..Default::default()
        },
        SamplerParams { top_k: 40, top_p: 0.8, min_p: 0.02, temperature: 1.3, ..Default::default() },
        SamplerParams {
            top_k: 0,
            top_p: 1.0,
            min_p: 0.1,
            temperature: 0.9,
            frequency_penalty: 0.6,
            presence_penalty: 0.4,
            ..Default::default()
        },
    ];
    for mut k in variants(&ctx).into_iter().filter(|k| !k.subgroups) {
        let spread: Vec<f32> = (0..n).map(|_| rng.uniform() * 8.0 - 4.0).collect();
        let logits = as_act(&k, &spread);
        let hb = ctx.upload(bytemuck::cast_slice(&hist), "hist");
        let step = StepBuffer::new(&ctx);
        step.write(&ctx, Step::default());
        let ids = ctx.storage_buffer(4 * draws as u64, "ids");
        for params in settings {
            // The CPU's distribution: penalties (stored back in the activation type, as the
            // kernel stores them), the filters, then softmax at the temperature.
            let mut penalized = logits.clone();
            hearth::kernels::penalize_ref(&mut penalized, &hist, &params);
            let penalized = as_act(&k, &penalized);
            let allowed = hearth::kernels::allowed_ref(&penalized, &params);
            let max = penalized.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let weight: Vec<f64> = (0..n)
                .map(|i| {
                    if allowed[i] { (f64::from(penalized[i] - max) / f64::from(params.temperature)).exp() } else { 0.0 }
                })
                .collect();
            let total: f64 = weight.iter().sum();
            // One draw per seed, each on its own copy of the logits (penalties write them).
            let dispatches: Vec<_> = (0..draws)
                .map(|i| {
                    let lb = ctx.upload(&k.act_bytes(&logits), "logits");
                    let p = SamplerParams { seed: i as u32 * 7919 + 1, ..params };
                    k.sample(&ctx, &lb, &ids, i as u32, n as u32, &step, &history(&hb, hist.len(), false), &p, None)
                        .unwrap()
                })
                .collect();
            run(&ctx, &dispatches);
            // A thousand seeds are a thousand parameter structs: free them for the next case.
            k.recycle_uniforms();
            let mut counts = vec![0usize; n];
            for id in read_ids(&ctx, &ids, draws) {
                assert!(allowed[id as usize], "{params:?} {}: drew excluded token {id}", name(&k));
                counts[id as usize] += 1;
            }
            let (chi2, df) = chi_square(&counts, &weight.iter().map(|w| w / total * draws as f64).collect::<Vec<_>>());
            let critical = chi_square_critical(df, 3.719);
            println!("{} {params:?}: chi2 {chi2:.1}, df {df}, critical {critical:.1}", name(&k));
            assert!(chi2 < critical, "{params:?} {}: chi2 {chi2:.1} over {critical:.1} (df {df})", name(&k));
        }
    }
}

/// Constrained decoding: with a grammar's mask, draws come only from the tokens it allows,
/// distributed as the CPU's filters over those tokens alone say (chi-square at p = 1e-4), and
/// greedy decoding is the argmax over them, even where the largest logit is masked out.
#[test]
fn masked_draws_follow_the_distribution_over_allowed_tokens() {
    let ctx = context();
    let (n, draws) = (100usize, 2000usize);
    let mut rng = Rng::new(23);
    let settings = [
        SamplerParams { top_k: 0, top_p: 1.0, min_p: 0.0, temperature: 1.0, ..Default::default() },
        SamplerParams { top_k: 8, top_p: 0.9, min_p: 0.02, temperature: 1.2, ..Default::default() },
    ];
    for mut k in variants(&ctx).into_iter().filter(|k| !k.subgroups) {
        let spread: Vec<f32> = (0..n).map(|_| rng.uniform() * 8.0 - 4.0).collect();
        let mut logits = as_act(&k, &spread);
        let best = hearth::kernels::argmax_ref(&logits) as usize;
        logits[best] = 9.0; // a clear favourite, which the mask excludes
        // About a third of the tokens allowed, in (n / 32) words; the favourite not among them.
        let mut mask = vec![0u32; n.div_ceil(32)];
        for i in 0..n {
            if i != best && rng.uniform() < 0.35 {
                mask[i / 32] |= 1 << (i % 32);
            }
        }
        let mb = ctx.upload(bytemuck::cast_slice(&mask), "mask");
        let hb = ctx.upload(bytemuck::cast_slice(&[u32::MAX]), "hist");
        let step = StepBuffer::new(&ctx);
        step.write(&ctx, Step::default());
        let ids = ctx.storage_buffer(4 * draws as u64, "ids");
        let lb = ctx.upload(&k.act_bytes(&logits), "logits");
        // Greedy: the best allowed token.
        let mut allowed_best = None::<usize>;
        for i in (0..n).filter(|&i| hearth::kernels::mask_allows(&mask, i)) {
            if allowed_best.is_none_or(|b| logits[i] > logits[b]) {
                allowed_best = Some(i);
            }
        }
        run(&ctx, &[k.argmax(&ctx, &lb, &ids, 0, n as u32, Some(&mb)).unwrap()]);
        assert_eq!(read_ids(&ctx, &ids, 1)[0] as usize, allowed_best.unwrap(), "masked argmax {}", name(&k));
        for params in settings {
            let allowed = hearth::kernels::allowed_masked_ref(&logits, &params, Some(&mask));
            let max = (0..n).filter(|&i| allowed[i]).map(|i| logits[i]).fold(f32::NEG_INFINITY, f32::max);
            let weight: Vec<f64> =
                (0..n)
                    .map(|i| {
                        if allowed[i] {
                            (f64::from(logits[i] - max) / f64::from(params.temperature)).exp()
                        } else {
                            0.0
                        }
                    })
                    .collect();
            let total: f64 = weight.iter().sum();
            let dispatches: Vec<_> = (0..draws)
                .map(|i| {
                    let p = SamplerParams { seed: i as u32 * 7919 + 1, ..params };
                    k.sample(&ctx, &lb, &ids, i as u32, n as u32, &step, &history(&hb, 0, false), &p, Some(&mb))
                        .unwrap()
                })
                .collect();
            run(&ctx, &dispatches);
            k.recycle_uniforms();
            let mut counts = vec![0usize; n];
            for id in read_ids(&ctx, &ids, draws) {
                assert!(
                    hearth::kernels::mask_allows(&mask, id as usize),
                    "{params:?} {}: drew masked token {id}",
                    name(&k)
                );
                assert!(allowed[id as usize], "{params:?} {}: drew filtered token {id}", name(&k));
                counts[id as usize] += 1;
            }
            let (chi2, df) = chi_square(&counts, &weight.iter().map(|w| w / total * draws as f64).collect::<Vec<_>>());
            let critical = chi_square_critical(df, 3.719);
            println!("masked {} {params:?}: chi2 {chi2:.1}, df {df}, critical {critical:.1}", name(&k));
            assert!(chi2 < critical, "masked {params:?} {}: chi2 {chi2:.1} over {critical:.1} (df {df})", name(&k));
        }
    }
}

/// Log-probabilities on the GPU: the k most likely tokens (ties: lower id first) and the drawn
/// token's logprob equal the CPU's log-softmax of the logits as they were before the sampler
/// (whose penalties change the window's logits in place between the two dispatches), whether
/// the draw is a token of the window or not.
#[test]
fn logprobs_equal_the_cpus_before_the_penalties() {
    let ctx = context();
    let mut rng = Rng::new(29);
    for mut k in variants(&ctx).into_iter().filter(|k| !k.subgroups) {
        for (n, top) in [(100usize, 20u32), (49_152, 5)] {
            let spread: Vec<f32> = (0..n).map(|_| rng.uniform() * 8.0 - 4.0).collect();
            let mut logits = as_act(&k, &spread);
            // Two tokens tie for second place; the window holds the favourite and one of them.
            (logits[7], logits[n - 3], logits[n / 2]) = (9.0, 7.5, 7.5);
            let hist = [7u32, (n - 3) as u32, 3, u32::MAX];
            let hb = ctx.upload(bytemuck::cast_slice(&hist), "hist");
            let step = StepBuffer::new(&ctx);
            let ids = ctx.storage_buffer(4, "ids");
            let out = ctx.storage_buffer(4 * hearth::kernels::LOGPROB_WORDS, "logprobs");
            let saved = ctx.storage_buffer(8 * hist.len() as u64, "saved");
            let window = history(&hb, hist.len(), false);
            let (lse, want) = hearth::kernels::logprobs_ref(&logits, top as usize);
            let params = SamplerParams {
                temperature: 1.0,
                top_k: 0,
                repeat_penalty: 1.3,
                presence_penalty: 0.5,
                ..Default::default()
            };
            let mut drawn_from_window = false;
            for counter in 0..12 {
                let lb = ctx.upload(&k.act_bytes(&logits), "logits");
                let sample = k.sample(&ctx, &lb, &ids, 0, n as u32, &step, &window, &params, None).unwrap();
                let (before, after) = k.logprobs(&ctx, &lb, &ids, 0, n as u32, &window, top, &out, &saved).unwrap();
                step.write(&ctx, Step { counter, ..Default::default() });
                run(&ctx, &[before, sample, after]);
                let words = read_ids(&ctx, &out, hearth::kernels::LOGPROB_WORDS as usize);
                let got = hearth::kernels::TokenLogprobs::from_words(&words);
                let what = format!("n {n} k {top} counter {counter} {}", name(&k));
                let got_ids: Vec<u32> = got.top.iter().map(|t| t.0).collect();
                let want_ids: Vec<u32> = want.iter().map(|t| t.0).collect();
                assert_eq!(got_ids, want_ids, "{what}: top ids");
                for (g, w) in got.top.iter().zip(&want) {
                    assert!((g.1 - w.1).abs() < 1e-4, "{what}: logprob of {} {} vs {}", g.0, g.1, w.1);
                }
                let chosen = got.id as usize;
                let raw = logits[chosen] - lse;
                assert!((got.logprob - raw).abs() < 1e-4, "{what}: drawn {chosen}: {} vs {raw}", got.logprob);
                drawn_from_window |= hist.contains(&got.id);
                k.recycle_uniforms();
            }
            assert!(drawn_from_window, "n {n}: no draw from the window: its saved logits went untested");
        }
    }
}

/// llama.cpp's own sampler test vectors (`tests/test-sampling.cpp` of the llama.cpp that
/// llama-cpp-python 0.3.36 vendors): logits ln(p) of 4 or 5 tokens, a history, one setting, and
/// the probabilities llama.cpp leaves after that sampler (renormalized; token ids read from the
/// order its list is in: sorted by probability after top-k and top-p, in id order otherwise).
/// Here each is the distribution of 1000 GPU draws: a token llama.cpp drops is never drawn, and
/// the others pass a chi-square test at p = 1e-4 against llama.cpp's probabilities.
#[test]
fn sampler_matches_llama_cpp_test_vectors() {
    let ctx = context();
    let p4 = [0.1f32, 0.2, 0.3, 0.4];
    let p5 = [0.2f32; 5];
    let all4 = [(0, 0.1), (1, 0.2), (2, 0.3), (3, 0.4)];
    let top = [(3, 1.0)];
    let top3 = [(3, 0.44444), (2, 0.33333), (1, 0.22222)];
    let over_09 = [(1, 0.2 / 0.9), (2, 0.3 / 0.9), (3, 0.4 / 0.9)];
    let over_07 = [(2, 0.3 / 0.7), (3, 0.4 / 0.7)];
    let last2 = [(3, 0.5), (4, 0.5)];
    let on = |f: fn(&mut SamplerParams)| {
        let mut p = SamplerParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
        };
        f(&mut p);
        p
    };
    type Case<'a> = (&'a str, &'a [f32], &'a [u32], SamplerParams, &'a [(u32, f64)]);
    let cases: Vec<Case> = vec![
        ("temp 1", &p4, &[], on(|_| {}), &all4),
        ("temp 0", &p4, &[], on(|p| p.temperature = 0.0), &top),
        ("top_k 1", &p4, &[], on(|p| p.top_k = 1), &top),
        ("top_k 3", &p4, &[], on(|p| p.top_k = 3), &top3),
        ("top_k 4", &p4, &[], on(|p| p.top_k = 4), &all4),
        ("top_k 0", &p4, &[], on(|p| p.top_k = 0), &all4),
        ("top_p 0", &p4, &[], on(|p| p.top_p = 0.0), &top),
        ("top_p 0.7", &p4, &[], on(|p| p.top_p = 0.7), &[(3, 0.571429), (2, 0.428571)]),
        ("top_p 0.8", &p4, &[], on(|p| p.top_p = 0.8), &top3),
        ("top_p 1", &p4, &[], on(|p| p.top_p = 1.0), &all4),
        ("min_p 0", &p4, &[], on(|p| p.min_p = 0.0), &all4),
        ("min_p 0.24", &p4, &[], on(|p| p.min_p = 0.24), &all4),
        ("min_p 0.26", &p4, &[], on(|p| p.min_p = 0.26), &over_09),
        ("min_p 0.49", &p4, &[], on(|p| p.min_p = 0.49), &over_09),
        ("min_p 0.51", &p4, &[], on(|p| p.min_p = 0.51), &over_07),
        ("min_p 0.74", &p4, &[], on(|p| p.min_p = 0.74), &over_07),
        ("min_p 0.76", &p4, &[], on(|p| p.min_p = 0.76), &top),
        ("min_p 1", &p4, &[], on(|p| p.min_p = 1.0), &top),
        ("min_p 1.05", &p4, &[], on(|p| p.min_p = 1.05), &top),
        ("repeat 50, [0]", &p5, &[0], on(|p| p.repeat_penalty = 50.0), &[(1, 0.25), (2, 0.25), (3, 0.25), (4, 0.25)]),
        ("repeat 50, [0 1 2]", &p5, &[0, 1, 2], on(|p| p.repeat_penalty = 50.0), &last2),
        ("repeat 50, [0 1 2 0 0]", &p5, &[0, 1, 2, 0, 0], on(|p| p.repeat_penalty = 50.0), &last2),
        (
            "freq 5 pres 5, [0]",
            &p5,
            &[0],
            on(|p| (p.frequency_penalty, p.presence_penalty) = (5.0, 5.0)),
            &[(0, 0.000011), (1, 0.249997), (2, 0.249997), (3, 0.249997), (4, 0.249997)],
        ),
        (
            "freq 5 pres 5, [0 1 2]",
            &p5,
            &[0, 1, 2],
            on(|p| (p.frequency_penalty, p.presence_penalty) = (5.0, 5.0)),
            &[(0, 0.000023), (1, 0.000023), (2, 0.000023), (3, 0.499966), (4, 0.499966)],
        ),
        (
            "freq 5 pres 5, [0 1 2 0 0]",
            &p5,
            &[0, 1, 2, 0, 0],
            on(|p| (p.frequency_penalty, p.presence_penalty) = (5.0, 5.0)),
            &[(1, 0.000023), (2, 0.000023), (3, 0.499977), (4, 0.499977)],
        ),
    ];
    let draws = 1000usize;
    // f32 logits only: these vectors sit on exact boundaries (top-p 0.7 is 0.4 + 0.3 exactly),
    // which logits rounded to f16 move to one side or the other; the f16 path's filters are
    // checked against the CPU's on its own rounded logits (the tests above).
    for mut k in variants(&ctx).into_iter().filter(|k| !k.subgroups && !k.f16) {
        let step = StepBuffer::new(&ctx);
        step.write(&ctx, Step::default());
        let ids = ctx.storage_buffer(4 * draws as u64, "ids");
        for (what, probs, hist, params, expected) in &cases {
            let n = probs.len();
            let logits: Vec<f32> = probs.iter().map(|p| p.ln()).collect();
            // The history as the engine keeps it: a window of the last ids (llama.cpp's
            // penalty_last_n is the vocabulary size here, so every id counts).
            let hb = ctx.upload(bytemuck::cast_slice(if hist.is_empty() { &[u32::MAX][..] } else { hist }), "hist");
            let dispatches: Vec<_> = (0..draws)
                .map(|i| {
                    let lb = ctx.upload(&k.act_bytes(&logits), "logits");
                    let p = SamplerParams { seed: i as u32 * 7919 + 1, ..*params };
                    k.sample(&ctx, &lb, &ids, i as u32, n as u32, &step, &history(&hb, hist.len(), false), &p, None)
                        .unwrap()
                })
                .collect();
            run(&ctx, &dispatches);
            // A thousand seeds are a thousand parameter structs: free them for the next case.
            k.recycle_uniforms();
            let mut counts = vec![0usize; n];
            for id in read_ids(&ctx, &ids, draws) {
                let kept = expected.iter().any(|&(e, _)| e == id);
                assert!(kept, "{what} {}: drew token {id}, which llama.cpp drops", name(&k));
                counts[id as usize] += 1;
            }
            let mut want = vec![0.0; n];
            for &(id, p) in *expected {
                want[id as usize] = p * draws as f64;
            }
            let (chi2, df) = chi_square(&counts, &want);
            let critical = chi_square_critical(df, 3.719);
            println!("{what} {}: counts {counts:?}, chi2 {chi2:.1}, critical {critical:.1}", name(&k));
            assert!(chi2 < critical, "{what} {}: counts {counts:?} against {want:?}: chi2 {chi2:.1}", name(&k));
        }
    }
}

/// Pearson's chi-square of observed counts against expected ones; tokens expected fewer than
/// 5 times are pooled into one bin. Returns the statistic and its degrees of freedom.
fn chi_square(observed: &[usize], expected: &[f64]) -> (f64, usize) {
    let (mut chi2, mut bins, mut pool_o, mut pool_e) = (0.0, 0usize, 0.0, 0.0);
    for (&o, &e) in observed.iter().zip(expected) {
        if e >= 5.0 {
            chi2 += (o as f64 - e).powi(2) / e;
            bins += 1;
        } else if e > 0.0 {
            pool_o += o as f64;
            pool_e += e;
        }
    }
    if pool_e > 0.0 {
        chi2 += (pool_o - pool_e).powi(2) / pool_e.max(1.0);
        bins += 1;
    }
    (chi2, bins.saturating_sub(1).max(1))
}

/// The chi-square quantile of `df` degrees of freedom at standard-normal quantile `z`
/// (Wilson–Hilferty; z = 3.719 is p = 1e-4).
fn chi_square_critical(df: usize, z: f64) -> f64 {
    let k = df as f64;
    let h = 2.0 / (9.0 * k);
    k * (1.0 - h + z * h.sqrt()).powi(3)
}

#[test]
fn argmax_equals_cpu_argmax() {
    let ctx = context();
    let mut rng = Rng::new(8);
    for mut k in variants(&ctx).into_iter().filter(|k| !k.subgroups) {
        for n in [1usize, 100, 49_152] {
            let mut logits = as_act(&k, &rng.values(n));
            if n > 10 {
                logits[n - 3] = 1000.0; // a clear maximum near the end
                logits[5] = 1000.0; // and an equal one earlier: the first index wins
            }
            let lb = ctx.upload(&k.act_bytes(&logits), "logits");
            let ids = ctx.storage_buffer(16, "ids");
            run(&ctx, &[k.argmax(&ctx, &lb, &ids, 2, n as u32, None).unwrap()]);
            assert_eq!(read_ids(&ctx, &ids, 3)[2], hearth::kernels::argmax_ref(&logits), "n {n} {}", name(&k));
        }
    }
}

/// Draws many tokens with different counters; none may be outside the CPU's allowed set, the
/// same seed must give the same draws, and temperature 0 must be the argmax.
#[test]
fn sampler_filters_and_is_reproducible() {
    let ctx = context();
    let mut rng = Rng::new(9);
    let n = 500usize;
    for mut k in variants(&ctx).into_iter().filter(|k| !k.subgroups) {
        // Logits spread over [-3, 3) (no outliers, so several tokens share the mass), stored as
        // the variant stores them so that the CPU filters see the same values.
        let spread: Vec<f32> = (0..n).map(|_| rng.uniform() * 6.0 - 3.0).collect();
        let logits = as_act(&k, &spread);
        let hist = [3u32, 17, 3, 499];
        let hb = ctx.upload(bytemuck::cast_slice(&hist), "hist");
        let step = StepBuffer::new(&ctx);
        let ids = ctx.storage_buffer(4, "ids");
        let settings = [
            SamplerParams { top_k: 5, top_p: 1.0, min_p: 0.0, temperature: 1.0, ..Default::default() },
            SamplerParams { top_k: 0, top_p: 0.6, min_p: 0.0, temperature: 1.5, ..Default::default() },
            SamplerParams {
                top_k: 40,
                top_p: 0.9,
                min_p: 0.05,
                temperature: 0.7,
                repeat_penalty: 1.3,
                ..Default::default()
            },
            SamplerParams {
                top_k: 0,
                top_p: 1.0,
                min_p: 0.2,
                temperature: 1.0,
                frequency_penalty: 0.5,
                presence_penalty: 0.3,
                ..Default::default()
            },
        ];
        for params in settings {
            let mut penalized = logits.clone();
            hearth::kernels::penalize_ref(&mut penalized, &hist, &params);
            // Tokens allowed with a slightly looser filter: anything outside is surely excluded.
            let loose = SamplerParams { top_p: (params.top_p + 1e-3).min(1.0), min_p: params.min_p * 0.999, ..params };
            let allowed = hearth::kernels::allowed_ref(&penalized, &loose);
            let lb = ctx.upload(&k.act_bytes(&logits), "logits");
            let d =
                k.sample(&ctx, &lb, &ids, 0, n as u32, &step, &history(&hb, hist.len(), false), &params, None).unwrap();
            let mut draws = Vec::new();
            for counter in 0..150 {
                ctx.write(&lb, 0, &k.act_bytes(&logits));
                step.write(&ctx, Step { counter, ..Default::default() });
                run(&ctx, std::slice::from_ref(&d));
                let id = read_ids(&ctx, &ids, 1)[0];
                assert!(
                    allowed[id as usize],
                    "{params:?}: drew excluded token {id} (logit {})",
                    penalized[id as usize]
                );
                draws.push(id);
            }
            let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
            assert!(distinct.len() > 1, "{params:?}: every draw was the same token");
            // The same seed and counter give the same token.
            for counter in [0u32, 77, 149] {
                ctx.write(&lb, 0, &k.act_bytes(&logits));
                step.write(&ctx, Step { counter, ..Default::default() });
                run(&ctx, std::slice::from_ref(&d));
                assert_eq!(read_ids(&ctx, &ids, 1)[0], draws[counter as usize], "{params:?}: not reproducible");
            }
        }
        // Temperature 0 is greedy.
        let lb = ctx.upload(&k.act_bytes(&logits), "logits");
        let greedy = SamplerParams { temperature: 0.0, ..Default::default() };
        run(&ctx, &[k.sample(&ctx, &lb, &ids, 0, n as u32, &step, &history(&hb, 0, false), &greedy, None).unwrap()]);
        assert_eq!(read_ids(&ctx, &ids, 1)[0], hearth::kernels::argmax_ref(&logits));
        // With push_hist the drawn id enters the history, last, the rest shifting forward.
        let window = [u32::MAX, 3, 17, 499];
        let hb = ctx.upload(bytemuck::cast_slice(&window), "hist");
        let params = SamplerParams { top_k: 5, temperature: 1.0, ..Default::default() };
        let d =
            k.sample(&ctx, &lb, &ids, 0, n as u32, &step, &history(&hb, window.len(), true), &params, None).unwrap();
        let mut want = window.to_vec();
        for round in 0..2 {
            ctx.write(&lb, 0, &k.act_bytes(&logits));
            run(&ctx, std::slice::from_ref(&d));
            want.remove(0);
            want.push(read_ids(&ctx, &ids, 1)[0]);
            assert_eq!(read_ids(&ctx, &hb, window.len()), want, "history after draw {round}");
        }
    }
}

/// A weight larger than one page is split by rows; every page-aware kernel gives the same
/// result as with one page. Here with an artificially small page size: eight rows as the file
/// has them (and the type's table), which is more than eight rows take on the GPU for types
/// whose scales are widened there (Q4_K, the i-quants): pages must not pass the limit.
#[test]
fn paging_at_a_lowered_limit() {
    let mut ctx = context();
    let mut rng = Rng::new(10);
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q6_K, GgmlType::Q4_K, GgmlType::IQ3_XXS, GgmlType::IQ3_S] {
        let w = test_weight(ty, 61, 256, &mut rng);
        let table = quant::gpu_layout(ty).unwrap().table_bytes();
        let limit = 4 + table + 8 * ty.row_bytes(w.cols as u64).unwrap();
        ctx.limit_weight_pages(limit);
        let gw = upload(&ctx, &w);
        assert!(gw.pages.len() > 2, "{ty}: {} pages", gw.pages.len());
        for p in &gw.pages {
            assert!(p.buffer.size() <= limit, "{ty}: a page of {} bytes, over the limit of {limit}", p.buffer.size());
        }
        let mut k = Kernels::with_variant(&ctx, false, false);
        let x = rng.values(w.cols);
        let xb = ctx.upload(&k.act_bytes(&x), "x");
        let yb = k.act_buffer(&ctx, w.rows as u64, "y");
        run(&ctx, &k.matvec(&ctx, &gw, &xb, &yb, Store::Act).unwrap());
        let want = matvec_ref(&w.values, &x, w.rows, w.cols);
        let scale = abs_dot_scale(&w.values, &x, w.rows, w.cols);
        assert_close(&format!("paged matvec {ty}"), &read_act(&ctx, &k, &yb, w.rows), &want, |i, v| {
            dot_tol(&k, Store::Act, scale[i], v)
        });
        let tokens = [0u32, 60, 31, 30];
        let tb = ctx.upload(bytemuck::cast_slice(&tokens), "tokens");
        let ob = ctx.storage_buffer(4 * (tokens.len() * w.cols) as u64, "out");
        run(&ctx, &k.embed(&ctx, &gw, &tb, 0, &ob, tokens.len() as u32, 1.0).unwrap());
        let want = embed_ref(&w.values, w.cols, &tokens, 1.0);
        assert_close(&format!("paged embed {ty}"), &read_f32(&ctx, &ob, want.len()), &want, |_, _| 0.0);
    }
}

/// Gemma's 178 MB Q8_0 token table, paged at 64 MiB (below any adapter's binding limit, so
/// page boundaries are tested on real GPUs too): the LM-head matvec and the embedding gather
/// cover rows of every page and both sides of the boundaries.
#[test]
fn paging_gemmas_token_table_at_64_mib() {
    // Pages of 64 MiB: the 178 MB table spans three on any adapter (a real GPU's binding
    // limit would hold it in one, and the checks below would test no page boundary).
    let mut ctx = context();
    ctx.limit_weight_pages(64 << 20);
    let w = fixture_rows(common::GEMMA, "token_embd.weight", 0, 262_144);
    let gw = upload(&ctx, &w);
    assert!(gw.pages.len() >= 3, "{} pages", gw.pages.len());
    for p in &gw.pages {
        assert!(p.buffer.size() <= 64 << 20, "{}", p.buffer.size());
    }
    let mut k = Kernels::with_variant(&ctx, false, false);
    let mut rng = Rng::new(11);
    let x = rng.values(w.cols);
    let xb = ctx.upload(&k.act_bytes(&x), "x");
    let yb = k.act_buffer(&ctx, w.rows as u64, "logits");
    run(&ctx, &k.matvec(&ctx, &gw, &xb, &yb, Store::Act).unwrap());
    let got = read_act(&ctx, &k, &yb, w.rows);
    let want = matvec_ref(&w.values, &x, w.rows, w.cols);
    let scale = abs_dot_scale(&w.values, &x, w.rows, w.cols);
    assert_close("LM head over a paged table", &got, &want, |i, v| dot_tol(&k, Store::Act, scale[i], v));
    let last_page_row = gw.pages.last().unwrap().first_row;
    let first_page_end = gw.pages[1].first_row;
    let tokens = [2u32, first_page_end - 1, first_page_end, last_page_row - 1, last_page_row, 262_143];
    let tb = ctx.upload(bytemuck::cast_slice(&tokens), "tokens");
    let ob = ctx.storage_buffer(4 * (tokens.len() * w.cols) as u64, "out");
    run(&ctx, &k.embed(&ctx, &gw, &tb, 0, &ob, tokens.len() as u32, 1.0).unwrap());
    let want = embed_ref(&w.values, w.cols, &tokens, 1.0);
    assert_close("embed across pages", &read_f32(&ctx, &ob, want.len()), &want, |_, _| 0.0);
}

/// The short convolution against the whole sequence convolved at once, run as an engine runs
/// it: a prefill chunk, decode steps, another chunk, a step run ahead with other inputs and
/// dropped, a cut back to an earlier position, and a new sequence from position 0 over the
/// old ring.
#[test]
fn short_conv_by_chunks_steps_and_cut_backs() {
    use hearth::kernels::{ConvBuffers, ConvShape, short_conv_ref};
    let ctx = context();
    let mut rng = Rng::new(12);
    let (d, taps, n) = (100usize, 3usize, 14usize);
    let shape = ConvShape { d: d as u32, taps: taps as u32, ring_len: 8 };
    for mut k in variants(&ctx) {
        let kernel = rng.values(d * taps);
        let kb = ctx.upload(bytemuck::cast_slice(&kernel), "kernel");
        let ring = ctx.storage_buffer(u64::from(shape.ring_len) * d as u64 * 4, "ring");
        let step = StepBuffer::new(&ctx);
        // Sequence 0 gated (LFM2), 1 through SiLU (Qwen3.5), 2 gated again over the same ring.
        for sequence in 0..3 {
            let gated = sequence != 1;
            let [b, c, x] = [0, 1, 2].map(|_| as_act(&k, &rng.values(n * d)));
            let want = short_conv_ref(taps, gated.then_some((&b[..], &c[..])), &x, &kernel);
            let other = as_act(&k, &rng.values(n * d));
            // (first position, tokens, whether the step runs other inputs and is dropped)
            let plan = [(0, 5, false), (5, 1, false), (6, 1, false), (7, 4, false), (11, 1, true), (9, 5, false)];
            let plan = if sequence != 2 { &plan[..] } else { &[(0, 3, false), (3, 11, false)][..] };
            for &(pos0, t, dropped) in plan {
                let rows = |v: &[f32]| {
                    let r = if dropped { &other[..] } else { v };
                    ctx.upload(&k.act_bytes(&r[pos0 * d..(pos0 + t) * d]), "rows")
                };
                let (bb, cb, xb) = (rows(&b), rows(&c), rows(&x));
                let yb = k.act_buffer(&ctx, (t * d) as u64, "y");
                let gates = gated.then_some([&bb, &cb]);
                let bufs = ConvBuffers { gates, x: &xb, kernel: &kb, ring: &ring, y: &yb };
                step.write(&ctx, Step { pos0: pos0 as u32, n_tokens: t as u32, counter: 0, _pad: 0 });
                run(&ctx, &[k.short_conv(&ctx, &shape, &bufs, &step).unwrap()]);
                if dropped {
                    continue;
                }
                let what = format!("short_conv sequence {sequence} positions {pos0}..{} {}", pos0 + t, name(&k));
                let want = &want[pos0 * d..(pos0 + t) * d];
                assert_close(&what, &read_act(&ctx, &k, &yb, t * d), want, |_, v| elem_tol(&k, v) + 1e-5);
            }
        }
    }
}

/// The gated delta rule with its output norm over prefill steps and decode steps, token by
/// token and in chunks (steps longer than a chunk, a chunk's remainder), its state carried in
/// snapshots by position: a step run ahead on other inputs and dropped, and a conversation
/// resumed at an earlier snapshot, both leave the sequence's outputs those of the whole
/// sequence run at once on the CPU (from llama.cpp's kernel); a second sequence from position 0
/// starts from a zero state.
#[test]
fn delta_net_by_chunks_steps_and_snapshots() {
    use hearth::kernels::{DeltaNetBuffers, DeltaNetInputs, DeltaNetShape, DeltaNetWalk, chunk_tokens, delta_net_ref};
    let ctx = context();
    let mut rng = Rng::new(13);
    let n = 44usize;
    // 72 dims: some invocations own two value dims; two value heads per key head.
    let shape = DeltaNetShape { n_k_heads: 2, n_v_heads: 4, dim: 72, slots: 2, eps: 1e-6 };
    assert_eq!(chunk_tokens(shape.dim), 16, "the plans below cross chunks of 16");
    // (first position, tokens, whether the step runs other inputs and is dropped)
    let plans: [&[(usize, usize, bool)]; 2] = [
        &[(0, 5, false), (5, 1, false), (6, 1, false), (7, 1, true), (7, 2, false), (9, 3, false), (12, 32, false)],
        &[(0, 20, false), (20, 7, false), (20, 7, false), (27, 1, false), (28, 1, true), (28, 16, false)],
    ];
    for mut k in variants(&ctx) {
        let (hv, dim) = (shape.n_v_heads as usize, shape.dim as usize);
        let channels = (2 * shape.n_k_heads as usize + hv) * dim;
        let state = ctx.storage_buffer(shape.state_bytes(), "state");
        let vec_buf = |v: &[f32]| ctx.upload(bytemuck::cast_slice(v), "vector");
        let (dt, a, norm) =
            (rng.values(hv), rng.values(hv).iter().map(|v| -v.abs()).collect::<Vec<_>>(), rng.values(dim));
        let (dtb, ab, normb) = (vec_buf(&dt), vec_buf(&a), vec_buf(&norm));
        let step = StepBuffer::new(&ctx);
        for walk in [DeltaNetWalk::TokenByToken, DeltaNetWalk::Chunked] {
            for (sequence, plan) in plans.iter().enumerate() {
                let qkv = as_act(&k, &rng.values(n * channels));
                let z = as_act(&k, &rng.values(n * hv * dim));
                let [beta, alpha] = [0, 1].map(|_| as_act(&k, &rng.values(n * hv)));
                let inputs =
                    DeltaNetInputs { qkv: &qkv, z: &z, beta: &beta, alpha: &alpha, dt_bias: &dt, a: &a, norm: &norm };
                let want = delta_net_ref(&shape, &inputs);
                let other = as_act(&k, &rng.values(n * channels));
                for &(pos0, t, dropped) in plan.iter() {
                    let rows = |v: &[f32], w: usize| {
                        let v = if dropped && w == channels { &other[..] } else { v };
                        ctx.upload(&k.act_bytes(&v[pos0 * w..(pos0 + t) * w]), "rows")
                    };
                    let (qb, zb, bb, alb) =
                        (rows(&qkv, channels), rows(&z, hv * dim), rows(&beta, hv), rows(&alpha, hv));
                    let yb = k.act_buffer(&ctx, (t * hv * dim) as u64, "y");
                    let bufs = DeltaNetBuffers {
                        qkv: &qb,
                        z: &zb,
                        beta: &bb,
                        alpha: &alb,
                        dt_bias: &dtb,
                        a: &ab,
                        norm: &normb,
                        state: &state,
                        y: &yb,
                    };
                    step.write(&ctx, Step { pos0: pos0 as u32, n_tokens: t as u32, counter: 0, _pad: 0 });
                    run(&ctx, &[k.delta_net(&ctx, &shape, &bufs, &step, walk).unwrap()]);
                    if dropped {
                        continue;
                    }
                    let what =
                        format!("delta_net {walk:?} sequence {sequence} positions {pos0}..{} {}", pos0 + t, name(&k));
                    let want = &want[pos0 * hv * dim..(pos0 + t) * hv * dim];
                    assert_close(&what, &read_act(&ctx, &k, &yb, t * hv * dim), want, |_, v| elem_tol(&k, v) + 1e-5);
                }
            }
        }
    }
}
