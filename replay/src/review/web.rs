//! The HTTP server of `reel review --web` (hyper, HTTP/1.1, loopback by
//! default). Every request must carry the token printed with the address;
//! a request that changes anything must also carry it in a header (which a
//! form or an image on another site cannot send), come from the page's own
//! origin when it names one, and say it is JSON. The Host must be the
//! address served, so a name rebound to 127.0.0.1 reaches nothing. There
//! are no CORS headers: another origin can neither read an answer nor send
//! a request a browser would have to ask first for. Only the suite's own
//! cases are read or written, by name, never by a path from the request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use super::decide::Decision;
use super::{page, Review};
use crate::errors::ReplayError;

/// The header the page sends its token in.
pub const TOKEN_HEADER: &str = "x-reel-token";
/// The largest request body taken (a decision is a few hundred bytes).
const MAX_BODY: usize = 64 * 1024;

/// A fresh token: 128 random bits from the kernel, as hex.
pub fn token() -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Binds `listen` for the review.
pub async fn bind(listen: &str) -> Result<TcpListener, ReplayError> {
    TcpListener::bind(listen)
        .await
        .map_err(|source| ReplayError::ReviewBind {
            listen: listen.to_owned(),
            source,
        })
}

struct Ctx {
    review: Review,
    token: String,
    /// The address served.
    addr: SocketAddr,
}

impl Ctx {
    /// Whether a request's `Host` names this server: an IP address on its
    /// port (the one served, or any when it serves every address), or
    /// `localhost` on its port when it serves loopback. No other name: a
    /// name can be made to point here (DNS rebinding), an address cannot.
    fn serves(&self, host: &str) -> bool {
        if let Ok(a) = host.parse::<SocketAddr>() {
            return a.port() == self.addr.port()
                && (a.ip() == self.addr.ip() || self.addr.ip().is_unspecified());
        }
        (self.addr.ip().is_loopback() || self.addr.ip().is_unspecified())
            && host.eq_ignore_ascii_case(&format!("localhost:{}", self.addr.port()))
    }
}

/// Serves the review on `listener` until `stop` resolves. Runs on the
/// current thread (a [`tokio::task::LocalSet`]): a re-run drives the
/// replayer, whose futures stay on one thread.
pub async fn serve(
    review: Review,
    listener: TcpListener,
    token: String,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ReplayError> {
    let addr = listener
        .local_addr()
        .map_err(|source| ReplayError::ReviewBind {
            listen: "the review's socket".into(),
            source,
        })?;
    let ctx = Rc::new(Ctx {
        review,
        token,
        addr,
    });
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let ctx = ctx.clone();
                        tokio::task::spawn_local(async move {
                            let svc = hyper::service::service_fn(move |req| {
                                let ctx = ctx.clone();
                                async move { Ok::<_, Infallible>(answer(&ctx, req).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                }
            }
        })
        .await;
    Ok(())
}

/// Compares two strings in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn query(req: &Request<Incoming>, key: &str) -> Option<String> {
    reel_core::matcher::query_pairs(req.uri().query()?)
        .find_map(|(k, v)| (k == key).then(|| reel_core::matcher::percent_decode(v)))
}

fn header_str(h: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Why a request is refused before it reaches the suite, if it is.
fn refusal(ctx: &Ctx, req: &Request<Incoming>) -> Option<(StatusCode, String)> {
    let h = req.headers();
    let host = header_str(h, header::HOST).unwrap_or("");
    if !ctx.serves(host) {
        return Some((
            StatusCode::FORBIDDEN,
            format!(
                "this review answers only to the address it printed ({}), not to Host '{host}'",
                ctx.addr
            ),
        ));
    }
    let in_header = header_str(h, TOKEN_HEADER).map(str::to_owned);
    let changing = req.method() != Method::GET && req.method() != Method::HEAD;
    let given = if changing {
        in_header
    } else {
        in_header.or_else(|| query(req, "token"))
    };
    if !given.is_some_and(|t| same(&t, &ctx.token)) {
        return Some((
            StatusCode::FORBIDDEN,
            if changing {
                "a change needs the review's token in the X-Reel-Token header".into()
            } else {
                "this needs the review's token: open the address reel review --web printed".into()
            },
        ));
    }
    if changing {
        if let Some(origin) = header_str(h, header::ORIGIN) {
            // The page's own origin is the one it was loaded from: this Host.
            if !origin.eq_ignore_ascii_case(&format!("http://{host}")) {
                return Some((
                    StatusCode::FORBIDDEN,
                    format!("a change must come from the review's own page, not from {origin}"),
                ));
            }
        }
        if let Some(site) = header_str(h, "sec-fetch-site") {
            if site != "same-origin" && site != "none" {
                return Some((
                    StatusCode::FORBIDDEN,
                    format!(
                        "a change must come from the review's own page (Sec-Fetch-Site: {site})"
                    ),
                ));
            }
        }
        let json = header_str(h, header::CONTENT_TYPE).is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|t| t.trim() == "application/json")
        });
        if !json {
            return Some((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a change is sent as application/json".into(),
            ));
        }
    }
    None
}

async fn answer(ctx: &Ctx, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if let Some((status, why)) = refusal(ctx, &req) {
        return reply_json(status, &json!({ "error": why }));
    }
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/") => {
            let suite = reel_core::suite::load_suite(ctx.review.dir())
                .map(|s| s.suite.name)
                .unwrap_or_else(|_| ctx.review.dir().display().to_string());
            reply(
                StatusCode::OK,
                "text/html; charset=utf-8",
                page::frame(&suite, ctx.review.report().ok().flatten().as_ref(), &ctx.token)
                    .into(),
            )
        }
        (Method::GET, "/review.js") => reply(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            page::SCRIPT.into(),
        ),
        (Method::GET, "/review.css") => {
            reply(StatusCode::OK, "text/css; charset=utf-8", page::css().into())
        }
        (Method::GET, "/api/cases") => result(ctx.review.entries().and_then(|entries| {
            Ok(json!({
                "html": page::list(&entries),
                "fingerprint": ctx.review.fingerprint()?,
            }))
        })),
        (Method::GET, "/api/case") => {
            let name = query(&req, "name").unwrap_or_default();
            result(ctx.review.case(&name).map(|(entry, version)| {
                json!({
                    "html": page::case(ctx.review.dir(), &entry),
                    "version": version,
                    "pending": entry.pending,
                })
            }))
        }
        (Method::GET, "/api/fingerprint") => {
            result(ctx.review.fingerprint().map(|f| json!({ "fingerprint": f })))
        }
        (Method::POST, "/api/plan") => match body::<Decide>(req).await {
            Ok(d) => result(ctx.review.plan(&d.case, &d.decision).map(|(plan, version)| {
                json!({ "html": page::plan(ctx.review.dir(), &plan), "version": version })
            })),
            Err(r) => r,
        },
        (Method::POST, "/api/apply") => match body::<Decide>(req).await {
            Ok(d) => {
                let Some(version) = d.version else {
                    return reply_json(
                        StatusCode::BAD_REQUEST,
                        &json!({ "error": "a decision names the version of the files it was shown" }),
                    );
                };
                result(
                    ctx.review
                        .apply(&d.case, &d.decision, &version)
                        .map(|a| json!(a)),
                )
            }
            Err(r) => r,
        },
        (Method::POST, "/api/rerun") => match body::<Rerun>(req).await {
            Ok(r) => result(ctx.review.rerun(&r.case).await.map(|a| json!(a))),
            Err(r) => r,
        },
        _ => reply_json(StatusCode::NOT_FOUND, &json!({ "error": "no such page" })),
    }
}

#[derive(Deserialize)]
struct Decide {
    case: String,
    decision: Decision,
    version: Option<String>,
}

#[derive(Deserialize)]
struct Rerun {
    case: String,
}

/// The JSON body of a request, at most [`MAX_BODY`] bytes.
async fn body<T: serde::de::DeserializeOwned>(
    req: Request<Incoming>,
) -> Result<T, Response<Full<Bytes>>> {
    let bad = |what: String| reply_json(StatusCode::BAD_REQUEST, &json!({ "error": what }));
    let bytes = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| bad(format!("cannot read the request: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a request this review takes: {e}")))
}

fn result(r: Result<serde_json::Value, ReplayError>) -> Response<Full<Bytes>> {
    match r {
        Ok(v) => reply_json(StatusCode::OK, &v),
        Err(e) => {
            let status = match e {
                ReplayError::ChangedOnDisk { .. } => StatusCode::CONFLICT,
                ReplayError::Decision { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                ReplayError::NoCase(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            reply_json(
                status,
                &json!({ "error": crate::errors::error_chain(&e), "changed": status == StatusCode::CONFLICT }),
            )
        }
    }
}

fn reply_json(status: StatusCode, v: &serde_json::Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", v.to_string().into())
}

/// An answer with the headers every answer carries: no caching, no
/// sniffing, no framing, no referrer (the page's address holds the token),
/// and a policy that lets the page run its own script and nothing else.
fn reply(status: StatusCode, content_type: &str, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &str| {
        h.insert(k, HeaderValue::from_str(v).expect("a valid header value"));
    };
    set(h, "content-type", content_type);
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    set(h, "cross-origin-resource-policy", "same-origin");
    r
}
