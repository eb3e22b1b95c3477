//! reel-proxy: the recorders.
//!
//! [`server::Recorder`] runs pingora proxies on a thread of their own:
//! the inbound recorder in front of the app, one named recorder per HTTP
//! dependency, and an optional forward proxy for clients that honour
//! `HTTP_PROXY`; [`postgres`] and [`redis`] record those dependencies as TCP
//! proxies. Every finished exchange goes to the store writer through a
//! [`reel_core::CaptureSender`].

pub mod capture;
pub mod errors;
pub mod http;
pub mod limit;
mod mysql;
mod postgres;
mod redis;
pub mod server;
mod tcp;
pub mod upstream;

pub use errors::ProxyError;
pub use limit::ConnLimits;
pub use server::{Recorder, RecorderConfig};
pub use upstream::Upstream;
