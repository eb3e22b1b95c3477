//! Fuzz target `suite_mocks`: see [`reel_fuzz::suite_mocks`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::suite_mocks(data));
