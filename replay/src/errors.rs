//! Typed errors of the replayer. Problems with the suite or setup are errors;
//! a case that fails is not an error but an outcome in the report.

use std::path::PathBuf;

use reel_core::suite::SuiteError;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error("--shard '{0}': expected K/N with 1 <= K <= N, e.g. 2/4")]
    BadShard(String),
    #[error("cannot start the mock for dependency '{name}' on {listen}: {source}")]
    MockBind {
        name: String,
        listen: String,
        source: std::io::Error,
    },
    #[error("dependency '{name}' uses protocol '{protocol}', which this reel cannot mock yet")]
    UnsupportedProtocol { name: String, protocol: String },
    #[error("cannot start the app '{command}': {source}")]
    AppStart {
        command: String,
        source: std::io::Error,
    },
    #[error("the app '{command}' exited with {status} before it was ready{log}")]
    AppExited {
        command: String,
        status: String,
        log: String,
    },
    #[error("the app was not ready within {secs} s (polled {what}){log}")]
    AppNotReady {
        secs: u64,
        what: String,
        log: String,
    },
    #[error("the target '{0}' is not an http:// URL")]
    BadTarget(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}
