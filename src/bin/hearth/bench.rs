//! `hearth bench kernels`: matvec bandwidth and matmul throughput per weight type, next to a
//! copy kernel's bandwidth measured on the same adapter in the same run (the roofline).

use std::time::{Duration, Instant};

use hearth::gguf::GgmlType;
use hearth::gpu::{Dispatch, GpuContext, GpuWeight, Recorder};
use hearth::kernels::{Kernels, Store, WEIGHT_TYPES, shaders};
use hearth::quant;

/// Arguments of `hearth bench`: `hearth bench kernels`, or `hearth bench -m FILE`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    what: Option<What>,
    /// The GGUF file to benchmark (prefill, decode, bandwidth, memory).
    #[arg(short = 'm', long = "model")]
    model: Option<std::path::PathBuf>,
    /// Context length.
    #[arg(long, default_value_t = 512)]
    pub ctx: u32,
    /// Use f32 activations even where shader-f16 is available.
    #[arg(long)]
    pub f32: bool,
    /// Prompt tokens to prefill.
    #[arg(long, default_value_t = 64)]
    pub prompt_tokens: usize,
    /// Tokens to decode.
    #[arg(long, default_value_t = 16)]
    pub gen_tokens: usize,
    /// Also time each kernel of the decode step (-m only)
    #[arg(long)]
    pub profile: bool,
    /// Wait for each token before submitting the next step (to measure what running ahead gains).
    #[arg(long)]
    pub no_run_ahead: bool,
}

#[derive(clap::Subcommand)]
enum What {
    /// Time every matvec/matmul type against the copy roofline.
    Kernels {
        /// Timed repetitions (matvecs: rounds that time every type once, in turn); medians reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Use f32 activations even where shader-f16 is available.
        #[arg(long)]
        f32: bool,
        /// Matvec shapes as ROWSxCOLS (default: 1536x576, 2048x2048, 4096x4096).
        #[arg(long, value_delimiter = ',')]
        shapes: Vec<String>,
        /// Only these weight types, e.g. Q4_K,Q8_0 (default: every type the kernels read).
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
    },
}

/// Runs the benchmark.
pub fn run(args: &Args) -> Result<(), String> {
    match (&args.what, &args.model) {
        (Some(What::Kernels { runs, f32, shapes, types }), _) => kernels(*runs, *f32, shapes, types),
        (None, Some(model)) => crate::bench_model::run(model, args),
        (None, None) => Err("say what to benchmark: `hearth bench kernels` or `hearth bench -m FILE.gguf`".into()),
    }
}

/// Measures the copy roofline: GB/s of a 64 MiB buffer copy (read + write), median of `runs`.
pub fn copy_roofline(ctx: &GpuContext, k: &mut Kernels, runs: usize) -> Result<f64, String> {
    let copy_bytes: u64 = 64 << 20;
    let copy = copy_dispatch(ctx, k, copy_bytes)?;
    let t = median_time(ctx, std::slice::from_ref(&copy), runs);
    Ok(2.0 * copy_bytes as f64 / t.as_secs_f64() / 1e9)
}

fn kernels(runs: usize, f32: bool, shapes: &[String], types: &[String]) -> Result<(), String> {
    let types: Vec<GgmlType> = if types.is_empty() {
        WEIGHT_TYPES.to_vec()
    } else {
        types
            .iter()
            .map(|name| {
                WEIGHT_TYPES.into_iter().find(|t| t.to_string().eq_ignore_ascii_case(name)).ok_or_else(|| {
                    let known: Vec<String> = WEIGHT_TYPES.iter().map(|t| t.to_string()).collect();
                    format!("no kernel reads '{name}' weights (these do: {})", known.join(", "))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let (runs, f32) = (&runs, &f32);
    let ctx = pollster::block_on(GpuContext::new()).map_err(|e| e.to_string())?;
    let mut k = Kernels::new(&ctx);
    if *f32 {
        k.f16 = false;
    }
    let r = ctx.report();
    println!(
        "adapter: {} ({}, {}), f16 activations: {}, subgroups: {}",
        r.name, r.backend, r.device_type, k.f16, k.subgroups
    );
    let shapes: Vec<(u64, u64)> = if shapes.is_empty() {
        vec![(1536, 576), (2048, 2048), (4096, 4096)]
    } else {
        shapes.iter().map(|s| parse_shape(s)).collect::<Result<_, _>>()?
    };

    let roof = copy_roofline(&ctx, &mut k, *runs)?;
    println!("copy roofline: {roof:.2} GB/s (read + write of 64 MiB, median of {runs})\n");

    println!(
        "{:<8} {:<8} {:>11} {:>10} {:>10} {:>9} {:>8}",
        "kernel", "type", "shape", "ms", "GB/s", "roofline", "Q8_0/x"
    );
    for &(rows, cols) in &shapes {
        // K-quant rows are whole 256-element blocks: skip them where the shape has none.
        let mut timed = Vec::new();
        for &ty in types.iter().filter(|t| cols % u64::from(t.block_size()) == 0) {
            let w = random_weight(&ctx, ty, rows, cols)?;
            let x = k.act_buffer(&ctx, cols, "x");
            let y = k.act_buffer(&ctx, rows, "y");
            let d = k.matvec(&ctx, &w, &x, &y, Store::Act).map_err(|e| e.to_string())?;
            let bytes = ty.row_bytes(cols).unwrap_or(0) * rows;
            timed.push((ty, d, bytes));
        }
        let lists: Vec<&[Dispatch]> = timed.iter().map(|(_, d, _)| d.as_slice()).collect();
        let rounds = interleaved_times(&ctx, &lists, *runs);
        // A dispatch the device refused runs as nothing and would time as nothing.
        ctx.failure().map_err(|e| e.to_string())?;
        let q8 = timed.iter().position(|(ty, _, _)| *ty == GgmlType::Q8_0);
        for (i, (ty, _, bytes)) in timed.iter().enumerate() {
            let t = median(rounds.iter().map(|round| round[i].as_secs_f64()).collect());
            let gbs = *bytes as f64 / t / 1e9;
            // Q8_0's fraction of the roofline over this type's, round by round: both ran
            // moments apart, so a drifting machine moves them together and the roofline cancels.
            let vs_q8 = q8.map(|j| {
                let q8_bytes = timed[j].2 as f64;
                let ratios =
                    rounds.iter().map(|r| q8_bytes * r[i].as_secs_f64() / (*bytes as f64 * r[j].as_secs_f64()));
                format!("{:.2}", median(ratios.collect()))
            });
            println!(
                "{:<8} {:<8} {:>11} {:>10.3} {gbs:>10.2} {:>8.1}% {:>8}",
                "matvec",
                ty.to_string(),
                format!("{rows}x{cols}"),
                t * 1e3,
                100.0 * gbs / roof,
                vs_q8.unwrap_or_default()
            );
        }
    }
    let (rows, cols, n_tokens) = (1024u64, 1024u64, 64u32);
    println!("\n{:<8} {:<8} {:>15} {:>10} {:>10}", "kernel", "type", "shape", "ms", "GFLOP/s");
    for &ty in &types {
        let w = random_weight(&ctx, ty, rows, cols)?;
        let x = k.act_buffer(&ctx, cols * u64::from(n_tokens), "x");
        let y = k.act_buffer(&ctx, rows * u64::from(n_tokens), "y");
        let d = k.matmul(&ctx, &w, &x, &y, n_tokens, Store::Act).map_err(|e| e.to_string())?;
        let t = median_time(&ctx, &d, runs.min(&3).to_owned());
        let flops = 2.0 * (rows * cols) as f64 * f64::from(n_tokens);
        let shape = format!("{n_tokens}x{cols}x{rows}");
        println!(
            "{:<8} {:<8} {shape:>15} {:>10.3} {:>10.2}",
            "matmul",
            ty.to_string(),
            t.as_secs_f64() * 1e3,
            flops / t.as_secs_f64() / 1e9
        );
    }
    Ok(())
}

fn parse_shape(s: &str) -> Result<(u64, u64), String> {
    let (r, c) = s.split_once('x').ok_or_else(|| format!("shape '{s}' is not ROWSxCOLS"))?;
    let parse = |v: &str| v.parse::<u64>().map_err(|e| format!("shape '{s}': {e}"));
    let (r, c) = (parse(r)?, parse(c)?);
    if c % 32 != 0 {
        return Err(format!("shape '{s}': COLS must be a multiple of 32 (quant blocks)"));
    }
    Ok((r, c))
}

fn copy_dispatch(ctx: &GpuContext, k: &mut Kernels, bytes: u64) -> Result<Dispatch, String> {
    let src = ctx.storage_buffer(bytes, "copy_src");
    let dst = ctx.storage_buffer(bytes, "copy_dst");
    let pipeline = k.raw_pipeline(ctx, &shaders::COPY, &[("WG", 256)]).map_err(|e| e.to_string())?;
    let groups = hearth::kernels::grid((bytes / 16).div_ceil(256) as u32);
    Ok(Dispatch::new(ctx, pipeline, &[src.as_entire_binding(), dst.as_entire_binding()], groups))
}

/// Weights of pseudo-random values (timing does not depend on them).
fn random_weight(ctx: &GpuContext, ty: GgmlType, rows: u64, cols: u64) -> Result<GpuWeight, String> {
    let n = (rows * cols) as usize;
    let mut rng = hearth::rng::Rng::new(0x2545_F491_4F6C_DD1D);
    let mut next = || rng.next_u64();
    let bytes = match ty {
        // Formats without a quantizer here: random block bytes (scales may be anything: timing
        // does not depend on the values).
        GgmlType::Q2_K
        | GgmlType::Q3_K
        | GgmlType::Q4_K
        | GgmlType::Q5_K
        | GgmlType::Q6_K
        | GgmlType::IQ4_NL
        | GgmlType::IQ4_XS
        | GgmlType::IQ3_XXS
        | GgmlType::IQ3_S
        | GgmlType::IQ2_XXS
        | GgmlType::IQ2_XS
        | GgmlType::IQ2_S
        | GgmlType::IQ1_S
        | GgmlType::IQ1_M => {
            let row = ty.row_bytes(cols).ok_or("bad shape")? as usize;
            (0..row * rows as usize).map(|_| (next() >> 56) as u8).collect()
        }
        _ => {
            let x: Vec<f32> = (0..n).map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5).collect();
            quant::quantize(ty, &x).map_err(|e| e.to_string())?
        }
    };
    GpuWeight::upload(ctx, "bench", ty, rows, cols, &bytes).map_err(|e| e.to_string())
}

/// Wall times of `lists`, each timed once per round for `runs` rounds in turn (after one
/// warm-up each), so that every list sees the same moments of a noisy machine.
fn interleaved_times(ctx: &GpuContext, lists: &[&[Dispatch]], runs: usize) -> Vec<Vec<Duration>> {
    for d in lists {
        time_once(ctx, d);
    }
    (0..runs.max(1)).map(|_| lists.iter().map(|d| time_once(ctx, d)).collect()).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Wall time of recording, submitting and finishing `dispatches` once.
fn time_once(ctx: &GpuContext, dispatches: &[Dispatch]) -> Duration {
    let start = Instant::now();
    let mut r = Recorder::new(ctx);
    r.record(dispatches);
    r.submit(ctx);
    let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
    start.elapsed()
}

/// Median wall time of recording, submitting and finishing `dispatches` (after one warm-up).
fn median_time(ctx: &GpuContext, dispatches: &[Dispatch], runs: usize) -> Duration {
    let rounds = interleaved_times(ctx, &[dispatches], runs);
    Duration::from_secs_f64(median(rounds.iter().map(|round| round[0].as_secs_f64()).collect()))
}
