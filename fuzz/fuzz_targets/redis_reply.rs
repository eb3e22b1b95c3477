//! Fuzz target `redis_reply`: see [`reel_fuzz::redis_reply`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::redis_reply(data));
