//! What every wire-protocol recorder (Postgres, Redis, MySQL) does the same
//! way: accept connections under the connection cap and spread them over
//! the recorder's threads, run a connection's two directions until one ends
//! or recording stops, and cap the bytes stored.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// The threads a wire recorder's connections run on, each with a
/// single-threaded runtime: the accepting thread's own and the others'
/// (how many: `wire_threads` in `server`).
#[derive(Clone, Debug)]
pub(crate) struct Workers {
    /// The other threads' runtimes.
    others: Arc<[tokio::runtime::Handle]>,
    next: Arc<AtomicUsize>,
}

impl Workers {
    /// How many threads share the connections.
    pub fn threads(&self) -> usize {
        self.others.len() + 1
    }

    /// Runs `conn` on `stream` on the next thread in turn. Must be called
    /// on the accepting thread's runtime, whose reactor `stream` is
    /// registered with: a stream bound for another thread is registered
    /// anew there. `conn` is dropped unrun (closing the stream) if that
    /// fails, which the log says.
    pub fn spawn<F, Fut>(&self, stream: TcpStream, conn: F)
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.threads();
        if turn == 0 {
            tokio::spawn(conn(stream));
            return;
        }
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("handing a connection to another thread: {e}; closing it");
                return;
            }
        };
        self.others[turn - 1].spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => conn(stream).await,
                Err(e) => tracing::error!("taking over a connection: {e}; closing it"),
            }
        });
    }
}

/// A single-threaded runtime.
pub(crate) fn current_thread() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Threads that each run a single-threaded runtime until stopped, for
/// [`Workers`] to hand connections to.
#[derive(Debug)]
pub(crate) struct Threads {
    stop: watch::Sender<bool>,
    running: Vec<(tokio::runtime::Handle, std::thread::JoinHandle<()>)>,
}

impl Threads {
    /// `count` threads named `{name}-1`, `{name}-2`, ... . Those started
    /// before one fails stop again.
    pub fn start(name: &str, count: usize) -> std::io::Result<Threads> {
        let (stop, stopped) = watch::channel(false);
        let mut threads = Threads {
            stop,
            running: Vec::new(),
        };
        for i in 1..=count {
            let (handle_tx, handle_rx) = std::sync::mpsc::channel();
            let mut stopped = stopped.clone();
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    let runtime = match current_thread() {
                        Ok(r) => r,
                        Err(e) => return drop(handle_tx.send(Err(e))),
                    };
                    let _ = handle_tx.send(Ok(runtime.handle().clone()));
                    runtime.block_on(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    });
                    // Dropping its tasks hands over what their connections
                    // captured.
                    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
                })?;
            let handle = handle_rx.recv().unwrap_or_else(|_| {
                Err(std::io::Error::other("the thread ended while starting"))
            })?;
            threads.running.push((handle, thread));
        }
        Ok(threads)
    }

    /// The calling thread's runtime (which must run the accept loop) and
    /// these threads', taken in turn.
    pub fn workers(&self) -> Workers {
        Workers {
            others: self.running.iter().map(|(h, _)| h.clone()).collect(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Stops every thread, dropping the tasks it still runs, and waits
    /// until they are gone (as dropping does).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Threads {
    /// Stops and joins the threads: even when the accepting thread's runtime
    /// unwinds, what the others ran is dropped (handing over what it
    /// captured) before the recorder counts as done. Each thread ends
    /// within its runtime's 100 ms shutdown.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for (_, thread) in std::mem::take(&mut self.running) {
            let _ = thread.join();
        }
    }
}

/// Serves recorder `rec` on `listener` until `shutdown` turns true: each
/// connection to `connection` under the connection cap, on the next of
/// `workers` in turn, one over it to `refuse`.
pub(crate) async fn serve<R, CF, RF>(
    rec: Arc<R>,
    listener: TcpListener,
    workers: Workers,
    mut shutdown: watch::Receiver<bool>,
    connection: fn(Arc<R>, TcpStream, SocketAddr, watch::Receiver<bool>) -> CF,
    refuse: fn(TcpStream) -> RF,
) where
    R: std::ops::Deref<Target = WireDep> + Send + Sync + 'static,
    CF: Future<Output = ()> + Send + 'static,
    RF: Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = rec.open.clone().try_acquire_owned() else {
                        rec.refusals.count_over_cap();
                        tokio::spawn(refuse(stream));
                        continue;
                    };
                    let (rec, stop) = (rec.clone(), shutdown.clone());
                    workers.spawn(stream, move |stream| async move {
                        connection(rec, stream, peer, stop).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(dependency = %rec.name, "accepting a connection: {e}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Set when dropped: tells whether a connection's task was dropped.
    struct Dropped(Arc<std::sync::atomic::AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Connections go to each thread in turn, each stream works on the
    /// thread that takes it over, and stopping the threads drops what they
    /// still run.
    #[test]
    fn workers_spread_connections_over_their_threads_and_stop_with_them() {
        let threads = Threads::start("spread", 2).expect("threads");
        let runtime = current_thread().expect("a runtime");
        let held: Vec<_> = (0..3)
            .map(|_| Arc::new(std::sync::atomic::AtomicBool::new(false)))
            .collect();
        let (names, _clients) = runtime.block_on(async {
            let workers = threads.workers();
            assert_eq!(workers.threads(), 3);
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let mut names = BTreeSet::new();
            // Six connections: each echoes one line with the name of the
            // thread that served it.
            for _ in 0..6 {
                let mut client = TcpStream::connect(addr).await.expect("connect");
                let (stream, _) = listener.accept().await.expect("accept");
                workers.spawn(stream, |mut stream| async move {
                    let mut buf = [0u8; 5];
                    stream.read_exact(&mut buf).await.expect("read");
                    let name = std::thread::current().name().unwrap_or("").to_owned();
                    let answer = format!("{}:{name}\n", String::from_utf8_lossy(&buf));
                    stream.write_all(answer.as_bytes()).await.expect("write");
                });
                client.write_all(b"hello").await.expect("send");
                let mut answer = String::new();
                tokio::io::AsyncBufReadExt::read_line(
                    &mut tokio::io::BufReader::new(&mut client),
                    &mut answer,
                )
                .await
                .expect("answer");
                let name = answer.trim_end().strip_prefix("hello:").expect("echoed");
                names.insert(name.to_owned());
            }
            // Three more, one on each thread, that wait for more than ever
            // comes.
            let mut clients = Vec::new();
            for flag in &held {
                clients.push(TcpStream::connect(addr).await.expect("connect"));
                let (stream, _) = listener.accept().await.expect("accept");
                let guard = Dropped(flag.clone());
                workers.spawn(stream, move |mut stream| async move {
                    let _guard = guard;
                    let mut buf = [0u8; 1];
                    let _ = stream.read_exact(&mut buf).await;
                });
            }
            (names, clients)
        });
        let main = std::thread::current().name().unwrap_or("").to_owned();
        let expected: BTreeSet<String> = [main, "spread-1".into(), "spread-2".into()].into();
        assert_eq!(names, expected);
        let dropped = || {
            held.iter()
                .map(|h| h.load(Ordering::SeqCst))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            dropped(),
            [false, false, false],
            "the waiting connections run"
        );
        threads.stop();
        assert_eq!(
            dropped(),
            [false, true, true],
            "stopping the threads drops what they ran, not what the accepting thread runs"
        );
        drop(runtime);
        assert_eq!(dropped(), [true, true, true]);
    }
}
