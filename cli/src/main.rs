//! `reel`: record real API traffic and turn it into regression tests.
//!
//! The binary is thin: [`args`] parses flags, [`config`] fills what they leave
//! unset from reel.toml, each command module turns them into a plain config and
//! calls the library crates, and errors become one clear message with exit code 2.

#![forbid(unsafe_code)]

/// `println!` that ends reel quietly when whoever reads its output has gone
/// (`reel sessions show x | head`) instead of panicking on the broken pipe.
macro_rules! out {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with the same care as [`out!`].
macro_rules! out_part {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

mod args;
mod config;
mod demo;
mod dep_spec;
mod generate;
mod output;
mod record;
mod review;
mod sessions;
mod test_cmd;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

/// The proxy path allocates per request (headers, body copies, captures);
/// mimalloc's thread-local caches cost less than glibc's malloc under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = args::Cli::command().get_matches();
    let cli = args::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging();
    let (_, command_matches) = matches.subcommand().expect("clap requires a command");
    match run(cli, command_matches) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reel: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Flags, then reel.toml under them, then the command.
fn run(cli: args::Cli, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    use args::Command;
    let mut command = cli.command;
    // The demo and the review of a given folder need no project settings.
    let cfg = match command {
        Command::Review(_) | Command::Accept(_) | Command::Demo(_) | Command::DemoApp(_) => {
            config::Config::default()
        }
        _ => config::Config::load(cli.config.as_deref())?,
    };
    config::merge::apply(&mut command, matches, &cfg);
    match command {
        Command::Record(a) => record::run(a, cfg.secret_rules()?),
        Command::Sessions(a) => sessions::run(a),
        Command::Generate(a) => generate::run(a, cfg.secret_rules()?),
        Command::Test(a) => test_cmd::run(a),
        Command::Review(a) => review::review(a),
        Command::Accept(a) => review::accept(a),
        Command::Demo(a) => demo::run(a),
        Command::DemoApp(a) => demo::run_app(a),
        Command::Config => {
            out_part!("{}", config::merge::show(&cfg));
            Ok(ExitCode::SUCCESS)
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
