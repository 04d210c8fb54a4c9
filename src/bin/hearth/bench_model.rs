//! `hearth bench -m FILE`: load time, prefill and decode speed, weight bytes read per token,
//! achieved bandwidth as a fraction of the adapter's copy roofline, GPU memory allocated.

use std::path::Path;

use hearth::engine::{Cancel, Sampling};
use hearth::kernels::{Kernels, SamplerParams};

use crate::load::{ModelArgs, load};

/// Runs the model benchmark.
pub fn run(model: &Path, opts: &crate::bench::Args) -> Result<(), String> {
    let (ctx, f32, profile) = (opts.ctx, opts.f32, opts.profile);
    let (prompt_tokens, gen_tokens) = (opts.prompt_tokens, opts.gen_tokens);
    let args = ModelArgs { model: model.to_owned(), ctx, f32, tokenizer: None, chat_template: None, gpu_memory: None };
    let mut m = load(&args)?;
    m.engine.run_ahead = !opts.no_run_ahead;
    let load_ms = m.info().load.total_ms;
    // A prompt of ordinary text, repeated to the length asked for.
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(prompt_tokens);
    let mut ids = m.tokenizer().encode(&text, true, false).map_err(|e| e.to_string())?;
    ids.truncate(prompt_tokens.max(1));
    let e = &mut m.engine;
    e.set_sampler(&Sampling {
        params: SamplerParams { temperature: 0.0, ..Default::default() },
        ..Sampling::default()
    })
    .map_err(|e| e.to_string())?;
    let report = e.ctx.report();
    println!("adapter: {} ({}, {})", report.name, report.backend, report.device_type);
    println!("model: {} ({}), f16 activations: {}, context {}", model.display(), e.cfg.arch, e.f16(), e.n_ctx());
    println!("load: {load_ms:.0} ms");
    let t0 = hearth::clock::now_ms();
    pollster::block_on(e.prefill(&ids, &Cancel::new())).map_err(|e| e.to_string())?;
    let prefill_ms = hearth::clock::now_ms() - t0;
    let before = e.stats;
    let t1 = hearth::clock::now_ms();
    for _ in 0..gen_tokens {
        pollster::block_on(e.step()).map_err(|e| e.to_string())?;
    }
    let decode_ms = hearth::clock::now_ms() - t1;
    let after = e.stats;
    let prefill_tps = ids.len() as f64 / (prefill_ms / 1e3);
    let decode_tps = gen_tokens as f64 / (decode_ms / 1e3);

    // Per decoded token every matrix is read once; the embedding table gives one row (and is
    // read whole when it is also the LM head).
    let w = &e.weights;
    let matrices: u64 = w
        .layers
        .iter()
        .flat_map(|l| l.qkv.iter().chain(&l.ffn_in).chain([&l.wo, &l.down]))
        .map(|m| m.ty.row_bytes(u64::from(m.cols)).unwrap_or(0) * u64::from(m.rows))
        .sum();
    let head = w.lm_head();
    let head_bytes = head.ty.row_bytes(u64::from(head.cols)).unwrap_or(0) * u64::from(head.rows);
    let per_token = matrices + head_bytes;
    let gbs = per_token as f64 * decode_tps / 1e9;
    // Counted before the roofline measurement allocates its own 2 × 64 MiB.
    let allocated = e.ctx.allocated_bytes();
    let mut k = Kernels::new(&e.ctx);
    let roof = crate::bench::copy_roofline(&e.ctx, &mut k, 5)?;

    // Per-sequence state: KV caches and the recurrent layers' state.
    let kv: u64 = e.kv_cache_bytes() + e.recurrent_state_bytes();
    let budget = w.n_bytes + kv + (64 << 20);
    println!("prefill: {} tokens in {prefill_ms:.0} ms = {prefill_tps:.2} tok/s", ids.len());
    println!("decode: {gen_tokens} tokens in {decode_ms:.0} ms = {decode_tps:.3} tok/s");
    // Counted by the engine: what it submitted while decoding, and how often the CPU waited
    // with nothing queued behind (the GPU then idles until the next submit).
    let n = (after.decoded - before.decoded).max(1) as f64;
    let submits = (after.decode_submits - before.decode_submits) as f64;
    println!(
        "decode per token: {:.2} submits, {:.1} dispatches ({} per step: {:.1} per layer), {:.2} CPU waits with the GPU idle",
        submits / n,
        (after.decode_dispatches - before.decode_dispatches) as f64 / n,
        e.decode_dispatches(),
        e.layer_dispatches(),
        (after.decode_stalls - before.decode_stalls) as f64 / n,
    );
    let tensor_bytes = w.n_bytes;
    println!(
        "weight bytes read per token: {:.1} MiB (tensors on the GPU: {:.1} MiB)",
        per_token as f64 / 1048576.0,
        tensor_bytes as f64 / 1048576.0
    );
    println!("achieved: {gbs:.3} GB/s = {:.1}% of the copy roofline ({roof:.2} GB/s)", 100.0 * gbs / roof);
    println!(
        "GPU memory allocated: {:.1} MiB (weights {:.1} MiB + KV cache and recurrent state {:.1} MiB + {:.1} MiB other; budget weights + state + 64 MiB: {})",
        allocated as f64 / 1048576.0,
        w.n_bytes as f64 / 1048576.0,
        kv as f64 / 1048576.0,
        (allocated.saturating_sub(w.n_bytes + kv)) as f64 / 1048576.0,
        if allocated <= budget { "within" } else { "EXCEEDED" }
    );
    if profile {
        for (what, n_tokens) in [("decode step", 1), ("prefill chunk", ids.len() as u32)] {
            let p = pollster::block_on(e.profile_step(n_tokens, 5)).map_err(|e| e.to_string())?;
            let step = p.step_ms;
            println!(
                "{what} ({n_tokens} tokens, {} dispatches) {step:.1} ms; by kernel (its dispatches alone, medians of 5):",
                p.dispatches
            );
            for (label, n, ms) in p.kernels {
                println!("  {label:<24} {n:>4}x {ms:>9.2} ms  {:>5.1}%", 100.0 * ms / step);
            }
        }
    }
    Ok(())
}
