//! `reel test`: replay a suite and show what changed.
//!
//! While the run goes, a terminal shows a progress bar; other output (CI logs)
//! gets a progress line every few seconds and a line naming a case that is
//! taking long. SIGINT, SIGTERM, SIGHUP and SIGQUIT stop the run, the app's
//! whole process group and the mocks, and reel exits with 128 + the signal.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reel_core::suite::load_suite;
use reel_replay::runner::{self, Progress, RunConfig, Signal};
use reel_replay::shard::Shard;
use reel_replay::{pending, Outcome, ReplayError, RunReport};
use tokio::signal::unix::{signal, SignalKind};

use crate::args::TestArgs;
use crate::output;

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    // Check every report spec before spending time on a run.
    if let Some(spec) = &args.report {
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            match part.split_once('=') {
                Some(("junit" | "html" | "json", f)) if !f.trim().is_empty() => {}
                _ => anyhow::bail!(
                    "--report '{part}': expected KIND=FILE with KIND junit, html or json"
                ),
            }
        }
    }
    let dir = args.dir.clone().context(
        "give the suite folder: reel test DIR, or dir in reel.toml's [test] (or out in [generate])",
    )?;
    let mut suite = load_suite(&dir)?;
    let shard = args.shard.as_deref().map(Shard::parse).transpose()?;
    let app_log = app_log_path(args.report.as_deref(), shard);
    // One file per `reel test`: each start of the app (stability runs, the
    // run itself) appends to it.
    match std::fs::remove_file(&app_log) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e)
                .with_context(|| format!("removing the old app log {}", app_log.display()))
        }
        _ => {}
    }
    let cfg = RunConfig {
        target: args.target.clone(),
        app: args.app.clone(),
        ready: args.ready.clone(),
        ready_timeout: Duration::from_secs(args.ready_timeout),
        shard,
        strict: args.strict,
        request_timeout: Duration::from_secs(args.case_timeout),
        host_header: args.host_header.clone(),
        app_log: Some(app_log.clone()),
        freeze_time: args.freeze_time,
        secrets: reel_core::generate::secrets::load_file(&args.secrets.clone().unwrap_or_else(
            || {
                let store =
                    std::env::var_os("REEL_STORE").unwrap_or_else(|| ".reel/reel.db".into());
                crate::config::secrets_path(std::path::Path::new(&store))
            },
        ))?,
        ..RunConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    if let Some(n) = args.stability {
        anyhow::ensure!(
            n >= 2,
            "--stability {n}: give 2 or more runs to compare (0 turns it off)"
        );
        let mut runs = Vec::new();
        for _ in 0..n {
            match runtime.block_on(replay(&suite, &cfg))? {
                Ended::Ran(r) => runs.push(r),
                Ended::Interrupted(s) => return Ok(interrupted(s)),
            }
        }
        let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
        let write = args.write_pending || !in_ci;
        let loosened = reel_replay::stability::loosen(&suite, &runs, false, write)?;
        let unexplained = reel_replay::stability::unexplained(&suite, &runs, &loosened);
        let summary = stability_summary(n, &runs, &loosened, &unexplained, write);
        // Complete beside the suite; bounded on screen.
        let file = dir.join("stability.txt");
        let full = format!(
            "{summary}{}",
            reel_replay::stability::render(&loosened, &unexplained, None, None)
        );
        let saved = reel_core::files::replace(&file, full.as_bytes());
        out_part!(
            "{}",
            output::printable(&format!(
                "{summary}{}",
                reel_replay::stability::render(
                    &loosened,
                    &unexplained,
                    Some(25),
                    saved.is_ok().then_some(file.as_path())
                )
            ))
        );
        match saved {
            Ok(()) => out!(
                "  the complete --stability summary is in {}",
                file.display()
            ),
            Err(e) => out!("  cannot write {}: {e}", file.display()),
        }
        if !loosened.is_empty() && write {
            suite = load_suite(&dir)?;
        }
    }
    let report = match runtime.block_on(replay(&suite, &cfg))? {
        Ended::Ran(r) => r,
        Ended::Interrupted(s) => return Ok(interrupted(s)),
    };
    finish(&args, &dir, &suite, &report, &app_log)
}

/// What `--stability N` saw, first line and counts: every run's result, then
/// what was loosened; the lists follow ([`reel_replay::stability::render`]).
fn stability_summary(
    n: u32,
    runs: &[RunReport],
    loosened: &[reel_replay::stability::Loosened],
    unexplained: &[reel_replay::stability::Unexplained],
    write: bool,
) -> String {
    let results: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| format!("run {}: {} passed, {} failed", i + 1, r.passed, r.failed))
        .collect();
    let misses: usize = runs
        .iter()
        .flat_map(|r| &r.cases)
        .map(|c| c.mock_misses.len())
        .sum();
    let mut s = format!(
        "--stability {n}: replayed every case {n} times against fresh app instances ({})\n",
        results.join("; ")
    );
    if misses > 0 {
        s.push_str(&format!(
            "  {misses} dependency calls in those runs matched no recording (listed below)\n"
        ));
    }
    if loosened.is_empty() && unexplained.is_empty() {
        s.push_str(&format!(
            "  every expected value, header and body came back the same in all {n} runs\n"
        ));
    } else if loosened.is_empty() {
        s.push_str("  nothing differed between the runs that a matcher may take\n");
    } else {
        s.push_str(&format!(
            "  {} {} differed between runs and {} matched by kind:\n",
            loosened.len(),
            if loosened.len() == 1 {
                "value"
            } else {
                "values"
            },
            match (write, loosened.len()) {
                (true, 1) => "is now",
                (true, _) => "are now",
                (false, _) => "would be (CI is set; --write-pending writes them)",
            }
        ));
    }
    s
}

/// Where the output of the app reel starts goes: `app.log` beside the first
/// report file asked for (CI keeps it with the reports), a shard's
/// `app.shard-K-of-N.log` so parallel shards do not share one file. Without
/// reports, a file of this run in the temporary folder: nothing is written
/// into the project. Either way its path is printed at the end.
fn app_log_path(report: Option<&str>, shard: Option<Shard>) -> PathBuf {
    let beside_report = report
        .and_then(|spec| spec.split(',').find_map(|p| p.split_once('=')))
        .map(|(_, f)| {
            Path::new(f.trim())
                .parent()
                .unwrap_or(Path::new(""))
                .to_owned()
        });
    match (beside_report, shard) {
        (Some(dir), Some(s)) => dir.join(format!("app.shard-{}-of-{}.log", s.k, s.n)),
        (Some(dir), None) => dir.join("app.log"),
        (None, _) => std::env::temp_dir().join(format!("reel-app-{}.log", std::process::id())),
    }
}

/// How a replay ended.
pub enum Ended {
    Ran(RunReport),
    /// A signal stopped it; the app and the mocks are stopped.
    Interrupted(Signal),
}

impl Ended {
    /// The report, or an error naming the signal (for commands that replay
    /// as one step of more).
    pub fn report(self) -> anyhow::Result<RunReport> {
        match self {
            Ended::Ran(r) => Ok(r),
            Ended::Interrupted(s) => anyhow::bail!("interrupted by {s}"),
        }
    }
}

/// What reel says and the exit code after a signal: 128 + its number, as a
/// shell reports a process the signal ended.
pub fn interrupted(s: Signal) -> ExitCode {
    eprintln!("reel: interrupted by {s}: the app and the mocks are stopped");
    ExitCode::from(128 + s as u8)
}

/// The signals that stop a run, listened for from before the app starts.
struct StopSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> anyhow::Result<Self> {
        let on = |kind: SignalKind, s: Signal| {
            signal(kind).with_context(|| format!("listening for {s}"))
        };
        Ok(StopSignals {
            int: on(SignalKind::interrupt(), Signal::SIGINT)?,
            term: on(SignalKind::terminate(), Signal::SIGTERM)?,
            hup: on(SignalKind::hangup(), Signal::SIGHUP)?,
            quit: on(SignalKind::quit(), Signal::SIGQUIT)?,
        })
    }

    /// The first of them to arrive.
    async fn first(mut self) -> Signal {
        tokio::select! {
            _ = self.int.recv() => Signal::SIGINT,
            _ = self.term.recv() => Signal::SIGTERM,
            _ = self.hup.recv() => Signal::SIGHUP,
            _ = self.quit.recv() => Signal::SIGQUIT,
        }
    }
}

/// How often a progress line is printed when output is not a terminal.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// A case still running this long (or a third of `--case-timeout`, if that is
/// shorter) is named, and again each time as long.
const SLOW_CASE: Duration = Duration::from_secs(10);

/// Where the run stands, as the progress output sees it.
#[derive(Default)]
struct Tally {
    total: usize,
    done: usize,
    passed: usize,
    failed: usize,
    /// The case being sent and since when.
    current: Option<(String, Instant)>,
    /// How many [`SLOW_CASE`] periods of the current case were reported.
    slow_told: u32,
}

/// Runs the suite with progress output; a signal ends it as [`Ended::Interrupted`].
pub async fn replay(
    suite: &reel_core::suite::LoadedSuite,
    cfg: &RunConfig,
) -> anyhow::Result<Ended> {
    // Handlers first: a signal during start-up must stop the app too.
    let signals = StopSignals::listen()?;
    let bar = std::io::stdout().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} cases {wide_bar} {elapsed} {msg}",
            )
            .expect("a valid template"),
        );
        b
    });
    let tally = RefCell::new(Tally::default());
    let run = runner::run(
        suite,
        cfg,
        |p| {
            let mut t = tally.borrow_mut();
            match p {
                Progress::Started { total, name, .. } => {
                    t.total = total;
                    t.current = Some((output::printable(name).into_owned(), Instant::now()));
                    t.slow_told = 0;
                    if let Some(b) = &bar {
                        b.set_length(total as u64);
                    }
                }
                Progress::Finished(c) => {
                    t.done += 1;
                    t.current = None;
                    match c.outcome {
                        Outcome::Passed => t.passed += 1,
                        Outcome::Failed => t.failed += 1,
                        Outcome::Skipped => {}
                    }
                    if let Some(b) = &bar {
                        b.set_message(format!("{} failed", t.failed));
                        b.inc(1);
                    }
                }
            }
        },
        signals.first(),
    );
    tokio::pin!(run);
    let slow_after = SLOW_CASE
        .min(cfg.request_timeout / 3)
        .max(Duration::from_secs(1));
    let started = Instant::now();
    let mut last_line = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let result = loop {
        tokio::select! {
            r = &mut run => break r,
            _ = tick.tick() => {
                let mut t = tally.borrow_mut();
                let slow = t.current.as_ref().map(|(n, since)| (n.clone(), since.elapsed()));
                if let Some((name, running)) = slow {
                    let periods = (running.as_millis() / slow_after.as_millis()) as u32;
                    match &bar {
                        Some(b) if running >= slow_after => b.set_message(format!(
                            "{} failed; {name} running {} s",
                            t.failed,
                            running.as_secs()
                        )),
                        Some(_) => {}
                        None if periods > t.slow_told => {
                            t.slow_told = periods;
                            eprintln!(
                                "reel: {name} still running after {} s (--case-timeout {} s)",
                                running.as_secs(),
                                cfg.request_timeout.as_secs()
                            );
                        }
                        None => {}
                    }
                }
                if bar.is_none() && t.total > 0 && last_line.elapsed() >= PROGRESS_EVERY {
                    last_line = Instant::now();
                    eprintln!(
                        "reel: {}/{} cases done ({} passed, {} failed) after {} s",
                        t.done,
                        t.total,
                        t.passed,
                        t.failed,
                        started.elapsed().as_secs()
                    );
                }
            }
        }
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match result {
        Ok(r) => Ok(Ended::Ran(r)),
        Err(ReplayError::Interrupted { signal }) => Ok(Ended::Interrupted(signal)),
        Err(e) => Err(e.into()),
    }
}

fn finish(
    args: &TestArgs,
    dir: &std::path::Path,
    suite: &reel_core::suite::LoadedSuite,
    report: &RunReport,
    app_log: &Path,
) -> anyhow::Result<ExitCode> {
    let colour = output::colour();
    let failures = output::failures(report, colour);
    if !failures.is_empty() {
        out!("{failures}");
    }
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    let write_pending = args.write_pending || !in_ci;
    let mut pending_written = 0;
    if write_pending {
        for (case, result) in suite.cases.iter().filter_map(|c| {
            report
                .cases
                .iter()
                .find(|r| r.file == c.path)
                .map(|r| (c, r))
        }) {
            match result.outcome {
                Outcome::Failed => {
                    if pending::write(case, result)?.is_some() {
                        pending_written += 1;
                    }
                }
                Outcome::Passed => pending::clear(&case.path)?,
                Outcome::Skipped => {}
            }
        }
    }
    if let Some(spec) = &args.report {
        for (kind, path) in output::write_reports(spec, report)? {
            out!("{kind} report: {}", path.display());
        }
    }
    if pending_written > 0 {
        out!(
            "{pending_written} pending snapshots written; review them with: reel review {}",
            dir.display()
        );
    } else if report.failed > 0 && in_ci && !args.write_pending {
        out!("CI is set: no pending snapshots written (use --write-pending to write them)");
    }
    if app_log.exists() {
        out!("app output: {}", app_log.display());
    }
    out!("{}", output::closing_line(report));
    Ok(if report.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
