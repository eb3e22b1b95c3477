//! A Keploy test set (`fixtures/keploy/test-set-0`, in the format Keploy's
//! documentation shows) becomes a reel suite: `reel import keploy` takes its
//! HTTP tests and the HTTP mocks of the app's pricing calls, says what it
//! left out, and the generated suite replays green against the demo app
//! with the pricing service gone, and fails the right cases against a
//! changed build.

use std::path::Path;

use crate::support::*;

/// Copies the fixture test set into `to`, the addresses filled in.
fn test_set(to: &Path, app: &str, pricing: &str) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keploy/test-set-0");
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

#[test]
fn a_keploy_test_set_imports_generates_and_replays_green() {
    let dir = tempfile::tempdir().unwrap();
    let app = format!("127.0.0.1:{}", free_port());
    let pricing = format!("127.0.0.1:{}", free_port());
    let set = dir.path().join("keploy/test-set-0");
    test_set(&set, &app, &pricing);
    let store = dir.path().join("reel.db");

    let out = reel(&[
        "import",
        "keploy",
        dir.path().join("keploy").to_str().unwrap(),
        "--session",
        "migrated",
        "--store",
        store.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    assert!(said.contains("1 Postgres mock: not carried over"), "{said}");
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
    let out = reel(&["test", suite.to_str().unwrap(), "--app", &app_cmd("normal")]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.trim_end().ends_with("4 passed, 0 failed"), "{said}");

    // A changed build (author renamed, quotes 10% higher) fails the post,
    // the quote and the read of the new book; the missing book still passes.
    let out = reel(&[
        "test",
        suite.to_str().unwrap(),
        "--app",
        &app_cmd("changed"),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert_eq!(failed_cases(&said).len(), 3, "{said}");
    assert!(said.contains("$.amount_cents"), "{said}");
    assert!(said.contains("$.author_name"), "{said}");
}
