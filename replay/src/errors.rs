//! Typed errors of the replayer. Problems with the suite or setup are errors;
//! a case that fails is not an error but an outcome in the report.

use std::path::PathBuf;

use reel_core::suite::SuiteError;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error("'{0}' is not a shard: expected K/N with 1 <= K <= N, e.g. 2/4")]
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
    #[error("--freeze-time: libfaketime was not found (looked in {looked}); install it (Debian: apt-get install faketime) or set REEL_LIBFAKETIME to its libfaketime.so.1")]
    NoFaketime { looked: String },
    #[error("--freeze-time: {path} is statically linked (its ELF headers name no dynamic loader), so libfaketime cannot be preloaded into it and its clock cannot be set; replay without --freeze-time or run a dynamically linked build")]
    StaticApp { path: PathBuf },
    #[error("--freeze-time: the process listening on port {port} (pid {pid}, {exe}) did not load {lib}, so its clock cannot be set: it is statically linked, or something between reel and it cleared LD_PRELOAD")]
    FaketimeNotLoaded {
        pid: u32,
        exe: String,
        port: u16,
        lib: String,
    },
    #[error("--freeze-time: the app stopped or never answered while starting under libfaketime ({lib} preloaded, its clock set to the recording's); replay without --freeze-time to tell whether that is why")]
    FrozenAppFailed {
        lib: String,
        #[source]
        source: Box<ReplayError>,
    },
    #[error("--freeze-time: {0}")]
    FreezeTime(String),
    #[error("the suite needs secrets that are not set:\n{list}\nset them in the environment, or run where `reel generate` wrote .reel/secrets.toml (--secrets FILE)")]
    MissingSecrets {
        /// One line per secret: `  REEL_SECRET_NAME (used by FILES)`.
        list: String,
    },
    #[error("interrupted by {signal}")]
    Interrupted { signal: nix::sys::signal::Signal },
    #[error("cannot write the app's output to {path}")]
    AppLog {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: cannot do that: {what}", case.display())]
    Decision { case: PathBuf, what: String },
    #[error("{} changed on disk since the page showed it: reload to see the change, then decide again", file.display())]
    ChangedOnDisk { file: PathBuf },
    #[error("cannot serve the review on {listen}: {source}")]
    ReviewBind {
        listen: String,
        source: std::io::Error,
    },
    #[error("the suite has no case '{0}'")]
    NoCase(String),
    #[error("{0}")]
    Other(String),
}

/// `e` and each of its causes, `: ` between: how a case's failure to send
/// reads in the report.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
