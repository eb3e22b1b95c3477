//! The suite folder format: what `generate` writes, reviewers read and the
//! replayer runs.
//!
//! ```text
//! reel/<suite>/suite.json                  app, dependencies, global noise rules
//! reel/<suite>/cases/0001-get-books.json   request, expected response, per-case noise
//! reel/<suite>/mocks/0001-get-books.jsonl  outbound interactions of that case, in order
//! reel/<suite>/mocks/startup.jsonl         calls before the first case
//! reel/<suite>/mocks/shared.jsonl          calls that belong to no single case
//! ```
//!
//! Files are pretty JSON with a stable key order (JSON Lines for mocks), so
//! generating twice gives identical bytes and diffs in review stay small.

pub mod body;
pub mod http;
pub mod layout;
pub mod load;
pub mod mysql;
pub mod postgres;
pub mod redis;

use serde::{Deserialize, Serialize};

pub use body::BodySpec;
pub use layout::JsonLayout;
pub use load::{load_suite, LoadedSuite, SuiteError};
pub use mysql::MysqlMock;
pub use postgres::{PgMock, PgRequest};
pub use redis::RedisMock;

/// The suite format version this reel writes and reads. Version 2 writes
/// every loosened dependency value as a matcher in the mock lines; in
/// version 1 suites a recorded UUID or timestamp in a dependency request
/// accepted any value of its format without saying so, which
/// [`load::load_suite`] turns into written matchers when it reads one.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteFile {
    pub reel_suite: u32,
    pub name: String,
    pub session: SessionRef,
    pub app: AppSpec,
    #[serde(default)]
    pub dependencies: Vec<DependencySpec>,
    #[serde(default)]
    pub noise: Noise,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRef {
    pub id: i64,
    pub name: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppSpec {
    /// How to start the app (run by `sh -c`); none when it is started elsewhere.
    pub command: Option<String>,
    /// Where the app listens, e.g. `http://127.0.0.1:8080`.
    pub target: String,
    /// A URL that answers once the app is ready; else the target's port is polled.
    #[serde(default)]
    pub ready: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependencySpec {
    pub name: String,
    pub protocol: String,
    /// Where the app reaches it; the mock listens here at replay.
    pub listen: String,
    /// Postgres: the server's ParameterStatus values, which the mock sends
    /// when a connection starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_parameters: Vec<(String, String)>,
}

/// What to leave out of comparison.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Noise {
    /// Header names (case-insensitive) not compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// JSON paths (`$.items[*].created_at`) not compared in bodies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_paths: Vec<String>,
}

impl Noise {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.body_paths.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFile {
    pub name: String,
    /// The inbound exchange's sequence number in the session.
    pub seq: i64,
    pub recorded_at: String,
    /// How long the app took to answer when recorded, in milliseconds:
    /// what `--shard` balances shards by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    pub request: RequestSpec,
    /// How the request's JSON body was written on the wire, when that was not
    /// the compact form: replay writes it the same way (see [`layout`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_layout: Option<JsonLayout>,
    pub response: ResponseSpec,
    #[serde(default, skip_serializing_if = "Noise::is_empty")]
    pub noise: Noise,
    /// The case's mock file, relative to the suite folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mocks: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSpec {
    pub method: String,
    pub target: String,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodySpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseSpec {
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The `Content-Encoding` (`gzip`, `br`, ...) the body was sent with, when
    /// `body` is shown decoded: reel compares the decoded body and encodes it
    /// again where it sends it (a mock's answer). Absent, the body is the
    /// bytes as sent, as suites written before this show compressed answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodySpec>,
}

/// One recorded outbound interaction, a line of a `mocks/*.jsonl` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MockSpec {
    /// `<file stem>#<n>`, unique in the suite.
    pub id: String,
    pub seq: i64,
    pub dependency: String,
    pub protocol: String,
    pub request: RequestSpec,
    pub response: ResponseSpec,
}

/// Headers about the connection or the server rather than the answer: not
/// compared by default (`generate` writes them into the suite's noise rules).
pub const DEFAULT_IGNORED_HEADERS: &[&str] = &[
    "server",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
];

/// Headers whose values differ on every run by nature: compared by form, not
/// value. When the recording had one, the answer must carry it in the same
/// form (a Date an HTTP date, Set-Cookie the same cookie names, a request id
/// the same shape). Suites that list one under `noise.headers` ignore it
/// entirely instead, as suites generated before this did.
pub const LOOSE_HEADERS: &[&str] = &[
    "date",
    "age",
    "etag",
    "last-modified",
    "expires",
    "set-cookie",
    "x-request-id",
    "x-correlation-id",
    "request-id",
    "x-trace-id",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-amzn-trace-id",
    "www-authenticate",
    "proxy-authenticate",
    "authentication-info",
    "proxy-authentication-info",
];

/// The number a case file's name starts with (`0003` of `0003-get-books`): how
/// placeholders refer to the case. Four digits or more.
pub fn case_number(stem: &str) -> &str {
    let end = stem
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(stem.len());
    &stem[..end]
}

/// The path and query of a request target, also of one in absolute form
/// (`http://host/a?b` → `/a?b`), as clients that use a forward proxy send.
pub fn origin_form(target: &str) -> &str {
    match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    }
}

/// Case-insensitive header lookup in a spec's header list.
pub fn spec_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Pretty JSON with a trailing newline, as every suite file is written.
pub fn to_pretty<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("suite types serialize");
    s.push('\n');
    s
}
