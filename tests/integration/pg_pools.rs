//! Connection pools and app-made random values, end to end: a Python API on a
//! pool of 10 Postgres connections (asyncpg's, or psycopg_pool's) with bcrypt
//! passwords, JWT logins and random ids, salts and nonces written to the
//! database, driven by a concurrent client through `reel record`, generated,
//! and replayed again and again with the database gone. At replay the pool
//! hands each case a different connection than when recorded, statements get
//! prepared on other connections in other cases, and every hash, salt and id
//! the app makes is new: each replay must be green all the same.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::postgres::{app_ready, mock_lines, run_suite, unique_schema, Forwarder, REAL_PG};
use crate::support::*;

/// The fixture app, run by the Python on PATH.
fn pool_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pg/pool_app.py")
}

/// Fails with what to install when the app's Python packages are missing.
fn require_python(driver: &str) {
    let module = if driver == "psycopg" {
        "psycopg_pool"
    } else {
        driver
    };
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}, bcrypt, jwt")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 cannot import {module}, bcrypt and jwt: run scripts/deps.sh \
         (pip install -r fixtures/pg/requirements.txt)"
    );
}

/// A JSON request through reel; returns the status and the JSON answer.
pub(crate) async fn send(
    c: &reqwest::Client,
    method: &str,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = c.request(method.parse().unwrap(), &url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The client: four users register, log in, write, read and comment, each
/// step for all four at once. 32 requests.
async fn drive(base: &str) {
    let c = client();
    let users = ["alice", "bob", "carol", "dave"];
    let ok = |what: &str, (s, v): &(u16, Value), want: u16| {
        assert_eq!(*s, want, "{what}: {v}");
    };
    let all = join_all(users.iter().map(|u| {
        send(
            &c,
            "POST",
            format!("{base}/users"),
            None,
            Some(json!({"username": u, "password": format!("pw-{u}-Horse-Battery")})),
        )
    }))
    .await;
    all.iter().for_each(|r| ok("register", r, 201));
    let logins = join_all(users.iter().map(|u| {
        send(
            &c,
            "POST",
            format!("{base}/login"),
            None,
            Some(json!({"username": u, "password": format!("pw-{u}-Horse-Battery")})),
        )
    }))
    .await;
    logins.iter().for_each(|r| ok("login", r, 200));
    let tokens: Vec<String> = logins
        .iter()
        .map(|(_, v)| v["token"].as_str().unwrap().to_owned())
        .collect();
    let articles = join_all(tokens.iter().zip(users).map(|(t, u)| {
        send(
            &c,
            "POST",
            format!("{base}/articles"),
            Some(t),
            Some(json!({"title": format!("{u} writes"), "body": format!("notes by {u}")})),
        )
    }))
    .await;
    articles.iter().for_each(|r| ok("article", r, 201));
    let ids: Vec<i64> = articles
        .iter()
        .map(|(_, v)| v["id"].as_i64().unwrap())
        .collect();
    let mut reads = vec![send(&c, "GET", format!("{base}/articles"), None, None)];
    reads.extend(
        ids.iter()
            .map(|id| send(&c, "GET", format!("{base}/articles/{id}"), None, None)),
    );
    reads.extend(
        tokens
            .iter()
            .map(|t| send(&c, "GET", format!("{base}/me"), Some(t), None)),
    );
    join_all(reads)
        .await
        .iter()
        .for_each(|r| ok("read", r, 200));
    let comments = join_all(tokens.iter().zip(ids.iter().rev()).map(|(t, id)| {
        send(
            &c,
            "POST",
            format!("{base}/articles/{id}/comments"),
            Some(t),
            Some(json!({"body": "nice"})),
        )
    }))
    .await;
    comments.iter().for_each(|r| ok("comment", r, 201));
    join_all(ids.iter().map(|id| {
        send(
            &c,
            "GET",
            format!("{base}/articles/{id}/comments"),
            None,
            None,
        )
    }))
    .await
    .iter()
    .for_each(|r| ok("comments", r, 200));
    let deletes = join_all(tokens.iter().zip(&comments).take(2).map(|(t, (_, v))| {
        send(
            &c,
            "DELETE",
            format!("{base}/comments/{}", v["id"]),
            Some(t),
            None,
        )
    }))
    .await;
    deletes.iter().for_each(|r| ok("delete", r, 200));
    ok(
        "list",
        &send(&c, "GET", format!("{base}/articles"), None, None).await,
        200,
    );
}

/// Drops the test's schema from the real server.
fn drop_schema(schema: &str) {
    let _ = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-X",
            "-q",
            "test",
            "-c",
        ])
        .arg(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .output();
}

/// Records the app on `driver`'s pool under the concurrent client, generates
/// the suite, takes the database away and replays `replays` times.
async fn pool_round_trip(driver: &str, replays: usize) {
    require_python(driver);
    let dir = tempfile::tempdir().unwrap();
    let database = Forwarder::start(REAL_PG).await;
    let schema = unique_schema(driver);
    let port = free_port();
    let cmd = format!(
        "DATABASE_URL=\"postgres://postgres@$REEL_DEP_DB/test?sslmode=disable\" \
         exec python3 {} --listen 127.0.0.1:{port} --schema {schema} --driver {driver} --create",
        pool_app().display()
    );
    let store = dir.path().join("reel.db");
    let args = record_args(
        port,
        &[format!("db=postgres:127.0.0.1:0={}", database.addr)],
        "pool",
        &store,
        &cmd,
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = app_ready_at(&rec).await;
    drive(&base).await;
    let (code, out, err) = rec.interrupt().await;
    drop_schema(&schema);
    assert_eq!(code, 0, "{out}{err}");
    let (suite, printed) = generate_suite(dir.path(), "pool", &store);
    let cases = std::fs::read_dir(suite.join("cases")).unwrap().count();
    assert_eq!(cases, 33, "health and 32 requests:\n{printed}");
    assert!(
        mock_lines(&suite)
            .iter()
            .filter(|l| l["protocol"] == "postgres")
            .count()
            > 30,
        "{printed}"
    );

    // The database is gone: only reel's mock answers now.
    database.stop().await;
    let secrets = dir.path().join("secrets.toml");
    let mut results = Vec::new();
    for _ in 0..replays {
        let (code, out) = run_suite(&suite, &["--secrets", secrets.to_str().unwrap()]);
        results.push((code, out));
    }
    let failed: Vec<&String> = results
        .iter()
        .filter(|(code, _)| *code != 0)
        .map(|(_, out)| out)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {replays} replays failed; the first:\n{}\n(generate said:\n{printed})",
        failed.len(),
        failed.first().map_or("", |s| s.as_str())
    );
    assert!(
        results[0].1.contains("33 passed, 0 failed"),
        "{}",
        results[0].1
    );
}

/// `app_ready` polls `/health` through reel: the Python app takes a moment.
async fn app_ready_at(rec: &Recording) -> String {
    tokio::time::timeout(Duration::from_secs(60), app_ready(rec))
        .await
        .expect("the app answered within 60 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncpg_pool_of_ten_replays_green_twenty_times() {
    pool_round_trip("asyncpg", 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_pool_of_ten_replays_green_twenty_times() {
    pool_round_trip("psycopg", 20).await;
}

/// `generate --verify` replays against the real database, which the
/// recording (and each run) leaves changed: the second registration of a
/// user fails. `--reset CMD` runs before each start of the app, with
/// `REEL_DEP_DB` set as the app gets it, and puts the database back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_against_a_stateful_database_needs_and_takes_a_reset() {
    require_python("asyncpg");
    let dir = tempfile::tempdir().unwrap();
    let schema = unique_schema("reset");
    let port = free_port();
    let cmd = format!(
        "DATABASE_URL=\"postgres://postgres@$REEL_DEP_DB/test?sslmode=disable\" \
         exec python3 {} --listen 127.0.0.1:{port} --schema {schema} --create",
        pool_app().display()
    );
    let store = dir.path().join("reel.db");
    let args = record_args(
        port,
        &[format!("db=postgres:127.0.0.1:0={REAL_PG}")],
        "reset",
        &store,
        &cmd,
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = app_ready_at(&rec).await;
    let c = client();
    let user = json!({"username": "erin", "password": "pw-erin-Horse-Battery"});
    let (s, v) = send(
        &c,
        "POST",
        format!("{base}/users"),
        None,
        Some(user.clone()),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = send(&c, "POST", format!("{base}/login"), None, Some(user)).await;
    assert_eq!(s, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    let (s, v) = send(&c, "POST", format!("{base}/me/code"), Some(&token), None).await;
    assert_eq!(s, 200, "{v}");
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");

    let suite = dir.path().join("suite");
    let generate = |extra: &[&str]| {
        let mut a = vec![
            "generate",
            "reset",
            "--out",
            suite.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--verify",
        ];
        a.extend_from_slice(extra);
        let out = reel(&a);
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    // The user the recording made is still there: registering fails.
    let (code, out) = generate(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("0002-post-users") && l.contains("status: expected 201, got 500")),
        "{out}"
    );
    // Dropping the schema (the app makes it again) before each start: every
    // run starts where the recording did.
    let reset = format!(
        "psql \"postgres://postgres@$REEL_DEP_DB/test?sslmode=disable\" -X -q \
         -c 'DROP SCHEMA IF EXISTS {schema} CASCADE'"
    );
    let (code, out) = generate(&["--reset", &reset]);
    drop_schema(&schema);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("will fail on replay"), "{out}");
    // The one-time code has no format of its own: replayed sealed, it
    // differed between runs, and is now matched as a number.
    assert!(
        out.lines().any(|l| l.contains("0004-post-me-code#")
            && l.contains("request[")
            && l.contains("number: differed across runs: ")),
        "{out}"
    );
    let secrets = dir.path().join("secrets.toml");
    let (code, out) = run_suite(&suite, &["--secrets", secrets.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    // A reset that fails stops --verify, saying so.
    let (code, out) = generate(&["--reset", "echo no database here >&2; exit 3"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--reset `echo no database here >&2; exit 3` failed (exit status: 3):")
            && out.contains("no database here"),
        "{out}"
    );
}
