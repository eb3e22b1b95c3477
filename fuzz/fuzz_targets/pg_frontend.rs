//! Fuzz target `pg_frontend`: see [`reel_fuzz::pg_frontend`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::pg_frontend(data));
