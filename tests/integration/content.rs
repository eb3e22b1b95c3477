//! Answers compared by what they mean: a real Python server
//! (fixtures/http/content_app.py) sends gzip, deflate, br and zstd answers,
//! newline-delimited JSON, header lists in random order, Digest challenges
//! with fresh nonces, unquoted ETags, random bytes and random header tokens,
//! and calls a dependency that answers gzip. Recorded through reel, the
//! generated suite replays green against a fresh app with the dependency
//! gone, after `--stability` loosened (and said) what is random by evidence,
//! and a renamed field inside the compressed and line-delimited answers fails
//! exactly the cases that carry it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::*;

fn app_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/http/content_app.py")
}

/// The rates service, started by the test and stopped when dropped.
async fn start_rates() -> (tokio::process::Child, u16) {
    let mut child = tokio::process::Command::new("python3")
        .arg(app_script())
        .args(["rates", "0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    tokio::time::timeout(Duration::from_secs(20), out.read_line(&mut line))
        .await
        .expect(
            "the rates service announced its port (pip install -r fixtures/http/requirements.txt)",
        )
        .unwrap();
    (child, line.trim().parse().unwrap())
}

/// `reel ARGS` with CI unset; (exit code, stdout + stderr).
fn run_reel(args: &[&str]) -> (i32, String) {
    let out = Command::new(reel_bin())
        .args(args)
        .env("REEL_LOG", "warn")
        .env_remove("CI")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn case(suite: &Path, stem: &str) -> Value {
    let path = suite.join(format!("cases/{stem}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const CALLS: &[(&str, &str)] = &[
    ("GET", "/books/gzip"),
    ("GET", "/books/deflate"),
    ("GET", "/books/br"),
    ("GET", "/books/zstd"),
    ("GET", "/events"),
    ("OPTIONS", "/books"),
    ("GET", "/private"),
    ("GET", "/etag"),
    ("GET", "/bytes"),
    ("GET", "/nonce"),
    ("GET", "/quote"),
];

/// The app recorded through reel answering [`CALLS`], its rates service
/// still running.
struct Recorded {
    dir: tempfile::TempDir,
    store: PathBuf,
    app_cmd: String,
    rates: tokio::process::Child,
}

async fn record() -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let (rates, rates_port) = start_rates().await;
    let app_port = free_port();
    let app_cmd = format!("exec python3 {} app {app_port}", app_script().display());
    let args = record_args(
        app_port,
        &[format!(
            "rates=http:127.0.0.1:0=http://127.0.0.1:{rates_port}"
        )],
        "content",
        &store,
        &app_cmd,
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = format!("http://{}", rec.inbound);
    let c = client();
    // Asked directly, so the recording holds only the calls below.
    let direct = format!("http://127.0.0.1:{app_port}");
    poll("the app", Duration::from_secs(30), async || {
        let r = c.get(format!("{direct}/health")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    for (method, path) in CALLS {
        let r = c
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .header("Accept-Encoding", "gzip, deflate, br, zstd")
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "{method} {path}: {}", r.status());
        r.bytes().await.unwrap();
    }
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    Recorded {
        dir,
        store,
        app_cmd,
        rates,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_line_delimited_and_random_answers_replay_green_and_catch_a_rename() {
    let Recorded {
        dir,
        store,
        app_cmd,
        rates,
    } = record().await;
    drop(rates);

    let (suite, generated) = generate_suite(dir.path(), "content", &store);
    // The compressed answer is written decoded, its coding noted, its random
    // id a matcher by format.
    let gzip = case(&suite, "0001-get-books-gzip");
    insta::assert_json_snapshot!(
        "gzip_case_response",
        json!({
            "body_encoding": gzip["response"]["body_encoding"],
            "body": gzip["response"]["body"],
        })
    );
    for (stem, coding) in [
        ("0002-get-books-deflate", "deflate"),
        ("0003-get-books-br", "br"),
        ("0004-get-books-zstd", "zstd"),
    ] {
        let r = &case(&suite, stem)["response"];
        assert_eq!(r["body_encoding"], coding, "{stem}");
        assert_eq!(r["body"]["json"]["books"][1]["title"], "Emma", "{stem}");
    }
    let events = case(&suite, "0005-get-events");
    assert_eq!(
        events["response"]["body"]["json_lines"][1],
        json!({"n": 1, "event_id": {"$reel": "uuid"}, "title": "Emma"})
    );
    assert!(
        generated.contains("0005-get-events") && generated.contains("$[1].event_id"),
        "{generated}"
    );
    // The dependency's gzip answer is a readable mock too.
    let quote_mocks = std::fs::read_to_string(suite.join("mocks/0011-get-quote.jsonl")).unwrap();
    let mock: Value = serde_json::from_str(quote_mocks.lines().next().unwrap()).unwrap();
    assert_eq!(mock["response"]["body_encoding"], "gzip");
    assert_eq!(mock["response"]["body"]["json"]["EUR"], 0.9);
    assert!(suite.join("generate.txt").exists());

    // Random bytes and a random header token have no format to go by: only
    // repeated runs show they are noise, and the summary says what it did.
    let suite_arg = suite.to_str().unwrap();
    let (code, out) = run_reel(&["test", suite_arg, "--stability", "3"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0009-get-bytes") && out.contains("any bytes of 16 bytes"),
        "{out}"
    );
    assert!(
        out.contains("header x-nonce") && out.contains("${reel:token}"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "the complete --stability summary is in {}",
            suite.join("stability.txt").display()
        )),
        "{out}"
    );
    let bytes = case(&suite, "0009-get-bytes");
    assert_eq!(
        bytes["response"]["body"],
        json!({"$reel": {"kind": "bytes", "length": 16}})
    );
    // Then it replays green, again and again, with the rates service gone.
    for _ in 0..2 {
        let (code, out) = run_reel(&["test", suite_arg]);
        assert_eq!(code, 0, "{out}");
        assert!(out.trim_end().ends_with("11 passed, 0 failed"), "{out}");
    }

    // A renamed field inside compressed and line-delimited answers fails
    // exactly the cases that carry it, named by path in the decoded body.
    let renamed = format!("CONTENT_APP_VARIANT=renamed {app_cmd}");
    let (code, out) = run_reel(&["test", suite_arg, "--app", &renamed]);
    assert_eq!(code, 1, "{out}");
    assert!(out.trim_end().ends_with("5 passed, 6 failed"), "{out}");
    for path in ["$.books[0].title", "$[0].title", "$.title"] {
        assert!(out.contains(path), "{path}: {out}");
    }
    assert!(
        !out.contains("bytes of binary"),
        "decoded, not bytes: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_verify_loosens_random_bodies_and_headers_and_the_suite_replays_green() {
    let Recorded {
        dir,
        store,
        app_cmd: _,
        rates,
    } = record().await;
    let suite = dir.path().join("suite");
    let (code, out) = run_reel(&[
        "generate",
        "content",
        "--out",
        suite.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--verify",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("differed across runs"))
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].contains("0009-get-bytes") && rows[0].contains("any bytes of 16 bytes"),
        "{out}"
    );
    assert!(
        rows[1].contains("0010-get-nonce") && rows[1].contains("header x-nonce"),
        "{out}"
    );
    let summary = std::fs::read_to_string(suite.join("generate.txt")).unwrap();
    assert!(summary.contains("--verify 2"), "{summary}");
    drop(rates);
    let (code, out) = run_reel(&["test", suite.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.trim_end().ends_with("11 passed, 0 failed"), "{out}");
}
