//! `reel generate --verify [N]`: before the suite is handed over, replay it N
//! times against the real app with its real dependencies, and turn what
//! differed between those runs into typed matchers, listing each path and
//! why; what every run gave the same but not as recorded is listed as a
//! change, not loosened. `--reset CMD` runs before each of those runs, to
//! put a stateful dependency back as recorded. Then the suite is replayed
//! sealed, against reel's own mocks ([`super::sealed`]), and the dependency
//! requests the app makes differently each run are loosened too. Each dependency is reached through a forwarding
//! recorder standing where reel recorded it (its captures go to a throwaway
//! store), so an app configured for the recording needs no change. Replaying
//! and loosening are `reel test --stability`'s own ([`reel_replay::stability`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use reel_core::model::Session;
use reel_core::suite::load_suite;
use reel_core::{Store, StoreWriter};
use reel_proxy::server::{DependencyKind, DependencySpec, DEFAULT_BODY_CAP};
use reel_proxy::{Recorder, RecorderConfig, Upstream};
use reel_replay::runner::RunConfig;
use reel_replay::stability::{self, Loosened, Unexplained};

/// What `--verify` was asked to do.
#[derive(Debug, Clone)]
pub struct Verify {
    pub runs: u32,
    pub app: Option<String>,
    pub target: Option<String>,
    pub ready: Option<String>,
    pub ready_timeout: Duration,
    /// Run by `sh` before each start of the app (`--reset`).
    pub reset: Option<String>,
    /// Values for the suite's `${secret:NAME}` placeholders.
    pub secrets: BTreeMap<String, String>,
}

/// What the runs found.
#[derive(Debug)]
pub struct Verified {
    pub runs: u32,
    pub loosened: Vec<Loosened>,
    pub unexplained: Vec<Unexplained>,
    /// The sealed runs against reel's own mocks.
    pub sealed: super::sealed::Sealed,
}

/// Replays the suite in `out` and loosens its case files.
pub fn verify(out: &Path, session: &Session, v: &Verify) -> anyhow::Result<Verified> {
    anyhow::ensure!(v.runs >= 1, "--verify {}: give 1 or more runs", v.runs);
    let suite = load_suite(out)?;
    if v.app.is_none() && v.target.is_none() && suite.suite.app.command.is_none() {
        bail!(
            "--verify: session \"{}\" has no app command (it was recorded without `-- APP CMD`); give --app CMD, or --target URL for an app that is already running",
            session.name
        );
    }
    let (dependencies, forward) = real_dependencies(session)?;
    let cfg = RunConfig {
        target: v.target.clone(),
        app: v.app.clone(),
        ready: v.ready.clone(),
        ready_timeout: v.ready_timeout,
        secrets: v.secrets.clone(),
        real_dependencies: true,
        ..RunConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let runs = runtime.block_on(async {
        let scratch = tempfile::tempdir()?;
        let store = Store::open(&scratch.path().join("verify.db"))?;
        let (writer, _) = StoreWriter::start(store, "verify", &suite.suite.app.target)?;
        let recorder = if dependencies.is_empty() && forward.is_none() {
            None
        } else {
            let config = RecorderConfig {
                inbound: None,
                dependencies,
                forward,
                body_cap: DEFAULT_BODY_CAP,
                redact: false,
                redact_rules: Default::default(),
                limits: Default::default(),
                filter: None,
            };
            Some(Recorder::start(config, writer.sender()).await.context(
                "--verify: standing in front of the real dependencies where they were recorded (is `reel record` still running?)",
            )?)
        };
        let mut runs = Vec::new();
        let mut failed = None;
        for _ in 0..v.runs {
            if let Some(cmd) = &v.reset {
                if let Err(e) = reset(cmd, &suite).await {
                    failed = Some(e);
                    break;
                }
            }
            match crate::replay::run(&suite, &cfg).await {
                Ok(crate::replay::Ended::Ran(r)) => runs.push(r),
                Ok(crate::replay::Ended::Interrupted(s)) => {
                    failed = Some(anyhow::anyhow!("--verify: interrupted by {s}"));
                    break;
                }
                Err(e) => {
                    failed = Some(e.context("--verify"));
                    break;
                }
            }
        }
        if let Some(r) = recorder {
            r.stop(Duration::from_secs(2)).await;
        }
        // Nothing of it is kept: the store goes with the folder.
        let _ = writer.finish();
        match failed {
            Some(e) => Err(e),
            None => Ok(runs),
        }
    })?;
    let loosened = stability::loosen(&suite, &runs, true, true)?;
    let unexplained = stability::unexplained(&suite, &runs, &loosened);
    let sealed = runtime.block_on(super::sealed::verify_sealed(out, &cfg, v.runs))?;
    Ok(Verified {
        runs: v.runs,
        loosened,
        unexplained,
        sealed,
    })
}

/// Runs the `--reset` command, with each dependency's `REEL_DEP_<NAME>`
/// pointing where the app reaches it (the forwarding recorder in front of
/// the real one), as the app sees them.
async fn reset(cmd: &str, suite: &reel_core::suite::LoadedSuite) -> anyhow::Result<()> {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null());
    for dep in &suite.suite.dependencies {
        command.envs(reel_core::env::dep_vars(
            &dep.name,
            &dep.protocol,
            &dep.listen,
        ));
    }
    let out = command
        .output()
        .await
        .with_context(|| format!("--verify: running --reset `{cmd}`"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(5).collect();
        let last: Vec<&str> = last.into_iter().rev().collect();
        bail!(
            "--verify: --reset `{cmd}` failed ({}){}{}",
            out.status,
            if last.is_empty() { "" } else { ":\n" },
            last.join("\n")
        );
    }
    Ok(())
}

/// The session's dependencies as recorders that forward to the real ones, and
/// its forward proxy's address, if it had one.
fn real_dependencies(session: &Session) -> anyhow::Result<(Vec<DependencySpec>, Option<String>)> {
    let mut out = Vec::new();
    for d in session.setup["dependencies"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = d["name"].as_str().unwrap_or("?");
        let (Some(listen), Some(target)) = (d["listen"].as_str(), d["target"].as_str()) else {
            bail!(
                "--verify: session \"{}\" does not say where dependency '{name}' really is, so it cannot be reached",
                session.name
            );
        };
        let kind = match d["protocol"].as_str().unwrap_or("http") {
            "http" => DependencyKind::Http(Upstream::parse("dependency target", target)?),
            "postgres" => DependencyKind::Postgres(target.to_owned()),
            "mysql" => DependencyKind::Mysql(target.to_owned()),
            "redis" => {
                let spec = crate::dep_spec::DepSpec {
                    name: name.to_owned(),
                    protocol: crate::dep_spec::DepProtocol::Redis,
                    listen: listen.to_owned(),
                    target: target.to_owned(),
                };
                DependencyKind::Redis(crate::record::redis_target(&spec, target)?)
            }
            other => bail!(
                "--verify: dependency '{name}' speaks {other}, which --verify cannot reach yet"
            ),
        };
        out.push(DependencySpec {
            name: name.to_owned(),
            listen: listen.to_owned(),
            kind,
        });
    }
    let forward = session.setup["http_proxy"].as_str().map(str::to_owned);
    Ok((out, forward))
}

/// What `generate --verify` prints after the summary; each list cut at
/// `limit` rows (None: all), naming `full` as where the rest is.
pub fn describe(v: &Verified, limit: Option<usize>, full: Option<&Path>) -> String {
    let n = v.runs;
    let times = if n == 1 {
        "once".to_owned()
    } else {
        format!("{n} times")
    };
    let mut s = format!(
        "  --verify {n}: replayed every case {times} against the app and its real dependencies"
    );
    if v.loosened.is_empty() {
        s.push_str("; no value, header or body differed between runs, nothing was loosened\n");
    } else {
        let n = v.loosened.len();
        s.push_str(&format!(
            "; {n} {} differed and {} now matched by kind:\n",
            if n == 1 { "value" } else { "values" },
            if n == 1 { "is" } else { "are" }
        ));
    }
    s.push_str(&stability::render(&v.loosened, &v.unexplained, limit, full));
    if !v.unexplained.is_empty() {
        s.push_str("  these cases will fail on replay until the app or the recording changes\n");
    }
    s
}
