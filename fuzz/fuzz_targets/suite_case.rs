//! Fuzz target `suite_case`: see [`reel_fuzz::suite_case`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::suite_case(data));
