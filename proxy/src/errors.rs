//! Typed errors of the recorders.

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{what} '{url}' is not a usable URL: {why}")]
    BadUrl {
        what: &'static str,
        url: String,
        why: String,
    },
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: String,
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot set up TLS for {what}: {why}")]
    Tls { what: String, why: String },
    #[error("cannot start a thread for {what}: {source}")]
    Thread {
        what: String,
        source: std::io::Error,
    },
}
