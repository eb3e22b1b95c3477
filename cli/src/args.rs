//! Command-line flags, parsed by clap into plain structs; no logic here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "reel", version, about = "Record real API traffic and replay it as regression tests")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record traffic to an app and from it to its dependencies into the store.
    Record(RecordArgs),
    /// List, show or remove recorded sessions.
    Sessions(SessionsArgs),
}

#[derive(Debug, Args)]
pub struct StoreArg {
    /// The SQLite store.
    #[arg(long, env = "REEL_STORE", default_value = ".reel/reel.db", global = true)]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The app to record, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    pub upstream: String,
    /// Where clients reach the app through reel.
    #[arg(long, default_value = "127.0.0.1:16789")]
    pub listen: String,
    /// A dependency to record: NAME=PROTO:LISTEN=TARGET, e.g.
    /// pricing=http:127.0.0.1:18081=https://pricing.example.com. Repeatable.
    #[arg(long = "dep", value_name = "NAME=PROTO:LISTEN=TARGET")]
    pub deps: Vec<String>,
    /// Also run a forward proxy here for plain-HTTP clients that honour HTTP_PROXY.
    #[arg(long, value_name = "ADDR")]
    pub http_proxy: Option<String>,
    /// Name of the session (default: session-<date>-<time>).
    #[arg(long)]
    pub session: Option<String>,
    /// Largest body copy kept per request or response; longer bodies are
    /// forwarded whole but stored cut and flagged. Accepts K, M and G suffixes.
    #[arg(long, default_value = "8M", value_name = "BYTES")]
    pub max_body: String,
    #[command(flatten)]
    pub store: StoreArg,
    /// The app to start; it is stopped when recording ends.
    #[arg(last = true, value_name = "APP CMD")]
    pub app: Vec<String>,
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
}
