//! `source_probe`: see [`tessera_fuzz::source_probe`] for what it runs and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::source_probe(data));
