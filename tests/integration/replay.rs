//! Generate and replay end to end with the real binary: a recorded demo session
//! replays green with the pricing service gone; a changed app fails exactly the
//! affected cases with their JSON paths; accepting makes it pass again.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::*;

pub(crate) struct Recorded {
    _dir: tempfile::TempDir,
    pub(crate) suite: PathBuf,
    app: SocketAddr,
    dep: SocketAddr,
}

impl Recorded {
    pub(crate) fn app_cmd(&self, variant: &str) -> String {
        format!(
            "{} demo-app --listen {} --pricing-url http://{} --variant {variant}",
            reel_bin().display(),
            self.app,
            self.dep
        )
    }
}

/// Records a scripted session of the demo app through `reel record`, stops
/// everything, and generates a suite with `reel generate`.
pub(crate) async fn record_and_generate(name: &str) -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), name, &[]).await;
    let (store, app_addr, dep) = (demo.store.clone(), demo.app_addr, demo.rec.dep("pricing"));
    let c = client();
    let base = demo.base();
    let ok = |r: reqwest::Response| async move {
        assert!(r.status().as_u16() < 500, "{}", r.status());
        r.bytes().await.unwrap()
    };
    ok(c.get(format!("{base}/health")).send().await.unwrap()).await;
    ok(c.get(format!("{base}/books?per_page=3"))
        .send()
        .await
        .unwrap())
    .await;
    ok(c.get(format!("{base}/books?q=rust")).send().await.unwrap()).await;
    let created = ok(c
        .post(format!("{base}/books"))
        .json(&json!({"title": "Dune", "author": "Frank Herbert", "isbn": "978-0441013593"}))
        .send()
        .await
        .unwrap())
    .await;
    let id = serde_json::from_slice::<Value>(&created).unwrap()["id"]
        .as_u64()
        .unwrap();
    ok(c.get(format!("{base}/books/{id}/quote?currency=GBP"))
        .send()
        .await
        .unwrap())
    .await;
    ok(c.get(format!("{base}/books/2")).send().await.unwrap()).await;
    ok(c.get(format!("{base}/books/404404")).send().await.unwrap()).await;
    ok(c.delete(format!("{base}/books/{id}")).send().await.unwrap()).await;
    demo.stop().await;

    let (suite, stdout) = generate_suite(dir.path(), name, &store);
    assert!(stdout.contains("8 cases"), "{stdout}");
    assert!(
        stdout.contains("2 mocks (2 http, 0 postgres; 2 in cases"),
        "{stdout}"
    );
    Recorded {
        _dir: dir,
        suite,
        app: app_addr,
        dep,
    }
}

pub(crate) fn reel_test(suite: &Path, extra: &[&str], ci: bool) -> (i32, String, String) {
    let mut cmd = Command::new(reel_bin());
    cmd.arg("test")
        .arg(suite)
        .args(extra)
        .env("REEL_LOG", "warn");
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn pending(suite: &Path) -> BTreeSet<String> {
    std::fs::read_dir(suite.join("cases"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.strip_suffix(".json.new").map(str::to_owned)
        })
        .collect()
}

/// Cases the changed app must fail: those whose recorded body names an author
/// or is a quote (the two behaviours the changed variant alters).
pub(crate) fn affected(suite: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(suite.join("cases")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let case: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        let body = case["response"]["body"].to_string();
        if body.contains("\"author\"")
            || case["request"]["target"]
                .as_str()
                .unwrap()
                .contains("/quote")
        {
            out.insert(case["name"].as_str().unwrap().to_owned());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_green_then_fails_exactly_the_changed_cases_until_accepted() {
    let r = record_and_generate("loop").await;
    // The pricing service is gone: only reel's mock can answer.
    let (code, out, err) = reel_test(&r.suite, &["--app", &r.app_cmd("normal")], false);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("8 passed, 0 failed"), "{out}");
    assert!(pending(&r.suite).is_empty());

    let reports = r.suite.parent().unwrap().join("out");
    let report_arg = format!(
        "junit={0}/junit.xml,html={0}/report.html,json={0}/report.json",
        reports.display()
    );
    let (code, out, err) = reel_test(
        &r.suite,
        &["--app", &r.app_cmd("changed"), "--report", &report_arg],
        false,
    );
    assert_eq!(code, 1, "{out}{err}");
    let expected = affected(&r.suite);
    assert!(expected.len() >= 4, "{expected:?}");
    assert_eq!(failed_cases(&out), expected, "{out}");
    assert!(
        out.contains("$.author: expected \"Frank Herbert\", got (absent)"),
        "{out}"
    );
    assert!(
        out.contains("$.author_name: expected (absent), got \"Frank Herbert\""),
        "{out}"
    );
    assert!(out.contains("$.amount_cents: expected"), "{out}");
    assert!(out.contains("-  \"author\": \"Frank Herbert\","), "{out}");
    assert!(out.trim_end().ends_with(&format!(
        "{} passed, {} failed",
        8 - expected.len(),
        expected.len()
    )));
    assert_eq!(
        pending(&r.suite),
        expected,
        "a pending snapshot per failed case"
    );

    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(
        junit.contains(&format!("failures=\"{}\"", expected.len())),
        "{junit}"
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["failed"], expected.len());
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(html.contains("author_name"));

    // In CI nothing is written unless asked.
    for f in expected.iter() {
        std::fs::remove_file(r.suite.join(format!("cases/{f}.json.new"))).unwrap();
    }
    let (code, _, _) = reel_test(&r.suite, &["--app", &r.app_cmd("changed")], true);
    assert_eq!(code, 1);
    assert!(
        pending(&r.suite).is_empty(),
        "CI without --write-pending writes nothing"
    );
    let (code, _, _) = reel_test(
        &r.suite,
        &["--app", &r.app_cmd("changed"), "--write-pending"],
        true,
    );
    assert_eq!(code, 1);
    assert_eq!(pending(&r.suite), expected);

    // Review from piped input: accept the first, reject the second, then the
    // input ends and the rest stay pending.
    let mut names = expected.iter();
    let (first, second) = (names.next().unwrap(), names.next().unwrap());
    let before_second = std::fs::read(r.suite.join(format!("cases/{second}.json"))).unwrap();
    let pending_first = std::fs::read(r.suite.join(format!("cases/{first}.json.new"))).unwrap();
    let mut review = Command::new(reel_bin())
        .args(["review", r.suite.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    review.stdin.take().unwrap().write_all(b"a\nr\n").unwrap();
    let out = review.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("[1/{}] {first}", expected.len())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "accepted 1, rejected 1, skipped {}",
            expected.len() - 2
        )),
        "{text}"
    );
    assert_eq!(
        std::fs::read(r.suite.join(format!("cases/{first}.json"))).unwrap(),
        pending_first
    );
    assert_eq!(
        std::fs::read(r.suite.join(format!("cases/{second}.json"))).unwrap(),
        before_second
    );
    let left: BTreeSet<String> = expected.iter().skip(2).cloned().collect();
    assert_eq!(pending(&r.suite), left);

    // The rejected change comes back on the next run; then accept everything.
    let (code, _, _) = reel_test(&r.suite, &["--app", &r.app_cmd("changed")], false);
    assert_eq!(code, 1);
    let out = reel(&["accept", r.suite.to_str().unwrap(), second]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = reel(&["accept", r.suite.to_str().unwrap(), "--all"]);
    assert!(out.status.success());
    assert!(pending(&r.suite).is_empty());
    let out = reel(&["accept", r.suite.to_str().unwrap(), "0001-nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no pending snapshot for case '0001-nope'")
    );
    let (code, out, err) = reel_test(&r.suite, &["--app", &r.app_cmd("changed")], false);
    assert_eq!(
        code, 0,
        "after accepting, the changed app passes:\n{out}{err}"
    );
    // And the original app now fails where the accepted behaviour differs.
    let (code, out, _) = reel_test(&r.suite, &["--app", &r.app_cmd("normal")], false);
    assert_eq!(code, 1);
    assert_eq!(failed_cases(&out), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_the_recording_never_saw_fails_its_case_with_the_nearest_call() {
    let r = record_and_generate("unseen").await;
    // Edit the recorded quote call so the app's real call no longer matches it.
    let mocks_dir = r.suite.join("mocks");
    let quote_mocks = std::fs::read_dir(&mocks_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("quote"))
        .expect("the quote case has mocks");
    let text = std::fs::read_to_string(&quote_mocks).unwrap();
    std::fs::write(&quote_mocks, text.replace("currency=GBP", "currency=EUR")).unwrap();
    let (code, out, err) = reel_test(&r.suite, &["--app", &r.app_cmd("normal")], false);
    assert_eq!(code, 1, "{out}{err}");
    let failed = failed_cases(&out);
    assert_eq!(failed.len(), 1, "{out}");
    assert!(failed.iter().next().unwrap().contains("quote"));
    assert!(out.contains("dependency 'pricing' got a call no recording matches: GET /price?isbn=978-0441013593&currency=GBP"), "{out}");
    assert!(out.contains("nearest recorded call:"), "{out}");
    assert!(
        out.contains("-GET /price?isbn=978-0441013593&currency=EUR"),
        "{out}"
    );
    assert!(
        out.contains("+GET /price?isbn=978-0441013593&currency=GBP"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_suite_and_broken_files_are_named() {
    let r = record_and_generate("sharded").await;
    // Each shard runs its part of the cases against a fresh app, and passes:
    // the create, the quote and the delete that refer to its answer, and the
    // reads of /books after it share a shard. Together the shards run every
    // case exactly once.
    let mut seen = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let json = r.suite.parent().unwrap().join(format!("shard{k}.json"));
        let report = format!("json={}", json.display());
        let (code, out, err) = reel_test(
            &r.suite,
            &[
                "--app",
                &r.app_cmd("normal"),
                "--shard",
                &shard,
                "--report",
                &report,
            ],
            false,
        );
        assert_eq!(code, 0, "shard {shard}:\n{out}{err}");
        let rep: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(rep["shard"], json!([k, 3]));
        let names: Vec<String> = rep["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        if names.iter().any(|n| n.contains("-post-books")) {
            for then in ["-quote", "-delete-books"] {
                assert!(
                    names.iter().any(|n| n.contains(then)),
                    "{then} shares the create's shard: {names:?}"
                );
            }
        }
        seen.extend(names);
    }
    let all: Vec<String> = (1..=8)
        .map(|i| {
            std::fs::read_dir(r.suite.join("cases"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with(&format!("{i:04}-")) && n.ends_with(".json"))
                .unwrap()
                .trim_end_matches(".json")
                .to_owned()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, all, "the shards together run every case once");

    let (code, _, err) = reel_test(&r.suite, &["--shard", "4/3"], false);
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid value '4/3' for '--shard <K/N>'"),
        "{err}"
    );

    let case = r.suite.join("cases/0002-get-books.json");
    let text = std::fs::read_to_string(&case).unwrap();
    std::fs::write(&case, text.replacen("\"status\"", "\"stat\"", 1)).unwrap();
    let (code, _, err) = reel_test(&r.suite, &[], false);
    assert_eq!(code, 2);
    assert!(err.contains("0002-get-books.json"), "{err}");
    assert!(err.contains("missing field `status`"), "{err}");
    assert!(err.contains("line"), "{err}");
}

/// Replaces run-specific values (ports, times, ids) so snapshots are stable.
fn mask(text: &str, r: &Recorded) -> String {
    let mut s = text
        .replace(&r.app.to_string(), "[app]")
        .replace(&r.dep.to_string(), "[dep]")
        .replace(&r.suite.display().to_string(), "[suite]");
    for key in [
        "\"recorded_at\": \"",
        "\"date\",\n        \"",
        "\"x-request-id\",\n        \"",
        "\"host\",\n        \"",
        "\"quoted_at\": \"",
    ] {
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(i) = rest.find(key) {
            out.push_str(&rest[..i + key.len()]);
            rest = &rest[i + key.len()..];
            let end = rest.find('"').unwrap();
            out.push_str("[masked]");
            rest = &rest[end..];
        }
        out.push_str(rest);
        s = out;
    }
    // How long the app took: a number, not a string.
    let key = "\"duration_ms\": ";
    if let Some(i) = s.find(key) {
        let start = i + key.len();
        let end = start + s[start..].find([',', '\n']).unwrap();
        s.replace_range(start..end, "[masked]");
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_files_and_terminal_diffs_read_as_expected() {
    let r = record_and_generate("snap").await;
    let case = std::fs::read_to_string(r.suite.join("cases/0004-post-books.json")).unwrap();
    insta::assert_snapshot!("generated_post_case", mask(&case, &r));
    let suite = std::fs::read_to_string(r.suite.join("suite.json")).unwrap();
    let suite: Value = serde_json::from_str(&suite).unwrap();
    assert_eq!(suite["dependencies"][0]["listen"], r.dep.to_string());
    assert_eq!(suite["dependencies"][0]["name"], "pricing");

    let (_, out, _) = reel_test(&r.suite, &["--app", &r.app_cmd("changed")], false);
    let quote = out
        .split("\n\n")
        .find(|block| block.starts_with("FAIL") && block.contains("quote"))
        .unwrap();
    insta::assert_snapshot!("terminal_diff_of_a_changed_quote", mask(quote, &r));
}
