//! Fuzz target `pg_backend`: see [`reel_fuzz::pg_backend`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::pg_backend(data));
