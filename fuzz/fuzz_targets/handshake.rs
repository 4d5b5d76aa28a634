//! cargo-fuzz target: see `sluice::fuzzing::handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sluice::fuzzing::handshake(data));
