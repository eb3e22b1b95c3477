//! Long recordings: record-time filters (`--include`, `--exclude`,
//! `--sample`) store only what they keep while the app answers every request,
//! a sampled session still generates a suite that replays green, and
//! `sessions prune` / `vacuum` keep the store's size in check without getting
//! in a live recorder's way.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::support::*;

/// `reel ARGS`: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = reel(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `METHOD TARGET` of each stored inbound exchange, in order.
fn inbound(session: &Value) -> Vec<String> {
    session["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["direction"] == "inbound")
        .map(|e| {
            format!(
                "{} {}",
                e["request"]["method"].as_str().unwrap(),
                e["request"]["target"].as_str().unwrap()
            )
        })
        .collect()
}

fn outbound_count(session: &Value) -> usize {
    session["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["direction"] == "outbound")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_store_only_what_they_keep_and_the_app_answers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(
        dir.path(),
        "filtered",
        &[
            "--include",
            "/books/**",
            "--include",
            "GET /stats",
            "--exclude",
            "GET /books/*/quote",
        ],
    )
    .await;
    let (c, base) = (client(), demo.base());
    let mut statuses = Vec::new();
    for (method, path) in [
        ("GET", "/health"),
        ("GET", "/books?page=1"),
        ("GET", "/health"),
        ("GET", "/books/1"),
        ("GET", "/books/1/quote?currency=EUR"),
        ("GET", "/stats"),
        ("POST", "/stats"),
        ("GET", "/clock"),
        ("DELETE", "/books/2"),
    ] {
        let r = c
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    let out = demo.stop().await;
    // Left out or not, every request reached the app and got its answer.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 405, 200, 204]);
    assert!(
        out.contains("left out       5 inbound requests, proxied but not stored (5 by --include/--exclude, 0 reads by --sample)"),
        "{out}"
    );

    let store = dir.path().join("reel.db");
    let session = session_json(&store, "filtered");
    assert_eq!(
        inbound(&session),
        [
            "GET /books?page=1",
            "GET /books/1",
            "GET /stats",
            "DELETE /books/2"
        ]
    );
    // The excluded quote's call to pricing is stored all the same.
    assert_eq!(outbound_count(&session), 1);
    let filter = &session["session"]["setup"]["filter"];
    assert_eq!(filter["filtered_out"], 5, "{filter}");
    assert_eq!(filter["sampled_out"], 0, "{filter}");
    assert_eq!(filter["include"], json!(["/books/**", "GET /stats"]));

    let (code, shown, err) = run(&[
        "sessions",
        "show",
        "filtered",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains("  left out  5 inbound requests, proxied but not stored: 5 filtered, 0 reads sampled away (--include /books/**, GET /stats; --exclude GET /books/*/quote)"),
        "{shown}"
    );
}

/// Books created, read, quoted, updated and some deleted, one request at a
/// time: (reads sent, writes sent).
async fn book_traffic(base: &str) -> (usize, usize) {
    let c = client();
    let (mut reads, mut writes) = (0, 0);
    for round in 0..6 {
        let created: Value = c
            .post(format!("{base}/books"))
            .json(&json!({"title": format!("Book {round}"), "author": "A", "isbn": format!("978-{round}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        writes += 1;
        let id = created["id"].as_u64().unwrap();
        for path in [
            "/books".to_owned(),
            format!("/books/{id}"),
            format!("/books/{id}/quote?currency=EUR"),
            format!("/books/{id}/quote?currency=USD"),
        ] {
            let r = c.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            reads += 1;
        }
        let r = c
            .put(format!("{base}/books/{id}"))
            .json(&json!({"price_cents": 100 + round}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        writes += 1;
        if round % 2 == 1 {
            let r = c.delete(format!("{base}/books/{id}")).send().await.unwrap();
            assert_eq!(r.status(), 204);
            writes += 1;
        }
    }
    (reads, writes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_session_keeps_every_write_and_replays_green() {
    let dir = tempfile::tempdir().unwrap();
    let sample = ["--sample", "0.5", "--sample-seed", "11"];
    let demo = record_demo(dir.path(), "sampled", &sample).await;
    let (reads, writes) = book_traffic(&demo.base()).await;
    let (app, dep) = (demo.app_addr, demo.rec.dep("pricing"));
    demo.stop().await;

    let store = dir.path().join("reel.db");
    let session = session_json(&store, "sampled");
    let stored = inbound(&session);
    let stored_writes = stored.iter().filter(|r| !r.starts_with("GET ")).count();
    let stored_reads = stored.len() - stored_writes;
    assert_eq!(stored_writes, writes, "every write is kept: {stored:?}");
    // Binomial(24, 0.5): these bounds hold for all but 1 seed in 300.
    assert!(
        (5..=19).contains(&stored_reads),
        "{stored_reads} of {reads} reads kept at 0.5: {stored:?}"
    );
    let filter = &session["session"]["setup"]["filter"];
    assert_eq!(filter["sampled_out"], reads - stored_reads, "{filter}");
    assert_eq!(filter["filtered_out"], 0, "{filter}");
    assert_eq!(filter["sample_seed"], 11);
    // Every pricing call is kept, those of the reads left out too: one per
    // created book and one per quote.
    assert_eq!(outbound_count(&session), 6 + 2 * 6);

    // The quotes left out made pricing calls no case holds: the shared pool.
    let (suite, generated) = generate_suite(dir.path(), "sampled", &store);
    assert!(
        generated
            .contains("dependency calls happened between cases; they went to mocks/shared.jsonl"),
        "{generated}"
    );
    assert!(
        generated.contains(&format!(
            "  {} inbound requests were left out when recording (--include, --exclude, --sample)",
            reads - stored_reads
        )),
        "{generated}"
    );
    let app_cmd = format!(
        "{} demo-app --listen {app} --pricing-url http://{dep}",
        reel_bin().display()
    );
    let out = Command::new(reel_bin())
        .arg("test")
        .arg(&suite)
        .args(["--app", &app_cmd])
        .env_remove("CI")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("{} passed, 0 failed", stored.len())),
        "{text}"
    );

    // The same seed and the same traffic keep the same reads.
    let again = tempfile::tempdir().unwrap();
    let demo = record_demo(again.path(), "sampled", &sample).await;
    book_traffic(&demo.base()).await;
    demo.stop().await;
    assert_eq!(
        inbound(&session_json(&again.path().join("reel.db"), "sampled")),
        stored
    );
}

#[test]
fn bad_filter_flags_exit_2_naming_the_flag() {
    for (args, says) in [
        (
            vec!["--sample", "0"],
            "invalid value '0' for '--sample <RATE>'",
        ),
        (vec!["--sample", "lots"], "'lots' is not a rate"),
        (
            vec!["--include", "api/*"],
            "invalid value 'api/*' for '--include <PATTERN>'",
        ),
        (
            vec!["--exclude", "/a/**b"],
            "'**' stands for whole segments",
        ),
        (
            vec!["--sample-seed", "3"],
            "--sample-seed picks which reads --sample keeps",
        ),
    ] {
        let mut all = vec![
            "record",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
        ];
        all.extend(args);
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("reel.db");
        all.extend(["--store", store.to_str().unwrap()]);
        let (code, out, err) = run(&all);
        assert_eq!(code, 2, "{all:?}: {out}{err}");
        assert!(err.contains(says), "{all:?}: {err}");
        assert!(!store.exists(), "{all:?}: nothing is recorded");
    }
}

/// Records `n` requests to the demo app as session `name` into `dir/reel.db`.
async fn record_reads(dir: &Path, name: &str, n: usize) {
    let demo = record_demo(dir, name, &[]).await;
    let (c, base) = (client(), demo.base());
    for i in 0..n {
        let r = c
            .get(format!(
                "{base}/books?page={}&pad={}",
                i % 3 + 1,
                "x".repeat(400)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    demo.stop().await;
}

fn names(store: &Path) -> Vec<String> {
    let (code, out, err) = run(&[
        "sessions",
        "list",
        "--json",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

fn file_size(store: &Path) -> u64 {
    std::fs::metadata(store).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_old_sessions_skips_live_ones_and_vacuum_shrinks_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let s = store.to_str().unwrap();
    record_reads(dir.path(), "old", 300).await;
    record_reads(dir.path(), "recent", 5).await;
    // "old" was recorded ten days ago.
    let ten_days = 10 * 86_400 * 1_000_000i64;
    rusqlite::Connection::open(&store)
        .unwrap()
        .execute(
            "UPDATE sessions SET started_at = started_at - ?1, ended_at = ended_at - ?1 WHERE name = 'old'",
            [ten_days],
        )
        .unwrap();

    let (code, out, err) = run(&[
        "sessions",
        "prune",
        "--older-than",
        "7d",
        "--dry-run",
        "--store",
        s,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Would remove 1 session started before "),
        "{out}"
    );
    assert!(
        out.contains(" old ") && out.contains("300 exchanges"),
        "{out}"
    );
    assert_eq!(
        names(&store),
        ["old", "recent"],
        "a dry run removes nothing"
    );

    let size_before = file_size(&store);
    let (code, out, err) = run(&["sessions", "prune", "--older-than", "7d", "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Removed 1 session\n"), "{out}");
    assert!(out.contains("free for new recordings"), "{out}");
    assert_eq!(names(&store), ["recent"]);

    // The space is reused: the same traffic again does not grow the file.
    record_reads(dir.path(), "again", 300).await;
    let size_after = file_size(&store);
    assert!(
        size_after <= size_before + size_before / 10,
        "{size_after} bytes after, {size_before} before"
    );

    // A live recorder: prune skips its session, vacuum refuses.
    let live = record_demo(dir.path(), "live", &[]).await;
    let (code, out, err) = run(&["sessions", "prune", "--older-than", "0s", "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Removing 2 sessions"), "{out}");
    assert!(
        out.contains("Skipped 1 session still being recorded:"),
        "{out}"
    );
    assert!(out.contains(" live "), "{out}");
    let (code, _, err) = run(&["sessions", "vacuum", "--store", s]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("\"live\" is still being recorded")
            && err.contains("VACUUM would hold up its writes"),
        "{err}"
    );
    live.stop().await;
    assert_eq!(names(&store), ["live"]);

    let size = file_size(&store);
    let (code, out, err) = run(&["sessions", "vacuum", "--store", s]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("Vacuumed {s}: ")), "{out}");
    assert!(
        file_size(&store) < size / 4,
        "{} after, {size} before",
        file_size(&store)
    );
    assert_eq!(names(&store), ["live"]);
}

#[test]
fn prune_wants_a_duration_with_a_unit() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("none.db");
    for (age, says) in [
        (
            "7",
            "invalid value '7' for '--older-than <DURATION>': '7' is not a duration",
        ),
        ("a week", "'a week' is not a duration"),
    ] {
        let (code, _, err) = run(&[
            "sessions",
            "prune",
            "--older-than",
            age,
            "--store",
            store.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(says), "{err}");
    }
    let (code, _, err) = run(&["sessions", "prune", "--store", store.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--older-than <DURATION>"), "{err}");
}
