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
