//! Fuzz target `import_traffic`: see [`reel_fuzz::import_traffic`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| reel_fuzz::import_traffic(data));
