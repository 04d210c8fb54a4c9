//! The native GPU context (lavapipe in CI). A missing adapter fails: never a silent skip.
#![cfg(not(target_arch = "wasm32"))]

use hearth::gpu::GpuContext;

#[test]
fn adapter_opens_with_real_limits_and_features() {
    let ctx = pollster::block_on(GpuContext::new()).expect("a GPU adapter (lavapipe: apt install mesa-vulkan-drivers)");
    let r = ctx.report();
    eprintln!("{r:?}");
    // The device got the adapter's limits and features, not WebGPU's defaults (8 storage
    // buffers, 128 MiB bindings, no features): read back from the device itself, and used.
    let (adapter, device) = (ctx.adapter.limits(), ctx.device.limits());
    assert_eq!(device.max_storage_buffer_binding_size, adapter.max_storage_buffer_binding_size);
    assert_eq!(device.max_buffer_size, adapter.max_buffer_size);
    assert_eq!(device.max_storage_buffers_per_shader_stage, adapter.max_storage_buffers_per_shader_stage);
    assert_eq!(device.max_compute_workgroup_storage_size, adapter.max_compute_workgroup_storage_size);
    let wanted = ctx.adapter.features() & (wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP);
    assert_eq!(ctx.device.features() & wanted, wanted, "the device has every optional feature hearth uses");
    assert_eq!(r.max_storage_binding, device.max_storage_buffer_binding_size);
    assert_eq!(r.shader_f16, ctx.device.features().contains(wgpu::Features::SHADER_F16));
    assert_eq!(r.subgroups, ctx.device.features().contains(wgpu::Features::SUBGROUP));
    if r.name.starts_with("llvmpipe") {
        // ../shared/BROWSER.md: lavapipe has both optional features and 128 MiB bindings.
        assert!(r.shader_f16 && r.subgroups, "{r:?}");
        assert_eq!(r.max_storage_binding, 128 << 20);
    }
}
