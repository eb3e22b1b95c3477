//! Wire protocol codecs for dependencies reel records below HTTP.

pub mod postgres;
