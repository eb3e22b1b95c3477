//! Sending a case's request as the client sent it, and reading the app's answer.
//!
//! The request goes out as recorded: method and target, every header in
//! recorded order, case and number (duplicates too), the recorded framing
//! (`Content-Length: 0` on a bodiless POST, `Transfer-Encoding: chunked`) and
//! the body bytes, as the app received it through reel's proxy: without the
//! hop-by-hop headers no proxy passes on ([`HOP_BY_HOP`]). Only three things
//! are rewritten, each for a reason:
//! - `Host` (and the authority of an absolute-form target) follows
//!   [`HostHeader`]: the recorded one by default, so an app that builds URLs
//!   from it answers as recorded;
//! - `Content-Length` is the length of the bytes sent, which differs from the
//!   recorded one when a placeholder filled at replay changes the body's length;
//! - a body with neither `Content-Length` nor chunked framing recorded (an
//!   HTTP/2 recording) goes chunked, as the proxy sent it to the app.
//!
//! A JSON body is written in the layout the client used (the case's
//! `request_layout`, see [`reel_core::suite::layout`]).
//!
//! reel writes the request itself: reqwest adds and reorders headers and hides
//! which connection a request went on, and hyper 1.x keeps header case and
//! order only behind its `ffi` build flag. One connection is kept alive from
//! case to case; a request on a kept-alive connection the app had already
//! closed is sent again on a new one when no byte of its answer arrived.

mod response;
#[cfg(test)]
mod tests;

use std::time::Duration;

use reel_core::suite::{BodySpec, JsonLayout, RequestSpec};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::model::ActualResponse;

pub use response::Response;

/// Which `Host` a replayed request carries (`reel test --host-header`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HostHeader {
    /// The one the client sent when it was recorded (the default): the app
    /// sees the same request it saw then.
    #[default]
    Recorded,
    /// The authority of the replay target (`--target`), for apps that must
    /// see the address they listen on.
    Target,
    /// This value, e.g. `api.example.com`.
    Value(String),
}

impl HostHeader {
    /// `recorded`, `target`, or any other text as the value itself.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "recorded" => Ok(HostHeader::Recorded),
            "target" => Ok(HostHeader::Target),
            "" => Err("expected recorded, target or a host such as api.example.com".into()),
            v if v.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'/') => Err(format!(
                "'{v}' is not a host: expected recorded, target or a host such as api.example.com:8443"
            )),
            v => Ok(HostHeader::Value(v.to_owned())),
        }
    }
}

impl std::fmt::Display for HostHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostHeader::Recorded => f.write_str("recorded"),
            HostHeader::Target => f.write_str("target"),
            HostHeader::Value(v) => f.write_str(v),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the request cannot be sent: {0}")]
    Unsendable(String),
    #[error("cannot connect to {addr}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the connection failed before any answer arrived")]
    NoAnswer {
        #[source]
        source: std::io::Error,
    },
    #[error("the app closed the connection without answering")]
    Closed,
    #[error("the connection failed while the answer was read")]
    Read {
        #[source]
        source: std::io::Error,
    },
    #[error("the answer is not HTTP/1.x: {0}")]
    BadAnswer(String),
    #[error("no complete answer within {} s (--case-timeout)", .0.as_secs_f64())]
    Timeout(Duration),
    /// The request went out on a kept-alive connection that turned out to be
    /// closed, then again on a new connection, which failed too.
    #[error("sent again on a new connection after the kept-alive one failed ({first})")]
    Retried {
        first: Box<SendError>,
        #[source]
        again: Box<SendError>,
    },
}

impl SendError {
    /// Whether the request may be sent again on a new connection: nothing of
    /// an answer arrived, so the app cannot have begun to process it on a
    /// connection it had already closed.
    fn nothing_arrived(&self) -> bool {
        matches!(self, SendError::NoAnswer { .. } | SendError::Closed)
    }
}

/// Sends requests to one target over one kept-alive connection.
pub struct Sender {
    /// `host:port` to connect to.
    connect: String,
    /// The target's authority as written in its URL (the `Host` for
    /// [`HostHeader::Target`]).
    authority: String,
    /// A path the target URL carries (`http://h:1/api`), put before every
    /// origin-form request target.
    base_path: String,
    host: HostHeader,
    timeout: Duration,
    idle: Option<Conn>,
}

impl Sender {
    /// `target` is an `http://host[:port][/base]` URL.
    pub fn new(target: &str, host: HostHeader, timeout: Duration) -> Result<Self, SendError> {
        let rest = target
            .strip_prefix("http://")
            .ok_or_else(|| SendError::Unsendable(format!("'{target}' is not an http:// URL")))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(SendError::Unsendable(format!("'{target}' names no host")));
        }
        let connect = if authority.rsplit_once(':').is_some_and(|(_, p)| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !authority.ends_with(']')
        }) {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(Sender {
            connect,
            authority: authority.to_owned(),
            base_path: path.trim_end_matches('/').to_owned(),
            host,
            timeout,
            idle: None,
        })
    }

    /// Sends `req` (its placeholders already filled), a JSON body written in
    /// `layout`, and reads the whole answer.
    pub async fn send(
        &mut self,
        req: &RequestSpec,
        layout: Option<&JsonLayout>,
    ) -> Result<ActualResponse, SendError> {
        let bytes = self.compose(req, layout)?;
        let head_only = req.method.eq_ignore_ascii_case("HEAD");
        match tokio::time::timeout(self.timeout, self.exchange(&bytes, head_only)).await {
            Ok(r) => r.map(Response::into_actual),
            // The connection is dropped with the exchange: whatever the app
            // still sends on it belongs to no case.
            Err(_) => Err(SendError::Timeout(self.timeout)),
        }
    }

    async fn exchange(&mut self, bytes: &[u8], head_only: bool) -> Result<Response, SendError> {
        let mut first = None;
        if let Some(mut conn) = self.idle.take().filter(Conn::still_open) {
            match conn.round_trip(bytes, head_only).await {
                Ok(r) => {
                    self.keep(conn, &r);
                    return Ok(r);
                }
                Err(e) if e.nothing_arrived() => {
                    tracing::debug!(
                        "kept-alive connection failed ({e}); sending again on a new one"
                    );
                    first = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let mut conn = Conn::open(&self.connect).await?;
        match conn.round_trip(bytes, head_only).await {
            Ok(r) => {
                self.keep(conn, &r);
                Ok(r)
            }
            Err(again) => Err(match first {
                Some(first) => SendError::Retried {
                    first: Box::new(first),
                    again: Box::new(again),
                },
                None => again,
            }),
        }
    }

    fn keep(&mut self, conn: Conn, r: &Response) {
        if r.reusable && conn.buf.is_empty() {
            self.idle = Some(conn);
        }
    }

    /// The request's bytes on the wire.
    pub fn compose(
        &self,
        req: &RequestSpec,
        layout: Option<&JsonLayout>,
    ) -> Result<Vec<u8>, SendError> {
        let method = &req.method;
        if method.is_empty() || !method.bytes().all(is_token) {
            return Err(SendError::Unsendable(format!(
                "the method '{method}' is not an HTTP token"
            )));
        }
        let body = match (&req.body, layout) {
            (Some(BodySpec::Json(v)), Some(l)) => l.write(v),
            (Some(b), _) => b.to_bytes(),
            (None, _) => Vec::new(),
        };
        let host = |recorded: Option<&str>| -> String {
            match &self.host {
                HostHeader::Recorded => recorded.unwrap_or(&self.authority).to_owned(),
                HostHeader::Target => self.authority.clone(),
                HostHeader::Value(v) => v.clone(),
            }
        };
        let target = match req.target.split_once("://") {
            // Absolute form (a client that spoke to a proxy): its authority
            // is the Host's.
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                format!("{scheme}://{}{path}", host(Some(authority)))
            }
            None if req.target.starts_with('/') => format!("{}{}", self.base_path, req.target),
            // `*` (OPTIONS) and authority form (CONNECT) go as they are.
            None => req.target.clone(),
        };
        let recorded_chunked = req.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding")
                && v.rsplit(',')
                    .next()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
        });
        let recorded_length = req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
        // An unframed body (HTTP/2) reached the app chunked.
        let add_chunked = !recorded_chunked && !recorded_length && !body.is_empty();
        let chunked = recorded_chunked || add_chunked;

        let mut out = Vec::with_capacity(256 + body.len());
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        push_target(&mut out, &target);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let has_host = req
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"));
        if !has_host {
            push_header(&mut out, "Host", &host(None))?;
        }
        let mut length_sent = false;
        for (name, value) in &req.headers {
            if name.is_empty() || !name.bytes().all(is_token) {
                return Err(SendError::Unsendable(format!(
                    "the header name '{name}' is not an HTTP token"
                )));
            }
            if not_forwarded(name, req) {
                continue;
            }
            if name.eq_ignore_ascii_case("host") {
                push_header(&mut out, name, &host(Some(value)))?;
            } else if name.eq_ignore_ascii_case("content-length") {
                // Chunked framing wins: a request must not carry both. A
                // repeated length is sent once.
                if !chunked && !length_sent {
                    push_header(&mut out, name, &body.len().to_string())?;
                    length_sent = true;
                }
            } else {
                push_header(&mut out, name, value)?;
            }
        }
        if add_chunked {
            push_header(&mut out, "Transfer-Encoding", "chunked")?;
        }
        out.extend_from_slice(b"\r\n");
        if chunked {
            if !body.is_empty() {
                out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(&body);
        }
        Ok(out)
    }
}

/// Headers about the connection between the client and reel rather than
/// about the request (RFC 9110 7.6.1). reel records the client's request, but
/// the app received it through reel's proxy, which like any proxy does not
/// pass these on (nor the headers `Connection` names): replay leaves them out
/// too, so the app gets what it got when recorded. `Transfer-Encoding` is not
/// here: the proxy frames a body again, chunked stays chunked.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "http2-settings",
];

/// Whether header `name` is one the app did not receive: a hop-by-hop one,
/// or one the request's `Connection` names. A WebSocket handshake keeps its
/// `Connection` and `Upgrade`, which the proxy passes on.
fn not_forwarded(name: &str, req: &RequestSpec) -> bool {
    let name = name.to_ascii_lowercase();
    let tokens = || {
        req.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
    };
    let websocket = req.method == "GET"
        && tokens().any(|t| t == "upgrade")
        && req.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("upgrade") && v.trim().eq_ignore_ascii_case("websocket")
        });
    if websocket && (name == "connection" || name == "upgrade") {
        return false;
    }
    HOP_BY_HOP.contains(&name.as_str()) || tokens().any(|t| t == name)
}

/// RFC 9110 token characters (methods and header names).
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The request target, with what cannot stand on a request line (spaces,
/// control bytes, non-ASCII: only a value filled in at replay can bring them)
/// percent-encoded, as a URL library would.
fn push_target(out: &mut Vec<u8>, target: &str) {
    for &b in target.as_bytes() {
        if b <= b' ' || b >= 0x7f {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) -> Result<(), SendError> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(SendError::Unsendable(format!(
            "the value of header '{name}' holds a line break or NUL"
        )));
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// One connection to the app and what was read on it beyond the last answer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: &str) -> Result<Conn, SendError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| SendError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        // The head and body go out in one write; small answers must not wait
        // for delayed ACKs either.
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Whether the app has not closed this idle connection: a peek that finds
    /// nothing to read yet. (The end of the stream or stray bytes mean it
    /// cannot carry another request.)
    fn still_open(&self) -> bool {
        let mut probe = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        matches!(
            socket2::SockRef::from(&self.stream).peek(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
    }

    async fn round_trip(&mut self, bytes: &[u8], head_only: bool) -> Result<Response, SendError> {
        self.stream
            .write_all(bytes)
            .await
            .map_err(|source| SendError::NoAnswer { source })?;
        response::read(&mut self.stream, &mut self.buf, head_only).await
    }
}
