//! The JSON report: the whole [`RunReport`] as pretty JSON, for tools that want
//! more than JUnit carries (differences, mock use, the diff text).

use std::path::Path;

use crate::{ReplayError, RunReport};

/// Writes `report` to `path` as pretty JSON with a trailing newline.
pub fn write_json(report: &RunReport, path: &Path) -> Result<(), ReplayError> {
    let mut text = serde_json::to_string_pretty(report)
        .map_err(|e| ReplayError::Other(format!("cannot serialize the JSON report: {e}")))?;
    text.push('\n');
    super::write_file(path, text.as_bytes())
}
