//! Fuzz target `mysql_packet`: see [`reel_fuzz::mysql_packet`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::mysql_packet(data));
