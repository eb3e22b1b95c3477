//! The HTTP mock server (hyper): answers each call from the [`MockBook`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::book::{Call, MockBook};
use crate::errors::ReplayError;

/// Headers that describe the recorded connection, not the answer; hyper sets
/// its own.
const HOP_BY_HOP: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

pub struct MockServer {
    pub name: String,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    pub(crate) fn new(
        name: String,
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    ) -> Self {
        MockServer {
            name,
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Starts the mock of dependency `name` on `listen`.
pub async fn serve(
    name: &str,
    listen: &str,
    book: Arc<MockBook>,
) -> Result<MockServer, ReplayError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ReplayError::MockBind {
            name: name.to_owned(),
            listen: listen.to_owned(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ReplayError::MockBind {
            name: name.to_owned(),
            listen: listen.to_owned(),
            source,
        })?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let dep = name.to_owned();
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let book = book.clone();
                    let dep = dep.clone();
                    conns.spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            answer(dep.clone(), book.clone(), req)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            }
        }
        conns.abort_all();
    });
    Ok(MockServer {
        name: name.to_owned(),
        addr,
        stop: Some(stop),
        task,
    })
}

async fn answer(
    dependency: String,
    book: Arc<MockBook>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(text(400, &format!("reel mock '{dependency}': {e}\n"))),
    };
    let call = Call {
        dependency: dependency.clone(),
        method: parts.method.as_str().to_owned(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into()),
        content_type: parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
    };
    match book.answer(&call) {
        Ok((id, spec)) => {
            tracing::debug!(%dependency, %id, call = %call.describe(), "mock answered");
            let mut resp = Response::builder().status(spec.status);
            for (n, v) in &spec.headers {
                if !HOP_BY_HOP.contains(&n.to_ascii_lowercase().as_str()) {
                    resp = resp.header(n, v);
                }
            }
            // Encoded again as the dependency sent it: the app decodes it.
            // The suite's values are checked at load; one filled in at
            // replay (a secret, a value of an earlier answer) can still
            // break the answer: the app gets a 500, the case says why.
            let built = spec
                .check()
                .map_err(|e| format!("recorded answer {id} once its values are filled in: {e}"))
                .and_then(|()| {
                    spec.wire_body()
                        .map_err(|e| format!("cannot encode recorded answer {id}: {e}"))
                })
                .and_then(|body| {
                    resp.body(Full::new(Bytes::from(body))).map_err(|e| {
                        format!(
                            "recorded answer {id} is not valid HTTP once its values are filled in: {e}"
                        )
                    })
                });
            Ok(built.unwrap_or_else(|why| {
                let why = format!("dependency '{dependency}': the mock answered 500: {why}");
                tracing::warn!("{why}");
                book.failed(why.clone());
                text(500, &format!("reel mock: {why}\n"))
            }))
        }
        Err(miss) => {
            let mut msg = format!(
                "reel mock '{dependency}': no recorded call matches {}\n",
                miss.call
            );
            if let Some(n) = &miss.nearest {
                msg.push_str(&format!("nearest recorded call: {n}\n{}", miss.diff));
            }
            Ok(text(502, &msg))
        }
    }
}

fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a plain text response is valid")
}

#[cfg(test)]
mod tests;
