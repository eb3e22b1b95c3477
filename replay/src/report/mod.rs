//! Reports written from a [`crate::RunReport`]: JUnit XML for CI ([`junit`]),
//! one self-contained HTML page for QA and reviewers ([`html`]) and the whole
//! report as JSON for other tools ([`json`]).
//!
//! Every writer creates the parent directories of its output file.

pub mod html;
pub mod json;
pub mod junit;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use html::{render_html, write_html};
pub use json::write_json;
pub use junit::write_junit;

use crate::{CaseResult, ReplayError};

/// How many difference paths a one-line summary names before "and N more".
const SUMMARY_PATHS: usize = 4;

/// One line saying why a case did not pass, e.g.
/// `2 differences: $.author, status` or `no response: connection refused`.
/// Empty for a case with nothing to say (a plain pass).
pub fn failure_summary(case: &CaseResult) -> String {
    let mut parts = Vec::new();
    if !case.differences.is_empty() {
        let n = case.differences.len();
        let paths: Vec<&str> = case
            .differences
            .iter()
            .take(SUMMARY_PATHS)
            .map(|d| d.path.as_str())
            .collect();
        let more = n.saturating_sub(SUMMARY_PATHS);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        parts.push(format!(
            "{n} {}: {}{more}",
            plural(n, "difference", "differences"),
            paths.join(", ")
        ));
    }
    if !case.mock_misses.is_empty() {
        let n = case.mock_misses.len();
        let first = &case.mock_misses[0];
        let more = if n > 1 {
            format!(" and {} more", n - 1)
        } else {
            String::new()
        };
        parts.push(format!(
            "{n} unmatched dependency {}: {} {}{more}",
            plural(n, "call", "calls"),
            first.dependency,
            first.call
        ));
    }
    if let Some(error) = &case.error {
        let first_line = error.lines().next().unwrap_or_default();
        if case.actual.is_none() && case.outcome == crate::Outcome::Failed {
            parts.push(format!("no response: {first_line}"));
        } else {
            parts.push(first_line.to_owned());
        }
    }
    parts.join("; ")
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `1.234 s` or `87 ms`: durations as a person reads them.
fn human_duration(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        "-".to_owned()
    } else if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// A duration in milliseconds as a `Duration`, zero when it is not a sane number.
fn duration_from_ms(ms: f64) -> std::time::Duration {
    if ms.is_finite() && ms > 0.0 {
        std::time::Duration::from_secs_f64(ms / 1000.0)
    } else {
        std::time::Duration::ZERO
    }
}

/// Writes `bytes` to `path`, creating its parent directories first, never
/// through a link to a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReplayError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReplayError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    // A report may go into the suite, where a link can be committed: it is
    // replaced, not followed. A device or pipe (`/dev/stdout`) is written to.
    let stream = std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir());
    let written = if stream {
        std::fs::write(path, bytes)
    } else {
        reel_core::files::replace(path, bytes)
    };
    written.map_err(|source| ReplayError::Write {
        path: path.to_path_buf(),
        source,
    })
}
