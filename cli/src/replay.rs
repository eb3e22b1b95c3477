//! Replaying a suite from the command line: a progress bar on a terminal,
//! else a progress line every few seconds and a line naming a case that is
//! taking long; SIGINT, SIGTERM, SIGHUP and SIGQUIT stop the run, the app's
//! whole process group and the mocks. `reel test`, `reel generate --verify`
//! and `reel demo` all replay through [`run`].

use std::cell::RefCell;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use reel_replay::runner::{self, Progress, RunConfig, Signal};
use reel_replay::{Outcome, ReplayError, RunReport};
use tokio::signal::unix::{signal, SignalKind};

use crate::output;

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
pub async fn run(suite: &reel_core::suite::LoadedSuite, cfg: &RunConfig) -> anyhow::Result<Ended> {
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
