//! Mock matching: order, pools, JSON-aware bodies and misses.

use super::*;
use reel_core::suite::RequestSpec;
use serde_json::json;

fn ctx() -> Arc<crate::context::ReplayContext> {
    Arc::new(crate::context::ReplayContext::default())
}

fn mock(id: &str, method: &str, target: &str, body: Option<Value>, status: u16) -> MockSpec {
    MockSpec {
        id: id.into(),
        seq: 0,
        dependency: "pricing".into(),
        protocol: "http".into(),
        request: RequestSpec {
            method: method.into(),
            target: target.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.map(BodySpec::Json),
        },
        response: ResponseSpec {
            status,
            headers: vec![],
            body_encoding: None,
            body: None,
        },
    }
}

fn call(method: &str, target: &str, body: &str) -> Call {
    Call {
        dependency: "pricing".into(),
        method: method.into(),
        target: target.into(),
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn case_mocks_answer_once_in_order_then_the_pools() {
    let book = MockBook::new(
        vec![vec![
            mock("c#1", "GET", "/price?a=1&b=2", None, 200),
            mock("c#2", "GET", "/price?a=1&b=2", None, 201),
        ]],
        vec![mock("shared#1", "GET", "/price?a=1&b=2", None, 299)],
        vec![mock("startup#1", "GET", "/config", None, 200)],
        ctx(),
    );
    book.begin_case(0);
    // Query order does not matter.
    assert_eq!(
        book.answer(&call("GET", "/price?b=2&a=1", ""))
            .unwrap()
            .1
            .status,
        200
    );
    assert_eq!(
        book.answer(&call("GET", "/price?a=1&b=2", ""))
            .unwrap()
            .1
            .status,
        201
    );
    assert_eq!(
        book.answer(&call("GET", "/price?a=1&b=2", "")).unwrap().0,
        "shared#1"
    );
    assert_eq!(
        book.answer(&call("GET", "/config", "")).unwrap().0,
        "startup#1"
    );
    let log = book.end_case();
    assert_eq!(log.used, ["c#1", "c#2", "shared#1", "startup#1"]);
    assert!(log.unused.is_empty() && log.misses.is_empty());
}

#[test]
fn json_bodies_match_by_value_or_through_written_matchers() {
    let book = MockBook::new(
        vec![
            vec![mock(
                "c#1",
                "POST",
                "/quote",
                Some(json!({"isbn": "1", "trace": {"$reel": "uuid"}})),
                200,
            )],
            vec![mock(
                "d#1",
                "POST",
                "/quote",
                Some(json!({"isbn": "1", "trace": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"})),
                200,
            )],
        ],
        vec![],
        vec![],
        ctx(),
    );
    book.begin_case(0);
    let fresh = r#"{ "trace": "00000000-0000-4000-8000-000000000000", "isbn": "1" }"#;
    assert!(book.answer(&call("POST", "/quote", fresh)).is_ok());
    let not_uuid = r#"{ "trace": "yesterday", "isbn": "1" }"#;
    assert!(book.answer(&call("POST", "/quote", not_uuid)).is_err());
    let log = book.end_case();
    assert!(log.unused.is_empty());
    // Without a written matcher a UUID is that UUID: nothing is loosened
    // silently.
    book.begin_case(1);
    assert!(book.answer(&call("POST", "/quote", fresh)).is_err());
}

#[test]
fn a_miss_names_the_nearest_recorded_call_and_unused_mocks_are_reported() {
    let book = MockBook::new(
        vec![vec![
            mock("c#1", "GET", "/price?isbn=1&currency=EUR", None, 200),
            mock("c#2", "GET", "/stock", None, 200),
        ]],
        vec![],
        vec![],
        ctx(),
    );
    book.begin_case(0);
    let miss = book
        .answer(&call("GET", "/price?isbn=1&currency=USD", ""))
        .unwrap_err();
    assert_eq!(miss.call, "GET /price?isbn=1&currency=USD");
    assert_eq!(
        miss.nearest.as_deref(),
        Some("c#1 (GET /price?isbn=1&currency=EUR)")
    );
    assert!(
        miss.diff.contains("-GET /price?isbn=1&currency=EUR"),
        "{}",
        miss.diff
    );
    assert!(
        miss.diff.contains("+GET /price?isbn=1&currency=USD"),
        "{}",
        miss.diff
    );
    let log = book.end_case();
    assert_eq!(log.misses.len(), 1);
    assert_eq!(log.unused, ["c#1", "c#2"]);
}

#[test]
fn another_cases_mocks_do_not_answer() {
    let book = MockBook::new(
        vec![vec![], vec![mock("b#1", "GET", "/x", None, 200)]],
        vec![],
        vec![],
        ctx(),
    );
    book.begin_case(0);
    assert!(book.answer(&call("GET", "/x", "")).is_err());
    book.end_case();
    book.begin_case(1);
    assert!(book.answer(&call("GET", "/x", "")).is_ok());
}

/// A book for case 0 with one recorded `POST /quote` of `body`, under
/// the suite's noise `body_paths`.
fn quote_book(body_paths: &[&str], body: Value) -> MockBook {
    let noise = crate::compare::Rules::new(&[&reel_core::suite::Noise {
        headers: vec![],
        body_paths: body_paths.iter().map(|p| p.to_string()).collect(),
    }]);
    let book = MockBook::new(
        vec![vec![mock("c#1", "POST", "/quote", Some(body), 200)]],
        vec![],
        vec![],
        ctx(),
    )
    .with_noise(noise);
    book.begin_case(0);
    book
}

#[test]
fn body_paths_the_suite_ignores_are_ignored_in_calls_too() {
    let book = quote_book(
        &["$.sent_at", "$.items[*].nonce"],
        json!({"isbn": "1", "sent_at": 100, "items": [{"nonce": 1, "q": 2}]}),
    );
    let other = r#"{"isbn": "2", "sent_at": 999, "items": [{"nonce": 7, "q": 2}]}"#;
    assert!(
        book.answer(&call("POST", "/quote", other)).is_err(),
        "isbn still counts"
    );
    let same = r#"{"isbn": "1", "sent_at": 999, "items": [{"nonce": 7, "q": 2}]}"#;
    assert!(book.answer(&call("POST", "/quote", same)).is_ok());
}

/// A key holding a dot is one key: `$["meta.sent_at"]` ignores it in a
/// dependency call (the mock built `$.meta.sent_at`, two keys, and missed).
#[test]
fn a_noise_path_names_a_key_with_a_dot_in_calls_too() {
    let book = quote_book(
        &[&reel_core::json_path::child("$", "meta.sent_at")],
        json!({"isbn": "1", "meta.sent_at": 100}),
    );
    let later = r#"{"isbn": "1", "meta.sent_at": 999}"#;
    assert!(book.answer(&call("POST", "/quote", later)).is_ok());
}

#[test]
fn a_query_value_can_be_a_matcher() {
    let book = MockBook::new(
        vec![vec![mock(
            "c#1",
            "GET",
            r#"/verify?user=7&nonce={"$reel":"hex"}"#,
            None,
            200,
        )]],
        vec![],
        vec![],
        ctx(),
    );
    book.begin_case(0);
    assert!(book
        .answer(&call("GET", "/verify?user=8&nonce=9ec928750d27", ""))
        .is_err());
    assert!(book
        .answer(&call("GET", "/verify?nonce=not-hex&user=7", ""))
        .is_err());
    assert!(book
        .answer(&call("GET", "/verify?nonce=9ec928750d27&user=7", ""))
        .is_ok());
}
