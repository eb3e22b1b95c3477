//! What storing one exchange costs the store writer, in CPU.
//!
//! Feeds the writer exchanges shaped like `bench/record-throughput.sh`'s (a GET
//! with three request headers, a 1 KiB JSON response with eight headers) at a
//! steady rate, as a recording proxy would, then reports the process CPU spent
//! per exchange and how it split across threads. The rate matters: the writer
//! batches whatever queued while it was busy or paused, so a realistic rate gives
//! realistic batches.
//!
//! Run: `cargo bench -p reel-core --bench store_writer`
//!   REEL_BENCH_EXCHANGES=200000   how many exchanges to store
//!   REEL_BENCH_RATE=25000         exchanges per second handed to the writer

use std::time::{Duration, Instant};

use reel_core::time::Micros;
use reel_core::{
    Body, Direction, Exchange, Header, HttpRequest, HttpResponse, Payload, Protocol, Store,
    StoreWriter,
};

// As in the `reel` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a whole number")),
        Err(_) => default,
    }
}

fn exchange(seq: i64) -> Exchange {
    let now = Micros::now();
    let body = format!(
        r#"{{"id":{seq},"name":"reel bench","items":[],"pad":"{}"}}"#,
        "x".repeat(970)
    );
    Exchange {
        session_id: 0,
        seq,
        direction: Direction::Inbound,
        protocol: Protocol::Http,
        dependency: None,
        connection: (seq % 32) as u64 + 1,
        started_at: now,
        first_byte_at: Some(now),
        ended_at: Some(now),
        request: Payload::HttpRequest(HttpRequest {
            method: "GET".into(),
            target: "/data.json".into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("Host", "127.0.0.1:16789"),
                Header::new("User-Agent", "bench"),
                Header::new("Accept", "*/*"),
            ],
            body: Body::default(),
        }),
        response: Some(Payload::HttpResponse(HttpResponse {
            status: 200,
            version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("Server", "nginx/1.22.1"),
                Header::new("Date", "Thu, 26 Nov 2026 17:58:27 GMT"),
                Header::new("Content-Type", "application/json"),
                Header::new("Content-Length", body.len().to_string()),
                Header::new("Last-Modified", "Thu, 26 Nov 2026 17:46:08 GMT"),
                Header::new("Connection", "keep-alive"),
                Header::new("ETag", "\"6b087060-400\""),
                Header::new("Accept-Ranges", "bytes"),
            ],
            body: Body {
                size: body.len() as u64,
                bytes: body.into_bytes(),
                truncated: false,
            },
        })),
        error: None,
    }
}

/// USER_HZ on Linux: the unit of CPU times in /proc.
const TICKS_PER_SECOND: f64 = 100.0;

/// The name and CPU seconds (user + system) in a /proc `stat` line.
fn stat_cpu(stat: &str) -> Option<(&str, f64)> {
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    let ticks = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
    Some((&stat[open + 1..close], ticks / TICKS_PER_SECOND))
}

/// CPU seconds per thread name of this process.
fn thread_cpu() -> Vec<(String, f64)> {
    let mut by_name = std::collections::BTreeMap::<String, f64>::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let Some((name, cpu)) = stat_cpu(&stat) {
            *by_name.entry(name.to_owned()).or_default() += cpu;
        }
    }
    by_name.into_iter().collect()
}

/// CPU seconds of the whole process, threads that have ended included.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("reading /proc/self/stat");
    stat_cpu(&stat).expect("a /proc stat line").1
}

fn main() {
    let total = env_or("REEL_BENCH_EXCHANGES", 200_000);
    let rate = env_or("REEL_BENCH_RATE", 25_000).max(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("reel.db");
    let store = Store::open(&path).expect("opening the store");
    let (writer, _session) =
        StoreWriter::start(store, "bench", "http://127.0.0.1:1").expect("starting the writer");
    let sender = writer.sender();

    // Built up front so the measurement holds only the writer's work.
    let exchanges: Vec<Exchange> = (1..=total as i64).map(exchange).collect();
    let cpu_before = process_cpu();
    let threads_before = thread_cpu();
    let started = Instant::now();
    // Hand them over in 1 ms slices at the chosen rate.
    let per_slice = (rate / 1000).max(1) as usize;
    let mut it = exchanges.into_iter();
    let mut slice_no = 0u64;
    loop {
        let mut sent = 0;
        for e in it.by_ref().take(per_slice) {
            sender.send(e);
            sent += 1;
        }
        if sent == 0 {
            break;
        }
        slice_no += 1;
        let due = started + Duration::from_millis(slice_no);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let fed = started.elapsed();
    let threads_after = thread_cpu();
    drop(sender);
    let stats = writer.finish().expect("finishing the recording");
    let wall = started.elapsed();
    let cpu = process_cpu() - cpu_before;
    assert_eq!(stats.dropped, 0, "the writer dropped captures");
    assert_eq!(
        stats.stored, total,
        "the writer stored fewer exchanges than it was given"
    );

    let db = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("store writer: {total} exchanges (1 KiB JSON response each) at {rate}/s");
    println!(
        "  fed in {:.2} s, all stored {:.2} s after the start",
        fed.as_secs_f64(),
        wall.as_secs_f64()
    );
    println!(
        "  process CPU {:.2} s: {:.2} us per exchange",
        cpu,
        cpu * 1e6 / total as f64
    );
    println!(
        "  store {:.1} MB after {} batches",
        db as f64 / 1e6,
        stats.batches
    );
    println!("  CPU by thread while fed (us per exchange):");
    for (name, after) in &threads_after {
        let before = threads_before
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, s)| *s);
        let us = (after - before) * 1e6 / total as f64;
        if us >= 0.05 {
            println!("    {name:<20} {us:6.2}");
        }
    }
}
