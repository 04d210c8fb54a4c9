//! Fuzz target: see `hearth_fuzz::tokenizer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hearth_fuzz::tokenizer(data));
