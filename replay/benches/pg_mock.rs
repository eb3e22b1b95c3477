//! Postgres mock throughput: pgbench's simple-protocol client sending
//! `SELECT 1` over 4 connections for 5 seconds to reel's mock, which answers
//! from a recorded group (RowDescription, DataRow, CommandComplete,
//! ReadyForQuery) in the shared pool. Reports queries per second; the target
//! is 10,000/s.
//!
//!     cargo bench -p reel-replay --bench pg_mock
//!     PG_MOCK_SECONDS=10 PG_MOCK_CLIENTS=8 cargo bench -p reel-replay --bench pg_mock

use std::sync::Arc;

use reel_core::suite::{PgMock, PgRequest};
use reel_core::wire::postgres::{BackendMessage, Field, FrontendMessage, TxStatus};
use reel_replay::mock::pg_book::PgBook;
use reel_replay::mock::postgres::{serve, PgServerInfo};

fn select_one() -> PgMock {
    PgMock {
        id: "shared#1".into(),
        seq: 1,
        dependency: "db".into(),
        protocol: "postgres".into(),
        connection: 1,
        request: vec![PgRequest {
            message: FrontendMessage::Query {
                sql: "SELECT 1;".into(),
            },
            prepared: None,
            matchers: Default::default(),
        }],
        response: vec![
            BackendMessage::RowDescription {
                fields: vec![Field {
                    name: "?column?".into(),
                    table_oid: 0,
                    column: 0,
                    type_oid: 23,
                    type_size: 4,
                    type_modifier: -1,
                    format: 0,
                }],
            },
            BackendMessage::DataRow {
                values: vec![Some(b"1".to_vec().into())],
            },
            BackendMessage::CommandComplete {
                tag: "SELECT 1".into(),
            },
            BackendMessage::ReadyForQuery {
                status: TxStatus::Idle,
            },
        ],
    }
}

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let seconds = env_or("PG_MOCK_SECONDS", 5);
    let clients = env_or("PG_MOCK_CLIENTS", 4);
    let book = Arc::new(PgBook::new(vec![], vec![select_one()]));
    let server = serve("db", "127.0.0.1:0", book, PgServerInfo::new(&[]))
        .await
        .expect("starting the mock");
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), "SELECT 1;\n").unwrap();
    let out = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "simple", "-f"])
        .arg(script.path())
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            "1",
            "-T",
            &seconds.to_string(),
        ])
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args(["-U", "bench", "mockdb"])
        .output()
        .await
        .expect("running pgbench (Debian: postgresql-client)");
    server.stop().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok());
    match tps {
        Some(tps) if out.status.success() => {
            let failed = stdout
                .lines()
                .find(|l| l.starts_with("number of failed transactions"))
                .unwrap_or("number of failed transactions: 0");
            println!("postgres mock: {tps:.0} simple queries/s ({clients} pgbench clients, {seconds} s; target 10,000/s)");
            println!("  {failed}");
        }
        _ => {
            eprintln!(
                "pgbench failed:\n{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::process::exit(2);
        }
    }
}
