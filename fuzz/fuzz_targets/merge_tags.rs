//! `merge_tags`: see [`tessera_fuzz::merge_tags`] for what it runs and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::merge_tags(data));
