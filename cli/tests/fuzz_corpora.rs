//! Replays every file of every fuzz corpus (`fuzz/corpus/<target>/`) through
//! the fuzz targets' own code, on the stable toolchain: CI catches a
//! regression on any input the fuzzer once found interesting, with no nightly
//! and no libFuzzer. The targets' code is `fuzz/src/lib.rs`, included here as
//! it is.

#[allow(dead_code)]
#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::path::Path;

#[test]
fn every_corpus_file_runs_clean_through_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0;
    for (name, target) in harness::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: an empty corpus", dir.display());
        for file in files {
            let data = match std::fs::read(&file) {
                Ok(data) => data,
                // A fuzzer running on the corpus replaces files as it
                // shrinks them.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => panic!("{}: {e}", file.display()),
            };
            // A panic names the file, so it can be run under `cargo fuzz run`.
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panicked", file.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0);
}
