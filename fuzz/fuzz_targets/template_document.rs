//! `template_document`: see [`tessera_fuzz::template_document`] for what it runs and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::template_document(data));
