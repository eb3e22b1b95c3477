//! reel-replay: runs a suite against the app with mocks standing in for its
//! dependencies, compares every response and reports what changed.

pub mod app;
pub mod compare;
pub mod context;
pub mod diff;
pub mod errors;
pub mod freeze;
pub mod mock;
pub mod model;
pub mod pending;
pub mod report;
pub mod resolve;
pub mod review;
pub mod runner;
pub mod sealed;
pub mod send;
pub mod shard;
pub mod stability;

pub use errors::ReplayError;
pub use model::{ActualResponse, CaseResult, Difference, MockMiss, Outcome, RunReport};
