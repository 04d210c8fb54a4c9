//! The wasm-bindgen surface used by `www/`. JavaScript sees plain JSON strings and `Error`s
//! whose message is one readable sentence; errors become `JsError` here and nowhere else.

use wasm_bindgen::prelude::*;

use crate::gguf::{Gguf, GgufError, Summary};
use crate::gpu::GpuContext;

/// Installs the panic hook so a bug shows as a console error instead of "unreachable".
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// Opens the GPU and describes the adapter, its limits and features, as JSON.
#[wasm_bindgen(js_name = adapterInfo)]
pub async fn adapter_info() -> Result<String, JsError> {
    let ctx = GpuContext::new().await.map_err(|e| JsError::new(&e.to_string()))?;
    serde_json::to_string(&ctx.report()).map_err(|e| JsError::new(&e.to_string()))
}

/// Parses a GGUF header from the first bytes of a file of `file_size` bytes.
///
/// Returns JSON: `{"need_more": N}` while the header is incomplete (read at least N more
/// bytes and call again), else `{"summary": {...}}`. A broken file throws an `Error`.
#[wasm_bindgen(js_name = inspectGguf)]
pub fn inspect_gguf(prefix: &[u8], file_size: f64) -> Result<String, JsError> {
    let value = match Gguf::parse(prefix, file_size as u64) {
        Ok(g) => serde_json::json!({ "summary": Summary::new(&g) }),
        Err(GgufError::NeedMore { needed }) => serde_json::json!({ "need_more": needed }),
        Err(e) => return Err(JsError::new(&e.to_string())),
    };
    Ok(value.to_string())
}
