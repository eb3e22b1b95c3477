//! What a replay found: the data every report (terminal, JUnit, HTML, JSON) is
//! written from.

use std::path::PathBuf;

use reel_core::suite::{BodySpec, RequestSpec, ResponseSpec};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RunReport {
    pub suite_name: String,
    pub suite_dir: PathBuf,
    /// RFC 3339.
    pub started_at: String,
    pub duration_ms: f64,
    /// Where the cases were sent, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    /// `(k, n)` when only shard k of n was run.
    pub shard: Option<(u32, u32)>,
    pub cases: Vec<CaseResult>,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl RunReport {
    /// Counts the cases' outcomes into `passed`, `failed` and `skipped`.
    pub fn recount(&mut self) {
        let count = |o| self.cases.iter().filter(|c| c.outcome == o).count();
        (self.passed, self.failed, self.skipped) = (
            count(Outcome::Passed),
            count(Outcome::Failed),
            count(Outcome::Skipped),
        );
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CaseResult {
    /// The case file's stem, e.g. `0003-get-books-1`.
    pub name: String,
    /// The case file, as given on the command line's suite path.
    pub file: PathBuf,
    pub outcome: Outcome,
    pub duration_ms: f64,
    pub request: RequestSpec,
    pub expected: ResponseSpec,
    /// None when no response came back (see `error`).
    pub actual: Option<ActualResponse>,
    /// What accepting this result writes as the new expectation: the actual
    /// response, keeping matchers that hold and references that resolved to
    /// the actual value.
    #[serde(skip)]
    pub accepted: Option<ResponseSpec>,
    /// Every way the actual response differs, one entry per path.
    pub differences: Vec<Difference>,
    /// Unified diff (plain text, no colour) of expected vs actual, pretty-printed.
    pub diff: String,
    /// Ids of the mocks this case's calls were answered with, in call order.
    pub mocks_used: Vec<String>,
    /// Ids of this case's recorded mocks that no call used.
    pub mocks_unused: Vec<String>,
    /// Calls to dependencies that matched no recorded interaction.
    pub mock_misses: Vec<MockMiss>,
    /// Why the case failed or was skipped beyond differences (a refused
    /// connection, a timeout, `--strict` unused mocks).
    pub error: Option<String>,
    /// For a failing case: the lines the app (started by reel) printed on
    /// stdout and stderr while the case ran, in the order they arrived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub app_log: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ActualResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body, decoded from its `Content-Encoding` where reel can.
    pub body: Option<BodySpec>,
    /// The codings undone to read `body` (`gzip`), as a suite writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<String>,
    /// Why a body sent with a coding could not be decoded (it is then as sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undecoded: Option<String>,
}

/// One difference: where, and the two values (absent when missing on a side).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Difference {
    /// `status`, `header content-type`, or a JSON path like `$.items[0].price`;
    /// `body` for a non-JSON body.
    pub path: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct MockMiss {
    pub dependency: String,
    /// e.g. `GET /price?isbn=1&currency=EUR`.
    pub call: String,
    /// The closest recorded interaction's id and call, if any was recorded.
    pub nearest: Option<String>,
    /// Unified diff of the nearest recorded request vs the actual one.
    pub diff: String,
    /// Where the call differs from the nearest recording only in values
    /// (a Bind parameter, a JSON body field): each of them, so a sealed
    /// `generate --verify` can tell values the app makes afresh from changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<MissValue>,
}

/// One value in which a call differs from the recording nearest to it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct MissValue {
    /// The recording's id.
    pub mock: String,
    /// Where in it: `request[3].params[1]` (a Postgres Bind parameter) or a
    /// JSON path in an HTTP request body (`$.nonce`).
    pub path: String,
    /// The recorded and the sent value as text (`None`: SQL NULL, or absent);
    /// binary values as `0x` and hex digits.
    pub recorded: Option<String>,
    pub actual: Option<String>,
}
