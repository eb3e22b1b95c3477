//! Crash safety: `reel record` killed with SIGKILL under load leaves a sound
//! store that holds every exchange committed before the kill, and a session
//! shown as interrupted; while it records, the session cannot be removed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;

fn stored_count(store: &std::path::Path) -> Option<u64> {
    let out = reel(&["sessions", "list", "--json", "--store", store.to_str()?]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v.as_array()?.first()?["exchanges"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_leaves_a_sound_store_with_all_committed_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    let DemoRecording {
        mut rec,
        app,
        pricing,
        store,
        ..
    } = record_demo(dir.path(), "crash", &[]).await;
    let base = format!("http://{}", rec.inbound);

    // Phase 1: a burst, then wait until another process sees all of it stored.
    let client = client();
    let mut done = 0u64;
    for i in 0..300 {
        let r = client
            .get(format!("{base}/books?page={}", i % 4 + 1))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.bytes().await.unwrap();
        done += 1;
    }
    let committed = poll(
        "the burst to be committed",
        Duration::from_secs(20),
        async || stored_count(&store).filter(|n| *n >= done),
    )
    .await;

    // While it records, the session cannot be removed from under it.
    let rm = reel(&[
        "sessions",
        "rm",
        "crash",
        "--store",
        store.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&rm.stderr);
    assert_eq!(rm.status.code(), Some(2), "{said}");
    assert!(said.contains("is still being recorded"), "{said}");
    assert_eq!(stored_count(&store), Some(committed), "nothing was removed");

    // Phase 2: keep 8 clients busy and kill reel in the middle of it.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (client, base, stop, sent) = (client.clone(), base.clone(), stop.clone(), sent.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if client.get(format!("{base}/books")).send().await.is_err() {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    poll(
        "load to be under way",
        Duration::from_secs(20),
        async || (sent.load(Ordering::Relaxed) > 500).then_some(()),
    )
    .await;
    rec.child.start_kill().unwrap();
    rec.child.wait().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    for l in load {
        let _ = l.await;
    }
    app.stop().await;
    pricing.stop().await;

    // The session shows as interrupted, not as recording forever.
    let list = reel(&["sessions", "list", "--store", store.to_str().unwrap()]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("interrupted"), "{listed}");
    assert_eq!(
        session_json(&store, "crash")["session"]["state"],
        "interrupted"
    );

    let db = rusqlite::Connection::open(&store).unwrap();
    let integrity: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(db);
    let s = reel_core::Store::open(&store).expect("the store opens after a crash");
    let session = s.find_session("crash").unwrap();
    let exchanges = s
        .exchanges(session.session.id)
        .expect("every stored exchange decodes");
    assert!(
        exchanges.len() as u64 >= committed,
        "{} stored after the kill, {committed} were committed before it",
        exchanges.len()
    );
    // Seqs are unique and the first phase is complete: 1..=committed all present.
    let seqs: std::collections::BTreeSet<i64> = exchanges.iter().map(|e| e.seq).collect();
    assert!((1..=committed as i64).all(|s| seqs.contains(&s)));
}
