//! cargo-fuzz target: see `sluice::fuzzing::inflate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::inflate(data));
