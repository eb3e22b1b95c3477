//! Decisions of `reel review --web` on a small suite on disk: what each
//! writes where, what it refuses, and that a decision on files changed
//! since the page showed them writes nothing.

use std::path::{Path, PathBuf};

use reel_core::suite::load::load_case;
use reel_core::suite::{BodySpec, RequestSpec, ResponseSpec};
use serde_json::{json, Value};

use super::decide::{Decision, Scope};
use super::{page, save_run, Overrides, Review};
use crate::pending::pending_path;
use crate::runner::RunConfig;
use crate::{ActualResponse, CaseResult, Difference, Outcome, ReplayError, RunReport};

const UUID_A: &str = "6f1c2a9e-3b7d-4c1a-9e2f-0a1b2c3d4e5f";
const UUID_B: &str = "0b6f9d3c-8e21-4f7a-b1c2-9a8b7c6d5e4f";

fn response(id: Value, trace: &str, name: &str, order: &str) -> Value {
    json!({
        "status": 200,
        "headers": [["content-type", "application/json"], ["x-trace", trace]],
        "body": {"json": {"id": id, "name": name, "order": order}}
    })
}

fn case_file(response: Value) -> Value {
    json!({
        "name": "0001-get-item",
        "seq": 1,
        "recorded_at": "2026-01-01T00:00:00Z",
        "request": {"method": "GET", "target": "/item", "headers": []},
        "response": response
    })
}

fn pretty(v: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap())
}

/// A suite of one case the last run failed at `$.id`, `$.name`, `$.order`
/// and the header `x-trace`, with its pending snapshot and its run kept.
fn suite() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("cases")).unwrap();
    std::fs::create_dir_all(d.join("mocks")).unwrap();
    std::fs::write(
        d.join("suite.json"),
        pretty(&json!({
            "reel_suite": 2,
            "name": "items",
            "session": {"id": 1, "name": "items", "recorded_at": "2026-01-01T00:00:00Z"},
            "app": {"command": null, "target": "http://127.0.0.1:9", "ready": null},
            "dependencies": [],
            "noise": {"headers": ["date"]}
        })),
    )
    .unwrap();
    let case = d.join("cases/0001-get-item.json");
    std::fs::write(
        &case,
        pretty(&case_file(response(json!(7), "a1", "x", UUID_A))),
    )
    .unwrap();
    let now = response(json!(12), "b2", "y", UUID_B);
    std::fs::write(pending_path(&case), pretty(&case_file(now.clone()))).unwrap();
    let diff = |path: &str, e: &str, a: &str| Difference {
        path: path.into(),
        expected: Some(e.into()),
        actual: Some(a.into()),
    };
    let result = CaseResult {
        name: "0001-get-item".into(),
        file: case.clone(),
        outcome: Outcome::Failed,
        duration_ms: 1.0,
        request: RequestSpec {
            method: "GET".into(),
            target: "/item".into(),
            headers: vec![],
            body: None,
        },
        expected: serde_json::from_value::<ResponseSpec>(response(json!(7), "a1", "x", UUID_A))
            .unwrap(),
        actual: Some(ActualResponse {
            status: 200,
            headers: vec![("x-trace".into(), "b2".into())],
            body: Some(BodySpec::Json(
                json!({"id": 12, "name": "y", "order": UUID_B}),
            )),
            body_encoding: None,
            undecoded: None,
        }),
        accepted: None,
        differences: vec![
            diff("header x-trace", "a1", "b2"),
            diff("$.id", "7", "12"),
            diff("$.name", "\"x\"", "\"y\""),
            diff(
                "$.order",
                &format!("\"{UUID_A}\""),
                &format!("\"{UUID_B}\""),
            ),
        ],
        diff: String::new(),
        mocks_used: vec![],
        mocks_unused: vec![],
        mock_misses: vec![],
        error: None,
        app_log: vec!["<script>window.x=1</script> in the log".into()],
    };
    let report = RunReport {
        suite_name: "items".into(),
        suite_dir: d.to_owned(),
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_ms: 1.0,
        target: "http://127.0.0.1:9".into(),
        shard: None,
        cases: vec![result],
        passed: 0,
        failed: 1,
        skipped: 0,
    };
    save_run(d, &report, None).unwrap();
    (dir, case)
}

fn open(dir: &Path) -> Review {
    Review::open(dir, RunConfig::default(), Overrides::default()).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn decide(review: &Review, d: Decision) -> Result<super::Applied, ReplayError> {
    let version = review.version("0001-get-item").unwrap();
    review.apply("0001-get-item", &d, &version)
}

#[test]
fn each_decision_shows_what_it_writes_and_the_last_one_settles_the_case() {
    let (dir, case) = suite();
    let review = open(dir.path());
    let pending = pending_path(&case);

    // Ignoring a body path in the case: the case and its pending snapshot
    // both get the rule (accepting later keeps it); three differences stay.
    let (plan, _) = review
        .plan(
            "0001-get-item",
            &Decision::Ignore {
                path: "$.name".into(),
                scope: Scope::Case,
            },
        )
        .unwrap();
    let files: Vec<&Path> = plan.changes.iter().map(|c| c.file.as_path()).collect();
    assert_eq!(files, [case.as_path(), pending.as_path()]);
    assert_eq!(plan.remaining.len(), 3);
    decide(
        &review,
        Decision::Ignore {
            path: "$.name".into(),
            scope: Scope::Case,
        },
    )
    .unwrap();
    assert_eq!(load_case(&case).unwrap().noise.body_paths, ["$.name"]);
    assert_eq!(load_case(&pending).unwrap().noise.body_paths, ["$.name"]);

    // A header, in the whole suite: suite.json gets it, next to what it had.
    let applied = decide(
        &review,
        Decision::Ignore {
            path: "header x-trace".into(),
            scope: Scope::Suite,
        },
    )
    .unwrap();
    assert!(applied
        .says
        .contains("No case of the suite compares the header x-trace"));
    let suite: Value = serde_json::from_str(&read(&dir.path().join("suite.json"))).unwrap();
    assert_eq!(suite["noise"]["headers"], json!(["date", "x-trace"]));

    // Matching by kind: two numbers are any number, two UUIDs any UUID,
    // in the case and in its pending snapshot.
    decide(
        &review,
        Decision::MatchKind {
            path: "$.id".into(),
        },
    )
    .unwrap();
    let body = |p: &Path| {
        load_case(p)
            .unwrap()
            .response
            .body
            .unwrap()
            .as_json()
            .unwrap()
            .clone()
    };
    assert_eq!(body(&case)["id"], json!({"$reel": "number"}));
    assert_eq!(body(&pending)["id"], json!({"$reel": "number"}));
    assert!(pending.exists(), "$.order still differs");

    let (plan, _) = review
        .plan(
            "0001-get-item",
            &Decision::MatchKind {
                path: "$.order".into(),
            },
        )
        .unwrap();
    assert!(plan.says.contains("the case passes now"), "{}", plan.says);
    assert!(plan
        .changes
        .iter()
        .any(|c| c.file == pending && c.after.is_none()));
    let shown = page::plan(dir.path(), &plan);
    assert!(
        shown.contains("cases/0001-get-item.json.new</code> removed"),
        "{shown}"
    );
    decide(
        &review,
        Decision::MatchKind {
            path: "$.order".into(),
        },
    )
    .unwrap();
    assert_eq!(body(&case)["order"], json!({"$reel": "uuid"}));
    assert!(!pending.exists(), "nothing is left to accept");
    let entry = &review.entries().unwrap()[0];
    assert_eq!(entry.outcome(), "passed");
    assert!(
        !entry.stale,
        "the review's own writes do not make its run stale"
    );
}

#[test]
fn accepting_takes_the_pending_snapshot_and_rejecting_drops_it() {
    let (dir, case) = suite();
    let review = open(dir.path());
    let new = read(&pending_path(&case));
    decide(&review, Decision::Accept).unwrap();
    assert_eq!(read(&case), new);
    assert!(!pending_path(&case).exists());

    let (dir, case) = suite();
    let review = open(dir.path());
    let old = read(&case);
    decide(&review, Decision::Reject).unwrap();
    assert_eq!(read(&case), old);
    assert!(!pending_path(&case).exists());
    let again = decide(&review, Decision::Reject).unwrap_err().to_string();
    assert!(
        again.contains("there is no pending snapshot to reject"),
        "{again}"
    );
}

#[test]
fn a_decision_on_files_changed_since_the_page_showed_them_writes_nothing() {
    let (dir, case) = suite();
    let review = open(dir.path());
    let shown = review.version("0001-get-item").unwrap();
    // Someone edits the case meanwhile.
    let edited = read(&case).replace("\"x\"", "\"z\"");
    std::fs::write(&case, &edited).unwrap();
    let pending_before = read(&pending_path(&case));
    let err = review
        .apply("0001-get-item", &Decision::Accept, &shown)
        .unwrap_err();
    assert!(matches!(err, ReplayError::ChangedOnDisk { .. }), "{err}");
    assert_eq!(read(&case), edited);
    assert_eq!(read(&pending_path(&case)), pending_before);
    // The page notices: the case is stale, and its run is not planned on.
    let entry = &review.entries().unwrap()[0];
    assert!(entry.stale);
    let err = review
        .plan(
            "0001-get-item",
            &Decision::MatchKind {
                path: "$.id".into(),
            },
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("re-run it"), "{err}");
    // So does a change to suite.json, which "ignore in the suite" writes.
    let shown = review.version("0001-get-item").unwrap();
    let suite = dir.path().join("suite.json");
    std::fs::write(
        &suite,
        read(&suite).replace("\"date\"", "\"date\", \"etag\""),
    )
    .unwrap();
    assert!(review
        .apply("0001-get-item", &Decision::Reject, &shown)
        .is_err());
    assert!(pending_path(&case).exists());
}

#[test]
fn what_cannot_be_decided_is_refused_with_the_reason() {
    let (dir, _) = suite();
    let review = open(dir.path());
    let refused = |d: Decision| review.plan("0001-get-item", &d).unwrap_err().to_string();
    let e = refused(Decision::Ignore {
        path: "status".into(),
        scope: Scope::Case,
    });
    assert!(e.contains("'status' cannot be ignored"), "{e}");
    let e = refused(Decision::Ignore {
        path: "header date".into(),
        scope: Scope::Suite,
    });
    assert!(e.contains("the header date is already ignored"), "{e}");
    let e = refused(Decision::MatchKind {
        path: "$.missing".into(),
    });
    assert!(
        e.contains("the expected body has no value at $.missing"),
        "{e}"
    );
    // "x" and "y" share no format, but both are strings.
    decide(
        &review,
        Decision::MatchKind {
            path: "$.name".into(),
        },
    )
    .unwrap();
    let case = load_case(&dir.path().join("cases/0001-get-item.json")).unwrap();
    assert_eq!(
        case.response.body.unwrap().as_json().unwrap()["name"],
        json!({"$reel": "string"})
    );
    let e = review
        .plan(
            "0001-get-item",
            &Decision::Ignore {
                path: "$.[".into(),
                scope: Scope::Case,
            },
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a JSON path"), "{e}");
    let e = review.case("../suite").map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("no case '../suite'"), "{e}");
}

#[test]
fn every_recorded_value_on_the_page_stays_text() {
    let (dir, _) = suite();
    let review = open(dir.path());
    let mut entries = review.entries().unwrap();
    entries[0].name = "\"><img src=x onerror=alert(1)>".into();
    entries[0].method = "<script>alert(2)</script>".into();
    let html = format!(
        "{}{}",
        page::list(&entries),
        page::case(dir.path(), &entries[0])
    );
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;window.x=1&lt;/script&gt; in the log"));
    assert!(html.contains("data-name=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\""));
}

#[test]
fn a_linked_reel_folder_or_pending_snapshot_is_refused_not_followed() {
    let (dir, case) = suite();
    let (run, _) = super::load_run(dir.path()).unwrap();
    let run = run.unwrap();
    // A pull request commits `.reel` as a link to somewhere else.
    let outside = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(dir.path().join(".reel")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join(".reel")).unwrap();
    let err = save_run(dir.path(), &run.report, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a folder reel made"), "{err}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

    // A pending snapshot that is a link to a private file is not shown.
    let secret = outside.path().join("id_rsa");
    std::fs::write(&secret, "PRIVATE KEY").unwrap();
    std::fs::remove_file(pending_path(&case)).unwrap();
    std::os::unix::fs::symlink(&secret, pending_path(&case)).unwrap();
    let review = open(dir.path());
    let shown = format!(
        "{:?}",
        review
            .case("0001-get-item")
            .map(|(e, _)| page::case(dir.path(), &e))
    );
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("is a link"), "{shown}");
}

#[test]
fn another_reel_test_meanwhile_is_read_and_a_suite_wide_rule_settles_every_case() {
    let (dir, case) = suite();
    let review = open(dir.path());
    assert_eq!(review.entries().unwrap()[0].outcome(), "failed");
    // reel test runs again (the app was fixed): the review reads its run.
    let (run, _) = super::load_run(dir.path()).unwrap();
    let mut report = run.unwrap().report;
    report.cases[0].outcome = Outcome::Passed;
    report.cases[0].differences.clear();
    std::fs::remove_file(pending_path(&case)).unwrap();
    save_run(dir.path(), &report, None).unwrap();
    let entry = &review.entries().unwrap()[0];
    assert_eq!(entry.outcome(), "passed");
    assert!(!entry.stale);

    // With two differences left, ignoring one in the whole suite takes it
    // off the case; the other keeps it failing.
    let (dir, _) = suite();
    let review = open(dir.path());
    decide(
        &review,
        Decision::Ignore {
            path: "$.id".into(),
            scope: Scope::Suite,
        },
    )
    .unwrap();
    let r = review.entries().unwrap()[0].result.clone().unwrap();
    let left: Vec<&str> = r.differences.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(left, ["header x-trace", "$.name", "$.order"]);
    assert_eq!(review.report().unwrap().unwrap().failed, 1);
}

#[test]
fn a_path_sent_back_by_the_page_names_the_same_field() {
    let (dir, _) = suite();
    let review = open(dir.path());
    let mut entry = review.entries().unwrap().remove(0);
    let result = entry.result.as_mut().unwrap();
    result.differences[1].path = "$.a\u{202e}b".into();
    let html = page::case(dir.path(), &entry);
    assert!(html.contains("data-path=\"$.a\u{202e}b\""), "{html}");

    // A field of a list's items: the rule offered covers every item, and
    // it settles the differences of all of them.
    let result = entry.result.as_mut().unwrap();
    result.differences = vec![
        Difference {
            path: "$.items[0].at".into(),
            expected: Some("1".into()),
            actual: Some("2".into()),
        },
        Difference {
            path: "$.items[1].at".into(),
            expected: Some("3".into()),
            actual: Some("4".into()),
        },
    ];
    let html = page::case(dir.path(), &entry);
    assert!(html.contains("data-path=\"$.items[*].at\""), "{html}");
    let files = super::decide::Files::read(dir.path(), &entry.path).unwrap();
    let plan = super::decide::plan(
        dir.path(),
        &entry.path,
        &files,
        &Decision::Ignore {
            path: "$.items[*].at".into(),
            scope: Scope::Case,
        },
        entry.result.as_ref(),
    )
    .unwrap();
    assert!(plan.remaining.is_empty(), "{:?}", plan.remaining);
}
