//! Store round trips: what the writer stores is what readers get back.

use super::*;
use crate::model::{
    Body, DecodedJson, Direction, Exchange, Header, HttpRequest, HttpResponse, Payload, Protocol,
};
use crate::writer::StoreWriter;

fn http_exchange(seq_body: &[u8], status: u16) -> Exchange {
    Exchange {
        session_id: 0,
        seq: 0,
        direction: Direction::Inbound,
        protocol: Protocol::Http,
        dependency: None,
        connection: 7,
        started_at: Micros(1_000),
        first_byte_at: Some(Micros(1_500)),
        ended_at: Some(Micros(2_000)),
        request: Payload::HttpRequest(HttpRequest {
            method: "POST".into(),
            target: "/books?q=a%20b".into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("Host", "x"),
                Header::new("X-Dup", "1"),
                Header::new("x-dup", vec![0xff, b'2']),
            ],
            body: Body::complete(seq_body.to_vec()),
        }),
        response: Some(Payload::HttpResponse(HttpResponse {
            status,
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("Content-Encoding", "gzip")],
            body: Body {
                bytes: vec![0x1f, 0x8b, 0],
                size: 10,
                truncated: true,
            },
        })),
        error: None,
    }
}

#[test]
fn writer_stores_exchanges_that_read_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/reel.db");
    let store = Store::open(&path).unwrap();
    let (writer, sid) = StoreWriter::start(store, "s1", "http://127.0.0.1:1").unwrap();
    let tx = writer.sender();
    let mut sent = Vec::new();
    for i in 0..300 {
        let mut e = http_exchange(format!("body {i}").as_bytes(), 200 + (i % 3) as u16);
        e.seq = tx.next_seq();
        tx.send(e.clone());
        e.session_id = sid;
        sent.push(e);
    }
    let stats = writer.finish().unwrap();
    assert_eq!(stats.stored, 300);
    assert_eq!(stats.dropped, 0);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.exchanges(sid).unwrap(), sent);
    let s = store.find_session("s1").unwrap();
    assert_eq!(s.exchanges, 300);
    assert!(s.session.ended_at.is_some());
    let mode = std::fs::metadata(&path).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
}

/// A recorder hands over a wire exchange's decoded form as JSON text
/// written once; it is stored as it is and reads back as the value it
/// wrote, with the head a value would have been stored with.
#[test]
fn a_raw_exchanges_head_written_by_hand_is_what_serde_reads_back() {
    for later in [
        Later::default(),
        Later {
            capabilities: u32::MAX,
            extended_types: true,
            cap: u64::MAX,
            nth: 1_234_567_890,
        },
        Later {
            capabilities: 0x000a_a285,
            extended_types: false,
            cap: 1 << 20,
            nth: 9,
        },
    ] {
        let head: Value = serde_json::from_str(&later_head(&later)).unwrap();
        let want = serde_json::json!({"kind": "wire_later", "later": later});
        assert_eq!(head, want);
        let read: Later = serde_json::from_value(head["later"].clone()).unwrap();
        assert_eq!(read, later);
    }
}

#[test]
fn a_decoded_form_handed_over_as_text_reads_back_as_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let (writer, sid) = StoreWriter::start(Store::open(&path).unwrap(), "w", "-").unwrap();
    let tx = writer.sender();
    let command = serde_json::json!({"command": {"args": ["SET", "k", {"base64": "/wA="}]}});
    let replies = serde_json::json!({"replies": [{"type": "simple", "value": "OK"}]});
    let wire = |decoded: DecodedJson| Payload::Wire {
        decoded,
        raw: Body::complete(b"*3\r\n".to_vec()),
    };
    let mut sent = Vec::new();
    for text in [true, false] {
        let form = |v: &serde_json::Value| match text {
            true => DecodedJson::text(v),
            false => DecodedJson::Value(v.clone()),
        };
        let e = Exchange {
            seq: tx.next_seq(),
            protocol: Protocol::Redis,
            direction: Direction::Outbound,
            dependency: Some("cache".into()),
            request: wire(form(&command)),
            response: Some(wire(form(&replies))),
            ..http_exchange(b"", 200)
        };
        assert_eq!(
            matches!(
                e.request,
                Payload::Wire {
                    decoded: DecodedJson::Text(_),
                    ..
                }
            ),
            text
        );
        tx.send(e.clone());
        sent.push(Exchange {
            session_id: sid,
            ..e
        });
    }
    writer.finish().unwrap();
    let store = Store::open(&path).unwrap();
    let back = store.exchanges(sid).unwrap();
    assert_eq!(back, sent);
    for e in &back {
        let Payload::Wire { decoded, .. } = &e.request else {
            panic!("{e:?}")
        };
        assert_eq!(*decoded.value(), command);
    }
    let heads: Vec<String> = store
        .conn()
        .prepare("SELECT request_head FROM exchanges ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(heads[0], heads[1]);
}

#[test]
fn a_store_from_a_newer_reel_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    drop(Store::open(&path).unwrap());
    {
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = Store::open(&path).err().expect("must refuse");
    assert!(
        err.to_string().contains("newer reel"),
        "unexpected message: {err}"
    );
    let c = Connection::open(&path).unwrap();
    let v: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1);
}

#[test]
fn a_foreign_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let err = Store::open(&path).err().expect("must refuse");
    assert!(err.to_string().contains("not a reel store"), "{err}");
}

#[test]
fn sessions_are_found_by_id_or_newest_name_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("reel.db")).unwrap();
    let a = store.create_session("flow", "t", Micros(1)).unwrap();
    let b = store.create_session("flow", "t", Micros(2)).unwrap();
    assert_eq!(store.find_session("flow").unwrap().session.id, b);
    assert_eq!(store.find_session(&a.to_string()).unwrap().session.id, a);
    store.delete_session(b).unwrap();
    assert_eq!(store.find_session("flow").unwrap().session.id, a);
    assert!(matches!(
        store.find_session("nope"),
        Err(StoreError::NoSuchSession(_))
    ));
}

/// Rows another connection can read (what the writer has committed).
fn committed(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM exchanges", [], |r| r.get(0))
        .unwrap()
}

/// Polls `what` until it holds or `secs` pass; whether it held.
fn within(secs: u64, mut what: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if what() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    what()
}

/// The writer keeps a transaction open across batches, but never while it
/// has nothing to do: a recording that goes quiet has what it captured
/// committed, for `reel sessions` and for a crash.
#[test]
fn a_writer_with_nothing_queued_holds_nothing_uncommitted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let (writer, _) = StoreWriter::start(Store::open(&path).unwrap(), "quiet", "t").unwrap();
    let tx = writer.sender();
    for _ in 0..3 {
        let mut e = http_exchange(b"x", 200);
        e.seq = tx.next_seq();
        tx.send(e);
    }
    assert!(
        within(10, || committed(&path) == 3),
        "3 captures sent, {} committed while the writer idles",
        committed(&path)
    );
    assert_eq!(writer.finish().unwrap().stored, 3);
}

/// Under a steady stream the queue may never run dry: the writer still
/// commits as it goes, not only at the end.
#[test]
fn a_writer_under_steady_load_commits_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let (writer, _) = StoreWriter::start(Store::open(&path).unwrap(), "busy", "t").unwrap();
    let tx = writer.sender();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let (tx, stop) = (tx.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut sent = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for _ in 0..20 {
                    let mut e = http_exchange(&[b'y'; 200], 200);
                    e.seq = tx.next_seq();
                    tx.send(e);
                    sent += 1;
                }
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            sent
        })
    };
    let seen_while_sending = within(10, || committed(&path) > 0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = feeder.join().unwrap();
    assert!(
        seen_while_sending,
        "nothing committed while captures kept coming"
    );
    let stats = writer.finish().unwrap();
    assert_eq!((stats.stored, stats.dropped), (sent, 0));
    assert_eq!(committed(&path), sent as i64);
}

#[test]
fn a_stalled_store_costs_counted_captures_not_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let store = Store::open(&path).unwrap();
    let (writer, sid) = StoreWriter::start_with_budget(store, "stall", "t", 10_000).unwrap();
    let tx = writer.sender();
    // Another process holds the write lock: the writer waits on it.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let sent = 50;
    for _ in 0..sent {
        let mut e = http_exchange(&[b'x'; 1000], 200);
        e.seq = tx.next_seq();
        tx.send(e);
    }
    // Each exchange carries 1,000 + 3 body bytes: about ten fit the budget.
    assert!(tx.dropped() >= 35, "dropped {}", tx.dropped());
    blocker.execute_batch("COMMIT").unwrap();
    let stats = writer.finish().unwrap();
    assert_eq!(
        stats.stored + stats.dropped,
        sent,
        "every capture is stored or counted"
    );
    let store = Store::open(&path).unwrap();
    assert_eq!(store.session(sid).unwrap().unwrap().dropped, stats.dropped);
}

fn page_size(path: &std::path::Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap()
}

/// Stores one exchange with a body far larger than a page (so it spans
/// overflow pages) and returns what reads back.
fn round_trip_large_body(path: &std::path::Path) -> (Vec<Exchange>, Vec<Exchange>) {
    let store = Store::open(path).unwrap();
    let (writer, sid) = StoreWriter::start(store, "big", "t").unwrap();
    let tx = writer.sender();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut e = http_exchange(&body, 200);
    e.seq = tx.next_seq();
    tx.send(e.clone());
    e.session_id = sid;
    assert_eq!(writer.finish().unwrap().stored, 1);
    (vec![e], Store::open(path).unwrap().exchanges(sid).unwrap())
}

#[test]
fn a_new_store_gets_large_pages_and_an_old_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.db");
    let (sent, read) = round_trip_large_body(&new);
    assert_eq!(read, sent);
    assert_eq!(page_size(&new), PAGE_SIZE);

    // A store an earlier reel created with SQLite's default 4 KiB pages.
    let old = dir.path().join("old.db");
    {
        let c = Connection::open(&old).unwrap();
        c.pragma_update(None, "page_size", 4096).unwrap();
        c.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .unwrap();
    }
    drop(Store::open(&old).unwrap());
    assert_eq!(page_size(&old), 4096);
    let (sent, read) = round_trip_large_body(&old);
    assert_eq!(read, sent);
    assert_eq!(page_size(&old), 4096, "an existing store is not rewritten");
    let c = Connection::open(&old).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn reading_commands_create_nothing_and_an_empty_file_is_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope/x.db");
    let err = Store::open_existing(&missing, false).err().unwrap();
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(!dir.path().join("nope").exists(), "no folder was made");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    for err in [
        Store::open_existing(&empty, false).err().unwrap(),
        Store::open(&empty).err().unwrap(),
    ] {
        assert!(matches!(err, StoreError::Empty { .. }), "{err}");
    }
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "left as it was"
    );

    // A store opened for reading reads, and cannot be written through.
    let path = dir.path().join("reel.db");
    let id = Store::open(&path)
        .unwrap()
        .create_session("s", "http://x", Micros(1))
        .unwrap();
    let read = Store::open_existing(&path, false).unwrap();
    assert_eq!(read.find_session("s").unwrap().session.id, id);
    assert!(read.delete_session(id).is_err());
    let write = Store::open_existing(&path, true).unwrap();
    write.delete_session(id).unwrap();
    assert!(write.find_session("s").is_err());
}

#[test]
fn an_existing_store_is_made_private_and_its_folder_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".reel/reel.db");
    drop(Store::open(&path).unwrap());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join(".reel")), 0o700);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Store::open(&path).unwrap());
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn a_session_whose_recorder_is_gone_is_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let store = Store::open(&path).unwrap();
    let id = store.create_session("s", "http://x", Micros(1)).unwrap();
    let state = |store: &Store| store.find_session("s").unwrap().state;
    assert_eq!(state(&store), crate::model::SessionState::Recording);
    // Setting the setup later keeps the recorder.
    store
        .set_session_setup(id, &serde_json::json!({"app": ["x"]}))
        .unwrap();
    let s = store.find_session("s").unwrap().session;
    assert_eq!(s.recorder_pid(), Some(std::process::id()));
    assert_eq!(s.setup["app"], serde_json::json!(["x"]));
    // The same pid started at another time is another process.
    let mut gone = s.setup["recorder"].clone();
    gone["started"] = serde_json::json!(gone["started"].as_u64().unwrap() + 1);
    store
        .conn()
        .execute(
            "UPDATE sessions SET setup = ?1 WHERE id = ?2",
            params![serde_json::json!({ "recorder": gone }).to_string(), id],
        )
        .unwrap();
    assert_eq!(state(&store), crate::model::SessionState::Interrupted);
    assert_eq!(
        store.find_session("s").unwrap().session.recorder_pid(),
        None
    );
}

/// A session of `n` exchanges, stored through the writer.
fn session_of(path: &Path, name: &str, n: usize) -> i64 {
    let (writer, sid) = StoreWriter::start(Store::open(path).unwrap(), name, "t").unwrap();
    let tx = writer.sender();
    for _ in 0..n {
        let mut e = http_exchange(b"{}", 200);
        e.seq = tx.next_seq();
        tx.send(e);
    }
    assert_eq!(writer.finish().unwrap().stored, n as u64);
    sid
}

#[test]
fn a_large_session_is_removed_batch_by_batch_and_its_pages_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let big = session_of(&path, "big", 3 * DELETE_BATCH as usize + 17);
    let small = session_of(&path, "small", 5);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.free_bytes().unwrap(), 0);
    assert_eq!(
        store.delete_session(big).unwrap(),
        3 * DELETE_BATCH as u64 + 17
    );
    let names: Vec<_> = store
        .list_sessions()
        .unwrap()
        .into_iter()
        .map(|s| (s.session.id, s.exchanges))
        .collect();
    assert_eq!(names, [(small, 5)]);
    let left: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM exchanges", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 5);
    let free = store.free_bytes().unwrap();
    assert!(free > 0, "the removed exchanges' pages are free");
    drop(store);

    // A new recording of the same size takes the free pages, not new ones.
    let pages = |s: &Store| -> i64 {
        s.conn()
            .pragma_query_value(None, "page_count", |r| r.get(0))
            .unwrap()
    };
    let before = pages(&Store::open(&path).unwrap());
    session_of(&path, "again", 3 * DELETE_BATCH as usize + 17);
    let store = Store::open(&path).unwrap();
    assert!(
        pages(&store) <= before + before / 20,
        "{} pages after, {before} before",
        pages(&store)
    );

    // VACUUM gives the free pages back.
    store
        .delete_session(store.find_session("again").unwrap().session.id)
        .unwrap();
    let size = store.disk_size();
    store.vacuum().unwrap();
    assert_eq!(store.free_bytes().unwrap(), 0);
    assert!(
        store.disk_size() < size / 2,
        "{} after, {size} before",
        store.disk_size()
    );
    assert_eq!(store.find_session("small").unwrap().exchanges, 5);
}

#[test]
fn a_removal_cut_short_hides_the_session_until_it_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let sid = session_of(&path, "cut", 10);
    let store = Store::open(&path).unwrap();
    // What delete_session does first, and a kill right after it.
    store
        .conn()
        .execute(
            "UPDATE sessions SET setup = json_set(setup, '$.removing', json('true')) WHERE id = ?1",
            params![sid],
        )
        .unwrap();
    assert!(store.list_sessions().unwrap().is_empty());
    assert!(matches!(
        store.find_session("cut"),
        Err(StoreError::NoSuchSession(_))
    ));
    assert_eq!(store.unfinished_removals().unwrap(), [sid]);
    assert_eq!(store.delete_session(sid).unwrap(), 10);
    assert!(store.unfinished_removals().unwrap().is_empty());
    // A setup that is not JSON does not hide a session, nor break the list.
    let other = store.create_session("odd", "t", Micros(1)).unwrap();
    store
        .conn()
        .execute(
            "UPDATE sessions SET setup = 'not json' WHERE id = ?1",
            params![other],
        )
        .unwrap();
    assert_eq!(store.list_sessions().unwrap().len(), 1);
}

/// MySQL exchanges stored as raw bytes only read back decoded, the same in
/// the order they were stored and by start time (here the reverse: each is
/// then decoded after its connection's earlier ones again). One that does
/// not decode, with an exchange of its connection missing before it, reads
/// back with an error that says so, and the rest of its session reads.
#[test]
fn mysql_exchanges_stored_as_raw_bytes_read_back_decoded_in_any_order() {
    use crate::wire::mysql::{caps, stored_query};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reel.db");
    let exchange = |tx: &crate::CaptureSender, conn: u64, nth: u64, sql: &str, started: i64| {
        tx.send(Exchange {
            seq: tx.next_seq(),
            dependency: Some("db".into()),
            started_at: Micros(started),
            ..stored_query(conn, nth, sql)
        });
    };
    let sqls = ["SET @a = 1", "SET @b = 2", "DO 3"];
    let (writer, good) = StoreWriter::start(Store::open(&path).unwrap(), "good", "-").unwrap();
    let tx = writer.sender();
    for (nth, sql) in sqls.iter().enumerate() {
        exchange(&tx, 9, nth as u64, sql, 3_000 - 1_000 * nth as i64);
    }
    writer.finish().unwrap();
    // The second counts one more exchange before it than its connection
    // stored, and its answer's sequence id is not the one due.
    let (writer, bad) = StoreWriter::start(Store::open(&path).unwrap(), "bad", "-").unwrap();
    let tx = writer.sender();
    exchange(&tx, 4, 0, "SET @a = 1", 1_000);
    exchange(&tx, 4, 2, "SET @b = 2", 2_000);
    exchange(&tx, 4, 3, "SET @c = 3", 3_000);
    writer.finish().unwrap();

    let store = Store::open(&path).unwrap();
    let answer: Vec<u8> = store
        .conn
        .query_row(
            "SELECT response_body FROM exchanges WHERE session_id = ?1 AND seq = 2",
            [bad],
            |r| r.get(0),
        )
        .unwrap();
    let wrong = [&answer[..3], &[5], &answer[4..]].concat();
    store
        .conn
        .execute(
            "UPDATE exchanges SET response_body = ?2 WHERE session_id = ?1 AND seq = 2",
            rusqlite::params![bad, wrong],
        )
        .unwrap();
    let heads: Vec<(String, String)> = store
        .conn
        .prepare(
            "SELECT request_head, response_head FROM exchanges WHERE session_id = ?1 ORDER BY seq",
        )
        .unwrap()
        .query_map([good], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(heads.len(), 3);
    for (nth, (request, answer)) in heads.iter().enumerate() {
        let later = format!(
            r#"{{"kind":"wire_later","later":{{"capabilities":{},"extended_types":false,"cap":1048576,"nth":{nth}}}}}"#,
            caps::PROTOCOL_41
        );
        assert_eq!(*request, later);
        assert_eq!(answer, r#"{"kind":"wire_later"}"#);
    }
    let decoded = |e: &Exchange| -> (Value, Value) {
        let form = |p: &Payload| match p {
            Payload::Wire { decoded, .. } => decoded.value().into_owned(),
            _ => panic!("{p:?}"),
        };
        (form(&e.request), form(e.response.as_ref().unwrap()))
    };
    let check = |e: &Exchange| {
        let (request, answer) = decoded(e);
        let nth = e.seq as usize - 1;
        assert_eq!(request["command"], "COM_QUERY", "{request}");
        assert_eq!(request["sql"], sqls[nth], "{request}");
        assert_eq!(answer["results"][0]["ok"]["affected_rows"], nth, "{answer}");
    };
    let by_seq = store.exchanges(good).unwrap();
    assert_eq!(by_seq.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    by_seq.iter().for_each(check);
    let mut by_start = Vec::new();
    store
        .each_exchange_by_start(good, None, |e| by_start.push(e))
        .unwrap();
    assert_eq!(
        by_start.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    by_start.iter().for_each(check);

    let back = store.exchanges(bad).unwrap();
    let (request, _) = decoded(&back[1]);
    assert_eq!(request, serde_json::json!({"command": "COM_QUERY"}));
    let why = back[1].error.as_deref().unwrap_or_default();
    assert!(
        why.starts_with("stored as raw bytes, which do not decode"),
        "{why}"
    );
    assert!(why.contains("sequence id 5 where 1 was due"), "{why}");
    assert!(
        why.contains("1 of the exchanges its connection stored before it"),
        "{why}"
    );
    for (e, sql) in [(&back[0], "SET @a = 1"), (&back[2], "SET @c = 3")] {
        assert_eq!(e.error, None);
        assert_eq!(decoded(e).0["sql"], sql);
    }
    assert_eq!(decoded(&back[2]).1["results"][0]["ok"]["affected_rows"], 3);
}
