//! Browser tests: wasm-bindgen-test in headless Chromium (WebGPU on SwiftShader).
//! Run with `./build.sh test`, or `cargo test --target wasm32-unknown-unknown --test web`.
#![cfg(target_arch = "wasm32")]

use hearth::gguf::{GgmlType, Gguf, GgufBuilder, GgufError, Value};
use hearth::gpu::GpuContext;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A missing adapter is a failure, never a skip: the page is useless without one.
#[wasm_bindgen_test]
async fn webgpu_adapter_opens_with_its_real_limits() {
    let ctx = GpuContext::new().await.expect("WebGPU adapter (is --enable-unsafe-webgpu set?)");
    let r = ctx.report();
    assert_eq!(r.backend, "BrowserWebGpu");
    // SwiftShader grants 1 GiB bindings; the WebGPU default would be 128 MiB.
    assert!(r.max_storage_binding > 128 << 20, "{r:?}");
}

#[wasm_bindgen_test]
fn gguf_parses_from_a_growing_prefix_in_the_browser() {
    let file = GgufBuilder::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("llama.block_count", Value::U32(2))
        .tensor("w", &[32, 3], GgmlType::Q8_0, vec![1; 102])
        .build();
    let size = file.len() as u64;
    let mut n = 0;
    let g = loop {
        match Gguf::parse(&file[..n], size) {
            Ok(g) => break g,
            Err(GgufError::NeedMore { needed }) => n += needed as usize,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(g.get_u32("llama.block_count").unwrap(), 2);
    assert_eq!(g.tensor("w").unwrap().n_bytes, 102);
    let mut bad = file.clone();
    bad[4] = 9;
    assert_eq!(Gguf::parse(&bad, size).unwrap_err(), GgufError::UnsupportedVersion(9));
}

#[wasm_bindgen_test]
fn inspect_gguf_reports_need_more_then_a_summary() {
    let file = GgufBuilder::new().kv("general.architecture", Value::String("gemma3".into())).build();
    let r = hearth::web::inspect_gguf(&file[..10], file.len() as f64).unwrap();
    assert!(r.starts_with("{\"need_more\":"), "{r}");
    let r = hearth::web::inspect_gguf(&file, file.len() as f64).unwrap();
    assert!(r.contains("\"architecture\":\"gemma3\""), "{r}");
}

// ---------------------------------------------------------------------------------------------
// Kernels in the browser (f32 path: SwiftShader has no shader-f16), against the CPU references.
// ---------------------------------------------------------------------------------------------

use hearth::gpu::{GpuWeight, Recorder};
use hearth::kernels::{
    AttnShape, DecodeScratch, GluKind, Kernels, MatvecX, Norm, NormKind, QkNorm, QkvBuffers, RopeLayout, RopeTable,
    Step, StepBuffer, attention_ref, embed_ref, glu_ref, matvec_ref, norm_ref, rms_norm_ref, rope_freqs,
    rope_scaled_ref,
};
use hearth::quant;

/// Seeded test values with occasional outliers (the crate's one generator).
fn values(seed: u64, n: usize) -> Vec<f32> {
    hearth::rng::Rng::new(seed).values(n)
}

async fn read_f32(ctx: &GpuContext, buf: &wgpu::Buffer, n: usize) -> Vec<f32> {
    let bytes = ctx.read_back(buf, 0, 4 * n as u64).await.unwrap();
    bytemuck::cast_slice(&bytes).to_vec()
}

fn run(ctx: &GpuContext, d: &[hearth::gpu::Dispatch]) {
    let mut r = Recorder::new(ctx);
    r.record(d);
    r.submit(ctx);
}

/// A dot product's f32 rounding is relative to the sum of its |w x| terms: the same bound as
/// the native kernel tests (tests/kernels.rs `dot_tol`).
fn check_dot(what: &str, got: &[f32], want: &[f32], w: &[f32], x: &[f32], cols: usize) {
    assert_eq!(got.len(), want.len());
    for (i, (g, v)) in got.iter().zip(want).enumerate() {
        let scale: f32 = w[i * cols..(i + 1) * cols].iter().zip(x).map(|(a, b)| (a * b).abs()).sum();
        let tol = 2e-5 * scale + 1e-6;
        assert!((g - v).abs() <= tol, "{what}: row {i}: got {g}, want {v} (|d| {} > {tol})", (g - v).abs());
    }
}

fn check(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol * (1.0 + w.abs()), "{what}: index {i}: got {g}, want {w}");
    }
}

/// Q4_K or Q5_K blocks of random bytes with small finite scales (any such bytes are a valid
/// block).
fn random_k_scale_min(ty: GgmlType, seed: u64, n_blocks: usize) -> Vec<u8> {
    let size = ty.type_size() as usize;
    let mut b: Vec<u8> = values(seed, n_blocks * size).iter().map(|v| (v.to_bits() >> 7) as u8).collect();
    for blk in b.chunks_exact_mut(size) {
        blk[..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
        blk[2..4].copy_from_slice(&half::f16::from_f32(0.02).to_le_bytes());
    }
    b
}

/// I-quant blocks of random bytes with a small finite d (IQ1_M's split over its scales).
fn random_iq(ty: GgmlType, seed: u64, n_blocks: usize) -> Vec<u8> {
    let size = ty.type_size() as usize;
    let mut b: Vec<u8> = values(seed, n_blocks * size).iter().map(|v| (v.to_bits() >> 7) as u8).collect();
    let d = half::f16::from_f32(0.001);
    for blk in b.chunks_exact_mut(size) {
        if ty == GgmlType::IQ1_M {
            for k in 0..4 {
                let sc = u16::from_le_bytes([blk[48 + 2 * k], blk[49 + 2 * k]]) & 0x0FFF;
                let sc = sc | ((d.to_bits() >> (4 * k)) & 0xF) << 12;
                blk[48 + 2 * k..50 + 2 * k].copy_from_slice(&sc.to_le_bytes());
            }
        } else {
            blk[..2].copy_from_slice(&d.to_le_bytes());
        }
    }
    b
}

/// Q2_K or Q3_K blocks of random bytes with small finite d (and Q2_K's dmin).
fn random_k_quarter(ty: GgmlType, seed: u64, n_blocks: usize) -> Vec<u8> {
    let size = ty.type_size() as usize;
    let mut b: Vec<u8> = values(seed, n_blocks * size).iter().map(|v| (v.to_bits() >> 7) as u8).collect();
    for blk in b.chunks_exact_mut(size) {
        let at = if ty == GgmlType::Q2_K { [80, 82] } else { [108, 108] };
        blk[at[0]..at[0] + 2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
        blk[at[1]..at[1] + 2].copy_from_slice(&half::f16::from_f32(0.001).to_le_bytes());
    }
    b
}

/// Q6_K blocks of random bytes (quants and int8 scales) with a small finite d.
fn random_q6_k(seed: u64, n_blocks: usize) -> Vec<u8> {
    let mut b: Vec<u8> = values(seed, n_blocks * 210).iter().map(|v| (v.to_bits() >> 7) as u8).collect();
    for blk in b.chunks_exact_mut(210) {
        blk[208..].copy_from_slice(&half::f16::from_f32(0.001).to_le_bytes());
    }
    b
}

/// Every format's matvec (four chunks per step as whole vectors; the K formats eight) compiled
/// by the browser's own WGSL compiler, against the CPU reference.
#[wasm_bindgen_test]
async fn matvec_every_format_in_the_browser() {
    let ctx = GpuContext::new().await.unwrap();
    // The f32 path on any adapter (these checks read f32 activations).
    let mut k = Kernels::with_variant(&ctx, false, false);
    let (rows, cols) = (37usize, 512usize);
    for ty in hearth::kernels::WEIGHT_TYPES {
        let bytes = match ty {
            GgmlType::Q4_K | GgmlType::Q5_K => random_k_scale_min(ty, 1, rows * cols / 256),
            _ if ty.to_string().starts_with("IQ") => random_iq(ty, 1, rows * cols / ty.block_size() as usize),
            GgmlType::Q6_K => random_q6_k(1, rows * cols / 256),
            GgmlType::Q2_K | GgmlType::Q3_K => random_k_quarter(ty, 1, rows * cols / 256),
            _ => quant::quantize(ty, &values(2, rows * cols)).unwrap(),
        };
        let w = quant::dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
        let gw = GpuWeight::upload(&ctx, "w", ty, rows as u64, cols as u64, &bytes).unwrap();
        let x = values(3, cols);
        let xb = ctx.upload(bytemuck::cast_slice(&x), "x");
        let yb = k.act_buffer(&ctx, rows as u64, "y");
        run(&ctx, &k.matvec(&ctx, &gw, &xb, &yb, hearth::kernels::Store::Act).unwrap());
        let got = read_f32(&ctx, &yb, rows).await;
        check_dot(&format!("matvec {ty}"), &got, &matvec_ref(&w, &x, rows, cols), &w, &x, cols);
    }

    // Three tensors stacked by rows (q, k, v) times norm(x) folded in (RMSNorm, and LayerNorm
    // with its bias), plus the projection's bias: one dispatch, each tensor's rows into its own
    // buffer.
    let parts = [12usize, 6, 6];
    let bytes: Vec<Vec<u8>> = parts
        .iter()
        .zip(4..)
        .map(|(&r, seed)| quant::quantize(GgmlType::Q8_0, &values(seed, r * cols)).unwrap())
        .collect();
    let spec = [("q", 12u64), ("k", 6), ("v", 6)];
    let mut gw = GpuWeight::allocate_stacked(&ctx, &spec, GgmlType::Q8_0, cols as u64).unwrap();
    let mut scales = Vec::new();
    for (p, b) in gw.parts.iter().zip(&bytes) {
        gw.write_rows(&ctx, p.first_row, &mut b.clone(), &mut scales).unwrap();
    }
    let bias = values(13, 24);
    gw.bias = Some(ctx.upload(bytemuck::cast_slice(&bias), "bias"));
    let x: Vec<f32> = values(7, 2 * cols).iter().map(|v| v + 5.0).collect();
    for kind in [NormKind::Rms, NormKind::Layer] {
        let norm = values(8, kind.weight_len(cols as u32) as usize);
        let (xb, nb) = (ctx.upload(bytemuck::cast_slice(&x), "x"), ctx.upload(bytemuck::cast_slice(&norm), "norm"));
        let ys: Vec<wgpu::Buffer> = parts.iter().map(|&r| k.act_buffer(&ctx, r as u64, "y")).collect();
        let y_refs: Vec<&wgpu::Buffer> = ys.iter().collect();
        let xn = MatvecX::Normed { x: &xb, row: 1, norm: Norm { weights: &nb, kind, eps: 1e-6 } };
        run(&ctx, &k.matvec_into(&ctx, &gw, xn, &y_refs, hearth::kernels::Store::Act).unwrap());
        let h = norm_ref(kind, &x[cols..], &norm, cols, 1e-6);
        let mut first = 0;
        for ((&r, b), y) in parts.iter().zip(&bytes).zip(&ys) {
            let w = quant::dequantize_to_vec(GgmlType::Q8_0, b, r * cols).unwrap();
            let mut want = matvec_ref(&w, &h, r, cols);
            want.iter_mut().zip(&bias[first..]).for_each(|(a, b)| *a += b);
            first += r;
            let what = format!("stacked matvec with {kind:?} folded in and a bias");
            check_dot(&what, &read_f32(&ctx, y, r).await, &want, &w, &h, cols);
        }
    }

    // A plain FFN's activation folded into the down projection (GELU of the gate alone).
    let ty = GgmlType::Q8_0;
    let bytes = quant::quantize(ty, &values(14, rows * cols)).unwrap();
    let w = quant::dequantize_to_vec(ty, &bytes, rows * cols).unwrap();
    let gw = GpuWeight::upload(&ctx, "w", ty, rows as u64, cols as u64, &bytes).unwrap();
    let gate = values(15, cols);
    let gb = ctx.upload(bytemuck::cast_slice(&gate), "gate");
    let yb = k.act_buffer(&ctx, rows as u64, "y");
    run(&ctx, &k.matvec_glu(&ctx, &gw, GluKind::Gelu, &gb, None, &yb, hearth::kernels::Store::Act).unwrap());
    let x = glu_ref(GluKind::Gelu, &gate, None);
    let want = matvec_ref(&w, &x, rows, cols);
    check_dot("matvec of GELU(gate)", &read_f32(&ctx, &yb, rows).await, &want, &w, &x, cols);
}

/// The elementwise activation of a plain FFN and learned position embeddings added to the
/// token embeddings (GPT-2), under Tint.
#[wasm_bindgen_test]
async fn plain_ffn_and_positions_in_the_browser() {
    let ctx = GpuContext::new().await.unwrap();
    let mut k = Kernels::with_variant(&ctx, false, false);
    let gate = values(16, 300);
    let (gb, ob) = (ctx.upload(bytemuck::cast_slice(&gate), "gate"), k.act_buffer(&ctx, 300, "out"));
    run(&ctx, &[k.glu(&ctx, GluKind::Gelu, &gb, None, Some(&ob), 300).unwrap()]);
    check("gelu", &read_f32(&ctx, &ob, 300).await, &glu_ref(GluKind::Gelu, &gate, None), 1e-5);

    let (rows, cols) = (20usize, 64usize);
    let table = values(17, rows * cols);
    let bytes: Vec<u8> = bytemuck::cast_slice(&table).to_vec();
    let gw = GpuWeight::upload(&ctx, "pos", GgmlType::F32, rows as u64, cols as u64, &bytes).unwrap();
    let x0 = values(18, 3 * cols);
    let xb = ctx.upload(bytemuck::cast_slice(&x0), "x");
    let step = StepBuffer::new(&ctx);
    step.write(&ctx, Step { pos0: 11, n_tokens: 3, ..Default::default() });
    run(&ctx, &k.embed_positions(&ctx, &gw, &step, &xb, 4).unwrap());
    let pos = embed_ref(&table, cols, &[11, 12, 13], 1.0);
    let want: Vec<f32> = x0.iter().zip(&pos).map(|(a, b)| a + b).collect();
    check("positions", &read_f32(&ctx, &xb, 3 * cols).await, &want, 1e-6);
}

/// The short convolution under Tint, gated (LFM2) and through SiLU (Qwen3.5): a prefill chunk,
/// then decode steps carried by its ring, against the whole sequence convolved at once.
#[wasm_bindgen_test]
async fn short_conv_in_the_browser() {
    use hearth::kernels::{ConvBuffers, ConvShape, short_conv_ref};
    let ctx = GpuContext::new().await.unwrap();
    let mut k = Kernels::with_variant(&ctx, false, false);
    let (d, taps, n) = (70usize, 3usize, 7usize);
    let shape = ConvShape { d: d as u32, taps: taps as u32, ring_len: 5 };
    let kernel = values(40, d * taps);
    let [b, c, x] = [41, 42, 43].map(|seed| values(seed, n * d));
    for gated in [true, false] {
        let want = short_conv_ref(taps, gated.then_some((&b[..], &c[..])), &x, &kernel);
        let kb = ctx.upload(bytemuck::cast_slice(&kernel), "kernel");
        let ring = ctx.storage_buffer(5 * d as u64 * 4, "ring");
        let step = StepBuffer::new(&ctx);
        for (pos0, t) in [(0usize, 4usize), (4, 1), (5, 1), (6, 1)] {
            let rows = |v: &[f32]| ctx.upload(bytemuck::cast_slice(&v[pos0 * d..(pos0 + t) * d]), "rows");
            let (bb, cb, xb, yb) = (rows(&b), rows(&c), rows(&x), k.act_buffer(&ctx, (t * d) as u64, "y"));
            let bufs = ConvBuffers { gates: gated.then_some([&bb, &cb]), x: &xb, kernel: &kb, ring: &ring, y: &yb };
            step.write(&ctx, Step { pos0: pos0 as u32, n_tokens: t as u32, ..Default::default() });
            run(&ctx, &[k.short_conv(&ctx, &shape, &bufs, &step).unwrap()]);
            let got = read_f32(&ctx, &yb, t * d).await;
            let what = format!("short_conv gated {gated} {pos0}..{}", pos0 + t);
            check(&what, &got, &want[pos0 * d..(pos0 + t) * d], 1e-5);
        }
    }
}

/// Qwen3.5's gated delta rule under Tint, token by token and in chunks: a prefill step of two
/// chunks, then decode steps carried by the state's snapshots, against the whole sequence run
/// at once on the CPU.
#[wasm_bindgen_test]
async fn delta_net_in_the_browser() {
    use hearth::kernels::{DeltaNetBuffers, DeltaNetInputs, DeltaNetShape, DeltaNetWalk, delta_net_ref};
    let ctx = GpuContext::new().await.unwrap();
    let mut k = Kernels::with_variant(&ctx, false, false);
    let shape = DeltaNetShape { n_k_heads: 1, n_v_heads: 2, dim: 80, slots: 2, eps: 1e-6 };
    let (hv, dim, n) = (2usize, 80usize, 21usize);
    let channels = (2 + hv) * dim; // q, k of the one key head, v of each value head
    let (qkv, z, beta, alpha) =
        (values(50, n * channels), values(51, n * hv * dim), values(52, n * hv), values(53, n * hv));
    let (dt, norm) = (values(54, hv), values(55, dim));
    let a: Vec<f32> = values(56, hv).iter().map(|v| -v.abs()).collect();
    let inputs = DeltaNetInputs { qkv: &qkv, z: &z, beta: &beta, alpha: &alpha, dt_bias: &dt, a: &a, norm: &norm };
    let want = delta_net_ref(&shape, &inputs);
    let up = |v: &[f32]| ctx.upload(bytemuck::cast_slice(v), "vector");
    let (dtb, ab, normb) = (up(&dt), up(&a), up(&norm));
    let state = ctx.storage_buffer(shape.state_bytes(), "state");
    let step = StepBuffer::new(&ctx);
    // 16 tokens a chunk at 80 dims: the first step is two chunks.
    let plan = [(0usize, 18usize), (18, 1), (19, 1), (20, 1)];
    for (walk, (pos0, t)) in
        [DeltaNetWalk::TokenByToken, DeltaNetWalk::Chunked].into_iter().flat_map(|w| plan.map(|p| (w, p)))
    {
        let rows = |v: &[f32], w: usize| up(&v[pos0 * w..(pos0 + t) * w]);
        let (qb, zb, bb, alb) = (rows(&qkv, channels), rows(&z, hv * dim), rows(&beta, hv), rows(&alpha, hv));
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
        step.write(&ctx, Step { pos0: pos0 as u32, n_tokens: t as u32, ..Default::default() });
        run(&ctx, &[k.delta_net(&ctx, &shape, &bufs, &step, walk).unwrap()]);
        let got = read_f32(&ctx, &yb, t * hv * dim).await;
        check(
            &format!("delta_net {walk:?} {pos0}..{}", pos0 + t),
            &got,
            &want[pos0 * hv * dim..(pos0 + t) * hv * dim],
            1e-5,
        );
    }
}

#[wasm_bindgen_test]
async fn rms_norm_and_rope_kv_in_the_browser() {
    let ctx = GpuContext::new().await.unwrap();
    let mut k = Kernels::with_variant(&ctx, false, false);
    let (rows, n) = (3usize, 200usize);
    let x = values(4, rows * n);
    let w = values(5, n);
    let (xb, wb) = (ctx.upload(bytemuck::cast_slice(&x), "x"), ctx.upload(bytemuck::cast_slice(&w), "w"));
    let yb = k.act_buffer(&ctx, (rows * n) as u64, "y");
    run(&ctx, &[k.rms_norm(&ctx, &xb, false, &wb, Some(&yb), rows as u32, n as u32, 1e-6).unwrap()]);
    check("rms_norm", &read_f32(&ctx, &yb, rows * n).await, &rms_norm_ref(&x, &w, n, 1e-6), 1e-5);
    // LayerNorm with its bias, in place on the f32 residual stream (BLOOM's embedding norm).
    let wb2 = values(19, 2 * n);
    let norm = Norm { weights: &ctx.upload(bytemuck::cast_slice(&wb2), "w"), kind: NormKind::Layer, eps: 1e-5 };
    let xl = ctx.upload(bytemuck::cast_slice(&x), "x");
    run(&ctx, &[k.norm(&ctx, norm, &xl, true, None, rows as u32, n as u32).unwrap()]);
    let want = norm_ref(NormKind::Layer, &x, &wb2, n, 1e-5);
    check("layer_norm in place", &read_f32(&ctx, &xl, rows * n).await, &want, 1e-5);

    // rope_kv: q rotated in place, rotated k and v appended at the positions' cache slots.
    let (n_heads, n_kv, head_dim, cache_len) = (3usize, 1usize, 64usize, 16usize);
    let q = values(6, 2 * n_heads * head_dim);
    let (kk, v) = (values(9, 2 * n_kv * head_dim), values(10, 2 * n_kv * head_dim));
    let shape = AttnShape {
        n_head: n_heads as u32,
        n_kv: n_kv as u32,
        head_dim: head_dim as u32,
        cache_len: cache_len as u32,
        window: 0,
        scale: 1.0,
        alibi: 0.0,
    };
    let (qn, kn) = (values(11, head_dim), values(12, head_dim));
    let (qnb, knb) = (ctx.upload(bytemuck::cast_slice(&qn), "qn"), ctx.upload(bytemuck::cast_slice(&kn), "kn"));
    // (layout, per-head norms, rotated dims, table scale): partial rotation with longrope's
    // scaled table among them.
    // Gemma 4's: v heads normed as well, and queries alone (a layer reading another's cache).
    let cases = [
        (RopeLayout::Normal, false, 64, 1.0, false, false),
        (RopeLayout::Neox, false, 64, 1.0, false, false),
        (RopeLayout::Neox, true, 64, 1.0, false, false),
        (RopeLayout::Neox, false, 48, 1.19, false, false),
        (RopeLayout::Neox, true, 64, 1.0, true, false),
        (RopeLayout::Neox, true, 48, 1.0, true, true),
    ];
    for (layout, qk_norm, rot, mscale, v_norm, q_only) in cases {
        let freqs = rope_freqs(10000.0, rot, 1.0, Some(&[1.0, 2.0, 4.0]));
        let table = RopeTable::new(&ctx, &freqs, 32, mscale);
        let step = StepBuffer::new(&ctx);
        step.write(&ctx, Step { pos0: 9, n_tokens: 2, ..Default::default() });
        let up = |x: &[f32], label| ctx.upload(bytemuck::cast_slice(x), label);
        let (qb, kb, vb) = (up(&q, "q"), up(&kk, "k"), up(&v, "v"));
        let zeros = vec![0.0f32; cache_len * n_kv * head_dim];
        let (kc, vc) = (up(&zeros, "k_cache"), up(&zeros, "v_cache"));
        // With the per-head q and k norms (Gemma 3, Qwen3) applied first.
        let qk = qk_norm.then_some(QkNorm { q: &qnb, k: &knb, eps: 1e-6 });
        let bufs = QkvBuffers {
            q: &qb,
            k: &kb,
            v: &vb,
            k_cache: &kc,
            v_cache: &vc,
            qk_norm: qk,
            v_norm_eps: v_norm.then_some(1e-6),
            q_only,
        };
        run(&ctx, &[k.rope_kv(&ctx, &bufs, &table, &step, layout, &shape, 2).unwrap()]);
        let norm = |x: &[f32], w: &[f32]| if qk_norm { rms_norm_ref(x, w, head_dim, 1e-6) } else { x.to_vec() };
        let what =
            format!("rope_kv {layout:?} qk_norm {qk_norm} rot {rot} scale {mscale} v_norm {v_norm} q_only {q_only}");
        let want = rope_scaled_ref(&norm(&q, &qn), 9, &freqs, mscale, layout, n_heads, head_dim);
        check(&format!("{what} q"), &read_f32(&ctx, &qb, q.len()).await, &want, 1e-5);
        // Positions 9 and 10 are slots 9 and 10 of the 16.
        let (row, slots) = (n_kv * head_dim, 9 * n_kv * head_dim..11 * n_kv * head_dim);
        let want_k = rope_scaled_ref(&norm(&kk, &kn), 9, &freqs, mscale, layout, n_kv, head_dim);
        let want_v = if v_norm { rms_norm_ref(&v, &vec![1.0; head_dim], head_dim, 1e-6) } else { v.clone() };
        let (want_k, want_v) = if q_only { (vec![0.0; 2 * row], vec![0.0; 2 * row]) } else { (want_k, want_v) };
        check(&format!("{what} k"), &read_f32(&ctx, &kc, zeros.len()).await[slots.clone()], &want_k, 1e-5);
        check(&format!("{what} v"), &read_f32(&ctx, &vc, zeros.len()).await[slots], &want_v[..2 * row], 1e-5);
    }
}

/// Gemma 4's kernels under Tint: the per-layer inputs, the cast of the residual stream, the
/// per-layer gate times its layer's slice of the inputs, the post-norm add times the layer's
/// scalar, and the logits' soft-capping.
#[wasm_bindgen_test]
async fn gemma4_kernels_in_the_browser() {
    use hearth::kernels::{GluKind, PerLayerShape, UpRows, glu_ref, per_layer_inputs_ref, softcap_ref};
    let ctx = GpuContext::new().await.unwrap();
    let mut k = Kernels::with_variant(&ctx, false, false);
    let up = |x: &[f32], label| ctx.upload(bytemuck::cast_slice(x), label);
    let shape = PerLayerShape { n_layer: 3, dim: 40, d_model: 64, eps: 1e-6 };
    let (t, all) = (2usize, 120usize);
    let proj: Vec<f32> = values(31, t * all).iter().map(|v| v * 8.0).collect();
    let (rows, norm) = (values(32, t * all), values(33, 40));
    let (inputs, rb, nb) = (up(&proj, "inputs"), up(&rows, "rows"), up(&norm, "norm"));
    run(&ctx, &[k.per_layer_inputs(&ctx, &shape, &rb, &nb, &inputs, t as u32).unwrap()]);
    let want_inputs = per_layer_inputs_ref(&shape, &proj, &rows, &norm);
    check("per_layer_inputs", &read_f32(&ctx, &inputs, t * all).await, &want_inputs, 1e-5);

    let x = values(34, 64);
    let (xb, hb) = (up(&x, "x"), k.act_buffer(&ctx, 64, "h"));
    run(&ctx, &[k.to_act(&ctx, &xb, &hb, 64).unwrap()]);
    check("to_act", &read_f32(&ctx, &hb, 64).await, &x, 0.0);
    // The per-layer gate's matvec of x itself (f32, read as it is).
    let w = values(40, 24 * 64);
    let gw = GpuWeight::upload(&ctx, "gate", GgmlType::F32, 24, 64, bytemuck::cast_slice(&w)).unwrap();
    let yb = k.act_buffer(&ctx, 24, "y");
    run(&ctx, &k.matvec_into(&ctx, &gw, MatvecX::F32 { x: &xb, row: 0 }, &[&yb], hearth::kernels::Store::Act).unwrap());
    check_dot("matvec f32 x", &read_f32(&ctx, &yb, 24).await, &matvec_ref(&w, &x, 24, 64), &w, &x, 64);

    // Layer 1's gate over both tokens: inputs[t, 1] is at t · 120 + 40.
    let gate = values(35, t * 40);
    let gb = up(&gate, "gate");
    let rows_of = UpRows { width: 40, stride: 120, offset: 40 };
    run(&ctx, &[k.glu_strided(&ctx, GluKind::Gelu, &gb, &inputs, rows_of, (t * 40) as u32).unwrap()]);
    let picked: Vec<f32> = (0..t * 40).map(|i| want_inputs[(i / 40) * 120 + 40 + i % 40]).collect();
    check("glu strided", &read_f32(&ctx, &gb, t * 40).await, &glu_ref(GluKind::Gelu, &gate, Some(&picked)), 1e-5);

    let (o, w, y0) = (values(36, 64), values(37, 64), values(38, 64));
    let (ob, wb, yb, sb) = (up(&o, "o"), up(&w, "w"), up(&y0, "y"), up(&[0.5], "scale"));
    run(&ctx, &[k.rms_norm_add(&ctx, &ob, &wb, &yb, Some(&sb), 1, 64, 1e-6).unwrap()]);
    let want: Vec<f32> = rms_norm_ref(&o, &w, 64, 1e-6).iter().zip(&y0).map(|(a, y)| (a + y) * 0.5).collect();
    check("rms_norm_add_scaled", &read_f32(&ctx, &yb, 64).await, &want, 1e-5);

    let logits: Vec<f32> = values(39, 500).iter().map(|v| v * 80.0).collect();
    let lb = up(&logits, "logits");
    run(&ctx, &[k.softcap(&ctx, &lb, 500, 30.0).unwrap()]);
    check("softcap", &read_f32(&ctx, &lb, 500).await, &softcap_ref(&logits, 30.0), 1e-5);
}

/// Decode attention, plain and with BLOOM's ALiBi (6 heads: m0's and m1's slopes).
#[wasm_bindgen_test]
async fn decode_attention_in_the_browser() {
    // Gemma 4's global heads of 512 dimensions (WIDE_HEADS) among them.
    for (n_head, n_kv, hd, alibi) in [(4u32, 2u32, 64u32, 0.0), (6, 6, 64, 8.0), (2, 1, 512, 0.0)] {
        decode_attention(n_head, n_kv, hd, alibi).await;
    }
}

async fn decode_attention(n_head: u32, n_kv: u32, hd: u32, alibi: f32) {
    let ctx = GpuContext::new().await.unwrap();
    let mut k = Kernels::with_variant(&ctx, false, false);
    let shape = AttnShape { n_head, n_kv, head_dim: hd, cache_len: 32, window: 0, scale: 0.125, alibi };
    let (n_pos, nh, hd) = (19usize, n_head as usize, hd as usize);
    let width = n_kv as usize * hd;
    let (kv_k, kv_v) = (values(7, n_pos * width), values(8, n_pos * width));
    let mut cache_k = kv_k.clone();
    cache_k.resize(32 * width, 0.0);
    let mut cache_v = kv_v.clone();
    cache_v.resize(32 * width, 0.0);
    let kc = ctx.upload(bytemuck::cast_slice(&cache_k), "k_cache");
    let vc = ctx.upload(bytemuck::cast_slice(&cache_v), "v_cache");
    let q = values(9, nh * hd);
    let qb = ctx.upload(bytemuck::cast_slice(&q), "q");
    let out = k.act_buffer(&ctx, (nh * hd) as u64, "out");
    let step = StepBuffer::new(&ctx);
    step.write(&ctx, Step { pos0: (n_pos - 1) as u32, n_tokens: 1, ..Default::default() });
    let scratch = DecodeScratch::new(&ctx, &shape, 32, 8);
    run(&ctx, &k.attn_decode(&ctx, &shape, &qb, &kc, &vc, &out, &step, &scratch).unwrap());
    let want = attention_ref(&q, &kv_k, &kv_v, n_pos - 1, &shape);
    check(&format!("attn_decode head_dim {hd} alibi {alibi}"), &read_f32(&ctx, &out, nh * hd).await, &want, 1e-4);
}
