//! MySQL mock throughput: `mysqlslap` (20 clients, a one-row primary-key
//! read each time) against reel's mock, which answers from recorded lines
//! of the startup pool: the statement mysqlslap sends among
//! `MYSQL_MOCK_LINES` (10,000) other recorded statements, so that finding
//! the answer costs what it costs in a large suite. Reports queries per
//! second; the target is 20,000/s.
//!
//!     cargo bench -p reel-replay --bench mysql_mock
//!     MYSQL_MOCK_QUERIES=500000 MYSQL_MOCK_LINES=100000 cargo bench -p reel-replay --bench mysql_mock

use std::sync::Arc;

use reel_core::suite::MysqlMock;
use reel_replay::mock::mysql::serve;
use reel_replay::mock::mysql_book::MysqlBook;
use serde_json::json;

fn line(seq: i64, cmd: &str, sql: Option<String>, answer: serde_json::Value) -> MysqlMock {
    let answer = answer.as_object().expect("an object").clone();
    let mut m = MysqlMock::new(&format!("startup#{seq}"), "db", cmd, sql.as_deref(), answer);
    m.seq = seq;
    m
}

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One row of one VARCHAR column named `name`.
fn one_row(value: &str) -> serde_json::Value {
    json!({"results": [{"columns": [{"schema": "shop", "table": "users", "org_table": "users",
        "name": "name", "org_name": "name", "charset": 45, "length": 160, "type": "VAR_STRING",
        "flags": 4097, "decimals": 0}], "rows": [[value]], "status": 2, "warnings": 0}]})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let queries = env_or("MYSQL_MOCK_QUERIES", 200_000);
    let others = env_or("MYSQL_MOCK_LINES", 10_000) as i64;
    let mut pool: Vec<MysqlMock> = (0..others)
        .map(|i| {
            let sql = format!("SELECT name FROM users WHERE id = {}", i + 100);
            line(i, "COM_QUERY", Some(sql), one_row(&format!("user-{i}")))
        })
        .collect();
    let asked = "SELECT name FROM users WHERE id = 7";
    pool.push(line(
        others,
        "COM_QUERY",
        Some(asked.into()),
        one_row("ann"),
    ));
    let book = Arc::new(MysqlBook::new(vec![], pool));
    let server = serve("db", "127.0.0.1:0", book)
        .await
        .expect("starting the mock");
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new("mysqlslap")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &server.addr.port().to_string(),
            "-u",
            "root",
        ])
        .args([
            "--create-schema=test",
            "--no-drop",
            "--iterations=1",
            "--concurrency=20",
        ])
        .arg(format!("--query={asked}"))
        .arg(format!("--number-of-queries={queries}"))
        .output()
        .await
        .expect("running mysqlslap (Debian: mariadb-client)");
    let wall = started.elapsed().as_secs_f64();
    server.stop().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mysqlslap failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs: f64 = stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Average number of seconds to run all queries: ")?
                .strip_suffix(" seconds")?
                .parse()
                .ok()
        })
        .unwrap_or(wall);
    println!(
        "mysql mock: {queries} queries from 20 clients among {} recorded statements in {secs:.2} s: {:.0} queries/s (target 20,000)",
        others + 1,
        f64::from(queries) / secs.max(0.001)
    );
}
