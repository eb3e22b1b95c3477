//! `reel review` and `reel accept`: take pending snapshots, the way
//! `cargo insta review` does.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use reel_core::suite::load::{case_stem, load_case};
use reel_core::suite::{Noise, SuiteFile};
use reel_replay::compare::{compared_headers, render, Rules};
use reel_replay::diff::{colourize, unified};
use reel_replay::pending::{self, pending_path};

use crate::args::{AcceptArgs, ReviewArgs};
use crate::output::{colour, printable};

/// The change a pending snapshot makes to a case, as a unified diff.
/// Headers the suite ignores stay out of it.
fn change(case: &Path, suite_noise: &Noise) -> anyhow::Result<String> {
    let old = load_case(case)?;
    let new = load_case(&pending_path(case))?;
    let rules = Rules::new(&[suite_noise, &old.noise]);
    let show = |r: &reel_core::suite::ResponseSpec| {
        render(
            r.status,
            &compared_headers(&r.headers, &rules),
            r.body.as_ref(),
        )
    };
    Ok(unified(&show(&old.response), &show(&new.response)))
}

pub fn review(args: ReviewArgs) -> anyhow::Result<ExitCode> {
    if args.web {
        return web(args);
    }
    let items = pending::list(&args.dir)?;
    if items.is_empty() {
        out!("No pending snapshots in {}", args.dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let suite_path = args.dir.join("suite.json");
    let suite: SuiteFile =
        reel_core::suite::load::parse(&suite_path, &reel_core::suite::load::read(&suite_path)?)?;
    let colour = colour();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let (mut accepted, mut rejected, mut skipped) = (0, 0, 0);
    let total = items.len();
    for (n, (case, _)) in items.iter().enumerate() {
        let diff = change(case, &suite.noise)?;
        out!(
            "[{}/{total}] {}  ({})",
            n + 1,
            printable(&case_stem(case)),
            printable(&case.display().to_string())
        );
        let diff = printable(&diff);
        let diff = if colour {
            colourize(&diff)
        } else {
            diff.into_owned()
        };
        out_part!("{diff}");
        loop {
            out_part!("  a accept, r reject, s skip, q quit: ");
            std::io::stdout().flush()?;
            let Some(line) = lines.next().transpose()? else {
                // End of input: leave the rest pending.
                out!();
                skipped += total - n;
                return summary(accepted, rejected, skipped);
            };
            match line.trim() {
                "a" | "accept" => {
                    pending::accept(case)?;
                    accepted += 1;
                }
                "r" | "reject" => {
                    pending::reject(case)?;
                    rejected += 1;
                }
                "s" | "skip" | "" => skipped += 1,
                "q" | "quit" => {
                    skipped += total - n;
                    return summary(accepted, rejected, skipped);
                }
                _ => continue,
            }
            break;
        }
    }
    summary(accepted, rejected, skipped)
}

fn summary(accepted: usize, rejected: usize, skipped: usize) -> anyhow::Result<ExitCode> {
    out!("accepted {accepted}, rejected {rejected}, skipped {skipped}");
    Ok(ExitCode::SUCCESS)
}

pub fn accept(args: AcceptArgs) -> anyhow::Result<ExitCode> {
    let items = pending::list(&args.dir)?;
    if !args.all && args.cases.is_empty() {
        anyhow::bail!("name the cases to accept, or give --all");
    }
    let chosen: Vec<&Path> = if args.all {
        items.iter().map(|(c, _)| c.as_path()).collect()
    } else {
        let mut out = Vec::new();
        for name in &args.cases {
            let name = name.trim_end_matches(".json");
            let found = items.iter().find(|(c, _)| case_stem(c) == name);
            match found {
                Some((c, _)) => out.push(c.as_path()),
                None => anyhow::bail!(
                    "no pending snapshot for case '{name}' in {}",
                    args.dir.display()
                ),
            }
        }
        out
    };
    for c in &chosen {
        pending::accept(c)?;
        out!("accepted {}", case_stem(c));
    }
    out!("{} snapshots accepted", chosen.len());
    Ok(ExitCode::SUCCESS)
}

/// `reel review --web`: serve the suite's last run to a browser until
/// Ctrl-C or SIGTERM.
fn web(args: ReviewArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    use reel_replay::review::{web, Overrides, Review};
    let base = reel_replay::runner::RunConfig {
        secrets: crate::test_cmd::secrets(args.secrets.as_deref())?,
        app_log: Some(
            std::env::temp_dir().join(format!("reel-review-app-{}.log", std::process::id())),
        ),
        ..Default::default()
    };
    let overrides = Overrides {
        app: args.app.clone(),
        target: args.target.clone(),
        ready: args.ready.clone(),
    };
    let review = Review::open(&args.dir, base, overrides)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = web::bind(&args.listen).await?;
        let addr = listener.local_addr().context("reading the address served")?;
        let token = web::token().context("making the review's token from /dev/urandom")?;
        if !addr.ip().is_loopback() {
            out!("warning: serving on {addr}, which is not loopback: anyone who can reach it and learns the token can change the suite");
        }
        out!("reel review: http://{addr}/?token={token}");
        out!("  open it in a browser; decisions are written to {}; Ctrl-C stops the review", args.dir.display());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("listening for SIGTERM")?;
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        web::serve(review, listener, token, stop).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
