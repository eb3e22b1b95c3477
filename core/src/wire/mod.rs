//! Wire protocol codecs for dependencies reel records below HTTP.

use std::fmt;

mod bytes;
pub mod mysql;
pub mod postgres;
pub mod redis;

pub use bytes::Bytes;

/// Which end of the connection sent the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The client (the app).
    Frontend,
    /// The server (the dependency, or reel's mock of it).
    Backend,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Frontend => "client",
            Side::Backend => "server",
        })
    }
}

/// A frame that breaks the protocol, or a stream that ended inside a frame.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("malformed {message} from the {side} at byte {offset}: {reason}")]
pub struct DecodeError {
    pub side: Side,
    /// What was being read: the message's name (`Bind`), `message of
    /// unknown type 'x' (0x78)`, `command`, `reply`.
    pub message: String,
    /// Where the message starts, counted from the first byte of the
    /// connection in this direction.
    pub offset: u64,
    pub reason: String,
}
