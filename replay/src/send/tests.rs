//! The sender against raw TCP servers on loopback: the bytes it writes, how it
//! reads answers, and what it does with a kept-alive connection the app closed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reel_core::suite::{BodySpec, RequestSpec};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::errors::error_chain;

fn req(method: &str, target: &str, headers: &[(&str, &str)], body: Option<&str>) -> RequestSpec {
    RequestSpec {
        method: method.into(),
        target: target.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.map(|b| BodySpec::Text(b.into())),
    }
}

impl Sender {
    async fn send_plain(&mut self, r: &RequestSpec) -> Result<ActualResponse, SendError> {
        self.send(r, None).await
    }
}

fn sender(host: HostHeader) -> Sender {
    Sender::new("http://127.0.0.1:8080", host, Duration::from_secs(5)).unwrap()
}

fn wire(s: &Sender, r: &RequestSpec) -> String {
    String::from_utf8(s.compose(r, None).unwrap()).unwrap()
}

#[test]
fn requests_go_out_as_recorded() {
    let r = req(
        "POST",
        "/anything/0?a=1",
        &[
            ("User-Agent", "python-requests/2.32"),
            ("Accept-Encoding", "gzip, deflate"),
            ("X-Dup", "1"),
            ("host", "127.0.0.1:16789"),
            ("accept", "*/*"),
            ("x-dup", "2"),
            ("Content-Length", "0"),
        ],
        None,
    );
    insta::assert_snapshot!(wire(&sender(HostHeader::Recorded), &r));
}

#[test]
fn host_follows_the_choice() {
    let origin = req("GET", "/a", &[("Host", "shop.test:16789")], None);
    let absolute = req(
        "GET",
        "http://shop.test:16789/a?b",
        &[("Host", "shop.test:16789")],
        None,
    );
    let first_lines = |host: HostHeader, r: &RequestSpec| {
        wire(&sender(host), r)
            .lines()
            .take(2)
            .collect::<Vec<_>>()
            .join(" | ")
    };
    assert_eq!(
        first_lines(HostHeader::Recorded, &origin),
        "GET /a HTTP/1.1 | Host: shop.test:16789"
    );
    assert_eq!(
        first_lines(HostHeader::Target, &origin),
        "GET /a HTTP/1.1 | Host: 127.0.0.1:8080"
    );
    assert_eq!(
        first_lines(HostHeader::Value("api.example.com".into()), &origin),
        "GET /a HTTP/1.1 | Host: api.example.com"
    );
    assert_eq!(
        first_lines(HostHeader::Recorded, &absolute),
        "GET http://shop.test:16789/a?b HTTP/1.1 | Host: shop.test:16789"
    );
    assert_eq!(
        first_lines(HostHeader::Target, &absolute),
        "GET http://127.0.0.1:8080/a?b HTTP/1.1 | Host: 127.0.0.1:8080"
    );
    // A recording without a Host (HTTP/2) gets the target's, first.
    assert_eq!(
        first_lines(HostHeader::Recorded, &req("GET", "/a", &[("x", "1")], None)),
        "GET /a HTTP/1.1 | Host: 127.0.0.1:8080"
    );
}

#[test]
fn framing_is_kept_and_lengths_follow_the_body() {
    let s = sender(HostHeader::Recorded);
    let chunked = req(
        "PUT",
        "/c",
        &[("Host", "h"), ("Transfer-Encoding", "chunked")],
        Some("hello"),
    );
    assert_eq!(
        wire(&s, &chunked),
        "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    let empty_chunked = req(
        "POST",
        "/c",
        &[("Host", "h"), ("Transfer-Encoding", "chunked")],
        None,
    );
    assert!(wire(&s, &empty_chunked).ends_with("chunked\r\n\r\n0\r\n\r\n"));
    // A placeholder filled at replay made the body longer than recorded.
    let longer = req(
        "POST",
        "/c",
        &[("Content-Length", "3"), ("Host", "h")],
        Some("hello"),
    );
    assert_eq!(
        wire(&s, &longer),
        "POST /c HTTP/1.1\r\nContent-Length: 5\r\nHost: h\r\n\r\nhello"
    );
    // A body recorded with no framing (HTTP/2) went to the app chunked.
    let unframed = req("POST", "/c", &[("Host", "h")], Some("hi"));
    assert!(wire(&s, &unframed)
        .ends_with("Host: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"));
    // A bodiless GET gets no length it did not have.
    assert_eq!(
        wire(&s, &req("GET", "/c", &[("Host", "h")], None)),
        "GET /c HTTP/1.1\r\nHost: h\r\n\r\n"
    );
}

#[test]
fn what_no_proxy_passes_on_is_not_sent() {
    let s = sender(HostHeader::Recorded);
    let r = req(
        "GET",
        "/a",
        &[
            ("Host", "h"),
            ("Connection", "keep-alive, X-Hop"),
            ("Keep-Alive", "timeout=5"),
            ("X-Hop", "1"),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Authorization", "Basic eDp5"),
            ("TE", "trailers"),
            ("Upgrade", "h2c"),
            ("X-Kept", "2"),
        ],
        None,
    );
    assert_eq!(
        wire(&s, &r),
        "GET /a HTTP/1.1\r\nHost: h\r\nX-Kept: 2\r\n\r\n"
    );
    // A WebSocket handshake reaches the app with its Connection and Upgrade.
    let ws = req(
        "GET",
        "/socket",
        &[
            ("Host", "h"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"),
        ],
        None,
    );
    assert_eq!(
        wire(&s, &ws),
        "GET /socket HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
}

#[test]
fn bodies_go_byte_for_byte() {
    // A gzip request body is binary in the suite and sent as it was.
    let mut r = req(
        "POST",
        "/z",
        &[
            ("Host", "h"),
            ("Content-Encoding", "gzip"),
            ("Content-Length", "7"),
        ],
        None,
    );
    r.body = Some(BodySpec::Base64("H4sIAP8ACg==".into()));
    let bytes = sender(HostHeader::Recorded).compose(&r, None).unwrap();
    assert!(bytes.ends_with(b"Content-Length: 7\r\n\r\n\x1f\x8b\x08\x00\xff\x00\x0a"));
}

#[test]
fn a_json_body_goes_in_the_clients_layout() {
    let mut r = req(
        "POST",
        "/j",
        &[("Host", "h"), ("Content-Length", "22")],
        None,
    );
    r.body = Some(BodySpec::Json(serde_json::json!({"a": 1, "b": [1, 2]})));
    let python = JsonLayout {
        spaced: true,
        newline: true,
        ..Default::default()
    };
    let s = sender(HostHeader::Recorded);
    assert!(String::from_utf8(s.compose(&r, Some(&python)).unwrap())
        .unwrap()
        .ends_with("Content-Length: 22\r\n\r\n{\"a\": 1, \"b\": [1, 2]}\n"));
    assert!(wire(&s, &r).ends_with("Content-Length: 17\r\n\r\n{\"a\":1,\"b\":[1,2]}"));
}

#[test]
fn what_cannot_go_on_the_wire_is_refused_or_encoded() {
    let s = sender(HostHeader::Recorded);
    let e = s
        .compose(&req("GET", "/", &[("X-A", "a\r\nX-Evil: 1")], None), None)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the request cannot be sent: the value of header 'X-A' holds a line break or NUL"
    );
    assert!(s.compose(&req("GE T", "/", &[], None), None).is_err());
    // A value filled in at replay may bring a space into the target.
    assert!(
        wire(&s, &req("GET", "/q?name=a b/é", &[("Host", "h")], None))
            .starts_with("GET /q?name=a%20b/%C3%A9 HTTP/1.1\r\n")
    );
    assert_eq!(
        HostHeader::parse("api.example.com:8443"),
        Ok(HostHeader::Value("api.example.com:8443".into()))
    );
    assert_eq!(HostHeader::parse("target"), Ok(HostHeader::Target));
    assert!(HostHeader::parse("http://x/").is_err());
}

/// Reads one request (head, then a body framed by Content-Length or chunked)
/// off `s`; None when the client closed the connection first.
async fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let want = if head.contains("transfer-encoding: chunked") {
                None
            } else {
                Some(
                    head.lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |n| n.trim().parse::<usize>().unwrap()),
                )
            };
            let body = &buf[end + 4..];
            let done = match want {
                Some(n) => body.len() >= n,
                None => body.ends_with(b"0\r\n\r\n"),
            };
            if done {
                return Some(buf);
            }
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

/// A server that hands connection number `i` (from 0) to `script`.
async fn serve<F, Fut>(script: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let i = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(script(i, s));
        }
    });
    (addr, accepted)
}

fn to(addr: SocketAddr) -> Sender {
    Sender::new(
        &format!("http://{addr}"),
        HostHeader::Recorded,
        Duration::from_secs(5),
    )
    .unwrap()
}

#[tokio::test]
async fn one_connection_carries_every_case() {
    let (addr, accepted) = serve(|_, mut s| async move {
        while read_request(&mut s).await.is_some() {
            s.write_all(OK).await.unwrap();
        }
    })
    .await;
    let mut sender = to(addr);
    for _ in 0..3 {
        let a = sender
            .send_plain(&req("GET", "/", &[], None))
            .await
            .unwrap();
        assert_eq!(a.status, 200);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

/// The app answers a 500 on a kept-alive connection and closes it while the
/// next request is on its way (it reads it, but never answers).
async fn closes_after_a_500(i: usize, mut s: TcpStream) {
    if i > 0 {
        while read_request(&mut s).await.is_some() {
            s.write_all(OK).await.unwrap();
        }
        return;
    }
    read_request(&mut s).await;
    s.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    read_request(&mut s).await;
}

#[tokio::test]
async fn a_request_on_a_connection_the_app_closed_goes_again_on_a_new_one() {
    let (addr, accepted) = serve(closes_after_a_500).await;
    let mut sender = to(addr);
    let first = sender
        .send_plain(&req("GET", "/boom", &[], None))
        .await
        .unwrap();
    assert_eq!(first.status, 500);
    let next = sender
        .send_plain(&req("POST", "/next", &[("Content-Length", "0")], None))
        .await
        .unwrap();
    assert_eq!(next.status, 200);
    assert_eq!(next.body, Some(BodySpec::Text("ok".into())));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_second_failure_names_both() {
    let (addr, _) = serve(|i, mut s| async move {
        read_request(&mut s).await;
        if i == 0 {
            s.write_all(OK).await.unwrap();
            read_request(&mut s).await;
        }
    })
    .await;
    let mut sender = to(addr);
    sender
        .send_plain(&req("GET", "/", &[], None))
        .await
        .unwrap();
    let e = sender
        .send_plain(&req("GET", "/", &[], None))
        .await
        .unwrap_err();
    assert_eq!(
        error_chain(&e),
        "sent again on a new connection after the kept-alive one failed (the app closed the connection without answering): the app closed the connection without answering"
    );
}

#[tokio::test]
async fn answers_are_read_as_framed() {
    let (addr, accepted) = serve(|i, mut s| async move {
        let answers: [&[u8]; 3] = [
            // An interim answer, then a chunked body with a trailer.
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-Order: b\r\nx-order: a\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n",
            // HEAD: a length, no body.
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            // HTTP/1.0 with no length: the body runs to the end.
            b"HTTP/1.0 200 OK\r\n\r\nto the end",
        ];
        assert_eq!(i, 0, "one connection until the app closes it");
        for a in answers {
            read_request(&mut s).await.unwrap();
            s.write_all(a).await.unwrap();
        }
    })
    .await;
    let mut sender = to(addr);
    let a = sender
        .send_plain(&req("POST", "/", &[("Expect", "100-continue")], Some("x")))
        .await
        .unwrap();
    assert_eq!(a.status, 201);
    assert_eq!(a.body, Some(BodySpec::Text("abcde".into())));
    assert_eq!(
        a.headers,
        vec![
            ("Transfer-Encoding".to_owned(), "chunked".to_owned()),
            ("X-Order".to_owned(), "b".to_owned()),
            ("x-order".to_owned(), "a".to_owned()),
        ]
    );
    let h = sender
        .send_plain(&req("HEAD", "/", &[], None))
        .await
        .unwrap();
    assert_eq!((h.status, h.body), (200, None));
    let c = sender
        .send_plain(&req("GET", "/", &[], None))
        .await
        .unwrap();
    assert_eq!(c.body, Some(BodySpec::Text("to the end".into())));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_answer_that_does_not_come_times_out() {
    let (addr, _) = serve(|_, mut s| async move {
        read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let mut sender = Sender::new(
        &format!("http://{addr}"),
        HostHeader::Recorded,
        Duration::from_millis(200),
    )
    .unwrap();
    let e = sender
        .send_plain(&req("GET", "/", &[], None))
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no complete answer within 0.2 s (--case-timeout)"
    );
}
