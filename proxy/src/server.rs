//! Runs the recorders as pingora services on tokio runtimes of reel's own.
//!
//! pingora's `Server::run_forever` would own the process, so each proxy is a
//! listening service started with `start_service` and stopped through its
//! shutdown watch. All HTTP recorders share one thread with a single-threaded
//! runtime, and each Postgres, Redis or MySQL recorder has threads of its own
//! (one for every two cores, up to [`WIRE_THREADS`]), each with a
//! single-threaded runtime that runs a share of its connections: a
//! connection's tasks never wait for another thread to wake them, which on a
//! small machine costs more than the recording itself (`bench/record-ab.sh`:
//! 31 against 36 µs of CPU per request for the same throughput, against
//! tokio's multi-thread runtime). The price: the HTTP recorders share one
//! core, so their hooks must not block or compute for long (the heaviest,
//! `--redact`, scans a capped body).
//!
//! Sockets are bound here first (so `127.0.0.1:0` works and the real port is
//! known before anything connects) and handed to pingora as inherited file
//! descriptors.

use std::net::SocketAddr;
use std::os::fd::IntoRawFd;
use std::sync::Arc;
use std::time::Duration;

use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::server::configuration::ServerConf;
use pingora::server::{Fds, ListenFds};
use reel_core::CaptureSender;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::errors::ProxyError;
use crate::http::{HttpRecorder, InFlight, Role};
use crate::limit::{ConnLimits, Limited, Refusals};
use crate::mysql::MysqlRecorder;
use crate::postgres::PgRecorder;
pub use crate::redis::RedisTarget;
use crate::redis::{RedisRecorder, Tls};
use crate::tcp::{Threads, Workers};

/// A wire-protocol recorder's accept loop, given its listener and threads.
type ServeWire = Box<
    dyn FnOnce(
            tokio::net::TcpListener,
            Workers,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        + Send,
>;
use crate::upstream::Upstream;

/// pingora's default write buffer for a client connection: one TCP segment.
const DOWNSTREAM_WRITE_BUFFER: usize = 1460;

/// Captured copy of one body is cut at this size unless configured otherwise.
pub const DEFAULT_BODY_CAP: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct DependencySpec {
    pub name: String,
    pub listen: String,
    pub kind: DependencyKind,
}

/// What a dependency speaks and where the real one is.
#[derive(Debug, Clone)]
pub enum DependencyKind {
    Http(Upstream),
    /// `host:port` of the real Postgres server.
    Postgres(String),
    Redis(RedisTarget),
    /// `host:port` of the real MySQL or MariaDB server.
    Mysql(String),
}

impl DependencyKind {
    pub fn protocol(&self) -> &'static str {
        match self {
            DependencyKind::Http(_) => "http",
            DependencyKind::Postgres(_) => "postgres",
            DependencyKind::Redis(_) => "redis",
            DependencyKind::Mysql(_) => "mysql",
        }
    }

    /// The real dependency, as given on the command line.
    pub fn target(&self) -> String {
        match self {
            DependencyKind::Http(u) => u.url.clone(),
            DependencyKind::Postgres(t) => t.clone(),
            DependencyKind::Redis(t) => t.to_string(),
            DependencyKind::Mysql(t) => t.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RecorderConfig {
    /// Where the inbound recorder listens and the app it forwards to.
    pub inbound: Option<(String, Upstream)>,
    pub dependencies: Vec<DependencySpec>,
    /// Listen address of the forward proxy for `HTTP_PROXY` clients.
    pub forward: Option<String>,
    pub body_cap: usize,
    /// Replace secrets before they are stored (`--redact`).
    pub redact: bool,
    /// With `redact`: the project's own secret names and patterns (reel.toml).
    pub redact_rules: reel_core::secrets::SecretRules,
    /// What clients may hold of each listener.
    pub limits: ConnLimits,
    /// Which inbound requests are stored (`--include`, `--exclude`,
    /// `--sample`); the others are proxied all the same. Dependency calls
    /// are all stored.
    pub filter: Option<Arc<reel_core::filter::RecordFilter>>,
}

/// The addresses the recorders actually listen on.
#[derive(Debug, Clone, Default)]
pub struct BoundAddrs {
    pub inbound: Option<SocketAddr>,
    /// `(dependency name, address)` in the order given.
    pub dependencies: Vec<(String, SocketAddr)>,
    pub forward: Option<SocketAddr>,
}

pub struct Recorder {
    addrs: BoundAddrs,
    shutdown: watch::Sender<bool>,
    /// Ends the recorders' runtimes, and with them the requests still open.
    abandon: watch::Sender<bool>,
    services: Vec<JoinHandle<()>>,
    in_flight: Arc<InFlight>,
    refusals: Arc<Refusals>,
}

impl Recorder {
    /// Binds every listener, then starts the services. Nothing is started if any
    /// address cannot be bound.
    pub async fn start(cfg: RecorderConfig, sink: CaptureSender) -> Result<Self, ProxyError> {
        let fds: ListenFds = Arc::new(parking_lot::Mutex::new(Fds::new()));
        let mut plan = Vec::new();
        let mut addrs = BoundAddrs::default();
        if let Some((listen, upstream)) = &cfg.inbound {
            let addr = bind_into(&fds, "inbound recorder", listen)?;
            addrs.inbound = Some(addr);
            plan.push((
                addr,
                "reel inbound".to_owned(),
                Role::Inbound(upstream.clone()),
            ));
        }
        let mut wire = Vec::new();
        for dep in &cfg.dependencies {
            let what = format!("dependency '{}'", dep.name);
            match &dep.kind {
                DependencyKind::Http(upstream) => {
                    let addr = bind_into(&fds, &what, &dep.listen)?;
                    addrs.dependencies.push((dep.name.clone(), addr));
                    plan.push((
                        addr,
                        format!("reel dep {}", dep.name),
                        Role::Dependency {
                            name: dep.name.clone(),
                            upstream: upstream.clone(),
                        },
                    ));
                }
                DependencyKind::Postgres(_)
                | DependencyKind::Redis(_)
                | DependencyKind::Mysql(_) => {
                    let listener = bind(&what, &dep.listen)?;
                    let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
                        what: what.clone(),
                        addr: dep.listen.clone(),
                        source,
                    })?;
                    addrs.dependencies.push((dep.name.clone(), addr));
                    wire.push((listener, dep.name.clone(), dep.kind.clone()));
                }
            }
        }
        if let Some(listen) = &cfg.forward {
            let addr = bind_into(&fds, "forward proxy", listen)?;
            addrs.forward = Some(addr);
            let own = plan.iter().map(|(a, _, _)| *a).collect();
            plan.push((addr, "reel forward".to_owned(), Role::Forward { own }));
        }

        let conf = Arc::new(ServerConf::default());
        let in_flight = Arc::new(InFlight::default());
        let refusals = Arc::new(Refusals::default());
        let redactor = cfg
            .redact
            .then(|| Arc::new(reel_core::redact::Redactor::new(cfg.redact_rules.clone())));
        let (shutdown, watch_rx) = watch::channel(false);
        let (abandon, abandon_rx) = watch::channel(false);
        let mut services = Vec::new();
        for (listener, name, kind) in wire {
            let shutdown_rx = watch_rx.clone();
            let open = Arc::new(tokio::sync::Semaphore::new(cfg.limits.max_connections));
            let wire_dep = |target: String| crate::tcp::WireDep {
                name: name.clone(),
                target,
                sink: sink.clone(),
                body_cap: cfg.body_cap,
                in_flight: in_flight.clone(),
                open: open.clone(),
                refusals: refusals.clone(),
            };
            let serve: ServeWire = match &kind {
                DependencyKind::Redis(target) => {
                    let tls = match &target.tls {
                        Some(host) => Some(Tls::new(host).map_err(|why| ProxyError::Tls {
                            what: format!("dependency '{name}'"),
                            why,
                        })?),
                        None => None,
                    };
                    let recorder = Arc::new(RedisRecorder {
                        dep: wire_dep(target.addr.clone()),
                        tls,
                        redact: cfg.redact,
                    });
                    serve_wire(
                        recorder,
                        shutdown_rx,
                        RedisRecorder::connection,
                        crate::redis::refuse,
                    )
                }
                DependencyKind::Mysql(target) => {
                    let recorder = Arc::new(MysqlRecorder {
                        dep: wire_dep(target.clone()),
                        redact: cfg.redact,
                    });
                    serve_wire(
                        recorder,
                        shutdown_rx,
                        MysqlRecorder::connection,
                        crate::mysql::refuse,
                    )
                }
                _ => {
                    let recorder = Arc::new(PgRecorder {
                        dep: wire_dep(kind.target()),
                        redactor: redactor.clone(),
                    });
                    serve_wire(
                        recorder,
                        shutdown_rx,
                        PgRecorder::connection,
                        crate::postgres::refuse,
                    )
                }
            };
            let what = format!("dependency '{name}'");
            let service = spawn_on_own_thread(
                format!("reel-{}-{name}", kind.protocol()),
                wire_threads(),
                move |workers| async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, workers).await,
                        Err(e) => tracing::error!(dependency = %name, "cannot listen: {e}"),
                    }
                },
                in_flight.clone(),
                abandon_rx.clone(),
            )
            .await
            .map_err(|source| ProxyError::Thread { what, source })?;
            services.push(service);
        }
        let mut http = Vec::new();
        for (addr, name, role) in plan {
            let filter = matches!(role, Role::Inbound(_))
                .then(|| cfg.filter.clone())
                .flatten();
            let recorder = HttpRecorder::new(
                role,
                sink.clone(),
                cfg.body_cap,
                in_flight.clone(),
                redactor.clone(),
            )
            .with_filter(filter);
            let proxy = pingora::proxy::http_proxy(&conf, recorder);
            let mut service = pingora::services::listening::Service::new(
                name,
                Limited::new(proxy, cfg.limits, refusals.clone()),
            );
            // pingora gives each accepted connection a 64 KiB read buffer
            // before it sends a byte; reads go straight into the request's
            // own buffers instead (see `limit`).
            service.add_listener(
                pingora::listeners::ListenerConfig::tcp(addr.to_string())
                    .l4_buffer(L4BufferSettings::unbuffered().write(DOWNSTREAM_WRITE_BUFFER)),
            );
            http.push(service);
        }
        if !http.is_empty() {
            let service = spawn_on_own_thread(
                "reel-http".to_owned(),
                1,
                move |_| async move {
                    let running: Vec<_> = http
                        .into_iter()
                        .map(|mut service| {
                            let (fds, rx) = (fds.clone(), watch_rx.clone());
                            tokio::spawn(async move {
                                pingora::services::Service::start_service(
                                    &mut service,
                                    Some(fds),
                                    rx,
                                    1,
                                )
                                .await;
                            })
                        })
                        .collect();
                    for service in running {
                        let _ = service.await;
                    }
                },
                in_flight.clone(),
                abandon_rx,
            )
            .await
            .map_err(|source| ProxyError::Thread {
                what: "the HTTP recorders".to_owned(),
                source,
            })?;
            services.push(service);
        }
        Ok(Recorder {
            addrs,
            shutdown,
            abandon,
            services,
            in_flight,
            refusals,
        })
    }

    pub fn addrs(&self) -> &BoundAddrs {
        &self.addrs
    }

    /// What the connection limits turned away, counted as it happens.
    pub fn refusals(&self) -> Arc<Refusals> {
        self.refusals.clone()
    }

    /// Requests being proxied right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.count()
    }

    /// Stops accepting, waits up to `grace` for requests in progress to finish
    /// (so their exchanges reach the writer), and returns how many did not.
    /// Those are then dropped, and hand over what they captured, before this
    /// returns.
    pub async fn stop(self, grace: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + grace;
        let _ = self.shutdown.send(true);
        let mut services = self.services;
        for s in &mut services {
            let _ = tokio::time::timeout_at(deadline, s).await;
        }
        let unfinished = self
            .in_flight
            .wait_idle(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await;
        let _ = self.abandon.send(true);
        for s in services.into_iter().filter(|s| !s.is_finished()) {
            let _ = s.await;
        }
        unfinished
    }
}

/// [`ServeWire`] for recorder `rec`: [`crate::tcp::serve`] with its
/// `connection` and `refuse`.
fn serve_wire<R, CF, RF>(
    rec: Arc<R>,
    shutdown: watch::Receiver<bool>,
    connection: fn(Arc<R>, tokio::net::TcpStream, SocketAddr, watch::Receiver<bool>) -> CF,
    refuse: fn(tokio::net::TcpStream) -> RF,
) -> ServeWire
where
    R: std::ops::Deref<Target = crate::tcp::WireDep> + Send + Sync + 'static,
    CF: std::future::Future<Output = ()> + Send + 'static,
    RF: std::future::Future<Output = ()> + Send + 'static,
{
    Box::new(move |listener, workers| {
        Box::pin(crate::tcp::serve(
            rec, listener, workers, shutdown, connection, refuse,
        ))
    })
}

/// Most threads a wire recorder spreads its connections over.
pub const WIRE_THREADS: usize = 4;

/// A wire recorder's threads: one for every two cores, from 1 up to
/// [`WIRE_THREADS`]. One thread carries some 40,000 MySQL queries a second
/// (about 25 us of CPU each), which caps a recorder on a larger machine.
/// On two cores, which the app and its database share with reel, a second
/// thread cost reel 4-10 us more CPU a query recording mysqlslap (more
/// wake-ups, each thread finding fewer connections ready) and did not
/// raise throughput: 0.51 of direct against 0.53 with one, medians of six
/// rounds each, interleaved.
fn wire_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).clamp(1, WIRE_THREADS))
}

/// Runs recorders on `threads` threads of their own, each with a
/// single-threaded runtime. `make` builds the services' future on the first,
/// given the [`Workers`] that the others' runtimes make. The returned task
/// ends once the services have stopped and the requests in flight have
/// finished, or `abandon` turns true; either way every runtime is gone by
/// then, so the requests they dropped have handed over what they captured.
async fn spawn_on_own_thread<F, Fut>(
    thread_name: String,
    threads: usize,
    make: F,
    in_flight: Arc<InFlight>,
    mut abandon: watch::Receiver<bool>,
) -> std::io::Result<JoinHandle<()>>
where
    F: FnOnce(Workers) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<std::io::Result<()>>();
    // The runtimes are built on their own threads: were a spawn to fail, a
    // runtime dropped here, inside the caller's, would panic.
    let name = thread_name.clone();
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            let others = match Threads::start(&name, threads - 1) {
                Ok(o) => o,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let runtime = match crate::tcp::current_thread() {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let workers = others.workers();
            runtime.block_on(async move {
                let served = async {
                    make(workers).await;
                    while in_flight.wait_idle(Duration::from_secs(3600)).await > 0 {}
                };
                tokio::select! {
                    _ = served => {}
                    _ = abandon.wait_for(|a| *a) => {}
                }
            });
            // Dropping the tasks hands over what open requests captured; a
            // blocking call still running (a DNS lookup) is not waited for.
            runtime.shutdown_timeout(Duration::from_millis(100));
            others.stop();
            let _ = done_tx.send(());
        })?;
    ready_rx
        .await
        .unwrap_or_else(|_| Err(std::io::Error::other("the thread ended while starting")))?;
    Ok(tokio::spawn(async move {
        let _ = done_rx.await;
    }))
}

fn bind_into(fds: &ListenFds, what: &str, listen: &str) -> Result<SocketAddr, ProxyError> {
    let listener = bind(what, listen)?;
    let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
        what: what.to_owned(),
        addr: listen.to_owned(),
        source,
    })?;
    fds.lock().add(addr.to_string(), listener.into_raw_fd());
    Ok(addr)
}

/// A non-blocking listener on `listen`.
fn bind(what: &str, listen: &str) -> Result<std::net::TcpListener, ProxyError> {
    let bind_err = |source| ProxyError::Bind {
        what: what.to_owned(),
        addr: listen.to_owned(),
        source,
    };
    let listener = std::net::TcpListener::bind(listen).map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    Ok(listener)
}
