//! HAR in and out: traffic a real browser saved (Debian's Chromium driven
//! through Playwright, `fixtures/har/browse.js`) becomes a session with
//! `reel import har`, generates, and replays green against the app; `reel
//! export har` gives it back with its credentials as placeholders, and
//! Playwright's HAR reader serves it to Chromium.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_har_saved_by_chromium_replays_green_and_exports_for_other_tools() {
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
    let mut seen: Value = serde_json::from_slice(&browsed.stdout).unwrap();
    let token = seen["token"].take();
    let token = token.as_str().unwrap();
    assert_eq!(
        seen,
        serde_json::json!({"list": 200, "created": 201, "id": 6, "got": "Seeking SRE",
            "found": 1, "gone": 204, "after": 404, "me": "ann", "token": null})
    );
    let written: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    assert_eq!(written["log"]["creator"]["name"], "Playwright");

    let store = dir.path().join("reel.db");
    let said = reel_ok(&["import", "har", har.to_str().unwrap()], &store);
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
        // The login's password is a secret of the suite, given as users do.
        let out = std::process::Command::new(reel_bin())
            .args(["test", suite.to_str().unwrap(), "--app", &app_cmd])
            .env("REEL_SECRET_PASSWORD", "correct horse battery staple")
            .env("REEL_LOG", "warn")
            .output()
            .unwrap();
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

    // Out again, for other tools: the token the browser sent is a
    // placeholder, and a HAR reader reel did not write (Playwright's
    // routeFromHAR) serves the recorded list to Chromium with no app.
    let exported = dir.path().join("exported.har");
    let said = reel_ok(
        &[
            "export",
            "har",
            "bookshop",
            "-o",
            exported.to_str().unwrap(),
        ],
        &store,
    );
    assert!(
        said.contains("credentials written as placeholders"),
        "{said}"
    );
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(!text.contains(token), "the token stays out of the HAR");
    assert!(text.contains("Bearer ${secret:"), "{said}");
    let served = tokio::process::Command::new("node")
        .arg(root.join("fixtures/har/replay.js"))
        .arg(&exported)
        .arg(format!("{base}/books?per_page=3"))
        .env("NODE_PATH", &modules)
        .output()
        .await
        .unwrap();
    assert!(
        served.status.success(),
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
    let page: Value = serde_json::from_slice(&served.stdout).unwrap();
    assert_eq!(page["status"], 200, "{page}");
    let list: Value = serde_json::from_str(page["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            list["total"].as_u64(),
            list["items"].as_array().map(Vec::len)
        ),
        (Some(5), Some(3)),
        "{list}"
    );
}

/// `reel ARGS --store STORE`, which must succeed; what it printed.
fn reel_ok(args: &[&str], store: &Path) -> String {
    let mut all = args.to_vec();
    all.extend(["--store", store.to_str().unwrap()]);
    let out = reel(&all);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}
