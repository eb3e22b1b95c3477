//! `reel record`: start the recorders (and the app), record until the app exits
//! or reel is told to stop, then flush the store and print a summary.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use reel_core::filter::RecordFilter;
use reel_core::secrets::SecretRules;
use reel_core::time::Micros;
use reel_core::{Store, StoreWriter, WriterStats};
use reel_proxy::server::{BoundAddrs, DependencyKind, DependencySpec, RedisTarget};
use reel_proxy::{ConnLimits, Recorder, RecorderConfig, Upstream};
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};

use crate::args::RecordArgs;
use crate::dep_spec::{DepProtocol, DepSpec};

/// How long requests in progress get to finish once recording stops.
const DRAIN_GRACE: Duration = Duration::from_secs(5);
/// How long the app gets to exit after SIGTERM before it is killed.
const APP_STOP_GRACE: Duration = Duration::from_secs(5);

pub fn run(args: RecordArgs, secret_rules: SecretRules) -> anyhow::Result<ExitCode> {
    let upstream_url = args
        .upstream
        .clone()
        .context("give the app to record: --upstream URL, or upstream in reel.toml's [record]")?;
    let upstream = Upstream::parse("--upstream", &upstream_url)?;
    let mut dependencies = Vec::new();
    for d in &args.deps {
        let kind = match d.protocol {
            DepProtocol::Http => DependencyKind::Http(Upstream::parse("--dep target", &d.target)?),
            DepProtocol::Postgres => DependencyKind::Postgres(postgres_target(d, &d.target)?),
            DepProtocol::Redis => DependencyKind::Redis(redis_target(d, &d.target)?),
            DepProtocol::Mysql => DependencyKind::Mysql(mysql_target(d, &d.target)?),
        };
        if dependencies
            .iter()
            .any(|x: &DependencySpec| x.name == d.name)
        {
            bail!("--dep '{d}': the name '{}' is used twice", d.name);
        }
        dependencies.push(DependencySpec {
            kind,
            name: d.name.clone(),
            listen: d.listen.clone(),
        });
    }
    let body_cap = args.max_body.0;
    let listeners = 1 + dependencies.len() + usize::from(args.http_proxy.is_some());
    let limits = ConnLimits {
        max_connections: connection_cap(args.max_connections, listeners),
        head_timeout: Duration::from_secs(args.header_timeout),
    };
    let filter = record_filter(&args)?;
    let config = RecorderConfig {
        inbound: Some((args.listen.clone(), upstream)),
        dependencies,
        forward: args.http_proxy.clone(),
        body_cap,
        redact: args.redact,
        redact_rules: secret_rules,
        limits,
        filter,
    };
    let name = args.session.clone().unwrap_or_else(|| {
        chrono::Local::now()
            .format("session-%Y%m%d-%H%M%S")
            .to_string()
    });

    let store = Store::open(&args.store.store)?;
    let store_path = store.path().to_owned();
    let target = config
        .inbound
        .as_ref()
        .map(|(_, u)| format!("{}://{}", if u.tls { "https" } else { "http" }, u.authority))
        .unwrap_or(upstream_url);
    let (writer, session_id) = StoreWriter::start(store, &name, &target)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("reel-worker")
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(record(config.clone(), &writer, &args.app));
    // `record` stopped the recorders: requests still open after the grace
    // period were ended there and handed over what they captured. The writer,
    // which stores everything handed over, finishes after the runtime.
    drop(runtime);
    let stats = writer.finish()?;
    let outcome = outcome?;

    print_summary(
        session_id,
        &name,
        &store_path,
        &stats,
        &outcome,
        config.filter.as_deref(),
    );
    let failed_app = matches!(outcome.app_exit, Some(Some(code)) if code != 0);
    Ok(if stats.dropped > 0 || failed_app {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

struct Outcome {
    /// `Some(exit code)` when the app exited by itself (`None` code: killed by a signal).
    app_exit: Option<Option<i32>>,
    unfinished: usize,
}

async fn record(
    config: RecorderConfig,
    writer: &StoreWriter,
    app: &[String],
) -> anyhow::Result<Outcome> {
    // Handlers first: a signal that comes right after the listening line must
    // stop reel cleanly, not kill it.
    let mut sigint = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let recorder = Recorder::start(config.clone(), writer.sender()).await?;
    let addrs = recorder.addrs().clone();
    writer.sender().set_setup(setup_json(&config, &addrs, app));
    announce(&config, &addrs);

    let mut child = match app.split_first() {
        Some((program, rest)) => Some(start_app(program, rest, &config, &addrs)?),
        None => None,
    };
    let app_addr = child
        .as_ref()
        .and(config.inbound.as_ref())
        .map(|(_, u)| u.addr);
    let ready = tokio::spawn(announce_ready(app_addr));
    let mut app_exit = None;
    let refusals = recorder.refusals();
    let mut tally = tokio::time::interval(REFUSALS_EVERY);
    tally.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = sigint.recv() => tracing::info!("SIGINT: stopping"),
            _ = sigterm.recv() => tracing::info!("SIGTERM: stopping"),
            status = wait_child(&mut child) => {
                let code = status.ok().and_then(|s| s.code());
                tracing::info!(?code, "the app exited: stopping");
                app_exit = Some(code);
                child = None;
            }
            _ = tally.tick() => {
                log_refusals(refusals.take(), &config.limits);
                continue;
            }
        }
        break;
    }
    ready.abort();
    if let Some(c) = child.as_mut() {
        stop_app(c).await;
    }
    let unfinished = recorder.stop(DRAIN_GRACE).await;
    log_refusals(refusals.take(), &config.limits);
    // With the filters' final counts.
    if config.filter.is_some() {
        writer.sender().set_setup(setup_json(&config, &addrs, app));
    }
    if unfinished > 0 {
        tracing::warn!(
            unfinished,
            "requests still in progress when recording stopped"
        );
    }
    Ok(Outcome {
        app_exit,
        unfinished,
    })
}

/// How often connections the limits turned away are counted in the log: one
/// line for many, since each is a client's doing, not reel's.
const REFUSALS_EVERY: Duration = Duration::from_secs(10);

fn log_refusals((over_cap, slow_heads): (u64, u64), limits: &ConnLimits) {
    let held_back = crate::logging::take_held_back();
    if held_back > 0 {
        tracing::warn!(
            "{held_back} more messages from the proxy were not shown (most are clients that \
             closed a connection mid-request); at most {} are shown every {}s",
            crate::logging::SHOWN_PER_WINDOW,
            crate::logging::WINDOW.as_secs()
        );
    }
    if over_cap > 0 {
        tracing::warn!(
            "refused {over_cap} connections: {} were already open on a recorder \
             (--max-connections)",
            limits.max_connections
        );
    }
    if slow_heads > 0 {
        tracing::warn!(
            "closed {slow_heads} connections whose request head took longer than {}s \
             (--header-timeout)",
            limits.head_timeout.as_secs()
        );
    }
}

/// The cap on each listener's connections: the one given, else 10000 or
/// what the open-file limit leaves room for. Each proxied connection holds
/// two files (the client's socket and the one to the app or dependency),
/// so past that room new clients would wait at the kernel's door with no
/// answer; under the cap they get one. The soft limit is raised to the hard
/// one first, as servers do.
fn connection_cap(given: Option<u32>, listeners: usize) -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let files = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(_) => soft,
        },
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    };
    // Files for the store, the app's pipes and the listeners themselves.
    const RESERVED: u64 = 64;
    let room = files.saturating_sub(RESERVED) / 2 / listeners.max(1) as u64;
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    match given {
        Some(n) => {
            let n = n as usize;
            if n > room {
                tracing::warn!(
                    "--max-connections {n}: the open-file limit ({files}) leaves room for about                      {room} connections on each of the {listeners} listeners; past that, new                      clients wait unanswered (raise it with ulimit -n)"
                );
            }
            n
        }
        None => room.min(10_000),
    }
}

/// A Postgres target is `host:port` (a `postgres://` URL's host and port are
/// taken too); the port defaults to 5432.
fn postgres_target(spec: &DepSpec, target: &str) -> anyhow::Result<String> {
    host_port(
        spec,
        target,
        &["postgres://", "postgresql://"],
        5432,
        "Postgres",
    )
}

/// A MySQL or MariaDB target is `host:port` (a `mysql://` or `mariadb://`
/// URL's host and port are taken too); the port defaults to 3306.
fn mysql_target(spec: &DepSpec, target: &str) -> anyhow::Result<String> {
    host_port(spec, target, &["mysql://", "mariadb://"], 3306, "MySQL")
}

/// A Redis target is `host:port` (a `redis://` URL's host and port are taken
/// too); the port defaults to 6379. A `rediss://` URL's server is reached
/// over TLS and its certificate checked against the URL's host.
pub(crate) fn redis_target(spec: &DepSpec, target: &str) -> anyhow::Result<RedisTarget> {
    let addr = host_port(spec, target, &["redis://", "rediss://"], 6379, "Redis")?;
    let tls = target.starts_with("rediss://").then(|| {
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    });
    Ok(RedisTarget { addr, tls })
}

/// The `host:port` of a wire dependency's target, given as that or as a URL
/// with one of `schemes` (user, database and options left out), with
/// `port` when none is given.
fn host_port(
    spec: &DepSpec,
    target: &str,
    schemes: &[&str],
    port: u16,
    what: &str,
) -> anyhow::Result<String> {
    let rest = schemes
        .iter()
        .find_map(|s| target.strip_prefix(s))
        .unwrap_or(target);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let hostport = rest.split(['/', '?']).next().unwrap_or_default();
    if hostport.is_empty() {
        bail!("--dep '{spec}': the {what} target should be HOST:PORT, e.g. 127.0.0.1:{port}");
    }
    let has_port = hostport
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    Ok(if has_port {
        hostport.to_owned()
    } else {
        format!("{hostport}:{port}")
    })
}

/// Each dependency with the address its recorder is bound to (`addrs` lists
/// them in the config's order).
fn bound_deps<'a>(
    config: &'a RecorderConfig,
    addrs: &'a BoundAddrs,
) -> impl Iterator<Item = (&'a DependencySpec, SocketAddr)> {
    config
        .dependencies
        .iter()
        .zip(&addrs.dependencies)
        .map(|(d, (_, bound))| (d, *bound))
}

/// What a replay needs to stand in for this recording: where the app and each
/// dependency were reached, and how the app was started.
fn setup_json(config: &RecorderConfig, addrs: &BoundAddrs, app: &[String]) -> serde_json::Value {
    let deps: Vec<_> = bound_deps(config, addrs)
        .map(|(d, bound)| {
            serde_json::json!({
                "name": d.name,
                "protocol": d.kind.protocol(),
                "listen": bound.to_string(),
                "target": d.kind.target(),
            })
        })
        .collect();
    serde_json::json!({
        "listen": addrs.inbound.map(|a| a.to_string()),
        "upstream": config.inbound.as_ref().map(|(_, u)| u.url.clone()),
        "dependencies": deps,
        "http_proxy": addrs.forward.map(|a| a.to_string()),
        "app": app,
        "filter": config.filter.as_ref().map(|f| f.to_json()),
    })
}

/// `--include`, `--exclude` and `--sample` as one filter; `None` when they
/// keep everything.
fn record_filter(args: &RecordArgs) -> anyhow::Result<Option<Arc<RecordFilter>>> {
    if args.sample_seed.is_some() && args.sample.is_none() {
        bail!("--sample-seed picks which reads --sample keeps: give --sample RATE too (or sample in reel.toml's [record])");
    }
    if args.include.is_empty() && args.exclude.is_empty() && args.sample.is_none() {
        return Ok(None);
    }
    // Without a seed, a new one each run (std's hasher keys are random).
    let seed = args.sample_seed.unwrap_or_else(|| {
        use std::hash::BuildHasher as _;
        std::collections::hash_map::RandomState::new().hash_one(Micros::now().0)
    });
    Ok(Some(Arc::new(RecordFilter::new(
        args.include.clone(),
        args.exclude.clone(),
        args.sample,
        seed,
    ))))
}

async fn wait_child(child: &mut Option<Child>) -> std::io::Result<std::process::ExitStatus> {
    match child {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
    }
}

/// Tells the app where the recorders are, as `REEL_*` variables.
fn start_app(
    program: &str,
    args: &[String],
    config: &RecorderConfig,
    addrs: &BoundAddrs,
) -> anyhow::Result<Child> {
    let mut cmd = Command::new(program);
    cmd.args(args).kill_on_drop(true);
    if let Some(a) = addrs.inbound {
        cmd.env("REEL_LISTEN", a.to_string());
    }
    for (d, addr) in bound_deps(config, addrs) {
        cmd.envs(reel_core::env::dep_vars(
            &d.name,
            d.kind.protocol(),
            &addr.to_string(),
        ));
    }
    if let Some(a) = addrs.forward {
        cmd.env("REEL_HTTP_PROXY", a.to_string());
        cmd.env("HTTP_PROXY", format!("http://{a}"));
        cmd.env("http_proxy", format!("http://{a}"));
    }
    cmd.spawn()
        .with_context(|| format!("starting the app '{program}'"))
}

async fn stop_app(child: &mut Child) {
    if let Some(pid) = child.id() {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(APP_STOP_GRACE, child.wait())
            .await
            .is_ok()
        {
            return;
        }
        tracing::warn!("the app did not exit {APP_STOP_GRACE:?} after SIGTERM: killing it");
    }
    let _ = child.kill().await;
}

fn announce(config: &RecorderConfig, addrs: &BoundAddrs) {
    if let Some(a) = addrs.inbound {
        tracing::info!("recording: send requests to http://{a}");
    }
    for (d, a) in bound_deps(config, addrs) {
        tracing::info!(
            "recording dependency '{}' at {}://{a}",
            d.name,
            d.kind.protocol()
        );
    }
    if let Some(a) = addrs.forward {
        tracing::info!("recording HTTP_PROXY traffic at http://{a}");
    }
    // One machine-readable line so scripts and tests can find the ports.
    let mut line = format!(
        "reel: listening inbound={}",
        addrs.inbound.map(|a| a.to_string()).unwrap_or_default()
    );
    for (name, a) in &addrs.dependencies {
        line.push_str(&format!(" dep:{name}={a}"));
    }
    if let Some(a) = addrs.forward {
        line.push_str(&format!(" http-proxy={a}"));
    }
    eprintln!("{line}");
}

/// Prints `reel: ready` once requests can be recorded, so scripts can wait
/// for that line: at once when reel started no app (its listeners accept
/// connections from the moment they are bound), else when the app's port
/// accepts connections too.
async fn announce_ready(app: Option<SocketAddr>) {
    if let Some(addr) = app {
        let mut waited = Duration::ZERO;
        let step = Duration::from_millis(25);
        while !reel_replay::app::port_accepts(&addr.to_string()).await {
            tokio::time::sleep(step).await;
            waited += step;
            if waited == Duration::from_secs(30) {
                tracing::warn!(
                    "the app's port {addr} does not accept connections after 30 s; still waiting"
                );
            }
        }
    }
    eprintln!("reel: ready");
}

fn print_summary(
    id: i64,
    name: &str,
    store: &std::path::Path,
    stats: &WriterStats,
    outcome: &Outcome,
    filter: Option<&RecordFilter>,
) {
    out!("Recorded session {id} \"{name}\" into {}", store.display());
    out!("  inbound   {:>6} exchanges", stats.inbound);
    let per_dep = stats
        .per_dependency
        .iter()
        .map(|(n, c)| format!("{n} {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    if per_dep.is_empty() {
        out!("  outbound  {:>6} exchanges", stats.outbound);
    } else {
        out!("  outbound  {:>6} exchanges ({per_dep})", stats.outbound);
    }
    out!("  dropped   {:>6} captures", stats.dropped);
    if let Some(f) = filter {
        out!(
            "  left out  {:>6} inbound requests, proxied but not stored ({} by --include/--exclude, {} reads by --sample)",
            f.filtered_out() + f.sampled_out(),
            f.filtered_out(),
            f.sampled_out()
        );
    }
    if outcome.unfinished > 0 {
        out!(
            "  {} requests were still in progress at the stop and are stored as incomplete",
            outcome.unfinished
        );
    }
    if let Some(code) = outcome.app_exit {
        match code {
            Some(c) => out!("  the app exited with status {c}"),
            None => out!("  the app was killed by a signal"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(t: &str) -> RedisTarget {
        let spec = crate::dep_spec::parse(&format!("cache=redis:127.0.0.1:0={t}")).unwrap();
        redis_target(&spec, &spec.target).unwrap()
    }

    #[test]
    fn a_rediss_url_is_reached_over_tls_checked_against_its_host() {
        let t = target("rediss://app:pw@cache.example.com:6380/0");
        assert_eq!(t.addr, "cache.example.com:6380");
        assert_eq!(t.tls.as_deref(), Some("cache.example.com"));
        assert_eq!(t.to_string(), "rediss://cache.example.com:6380");
        let t = target("rediss://[::1]");
        assert_eq!(t.addr, "[::1]:6379");
        assert_eq!(t.tls.as_deref(), Some("::1"));
        for plain in ["redis://cache:6379/2", "cache:6379", "cache"] {
            let t = target(plain);
            assert_eq!(t.addr, "cache:6379", "{plain}");
            assert_eq!(t.tls, None, "{plain}");
        }
    }
}
