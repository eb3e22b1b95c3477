//! `reel openapi` on the demo's recorded session: the document validates
//! with openapi-spec-validator, Schemathesis (a property-based tester that
//! reads OpenAPI) finds no answer of the running app that contradicts it,
//! and `--diff` names where an older document disagrees with the traffic.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

fn venv(bin: &str) -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/real-apps/.venv/bin")
        .join(bin);
    assert!(
        p.exists(),
        "{} is missing: run scripts/deps.sh",
        p.display()
    );
    p
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_from_the_demo_session_validates_and_the_app_keeps_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "api", &[]).await;
    let sent = reel_fixtures::demo_app::session::drive(&demo.base())
        .await
        .unwrap();
    let store = demo.store.clone();
    demo.stop().await;

    let yaml = dir.path().join("api.yaml");
    let out = reel(&[
        "openapi",
        "api",
        "--store",
        store.to_str().unwrap(),
        "-o",
        yaml.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("operations from {sent} requests of session")),
        "{}",
        text(&out)
    );
    let doc: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&yaml).unwrap()).unwrap();
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        paths,
        [
            "/books",
            "/books/{id}",
            "/books/{id}/quote",
            "/export",
            "/health",
            "/login",
            "/me"
        ]
    );
    // The login's password and the bearer token are placeholders.
    let all = doc.to_string();
    assert!(
        !all.contains(reel_fixtures::demo_app::DEMO_PASSWORD),
        "{all}"
    );
    assert_eq!(
        doc["paths"]["/me"]["get"]["security"],
        serde_json::json!([{"bearerAuth": []}])
    );

    let valid = Command::new(venv("openapi-spec-validator"))
        .arg(&yaml)
        .output()
        .unwrap();
    assert!(valid.status.success(), "{}", text(&valid));

    // The app, up again with its pricing service, under Schemathesis: every
    // answer's status, content type and body must be what the document says.
    let pricing = serve_pricing().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = listener.local_addr().unwrap();
    let app = serve_app_on(listener, format!("http://{}", pricing.addr));
    let run = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new(venv("schemathesis"))
            .arg("run")
            .arg(&yaml)
            .args(["--url", &format!("http://{app_addr}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            ])
            .args(["--seed", "42", "--max-examples", "25", "--workers", "1"])
            .current_dir(dir.path())
            .output(),
    )
    .await
    .expect("Schemathesis finished within 300 s")
    .unwrap();
    app.stop().await;
    pricing.stop().await;
    let said = text(&run);
    assert!(run.status.success(), "{said}");
    assert!(said.contains("Tested: 10"), "{said}");
}

#[test]
fn diff_names_where_an_older_document_and_the_traffic_disagree() {
    let dir = tempfile::tempdir().unwrap();
    // A suite stands for the traffic here: `reel openapi` reads suites too.
    let demo = Command::new(reel_bin())
        .args(["demo", "--dir", dir.path().join("suite").to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(demo.status.success(), "{}", text(&demo));
    let suite = dir.path().join("suite");
    let old = dir.path().join("old.json");
    let out = reel(&[
        "openapi",
        suite.to_str().unwrap(),
        "-o",
        old.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // The same document agrees with its own traffic.
    let same = reel(&[
        "openapi",
        suite.to_str().unwrap(),
        "--diff",
        old.to_str().unwrap(),
    ]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
    assert!(text(&same).contains("agrees with"), "{}", text(&same));

    // An older document: no /export, no 404 (nor 4XX) for a book, no isbn,
    // and a field the app never sends.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&old).unwrap()).unwrap();
    doc["paths"].as_object_mut().unwrap().remove("/export");
    let get = &mut doc["paths"]["/books/{id}"]["get"]["responses"];
    get.as_object_mut().unwrap().remove("404");
    get.as_object_mut().unwrap().remove("4XX");
    let book = &mut get["200"]["content"]["application/json"]["schema"]["properties"];
    book.as_object_mut().unwrap().remove("isbn");
    book["subtitle"] = serde_json::json!({"type": "string"});
    let yaml = dir.path().join("old.yaml");
    std::fs::write(&yaml, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
    let out = reel(&[
        "openapi",
        suite.to_str().unwrap(),
        "--diff",
        yaml.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    for line in [
        "GET /export: not documented (1 recorded)",
        "GET /books/{id}: status 404 is not documented",
        "GET /books/{id}: status 200: field $.isbn is not documented",
        "GET /books/{id}: status 200: documented field $.subtitle never seen",
    ] {
        assert!(said.contains(line), "{line}\n{said}");
    }
}
