//! `reel test --stability N` and `reel generate --verify N`: replay the suite
//! N times against fresh app instances and turn every expected value that came
//! back different between those runs into a matcher, reporting each one and
//! why. What differs from run to run of the same build is noise by
//! definition, in a JSON value, a header or a whole text or binary body. What
//! every run agrees on is not: a value that came back the same each time but
//! not as recorded, or one whose JSON type changed, is a change the suite
//! must catch, so it is listed ([`unexplained`]) and never loosened. The one
//! exception, with `--verify`: a value that is volatile by format (a UUID, a
//! timestamp, a token, an epoch time near now) both as recorded and in every
//! run gets that format's matcher.
//!
//! How each is loosened: a JSON value gets the most specific typed matcher
//! all its values share; a header a value with `${reel:KIND}` slots where the
//! runs differed ([`crate::compare::pattern`]); a text or binary body a body
//! matcher of its kind and length class (`{"$reel": {"kind": "bytes",
//! "length": [64, 255]}}`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use reel_core::generate::repeats::{differing, kind_of, leaves, set};
use reel_core::matcher::{format_kind, MARKER};
use reel_core::suite::body::{BodyKind, BodyMatcher, Length};
use reel_core::suite::load::LoadedCase;
use reel_core::suite::{to_pretty, BodySpec, LoadedSuite};
use serde_json::{json, Value};

use crate::compare::{loose, pattern, sets, Rules};
use crate::errors::ReplayError;
use crate::model::{CaseResult, Outcome, RunReport};

/// Scalar leaves of a JSON body by path.
type Leaves = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct Loosened {
    pub file: PathBuf,
    pub case: String,
    /// A JSON path, `header NAME` or `body`.
    pub path: String,
    /// The matcher written: a JSON matcher kind (`uuid`), a header pattern
    /// (`Digest nonce="${reel:token}"`) or a body matcher (`any bytes of 16
    /// bytes`).
    pub kind: String,
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
    /// A whole body differed between runs: the lengths seen, one per run.
    BodiesAcrossRuns(Vec<usize>),
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
            Why::BodiesAcrossRuns(lengths) => {
                if lengths.iter().all(|l| *l == lengths[0]) {
                    write!(f, "differed across runs, {} bytes each", lengths[0])
                } else {
                    let l: Vec<String> = lengths.iter().map(usize::to_string).collect();
                    write!(f, "differed across runs: {} bytes", l.join(", "))
                }
            }
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
        let results: Vec<&CaseResult> = runs
            .iter()
            .filter_map(|r| r.cases.iter().find(|c| c.file == case.path))
            .collect();
        if results.len() != runs.len() || runs.is_empty() {
            continue;
        }
        let mut updated = case.case.clone();
        let mut found: Vec<(String, String, Why)> = Vec::new();
        if let Some((literal, bodies)) = seen(case, runs) {
            found.extend(json_values(case, &literal, &bodies, against_recording, now));
            let json = updated
                .response
                .body
                .as_mut()
                .and_then(BodySpec::as_json_mut);
            if let Some(v) = json {
                for (path, kind, _) in &found {
                    set(v, path, json!({ MARKER: kind }));
                }
            }
        }
        let rules = Rules::new(&[&suite.suite.noise, &case.case.noise]);
        for (name, pattern, why) in headers(case, &results, &rules, against_recording) {
            if let Some(slot) = updated
                .response
                .headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            {
                slot.1 = pattern.clone();
            }
            found.push((format!("header {name}"), pattern, why));
        }
        if let Some((matcher, why)) = body(case, &results) {
            found.push(("body".into(), matcher.describe(), why));
            updated.response.body = Some(BodySpec::Matcher(matcher));
        }
        if found.is_empty() {
            continue;
        }
        if write {
            reel_core::files::replace(&case.path, to_pretty(&updated).as_bytes()).map_err(
                |source| ReplayError::Write {
                    path: case.path.clone(),
                    source,
                },
            )?;
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

/// The JSON values of one case to loosen: `(path, kind, why)`, by path.
fn json_values(
    case: &LoadedCase,
    literal: &Leaves,
    bodies: &[Leaves],
    against_recording: bool,
    now: i64,
) -> Vec<(String, String, Why)> {
    let recorded_at =
        chrono::DateTime::parse_from_rfc3339(&case.case.recorded_at).map_or(now, |t| t.timestamp());
    let mut found: Vec<(String, String, Why)> = differing(bodies, now)
        .into_iter()
        .filter_map(|(path, kind)| {
            let recorded = literal.get(&path)?;
            let values: Vec<Value> = bodies.iter().map(|b| b[&path].clone()).collect();
            // The recorded value is an observation too: the kind must take it.
            let mut all: Vec<&Value> = values.iter().collect();
            all.push(recorded);
            let kind = kind_of(&all, recorded_at).unwrap_or(kind);
            Some((path, kind.to_owned(), Why::AcrossRuns(values)))
        })
        .collect();
    if against_recording {
        for (path, recorded, values) in drifted(literal, bodies) {
            let kind = format_kind(recorded, recorded_at)
                .filter(|k| values.iter().all(|v| format_kind(v, now) == Some(*k)));
            if let Some(kind) = kind {
                found.push((
                    path.to_owned(),
                    kind.to_owned(),
                    Why::FromRecording {
                        recorded: recorded.clone(),
                        runs: values,
                    },
                ));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The expected headers of one case that differed between runs (or, with
/// `against_recording`, from the recording in a random format), with the
/// pattern that takes every value seen: `(lower-case name, pattern, why)`.
/// Headers compared by form or as sets, ignored ones and those with
/// placeholders or slots already are left as they are; so is a header some
/// run did not send, which is a change, not noise.
fn headers(
    case: &LoadedCase,
    results: &[&CaseResult],
    rules: &Rules,
    against_recording: bool,
) -> Vec<(String, String, Why)> {
    let mut out = Vec::new();
    let expected = &case.case.response.headers;
    for (name, recorded) in expected {
        let name = name.to_ascii_lowercase();
        let lines = expected
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(&name))
            .count();
        if lines != 1
            || rules.ignores_header(&name)
            || loose::is_loose(&name)
            || sets::is_set(&name)
            || name == "content-encoding"
            || reel_core::template::has_placeholder(recorded)
            || pattern::has_slots(recorded)
            || out.iter().any(|(n, _, _)| *n == name)
        {
            continue;
        }
        let values: Option<Vec<String>> = results
            .iter()
            .map(|r| {
                let a = r.actual.as_ref()?;
                let mut v = a
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(&name));
                match (v.next(), v.next()) {
                    (Some((_, one)), None) => Some(one.clone()),
                    _ => None,
                }
            })
            .collect();
        let Some(values) = values else { continue };
        let across = values.iter().any(|v| *v != values[0]);
        let drifted = !across && values[0] != *recorded;
        if !(across || (drifted && against_recording)) {
            continue;
        }
        let mut all: Vec<&str> = vec![recorded.as_str()];
        all.extend(values.iter().map(String::as_str));
        let Some(p) = pattern::infer(&all) else {
            continue;
        };
        let why_values: Vec<Value> = values.iter().map(|v| Value::String(v.clone())).collect();
        let why = if across {
            Why::AcrossRuns(why_values)
        } else {
            // Only a random format, in the recording and every run, is
            // evidence enough without a difference between runs.
            let specific = pattern::infer(&all).is_some_and(|p| {
                slot_kinds(&p)
                    .iter()
                    .all(|k| !matches!(k.as_str(), "string" | "number" | "any"))
            });
            if !specific {
                continue;
            }
            Why::FromRecording {
                recorded: Value::String(recorded.clone()),
                runs: why_values,
            }
        };
        out.push((name, p, why));
    }
    out
}

/// The kinds of a pattern's slots, in order.
fn slot_kinds(p: &str) -> Vec<String> {
    p.split("${reel:")
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(k, _)| k.to_owned()))
        .collect()
}

/// A text or binary body that differed between runs becomes a body matcher
/// of its kind (text when every body seen was UTF-8) and length class.
fn body(case: &LoadedCase, results: &[&CaseResult]) -> Option<(BodyMatcher, Why)> {
    let recorded = match &case.case.response.body {
        Some(b @ (BodySpec::Text(_) | BodySpec::Base64(_))) => b.to_bytes(),
        _ => return None,
    };
    let bodies: Vec<Vec<u8>> = results
        .iter()
        .map(|r| r.actual.as_ref()?.body.as_ref().map(BodySpec::to_bytes))
        .collect::<Option<_>>()?;
    if bodies.iter().all(|b| *b == bodies[0]) {
        return None;
    }
    let text = std::iter::once(&recorded)
        .chain(&bodies)
        .all(|b| std::str::from_utf8(b).is_ok());
    let mut lengths: Vec<usize> = bodies.iter().map(Vec::len).collect();
    let why = Why::BodiesAcrossRuns(lengths.clone());
    lengths.push(recorded.len());
    let matcher = BodyMatcher {
        kind: if text {
            BodyKind::Text
        } else {
            BodyKind::Bytes
        },
        length: Length::class_of(&lengths),
    };
    Some((matcher, why))
}

/// The literal leaves `case` expects, and those of its JSON body in each run;
/// None unless every run got one.
fn seen(case: &LoadedCase, runs: &[RunReport]) -> Option<(Leaves, Vec<Leaves>)> {
    let expected = case.case.response.body.as_ref()?.as_json()?;
    let mut literal = BTreeMap::new();
    leaves(expected, "$".into(), &mut literal);
    let bodies: Vec<Leaves> = runs
        .iter()
        .filter_map(|r| r.cases.iter().find(|c| c.file == case.path))
        .filter_map(|c| {
            let v = c.actual.as_ref()?.body.as_ref()?.as_json()?;
            let mut m = BTreeMap::new();
            leaves(v, "$".into(), &mut m);
            Some(m)
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
/// header or body, a value whose type changed, a field that came and went, a
/// request that got no answer, a dependency call no recording matched. Such
/// a case is not stable, and no matcher makes it so.
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
            whats.extend(c.mock_misses.iter().map(|m| {
                let nearest = m
                    .nearest
                    .as_deref()
                    .map(|n| format!(" (nearest recorded: {n})"))
                    .unwrap_or_default();
                format!(
                    "dependency '{}' got a call no recording matches: {}{nearest}",
                    m.dependency, m.call
                )
            }));
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

/// The lists a summary prints: each loosened value with why, then what no
/// matcher may take. `limit` bounds each list for a terminal (the rest is
/// counted, and `full` names where all of it is); None prints everything.
pub fn render(
    loosened: &[Loosened],
    unexplained: &[Unexplained],
    limit: Option<usize>,
    full: Option<&std::path::Path>,
) -> String {
    let mut s = String::new();
    let more = |s: &mut String, total: usize| {
        if let Some(l) = limit.filter(|l| total > *l) {
            s.push_str(&format!("    … and {} more", total - l));
            if let Some(p) = full {
                s.push_str(&format!(" (all in {})", p.display()));
            }
            s.push('\n');
        }
    };
    let take = limit.unwrap_or(usize::MAX);
    if !loosened.is_empty() {
        s.push_str(&format!(
            "    {:<36} {:<32} {:<24} {}\n",
            "CASE", "WHERE", "MATCHER", "WHY"
        ));
        for l in loosened.iter().take(take) {
            s.push_str(&format!(
                "    {:<36} {:<32} {:<24} {}\n",
                l.case, l.path, l.kind, l.why
            ));
        }
        more(&mut s, loosened.len());
    }
    if !unexplained.is_empty() {
        s.push_str(&format!(
            "  {} {} in those runs no matcher may take (a change, not noise):\n",
            unexplained.len(),
            if unexplained.len() == 1 {
                "difference"
            } else {
                "differences"
            }
        ));
        for u in unexplained.iter().take(take) {
            let runs: Vec<String> = u.runs.iter().map(usize::to_string).collect();
            let label = if runs.len() == 1 { "run" } else { "runs" };
            s.push_str(&format!(
                "    {:<36} {label} {}: {}\n",
                u.case,
                runs.join(", "),
                u.what
            ));
        }
        more(&mut s, unexplained.len());
    }
    s
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
            duration_ms: None,
            request: RequestSpec {
                method: "GET".into(),
                target: "/stats".into(),
                headers: vec![],
                body: None,
            },
            request_layout: None,
            response: ResponseSpec {
                status: 200,
                headers: vec![],
                body_encoding: None,
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
                redis: vec![],
                mysql: vec![],
            }],
            startup: vec![],
            shared: vec![],
            startup_pg: vec![],
            shared_pg: vec![],
            startup_redis: vec![],
            shared_redis: vec![],
            startup_mysql: vec![],
            shared_mysql: vec![],
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
                body_encoding: None,
                undecoded: None,
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
            app_log: vec![],
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
        let got = summary(&loosened);
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
        let whats = unexplained_runs(&s, &runs, &loosened);
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

    /// Each loosened value as (path, kind, why).
    fn summary(loosened: &[Loosened]) -> Vec<(&str, &str, String)> {
        loosened
            .iter()
            .map(|l| (l.path.as_str(), l.kind.as_str(), l.why.to_string()))
            .collect()
    }

    /// What loosening left unexplained, as (runs, what).
    fn unexplained_runs(
        suite: &LoadedSuite,
        runs: &[RunReport],
        loosened: &[Loosened],
    ) -> Vec<(Vec<usize>, String)> {
        unexplained(suite, runs, loosened)
            .into_iter()
            .map(|u| (u.runs, u.what))
            .collect()
    }

    /// A run whose answer to the one case had these headers and body bytes,
    /// failing where they differ from what the case expects.
    fn raw_run(
        suite: &LoadedSuite,
        headers: &[(&str, &str)],
        body: &[u8],
        misses: usize,
    ) -> RunReport {
        let mut r = run(suite, json!(null), &[("body", "x", "y")]);
        let c = &mut r.cases[0];
        c.actual = Some(ActualResponse {
            status: 200,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: BodySpec::from_bytes(body, None, false),
            body_encoding: None,
            undecoded: None,
        });
        c.differences = vec![
            Difference {
                path: "body".into(),
                expected: None,
                actual: None,
            },
            Difference {
                path: "header x-nonce".into(),
                expected: None,
                actual: None,
            },
        ];
        c.mock_misses = (0..misses)
            .map(|_| crate::model::MockMiss {
                dependency: "pricing".into(),
                call: "GET /price?isbn=1".into(),
                nearest: Some("0001-get-stats#1 (GET /price?isbn=2)".into()),
                diff: String::new(),
                values: Vec::new(),
            })
            .collect();
        r
    }

    #[test]
    fn random_bodies_and_headers_are_loosened_by_kind_and_misses_are_listed() {
        let mut s = suite(json!(null));
        let resp = &mut s.cases[0].case.response;
        resp.body = BodySpec::from_bytes(&[0xff, 1, 2, 3, 4, 5, 6, 7], None, false);
        resp.headers = vec![
            ("X-Nonce".into(), "9c3a4a8e0b7d4f21a6c5e3b2d1f0a9b8".into()),
            ("X-Version".into(), "1".into()),
        ];
        let runs = [
            raw_run(
                &s,
                &[
                    ("x-nonce", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
                    ("x-version", "1"),
                ],
                &[0xfe, 9, 9, 9, 9, 9, 9, 9],
                0,
            ),
            raw_run(
                &s,
                &[
                    ("x-nonce", "77aa1e2d3c4b5a69788796a5b4c3d2e1"),
                    ("x-version", "1"),
                ],
                &[0xfd, 8, 8, 8, 8, 8, 8, 8],
                1,
            ),
        ];
        let loosened = loosen(&s, &runs, false, false).unwrap();
        let got = summary(&loosened);
        assert_eq!(
            got,
            [
                (
                    "header x-nonce",
                    "${reel:token}",
                    "differed across runs: \"0f1e2d3c4b5a69788796a5…, \"77aa1e2d3c4b5a69788796…"
                        .to_owned()
                ),
                (
                    "body",
                    "any bytes of 8 bytes",
                    "differed across runs, 8 bytes each".to_owned()
                ),
            ]
        );
        let whats = unexplained_runs(&s, &runs, &loosened);
        assert_eq!(
            whats,
            [(
                vec![2],
                "dependency 'pricing' got a call no recording matches: GET /price?isbn=1 (nearest recorded: 0001-get-stats#1 (GET /price?isbn=2))".to_owned()
            )]
        );
        let shown = render(
            &loosened,
            &[],
            Some(1),
            Some(std::path::Path::new("s/stability.txt")),
        );
        assert!(
            shown.ends_with("    … and 1 more (all in s/stability.txt)\n"),
            "{shown}"
        );
    }
}
