//! Values that change on every run by nature, handled without hand-written
//! noise rules: `reel test --freeze-time` sets the app's clock to each case's
//! recorded time (and refuses where it cannot); volatile headers are held to
//! their form, not their value; `reel generate --verify` replays the new suite
//! against the real app and its real dependencies and loosens, listed, what
//! differed.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

/// `reel ARGS` with CI unset; (exit code, stdout, stderr).
fn run_reel(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(reel_bin())
        .args(args)
        .envs(env.iter().copied())
        .env("REEL_LOG", "warn")
        .env_remove("CI")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn case_json(suite: &Path, stem: &str) -> Value {
    let path = suite.join(format!("cases/{stem}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap()
}

fn demo_app_cmd(app: SocketAddr, dep: SocketAddr) -> String {
    format!(
        "{} demo-app --listen {app} --pricing-url http://{dep}",
        reel_bin().display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_time_replays_a_clock_that_plain_replay_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let orphans_before = orphaned_shared_memory();
    let demo = record_demo(dir.path(), "clock", &[]).await;
    let (store, app, dep) = (demo.store.clone(), demo.app_addr, demo.rec.dep("pricing"));
    // The route shows the time to the second. Asked early in a second, the app
    // reads the same second when recording and when replaying with its clock
    // set to the recorded time, however slow this machine is under load.
    poll(
        "the start of a second",
        Duration::from_secs(3),
        async || {
            (50..400)
                .contains(&since_epoch().subsec_millis())
                .then_some(())
        },
    )
    .await;
    let answer: Value = client()
        .get(format!("{}/clock", demo.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded = answer["server_time"].as_str().unwrap().to_owned();
    let recorded_second = since_epoch().as_secs();
    demo.stop().await;

    let (suite, _) = generate_suite(dir.path(), "clock", &store);
    let case = case_json(&suite, "0001-get-clock");
    assert_eq!(
        case["response"]["body"]["json"]["server_time"], recorded,
        "the time is kept as recorded: no matcher recognises this format"
    );
    // Plain replay must run in a later second than the recording to show anything.
    poll(
        "the recorded second to pass",
        Duration::from_secs(3),
        async || (since_epoch().as_secs() > recorded_second).then_some(()),
    )
    .await;

    let app_cmd = demo_app_cmd(app, dep);
    let suite_arg = suite.to_str().unwrap();
    let (code, out, err) = run_reel(&["test", suite_arg, "--app", &app_cmd], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("$.server_time: expected \"{recorded}\", got")),
        "{out}"
    );

    let (code, out, err) = run_reel(
        &["test", suite_arg, "--app", &app_cmd, "--freeze-time"],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("1 passed, 0 failed"), "{out}");
    let case = case_json(&suite, "0001-get-clock");
    assert_eq!(
        case["response"]["body"]["json"]["server_time"], recorded,
        "nothing was loosened to make it pass"
    );
    leaves_no_shared_memory_behind(&orphans_before).await;
}

/// libfaketime's state in /dev/shm whose process is gone: named after the
/// first process of an app that loaded it, which reel removes once the app is
/// stopped. Other tests' apps may be running or just stopping, so a name only
/// counts while its process does not exist.
fn orphaned_shared_memory() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix("faketime_shm_")
                .or_else(|| name.strip_prefix("sem.faketime_sem_"))?
                .to_owned();
            (!Path::new("/proc").join(&pid).exists()).then_some(name)
        })
        .collect()
}

/// Waits until no orphan is left but those there `before` the test.
async fn leaves_no_shared_memory_behind(before: &[String]) {
    poll(
        "libfaketime's shared memory of stopped apps to be removed",
        Duration::from_secs(10),
        async || {
            orphaned_shared_memory()
                .iter()
                .all(|n| before.contains(n))
                .then_some(())
        },
    )
    .await;
}

/// A complete static x86-64 program that exits 0: one PT_LOAD, no loader.
fn static_program(path: &Path) {
    let mut f = Vec::new();
    f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&0x400078u64.to_le_bytes()); // entry, right after the headers
    f.extend_from_slice(&64u64.to_le_bytes()); // program headers
    f.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    f.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // read + execute
    f.extend_from_slice(&0u64.to_le_bytes());
    f.extend_from_slice(&0x400000u64.to_le_bytes());
    f.extend_from_slice(&0x400000u64.to_le_bytes());
    f.extend_from_slice(&0x81u64.to_le_bytes());
    f.extend_from_slice(&0x81u64.to_le_bytes());
    f.extend_from_slice(&0x1000u64.to_le_bytes());
    f.extend_from_slice(b"\xb8\x3c\0\0\0\x31\xff\x0f\x05"); // exit(0)
    std::fs::write(path, f).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeze_time_refuses_an_app_libfaketime_cannot_reach() {
    let dir = tempfile::tempdir().unwrap();
    let orphans_before = orphaned_shared_memory();
    let demo = record_demo(dir.path(), "refuse", &[]).await;
    let (store, app, dep) = (demo.store.clone(), demo.app_addr, demo.rec.dep("pricing"));
    let r = client()
        .get(format!("{}/health", demo.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    demo.stop().await;
    let (suite, _) = generate_suite(dir.path(), "refuse", &store);
    let suite_arg = suite.to_str().unwrap();

    // A statically linked program: a real one, it runs and exits 0.
    let program = dir.path().join("static-app");
    static_program(&program);
    let status = Command::new(&program).status().unwrap();
    assert!(status.success());
    let static_cmd = format!("{} --listen {app}", program.display());
    let (code, out, err) = run_reel(
        &["test", suite_arg, "--freeze-time", "--app", &static_cmd],
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "--freeze-time: {} is statically linked",
            program.display()
        )),
        "{err}"
    );
    assert!(!out.contains("passed"), "no case was run: {out}");

    // The same program behind a script: its interpreter line is followed.
    let script = dir.path().join("start.sh");
    std::fs::write(&script, format!("#!{}\n", program.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (code, _, err) = run_reel(
        &[
            "test",
            suite_arg,
            "--freeze-time",
            "--app",
            &format!("exec {}", script.display()),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is statically linked"), "{err}");

    // A dynamically linked app whose start clears LD_PRELOAD: found once it listens.
    let cleared = format!("env -u LD_PRELOAD {}", demo_app_cmd(app, dep));
    let (code, out, err) = run_reel(
        &["test", suite_arg, "--freeze-time", "--app", &cleared],
        &[],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!("the process listening on port {}", app.port()))
            && err.contains("did not load libfaketime"),
        "{err}"
    );
    assert!(!out.contains("passed"), "no case was run: {out}");

    // No libfaketime, or no app for reel to start.
    let app_cmd = demo_app_cmd(app, dep);
    let (code, _, err) = run_reel(
        &["test", suite_arg, "--freeze-time", "--app", &app_cmd],
        &[("REEL_LIBFAKETIME", "/nonexistent/libfaketime.so.1")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("libfaketime was not found"), "{err}");
    assert!(err.contains("apt-get install faketime"), "{err}");
    let target = format!("http://{app}");
    let (code, _, err) = run_reel(
        &["test", suite_arg, "--freeze-time", "--target", &target],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("reel must start the app to set its clock"),
        "{err}"
    );
    leaves_no_shared_memory_behind(&orphans_before).await;
}

/// A small HTTP/1.1 app that sends every volatile header there is, fresh
/// values on each answer; in another [`Mode`], some wrong.
struct HeaderApp {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

/// What [`HeaderApp`] answers with.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Mode {
    /// Every header in its recorded form.
    Healthy,
    /// Each header missing or malformed.
    Broken,
    /// The session cookie without its HttpOnly and SameSite attributes.
    CookieAttrsDropped,
    /// The session cookie cleared, as a logout would.
    CookieCleared,
}

impl HeaderApp {
    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

/// A 21-character nanoid-like id (`A-Za-z0-9_-`), a different one for each `n`.
fn nanoid(n: u64) -> String {
    const ALPHABET: &[u8] = b"ModuleSymbhasOwnPr-0123456789ABCDEFGHNRVfgctiUvz_KqYTJkLxpZXIjQW";
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x2545_F491_4F6C_DD1D;
    (0..21)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 64) as usize] as char
        })
        .collect()
}

impl HeaderApp {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(Mode::Healthy as u8));
        let count = Arc::new(AtomicU64::new(1));
        let m = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, m.clone(), count.clone()));
            }
        });
        HeaderApp { addr, mode, task }
    }
}

impl Drop for HeaderApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers each request head on the connection (GETs only, no bodies).
async fn answer(mut s: TcpStream, mode: Arc<AtomicU8>, count: Arc<AtomicU64>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        buf.drain(..end);
        let n = count.fetch_add(1, Ordering::SeqCst);
        let mode = mode.load(Ordering::SeqCst);
        let headers: Vec<(&str, String)> = if mode == Mode::Broken as u8 {
            vec![
                ("Age", "soon".into()),
                ("ETag", format!("v{n}")),
                ("Set-Cookie", format!("session={n}")),
                ("Set-Cookie", "theme=light".into()),
                ("X-Request-Id", format!("req-{n}")),
                ("traceparent", "bogus".into()),
            ]
        } else {
            vec![
                (
                    "Date",
                    format!("Thu, 26 Nov 2026 14:{:02}:{:02} GMT", n / 60 % 60, n % 60),
                ),
                ("Age", n.to_string()),
                ("ETag", format!("\"v{n}\"")),
                (
                    "Set-Cookie",
                    if mode == Mode::CookieAttrsDropped as u8 {
                        format!("sid=s{n:08x}; Path=/")
                    } else if mode == Mode::CookieCleared as u8 {
                        "sid=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0".into()
                    } else {
                        format!("sid=s{n:08x}; Path=/; HttpOnly; SameSite=Strict")
                    },
                ),
                ("Set-Cookie", format!("theme=t{n}")),
                ("X-Correlation-Id", nanoid(n)),
                (
                    "X-Request-Id",
                    format!("{n:08x}-0000-4000-8000-{:012x}", n * 7919),
                ),
                (
                    "traceparent",
                    format!("00-{:032x}-{:016x}-01", n * 31, n * 17),
                ),
            ]
        };
        let body = b"{\"ok\":true}";
        let mut head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if s.write_all(head.as_bytes()).await.is_err() || s.write_all(body).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_headers_hold_their_form_and_fail_missing_or_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let app = HeaderApp::start().await;
    let store = dir.path().join("reel.db");
    let args: Vec<String> = [
        "--upstream",
        &format!("http://{}", app.addr),
        "--listen",
        "127.0.0.1:0",
        "--session",
        "headers",
        "--store",
        store.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rec = Recording::start(&args).await.unwrap();
    let r = client()
        .get(format!("http://{}/item", rec.inbound))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("etag"));
    let (code, out, err) = rec.interrupt().await;
    assert_eq!(code, 0, "{out}{err}");
    let (suite, _) = generate_suite(dir.path(), "headers", &store);

    // What the case holds the answers to: the recorded headers, none ignored.
    let suite_json: Value =
        serde_json::from_str(&std::fs::read_to_string(suite.join("suite.json")).unwrap()).unwrap();
    let ignored = &suite_json["noise"]["headers"];
    for h in [
        "date",
        "etag",
        "set-cookie",
        "x-request-id",
        "traceparent",
        "age",
    ] {
        assert!(
            !ignored.as_array().unwrap().contains(&json!(h)),
            "{h} is not ignored"
        );
    }
    let case = case_json(&suite, "0001-get-item");
    let recorded: Vec<String> = case["response"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h[0].as_str().unwrap().to_ascii_lowercase())
        .collect();
    for h in [
        "date",
        "etag",
        "set-cookie",
        "x-request-id",
        "traceparent",
        "age",
        "x-correlation-id",
    ] {
        assert!(
            recorded.contains(&h.to_owned()),
            "{h} recorded: {recorded:?}"
        );
    }

    // Every value differs from the recording, every form holds: green.
    let target = format!("http://{}", app.addr);
    let secrets = dir.path().join("secrets.toml");
    let test_args = [
        "test",
        suite.to_str().unwrap(),
        "--target",
        &target,
        "--secrets",
        secrets.to_str().unwrap(),
    ];
    for _ in 0..2 {
        let (code, out, err) = run_reel(&test_args, &[]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.trim_end().ends_with("1 passed, 0 failed"), "{out}");
    }

    // A fresh clone has no secrets file: the session cookie's recorded value
    // stays a placeholder, which is no reason to fail (it is never compared).
    assert!(case.to_string().contains("${secret:COOKIE_SID}"), "{case}");
    std::fs::remove_file(&secrets).unwrap();
    let (code, out, err) = run_reel(&test_args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("1 passed, 0 failed"), "{out}");

    // The session cookie losing its attributes, or being cleared, fails.
    for (mode, line) in [
        (
            Mode::CookieAttrsDropped,
            "header set-cookie: expected Set-Cookie sid=…; Path=/; HttpOnly; SameSite=Strict, got sid=s",
        ),
        (
            Mode::CookieCleared,
            "header set-cookie: expected Set-Cookie sid=…; Path=/; HttpOnly; SameSite=Strict, not cleared, got sid=; Path=/",
        ),
    ] {
        app.set(mode);
        let (code, out, err) = run_reel(&test_args, &[]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
        assert!(out.trim_end().ends_with("0 passed, 1 failed"), "{out}");
    }

    // Missing or malformed: the case fails, each header named in words.
    app.set(Mode::Broken);
    let (code, out, err) = run_reel(&test_args, &[]);
    assert_eq!(code, 1, "{out}{err}");
    for line in [
        "header date: expected an HTTP date, got (absent)",
        "header age: expected a number of seconds, got soon",
        "header etag: expected a quoted ETag (\"…\"), got v",
        "header set-cookie: expected Set-Cookie for sid, theme, got session=",
        "header x-request-id: expected a UUID, got req-",
        "header traceparent: expected a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>), got bogus",
        "header x-correlation-id: expected a ",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(out.trim_end().ends_with("0 passed, 1 failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_loosens_what_differs_between_runs_and_lists_what_differs_from_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "verify", &[]).await;
    let (store, app, dep) = (demo.store.clone(), demo.app_addr, demo.rec.dep("pricing"));
    let pricing_addr = demo.pricing.addr;
    let c = client();
    // A book added behind reel's back: the recorded count is one more than a
    // fresh app's.
    let added = c
        .post(format!("http://{app}/books"))
        .json(&json!({"title": "Extra", "author": "X", "isbn": "1-1", "price_cents": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    for path in ["/stats", "/books/1/quote?currency=EUR", "/books/1"] {
        let r = c
            .get(format!("{}{path}", demo.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    demo.stop().await;

    let suite = dir.path().join("suite");
    let app_cmd = demo_app_cmd(app, dep);
    let generate = || {
        run_reel(
            &[
                "generate",
                "verify",
                "--out",
                suite.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
                "--verify",
                "--app",
                &app_cmd,
            ],
            &[],
        )
    };

    // The real pricing service is gone: the quote fails in every run, and no
    // matcher can make that pass, so it is listed and generate says so.
    let (code, out, err) = generate();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("these cases will fail on replay until the app or the recording changes"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("0002-get-books-1-quote")
            && l.contains("runs 1, 2: status: expected 200, got 502")),
        "{out}"
    );

    // With it back where it was recorded, the runs reach it for real. The
    // uptime differs between runs and is loosened; the book count is 5 in
    // every run against 6 recorded, a change no matcher may hide.
    let pricing = serve_pricing_on(rebind(pricing_addr).await);
    let (code, out, err) = generate();
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("--verify 2: replayed every case 2 times against the app and its real dependencies; 1 value differed and is now matched by kind:"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("0001-get-stats")
            && l.contains("$.uptime_us")
            && l.contains(" number ")
            && l.contains("differed across runs: ")),
        "{out}"
    );
    assert!(
        out.contains("1 difference in those runs no matcher may take (a change, not noise):"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("0001-get-stats")
            && l.contains(
                "runs 1, 2: $.books: the same in all 2 runs but not as recorded: 6 recorded, 5 now"
            )),
        "{out}"
    );
    let stats = case_json(&suite, "0001-get-stats");
    assert_eq!(stats["response"]["body"]["json"]["books"], json!(6));
    assert_eq!(
        stats["response"]["body"]["json"]["uptime_us"],
        json!({"$reel": "number"})
    );
    let book = case_json(&suite, "0003-get-books-1");
    assert!(
        book["response"]["body"]["json"]["title"].is_string(),
        "values that held stay literal"
    );
    pricing.stop().await;

    // Replayed with the pricing mock in its place, the uptime passes and the
    // count still fails, as it should.
    let (code, out, err) = run_reel(&["test", suite.to_str().unwrap(), "--app", &app_cmd], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("$.books"), "{out}");
    assert!(!out.contains("$.uptime_us"), "{out}");
    assert!(out.trim_end().ends_with("2 passed, 1 failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_against_a_regressed_app_names_each_changed_value_and_loosens_none() {
    let dir = tempfile::tempdir().unwrap();
    let demo = record_demo(dir.path(), "regressed", &[]).await;
    let (store, app, dep) = (demo.store.clone(), demo.app_addr, demo.rec.dep("pricing"));
    let c = client();
    for path in ["/books", "/books/1"] {
        let r = c
            .get(format!("{}{path}", demo.base()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    demo.stop().await;

    // Every run of the regressed build agrees: price_cents is a string now.
    let suite = dir.path().join("suite");
    let regressed = format!("{} --variant price-as-string", demo_app_cmd(app, dep));
    let (code, out, err) = run_reel(
        &[
            "generate",
            "regressed",
            "--out",
            suite.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--verify",
            "--app",
            &regressed,
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("nothing was loosened"), "{out}");
    let changed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("price_cents: the same in all 2 runs but not as recorded: "))
        .collect();
    assert!(
        changed.iter().any(|l| l.contains("0001-get-books")
            && l.contains("$.items[0].price_cents")
            && l.contains(" recorded, \"")
            && l.contains("\" now")),
        "{out}"
    );
    assert!(
        changed
            .iter()
            .any(|l| l.contains("0002-get-books-1") && l.contains("$.price_cents: ")),
        "{out}"
    );
    let books = case_json(&suite, "0001-get-books");
    let items = books["response"]["body"]["json"]["items"]
        .as_array()
        .unwrap();
    assert_eq!(changed.len(), items.len() + 1, "{out}");
    for stem in ["0001-get-books", "0002-get-books-1"] {
        let text = std::fs::read_to_string(suite.join(format!("cases/{stem}.json"))).unwrap();
        assert!(!text.contains(r#""any""#), "{stem}:\n{text}");
    }
    let book = case_json(&suite, "0002-get-books-1");
    assert!(
        items.iter().all(|i| i["price_cents"].is_number())
            && book["response"]["body"]["json"]["price_cents"].is_number(),
        "{books}\n{book}"
    );
}
