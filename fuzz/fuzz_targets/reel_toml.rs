//! Fuzz target `reel_toml`: see [`reel_fuzz::reel_toml`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::reel_toml(data));
