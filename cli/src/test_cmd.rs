//! `reel test`: replay a suite and show what changed.
//!
//! The run shows its progress as [`crate::replay`] does; a signal stops it and
//! reel exits with 128 + the signal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use reel_core::suite::load_suite;
use reel_replay::runner::RunConfig;
use reel_replay::shard::Shard;
use reel_replay::{pending, Outcome, RunReport};

use crate::args::TestArgs;
use crate::output;
use crate::replay::{self, interrupted, Ended};
use crate::values::Reports;

pub fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.clone().context(
        "give the suite folder: reel test DIR, or dir in reel.toml's [test] (or out in [generate])",
    )?;
    let mut suite = load_suite(&dir)?;
    let shard = args.shard;
    let app_log = app_log_path(args.report.as_ref(), shard);
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
        recorded_waits: args.recorded_waits,
        secrets: secrets(args.secrets.as_deref())?,
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
            match runtime.block_on(replay::run(&suite, &cfg))? {
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
    let report = match runtime.block_on(replay::run(&suite, &cfg))? {
        Ended::Ran(r) => r,
        Ended::Interrupted(s) => return Ok(interrupted(s)),
    };
    finish(&args, &dir, &suite, &report, &app_log, &cfg)
}

/// The values of `${secret:NAME}` placeholders: `--secrets FILE`, else the
/// secrets file beside the store (REEL_STORE, else .reel/reel.db).
pub fn secrets(given: Option<&Path>) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    let file = given.map(Path::to_owned).unwrap_or_else(|| {
        let store = std::env::var_os("REEL_STORE").unwrap_or_else(|| ".reel/reel.db".into());
        reel_core::secrets::file_beside(Path::new(&store))
    });
    Ok(reel_core::secrets::load_file(&file)?)
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
fn app_log_path(reports: Option<&Reports>, shard: Option<Shard>) -> PathBuf {
    match (reports.and_then(Reports::first_dir), shard) {
        (Some(dir), Some(s)) => dir.join(format!("app.shard-{}-of-{}.log", s.k, s.n)),
        (Some(dir), None) => dir.join("app.log"),
        (None, _) => std::env::temp_dir().join(format!("reel-app-{}.log", std::process::id())),
    }
}

fn finish(
    args: &TestArgs,
    dir: &std::path::Path,
    suite: &reel_core::suite::LoadedSuite,
    report: &RunReport,
    app_log: &Path,
    cfg: &RunConfig,
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
    if write_pending {
        // For `reel review --web`: what this run found, beside its pending
        // snapshots, in a git-ignored folder of the suite.
        // A run that cannot be kept costs the review, not the run.
        let settings = reel_replay::review::RunSettings::of(cfg);
        if let Err(e) = reel_replay::review::save_run(dir, report, Some(settings)) {
            out!("note: this run is not kept for reel review --web: {e}");
        }
    }
    if let Some(reports) = &args.report {
        for (kind, path) in output::write_reports(reports, report)? {
            out!("{kind} report: {}", path.display());
        }
    }
    if pending_written > 0 {
        out!(
            "{pending_written} pending snapshots written; review them with: reel review {} (add --web for a browser)",
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
