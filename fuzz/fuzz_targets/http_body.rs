//! Fuzz target `http_body`: see [`reel_fuzz::http_body`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::http_body(data));
