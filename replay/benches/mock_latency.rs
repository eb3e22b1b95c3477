//! Mock-serving latency and throughput: a case with 1,000 recorded calls, each
//! answered once, requested in recorded order over keep-alive connections.
//!
//!     cargo bench -p reel-replay --bench mock_latency

use std::sync::Arc;
use std::time::{Duration, Instant};

use reel_core::suite::{BodySpec, MockSpec, RequestSpec, ResponseSpec};
use reel_replay::mock::http::serve;
use reel_replay::mock::MockBook;

const CALLS: usize = 1000;
const ROUNDS: usize = 20;

fn mocks() -> Vec<MockSpec> {
    (0..CALLS)
        .map(|i| MockSpec {
            id: format!("case#{i}"),
            seq: i as i64,
            dependency: "pricing".into(),
            protocol: "http".into(),
            request: RequestSpec {
                method: "GET".into(),
                target: format!("/price?isbn={i}&currency=EUR"),
                headers: vec![],
                body: None,
            },
            response: ResponseSpec {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body_encoding: None,
                body: Some(BodySpec::Json(
                    serde_json::json!({"isbn": i.to_string(), "amount_cents": 1234}),
                )),
            },
        })
        .collect()
}

fn pct(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut latencies = Vec::with_capacity(CALLS * ROUNDS);
    let mut busy = Duration::ZERO;
    for _ in 0..ROUNDS {
        let book = Arc::new(MockBook::new(
            vec![mocks()],
            vec![],
            vec![],
            Arc::new(reel_replay::context::ReplayContext::default()),
        ));
        let server = serve("pricing", "127.0.0.1:0", book.clone()).await.unwrap();
        let base = format!("http://{}", server.addr);
        book.begin_case(0);
        let round = Instant::now();
        for i in 0..CALLS {
            let t = Instant::now();
            let r = client
                .get(format!("{base}/price?isbn={i}&currency=EUR"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            latencies.push(t.elapsed());
        }
        busy += round.elapsed();
        let log = book.end_case();
        assert!(log.misses.is_empty() && log.unused.is_empty());
        server.stop().await;
    }
    latencies.sort();
    println!(
        "mock answers: {} calls, {:.0} calls/s sequential over keep-alive; latency p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        latencies.len(),
        latencies.len() as f64 / busy.as_secs_f64(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0),
    );
}
