//! Command-line flags, parsed by clap into plain structs; no logic here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use reel_core::filter::{RoutePattern, SampleRate};
use reel_replay::send::HostHeader;
use reel_replay::shard::Shard;

use crate::dep_spec::{self, DepSpec};
use crate::values::{ByteSize, Reports};

/// `reel --version`: the version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("REEL_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "reel",
    version = VERSION,
    about = "Record real API traffic and replay it as regression tests"
)]
pub struct Cli {
    /// Settings file (default: reel.toml in this folder or the nearest parent
    /// up to the repository root). Flags override it.
    #[arg(long, env = "REEL_CONFIG", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record traffic to an app and from it to its dependencies into the store.
    Record(RecordArgs),
    /// List, show, remove or prune recorded sessions; vacuum the store.
    Sessions(SessionsArgs),
    /// Turn a recorded session into a suite of test cases and mocks.
    Generate(GenerateArgs),
    /// Bring traffic saved by another tool into the store as a session.
    Import(ImportArgs),
    /// Write a recorded session in a format other tools read.
    Export(ExportArgs),
    /// Infer an OpenAPI 3.1 document from recorded traffic to the app, or
    /// say where the traffic disagrees with one (--diff).
    Openapi(OpenapiArgs),
    /// Replay a suite against the app with mocks for its dependencies.
    Test(TestArgs),
    /// Walk the pending snapshots of a suite: accept, reject or skip each.
    Review(ReviewArgs),
    /// Accept pending snapshots by case name, or all of them.
    Accept(AcceptArgs),
    /// The whole loop on the bundled demo app: record, generate, replay, diff.
    Demo(DemoArgs),
    /// Run the bundled demo app (used by `reel demo` suites).
    #[command(hide = true)]
    DemoApp(DemoAppArgs),
    /// Show the settings each command takes from reel.toml, and from where.
    Config,
    /// Print a shell's completion script for reel
    /// (`reel completions bash > ~/.local/share/bash-completion/completions/reel`).
    Completions(CompletionsArgs),
    /// Print reel's man page (`reel man > reel.1`, or `reel man | man -l -`).
    Man,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Session id or name (default: reel.toml's [generate] or [record] session).
    pub session: Option<String>,
    /// The suite folder (default: reel/<session name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Keep one read case per request and response shape.
    #[arg(long, overrides_with = "no_dedup")]
    pub dedup: bool,
    /// Keep every case, whatever reel.toml says.
    #[arg(long, overrides_with = "dedup")]
    pub no_dedup: bool,
    /// Replay every generated case N times (default 2) against the real app
    /// and its real dependencies, and turn what differs between the runs or
    /// from the recording into matchers, each one listed.
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "2")]
    pub verify: Option<u32>,
    /// With --verify: start the app with this command (run by sh) instead of
    /// the session's.
    #[arg(long, requires = "verify")]
    pub app: Option<String>,
    /// With --verify: send cases here; without --app, an app already running
    /// there is used.
    #[arg(long, requires = "verify")]
    pub target: Option<String>,
    /// With --verify: poll this URL until it answers before replaying.
    #[arg(long, requires = "verify")]
    pub ready: Option<String>,
    /// With --verify: how long the app may take to get ready, in seconds.
    #[arg(long, default_value_t = 30)]
    pub ready_timeout: u64,
    /// With --verify: run this command (by sh) before each start of the app,
    /// to put a stateful dependency back as it was when recorded (e.g.
    /// truncate the tables the session wrote to).
    #[arg(long, value_name = "CMD", requires = "verify")]
    pub reset: Option<String>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The suite folder (default: reel.toml's [test] dir or [generate] out).
    pub dir: Option<PathBuf>,
    /// Start the app with this command (run by sh) instead of the suite's.
    #[arg(long)]
    pub app: Option<String>,
    /// Poll this URL until it answers before replaying (default: the port).
    #[arg(long)]
    pub ready: Option<String>,
    /// How long the app may take to get ready, in seconds.
    #[arg(long, default_value_t = 30)]
    pub ready_timeout: u64,
    /// Send cases here; without --app, an app already running there is used.
    #[arg(long)]
    pub target: Option<String>,
    /// The Host header of each request: recorded (as the client sent it),
    /// target (the host:port cases are sent to), or a value such as
    /// api.example.com. Absolute-form request targets take the same authority.
    #[arg(
        long,
        value_name = "recorded|target|HOST",
        default_value = "recorded",
        value_parser = HostHeader::parse
    )]
    pub host_header: HostHeader,
    /// How long one case may take, from sending its request to the end of
    /// the answer, in seconds; a case that takes longer fails.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub case_timeout: u64,
    /// Reports to write: junit=FILE,html=FILE,json=FILE (any subset).
    #[arg(long, value_name = "KIND=FILE,...", value_parser = Reports::parse)]
    pub report: Option<Reports>,
    /// Run only shard K of N (1-based), e.g. 2/4.
    #[arg(long, value_name = "K/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,
    /// Write pending snapshots even when CI is set.
    #[arg(long)]
    pub write_pending: bool,
    /// Fail a case whose recorded dependency calls were not all made.
    #[arg(long, overrides_with = "no_strict")]
    pub strict: bool,
    /// Do not, whatever reel.toml says.
    #[arg(long, overrides_with = "strict")]
    pub no_strict: bool,
    /// Replay N times against fresh app instances first and turn values that
    /// differ between those runs into matchers (listed), then replay once more.
    /// 0: do not, whatever reel.toml says.
    #[arg(long, value_name = "N")]
    pub stability: Option<u32>,
    /// Run the app under libfaketime with its clock set to each case's
    /// recorded time before the case is sent (refused for a static binary).
    #[arg(long, overrides_with = "no_freeze_time")]
    pub freeze_time: bool,
    /// Do not, whatever reel.toml says.
    #[arg(long, overrides_with = "freeze_time")]
    pub no_freeze_time: bool,
    /// Blocking Redis commands (BLPOP, XREAD BLOCK, WAIT) answer after as
    /// long as they waited when recorded, instead of at once.
    #[arg(long, overrides_with = "no_recorded_waits")]
    pub recorded_waits: bool,
    /// Do not, whatever reel.toml says.
    #[arg(long, overrides_with = "recorded_waits")]
    pub no_recorded_waits: bool,
    /// Values for ${secret:NAME} placeholders (REEL_SECRET_<NAME> wins).
    /// Default: secrets.toml beside the store (REEL_STORE, else .reel/reel.db),
    /// where `reel generate` keeps them.
    #[arg(long)]
    pub secrets: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    pub dir: PathBuf,
    /// Review in a browser: serve the suite's last run on --listen and print
    /// its address, with the token every request needs (nothing is opened).
    #[arg(long)]
    pub web: bool,
    /// Where --web serves the review.
    #[arg(long, default_value = "127.0.0.1:0", requires = "web")]
    pub listen: String,
    /// For --web's "re-run this case", which otherwise replays as the last
    /// reel test did: start the app with this command.
    #[arg(long, requires = "web")]
    pub app: Option<String>,
    /// For --web's "re-run this case": send the case here (an app already
    /// running there is used when no command is given).
    #[arg(long, requires = "web")]
    pub target: Option<String>,
    /// For --web's "re-run this case": poll this URL until the app answers.
    #[arg(long, requires = "web")]
    pub ready: Option<String>,
    /// Values for ${secret:NAME} placeholders when re-running, as reel test
    /// takes them.
    #[arg(long, requires = "web")]
    pub secrets: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    pub dir: PathBuf,
    /// Accept every pending snapshot.
    #[arg(long, conflicts_with = "cases")]
    pub all: bool,
    /// Case names (file stems such as 0003-get-books) to accept.
    pub cases: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the suite (default: a new temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoAppArgs {
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[arg(long, default_value = "http://127.0.0.1:18081")]
    pub pricing_url: String,
    #[arg(long, value_enum, default_value = "normal")]
    pub variant: reel_fixtures::Variant,
}

#[derive(Debug, Args)]
pub struct StoreArg {
    /// The SQLite store.
    #[arg(
        long,
        env = "REEL_STORE",
        default_value = ".reel/reel.db",
        global = true
    )]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The app to record, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub upstream: Option<String>,
    /// Where clients reach the app through reel.
    #[arg(long, default_value = "127.0.0.1:16789")]
    pub listen: String,
    /// A dependency to record: NAME=PROTO:LISTEN=TARGET, PROTO one of http,
    /// postgres, redis, mysql (or mariadb), e.g.
    /// pricing=http:127.0.0.1:18081=https://pricing.example.com. Repeatable.
    #[arg(long = "dep", value_name = "NAME=PROTO:LISTEN=TARGET", value_parser = dep_spec::parse)]
    pub deps: Vec<DepSpec>,
    /// Also run a forward proxy here for plain-HTTP clients that honour HTTP_PROXY.
    #[arg(long, value_name = "ADDR")]
    pub http_proxy: Option<String>,
    /// Name of the session (default: session-<date>-<time>).
    #[arg(long)]
    pub session: Option<String>,
    /// Largest body copy kept per request or response; longer bodies are
    /// forwarded whole but stored cut and flagged. Accepts K, M and G suffixes.
    #[arg(long, default_value = "8M", value_name = "BYTES", value_parser = ByteSize::parse)]
    pub max_body: ByteSize,
    /// Most connections each recorder keeps open at once; the next ones are
    /// refused (HTTP: a 503 saying why; Postgres: a too-many-connections
    /// error) and counted in the log. Default: 10000, or fewer when the
    /// open-file limit leaves less room.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// How long a client may take to send one request head, in seconds,
    /// however slowly it trickles in; then the connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Keep secrets (credential headers, password/token/api_key fields) out of
    /// the store too: they are stored as ${secret:NAME} placeholders.
    #[arg(long, overrides_with = "no_redact")]
    pub redact: bool,
    /// Store secrets as recorded, whatever reel.toml says.
    #[arg(long, overrides_with = "redact")]
    pub no_redact: bool,
    /// Store only requests to the app that match PATTERN, [METHODS] PATH:
    /// 'GET /api/*', '/books/**', 'POST,PUT /orders'. In a path, * is any
    /// characters within one segment and ** any number of segments; the
    /// query is not matched. Repeatable: a request matching any is kept.
    /// Requests left out are proxied all the same.
    #[arg(long, value_name = "PATTERN", value_parser = RoutePattern::parse)]
    pub include: Vec<RoutePattern>,
    /// Do not store requests to the app that match PATTERN (as --include);
    /// wins over --include. Repeatable.
    #[arg(long, value_name = "PATTERN", value_parser = RoutePattern::parse)]
    pub exclude: Vec<RoutePattern>,
    /// Store only this share of the reads (GET, HEAD, OPTIONS) to the app,
    /// e.g. 0.1 or 10%; every other request is stored. Dependency calls are
    /// always stored.
    #[arg(long, value_name = "RATE", value_parser = SampleRate::parse)]
    pub sample: Option<SampleRate>,
    /// With --sample: pick the reads to keep from this seed, so that the
    /// same traffic keeps the same reads (default: a new seed each run).
    #[arg(long, value_name = "N")]
    pub sample_seed: Option<u64>,
    #[command(flatten)]
    pub store: StoreArg,
    /// The app to start; it is stopped when recording ends.
    #[arg(last = true, value_name = "APP CMD")]
    pub app: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub format: ImportFormat,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Subcommand)]
pub enum ImportFormat {
    /// A HAR 1.2 file: browser devtools, Playwright, mitmproxy, Charles, Proxyman.
    Har {
        file: PathBuf,
        /// The session's name (default: the file's name without extension).
        #[arg(long)]
        session: Option<String>,
        /// The app under test (`host` or `host:port`); entries to other hosts
        /// become its dependencies' calls. Default: the host most entries go to.
        #[arg(long)]
        app_host: Option<String>,
    },
    /// A Keploy test set (keploy/test-set-N/, or keploy/ for all of them):
    /// its HTTP tests, and its HTTP and Postgres mocks as the app's calls to
    /// its dependencies.
    Keploy {
        /// The test set folder (holding tests/ and mocks.yaml), or a folder
        /// of test-set-N folders.
        dir: PathBuf,
        /// The session's name (default: the folder's name).
        #[arg(long)]
        session: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct OpenapiArgs {
    /// A session (id or name), a suite folder, or a HAR file.
    pub source: String,
    /// Where to write the document: JSON for a .json name, else YAML
    /// (default: YAML on stdout).
    #[arg(short = 'o', long, conflicts_with = "diff")]
    pub output: Option<PathBuf>,
    /// An existing OpenAPI document (YAML or JSON): list where the traffic
    /// disagrees with it instead; exit 1 when it does.
    #[arg(long, value_name = "OLD")]
    pub diff: Option<PathBuf>,
    /// For a HAR file: the host of the app (default: the most frequent).
    #[arg(long)]
    pub app_host: Option<String>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub format: ExportFormat,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Subcommand)]
pub enum ExportFormat {
    /// HAR 1.2, as browser devtools and HAR readers take it: the session's
    /// HTTP exchanges, inbound and outbound.
    Har {
        /// Session id or name.
        session: String,
        /// Where to write it (default: stdout).
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Keep credentials as recorded instead of the placeholders a suite
        /// holds (`${secret:AUTHORIZATION}`).
        #[arg(long)]
        include_secrets: bool,
    },
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(subcommand)]
    pub command: Option<SessionsCommand>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions (the default).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a session and its exchanges.
    Show {
        /// Session id or name (a name picks the newest session of that name).
        session: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a session and its exchanges.
    Rm { session: String },
    /// Remove the sessions started more than DURATION ago (e.g. 7d, 12h,
    /// 30m, 1h30m) that are no longer being recorded.
    Prune {
        /// How old a session must be: 7d, 12h, 30m, 45s, 2w, or a sum
        /// such as 1h30m.
        #[arg(long, value_name = "DURATION", value_parser = parse_age)]
        older_than: Duration,
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Give the space of removed sessions back to the filesystem (SQLite
    /// VACUUM); refused while a recorder writes to the store.
    Vacuum,
}

/// `7d`, `12h`, `30m`, `45s`, `2w` or several of them (`1h30m`).
fn parse_age(text: &str) -> Result<Duration, String> {
    let unit_secs = |u: char| match u {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        'w' => Some(7 * 86_400),
        _ => None,
    };
    let bad = || {
        format!(
            "'{text}' is not a duration: expected a number and a unit (s, m, h, d, w), e.g. 7d, 12h, 30m or 1h30m"
        )
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let secs = unit_secs(c).ok_or_else(bad)?;
        total = n
            .checked_mul(secs)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("'{text}' is too long a duration"))?;
        digits.clear();
    }
    if !digits.is_empty() || text.trim().is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_take_units_and_sums_of_them() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("12h"), Ok(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_age("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_age("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age("2w"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        for bad in ["", "7", "d", "7x", "1.5h", "-1d", "7 d"] {
            let e = parse_age(bad).unwrap_err();
            assert!(e.contains("is not a duration"), "{bad}: {e}");
        }
        assert!(parse_age("99999999999999999999w").is_err());
    }
}
