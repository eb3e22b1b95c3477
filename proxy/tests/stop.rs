//! Stopping the recorders: a request that is still open when the grace period
//! ends is dropped with the recorders' runtime, and what it captured is stored
//! with an error instead of being lost.

use std::time::Duration;

use reel_core::store::Store;
use reel_core::writer::StoreWriter;
use reel_core::Payload;
use reel_proxy::server::DEFAULT_BODY_CAP;
use reel_proxy::{Recorder, RecorderConfig, Upstream};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_open_at_stop_is_stored_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("reel.db")).unwrap();
    let (writer, session) = StoreWriter::start(store, "stop", "http://upstream").unwrap();

    // An upstream that reads the request and never answers.
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let (got_request_tx, got_request) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut conn, _) = upstream.accept().await.unwrap();
        let mut buf = vec![0; 4096];
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the recorder closed before sending the request");
            head.extend_from_slice(&buf[..n]);
        }
        let _ = got_request_tx.send(());
        // Hold the connection open, silent, until the test ends.
        let _ = conn.read(&mut buf).await;
    });

    let config = RecorderConfig {
        inbound: Some((
            "127.0.0.1:0".into(),
            Upstream::parse("upstream", &format!("http://{upstream_addr}")).unwrap(),
        )),
        dependencies: Vec::new(),
        forward: None,
        body_cap: DEFAULT_BODY_CAP,
        redact: false,
        redact_rules: Default::default(),
    };
    let recorder = Recorder::start(config, writer.sender()).await.unwrap();
    let inbound = recorder.addrs().inbound.unwrap();

    let client = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("http://{inbound}/never-answered?x=1"))
            .send()
            .await
    });
    tokio::time::timeout(Duration::from_secs(10), got_request)
        .await
        .expect("the request did not reach the upstream within 10 s")
        .unwrap();
    assert_eq!(recorder.in_flight(), 1);

    let started = std::time::Instant::now();
    let unfinished = recorder.stop(Duration::from_millis(300)).await;
    assert_eq!(unfinished, 1, "the open request is reported as unfinished");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stop took {:?} with a 300 ms grace",
        started.elapsed()
    );
    // The client sees its connection end rather than an answer.
    let answer = tokio::time::timeout(Duration::from_secs(10), client)
        .await
        .expect("the client still waits after the recorder stopped")
        .unwrap();
    assert!(answer.is_err(), "got an answer: {answer:?}");

    let stats = writer.finish().unwrap();
    assert_eq!((stats.stored, stats.dropped), (1, 0));
    let store = Store::open(&dir.path().join("reel.db")).unwrap();
    let exchanges = store.exchanges(session).unwrap();
    assert_eq!(exchanges.len(), 1);
    let e = &exchanges[0];
    assert_eq!(
        e.error.as_deref(),
        Some("connection closed before the exchange completed")
    );
    assert!(e.response.is_none());
    let Payload::HttpRequest(request) = &e.request else {
        panic!("not an HTTP request: {:?}", e.request);
    };
    assert_eq!(
        (request.method.as_str(), request.target.as_str()),
        ("GET", "/never-answered?x=1")
    );
}
