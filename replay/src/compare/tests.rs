//! Comparison tests: each kind of change is caught and named by its path, and
//! noise rules and matchers loosen exactly what they name.

use super::*;
use serde_json::json;

fn resp(status: u16, headers: &[(&str, &str)], body: Value) -> ResponseSpec {
    ResponseSpec {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: Some(BodySpec::Json(body)),
    }
}

fn actual(status: u16, headers: &[(&str, &str)], body: Value) -> ActualResponse {
    let r = resp(status, headers, body);
    ActualResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    }
}

fn paths(c: &Comparison) -> Vec<&str> {
    c.differences.iter().map(|d| d.path.as_str()).collect()
}

fn defaults() -> Rules {
    Rules::new(&[&Noise {
        headers: vec!["Date".into()],
        body_paths: vec![],
    }])
}

#[test]
fn equal_responses_have_no_differences_and_no_diff() {
    let e = resp(
        200,
        &[("Content-Type", "application/json")],
        json!({"a": [1, 2]}),
    );
    let a = actual(
        200,
        &[("content-type", "application/json")],
        json!({"a": [1, 2]}),
    );
    let c = compare(&e, &a, &defaults());
    assert!(c.differences.is_empty());
    assert!(c.diff.is_empty());
}

#[test]
fn every_kind_of_change_is_named_by_its_path() {
    let e = resp(
        200,
        &[("X-Version", "1"), ("Date", "then")],
        json!({"id": 1, "author": "A", "price": 5, "tags": ["a"], "gone": true}),
    );
    let a = actual(
        201,
        &[("x-version", "2"), ("Date", "now"), ("X-New", "y")],
        json!({"id": 1, "author_name": "A", "price": "5", "tags": ["a", "b"]}),
    );
    let c = compare(&e, &a, &defaults());
    assert_eq!(
        paths(&c),
        [
            "status",
            "header x-version",
            "header x-new",
            "$.author",
            "$.price",
            "$.tags[1]",
            "$.gone",
            "$.author_name"
        ]
    );
    let price = &c.differences[4];
    assert_eq!(price.expected.as_deref(), Some("5"));
    assert_eq!(price.actual.as_deref(), Some("\"5\""));
    assert!(c.diff.contains("-  \"author\": \"A\","), "{}", c.diff);
    assert!(c.diff.contains("+  \"author_name\": \"A\","), "{}", c.diff);
    assert!(
        !c.diff.contains("date:"),
        "ignored headers stay out of the diff"
    );
}

#[test]
fn matchers_accept_their_kind_and_keep_the_diff_quiet() {
    let e = resp(200, &[], json!({"rid": {"$reel": "uuid"}, "n": 1}));
    let ok = actual(
        200,
        &[],
        json!({"rid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "n": 1}),
    );
    assert!(compare(&e, &ok, &defaults()).differences.is_empty());
    let bad = actual(200, &[], json!({"rid": "x", "n": 2}));
    let c = compare(&e, &bad, &defaults());
    assert_eq!(paths(&c), ["$.rid", "$.n"]);
    let missing = actual(200, &[], json!({"n": 1}));
    assert_eq!(paths(&compare(&e, &missing, &defaults())), ["$.rid"]);

    let half = actual(
        200,
        &[],
        json!({"rid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "n": 2}),
    );
    let c = compare(&e, &half, &defaults());
    assert!(
        !c.diff.contains("$reel"),
        "a satisfied matcher shows the actual value: {}",
        c.diff
    );
    assert!(c.diff.contains("-  \"n\": 1"));
}

#[test]
fn ignored_paths_cover_wildcards_and_subtrees() {
    let rules = Rules::new(&[&Noise {
        headers: vec![],
        body_paths: vec!["$.items[*].at".into(), "$.meta".into()],
    }]);
    let e = resp(
        200,
        &[],
        json!({"items": [{"at": 1, "t": "x"}], "meta": {"a": 1}}),
    );
    let a = actual(
        200,
        &[],
        json!({"items": [{"at": 2, "t": "x"}], "meta": {"b": 2}}),
    );
    assert!(compare(&e, &a, &rules).differences.is_empty());
    let a = actual(200, &[], json!({"items": [{"at": 2, "t": "y"}]}));
    assert_eq!(paths(&compare(&e, &a, &rules)), ["$.items[0].t"]);
}

#[test]
fn text_and_binary_bodies_compare_as_bytes() {
    let e = ResponseSpec {
        status: 200,
        headers: vec![],
        body: Some(BodySpec::Text("hello\n".into())),
    };
    let a = ActualResponse {
        status: 200,
        headers: vec![],
        body: Some(BodySpec::Text("hullo\n".into())),
    };
    let c = compare(&e, &a, &defaults());
    assert_eq!(paths(&c), ["body"]);
    assert!(c.diff.contains("-hello") && c.diff.contains("+hullo"));
}

#[test]
fn accepting_keeps_matchers_that_still_hold() {
    let e = BodySpec::Json(json!({"rid": {"$reel": "uuid"}, "n": 1}));
    let a =
        BodySpec::Json(json!({"rid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "n": 2, "new": 3}));
    assert_eq!(
        accepted_body(Some(&e), Some(&a)),
        Some(BodySpec::Json(
            json!({"rid": {"$reel": "uuid"}, "n": 2, "new": 3})
        ))
    );
}

#[test]
fn paths_parse_in_both_notations() {
    assert_eq!(
        parse_path("$.items[*].at"),
        vec![
            Seg::Key("items".into()),
            Seg::AnyIndex,
            Seg::Key("at".into())
        ]
    );
    assert_eq!(
        parse_path("items[0]"),
        vec![Seg::Key("items".into()), Seg::Index(0)]
    );
    assert_eq!(show(&parse_path("$.a[2].b")), "$.a[2].b");
}

#[test]
fn volatile_headers_are_held_to_their_form_not_their_value() {
    let no_rules = Rules::new(&[]);
    let e = resp(
        200,
        &[
            ("Date", "Thu, 26 Nov 2026 14:53:46 GMT"),
            ("X-Request-Id", "1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
            ("X-Version", "1"),
        ],
        json!({"n": 1}),
    );
    let fresh = actual(
        200,
        &[
            ("date", "Fri, 27 Nov 2026 08:00:00 GMT"),
            ("x-request-id", "00000000-0000-4000-8000-000000000000"),
            ("x-version", "1"),
            ("etag", "\"not-recorded\""),
        ],
        json!({"n": 1}),
    );
    let c = compare(&e, &fresh, &no_rules);
    assert!(c.differences.is_empty(), "{:?}", c.differences);

    // Missing or malformed fails, named in words; the diff shows only those.
    let broken = actual(
        200,
        &[("x-request-id", "42"), ("x-version", "1")],
        json!({"n": 2}),
    );
    let c = compare(&e, &broken, &no_rules);
    assert_eq!(paths(&c), ["header date", "header x-request-id", "$.n"]);
    assert_eq!(c.differences[0].expected.as_deref(), Some("an HTTP date"));
    assert_eq!(c.differences[0].actual, None);
    assert_eq!(c.differences[1].expected.as_deref(), Some("a UUID"));
    assert!(
        c.diff.contains("-date: Thu, 26 Nov 2026 14:53:46 GMT"),
        "{}",
        c.diff
    );
    assert!(
        !c.diff.contains("x-version: 1\n-") && c.diff.contains(" x-version: 1"),
        "{}",
        c.diff
    );

    // A suite that lists the header as noise still ignores it entirely.
    let c = compare(&e, &broken, &defaults());
    assert_eq!(paths(&c), ["header x-request-id", "$.n"]);
}
