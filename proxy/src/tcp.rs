//! What every wire-protocol recorder (Postgres, Redis) does the same way:
//! accept connections under the connection cap, run a connection's two
//! directions until one ends or recording stops, and cap the bytes stored.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use reel_core::CaptureSender;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::http::InFlight;
use crate::limit::Refusals;

/// How long a connection with a request in flight may go on after
/// recording is told to stop: less than the CLI's stop grace (5 s), so that
/// what it stores still reaches the writer.
pub(crate) const DRAIN: std::time::Duration = std::time::Duration::from_secs(4);
/// How often a draining connection checks whether its answers are in.
const DRAIN_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// What every wire-protocol recorder holds: which dependency, where the
/// real server is, where exchanges go, and the limits shared with the
/// other recorders. Each recorder derefs to it.
pub(crate) struct WireDep {
    pub name: String,
    /// `host:port` of the real server.
    pub target: String,
    pub sink: CaptureSender,
    pub body_cap: usize,
    pub in_flight: Arc<InFlight>,
    /// Connections open at once (`--max-connections`).
    pub open: Arc<Semaphore>,
    pub refusals: Arc<Refusals>,
}

/// Serves recorder `rec` on `listener` until `shutdown` turns true: each
/// connection to `connection` under the connection cap, one over it to
/// `refuse`.
pub(crate) async fn serve<R, CF, RF>(
    rec: Arc<R>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
    connection: fn(Arc<R>, TcpStream, SocketAddr, watch::Receiver<bool>) -> CF,
    refuse: fn(TcpStream) -> RF,
) where
    R: std::ops::Deref<Target = WireDep> + Send + Sync + 'static,
    CF: Future<Output = ()> + Send + 'static,
    RF: Future<Output = ()> + Send + 'static,
{
    let me = rec.clone();
    accept(
        &rec.name,
        listener,
        shutdown,
        rec.open.clone(),
        rec.refusals.clone(),
        move |stream, peer, stop| connection(me.clone(), stream, peer, stop),
        refuse,
    )
    .await;
}

/// Accepts connections until `shutdown` turns true, each in a task of its
/// own while `open` has a permit, else answered by `refuse`.
pub(crate) async fn accept<C, CF, R, RF>(
    name: &str,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    open: Arc<Semaphore>,
    refusals: Arc<Refusals>,
    connection: C,
    refuse: R,
) where
    C: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> CF,
    CF: Future<Output = ()> + Send + 'static,
    R: Fn(TcpStream) -> RF,
    RF: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = open.clone().try_acquire_owned() else {
                        refusals.count_over_cap();
                        tokio::spawn(refuse(stream));
                        continue;
                    };
                    let conn = connection(stream, peer, shutdown.clone());
                    tokio::spawn(async move {
                        conn.await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(dependency = %name, "accepting a connection: {e}");
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Runs a connection's two directions: until the server's side ends (the
/// client's may end first: the server still answers what it was sent), an
/// error, or recording stops. On stop an idle connection closes at once;
/// one with a request in flight gets up to [`DRAIN`] to receive its answer.
/// The error that ended it, if any, logged with `(dependency, connection,
/// client)`.
pub(crate) async fn relay(
    upstream: impl Future<Output = Result<(), String>>,
    downstream: impl Future<Output = Result<(), String>>,
    shutdown: watch::Receiver<bool>,
    idle: impl Fn() -> bool,
    (dependency, connection, client): (&str, u64, SocketAddr),
) -> Option<String> {
    let error = run_both(upstream, downstream, shutdown, idle).await;
    if let Some(e) = &error {
        tracing::error!(%dependency, connection, %client, "{e}; closing this connection");
    }
    error
}

async fn run_both(
    upstream: impl Future<Output = Result<(), String>>,
    downstream: impl Future<Output = Result<(), String>>,
    mut shutdown: watch::Receiver<bool>,
    idle: impl Fn() -> bool,
) -> Option<String> {
    tokio::pin!(upstream, downstream);
    let mut client_done = false;
    let mut stopping: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            r = &mut upstream, if !client_done => match r {
                Ok(()) => client_done = true,
                Err(e) => return Some(e),
            },
            r = &mut downstream => return r.err(),
            _ = shutdown.changed(), if stopping.is_none() => {
                stopping = Some(tokio::time::Instant::now() + DRAIN);
            }
            _ = tokio::time::sleep(DRAIN_POLL), if stopping.is_some() => {}
        }
        if let Some(deadline) = stopping {
            if idle() {
                return None;
            }
            if tokio::time::Instant::now() >= deadline {
                return Some("recording stopped before the server answered".to_owned());
            }
        }
    }
}

/// How much one read of a connection takes.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// Forwards one direction of a connection as bytes arrive (recording must
/// not delay the app), then hands each read to `decode` with the
/// direction's `decoder` and, at the end of the stream, calls `end` with it.
/// `from` and `to` name the two sides for errors (`the app`, `the server`).
pub(crate) async fn forward<D>(
    mut rd: impl AsyncRead + Unpin,
    mut wr: impl AsyncWrite + Unpin,
    (from, to): (&str, &str),
    mut decoder: D,
    mut decode: impl FnMut(&mut D, &[u8]) -> Result<(), String>,
    end: impl FnOnce(&D) -> Result<(), String>,
) -> Result<(), String> {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = rd
            .read(&mut buf)
            .await
            .map_err(|e| format!("reading from {from}: {e}"))?;
        if n == 0 {
            end(&decoder)?;
            let _ = wr.shutdown().await;
            return Ok(());
        }
        let forwarded = wr.write_all(&buf[..n]).await;
        decode(&mut decoder, &buf[..n])?;
        forwarded.map_err(|e| format!("writing to {to}: {e}"))?;
    }
}
