//! The HTTP recorder: one pingora `ProxyHttp` for all three roles.
//!
//! - inbound: in front of the app, records calls to it;
//! - a named dependency: the app's base URL for that service points here;
//! - the forward proxy: clients that honour `HTTP_PROXY` send absolute-form
//!   targets here and the target host names the dependency.
//!
//! Bodies stream through untouched; a capped copy is taken on the way. The
//! finished exchange is handed to the store writer in `logging` (which pingora
//! calls for every request, also on errors and for bodiless responses such as
//! HEAD, 204 and 304), or, failing that, when the request context is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use reel_core::filter::{RecordFilter, Verdict};
use reel_core::redact::Redactor;
use reel_core::time::Micros;
use reel_core::{
    Body, CaptureSender, Direction, Exchange, Header, HttpRequest, HttpResponse, Payload, Protocol,
};
use tokio::sync::Notify;

use crate::capture::BodyCapture;
use crate::limit::Guarded;
use crate::upstream::Upstream;

/// What a recorder stands in front of.
#[derive(Debug, Clone)]
pub enum Role {
    Inbound(Upstream),
    Dependency {
        name: String,
        upstream: Upstream,
    },
    /// `own` lists reel's other recorders: a call through the forward proxy to
    /// one of them is passed on unrecorded, since that recorder stores it.
    Forward {
        own: Vec<std::net::SocketAddr>,
    },
}

/// Counts requests in progress so a stop can wait for them to be stored.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until no request is in progress, or the deadline passes.
    /// Returns the number still in progress.
    pub async fn wait_idle(&self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let idle = self.idle.notified();
            if self.count() == 0 {
                return 0;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.count();
            }
        }
    }
}

pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

pub struct HttpRecorder {
    role: Role,
    /// Shared with each request's context: one reference count per request
    /// instead of a clone of every handle inside the sender.
    sink: Arc<CaptureSender>,
    body_cap: usize,
    in_flight: Arc<InFlight>,
    /// With `--redact`: secrets are replaced before the store sees them.
    redactor: Option<Arc<Redactor>>,
    /// Inbound only: `--include` / `--exclude` / `--sample`.
    filter: Option<Arc<RecordFilter>>,
}

impl HttpRecorder {
    pub fn new(
        role: Role,
        sink: CaptureSender,
        body_cap: usize,
        in_flight: Arc<InFlight>,
        redactor: Option<Arc<Redactor>>,
    ) -> Self {
        HttpRecorder {
            role,
            sink: Arc::new(sink),
            body_cap,
            in_flight,
            redactor,
            filter: None,
        }
    }

    /// Stores only the requests `filter` keeps; the others are proxied all
    /// the same.
    pub fn with_filter(mut self, filter: Option<Arc<RecordFilter>>) -> Self {
        self.filter = filter.filter(|f| !f.is_empty());
        self
    }

    fn direction(&self) -> Direction {
        match self.role {
            Role::Inbound(_) => Direction::Inbound,
            _ => Direction::Outbound,
        }
    }
}

/// Per-request state, carried through pingora's phases.
pub struct Ctx {
    connection: u64,
    /// Taken when the exchange is handed over, so that happens once.
    sink: Option<Arc<CaptureSender>>,
    redactor: Option<Arc<Redactor>>,
    direction: Direction,
    dependency: Option<String>,
    forward_to: Option<Upstream>,
    seq: i64,
    started_at: Micros,
    first_byte_at: Option<Micros>,
    /// When the upstream's last response byte arrived (before it is passed on).
    upstream_done_at: Option<Micros>,
    request: Option<HttpRequest>,
    request_body: BodyCapture,
    response: Option<HttpResponse>,
    response_body: BodyCapture,
    _in_flight: Option<InFlightGuard>,
}

/// With `--redact`, a request body larger than this is shown to the redactor
/// on tokio's blocking pool: all HTTP recorders share one thread, which keeps
/// serving meanwhile.
const LEARN_INLINE_MAX: usize = 64 * 1024;

impl Ctx {
    /// With `--redact`: lets the redactor see the request so far, so that a
    /// secret it carries (a password field) is known when the app sends it on
    /// to a dependency that has no field names, such as a SQL parameter. The
    /// request goes on only once this has finished: a failure fails it.
    async fn learn_secrets(&self) -> Result<()> {
        let (Some(red), Some(request)) = (&self.redactor, &self.request) else {
            return Ok(());
        };
        let mut seen = request.clone();
        seen.body = self.request_body.peek();
        if seen.body.bytes.len() <= LEARN_INLINE_MAX {
            red.request(&mut seen);
            return Ok(());
        }
        let red = red.clone();
        tokio::task::spawn_blocking(move || red.request(&mut seen))
            .await
            .or_err(InternalError, "reading the request for secrets (--redact)")
    }

    /// Builds the exchange from what was captured and hands it to the writer,
    /// once. Redaction happens here, in the order exchanges end, so that a
    /// secret handed out in a response is known (for Postgres values too)
    /// before the app can pass it on.
    fn emit(&mut self, error: Option<String>, fallback_response: Option<&ResponseHeader>) {
        let (Some(sink), Some(mut request)) = (self.sink.take(), self.request.take()) else {
            return;
        };
        request.body = self.request_body.take();
        let mut response = match self.response.take() {
            Some(mut r) => {
                r.body = self.response_body.take();
                Some(r)
            }
            None => fallback_response.map(|h| response_head(h, Body::default())),
        };
        if let Some(red) = &self.redactor {
            // Responses first: a token handed out is named before it is sent back.
            if let Some(r) = response.as_mut() {
                red.response(r);
            }
            red.request(&mut request);
        }
        // An outbound call ends when its answer has arrived, before reel hands the
        // last bytes on: the app cannot have answered its own caller earlier, so
        // the call always lies inside the inbound exchange that caused it.
        let ended_at = match self.direction {
            Direction::Outbound => self.upstream_done_at.unwrap_or_else(Micros::now),
            Direction::Inbound => Micros::now(),
        };
        sink.send(Exchange {
            session_id: sink.session_id(),
            seq: self.seq,
            direction: self.direction,
            protocol: Protocol::Http,
            dependency: self.dependency.take(),
            connection: self.connection,
            started_at: self.started_at,
            first_byte_at: self.first_byte_at,
            ended_at: Some(ended_at),
            request: Payload::HttpRequest(request),
            response: response.map(Payload::HttpResponse),
            error,
        });
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        // pingora calls `logging` on every path we know of; this catches the rest.
        self.emit(
            Some("connection closed before the exchange completed".into()),
            None,
        );
    }
}

#[async_trait]
impl ProxyHttp for HttpRecorder {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            connection: 0,
            sink: None,
            redactor: self.redactor.clone(),
            direction: self.direction(),
            dependency: match &self.role {
                Role::Dependency { name, .. } => Some(name.clone()),
                _ => None,
            },
            forward_to: None,
            seq: 0,
            started_at: Micros(0),
            first_byte_at: None,
            upstream_done_at: None,
            request: None,
            request_body: BodyCapture::new(self.body_cap),
            response: None,
            response_body: BodyCapture::new(self.body_cap),
            _in_flight: None,
        }
    }

    fn persist_connection_context(
        &self,
        _session: &Session,
        ctx: &Ctx,
    ) -> Option<Box<dyn std::any::Any + Send + Sync>> {
        Some(Box::new(ctx.connection))
    }

    fn on_connection_reuse(
        &self,
        _session: &mut Session,
        ctx: &mut Ctx,
        prev: Box<dyn std::any::Any + Send + Sync>,
    ) {
        if let Ok(id) = prev.downcast::<u64>() {
            ctx.connection = *id;
        }
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<()> {
        // A client that pipelines (sends request N+1 before reading answer
        // N) gets every answer, in order, and each request is recorded;
        // pingora's default drops the requests after the first and closes.
        session.set_pipelining_enabled(true);
        if let Some(guard) = session.stream().and_then(Guarded::of) {
            guard.head_read();
        }
        ctx.started_at = Micros::now();
        ctx._in_flight = Some(self.in_flight.enter());
        if let Some(filter) = &self.filter {
            let req = session.req_header();
            if filter.decide(req.method.as_str().as_bytes(), req.raw_path()) != Verdict::Keep {
                // Proxied, not stored: no sink, and no body copy but what
                // --redact must see to know the secrets it carries.
                ctx.response_body = BodyCapture::new(0);
                if self.redactor.is_some() {
                    ctx.request = Some(request_head(session));
                } else {
                    ctx.request_body = BodyCapture::new(0);
                }
                return Ok(());
            }
        }
        if ctx.connection == 0 {
            ctx.connection = self.sink.next_connection();
        }
        ctx.seq = self.sink.next_seq();
        ctx.request = Some(request_head(session));
        ctx.sink = Some(self.sink.clone());
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let Role::Forward { own } = &self.role else {
            return Ok(false);
        };
        // pingora normalises the URI; the raw request target keeps the absolute form.
        let raw_target = ctx.request.as_ref().map(|r| r.target.clone());
        let uri = raw_target
            .and_then(|t| t.parse::<http::Uri>().ok())
            .unwrap_or_else(|| session.req_header().uri.clone());
        let target = match (uri.scheme_str(), uri.authority()) {
            (Some("http"), Some(authority)) => Ok(authority.to_string()),
            (Some(scheme), _) => Err(format!(
                "reel's forward proxy records plain http only, not '{scheme}'; name the dependency with --dep NAME=http:LISTEN=TARGET instead"
            )),
            _ => Err(
                "reel's forward proxy needs an absolute-form target (http://host/path), as sent by clients that honour HTTP_PROXY"
                    .to_owned(),
            ),
        };
        let resolved = match target {
            Ok(authority) => resolve_forward(&authority).await,
            Err(e) => Err(e),
        };
        match resolved {
            Ok(upstream) => {
                if own.contains(&upstream.addr) {
                    ctx.request = None;
                }
                ctx.dependency = Some(upstream.host.clone());
                ctx.forward_to = Some(upstream);
                Ok(false)
            }
            Err(message) => {
                tracing::warn!(%message, "forward proxy request refused");
                let _ = session
                    .respond_error_with_body(400, Bytes::from(message.clone() + "\n"))
                    .await;
                ctx.emit(Some(message), session.response_written());
                Ok(true)
            }
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let upstream = match &self.role {
            Role::Inbound(u) | Role::Dependency { upstream: u, .. } => u,
            Role::Forward { .. } => ctx
                .forward_to
                .as_ref()
                .ok_or_else(|| Error::explain(InternalError, "forward target not resolved"))?,
        };
        let mut peer = HttpPeer::new(upstream.addr, upstream.tls, upstream.host.clone());
        peer.options.connection_timeout = Some(Duration::from_secs(5));
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Before the app sees the request: secrets in its head are known
        // (by hash) by the time the app passes them on to a database.
        ctx.learn_secrets().await?;
        match &self.role {
            Role::Inbound(_) => {}
            Role::Dependency { upstream, .. } => {
                // The app addressed reel; the target expects its own name.
                upstream_request.insert_header("Host", &upstream.authority)?;
            }
            Role::Forward { .. } => {
                let origin_form = upstream_request
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "/".into());
                upstream_request.set_uri(
                    origin_form
                        .parse()
                        .or_err(InternalError, "rewriting the forward target")?,
                );
                if let Some(u) = &ctx.forward_to {
                    if upstream_request.headers.get("host").is_none() {
                        upstream_request.insert_header("Host", &u.authority)?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(chunk) = body {
            ctx.request_body.push(chunk);
        }
        if end_of_stream {
            ctx.learn_secrets().await?;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // Informational responses (100 Continue) precede the real one.
        if upstream_response.status.is_informational() && upstream_response.status != 101 {
            return Ok(());
        }
        let now = Micros::now();
        ctx.first_byte_at.get_or_insert(now);
        ctx.upstream_done_at = Some(now);
        ctx.response = Some(response_head(upstream_response, Body::default()));
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        if let Some(chunk) = body {
            ctx.response_body.push(chunk);
        }
        ctx.upstream_done_at = Some(Micros::now());
        Ok(None)
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        // The head pingora wrote stands in for a response that never arrived
        // from upstream (an error page); borrowed, since most requests have one.
        ctx.emit(e.map(|e| e.to_string()), session.response_written());
        if let Some(guard) = session.stream().and_then(Guarded::of) {
            guard.request_done();
        }
    }
}

async fn resolve_forward(authority: &str) -> std::result::Result<Upstream, String> {
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addr = tokio::net::lookup_host(&with_port)
        .await
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} resolves to no address"))?;
    let host = authority
        .rsplit_once(':')
        .filter(|(_, p)| p.parse::<u16>().is_ok())
        .map_or(authority, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(Upstream {
        addr,
        tls: false,
        host,
        url: format!("http://{authority}"),
        authority: authority.to_owned(),
    })
}

/// The request head exactly as the client sent it: header order, case and
/// duplicates come from the raw bytes where pingora keeps them (HTTP/1).
fn request_head(session: &Session) -> HttpRequest {
    let req = session.req_header();
    let version = format!("{:?}", req.version);
    if let Some(h1) = session.as_http1() {
        let raw = h1.get_headers_raw_bytes();
        if let Some((target, headers)) = parse_raw_head(&raw) {
            return HttpRequest {
                method: req.method.as_str().to_owned(),
                target,
                version,
                headers,
                body: Body::default(),
            };
        }
    }
    HttpRequest {
        method: req.method.as_str().to_owned(),
        target: String::from_utf8_lossy(req.raw_path()).into_owned(),
        version,
        headers: req
            .headers
            .iter()
            .map(|(n, v)| Header::new(n.as_str(), v.as_bytes()))
            .collect(),
        body: Body::default(),
    }
}

fn parse_raw_head(raw: &[u8]) -> Option<(String, Vec<Header>)> {
    // Most requests fit on the stack; a head with more headers is parsed again
    // with room on the heap.
    let mut slots = [httparse::EMPTY_HEADER; 64];
    match parse_raw_head_into(raw, &mut slots) {
        Err(httparse::Error::TooManyHeaders) => {}
        done => return done.ok().flatten(),
    }
    let mut n = 256;
    loop {
        let mut slots = vec![httparse::EMPTY_HEADER; n];
        match parse_raw_head_into(raw, &mut slots) {
            Err(httparse::Error::TooManyHeaders) if n < 8192 => n *= 4,
            done => return done.ok().flatten(),
        }
    }
}

fn parse_raw_head_into<'b>(
    raw: &'b [u8],
    slots: &mut [httparse::Header<'b>],
) -> Result<Option<(String, Vec<Header>)>, httparse::Error> {
    let mut req = httparse::Request::new(slots);
    req.parse(raw)?;
    let Some(target) = req.path else {
        return Ok(None);
    };
    let headers = req
        .headers
        .iter()
        .take_while(|h| !h.name.is_empty())
        .map(|h| Header::new(h.name, h.value))
        .collect();
    Ok(Some((target.to_owned(), headers)))
}

fn response_head(resp: &ResponseHeader, body: Body) -> HttpResponse {
    let headers = if resp.has_case() {
        resp.case_header_iter()
            .map(|(n, v)| Header::new(String::from_utf8_lossy(n.as_slice()), v.as_bytes()))
            .collect()
    } else {
        resp.headers
            .iter()
            .map(|(n, v)| Header::new(n.as_str(), v.as_bytes()))
            .collect()
    };
    HttpResponse {
        status: resp.status.as_u16(),
        version: format!("{:?}", resp.version),
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_heads_keep_order_case_and_duplicates() {
        let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-b: 2\r\nX-A: 3\r\n\r\n";
        let (target, headers) = parse_raw_head(raw).unwrap();
        assert_eq!(target, "/a?b=1");
        let names: Vec<_> = headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Host", "X-A", "x-b", "X-A"]);
        assert_eq!(headers[3].value, b"3");
    }

    #[test]
    fn many_headers_are_all_kept() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..300 {
            raw.extend_from_slice(format!("h{i}: {i}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(parse_raw_head(&raw).unwrap().1.len(), 300);
    }
}
