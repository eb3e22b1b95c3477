//! Bad input on the proxy port gets an error response or a closed connection;
//! reel keeps serving other clients and the store stays sound.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Sends `bytes`, then reads until the peer closes. Returns what it answered.
async fn answer_to(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    // The peer may close while we are still writing; that is an answer too.
    let _ = s.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(70), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn healthy(base: &str) {
    let r = client().get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_stalls_are_refused_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "bad-input", &[]).await;
    let (rec, base) = (&demo.rec, demo.base());

    // A client that stalls mid-headers holds only its own connection.
    let mut stalled = TcpStream::connect(rec.inbound).await.unwrap();
    stalled
        .write_all(b"GET /books HTTP/1.1\r\nHost: x\r\nX-Half")
        .await
        .unwrap();
    let stalled_at = Instant::now();

    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 256) as u8).collect();
    let answer = answer_to(rec.inbound, &garbage).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:?}"
    );
    healthy(&base).await;

    let answer = answer_to(rec.inbound, b"GET\x00 /\x01 NOTHTTP\r\n\r\n").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:?}"
    );
    healthy(&base).await;

    let mut huge = b"GET /books HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
    while huge.len() < 100 * 1024 {
        huge.extend_from_slice(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    huge.extend_from_slice(b"\r\n");
    let answer = answer_to(rec.inbound, &huge).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4") || answer.starts_with("HTTP/1.1 200"),
        "{answer:?}"
    );
    healthy(&base).await;

    // The stalled client is cut off after the header timeout.
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(90), stalled.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a stalled client must be disconnected");
    assert!(
        stalled_at.elapsed() >= Duration::from_secs(5),
        "cut off by a timeout, not at once"
    );
    healthy(&base).await;

    let store = demo.store.clone();
    demo.stop().await;
    let db = rusqlite::Connection::open(&store).unwrap();
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let shown = session_json(&store, "bad-input");
    let health_calls = shown["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request"]["target"] == "/health" && e["response"]["status"] == 200)
        .count();
    assert_eq!(
        health_calls, 4,
        "the good requests between the bad ones are all stored"
    );
}
