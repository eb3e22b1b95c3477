//! Stopping the recorders: a request that is still open when the grace period
//! ends is dropped with its recorder's runtime, and what it captured is stored
//! with an error instead of being lost.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reel_core::store::Store;
use reel_core::writer::StoreWriter;
use reel_core::{Exchange, Payload, Protocol};
use reel_proxy::server::{DependencyKind, DependencySpec, DEFAULT_BODY_CAP};
use reel_proxy::{Recorder, RecorderConfig, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

const GRACE: Duration = Duration::from_millis(300);

/// A server that reads until `done` says what it has is a whole request,
/// reports that, and then holds the connection open without a word.
async fn silent_server(done: fn(&[u8]) -> bool) -> (SocketAddr, oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (got_tx, got) = oneshot::channel();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut buf = vec![0; 4096];
        let mut seen = Vec::new();
        while !done(&seen) {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the recorder closed before sending the request");
            seen.extend_from_slice(&buf[..n]);
        }
        let _ = got_tx.send(());
        let _ = conn.read(&mut buf).await;
    });
    (addr, got)
}

fn config() -> RecorderConfig {
    RecorderConfig {
        inbound: None,
        dependencies: Vec::new(),
        forward: None,
        body_cap: DEFAULT_BODY_CAP,
        redact: false,
        redact_rules: Default::default(),
        limits: Default::default(),
        filter: None,
    }
}

/// Starts the recorders, lets `send` open a request through them, waits until
/// the silent server has it, stops with a short grace and returns what the
/// store holds afterwards.
async fn stop_with_one_open<F, Fut>(
    config: RecorderConfig,
    got: oneshot::Receiver<()>,
    send: F,
) -> Vec<Exchange>
where
    F: FnOnce(&Recorder) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let (writer, session) = StoreWriter::start(Store::open(&path).unwrap(), "stop", "t").unwrap();
    let recorder = Recorder::start(config, writer.sender()).await.unwrap();
    let client = tokio::spawn(send(&recorder));
    tokio::time::timeout(Duration::from_secs(10), got)
        .await
        .expect("the request did not reach the server within 10 s")
        .unwrap();
    assert_eq!(recorder.in_flight(), 1);

    let started = Instant::now();
    let unfinished = recorder.stop(GRACE).await;
    assert_eq!(unfinished, 1, "the open request is reported as unfinished");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "stop took {took:?} with a {GRACE:?} grace"
    );
    tokio::time::timeout(Duration::from_secs(10), client)
        .await
        .expect("the client still waits after the recorder stopped")
        .unwrap();

    let stats = writer.finish().unwrap();
    assert_eq!((stats.stored, stats.dropped), (1, 0));
    Store::open(&path).unwrap().exchanges(session).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_request_open_at_stop_is_stored_with_an_error() {
    let (upstream, got) = silent_server(|seen| seen.windows(4).any(|w| w == b"\r\n\r\n")).await;
    let mut cfg = config();
    cfg.inbound = Some((
        "127.0.0.1:0".into(),
        Upstream::parse("upstream", &format!("http://{upstream}")).unwrap(),
    ));
    let exchanges = stop_with_one_open(cfg, got, |recorder| {
        let inbound = recorder.addrs().inbound.unwrap();
        async move {
            let answer = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(format!("http://{inbound}/never-answered?x=1"))
                .send()
                .await;
            assert!(answer.is_err(), "got an answer: {answer:?}");
        }
    })
    .await;

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

/// A Postgres StartupMessage (protocol 3.0) for user `app`.
fn startup_message() -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    body.extend_from_slice(b"user\0app\0database\0test\0\0");
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_message_open_at_stop_is_stored_with_an_error() {
    let (server, got) = silent_server(|seen| seen.len() >= startup_message().len()).await;
    let mut cfg = config();
    cfg.dependencies.push(DependencySpec {
        name: "db".into(),
        listen: "127.0.0.1:0".into(),
        kind: DependencyKind::Postgres(server.to_string()),
    });
    let exchanges = stop_with_one_open(cfg, got, |recorder| {
        let (_, addr) = recorder.addrs().dependencies[0].clone();
        async move {
            let mut conn = TcpStream::connect(addr).await.unwrap();
            conn.write_all(&startup_message()).await.unwrap();
            // The recorder ends the connection when it stops.
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest).await;
            assert!(rest.is_empty(), "got an answer: {rest:?}");
        }
    })
    .await;

    assert_eq!(exchanges.len(), 1);
    let e = &exchanges[0];
    assert_eq!(e.protocol, Protocol::Postgres);
    assert_eq!(e.dependency.as_deref(), Some("db"));
    assert_eq!(
        e.error.as_deref(),
        Some("recording stopped before the server answered")
    );
    let Payload::Wire { raw, .. } = &e.request else {
        panic!("not a wire message: {:?}", e.request);
    };
    assert_eq!(raw.bytes, startup_message());
}
