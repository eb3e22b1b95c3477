//! Flags that take a small language (`--dep`, `--max-body`, `--report`,
//! `--shard`) are parsed by clap before any command runs: a bad value exits 2
//! with a message naming the flag and the value, and nothing is recorded or
//! replayed.

use crate::support::*;

#[test]
fn bad_values_exit_2_naming_the_flag_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let store = store.to_str().unwrap();
    // No suite here: a command that got as far as loading one would say so.
    let suite = dir.path().join("no-suite");
    let suite = suite.to_str().unwrap();
    let record = [
        "record",
        "--upstream",
        "http://127.0.0.1:9",
        "--listen",
        "127.0.0.1:0",
        "--store",
        store,
    ];
    for (command, flag, value, says) in [
        (
            &record[..],
            "--dep",
            "pricing",
            "invalid value 'pricing' for '--dep <NAME=PROTO:LISTEN=TARGET>': expected NAME=PROTO:LISTEN=TARGET",
        ),
        (
            &record[..],
            "--dep",
            "q=amqp:127.0.0.1:0=127.0.0.1:9",
            "for '--dep <NAME=PROTO:LISTEN=TARGET>': protocol 'amqp' is not supported yet",
        ),
        (
            &record[..],
            "--max-body",
            "lots",
            "invalid value 'lots' for '--max-body <BYTES>': 'lots' is not a size",
        ),
        (
            &["test", suite][..],
            "--report",
            "junit=a.xml,pdf=b.pdf",
            "invalid value 'junit=a.xml,pdf=b.pdf' for '--report <KIND=FILE,...>': 'pdf=b.pdf': expected KIND=FILE",
        ),
        (
            &["test", suite][..],
            "--shard",
            "4/3",
            "invalid value '4/3' for '--shard <K/N>': '4/3' is not a shard",
        ),
    ] {
        let mut args = command.to_vec();
        args.extend([flag, value]);
        let out = reel(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !std::path::Path::new(store).exists(),
            "{args:?}: nothing is recorded"
        );
    }
}
