//! Recording end to end: the demo app and its pricing service behind the real
//! `reel record`, driven by 200+ mixed requests, checked from the JSON output
//! and from the SQLite file itself.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

/// What the client sent and got, to compare with what reel stored.
struct Sent {
    method: Method,
    path: String,
    request_body: Vec<u8>,
    /// Headers the test added, which must be stored in order.
    extra_headers: Vec<(String, String)>,
    status: u16,
    response_headers: Vec<(String, Vec<u8>)>,
    response_body: Vec<u8>,
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    log: &mut Vec<Sent>,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    content_type: Option<&str>,
) -> (u16, Vec<u8>) {
    let n = log.len();
    let extra_headers = vec![
        ("X-Reel-Test".to_owned(), format!("{n}")),
        ("X-Dup".to_owned(), "a".to_owned()),
        ("X-Dup".to_owned(), format!("b{n}")),
    ];
    let mut req = client.request(method.clone(), format!("{base}{path}"));
    for (k, v) in &extra_headers {
        req = req.header(k, v);
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let request_body = body.unwrap_or_default();
    if !request_body.is_empty() {
        req = req.body(request_body.clone());
    }
    let resp = req.send().await.expect("request through reel");
    let status = resp.status().as_u16();
    let response_headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    let response_body = resp.bytes().await.unwrap().to_vec();
    log.push(Sent {
        method,
        path: path.to_owned(),
        request_body,
        extra_headers,
        status,
        response_headers,
        response_body: response_body.clone(),
    });
    (status, response_body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_every_exchange_byte_exact_with_named_dependency_calls() {
    let dir = tempfile::tempdir().unwrap();
    let DemoRecording {
        rec,
        mut app,
        pricing,
        app_addr,
        store,
        pricing_via_reel,
    } = record_demo(dir.path(), "e2e-flow", &[]).await;

    let client = client();
    let base = format!("http://{}", rec.inbound);
    let mut log = Vec::new();
    let mut expected_pricing_calls = 0;

    send(&client, &base, &mut log, Method::GET, "/health", None, None).await;
    let mut ids = Vec::new();
    for i in 0..60 {
        // Every third book has no price, so the app asks the pricing service.
        let mut book = json!({"title": format!("Book {i}"), "author": format!("Author {}", i % 7), "isbn": format!("978-0-{i:04}")});
        if i % 3 != 0 {
            book["price_cents"] = json!(1000 + i);
        } else {
            expected_pricing_calls += 1;
        }
        let (status, body) = send(
            &client,
            &base,
            &mut log,
            Method::POST,
            "/books",
            Some(serde_json::to_vec(&book).unwrap()),
            Some("application/json"),
        )
        .await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let created: Value = serde_json::from_slice(&body).unwrap();
        ids.push(created["id"].as_u64().unwrap());
    }
    for page in 1..=8 {
        let path = format!("/books?page={page}&per_page=9&q=book");
        send(&client, &base, &mut log, Method::GET, &path, None, None).await;
    }
    for id in ids.iter().take(40) {
        let path = format!("/books/{id}");
        send(&client, &base, &mut log, Method::GET, &path, None, None).await;
        let update = serde_json::to_vec(&json!({"title": format!("Renamed {id}")})).unwrap();
        let (status, _) = send(
            &client,
            &base,
            &mut log,
            Method::PUT,
            &path,
            Some(update),
            Some("application/json"),
        )
        .await;
        assert_eq!(status, 200);
    }
    for id in ids.iter().take(20) {
        let path = format!("/books/{id}/quote?currency=EUR");
        let (status, _) = send(&client, &base, &mut log, Method::GET, &path, None, None).await;
        assert_eq!(status, 200);
        expected_pricing_calls += 1;
    }
    let upload: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 31 % 251) as u8).collect();
    let (status, _) = send(
        &client,
        &base,
        &mut log,
        Method::POST,
        "/uploads",
        Some(upload.clone()),
        Some("application/octet-stream"),
    )
    .await;
    assert_eq!(status, 201);
    let (status, export) = send(&client, &base, &mut log, Method::GET, "/export", None, None).await;
    assert_eq!(status, 200);
    assert!(
        export
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
            >= 60
    );
    let export_index = log.len() - 1;
    send(&client, &base, &mut log, Method::HEAD, "/books", None, None).await;
    let (status, _) = send(
        &client,
        &base,
        &mut log,
        Method::GET,
        "/books/999999",
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    for id in ids.iter().skip(50) {
        let (status, _) = send(
            &client,
            &base,
            &mut log,
            Method::DELETE,
            &format!("/books/{id}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, 204);
    }

    // The app goes down: reel answers 502 and stores the failed exchanges.
    app.stop().await;
    let down_from = log.len();
    for _ in 0..5 {
        let (status, _) = send(&client, &base, &mut log, Method::GET, "/books", None, None).await;
        assert_eq!(status, 502);
    }
    let down_to = log.len();
    app = serve_app_on(rebind(app_addr).await, pricing_via_reel);
    for i in 0..30 {
        let path = format!("/books?page=1&per_page={}", i % 5 + 1);
        let (status, _) = send(&client, &base, &mut log, Method::GET, &path, None, None).await;
        assert_eq!(status, 200);
    }
    assert!(log.len() >= 200, "only {} requests sent", log.len());

    let (code, stdout, stderr) = rec.interrupt().await;
    app.stop().await;
    pricing.stop().await;
    assert_eq!(code, 0, "reel record failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("Recorded session"), "{stdout}");
    assert!(
        stdout.contains(&format!("inbound   {:>6}", log.len())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("(pricing {expected_pricing_calls})")),
        "{stdout}"
    );
    assert!(stdout.contains("dropped        0"), "{stdout}");

    let shown = session_json(&store, "e2e-flow");
    assert_eq!(shown["session"]["name"], "e2e-flow");
    assert_eq!(shown["session"]["dropped"], 0);
    let exchanges = shown["exchanges"].as_array().unwrap();
    let seqs: Vec<i64> = exchanges
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "exchanges are in seq order"
    );
    let inbound: Vec<&Value> = exchanges
        .iter()
        .filter(|e| e["direction"] == "inbound")
        .collect();
    let outbound: Vec<&Value> = exchanges
        .iter()
        .filter(|e| e["direction"] == "outbound")
        .collect();
    assert_eq!(inbound.len(), log.len(), "every inbound exchange is stored");
    assert_eq!(outbound.len(), expected_pricing_calls);

    for (i, (sent, stored)) in log.iter().zip(&inbound).enumerate() {
        let req = &stored["request"];
        assert_eq!(req["method"], sent.method.as_str(), "exchange {i}");
        assert_eq!(req["target"], sent.path.as_str(), "exchange {i}");
        assert_eq!(stored["protocol"], "http");
        assert_eq!(
            body_bytes(&req["body"]),
            sent.request_body,
            "request body {i}"
        );
        // Our headers are stored in the order sent, duplicates kept.
        let names_values: Vec<(String, String)> = req["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h[0].as_str().unwrap().starts_with("x-"))
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_owned(),
                    h[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = sent
            .extra_headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        assert_eq!(names_values, expected, "request headers {i}");

        let resp = &stored["response"];
        assert_eq!(resp["status"], sent.status, "status {i}");
        if (down_from..down_to).contains(&i) {
            let err = stored["error"]
                .as_str()
                .expect("502 exchanges carry the error");
            assert!(err.contains("Connect"), "error of exchange {i}: {err}");
            continue;
        }
        assert!(
            stored["error"].is_null(),
            "exchange {i}: {}",
            stored["error"]
        );
        if sent.method != Method::HEAD {
            assert_eq!(
                body_bytes(&resp["body"]),
                sent.response_body,
                "response body {i}"
            );
        }
        assert_eq!(resp["body"]["truncated"], false);
        // Every header the client saw (bar hop-by-hop ones) is stored byte-exact.
        for (name, value) in &sent.response_headers {
            // pingora sets Date and Connection on what it sends downstream; the
            // store keeps the app's own values.
            if ["connection", "keep-alive", "transfer-encoding", "date"].contains(&name.as_str()) {
                continue;
            }
            let found = resp["headers"].as_array().unwrap().iter().any(|h| {
                h[0].as_str().unwrap().eq_ignore_ascii_case(name)
                    && h[1].as_str().unwrap().as_bytes() == value.as_slice()
            });
            assert!(
                found,
                "exchange {i}: response header {name}: {:?} not stored exactly: {}",
                String::from_utf8_lossy(value),
                resp["headers"]
            );
        }
        for t in ["started_at", "first_byte_at", "ended_at"] {
            assert!(stored[t].is_string(), "exchange {i} lacks {t}");
        }
    }
    // The chunked export was stored as streamed, and flagged as chunked.
    let export = &inbound[export_index]["response"];
    assert!(export["headers"].as_array().unwrap().iter().any(|h| h[0]
        .as_str()
        .unwrap()
        .eq_ignore_ascii_case("transfer-encoding")
        && h[1] == "chunked"));

    // Outbound pricing calls are named and each sits inside an inbound call.
    for o in &outbound {
        assert_eq!(o["dependency"], "pricing");
        assert_eq!(o["protocol"], "http");
        assert!(o["request"]["target"]
            .as_str()
            .unwrap()
            .starts_with("/price?isbn="));
        assert_eq!(o["response"]["status"], 200);
        let (start, end) = (
            o["started_at"].as_str().unwrap(),
            o["ended_at"].as_str().unwrap(),
        );
        assert!(
            inbound
                .iter()
                .any(|i| i["started_at"].as_str().unwrap() <= start
                    && i["ended_at"].as_str().unwrap() >= end),
            "outbound call at {start} lies in no inbound call"
        );
    }

    // The SQLite file itself agrees, byte for byte, and is sound.
    let db = rusqlite::Connection::open(&store).unwrap();
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let count: i64 = db
        .query_row("SELECT count(*) FROM exchanges", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count as usize, exchanges.len());
    let stored_upload: Vec<u8> = db
        .query_row(
            "SELECT request_body FROM exchanges WHERE request_head LIKE '%/uploads%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        stored_upload == upload,
        "the 1 MiB upload is stored byte-exact"
    );
    let mode = std::fs::metadata(&store).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_cap_is_forwarded_whole_and_stored_cut() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "capped", &["--max-body", "1K"]).await;
    let (rec, store) = (&demo.rec, demo.store.clone());
    let body = vec![7u8; 5000];
    let resp = client()
        .post(format!("http://{}/uploads", rec.inbound))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["bytes"], 5000, "the app got the whole body");
    demo.stop().await;
    let shown = session_json(&store, "capped");
    let req = &shown["exchanges"][0]["request"]["body"];
    assert_eq!(req["truncated"], true);
    assert_eq!(req["size"], 5000);
    assert_eq!(body_bytes(req).len(), 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forward_proxy_records_http_proxy_calls_named_by_host_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let pricing = serve_pricing().await;
    let rec = Recording::start(&[
        "--upstream".into(),
        "http://127.0.0.1:9".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--dep".into(),
        format!("pricing=http:127.0.0.1:0=http://{}", pricing.addr),
        "--http-proxy".into(),
        "127.0.0.1:0".into(),
        "--session".into(),
        "proxied".into(),
        "--store".into(),
        store.to_str().unwrap().into(),
    ])
    .await
    .unwrap();
    let proxy = rec
        .http_proxy
        .expect("the forward proxy address is announced");
    let via_proxy = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://{proxy}")).unwrap())
        .build()
        .unwrap();
    // A plain call to the pricing service, through HTTP_PROXY.
    let direct = format!("http://{}/price?isbn=1&currency=EUR", pricing.addr);
    let r = via_proxy.get(&direct).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let direct_body = r.bytes().await.unwrap();
    // A call to reel's own named recorder through the proxy: stored once, by it.
    let named = format!("http://{}/price?isbn=2&currency=EUR", rec.dep("pricing"));
    assert_eq!(via_proxy.get(&named).send().await.unwrap().status(), 200);
    // A CONNECT or an origin-form request is refused with a reason.
    let raw = client()
        .get(format!("http://{proxy}/price?isbn=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert!(raw.text().await.unwrap().contains("absolute-form"));

    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    pricing.stop().await;
    let shown = session_json(&store, "proxied");
    let ex = shown["exchanges"].as_array().unwrap();
    let ok: Vec<&Value> = ex
        .iter()
        .filter(|e| e["response"]["status"] == 200)
        .collect();
    assert_eq!(ok.len(), 2, "each call stored exactly once: {ex:#?}");
    assert_eq!(ok[0]["dependency"], "127.0.0.1");
    assert_eq!(ok[0]["direction"], "outbound");
    assert_eq!(
        ok[0]["request"]["target"],
        direct.as_str(),
        "absolute-form target kept"
    );
    assert_eq!(body_bytes(&ok[0]["response"]["body"]), direct_body.to_vec());
    assert_eq!(ok[1]["dependency"], "pricing");
    let refused = ex.iter().find(|e| e["response"]["status"] == 400).unwrap();
    assert!(refused["error"].as_str().unwrap().contains("absolute-form"));
}

/// The app `reel record` starts learns where each dependency's recorder is,
/// as an address and as a URL whose scheme is the dependency's protocol; the
/// log names the same URLs.
#[test]
fn the_app_gets_each_dependency_as_a_url_of_its_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let env_file = dir.path().join("env");
    let out = std::process::Command::new(reel_bin())
        .args([
            "record",
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--dep", "db=postgres:127.0.0.1:0=127.0.0.1:9"])
        .args(["--dep", "api=http:127.0.0.1:0=http://127.0.0.1:9"])
        .args(["--session", "env", "--store", store.to_str().unwrap()])
        .args([
            "--",
            "sh",
            "-c",
            "env > \"$1\"",
            "sh",
            env_file.to_str().unwrap(),
        ])
        .env("REEL_LOG", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let env = std::fs::read_to_string(&env_file).unwrap();
    let var = |name: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} is not set:\n{env}"))
            .to_owned()
    };
    let (db, api) = (var("REEL_DEP_DB"), var("REEL_DEP_API"));
    assert_eq!(var("REEL_DEP_DB_URL"), format!("postgres://{db}"));
    assert_eq!(var("REEL_DEP_API_URL"), format!("http://{api}"));
    assert!(
        stderr.contains(&format!("recording dependency 'db' at postgres://{db}"))
            && stderr.contains(&format!("recording dependency 'api' at http://{api}")),
        "{stderr}"
    );
}

/// A client that pipelines (sends its next requests before reading the
/// first answer) gets every answer, in order, on the one connection, and
/// each request is recorded. Before, pingora dropped all but the first and
/// closed the connection, and nothing said so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_all_answered_and_recorded_in_order() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "pipelined", &[]).await;
    let mut s = tokio::net::TcpStream::connect(demo.rec.inbound)
        .await
        .unwrap();
    s.write_all(
        b"GET /books?page=1 HTTP/1.1\r\nHost: shop\r\n\r\n\
          GET /books?page=2 HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got))
        .await
        .expect("every answer, then the close the last request asked for")
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
    demo.stop().await;

    let shown = session_json(&dir.path().join("reel.db"), "pipelined");
    let inbound: Vec<&Value> = shown["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["direction"] == "inbound")
        .collect();
    let targets: Vec<&str> = inbound
        .iter()
        .map(|e| e["request"]["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["/books?page=1", "/books?page=2"]);
    assert!(
        inbound
            .iter()
            .all(|e| e["connection"] == inbound[0]["connection"]),
        "one connection"
    );
}
