//! `reel test --stability N`: replay the suite N times against fresh app
//! instances and turn every expected value that came back different between
//! those runs into a typed matcher, reporting each path and why. What differs
//! from run to run of the same build is noise by definition; nothing is
//! loosened without being listed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reel_core::generate::repeats::{differing, leaves, set};
use reel_core::matcher::MARKER;
use reel_core::suite::{to_pretty, BodySpec, LoadedSuite};
use serde_json::json;

use crate::errors::ReplayError;
use crate::model::RunReport;

#[derive(Debug, Clone, PartialEq)]
pub struct Loosened {
    pub file: PathBuf,
    pub case: String,
    pub path: String,
    pub kind: &'static str,
}

/// Finds the values that differed across `runs` and, when `write` is set,
/// makes them matchers in the case files.
pub fn loosen(
    suite: &LoadedSuite,
    runs: &[RunReport],
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
        if bodies.len() < 2 || bodies.len() != runs.len() {
            continue;
        }
        let found: Vec<(String, &'static str)> = differing(&bodies)
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
        out.extend(found.into_iter().map(|(path, kind)| Loosened {
            file: case.path.clone(),
            case: case.case.name.clone(),
            path,
            kind,
        }));
    }
    Ok(out)
}
