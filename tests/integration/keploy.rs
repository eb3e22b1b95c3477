//! Keploy test sets (`fixtures/keploy/`, in the format Keploy's
//! documentation shows) become reel suites: `reel import keploy` takes their
//! HTTP tests, the HTTP mocks of the app's pricing calls and the Postgres
//! mocks of its queries, says what it left out, and the generated suites
//! replay green against the demo app with the pricing service and the
//! database gone, and fail the right cases against a changed build.

use std::path::Path;

use crate::postgres::{run_suite, sibling_bin};
use crate::support::*;

/// Copies the fixture test set `name` into `to`, the addresses filled in.
fn test_set(name: &str, to: &Path, app: &str, pricing: &str) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/keploy")
        .join(name);
    std::fs::create_dir_all(to.join("tests")).unwrap();
    let fill = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .replace("{{APP}}", app)
            .replace("{{PRICING}}", pricing)
    };
    std::fs::write(to.join("mocks.yaml"), fill(&from.join("mocks.yaml"))).unwrap();
    for e in std::fs::read_dir(from.join("tests")).unwrap() {
        let p = e.unwrap().path();
        std::fs::write(to.join("tests").join(p.file_name().unwrap()), fill(&p)).unwrap();
    }
}

/// `reel import keploy DIR/keploy --session NAME`, which must succeed;
/// what it printed.
fn import(dir: &Path, session: &str, store: &Path) -> String {
    let out = reel(&[
        "import",
        "keploy",
        dir.join("keploy").to_str().unwrap(),
        "--session",
        session,
        "--store",
        store.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

#[test]
fn a_keploy_test_set_imports_generates_and_replays_green() {
    let dir = tempfile::tempdir().unwrap();
    let app = format!("127.0.0.1:{}", free_port());
    let pricing = format!("127.0.0.1:{}", free_port());
    let set = dir.path().join("keploy/test-set-0");
    test_set("test-set-0", &set, &app, &pricing);
    let store = dir.path().join("reel.db");

    let said = import(dir.path(), "migrated", &store);
    assert!(said.contains("Imported 6 entries"), "{said}");
    assert!(
        said.contains(&format!("app under test: http://{app}")),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "at http://{pricing}: its calls are outbound; replay's mock listens at {pricing}"
        )),
        "{said}"
    );
    assert!(said.contains("test-set-0/tests/test-2.yaml: Keploy's noise body.created_at, body.request_id, header.Date"), "{said}");

    let (suite, generated) = generate_suite(dir.path(), "migrated", &store);
    assert!(generated.contains("4 cases"), "{generated}");
    let app_cmd = |variant: &str| {
        format!(
            "{} demo-app --listen {app} --pricing-url http://{pricing} --variant {variant}",
            reel_bin().display()
        )
    };
    // Nothing listens at the pricing address: only reel's mock answers.
    let (code, said) = run_suite(&suite, &["--app", &app_cmd("normal")]);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("4 passed, 0 failed"), "{said}");

    // A changed build (author renamed, quotes 10% higher) fails the post,
    // the quote and the read of the new book; the missing book still passes.
    let (code, said) = run_suite(&suite, &["--app", &app_cmd("changed")]);
    assert_eq!(code, 1, "{said}");
    assert_eq!(failed_cases(&said).len(), 3, "{said}");
    assert!(said.contains("$.amount_cents"), "{said}");
    assert!(said.contains("$.author_name"), "{said}");
}

/// A Keploy test set of the demo app keeping its books in Postgres, its
/// mocks in the shapes Keploy writes them (the Sync left out of each
/// request's header, queries with their whitespace folded, rows as text and
/// `b64:` values, a notice kept as bytes): imported, the queries become the
/// calls of dependency `postgres`, and the suite replays green with no
/// database; a build that changes one query fails the cases that send it,
/// naming the statement.
#[test]
fn a_keploy_test_set_with_postgres_mocks_replays_without_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let app = format!("127.0.0.1:{}", free_port());
    let pricing = format!("127.0.0.1:{}", free_port());
    test_set(
        "pg/test-set-0",
        &dir.path().join("keploy/test-set-0"),
        &app,
        &pricing,
    );
    let store = dir.path().join("reel.db");
    let said = import(dir.path(), "shop", &store);
    // 6 tests, 2 pricing calls, 14 Postgres exchanges (the login and the
    // schema's set-up among them), nothing left out.
    assert!(said.contains("Imported 22 entries"), "{said}");
    assert!(
        said.contains("14 Postgres mocks taken as the calls of dependency 'postgres'"),
        "{said}"
    );
    assert!(said.contains("$REEL_DEP_POSTGRES (host:port)"), "{said}");
    assert!(!said.contains("left out"), "{said}");

    let (suite, generated) = generate_suite(dir.path(), "shop", &store);
    assert!(generated.contains("6 cases"), "{generated}");
    assert!(generated.contains("13 postgres"), "{generated}");
    // The database URL names only reel's mock; the real server is not used.
    let app_cmd = |variant: &str| {
        format!(
            "exec {} --listen {app} --pricing-url http://{pricing} \
             --database-url \"postgres://postgres@$REEL_DEP_POSTGRES/test?sslmode=disable\" \
             --pg-schema keploy_shop --variant {variant}",
            sibling_bin("reel-demo-app").display()
        )
    };
    let (code, said) = run_suite(&suite, &["--app", &app_cmd("normal")]);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("6 passed, 0 failed"), "{said}");

    // The list query ordered differently: both lists fail on the statement,
    // and the quote, whose book id came from the first list, cannot be sent.
    let (code, said) = run_suite(&suite, &["--app", &app_cmd("pg-changed-query")]);
    assert_eq!(code, 1, "{said}");
    let failed: Vec<&str> = said.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert_eq!(
        failed,
        [
            "FAIL 0001-get-books  GET /books",
            "FAIL 0002-get-books  GET /books",
            "FAIL 0005-get-books-1-quote  GET /books/${0001.response.body.items[0].id}/quote?currency=EUR",
        ],
        "{said}"
    );
    assert!(
        said.contains("dependency 'postgres' got a call no recording matches"),
        "{said}"
    );
    let changed: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("-  ORDER") || l.starts_with("+  ORDER"))
        .collect();
    assert_eq!(
        changed[..2],
        ["-  ORDER BY id", "+  ORDER BY title, id"],
        "{said}"
    );
}
