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
        body_encoding: None,
        body: Some(BodySpec::Json(body)),
    }
}

fn actual(status: u16, headers: &[(&str, &str)], body: Value) -> ActualResponse {
    let r = resp(status, headers, body);
    ActualResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
        body_encoding: None,
        undecoded: None,
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

/// A key with a dot is one key: its difference is shown as `$["a.b"]`, and
/// a noise path written so ignores it (`$.a.b` names two keys).
#[test]
fn a_key_with_a_dot_is_shown_and_ignored_as_one_key() {
    let e = resp(200, &[], json!({"a.b": 1, "a": {"b": 1}}));
    let a = actual(200, &[], json!({"a.b": 2, "a": {"b": 2}}));
    let none = Rules::new(&[]);
    assert_eq!(paths(&compare(&e, &a, &none)), ["$[\"a.b\"]", "$.a.b"]);
    let rules = Rules::new(&[&Noise {
        headers: vec![],
        body_paths: vec!["$[\"a.b\"]".into()],
    }]);
    assert_eq!(paths(&compare(&e, &a, &rules)), ["$.a.b"]);
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
        body_encoding: None,
        body: Some(BodySpec::Text("hello\n".into())),
    };
    let a = ActualResponse {
        status: 200,
        headers: vec![],
        body: Some(BodySpec::Text("hullo\n".into())),
        body_encoding: None,
        undecoded: None,
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

/// What the runner makes of an answer on the wire: decoded by its coding.
fn received(headers: &[(&str, &str)], bytes: &[u8]) -> ActualResponse {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let answer = reel_core::suite::body::Answer::of(&headers, bytes, false);
    ActualResponse {
        status: 200,
        headers,
        body: answer.body,
        body_encoding: answer.encoding,
        undecoded: answer.undecoded,
    }
}

fn gz(codings: &str, bytes: &[u8]) -> Vec<u8> {
    let c = reel_core::coding::parse_list(codings).unwrap();
    reel_core::coding::encode(bytes, &c).unwrap()
}

#[test]
fn compressed_answers_compare_by_their_decoded_json() {
    let json_gzip = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
    ];
    let mut e = resp(
        200,
        &json_gzip,
        json!({"id": {"$reel": "uuid"}, "title": "Dune"}),
    );
    e.body_encoding = Some("gzip".into());
    let body = br#"{"id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "title": "Dune"}"#;
    // Another compressor, another gzip timestamp: the same answer.
    for coding in ["gzip", "x-gzip"] {
        let hs = [
            ("content-type", "application/json"),
            ("content-encoding", coding),
        ];
        let c = compare(&e, &received(&hs, &gz(coding, body)), &defaults());
        assert!(c.differences.is_empty(), "{coding}: {:?}", c.differences);
    }
    let changed = received(
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
        &gz(
            "gzip",
            br#"{"id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "name": "Dune"}"#,
        ),
    );
    let c = compare(&e, &changed, &defaults());
    assert_eq!(paths(&c), ["$.title", "$.name"]);
    insta::assert_snapshot!("gzip_diff", c.diff);

    // The same JSON sent as it is where gzip was recorded: the coding is the change.
    let plain = received(&[("content-type", "application/json")], body);
    let c = compare(&e, &plain, &defaults());
    assert_eq!(paths(&c), ["header content-encoding"]);
    assert_eq!(c.differences[0].expected.as_deref(), Some("gzip"));
    assert_eq!(
        c.differences[0].actual.as_deref(),
        Some("identity (not encoded)")
    );

    // A body that does not decode as its coding says is named so.
    let broken = received(&[("content-encoding", "br")], b"not brotli");
    assert_eq!(
        broken.undecoded.as_deref(),
        Some("the body does not decode as br")
    );
    let c = compare(&e, &broken, &defaults());
    assert!(paths(&c).contains(&"body"), "{:?}", c.differences);
}

#[test]
fn suites_that_hold_compressed_bytes_are_read_decoded() {
    let text = b"{\"n\": 1}";
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let old = ResponseSpec {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Content-Encoding".into(), coding.into()),
            ],
            body_encoding: None,
            // Compressed bytes are binary: base64, as earlier suites hold them.
            body: BodySpec::from_bytes(&gz(coding, text), None, false),
        }
        .decoded();
        assert_eq!(old.body_encoding.as_deref(), Some(coding));
        assert_eq!(old.body, Some(BodySpec::Json(json!({"n": 1}))));
        // What a mock sends for it decodes to the same answer.
        let wire = old.wire_body().unwrap();
        let again = received(
            &[
                ("content-type", "application/json"),
                ("content-encoding", coding),
            ],
            &wire,
        );
        assert!(compare(&old, &again, &defaults()).differences.is_empty());
    }
}

#[test]
fn json_lines_compare_line_by_line_with_matchers_per_line() {
    let nd = [("Content-Type", "application/x-ndjson")];
    let e = ResponseSpec {
        body: Some(BodySpec::JsonLines(json!([
            {"n": 0, "id": {"$reel": "uuid"}},
            {"n": 1, "id": {"$reel": "uuid"}}
        ]))),
        ..resp(200, &nd, json!(null))
    };
    let same = received(
        &[("content-type", "application/x-ndjson")],
        b"{\"n\":0,\"id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}\n{\"n\":1,\"id\":\"6fa459ea-ee8a-3ca4-894e-db77e160355e\"}\n",
    );
    assert!(compare(&e, &same, &defaults()).differences.is_empty());
    let changed = received(
        &[("content-type", "application/x-ndjson")],
        b"{\"n\":0,\"id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}\n{\"n\":2,\"id\":\"nope\"}\n",
    );
    let c = compare(&e, &changed, &defaults());
    assert_eq!(paths(&c), ["$[1].n", "$[1].id"]);
    assert!(
        c.diff.contains("(line 2)") && c.diff.contains("+  \"n\": 2"),
        "{}",
        c.diff
    );
    // One line left, as plain text: still compared as lines.
    let one = received(
        &[("content-type", "application/x-ndjson")],
        b"{\"n\":0,\"id\":\"1b4e28ba-2fa1-11d2-883f-0016d3cca427\"}",
    );
    assert_eq!(paths(&compare(&e, &one, &defaults())), ["$[1]"]);
}

#[test]
fn set_headers_ignore_order_and_name_a_changed_item() {
    let e = resp(
        200,
        &[
            ("Allow", "GET, HEAD, OPTIONS"),
            ("Vary", "Accept-Encoding, Origin"),
            ("Access-Control-Allow-Headers", "Content-Type, X-Token"),
        ],
        json!(null),
    );
    let a = actual(
        200,
        &[
            ("allow", "OPTIONS, GET, HEAD"),
            ("vary", "origin"),
            ("vary", "accept-encoding"),
            ("access-control-allow-headers", "x-token, content-type"),
        ],
        json!(null),
    );
    let c = compare(&e, &a, &defaults());
    assert!(c.differences.is_empty(), "{:?}", c.differences);
    let a = actual(200, &[("allow", "GET, POST, OPTIONS")], json!(null));
    let c = compare(&e, &a, &defaults());
    assert_eq!(
        paths(&c),
        [
            "header allow",
            "header vary",
            "header access-control-allow-headers"
        ]
    );
    assert_eq!(
        c.differences[0].actual.as_deref(),
        Some("{GET, OPTIONS, POST}, without HEAD, with POST too")
    );
}

#[test]
fn header_slots_and_body_matchers_take_any_value_of_their_kind() {
    let e = ResponseSpec {
        status: 200,
        headers: vec![
            ("X-Nonce".into(), "${reel:token}".into()),
            (
                "Content-Type".into(),
                "multipart/mixed; boundary=${reel:string}".into(),
            ),
        ],
        body_encoding: None,
        body: Some(BodySpec::Matcher(reel_core::suite::body::BodyMatcher {
            kind: reel_core::suite::body::BodyKind::Bytes,
            length: Some(reel_core::suite::body::Length::Exact(4)),
        })),
    };
    let got = |nonce: &str, ct: &str, body: &[u8]| ActualResponse {
        status: 200,
        headers: vec![
            ("x-nonce".into(), nonce.into()),
            ("content-type".into(), ct.into()),
        ],
        body: BodySpec::from_bytes(body, None, false),
        body_encoding: None,
        undecoded: None,
    };
    let ok = got(
        "9c3a4a8e0b7d4f21a6c5e3b2d1f0a9b8",
        "multipart/mixed; boundary=q1w2e3",
        &[0xff, 0, 1, 2],
    );
    let c = compare(&e, &ok, &defaults());
    assert!(c.differences.is_empty(), "{:?}", c.differences);
    let bad = got("x", "text/plain", &[1, 2, 3]);
    let c = compare(&e, &bad, &defaults());
    assert_eq!(paths(&c), ["header x-nonce", "header content-type", "body"]);
    assert_eq!(
        c.differences[2].expected.as_deref(),
        Some("any bytes of 4 bytes")
    );
    // Accepting keeps what still holds.
    let kept = accepted_response(&e, &e, &ok);
    let names: Vec<(String, String)> = e
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    assert_eq!(kept.headers, names);
    assert_eq!(kept.body, e.body);
}
