//! What one client may hold of an HTTP recorder: a cap on open connections,
//! a deadline for reading each request head, and nothing of pingora's
//! per-request state until a request starts to arrive.
//!
//! pingora gives each connection its whole request-processing state the
//! moment it is accepted (about 100 KB, most of it the proxy's future), and
//! its header timeout restarts with every read, so a client that sends a
//! header line every few seconds holds a connection for ever. [`Limited`]
//! wraps the proxy app: it refuses connections over the cap with a `503`
//! the client can read, waits for a request's first byte before handing the
//! connection to pingora, and [`Guarded`] fails a head that takes longer
//! than the deadline in total. The recorder's hooks tell the guard where a
//! head ends and where the request ends (`head_read`, `request_done`), so a
//! slow upload or a slow app is never cut: only heads are timed.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::Sleep;

/// How long a connection may wait for its first request, as pingora waits
/// between requests on a kept-alive connection.
const IDLE: Duration = Duration::from_secs(60);

/// The limits of each recorder's listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once; the next ones get a `503` and are closed.
    pub max_connections: usize,
    /// From a request head's first byte to its blank line.
    pub head_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 10_000,
            head_timeout: Duration::from_secs(30),
        }
    }
}

/// Counts what the limits turned away, for the periodic log line (see
/// [`Refusals::take`]): the clients' own errors are not worth a line each.
#[derive(Debug, Default)]
pub struct Refusals {
    over_cap: AtomicU64,
    slow_heads: AtomicU64,
}

impl Refusals {
    pub(crate) fn count_over_cap(&self) {
        self.over_cap.fetch_add(1, Ordering::Relaxed);
    }

    /// `(connections refused over the cap, heads that ran out of time)`
    /// since the last call.
    pub fn take(&self) -> (u64, u64) {
        (
            self.over_cap.swap(0, Ordering::Relaxed),
            self.slow_heads.swap(0, Ordering::Relaxed),
        )
    }
}

/// A pingora server app behind [`ConnLimits`].
pub struct Limited<A> {
    inner: Arc<A>,
    limits: ConnLimits,
    open: Arc<Semaphore>,
    refusals: Arc<Refusals>,
}

impl<A> Limited<A> {
    pub fn new(inner: A, limits: ConnLimits, refusals: Arc<Refusals>) -> Self {
        Limited {
            inner: Arc::new(inner),
            open: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            refusals,
        }
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for Limited<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_permit) = self.open.clone().try_acquire_owned() else {
            self.refusals.count_over_cap();
            refuse(stream, self.limits.max_connections).await;
            return None;
        };
        let mut guarded = Guarded::new(stream, self.limits.head_timeout, self.refusals.clone());
        // Until a request starts, the connection costs this future and the
        // socket, not pingora's state for a request.
        match tokio::time::timeout(IDLE, guarded.first_bytes()).await {
            Ok(Ok(true)) => {}
            _ => return None,
        }
        self.inner.process_new(Box::new(guarded), shutdown).await
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await
    }
}

/// Answers a connection over the cap: a `503` that says why, then close.
/// The request is drained for a moment first, so closing does not reset the
/// connection before the client has read the answer.
async fn refuse(mut stream: Stream, cap: usize) {
    let body = format!(
        "reel: {cap} connections are open, the most this recorder takes \
         (--max-connections); try again when some have closed\n"
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n\
         content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.flush().await?;
        stream.shutdown().await?;
        while stream.read(&mut buf).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

const IDLE_STATE: u8 = 0;
const HEAD_STATE: u8 = 1;
const BODY_STATE: u8 = 2;

/// A downstream connection that times each request head as a whole.
///
/// Reads between requests start the clock; the recorder's `head_read` stops
/// it once pingora has parsed the head, and `request_done` makes the next
/// read start it again. Bytes read before pingora took over (the first
/// request's start) are handed to pingora first.
#[derive(Debug)]
pub struct Guarded {
    inner: Stream,
    /// Read ahead by [`Guarded::first_bytes`], not yet given to pingora.
    stash: Vec<u8>,
    state: AtomicU8,
    head_timeout: Duration,
    deadline: Option<Pin<Box<Sleep>>>,
    refusals: Arc<Refusals>,
}

impl Guarded {
    fn new(inner: Stream, head_timeout: Duration, refusals: Arc<Refusals>) -> Self {
        Guarded {
            inner,
            stash: Vec::new(),
            state: AtomicU8::new(IDLE_STATE),
            head_timeout,
            deadline: None,
            refusals,
        }
    }

    /// Waits for the client to start a request. `false`: it closed first.
    async fn first_bytes(&mut self) -> std::io::Result<bool> {
        let mut buf = [0u8; 512];
        let n = self.inner.read(&mut buf).await?;
        self.stash.extend_from_slice(&buf[..n]);
        if n > 0 {
            self.start_head();
        }
        Ok(n > 0)
    }

    fn start_head(&mut self) {
        self.state.store(HEAD_STATE, Ordering::Release);
        self.deadline = Some(Box::pin(tokio::time::sleep(self.head_timeout)));
    }

    /// The recorder has the whole head: reads are no longer timed.
    pub fn head_read(&self) {
        self.state.store(BODY_STATE, Ordering::Release);
    }

    /// The request is over: the next byte read starts a new head.
    pub fn request_done(&self) {
        self.state.store(IDLE_STATE, Ordering::Release);
    }

    /// The guard under a pingora stream, when the stream is one.
    pub fn of(stream: &Stream) -> Option<&Guarded> {
        (**stream).as_any().downcast_ref::<Guarded>()
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        if !me.stash.is_empty() {
            let n = me.stash.len().min(buf.remaining());
            buf.put_slice(&me.stash[..n]);
            me.stash.drain(..n);
            return Poll::Ready(Ok(()));
        }
        match me.state.load(Ordering::Acquire) {
            BODY_STATE => {
                me.deadline = None;
                return Pin::new(&mut me.inner).poll_read(cx, buf);
            }
            IDLE_STATE => me.deadline = None,
            _ => {}
        }
        let before = buf.filled().len();
        match Pin::new(&mut me.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before && me.state.load(Ordering::Acquire) == IDLE_STATE {
                    me.start_head();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(deadline) = me.deadline.as_mut() {
                    ready!(deadline.as_mut().poll(cx));
                    me.refusals.slow_heads.fetch_add(1, Ordering::Relaxed);
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "the request head took longer than {}s (--header-timeout)",
                            me.head_timeout.as_secs()
                        ),
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Guarded {
    async fn shutdown(&mut self) {
        Shutdown::shutdown(&mut *self.inner).await
    }
}

impl UniqueID for Guarded {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Guarded {}

impl GetTimingDigest for Guarded {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }
    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Guarded {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for Guarded {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

// Peeking is for h2c detection, which the recorders do not enable.
impl Peek for Guarded {}
