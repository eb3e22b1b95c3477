//! `reel generate`: a recorded session becomes a suite folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use reel_core::filter::FilterSummary;
use reel_core::generate::{generate_into, slug, Made, Options};
use reel_core::secrets::SecretRules;
use reel_core::Store;

use crate::args::GenerateArgs;
use crate::output::printable;

mod sealed;
mod verify;

pub fn run(args: GenerateArgs, secret_rules: SecretRules) -> anyhow::Result<ExitCode> {
    let session = args.session.as_deref().context(
        "give the session: reel generate SESSION, or session in reel.toml's [generate] or [record]",
    )?;
    let store = Store::open_existing(&args.store.store, false)?;
    let summary = store.find_session(session)?;
    let options = Options {
        dedup: args.dedup,
        secret_rules,
        // Undocumented, for tests: the suite is the same at any window.
        window: std::env::var("REEL_GENERATE_WINDOW")
            .ok()
            .and_then(|w| w.parse().ok())
            .unwrap_or(0),
    };
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("reel").join(slug(&format!("/{}", summary.session.name))));
    let g = generate_into(&store, &summary.session, &options, &out)?;
    // Every list complete in a file beside the suite; bounded on screen.
    let summary_file = out.join("generate.txt");
    let mut full = describe_bounded(&out, &g, None, None);
    // What generate found is recorded content: escaped for the terminal.
    out_part!(
        "{}",
        printable(&describe_bounded(
            &out,
            &g,
            Some(SHOWN),
            Some(&summary_file)
        ))
    );
    if let Some(f) = FilterSummary::from_setup(&summary.session.setup) {
        if f.left_out() > 0 {
            out!(
                "  {} inbound requests were left out when recording (--include, --exclude, --sample): they have no case, and the dependency calls they made are in mocks/shared.jsonl",
                f.left_out()
            );
        }
    }
    if !g.secrets.is_empty() {
        let path = reel_core::secrets::file_beside(&args.store.store);
        g.secrets.save(&path)?;
        out!(
            "  {} secret values were replaced by ${{secret:NAME}} placeholders; the recorded values are in {} (git-ignored)",
            g.secrets.values().len(),
            path.display()
        );
    }
    if let Some(runs) = args.verify {
        let v = verify::Verify {
            runs,
            app: args.app,
            target: args.target,
            ready: args.ready,
            ready_timeout: std::time::Duration::from_secs(args.ready_timeout),
            reset: args.reset,
            secrets: g.secrets.values().clone(),
        };
        let verified = verify::verify(&out, &summary.session, &v)?;
        full.push_str(&verify::describe(&verified, None, None));
        full.push_str(&sealed::describe(&verified.sealed, None, None));
        out_part!(
            "{}",
            printable(&verify::describe(
                &verified,
                Some(SHOWN),
                Some(&summary_file)
            ))
        );
        out_part!(
            "{}",
            printable(&sealed::describe(
                &verified.sealed,
                Some(SHOWN),
                Some(&summary_file)
            ))
        );
        save_summary(&summary_file, &full);
        if !verified.unexplained.is_empty() || !verified.sealed.missing.is_empty() {
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    save_summary(&summary_file, &full);
    Ok(ExitCode::SUCCESS)
}

/// How many rows of each list the terminal shows.
const SHOWN: usize = 25;

fn save_summary(path: &std::path::Path, text: &str) {
    match reel_core::files::replace(path, text.as_bytes()) {
        Ok(()) => out!("  the complete summary is in {}", path.display()),
        Err(e) => out!("  cannot write {}: {e}", path.display()),
    }
}

/// The summary `generate` prints: counts, then every decision worth a look,
/// each list cut at [`SHOWN`] rows.
pub fn describe(out: &std::path::Path, g: &Made) -> String {
    describe_bounded(out, g, Some(SHOWN), None)
}

/// [`describe`] with each list cut at `limit` rows (None: all of them),
/// naming `full` as where the rest is.
pub fn describe_bounded(
    out: &std::path::Path,
    g: &Made,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
) -> String {
    // Counted as written: the Postgres groups of cases --dedup dropped are not.
    let c = &g.counts;
    let in_cases = c.http_in_cases + c.pg_in_cases;
    let startup = c.http_startup + c.pg_startup;
    let shared = c.http_shared + c.pg_shared;
    let http = c.http_in_cases + c.http_startup + c.http_shared;
    let postgres = c.pg_in_cases + c.pg_startup + c.pg_shared;
    let mut s = format!(
        "Generated suite {} from session {} \"{}\": {} cases, {} mocks \
         ({http} http, {postgres} postgres; {in_cases} in cases, {startup} startup, {shared} shared)\n",
        out.display(),
        g.suite.session.id,
        g.suite.session.name,
        c.cases,
        http + postgres,
    );
    let r = &g.report;
    if !r.attributed.is_empty() {
        s.push_str(&format!(
            "  {} dependency calls were made while several cases were in flight; each went to the one case whose transaction or values it carried:\n",
            r.attributed.len()
        ));
        let rows: Vec<[String; 3]> = r
            .attributed
            .iter()
            .map(|(seq, call, case)| [case.clone(), format!("#{seq}"), call.clone()])
            .collect();
        let rows = rows.iter().map(|[a, b, c]| [a.as_str(), b, c]);
        table(&mut s, ["CASE", "CALL", "WHAT"], rows, limit, full);
    }
    if r.shared_housekeeping > 0 {
        s.push_str(&format!(
            "  {} connection housekeeping calls (pool resets, session settings) were made while several cases were in flight; they went to mocks/shared.jsonl, where they answer any case\n",
            r.shared_housekeeping
        ));
    }
    if !r.ambiguous.is_empty() {
        s.push_str(&format!(
            "  {} dependency calls were made while several cases were in flight and carried nothing only one of them knew; they went to mocks/shared.jsonl:\n",
            r.ambiguous.len()
        ));
        let rows: Vec<[String; 3]> = r
            .ambiguous
            .iter()
            .map(|(seq, call, cases)| [format!("#{seq}"), cases.join(", "), call.clone()])
            .collect();
        let rows = rows.iter().map(|[a, b, c]| [a.as_str(), b, c]);
        table(&mut s, ["CALL", "DURING", "WHAT"], rows, limit, full);
    }
    exchange_list(
        &mut s,
        limit,
        full,
        "dependency calls happened between cases; they went to mocks/shared.jsonl",
        &r.outside,
    );
    exchange_list(
        &mut s,
        limit,
        full,
        "inbound exchanges were left out because the app never answered them",
        &r.skipped,
    );
    exchange_list(
        &mut s,
        limit,
        full,
        "Postgres requests were left out because the mock could not answer them as recorded (never answered, or cut at --max-body)",
        &r.unanswered,
    );
    if !r.unsupported.is_empty() {
        s.push_str(&format!(
            "  {} exchanges use protocols this reel cannot replay yet and were left out\n",
            r.unsupported.len()
        ));
    }
    if !r.nonces.is_empty() {
        s.push_str(&format!(
            "  {} request headers are named like secrets but carry a new value on every request that no later call uses; they are per-request nonces, kept as recorded, not secrets:\n",
            r.nonces.len()
        ));
        for (name, n) in &r.nonces {
            s.push_str(&format!("    {name} ({n} requests, {n} values)\n"));
        }
        if r.redacted_nonces > 0 {
            s.push_str(&format!(
                "    {} of their values were redacted at record time; each is sent as a stand-in, reel-nonce-<case>\n",
                r.redacted_nonces
            ));
        }
    }
    if !r.chained.is_empty() {
        s.push_str(&format!(
            "  {} recorded values came from earlier answers and now refer to them:\n",
            r.chained.len()
        ));
        let rows = r.chained.iter().map(|(c, w, to)| [c.as_str(), w, to]);
        table(&mut s, ["CASE", "WHERE", "REFERS TO"], rows, limit, full);
    }
    if !r.unlinked.is_empty() {
        s.push_str(&format!(
            "  {} recorded values could have come from more than one earlier answer; they are kept as recorded:\n",
            r.unlinked.len()
        ));
        let rows = r.unlinked.iter().map(|(case, place, candidates)| {
            format!("{case} {place}: {}", candidates.join(" or "))
        });
        lines(&mut s, rows, limit, full);
    }
    if !r.deduplicated.is_empty() {
        let dropped: usize = r.deduplicated.iter().map(|(_, d)| d.len()).sum();
        s.push_str(&format!(
            "  --dedup dropped {dropped} read cases of a shape already covered (writes are always kept):\n"
        ));
        let rows = r.deduplicated.iter().map(|(kept, stands_for)| {
            // Bounded on screen: a busy endpoint may stand for thousands.
            let names = match limit {
                Some(n) if stands_for.len() > n => format!(
                    "{} … and {} more",
                    stands_for[..n].join(", "),
                    stands_for.len() - n
                ),
                _ => stands_for.join(", "),
            };
            format!("{kept} stands for {names}")
        });
        lines(&mut s, rows, limit, full);
    }
    if !r.repeats.is_empty() {
        s.push_str(&format!(
            "  {} fields differed across repeats of the same call and are matched by type:\n",
            r.repeats.len()
        ));
        let rows = r.repeats.iter().map(|(c, p, k)| [c.as_str(), p, k]);
        table(&mut s, ["CASE", "PATH", "MATCHER"], rows, limit, full);
    }
    if !r.matchers.is_empty() {
        s.push_str(&format!(
            "  {} values are volatile by format and are matched by kind, not value:\n",
            r.matchers.len()
        ));
        let rows = r.matchers.iter().map(|(c, p, k)| [c.as_str(), p, k]);
        table(&mut s, ["CASE", "PATH", "MATCHER"], rows, limit, full);
    }
    if !r.param_matchers.is_empty() {
        s.push_str(&format!(
            "  {} values the app sends its dependencies are made afresh on every run and are matched by kind in the mock lines:\n",
            r.param_matchers.len()
        ));
        let whys: Vec<String> = r
            .param_matchers
            .iter()
            .map(|p| format!("{}: {}", p.kind, p.why))
            .collect();
        let rows = r
            .param_matchers
            .iter()
            .zip(&whys)
            .map(|(p, why)| [p.mock.as_str(), p.param.as_str(), why.as_str()]);
        table(&mut s, ["MOCK", "PARAMETER", "MATCHER"], rows, limit, full);
    }
    s
}

/// "  N WHAT:" and one "    #seq text" line per exchange; nothing when empty.
fn exchange_list(
    s: &mut String,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
    what: &str,
    items: &[(i64, String)],
) {
    if items.is_empty() {
        return;
    }
    s.push_str(&format!("  {} {what}:\n", items.len()));
    let rows = items.iter().map(|(seq, text)| format!("#{seq} {text}"));
    lines(s, rows, limit, full);
}

/// The first `limit` lines, then how many more there are and where all of
/// them are.
fn lines(
    s: &mut String,
    rows: impl ExactSizeIterator<Item = String>,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
) {
    let total = rows.len();
    let shown = limit.unwrap_or(usize::MAX);
    for row in rows.take(shown) {
        s.push_str(&format!("    {row}\n"));
    }
    more(s, total, shown, full);
}

/// A three-column table of the first `limit` rows, then how many more there
/// are and where all of them are.
fn table<'a>(
    s: &mut String,
    header: [&'a str; 3],
    rows: impl ExactSizeIterator<Item = [&'a str; 3]>,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
) {
    let total = rows.len();
    let shown = limit.unwrap_or(usize::MAX);
    for [a, b, c] in std::iter::once(header).chain(rows.take(shown)) {
        s.push_str(&format!("    {a:<36} {b:<32} {c}\n"));
    }
    more(s, total, shown, full);
}

/// The line after a cut list: how many more, and where all of them are.
fn more(s: &mut String, total: usize, shown: usize, full: Option<&std::path::Path>) {
    if total > shown {
        s.push_str(&format!("    … and {} more", total - shown));
        if let Some(f) = full {
            s.push_str(&format!(" (all in {})", f.display()));
        }
        s.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::describe_bounded;

    /// Issue 14: `--dedup` on a big session printed one 7 MB line. Every
    /// list is cut on screen and whole in the file.
    #[test]
    fn every_list_in_the_summary_is_bounded_on_screen() {
        let session = reel_core::Session {
            id: 1,
            name: "big".into(),
            started_at: reel_core::time::Micros(0),
            ended_at: Some(reel_core::time::Micros(1)),
            target: "http://127.0.0.1:1".into(),
            notes: None,
            dropped: 0,
            setup: serde_json::json!({}),
        };
        let mut g = reel_core::generate::generate(&session, &[]).made();
        let names: Vec<String> = (0..5000).map(|i| format!("{i:05}-get-books")).collect();
        g.report.deduplicated = vec![("00000-get-books".into(), names)];
        g.report.outside = (0..300)
            .map(|i| (i, format!("pricing: GET /p/{i}")))
            .collect();
        g.report.unlinked = (0..300)
            .map(|i| {
                (
                    format!("{i:04}-x"),
                    "path".into(),
                    vec!["a".into(), "b".into()],
                )
            })
            .collect();
        let out = std::path::Path::new("suite");
        let file = std::path::Path::new("suite/generate.txt");
        let screen = describe_bounded(out, &g, Some(20), Some(file));
        assert!(screen.len() < 8_000, "{} bytes on screen", screen.len());
        assert!(screen.contains("… and 4980 more"), "{screen}");
        assert_eq!(
            screen
                .matches("… and 280 more (all in suite/generate.txt)")
                .count(),
            2
        );
        let whole = describe_bounded(out, &g, None, None);
        assert!(whole.contains("04999-get-books") && whole.contains("#299 pricing: GET /p/299"));
    }
}
