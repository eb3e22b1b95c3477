//! Fuzz target `redis_command`: see [`reel_fuzz::redis_command`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::redis_command(data));
