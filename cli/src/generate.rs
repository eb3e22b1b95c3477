//! `reel generate`: a recorded session becomes a suite folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use reel_core::filter::FilterSummary;
use std::fmt::Write;

use reel_core::generate::{generate_into, slug, Made, Options, Rows};
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
    let mut g = generate_into(&store, &summary.session, &options, &out)?;
    // Every list complete in a file beside the suite; bounded on screen.
    let summary_file = out.join("generate.txt");
    // What generate found is recorded content: escaped for the terminal.
    out_part!(
        "{}",
        printable(&describe_bounded(
            &out,
            &mut g,
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
        let mut extra = verify::describe(&verified, None, None);
        extra.push_str(&sealed::describe(&verified.sealed, None, None));
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
        save_summary(&summary_file, &out, &mut g, &extra);
        if !verified.unexplained.is_empty() || !verified.sealed.missing.is_empty() {
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    save_summary(&summary_file, &out, &mut g, "");
    Ok(ExitCode::SUCCESS)
}

/// How many rows of each list the terminal shows.
const SHOWN: usize = 25;

/// Writes the complete summary (every row of every list) to `path`,
/// streaming the lists that spilled to temporary files; then says where.
fn save_summary(path: &std::path::Path, out: &std::path::Path, g: &mut Made, extra: &str) {
    let written = (|| -> std::io::Result<()> {
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        {
            let mut w = IoText {
                inner: std::io::BufWriter::new(tmp.as_file_mut()),
                error: None,
            };
            describe_into(&mut w, out, g, None, None);
            let _ = std::fmt::Write::write_str(&mut w, extra);
            if let Some(e) = w.error {
                return Err(e);
            }
            std::io::Write::flush(&mut w.inner)?;
        }
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    })();
    match written {
        Ok(()) => out!("  the complete summary is in {}", path.display()),
        Err(e) => out!("  cannot write {}: {e}", path.display()),
    }
}

/// A file written through `std::fmt::Write`, keeping the first error.
struct IoText<W: std::io::Write> {
    inner: W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> std::fmt::Write for IoText<W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.error.is_none() {
            if let Err(e) = self.inner.write_all(s.as_bytes()) {
                self.error = Some(e);
            }
        }
        Ok(())
    }
}

/// The summary `generate` prints: counts, then every decision worth a look,
/// each list cut at [`SHOWN`] rows.
pub fn describe(out: &std::path::Path, g: &mut Made) -> String {
    describe_bounded(out, g, Some(SHOWN), None)
}

/// [`describe`] with each list cut at `limit` rows (None: all of them),
/// naming `full` as where the rest is.
pub fn describe_bounded(
    out: &std::path::Path,
    g: &mut Made,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
) -> String {
    let mut s = String::new();
    describe_into(&mut s, out, g, limit, full);
    s
}

/// A list's rows to show: the first `limit` of those in memory, or with no
/// limit every row (read back from its file when it spilled).
fn rows<'a, T: reel_core::generate::rows::Row + Clone + 'a>(
    rows: &'a mut Rows<T>,
    limit: Option<usize>,
) -> Box<dyn Iterator<Item = T> + 'a> {
    match limit {
        Some(n) => Box::new(rows.head().iter().take(n).cloned()),
        None => Box::new(rows.all()),
    }
}

fn describe_into(
    s: &mut dyn Write,
    out: &std::path::Path,
    g: &mut Made,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
) {
    // Counted as written: the Postgres groups of cases --dedup dropped are not.
    let c = g.counts;
    let in_cases = c.http_in_cases + c.pg_in_cases + c.redis_in_cases + c.mysql_in_cases;
    let startup = c.http_startup + c.pg_startup + c.redis_startup + c.mysql_startup;
    let shared = c.http_shared + c.pg_shared + c.redis_shared + c.mysql_shared;
    let http = c.http_in_cases + c.http_startup + c.http_shared;
    let postgres = c.pg_in_cases + c.pg_startup + c.pg_shared;
    let redis = c.redis_in_cases + c.redis_startup + c.redis_shared;
    let mysql = c.mysql_in_cases + c.mysql_startup + c.mysql_shared;
    let mut redis_part = String::new();
    if redis > 0 {
        redis_part.push_str(&format!(", {redis} redis"));
    }
    if mysql > 0 {
        redis_part.push_str(&format!(", {mysql} mysql"));
    }
    let _ = writeln!(
        s,
        "Generated suite {} from session {} \"{}\": {} cases, {} mocks \
         ({http} http, {postgres} postgres{redis_part}; {in_cases} in cases, {startup} startup, {shared} shared)",
        out.display(),
        g.suite.session.id,
        g.suite.session.name,
        c.cases,
        http + postgres + redis + mysql,
    );
    // Calls are quoted (their SQL) with the secrets known at the end: one
    // found after a call's row was made is replaced here too.
    let secrets = &g.secrets;
    let r = &mut g.report;
    if !r.attributed.is_empty() {
        let _ = writeln!(
            s,
            "  {} dependency calls were made while several cases were in flight; each went to the one case whose transaction or values it carried:",
            r.attributed.len()
        );
        let total = r.attributed.len();
        let shown = rows(&mut r.attributed, limit)
            .map(|(seq, call, case)| [case, format!("#{seq}"), secrets.scrub_text(&call)]);
        table(s, ["CASE", "CALL", "WHAT"], shown, total, limit, full);
    }
    if r.shared_housekeeping > 0 {
        let _ = writeln!(
            s,
            "  {} connection housekeeping calls (pool resets, session settings) were made while several cases were in flight; they went to mocks/shared.jsonl, where they answer any case",
            r.shared_housekeeping
        );
    }
    if !r.ambiguous.is_empty() {
        let _ = writeln!(
            s,
            "  {} dependency calls were made while several cases were in flight and carried nothing only one of them knew; they went to mocks/shared.jsonl:",
            r.ambiguous.len()
        );
        let total = r.ambiguous.len();
        let shown = rows(&mut r.ambiguous, limit).map(|(seq, call, cases)| {
            [
                format!("#{seq}"),
                cases.join(", "),
                secrets.scrub_text(&call),
            ]
        });
        table(s, ["CALL", "DURING", "WHAT"], shown, total, limit, full);
    }
    exchange_list(
        s,
        limit,
        full,
        "dependency calls happened between cases; they went to mocks/shared.jsonl",
        &mut r.outside,
        |call| secrets.scrub_text(call),
    );
    exchange_list(
        s,
        limit,
        full,
        "inbound exchanges were left out because the app never answered them",
        &mut r.skipped,
        str::to_owned,
    );
    exchange_list(
        s,
        limit,
        full,
        "Postgres requests, Redis and MySQL commands were left out because the mock could not answer them as recorded (never answered, or cut at --max-body)",
        &mut r.unanswered,
        str::to_owned,
    );
    if !r.unsupported.is_empty() {
        let _ = writeln!(
            s,
            "  {} exchanges use protocols this reel cannot replay yet and were left out",
            r.unsupported.len()
        );
    }
    if !r.nonces.is_empty() {
        let _ = writeln!(
            s,
            "  {} request headers are named like secrets but carry a new value on every request that no later call uses; they are per-request nonces, kept as recorded, not secrets:",
            r.nonces.len()
        );
        for (name, n) in &r.nonces {
            let _ = writeln!(s, "    {name} ({n} requests, {n} values)");
        }
        if r.redacted_nonces > 0 {
            let _ = writeln!(
                s,
                "    {} of their values were redacted at record time; each is sent as a stand-in, reel-nonce-<case>",
                r.redacted_nonces
            );
        }
    }
    if !r.chained.is_empty() {
        let _ = writeln!(
            s,
            "  {} recorded values came from earlier answers and now refer to them:",
            r.chained.len()
        );
        let total = r.chained.len();
        let shown = rows(&mut r.chained, limit).map(|(c, w, to)| [c, w, to]);
        table(s, ["CASE", "WHERE", "REFERS TO"], shown, total, limit, full);
    }
    if !r.unlinked.is_empty() {
        let _ = writeln!(
            s,
            "  {} recorded values could have come from more than one earlier answer; they are kept as recorded:",
            r.unlinked.len()
        );
        let total = r.unlinked.len();
        let shown = rows(&mut r.unlinked, limit).map(|(case, place, candidates)| {
            format!("{case} {place}: {}", candidates.join(" or "))
        });
        lines(s, shown, total, limit, full);
    }
    if !r.deduplicated.is_empty() {
        let dropped: usize = r.deduplicated.iter().map(|(_, d)| d.len()).sum();
        let _ = writeln!(
            s,
            "  --dedup dropped {dropped} read cases of a shape already covered (writes are always kept):"
        );
        let total = r.deduplicated.len();
        let shown = r.deduplicated.iter().map(|(kept, stands_for)| {
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
        lines(s, shown, total, limit, full);
    }
    if !r.repeats.is_empty() {
        let _ = writeln!(
            s,
            "  {} fields differed across repeats of the same call and are matched by type:",
            r.repeats.len()
        );
        let total = r.repeats.len();
        let shown = rows(&mut r.repeats, limit).map(|(c, p, k)| [c, p, k.to_owned()]);
        table(s, ["CASE", "PATH", "MATCHER"], shown, total, limit, full);
    }
    if !r.matchers.is_empty() {
        let _ = writeln!(
            s,
            "  {} values are volatile by format and are matched by kind, not value:",
            r.matchers.len()
        );
        let total = r.matchers.len();
        let shown = rows(&mut r.matchers, limit).map(|(c, p, k)| [c, p, k.to_owned()]);
        table(s, ["CASE", "PATH", "MATCHER"], shown, total, limit, full);
    }
    if !r.param_matchers.is_empty() {
        let _ = writeln!(
            s,
            "  {} values the app sends its dependencies are made afresh on every run and are matched by kind in the mock lines:",
            r.param_matchers.len()
        );
        let total = r.param_matchers.len();
        let shown = rows(&mut r.param_matchers, limit)
            .map(|p| [p.mock, p.param, format!("{}: {}", p.kind, p.why)]);
        table(
            s,
            ["MOCK", "PARAMETER", "MATCHER"],
            shown,
            total,
            limit,
            full,
        );
    }
}

/// "  N WHAT:" and one "    #seq text" line per exchange; nothing when empty.
fn exchange_list(
    s: &mut dyn Write,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
    what: &str,
    items: &mut Rows<(i64, String)>,
    show: impl Fn(&str) -> String,
) {
    if items.is_empty() {
        return;
    }
    let total = items.len();
    let _ = writeln!(s, "  {total} {what}:");
    let shown = rows(items, limit).map(|(seq, text)| format!("#{seq} {}", show(&text)));
    lines(s, shown, total, limit, full);
}

/// The rows given (the first `limit` of `total`), then how many more there
/// are and where all of them are.
fn lines(
    s: &mut dyn Write,
    shown: impl Iterator<Item = String>,
    total: usize,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
) {
    let limit = limit.unwrap_or(usize::MAX);
    for row in shown.take(limit) {
        let _ = writeln!(s, "    {row}");
    }
    more(s, total, limit, full);
}

/// A three-column table of the rows given (the first `limit` of `total`),
/// then how many more there are and where all of them are.
fn table(
    s: &mut dyn Write,
    header: [&str; 3],
    shown: impl Iterator<Item = [String; 3]>,
    total: usize,
    limit: Option<usize>,
    full: Option<&std::path::Path>,
) {
    let limit = limit.unwrap_or(usize::MAX);
    let [a, b, c] = header;
    let _ = writeln!(s, "    {a:<36} {b:<32} {c}");
    for [a, b, c] in shown.take(limit) {
        let _ = writeln!(s, "    {a:<36} {b:<32} {c}");
    }
    more(s, total, limit, full);
}

/// The line after a cut list: how many more, and where all of them are.
fn more(s: &mut dyn Write, total: usize, shown: usize, full: Option<&std::path::Path>) {
    if total > shown {
        let _ = write!(s, "    … and {} more", total - shown);
        if let Some(f) = full {
            let _ = write!(s, " (all in {})", f.display());
        }
        let _ = writeln!(s);
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
        // As `reel generate` keeps a long list: its first rows in memory,
        // the rest in a file, read back for generate.txt.
        g.report.outside.spill_after(50);
        g.report
            .outside
            .extend((0..300).map(|i| (i, format!("pricing: GET /p/{i}"))));
        assert_eq!(g.report.outside.head().len(), 50);
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
        let screen = describe_bounded(out, &mut g, Some(20), Some(file));
        assert!(screen.len() < 8_000, "{} bytes on screen", screen.len());
        assert!(screen.contains("… and 4980 more"), "{screen}");
        assert_eq!(
            screen
                .matches("… and 280 more (all in suite/generate.txt)")
                .count(),
            2
        );
        let whole = describe_bounded(out, &mut g, None, None);
        assert!(whole.contains("04999-get-books") && whole.contains("#299 pricing: GET /p/299"));
        assert_eq!(whole.matches(" pricing: GET /p/").count(), 300);
    }
}
