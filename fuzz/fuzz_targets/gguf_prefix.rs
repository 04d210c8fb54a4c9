//! Fuzz target: see `hearth_fuzz::gguf_prefix`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hearth_fuzz::gguf_prefix(data));
