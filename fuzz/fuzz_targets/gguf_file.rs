//! Fuzz target: see `hearth_fuzz::gguf_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hearth_fuzz::gguf_file(data));
