//! Mock dependencies: recorded answers served where the dependencies stood.
//!
//! [`book::MockBook`] holds every recorded interaction and decides which one
//! answers a call; [`http::serve`] is the hyper server in front of it.
//! [`pg_book::PgBook`] and [`postgres::serve`] do the same for Postgres,
//! [`redis_book::RedisBook`] and [`redis::serve`] for Redis.

pub mod book;
pub mod http;
pub mod pg_book;
pub mod pg_diff;
pub mod postgres;
pub mod redis;
pub mod redis_book;

pub use book::{Call, MockBook};
