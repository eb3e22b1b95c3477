//! `reel test --stability N` and `reel generate --verify N`: replay the suite
//! N times against fresh app instances and turn every expected value that came
//! back different between those runs (with `--verify`, also one that every run
//! gave differently from the recording) into a typed matcher, reporting each
//! path and why. What differs from run to run of the same build is noise by
//! definition; nothing is loosened without being listed, and what could not be
//! loosened is listed too ([`unexplained`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use reel_core::generate::repeats::{differing, leaves, set};
use reel_core::matcher::MARKER;
use reel_core::suite::{to_pretty, BodySpec, LoadedSuite};
use serde_json::{json, Value};

use crate::errors::ReplayError;
use crate::model::{Outcome, RunReport};

#[derive(Debug, Clone, PartialEq)]
pub struct Loosened {
    pub file: PathBuf,
    pub case: String,
    pub path: String,
    pub kind: &'static str,
    pub why: Why,
}

/// Why a value was loosened: the values that were seen.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    /// The runs disagreed; one value per run.
    AcrossRuns(Vec<Value>),
    /// The runs agreed with each other but not with the recording.
    FromRecording { recorded: Value, runs: Vec<Value> },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::AcrossRuns(values) => write!(f, "differed across runs: {}", listed(values)),
            Why::FromRecording { recorded, runs } => write!(
                f,
                "differed from the recording: {} recorded, {} in {}",
                short(recorded),
                short(&runs[0]),
                if runs.len() == 1 {
                    "the run".to_owned()
                } else {
                    format!("all {} runs", runs.len())
                }
            ),
        }
    }
}

/// Up to five values, each cut to 24 characters.
fn listed(values: &[Value]) -> String {
    let mut s: Vec<String> = values.iter().take(5).map(short).collect();
    if values.len() > 5 {
        s.push("…".into());
    }
    s.join(", ")
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 24 {
        format!("{}…", s.chars().take(23).collect::<String>())
    } else {
        s
    }
}

/// Finds the values that differed across `runs` (and, with
/// `against_recording`, the ones every run gave differently from the
/// recording) and, when `write` is set, makes them matchers in the case files.
pub fn loosen(
    suite: &LoadedSuite,
    runs: &[RunReport],
    against_recording: bool,
    write: bool,
) -> Result<Vec<Loosened>, ReplayError> {
    let mut out = Vec::new();
    for case in &suite.cases {
        let Some(BodySpec::Json(expected)) = &case.case.response.body else {
            continue;
        };
        let mut literal = BTreeMap::new();
        leaves(expected, "$".into(), &mut literal);
        let bodies: Vec<BTreeMap<String, serde_json::Value>> = runs
            .iter()
            .filter_map(|r| r.cases.iter().find(|c| c.file == case.path))
            .filter_map(|c| match c.actual.as_ref().and_then(|a| a.body.as_ref()) {
                Some(BodySpec::Json(v)) => {
                    let mut m = BTreeMap::new();
                    leaves(v, "$".into(), &mut m);
                    Some(m)
                }
                _ => None,
            })
            .collect();
        if bodies.is_empty() || bodies.len() != runs.len() {
            continue;
        }
        let mut compared = bodies.clone();
        if against_recording {
            compared.insert(0, literal.clone());
        }
        if compared.len() < 2 {
            continue;
        }
        let found: Vec<(String, &'static str)> = differing(&compared)
            .into_iter()
            .filter(|(path, _)| literal.contains_key(path))
            .collect();
        if found.is_empty() {
            continue;
        }
        let mut updated = case.case.clone();
        if let Some(BodySpec::Json(v)) = updated.response.body.as_mut() {
            for (path, kind) in &found {
                set(v, path, json!({ MARKER: kind }));
            }
        }
        if write {
            std::fs::write(&case.path, to_pretty(&updated)).map_err(|source| {
                ReplayError::Write {
                    path: case.path.clone(),
                    source,
                }
            })?;
        }
        out.extend(found.into_iter().map(|(path, kind)| {
            let seen: Vec<Value> = bodies.iter().map(|b| b[&path].clone()).collect();
            let why = if seen.iter().all(|v| *v == seen[0]) {
                Why::FromRecording {
                    recorded: literal[&path].clone(),
                    runs: seen,
                }
            } else {
                Why::AcrossRuns(seen)
            };
            Loosened {
                file: case.path.clone(),
                case: case.case.name.clone(),
                path,
                kind,
                why,
            }
        }));
    }
    Ok(out)
}

/// A way a run differed from the expectations that loosening did not cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Unexplained {
    pub case: String,
    /// The runs it happened in, 1-based.
    pub runs: Vec<usize>,
    /// `header content-type: expected …, got …`, or why the case failed.
    pub what: String,
}

/// What failed in `runs` other than the values `loosened` now accepts: a
/// changed status, header or text body, a field that came and went, a request
/// that got no answer. Such a case is not stable, and no matcher makes it so.
pub fn unexplained(runs: &[RunReport], loosened: &[Loosened]) -> Vec<Unexplained> {
    let mut out: Vec<Unexplained> = Vec::new();
    for (n, run) in runs.iter().enumerate() {
        for c in run.cases.iter().filter(|c| c.outcome == Outcome::Failed) {
            let mut whats: Vec<String> = c.error.iter().cloned().collect();
            whats.extend(
                c.differences
                    .iter()
                    .filter(|d| {
                        !loosened
                            .iter()
                            .any(|l| l.file == c.file && l.path == d.path)
                    })
                    .map(|d| {
                        let show =
                            |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
                        format!(
                            "{}: expected {}, got {}",
                            d.path,
                            show(&d.expected),
                            show(&d.actual)
                        )
                    }),
            );
            for what in whats {
                match out.iter_mut().find(|u| u.case == c.name && u.what == what) {
                    Some(u) => u.runs.push(n + 1),
                    None => out.push(Unexplained {
                        case: c.name.clone(),
                        runs: vec![n + 1],
                        what,
                    }),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_loosened_value_says_why_with_the_values_seen() {
        let across = Why::AcrossRuns(vec![json!(43), json!(44)]);
        assert_eq!(across.to_string(), "differed across runs: 43, 44");
        let from = Why::FromRecording {
            recorded: json!(6),
            runs: vec![json!(5), json!(5)],
        };
        assert_eq!(
            from.to_string(),
            "differed from the recording: 6 recorded, 5 in all 2 runs"
        );
        let long = Why::AcrossRuns(
            (0..7)
                .map(|i| json!(format!("{i}-{}", "x".repeat(30))))
                .collect(),
        );
        assert_eq!(
            long.to_string(),
            format!(
                "differed across runs: {}, …",
                (0..5)
                    .map(|i| format!("\"{i}-{}…", "x".repeat(20)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
    }
}
