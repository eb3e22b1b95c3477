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

const REAL_PG: &str = "127.0.0.1:5432";

/// A free loopback port (bound, then released for the app to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sibling_bin(name: &str) -> PathBuf {
    let bin = reel_bin().with_file_name(name);
    assert!(
        bin.exists(),
        "{} not built: cargo build --workspace --bins",
        bin.display()
    );
    bin
}

/// A schema name no other test (or run) uses.
fn unique_schema(what: &str) -> String {
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

struct PgRecording {
    rec: Recording,
    base: String,
}

async fn record_app(dir: &Path, session: &str, app_port: u16, command: &str) -> PgRecording {
    let store = dir.join("reel.db");
    let args: Vec<String> = [
        "--upstream",
        &format!("http://127.0.0.1:{app_port}"),
        "--listen",
        "127.0.0.1:0",
        "--dep",
        &format!("db=postgres:127.0.0.1:0={REAL_PG}"),
        "--session",
        session,
        "--store",
        store.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        command,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rec = Recording::start(&args).await.unwrap();
    let base = format!("http://{}", rec.inbound);
    let c = client();
    poll("the app behind reel", Duration::from_secs(30), async || {
        let r = c.get(format!("{base}/health")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    PgRecording { rec, base }
}

async fn call(method: &str, url: &str) -> (u16, Value) {
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

fn mock_lines(suite: &Path) -> Vec<Value> {
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

fn run_suite(suite: &Path, extra: &[&str]) -> (i32, String) {
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
    let out = std::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} dbname=test user=postgres sslmode=disable",
            addr.port()
        ))
        .args(["-X", "-A", "-t", "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
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
    let args: Vec<String> = [
        "--upstream",
        "http://127.0.0.1:9",
        "--listen",
        "127.0.0.1:0",
        "--dep",
        &format!("db=postgres:127.0.0.1:0={REAL_PG}"),
        "--session",
        "bad",
        "--store",
        store.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rec = Recording::start(&args).await.unwrap();
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
struct Forwarder {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    async fn start(target: &'static str) -> Forwarder {
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
    async fn stop(self) {
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
    let args: Vec<String> = [
        "--upstream",
        &format!("http://127.0.0.1:{port}"),
        "--listen",
        "127.0.0.1:0",
        "--dep",
        &format!("pricing=http:127.0.0.1:0=http://{}", pricing.addr),
        "--dep",
        &format!("db=postgres:127.0.0.1:0={}", database.addr),
        "--session",
        "demo-pg",
        "--store",
        store.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &cmd,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rec = Recording::start(&args).await.unwrap();
    let base = format!("http://{}", rec.inbound);
    let c = client();
    poll(
        "the demo app behind reel",
        Duration::from_secs(30),
        async || {
            let r = c.get(format!("{base}/health")).send().await.ok()?;
            r.status().is_success().then_some(())
        },
    )
    .await;
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
    assert!(
        out.contains("ORDER BY title, id") || out.contains("order by title, id"),
        "{out}"
    );
    // Each of the two cases shows the statement recorded and the one sent.
    let lines = || out.lines().map(str::trim_start);
    let recorded = lines()
        .filter(|l| l.starts_with('-') && l.contains("ORDER BY id LIMIT"))
        .count();
    let sent = lines()
        .filter(|l| l.starts_with("+Parse") && l.contains("ORDER BY title, id LIMIT"))
        .count();
    assert!(recorded >= 2 && sent == 2, "{out}");
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
    let args: Vec<String> = [
        "--upstream",
        "http://127.0.0.1:9",
        "--listen",
        "127.0.0.1:0",
        "--dep",
        &format!("db=postgres:127.0.0.1:0={server_addr}"),
        "--session",
        "badserver",
        "--store",
        store.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rec = Recording::start(&args).await.unwrap();
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
