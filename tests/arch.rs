//! Every architecture family against llama.cpp, on random-weight files in each family's real
//! layout (tests/arch/make_fixtures.py, written by `./build.sh models` into models/arch/) with
//! llama.cpp's outputs on them (tests/arch/reference/, made by `./build.sh arch-references`):
//! the prompt's ids from the file's tokenizer, 16 greedy ids, and llama.cpp's top logits at
//! every step, teacher-forced. Random weights prove the architecture (which tensor goes where,
//! every operation and its order), not a model's quality.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::PathBuf;

use hearth::engine::{Cancel, Engine, EngineOptions};
use hearth::gguf::Gguf;
use hearth::gpu::GpuContext;
use hearth::kernels::SamplerParams;
use hearth::source::{ReadSource, Reader};
use hearth::tokenizer::Tokenizer;

/// One greedy step of llama.cpp: its pick and its best logits.
struct OracleStep {
    id: u32,
    margin: f32,
    top: Vec<(u32, f32)>,
}

/// One reference case: a prompt at a context length.
struct ArchCase {
    prompt: String,
    n_ctx: u32,
    prompt_ids: Vec<u32>,
    greedy_ids: Vec<u32>,
    steps: Vec<OracleStep>,
}

fn reference_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/arch/reference")
}

/// The cases of tests/arch/reference/NAME.json.
fn cases(name: &str) -> Vec<ArchCase> {
    let path = reference_dir().join(format!("{name}.json"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    let ids = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| ArchCase {
            prompt: c["prompt"].as_str().unwrap().to_owned(),
            n_ctx: c["n_ctx"].as_u64().unwrap() as u32,
            prompt_ids: ids(&c["prompt_ids"]),
            greedy_ids: ids(&c["greedy_ids"]),
            steps: c["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| OracleStep {
                    id: s["id"].as_u64().unwrap() as u32,
                    margin: s["margin"].as_f64().unwrap() as f32,
                    top: s["top"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_f64().unwrap() as f32))
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

/// A fixture file; a missing one fails the test (CI must never skip silently).
fn fixture(name: &str) -> PathBuf {
    common::model(&format!("arch/{name}.gguf"))
}

fn engine(name: &str, n_ctx: u32) -> Engine {
    let mut reader = Reader::new(ReadSource::open(&fixture(name)).unwrap());
    let g = pollster::block_on(reader.read_header()).unwrap();
    let ctx = pollster::block_on(GpuContext::new()).expect("GPU adapter");
    let opts = EngineOptions {
        n_ctx,
        max_chunk: 64,
        f16: false,
        sampler: SamplerParams { temperature: 0.0, ..Default::default() },
    };
    pollster::block_on(Engine::load(ctx, &g, &mut reader, &opts, &mut |_, _, _| {}))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn tokenizer(name: &str) -> Tokenizer {
    let path = fixture(name);
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Checks fixture `name` against llama.cpp: its tokenizer gives llama.cpp's prompt ids (BOS as
/// llama.cpp adds it), the teacher-forced logits at llama.cpp's best ids are within `tol` of
/// llama.cpp's (f32 activations), and 16 free-running greedy ids are llama.cpp's. Returns the
/// largest logit difference seen.
fn check(name: &str, tol: f32) -> f32 {
    let t = tokenizer(name);
    let mut worst = 0.0f32;
    for c in cases(name) {
        let what = format!("{name} (n_ctx {})", c.n_ctx);
        assert_eq!(t.encode(&c.prompt, true, false).unwrap(), c.prompt_ids, "{what}: prompt ids");
        let mut e = engine(name, c.n_ctx);
        planned_is_allocated(&e, &what, "after the load");
        // Teacher-forced: step s is the distribution after prompt + greedy[..s].
        let mut ids = c.prompt_ids.clone();
        ids.extend_from_slice(&c.greedy_ids[..c.greedy_ids.len() - 1]);
        let logits = pollster::block_on(e.eval_logits(&ids)).unwrap();
        let v = e.cfg.n_vocab as usize;
        let first = c.prompt_ids.len() - 1;
        for (s, step) in c.steps.iter().enumerate() {
            let got = &logits[(first + s) * v..(first + s + 1) * v];
            for &(id, want) in &step.top {
                let g = got[id as usize];
                let d = if g.is_finite() { (g - want).abs() } else { f32::INFINITY };
                assert!(d <= tol, "{what} step {s}: logit of {id}: got {g}, llama.cpp {want} (|d| {d} > {tol})");
                worst = worst.max(d);
            }
            let argmax = (0..v).fold(0, |b, j| if got[j] > got[b] { j } else { b }) as u32;
            assert_eq!(argmax, step.id, "{what} step {s}: argmax (llama.cpp's margin {})", step.margin);
        }
        // Free-running greedy.
        let (mut tok, _) = pollster::block_on(e.prefill(&c.prompt_ids, &Cancel::new())).unwrap();
        let mut out = vec![tok];
        while out.len() < c.greedy_ids.len() {
            tok = pollster::block_on(e.step()).unwrap();
            out.push(tok);
        }
        assert_eq!(out, c.greedy_ids, "{what}: greedy ids differ from llama.cpp's");
        planned_is_allocated(&e, &what, "after evaluation and generation");
        eprintln!("{what}: {} greedy ids equal llama.cpp's; teacher-forced max |d| {worst:.2e}", out.len());
    }
    worst
}

/// The GPU memory the engine holds is its plan's, to the byte: weights (pages, biases, norms),
/// KV caches and the rest.
fn planned_is_allocated(e: &Engine, what: &str, when: &str) {
    let plan = e.memory_plan();
    assert_eq!(e.weight_gpu_bytes(), plan.weights, "{what}: weights {when}");
    assert_eq!(e.kv_cache_bytes(), plan.kv_cache, "{what}: KV caches {when}");
    assert_eq!(e.recurrent_state_bytes(), plan.recurrent_state, "{what}: recurrent state {when}");
    assert_eq!(e.ctx.allocated_bytes(), plan.total, "{what}: GPU memory {when}");
}

// Tolerances: twice the largest difference measured between hearth's f32 logits and
// llama.cpp's on each file (lavapipe). On F32 files that difference is summation order, and for
// the GELU families llama.cpp's f16 table of GELU; on Q8_0 files, llama.cpp's rounding of
// activations to 8 bits before its quantized dot products (hearth multiplies in f32).

#[test]
fn llama3_with_rope_freqs_matches_llama_cpp() {
    check("llama3-tied-f32", 5.6e-5); // measured 2.8e-5
    check("llama3-q8_0", 0.2); // measured 0.096
}

#[test]
fn qwen2_without_biases_matches_llama_cpp() {
    check("qwen2-nobias-tied-f32", 9.6e-5); // measured 4.8e-5
    check("qwen2-nobias-q8_0", 0.21); // measured 0.102
}

#[test]
fn qwen2_with_biases_and_qwen3_match_llama_cpp() {
    check("qwen2.5-biases-q8_0", 0.22); // measured 0.107
    check("qwen3-tied-f32", 3.1e-5); // measured 1.5e-5
}

/// Phi-4-mini's layout at a context within its original one (the short longrope factors) and
/// past it (the long ones), and Phi-3-mini's.
#[test]
fn phi3_matches_llama_cpp() {
    check("phi4-mini-longrope-tied-f32", 6.5e-5); // measured 3.2e-5
    check("phi3-mini-q8_0", 0.27); // measured 0.133
}

#[test]
fn gpt2_matches_llama_cpp() {
    check("gpt2-tied-f32", 7e-3); // measured 3.5e-3
    check("gpt2-q8_0", 0.17); // measured 0.083
}

#[test]
fn falcon_matches_llama_cpp() {
    check("falcon-7b-tied-f32", 6.6e-3); // measured 3.3e-3
    check("falcon-40b-q8_0", 0.14); // measured 0.069
}

#[test]
fn bloom_matches_llama_cpp() {
    check("bloom-tied-f32", 1.6e-2); // measured 8.0e-3
    check("bloom-q8_0", 0.2); // measured 0.096
}

/// Every family's decode layer is as fused as llama's: 6 dispatches (7 where decode attention
/// splits over the keys and adds its combine, as on GPUs), biases, LayerNorms, a plain FFN's
/// activation and Falcon's parallel block included (Qwen3.5's attention: one more, its queries
/// and output gates in a weight of their own); an LFM2 conv layer
/// 5 (its input projection, the convolution, its output projection, the FFN's two); a Qwen3.5
/// delta net 7 (its input projections in two stacks, the convolution, the delta rule with its
/// norm, its output projection, the FFN's two); a Gemma 4 layer 12 (6, two post-norms, and 4
/// for its per-layer input).
#[test]
fn every_family_decodes_in_6_dispatches_per_layer() {
    use hearth::kernels::Kernels;
    use hearth::model::{Head, LayerKind, ModelConfig, State, Tokens, forward, layer_dispatches, load_weights};
    let ctx = pollster::block_on(GpuContext::new()).expect("GPU adapter");
    let mut names: Vec<String> = std::fs::read_dir(reference_dir())
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 14, "{names:?}");
    for name in names {
        let mut reader = Reader::new(ReadSource::open(&fixture(&name)).unwrap());
        let g = pollster::block_on(reader.read_header()).unwrap();
        let cfg = ModelConfig::from_gguf(&g).unwrap();
        let w = pollster::block_on(load_weights(&ctx, &g, &cfg, &mut reader, &mut |_, _| {})).unwrap();
        // 1024 positions: more than one split of keys (256 each) with the GPU shapes, except
        // where learned positions cap the context (gpt2-tied-f32: 256, one split).
        let n_ctx = cfg.max_context().min(1024);
        let splits = n_ctx > 256;
        let n_layer = f64::from(cfg.n_layer);
        for (cpu_shapes, split) in [(true, false), (false, splits)] {
            // A sliding-window layer's ring (window + 7 slots here) is one split.
            let attn = |l: u32| {
                let ring = cfg.is_local_layer(l) && cfg.sliding_window + 7 <= 256;
                if split && !ring { 7.0 } else { 6.0 }
            };
            // Qwen3.5's gated queries are a weight of their own beside K and V. Gemma 4: the
            // post-norms of attention and the FFN, and the per-layer input (its gate of x, the
            // gate times the layer's inputs, the projection, its post-norm).
            let gated = f64::from(u8::from(cfg.family.attn_output_gate));
            let post_norms = 2.0 * f64::from(u8::from(cfg.family.post_norms));
            let per_layer_input = if cfg.per_layer_dim > 0 { 4.0 } else { 0.0 };
            let per_kind = |(l, k): (usize, &LayerKind)| match k {
                LayerKind::Attention => attn(l as u32) + gated + post_norms + per_layer_input,
                LayerKind::ShortConv => 5.0,
                LayerKind::DeltaNet => 7.0,
            };
            let want = cfg.layer_kinds.iter().enumerate().map(per_kind).sum::<f64>() / n_layer;
            let mut k = Kernels::with_variant(&ctx, false, true);
            k.cpu_shapes = cpu_shapes;
            let s = State::new(&ctx, &k, &cfg, &w, n_ctx, 8);
            let list = forward(&ctx, &mut k, &cfg, &w, &s, 1, Tokens::Sampled, Head::Last).unwrap();
            let per_layer = layer_dispatches(list.len(), &w, &cfg);
            assert_eq!(per_layer, want, "{name} cpu_shapes={cpu_shapes}");
        }
    }
}

/// `n` greedy ids after `ids` (the engine reuses what it has cached of them).
fn greedy_after(e: &mut Engine, ids: &[u32], n: usize) -> Vec<u32> {
    let (mut tok, _) = pollster::block_on(e.prefill(ids, &Cancel::new())).unwrap();
    let mut out = vec![tok];
    while out.len() < n {
        tok = pollster::block_on(e.step()).unwrap();
        out.push(tok);
    }
    out
}

/// A conversation continued on one engine gives the ids of a fresh engine run on the whole
/// of it: a second turn after the cached first (reply and a new message appended), a reply
/// regenerated from a few tokens back, and one regenerated after a reply longer than a prefill
/// chunk (further back than a layer's ring keeps: the engine runs it all again).
fn turns_equal_fresh_runs(name: &str) {
    let c = &cases(name)[0];
    let mut e = engine(name, c.n_ctx);
    let fresh = |ids: &[u32], n| greedy_after(&mut engine(name, c.n_ctx), ids, n);
    let reply = greedy_after(&mut e, &c.prompt_ids, 8);
    let mut conversation = [&c.prompt_ids[..], &reply, &c.prompt_ids[1..]].concat();
    let second = greedy_after(&mut e, &conversation, 8);
    assert_eq!(second, fresh(&conversation, 8), "{name}: the second turn");
    conversation.extend_from_slice(&second[..5]);
    let regenerated = greedy_after(&mut e, &conversation[..conversation.len() - 3], 6);
    assert_eq!(regenerated, fresh(&conversation[..conversation.len() - 3], 6), "{name}: 3 tokens back");
    let long = greedy_after(&mut e, &c.prompt_ids, 80);
    assert_eq!(&long[..8], &reply[..], "{name}: the first reply again");
    assert_eq!(greedy_after(&mut e, &c.prompt_ids, 8), reply, "{name}: 80 tokens back");
    planned_is_allocated(&e, name, "after the turns");
    eprintln!("{name}: turns, cut backs and a regenerated reply equal fresh runs");
}

/// LFM2: conv layers and attention layers in one stack, F32 with a tied head and Q8_0 with an
/// untied one; its turns over the conv layers' rings.
#[test]
fn lfm2_matches_llama_cpp() {
    check("lfm2-tied-f32", 2.3e-5); // measured 1.1e-5
    check("lfm2-q8_0", 0.29); // measured 0.144
    turns_equal_fresh_runs("lfm2-tied-f32");
}

/// Qwen3.5: gated delta nets and gated attention in one stack, F32 with a tied head and Q8_0
/// (F32 alpha and beta) with an untied one; its turns over the delta nets' snapshots.
#[test]
fn qwen35_matches_llama_cpp() {
    check("qwen35-tied-f32", 2.5e-5); // measured 1.24e-5
    check("qwen35-q8_0", 0.31); // measured 0.155
    turns_equal_fresh_runs("qwen35-tied-f32");
}

/// Gemma 4: sliding-window and global layers of their own head sizes, the last layers reading
/// earlier layers' KV caches, per-layer token embeddings, soft-capped logits; F32 with a tied
/// head (E2B's double-wide FFNs in the shared layers) and Q8_0 with an untied one.
#[test]
fn gemma4_matches_llama_cpp() {
    check("gemma4-e2b-tied-f32", 1.25e-2); // measured 6.16e-3
    check("gemma4-q8_0", 0.15); // measured 7.44e-2
    turns_equal_fresh_runs("gemma4-e2b-tied-f32");
}
