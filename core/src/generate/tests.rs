//! Generator tests: attribution, naming, matchers and byte-stable output.

use super::*;
use crate::model::{Body, HttpRequest, HttpResponse};
use crate::time::Micros;

fn http(
    seq: i64,
    dir: Direction,
    dep: Option<&str>,
    (start, end): (i64, i64),
    method: &str,
    target: &str,
    body: &str,
) -> Exchange {
    Exchange {
        session_id: 1,
        seq,
        direction: dir,
        protocol: Protocol::Http,
        dependency: dep.map(str::to_owned),
        connection: 1,
        started_at: Micros(start),
        first_byte_at: Some(Micros(end)),
        ended_at: Some(Micros(end)),
        request: Payload::HttpRequest(HttpRequest {
            method: method.into(),
            target: target.into(),
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("Host", "app")],
            body: Body::default(),
        }),
        response: Some(Payload::HttpResponse(HttpResponse {
            status: 200,
            version: "HTTP/1.1".into(),
            headers: vec![Header::new("Content-Type", "application/json")],
            body: Body::complete(body.as_bytes().to_vec()),
        })),
        error: None,
    }
}

fn session() -> Session {
    Session {
        id: 3,
        name: "flow".into(),
        started_at: Micros(0),
        ended_at: Some(Micros(1000)),
        target: "http://127.0.0.1:8080".into(),
        notes: None,
        dropped: 0,
        setup: serde_json::json!({
            "dependencies": [{"name": "pricing", "protocol": "http", "listen": "127.0.0.1:18081"}],
            "app": ["./my app", "--port", "8080"],
        }),
    }
}

fn recorded() -> Vec<Exchange> {
    use Direction::*;
    vec![
        http(1, Outbound, Some("pricing"), (5, 8), "GET", "/warmup", "{}"),
        http(
            2,
            Inbound,
            None,
            (10, 40),
            "GET",
            "/books?page=1",
            r#"{"items":[]}"#,
        ),
        http(
            3,
            Outbound,
            Some("pricing"),
            (12, 20),
            "GET",
            "/price?isbn=1",
            r#"{"a":1}"#,
        ),
        // Two cases in flight at once: the call in both windows is ambiguous.
        http(
            4,
            Inbound,
            None,
            (50, 90),
            "POST",
            "/books",
            r#"{"id":1,"request_id":"1b4e28ba-2fa1-11d2-883f-0016d3cca427"}"#,
        ),
        http(
            5,
            Inbound,
            None,
            (55, 95),
            "GET",
            "/books/1/quote",
            r#"{"q":1}"#,
        ),
        http(
            6,
            Outbound,
            Some("pricing"),
            (60, 70),
            "GET",
            "/price?isbn=2",
            "{}",
        ),
        http(
            7,
            Outbound,
            Some("pricing"),
            (91, 94),
            "GET",
            "/price?isbn=3",
            "{}",
        ),
        http(
            8,
            Outbound,
            Some("pricing"),
            (200, 210),
            "GET",
            "/cron",
            "{}",
        ),
        http(
            9,
            Inbound,
            None,
            (300, 310),
            "GET",
            "/books?page=1",
            r#"{"items":[]}"#,
        ),
    ]
}

/// The suite of `exchanges`, checked to be the same whatever the window the
/// generator hands cases on in: made whole, and a case or a few at a time,
/// the files written and the summary are identical. Times are stretched to
/// seconds first, so that the recording moves past cases as it does in a
/// real session (a case is handed on a second after it ended).
fn checked(session: &Session, exchanges: &[Exchange]) -> Generated {
    checked_with(session, exchanges, &Options::default())
}

fn checked_with(session: &Session, exchanges: &[Exchange], options: &Options) -> Generated {
    let stretched: Vec<Exchange> = exchanges
        .iter()
        .cloned()
        .map(|mut e| {
            fn s(t: Micros) -> Micros {
                Micros(t.0 * 1_000_000)
            }
            e.started_at = s(e.started_at);
            e.first_byte_at = e.first_byte_at.map(s);
            e.ended_at = e.ended_at.map(s);
            e
        })
        .collect();
    let whole = generate_with(session, &stretched, options);
    let expected = suite_bytes(&whole);
    for window in [1, 2, 3] {
        let o = Options {
            window,
            ..options.clone()
        };
        let g = generate_with(session, &stretched, &o);
        assert_eq!(
            format!("{:?}", g.report),
            format!("{:?}", whole.report),
            "the summary at window {window}"
        );
        // As made, before the writer's last safety net over each file.
        assert_eq!(
            format!("{:?}", (&g.cases, &g.pg, &g.startup, &g.startup_pg)),
            format!(
                "{:?}",
                (&whole.cases, &whole.pg, &whole.startup, &whole.startup_pg)
            ),
            "the suite at window {window}"
        );
        assert_eq!(
            format!("{:?}", (&g.shared, &g.shared_pg, g.secrets.values())),
            format!(
                "{:?}",
                (&whole.shared, &whole.shared_pg, whole.secrets.values())
            ),
            "the shared pool and secrets at window {window}"
        );
        let got = suite_bytes(&g);
        for ((name, a), (_, b)) in expected.iter().zip(&got) {
            assert_eq!(a, b, "{name} at window {window}");
        }
        assert_eq!(
            expected.iter().map(|f| &f.0).collect::<Vec<_>>(),
            got.iter().map(|f| &f.0).collect::<Vec<_>>(),
            "the files at window {window}"
        );
    }
    generate_with(session, exchanges, options)
}

/// Every file of a suite written, by its path inside the folder.
fn suite_bytes(g: &Generated) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path(), g)
        .unwrap()
        .into_iter()
        .map(|f| {
            (
                f.strip_prefix(dir.path()).unwrap().display().to_string(),
                std::fs::read_to_string(&f).unwrap(),
            )
        })
        .collect()
}

#[test]
fn attributes_calls_to_the_case_in_flight_or_the_pools() {
    let g = checked(&session(), &recorded());
    let names: Vec<_> = g.cases.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "0001-get-books",
            "0002-post-books",
            "0003-get-books-1-quote",
            "0004-get-books"
        ]
    );
    let mock_seqs = |i: usize| g.cases[i].2.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(mock_seqs(0), [3]);
    assert_eq!(mock_seqs(1), Vec::<i64>::new());
    assert_eq!(mock_seqs(2), [7], "only case 3 was in flight at 91..94");
    assert_eq!(g.startup.iter().map(|m| m.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(g.shared.iter().map(|m| m.seq).collect::<Vec<_>>(), [6, 8]);
    assert_eq!(g.report.ambiguous.len(), 1);
    assert_eq!(
        g.report.ambiguous[0].2,
        ["0002-post-books", "0003-get-books-1-quote"]
    );
    assert_eq!(g.report.outside, [(8, "pricing: GET /cron".to_owned())]);
    assert_eq!(
        g.cases[0].1.mocks.as_deref(),
        Some("mocks/0001-get-books.jsonl")
    );
    assert_eq!(g.cases[0].2[0].id, "0001-get-books#1");
    assert_eq!(
        g.suite.app.command.as_deref(),
        Some("'./my app' --port 8080")
    );
    assert_eq!(g.suite.dependencies[0].listen, "127.0.0.1:18081");
}

#[test]
fn volatile_values_become_matchers_and_are_reported() {
    let g = checked(&session(), &recorded());
    let post = &g.cases[1].1;
    // The id flows into the next case's path, so it is checked by type here.
    assert_eq!(
        post.response.body,
        Some(BodySpec::Json(
            serde_json::json!({"id": {"$reel": "number"}, "request_id": {"$reel": "uuid"}})
        ))
    );
    assert_eq!(
        g.cases[2].1.request.target,
        "/books/${0002.response.body.id}/quote"
    );
    assert_eq!(
        g.report.matchers,
        [(
            "0002-post-books".to_owned(),
            "$.request_id".to_owned(),
            "uuid"
        )]
    );
}

#[test]
fn failed_inbound_exchanges_are_skipped_and_reported() {
    let mut ex = recorded();
    // The app was down: no response head ever came (reel answered 502 itself).
    ex[1].error = Some("ConnectRefused".into());
    ex[1].first_byte_at = None;
    // A client that hung up after the answer arrived still leaves a usable case.
    ex[3].error = Some("connection closed before the exchange completed".into());
    let g = checked(&session(), &ex);
    assert_eq!(g.cases.len(), 3);
    assert_eq!(g.report.skipped, [(2, "ConnectRefused".to_owned())]);
}

#[test]
fn generating_twice_gives_identical_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let files_a = write_suite(a.path(), &generate(&session(), &recorded())).unwrap();
    let files_b = write_suite(b.path(), &generate(&session(), &recorded())).unwrap();
    assert_eq!(files_a.len(), files_b.len());
    for (fa, fb) in files_a.iter().zip(&files_b) {
        assert_eq!(
            fa.strip_prefix(a.path()).unwrap(),
            fb.strip_prefix(b.path()).unwrap()
        );
        assert_eq!(std::fs::read(fa).unwrap(), std::fs::read(fb).unwrap());
    }
    // Written again over itself, the folder holds the same files.
    write_suite(a.path(), &generate(&session(), &recorded())).unwrap();
    let loaded = crate::suite::load_suite(a.path()).unwrap();
    assert_eq!(loaded.cases.len(), 4);
    assert_eq!(loaded.shared.len(), 2);
    assert_eq!(loaded.startup.len(), 1);
}

#[test]
fn refuses_to_write_into_a_folder_that_is_not_a_suite() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("notes.txt"), "mine").unwrap();
    let err = write_suite(d.path(), &generate(&session(), &recorded())).unwrap_err();
    assert!(err.to_string().contains("holds no suite.json"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn slugs_are_short_and_safe() {
    assert_eq!(slug("/books/42/quote?currency=EUR"), "books-42-quote");
    assert_eq!(slug("/"), "root");
    assert_eq!(slug("http://api.example.com/v1/x"), "v1-x");
    assert!(slug(&format!("/{}", "a".repeat(100))).len() <= 48);
}

fn with(
    mut e: Exchange,
    req_headers: &[(&str, &str)],
    req_body: &str,
    resp_headers: &[(&str, &str)],
) -> Exchange {
    if let Payload::HttpRequest(r) = &mut e.request {
        r.headers
            .extend(req_headers.iter().map(|(n, v)| Header::new(*n, *v)));
        r.body = Body::complete(req_body.as_bytes().to_vec());
    }
    if let Some(Payload::HttpResponse(r)) = &mut e.response {
        r.headers
            .extend(resp_headers.iter().map(|(n, v)| Header::new(*n, *v)));
    }
    e
}

#[test]
fn values_from_earlier_answers_become_references_and_secrets_placeholders() {
    use Direction::*;
    let token = "9f86d081884c7d659a2feaa0c55ad015";
    let ex = vec![
        with(
            http(
                1,
                Inbound,
                None,
                (0, 10),
                "POST",
                "/login",
                &format!(r#"{{"token":"{token}","username":"ann"}}"#),
            ),
            &[("Content-Type", "application/json")],
            r#"{"username":"ann","password":"hunter2-long"}"#,
            &[],
        ),
        with(
            http(
                2,
                Inbound,
                None,
                (20, 30),
                "POST",
                "/books",
                r#"{"id":42,"title":"T"}"#,
            ),
            &[("Authorization", &format!("Bearer {token}"))],
            "",
            &[("Location", "/books/42")],
        ),
        with(
            http(
                3,
                Inbound,
                None,
                (40, 50),
                "GET",
                "/books/42?page=2",
                r#"{"id":42,"title":"T"}"#,
            ),
            &[("Authorization", &format!("Bearer {token}"))],
            "",
            &[],
        ),
        http(
            4,
            Outbound,
            Some("pricing"),
            (42, 48),
            "GET",
            "/price?book_id=42",
            "{}",
        ),
    ];
    let g = checked(&session(), &ex);
    let (login, post, get) = (&g.cases[0].1, &g.cases[1].1, &g.cases[2].1);
    assert_eq!(
        login.request.body,
        Some(BodySpec::Json(
            serde_json::json!({"username": "ann", "password": "${secret:PASSWORD}"})
        ))
    );
    assert_eq!(
        login.response.body,
        Some(BodySpec::Json(
            serde_json::json!({"token": {"$reel": "string"}, "username": "ann"})
        ))
    );
    let auth = |r: &RequestSpec| {
        crate::suite::spec_header(&r.headers, "authorization")
            .unwrap()
            .to_owned()
    };
    assert_eq!(auth(&post.request), "Bearer ${0001.response.body.token}");
    assert_eq!(
        crate::suite::spec_header(&post.response.headers, "location"),
        Some("/books/${0002.response.body.id}")
    );
    assert_eq!(
        post.response.body,
        Some(BodySpec::Json(
            serde_json::json!({"id": {"$reel": "number"}, "title": "T"})
        ))
    );
    assert_eq!(get.request.target, "/books/${0002.response.body.id}?page=2");
    assert_eq!(
        get.response.body,
        Some(BodySpec::Json(
            serde_json::json!({"id": "${0002.response.body.id}", "title": "T"})
        ))
    );
    assert_eq!(
        g.cases[2].2[0].request.target,
        "/price?book_id=${0002.response.body.id}"
    );
    assert_eq!(g.secrets.values()["PASSWORD"], "hunter2-long");
    assert!(g
        .report
        .chained
        .iter()
        .any(|(case, place, _)| case == "0002-post-books" && place == "header authorization"));
    assert!(g
        .report
        .chained
        .iter()
        .any(|(case, place, _)| case == "0002-post-books" && place == "response header location"));

    let dir = tempfile::tempdir().unwrap();
    for f in write_suite(dir.path(), &g).unwrap() {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("hunter2-long"),
            "{} holds the password",
            f.display()
        );
        assert!(!text.contains(token), "{} holds the token", f.display());
    }
}

#[test]
fn words_replace_only_where_they_stand_alone() {
    // Neighbours count even after an earlier occurrence was skipped.
    assert_eq!(
        super::chain::replace_word("84764e40-c614-8b5918846b6", "6", "#"),
        "84764e40-c614-8b5918846b6"
    );
    assert_eq!(super::chain::replace_word("66 6", "6", "#"), "66 #");
    // An id that is also a time's minute, a date's month or a version's part
    // is left in them: a timestamp must stay one, to be matched by kind.
    for joined in [
        "2026-12-04T21:11:05.123Z",
        "2026-11-04",
        "v1.11.2",
        "a+11_b",
    ] {
        assert_eq!(super::chain::replace_word(joined, "11", "#"), joined);
    }
    assert_eq!(
        super::chain::replace_word("book 11: gone, see /books/11.", "11", "#"),
        "book #: gone, see /books/#."
    );
    assert_eq!(
        super::chain::replace_word("book 6 not found; 16, 6x, 6", "6", "#"),
        "book # not found; 16, 6x, #"
    );
}

#[test]
fn fields_that_differ_across_repeats_are_loosened_unless_state_changed_between() {
    use Direction::*;
    let ex = vec![
        http(
            1,
            Inbound,
            None,
            (0, 5),
            "GET",
            "/stats",
            r#"{"visits":10,"name":"shop"}"#,
        ),
        http(
            2,
            Inbound,
            None,
            (10, 15),
            "GET",
            "/stats",
            r#"{"visits":11,"name":"shop"}"#,
        ),
        http(
            3,
            Inbound,
            None,
            (20, 25),
            "GET",
            "/books/1",
            r#"{"title":"A"}"#,
        ),
        http(
            4,
            Inbound,
            None,
            (30, 35),
            "PUT",
            "/books/1",
            r#"{"title":"B"}"#,
        ),
        http(
            5,
            Inbound,
            None,
            (40, 45),
            "GET",
            "/books/1",
            r#"{"title":"B"}"#,
        ),
        http(
            6,
            Inbound,
            None,
            (50, 55),
            "GET",
            "/stats",
            r#"{"visits":12,"name":"shop"}"#,
        ),
    ];
    let g = checked(&session(), &ex);
    let body = |i: usize| match &g.cases[i].1.response.body {
        Some(BodySpec::Json(v)) => v.clone(),
        _ => panic!("JSON body"),
    };
    assert_eq!(
        body(0),
        serde_json::json!({"visits": {"$reel": "number"}, "name": "shop"})
    );
    assert_eq!(
        body(1),
        serde_json::json!({"visits": {"$reel": "number"}, "name": "shop"})
    );
    // A PUT came between: the title change is behaviour, not noise.
    assert_eq!(body(2), serde_json::json!({"title": "A"}));
    assert_eq!(body(4), serde_json::json!({"title": "B"}));
    assert_eq!(body(5), serde_json::json!({"visits": 12, "name": "shop"}));
    assert_eq!(
        g.report.repeats,
        [
            ("0001-get-stats".to_owned(), "$.visits".to_owned(), "number"),
            ("0002-get-stats".to_owned(), "$.visits".to_owned(), "number")
        ]
    );
}

#[test]
fn dedup_keeps_one_read_per_shape_and_every_write_and_origin() {
    use Direction::*;
    let ex = vec![
        http(
            1,
            Inbound,
            None,
            (0, 5),
            "GET",
            "/books?page=1",
            r#"{"items":[{"id":1}]}"#,
        ),
        http(
            2,
            Inbound,
            None,
            (10, 15),
            "GET",
            "/books?page=2",
            r#"{"items":[{"id":2}]}"#,
        ),
        http(3, Inbound, None, (20, 25), "POST", "/books", r#"{"id":7}"#),
        http(4, Inbound, None, (30, 35), "POST", "/books", r#"{"id":8}"#),
        http(5, Inbound, None, (40, 45), "GET", "/books/7", r#"{"id":7}"#),
        http(6, Inbound, None, (50, 55), "GET", "/books/8", r#"{"id":8}"#),
        http(
            7,
            Inbound,
            None,
            (60, 65),
            "GET",
            "/health",
            r#"{"ok":true}"#,
        ),
    ];
    let g = generate_with(
        &session(),
        &ex,
        &Options {
            dedup: true,
            ..Options::default()
        },
    );
    let names: Vec<&str> = g.cases.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "0001-get-books",
            "0003-post-books",
            "0004-post-books",
            "0005-get-books-7",
            "0007-get-health"
        ]
    );
    assert_eq!(
        g.report.deduplicated,
        [
            (
                "0001-get-books".to_owned(),
                vec!["0002-get-books".to_owned()]
            ),
            (
                "0005-get-books-7".to_owned(),
                vec!["0006-get-books-8".to_owned()]
            )
        ]
    );
    // Without --dedup nothing is dropped.
    assert_eq!(checked(&session(), &ex).cases.len(), 7);
}

#[test]
fn case_numbers_grow_past_four_digits() {
    assert_eq!(crate::suite::case_number("0003-get-books"), "0003");
    assert_eq!(crate::suite::case_number("10000-get-books"), "10000");
    assert_eq!(crate::suite::case_number("odd"), "");
    assert!(crate::template::parse("10000.response.body.id").is_some());
    assert!(crate::template::parse("100.response.body.id").is_none());
}

/// A Postgres group recorded inside the inbound exchange at `(start, end)`.
fn pg(seq: i64, window: (i64, i64), requests: Value, responses: Value) -> Exchange {
    pg_on(7, seq, window, requests, responses)
}

/// [`pg`] on recorded connection `connection`.
fn pg_on(
    connection: u64,
    seq: i64,
    window: (i64, i64),
    requests: Value,
    responses: Value,
) -> Exchange {
    let (request, response) = (
        serde_json::json!({ "messages": requests }),
        serde_json::json!({ "messages": responses }),
    );
    wire(
        Protocol::Postgres,
        "db",
        connection,
        seq,
        window,
        request,
        response,
    )
}

/// An outbound exchange of a wire protocol, as its recorder stores it.
fn wire(
    protocol: Protocol,
    dependency: &str,
    connection: u64,
    seq: i64,
    (start, end): (i64, i64),
    request: Value,
    response: Value,
) -> Exchange {
    Exchange {
        session_id: 1,
        seq,
        direction: Direction::Outbound,
        protocol,
        dependency: Some(dependency.into()),
        connection,
        started_at: Micros(start),
        first_byte_at: Some(Micros(end)),
        ended_at: Some(Micros(end)),
        request: Payload::Wire {
            decoded: request.into(),
            raw: Body::default(),
        },
        response: Some(Payload::Wire {
            decoded: response.into(),
            raw: Body::default(),
        }),
        error: None,
    }
}

#[test]
fn secrets_in_postgres_traffic_become_placeholders_the_mock_can_fill() {
    use serde_json::json;
    let login = with(
        http(
            1,
            Direction::Inbound,
            None,
            (0, 100),
            "POST",
            "/login",
            "{}",
        ),
        &[("Content-Type", "application/json")],
        r#"{"username":"ann","password":"hunter2-long"}"#,
        &[],
    );
    let insert = pg(
        2,
        (10, 20),
        json!([
            {"type": "Parse", "statement": "s1", "sql": "insert into users (pw, key) values ($1, $2) returning key", "param_types": []},
            {"type": "Bind", "portal": "", "statement": "s1", "param_formats": [], "params": ["hunter2-long", "sk_live_P4r4m", null], "result_formats": []},
            {"type": "Execute", "portal": "", "max_rows": 0},
            {"type": "Sync"}
        ]),
        json!([
            {"type": "ParseComplete"},
            {"type": "BindComplete"},
            {"type": "RowDescription", "fields": [
                {"name": "api_key", "table_oid": 0, "column": 0, "type_oid": 25, "type_size": -1, "type_modifier": -1, "format": 0},
                {"name": "next_key", "table_oid": 0, "column": 0, "type_oid": 25, "type_size": -1, "type_modifier": -1, "format": 0}
            ]},
            {"type": "DataRow", "values": ["sk_live_P4r4m", "sk_live_R0w"]},
            {"type": "CommandComplete", "tag": "INSERT 0 1"},
            {"type": "ReadyForQuery", "status": "idle"}
        ]),
    );
    let query = pg(
        3,
        (30, 40),
        json!([{"type": "Query", "sql": "select 'key sk_live_Sq1' as k"}]),
        json!([
            {"type": "ErrorResponse", "fields": [{"code": "S", "value": "ERROR"}, {"code": "M", "value": "no sk_live_Sq1 here"}]},
            {"type": "ReadyForQuery", "status": "idle"}
        ]),
    );
    let copy = pg(
        4,
        (50, 60),
        json!([{"type": "Query", "sql": "copy keys to stdout"}]),
        json!([
            {"type": "CopyOutResponse", "format": 0, "column_formats": [0]},
            {"type": "CopyData", "data": "1\tsk_live_C0py\n"},
            {"type": "CopyDone"},
            {"type": "CommandComplete", "tag": "COPY 1"},
            {"type": "ReadyForQuery", "status": "idle"}
        ]),
    );
    let options = Options {
        secret_rules: secrets::SecretRules::new([] as [&str; 0], ["sk_live_[A-Za-z0-9]+"]).unwrap(),
        ..Options::default()
    };
    // After the case: the summary lists it, with the secret hidden too.
    let late = pg(
        5,
        (150, 160),
        json!([{"type": "Query", "sql": "select 'sk_live_Sq1'"}]),
        json!([{"type": "ReadyForQuery", "status": "idle"}]),
    );
    let g = checked_with(&session(), &[login, insert, query, copy, late], &options);
    assert_eq!(
        g.report.outside,
        [(5, "db: select '${secret:SQL}'".to_owned())]
    );
    assert_eq!(g.shared_pg[0].sql(), Some("select '${secret:SQL}'"));
    let lines = &g.pg["0001-post-login"];
    let line = |n: usize| serde_json::to_value(&lines[n]).unwrap();
    let (insert, query, copy) = (line(0), line(1), line(2));
    // A value the HTTP side found keeps its name; a value matching a pattern
    // is named by where it stands (a parameter, or its column in a row).
    assert_eq!(
        insert["request"][1]["params"],
        json!(["${secret:PASSWORD}", "${secret:PARAM}", null])
    );
    assert_eq!(
        insert["response"][3]["values"],
        json!(["${secret:PARAM}", "${secret:NEXT_KEY}"])
    );
    assert_eq!(
        query["request"][0]["sql"],
        "select 'key ${secret:SQL}' as k"
    );
    assert_eq!(
        query["response"][0]["fields"][1]["value"],
        "no ${secret:SQL} here"
    );
    assert_eq!(copy["response"][1]["data"], "1\t${secret:COPY}\n");
    let values = g.secrets.values();
    assert_eq!(values["PASSWORD"], "hunter2-long");
    assert_eq!(values["PARAM"], "sk_live_P4r4m");
    assert_eq!(values["NEXT_KEY"], "sk_live_R0w");
    assert_eq!(values["SQL"], "sk_live_Sq1");
    assert_eq!(values["COPY"], "sk_live_C0py");

    let dir = tempfile::tempdir().unwrap();
    for f in write_suite(dir.path(), &g).unwrap() {
        let text = std::fs::read_to_string(&f).unwrap();
        for v in values.values() {
            assert!(!text.contains(v.as_str()), "{} holds {v}", f.display());
        }
    }
}

/// Issue 11, point 5: a new comment got id 1, the same as the article
/// created before it. Equal text is no reference: the comment's id is a new
/// origin, and the delete names the comment, not the article.
#[test]
fn equal_small_ids_link_only_where_the_context_names_their_resource() {
    use Direction::*;
    let json = [("Content-Type", "application/json")];
    let ex = vec![
        with(
            http(
                1,
                Inbound,
                None,
                (0, 10),
                "POST",
                "/api/articles",
                r#"{"article":{"id":1,"slug":"dragons"}}"#,
            ),
            &json,
            r#"{"article":{"title":"Dragons"}}"#,
            &[],
        ),
        with(
            http(
                2,
                Inbound,
                None,
                (20, 30),
                "POST",
                "/api/articles/dragons/comments",
                r#"{"comment":{"id":1,"body":"hi","article_id":1}}"#,
            ),
            &json,
            r#"{"comment":{"body":"hi"}}"#,
            &[],
        ),
        http(
            3,
            Inbound,
            None,
            (40, 50),
            "GET",
            "/api/articles/1",
            r#"{"article":{"id":1,"slug":"dragons"}}"#,
        ),
        http(
            4,
            Inbound,
            None,
            (60, 70),
            "DELETE",
            "/api/articles/dragons/comments/1",
            "{}",
        ),
        // Echoes what it is sent: the client's own 0 is no origin.
        with(
            http(
                5,
                Inbound,
                None,
                (80, 90),
                "POST",
                "/anything",
                r#"{"json":{"id":0},"headers":{"Content-Length":"9"}}"#,
            ),
            &json,
            r#"{"id":0}"#,
            &[],
        ),
        http(
            6,
            Inbound,
            None,
            (100, 110),
            "PUT",
            "/anything/0",
            r#"{"headers":{"Content-Length":"0"}}"#,
        ),
        http(7, Inbound, None, (120, 130), "GET", "/pages/1", "{}"),
    ];
    let g = checked(&session(), &ex);
    let case = |n: usize| &g.cases[n].1;
    let body = |n: usize| match &case(n).response.body {
        Some(BodySpec::Json(v)) => v.clone(),
        other => panic!("{other:?}"),
    };
    // The comment's own id is a new origin; its article_id names the article.
    assert_eq!(
        body(1)["comment"]["article_id"],
        "${0001.response.body.article.id}"
    );
    assert_ne!(body(1)["comment"]["id"], "${0001.response.body.article.id}");
    assert_eq!(
        case(2).request.target,
        "/api/articles/${0001.response.body.article.id}"
    );
    assert_eq!(
        case(3).request.target,
        "/api/articles/dragons/comments/${0002.response.body.comment.id}"
    );
    assert_eq!(case(5).request.target, "/anything/0");
    assert_eq!(body(5)["headers"]["Content-Length"], "0");
    // Two earlier ids could be the page number: none is taken, and said.
    assert_eq!(case(6).request.target, "/pages/1");
    assert!(
        g.report
            .unlinked
            .iter()
            .any(|(c, place, candidates)| c == "0007-get-pages-1"
                && place == "request path '1'"
                && candidates.len() == 2),
        "{:?}",
        g.report.unlinked
    );
}

/// Issue 11: a client's random per-request header named like a token is a
/// nonce, not 3 secrets; a real credential header stays a secret.
#[test]
fn a_header_new_on_every_request_that_flows_nowhere_is_a_nonce_not_a_secret() {
    use Direction::*;
    let ex: Vec<Exchange> = (0..3)
        .map(|i| {
            with(
                http(
                    i + 1,
                    Inbound,
                    None,
                    (i * 10, i * 10 + 5),
                    "GET",
                    "/books",
                    "[]",
                ),
                &[
                    ("X-Request-Token", &format!("n0nce-{i}-8f3a9c")),
                    ("Authorization", "Bearer s3cret-Bearer-1"),
                ],
                "",
                &[],
            )
        })
        .collect();
    let g = checked(&session(), &ex);
    assert_eq!(g.report.nonces, vec![("x-request-token".to_owned(), 3)]);
    let h = &g.cases[1].1.request.headers;
    assert!(
        h.contains(&("X-Request-Token".into(), "n0nce-1-8f3a9c".into())),
        "{h:?}"
    );
    assert!(
        h.contains(&(
            "Authorization".into(),
            "Bearer ${secret:AUTHORIZATION}".into()
        )),
        "{h:?}"
    );
    assert_eq!(g.secrets.values().len(), 1, "{:?}", g.secrets.values());
}

/// Issue 11, point 7: a reference a secret's matcher replaced is not
/// listed as made.
#[test]
fn the_summary_lists_only_references_the_files_hold() {
    use Direction::*;
    let token = "9f86d081884c7d659a2feaa0c55ad015";
    let ex = vec![
        http(
            1,
            Inbound,
            None,
            (0, 10),
            "POST",
            "/login",
            &format!(r#"{{"token":"{token}"}}"#),
        ),
        with(
            http(
                2,
                Inbound,
                None,
                (20, 30),
                "GET",
                "/user",
                &format!(r#"{{"user":{{"token":"{token}"}}}}"#),
            ),
            &[("Authorization", &format!("Token {token}"))],
            "",
            &[],
        ),
    ];
    let g = checked(&session(), &ex);
    let Some(BodySpec::Json(body)) = &g.cases[1].1.response.body else {
        panic!()
    };
    assert!(
        crate::matcher::as_matcher(&body["user"]["token"]).is_some(),
        "{body}"
    );
    let places: Vec<&str> = g
        .report
        .chained
        .iter()
        .map(|(_, p, _)| p.as_str())
        .collect();
    assert_eq!(places, ["header authorization"]);
}

/// A register and a login in the same second hand out the same JWT; the
/// client sends the one it got last, so that is the reference.
#[test]
fn an_equal_token_refers_to_the_latest_answer_that_handed_it_out() {
    use Direction::*;
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl";
    let ex = vec![
        http(
            1,
            Inbound,
            None,
            (0, 10),
            "POST",
            "/api/users",
            &format!(r#"{{"user":{{"token":"{token}"}}}}"#),
        ),
        http(
            2,
            Inbound,
            None,
            (20, 30),
            "POST",
            "/api/users/login",
            &format!(r#"{{"user":{{"token":"{token}"}}}}"#),
        ),
        with(
            http(3, Inbound, None, (40, 50), "GET", "/api/user", "{}"),
            &[("Authorization", &format!("Token {token}"))],
            "",
            &[],
        ),
    ];
    let g = checked(&session(), &ex);
    let auth = crate::suite::spec_header(&g.cases[2].1.request.headers, "authorization");
    assert_eq!(auth, Some("Token ${0002.response.body.user.token}"));
}

/// A token every answer hands out again (a long session's `GET /user`) is
/// referred to by its latest origin, in a header and inside a longer text
/// in a JSON body alike.
#[test]
fn a_token_handed_out_many_times_refers_to_its_latest_origin_everywhere() {
    use Direction::*;
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl";
    let mut ex: Vec<Exchange> = (1..=4)
        .map(|n| {
            http(
                n,
                Inbound,
                None,
                (n * 20, n * 20 + 10),
                "GET",
                "/api/user",
                &format!(r#"{{"user":{{"token":"{token}"}}}}"#),
            )
        })
        .collect();
    let mut last = with(
        http(5, Inbound, None, (100, 110), "POST", "/api/notes", "{}"),
        &[("Authorization", &format!("Token {token}"))],
        "",
        &[],
    );
    if let Payload::HttpRequest(r) = &mut last.request {
        r.body = Body::complete(format!(r#"{{"note":"sent with Token {token}"}}"#).into_bytes());
        r.headers
            .push(Header::new("Content-Type", "application/json"));
    }
    ex.push(last);
    let g = checked(&session(), &ex);
    let req = &g.cases[4].1.request;
    assert_eq!(
        crate::suite::spec_header(&req.headers, "authorization"),
        Some("Token ${0004.response.body.user.token}")
    );
    let body = serde_json::to_string(&req.body).unwrap();
    assert!(
        body.contains("sent with Token ${0004.response.body.user.token}"),
        "{body}"
    );
}

/// Which cases' windows hold a call: those that started no later and ended
/// no earlier, whatever order the cases started in.
#[test]
fn a_call_is_held_by_every_case_whose_window_covers_it() {
    let m = Micros;
    // Case 0 starts after case 1; case 2 ended before the calls; case 3
    // ends exactly when the second call ends.
    let cases = [(m(10), m(100)), (m(0), m(50)), (m(0), m(5)), (m(20), m(60))];
    let calls = [
        (m(30), m(40)),
        (m(30), m(60)),
        (m(5), m(5)),
        (m(200), m(210)),
    ];
    assert_eq!(
        holders(&cases, &calls),
        vec![vec![0, 1, 3], vec![0, 3], vec![1, 2], vec![]]
    );
}

/// The same read by another user, or by nobody, is no repeat: Conduit's
/// `favorited` is true for the user who favorited and false for a guest.
#[test]
fn the_same_read_by_someone_else_is_not_a_repeat() {
    use Direction::*;
    let ex = vec![
        with(
            http(
                1,
                Inbound,
                None,
                (0, 5),
                "GET",
                "/articles",
                r#"{"favorited":true}"#,
            ),
            &[("Authorization", "Token abcdefgh12345678")],
            "",
            &[],
        ),
        http(
            2,
            Inbound,
            None,
            (10, 15),
            "GET",
            "/articles",
            r#"{"favorited":false}"#,
        ),
    ];
    let g = checked(&session(), &ex);
    assert!(g.report.repeats.is_empty(), "{:?}", g.report.repeats);
    assert_eq!(
        g.cases[1].1.response.body,
        Some(BodySpec::Json(serde_json::json!({"favorited": false})))
    );
}

/// Under `record --redact` a client nonce named like a token was stored as
/// one secret per request, which no REEL_SECRET_* can give back: it is sent
/// as a stand-in, echoes included.
#[test]
fn a_nonce_redacted_at_record_time_is_sent_as_a_stand_in() {
    use Direction::*;
    let ex: Vec<Exchange> = (0..3)
        .map(|i| {
            let ph = format!("${{secret:POSTMAN_TOKEN_{}}}", i + 1);
            with(
                http(
                    i + 1,
                    Inbound,
                    None,
                    (i * 10, i * 10 + 5),
                    "GET",
                    "/echo",
                    &format!(r#"{{"echo":"{ph}"}}"#),
                ),
                &[("Postman-Token", &ph)],
                "",
                &[],
            )
        })
        .collect();
    let g = checked(&session(), &ex);
    assert_eq!(g.report.redacted_nonces, 3);
    let case = &g.cases[1].1;
    assert!(
        case.request
            .headers
            .contains(&("Postman-Token".into(), "reel-nonce-0002".into())),
        "{:?}",
        case.request.headers
    );
    assert_eq!(
        case.response.body,
        Some(BodySpec::Json(
            serde_json::json!({"echo": "reel-nonce-0002"})
        ))
    );
}

/// A cached statement run with one binary int4 parameter, answering `rows`
/// of one text column, as asyncpg sends it.
fn bound(sql: &str, param: Value, rows: &[&str], status: &str) -> (Value, Value) {
    use serde_json::json;
    let mut answer = vec![json!({"type": "BindComplete"})];
    answer.extend(
        rows.iter()
            .map(|r| json!({"type": "DataRow", "values": [r]})),
    );
    answer.push(json!({"type": "CommandComplete", "tag": format!("SELECT {}", rows.len())}));
    answer.push(json!({"type": "ReadyForQuery", "status": status}));
    (
        json!([
            {"type": "Parse", "statement": "s1", "sql": sql, "param_types": [0]},
            {"type": "Bind", "portal": "", "statement": "s1", "param_formats": [1], "params": [param], "result_formats": [0]},
            {"type": "Execute", "portal": "", "max_rows": 0},
            {"type": "Sync"}
        ]),
        Value::Array(answer),
    )
}

fn int4(n: i32) -> Value {
    use base64::Engine as _;
    serde_json::json!({"base64": base64::engine::general_purpose::STANDARD.encode(n.to_be_bytes())})
}

fn seqs(g: &Generated, case: &str) -> Vec<i64> {
    g.pg.get(case)
        .map(|m| m.iter().map(|m| m.seq).collect())
        .unwrap_or_default()
}

#[test]
fn a_call_made_while_cases_overlapped_goes_to_the_case_whose_answer_shows_its_rows() {
    let comments = |seq, start, slug: &str, body: &str| {
        http(
            seq,
            Direction::Inbound,
            None,
            (start, start + 100),
            "GET",
            &format!("/api/articles/{slug}/comments"),
            &format!(r#"{{"comments":[{{"id":{seq},"body":"{body}"}}]}}"#),
        )
    };
    let ann = comments(1, 0, "ann-s-article", "first post by ann");
    let bob = comments(2, 5, "bob-s-article", "first post by bob");
    let sql = "select body from comments where article_id = $1";
    // Both made while both cases were in flight; bob's first.
    let (req, res) = bound(sql, int4(2), &["first post by bob"], "idle");
    let for_bob = pg_on(1, 3, (20, 30), req, res);
    let (req, res) = bound(sql, int4(1), &["first post by ann"], "idle");
    let for_ann = pg_on(2, 4, (25, 35), req, res);
    // Nothing in it that only one of them knows.
    let (req, res) = bound("select now() > $1", int4(0), &["t"], "idle");
    let neither = pg_on(3, 5, (40, 50), req, res);
    // A pool's reset when a connection goes back: no case's, only counted.
    let reset = pg_on(
        1,
        6,
        (55, 60),
        serde_json::json!([{"type": "Query", "sql": "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL"}]),
        serde_json::json!([{"type": "CommandComplete", "tag": "RESET"}, {"type": "ReadyForQuery", "status": "idle"}]),
    );
    let g = checked(&session(), &[ann, bob, for_bob, for_ann, neither, reset]);
    assert_eq!(
        seqs(&g, "0001-get-api-articles-ann-s-article-comments"),
        [4]
    );
    assert_eq!(
        seqs(&g, "0002-get-api-articles-bob-s-article-comments"),
        [3]
    );
    assert_eq!(
        g.shared_pg.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [5, 6],
        "a call with no telling value stays in the shared pool"
    );
    assert_eq!(g.report.shared_housekeeping, 1);
    let attributed: Vec<_> = g
        .report
        .attributed
        .iter()
        .map(|(s, _, c)| (*s, c.as_str()))
        .collect();
    assert_eq!(
        attributed,
        [
            (3, "0002-get-api-articles-bob-s-article-comments"),
            (4, "0001-get-api-articles-ann-s-article-comments")
        ]
    );
    assert_eq!(g.report.ambiguous.len(), 1);
}

#[test]
fn a_transaction_and_a_token_claim_keep_a_login_s_calls_together() {
    use base64::Engine as _;
    use serde_json::json;
    let b64 = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let sid = "6f1c2a1e-8a59-4b4e-9a53-0d0c1c8b8a11";
    let jwt = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "HS256", "typ": "JWT"})),
        b64(json!({"sub": "1", "sid": sid}))
    );
    let login = |seq, start, name: &str, token: &str| {
        with(
            http(
                seq,
                Direction::Inbound,
                None,
                (start, start + 200),
                "POST",
                "/api/login",
                &json!({ "token": token }).to_string(),
            ),
            &[("Content-Type", "application/json")],
            &json!({ "username": name }).to_string(),
            &[],
        )
    };
    let ann = login(1, 0, "ann-the-first", &jwt);
    let bob = login(2, 5, "bob-the-second", "opaque");
    let tx = |seq, start, sql: &str, status: &str| {
        pg_on(
            1,
            seq,
            (start, start + 5),
            json!([{"type": "Query", "sql": sql}]),
            json!([
                {"type": "CommandComplete", "tag": sql.to_uppercase()},
                {"type": "ReadyForQuery", "status": status}
            ]),
        )
    };
    // Bob's login on connection 1, in one transaction: only the lookup
    // carries his name; BEGIN, the insert and COMMIT carry nothing of his.
    let begin = tx(3, 20, "begin", "transaction");
    let (req, res) = bound(
        "select id from users where name = $1",
        json!("bob-the-second"),
        &["2"],
        "transaction",
    );
    let lookup = pg_on(1, 4, (30, 35), req, res);
    let (req, res) = bound(
        "insert into sessions (user_id) values ($1)",
        int4(2),
        &[],
        "transaction",
    );
    let insert = pg_on(1, 5, (40, 45), req, res);
    let commit = tx(6, 50, "commit", "idle");
    // Ann's session row, outside any transaction: its id is in her token.
    let (mut req, res) = bound(
        "insert into audit (session) values ($1)",
        json!(null),
        &[],
        "idle",
    );
    req[1]["params"] = json!([{"base64": base64::engine::general_purpose::STANDARD
        .encode(uuid::Uuid::parse_str(sid).unwrap().as_bytes())}]);
    let audit = pg_on(2, 7, (60, 65), req, res);
    // The same statement after COMMIT on connection 1: the transaction is
    // over, so it is not bob's by that.
    let (req, res) = bound("select now() > $1", int4(0), &["t"], "idle");
    let after = pg_on(1, 8, (70, 75), req, res);
    let g = generate(
        &session(),
        &[ann, bob, begin, lookup, insert, commit, audit, after],
    );
    assert_eq!(seqs(&g, "0002-post-api-login"), [3, 4, 5, 6]);
    assert_eq!(seqs(&g, "0001-post-api-login"), [7]);
    assert_eq!(g.shared_pg.iter().map(|m| m.seq).collect::<Vec<_>>(), [8]);
}

#[test]
fn a_random_looking_value_the_client_sent_stays_exact_in_the_mock() {
    use serde_json::json;
    // The test client makes its user names unique with random characters.
    let name = "u9f86d081884c7d659a2feaa0c";
    let register = with(
        http(
            1,
            Direction::Inbound,
            None,
            (0, 100),
            "POST",
            "/api/users",
            r#"{"ok":true}"#,
        ),
        &[("Content-Type", "application/json")],
        &json!({ "username": name }).to_string(),
        &[],
    );
    let insert = pg(
        2,
        (10, 20),
        json!([
            {"type": "Parse", "statement": "", "sql": "insert into users (name, api_key) values ($1, $2)", "param_types": []},
            {"type": "Bind", "portal": "", "statement": "", "param_formats": [], "params": [name, "Zk3QpL9xVb2NcR7tYw4MhJ6s"], "result_formats": []},
            {"type": "Execute", "portal": "", "max_rows": 0},
            {"type": "Sync"}
        ]),
        json!([
            {"type": "ParseComplete"},
            {"type": "BindComplete"},
            {"type": "CommandComplete", "tag": "INSERT 0 1"},
            {"type": "ReadyForQuery", "status": "idle"}
        ]),
    );
    let g = checked(&session(), &[register, insert]);
    let line = serde_json::to_value(&g.pg["0001-post-api-users"][0]).unwrap();
    assert_eq!(
        line["request"][1]["params"],
        json!([name, {"$reel": "token"}]),
        "the client's value stays exact; the key the app made is matched by kind"
    );
}

/// Issue 18 (Kinto under Schemathesis): the OpenAPI document's
/// `operationId`s (`__heartbeat__`, `contribute`) are long but plain names;
/// the same words in a later path and inside a URL of an answer are no
/// references to the document (one such reference, under the key
/// `/contribute.json`, could not even be filled at replay).
#[test]
fn a_long_name_is_no_reference_by_equal_text() {
    use Direction::*;
    let ex = vec![
        http(
            1,
            Inbound,
            None,
            (0, 10),
            "GET",
            "/v1/__api__",
            r#"{"paths":{"/__heartbeat__":{"get":{"operationId":"__heartbeat__"}},"/contribute.json":{"get":{"operationId":"contribute"}}}}"#,
        ),
        http(2, Inbound, None, (20, 30), "GET", "/v1/__heartbeat__", "{}"),
        http(
            3,
            Inbound,
            None,
            (40, 50),
            "GET",
            "/v1/contribute.json",
            r#"{"home":"https://example.org/community.html#how-to-contribute"}"#,
        ),
    ];
    let g = checked(&session(), &ex);
    assert_eq!(g.cases[1].1.request.target, "/v1/__heartbeat__");
    let Some(BodySpec::Json(body)) = &g.cases[2].1.response.body else {
        panic!()
    };
    assert_eq!(
        body["home"],
        "https://example.org/community.html#how-to-contribute"
    );
    assert!(g.report.chained.is_empty(), "{:?}", g.report.chained);
}

/// Issue 18 (Kinto): a client that names a collection itself (`tasks`) or
/// makes up a record's UUID, and finds it later in a listing, did not get it
/// from that listing: later requests keep the client's value. An id the
/// server made up still links.
#[test]
fn a_value_the_client_sent_earlier_is_no_origin_when_an_answer_lists_it() {
    use Direction::*;
    let uuid = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    let ex = vec![
        http(
            1,
            Inbound,
            None,
            (0, 10),
            "PUT",
            "/buckets/default/collections/tasks",
            r#"{"data":{"id":"tasks"}}"#,
        ),
        http(
            2,
            Inbound,
            None,
            (20, 30),
            "PUT",
            &format!("/buckets/default/collections/tasks/records/{uuid}"),
            &format!(r#"{{"data":{{"id":"{uuid}"}}}}"#),
        ),
        http(
            3,
            Inbound,
            None,
            (40, 50),
            "POST",
            "/buckets/default/collections",
            r#"{"data":{"id":"qmgFmiix"}}"#,
        ),
        http(
            4,
            Inbound,
            None,
            (60, 70),
            "GET",
            "/buckets/default/collections",
            r#"{"data":[{"id":"qmgFmiix"},{"id":"tasks"}]}"#,
        ),
        http(
            5,
            Inbound,
            None,
            (80, 90),
            "GET",
            "/buckets/default/collections/tasks/records",
            &format!(r#"{{"data":[{{"id":"{uuid}"}}]}}"#),
        ),
        http(
            6,
            Inbound,
            None,
            (100, 110),
            "GET",
            &format!("/buckets/default/collections/tasks/records/{uuid}"),
            "{}",
        ),
        http(
            7,
            Inbound,
            None,
            (120, 130),
            "GET",
            "/buckets/default/collections/qmgFmiix",
            "{}",
        ),
    ];
    let g = checked(&session(), &ex);
    let target = |n: usize| g.cases[n].1.request.target.as_str();
    assert_eq!(target(4), "/buckets/default/collections/tasks/records");
    assert_eq!(
        target(5),
        format!("/buckets/default/collections/tasks/records/{uuid}")
    );
    assert_eq!(
        target(6),
        "/buckets/default/collections/${0003.response.body.data.id}"
    );
}

/// Issue 18 (Kinto): a reference whose origin sits under a key holding a
/// dot (an OpenAPI document's `/contribute.json`, a map keyed by host
/// names) was written `body.hosts.db.example.com.id`, which the replayer
/// could not follow. The key is written as a JSON string and read back.
#[test]
fn a_reference_under_a_key_with_a_dot_can_be_filled() {
    use Direction::*;
    let uuid = "a1b2c3d4-0000-4000-8000-00000000abcd";
    let answer = format!(r#"{{"hosts":{{"db.example.com":{{"id":"{uuid}"}}}}}}"#);
    let ex = vec![
        http(1, Inbound, None, (0, 10), "GET", "/hosts", &answer),
        http(
            2,
            Inbound,
            None,
            (20, 30),
            "GET",
            &format!("/hosts/{uuid}"),
            "{}",
        ),
    ];
    let g = checked(&session(), &ex);
    let target = &g.cases[1].1.request.target;
    assert_eq!(
        target,
        r#"/hosts/${0001.response.body.hosts["db.example.com"].id}"#
    );
    // The replayer fills it from what case 0001 answered.
    struct Answered(serde_json::Value);
    impl crate::template::Resolver for Answered {
        fn secret(&self, name: &str) -> Result<String, String> {
            Err(name.to_owned())
        }
        fn response(&self, _: &str, path: &str) -> Result<serde_json::Value, String> {
            crate::template::select(Some(&self.0), &[], path)
        }
    }
    let answered = Answered(serde_json::from_str(&answer).unwrap());
    assert_eq!(
        crate::template::resolve_str(target, &answered).unwrap(),
        format!("/hosts/{uuid}")
    );
}

/// A Postgres exchange takes its sequence number when it is answered, an
/// HTTP one when its request starts: a slow query is stored after requests
/// that began later. The generator reads exchanges in the order they began,
/// so the case the query was made in still holds it when cases are handed
/// on a few at a time.
#[test]
fn a_slow_query_stored_after_later_requests_stays_with_its_case() {
    use Direction::*;
    let (q, a) = bound(
        "select name from books where id = $1",
        int4(7),
        &["Dune"],
        "idle",
    );
    let ex = vec![
        http(
            1,
            Inbound,
            None,
            (10, 20),
            "GET",
            "/books/7",
            r#"{"name":"Dune"}"#,
        ),
        http(2, Inbound, None, (30, 40), "GET", "/health", "{}"),
        http(3, Inbound, None, (50, 60), "GET", "/health", "{}"),
        // Started inside the first case; answered (and numbered) last.
        pg(4, (12, 70), q, a),
    ];
    let g = checked(&session(), &ex);
    assert_eq!(
        seqs(&g, "0001-get-books-7"),
        [4],
        "{:?} {:?} {:?}",
        g.report,
        g.pg.keys(),
        g.shared_pg.len()
    );
    assert!(g.shared_pg.is_empty() && g.report.outside.is_empty());
}

/// A secret first seen in a case is scrubbed from what was written before
/// it, also when all that was written is the startup pool (found in review:
/// the check looked at the cases handed on, not at the pools).
#[test]
fn a_secret_found_after_the_startup_pool_was_written_is_scrubbed_there() {
    use serde_json::json;
    let seed = pg(
        1,
        (1, 2),
        json!([{"type": "Query", "sql": "insert into notes (body) values ('hunter2-long')"}]),
        json!([
            {"type": "CommandComplete", "tag": "INSERT 0 1"},
            {"type": "ReadyForQuery", "status": "idle"}
        ]),
    );
    let login = with(
        http(
            2,
            Direction::Inbound,
            None,
            (10, 20),
            "POST",
            "/login",
            "{}",
        ),
        &[("Content-Type", "application/json")],
        r#"{"username":"ann","password":"hunter2-long"}"#,
        &[],
    );
    let g = checked(&session(), &[seed, login]);
    let startup = serde_json::to_string(&g.startup_pg).unwrap();
    assert!(!startup.contains("hunter2-long"), "{startup}");
}

/// A generation that was killed leaves its staging folder inside the suite
/// folder; the next one clears it, and is not refused for it.
#[test]
fn a_staging_folder_left_by_a_killed_run_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let left = dir.path().join(".reel-generating.x1y2z3");
    std::fs::create_dir_all(left.join("cases")).unwrap();
    std::fs::write(left.join("cases/0001-get.json"), "{}").unwrap();
    write_suite(dir.path(), &generate(&session(), &recorded())).unwrap();
    assert!(!left.exists());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".reel-generating")),
        "{names:?}"
    );
    // Written again over itself: the earlier suite is replaced, whole.
    write_suite(dir.path(), &generate(&session(), &recorded())).unwrap();
    assert_eq!(crate::suite::load_suite(dir.path()).unwrap().cases.len(), 4);
}

/// A case that stays open (a long poll) while thousands of others come and
/// go does not keep them all in memory: past the window's limit the older
/// ones are handed on anyway, and no call is lost.
#[test]
fn a_case_open_for_the_whole_session_does_not_hold_the_others_back() {
    use Direction::*;
    struct Counting(sink::Memory, usize, Vec<usize>);
    impl sink::Sink for Counting {
        fn case(
            &mut self,
            stem: String,
            case: CaseFile,
            http: Vec<MockSpec>,
            wire: sink::Wire,
            secrets: &secrets::Secrets,
        ) -> Result<(), SuiteError> {
            self.1 += 1;
            self.0.case(stem, case, http, wire, secrets)
        }
        fn pool(
            &mut self,
            pool: sink::Pool,
            http: Vec<MockSpec>,
            wire: sink::Wire,
            secrets: &secrets::Secrets,
        ) -> Result<(), SuiteError> {
            self.0.pool(pool, http, wire, secrets)
        }
        fn patch_case(
            &mut self,
            stem: &str,
            edit: &mut dyn FnMut(&mut CaseFile),
            secrets: &secrets::Secrets,
        ) -> Result<(), SuiteError> {
            self.0.patch_case(stem, edit, secrets)
        }
        fn drop_case(&mut self, stem: &str) -> Result<(), SuiteError> {
            self.0.drop_case(stem)
        }
        fn finish_pools(
            &mut self,
            secrets: &secrets::Secrets,
            wanted: &std::collections::HashSet<String>,
        ) -> Result<std::collections::HashMap<String, String>, SuiteError> {
            self.0.finish_pools(secrets, wanted)
        }
        fn rescrub(&mut self, secrets: &mut secrets::Secrets) -> Result<(), SuiteError> {
            self.0.rescrub(secrets)
        }
    }
    let n = WINDOW_LIMIT as i64 + 3000;
    let mut ex = vec![http(
        1,
        Inbound,
        None,
        (0, 100 * n + 50),
        "GET",
        "/poll",
        "{}",
    )];
    for i in 0..n {
        let t = 100 * (i + 1);
        ex.push(http(
            2 * i + 2,
            Inbound,
            None,
            (t, t + 10),
            "GET",
            "/b",
            "{}",
        ));
        ex.push(http(
            2 * i + 3,
            Outbound,
            Some("pricing"),
            (t + 2, t + 4),
            "GET",
            "/p",
            "{}",
        ));
    }
    let session = session();
    let options = Options::default();
    let mut g = Generator::new(
        &session,
        &options,
        Counting(sink::Memory::default(), 0, Vec::new()),
        Nonces::default(),
    );
    for e in &ex {
        g.add(e);
        if e.seq % 1000 == 0 {
            g.sink.2.push(g.sink.1);
        }
    }
    assert!(
        g.cases.len() <= WINDOW_LIMIT,
        "{} cases held in the window",
        g.cases.len()
    );
    let (made, sink) = g.finish().unwrap();
    let memory = sink.0.into_parts();
    assert!(sink.2.iter().any(|&handed| handed > 0), "{:?}", sink.2);
    assert_eq!(made.counts.cases, n as usize + 1);
    // No call is lost: while the poll was at hand, each call was in two
    // cases' windows with nothing to tell them apart (shared); once the
    // poll was handed on, each went to the one case still holding it.
    assert_eq!(memory.cases.len(), n as usize + 1);
    let c = made.counts;
    assert_eq!(c.http_in_cases + c.http_shared, n as usize);
    assert!(c.http_in_cases > 0 && c.http_shared > 0, "{c:?}");
}

/// A Redis command as the recorder stores it on `connection`: `args`, and
/// the `replies` (`None`: a frame the server pushed, with no command).
fn redis_on(
    connection: u64,
    seq: i64,
    window: (i64, i64),
    args: Option<&[&str]>,
    replies: Value,
) -> Exchange {
    let command = args.map(|a| serde_json::json!({ "args": a }));
    let (request, response) = (
        serde_json::json!({ "command": command }),
        serde_json::json!({ "replies": replies }),
    );
    wire(
        Protocol::Redis,
        "cache",
        connection,
        seq,
        window,
        request,
        response,
    )
}

/// Redis commands become lines of the case they were made in: a password
/// never reaches the suite (AUTH is left out, a secret the HTTP side knows
/// becomes its placeholder, filled at replay), a UUID the app made is
/// matched by kind inside its key, and a message pushed after SUBSCRIBE is
/// sent with its reply.
#[test]
fn redis_commands_become_lines_with_secrets_hidden_and_made_up_values_matched() {
    use serde_json::json;
    let login = with(
        http(
            1,
            Direction::Inbound,
            None,
            (0, 100),
            "POST",
            "/login",
            "{}",
        ),
        &[("Content-Type", "application/json")],
        r#"{"username":"ann","password":"hunter2-long"}"#,
        &[],
    );
    let uuid = "0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77";
    let auth = redis_on(
        1,
        2,
        (5, 6),
        Some(&["AUTH", "default", "s3cret-pw"]),
        json!([{"type": "simple", "value": "OK"}]),
    );
    let set = redis_on(
        1,
        3,
        (10, 20),
        Some(&[
            "SET",
            &format!("session:{uuid}"),
            "hunter2-long",
            "EX",
            "3600",
        ]),
        json!([{"type": "simple", "value": "OK"}]),
    );
    let sub = redis_on(
        2,
        4,
        (30, 40),
        Some(&["SUBSCRIBE", "news"]),
        json!([{"type": "array", "value": [{"type": "bulk", "value": "subscribe"}, {"type": "bulk", "value": "news"}, {"type": "integer", "value": 1}]}]),
    );
    let message = redis_on(
        2,
        5,
        (50, 50),
        None,
        json!([{"type": "array", "value": [{"type": "bulk", "value": "message"}, {"type": "bulk", "value": "news"}, {"type": "bulk", "value": "hi"}]}]),
    );
    let g = checked(&session(), &[login, auth, set, sub, message]);
    let lines = &g.redis["0001-post-login"];
    let text = serde_json::to_string(lines).unwrap();
    assert!(
        !text.contains("s3cret-pw") && !text.contains("AUTH"),
        "{text}"
    );
    assert!(!text.contains("hunter2-long"), "{text}");
    assert_eq!(lines.len(), 2, "{text}");
    let set = serde_json::to_value(&lines[0]).unwrap();
    assert_eq!(
        set["cmd"],
        json!([
            "SET",
            r#"session:{"$reel":"uuid"}"#,
            "${secret:PASSWORD}",
            "EX",
            "3600"
        ])
    );
    assert_eq!(set["reply"], json!({"simple": "OK"}));
    assert_eq!(set["id"], "0001-post-login#1");
    let sub = serde_json::to_value(&lines[1]).unwrap();
    assert_eq!(sub["pushes"], json!([["message", "news", "hi"]]));
    assert!(g
        .report
        .param_matchers
        .iter()
        .any(|p| p.param == "argument 1 of SET" && p.kind == "uuid"));
}

/// A value the client took from an earlier answer flows on into what the
/// app sends Redis and reads back: the cart id a POST answered is a part
/// of the key a later GET reads (and a token the whole of an argument), so
/// those lines refer to the answer and replay fills them with this run's
/// values, in replies too. A short id alone as an argument may be a
/// count, and under another name (`page:4821`) is another thing: both are
/// left as they are. The case that made the values cannot refer to its own answer
/// before it is sent: its lines keep the recorded id, and the token is
/// matched by its format, as before.
#[test]
fn redis_lines_refer_to_the_earlier_answers_their_request_took_values_from() {
    use serde_json::json;
    let token = "9f86d081884c7d659a2feaa0c55ad015";
    let post = with(
        http(
            1,
            Direction::Inbound,
            None,
            (0, 100),
            "POST",
            "/carts",
            &format!(r#"{{"id":4821,"token":"{token}"}}"#),
        ),
        &[("Content-Type", "application/json")],
        "{}",
        &[],
    );
    let get = with(
        http(
            4,
            Direction::Inbound,
            None,
            (200, 300),
            "GET",
            "/carts/4821",
            r#"{"items":{"book":"2"}}"#,
        ),
        &[("Authorization", &format!("Bearer {token}"))],
        "",
        &[],
    );
    let ok = || json!([{"type": "integer", "value": 1}]);
    let exchanges = [
        post,
        redis_on(
            1,
            2,
            (10, 11),
            Some(&["HSET", "cart:4821", "book", "2"]),
            ok(),
        ),
        redis_on(
            1,
            3,
            (12, 13),
            Some(&["SET", &format!("owner:{token}"), "4821"]),
            ok(),
        ),
        get,
        redis_on(
            1,
            5,
            (210, 211),
            Some(&["GET", token]),
            json!([{"type": "bulk", "value": "ann"}]),
        ),
        redis_on(
            1,
            6,
            (212, 213),
            Some(&["HGETALL", "cart:4821"]),
            json!([{"type": "array", "value": [{"type": "bulk", "value": "book"}, {"type": "bulk", "value": "2"}]}]),
        ),
        redis_on(1, 7, (214, 215), Some(&["SCARD", "4821"]), ok()),
        redis_on(
            1,
            8,
            (216, 217),
            Some(&["GET", "page:4821"]),
            json!([{"type": "null_bulk"}]),
        ),
        redis_on(
            1,
            9,
            (218, 219),
            Some(&["HMGET", "cart-meta", "owner"]),
            json!([{"type": "array", "value": [{"type": "bulk", "value": token}]}]),
        ),
    ];
    let g = checked(&session(), &exchanges);
    let cmds = |stem: &str| -> Vec<Value> {
        g.redis[stem]
            .iter()
            .map(|m| serde_json::to_value(m).unwrap()["cmd"].clone())
            .collect()
    };
    assert_eq!(
        cmds("0002-get-carts-4821"),
        [
            json!(["GET", "${0001.response.body.token}"]),
            json!(["HGETALL", "cart:${0001.response.body.id}"]),
            json!(["SCARD", "4821"]),
            json!(["GET", "page:4821"]),
            json!(["HMGET", "cart-meta", "owner"]),
        ]
    );
    let hmget = serde_json::to_value(&g.redis["0002-get-carts-4821"][4]).unwrap();
    assert_eq!(hmget["reply"], json!(["${0001.response.body.token}"]));
    assert_eq!(
        cmds("0001-post-carts"),
        [
            json!(["HSET", "cart:4821", "book", "2"]),
            json!(["SET", r#"owner:{"$reel":"hex"}"#, "4821"]),
        ]
    );
    let redis_places: Vec<&str> = g
        .report
        .chained
        .iter()
        .filter(|(_, place, _)| place.starts_with("redis"))
        .map(|(_, place, _)| place.as_str())
        .collect();
    assert_eq!(
        redis_places,
        [
            "redis 0002-get-carts-4821#1 argument 1 of GET",
            "redis 0002-get-carts-4821#2 argument 1 of HGETALL",
            "redis 0002-get-carts-4821#5 reply to HMGET",
        ]
    );
}

/// A blocking command's line keeps how long it waited for its reply (times
/// here in microseconds, as the generation `checked` returns), so
/// that replay can wait as long when asked; other commands, and `XREAD`
/// without `BLOCK`, keep nothing. The line loads back the same.
#[test]
fn a_blocking_command_keeps_how_long_it_waited() {
    use serde_json::json;
    let popped = || json!([{"type": "array", "value": [{"type": "bulk", "value": "jobs"}, {"type": "bulk", "value": "j1"}]}]);
    let none = || json!([{"type": "null_array"}]);
    let exchanges = [
        redis_on(
            1,
            1,
            (0, 2_000_000),
            Some(&["BLPOP", "jobs", "5"]),
            popped(),
        ),
        redis_on(
            1,
            2,
            (3_000_000, 3_000_000),
            Some(&["GET", "k"]),
            json!([{"type": "null_bulk"}]),
        ),
        redis_on(
            1,
            3,
            (4_000_000, 7_000_000),
            Some(&["XREAD", "BLOCK", "5000", "STREAMS", "s", "$"]),
            none(),
        ),
        redis_on(
            1,
            4,
            (8_000_000, 9_000_000),
            Some(&["XREAD", "COUNT", "1", "STREAMS", "block", "0"]),
            none(),
        ),
    ];
    let g = checked(&session(), &exchanges);
    let lines: Vec<&RedisMock> = g
        .startup_redis
        .iter()
        .chain(&g.shared_redis)
        .chain(g.redis.values().flatten())
        .collect();
    let waited = |name: &str, n: usize| {
        lines
            .iter()
            .filter(|m| m.cmd[0].as_ref() == name.as_bytes())
            .nth(n)
            .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
            .waited_ms
    };
    assert_eq!(waited("BLPOP", 0), Some(2000));
    assert_eq!(waited("GET", 0), None);
    assert_eq!(waited("XREAD", 0), Some(3000));
    assert_eq!(waited("XREAD", 1), None);
    for m in lines {
        let text = serde_json::to_string(m).unwrap();
        assert_eq!(text.contains("waited_ms"), m.waited_ms.is_some(), "{text}");
        let back: RedisMock = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, m);
    }
}

/// Passwords stand in admin commands too, where their grammar puts them
/// (`CONFIG SET requirepass`, `ACL SETUSER ... >password`, `MIGRATE ...
/// AUTH`): each becomes a placeholder the mock fills at replay, and the
/// same value is hidden where else it shows (a reply echoing it).
#[test]
fn redis_passwords_in_admin_commands_become_placeholders_everywhere() {
    use serde_json::json;
    let ok = || json!([{"type": "simple", "value": "OK"}]);
    let exchanges = [
        redis_on(
            1,
            1,
            (0, 1),
            Some(&[
                "CONFIG",
                "SET",
                "maxmemory",
                "1gb",
                "requirepass",
                "pw-one-9f2",
            ]),
            ok(),
        ),
        redis_on(
            1,
            2,
            (2, 3),
            Some(&["ACL", "SETUSER", "ann", "on", ">pw-two-7c1", "~*", "+@all"]),
            ok(),
        ),
        redis_on(
            1,
            3,
            (4, 5),
            Some(&[
                "MIGRATE",
                "10.0.0.2",
                "6379",
                "k",
                "0",
                "5000",
                "AUTH",
                "pw-one-9f2",
            ]),
            ok(),
        ),
        redis_on(
            1,
            4,
            (6, 7),
            Some(&["CONFIG", "GET", "requirepass"]),
            json!([{"type": "array", "value": [{"type": "bulk", "value": "requirepass"}, {"type": "bulk", "value": "pw-one-9f2"}]}]),
        ),
        // Recorded with --redact: nothing to hide, and no secret to fill.
        redis_on(
            1,
            5,
            (8, 9),
            Some(&["CONFIG", "SET", "masterauth", "[redacted]"]),
            ok(),
        ),
        // Only CONFIG GET shows it: hidden all the same.
        redis_on(
            1,
            6,
            (10, 11),
            Some(&["CONFIG", "GET", "masterauth"]),
            json!([{"type": "map", "value": [[{"type": "bulk", "value": "masterauth"}, {"type": "bulk", "value": "pw-three-4d8"}]]}]),
        ),
    ];
    let g = checked(&session(), &exchanges);
    let lines: Vec<Value> = g
        .startup_redis
        .iter()
        .chain(&g.shared_redis)
        .chain(g.redis.values().flatten())
        .map(|m| serde_json::to_value(m).unwrap())
        .collect();
    let text = serde_json::to_string(&lines).unwrap();
    assert!(
        !text.contains("pw-one") && !text.contains("pw-two") && !text.contains("pw-three"),
        "{text}"
    );
    assert!(
        text.contains(r#"["CONFIG","SET","masterauth","[redacted]"]"#),
        "{text}"
    );
    let cmd = |name: &str| {
        lines
            .iter()
            .find(|l| l["cmd"][0] == name && l["cmd"][1] != "GET")
            .map(|l| l["cmd"].clone())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert_eq!(cmd("CONFIG")[5], "${secret:REDIS_PASSWORD}");
    assert_eq!(cmd("CONFIG")[3], "1gb");
    assert_eq!(cmd("ACL")[4], ">${secret:REDIS_PASSWORD_2}");
    assert_eq!(cmd("ACL")[2], "ann");
    assert_eq!(cmd("MIGRATE")[7], "${secret:REDIS_PASSWORD}");
    assert!(
        text.contains(r#"["requirepass","${secret:REDIS_PASSWORD}"]"#),
        "{text}"
    );
    let values = g.secrets.values();
    assert_eq!(values["REDIS_PASSWORD"], "pw-one-9f2");
    assert_eq!(values["REDIS_PASSWORD_2"], "pw-two-7c1");
    assert_eq!(values["REDIS_PASSWORD_3"], "pw-three-4d8");
    assert_eq!(values.len(), 3, "{values:?}");
}

/// The minute in a rate-limit key (`rl:cy:1796428320`) is shared by every
/// request of that minute: a case that made such a call before does not
/// thereby own another user's, which stays in the shared pool.
#[test]
fn an_epoch_inside_a_key_is_no_evidence_of_whose_call_it_is() {
    use serde_json::json;
    let ok = || json!([{"type": "integer", "value": 1}]);
    let case = |seq, window, user: &str| {
        with(
            http(
                seq,
                Direction::Inbound,
                None,
                window,
                "POST",
                "/sessions",
                "{}",
            ),
            &[("Content-Type", "application/json")],
            &format!(r#"{{"user":"{user}"}}"#),
            &[],
        )
    };
    let exchanges = [
        // cy's request begins alone and makes its own rate-limit call.
        case(1, (0, 100), "cy"),
        redis_on(1, 2, (5, 6), Some(&["INCR", "rl:cy:1796428320"]), ok()),
        case(3, (10, 100), "ann"),
        case(4, (11, 100), "bob"),
        // ann's call, made while all three are in flight, names no one.
        redis_on(2, 5, (20, 21), Some(&["INCR", "rl:ann:1796428320"]), ok()),
    ];
    let g = checked(&session(), &exchanges);
    assert_eq!(g.redis["0001-post-sessions"].len(), 1);
    assert!(!g.redis.contains_key("0002-post-sessions"));
    assert_eq!(g.shared_redis.len(), 1, "{:?}", g.redis);
    assert!(g.shared_redis[0].describe().starts_with("INCR rl:ann:"));
}
