//! `jpeg_join`: see [`tessera_fuzz::jpeg_join`] for what it runs and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::jpeg_join(data));
