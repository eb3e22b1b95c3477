//! Typed errors of the store; the CLI turns them into one clear message.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the store directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the store file {path}: {source}")]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the store {path} was written by a newer reel (schema version {found}, this reel knows up to {supported}); upgrade reel or use another --store"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path} is not a reel store (it is an SQLite file of another application)")]
    Foreign { path: PathBuf },
    #[error(
        "the store {path} has schema version {found}, older than this reel's; run `reel record` with it once to upgrade it"
    )]
    TooOld { path: PathBuf, found: i64 },
    #[error(
        "no store at {path}: record a session first (`reel record`), or name another with --store"
    )]
    Missing { path: PathBuf },
    #[error("{path} is an empty file, not a reel store; remove it or name another with --store")]
    Empty { path: PathBuf },
    #[error("session {id} \"{name}\" is still being recorded (reel process {pid}); stop that recorder first")]
    StillRecording { id: i64, name: String, pid: u32 },
    #[error("store {path}: {what}: {source}")]
    Sql {
        path: PathBuf,
        what: &'static str,
        source: rusqlite::Error,
    },
    #[error("store {path}: exchange {seq} of session {session} is corrupt: {what}")]
    Corrupt {
        path: PathBuf,
        session: i64,
        seq: i64,
        what: String,
    },
    #[error("no session with id or name '{0}'")]
    NoSuchSession(String),
    #[error("the store writer thread stopped unexpectedly")]
    WriterGone,
}
