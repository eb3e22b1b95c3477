//! Postgres end to end: real clients (psql, tokio-postgres, sqlx, psycopg)
//! behind an HTTP app, recorded through `reel record --dep db=postgres:...`
//! against the real server, then replayed with reel's mock answering in the
//! database's place. Each case's response holds the rows the client got, so a
//! green replay means the client got from the mock what it got from Postgres.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

pub(crate) const REAL_PG: &str = "127.0.0.1:5432";

pub(crate) fn sibling_bin(name: &str) -> PathBuf {
    let bin = reel_bin().with_file_name(name);
    assert!(
        bin.exists(),
        "{} not built: cargo build --workspace --bins --features reel-fixtures/pg",
        bin.display()
    );
    bin
}

/// A schema name no other test (or run) uses.
pub(crate) fn unique_schema(what: &str) -> String {
    format!(
        "reel_it_{}_{}_{}",
        what.replace('-', "_"),
        std::process::id(),
        uuid::Uuid::new_v4().simple().to_string().split_at(8).0
    )
}

/// The app command as the suite will run it: the database URL comes from
/// `REEL_DEP_DB`, which reel sets to its recorder while recording and to its
/// mock while replaying.
fn app_command(bin: &Path, args: &str) -> String {
    format!(
        "DATABASE_URL=\"postgres://postgres@$REEL_DEP_DB/test?sslmode=disable\" exec {} {args}",
        bin.display()
    )
}

/// Waits (with a deadline) until the app answers `/health` through reel;
/// returns reel's base URL.
pub(crate) async fn app_ready(rec: &Recording) -> String {
    let base = format!("http://{}", rec.inbound);
    let c = client();
    poll("the app behind reel", Duration::from_secs(30), async || {
        let r = c.get(format!("{base}/health")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    base
}

struct PgRecording {
    rec: Recording,
    base: String,
}

async fn record_app(dir: &Path, session: &str, app_port: u16, command: &str) -> PgRecording {
    let store = dir.join("reel.db");
    let args = record_args(
        app_port,
        &[format!("db=postgres:127.0.0.1:0={REAL_PG}")],
        session,
        &store,
        command,
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = app_ready(&rec).await;
    PgRecording { rec, base }
}

pub(crate) async fn call(method: &str, url: &str) -> (u16, Value) {
    let c = client();
    let r = c
        .request(method.parse().unwrap(), url)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) fn mock_lines(suite: &Path) -> Vec<Value> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(suite.join("mocks")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()),
        );
    }
    lines
}

pub(crate) fn run_suite(suite: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["test", suite.to_str().unwrap()];
    args.extend(extra);
    let out = reel(&args);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Records `route` twice (statements prepared in the first case are reused in
/// the second) between a setup and a teardown, then replays the suite.
async fn client_round_trip(route: &str) {
    let dir = tempfile::tempdir().unwrap();
    let schema = unique_schema(route);
    let port = free_port();
    let cmd = app_command(
        &sibling_bin("reel-pg-clients"),
        &format!("--listen 127.0.0.1:{port} --schema {schema}"),
    );
    let r = record_app(dir.path(), "pg", port, &cmd).await;
    let (s, setup) = call("POST", &format!("{}/setup", r.base)).await;
    assert_eq!(s, 200, "{setup}");
    let (s1, first) = call("GET", &format!("{}/{route}", r.base)).await;
    let (s2, second) = call("GET", &format!("{}/{route}", r.base)).await;
    assert_eq!((s1, s2), (200, 200), "{first}\n{second}");
    let (s, _) = call("POST", &format!("{}/teardown", r.base)).await;
    assert_eq!(s, 200);
    let (code, out, err) = r.rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("db "),
        "the summary names the db dependency:\n{out}"
    );

    let (suite, printed) = generate_suite(dir.path(), "pg", &dir.path().join("reel.db"));
    let suite_json: Value =
        serde_json::from_str(&std::fs::read_to_string(suite.join("suite.json")).unwrap()).unwrap();
    let db = &suite_json["dependencies"][0];
    assert_eq!(db["protocol"], "postgres", "{suite_json}");
    assert!(
        db["server_parameters"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "the server's parameters are kept for the mock's greeting: {db}"
    );
    let lines = mock_lines(&suite);
    let pg: Vec<&Value> = lines
        .iter()
        .filter(|l| l["protocol"] == "postgres")
        .collect();
    assert!(
        pg.len() > 5,
        "postgres request groups in the mocks:\n{printed}"
    );
    let counted = format!("{} mocks (0 http, {} postgres; ", pg.len(), pg.len());
    assert!(printed.contains(&counted), "{printed}");
    // Start-up groups (and with them any password message) are not mocks.
    let all = lines.iter().map(Value::to_string).collect::<String>();
    assert!(!all.contains("PasswordMessage") && !all.contains("StartupMessage"));

    let cases = std::fs::read_dir(suite.join("cases")).unwrap().count();
    assert_eq!(cases, 5, "health, setup, two runs, teardown:\n{printed}");
    let (code, out) = run_suite(&suite, &[]);
    assert_eq!(code, 0, "replay against the mock:\n{out}");
    assert!(out.contains("5 passed, 0 failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_replays_against_the_mock() {
    client_round_trip("psql").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_postgres_replays_against_the_mock() {
    client_round_trip("tokio-postgres").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_replays_against_the_mock() {
    client_round_trip("sqlx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_replays_against_the_mock() {
    client_round_trip("psycopg").await;
}

/// A client that insists on TLS is told, in reel's log, what to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_requires_tls_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cmd = format!(
        "exec {} --listen 127.0.0.1:{port}",
        sibling_bin("reel-demo-app").display()
    );
    let r = record_app(dir.path(), "tls", port, &cmd).await;
    let db: SocketAddr = r.rec.dep("db");
    let out = tokio::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=test user=postgres sslmode=require",
            db.port()
        ))
        .args(["-X", "-c", "select 1"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let (code, _, err) = r.rec.interrupt().await;
    assert_eq!(code, 0);
    assert!(
        err.contains("TLS to the recorder is not supported") && err.contains("sslmode=disable"),
        "{err}"
    );
}

/// `reel record` with only a Postgres dependency `db` in front of `target`
/// (no app; the inbound side points nowhere).
async fn record_db_only(store: &Path, session: &str, target: &str) -> Recording {
    record_db_only_with(store, session, target, &[]).await
}

/// [`record_db_only`] with more `reel record` flags.
async fn record_db_only_with(
    store: &Path,
    session: &str,
    target: &str,
    extra: &[&str],
) -> Recording {
    let mut args: Vec<String> = [
        "--upstream",
        "http://127.0.0.1:9",
        "--listen",
        "127.0.0.1:0",
        "--dep",
        &format!("db=postgres:127.0.0.1:0={target}"),
        "--session",
        session,
        "--store",
        store.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    Recording::start(&args).await.unwrap()
}

/// Reads from `s` until `needle` shows up in what was read, or the peer closes.
async fn read_until(s: &mut tokio::net::TcpStream, needle: &[u8]) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !got.windows(needle.len()).any(|w| w == needle) {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("an answer or a close within 10 s");
    got
}

fn startup_message() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608i32.to_be_bytes());
    for s in ["user", "postgres", "database", "test", ""] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend(body);
    msg
}

fn psql_select(addr: SocketAddr, sql: &str) -> String {
    let out = run_ok(
        std::process::Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={} dbname=test user=postgres sslmode=disable",
                addr.port()
            ))
            .args(["-X", "-A", "-t", "-c", sql]),
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Malformed frames from the app close that one connection with an error that
/// names the message and the byte offset; other connections go on, and what
/// was recorded before the bad frame is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_close_only_their_connection() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_db_only(&store, "bad", REAL_PG).await;
    let db = rec.dep("db");

    // Garbage where a start-up packet belongs.
    let mut garbage = tokio::net::TcpStream::connect(db).await.unwrap();
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let answer = read_until(&mut garbage, b"\0never").await;
    assert!(answer.is_empty(), "closed without an answer: {answer:?}");

    // A good start-up, then a Query frame whose length is 3.
    let mut bad = tokio::net::TcpStream::connect(db).await.unwrap();
    let startup = startup_message();
    bad.write_all(&startup).await.unwrap();
    let greeting = read_until(&mut bad, b"Z\0\0\0\x05I").await;
    assert!(greeting.ends_with(b"Z\0\0\0\x05I"), "{greeting:?}");
    bad.write_all(b"Q\0\0\0\x03").await.unwrap();
    let after = read_until(&mut bad, b"\0never").await;
    assert!(after.is_empty(), "the connection is closed: {after:?}");

    // Other connections are served, before and after.
    assert_eq!(psql_select(db, "select 40 + 2"), "42");

    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    let offset = startup.len();
    assert!(
        err.contains(&format!("malformed Query from the client at byte {offset}")),
        "{err}"
    );
    assert!(err.contains("from the client at byte 0"), "{err}");
    let session = session_json(&store, "bad");
    let sqls: Vec<String> = session["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e["request"]["decoded"]["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|m| m["sql"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(sqls, ["select 40 + 2"]);
}

/// A plain TCP forwarder to the real server: the "database" of a recording,
/// which the test takes away before replaying.
pub(crate) struct Forwarder {
    pub(crate) addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    pub(crate) async fn start(target: &'static str) -> Forwarder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Forwarder { addr, task }
    }

    /// Stops listening and cuts every forwarded connection.
    pub(crate) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let refused = poll(
            "the forwarder to go away",
            Duration::from_secs(10),
            async || {
                tokio::net::TcpStream::connect(self.addr)
                    .await
                    .err()
                    .map(|_| ())
            },
        );
        refused.await;
    }
}

/// The demo bookshop keeping its books in Postgres: recorded, generated, and
/// replayed green with its database gone; a build that changes one query
/// fails the case that sent it, with the two statements side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_app_over_postgres_replays_without_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let database = Forwarder::start(REAL_PG).await;
    let pricing = serve_pricing().await;
    let schema = unique_schema("demo");
    let port = free_port();
    let app = sibling_bin("reel-demo-app");
    let cmd = format!(
        "exec {} --listen 127.0.0.1:{port} --pricing-url \"$REEL_DEP_PRICING_URL\" \
         --database-url \"postgres://postgres@$REEL_DEP_DB/test?sslmode=disable\" --pg-schema {schema}",
        app.display()
    );
    let store = dir.path().join("reel.db");
    let args = record_args(
        port,
        &[
            format!("pricing=http:127.0.0.1:0=http://{}", pricing.addr),
            format!("db=postgres:127.0.0.1:0={}", database.addr),
        ],
        "demo-pg",
        &store,
        &cmd,
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = app_ready(&rec).await;
    let c = client();
    let (s, list) = call("GET", &format!("{base}/books")).await;
    assert_eq!(s, 200, "{list}");
    let created = c
        .post(format!("{base}/books"))
        .json(&serde_json::json!({"title": "Postgres Internals", "author": "E. Rogov", "isbn": "9781718502826", "price_cents": 4999}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    for (method, path) in [
        ("GET", format!("/books/{id}")),
        ("GET", "/books?q=rust".to_owned()),
        ("GET", "/books/1/quote?currency=EUR".to_owned()),
        ("DELETE", format!("/books/{id}")),
        ("GET", format!("/books/{id}")),
    ] {
        let (s, body) = call(method, &format!("{base}{path}")).await;
        assert!(s < 500, "{method} {path}: {s} {body}");
    }
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    pricing.stop().await;
    let (suite, printed) = generate_suite(dir.path(), "demo-pg", &store);
    assert!(!printed.contains("ambiguous"), "{printed}");
    let mocks = mock_lines(&suite);
    assert!(
        mocks
            .iter()
            .any(|m| m["protocol"] == "postgres" && m.to_string().contains("Postgres Internals")),
        "the insert is a recorded mock"
    );

    // The app prepares each statement once per connection: the search case
    // only binds statements the list case prepared.
    let search = std::fs::read_to_string(suite.join("mocks/0005-get-books.jsonl")).unwrap();
    assert!(
        search.contains(r#""type":"Bind""#) && !search.contains(r#""type":"Parse""#),
        "{search}"
    );

    // The database is gone now, and so is the pricing service.
    database.stop().await;
    let (code, out) = run_suite(&suite, &[]);
    assert_eq!(code, 0, "replay with the database gone:\n{out}");
    assert!(out.contains("8 passed, 0 failed"), "{out}");

    // A build whose list query orders differently sends a statement that
    // was never recorded: the list and search cases (one query serves both)
    // fail and say which statement. The quote case takes its book id from the
    // list's answer, so it cannot be sent and says so; the others pass.
    let changed = format!("{cmd} --variant pg-changed-query");
    let (code, out) = run_suite(&suite, &["--app", &changed]);
    assert_eq!(code, 1, "{out}");
    let failed: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(
        failed,
        [
            "FAIL 0002-get-books  GET /books",
            "FAIL 0005-get-books  GET /books?q=rust",
            "FAIL 0006-get-books-1-quote  GET /books/${0002.response.body.items[0].id}/quote?currency=EUR",
        ],
        "{out}"
    );
    assert!(
        out.contains("cannot fill the request: ${0002.response.body.items[0].id}"),
        "{out}"
    );
    assert!(out.contains("5 passed, 3 failed"), "{out}");
    assert!(
        out.contains("dependency 'db' got a call no recording matches"),
        "{out}"
    );
    // Each of the two cases shows the statement recorded and the one sent,
    // a clause a line, and only the clause that changed marked as changed:
    // not the Bind, Execute and Sync that run it.
    let misses: Vec<&str> = out
        .split("dependency 'db' got a call no recording matches: ")
        .skip(1)
        .map(|m| m.split("\n\n").next().unwrap_or(m))
        // What the app printed meanwhile follows; it carries timestamps.
        .map(|m| m.split("  app output while it ran:").next().unwrap_or(m))
        .collect();
    assert_eq!(misses.len(), 2, "{out}");
    let shown = misses[0].replace(schema.as_str(), "[schema]");
    insta::assert_snapshot!(shown, @r#"
        Parse: SELECT id, title, author, isbn, price_cents, created_at, updated…
            nearest recorded call: 0002-get-books#3 (SELECT id, title, author, isbn, price_cents, created_at, updated_at FRO…)
              --- expected
              +++ actual
               Parse
                 SELECT id, title, author, isbn, price_cents, created_at, updated_at
                 FROM "[schema]".books
                 WHERE strpos(lower(title), lower($1)) > 0
                   OR strpos(lower(author), lower($1)) > 0
              -  ORDER BY id
              +  ORDER BY title, id
                 LIMIT $2
                 OFFSET $3
          recorded calls not made: 0002-get-books#4
        "#);
    assert_eq!(
        misses[1]
            .lines()
            .filter(|l| l.trim_start().starts_with(['-', '+']))
            .count(),
        4,
        "{}",
        misses[1]
    );
}

/// A server that answers the start-up properly and then sends a RowDescription
/// whose length field is 2: reel closes that connection, names the message and
/// offset, and stores the query with the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_frame_from_the_server_closes_the_connection_and_is_stored() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_addr = server.local_addr().unwrap();
    // AuthenticationOk, ReadyForQuery(I): 9 + 6 bytes, so the bad frame is at 15.
    let greeting: &[u8] = b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I";
    tokio::spawn(async move {
        let (mut s, _) = server.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        s.write_all(greeting).await.unwrap();
        let _ = s.read(&mut buf).await;
        s.write_all(b"T\0\0\0\x02").await.unwrap();
        let _ = s.read(&mut buf).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_db_only(&store, "badserver", &server_addr.to_string()).await;
    let mut app = tokio::net::TcpStream::connect(rec.dep("db")).await.unwrap();
    app.write_all(&startup_message()).await.unwrap();
    let got = read_until(&mut app, b"Z\0\0\0\x05I").await;
    assert_eq!(got, greeting);
    app.write_all(b"Q\0\0\0\x0dselect 1\0").await.unwrap();
    let rest = read_until(&mut app, b"\0never").await;
    // reel forwards server bytes as they come, then closes the connection.
    assert_eq!(rest, b"T\0\0\0\x02", "forwarded, then closed");

    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("malformed RowDescription from the server at byte 15"),
        "{err}"
    );
    let session = session_json(&store, "badserver");
    let query = session["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request"]["decoded"]["messages"][0]["type"] == "Query")
        .expect("the query is stored");
    assert!(
        query["error"]
            .as_str()
            .is_some_and(|e| e.contains("malformed RowDescription")),
        "{query}"
    );
}

/// Ctrl-C while a query runs: the query gets its answer, which is stored,
/// before reel closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_in_flight_at_ctrl_c_is_answered_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_db_only(&store, "drain", REAL_PG).await;
    let marker = unique_schema("drain");
    let sql = format!("select pg_sleep(1.5), '{marker}' as marker");
    let query = tokio::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=test user=postgres sslmode=disable",
            rec.dep("db").port()
        ))
        .args(["-X", "-A", "-t", "-c", &sql])
        .output();
    let query = tokio::spawn(query);
    // The query is running on the server.
    poll("the query to reach the server", Duration::from_secs(10), async || {
        let running = psql_select(
            REAL_PG.parse().unwrap(),
            &format!("select count(*) from pg_stat_activity where query like '%{marker}%' and pid <> pg_backend_pid()"),
        );
        (running == "1").then_some(())
    })
    .await;
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    let psql = query.await.unwrap().unwrap();
    assert!(
        psql.status.success(),
        "{}",
        String::from_utf8_lossy(&psql.stderr)
    );
    assert!(String::from_utf8_lossy(&psql.stdout).contains(&marker));
    let session = session_json(&store, "drain");
    let stored = session["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request"]["decoded"]["messages"][0]["sql"] == sql.as_str())
        .expect("the query is stored");
    assert!(stored["error"].is_null(), "{stored}");
    assert_eq!(
        stored["response"]["decoded"]["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["type"],
        "ReadyForQuery"
    );
}

/// A Postgres server that asks for a cleartext password (AuthenticationCleartextPassword,
/// as `password` auth in pg_hba.conf does), accepts any, and answers every
/// Query with one row holding 1. What each client sent as its password goes to
/// `passwords`.
async fn password_server(
    passwords: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            conns.spawn(answer_with_password(stream, passwords.clone()));
        }
    });
    (addr, task)
}

async fn answer_with_password(
    mut stream: tokio::net::TcpStream,
    passwords: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
) {
    use reel_core::wire::postgres::{
        BackendMessage as B, Bytes, Field, FrontendDecoder, FrontendMessage as F, TxStatus,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut decoder = FrontendDecoder::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let message = match decoder.next().expect("the client's frames decode") {
            Some((m, _)) => m,
            None => match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    decoder.push(&buf[..n]);
                    continue;
                }
            },
        };
        let answer = match message {
            F::SSLRequest | F::GSSENCRequest => vec![B::EncryptionResponse { accepted: false }],
            F::StartupMessage { .. } => vec![B::Authentication {
                code: 3,
                data: Bytes::default(),
            }],
            F::PasswordMessage { data } => {
                let _ = passwords.send(data.0);
                let parameter = |name: &str, value: &str| B::ParameterStatus {
                    name: name.into(),
                    value: value.into(),
                };
                vec![
                    B::Authentication {
                        code: 0,
                        data: Bytes::default(),
                    },
                    parameter("server_version", "16.0"),
                    parameter("server_encoding", "UTF8"),
                    parameter("client_encoding", "UTF8"),
                    parameter("standard_conforming_strings", "on"),
                    B::BackendKeyData {
                        process_id: 7,
                        secret_key: Bytes::from(vec![0, 0, 0, 7]),
                    },
                    B::ReadyForQuery {
                        status: TxStatus::Idle,
                    },
                ]
            }
            F::Query { .. } => vec![
                B::RowDescription {
                    fields: vec![Field {
                        name: "?column?".into(),
                        table_oid: 0,
                        column: 0,
                        type_oid: 23,
                        type_size: 4,
                        type_modifier: -1,
                        format: 0,
                    }],
                },
                B::DataRow {
                    values: vec![Some(Bytes::from(b"1".to_vec()))],
                },
                B::CommandComplete {
                    tag: "SELECT 1".into(),
                },
                B::ReadyForQuery {
                    status: TxStatus::Idle,
                },
            ],
            F::Terminate => return,
            other => panic!("the fake server does not expect {}", other.name()),
        };
        let mut out = Vec::new();
        for m in &answer {
            m.encode(&mut out);
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Records psql logging in with `password` through `reel record` (with the
/// given extra flags) to a server that asks for it, and runs `select 1`.
async fn record_password_login(dir: &Path, server: SocketAddr, password: &str, extra: &[&str]) {
    let store = dir.join("reel.db");
    let mut args: Vec<String> = [
        "--upstream",
        "http://127.0.0.1:9",
        "--listen",
        "127.0.0.1:0",
        "--dep",
        &format!("db=postgres:127.0.0.1:0={server}"),
        "--session",
        "login",
        "--store",
        store.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let rec = Recording::start(&args).await.unwrap();
    let psql = tokio::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=shop user=app sslmode=disable",
            rec.dep("db").port()
        ))
        .args(["-X", "-A", "-t", "-c", "select 1"])
        .env("PGPASSWORD", password)
        .env_remove("PGPASSFILE")
        .output()
        .await
        .unwrap();
    let (code, out, err) = rec.interrupt().await;
    assert!(
        psql.status.success(),
        "psql through reel: {}\nreel: {err}",
        String::from_utf8_lossy(&psql.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&psql.stdout).trim(), "1");
    assert_eq!(code, 0, "{out}{err}");
}

/// The files under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            found.push(path);
        }
    }
    found
}

/// The local Postgres trusts loopback, so no password crosses the other tests'
/// recordings. Here a server asks psql for one: the password is seen by reel,
/// never written into a suite, and with `--redact` never stored at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_never_reaches_a_suite_and_with_redact_not_the_store() {
    let (tx, mut passwords) = tokio::sync::mpsc::unbounded_channel();
    let (server, task) = password_server(tx).await;
    let password = format!("reel-pw-{}", uuid::Uuid::new_v4().simple());
    let mut sent = password.clone().into_bytes();
    sent.push(0);

    // Without --redact the store keeps what crossed the wire, password included,
    // so the byte search below is one that finds it.
    let plain = tempfile::tempdir().unwrap();
    record_password_login(plain.path(), server, &password, &[]).await;
    assert_eq!(
        passwords.recv().await,
        Some(sent.clone()),
        "psql sent it through reel"
    );
    let stored = files_containing(plain.path(), password.as_bytes());
    assert!(
        stored.iter().any(|p| p
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("reel.db")),
        "the store holds the password: {stored:?}"
    );
    let (suite, printed) = generate_suite(plain.path(), "login", &plain.path().join("reel.db"));
    assert!(
        mock_lines(&suite)
            .iter()
            .any(|l| l["protocol"] == "postgres" && l.to_string().contains("select 1")),
        "the query is a mock:\n{printed}"
    );
    assert_eq!(
        files_containing(&suite, password.as_bytes()),
        Vec::<PathBuf>::new(),
        "suite files holding the password"
    );
    assert!(!printed.contains(&password), "{printed}");

    // With --redact the password message is stored without it: no byte of
    // the store (WAL included) holds the password.
    let redacted = tempfile::tempdir().unwrap();
    record_password_login(redacted.path(), server, &password, &["--redact"]).await;
    assert_eq!(
        passwords.recv().await,
        Some(sent),
        "psql sent it through reel"
    );
    let session = session_json(&redacted.path().join("reel.db"), "login");
    let messages: Vec<&Value> = session["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["request"]["decoded"]["messages"].as_array().unwrap())
        .collect();
    assert!(
        messages.iter().any(|m| m["type"] == "PasswordMessage"),
        "the start-up with its password message is recorded: {session}"
    );
    assert_eq!(
        files_containing(redacted.path(), password.as_bytes()),
        Vec::<PathBuf>::new(),
        "store files holding the password"
    );
    task.abort();
}

/// The demo app over Postgres (no pricing service) recorded in `dir` with
/// `reel.toml` holding `config`, `--redact` as asked; returns the recording
/// and its base URL once the app answers.
async fn record_demo_with_config(
    dir: &Path,
    config: &str,
    session: &str,
    redact: bool,
) -> (Recording, String) {
    let config_path = dir.join("reel.toml");
    std::fs::write(&config_path, config).unwrap();
    let schema = unique_schema(session);
    let port = free_port();
    let cmd = format!(
        "exec {} --listen 127.0.0.1:{port} --pricing-url http://127.0.0.1:9 \
         --database-url \"postgres://postgres@$REEL_DEP_DB/test?sslmode=disable\" --pg-schema {schema}",
        sibling_bin("reel-demo-app").display()
    );
    let store = dir.join("reel.db");
    let mut args: Vec<String> = [
        "--upstream",
        &format!("http://127.0.0.1:{port}"),
        "--listen",
        "127.0.0.1:0",
        "--dep",
        &format!("db=postgres:127.0.0.1:0={REAL_PG}"),
        "--session",
        session,
        "--store",
        store.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if redact {
        args.push("--redact".into());
    }
    args.extend(["--", "sh", "-c", &cmd].map(str::to_owned));
    let rec = Recording::start_in(
        dir,
        &args,
        &[("REEL_CONFIG", config_path.to_str().unwrap())],
    )
    .await
    .unwrap();
    let base = app_ready(&rec).await;
    (rec, base)
}

/// A value matching reel.toml's secret pattern that the app writes to
/// Postgres (a book title) stays out of the suite (a placeholder in the Bind
/// parameter and the rows, its value in secrets.toml), the mock fills it back
/// so the replay is green, and with `--redact` it never reaches the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_written_to_postgres_stays_out_of_the_suite_and_the_store() {
    const KEY: &str = "sk_live_Pg5ecretT1tle";
    for redact in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (rec, base) = record_demo_with_config(
            dir.path(),
            "[redact]\npatterns = [\"^sk_live_[A-Za-z0-9]+$\"]\n",
            "pg-secret",
            redact,
        )
        .await;
        let config = dir.path().join("reel.toml");
        let config = config.to_str().unwrap();
        let store = dir.path().join("reel.db");
        let c = client();
        let created = c
            .post(format!("{base}/books"))
            .json(&serde_json::json!({"title": KEY, "author": "A. Writer", "isbn": "978-1", "price_cents": 1200}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        let created: Value = created.json().await.unwrap();
        assert_eq!(created["title"], KEY);
        let (s, got) = call("GET", &format!("{base}/books/{}", created["id"])).await;
        assert_eq!((s, &got["title"]), (200, &Value::from(KEY)), "{got}");
        let (code, out, err) = rec.interrupt().await;
        assert_eq!(code, 0, "{out}{err}");

        let db = std::fs::read(&store).unwrap();
        let wal = std::fs::read(store.with_extension("db-wal")).unwrap_or_default();
        let stored = [db, wal]
            .iter()
            .any(|b| b.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
        assert_eq!(
            stored, !redact,
            "the key in the store with redact = {redact}"
        );

        let (suite, printed) =
            generate_suite_with(dir.path(), "pg-secret", &store, &["--config", config]);
        let mut files = vec![suite.join("suite.json")];
        for sub in ["cases", "mocks"] {
            for e in std::fs::read_dir(suite.join(sub)).unwrap() {
                files.push(e.unwrap().path());
            }
        }
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(!text.contains(KEY), "{} holds the key", f.display());
        }
        // The insert's title parameter and the rows read back hold the
        // placeholder. Its name is the HTTP field's or (named while
        // recording, whichever was stored first) the parameter's.
        let pg: Vec<Value> = mock_lines(&suite)
            .into_iter()
            .filter(|l| l["protocol"] == "postgres")
            .collect();
        let insert = pg
            .iter()
            .flat_map(|l| l["request"].as_array().unwrap())
            .find(|m| {
                m["type"] == "Bind"
                    && m["prepared"]
                        .as_str()
                        .is_some_and(|sql| sql.contains("INSERT INTO"))
            })
            .expect("the insert is a mock");
        let placeholder = insert["params"][0].as_str().unwrap_or_default().to_owned();
        let name = placeholder
            .strip_prefix("${secret:")
            .and_then(|n| n.strip_suffix('}'))
            .unwrap_or_else(|| panic!("a placeholder for the title: {insert}"));
        let holding = pg
            .iter()
            .filter(|l| l.to_string().contains(&placeholder))
            .count();
        assert!(holding >= 2, "the insert and the read: {pg:#?}\n{printed}");
        assert!(!printed.contains(KEY), "{printed}");
        let secrets_file = dir.path().join("secrets.toml");
        let secrets = std::fs::read_to_string(&secrets_file).unwrap_or_default();
        assert_eq!(
            secrets.contains(&format!("{name} = \"{KEY}\"")),
            !redact,
            "secrets.toml with redact = {redact}:\n{secrets}"
        );

        // The mock fills the placeholder in: the insert and the read match.
        let mut test = std::process::Command::new(reel_bin());
        test.args(["test", suite.to_str().unwrap(), "--secrets"])
            .arg(&secrets_file)
            .env("REEL_LOG", "warn")
            .env_remove("CI");
        if redact {
            // The store never saw the value: it is given at replay.
            test.env(format!("REEL_SECRET_{name}"), KEY);
        }
        let out = test.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "redact = {redact}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("3 passed, 0 failed"), "{stdout}");
    }
}

/// With `--redact`, a value that is secret by its field name in the HTTP
/// request (here reel.toml names `isbn`) is known before the app binds it
/// into SQL, so neither the parameter nor the row that comes back keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redact_keeps_a_named_http_secret_out_of_the_sql_it_flows_into() {
    let isbn = format!("isbn-{}", uuid::Uuid::new_v4().simple());
    for redact in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (rec, base) = record_demo_with_config(
            dir.path(),
            "[redact]\nnames = [\"isbn\"]\n",
            "named",
            redact,
        )
        .await;
        let store = dir.path().join("reel.db");
        let c = client();
        let created = c
            .post(format!("{base}/books"))
            .json(
                &serde_json::json!({"title": "T", "author": "A", "isbn": isbn, "price_cents": 100}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(created.status().as_u16(), 201);
        let (code, out, err) = rec.interrupt().await;
        assert_eq!(code, 0, "{out}{err}");
        let session = session_json(&store, "named");
        let sql_traffic: String = session["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["protocol"] == "postgres")
            .map(Value::to_string)
            .collect();
        // The Bind of the INSERT carries the isbn, and so does the row it returns.
        assert_eq!(sql_traffic.contains(&isbn), !redact, "redact = {redact}");
        assert_eq!(
            sql_traffic.contains("${secret:ISBN}"),
            redact,
            "redact = {redact}"
        );
        let bytes: Vec<u8> = ["reel.db", "reel.db-wal"]
            .iter()
            .flat_map(|f| std::fs::read(dir.path().join(f)).unwrap_or_default())
            .collect();
        let stored = bytes.windows(isbn.len()).any(|w| w == isbn.as_bytes());
        assert_eq!(
            stored, !redact,
            "the isbn in the store with redact = {redact}"
        );
    }
}

/// The recorder's peak resident memory (`VmHWM`), in MiB.
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kib / 1024
}

/// `psql -X -q ARGS -o OUT` against the recorder's address `db`; panics
/// with what psql said unless it succeeds.
async fn psql_to_file(db: std::net::SocketAddr, args: &[&str], out: &Path) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = out.to_owned();
    let ran = tokio::task::spawn_blocking(move || {
        std::process::Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={} dbname=test user=postgres sslmode=disable",
                db.port()
            ))
            .args(["-X", "-q"])
            .args(&args)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
}

/// One message far over `--max-body` each way (a 100 MiB query text, a
/// 100 MiB row) passes through whole at little cost to the recorder (it
/// held each message whole before), and is stored cut and flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_message_larger_than_max_body_passes_through_and_is_stored_cut() {
    const BIG: usize = 100 << 20;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_db_only_with(&store, "big-message", REAL_PG, &["--max-body", "64K"]).await;
    let pid = rec.child.id().unwrap();
    let db = rec.dep("db");
    let baseline = peak_rss_mib(pid);
    let sql_file = dir.path().join("big.sql");
    let mut sql = String::with_capacity(BIG + 64);
    sql.push_str("SELECT length('");
    sql.extend(std::iter::repeat_n('q', BIG));
    sql.push_str("') AS n;\nSELECT repeat('r', 104857600) AS r;\n");
    std::fs::write(&sql_file, sql).unwrap();
    let out_file = dir.path().join("big.out");
    let sql_arg = sql_file.to_str().unwrap().to_owned();
    psql_to_file(
        db,
        &["-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", &sql_arg],
        &out_file,
    )
    .await;
    let out = std::fs::read(&out_file).unwrap();
    assert!(
        out.starts_with(format!("{BIG}\n").as_bytes()),
        "the server got the whole query"
    );
    assert_eq!(
        out.len(),
        format!("{BIG}\n").len() + BIG + 1,
        "the app got the whole row"
    );
    let peak = peak_rss_mib(pid);
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        peak < baseline + 60,
        "passing 200 MiB in two messages took the recorder from {baseline} to {peak} MiB"
    );

    let shown = session_json(&store, "big-message");
    let groups: Vec<&Value> = shown["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request"]["raw"]["size"].as_u64().unwrap_or(0) > 1000)
        .collect();
    assert_eq!(groups.len(), 1, "the long query is one stored group");
    let query = &groups[0]["request"]["raw"];
    assert_eq!(query["truncated"], true, "{query}");
    assert!(query["size"].as_u64().unwrap() > BIG as u64, "{query}");
    let answer = &groups[0]["response"]["decoded"]["messages"];
    assert!(answer.to_string().contains("ReadyForQuery"), "{answer}");
    let row = shown["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["response"]["raw"]["size"].as_u64().unwrap_or(0) > BIG as u64)
        .expect("the long row's group is stored");
    assert_eq!(row["response"]["raw"]["truncated"], true);
    assert!(row["request"]["decoded"].to_string().contains("repeat('r'"));

    let (_, printed) = generate_suite(dir.path(), "big-message", &store);
    assert_eq!(
        printed
            .matches("was cut at --max-body while recording")
            .count(),
        2,
        "{printed}"
    );
}

/// A COPY far larger than `--max-body` reaches the app whole, costs the
/// recorder little memory (it held the whole answer twice over before), and
/// is stored cut and flagged; `generate` leaves it out and says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_larger_than_max_body_streams_through_and_is_stored_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_db_only_with(&store, "big-copy", REAL_PG, &["--max-body", "64K"]).await;
    let pid = rec.child.id().unwrap();
    let db = rec.dep("db");
    let baseline = peak_rss_mib(pid);
    // 120,000 rows of 1,000 bytes: about 115 MiB through the recorder.
    let out_file = dir.path().join("copy.out");
    psql_to_file(
        db,
        &[
            "-c",
            "COPY (SELECT repeat('x', 999) FROM generate_series(1, 120000)) TO STDOUT",
        ],
        &out_file,
    )
    .await;
    assert_eq!(
        std::fs::metadata(&out_file).unwrap().len(),
        120_000 * 1000,
        "the app got the whole COPY"
    );
    let peak = peak_rss_mib(pid);
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        peak < baseline + 60,
        "recording a 115 MiB COPY took the recorder from {baseline} to {peak} MiB"
    );

    let shown = session_json(&store, "big-copy");
    let copy = shown["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request"]["decoded"].to_string().contains("COPY (SELECT"))
        .expect("the COPY is stored");
    let raw = &copy["response"]["raw"];
    assert_eq!(raw["truncated"], true, "{raw}");
    assert!(raw["size"].as_u64().unwrap() > 120_000 * 1000, "{raw}");
    let kept = copy["response"]["decoded"]["messages"].as_array().unwrap();
    assert!(kept.len() < 200, "{} messages kept", kept.len());
    assert!(
        kept.iter().any(|m| m["type"] == "CommandComplete"),
        "the messages that frame the answer are kept"
    );

    let (suite, printed) = generate_suite(dir.path(), "big-copy", &store);
    assert!(printed.contains("cut at --max-body"), "{printed}");
    assert!(
        !std::fs::read_to_string(suite.join("mocks/startup.jsonl"))
            .unwrap_or_default()
            .contains("COPY (SELECT"),
        "a cut answer is no mock"
    );
}
