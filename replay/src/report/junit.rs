//! The JUnit XML report for CI: one `<testsuite>` named after the suite, one
//! `<testcase>` per case. A failed case carries a one-line message and, as its
//! text, the differences, the unified diff and any unmatched dependency calls,
//! and as its output what the app printed while it ran.

use std::fmt::Write as _;
use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{duration_from_ms, failure_summary, write_file};
use crate::{CaseResult, Outcome, ReplayError, RunReport};

/// Writes `report` to `path` as JUnit XML.
pub fn write_junit(report: &RunReport, path: &Path) -> Result<(), ReplayError> {
    let xml = render_junit(report)?;
    write_file(path, xml.as_bytes())
}

/// The JUnit XML of `report`.
pub fn render_junit(report: &RunReport) -> Result<String, ReplayError> {
    let mut suite = TestSuite::new(report.suite_name.as_str());
    if let Ok(started) = chrono::DateTime::parse_from_rfc3339(&report.started_at) {
        suite.set_timestamp(started);
    }
    suite.set_time(duration_from_ms(report.duration_ms));
    suite.add_property(("target", report.target.as_str()));
    if let Some((k, n)) = report.shard {
        suite.add_property(("shard", format!("{k}/{n}").as_str()));
    }
    for case in &report.cases {
        suite.add_test_case(test_case(&report.suite_name, case));
    }

    let mut junit = Report::new("reel");
    junit.add_test_suite(suite);
    junit
        .to_string()
        .map_err(|e| ReplayError::Other(format!("cannot serialize the JUnit report: {e}")))
}

fn test_case(suite_name: &str, case: &CaseResult) -> TestCase {
    let status = match case.outcome {
        Outcome::Passed => TestCaseStatus::success(),
        Outcome::Failed => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(failure_summary(case))
                .set_description(failure_text(case));
            status
        }
        Outcome::Skipped => {
            let mut status = TestCaseStatus::skipped();
            if let Some(reason) = &case.error {
                status.set_message(reason.as_str());
            }
            status
        }
    };
    let mut test_case = TestCase::new(case.name.as_str(), status);
    test_case
        .set_classname(suite_name)
        .set_time(duration_from_ms(case.duration_ms));
    // CI shows a test's output beside its failure.
    if !case.app_log.is_empty() {
        test_case.set_system_out(case.app_log.join("\n"));
    }
    test_case
}

/// The failure's text: everything a CI log reader needs without opening the
/// HTML report.
fn failure_text(case: &CaseResult) -> String {
    let mut out = String::new();
    if let Some(error) = &case.error {
        let _ = writeln!(out, "error: {error}\n");
    }
    if !case.differences.is_empty() {
        out.push_str("differences:\n");
        for d in &case.differences {
            let _ = writeln!(out, "  {}", d.path);
            let _ = writeln!(
                out,
                "    expected: {}",
                d.expected.as_deref().unwrap_or("(absent)")
            );
            let _ = writeln!(
                out,
                "    actual:   {}",
                d.actual.as_deref().unwrap_or("(absent)")
            );
        }
        out.push('\n');
    }
    if !case.diff.is_empty() {
        out.push_str(&case.diff);
        if !case.diff.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    if !case.mock_misses.is_empty() {
        out.push_str("unmatched dependency calls:\n");
        for miss in &case.mock_misses {
            let _ = writeln!(out, "  {}: {}", miss.dependency, miss.call);
            match &miss.nearest {
                Some(nearest) => {
                    let _ = writeln!(out, "    nearest recorded: {nearest}");
                }
                None => out.push_str("    nothing recorded for this dependency\n"),
            }
            for line in miss.diff.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
        out.push('\n');
    }
    if !case.mocks_unused.is_empty() {
        let _ = writeln!(out, "unused mocks: {}", case.mocks_unused.join(", "));
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}
