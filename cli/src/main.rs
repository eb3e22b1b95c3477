//! `reel`: record real API traffic and turn it into regression tests.
//!
//! The binary is thin: [`args`] parses flags, each command module turns them
//! into a plain config and calls the library crates, and errors become one clear
//! message with exit code 2.

#![forbid(unsafe_code)]

mod args;
mod demo;
mod dep_spec;
mod generate;
mod output;
mod record;
mod review;
mod sessions;
mod test_cmd;

use std::process::ExitCode;

use clap::Parser;

/// The proxy path allocates per request (headers, body copies, captures);
/// mimalloc's thread-local caches cost less than glibc's malloc under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging();
    let result = match cli.command {
        args::Command::Record(a) => record::run(a),
        args::Command::Sessions(a) => sessions::run(a),
        args::Command::Generate(a) => generate::run(a),
        args::Command::Test(a) => test_cmd::run(a),
        args::Command::Review(a) => review::review(a),
        args::Command::Accept(a) => review::accept(a),
        args::Command::Demo(a) => demo::run(a),
        args::Command::DemoApp(a) => demo::run_app(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reel: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr; `REEL_LOG` (or `RUST_LOG`) takes tracing filter directives.
fn init_logging() {
    let filter = std::env::var("REEL_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn,reel=info,reel_fixtures=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
