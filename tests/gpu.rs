//! The native GPU context (lavapipe in CI). A missing adapter fails: never a silent skip.
#![cfg(not(target_arch = "wasm32"))]

use hearth::gpu::GpuContext;

#[test]
fn adapter_opens_with_real_limits_and_features() {
    let ctx = pollster::block_on(GpuContext::new()).expect("a GPU adapter (lavapipe: apt install mesa-vulkan-drivers)");
    let r = ctx.report();
    eprintln!("{r:?}");
    // The device gets the adapter's limits, not WebGPU's defaults (8 storage buffers, 128 MiB).
    let adapter = ctx.adapter.limits();
    assert_eq!(r.max_storage_binding, adapter.max_storage_buffer_binding_size);
    assert_eq!(r.max_buffer_size, adapter.max_buffer_size);
    assert_eq!(r.shader_f16, ctx.adapter.features().contains(wgpu::Features::SHADER_F16));
    assert_eq!(r.subgroups, ctx.adapter.features().contains(wgpu::Features::SUBGROUP));
    if r.name.starts_with("llvmpipe") {
        // ../shared/BROWSER.md: lavapipe has both optional features and 128 MiB bindings.
        assert!(r.shader_f16 && r.subgroups, "{r:?}");
        assert_eq!(r.max_storage_binding, 128 << 20);
    }
}
