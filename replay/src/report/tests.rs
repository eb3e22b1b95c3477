//! Tests of the report writers on a hand-built run: one passing case (with a
//! typed matcher), one failing case whose recorded values carry markup and
//! quotes, one skipped case. The HTML is also loaded in a real Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use reel_core::suite::{BodySpec, RequestSpec, ResponseSpec};
use serde_json::{json, Value};

use super::{render_html, write_html, write_json, write_junit};
use crate::{ActualResponse, CaseResult, Difference, MockMiss, Outcome, ReplayError, RunReport};

const JSON_TYPE: (&str, &str) = ("content-type", "application/json");

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn case(name: &str, outcome: Outcome, method: &str, target: &str) -> CaseResult {
    CaseResult {
        name: name.to_owned(),
        file: PathBuf::from(format!("reel/books/cases/{name}.json")),
        outcome,
        duration_ms: 12.0,
        request: RequestSpec {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: headers(&[("accept", "application/json")]),
            body: None,
        },
        expected: ResponseSpec {
            status: 200,
            headers: headers(&[JSON_TYPE]),
            body_encoding: None,
            body: None,
        },
        actual: None,
        accepted: None,
        differences: vec![],
        diff: String::new(),
        mocks_used: vec![],
        mocks_unused: vec![],
        mock_misses: vec![],
        app_log: vec![],
        error: None,
    }
}

fn diff(path: &str, expected: &str, actual: &str) -> Difference {
    Difference {
        path: path.to_owned(),
        expected: Some(expected.to_owned()),
        actual: Some(actual.to_owned()),
    }
}

fn passing_case() -> CaseResult {
    let mut c = case("0001-list-books", Outcome::Passed, "GET", "/books?limit=2");
    c.expected.body = Some(BodySpec::Json(json!({
        "items": [{"id": {"$reel": "uuid"}, "title": "Dune"}],
        "total": 1
    })));
    c.actual = Some(ActualResponse {
        status: 200,
        headers: headers(&[JSON_TYPE, ("date", "Tue, 02 Jan 2024 10:00:00 GMT")]),
        body: Some(BodySpec::Json(json!({
            "items": [{"id": "6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f", "title": "Dune"}],
            "total": 1
        }))),
        body_encoding: None,
        undecoded: None,
    });
    c.mocks_used = vec!["0001-list-books#1".to_owned()];
    c
}

fn failing_case() -> CaseResult {
    let mut c = case(
        "0002-get-book-1",
        Outcome::Failed,
        "POST",
        "/books/1?lang=en&x=<y>",
    );
    c.duration_ms = 48.5;
    c.request.headers = headers(&[
        ("content-type", "application/json"),
        ("x-note", r#"say "hi" & bye"#),
    ]);
    c.request.body = Some(BodySpec::Json(json!({"fields": ["title", "author"]})));
    c.expected.headers = headers(&[JSON_TYPE, ("x-cache", r#"HIT "edge" & co"#)]);
    c.expected.body = Some(BodySpec::Json(json!({
        "id": {"$reel": "uuid"},
        "title": "Dune",
        "author": "Frank Herbert",
        "blurb": "<script>alert(1)</script>",
        "price": 9.99
    })));
    c.actual = Some(ActualResponse {
        status: 200,
        headers: headers(&[("x-cache", r#"MISS "edge" & co"#), JSON_TYPE]),
        body: Some(BodySpec::Json(json!({
            "id": 7,
            "title": "Dune",
            "author": "F. <i>Herbert</i>",
            "blurb": "<script>alert(1)</script>",
            "price": 12.5
        }))),
        body_encoding: None,
        undecoded: None,
    });
    c.differences = vec![
        diff("$.id", r#"{"$reel": "uuid"}"#, "7"),
        diff("$.author", r#""Frank Herbert""#, r#""F. <i>Herbert</i>""#),
        diff("$.price", "9.99", "12.5"),
        diff(
            "header x-cache",
            r#"HIT "edge" & co"#,
            r#"MISS "edge" & co"#,
        ),
    ];
    c.diff = "--- expected\n+++ actual\n@@ -2,5 +2,5 @@\n-  \"author\": \"Frank Herbert\",\n+  \"author\": \"F. <i>Herbert</i>\",\n   \"blurb\": \"<script>alert(1)</script>\",\n".to_owned();
    c.mocks_used = vec!["0002-get-book-1#1".to_owned()];
    c.mocks_unused = vec!["0002-get-book-1#2".to_owned()];
    c.mock_misses = vec![MockMiss {
        dependency: "prices".to_owned(),
        call: "GET /price?isbn=1&currency=EUR".to_owned(),
        nearest: Some("0002-get-book-1#2 GET /price?isbn=1&currency=USD".to_owned()),
        diff: "-GET /price?isbn=1&currency=USD\n+GET /price?isbn=1&currency=EUR\n".to_owned(),
        values: Vec::new(),
    }];
    c.app_log = vec![
        "Traceback (most recent call last):".to_owned(),
        "KeyError: '<author>'".to_owned(),
    ];
    c
}

fn skipped_case() -> CaseResult {
    let mut c = case("0003-delete-book", Outcome::Skipped, "DELETE", "/books/1");
    c.error = Some("marked \"skip\" in the case file".to_owned());
    c
}

fn report(cases: Vec<CaseResult>) -> RunReport {
    let mut r = RunReport {
        suite_name: "books".to_owned(),
        suite_dir: PathBuf::from("reel/books"),
        started_at: "2024-01-02T10:00:00.125+00:00".to_owned(),
        duration_ms: 1234.5,
        target: "http://127.0.0.1:8080".to_owned(),
        shard: Some((1, 2)),
        passed: 0,
        failed: 0,
        skipped: 0,
        cases,
    };
    r.recount();
    r
}

fn sample_report() -> RunReport {
    // Deliberately not in display order: the HTML puts failed cases first.
    report(vec![passing_case(), failing_case(), skipped_case()])
}

/// The visible text of an HTML fragment: tags dropped, entities decoded.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The (left, right) text of every changed row of the side-by-side view.
fn changed_rows(html: &str) -> Vec<(String, String)> {
    html.split("<div class=\"r chg\">")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</div>").expect("row ends")];
            let (left, right) = row
                .split_once("<span class=\"ln")
                .and_then(|(_, rest)| rest.split_once("<span class=\"ln"))
                .map(|(l, r)| (l.to_owned(), r.to_owned()))
                .expect("two sides");
            // Drop the line number cell of each side.
            let strip = |s: &str| text_of(&s[s.find("</span>").expect("ln") + 7..]);
            (strip(&left), strip(&right))
        })
        .collect()
}

fn section<'a>(html: &'a str, case_name: &str) -> &'a str {
    let name = format!("<span class=\"name\">{case_name}</span>");
    let at = html.find(&name).expect("case rendered");
    let start = html[..at].rfind("<section").expect("section start");
    let end = at + html[at..].find("</section>").expect("section end");
    &html[start..end]
}

// ---------------------------------------------------------------------------
// JUnit

#[test]
fn junit_report_counts_cases_and_explains_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/ci/junit.xml");
    write_junit(&sample_report(), &path).unwrap();
    let xml = std::fs::read_to_string(&path).unwrap();

    let parsed = quick_junit::Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(
        (parsed.tests, parsed.failures, parsed.skipped),
        (3, 1, 1),
        "{xml}"
    );
    let suite = &parsed.test_suites[0];
    assert_eq!(suite.name.as_str(), "books");
    let failed = suite
        .test_cases
        .iter()
        .find(|c| c.name.as_str() == "0002-get-book-1")
        .unwrap();
    assert_eq!(failed.classname.as_ref().unwrap().as_str(), "books");
    match &failed.status {
        quick_junit::TestCaseStatus::NonSuccess {
            message,
            description,
            ..
        } => {
            assert_eq!(
                message.as_ref().unwrap().as_str(),
                "4 differences: $.id, $.author, $.price, header x-cache; \
                 1 unmatched dependency call: prices GET /price?isbn=1&currency=EUR"
            );
            let text = description.as_ref().unwrap().as_str();
            assert!(text.contains("\"F. <i>Herbert</i>\""), "{text}");
            assert!(text.contains("+GET /price?isbn=1&currency=EUR"), "{text}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(
        failed.system_out.as_ref().unwrap().as_str(),
        "Traceback (most recent call last):\nKeyError: '<author>'"
    );

    insta::assert_snapshot!("junit", xml);
}

// ---------------------------------------------------------------------------
// JSON

#[test]
fn json_report_round_trips_with_counts_and_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/report.json");
    write_json(&sample_report(), &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("}\n"));
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["suite_name"], "books");
    assert_eq!(
        (&v["passed"], &v["failed"], &v["skipped"]),
        (&json!(1), &json!(1), &json!(1))
    );
    assert_eq!(v["cases"].as_array().unwrap().len(), 3);
    let failed = &v["cases"][1];
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["differences"][1]["path"], "$.author");
    assert_eq!(
        failed["actual"]["body"]["json"]["author"],
        "F. <i>Herbert</i>"
    );
    assert_eq!(failed["mock_misses"][0]["dependency"], "prices");
    assert_eq!(failed["app_log"][1], "KeyError: '<author>'");
    assert!(
        v["cases"][0].get("app_log").is_none(),
        "only where there is some"
    );
    assert_eq!(v["shard"], json!([1, 2]));
}

#[test]
fn writers_name_the_path_they_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let path = blocker.join("report.html");
    match write_html(&sample_report(), &path) {
        Err(ReplayError::Write { path: p, .. }) => assert_eq!(p, blocker),
        other => panic!("expected a write error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// HTML

#[test]
fn html_escapes_every_recorded_value() {
    let html = render_html(&sample_report());
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script"), "no script element at all");
    assert!(!html.contains("<i>"), "recorded markup stays text");
    assert!(html.contains("say &quot;hi&quot; &amp; bye"));
    assert!(!html.contains(r#"say "hi" & bye"#));
    assert!(html.contains("/books/1?lang=en&amp;x=&lt;y&gt;"));
    assert!(html.contains("App output while it ran"));
    assert!(html.contains("KeyError: &#39;&lt;author&gt;&#39;"));
    assert!(html.contains("HIT &quot;edge&quot; &amp; co"));
    assert!(html.contains("currency=EUR") && !html.contains("isbn=1&currency"));
    assert!(html.contains("marked &quot;skip&quot; in the case file"));
}

#[test]
fn escape_makes_control_characters_visible() {
    assert_eq!(
        super::html::escape("a\u{1b}[31m\r\n<'&\">\t\u{7f}"),
        "a\u{241b}[31m\u{240d}\n&lt;&#39;&amp;&quot;&gt;\t\u{2421}"
    );
}

#[test]
fn html_summary_shows_counts_and_run_facts() {
    let html = render_html(&sample_report());
    assert!(html.contains("<title>reel · books · 1 of 3 cases failed</title>"));
    assert!(html.contains("<header class=\"top bad\">"));
    for fact in [
        "http://127.0.0.1:8080",
        "2024-01-02 10:00:00 +00:00",
        "1.23 s",
        "1 of 2",
    ] {
        assert!(html.contains(fact), "{fact}");
    }
    assert!(html.contains("class=\"count failed\"><span class=\"dot\"></span><b>1</b> failed"));
    assert!(html.contains("class=\"count passed\"><span class=\"dot\"></span><b>1</b> passed"));
    assert!(html.contains("class=\"count skipped\"><span class=\"dot\"></span><b>1</b> skipped"));

    let all_pass = render_html(&report(vec![passing_case()]));
    assert!(all_pass.contains("<header class=\"top ok\">"));
    assert!(all_pass.contains("✓ all 1 case passed"));
}

#[test]
fn html_lists_failed_first_open_and_the_others_collapsed() {
    let html = render_html(&sample_report());
    let at = |name: &str| html.find(&format!(">{name}</span>")).unwrap();
    assert!(at("0002-get-book-1") < at("0001-list-books"));
    assert!(at("0001-list-books") < at("0003-delete-book"));
    assert!(section(&html, "0002-get-book-1")
        .starts_with("<section class=\"case failed\" id=\"case-0\"><details open>"));
    assert!(section(&html, "0001-list-books")
        .starts_with("<section class=\"case passed\" id=\"case-1\"><details>"));
    assert!(section(&html, "0003-delete-book")
        .starts_with("<section class=\"case skipped\" id=\"case-2\"><details>"));
}

#[test]
fn html_puts_expected_and_actual_side_by_side() {
    let html = render_html(&sample_report());
    let failed = section(&html, "0002-get-book-1");
    let rows = changed_rows(failed);
    let has = |left: &str, right: &str| rows.iter().any(|(l, r)| l == left && r == right);
    assert!(
        has(
            "  \"author\": \"Frank Herbert\",",
            "  \"author\": \"F. <i>Herbert</i>\","
        ),
        "{rows:#?}"
    );
    assert!(has("  \"price\": 9.99", "  \"price\": 12.5"), "{rows:#?}");
    assert!(
        has("x-cache: HIT \"edge\" & co", "x-cache: MISS \"edge\" & co"),
        "{rows:#?}"
    );
    // A matcher the actual value does not satisfy is a change, shown as written.
    assert!(
        has("  \"id\": {\"$reel\": \"uuid\"},", "  \"id\": 7,"),
        "{rows:#?}"
    );
    assert_eq!(
        rows.len(),
        4,
        "only the differing lines are changed: {rows:#?}"
    );
    // Word-level emphasis on the part that changed.
    assert!(
        failed.contains("<span class=\"em\">12.5</span>"),
        "{failed}"
    );
    // The header order of the actual response does not show as a change.
    assert!(!rows
        .iter()
        .any(|(l, r)| l.contains("content-type") || r.contains("content-type")));

    // The differences table has both values of each path.
    assert!(failed.contains(
        "<td class=\"path\">$.price</td><td class=\"exp\">9.99</td><td class=\"act\">12.5</td>"
    ));
}

#[test]
fn html_treats_a_satisfied_matcher_and_a_volatile_header_as_unchanged() {
    let html = render_html(&sample_report());
    let passed = section(&html, "0001-list-books");
    assert!(changed_rows(passed).is_empty(), "{passed}");
    assert!(passed.contains("The actual response matches the recording."));
    assert!(!passed.contains("class=\"fold\""), "nothing to fold away");
    assert!(passed.contains("<span class=\"matcher\">{&quot;$reel&quot;: &quot;uuid&quot;}</span>"));
    assert!(passed.contains("matched &quot;6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f&quot;"));
    assert!(passed.contains("date: Tue, 02 Jan 2024 10:00:00 GMT"));
    assert!(passed.contains("compared by form"));
}

#[test]
fn html_pretty_prints_the_request_like_serde_json() {
    let html = render_html(&sample_report());
    let failed = section(&html, "0002-get-book-1");
    let start = failed.find("<pre class=\"block req\">").unwrap();
    let end = start + failed[start..].find("</pre>").unwrap();
    let body = serde_json::to_string_pretty(&json!({"fields": ["title", "author"]})).unwrap();
    assert_eq!(
        text_of(&failed[start..end]),
        format!(
            "POST /books/1?lang=en&x=<y>\ncontent-type: application/json\nx-note: say \"hi\" & bye\n\n{body}"
        )
    );
}

#[test]
fn html_does_not_mark_a_line_changed_for_its_new_trailing_comma() {
    let mut c = case("0008-book", Outcome::Failed, "GET", "/books/8");
    c.expected.body = Some(BodySpec::Json(json!({"title": "Emma", "price": 5})));
    c.actual = Some(ActualResponse {
        status: 200,
        headers: headers(&[JSON_TYPE]),
        body: Some(BodySpec::Json(
            json!({"title": "Emma", "price": 5, "discount": null}),
        )),
        body_encoding: None,
        undecoded: None,
    });
    c.differences = vec![Difference {
        path: "$.discount".to_owned(),
        expected: None,
        actual: Some("null".to_owned()),
    }];
    let html = render_html(&report(vec![c]));
    assert_eq!(
        changed_rows(&html),
        vec![(String::new(), "  \"discount\": null".to_owned())]
    );
    assert!(html.contains("<td class=\"exp\"><span class=\"absent\">absent</span></td>"));
}

#[test]
fn html_folds_long_unchanged_runs() {
    let mut c = case("0004-numbers", Outcome::Failed, "GET", "/numbers");
    let expected: Vec<u32> = (0..30).collect();
    let mut actual = expected.clone();
    actual[15] = 99;
    c.expected.body = Some(BodySpec::Json(json!(expected)));
    c.actual = Some(ActualResponse {
        status: 200,
        headers: headers(&[JSON_TYPE]),
        body: Some(BodySpec::Json(json!(actual))),
        body_encoding: None,
        undecoded: None,
    });
    c.differences = vec![diff("$[15]", "15", "99")];
    let html = render_html(&report(vec![c]));
    // 35 lines: status, header, blank, "[", 30 numbers, "]"; line 20 changed.
    // Before it: 3 shown, 13 folded, 3 shown. After it: 3 shown, 12 folded.
    assert!(
        html.contains("<summary>13 unchanged lines</summary>"),
        "{html}"
    );
    assert!(
        html.contains("<summary>12 unchanged lines</summary>"),
        "{html}"
    );
    assert_eq!(
        changed_rows(&html),
        vec![("  15,".to_owned(), "  99,".to_owned())]
    );
}

#[test]
fn html_shows_binary_bodies_and_a_missing_response() {
    let mut c = case("0005-cover", Outcome::Failed, "GET", "/books/1/cover");
    c.expected.body = Some(BodySpec::Base64("iVBORw0KGgo=".to_owned()));
    c.error = Some("connection refused".to_owned());
    let html = render_html(&report(vec![c]));
    assert!(html.contains("8 bytes binary</span> <span class=\"dim\">89 50 4e 47 0d 0a 1a 0a"));
    assert!(html.contains("no response: connection refused"));
    assert!(html.contains("<span class=\"why\">no response: connection refused</span>"));
}

#[test]
fn html_shows_mocks_and_their_misses() {
    let html = render_html(&sample_report());
    let failed = section(&html, "0002-get-book-1");
    assert!(failed.contains("<code class=\"chip used\">0002-get-book-1#1</code>"));
    assert!(failed.contains("<code class=\"chip unused\">0002-get-book-1#2</code>"));
    assert!(failed.contains("<b>prices</b> <code>GET /price?isbn=1&amp;currency=EUR</code>"));
    // The changed word of the call is emphasised.
    assert!(failed.contains(
        "<span class=\"ul ins\">+GET <span class=\"em\">/price?isbn=1&amp;currency=EUR</span></span>"
    ));
}

// ---------------------------------------------------------------------------
// A real browser

const CHROMIUM: &str = "/usr/bin/chromium";

/// A failing case whose recorded values would run script or add elements if
/// the page let them through.
fn hostile_report() -> RunReport {
    let mut c = case(
        "<b id=\"injected-name\">0006</b>",
        Outcome::Failed,
        "GET",
        "/x?<svg onload=\"document.title='PWNED'\">",
    );
    c.expected.headers = headers(&[
        ("content-type", "text/html"),
        (
            "x-evil",
            "\"><img id=\"injected-header\" src=x onerror=\"document.title='PWNED'\">",
        ),
    ]);
    c.expected.body = Some(BodySpec::Text(
        "<script>document.title='PWNED'</script>".to_owned(),
    ));
    c.actual = Some(ActualResponse {
        status: 200,
        headers: headers(&[("content-type", "text/html")]),
        body: Some(BodySpec::Text(
            "<img id=\"injected-body\" src=x onerror=\"document.title='PWNED'\">".to_owned(),
        )),
        body_encoding: None,
        undecoded: None,
    });
    c.differences = vec![Difference {
        path: "body".to_owned(),
        expected: Some("<script>document.title='PWNED'</script>".to_owned()),
        actual: Some(
            "<img id=\"injected-body\" src=x onerror=\"document.title='PWNED'\">".to_owned(),
        ),
    }];
    c.diff = "-<script>document.title='PWNED'</script>\n+<img src=x onerror=\"document.title='PWNED'\">\n"
        .to_owned();
    report(vec![c])
}

#[test]
fn chromium_renders_recorded_markup_as_text() {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("SKIPPED chromium_renders_recorded_markup_as_text: {CHROMIUM} not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    write_html(&hostile_report(), &page).unwrap();
    let profile = dir.path().join("profile");
    let output = Command::new("timeout")
        .arg("90")
        .arg(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && dom.contains("</html>"),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let title = dom
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| t)
        .expect("a title");
    assert_eq!(title, "reel · books · 1 of 1 case failed");
    // Escaped markup serializes as `&lt;b id=...`; only an element gives `<b id=`.
    for element in [
        "<b id=\"injected-name\"",
        "<img id=\"injected-header\"",
        "<img id=\"injected-body\"",
    ] {
        assert!(!dom.contains(element), "{element} became an element");
    }
    assert!(!dom.contains("<script") && !dom.contains("<img") && !dom.contains("<svg"));
    // The recorded markup is on the page as text.
    assert!(dom.contains("&lt;script&gt;document.title='PWNED'&lt;/script&gt;"));
    assert!(dom.contains("&lt;b id=\"injected-name\"&gt;0006&lt;/b&gt;"));
}
