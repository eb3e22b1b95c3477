//! reel-core: the data model, the SQLite store and its writer thread.
//!
//! Everything that both the recorders (`reel-proxy`) and the replayer need to agree
//! on lives here, so that the two never import each other.

pub mod body;
pub mod coding;
pub mod env;
pub mod errors;
pub mod files;
pub mod filter;
pub mod fnv;
pub mod generate;
pub mod har;
pub mod json_path;
pub mod keploy;
pub mod matcher;
pub mod model;
pub mod openapi;
pub mod redact;
pub mod secrets;
pub mod store;
pub mod suite;
pub mod template;
pub mod terminal;
pub mod time;
pub mod wire;
pub mod writer;

pub use errors::StoreError;
pub use model::{
    Body, DecodedJson, Direction, Exchange, Header, HttpRequest, HttpResponse, Payload, Protocol,
    Recorder, Session, SessionState,
};
pub use store::{SessionSummary, Store};
pub use writer::{Capture, CaptureSender, StoreWriter, WriterStats};
