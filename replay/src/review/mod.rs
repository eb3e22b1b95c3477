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
use std::time::Duration;

use reel_core::suite::load::{case_paths, case_stem, load_suite};
use serde::{Deserialize, Serialize};

use crate::errors::ReplayError;
use crate::model::{CaseResult, Outcome, RunReport};
use crate::runner::RunConfig;
use crate::send::HostHeader;
use decide::{read_opt, Decision, Plan};

/// Where `reel test` keeps its last run, relative to the suite folder.
pub const LAST_RUN: &str = ".reel/last-run.json";

/// A run kept for review.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedRun {
    pub report: RunReport,
    /// Each case's [`stamp`] when the run ended, by case file stem.
    pub stamps: BTreeMap<String, String>,
    /// How the run replayed, for "re-run this case".
    #[serde(default)]
    pub settings: Option<RunSettings>,
}

/// The settings of a `reel test` run that a re-run of one case repeats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    pub app: Option<String>,
    pub target: Option<String>,
    pub ready: Option<String>,
    pub ready_timeout_secs: u64,
    pub case_timeout_secs: u64,
    /// `recorded`, `target` or a host (`--host-header`).
    pub host_header: String,
    pub strict: bool,
    pub freeze_time: bool,
    pub recorded_waits: bool,
}

impl RunSettings {
    pub fn of(cfg: &RunConfig) -> Self {
        RunSettings {
            app: cfg.app.clone(),
            target: cfg.target.clone(),
            ready: cfg.ready.clone(),
            ready_timeout_secs: cfg.ready_timeout.as_secs(),
            case_timeout_secs: cfg.request_timeout.as_secs(),
            host_header: match &cfg.host_header {
                HostHeader::Recorded => "recorded".into(),
                HostHeader::Target => "target".into(),
                HostHeader::Value(v) => v.clone(),
            },
            strict: cfg.strict,
            freeze_time: cfg.freeze_time,
            recorded_waits: cfg.recorded_waits,
        }
    }

    fn apply_to(&self, cfg: &mut RunConfig) {
        cfg.app.clone_from(&self.app);
        cfg.target.clone_from(&self.target);
        cfg.ready.clone_from(&self.ready);
        cfg.ready_timeout = Duration::from_secs(self.ready_timeout_secs.max(1));
        cfg.request_timeout = Duration::from_secs(self.case_timeout_secs.max(1));
        cfg.host_header = HostHeader::parse(&self.host_header).unwrap_or_default();
        cfg.strict = self.strict;
        cfg.freeze_time = self.freeze_time;
        cfg.recorded_waits = self.recorded_waits;
    }
}

/// What `reel review --web` was told that overrides how the last run
/// replayed, for re-runs.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub app: Option<String>,
    pub target: Option<String>,
    pub ready: Option<String>,
}

/// Keeps `report` as the suite's last run, after its pending snapshots were
/// written, with how it ran. The folder is git-ignored: a run is not part
/// of the suite.
pub fn save_run(
    dir: &Path,
    report: &RunReport,
    settings: Option<RunSettings>,
) -> Result<(), ReplayError> {
    let mut stamps = BTreeMap::new();
    for c in &report.cases {
        let name = case_stem(&c.file);
        stamps.insert(name.clone(), stamp(&case_file(dir, &name))?);
    }
    write_run(
        dir,
        &SavedRun {
            report: report.clone(),
            stamps,
            settings,
        },
    )
    .map(|_| ())
}

/// The case file of the case named `name` (its file stem).
fn case_file(dir: &Path, name: &str) -> PathBuf {
    dir.join("cases").join(format!("{name}.json"))
}

/// Writes `run` and returns the fingerprint of what was written. A `.reel`
/// that is a link (committed in a pull request) is refused: nothing is
/// written through it.
fn write_run(dir: &Path, run: &SavedRun) -> Result<String, ReplayError> {
    let path = dir.join(LAST_RUN);
    let werr = |path: &Path| {
        let path = path.to_owned();
        move |source| ReplayError::Write { path, source }
    };
    let folder = path.parent().expect("LAST_RUN has a folder");
    if std::fs::symlink_metadata(folder).is_ok_and(|m| !m.is_dir()) {
        return Err(reel_core::suite::SuiteError::Invalid {
            path: folder.to_owned(),
            what: "is not a folder reel made (a link or a file): reel keeps the last run there, and writes nothing through it; remove it".into(),
        }
        .into());
    }
    std::fs::create_dir_all(folder).map_err(werr(folder))?;
    let ignore = folder.join(".gitignore");
    if std::fs::symlink_metadata(&ignore).is_err() {
        reel_core::files::replace(&ignore, b"# reel's last run, for reel review --web\n*\n")
            .map_err(werr(&ignore))?;
    }
    let text = serde_json::to_string(run).expect("a report serializes");
    reel_core::files::replace(&path, text.as_bytes()).map_err(werr(&path))?;
    Ok(fingerprint([Some(text.as_str())].into_iter()))
}

/// The suite's last run, if `reel test` kept one, and the fingerprint of
/// its file. One that does not parse (written by another version) is left
/// out with a warning: the review still works from the files.
pub fn load_run(dir: &Path) -> Result<(Option<SavedRun>, Option<String>), ReplayError> {
    let path = dir.join(LAST_RUN);
    let Some(text) = read_opt(&path)? else {
        return Ok((None, None));
    };
    let seen = Some(fingerprint([Some(text.as_str())].into_iter()));
    match serde_json::from_str(&text) {
        Ok(run) => Ok((Some(run), seen)),
        Err(e) => {
            tracing::warn!(
                "{}: not a run this reel can read ({e}); showing the files only",
                path.display()
            );
            Ok((None, seen))
        }
    }
}

/// The result of the case in file `case` in `report`, found by file name
/// (the case's own `name` field may say anything).
fn result_of<'a>(report: &'a RunReport, case: &str) -> Option<&'a CaseResult> {
    report.cases.iter().find(|r| case_stem(&r.file) == case)
}

fn result_of_mut<'a>(report: &'a mut RunReport, case: &str) -> Option<&'a mut CaseResult> {
    report.cases.iter_mut().find(|r| case_stem(&r.file) == case)
}

/// A fingerprint of a case's files: the case and its pending snapshot.
pub fn stamp(case: &Path) -> Result<String, ReplayError> {
    let pending = crate::pending::pending_path(case);
    let parts = [read_opt(case)?, read_opt(&pending)?];
    Ok(fingerprint(parts.iter().map(|p| p.as_deref())))
}

/// FNV-1a over the parts, each marked present or absent.
fn fingerprint<'a>(parts: impl Iterator<Item = Option<&'a str>>) -> String {
    let mut h = reel_core::fnv::Fnv1a::default();
    for p in parts {
        match p {
            Some(s) => {
                h.write(b"+");
                h.write(&(s.len() as u64).to_le_bytes());
                h.write(s.as_bytes());
            }
            None => h.write(b"-"),
        }
    }
    format!("{:016x}", h.finish())
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
    /// What re-runs start from (secrets, where the app's output goes); the
    /// last run's settings and the overrides go over it.
    base: RunConfig,
    overrides: Overrides,
    state: Mutex<State>,
    /// One decision or end of a re-run at a time: a check of the files and
    /// the writes after it are never interleaved with another's.
    writing: Mutex<()>,
    /// One re-run at a time: each starts the app and the mocks on their ports.
    running: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    run: Option<SavedRun>,
    /// The fingerprint of the last-run file this state was read from or
    /// wrote: another `reel test` meanwhile is noticed and read.
    run_seen: Option<String>,
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
    pub fn open(dir: &Path, base: RunConfig, overrides: Overrides) -> Result<Review, ReplayError> {
        load_suite(dir)?;
        let (run, run_seen) = load_run(dir)?;
        Ok(Review {
            dir: dir.to_owned(),
            base,
            overrides,
            state: Mutex::new(State {
                run,
                run_seen,
                decided: BTreeMap::new(),
            }),
            writing: Mutex::new(()),
            running: tokio::sync::Mutex::new(()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state, with the last run read again if another `reel test`
    /// replaced it since.
    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, ReplayError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let text = read_opt(&self.dir.join(LAST_RUN))?;
        let now = text.as_deref().map(|t| fingerprint([Some(t)].into_iter()));
        if now != state.run_seen {
            let (run, seen) = load_run(&self.dir)?;
            state.run = run;
            state.run_seen = seen;
            state.decided.clear();
        }
        Ok(state)
    }

    fn writing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every case of the suite as it is on disk now, in file-name order.
    pub fn entries(&self) -> Result<Vec<Entry>, ReplayError> {
        let suite = load_suite(&self.dir)?;
        let state = self.state()?;
        suite.cases.iter().map(|c| entry_of(c, &state)).collect()
    }

    /// The case named `name` as [`Review::entries`] shows it, its files
    /// alone read for its stamp.
    fn entry(&self, name: &str) -> Result<Entry, ReplayError> {
        let suite = load_suite(&self.dir)?;
        let case = suite
            .cases
            .iter()
            .find(|c| case_stem(&c.path) == name)
            .ok_or_else(|| ReplayError::NoCase(name.to_owned()))?;
        entry_of(case, &*self.state()?)
    }

    /// The path of the case named `name`: only a case of the suite is ever
    /// read or written, whatever a request names.
    fn case_path(&self, name: &str) -> Result<PathBuf, ReplayError> {
        case_paths(&self.dir)?
            .into_iter()
            .find(|p| case_stem(p) == name)
            .ok_or_else(|| ReplayError::NoCase(name.to_owned()))
    }

    /// The version of what the page shows of a case: its files and the
    /// suite's, which "ignore in the suite" writes.
    pub fn version(&self, name: &str) -> Result<String, ReplayError> {
        let files = decide::Files::read(&self.dir, &self.case_path(name)?)?;
        Ok(version_of(&files))
    }

    /// A fingerprint of every file of the suite (names, sizes and change
    /// times), which the page polls to notice changes made elsewhere.
    pub fn fingerprint(&self) -> Result<String, ReplayError> {
        let mut parts = Vec::new();
        for sub in ["", "cases", "mocks", ".reel"] {
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
        let entry = self.entry(name)?;
        let version = version_of(&decide::Files::read(&self.dir, &entry.path)?);
        Ok((entry, version))
    }

    /// What `decision` would change, and the version it was planned on.
    pub fn plan(&self, name: &str, decision: &Decision) -> Result<(Plan, String), ReplayError> {
        let entry = self.entry(name)?;
        let files = decide::Files::read(&self.dir, &entry.path)?;
        let plan = decide::plan(&self.dir, &entry.path, &files, decision, usable(&entry))?;
        Ok((plan, version_of(&files)))
    }

    /// Applies `decision` if the case's files are still at `version`, the
    /// version the page showed; else nothing is written.
    pub fn apply(
        &self,
        name: &str,
        decision: &Decision,
        version: &str,
    ) -> Result<Applied, ReplayError> {
        let _one = self.writing();
        let entry = self.entry(name)?;
        // One read of the files: the version checked and the plan made
        // from the same bytes; `decide::apply` checks them once more.
        let files = decide::Files::read(&self.dir, &entry.path)?;
        if version_of(&files) != version {
            return Err(ReplayError::ChangedOnDisk { file: entry.path });
        }
        let plan = decide::plan(&self.dir, &entry.path, &files, decision, usable(&entry))?;
        decide::apply(&entry.path, decision, &plan)?;
        let label = match decision {
            Decision::Accept => "accepted".to_owned(),
            Decision::Reject => "rejected".to_owned(),
            Decision::Ignore { path, .. } => format!("ignored {path}"),
            Decision::MatchKind { path } => format!("{path} matched by kind"),
        };
        let mut state = self.state()?;
        let State {
            run,
            run_seen,
            decided,
        } = &mut *state;
        let prior = decided.get(name).cloned();
        decided.insert(
            name.to_owned(),
            prior.map_or(label.clone(), |p| format!("{p}; {label}")),
        );
        if let Some(run) = run {
            if let Some(r) = result_of_mut(&mut run.report, name) {
                match decision {
                    Decision::Accept => {
                        r.differences.clear();
                        if r.error.is_none() {
                            r.outcome = Outcome::Passed;
                        }
                    }
                    Decision::Reject => {}
                    _ => {
                        r.differences = plan.remaining.clone();
                        if r.differences.is_empty() && r.error.is_none() {
                            r.outcome = Outcome::Passed;
                        }
                        let written = plan.changes.iter().find(|c| c.file == entry.path);
                        if let Some(text) = written.and_then(|c| c.after.as_ref()) {
                            if let Ok(c) = reel_core::suite::load::parse_case(&entry.path, text) {
                                r.expected = c.response;
                            }
                        }
                    }
                }
                run.stamps.insert(name.to_owned(), stamp(&entry.path)?);
            }
            if matches!(
                decision,
                Decision::Ignore {
                    scope: decide::Scope::Suite,
                    ..
                }
            ) {
                // The rule holds for every case: what it stops is gone from
                // each one's differences (their pending snapshots stay
                // until the next `reel test` finds them passing).
                for r in run.report.cases.iter_mut() {
                    r.differences.retain(|d| !decision.stops(&d.path));
                    if r.differences.is_empty() && r.error.is_none() {
                        r.outcome = Outcome::Passed;
                    }
                }
            }
            run.report.recount();
            *run_seen = Some(write_run(&self.dir, run)?);
        }
        drop(state);
        Ok(Applied {
            says: plan.says,
            fingerprint: self.fingerprint()?,
        })
    }

    /// How a re-run replays: as the last run did, with what the review was
    /// told over it.
    fn rerun_config(&self) -> Result<RunConfig, ReplayError> {
        let mut cfg = self.base.clone();
        if let Some(s) = self.state()?.run.as_ref().and_then(|r| r.settings.as_ref()) {
            s.apply_to(&mut cfg);
        }
        let o = &self.overrides;
        if o.app.is_some() {
            cfg.app.clone_from(&o.app);
        }
        if o.target.is_some() {
            cfg.target.clone_from(&o.target);
        }
        if o.ready.is_some() {
            cfg.ready.clone_from(&o.ready);
        }
        Ok(cfg)
    }

    /// Replays the case named `name` (after the earlier cases it needs)
    /// against the app, writes or clears its pending snapshot as `reel test`
    /// does, and keeps the result as its last run. If the case's files
    /// changed while it ran (a decision in another tab, an editor), nothing
    /// is written and the re-run says so.
    pub async fn rerun(&self, name: &str) -> Result<Applied, ReplayError> {
        let Ok(_one) = self.running.try_lock() else {
            return Err(ReplayError::Other(
                "another case is being re-run; try again when it is done".into(),
            ));
        };
        let cfg = self.rerun_config()?;
        let before = self.version(name)?;
        let mut suite = load_suite(&self.dir)?;
        let at = suite
            .cases
            .iter()
            .position(|c| case_stem(&c.path) == name)
            .ok_or_else(|| ReplayError::NoCase(name.to_owned()))?;
        let keep = crate::shard::needed_for(&suite.cases, at);
        let mut i = 0;
        suite.cases.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        let report = crate::runner::run(&suite, &cfg, |_| {}, std::future::pending()).await?;
        let case = suite
            .cases
            .iter()
            .find(|c| case_stem(&c.path) == name)
            .expect("the case was kept");
        let result = result_of(&report, name)
            .cloned()
            .ok_or_else(|| ReplayError::Other(format!("the re-run did not run '{name}'")))?;
        let _write = self.writing();
        if self.version(name)? != before {
            return Err(ReplayError::ChangedOnDisk {
                file: case.path.clone(),
            });
        }
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
        let mut state = self.state()?;
        let State {
            run,
            run_seen,
            decided,
        } = &mut *state;
        decided.remove(name);
        let run = run.get_or_insert_with(|| SavedRun {
            report: RunReport {
                cases: Vec::new(),
                ..report.clone()
            },
            stamps: BTreeMap::new(),
            settings: Some(RunSettings::of(&cfg)),
        });
        match result_of_mut(&mut run.report, name) {
            Some(r) => *r = result,
            None => run.report.cases.push(result),
        }
        run.report.recount();
        run.stamps.insert(name.to_owned(), stamp(&case.path)?);
        *run_seen = Some(write_run(&self.dir, run)?);
        drop(state);
        Ok(Applied {
            says,
            fingerprint: self.fingerprint()?,
        })
    }

    /// The last run's report, as it stands after the decisions taken.
    pub fn report(&self) -> Result<Option<RunReport>, ReplayError> {
        Ok(self.state()?.run.as_ref().map(|r| r.report.clone()))
    }
}

/// One case as the review shows it, with what `state` knows of it.
fn entry_of(c: &reel_core::suite::load::LoadedCase, state: &State) -> Result<Entry, ReplayError> {
    let name = case_stem(&c.path);
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
            let result = result_of(&run.report, &name).cloned();
            let stale = result.is_some()
                && run.stamps.get(&name).map(String::as_str) != Some(&stamp(&c.path)?);
            (result, stale)
        }
        None => (None, false),
    };
    Ok(Entry {
        pending: crate::pending::pending_path(&c.path).exists(),
        method: c.case.request.method.clone(),
        target: c.case.request.target.clone(),
        deps,
        result,
        stale,
        decided: state.decided.get(&name).cloned(),
        path: c.path.clone(),
        name,
    })
}

/// The last run's result of a case, unless its files changed since: a
/// stale result would plan on differences that may be gone.
fn usable(entry: &Entry) -> Option<&CaseResult> {
    entry.result.as_ref().filter(|_| !entry.stale)
}

fn version_of(files: &decide::Files) -> String {
    fingerprint(
        [
            Some(files.case.as_str()),
            files.pending.as_deref(),
            Some(files.suite.as_str()),
        ]
        .into_iter(),
    )
}
