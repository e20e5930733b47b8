//! `sealed_token`: see [`tessera_fuzz::sealed_token`] for what it runs and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::sealed_token(data));
