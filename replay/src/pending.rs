//! Pending snapshots: `<case>.json.new` beside a case that failed, holding the
//! actual response; accepted by renaming over the case, rejected by removal.
//!
//! A pending file is written with [`reel_core::files::replace`], so one that
//! a pull request committed as a link is replaced, never followed; one that
//! is a link is never accepted, as the case would become that link.

use std::path::{Path, PathBuf};

use reel_core::suite::load::{case_paths, load_case, LoadedCase};
use reel_core::suite::{to_pretty, ResponseSpec, SuiteError};

use crate::compare::accepted_body;
use crate::errors::ReplayError;
use crate::model::CaseResult;

/// Where a case file's pending snapshot goes: `<case>.json.new`.
pub fn pending_path(case: &Path) -> PathBuf {
    let mut s = case.as_os_str().to_owned();
    s.push(".new");
    s.into()
}

/// Writes the pending snapshot of a failed case. Returns its path, or None when
/// there was no response to keep.
pub fn write(case: &LoadedCase, result: &CaseResult) -> Result<Option<PathBuf>, ReplayError> {
    let Some(actual) = &result.actual else {
        return Ok(None);
    };
    let mut updated = case.case.clone();
    updated.response = result.accepted.clone().unwrap_or_else(|| ResponseSpec {
        status: actual.status,
        headers: actual.headers.clone(),
        body_encoding: actual.body_encoding.clone(),
        body: accepted_body(case.case.response.body.as_ref(), actual.body.as_ref()),
    });
    let path = pending_path(&case.path);
    reel_core::files::replace(&path, to_pretty(&updated).as_bytes()).map_err(|source| {
        ReplayError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(Some(path))
}

/// Removes a stale pending snapshot of a case that passes now.
pub fn clear(case: &Path) -> Result<(), ReplayError> {
    let path = pending_path(case);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(ReplayError::Write { path, source: e })
        }
        _ => Ok(()),
    }
}

/// `(case file, its pending file)` for every pending snapshot of the suite.
pub fn list(dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>, ReplayError> {
    Ok(case_paths(dir)?
        .into_iter()
        .map(|c| {
            let p = pending_path(&c);
            (c, p)
        })
        .filter(|(_, p)| p.exists())
        .collect())
}

/// Takes a pending snapshot as the new expectation, after checking it parses.
pub fn accept(case: &Path) -> Result<(), ReplayError> {
    let pending = pending_path(case);
    let is_link = std::fs::symlink_metadata(&pending).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        return Err(SuiteError::Invalid {
            path: pending,
            what: "is a link, not a pending snapshot reel wrote (reel writes plain files); accepting it would make the case a link too: look at where it points, then remove it".into(),
        }
        .into());
    }
    load_case(&pending)?;
    std::fs::rename(&pending, case).map_err(|source| ReplayError::Write {
        path: case.to_owned(),
        source,
    })
}

pub fn reject(case: &Path) -> Result<(), ReplayError> {
    let pending = pending_path(case);
    std::fs::remove_file(&pending).map_err(|source| ReplayError::Write {
        path: pending,
        source,
    })
}
