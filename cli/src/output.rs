//! What `reel test` and `reel demo` print: failing cases with their diffs, and
//! the closing `N passed, N failed` line.
//!
//! Everything recorded or replayed (names, targets, values, diffs, app
//! output) goes through [`printable`] before it is coloured and printed.

use std::io::IsTerminal;

pub use reel_core::terminal::printable;
use reel_replay::diff::colourize;
use reel_replay::{CaseResult, Outcome, RunReport};

use crate::values::{ReportKind, Reports};

/// Writes to stdout. A reader that went away ends reel with success, as with
/// `git log | head`; any other write error ends it with a message.
pub fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("reel: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// A failed case: its file, what differs, the diff and any dependency misses.
pub fn failed_case(c: &CaseResult, colour: bool) -> String {
    let (red, bold, dim, reset) = if colour {
        ("\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let p = printable;
    let mut s = format!(
        "{red}{bold}FAIL{reset} {bold}{}{reset}  {} {}\n",
        p(&c.name),
        p(&c.request.method),
        p(&c.request.target)
    );
    s.push_str(&format!(
        "  {dim}case file:{reset} {}\n",
        p(&c.file.display().to_string())
    ));
    if let Some(e) = &c.error {
        s.push_str(&format!("  {red}{}{reset}\n", p(e)));
    }
    if !c.differences.is_empty() {
        s.push_str("  differs at:\n");
        for d in &c.differences {
            let show = |v: &Option<String>| p(v.as_deref().unwrap_or("(absent)")).into_owned();
            s.push_str(&format!(
                "    {bold}{}{reset}: expected {}, got {}\n",
                p(&d.path),
                show(&d.expected),
                show(&d.actual)
            ));
        }
    }
    indented(&mut s, &p(&c.diff), colour, "    ");
    for m in &c.mock_misses {
        s.push_str(&format!(
            "  dependency '{}' got a call no recording matches: {}\n",
            p(&m.dependency),
            p(&m.call)
        ));
        match &m.nearest {
            Some(n) => {
                s.push_str(&format!("    nearest recorded call: {}\n", p(n)));
                // Changed words stand out in a long statement.
                let diff = p(&m.diff);
                let diff = if colour {
                    reel_replay::diff::colourize_words(&diff)
                } else {
                    diff.into_owned()
                };
                indented(&mut s, &diff, false, "      ");
            }
            None => s.push_str("    (no call to this dependency was recorded)\n"),
        }
    }
    if !c.mocks_unused.is_empty() {
        s.push_str(&format!(
            "  {dim}recorded calls not made: {}{reset}\n",
            p(&c.mocks_unused.join(", "))
        ));
    }
    if !c.app_log.is_empty() {
        s.push_str("  app output while it ran:\n");
        for l in &c.app_log {
            s.push_str(&format!("    {dim}|{reset} {}\n", p(l)));
        }
    }
    s
}

/// A diff (already [`printable`]), coloured on a terminal, each line indented.
fn indented(s: &mut String, diff: &str, colour: bool, indent: &str) {
    let diff = if colour {
        colourize(diff)
    } else {
        diff.to_owned()
    };
    for line in diff.lines() {
        s.push_str(indent);
        s.push_str(line);
        s.push('\n');
    }
}

/// `N passed, N failed` (`, N skipped` when any were).
pub fn closing_line(r: &RunReport) -> String {
    let mut s = format!("{} passed, {} failed", r.passed, r.failed);
    if r.skipped > 0 {
        s.push_str(&format!(", {} skipped", r.skipped));
    }
    s
}

/// Every failing case, in order.
pub fn failures(r: &RunReport, colour: bool) -> String {
    r.cases
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .map(|c| failed_case(c, colour))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes the reports asked for with `--report junit=F,html=F,json=F`.
pub fn write_reports(
    reports: &Reports,
    r: &RunReport,
) -> anyhow::Result<Vec<(&'static str, std::path::PathBuf)>> {
    let mut written = Vec::new();
    for (kind, path) in &reports.0 {
        match kind {
            ReportKind::Junit => reel_replay::report::write_junit(r, path)?,
            ReportKind::Html => reel_replay::report::write_html(r, path)?,
            ReportKind::Json => reel_replay::report::write_json(r, path)?,
        }
        written.push((kind.as_str(), path.clone()));
    }
    Ok(written)
}
