//! The part of `reel` that turns what the user wrote into typed settings:
//! its flags ([`args`]), `--dep` specs ([`dep_spec`]), sizes and reports
//! ([`values`]) and reel.toml ([`config`]). A library so that the fuzz targets (`fuzz/`) can reach the
//! reel.toml parser and its merge under the flags; the binary (`main.rs`)
//! uses it as it is.

#![forbid(unsafe_code)]

pub mod args;
pub mod config;
pub mod dep_spec;
pub mod values;
