//! Mock dependencies: recorded answers served where the dependencies stood.
//!
//! [`book::MockBook`] holds every recorded interaction and decides which one
//! answers a call; [`http::serve`] is the hyper server in front of it.

pub mod book;
pub mod http;

pub use book::{Call, MockBook};
