//! Recording a Redis dependency, end to end: redis-py (a real client, with
//! its connection pool, pipelines, a transaction, pub/sub and a RESP3
//! connection) talks to the real Redis through `reel record --dep
//! NAME=redis:...`, and the store holds each command with its replies and
//! each message the server pushed, with a value over `--max-body` cut.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// Fails with what to install when redis-py is missing.
fn require_redis_py() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 cannot import redis: run scripts/deps.sh (pip install -r fixtures/redis/requirements.txt)"
    );
}

/// Fails with what to install when ioredis is missing.
fn require_ioredis() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        root.join("fixtures/real-apps/node_modules/ioredis")
            .is_dir(),
        "ioredis is missing: run scripts/deps.sh (npm ci in fixtures/real-apps)"
    );
}

/// `reel record` with the Redis dependency `dep` (a `--dep` spec), no app,
/// into `store`.
async fn record_redis(dep: &str, session: &str, store: &Path, max_body: Option<&str>) -> Recording {
    let mut args: Vec<String> = vec![
        "--upstream".into(),
        format!("http://127.0.0.1:{}", free_port()),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--dep".into(),
        dep.into(),
        "--session".into(),
        session.into(),
        "--store".into(),
        store.to_str().unwrap().into(),
    ];
    if let Some(cap) = max_body {
        args.extend(["--max-body".into(), cap.into()]);
    }
    Recording::start(&args).await.unwrap()
}

/// Runs `fixtures/redis/SCRIPT` with `program` against the recorder's
/// `cache` dependency, keys under `prefix`, a 3 MB value; what it read back.
async fn workload(program: &str, script: &str, rec: &Recording, prefix: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/redis")
        .join(script);
    let out = tokio::process::Command::new(program)
        .arg(path)
        .arg(rec.dep("cache").to_string())
        .arg(prefix)
        .arg("3000000")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed through the recorder: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `redis` exchanges of a stored session, in order.
fn redis_exchanges(store: &Path, session: &str) -> Vec<Value> {
    let s = session_json(store, session);
    s["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["protocol"] == "redis")
        .cloned()
        .collect()
}

/// A command's words as text (`["SET", "k", "v"]`), empty for the server's own.
fn words(e: &Value) -> Vec<String> {
    e["request"]["decoded"]["command"]["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|w| w.as_str().unwrap_or("<bytes>").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_through_the_recorder_is_answered_and_every_command_is_stored() {
    require_redis_py();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_redis(
        "cache=redis:127.0.0.1:0=redis://127.0.0.1:6379/0",
        "cache",
        &store,
        Some("1M"),
    )
    .await;
    let prefix = format!("reel:e2e:{}:", std::process::id());
    let read = workload("python3", "workload.py", &rec, &prefix).await;
    // What the client read back is what Redis answers directly.
    assert_eq!(
        read,
        serde_json::json!({
            "big": 3000000, "get": "hello", "hgetall": {"name": "ann", "visits": "1"},
            "hgetall3": {"name": "ann", "visits": "1"}, "message": "extra", "missing": null,
            "pipeline": [1, 2, 3, ["c", "b", "a"]], "transaction": [3, "3"], "zscore": 1.5
        })
    );
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");

    let ex = redis_exchanges(&store, "cache");
    let names: Vec<String> = ex
        .iter()
        .map(|e| words(e).first().cloned().unwrap_or_default().to_uppercase())
        .collect();
    for want in [
        "SET",
        "GET",
        "HSET",
        "HGETALL",
        "INCRBY",
        "LPUSH",
        "LRANGE",
        "MULTI",
        "EXEC",
        "SUBSCRIBE",
        "PUBLISH",
        "UNSUBSCRIBE",
        "HELLO",
        "ZADD",
        "ZSCORE",
        "DEL",
    ] {
        assert!(names.contains(&want.to_owned()), "no {want} in {names:?}");
    }
    for e in &ex {
        assert_eq!(e["dependency"], "cache");
        assert!(e["error"].is_null(), "{e}");
    }
    // The transaction: MULTI, the queued commands, then EXEC with both results.
    let exec = ex.iter().find(|e| words(e)[..] == ["EXEC"]).unwrap();
    let results = &exec["response"]["decoded"]["replies"][0];
    assert_eq!(results["type"], "array", "{exec}");
    assert_eq!(results["value"].as_array().unwrap().len(), 2);
    // Under RESP3 a hash comes back as a map, a score as a double.
    let hgetall3 = ex
        .iter()
        .rfind(|e| words(e).first().is_some_and(|w| w == "HGETALL"))
        .unwrap();
    assert_eq!(hgetall3["response"]["decoded"]["replies"][0]["type"], "map");
    let zscore = ex
        .iter()
        .find(|e| words(e).first().is_some_and(|w| w == "ZSCORE"))
        .unwrap();
    assert_eq!(
        zscore["response"]["decoded"]["replies"][0],
        serde_json::json!({"type": "double", "value": "1.5"})
    );
    // The published message is the server's own exchange, on the
    // subscribed connection, after the subscription.
    let message = ex
        .iter()
        .find(|e| e["request"]["decoded"]["command"].is_null())
        .expect("the pushed message is stored");
    let m = &message["response"]["decoded"]["replies"][0];
    assert_eq!(m["value"][0]["value"], "message", "{message}");
    assert_eq!(m["value"][2]["value"], "extra");
    let subscribe = ex
        .iter()
        .find(|e| words(e).first().is_some_and(|w| w == "SUBSCRIBE"))
        .unwrap();
    assert_eq!(message["connection"], subscribe["connection"]);
    assert!(message["seq"].as_i64() > subscribe["seq"].as_i64());
    // The 3 MB value went through whole but is stored cut at --max-body,
    // with its full size.
    let big_set = ex
        .iter()
        .find(|e| words(e).first().is_some_and(|w| w == "SET") && words(e)[1].ends_with("big"))
        .unwrap();
    let body = &big_set["request"]["raw"];
    assert_eq!(body["truncated"], true, "{}", body["size"]);
    assert!(body["size"].as_u64().unwrap() > 3_000_000);
    assert!(body_bytes(body).len() <= 1 << 20);
}

/// A client that breaks the protocol loses its own connection, named in the
/// log with the byte offset; other connections go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_command_closes_only_its_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_redis(
        "cache=redis:127.0.0.1:0=127.0.0.1:6379",
        "bad",
        &store,
        None,
    )
    .await;
    let addr = rec.dep("cache");
    let mut good = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut bad = tokio::net::TcpStream::connect(addr).await.unwrap();
    // An array whose element is no bulk string: Redis and reel refuse it.
    bad.write_all(b"PING\r\n*2\r\n:1\r\n").await.unwrap();
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut buf = [0u8; 256];
        loop {
            match bad.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the bad connection was not closed");
    good.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    let mut buf = [0u8; 7];
    good.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"+PONG\r\n");
    drop(good);
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(
            "malformed command from the client at byte 6: expected '$' before argument 1, got ':'"
        ),
        "{stderr}"
    );
    let ex = redis_exchanges(&store, "bad");
    let pings: Vec<&Value> = ex.iter().filter(|e| words(e) == ["PING"]).collect();
    assert_eq!(pings.len(), 2, "both PINGs are stored: {ex:?}");
}

/// A throwaway Redis that speaks only TLS, on a port of its own, with the
/// certificate of `tls`.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
}

impl TlsRedis {
    fn start(tls: &PrivateCa, dir: &Path) -> TlsRedis {
        // Redis cannot be told to take any free port and say which: a free
        // one is picked, and another when the server could not bind it.
        for _ in 0..5 {
            let port = free_port();
            let mut child = std::process::Command::new("redis-server")
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args(["--tls-auth-clients", "no"])
                .arg("--dir")
                .arg(dir)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is installed (scripts/deps.sh)");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return TlsRedis { child, port };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not start"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        panic!("redis-server with TLS did not start on any of 5 free ports");
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Redis behind TLS, the way managed Redis is offered (`rediss://`): the
/// app talks plain RESP to the recorder, which speaks TLS to the server
/// through rustls and trusts a private CA the way operators do, by
/// `SSL_CERT_FILE`. Every command is stored as from a plain server. Without
/// the CA the client is told why it has no server: the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_behind_tls_is_recorded_through_rustls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    require_redis_py();
    let dir = tempfile::tempdir().unwrap();
    let tls = private_ca(dir.path());
    let server = TlsRedis::start(&tls, dir.path());
    let store = dir.path().join("reel.db");
    let args = |session: &str| -> Vec<String> {
        vec![
            "--upstream".into(),
            format!("http://127.0.0.1:{}", free_port()),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--dep".into(),
            format!("cache=redis:127.0.0.1:0=rediss://localhost:{}", server.port),
            "--session".into(),
            session.into(),
            "--store".into(),
            store.to_str().unwrap().into(),
            "--max-body".into(),
            "1M".into(),
        ]
    };
    let ca = tls.ca.to_str().unwrap();
    let rec = Recording::start_with_env(&args("tls"), &[("SSL_CERT_FILE", ca)])
        .await
        .unwrap();
    let read = workload("python3", "workload.py", &rec, "reel:tls:").await;
    assert_eq!(read["get"], "hello", "{read}");
    assert_eq!(read["big"], 3000000, "{read}");
    assert_eq!(read["message"], "extra", "{read}");
    assert_eq!(read["transaction"], serde_json::json!([3, "3"]), "{read}");
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    let ex = redis_exchanges(&store, "tls");
    assert!(ex.len() > 20, "{ex:?}");
    for e in &ex {
        assert!(e["error"].is_null(), "{e}");
    }
    let get = ex
        .iter()
        .find(|e| words(e) == ["GET", "reel:tls:greeting"])
        .expect("the GET is stored");
    assert_eq!(get["response"]["decoded"]["replies"][0]["value"], "hello");

    // No SSL_CERT_FILE: the private CA is not trusted.
    let rec = Recording::start_with_env(&args("untrusted"), &[("SSL_CERT_FILE", "/dev/null")])
        .await
        .unwrap();
    let mut c = tokio::net::TcpStream::connect(rec.dep("cache"))
        .await
        .unwrap();
    c.write_all(b"PING\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        c.read_to_end(&mut answer),
    )
    .await
    .expect("the recorder answers and closes")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("-ERR reel: TLS with localhost:"),
        "{answer}"
    );
    assert!(answer.contains("invalid peer certificate"), "{answer}");
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}

/// The recorder's peak resident memory, in KiB, from /proc.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap()
    };
    field("VmHWM:")
}

/// A 200 MiB value written and read back through the recorder: the client
/// gets it whole, the store keeps the first --max-body bytes of each side,
/// and the recorder's memory does not grow by the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mib_value_passes_through_without_being_held() {
    require_redis_py();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_redis(
        "cache=redis:127.0.0.1:0=127.0.0.1:6379",
        "big",
        &store,
        Some("1M"),
    )
    .await;
    let pid = rec.child.id().unwrap();
    let before = peak_kib(pid);
    let key = format!("reel:e2e:big:{}", std::process::id());
    let script = format!(
        "import redis, sys\n\
         r = redis.Redis(host='127.0.0.1', port={port})\n\
         v = b'v' * (200 << 20)\n\
         r.set('{key}', v)\n\
         got = r.get('{key}')\n\
         r.delete('{key}')\n\
         sys.exit(0 if got == v else 1)\n",
        port = rec.dep("cache").port(),
    );
    let out = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the value did not come back whole: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grew = peak_kib(pid).saturating_sub(before);
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    // 400 MiB went through; a recorder holding the value would grow by 200.
    assert!(
        grew < 60 * 1024,
        "the recorder's peak grew by {} MiB",
        grew / 1024
    );
    let ex = redis_exchanges(&store, "big");
    let set = ex
        .iter()
        .find(|e| words(e).first().is_some_and(|w| w == "SET"))
        .unwrap();
    assert_eq!(set["request"]["raw"]["truncated"], true);
    assert!(set["request"]["raw"]["size"].as_u64().unwrap() > 200 << 20);
    let get = ex
        .iter()
        .find(|e| words(e).first().is_some_and(|w| w == "GET"))
        .unwrap();
    assert_eq!(get["response"]["raw"]["truncated"], true);
    assert!(get["response"]["raw"]["size"].as_u64().unwrap() > 200 << 20);
    let kept = get["response"]["decoded"]["replies"][0]["value"]
        .as_str()
        .unwrap()
        .len();
    assert!(kept <= 1 << 20, "{kept} bytes of the value kept");
}

/// The same through ioredis (Node), whose auto-pipelining sends commands
/// together in one write: each still gets its own reply, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ioredis_through_the_recorder_is_answered_and_pipelined_commands_pair_in_order() {
    require_ioredis();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let rec = record_redis(
        "cache=redis:127.0.0.1:0=127.0.0.1:6379",
        "node",
        &store,
        Some("1M"),
    )
    .await;
    let prefix = format!("reel:e2e:node:{}:", std::process::id());
    let read = workload("node", "workload.js", &rec, &prefix).await;
    assert_eq!(
        read,
        serde_json::json!({
            "get": "hello", "missing": null, "hgetall": {"name": "ann", "visits": "1"},
            "pipeline": [1, 2, 3, ["c", "b", "a"]], "auto": [3, "3", 0],
            "transaction": [4, "4"], "message": "extra", "big": 3000000
        })
    );
    let (code, _, stderr) = rec.interrupt().await;
    assert_eq!(code, 0, "{stderr}");
    let ex = redis_exchanges(&store, "node");
    // Each INCR stored with the count it returned, in order; the one in the
    // transaction was queued, and EXEC returned its count.
    let counts: Vec<Value> = ex
        .iter()
        .filter(|e| {
            words(e)
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("incr"))
        })
        .map(|e| e["response"]["decoded"]["replies"][0]["value"].clone())
        .collect();
    assert_eq!(
        counts,
        [1.into(), 2.into(), 3.into(), Value::from("QUEUED")]
    );
    let exec = ex
        .iter()
        .find(|e| {
            words(e)
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("exec"))
        })
        .unwrap();
    assert_eq!(
        exec["response"]["decoded"]["replies"][0]["value"][0]["value"],
        4
    );
    let message = ex
        .iter()
        .find(|e| e["request"]["decoded"]["command"].is_null())
        .expect("the pushed message is stored");
    assert_eq!(
        message["response"]["decoded"]["replies"][0]["value"][2]["value"],
        "extra"
    );
    assert!(ex.iter().all(|e| e["error"].is_null()));
}

/// A fixture app of `fixtures/redis`.
fn redis_app(script: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/redis")
        .join(script)
}

/// A JSON request through reel (`pg_pools`'s, without a token).
async fn send(c: &reqwest::Client, method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    crate::pg_pools::send(c, method, url, None, body).await
}

/// Three users at once: log in (a session under a fresh UUID, a timestamp in
/// its JSON, a rate-limit key with the epoch minute, a MULTI/EXEC), read the
/// session back, fill and read a cart, look a price up twice (a cache miss,
/// then a hit), log events, log out and find the session gone.
async fn drive_sessions(base: &str) {
    use futures_util::future::join_all;
    let c = client();
    let users = ["ann", "bob", "cy"];
    let ok = |what: &str, (s, v): &(u16, Value), want: u16| assert_eq!(*s, want, "{what}: {v}");
    let logins = join_all(users.iter().map(|u| {
        send(
            &c,
            "POST",
            format!("{base}/sessions"),
            Some(serde_json::json!({"user": u})),
        )
    }))
    .await;
    logins.iter().for_each(|r| ok("login", r, 201));
    let sids: Vec<String> = logins
        .iter()
        .map(|(_, v)| v["session"].as_str().unwrap().to_owned())
        .collect();
    let reads = join_all(
        sids.iter()
            .map(|s| send(&c, "GET", format!("{base}/sessions/{s}"), None)),
    )
    .await;
    for ((s, v), u) in reads.iter().zip(users) {
        assert_eq!((*s, v["user"].as_str()), (200, Some(u)), "{v}");
    }
    for item in [("book-1", 2), ("pen", 1)] {
        let adds = join_all(sids.iter().map(|s| {
            send(
                &c,
                "POST",
                format!("{base}/cart/{s}"),
                Some(serde_json::json!({"item": item.0, "qty": item.1})),
            )
        }))
        .await;
        adds.iter().for_each(|r| ok("add to cart", r, 200));
    }
    let carts = join_all(
        sids.iter()
            .map(|s| send(&c, "GET", format!("{base}/cart/{s}"), None)),
    )
    .await;
    for (_, v) in &carts {
        assert_eq!(v["items"], serde_json::json!({"book-1": 2, "pen": 1}));
    }
    let miss = send(&c, "GET", format!("{base}/cache/price/9780441013593"), None).await;
    let hit = send(&c, "GET", format!("{base}/cache/price/9780441013593"), None).await;
    assert_eq!(
        (miss.1["cached"].as_bool(), hit.1["cached"].as_bool()),
        (Some(false), Some(true))
    );
    for kind in ["login", "checkout"] {
        ok(
            "event",
            &send(
                &c,
                "POST",
                format!("{base}/events"),
                Some(serde_json::json!({"type": kind})),
            )
            .await,
            201,
        );
    }
    ok(
        "events",
        &send(&c, "GET", format!("{base}/events"), None).await,
        200,
    );
    let gone = join_all(
        sids.iter()
            .map(|s| send(&c, "DELETE", format!("{base}/sessions/{s}"), None)),
    )
    .await;
    gone.iter().for_each(|r| ok("logout", r, 200));
    let after = join_all(
        sids.iter()
            .map(|s| send(&c, "GET", format!("{base}/sessions/{s}"), None)),
    )
    .await;
    after.iter().for_each(|r| ok("after logout", r, 404));
}

/// A key prefix no other test uses, `reel-it-<letters>:`. Letters only: a
/// random-looking prefix would itself read as a value the app made up.
fn key_prefix() -> String {
    let tag: String = uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(10)
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    format!("reel-it-{tag}:")
}

/// Deletes the keys under `prefix` from the real Redis.
fn drop_keys(prefix: &str) {
    let script = format!(
        "import redis\nr = redis.Redis()\nfor k in r.scan_iter(match={:?}):\n    r.delete(k)\n",
        format!("{prefix}*")
    );
    let _ = std::process::Command::new("python3")
        .args(["-c", &script])
        .output();
}

/// `reel record` of the Redis app `app` (run by `program`, keys under
/// `prefix`) with its `cache` on the local Redis, into `store` as
/// `session`; the recording and the app's address through reel, once it
/// answers.
async fn record_app(
    program: &str,
    app: &Path,
    prefix: &str,
    session: &str,
    store: &Path,
) -> (Recording, String) {
    let port = free_port();
    let cmd = format!(
        "REDIS_URL=\"$REEL_DEP_CACHE_URL\" exec {program} {} --listen 127.0.0.1:{port} --prefix {prefix}",
        app.display()
    );
    let args = record_args(
        port,
        &["cache=redis:127.0.0.1:0=127.0.0.1:6379".to_owned()],
        session,
        store,
        &cmd,
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        crate::postgres::app_ready(&rec),
    )
    .await
    .expect("the app answered within 60 s");
    (rec, base)
}

/// A value the app makes up with no format of its own (a six-digit
/// one-time code it keeps in Redis) cannot be told from data by its look:
/// `generate` keeps it exact, and replay misses the new code. `generate
/// --verify` runs the app again against the real Redis, then sealed, sees
/// the code differ and matches it as a number: the suite replays green.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_matches_a_code_the_app_makes_up_in_redis() {
    require_redis_py();
    let dir = tempfile::tempdir().unwrap();
    let prefix = key_prefix();
    let store = dir.path().join("reel.db");
    let app = redis_app("app.py");
    let (rec, base) = record_app("python3", &app, &prefix, "codes", &store).await;
    let c = client();
    let (status, v) = send(&c, "POST", format!("{base}/codes/ann"), None).await;
    assert_eq!(status, 201, "{v}");
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");

    let (suite, printed) = generate_suite(dir.path(), "codes", &store);
    let (code, out) = crate::postgres::run_suite(&suite, &[]);
    assert_eq!(code, 1, "{out}\n(generate said:\n{printed})");
    assert!(out.contains("SET ") && out.contains("code:ann"), "{out}");

    let (verified, said) = generate_verified("codes", &suite, &store);
    drop_keys(&prefix);
    assert_eq!(verified, Some(0), "{said}");
    assert!(
        said.lines().any(|l| l.contains("-post-codes-ann#")
            && l.contains("cmd[2]")
            && l.contains("number: differed across runs")),
        "the code is loosened, and said so: {said}"
    );
    for _ in 0..2 {
        let (code, out) = crate::postgres::run_suite(&suite, &[]);
        assert_eq!(code, 0, "{out}\n(generate --verify said:\n{said})");
    }
}

/// An app whose state lives in Redis (`fixtures/redis/SCRIPT`, run by
/// `program`), recorded under three concurrent users, generated, and
/// replayed three times with Redis gone: reel's mock answers every command,
/// session UUIDs and timestamps the app makes afresh match by kind. Then the
/// app is changed (`read` becomes `changed`, a key it never read when
/// recorded): its case fails with the command named.
async fn app_round_trip(program: &str, script: &str, read: &str, changed: &str) {
    let dir = tempfile::tempdir().unwrap();
    let prefix = key_prefix();
    let store = dir.path().join("reel.db");
    let app = redis_app(script);
    let (rec, base) = record_app(program, &app, &prefix, "sessions", &store).await;
    drive_sessions(&base).await;
    let (code, out, err) = rec.interrupt().await;
    drop_keys(&prefix);
    assert_eq!(code, 0, "{out}{err}");
    let (suite, printed) = generate_suite(dir.path(), "sessions", &store);
    let lines = crate::postgres::mock_lines(&suite);
    let redis: Vec<&Value> = lines.iter().filter(|l| l["protocol"] == "redis").collect();
    assert!(redis.len() > 40, "{printed}");
    let text = serde_json::to_string(&redis).unwrap();
    assert!(text.contains(r#"session:{\"$reel\":\"uuid\"}"#), "{text}");
    assert!(text.contains(r#"{\"$reel\":\"epoch_seconds\"}"#), "{text}");

    // Redis is not asked: the mock stands where it stood.
    for _ in 0..3 {
        let (code, out) = crate::postgres::run_suite(&suite, &[]);
        assert_eq!(code, 0, "{out}\n(generate said:\n{printed})");
        assert!(out.contains("27 passed, 0 failed"), "{out}");
    }

    // The app changed: it reads a key it never read when recorded.
    let source = std::fs::read_to_string(&app).unwrap();
    assert!(source.contains(read), "{script} holds {read}");
    let edited = dir.path().join(script);
    // The copy finds what the original finds next to it (ioredis).
    let here = format!("{:?}", app.parent().unwrap());
    let source = source.replace(read, changed).replace("__dirname", &here);
    std::fs::write(&edited, source).unwrap();
    let suite_json = suite.join("suite.json");
    let s = std::fs::read_to_string(&suite_json).unwrap();
    let s = s.replace(&app.display().to_string(), &edited.display().to_string());
    std::fs::write(&suite_json, s).unwrap();
    let (code, out) = crate::postgres::run_suite(&suite, &[]);
    assert_eq!(code, 1, "{out}");
    // As the client spelled it: ioredis sends lower case.
    let said = out.to_ascii_lowercase();
    assert!(said.contains("no recording matches: hgetall"), "{out}");
    assert!(
        out.contains("basket:"),
        "the miss names the command sent: {out}"
    );
}

/// redis-py's connection pool of ten, pipelines and a MULTI/EXEC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_redis_py_replays_green_without_redis() {
    require_redis_py();
    app_round_trip(
        "python3",
        "app.py",
        "r.hgetall(f\"{P}cart:{parts[1]}\")",
        "r.hgetall(f\"{P}basket:{parts[1]}\")",
    )
    .await;
}

/// ioredis with auto-pipelining: one connection, commands of one tick sent
/// together, its INFO ready check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_on_ioredis_replays_green_without_redis() {
    require_ioredis();
    app_round_trip(
        "node",
        "app.js",
        "r.hgetall(`${P}cart:${parts[1]}`)",
        "r.hgetall(`${P}basket:${parts[1]}`)",
    )
    .await;
}

/// Real clients, each recorded against the real Redis as one case of
/// `fixtures/redis/workload_app.py` and replayed against reel's mock with
/// Redis gone, reading back the same: redis-py (pool, pipeline, MULTI/EXEC,
/// pub/sub with a message, RESP3, a 10 MB value), ioredis (auto-pipelining,
/// a transaction, pub/sub), redis-py's asyncio pool (1,000 pipelined
/// commands, a Lua script by EVAL then EVALSHA, blocking pops, binary
/// values, reads at once), `redis-cli`, and the `redis` crate (one
/// multiplexed tokio connection, fifty requests in flight at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_clients_read_back_the_same_from_the_mock() {
    require_redis_py();
    require_ioredis();
    let dir = tempfile::tempdir().unwrap();
    let prefix = key_prefix();
    let port = free_port();
    let cmd = format!(
        "exec python3 {} --listen 127.0.0.1:{port} --prefix {prefix} --rust-client {}",
        redis_app("workload_app.py").display(),
        crate::postgres::sibling_bin("reel-redis-client").display()
    );
    let store = dir.path().join("reel.db");
    let mut args = record_args(
        port,
        &["cache=redis:127.0.0.1:0=127.0.0.1:6379".to_owned()],
        "clients",
        &store,
        &cmd,
    );
    // The 10 MB value is kept whole, so that the mock can send it back.
    args.splice(0..0, ["--max-body".to_owned(), "16M".to_owned()]);
    let rec = Recording::start(&args).await.unwrap();
    let base = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        crate::postgres::app_ready(&rec),
    )
    .await
    .expect("the app answered within 60 s");
    let c = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let mut read = Vec::new();
    for name in ["py", "node", "async", "cli", "rust"] {
        let r = c.get(format!("{base}/run/{name}")).send().await.unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{name}: {v}");
        read.push((name, v));
    }
    let (code, out, err) = rec.interrupt().await;
    drop_keys(&prefix);
    assert_eq!(code, 0, "{out}{err}");
    // What they read from the real Redis, as a check of the workloads.
    let get = |name: &str| read.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    assert_eq!(get("py")["big"], 10_000_000);
    assert_eq!(get("py")["message"], "extra");
    assert_eq!(get("node")["message"], "extra");
    assert_eq!(get("async")["pipeline"], serde_json::json!([1000, 124750]));
    assert_eq!(get("async")["evalsha"], 12);
    assert_eq!(
        get("async")["blpop"],
        serde_json::json!([format!("{prefix}async:queue"), "job-1"])
    );
    assert_eq!(get("async")["blob"], true);
    assert_eq!(get("cli")["lines"][1], "hello");
    assert_eq!(get("rust")["counts"], serde_json::json!([1, 50, 50]));
    assert_eq!(
        get("rust")["transaction"],
        serde_json::json!(["OK", "in a transaction"])
    );
    assert_eq!(get("rust")["blob"], true);

    let (suite, printed) = generate_suite(dir.path(), "clients", &store);
    for _ in 0..2 {
        let (code, out) = crate::postgres::run_suite(&suite, &[]);
        assert_eq!(code, 0, "{out}\n(generate said:\n{printed})");
        assert!(out.contains("6 passed, 0 failed"), "{out}");
    }
}

/// The demo app with all three kinds of dependency at once: its books in
/// Postgres, quotes from the pricing service over HTTP, and those quotes
/// cached in Redis for a minute. Recorded against all three, it replays
/// green with none of them running; a build whose cache keys changed
/// (`quote:v2:`) fails exactly the quote cases, each naming the key it sent
/// and the nearest recorded one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_app_on_postgres_redis_and_http_replays_with_none_running() {
    use crate::postgres::{
        app_ready, call, run_suite, sibling_bin, unique_schema, Forwarder, REAL_PG,
    };
    let dir = tempfile::tempdir().unwrap();
    let database = Forwarder::start(REAL_PG).await;
    let pricing = serve_pricing().await;
    let schema = unique_schema("cache");
    let prefix = format!("reel-it-{schema}:quote:");
    let port = free_port();
    let app = sibling_bin("reel-demo-app");
    let cmd = format!(
        "exec {} --listen 127.0.0.1:{port} --pricing-url \"$REEL_DEP_PRICING_URL\" \
         --database-url \"postgres://postgres@$REEL_DEP_DB/test?sslmode=disable\" --pg-schema {schema} \
         --redis \"$REEL_DEP_CACHE\"",
        app.display()
    );
    let store = dir.path().join("reel.db");
    let args = record_args(
        port,
        &[
            format!("pricing=http:127.0.0.1:0=http://{}", pricing.addr),
            format!("db=postgres:127.0.0.1:0={}", database.addr),
            "cache=redis:127.0.0.1:0=127.0.0.1:6379".to_owned(),
        ],
        "demo-cache",
        &store,
        &format!("{cmd} --cache-key-prefix {prefix}"),
    );
    let rec = Recording::start(&args).await.unwrap();
    let base = app_ready(&rec).await;
    let mut quotes = Vec::new();
    for path in [
        "/books",
        "/books/1/quote?currency=EUR",
        "/books/1/quote?currency=EUR",
        "/books/2/quote?currency=USD",
        "/books/1",
    ] {
        let (s, body) = call("GET", &format!("{base}{path}")).await;
        assert_eq!(s, 200, "{path}: {body}");
        if path.contains("quote") {
            quotes.push(body);
        }
    }
    // The second quote of book 1 came from the cache: the same quote.
    assert_eq!(quotes[0], quotes[1]);
    let (code, out, err) = rec.interrupt().await;
    drop_keys(&prefix);
    assert_eq!(code, 0, "{out}{err}");
    pricing.stop().await;
    database.stop().await;
    let (suite, printed) = generate_suite(dir.path(), "demo-cache", &store);
    let lines = crate::postgres::mock_lines(&suite);
    for protocol in ["http", "postgres", "redis"] {
        assert!(
            lines.iter().any(|l| l["protocol"] == protocol),
            "no {protocol} mock:\n{printed}"
        );
    }

    // Postgres, Redis and pricing are all gone: reel's mocks answer.
    let (code, out) = run_suite(&suite, &[]);
    assert_eq!(code, 0, "{out}\n(generate said:\n{printed})");
    assert!(out.contains("6 passed, 0 failed"), "{out}");

    let changed = format!("{cmd} --cache-key-prefix {prefix}v2:");
    let (code, out) = run_suite(&suite, &["--app", &changed]);
    assert_eq!(code, 1, "{out}");
    let failed: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(
        failed,
        [
            "FAIL 0003-get-books-1-quote  GET /books/1/quote?currency=EUR",
            "FAIL 0004-get-books-1-quote  GET /books/1/quote?currency=EUR",
            "FAIL 0005-get-books-2-quote  GET /books/2/quote?currency=USD",
        ],
        "{out}"
    );
    assert!(out.contains("3 passed, 3 failed"), "{out}");
    assert!(
        out.contains(&format!(
            "dependency 'cache' got a call no recording matches: GET {prefix}v2:1:EUR"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("-\"{prefix}1:EUR\"")),
        "the diff shows the recorded key: {out}"
    );
    assert!(
        out.contains(&format!("+\"{prefix}v2:1:EUR\"")),
        "and the sent one: {out}"
    );
}
