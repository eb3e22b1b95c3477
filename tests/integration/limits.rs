//! What clients may hold of `reel record`: the connection cap, the deadline
//! on each request head, and a log that a flood of aborted connections
//! cannot fill. Each test drives the real binary over raw sockets, as a
//! hostile or broken client would.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::postgres::REAL_PG;
use crate::support::*;

/// Reads until the peer closes or `limit` passes. `Some(bytes)`: closed.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    match tokio::time::timeout(limit, s.read_to_end(&mut got)).await {
        Ok(_) => Some(got),
        Err(_) => None,
    }
}

/// Sends a head one line at a time, `gap` apart, for at most `lines`
/// lines. Returns when the recorder closed the connection (`Some`, with the
/// time since the first byte) or every line went through (`None`).
async fn trickle_head(
    s: &mut TcpStream,
    first: &[u8],
    gap: Duration,
    lines: usize,
) -> Option<Duration> {
    let start = Instant::now();
    if s.write_all(first).await.is_err() {
        return Some(start.elapsed());
    }
    let mut buf = [0u8; 256];
    for i in 0..lines {
        // A read that ends (0 or an error) means the recorder hung up.
        if let Ok(r) = tokio::time::timeout(gap, s.read(&mut buf)).await {
            match r {
                Ok(n) if n > 0 => panic!("an answer to a head not yet sent: {:?}", &buf[..n]),
                _ => return Some(start.elapsed()),
            }
        }
        if s.write_all(format!("x-line-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            return Some(start.elapsed());
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_get_a_503_that_says_why_and_the_rest_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "cap", &["--max-connections", "3"]).await;
    // Three clients that started a request and hold their connections.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(demo.rec.inbound).await.unwrap();
        s.write_all(b"GET /books HTTP/1.1\r\n").await.unwrap();
        held.push(s);
    }
    let over_cap = poll("a 503 over the cap", Duration::from_secs(10), async || {
        let mut s = TcpStream::connect(demo.rec.inbound).await.ok()?;
        s.write_all(b"GET /books HTTP/1.1\r\nHost: shop\r\n\r\n")
            .await
            .ok()?;
        let got = read_until_closed(&mut s, Duration::from_secs(5)).await?;
        let text = String::from_utf8_lossy(&got).into_owned();
        text.starts_with("HTTP/1.1 503").then_some(text)
    })
    .await;
    assert!(
        over_cap.contains("--max-connections") && over_cap.contains("3 connections"),
        "{over_cap}"
    );

    // Once the holders go, clients are served again.
    drop(held);
    let client = client();
    let base = demo.base();
    poll(
        "a 200 once the holders closed",
        Duration::from_secs(10),
        async || {
            let r = client.get(format!("{base}/books")).send().await.ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    let (code, out, err) = demo.rec.interrupt().await;
    demo.app.stop().await;
    demo.pricing.stop().await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        logged(&err, "refused ", " connections: 3 were already open") >= 1,
        "the refusals are counted in the log:\n{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_trickles_in_is_cut_at_the_deadline_but_a_slow_body_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "slow", &["--header-timeout", "1"]).await;
    let gap = Duration::from_millis(200);

    // A header line every 200 ms: pingora's own timeout (per read) never fires.
    let mut slow = TcpStream::connect(demo.rec.inbound).await.unwrap();
    let cut = trickle_head(&mut slow, b"GET /books HTTP/1.1\r\n", gap, 40)
        .await
        .expect("a head still coming after 8 s must have been cut");
    assert!(
        cut >= Duration::from_millis(900) && cut < Duration::from_secs(5),
        "cut after {cut:?}, not at the 1 s deadline"
    );

    // The deadline is for each head: the second request on a kept-alive
    // connection is timed too, from its own first byte.
    let mut kept = TcpStream::connect(demo.rec.inbound).await.unwrap();
    kept.write_all(b"GET /books HTTP/1.1\r\nHost: shop\r\n\r\n")
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), kept.read(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert!(
        first[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    // Longer than the deadline between requests is fine: that is idle time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let cut = trickle_head(&mut kept, b"GET /books HTTP/1.1\r\n", gap, 40)
        .await
        .expect("the second head was cut too");
    assert!(cut < Duration::from_secs(5), "{cut:?}");

    // A body that takes three times the deadline is the app's business.
    let body = br#"{"title":"Slow","author":"Upload","isbn":"978-1","price_cents":100}"#;
    let mut upload = TcpStream::connect(demo.rec.inbound).await.unwrap();
    upload
        .write_all(
            format!(
                "POST /books HTTP/1.1\r\nHost: shop\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    for chunk in body.chunks(body.len().div_ceil(15)) {
        tokio::time::sleep(gap).await;
        upload.write_all(chunk).await.unwrap();
    }
    let answer = read_until_closed(&mut upload, Duration::from_secs(10))
        .await
        .expect("answered and closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let (code, out, err) = demo.rec.interrupt().await;
    demo.app.stop().await;
    demo.pricing.stop().await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        logged(
            &err,
            "closed ",
            " connections whose request head took longer than 1s"
        ),
        2,
        "{err}"
    );
}

/// Clients that hang up in the middle of a request are their own business:
/// 200 of them make a few lines and a count, not 200 ERROR lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_aborted_connections_is_counted_not_logged_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "aborts", &[]).await;
    for _ in 0..200 {
        let mut s = TcpStream::connect(demo.rec.inbound).await.unwrap();
        s.write_all(b"GET /books HTTP/1.1\r\nHo").await.unwrap();
        drop(s);
    }
    let client = client();
    let r = client
        .get(format!("{}/books", demo.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, out, err) = demo.rec.interrupt().await;
    demo.app.stop().await;
    demo.pricing.stop().await;
    assert_eq!(code, 0, "{out}\n{err}");
    // A few per 10 s window are shown; the test may straddle two windows.
    let errors = err.lines().filter(|l| l.contains("ERROR")).count();
    assert!((1..=20).contains(&errors), "{errors} ERROR lines:\n{err}");
    let held_back = logged(&err, "", " more messages from the proxy were not shown");
    assert_eq!(
        held_back + errors as u64,
        200,
        "every abort is either shown or counted:\n{err}"
    );
}

/// The sum of the counts in log lines `… PREFIX<n>SUFFIX …`.
fn logged(err: &str, prefix: &str, suffix: &str) -> u64 {
    err.lines()
        .filter_map(|l| {
            let (before, _) = l.split_once(suffix)?;
            let (_, n) = before.rsplit_once(if prefix.is_empty() { " " } else { prefix })?;
            n.parse::<u64>().ok()
        })
        .sum()
}

/// The Postgres recorder has the same cap, and says so as Postgres would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_connection_over_the_cap_gets_too_many_connections() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let args: Vec<String> = [
        "--upstream",
        "http://127.0.0.1:9",
        "--listen",
        "127.0.0.1:0",
        "--dep",
        &format!("db=postgres:127.0.0.1:0={REAL_PG}"),
        "--max-connections",
        "1",
        "--store",
        store.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rec = Recording::start(&args).await.unwrap();
    let db = rec.dep("db");
    let holder = TcpStream::connect(db).await.unwrap();
    let answer = poll(
        "an answer over the cap",
        Duration::from_secs(10),
        async || {
            let mut s = TcpStream::connect(db).await.ok()?;
            let got = read_until_closed(&mut s, Duration::from_secs(5)).await?;
            (!got.is_empty()).then_some(got)
        },
    )
    .await;
    assert_eq!(answer[0], b'E', "an ErrorResponse: {answer:?}");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.contains("53300") && text.contains("--max-connections"),
        "{text}"
    );
    drop(holder);
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}\n{err}");
}
