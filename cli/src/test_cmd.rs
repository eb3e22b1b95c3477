//! `reel test`: replay a suite and show what changed.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use reel_core::suite::load_suite;
use reel_replay::runner::{self, RunConfig};
use reel_replay::shard::Shard;
use reel_replay::{pending, Outcome, RunReport};

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
    let cfg = RunConfig {
        target: args.target.clone(),
        app: args.app.clone(),
        ready: args.ready.clone(),
        ready_timeout: Duration::from_secs(args.ready_timeout),
        shard: args.shard.as_deref().map(Shard::parse).transpose()?,
        strict: args.strict,
        freeze_time: args.freeze_time,
        secrets: reel_core::generate::secrets::load_file(&args.secrets.clone().unwrap_or_else(
            || {
                let store =
                    std::env::var_os("REEL_STORE").unwrap_or_else(|| ".reel/reel.db".into());
                crate::generate::secrets_path(std::path::Path::new(&store))
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
                Some(r) => runs.push(r),
                None => return Ok(ExitCode::from(130)),
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
        let saved = std::fs::write(&file, &full);
        out_part!(
            "{summary}{}",
            reel_replay::stability::render(
                &loosened,
                &unexplained,
                Some(25),
                saved.is_ok().then_some(file.as_path())
            )
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
    let report = runtime.block_on(replay(&suite, &cfg))?;
    let Some(report) = report else {
        eprintln!("reel: interrupted");
        return Ok(ExitCode::from(130));
    };
    finish(&args, &dir, &suite, &report)
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

/// Runs with a progress bar on a terminal; None when interrupted by Ctrl-C
/// (the app and mocks are stopped as the run is dropped).
pub async fn replay(
    suite: &reel_core::suite::LoadedSuite,
    cfg: &RunConfig,
) -> anyhow::Result<Option<RunReport>> {
    let total = suite
        .cases
        .iter()
        .enumerate()
        .filter(|(i, _)| cfg.shard.is_none_or(|s| s.includes(*i, suite.cases.len())))
        .count();
    let bar = if std::io::stdout().is_terminal() {
        let b = indicatif::ProgressBar::new(total as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos}/{len} cases {wide_bar} {elapsed} {msg}",
            )
            .expect("a valid template"),
        );
        Some(b)
    } else {
        None
    };
    let mut failed = 0;
    let run = runner::run(suite, cfg, |c| {
        if c.outcome == Outcome::Failed {
            failed += 1;
        }
        if let Some(b) = &bar {
            b.set_message(format!("{failed} failed"));
            b.inc(1);
        }
    });
    let result = tokio::select! {
        r = run => Some(r?),
        _ = tokio::signal::ctrl_c() => None,
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(result)
}

fn finish(
    args: &TestArgs,
    dir: &std::path::Path,
    suite: &reel_core::suite::LoadedSuite,
    report: &RunReport,
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
    out!("{}", output::closing_line(report));
    Ok(if report.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
