//! The sealed half of `reel generate --verify`: the new suite replayed
//! against reel's own mocks, with no real dependency, as `reel test` will
//! run it. Calls the mocks cannot match show which values the app makes
//! afresh in its dependency requests; those that differ between runs become
//! matchers in the mock lines ([`reel_replay::sealed`]), round after round
//! until nothing more is loosened, since a call that failed can hide the
//! calls after it. What still misses is listed, and generate exits 1.

use std::path::Path;

use anyhow::Context as _;
use reel_core::suite::load_suite;
use reel_replay::runner::RunConfig;
use reel_replay::sealed::{loosen_calls, still_missing, CallLoosened, StillMissing};

/// Rounds of sealed runs at most: each can uncover the calls a miss hid.
const ROUNDS: usize = 3;

/// What the sealed runs found.
#[derive(Debug, Default)]
pub struct Sealed {
    pub runs: u32,
    pub loosened: Vec<CallLoosened>,
    pub missing: Vec<StillMissing>,
}

/// Replays the suite in `out` sealed, `runs` times a round (at least 2, so
/// that values can differ). No `--reset` here: nothing real is reached, and
/// the mocks start afresh with every run.
pub async fn verify_sealed(out: &Path, base: &RunConfig, runs: u32) -> anyhow::Result<Sealed> {
    let cfg = RunConfig {
        real_dependencies: false,
        ..base.clone()
    };
    let runs = runs.max(2);
    let mut sealed = Sealed {
        runs,
        ..Sealed::default()
    };
    for round in 0..=ROUNDS {
        let suite = load_suite(out)?;
        let mut reports = Vec::new();
        for _ in 0..runs {
            let ended = crate::replay::run(&suite, &cfg)
                .await
                .context("--verify (sealed)")?;
            reports.push(ended.report().context("--verify (sealed)")?);
        }
        let loosened = if round < ROUNDS {
            loosen_calls(&suite, &reports, true)?
        } else {
            Vec::new()
        };
        if loosened.is_empty() {
            sealed.missing = still_missing(&reports);
            break;
        }
        sealed.loosened.extend(loosened);
    }
    Ok(sealed)
}

/// What `generate --verify` prints about the sealed runs: each list cut to
/// `limit` rows, pointing to `full` for the rest.
pub fn describe(s: &Sealed, limit: Option<usize>, full: Option<&Path>) -> String {
    let mut out = format!(
        "  --verify sealed: replayed every case {} times against reel's own mocks (no real dependency)",
        s.runs
    );
    if s.loosened.is_empty() {
        out.push_str("; no dependency call differed between runs\n");
    } else {
        let n = s.loosened.len();
        out.push_str(&format!(
            "; {n} {} the app sends its dependencies differed and {} now matched by kind in the mock lines:\n",
            if n == 1 { "value" } else { "values" },
            if n == 1 { "is" } else { "are" },
        ));
        let rows = s.loosened.iter().map(|l| {
            [
                l.mock.clone(),
                l.path.clone(),
                format!("{}: {}", l.kind, l.why),
            ]
        });
        super::table(&mut out, ["MOCK", "WHERE", "WHY"], rows, n, limit, full);
    }
    if !s.missing.is_empty() {
        out.push_str(&format!(
            "  {} dependency calls still matched no recording in those runs; these cases will fail on replay:\n",
            s.missing.len()
        ));
        for m in &s.missing {
            let runs: Vec<String> = m.runs.iter().map(usize::to_string).collect();
            let label = if runs.len() == 1 { "run" } else { "runs" };
            out.push_str(&format!(
                "    {:<36} {label} {}: {}\n",
                m.case,
                runs.join(", "),
                m.call
            ));
        }
    }
    out
}
