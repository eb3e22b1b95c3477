//! What scripts and CI rely on, with the real binary: `reel record` says when
//! it is ready; `reel test` stops the app's whole process group and the mocks
//! on SIGTERM, SIGHUP and SIGQUIT; prints progress and names a slow case when
//! its output is not a terminal; fails a case that outlives `--case-timeout`;
//! and shows under a failing case what the app printed while it ran.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::fidelity::{raw_echo, record_raw_echo, reel_test_in, ReadyRecording};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_says_ready_once_the_app_it_started_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The app takes a while to open its port.
    let rec = ReadyRecording::start(&[
        "--upstream".into(),
        format!("http://127.0.0.1:{port}"),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--store".into(),
        dir.path().join("reel.db").to_str().unwrap().into(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        format!("sleep 0.5; exec {} {port}", raw_echo()),
    ])
    .await;
    assert!(
        rec.before_ready.contains("reel: listening inbound="),
        "{}",
        rec.before_ready
    );
    // At that line, the app answers at once: no retry, no sleep.
    std::net::TcpStream::connect(("127.0.0.1", port)).expect("the app's port answers");
    let r = client()
        .get(format!("http://{}/ping", rec.inbound))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    rec.stop().await;
}

/// A suite written by hand: one app command, an HTTP dependency (its mock
/// listens on `mock_port`) and cases that each GET `/slow`, which the echo
/// app never answers.
fn slow_suite(
    dir: &Path,
    app: &str,
    app_port: u16,
    mock_port: u16,
    cases: usize,
) -> std::path::PathBuf {
    let suite = dir.join("suite");
    std::fs::create_dir_all(suite.join("cases")).unwrap();
    let suite_json = json!({
        "reel_suite": 1,
        "name": "slow",
        "session": {"id": 1, "name": "slow", "recorded_at": "2026-01-01T00:00:00Z"},
        "app": {"command": app, "target": format!("http://127.0.0.1:{app_port}"), "ready": null},
        "dependencies": [{"name": "pricing", "protocol": "http", "listen": format!("127.0.0.1:{mock_port}")}],
    });
    std::fs::write(suite.join("suite.json"), suite_json.to_string()).unwrap();
    for i in 1..=cases {
        let case = json!({
            "name": format!("{i:04}-get-slow"),
            "seq": i,
            "recorded_at": "2026-01-01T00:00:01Z",
            "request": {"method": "GET", "target": "/slow", "headers": [["Host", "127.0.0.1:16789"]]},
            "response": {"status": 200},
        });
        std::fs::write(
            suite.join(format!("cases/{i:04}-get-slow.json")),
            case.to_string(),
        )
        .unwrap();
    }
    suite
}

/// Whether any process of group `pgid` is still alive (zombies aside).
fn group_alive(pgid: i32) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .any(|p| {
            let Ok(stat) = std::fs::read_to_string(p.path().join("stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            f.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) && f[0] != "Z" && f[0] != "X"
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_signal_stops_the_apps_process_group_and_the_mocks() {
    use nix::sys::signal::Signal;
    for signal in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGQUIT] {
        let dir = tempfile::tempdir().unwrap();
        let (app_port, mock_port) = (free_port(), free_port());
        let pidfile = dir.path().join("pgid");
        let mark = dir.path().join("mark");
        // The app's shell leaves a second process in the group.
        let app = format!(
            "echo $$ > {}; sleep 600 & SLOW_MARK={} exec {} {app_port}",
            pidfile.display(),
            mark.display(),
            raw_echo()
        );
        let suite = slow_suite(dir.path(), &app, app_port, mock_port, 1);
        let child = tokio::process::Command::new(reel_bin())
            .arg("test")
            .arg(&suite)
            .args(["--case-timeout", "600"])
            .env("REEL_LOG", "warn")
            .env("CI", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // The case is on its way when the signal comes.
        poll(
            "the app to get the slow request",
            Duration::from_secs(30),
            async || mark.exists().then_some(()),
        )
        .await;
        let pgid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(group_alive(pgid));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
            signal,
        )
        .unwrap();
        let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("reel test ended within 20 s of {signal}"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(128 + signal as i32), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "reel: interrupted by {signal}: the app and the mocks are stopped"
            )),
            "{stderr}"
        );
        assert!(!group_alive(pgid), "{signal} left the app's group running");
        std::net::TcpListener::bind(("127.0.0.1", app_port)).expect("the app's port is free");
        std::net::TcpListener::bind(("127.0.0.1", mock_port)).expect("the mock's port is free");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_ci_progress_lines_name_a_slow_case_and_the_timeout_comes_from_reel_toml() {
    let dir = tempfile::tempdir().unwrap();
    let app_port = free_port();
    let app = format!("exec {} {app_port}", raw_echo());
    let suite = slow_suite(dir.path(), &app, app_port, free_port(), 2);
    std::fs::write(dir.path().join("reel.toml"), "[test]\ncase_timeout = 3\n").unwrap();
    // Output goes to pipes, as in CI.
    let (code, out, err) = reel_test_in(dir.path(), &suite, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("reel: 0001-get-slow still running after 1 s (--case-timeout 3 s)\n"),
        "{err}"
    );
    assert!(
        err.contains("reel: 1/2 cases done (0 passed, 1 failed) after 5 s\n"),
        "{err}"
    );
    assert!(
        out.contains("  sending GET /slow: no complete answer within 3 s (--case-timeout)\n"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("0 passed, 2 failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_case_shows_what_the_app_printed_while_it_ran() {
    let e = record_raw_echo().await;
    let reports = e.dir.path().join("out");
    let spec = format!(
        "json={},html={}",
        reports.join("report.json").display(),
        reports.join("report.html").display()
    );
    let changed = format!("RAW_ECHO_VARIANT=changed {} {}", raw_echo(), e.port);
    let (code, out, err) = reel_test_in(
        e.dir.path(),
        &e.suite,
        &["--app", &changed, "--report", &spec],
    );
    assert_eq!(code, 1, "{out}{err}");
    let block = out
        .split("\n\n")
        .find(|b| b.starts_with("FAIL 0008-get-after-the-500"))
        .unwrap_or_else(|| panic!("{out}"))
        .replace(&e.suite.display().to_string(), "[suite]")
        .replace(&e.inbound.to_string(), "[reel]");
    // Only what this case made the app print: not the traceback of /boom.
    insta::assert_snapshot!(block);

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap())
            .unwrap();
    let after = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "0008-get-after-the-500")
        .unwrap();
    assert_eq!(after["app_log"], json!(["handled GET /after-the-500"]));
    let boom = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "0007-get-boom")
        .unwrap();
    assert_eq!(boom["outcome"], "passed");
    assert!(boom.get("app_log").is_none(), "{boom}");
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(html.contains("App output while it ran"), "html");
    assert!(html.contains("handled GET /after-the-500"), "html");

    // Everything the app printed is kept beside the reports.
    let log_path = reports.join("app.log");
    assert!(
        out.contains(&format!("app output: {}\n", log_path.display())),
        "{out}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.starts_with("--- reel: "), "{log}");
    assert!(log.contains("RuntimeError: boom\n"), "{log}");
    assert!(log.contains("handled GET /after-the-500\n"), "{log}");
}
