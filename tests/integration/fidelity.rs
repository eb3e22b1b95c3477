//! Replay sends what the client sent: a real app that answers every request
//! with the request's own bytes (`fixtures/http/raw_echo.py`) is recorded
//! through `reel record` from a client that writes raw HTTP, and the suite
//! replays green only when every request goes out byte for byte as recorded:
//! Host, header order and case, `Content-Length: 0` on bodiless writes,
//! chunked framing, a gzip body, a JSON body in Python's layout, an
//! absolute-form target; and, as the app got them through reel's proxy, no
//! hop-by-hop headers. The same app closes its kept-alive connection after
//! a 500, which must not fail the next case.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

use crate::support::*;

/// The raw echo app, run by python3.
pub fn raw_echo() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/http/raw_echo.py");
    format!("python3 {}", path.display())
}

/// Sends `request` as raw bytes on a new connection and reads one answer
/// (framed by Content-Length); returns its status and body.
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |n| n.trim().parse().unwrap());
            if buf.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                return (status, buf[end + 4..end + 4 + length].to_vec());
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        assert!(n > 0, "the connection closed before the answer was whole");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `reel record` with the app it starts, once it printed `reel: ready`.
pub struct ReadyRecording {
    pub child: tokio::process::Child,
    pub inbound: SocketAddr,
    /// What reel printed on stderr up to `reel: ready`.
    pub before_ready: String,
}

impl ReadyRecording {
    pub async fn start(args: &[String]) -> ReadyRecording {
        let mut child = tokio::process::Command::new(reel_bin())
            .arg("record")
            .args(args)
            .env("REEL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut before_ready = String::new();
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(l) = lines.next_line().await.unwrap() {
                if l == "reel: ready" {
                    return;
                }
                before_ready.push_str(&l);
                before_ready.push('\n');
            }
            panic!("reel record ended before it was ready:\n{before_ready}");
        })
        .await
        .unwrap_or_else(|_| panic!("no `reel: ready` within 30 s:\n{before_ready}"));
        // The rest of stderr must be read, or reel blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let inbound = before_ready
            .lines()
            .find_map(|l| l.strip_prefix("reel: listening inbound="))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the listening line")
            .parse()
            .unwrap();
        ReadyRecording {
            child,
            inbound,
            before_ready,
        }
    }

    /// SIGINT, then the exit status.
    pub async fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("reel record stopped within 30 s")
            .unwrap();
        assert!(status.success(), "reel record: {status}");
    }
}

/// A recorded and generated suite of the raw echo app.
pub struct EchoSuite {
    pub dir: tempfile::TempDir,
    pub suite: PathBuf,
    /// The app's port.
    pub port: u16,
    /// Where reel recorded (the Host the client sent).
    pub inbound: SocketAddr,
}

/// Records raw requests of every kind through `reel record` (which starts the
/// echo app) and generates the suite.
pub async fn record_raw_echo() -> EchoSuite {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let port = free_port();
    let rec = ReadyRecording::start(&[
        "--upstream".into(),
        format!("http://127.0.0.1:{port}"),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--session".into(),
        "echo".into(),
        "--store".into(),
        store.to_str().unwrap().into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        format!("exec {} {port}", raw_echo()),
    ])
    .await;
    let inbound = rec.inbound;
    let host = inbound.to_string();
    let gzip: &[u8] = &[
        31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 171, 86, 74, 84, 178, 82, 48, 172, 5, 0, 151, 142, 161,
        251, 8, 0, 0, 0,
    ];
    let mut gzip_request = format!(
        "POST /upload HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gzip.len()
    )
    .into_bytes();
    gzip_request.extend_from_slice(gzip);
    let requests: Vec<(Vec<u8>, u16)> = vec![
        // A bodiless POST with its Content-Length: 0, headers in the client's
        // order and case (Host not first), a repeated header.
        (format!("POST /anything/0 HTTP/1.1\r\nUser-Agent: python-requests/2.32\r\nAccept-Encoding: gzip, deflate\r\nhost: {host}\r\nX-Tag: a\r\nX-Tag: b\r\nContent-Length: 0\r\n\r\n").into_bytes(), 200),
        (format!("DELETE /anything/7 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n").into_bytes(), 200),
        (format!("PUT /chunked HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n").into_bytes(), 200),
        (gzip_request, 200),
        // requests' json= writes Python's layout: ", " and ": ", \u escapes.
        (format!("POST /json HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 36\r\n\r\n{{\"name\": \"Zo\\u00eb\", \"tags\": [1, 2]}}").into_bytes(), 200),
        (format!("GET http://{host}/absolute?x=1 HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), 200),
        // The app closes its kept-alive connection after this 500.
        (format!("GET /boom HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), 500),
        (format!("GET /after-the-500 HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes(), 200),
        // Hop-by-hop headers, which reel's proxy (as any) does not pass on.
        (format!("GET /hop HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nTE: trailers\r\nX-Kept: 2\r\n\r\n").into_bytes(), 200),
    ];
    for (request, status) in &requests {
        let (got, body) = raw(rec.inbound, request).await;
        assert_eq!(got, *status, "{}", String::from_utf8_lossy(request));
        // Through reel, the app saw what the client sent, less what no
        // proxy passes on.
        let forwarded = if request.starts_with(b"GET /hop ") {
            format!("GET /hop HTTP/1.1\r\nHost: {host}\r\nX-Kept: 2\r\n\r\n").into_bytes()
        } else {
            request.clone()
        };
        if got == 200 {
            assert_eq!(body, forwarded, "{}", String::from_utf8_lossy(&body));
        }
    }
    rec.stop().await;
    let (suite, out) = generate_suite(dir.path(), "echo", &store);
    assert!(out.contains("9 cases"), "{out}");
    EchoSuite {
        dir,
        suite,
        port,
        inbound,
    }
}

/// `reel test SUITE ARGS` with CI set, run in `cwd`: (exit code, stdout, stderr).
pub fn reel_test_in(cwd: &Path, suite: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(reel_bin())
        .current_dir(cwd)
        .arg("test")
        .arg(suite)
        .args(args)
        .env("REEL_LOG", "warn")
        .env("CI", "true")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sends_what_the_client_sent_and_survives_a_500() {
    let e = record_raw_echo().await;
    let case = std::fs::read_to_string(e.suite.join("cases/0005-post-json.json")).unwrap();
    assert!(
        case.contains("\"request_layout\": {\n    \"spaced\": true,\n    \"ascii\": true\n  }"),
        "{case}"
    );
    // Every echo matches the recording only if every byte went out as
    // recorded; the case after the 500 gets its answer on a new connection.
    for run in 1..=2 {
        let (code, out, err) = reel_test_in(e.dir.path(), &e.suite, &[]);
        assert_eq!(code, 0, "run {run}:\n{out}{err}");
        assert!(out.trim_end().ends_with("9 passed, 0 failed"), "{out}");
    }

    // The app's own address as Host: each echo now differs in that line.
    let (code, out, _) = reel_test_in(e.dir.path(), &e.suite, &["--host-header", "target"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.trim_end().ends_with("1 passed, 8 failed"), "{out}");
    assert!(
        out.contains(&format!("+Host: 127.0.0.1:{}\n", e.port)),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "+GET http://127.0.0.1:{}/absolute?x=1 HTTP/1.1",
            e.port
        )),
        "{out}"
    );
    // The same from reel.toml, and a value of one's own.
    std::fs::write(
        e.dir.path().join("reel.toml"),
        "[test]\nhost_header = \"api.example.com\"\n",
    )
    .unwrap();
    let (code, out, _) = reel_test_in(e.dir.path(), &e.suite, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("+Host: api.example.com\n"), "{out}");
    let (code, out, _) = reel_test_in(e.dir.path(), &e.suite, &["--host-header", "recorded"]);
    assert_eq!(code, 0, "{out}");
}
