//! GPU helpers for the native kernel tests.
#![allow(dead_code)]

use hearth::gpu::{Dispatch, GpuContext, Recorder};
use hearth::kernels::Kernels;

/// The adapter's context; a missing adapter fails the test.
pub fn context() -> GpuContext {
    pollster::block_on(GpuContext::new()).expect("a GPU adapter (lavapipe: apt install mesa-vulkan-drivers)")
}

/// Every (f16, subgroups) variant the adapter can run; those it cannot are named on stderr
/// (never skipped silently). On lavapipe (CI) all four must exist.
pub fn variants(ctx: &GpuContext) -> Vec<Kernels> {
    if ctx.report().name.starts_with("llvmpipe") {
        assert!(ctx.has_f16() && ctx.has_subgroups(), "lavapipe should have shader-f16 and subgroups");
    }
    let (can, cannot): (Vec<_>, Vec<_>) = [(false, false), (false, true), (true, false), (true, true)]
        .into_iter()
        .partition(|&(f16, sg)| (!f16 || ctx.has_f16()) && (!sg || ctx.has_subgroups()));
    for (f16, sg) in cannot {
        let variant = format!("{}{}", if f16 { "f16" } else { "f32" }, if sg { "+subgroups" } else { "" });
        let missing = if f16 && !ctx.has_f16() { "shader-f16" } else { "subgroups" };
        eprintln!("{variant}: not run on {} (no {missing})", ctx.report().name);
    }
    can.into_iter().map(|(f16, sg)| Kernels::with_variant(ctx, f16, sg)).collect()
}

/// A name for a variant in failure messages.
pub fn name(k: &Kernels) -> String {
    format!("{}{}", if k.f16 { "f16" } else { "f32" }, if k.subgroups { "+subgroups" } else { "" })
}

/// Records and submits `dispatches` as one step.
pub fn run(ctx: &GpuContext, dispatches: &[Dispatch]) {
    let mut r = Recorder::new(ctx);
    r.record(dispatches);
    r.submit(ctx);
}

/// `n` activations of `buf`, as f32.
pub fn read_act(ctx: &GpuContext, k: &Kernels, buf: &wgpu::Buffer, n: usize) -> Vec<f32> {
    let bytes = pollster::block_on(ctx.read_back(buf, 0, n as u64 * k.act_size())).expect("read back");
    k.act_values(&bytes)
}

/// `n` f32 values of `buf` (the residual stream on every path).
pub fn read_f32(ctx: &GpuContext, buf: &wgpu::Buffer, n: usize) -> Vec<f32> {
    let bytes = pollster::block_on(ctx.read_back(buf, 0, n as u64 * 4)).expect("read back");
    bytemuck::pod_collect_to_vec(&bytes)
}

/// Rounds values as the variant's activation storage does (f16 or not at all).
pub fn as_act(k: &Kernels, v: &[f32]) -> Vec<f32> {
    k.act_values(&k.act_bytes(v))
}
