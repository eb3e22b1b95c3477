//! Values that flow between calls and secrets: a login token used as a bearer,
//! an id the app hands out used in later paths. The suite replays green again
//! and again against fresh apps, also one that hands out other ids, and no
//! recorded secret reaches a generated file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

const PASSWORD: &str = reel_fixtures::demo_app::DEMO_PASSWORD;

struct Flow {
    _dir: tempfile::TempDir,
    suite: PathBuf,
    secrets: PathBuf,
    app: std::net::SocketAddr,
    dep: std::net::SocketAddr,
    token: String,
}

async fn record_flow() -> Flow {
    record_flow_with(&[]).await
}

async fn record_flow_with(extra: &[&str]) -> Flow {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "flow", extra).await;
    let (store, app, dep) = (demo.store.clone(), demo.app_addr, demo.rec.dep("pricing"));
    let c = client();
    let base = demo.base();
    let login: Value = c
        .post(format!("{base}/login"))
        .json(&json!({"username": "qa", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let me = c
        .get(format!("{base}/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let created: Value = c
        .post(format!("{base}/books"))
        .bearer_auth(&token)
        .json(&json!({"title": "Dune", "author": "Frank Herbert", "isbn": "978-0441013593"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_u64().unwrap();
    for path in [
        "/books?q=dune".to_owned(),
        format!("/books/{id}"),
        format!("/books/{id}/quote?currency=EUR"),
    ] {
        assert_eq!(
            c.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let put = c
        .put(format!("{base}/books/{id}"))
        .json(&json!({"price_cents": 1999}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(
        c.delete(format!("{base}/books/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        c.get(format!("{base}/books/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    demo.stop().await;

    let (suite, stdout) = generate_suite(dir.path(), "flow", &store);
    if !extra.contains(&"--redact") {
        assert!(stdout.contains("secret values were replaced"), "{stdout}");
    }
    assert!(stdout.contains("${0001.response.body.token}"), "{stdout}");
    let db = std::fs::read(&store).unwrap();
    let wal = std::fs::read(store.with_extension("db-wal")).unwrap_or_default();
    let in_store = |needle: &str| {
        [&db, &wal]
            .iter()
            .any(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
    };
    assert_eq!(
        in_store(PASSWORD),
        !extra.contains(&"--redact"),
        "password in the store"
    );
    assert_eq!(
        in_store(&token),
        !extra.contains(&"--redact"),
        "token in the store"
    );
    Flow {
        secrets: dir.path().join("secrets.toml"),
        _dir: dir,
        suite,
        app,
        dep,
        token,
    }
}

fn every_file(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(every_file(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn test_cmd(f: &Flow, extra: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let app = format!(
        "{} demo-app --listen {} --pricing-url http://{}",
        reel_bin().display(),
        f.app,
        f.dep
    );
    let out = Command::new(reel_bin())
        .arg("test")
        .arg(&f.suite)
        .args(["--app", &app])
        .args(extra)
        .envs(env.iter().copied())
        .env_remove("CI")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flow_replays_green_twenty_times_without_secrets_in_the_suite() {
    let f = record_flow().await;
    for file in every_file(&f.suite) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(PASSWORD),
            "{} holds the password",
            file.display()
        );
        assert!(
            !text.contains(&f.token),
            "{} holds the token",
            file.display()
        );
    }
    let secrets = std::fs::read_to_string(&f.secrets).unwrap();
    assert!(
        secrets.contains(PASSWORD),
        "the recorded value is kept for replay"
    );
    let mode = std::fs::metadata(&f.secrets).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    let secrets_arg = f.secrets.to_str().unwrap().to_owned();
    for run in 1..=20 {
        let (code, out) = test_cmd(&f, &["--secrets", &secrets_arg], &[]);
        assert_eq!(code, 0, "run {run}:\n{out}");
        assert!(
            out.trim_end().ends_with("9 passed, 0 failed"),
            "run {run}:\n{out}"
        );
    }
    // The environment can supply the secret instead of the file.
    let (code, out) = test_cmd(
        &f,
        &["--secrets", "/nonexistent"],
        &[("REEL_SECRET_PASSWORD", PASSWORD)],
    );
    assert_eq!(code, 0, "{out}");
    // Without it the run says once, before anything starts, what to set and
    // where it is used, instead of failing case after case.
    let (code, out) = test_cmd(&f, &["--secrets", "/nonexistent"], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("the suite needs secrets that are not set:\n  REEL_SECRET_PASSWORD (used by cases/0001-post-login.json)"),
        "{out}"
    );
    assert!(!out.contains("passed"), "no case ran:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_app_that_hands_out_other_ids_still_passes() {
    let f = record_flow().await;
    // Start the app ourselves and create books first, so it hands out other ids.
    let mut app = tokio::process::Command::new(reel_bin())
        .args([
            "demo-app",
            "--listen",
            &f.app.to_string(),
            "--pricing-url",
            &format!("http://{}", f.dep),
        ])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{}", f.app);
    let c = client();
    poll("the app to listen", Duration::from_secs(20), async || {
        c.get(format!("{base}/health"))
            .send()
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    for i in 0..3 {
        let r = c
            .post(format!("{base}/books"))
            .json(&json!({"title": format!("Filler {i}"), "author": "X", "isbn": format!("1-{i}"), "price_cents": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let report = f.suite.parent().unwrap().join("ids.json");
    let out = Command::new(reel_bin())
        .arg("test")
        .arg(&f.suite)
        .args(["--target", &base, "--secrets", f.secrets.to_str().unwrap()])
        .args(["--report", &format!("json={}", report.display())])
        .env_remove("CI")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("GET /books/9") || text.trim_end().ends_with("9 passed, 0 failed"),
        "{text}"
    );
    app.kill().await.unwrap();
}

/// The cases of the flow suite, by number: what each change must break.
fn failed(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("FAIL "))
        .map(|l| l[..4].to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_change_fails_exactly_the_cases_it_touches() {
    let f = record_flow().await;
    let secrets = f.secrets.to_str().unwrap().to_owned();
    // 0001 login, 0002 me, 0003 create, 0004 search, 0005 get, 0006 quote,
    // 0007 update, 0008 delete, 0009 get the deleted book.
    let books = ["0003", "0004", "0005", "0007"];
    let cases: [(&str, Vec<&str>, &str); 6] = [
        (
            "changed",
            vec!["0003", "0004", "0005", "0006", "0007"],
            "$.author_name: expected (absent)",
        ),
        (
            "title-upper",
            books.to_vec(),
            "$.title: expected \"Dune\", got \"DUNE\"",
        ),
        (
            "no-isbn",
            books.to_vec(),
            "$.isbn: expected \"978-0441013593\", got (absent)",
        ),
        (
            "price-as-string",
            books.to_vec(),
            "$.price_cents: expected 1999, got \"1999\"",
        ),
        ("gone", vec!["0009"], "status: expected 404, got 410"),
        (
            "extra-item",
            vec!["0004"],
            "$.items[1]: expected (absent), got {\"id\":0,\"title\":\"Phantom\"}",
        ),
    ];
    for (variant, expected, path) in cases {
        let app = format!(
            "{} demo-app --listen {} --pricing-url http://{} --variant {variant}",
            reel_bin().display(),
            f.app,
            f.dep
        );
        let out = Command::new(reel_bin())
            .arg("test")
            .arg(&f.suite)
            .args(["--app", &app, "--secrets", &secrets])
            .env("CI", "true")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{variant}:\n{text}");
        if failed(&text) != expected {
            let put = std::fs::read_to_string(f.suite.join("cases/0007-put-books-6.json"))
                .unwrap_or_default();
            panic!(
                "{variant}: {:?} != {expected:?}\n{text}\nPUT CASE:\n{put}",
                failed(&text)
            );
        }
        assert!(text.contains(path), "{variant} should name {path}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redact_no_secret_reaches_the_store_and_the_suite_still_replays() {
    let f = record_flow_with(&["--redact"]).await;
    assert!(
        !f.secrets.exists(),
        "nothing to keep: the store never saw the values"
    );
    for file in every_file(&f.suite) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(PASSWORD) && !text.contains(&f.token),
            "{}",
            file.display()
        );
    }
    let (code, out) = test_cmd(
        &f,
        &["--secrets", "/nonexistent"],
        &[("REEL_SECRET_PASSWORD", PASSWORD)],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.trim_end().ends_with("9 passed, 0 failed"), "{out}");
}

/// Every case file of a suite, as JSON, less what differs per recording by
/// nature and is not compared by value: the recording time, the port reel
/// listened on, and response headers the suite ignores or compares by form
/// (Date, X-Request-Id, ...).
fn stable_cases(suite: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = every_file(&suite.join("cases"));
    files.sort();
    for f in files {
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        v["recorded_at"] = Value::Null;
        v["duration_ms"] = Value::Null;
        if let Some(h) = v["request"]["headers"].as_array_mut() {
            h.retain(|pair| pair[0] != "host");
        }
        if let Some(h) = v["response"]["headers"].as_array_mut() {
            h.retain(|pair| {
                let name = pair[0].as_str().unwrap();
                !reel_core::suite::DEFAULT_IGNORED_HEADERS.contains(&name)
                    && !reel_core::suite::LOOSE_HEADERS.contains(&name)
            });
        }
        out.push((f.file_name().unwrap().to_string_lossy().into_owned(), v));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_recordings_of_one_flow_generate_the_same_cases() {
    // Ids, timestamps, tokens and request ids differ in every recording; the
    // generated expectations must not.
    let first = record_flow().await;
    let reference = stable_cases(&first.suite);
    assert_eq!(reference.len(), 9);
    for _ in 0..6 {
        let again = record_flow().await;
        let cases = stable_cases(&again.suite);
        for ((name_a, a), (name_b, b)) in reference.iter().zip(&cases) {
            assert_eq!(name_a, name_b);
            assert_eq!(
                a, b,
                "{name_a} differs between two recordings of the same flow"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stability_runs_turn_values_that_differ_between_runs_into_listed_matchers() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "stats", &[]).await;
    let (store, app, dep) = (demo.store.clone(), demo.app_addr, demo.rec.dep("pricing"));
    let c = client();
    for path in ["/stats", "/books/1"] {
        assert_eq!(
            c.get(format!("{}{path}", demo.base()))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    demo.stop().await;
    let (suite, _) = generate_suite(dir.path(), "stats", &store);
    let app_cmd = format!(
        "{} demo-app --listen {app} --pricing-url http://{dep}",
        reel_bin().display()
    );
    let run = |extra: &[&str]| {
        let out = Command::new(reel_bin())
            .arg("test")
            .arg(&suite)
            .args(["--app", &app_cmd])
            .args(extra)
            .env_remove("CI")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // Uptime differs on every run and no format gives it away.
    let (code, out) = run(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("$.uptime_us: expected"), "{out}");

    let (code, out) = run(&["--stability", "3"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("--stability 3: replayed every case 3 times against fresh app instances (run 1: 1 passed, 1 failed; run 2: 1 passed, 1 failed; run 3: 1 passed, 1 failed)\n  1 value differed between runs and is now matched by kind:"),
        "{out}"
    );
    assert!(
        out.contains("0001-get-stats") && out.contains("$.uptime_us") && out.contains("number"),
        "{out}"
    );
    let case: Value = serde_json::from_str(
        &std::fs::read_to_string(suite.join("cases/0001-get-stats.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        case["response"]["body"]["json"]["uptime_us"],
        json!({"$reel": "number"})
    );
    assert_eq!(
        case["response"]["body"]["json"]["books"], 5,
        "stable values stay literal"
    );
    let (code, out) = run(&[]);
    assert_eq!(code, Some(0), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_change_keeps_references_and_matchers() {
    let f = record_flow().await;
    let secrets = f.secrets.to_str().unwrap().to_owned();
    let upper = format!(
        "{} demo-app --listen {} --pricing-url http://{} --variant title-upper",
        reel_bin().display(),
        f.app,
        f.dep
    );
    let replay = || {
        Command::new(reel_bin())
            .arg("test")
            .arg(&f.suite)
            .args(["--app", &upper, "--secrets", &secrets])
            .env_remove("CI")
            .output()
            .unwrap()
    };
    assert_eq!(replay().status.code(), Some(1));
    let out = reel(&["accept", f.suite.to_str().unwrap(), "--all"]);
    assert!(out.status.success());
    let get: Value = serde_json::from_str(
        &std::fs::read_to_string(f.suite.join("cases/0005-get-books-6.json")).unwrap(),
    )
    .unwrap();
    let body = &get["response"]["body"]["json"];
    assert_eq!(body["title"], "DUNE", "the change was taken");
    assert_eq!(
        body["id"], "${0003.response.body.id}",
        "the reference was kept"
    );
    assert_eq!(
        body["created_at"],
        json!({"$reel": "timestamp"}),
        "the matcher was kept"
    );
    let out = replay();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redact_a_large_body_full_of_secrets_is_stored_redacted() {
    // Over 64 KiB: read for secrets on the blocking pool, not on the proxy thread.
    let keys: Vec<Value> = (1..=3000)
        .map(|i| json!({ "id": i, "api_key": format!("key-{i:05}") }))
        .collect();
    let body = json!({ "username": "qa", "password": PASSWORD, "devices": keys });
    assert!(body.to_string().len() > 64 * 1024);

    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "big", &["--redact"]).await;
    let store = demo.store.clone();
    // The upload route takes any body whole.
    let answer = client()
        .post(format!("{}/uploads", demo.base()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    demo.stop().await;

    let db = std::fs::read(&store).unwrap();
    let wal = std::fs::read(store.with_extension("db-wal")).unwrap_or_default();
    for needle in [PASSWORD, "key-00001", "key-01234", "key-03000"] {
        assert!(
            ![&db, &wal]
                .iter()
                .any(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes())),
            "{needle} is in the store"
        );
    }
    let s = reel_core::Store::open(&store).unwrap();
    let session = s.list_sessions().unwrap()[0].session.id;
    let exchanges = s.exchanges(session).unwrap();
    let upload = exchanges
        .iter()
        .find_map(|e| match &e.request {
            reel_core::Payload::HttpRequest(r) if r.target == "/uploads" => Some(r),
            _ => None,
        })
        .expect("the upload is stored");
    let stored: Value = serde_json::from_slice(&upload.body.bytes).unwrap();
    assert_eq!(stored["password"], "${secret:PASSWORD}");
    assert_eq!(stored["devices"][0]["api_key"], "${secret:API_KEY}");
    assert_eq!(stored["devices"][2999]["api_key"], "${secret:API_KEY_3000}");
    assert_eq!(stored["devices"][2999]["id"], 3000);
}
