//! Real apps we did not write the tests for, driven by real API test runners:
//! the yardstick of issues 11 and 18, at CI size (`bench/real-apps.sh` runs
//! the same at full size and prints the counts).
//!
//! - Conduit (fixtures/real-apps/conduit): async Python on a Postgres pool
//!   of 10 (asyncpg, or psycopg_pool), bcrypt, JWT logins, driven by its
//!   Postman collection under newman, or by several users at once (httpx).
//!   Each test gets a database of its own, dropped before the replays so
//!   only reel's mock can answer; the live check replays against a database
//!   whose ids start at 100/200/300/400, and two injected regressions (a
//!   renamed field, a changed ORDER BY) must fail.
//! - httpbin (from PyPI) under gunicorn, driven by Schemathesis from its own
//!   OpenAPI document with a fixed seed.
//! - Kinto (from PyPI; memory backend, Basic auth) driven by Schemathesis
//!   from its own Swagger document, signed in with a password that must
//!   reach the suite only as a placeholder.
//!
//! What `scripts/deps.sh` installs (the fixtures' venv and newman) must be
//! there.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::*;

const REAL_PG: &str = "127.0.0.1:5432";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/real-apps")
}

/// A program the fixtures install (`.venv/bin/NAME` or a script of theirs).
fn installed(rel: &str) -> String {
    let path = fixtures().join(rel);
    assert!(
        path.exists(),
        "{} is missing: run scripts/deps.sh",
        path.display()
    );
    path.to_str().unwrap().to_owned()
}

fn python() -> String {
    installed(".venv/bin/python")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Schemathesis against the OpenAPI document at `spec`: fixed seed, one
/// example per operation, one worker, its HAR report (and its cache
/// folder) in `report_dir`; `config` a settings file of its own, `args`
/// more flags of `run`.
fn schemathesis(
    spec: &str,
    report_dir: &Path,
    config: Option<PathBuf>,
    args: &[String],
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(installed(".venv/bin/schemathesis"));
    if let Some(config) = config {
        cmd.arg("--config-file").arg(config);
    }
    cmd.arg("run")
        .arg(spec)
        .args(["--seed", "42", "--max-examples", "1", "--workers", "1"])
        .args(args)
        .args(["--report", "har", "--report-dir"])
        .arg(report_dir)
        .current_dir(report_dir);
    cmd
}

/// Schemathesis exits 1 on the app's own deviations from its document;
/// more means it could not run.
fn schemathesis_ran(rec: &Recorded) {
    assert!(
        rec.runner.status.code().is_some_and(|c| c <= 1),
        "{}",
        text(&rec.runner)
    );
}

fn psql(sql: &str) -> Output {
    let (host, port) = REAL_PG.split_once(':').unwrap();
    Command::new("psql")
        .args([
            "-X", "-q", "-h", host, "-p", port, "-U", "postgres", "-d", "postgres",
        ])
        .args(["-c", sql])
        .output()
        .expect("running psql (scripts/deps.sh installs it)")
}

/// A database of the test's own with Conduit's tables, dropped when the
/// test ends, whichever way.
struct Database {
    name: String,
}

impl Database {
    /// `offsets` restarts id sequences, e.g. `users=100,articles=200`.
    fn create(offsets: &str) -> Self {
        let name = format!(
            "reel_it_conduit_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple().to_string().split_at(8).0
        );
        let out = psql(&format!("CREATE DATABASE {name}"));
        assert!(out.status.success(), "{}", text(&out));
        let db = Database { name };
        let out = Command::new(python())
            .arg(fixtures().join("conduit/app.py"))
            .args(["migrate", "--id-offsets", offsets])
            .env("DATABASE_URL", db.url(REAL_PG))
            .output()
            .unwrap();
        assert!(out.status.success(), "migrate: {}", text(&out));
        db
    }

    fn url(&self, hostport: &str) -> String {
        format!(
            "postgres://postgres@{hostport}/{}?sslmode=disable",
            self.name
        )
    }

    fn drop_now(&self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.drop_now();
    }
}

/// The Conduit app as `sh` runs it. Without a database URL it reaches the
/// database through reel: `$REEL_DEP_DB` is the recorder while recording
/// and the mock while replaying.
fn conduit_command(driver: &str, port: u16, db: &Database, url: Option<&str>) -> String {
    let url = url.map_or_else(|| db.url("$REEL_DEP_DB"), str::to_owned);
    format!(
        "DATABASE_URL=\"{url}\" exec {} {} serve --driver {driver} --port {port}",
        python(),
        fixtures().join("conduit/app.py").display()
    )
}

/// `--verify` runs the app against the real database, which the recording
/// already filled: a fresh one before each start (reel has no reset hook).
fn conduit_verify_command(driver: &str, port: u16, db: &Database) -> String {
    let (host, pg_port) = REAL_PG.split_once(':').unwrap();
    format!(
        "psql -X -q -h {host} -p {pg_port} -U postgres -d postgres \
         -c 'DROP DATABASE IF EXISTS {name} WITH (FORCE)' -c 'CREATE DATABASE {name}' \
         && DATABASE_URL='{url}' {py} {app} migrate && {serve}",
        name = db.name,
        url = db.url(REAL_PG),
        py = python(),
        app = fixtures().join("conduit/app.py").display(),
        serve = conduit_command(driver, port, db, None),
    )
}

async fn port_open(port: u16) {
    poll("the app's port", Duration::from_secs(60), async || {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
}

/// Runs a test runner to completion (with a deadline).
async fn run_runner(cmd: &mut tokio::process::Command) -> Output {
    let child = cmd
        .kill_on_drop(true)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting the test runner");
    tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("the test runner finished within 300 s")
        .unwrap()
}

/// A session recorded from a real app under its runner.
struct Recorded {
    dir: tempfile::TempDir,
    session: String,
    /// What `reel record` printed when it stopped.
    summary: String,
    /// What the runner printed, and whether it passed.
    runner: Output,
}

impl Recorded {
    fn store(&self) -> PathBuf {
        self.dir.path().join("reel.db")
    }

    fn suite(&self) -> PathBuf {
        self.dir.path().join("suite")
    }

    /// The count the summary gives for `what` (`inbound`, `dropped`).
    fn counted(&self, what: &str) -> u64 {
        self.summary
            .lines()
            .find_map(|l| l.trim().strip_prefix(what))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{what}' count in:\n{}", self.summary))
    }

    /// `reel generate [FLAGS]`; returns its exit code and output.
    fn generate(&self, flags: &[&str]) -> (i32, String) {
        let suite = self.suite();
        let store = self.store();
        let mut args = vec![
            "generate",
            &self.session,
            "--out",
            suite.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        let out = reel(&args);
        (out.status.code().unwrap_or(-1), text(&out))
    }

    /// `reel test SUITE [FLAGS]` with the recorded secrets, as CI runs it.
    fn replay(&self, flags: &[&str], env: &[(&str, &str)]) -> (i32, String) {
        let out = Command::new(reel_bin())
            .arg("test")
            .arg(self.suite())
            .arg("--secrets")
            .arg(self.dir.path().join("secrets.toml"))
            .args(flags)
            .env("REEL_LOG", "warn")
            .env("REEL_STORE", self.store())
            .env("CI", "true")
            .envs(env.iter().copied())
            .output()
            .expect("running reel test");
        (out.status.code().unwrap_or(-1), text(&out))
    }
}

/// A failed test keeps what it recorded and generated, for a look afterwards.
impl Drop for Recorded {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            eprintln!(
                "the store and the suite are kept in {}",
                dir.keep().display()
            );
        }
    }
}

/// Records `app` (a command for `sh`, listening on `port`) through reel,
/// with the given dependencies, while `runner` drives it at reel's address.
async fn record(
    session: &str,
    port: u16,
    app: &str,
    deps: &[String],
    runner: impl FnOnce(SocketAddr) -> tokio::process::Command,
) -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let args = record_args(port, deps, session, &store, app);
    let rec = Recording::start(&args).await.unwrap();
    port_open(port).await;
    let runner = run_runner(&mut runner(rec.inbound)).await;
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "reel record failed:\n{out}{err}");
    Recorded {
        dir,
        session: session.into(),
        summary: out,
        runner,
    }
}

fn newman(base: SocketAddr, user: &str) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(installed("conduit/run-newman.sh"));
    cmd.env("APIURL", format!("http://{base}/api"))
        .env("USERNAME", user);
    cmd
}

/// A user name no other test (or run) uses.
fn unique_user() -> String {
    format!(
        "u{}",
        uuid::Uuid::new_v4().simple().to_string().split_at(10).0
    )
}

async fn record_conduit_newman(driver: &str, db: &Database, port: u16) -> Recorded {
    let user = unique_user();
    record(
        &format!("conduit-{driver}"),
        port,
        &conduit_command(driver, port, db, None),
        &[format!("db=postgres:127.0.0.1:0={REAL_PG}")],
        |base| newman(base, &user),
    )
    .await
}

/// Every replay passes every case, and the counts are what was recorded.
fn assert_green(rec: &Recorded, runs: usize, cases: u64) {
    for run in 1..=runs {
        let (code, out) = rec.replay(&[], &[]);
        assert!(
            code == 0 && out.contains(&format!("{cases} passed, 0 failed")),
            "replay {run} of {runs} (exit {code}):\n{out}"
        );
    }
}

/// The whole loop on Conduit under its collection: generate --verify finds
/// nothing it cannot explain, the suite replays green with the database
/// gone, passes against a database with other ids, and catches a renamed
/// field and a changed ORDER BY.
async fn conduit_newman_loop(driver: &str) {
    let db = Database::create("");
    let port = free_port();
    let rec = record_conduit_newman(driver, &db, port).await;
    assert!(
        rec.runner.status.success(),
        "newman through reel:\n{}",
        text(&rec.runner)
    );
    let (code, printed) = rec.generate(&[
        "--verify",
        "2",
        "--app",
        &conduit_verify_command(driver, port, &db),
    ]);
    assert_eq!(code, 0, "generate --verify:\n{printed}");
    db.drop_now();
    assert_green(&rec, 3, 32);

    let live = Database::create("users=100,articles=200,comments=300,tags=400");
    let live_app = conduit_command(driver, port, &live, Some(&live.url(REAL_PG)));
    let (code, out) = rec.replay(&["--app", &live_app], &[]);
    assert_eq!(
        code, 0,
        "replay against a database whose ids start at 100/200/300/400:\n{out}"
    );

    for change in ["rename-field", "order-by"] {
        let (code, out) = rec.replay(&[], &[("CONDUIT_REGRESSION", change)]);
        assert_eq!(code, 1, "a suite must catch {change}:\n{out}");
        // The first list of articles (0006) and the article created (0010)
        // show either change.
        assert!(
            out.contains("FAIL 0010-post-api-articles") || change == "order-by",
            "{change}:\n{out}"
        );
        assert!(
            out.contains("FAIL 0006-get-api-articles") || change == "rename-field",
            "{change}:\n{out}"
        );
    }
}

/// Recording is transparent: the collection's 181 assertions pass through
/// reel, every request is stored and nothing is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conduit_collection_passes_through_reel() {
    let db = Database::create("");
    let rec = record_conduit_newman("asyncpg", &db, free_port()).await;
    let out = text(&rec.runner);
    assert!(rec.runner.status.success(), "newman through reel:\n{out}");
    // newman's summary table: `│ assertions │ 181 │ 0 │` (executed, failed).
    let assertions: Vec<&str> = out
        .lines()
        .find(|l| l.contains(" assertions "))
        .map(|l| {
            l.split('│')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        assertions,
        ["assertions", "181", "0"],
        "every assertion of the collection ran and passed:\n{out}"
    );
    assert_eq!(rec.counted("inbound"), 32, "{}", rec.summary);
    assert_eq!(rec.counted("dropped"), 0, "{}", rec.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conduit_asyncpg_collection_replays_green() {
    conduit_newman_loop("asyncpg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conduit_psycopg_collection_replays_green() {
    conduit_newman_loop("psycopg").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conduit_concurrent_users_replay_green() {
    let db = Database::create("");
    let port = free_port();
    let users = 3;
    let rec = record(
        "conduit-concurrent",
        port,
        &conduit_command("asyncpg", port, &db, None),
        &[format!("db=postgres:127.0.0.1:0={REAL_PG}")],
        |base| {
            let mut cmd = tokio::process::Command::new(python());
            cmd.arg(fixtures().join("conduit/concurrent_client.py"))
                .arg(format!("http://{base}/api"))
                .args(["--users", &users.to_string(), "--prefix", &unique_user()]);
            cmd
        },
    )
    .await;
    assert!(rec.runner.status.success(), "{}", text(&rec.runner));
    // 14 requests per user.
    assert_eq!(rec.counted("inbound"), 14 * users, "{}", rec.summary);
    let (code, printed) = rec.generate(&[
        "--verify",
        "2",
        "--app",
        &conduit_verify_command("asyncpg", port, &db),
    ]);
    assert_eq!(code, 0, "generate --verify:\n{printed}");
    db.drop_now();
    assert_green(&rec, 3, 14 * users);
    same_suite_a_case_at_a_time(&rec);
}

/// `reel generate` hands cases on as the recording moves past them, so that
/// a long session is never held whole. Made a case at a time, the suite of
/// this concurrent session (pooled queries attributed by evidence, chained
/// tokens, repeats, secrets) is the one made all at once, file for file.
fn same_suite_a_case_at_a_time(rec: &Recorded) {
    let store = rec.store();
    let whole = rec.dir.path().join("whole");
    let windowed = rec.dir.path().join("windowed");
    for (out, window) in [(&whole, "0"), (&windowed, "1")] {
        let made = Command::new(reel_bin())
            .args(["generate", &rec.session, "--out"])
            .arg(out)
            .arg("--store")
            .arg(&store)
            .env("REEL_GENERATE_WINDOW", window)
            .output()
            .expect("running reel generate");
        assert!(made.status.success(), "{}", text(&made));
    }
    let files = |dir: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for sub in ["cases", "mocks"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                let p = e.unwrap().path();
                let name = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((name, std::fs::read(&p).unwrap()));
            }
        }
        out.push((
            "suite.json".into(),
            std::fs::read(dir.join("suite.json")).unwrap(),
        ));
        out.sort();
        out
    };
    let (a, b) = (files(&whole), files(&windowed));
    assert!(a.len() > 14, "{} files", a.len());
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs when made a case at a time");
    }
}

/// httpbin under Schemathesis: one example per operation, fixed seed (about
/// 450 requests: its coverage phase adds many).
async fn record_httpbin() -> Recorded {
    let port = free_port();
    let app = format!(
        "exec {} -b 127.0.0.1:{port} httpbin:app",
        installed(".venv/bin/gunicorn")
    );
    let report = tempfile::tempdir().unwrap();
    let report_dir = report.path().to_owned();
    let rec = record("httpbin", port, &app, &[], |base| {
        schemathesis(
            &format!("http://{base}/spec.json"),
            &report_dir,
            None,
            &["--url".into(), format!("http://{base}")],
        )
    })
    .await;
    schemathesis_ran(&rec);
    let har = std::fs::read_dir(&report_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("Schemathesis wrote its HAR file");
    let har: serde_json::Value = serde_json::from_slice(&std::fs::read(har).unwrap()).unwrap();
    let sent = har["log"]["entries"].as_array().unwrap().len() as u64;
    // Schemathesis lists one entry per test case; reel also stores its fetch
    // of /spec.json and each hop of a redirect it followed.
    assert!(
        rec.counted("inbound") > sent,
        "{sent} requests sent:\n{}",
        rec.summary
    );
    rec
}

/// Recording is transparent for a property-based tester too: every request
/// it sent is stored and nothing is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpbin_schemathesis_passes_through_reel() {
    let rec = record_httpbin().await;
    assert!(rec.counted("inbound") > 50, "{}", rec.summary);
    assert_eq!(rec.counted("dropped"), 0, "{}", rec.summary);
}

/// Issue 18's check: recorded with default settings and generated with
/// `--verify`, every case replays green, with no false secret (CORS
/// headers, tiny cookie values) in the suite; and a regressed httpbin fails
/// exactly the cases its regressions touch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httpbin_schemathesis_replays_green() {
    let rec = record_httpbin().await;
    let (code, printed) = rec.generate(&["--verify", "2"]);
    assert_eq!(code, 0, "generate --verify:\n{printed}");
    let cases_dir = rec.suite().join("cases");
    for entry in std::fs::read_dir(&cases_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("${secret:"),
            "{} holds a secret placeholder, but httpbin's session has no secret",
            path.display()
        );
    }
    let cases = rec.counted("inbound");
    assert_green(&rec, 2, cases);
    // Injected regressions fail exactly the cases they touch, exit 1: the
    // JSON field `origin` renamed in uncompressed answers, and GET /uuid
    // answering 201 (fixtures/real-apps/httpbin/httpbin_regressed.py).
    let mut affected = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&cases_dir).unwrap() {
        let path = entry.unwrap().path();
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let response = &case["response"];
        let renamed = response.get("body_encoding").is_none()
            && response["body"]["json"].get("origin").is_some();
        let target = case["request"]["target"].as_str().unwrap();
        let uuid = target.split('?').next() == Some("/uuid") && response["status"] == 200;
        if renamed || uuid {
            affected.insert(case["name"].as_str().unwrap().to_owned());
        }
    }
    assert!(affected.len() > 10, "{affected:?}");
    let suite: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rec.suite().join("suite.json")).unwrap())
            .unwrap();
    let port = suite["app"]["target"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let regressed = format!(
        "exec {} -b 127.0.0.1:{port} --pythonpath {} httpbin_regressed:app",
        installed(".venv/bin/gunicorn"),
        fixtures().join("httpbin").display()
    );
    let (code, out) = rec.replay(&["--app", &regressed], &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(failed_cases(&out), affected, "{out}");
}

/// Kinto as `sh` runs it. Everything is in memory, so each start is an
/// empty Kinto. Its principals list comes from a Python set, whose order
/// each process's hash seed decides (one chance in two that two starts
/// agree, too rare for `--verify` to see every time): the seed is pinned.
fn kinto_command(port: u16, program: &str) -> String {
    format!("PYTHONHASHSEED=0 exec {program} {port}")
}

const KINTO_PASSWORD: &str = "reel-kinto-Pa55word";

/// `Basic base64(reel:KINTO_PASSWORD)`: Kinto's basicauth policy takes any
/// credentials (fixtures/real-apps/kinto/kinto.ini).
fn kinto_credentials() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("reel:{KINTO_PASSWORD}"))
}

/// Kinto under Schemathesis: every phase, one example per operation, fixed
/// seed (about 1,430 requests, most of them the coverage phase's).
async fn record_kinto() -> Recorded {
    let port = free_port();
    let kinto = format!(
        "{} start --ini {} --port",
        installed(".venv/bin/kinto"),
        fixtures().join("kinto/kinto.ini").display()
    );
    let report = tempfile::tempdir().unwrap();
    let report_dir = report.path().to_owned();
    let rec = record("kinto", port, &kinto_command(port, &kinto), &[], |base| {
        schemathesis(
            &format!("http://{base}/v1/__api__"),
            &report_dir,
            Some(fixtures().join("kinto/schemathesis.toml")),
            &[
                "-H".into(),
                format!("Authorization: Basic {}", kinto_credentials()),
            ],
        )
    })
    .await;
    schemathesis_ran(&rec);
    assert_eq!(rec.counted("dropped"), 0, "{}", rec.summary);
    rec
}

/// Issue 18's second app: Kinto makes up ids (UUIDs, 8-character ids) and
/// times (`last_modified`, ETag, Last-Modified), and is signed in with
/// Basic auth. Generated with `--verify`, every case replays green; the
/// password is nowhere in the suite in clear; ids the server made link
/// later requests, while the OpenAPI document's operationIds and the
/// collection the client named itself do not; and a regressed Kinto fails
/// exactly the cases its regressions touch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinto_schemathesis_replays_green() {
    let rec = record_kinto().await;
    let (code, printed) = rec.generate(&["--verify", "2"]);
    assert_eq!(code, 0, "generate --verify:\n{printed}");
    let cases_dir = rec.suite().join("cases");
    let mut affected = std::collections::BTreeSet::new();
    let mut placeholders = 0;
    let mut references = Vec::new();
    for entry in std::fs::read_dir(&cases_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for clear in [KINTO_PASSWORD.to_owned(), kinto_credentials()] {
            assert!(
                !text.contains(&clear),
                "{} holds the password",
                path.display()
            );
        }
        let case: serde_json::Value = serde_json::from_str(&text).unwrap();
        let target = case["request"]["target"].as_str().unwrap();
        let auth = case["request"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h[0] == "Authorization")
            .and_then(|h| h[1].as_str());
        if auth == Some("Basic ${secret:AUTHORIZATION}") {
            placeholders += 1;
        }
        if target.contains("${") {
            references.push(target.to_owned());
        }
        // The regressions (fixtures/real-apps/kinto/kinto_regressed.py):
        // `last_modified` renamed in an answer whose `data` is one object,
        // and GET /v1/__heartbeat__ answering 503.
        let response = &case["response"];
        let renamed = response["body"]["json"]["data"]
            .get("last_modified")
            .is_some();
        let heartbeat = case["request"]["method"] == "GET"
            && target.split('?').next() == Some("/v1/__heartbeat__")
            && response["status"] == 200;
        if renamed || heartbeat {
            affected.insert(case["name"].as_str().unwrap().to_owned());
        }
    }
    assert!(
        placeholders > 100,
        "{placeholders} requests sign in with the placeholder"
    );
    // Ids Kinto handed out, reused by Schemathesis in later paths; never an
    // operationId of the document (`/v1/__heartbeat__`) or the collection
    // the client named itself (`tasks`). generate.txt lists every place.
    assert!(!references.is_empty(), "no id flowed into a later request");
    let listed = std::fs::read_to_string(rec.suite().join("generate.txt")).unwrap();
    for invented in ["operationId", "request path 'tasks'"] {
        assert!(!listed.contains(invented), "{invented}:\n{listed}");
    }
    let cases = rec.counted("inbound");
    assert_green(&rec, 2, cases);

    assert!(affected.len() > 10, "{affected:?}");
    let suite: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rec.suite().join("suite.json")).unwrap())
            .unwrap();
    let port: u16 = suite["app"]["target"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let regressed = kinto_command(
        port,
        &format!(
            "{} {}",
            python(),
            fixtures().join("kinto/kinto_regressed.py").display()
        ),
    );
    let (code, out) = rec.replay(&["--app", &regressed], &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(failed_cases(&out), affected, "{out}");
}

/// `reel test --freeze-time` runs Python apps, under gunicorn (whose master
/// sleeps with `time.sleep` as it starts its workers, which libfaketime
/// 0.9.10 made fail with EINVAL, so no case reached the app) and under a
/// development server (Flask's); an app that dies under libfaketime is said
/// to have, with its last output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_time_runs_python_under_gunicorn_and_a_development_server() {
    let port = free_port();
    let gunicorn = format!(
        "exec {} -b 127.0.0.1:{port} httpbin:app",
        installed(".venv/bin/gunicorn")
    );
    // Answers that do not echo the Host or the client's headers.
    let paths = ["/json", "/robots.txt", "/status/418", "/uuid", "/deny"];
    let rec = record("freeze", port, &gunicorn, &[], |base| {
        let mut cmd = tokio::process::Command::new(python());
        cmd.arg("-c")
            .arg("import sys, httpx\nfor p in sys.argv[2:]: httpx.get(sys.argv[1] + p)")
            .arg(format!("http://{base}"))
            .args(paths);
        cmd
    })
    .await;
    assert!(rec.runner.status.success(), "{}", text(&rec.runner));
    let (code, printed) = rec.generate(&[]);
    assert_eq!(code, 0, "{printed}");

    let flask = format!(
        "exec {} --app httpbin:app run --port {port}",
        installed(".venv/bin/flask")
    );
    for app in [&gunicorn, &flask] {
        let (code, out) = rec.replay(&["--freeze-time", "--app", app], &[]);
        assert!(
            code == 0 && out.contains("5 passed, 0 failed"),
            "--freeze-time with {app} (exit {code}):\n{out}"
        );
    }

    let dying = "echo the app gives up >&2; exit 3";
    let (code, out) = rec.replay(&["--freeze-time", "--app", dying], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("the app stopped or never answered while starting under libfaketime")
            && out.contains("the app gives up"),
        "{out}"
    );
}
