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

mod demo;
mod generate;
mod import;
mod logging;
mod openapi;
mod output;
mod record;
mod replay;
mod review;
mod sessions;
mod test_cmd;

use std::process::ExitCode;

use reel::{args, config, dep_spec, values};

use clap::{CommandFactory as _, FromArgMatches as _};

/// The proxy path allocates per request (headers, body copies, captures);
/// mimalloc's thread-local caches cost less than glibc's malloc under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = args::Cli::command().get_matches();
    let cli = args::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    logging::init();
    let (_, command_matches) = matches.subcommand().expect("clap requires a command");
    match run(cli, command_matches) {
        Ok(code) => code,
        Err(e) => {
            // An error can quote a suite file or a recording: escaped too.
            eprintln!("reel: error: {}", output::printable(&error_text(&e)));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, `what: why: why`, each cause once:
/// many messages already name their cause (`cannot listen on ...: {source}`),
/// and anyhow's chain would print it again.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// Flags, then reel.toml under them, then the command.
fn run(cli: args::Cli, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    use args::Command;
    let mut command = cli.command;
    // The demo and the review of a given folder need no project settings.
    let cfg = match command {
        Command::Review(_)
        | Command::Accept(_)
        | Command::Demo(_)
        | Command::DemoApp(_)
        | Command::Completions(_)
        | Command::Man => config::Config::default(),
        _ => config::Config::load(cli.config.as_deref())?,
    };
    config::merge::apply(&mut command, matches, &cfg);
    match command {
        Command::Record(a) => record::run(a, cfg.secret_rules()?),
        Command::Sessions(a) => sessions::run(a),
        Command::Generate(a) => generate::run(a, cfg.secret_rules()?),
        Command::Import(a) => import::run(a),
        Command::Export(a) => import::export(a, cfg.secret_rules()?),
        Command::Openapi(a) => openapi::run(a, cfg.secret_rules()?),
        Command::Test(a) => test_cmd::run(a),
        Command::Review(a) => review::review(a),
        Command::Accept(a) => review::accept(a),
        Command::Demo(a) => demo::run(a),
        Command::DemoApp(a) => demo::run_app(a),
        Command::Config => {
            out_part!("{}", config::merge::show(&cfg));
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions(a) => {
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut args::Cli::command(), "reel", &mut script);
            out_part!("{}", String::from_utf8_lossy(&script));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(args::Cli::command()).render(&mut page)?;
            out_part!("{}", String::from_utf8_lossy(&page));
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;

    /// An error shaped like many of reel's: its message names its source.
    #[derive(Debug)]
    struct Listen {
        source: std::io::Error,
    }

    impl std::fmt::Display for Listen {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot listen on 127.0.0.1:1: {}", self.source)
        }
    }

    impl std::error::Error for Listen {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_the_message_already_names_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let shown = io.to_string();
        let e = anyhow::Error::new(Listen { source: io }).context("recording");
        assert_eq!(
            error_text(&e),
            format!("recording: cannot listen on 127.0.0.1:1: {shown}")
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_text(&plain), "outer: inner");
    }
}
