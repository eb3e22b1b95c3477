//! `reel review --web`: a suite's last run, served to a browser, where a
//! reviewer reads each change and decides on it.
//!
//! `reel test` keeps its last run inside the suite ([`save_run`], in a
//! git-ignored `.reel/` folder) with a stamp of each case's files as the run
//! left them. The review reads the files afresh on every request, so what
//! the page shows is what is on disk: a case whose files changed since the
//! run says so, and a decision carries the version of the files the page
//! showed, so it is refused, never written over, when they changed since
//! ([`Review::apply`]).

pub mod decide;
mod page;
pub mod web;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use reel_core::suite::load::{case_paths, load_suite};
use serde::{Deserialize, Serialize};

use crate::errors::ReplayError;
use crate::model::{CaseResult, Outcome, RunReport};
use crate::runner::RunConfig;
use decide::{read_opt, Decision, Plan};

/// Where `reel test` keeps its last run, relative to the suite folder.
pub const LAST_RUN: &str = ".reel/last-run.json";

/// A run kept for review.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedRun {
    pub report: RunReport,
    /// Each case's [`stamp`] when the run ended, by case name (file stem).
    pub stamps: BTreeMap<String, String>,
}

/// Keeps `report` as the suite's last run, after its pending snapshots were
/// written. The folder is git-ignored: a run is not part of the suite.
pub fn save_run(dir: &Path, report: &RunReport) -> Result<(), ReplayError> {
    let mut stamps = BTreeMap::new();
    for c in &report.cases {
        let path = dir.join("cases").join(format!("{}.json", c.name));
        stamps.insert(c.name.clone(), stamp(&path)?);
    }
    write_run(
        dir,
        &SavedRun {
            report: report.clone(),
            stamps,
        },
    )
}

fn write_run(dir: &Path, run: &SavedRun) -> Result<(), ReplayError> {
    let path = dir.join(LAST_RUN);
    let werr = |path: &Path| {
        let path = path.to_owned();
        move |source| ReplayError::Write { path, source }
    };
    let folder = path.parent().expect("LAST_RUN has a folder");
    std::fs::create_dir_all(folder).map_err(werr(folder))?;
    let ignore = folder.join(".gitignore");
    if !ignore.exists() {
        reel_core::files::replace(&ignore, b"# reel's last run, for reel review --web\n*\n")
            .map_err(werr(&ignore))?;
    }
    let text = serde_json::to_vec(run).expect("a report serializes");
    reel_core::files::replace(&path, &text).map_err(werr(&path))
}

/// The suite's last run, if `reel test` kept one. One that does not parse
/// (written by another version) is left out with a warning: the review
/// still works from the files.
pub fn load_run(dir: &Path) -> Result<Option<SavedRun>, ReplayError> {
    let path = dir.join(LAST_RUN);
    let Some(text) = read_opt(&path)? else {
        return Ok(None);
    };
    match serde_json::from_str(&text) {
        Ok(run) => Ok(Some(run)),
        Err(e) => {
            tracing::warn!(
                "{}: not a run this reel can read ({e}); showing the files only",
                path.display()
            );
            Ok(None)
        }
    }
}

/// A fingerprint of a case's files: the case and its pending snapshot.
pub fn stamp(case: &Path) -> Result<String, ReplayError> {
    let pending = crate::pending::pending_path(case);
    let parts = [read_opt(case)?, read_opt(&pending)?];
    Ok(fingerprint(parts.iter().map(|p| p.as_deref())))
}

/// FNV-1a over the parts, each marked present or absent.
fn fingerprint<'a>(parts: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for p in parts {
        match p {
            Some(s) => {
                eat(b"+");
                eat(&(s.len() as u64).to_le_bytes());
                eat(s.as_bytes());
            }
            None => eat(b"-"),
        }
    }
    format!("{h:016x}")
}

/// One case as the review shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub method: String,
    pub target: String,
    /// The dependencies its recorded calls go to.
    pub deps: Vec<String>,
    pub pending: bool,
    /// Its result in the last run, when there was one.
    pub result: Option<CaseResult>,
    /// Its files changed since that run (not by this review).
    pub stale: bool,
    /// What this review decided on it.
    pub decided: Option<String>,
}

impl Entry {
    /// `failed`, `passed`, `skipped`, or `not run`.
    pub fn outcome(&self) -> &'static str {
        match self.result.as_ref().map(|r| r.outcome) {
            Some(Outcome::Failed) => "failed",
            Some(Outcome::Passed) => "passed",
            Some(Outcome::Skipped) => "skipped",
            None => "not run",
        }
    }
}

/// A suite under review.
pub struct Review {
    dir: PathBuf,
    /// How "re-run this case" replays; None: the button is not offered.
    rerun: Option<RunConfig>,
    state: Mutex<State>,
    /// One re-run at a time: each starts the app and the mocks on their ports.
    running: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    run: Option<SavedRun>,
    decided: BTreeMap<String, String>,
}

/// What a decision returns to the page.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub says: String,
    /// The suite's fingerprint after it, so the page does not take its own
    /// change for someone else's.
    pub fingerprint: String,
}

impl Review {
    /// Opens the suite in `dir`, checking it loads, with its last run.
    pub fn open(dir: &Path, rerun: Option<RunConfig>) -> Result<Review, ReplayError> {
        load_suite(dir)?;
        Ok(Review {
            dir: dir.to_owned(),
            rerun,
            state: Mutex::new(State {
                run: load_run(dir)?,
                decided: BTreeMap::new(),
            }),
            running: tokio::sync::Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn can_rerun(&self) -> bool {
        self.rerun.is_some()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every case of the suite as it is on disk now, in file-name order.
    pub fn entries(&self) -> Result<Vec<Entry>, ReplayError> {
        let suite = load_suite(&self.dir)?;
        let state = self.state();
        let mut out = Vec::new();
        for c in &suite.cases {
            let name = stem(&c.path);
            let mut deps: Vec<String> = c
                .mocks
                .iter()
                .map(|m| m.dependency.clone())
                .chain(c.pg.iter().map(|m| m.dependency.clone()))
                .chain(c.redis.iter().map(|m| m.dependency.clone()))
                .chain(c.mysql.iter().map(|m| m.dependency.clone()))
                .collect();
            deps.sort();
            deps.dedup();
            let (result, stale) = match &state.run {
                Some(run) => {
                    let result = run.report.cases.iter().find(|r| r.name == name).cloned();
                    let stale = result.is_some()
                        && run.stamps.get(&name).map(String::as_str) != Some(&stamp(&c.path)?);
                    (result, stale)
                }
                None => (None, false),
            };
            out.push(Entry {
                pending: crate::pending::pending_path(&c.path).exists(),
                method: c.case.request.method.clone(),
                target: c.case.request.target.clone(),
                deps,
                result,
                stale,
                decided: state.decided.get(&name).cloned(),
                path: c.path.clone(),
                name,
            });
        }
        Ok(out)
    }

    /// The path of the case named `name`: only a case of the suite is ever
    /// read or written, whatever a request names.
    fn case_path(&self, name: &str) -> Result<PathBuf, ReplayError> {
        case_paths(&self.dir)?
            .into_iter()
            .find(|p| stem(p) == name)
            .ok_or_else(|| ReplayError::NoCase(name.to_owned()))
    }

    /// The version of what the page shows of a case: its files and the
    /// suite's, which "ignore in the suite" writes.
    pub fn version(&self, name: &str) -> Result<String, ReplayError> {
        let case = self.case_path(name)?;
        let pending = crate::pending::pending_path(&case);
        let parts = [
            read_opt(&case)?,
            read_opt(&pending)?,
            read_opt(&self.dir.join("suite.json"))?,
        ];
        Ok(fingerprint(parts.iter().map(|p| p.as_deref())))
    }

    /// A fingerprint of every file of the suite (names, sizes and change
    /// times), which the page polls to notice changes made elsewhere.
    pub fn fingerprint(&self) -> Result<String, ReplayError> {
        let mut parts = Vec::new();
        for sub in ["", "cases", "mocks"] {
            let folder = self.dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    let t = m
                        .modified()
                        .ok()?
                        .duration_since(std::time::UNIX_EPOCH)
                        .ok()?;
                    Some(format!(
                        "{sub}/{} {} {}",
                        e.file_name().to_string_lossy(),
                        m.len(),
                        t.as_nanos()
                    ))
                })
                .collect();
            names.sort();
            parts.extend(names);
        }
        Ok(fingerprint(parts.iter().map(|p| Some(p.as_str()))))
    }

    /// One case: its entry and the version of its files.
    pub fn case(&self, name: &str) -> Result<(Entry, String), ReplayError> {
        let entry = self
            .entries()?
            .into_iter()
            .find(|e| e.name == name)
            .ok_or_else(|| ReplayError::NoCase(name.to_owned()))?;
        let version = self.version(name)?;
        Ok((entry, version))
    }

    /// What `decision` would change, and the version it was planned on.
    pub fn plan(&self, name: &str, decision: &Decision) -> Result<(Plan, String), ReplayError> {
        let (entry, version) = self.case(name)?;
        let plan = decide::plan(&self.dir, &entry.path, decision, self.usable(&entry))?;
        Ok((plan, version))
    }

    /// The last run's result of a case, unless its files changed since: a
    /// stale result would plan on differences that may be gone.
    fn usable<'a>(&self, entry: &'a Entry) -> Option<&'a CaseResult> {
        entry.result.as_ref().filter(|_| !entry.stale)
    }

    /// Applies `decision` if the case's files are still at `version`, the
    /// version the page showed; else nothing is written.
    pub fn apply(
        &self,
        name: &str,
        decision: &Decision,
        version: &str,
    ) -> Result<Applied, ReplayError> {
        // One decision at a time: two tabs cannot interleave a check and a write.
        static WRITING: Mutex<()> = Mutex::new(());
        let _one = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let (entry, now) = self.case(name)?;
        if now != version {
            return Err(ReplayError::ChangedOnDisk { file: entry.path });
        }
        let plan = decide::plan(&self.dir, &entry.path, decision, self.usable(&entry))?;
        decide::apply(&entry.path, decision, &plan)?;
        let label = match decision {
            Decision::Accept => "accepted".to_owned(),
            Decision::Reject => "rejected".to_owned(),
            Decision::Ignore { path, .. } => format!("ignored {path}"),
            Decision::MatchKind { path } => format!("{path} matched by kind"),
        };
        let mut state = self.state();
        let State { run, decided } = &mut *state;
        let prior = decided.get(name).cloned();
        decided.insert(
            name.to_owned(),
            prior.map_or(label.clone(), |p| format!("{p}; {label}")),
        );
        if let Some(run) = run {
            if let Some(r) = run.report.cases.iter_mut().find(|r| r.name == name) {
                match decision {
                    Decision::Accept => {
                        r.outcome = Outcome::Passed;
                        r.differences.clear();
                    }
                    Decision::Reject => {}
                    _ => {
                        r.differences = plan.remaining.clone();
                        if r.differences.is_empty() && r.error.is_none() {
                            r.outcome = Outcome::Passed;
                        }
                        if let Some(c) = plan.changes.iter().find(|c| c.file == entry.path) {
                            if let Some(text) = &c.after {
                                if let Ok(c) = reel_core::suite::load::parse_case(&entry.path, text)
                                {
                                    r.expected = c.response;
                                }
                            }
                        }
                    }
                }
                run.stamps.insert(name.to_owned(), stamp(&entry.path)?);
                write_run(&self.dir, run)?;
            }
        }
        drop(state);
        Ok(Applied {
            says: plan.says,
            fingerprint: self.fingerprint()?,
        })
    }

    /// Replays the case named `name` (after the earlier cases it needs)
    /// against the app, writes or clears its pending snapshot as `reel test`
    /// does, and keeps the result as its last run.
    pub async fn rerun(&self, name: &str) -> Result<Applied, ReplayError> {
        let Some(cfg) = &self.rerun else {
            return Err(ReplayError::Other(
                "re-running is off: start the review with the app (--app or the suite's command) to re-run cases".into(),
            ));
        };
        let Ok(_one) = self.running.try_lock() else {
            return Err(ReplayError::Other(
                "another case is being re-run; try again when it is done".into(),
            ));
        };
        let mut suite = load_suite(&self.dir)?;
        let at = suite
            .cases
            .iter()
            .position(|c| stem(&c.path) == name)
            .ok_or_else(|| ReplayError::NoCase(name.to_owned()))?;
        let keep = crate::shard::needed_for(&suite.cases, at);
        let mut i = 0;
        suite.cases.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let report = crate::runner::run(&suite, cfg, |_| {}, std::future::pending()).await?;
        let case = suite
            .cases
            .iter()
            .find(|c| stem(&c.path) == name)
            .expect("the case was kept");
        let result = report
            .cases
            .iter()
            .find(|r| r.name == name)
            .cloned()
            .ok_or_else(|| ReplayError::Other(format!("the re-run did not run '{name}'")))?;
        match result.outcome {
            Outcome::Failed => {
                crate::pending::write(case, &result)?;
            }
            Outcome::Passed => crate::pending::clear(&case.path)?,
            Outcome::Skipped => {}
        }
        let says = match result.outcome {
            Outcome::Passed => format!("{name} passes now."),
            Outcome::Failed => format!(
                "{name} still fails: {}",
                crate::report::failure_summary(&result)
            ),
            Outcome::Skipped => format!("{name} was skipped."),
        };
        let mut state = self.state();
        let State { run, decided } = &mut *state;
        decided.remove(name);
        let run = run.get_or_insert_with(|| SavedRun {
            report: RunReport {
                cases: Vec::new(),
                passed: 0,
                failed: 0,
                skipped: 0,
                ..report.clone()
            },
            stamps: BTreeMap::new(),
        });
        match run.report.cases.iter_mut().find(|r| r.name == name) {
            Some(r) => *r = result,
            None => run.report.cases.push(result),
        }
        let count = |o| run.report.cases.iter().filter(|c| c.outcome == o).count();
        (run.report.passed, run.report.failed, run.report.skipped) = (
            count(Outcome::Passed),
            count(Outcome::Failed),
            count(Outcome::Skipped),
        );
        run.stamps.insert(name.to_owned(), stamp(&case.path)?);
        write_run(&self.dir, run)?;
        drop(state);
        Ok(Applied {
            says,
            fingerprint: self.fingerprint()?,
        })
    }

    /// The last run's report, as it stands after the decisions taken.
    pub fn report(&self) -> Option<RunReport> {
        self.state().run.as_ref().map(|r| r.report.clone())
    }
}

fn stem(case: &Path) -> String {
    case.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
