//! End-to-end tests: the real `reel` binary against the demo app and real servers.
//! All tests live in this one binary (one link, shared support code).

mod bad_input;
mod ci;
mod ci_recipes;
mod config;
mod content;
mod crash;
mod fidelity;
mod flags;
mod flows;
mod har;
mod hostile_suite;
mod install;
mod keploy;
mod limits;
mod long;
mod mysql;
mod openapi;
mod pg_pools;
mod postgres;
mod protocols;
mod real_apps;
mod record;
mod redis;
mod replay;
mod review_web;
mod support;
mod volatile;
