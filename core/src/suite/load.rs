//! Reading a suite folder, with errors that name the file and what is wrong.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{
    BodySpec, CaseFile, MockSpec, MysqlMock, PgMock, RedisMock, RequestSpec, ResponseSpec,
    SuiteFile, FORMAT_VERSION,
};
use crate::wire::postgres::BackendMessage;

#[cfg(test)]
mod tests;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}:{line}: {source}")]
    ParseLine {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("{path}: suite format {found} is newer than this reel reads ({FORMAT_VERSION}); upgrade reel")]
    TooNew { path: PathBuf, found: u32 },
    #[error("{path}: {what}")]
    Invalid { path: PathBuf, what: String },
    #[error("{path}:{line}: {what}")]
    InvalidLine {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A case file with its mocks.
#[derive(Debug, Clone)]
pub struct LoadedCase {
    pub path: PathBuf,
    pub case: CaseFile,
    pub mocks: Vec<MockSpec>,
    /// This case's Postgres request groups, in recorded order.
    pub pg: Vec<PgMock>,
    /// This case's Redis lines, in recorded order.
    pub redis: Vec<RedisMock>,
    /// This case's MySQL lines, in recorded order.
    pub mysql: Vec<MysqlMock>,
}

#[derive(Debug, Clone)]
pub struct LoadedSuite {
    pub dir: PathBuf,
    pub suite: SuiteFile,
    /// In file-name order, which is recorded order.
    pub cases: Vec<LoadedCase>,
    pub startup: Vec<MockSpec>,
    pub shared: Vec<MockSpec>,
    pub startup_pg: Vec<PgMock>,
    pub shared_pg: Vec<PgMock>,
    pub startup_redis: Vec<RedisMock>,
    pub shared_redis: Vec<RedisMock>,
    pub startup_mysql: Vec<MysqlMock>,
    pub shared_mysql: Vec<MysqlMock>,
}

/// The lines of one mocks file, by protocol.
#[derive(Debug, Clone, Default)]
pub struct MockLines {
    pub http: Vec<MockSpec>,
    pub postgres: Vec<PgMock>,
    pub redis: Vec<RedisMock>,
    pub mysql: Vec<MysqlMock>,
}

pub fn read(path: &Path) -> Result<String, SuiteError> {
    std::fs::read_to_string(path).map_err(|source| SuiteError::Read {
        path: path.to_owned(),
        source,
    })
}

pub fn parse<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, SuiteError> {
    serde_json::from_str(text).map_err(|source| SuiteError::Parse {
        path: path.to_owned(),
        source,
    })
}

pub fn load_case(path: &Path) -> Result<CaseFile, SuiteError> {
    parse_case(path, &read(path)?)
}

/// A case file's `text` read and checked as [`load_case`] does; `path` only
/// names the file in errors.
pub fn parse_case(path: &Path, text: &str) -> Result<CaseFile, SuiteError> {
    let mut case: CaseFile = parse(path, text)?;
    let invalid = |what| SuiteError::Invalid {
        path: path.to_owned(),
        what,
    };
    check_http(&case.request, &case.response, true).map_err(invalid)?;
    check_noise(&case.noise).map_err(invalid)?;
    // Parsed as it is typed, the file reads; as JSON, its matchers are checked.
    crate::matcher::check_kinds(&parse::<Value>(path, text)?, "$").map_err(invalid)?;
    case.response = case.response.decoded();
    Ok(case)
}

/// Every noise body path reads as a JSON path: one that does not would
/// silently ignore nothing.
fn check_noise(noise: &super::Noise) -> Result<(), String> {
    for p in &noise.body_paths {
        crate::json_path::parse(p).map_err(|e| format!("noise body_paths: {e}"))?;
    }
    Ok(())
}

/// A method, target, status and headers HTTP can carry (see
/// [`super::http`]), a body matcher only where a body is compared (never
/// sent), and only content codings reel can encode again; a suite written
/// before answers were shown decoded is decoded here, so the rest of reel
/// sees one form.
fn check_http(
    request: &RequestSpec,
    response: &ResponseSpec,
    expected: bool,
) -> Result<(), String> {
    request.check()?;
    response.check()?;
    if matches!(request.body, Some(BodySpec::Matcher(_))) {
        return Err("a request body cannot be a {\"$reel\": ...} matcher: reel sends it".into());
    }
    if !expected && matches!(response.body, Some(BodySpec::Matcher(_))) {
        return Err(
            "a mock's response body cannot be a {\"$reel\": ...} matcher: the mock sends it".into(),
        );
    }
    if let Some(e) = &response.body_encoding {
        crate::coding::parse_list(e).map_err(|e| format!("response body_encoding: {e}"))?;
    }
    Ok(())
}

pub fn load_mocks(path: &Path) -> Result<MockLines, SuiteError> {
    if !path.exists() {
        return Ok(MockLines::default());
    }
    parse_mocks(path, &read(path)?)
}

/// A mocks file's `text` (JSON lines) read and checked as [`load_mocks`]
/// does; `path` only names the file in errors.
pub fn parse_mocks(path: &Path, text: &str) -> Result<MockLines, SuiteError> {
    let mut out = MockLines::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at_line = |source| SuiteError::ParseLine {
            path: path.to_owned(),
            line: i + 1,
            source,
        };
        let invalid = |what| SuiteError::InvalidLine {
            path: path.to_owned(),
            line: i + 1,
            what,
        };
        let value: Value = serde_json::from_str(line).map_err(at_line)?;
        crate::matcher::check_kinds(&value, "$").map_err(invalid)?;
        match value.get("protocol").and_then(Value::as_str) {
            Some("http") => {
                let mut mock: MockSpec = serde_json::from_value(value).map_err(at_line)?;
                check_http(&mock.request, &mock.response, false).map_err(invalid)?;
                mock.response = mock.response.decoded();
                out.http.push(mock);
            }
            Some("postgres") => {
                let mock: PgMock = serde_json::from_value(value).map_err(at_line)?;
                check_pg(&mock).map_err(invalid)?;
                out.postgres.push(mock);
            }
            Some("redis") => {
                let mock: RedisMock = serde_json::from_value(value).map_err(at_line)?;
                check_redis(&mock).map_err(invalid)?;
                out.redis.push(mock);
            }
            Some("mysql") => {
                let mock: MysqlMock = serde_json::from_value(value).map_err(at_line)?;
                mock.check().map_err(invalid)?;
                out.mysql.push(mock);
            }
            Some(other) => {
                return Err(invalid(format!(
                    "unknown protocol '{other}' (mocks are http, postgres, redis or mysql)"
                )))
            }
            None => {
                return Err(invalid(
                    r#"no "protocol" (mocks are "http", "postgres", "redis" or "mysql")"#
                        .to_owned(),
                ))
            }
        }
    }
    Ok(out)
}

/// The mock encodes a Postgres line's responses, and its requests must be
/// ones a client could send or they would never match; a hand-edited value
/// that cannot go on the wire is refused here, where the file and line are
/// known, rather than panicking the mock.
fn check_pg(mock: &PgMock) -> Result<(), String> {
    for (i, r) in mock.request.iter().enumerate() {
        r.message
            .check()
            .map_err(|e| format!("request message {} ({}): {e}", i + 1, r.message.name()))?;
    }
    for (i, m) in mock.response.iter().enumerate() {
        m.check()
            .map_err(|e| format!("response message {} ({}): {e}", i + 1, m.name()))?;
    }
    Ok(())
}

/// The mock sends a Redis line's replies and pushes as they are written, so
/// each must be a frame RESP can carry (a simple string or error without a
/// line break, a verbatim string's three-letter format, nesting the
/// decoder accepts): checked here, where the file and line are known.
fn check_redis(mock: &RedisMock) -> Result<(), String> {
    let mut out = Vec::new();
    for (what, frames) in [("reply", &mock.replies), ("push", &mock.pushes)] {
        for (i, f) in frames.iter().enumerate() {
            out.clear();
            crate::wire::redis::encode_reply(f, &mut out)
                .map_err(|e| format!("{what} {}: cannot be sent: {e}", i + 1))?;
        }
    }
    Ok(())
}

/// The mock greets each connection with a Postgres dependency's recorded
/// server parameters, so they too must be able to go on the wire.
fn check_server_parameters(path: &Path, suite: &SuiteFile) -> Result<(), SuiteError> {
    for dep in suite
        .dependencies
        .iter()
        .filter(|d| d.protocol == "postgres")
    {
        for (i, (name, value)) in dep.server_parameters.iter().enumerate() {
            let status = BackendMessage::ParameterStatus {
                name: name.clone(),
                value: value.clone(),
            };
            status.check().map_err(|e| SuiteError::Invalid {
                path: path.to_owned(),
                what: format!(
                    "dependency '{}': server_parameters[{i}] ({name:?}): {e}",
                    dep.name
                ),
            })?;
        }
    }
    Ok(())
}

/// A `suite.json`'s `text` read and checked as [`load_suite`] does; `path`
/// only names the file in errors.
pub fn parse_suite(path: &Path, text: &str) -> Result<SuiteFile, SuiteError> {
    let suite: SuiteFile = parse(path, text)?;
    if suite.reel_suite > FORMAT_VERSION {
        return Err(SuiteError::TooNew {
            path: path.to_owned(),
            found: suite.reel_suite,
        });
    }
    check_server_parameters(path, &suite)?;
    check_noise(&suite.noise).map_err(|what| SuiteError::Invalid {
        path: path.to_owned(),
        what,
    })?;
    Ok(suite)
}

/// A case's name as reports and commands give it: its file's stem,
/// `0003-get-books` of `cases/0003-get-books.json`.
pub fn case_stem(case: &Path) -> String {
    case.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The case files of a suite folder, sorted by name.
pub fn case_paths(dir: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    let cases = dir.join("cases");
    not_a_link(&cases)?;
    let entries = std::fs::read_dir(&cases).map_err(|source| SuiteError::Read {
        path: cases.clone(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// reel writes into `cases/` and `mocks/` (pending snapshots, loosened
/// values), so a folder committed as a link elsewhere is refused.
fn not_a_link(folder: &Path) -> Result<(), SuiteError> {
    match std::fs::symlink_metadata(folder) {
        Ok(m) if m.file_type().is_symlink() => Err(SuiteError::Invalid {
            path: folder.to_owned(),
            what: "is a link; a suite's cases/ and mocks/ must be folders inside it, as reel writes there".into(),
        }),
        _ => Ok(()),
    }
}

pub fn load_suite(dir: &Path) -> Result<LoadedSuite, SuiteError> {
    let suite_path = dir.join("suite.json");
    let suite = parse_suite(&suite_path, &read(&suite_path)?)?;
    not_a_link(&dir.join("mocks"))?;
    let mut cases = Vec::new();
    for path in case_paths(dir)? {
        let case = load_case(&path)?;
        let mocks = match &case.mocks {
            Some(rel) => {
                // reel edits mock files (loosening): they stay inside the suite.
                let inside = Path::new(rel)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)));
                if !inside {
                    return Err(SuiteError::Invalid {
                        path,
                        what: format!(
                            "mocks: '{rel}' is not a path inside the suite folder (like mocks/0001-get-books.jsonl)"
                        ),
                    });
                }
                let p = dir.join(rel);
                if !p.exists() {
                    return Err(SuiteError::Invalid {
                        path,
                        what: format!("its mock file {rel} does not exist"),
                    });
                }
                load_mocks(&p)?
            }
            None => MockLines::default(),
        };
        cases.push(LoadedCase {
            path,
            case,
            mocks: mocks.http,
            pg: mocks.postgres,
            redis: mocks.redis,
            mysql: mocks.mysql,
        });
    }
    let startup = load_mocks(&dir.join("mocks/startup.jsonl"))?;
    let shared = load_mocks(&dir.join("mocks/shared.jsonl"))?;
    let mut loaded = LoadedSuite {
        startup: startup.http,
        shared: shared.http,
        startup_pg: startup.postgres,
        shared_pg: shared.postgres,
        startup_redis: startup.redis,
        shared_redis: shared.redis,
        startup_mysql: startup.mysql,
        shared_mysql: shared.mysql,
        dir: dir.to_owned(),
        suite,
        cases,
    };
    if loaded.suite.reel_suite < 2 {
        upgrade_v1(&mut loaded);
    }
    Ok(loaded)
}

/// Suites written before format 2 relied on the mock accepting, unwritten,
/// any UUID or RFC 3339 timestamp where one was recorded in a dependency
/// request (a Bind parameter in text format, a JSON request body value).
/// Such suites keep working: those values are read as the matchers a newer
/// `generate` writes. Regenerating writes them into the files.
fn upgrade_v1(suite: &mut LoadedSuite) {
    use crate::matcher::{is_timestamp, is_uuid, MARKER};
    use crate::wire::postgres::FrontendMessage;
    let kind = |s: &str| {
        if is_uuid(s) {
            Some("uuid")
        } else if is_timestamp(s) {
            Some("timestamp")
        } else {
            None
        }
    };
    let pg = suite
        .cases
        .iter_mut()
        .flat_map(|c| c.pg.iter_mut())
        .chain(suite.startup_pg.iter_mut())
        .chain(suite.shared_pg.iter_mut());
    for m in pg {
        for r in &mut m.request {
            let FrontendMessage::Bind {
                param_formats,
                params,
                ..
            } = &r.message
            else {
                continue;
            };
            let text = |i: usize| match param_formats.as_slice() {
                [] => true,
                [one] => *one == 0,
                many => many.get(i) != Some(&1),
            };
            let found: Vec<(usize, &str)> = params
                .iter()
                .enumerate()
                .filter(|(i, _)| text(*i) && !r.matchers.contains_key(i))
                .filter_map(|(i, p)| {
                    let s = std::str::from_utf8(p.as_deref()?).ok()?;
                    Some((i, kind(s)?))
                })
                .collect();
            for (i, k) in found {
                r.set_matcher(i, k);
            }
        }
    }
    fn walk(v: &mut Value, kind: &dyn Fn(&str) -> Option<&'static str>) {
        match v {
            Value::Object(m) => m.values_mut().for_each(|c| walk(c, kind)),
            Value::Array(a) => a.iter_mut().for_each(|c| walk(c, kind)),
            Value::String(s) => {
                if let Some(k) = kind(s) {
                    *v = serde_json::json!({ MARKER: k });
                }
            }
            _ => {}
        }
    }
    let http = suite
        .cases
        .iter_mut()
        .flat_map(|c| c.mocks.iter_mut())
        .chain(suite.startup.iter_mut())
        .chain(suite.shared.iter_mut());
    for m in http {
        if let Some(super::BodySpec::Json(v)) = &mut m.request.body {
            walk(v, &kind);
        }
    }
}
