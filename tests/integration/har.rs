//! HAR in: traffic a real browser saved (Debian's Chromium driven through
//! Playwright, `fixtures/har/browse.js`) becomes a session with `reel import
//! har`, generates, and replays green against the app.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_har_saved_by_chromium_imports_generates_and_replays_green() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let modules = root.join("fixtures/real-apps/node_modules");
    assert!(
        modules.join("playwright-core").exists() && Path::new("/usr/bin/chromium").exists(),
        "playwright-core and chromium are installed by scripts/deps.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let pricing = serve_pricing().await;
    let port = free_port();
    let app_cmd = format!(
        "exec {} --listen 127.0.0.1:{port} --pricing-url http://{}",
        crate::postgres::sibling_bin("reel-demo-app").display(),
        pricing.addr
    );
    let mut app = tokio::process::Command::new("sh")
        .args(["-c", &app_cmd])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    poll("the demo app", Duration::from_secs(30), async || {
        let r = c.get(format!("{base}/health")).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
    let har = dir.path().join("bookshop.har");
    let browsed = tokio::process::Command::new("node")
        .arg(root.join("fixtures/har/browse.js"))
        .arg(&base)
        .arg(&har)
        .env("NODE_PATH", &modules)
        .output()
        .await
        .unwrap();
    let _ = app.kill().await;
    assert!(
        browsed.status.success(),
        "{}",
        String::from_utf8_lossy(&browsed.stderr)
    );
    let seen: Value = serde_json::from_slice(&browsed.stdout).unwrap();
    assert_eq!(
        seen,
        serde_json::json!({"list": 200, "created": 201, "id": 6, "got": "Seeking SRE",
            "found": 1, "gone": 204, "after": 404})
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    assert_eq!(written["log"]["creator"]["name"], "Playwright");

    let store = dir.path().join("reel.db");
    let out = reel(&[
        "import",
        "har",
        har.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!(
            "app under test: {base} (the host most entries go to"
        )),
        "{said}"
    );
    let (suite, printed) = generate_suite(dir.path(), "bookshop", &store);
    // The new book's id flows from the create into the reads and the delete.
    let chained = std::fs::read_dir(suite.join("cases"))
        .unwrap()
        .map(|e| {
            serde_json::from_slice::<Value>(&std::fs::read(e.unwrap().path()).unwrap()).unwrap()
        })
        .filter(|c| {
            c["request"]["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("/books/${0003.response.body.id}"))
        })
        .count();
    assert_eq!(chained, 3, "{printed}");
    for _ in 0..2 {
        let out = reel(&["test", suite.to_str().unwrap(), "--app", &app_cmd]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{text}\n(generate said:\n{printed})"
        );
        assert!(text.contains(" passed, 0 failed"), "{text}");
    }
    pricing.stop().await;
}
