//! `signed_url`: see [`tessera_fuzz::signed_url`] for what it runs and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::signed_url(data));
