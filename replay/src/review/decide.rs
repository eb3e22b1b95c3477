//! The decisions a reviewer takes on one case in `reel review --web`, and
//! exactly what each writes: accept and reject go through [`crate::pending`],
//! as `reel accept` and the terminal review do; "ignore this path" adds a
//! noise rule to the case (and its pending snapshot) or to `suite.json`;
//! "match by kind" turns the expected value into the typed matcher both the
//! recorded and the new value satisfy. A [`Plan`] lists every file a decision
//! changes, before and after, so the page can show it before it is applied.

use std::path::{Path, PathBuf};

use reel_core::generate::repeats::{kind_of, set};
use reel_core::json_path;
use reel_core::matcher::{self, MARKER};
use reel_core::suite::load::{parse, parse_case};
use reel_core::suite::{to_pretty, BodySpec, CaseFile, Noise, SuiteFile};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::errors::ReplayError;
use crate::model::{CaseResult, Difference};
use crate::pending::{self, pending_path};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Decision {
    /// Take the pending snapshot as the case's expectation.
    Accept,
    /// Keep the expectation; drop the pending snapshot.
    Reject,
    /// Stop comparing `path` (`$.a.b` or `header NAME`) in this case or in
    /// the whole suite.
    Ignore { path: String, scope: Scope },
    /// Expect at `path` any value of the kind the recorded and the new value
    /// share (`uuid`, `timestamp`, `number`, ...).
    MatchKind { path: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Case,
    Suite,
}

/// One file a decision writes: its text before and after (`None` after: the
/// file is removed).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub file: PathBuf,
    pub before: String,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One sentence on what the decision does.
    pub says: String,
    pub changes: Vec<Change>,
    /// The differences of the last run the case still has afterwards.
    pub remaining: Vec<Difference>,
}

fn refuse(case: &Path, what: impl Into<String>) -> ReplayError {
    ReplayError::Decision {
        case: case.to_owned(),
        what: what.into(),
    }
}

/// The text of `path`, or None when there is no such file. A link is
/// refused, not followed: a suite arrives in pull requests, and a pending
/// snapshot linked to a file elsewhere must not be shown or taken.
pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, ReplayError> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(reel_core::suite::SuiteError::Invalid {
            path: path.to_owned(),
            what: "is a link, not a file reel wrote; look at where it points, then remove it"
                .into(),
        }
        .into());
    }
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(reel_core::suite::SuiteError::Read {
            path: path.to_owned(),
            source,
        }
        .into()),
    }
}

/// The files a decision on one case reads, read once: what the page was
/// shown is what is planned on and checked before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub case: String,
    pub pending: Option<String>,
    pub suite: String,
}

impl Files {
    pub fn read(dir: &Path, case: &Path) -> Result<Files, ReplayError> {
        let suite = dir.join("suite.json");
        Ok(Files {
            case: read_opt(case)?.ok_or_else(|| missing(case))?,
            pending: read_opt(&pending_path(case))?,
            suite: read_opt(&suite)?.ok_or_else(|| missing(&suite))?,
        })
    }
}

fn missing(path: &Path) -> ReplayError {
    reel_core::suite::SuiteError::Read {
        path: path.to_owned(),
        source: std::io::ErrorKind::NotFound.into(),
    }
    .into()
}

impl Decision {
    /// Whether this decision stops the comparison of a difference at
    /// `path` in every case it covers (an "ignore" of that path or above).
    pub fn stops(&self, path: &str) -> bool {
        match self {
            Decision::Ignore { path: p, .. } => {
                Rule::parse(Path::new(""), p).is_ok_and(|r| r.covers(path))
            }
            _ => false,
        }
    }
}

/// What `decision` would change for the case at `case` of the suite in
/// `dir`, whose files are `files`, given the case's result in the last run
/// (what "ignore" and "match by kind" need to know which differences
/// remain).
pub fn plan(
    dir: &Path,
    case: &Path,
    files: &Files,
    decision: &Decision,
    run: Option<&CaseResult>,
) -> Result<Plan, ReplayError> {
    let pending = pending_path(case);
    let case_text = files.case.clone();
    let pending_text = files.pending.clone();
    let differences = run.map(|r| r.differences.clone()).unwrap_or_default();
    match decision {
        Decision::Accept => {
            let Some(new) = pending_text else {
                return Err(refuse(case, "there is no pending snapshot to accept"));
            };
            // What `pending::accept` checks, checked before it is shown.
            parse_case(&pending, &new)?;
            Ok(Plan {
                says:
                    "The case takes the pending snapshot (the app's new answer) as its expectation."
                        .into(),
                changes: vec![
                    Change {
                        file: case.to_owned(),
                        before: case_text,
                        after: Some(new.clone()),
                    },
                    Change {
                        file: pending,
                        before: new,
                        after: None,
                    },
                ],
                remaining: Vec::new(),
            })
        }
        Decision::Reject => {
            let Some(old) = pending_text else {
                return Err(refuse(case, "there is no pending snapshot to reject"));
            };
            Ok(Plan {
                says: "The case keeps its expectation; the pending snapshot is removed, and the next run fails the same way until the app or the case changes.".into(),
                changes: vec![Change {
                    file: pending,
                    before: old,
                    after: None,
                }],
                remaining: differences,
            })
        }
        Decision::Ignore { path, scope } => {
            let rule = Rule::parse(case, path)?;
            let mut changes = Vec::new();
            let says = match scope {
                Scope::Case => {
                    let edit = |text: &str, file: &Path| -> Result<String, ReplayError> {
                        let mut c: CaseFile = parse_case(file, text)?;
                        rule.add(case, &mut c.noise)?;
                        Ok(to_pretty(&c))
                    };
                    let after = edit(&case_text, case)?;
                    changes.push(Change {
                        file: case.to_owned(),
                        before: case_text.clone(),
                        after: Some(after),
                    });
                    if let Some(p) = &pending_text {
                        let after = edit(p, &pending)?;
                        changes.push(Change {
                            file: pending.clone(),
                            before: p.clone(),
                            after: Some(after),
                        });
                    }
                    format!("This case no longer compares {}.", rule.named())
                }
                Scope::Suite => {
                    let file = dir.join("suite.json");
                    let before = files.suite.clone();
                    let mut s: SuiteFile = parse(&file, &before)?;
                    rule.add(case, &mut s.noise)?;
                    changes.push(Change {
                        file,
                        before,
                        after: Some(to_pretty(&s)),
                    });
                    format!("No case of the suite compares {} any more.", rule.named())
                }
            };
            let remaining: Vec<Difference> = differences
                .into_iter()
                .filter(|d| !rule.covers(&d.path))
                .collect();
            Ok(settle(says, changes, remaining, run, &pending))
        }
        Decision::MatchKind { path } => {
            if !path.starts_with('$') || json_path::parse(path).is_err() {
                return Err(refuse(
                    case,
                    format!("'{path}' is not a JSON path of the body: only a value in a JSON body can be matched by kind"),
                ));
            }
            let mut c: CaseFile = parse_case(case, &case_text)?;
            let recorded = value_at(c.response.body.as_ref(), path)
                .ok_or_else(|| refuse(case, format!("the expected body has no value at {path}")))?;
            let actual = run
                .and_then(|r| r.actual.as_ref())
                .and_then(|a| value_at(a.body.as_ref(), path))
                .ok_or_else(|| {
                    refuse(
                        case,
                        format!("the last run's answer has no value at {path}: accept or reject the case, or re-run it"),
                    )
                })?;
            let now = chrono::Utc::now().timestamp();
            let kind = kind_of(&[&recorded, &actual], now).ok_or_else(|| {
                refuse(
                    case,
                    format!("no matcher fits both {recorded} (recorded) and {actual} (now): they are not of one kind"),
                )
            })?;
            debug_assert!(matcher::accepts(kind, &actual));
            let put = |c: &mut CaseFile| {
                if let Some(v) = c.response.body.as_mut().and_then(BodySpec::as_json_mut) {
                    set(v, path, json!({ MARKER: kind }));
                }
            };
            put(&mut c);
            let mut changes = vec![Change {
                file: case.to_owned(),
                before: case_text,
                after: Some(to_pretty(&c)),
            }];
            if let Some(p) = &pending_text {
                let mut pc: CaseFile = parse_case(&pending, p)?;
                if value_at(pc.response.body.as_ref(), path).is_some() {
                    put(&mut pc);
                    changes.push(Change {
                        file: pending.clone(),
                        before: p.clone(),
                        after: Some(to_pretty(&pc)),
                    });
                }
            }
            let remaining: Vec<Difference> = differences
                .into_iter()
                .filter(|d| d.path != *path)
                .collect();
            Ok(settle(
                format!("{path} is expected to be any {kind}, as {recorded} (recorded) and {actual} (now) both are."),
                changes,
                remaining,
                run,
                &pending,
            ))
        }
    }
}

/// A plan that leaves the case no difference and no other failure also
/// removes its pending snapshot: with the new rule the case passes, and
/// there is nothing left to accept.
fn settle(
    says: String,
    mut changes: Vec<Change>,
    remaining: Vec<Difference>,
    run: Option<&CaseResult>,
    pending: &Path,
) -> Plan {
    let passes = remaining.is_empty() && run.is_some_and(|r| r.error.is_none());
    let mut says = says;
    if passes {
        says.push_str(" Nothing else differed, so the case passes now.");
        if let Some(at) = changes.iter().position(|c| c.file == pending) {
            changes[at].after = None;
        } else if let Ok(Some(before)) = read_opt(pending) {
            changes.push(Change {
                file: pending.to_owned(),
                before,
                after: None,
            });
        }
        if changes.iter().any(|c| c.file == pending) {
            says.push_str(" Its pending snapshot is removed.");
        }
    }
    Plan {
        says,
        changes,
        remaining,
    }
}

/// Applies `plan`, which [`plan`] made for `decision` from the files as they
/// are now (the caller checked). Accept and reject go through
/// [`crate::pending`], as `reel accept` does.
pub fn apply(case: &Path, decision: &Decision, plan: &Plan) -> Result<(), ReplayError> {
    // Each file as the plan read it, checked again right before the write.
    for c in &plan.changes {
        if read_opt(&c.file)?.as_deref() != Some(c.before.as_str()) {
            return Err(ReplayError::ChangedOnDisk {
                file: c.file.clone(),
            });
        }
    }
    match decision {
        Decision::Accept => pending::accept(case),
        Decision::Reject => pending::reject(case),
        Decision::Ignore { .. } | Decision::MatchKind { .. } => {
            for c in &plan.changes {
                match &c.after {
                    Some(text) => reel_core::files::replace(&c.file, text.as_bytes()),
                    None => std::fs::remove_file(&c.file),
                }
                .map_err(|source| ReplayError::Write {
                    path: c.file.clone(),
                    source,
                })?;
            }
            Ok(())
        }
    }
}

/// The value at a JSON `path` of a JSON body.
fn value_at(body: Option<&BodySpec>, path: &str) -> Option<Value> {
    let mut v = body?.as_json()?.clone();
    json_path::at_mut(&mut v, path).map(|v| v.take())
}

/// A noise rule "ignore this path" adds.
enum Rule {
    Header(String),
    Body(String, Vec<json_path::Step>),
}

impl Rule {
    fn parse(case: &Path, path: &str) -> Result<Rule, ReplayError> {
        if let Some(name) = path.strip_prefix("header ") {
            return Ok(Rule::Header(name.trim().to_ascii_lowercase()));
        }
        if path.starts_with('$') {
            let steps = json_path::parse(path)
                .map_err(|e| refuse(case, format!("'{path}' is not a JSON path: {e}")))?;
            return Ok(Rule::Body(path.to_owned(), steps));
        }
        Err(refuse(
            case,
            format!("'{path}' cannot be ignored: only a header or a value in a JSON body can; accept or reject the case instead"),
        ))
    }

    fn named(&self) -> String {
        match self {
            Rule::Header(h) => format!("the header {h}"),
            Rule::Body(p, _) => format!("the body at {p}"),
        }
    }

    fn add(&self, case: &Path, noise: &mut Noise) -> Result<(), ReplayError> {
        let already = || refuse(case, format!("{} is already ignored there", self.named()));
        match self {
            Rule::Header(h) => {
                if noise.headers.iter().any(|x| x.eq_ignore_ascii_case(h)) {
                    return Err(already());
                }
                noise.headers.push(h.clone());
            }
            Rule::Body(p, steps) => {
                let covered = noise
                    .body_paths
                    .iter()
                    .filter_map(|x| json_path::parse(x).ok())
                    .any(|x| json_path::covers(&x, steps));
                if covered {
                    return Err(already());
                }
                noise.body_paths.push(p.clone());
            }
        }
        Ok(())
    }

    /// Whether a difference at `path` (as a report names it) is one this
    /// rule stops.
    fn covers(&self, path: &str) -> bool {
        match self {
            Rule::Header(h) => path
                .strip_prefix("header ")
                .is_some_and(|n| n.eq_ignore_ascii_case(h)),
            Rule::Body(_, steps) => {
                path.starts_with('$')
                    && json_path::parse(path).is_ok_and(|d| json_path::covers(steps, &d))
            }
        }
    }
}
