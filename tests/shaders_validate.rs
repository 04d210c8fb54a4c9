//! Every pipeline a real load builds goes through naga's WGSL parser and validator: the keys
//! (shader, defines, overrides) recorded while the forward passes of every fixture are built
//! (decode, prefill and teacher-forced evaluation, the sampler) in each precision, with and
//! without subgroups and in both kernel shapes (CPU adapters' and GPUs'), so that a variant
//! only a real GPU takes is validated here too, whatever the adapter.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeSet;

use hearth::gpu::{GpuContext, PipelineCache, PipelineKey};
use hearth::kernels::{Kernels, SamplerParams, shaders};
use hearth::model::{Head, ModelConfig, State, Tokens, forward, load_weights, sampler};
use hearth::source::{ReadSource, Reader};
use wgpu::naga;

fn validate(name: &str, wgsl: &str) {
    let module = naga::front::wgsl::parse_str(wgsl).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(wgsl)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(wgsl)));
}

/// The fixture files: the real models (llama.cpp's requantized ones too) and every
/// architecture fixture.
fn fixtures() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = common::SMOLLM2
        .iter()
        .chain(&common::LLAMA_QUANTIZE)
        .chain([&common::GEMMA])
        .map(|f| common::model(f))
        .collect();
    let arch = common::models_dir().join("arch");
    let mut more: Vec<_> = std::fs::read_dir(&arch)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    more.sort();
    files.extend(more);
    files
}

/// Kernels in every variant: each precision, with and without subgroups, in both kernel shapes.
/// One set serves every fixture, so that each pipeline compiles once (lavapipe takes ~0.1 s a
/// pipeline) however many files use it.
fn variants(ctx: &GpuContext) -> Vec<Kernels> {
    let mut all = Vec::new();
    for f16 in [false, true].into_iter().filter(|&f| !f || ctx.has_f16()) {
        for subgroups in [false, true].into_iter().filter(|&s| !s || ctx.has_subgroups()) {
            for cpu_shapes in [true, false] {
                let mut k = Kernels::with_variant(ctx, f16, subgroups);
                k.cpu_shapes = cpu_shapes;
                if !cpu_shapes {
                    // A GPU's matvec shape (the adapter's own is the other one here).
                    (k.matvec_rows, k.matvec_wg) = (4, 64);
                }
                all.push(k);
            }
        }
    }
    all
}

/// Builds the forward passes of `file` (decode, prefill, teacher-forced evaluation and the
/// sampler) in every variant of `kernels`.
fn build_all(ctx: &GpuContext, file: &std::path::Path, kernels: &mut [Kernels]) {
    let mut reader = Reader::new(ReadSource::open(file).unwrap());
    let g = pollster::block_on(reader.read_header()).unwrap();
    let cfg = ModelConfig::from_gguf(&g).unwrap();
    let w = pollster::block_on(load_weights(ctx, &g, &cfg, &mut reader, &mut |_, _| {})).unwrap();
    let n_ctx = cfg.max_context().min(1024);
    for k in kernels {
        k.recycle_uniforms();
        let s = State::new(ctx, k, &cfg, &w, n_ctx, 8);
        let all = k.act_buffer(ctx, 8 * u64::from(cfg.n_vocab), "all");
        for (t, tokens, head) in
            [(1, Tokens::Sampled, Head::Last), (8, Tokens::Prompt, Head::Last), (8, Tokens::Prompt, Head::All(&all))]
        {
            forward(ctx, k, &cfg, &w, &s, t, tokens, head).unwrap();
        }
        for (masked, logprobs) in [(false, None), (true, Some(5))] {
            sampler(ctx, k, &cfg, &s, &SamplerParams::default(), masked, logprobs).unwrap();
            let greedy = SamplerParams { temperature: 0.0, ..Default::default() };
            sampler(ctx, k, &cfg, &s, &greedy, masked, logprobs).unwrap();
        }
    }
}

#[test]
fn every_pipeline_a_real_load_builds_validates() {
    let ctx = common::gpu::context();
    let files = fixtures();
    assert!(files.len() >= 22, "{} fixtures", files.len());
    let mut kernels = variants(&ctx);
    // Two halves of the variants on two threads (their keys differ, so no pipeline is built
    // twice): lavapipe builds a pipeline on the calling thread, and one thread left a 2-core
    // machine's other core idle for ~85 s.
    let half = kernels.len() / 2;
    let (a, b) = kernels.split_at_mut(half);
    std::thread::scope(|scope| {
        for half in [a, b] {
            let (ctx, files) = (&ctx, &files);
            scope.spawn(move || files.iter().for_each(|file| build_all(ctx, file, half)));
        }
    });
    let keys: BTreeSet<PipelineKey> = kernels.iter().flat_map(|k| k.pipeline_keys()).collect();
    let cache = PipelineCache::new(shaders::includes());
    for key in &keys {
        let shader = shaders::ALL.iter().find(|s| s.name == key.shader).expect("a listed shader");
        let wgsl = cache.source(shader, &key.defines).unwrap();
        validate(&format!("{} {:?} {:?}", key.shader, key.defines, key.overrides), &wgsl);
    }
    let shaders: BTreeSet<&str> = keys.iter().map(|k| k.shader).collect();
    println!("{} pipelines of {} shaders from {} fixtures validated", keys.len(), shaders.len(), files.len());
    // Every kernel family a model runs (copy is the benchmark's).
    for s in shaders::ALL.iter().filter(|s| s.name != "copy") {
        assert!(shaders.contains(s.name), "no load built {}", s.name);
    }
}
