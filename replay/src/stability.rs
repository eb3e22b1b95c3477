//! `reel test --stability N` and `reel generate --verify N`: replay the suite
//! N times against fresh app instances and turn every expected value that came
//! back different between those runs into a typed matcher, reporting each path
//! and why. What differs from run to run of the same build is noise by
//! definition. What every run agrees on is not: a value that came back the
//! same each time but not as recorded, or one whose JSON type changed, is a
//! change the suite must catch, so it is listed ([`unexplained`]) and never
//! loosened. The one exception, with `--verify`: a value that is volatile by
//! format (a UUID, a timestamp, a token, an epoch time near now) both as
//! recorded and in every run gets that format's matcher.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reel_core::generate::repeats::{differing, leaves, set};
use reel_core::matcher::{format_kind, MARKER};
use reel_core::suite::load::LoadedCase;
use reel_core::suite::{to_pretty, BodySpec, LoadedSuite};
use serde_json::{json, Value};

use crate::errors::ReplayError;
use crate::model::{Outcome, RunReport};

/// Scalar leaves of a JSON body by path.
type Leaves = BTreeMap<String, Value>;

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
    /// The runs agreed with each other but not with the recording, and every
    /// value, recorded or not, has the same volatile format.
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
/// `against_recording`, the ones every run gave the same but differently from
/// the recording where all of them share a volatile format) and, when `write`
/// is set, makes them matchers in the case files.
pub fn loosen(
    suite: &LoadedSuite,
    runs: &[RunReport],
    against_recording: bool,
    write: bool,
) -> Result<Vec<Loosened>, ReplayError> {
    let now = chrono::Utc::now().timestamp();
    let mut out = Vec::new();
    for case in &suite.cases {
        let Some((literal, bodies)) = seen(case, runs) else {
            continue;
        };
        let mut found: Vec<(String, &'static str, Why)> = differing(&bodies)
            .into_iter()
            .filter(|(path, _)| literal.contains_key(path))
            .map(|(path, kind)| {
                let values = bodies.iter().map(|b| b[&path].clone()).collect();
                (path, kind, Why::AcrossRuns(values))
            })
            .collect();
        if against_recording {
            let recorded_at = chrono::DateTime::parse_from_rfc3339(&case.case.recorded_at)
                .map_or(now, |t| t.timestamp());
            for (path, recorded, values) in drifted(&literal, &bodies) {
                let kind = format_kind(recorded, recorded_at)
                    .filter(|k| values.iter().all(|v| format_kind(v, now) == Some(*k)));
                if let Some(kind) = kind {
                    found.push((
                        path.to_owned(),
                        kind,
                        Why::FromRecording {
                            recorded: recorded.clone(),
                            runs: values,
                        },
                    ));
                }
            }
            found.sort_by(|a, b| a.0.cmp(&b.0));
        }
        if found.is_empty() {
            continue;
        }
        let mut updated = case.case.clone();
        if let Some(BodySpec::Json(v)) = updated.response.body.as_mut() {
            for (path, kind, _) in &found {
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
        out.extend(found.into_iter().map(|(path, kind, why)| Loosened {
            file: case.path.clone(),
            case: case.case.name.clone(),
            path,
            kind,
            why,
        }));
    }
    Ok(out)
}

/// The literal leaves `case` expects, and those of its JSON body in each run;
/// None unless every run got one.
fn seen(case: &LoadedCase, runs: &[RunReport]) -> Option<(Leaves, Vec<Leaves>)> {
    let Some(BodySpec::Json(expected)) = &case.case.response.body else {
        return None;
    };
    let mut literal = BTreeMap::new();
    leaves(expected, "$".into(), &mut literal);
    let bodies: Vec<Leaves> = runs
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
    (!bodies.is_empty() && bodies.len() == runs.len()).then_some((literal, bodies))
}

/// The recorded values that every run gave back the same, but not as
/// recorded: `(path, recorded, one value per run)`.
fn drifted<'a>(literal: &'a Leaves, bodies: &[Leaves]) -> Vec<(&'a str, &'a Value, Vec<Value>)> {
    literal
        .iter()
        .filter_map(|(path, recorded)| {
            let values: Vec<Value> = bodies.iter().filter_map(|b| b.get(path).cloned()).collect();
            let same = values.len() == bodies.len() && values.iter().all(|v| *v == values[0]);
            (same && values[0] != *recorded).then_some((path.as_str(), recorded, values))
        })
        .collect()
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
/// value every run gave the same but not as recorded, a changed status,
/// header or text body, a value whose type changed, a field that came and
/// went, a request that got no answer. Such a case is not stable, and no
/// matcher makes it so.
pub fn unexplained(
    suite: &LoadedSuite,
    runs: &[RunReport],
    loosened: &[Loosened],
) -> Vec<Unexplained> {
    let is_loosened =
        |file: &PathBuf, path: &str| loosened.iter().any(|l| l.file == *file && l.path == path);
    let mut out: Vec<Unexplained> = Vec::new();
    // Said once per case and path, with the values, rather than once per run.
    let mut consistent: Vec<(&PathBuf, String)> = Vec::new();
    for case in &suite.cases {
        let Some((literal, bodies)) = seen(case, runs) else {
            continue;
        };
        for (path, recorded, values) in drifted(&literal, &bodies) {
            if is_loosened(&case.path, path) {
                continue;
            }
            let n = runs.len();
            let how = if n == 1 {
                "not as recorded in the run".to_owned()
            } else {
                format!("the same in all {n} runs but not as recorded")
            };
            out.push(Unexplained {
                case: case.case.name.clone(),
                runs: (1..=n).collect(),
                what: format!(
                    "{path}: {how}: {} recorded, {} now",
                    short(recorded),
                    short(&values[0])
                ),
            });
            consistent.push((&case.path, path.to_owned()));
        }
    }
    for (n, run) in runs.iter().enumerate() {
        for c in run.cases.iter().filter(|c| c.outcome == Outcome::Failed) {
            let mut whats: Vec<String> = c.error.iter().cloned().collect();
            whats.extend(
                c.differences
                    .iter()
                    .filter(|d| {
                        !is_loosened(&c.file, &d.path)
                            && !consistent
                                .iter()
                                .any(|(f, p)| **f == c.file && *p == d.path)
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
    // Case names begin with their sequence number: this is recorded order.
    out.sort_by(|a, b| a.case.cmp(&b.case));
    out
}

#[cfg(test)]
mod tests {
    use reel_core::suite::{CaseFile, RequestSpec, ResponseSpec};

    use super::*;
    use crate::model::{ActualResponse, CaseResult, Difference};

    const A: &str = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    const B: &str = "6fa459ea-ee8a-3ca4-894e-db77e160355e";

    fn suite(expected: Value) -> LoadedSuite {
        let case = CaseFile {
            name: "0001-get-stats".into(),
            seq: 1,
            recorded_at: "2026-01-01T00:00:00Z".into(),
            request: RequestSpec {
                method: "GET".into(),
                target: "/stats".into(),
                headers: vec![],
                body: None,
            },
            response: ResponseSpec {
                status: 200,
                headers: vec![],
                body: Some(BodySpec::Json(expected)),
            },
            noise: Default::default(),
            mocks: None,
        };
        LoadedSuite {
            dir: "s".into(),
            suite: serde_json::from_value(json!({
                "reel_suite": 1,
                "name": "s",
                "session": {"id": 1, "name": "s", "recorded_at": "2026-01-01T00:00:00Z"},
                "app": {"command": null, "target": "http://127.0.0.1:1"}
            }))
            .unwrap(),
            cases: vec![LoadedCase {
                path: "s/cases/0001-get-stats.json".into(),
                case,
                mocks: vec![],
                pg: vec![],
            }],
            startup: vec![],
            shared: vec![],
            startup_pg: vec![],
            shared_pg: vec![],
        }
    }

    /// A run in which the case got `actual`, differing as the runner would
    /// say at `paths` (each `(path, expected, actual)`).
    fn run(suite: &LoadedSuite, actual: Value, paths: &[(&str, &str, &str)]) -> RunReport {
        let case = &suite.cases[0];
        let result = CaseResult {
            name: case.case.name.clone(),
            file: case.path.clone(),
            outcome: if paths.is_empty() {
                Outcome::Passed
            } else {
                Outcome::Failed
            },
            duration_ms: 1.0,
            request: case.case.request.clone(),
            expected: case.case.response.clone(),
            actual: Some(ActualResponse {
                status: 200,
                headers: vec![],
                body: Some(BodySpec::Json(actual)),
            }),
            accepted: None,
            differences: paths
                .iter()
                .map(|(path, expected, actual)| Difference {
                    path: (*path).into(),
                    expected: Some((*expected).into()),
                    actual: Some((*actual).into()),
                })
                .collect(),
            diff: String::new(),
            mocks_used: vec![],
            mocks_unused: vec![],
            mock_misses: vec![],
            error: None,
        };
        RunReport {
            suite_name: "s".into(),
            suite_dir: "s".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_ms: 1.0,
            target: "http://127.0.0.1:1".into(),
            shard: None,
            cases: vec![result],
            passed: 0,
            failed: 0,
            skipped: 0,
        }
    }

    #[test]
    fn only_what_differs_between_runs_is_loosened_and_a_change_is_listed() {
        let s = suite(json!({"uptime": 1, "books": 6, "price": 3999, "n": 7, "id": A}));
        let runs = [
            run(
                &s,
                json!({"uptime": 2, "books": 5, "price": "3999", "n": 7, "id": B}),
                &[
                    ("$.uptime", "1", "2"),
                    ("$.books", "6", "5"),
                    ("$.price", "3999", "\"3999\""),
                    ("$.id", &format!("{A:?}"), &format!("{B:?}")),
                ],
            ),
            run(
                &s,
                json!({"uptime": 3, "books": 5, "price": "3999", "n": "7", "id": B}),
                &[
                    ("$.uptime", "1", "3"),
                    ("$.books", "6", "5"),
                    ("$.price", "3999", "\"3999\""),
                    ("$.n", "7", "\"7\""),
                    ("$.id", &format!("{A:?}"), &format!("{B:?}")),
                ],
            ),
        ];
        let loosened = loosen(&s, &runs, true, false).unwrap();
        let got: Vec<_> = loosened
            .iter()
            .map(|l| (l.path.as_str(), l.kind, l.why.to_string()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "$.id",
                    "uuid",
                    "differed from the recording: \"1b4e28ba-2fa1-11d2-883… recorded, \"6fa459ea-ee8a-3ca4-894… in all 2 runs"
                        .to_owned()
                ),
                ("$.uptime", "number", "differed across runs: 2, 3".into()),
            ]
        );
        let whats: Vec<_> = unexplained(&s, &runs, &loosened)
            .into_iter()
            .map(|u| (u.runs, u.what))
            .collect();
        assert_eq!(
            whats,
            [
                (
                    vec![1, 2],
                    "$.books: the same in all 2 runs but not as recorded: 6 recorded, 5 now".into()
                ),
                (
                    vec![1, 2],
                    "$.price: the same in all 2 runs but not as recorded: 3999 recorded, \"3999\" now"
                        .into()
                ),
                (vec![2], "$.n: expected 7, got \"7\"".to_owned()),
            ]
        );

        // `reel test --stability` loosens only what differed between runs.
        let loosened = loosen(&s, &runs, false, false).unwrap();
        let paths: Vec<_> = loosened.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["$.uptime"]);
    }

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
