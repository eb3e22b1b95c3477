//! Redis mock throughput: `redis-benchmark -t set,get -P 16` (50 clients,
//! pipelines of 16) against reel's mock, which answers from recorded lines
//! of the startup pool: the two commands redis-benchmark sends among
//! `REDIS_MOCK_LINES` (10,000) other recorded commands, so that finding the
//! answer costs what it costs in a large suite. Reports commands per second
//! and how many got an error; the target is 50,000/s.
//!
//!     cargo bench -p reel-replay --bench redis_mock
//!     REDIS_MOCK_REQUESTS=500000 REDIS_MOCK_LINES=100000 cargo bench -p reel-replay --bench redis_mock

use std::sync::Arc;

use reel_core::suite::RedisMock;
use reel_core::wire::redis::Frame;
use reel_core::wire::Bytes;
use reel_replay::mock::redis::serve;
use reel_replay::mock::redis_book::RedisBook;

fn line(seq: i64, args: &[&str], reply: Frame) -> RedisMock {
    RedisMock {
        id: format!("startup#{seq}"),
        seq,
        dependency: "cache".into(),
        protocol: "redis".into(),
        connection: 1,
        cmd: args.iter().map(|a| Bytes(a.as_bytes().to_vec())).collect(),
        replies: vec![reply],
        pushes: vec![],
        waited_ms: None,
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
    let requests = env_or("REDIS_MOCK_REQUESTS", 200_000);
    let others = env_or("REDIS_MOCK_LINES", 10_000) as i64;
    let value = Frame::Bulk(Bytes(b"VXK".to_vec()));
    let mut pool: Vec<RedisMock> = (0..others)
        .map(|i| {
            let key = format!("user:{i}");
            line(
                i,
                &["GET", &key],
                Frame::Bulk(Bytes(key.clone().into_bytes())),
            )
        })
        .collect();
    pool.push(line(
        others,
        &["SET", "key:__rand_int__", "VXK"],
        Frame::Simple(Bytes(b"OK".to_vec())),
    ));
    pool.push(line(others + 1, &["GET", "key:__rand_int__"], value));
    let book = Arc::new(RedisBook::new(vec![], pool));
    let server = serve("cache", "127.0.0.1:0", book)
        .await
        .expect("starting the mock");
    let out = tokio::process::Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &server.addr.port().to_string()])
        .args([
            "-q",
            "-t",
            "set,get",
            "-P",
            "16",
            "-n",
            &requests.to_string(),
        ])
        .output()
        .await
        .expect("running redis-benchmark (Debian: redis-tools)");
    server.stop().await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Lines like "SET: 123456.79 requests per second, p50=0.287 msec".
    let rates: Vec<(String, f64)> = stdout
        .split(['\r', '\n'])
        .filter_map(|l| {
            let (name, rest) = l.split_once(": ")?;
            let rps = rest.split_whitespace().next()?.parse::<f64>().ok()?;
            rest.contains("requests per second")
                .then(|| (name.trim().to_owned(), rps))
        })
        .collect();
    if !out.status.success() || rates.len() != 2 {
        eprintln!(
            "redis-benchmark failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(2);
    }
    for (name, rps) in rates {
        println!(
            "redis mock: {name} {rps:.0} commands/s (redis-benchmark -P 16, {requests} requests, {} recorded lines; target 50,000/s)",
            others + 2
        );
    }
}
