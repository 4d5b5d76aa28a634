//! cargo-fuzz target: see `sluice::fuzzing::frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::frames(data));
