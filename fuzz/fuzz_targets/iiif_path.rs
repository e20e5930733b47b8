//! `iiif_path`: see [`tessera_fuzz::iiif_path`] for what it runs and checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tessera_fuzz::iiif_path(data));
