//! Mock dependencies: recorded answers served where the dependencies stood.
//!
//! [`book::MockBook`] holds every recorded interaction and decides which one
//! answers a call; [`http::serve`] is the hyper server in front of it.
//! [`pg_book::PgBook`] and [`postgres::serve`] do the same for Postgres,
//! [`redis_book::RedisBook`] and [`redis::serve`] for Redis,
//! [`mysql_book::MysqlBook`] and [`mysql::serve`] for MySQL.

pub mod book;
pub mod http;
pub mod mysql;
pub mod mysql_book;
pub mod pg_book;
pub mod pg_diff;
pub mod postgres;
pub mod redis;
pub mod redis_book;

pub use book::{Call, MockBook};

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

use crate::errors::ReplayError;
use http::MockServer;

/// Serves a wire-protocol mock of dependency `name` on `listen`: each
/// connection accepted goes to `handle` with its number (from 1), on a task
/// of its own, until the returned server is stopped. Why a connection ended
/// badly is logged, naming the `protocol`.
pub(crate) async fn serve_tcp<F, Fut>(
    name: &str,
    listen: &str,
    protocol: &'static str,
    handle: F,
) -> Result<MockServer, ReplayError>
where
    F: Fn(TcpStream, u64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let bind_err = |source| ReplayError::MockBind {
        name: name.to_owned(),
        listen: listen.to_owned(),
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind_err)?;
    let addr: SocketAddr = listener.local_addr().map_err(bind_err)?;
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let dep: std::sync::Arc<str> = name.into();
    let task = tokio::spawn(async move {
        let mut connections: u64 = 0;
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    connections += 1;
                    let served = handle(stream, connections);
                    let dep = dep.clone();
                    conns.spawn(async move {
                        if let Err(e) = served.await {
                            tracing::warn!(dependency = %dep, client = %peer, "{protocol} mock: {e}");
                        }
                    });
                }
            }
        }
        conns.shutdown().await;
    });
    Ok(MockServer::new(name.to_owned(), addr, stop, task))
}
