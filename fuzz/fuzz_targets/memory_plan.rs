//! Fuzz target: see `hearth_fuzz::memory_plan`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hearth_fuzz::memory_plan(data));
