//! Fuzz target `mysql_conversation`: see [`reel_fuzz::mysql_conversation`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::mysql_conversation(data));
