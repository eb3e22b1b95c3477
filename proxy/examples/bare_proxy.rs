//! pingora as reel runs it, recording nothing: the floor under `reel record`'s
//! cost per request. `bench/record-bound.sh` measures it beside nginx and reel.
//!
//! Usage: bare_proxy LISTEN UPSTREAM [THREADS]   (e.g. 127.0.0.1:0 127.0.0.1:8080)
//! THREADS sets the runtime's worker threads (default: tokio's, one per core,
//! as in `reel record`).
//! Prints `listening LISTEN_ADDR` on stderr once it accepts, and runs until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::{Fds, ListenFds};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bare {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        // As reel builds its peer: a new one per request, with a connect timeout.
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        peer.options.connection_timeout = Some(Duration::from_secs(5));
        Ok(Box::new(peer))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream, threads) = match args.as_slice() {
        [l, u] => (l, u, None),
        [l, u, t] => (l, u, Some(t.parse::<usize>()?)),
        _ => return Err("usage: bare_proxy LISTEN UPSTREAM [THREADS]".into()),
    };
    let upstream: SocketAddr = upstream.parse()?;
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let fds: ListenFds = Arc::new(parking_lot::Mutex::new(Fds::new()));
    fds.lock().add(addr.to_string(), listener.into_raw_fd());

    // The same runtime reel record builds: tokio's default multi-thread one.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n);
    }
    let runtime = builder.enable_all().thread_name("reel-worker").build()?;
    runtime.block_on(async move {
        let conf = Arc::new(ServerConf::default());
        let mut service =
            pingora::proxy::http_proxy_service_with_name(&conf, Bare { upstream }, "bare");
        service.add_tcp(&addr.to_string());
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let serve = tokio::spawn(async move {
            pingora::services::Service::start_service(&mut service, Some(fds), rx, 1).await;
        });
        eprintln!("listening {addr}");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), serve).await;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(())
}
