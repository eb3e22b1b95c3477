//! Recording beyond plain request/response: TLS to a dependency (pingora's
//! rustls) and a websocket upgrade.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// A TLS server for `localhost` with a certificate from a fresh private CA;
/// returns (process, port, CA certificate path).
async fn tls_server(dir: &std::path::Path) -> (tokio::process::Child, u16, std::path::PathBuf) {
    let PrivateCa { cert, key, ca } = private_ca(dir);
    let script = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"secure": true, "path": "%s"}' % self.path.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&cert)
        .arg(&key)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    tokio::time::timeout(Duration::from_secs(20), out.read_line(&mut line))
        .await
        .expect("the TLS server announced its port")
        .unwrap();
    (child, line.trim().parse().unwrap(), ca)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_behind_tls_is_forwarded_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    let (_server, port, ca) = tls_server(dir.path()).await;
    let rec = Recording::start_with_env(
        &[
            "--upstream".into(),
            "http://127.0.0.1:9".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--dep".into(),
            format!("secure=http:127.0.0.1:0=https://localhost:{port}"),
            "--session".into(),
            "tls".into(),
            "--store".into(),
            store.to_str().unwrap().into(),
        ],
        // The self-signed certificate is trusted the way operators trust a
        // private CA: through SSL_CERT_FILE.
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    )
    .await
    .unwrap();
    let url = format!("http://{}/v1/rates?x=1", rec.dep("secure"));
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"secure": true, "path": "/v1/rates?x=1"}"#
    );
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    let shown = session_json(&store, "tls");
    let e = &shown["exchanges"][0];
    assert_eq!(e["dependency"], "secure");
    assert_eq!(e["direction"], "outbound");
    assert_eq!(e["response"]["status"], 200);
    assert_eq!(
        body_bytes(&e["response"]["body"]),
        br#"{"secure": true, "path": "/v1/rates?x=1"}"#
    );
}

/// Opens a websocket through `addr`, sends one masked text frame whose payload
/// ends in `tag`, and checks the echo that comes back through the tunnel, all
/// within 10 s: a stuck tunnel fails the test instead of hanging it.
async fn websocket_echo(addr: std::net::SocketAddr, tag: u8) -> Result<(), String> {
    tokio::time::timeout(Duration::from_secs(10), websocket_echo_once(addr, tag))
        .await
        .unwrap_or_else(|_| Err("no 101 and echo within 10 s".into()))
}

async fn websocket_echo_once(addr: std::net::SocketAddr, tag: u8) -> Result<(), String> {
    let mut c = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    c.write_all(b"GET /socket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(c);
    let mut status = String::new();
    reader
        .read_line(&mut status)
        .await
        .map_err(|e| e.to_string())?;
    if !status.starts_with("HTTP/1.1 101") {
        return Err(format!("expected a 101, got {status:?}"));
    }
    loop {
        let mut l = String::new();
        reader.read_line(&mut l).await.map_err(|e| e.to_string())?;
        if l == "\r\n" {
            break;
        }
    }
    // A masked text frame of two bytes; the upstream echoes it unchanged.
    let frame = [0x81u8, 0x82, 1, 2, 3, 4, b'h' ^ 1, tag ^ 2];
    reader
        .get_mut()
        .write_all(&frame)
        .await
        .map_err(|e| e.to_string())?;
    let mut echo = [0u8; 8];
    match reader.read_exact(&mut echo).await {
        Err(e) => Err(format!("tunnel closed after the 101: {e}")),
        Ok(_) if echo != frame => Err(format!("echo {echo:?} is not the frame {frame:?}")),
        Ok(_) => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_upgrade_is_forwarded_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("reel.db");
    // An upstream that accepts upgrades and then echoes bytes back. It answers
    // as fast as an upstream can, with the 101 already on its way before the
    // request is read: that is when pingora 0.9.1 lost tunnels (see below).
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = upstream.accept().await {
            tokio::spawn(async move {
                s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
                    .await
                    .unwrap();
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut buf[..1]).await.unwrap();
                    assert!(n > 0);
                    head.extend_from_slice(&buf[..n]);
                }
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                }
            });
        }
    });
    let rec = Recording::start(&[
        "--upstream".into(),
        format!("http://{up_addr}"),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--session".into(),
        "ws".into(),
        "--store".into(),
        store.to_str().unwrap().into(),
    ])
    .await
    .unwrap();
    // Handshakes in parallel, each then sending one frame through the tunnel.
    // pingora 0.9.1 tore about one in twenty down right after the 101 when the
    // upstream answered fast (cloudflare/pingora#946); reel carries the fix
    // (vendor/README.md), so every one must get its echo back.
    const HANDSHAKES: usize = 60;
    let inbound = rec.inbound;
    let tunnels: Vec<_> = (0..HANDSHAKES)
        .map(|i| tokio::spawn(async move { websocket_echo(inbound, i as u8).await }))
        .collect();
    let mut torn_down = Vec::new();
    for (i, t) in tunnels.into_iter().enumerate() {
        if let Err(e) = t.await.unwrap() {
            torn_down.push(format!("handshake {i}: {e}"));
        }
    }
    assert!(
        torn_down.is_empty(),
        "{} of {HANDSHAKES} tunnels failed:\n{}",
        torn_down.len(),
        torn_down.join("\n")
    );
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    let shown = session_json(&store, "ws");
    let exchanges = shown["exchanges"].as_array().unwrap();
    assert_eq!(
        exchanges.len(),
        HANDSHAKES,
        "one upgrade exchange per handshake"
    );
    let e = &exchanges[0];
    assert_eq!(e["request"]["target"], "/socket");
    assert_eq!(e["response"]["status"], 101);
    let upgrade = e["request"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "Upgrade" && h[1] == "websocket");
    assert!(upgrade, "{e:#}");
}
