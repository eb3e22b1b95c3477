//! A suite folder as a malicious pull request could commit it: links where
//! reel writes, mocks that cannot go on the wire, recorded bodies full of
//! terminal control sequences. `reel test` runs against a tiny app served
//! here that always gives the same answer.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::*;

/// An app that answers every request with `200` and `body`, until stopped.
struct FixedApp {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl FixedApp {
    async fn start(body: &'static [u8]) -> FixedApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let mut conn = tokio::select! {
                    _ = &mut rx => return,
                    c = listener.accept() => c.unwrap().0,
                };
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let mut answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    answer.extend_from_slice(body);
                    let _ = conn.write_all(&answer).await;
                });
            }
        });
        FixedApp {
            addr,
            stop: Some(tx),
        }
    }
}

impl Drop for FixedApp {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
    }
}

/// A suite in `dir` with one case, `GET /`, expecting `response`, against
/// the app at `app` (started elsewhere); `mocks` (if any) are its mock lines.
fn suite(dir: &Path, app: SocketAddr, response: Value, mocks: &[Value]) {
    let suite = json!({
        "reel_suite": 2,
        "name": "hostile",
        "session": {"id": 1, "name": "hostile", "recorded_at": "2026-01-01T00:00:00Z"},
        "app": {"command": null, "target": format!("http://{app}")},
        "dependencies": if mocks.is_empty() { json!([]) } else {
            json!([{"name": "pricing", "protocol": "http", "listen": format!("127.0.0.1:{}", free_port())}])
        },
        "noise": {"headers": ["content-length", "connection"]},
    });
    let mut case = json!({
        "name": "0001-get",
        "seq": 1,
        "recorded_at": "2026-01-01T00:00:00Z",
        "request": {"method": "GET", "target": "/"},
        "response": response,
    });
    std::fs::create_dir_all(dir.join("cases")).unwrap();
    std::fs::write(dir.join("suite.json"), suite.to_string()).unwrap();
    if !mocks.is_empty() {
        case["mocks"] = json!("mocks/0001-get.jsonl");
        std::fs::create_dir_all(dir.join("mocks")).unwrap();
        let lines: Vec<String> = mocks.iter().map(Value::to_string).collect();
        std::fs::write(
            dir.join("mocks/0001-get.jsonl"),
            format!("{}\n", lines.join("\n")),
        )
        .unwrap();
    }
    std::fs::write(dir.join("cases/0001-get.json"), case.to_string()).unwrap();
}

/// `reel test DIR ARGS` outside CI (so pending snapshots are written):
/// exit code, stdout, stderr.
fn reel_test(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(reel_bin())
        .arg("test")
        .arg(dir)
        .args(args)
        .env("REEL_LOG", "warn")
        .env_remove("CI")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .unwrap()
        .file_type()
        .is_symlink()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_snapshot_committed_as_a_link_is_replaced_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let app = FixedApp::start(b"changed").await;
    let s = dir.path().join("suite");
    suite(
        &s,
        app.addr,
        json!({"status": 200, "body": {"text": "recorded"}}),
        &[],
    );
    // What the pull request's link points at: a file of the reviewer's.
    let precious = dir.path().join("bashrc");
    std::fs::write(&precious, "alias ls='ls --color'\n").unwrap();
    let pending = s.join("cases/0001-get.json.new");
    std::os::unix::fs::symlink(&precious, &pending).unwrap();

    let (code, out, err) = reel_test(&s, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "alias ls='ls --color'\n",
        "the link's target is left alone"
    );
    assert!(!is_link(&pending), "the link itself is replaced");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&pending).unwrap()).unwrap();
    assert_eq!(written["response"]["body"]["text"], "changed");
    let leftovers: Vec<String> = std::fs::read_dir(s.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The same for a report and the --stability summary written into the suite.
    let report = s.join("report.json");
    std::os::unix::fs::symlink(&precious, &report).unwrap();
    let stability = s.join("stability.txt");
    std::os::unix::fs::symlink(&precious, &stability).unwrap();
    let spec = format!("json={}", report.display());
    let (code, out, err) = reel_test(&s, &["--report", &spec, "--stability", "2"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "alias ls='ls --color'\n"
    );
    assert!(!is_link(&report) && !is_link(&stability));
    assert!(std::fs::read_to_string(&stability)
        .unwrap()
        .contains("--stability"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_a_pending_snapshot_that_is_a_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("suite");
    suite(
        &s,
        "127.0.0.1:9".parse().unwrap(),
        json!({"status": 200, "body": {"text": "recorded"}}),
        &[],
    );
    // A valid case file elsewhere, linked in as the pending snapshot: taking
    // it would make the case itself a link out of the suite.
    let elsewhere = dir.path().join("elsewhere.json");
    std::fs::copy(s.join("cases/0001-get.json"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, s.join("cases/0001-get.json.new")).unwrap();
    let out = reel(&["accept", s.to_str().unwrap(), "--all"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("0001-get.json.new"), "{err}");
    assert!(err.contains("link"), "{err}");
    assert!(!is_link(&s.join("cases/0001-get.json")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_mock_that_cannot_go_on_the_wire_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let app = FixedApp::start(b"same").await;
    let s = dir.path().join("suite");
    let mock = |response: Value| {
        json!({
            "id": "0001-get#1", "seq": 2, "dependency": "pricing", "protocol": "http",
            "request": {"method": "GET", "target": "/price"},
            "response": response,
        })
    };
    let good = mock(json!({"status": 200, "body": {"text": "1"}}));
    let expected = json!({
        "status": 200,
        "headers": [["content-type", "text/plain"]],
        "body": {"text": "same"},
    });
    suite(&s, app.addr, expected.clone(), std::slice::from_ref(&good));
    let (code, out, err) = reel_test(&s, &[]);
    assert_eq!(code, 0, "the suite as written passes:\n{out}{err}");

    for (response, what) in [
        (
            json!({"status": 1000}),
            "response status 1000: not an HTTP status (three digits, 100 to 999)",
        ),
        (
            json!({"status": 200, "headers": [["x-a", "1\r\nset-cookie: a=b"]]}),
            r#"response header 1 ("x-a"): the value contains a CR (\r), which a header value cannot hold"#,
        ),
        (
            json!({"status": 200, "headers": [["x a", "1"]]}),
            r#"response header 1 ("x a"): the name contains a space, which a header name cannot hold"#,
        ),
    ] {
        suite(
            &s,
            app.addr,
            expected.clone(),
            &[good.clone(), mock(response)],
        );
        let (code, out, err) = reel_test(&s, &[]);
        assert_eq!(code, 2, "{out}{err}");
        let at = format!("{}:2: {what}", s.join("mocks/0001-get.jsonl").display());
        assert!(err.contains(&at), "{err}");
    }
}

/// Recorded bodies and names reach the terminal escaped: output that holds
/// no ESC, BEL or CR of its own (colour is off off a terminal) holds none.
fn assert_inert(out: &str) {
    for c in ['\u{1b}', '\u{7}', '\r', '\u{9b}'] {
        assert!(!out.contains(c), "{c:?} reached the terminal:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_bytes_in_recorded_content_are_escaped_on_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let app = FixedApp::start(b"\x1b]0;pwned\x07\x1b[2J\r\xc2\x9b31mchanged\n").await;
    let s = dir.path().join("suite");
    let expected = json!({
        "status": 200,
        "headers": [["content-type", "text/plain"]],
        "body": {"text": "recorded \u{1b}[8mhidden\n"},
    });
    suite(&s, app.addr, expected, &[]);
    let (code, out, err) = reel_test(&s, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert_inert(&out);
    assert_inert(&err);
    assert!(out.contains("-recorded ␛[8mhidden"), "{out}");
    assert!(out.contains("␛]0;pwned␇␛[2J␍"), "{out}");

    // A broken case file quoted in the error (serde names the unknown kind).
    let case = s.join("cases/0001-get.json");
    let text = std::fs::read_to_string(&case).unwrap();
    std::fs::write(
        &case,
        text.replace(r#"{"text":"#, r#"{"\u001b]0;pwned\u0007":"#),
    )
    .unwrap();
    let (code, out, err) = reel_test(&s, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert_inert(&err);
    assert!(err.contains("unknown variant `␛]0;pwned␇`"), "{err}");
    std::fs::write(&case, text).unwrap();

    // The pending snapshot's change, as review shows it.
    let review = Command::new(reel_bin())
        .args(["review", s.to_str().unwrap()])
        .env("REEL_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&review.stdout);
    assert!(review.status.success(), "{shown}");
    assert_inert(&shown);
    assert!(shown.contains("␛]0;pwned␇␛[2J␍"), "{shown}");

    // A session's name and target as `sessions show` prints them.
    let store = dir.path().join("reel.db");
    let db = reel_core::Store::open(&store).unwrap();
    let id = db
        .create_session(
            "\u{1b}]0;pwned\u{7}",
            "http://x/\u{1b}[2J",
            reel_core::time::Micros(1_700_000_000_000_000),
        )
        .unwrap();
    drop(db);
    let out = reel(&[
        "sessions",
        "show",
        &id.to_string(),
        "--store",
        store.to_str().unwrap(),
    ]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert_inert(&shown);
    assert!(shown.contains("\"␛]0;pwned␇\""), "{shown}");
    assert!(shown.contains("http://x/␛[2J"), "{shown}");
}
