//! Every kernel against its CPU reference, in every variant (f32/f16 activations × subgroup
//! or workgroup reductions), on seeded random data with outliers, at shapes that are not
//! multiples of the workgroup size. Natively on whatever adapter is present (lavapipe in CI).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gpu::{as_act, context, name, read_act, run, variants};
use common::{Rng, assert_close};
use hearth::gguf::{GgmlType, Gguf};
use hearth::gpu::{GpuContext, GpuWeight};
use hearth::kernels::{Kernels, WEIGHT_TYPES, matmul_ref, matvec_ref};
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
    let t = g
        .tensor(tensor)
        .unwrap_or_else(|| panic!("{tensor} not in {file}"));
    let cols = t.row_len() as usize;
    let row_bytes = t.ty.row_bytes(cols as u64).unwrap() as usize;
    let mut bytes = vec![0u8; rows * row_bytes];
    f.seek(SeekFrom::Start(
        g.tensor_range(t).start + (first_row * row_bytes) as u64,
    ))
    .unwrap();
    f.read_exact(&mut bytes).unwrap();
    let values = quant::dequantize_to_vec(t.ty, &bytes, rows * cols).unwrap();
    TestWeight {
        ty: t.ty,
        rows,
        cols,
        bytes,
        values,
    }
}

/// A weight of type `ty`: K-quants from Gemma's tensors, the rest quantized from random data.
fn test_weight(ty: GgmlType, rows: usize, cols_hint: usize, rng: &mut Rng) -> TestWeight {
    match ty {
        GgmlType::Q4_K => fixture_rows(common::GEMMA, "blk.0.attn_output.weight", 5, rows),
        GgmlType::Q6_K => fixture_rows(common::GEMMA, "blk.0.ffn_down.weight", 11, rows),
        _ => {
            let cols = cols_hint;
            let bytes = quant::quantize(ty, &rng.values(rows * cols)).unwrap();
            let values = quant::dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
            TestWeight {
                ty,
                rows,
                cols,
                bytes,
                values,
            }
        }
    }
}

fn upload(ctx: &GpuContext, w: &TestWeight) -> GpuWeight {
    GpuWeight::upload(ctx, "w", w.ty, w.rows as u64, w.cols as u64, &w.bytes).unwrap()
}

/// Tolerance of a dot product of length n: relative to the sum of |w x| terms (the scale of
/// rounding error), looser when activations are f16 (the output is rounded to f16).
fn dot_tol(k: &Kernels, scale: f32, want: f32) -> f32 {
    if k.f16 {
        2e-3 * want.abs() + 1e-4 * scale
    } else {
        2e-5 * scale + 1e-6
    }
}

fn abs_dot_scale(w: &[f32], x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let aw: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    matvec_ref(&aw, &ax, rows, cols)
}

#[test]
fn matvec_every_type_and_variant() {
    let ctx = context();
    let mut rng = Rng::new(1);
    for ty in WEIGHT_TYPES {
        let w = test_weight(ty, 37, 352, &mut rng);
        let gw = upload(&ctx, &w);
        for mut k in variants(&ctx) {
            for accumulate in [false, true] {
                let x = as_act(&k, &rng.values(w.cols));
                let y0 = as_act(&k, &rng.values(w.rows));
                let xb = ctx.upload(&k.act_bytes(&x), "x");
                let yb = ctx.upload(&k.act_bytes(&y0), "y");
                run(&ctx, &k.matvec(&ctx, &gw, &xb, &yb, accumulate).unwrap());
                let got = read_act(&ctx, &k, &yb, w.rows);
                let mut want = matvec_ref(&w.values, &x, w.rows, w.cols);
                if accumulate {
                    want.iter_mut().zip(&y0).for_each(|(a, b)| *a += b);
                }
                let scale = abs_dot_scale(&w.values, &x, w.rows, w.cols);
                let what = format!("matvec {ty} {} accumulate={accumulate}", name(&k));
                assert_close(&what, &got, &want, |i, v| {
                    dot_tol(&k, scale[i] + y0[i].abs(), v)
                });
            }
        }
    }
}

#[test]
fn matmul_every_type_and_variant() {
    let ctx = context();
    let mut rng = Rng::new(2);
    for ty in WEIGHT_TYPES {
        let w = test_weight(ty, 21, 96, &mut rng);
        let gw = upload(&ctx, &w);
        for mut k in variants(&ctx).into_iter().filter(|k| !k.subgroups) {
            let n_tokens = 11; // not a multiple of the 8 tokens per invocation
            let x = as_act(&k, &rng.values(n_tokens * w.cols));
            let xb = ctx.upload(&k.act_bytes(&x), "x");
            let yb = k.act_buffer(&ctx, (n_tokens * w.rows) as u64, "y");
            run(
                &ctx,
                &k.matmul(&ctx, &gw, &xb, &yb, n_tokens as u32, false)
                    .unwrap(),
            );
            let got = read_act(&ctx, &k, &yb, n_tokens * w.rows);
            let want = matmul_ref(&w.values, &x, w.rows, w.cols, n_tokens);
            let ax: Vec<f32> = x.iter().map(|v| v.abs()).collect();
            let aw: Vec<f32> = w.values.iter().map(|v| v.abs()).collect();
            let scale = matmul_ref(&aw, &ax, w.rows, w.cols, n_tokens);
            assert_close(&format!("matmul {ty} {}", name(&k)), &got, &want, |i, v| {
                dot_tol(&k, scale[i], v)
            });
        }
    }
}
