//! Reading a suite folder, with errors that name the file and what is wrong.

use std::path::{Path, PathBuf};

use super::{CaseFile, MockSpec, PgMock, SuiteFile, FORMAT_VERSION};

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
}

/// The lines of one mocks file, by protocol.
#[derive(Debug, Clone, Default)]
pub struct MockLines {
    pub http: Vec<MockSpec>,
    pub postgres: Vec<PgMock>,
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
    parse(path, &read(path)?)
}

pub fn load_mocks(path: &Path) -> Result<MockLines, SuiteError> {
    let mut out = MockLines::default();
    if !path.exists() {
        return Ok(out);
    }
    let text = read(path)?;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at_line = |source| SuiteError::ParseLine {
            path: path.to_owned(),
            line: i + 1,
            source,
        };
        // Only Postgres lines need a look before they are parsed whole.
        if line.contains(r#""protocol":"postgres""#) {
            out.postgres
                .push(serde_json::from_str(line).map_err(at_line)?);
        } else {
            out.http.push(serde_json::from_str(line).map_err(at_line)?);
        }
    }
    Ok(out)
}

/// The case files of a suite folder, sorted by name.
pub fn case_paths(dir: &Path) -> Result<Vec<PathBuf>, SuiteError> {
    let cases = dir.join("cases");
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

pub fn load_suite(dir: &Path) -> Result<LoadedSuite, SuiteError> {
    let suite_path = dir.join("suite.json");
    let suite: SuiteFile = parse(&suite_path, &read(&suite_path)?)?;
    if suite.reel_suite > FORMAT_VERSION {
        return Err(SuiteError::TooNew {
            path: suite_path,
            found: suite.reel_suite,
        });
    }
    let mut cases = Vec::new();
    for path in case_paths(dir)? {
        let case = load_case(&path)?;
        let mocks = match &case.mocks {
            Some(rel) => {
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
        });
    }
    let startup = load_mocks(&dir.join("mocks/startup.jsonl"))?;
    let shared = load_mocks(&dir.join("mocks/shared.jsonl"))?;
    Ok(LoadedSuite {
        startup: startup.http,
        shared: shared.http,
        startup_pg: startup.postgres,
        shared_pg: shared.postgres,
        dir: dir.to_owned(),
        suite,
        cases,
    })
}
