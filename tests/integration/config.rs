//! reel.toml end to end: a project's file drives `record`, `generate` and
//! `test` with no flags (found from a subfolder too, its paths relative to
//! itself), a flag beats the file, a bad file exits 2 naming file, line,
//! column and key, and the file's extra secret names and patterns keep those
//! values (numbers too) out of the store (`redact = true`) and out of the
//! generated suite.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::*;

/// A temporary project: a git root holding reel.toml.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(toml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join("reel.toml"), toml).unwrap();
        Project { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn toml(&self) -> PathBuf {
        self.path().join("reel.toml")
    }

    fn append(&self, more: &str) {
        let mut text = std::fs::read_to_string(self.toml()).unwrap();
        text.push_str(more);
        std::fs::write(self.toml(), text).unwrap();
    }

    /// `reel ARGS` run in `self/sub`: (exit code, stdout, stderr).
    fn reel(&self, sub: &str, args: &[&str]) -> (i32, String, String) {
        let cwd = self.path().join(sub);
        std::fs::create_dir_all(&cwd).unwrap();
        let out = Command::new(reel_bin())
            .current_dir(cwd)
            .args(args)
            .env("REEL_LOG", "warn")
            .env_remove("CI")
            .env_remove("REEL_STORE")
            .env_remove("REEL_CONFIG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// `[record]` settings for the in-process demo app at `app`.
fn record_section(app: SocketAddr, session: &str, extra: &str) -> String {
    format!(
        "[record]\nupstream = \"http://{app}\"\nlisten = \"127.0.0.1:0\"\nsession = \"{session}\"\n{extra}"
    )
}

fn demo_app_cmd(app: SocketAddr, pricing: &str) -> String {
    format!(
        "{} demo-app --listen {app} --pricing-url {pricing}",
        reel_bin().display()
    )
}

fn store_holds(store: &Path, needle: &str) -> bool {
    let db = std::fs::read(store).unwrap();
    let wal = std::fs::read(store.with_extension("db-wal")).unwrap_or_default();
    [&db, &wal]
        .iter()
        .any(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

fn every_file(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(every_file(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reel_toml_drives_record_generate_and_test_without_flags() {
    let pricing = serve_pricing().await;
    let app_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app_listener.local_addr().unwrap();
    let project = Project::new(&format!(
        "store = \".reel/reel.db\"\n\n{}\n[generate]\nout = \"reel/suite\"\n",
        record_section(
            app_addr,
            "from-toml",
            &format!(
                "dep = [\"pricing=http:127.0.0.1:0=http://{}\"]\n",
                pricing.addr
            )
        )
    ));

    let rec = Recording::start_in(project.path(), &[], &[]).await.unwrap();
    let via_reel = format!("http://{}", rec.dep("pricing"));
    let app = serve_app_on(app_listener, via_reel.clone());
    let c = client();
    let base = format!("http://{}", rec.inbound);
    assert_eq!(
        c.get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let created: Value = c
        .post(format!("{base}/books"))
        .json(&json!({"title": "Dune", "author": "Frank Herbert", "isbn": "978-0441013593"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_u64().unwrap();
    let quote = c
        .get(format!("{base}/books/{id}/quote?currency=EUR"))
        .send()
        .await
        .unwrap();
    assert_eq!(quote.status(), 200);
    let (code, out, err) = rec.interrupt().await;
    app.stop().await;
    pricing.stop().await;
    assert_eq!(code, 0, "{out}{err}");
    let store = project.path().join(".reel/reel.db");
    assert!(
        out.contains(&format!("\"from-toml\" into {}", store.display())),
        "the store path is relative to reel.toml:\n{out}"
    );
    assert!(
        out.contains("(pricing 2)"),
        "the file's dependency was recorded:\n{out}"
    );

    // From a subfolder: reel.toml is found above it, the session and the
    // suite folder come from it.
    let (code, out, err) = project.reel("src/deep", &["generate"]);
    assert_eq!(code, 0, "{out}{err}");
    let suite = project.path().join("reel/suite");
    assert!(
        out.starts_with(&format!("Generated suite {} from session", suite.display())),
        "{out}"
    );
    assert!(out.contains("3 cases"), "{out}");
    assert!(suite.join("suite.json").is_file());

    // The app command comes from the file too; the suite folder is [generate] out.
    project.append(&format!(
        "\n[test]\napp = \"{}\"\nstrict = true\n",
        demo_app_cmd(app_addr, &via_reel)
    ));
    let (code, out, err) = project.reel("src", &["test"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.trim_end().ends_with("3 passed, 0 failed"), "{out}");

    // `reel config` says where each value came from.
    let (code, out, err) = project.reel("", &["config"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("# settings from {}", project.toml().display())),
        "{out}"
    );
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(key))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
    };
    assert_eq!(line("session ="), "session = \"from-toml\" # reel.toml");
    assert_eq!(line("max_body ="), "max_body = \"8M\" # default");
    assert_eq!(line("strict ="), "strict = true # reel.toml");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_override_the_file() {
    let app_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = app_listener.local_addr().unwrap();
    let project = Project::new(&format!(
        "store = \"from-file.db\"\n{}\n[generate]\nout = \"reel/from-file\"\n",
        record_section(app_addr, "from-file", "")
    ));
    let rec = Recording::start_in(
        project.path(),
        &["--session".into(), "from-flag".into()],
        &[],
    )
    .await
    .unwrap();
    let app = serve_app_on(app_listener, "http://127.0.0.1:9".into());
    let r = client()
        .get(format!("http://{}/health", rec.inbound))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, out, err) = rec.interrupt().await;
    app.stop().await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"from-flag\""), "{out}");

    // The file's store (relative to the file) holds the flag's session name.
    let (code, out, err) = project.reel("sub", &["sessions", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["from-flag"]);
    assert!(project.path().join("from-file.db").is_file());

    // Without a SESSION, generate takes [record] session, which was overridden.
    let (code, _, err) = project.reel("", &["generate"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("from-file"), "{err}");

    let alt = project.path().join("alt");
    let (code, out, err) = project.reel(
        "",
        &["generate", "from-flag", "--out", alt.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(alt.join("suite.json").is_file(), "{out}");
    assert!(!project.path().join("reel/from-file").exists());

    // The file's store is used unless --store says otherwise.
    let other = project.path().join("other.db");
    let (code, _, err) = project.reel(
        "",
        &["generate", "from-flag", "--store", other.to_str().unwrap()],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("no store at {}", other.display())),
        "{err}"
    );
    assert!(!other.exists(), "generate creates no store");
}

#[test]
fn a_typo_or_a_wrong_type_exits_2_naming_file_line_column_and_key() {
    let project = Project::new("[generate]\ndedup = true\nuot = \"reel/x\"\n");
    let (code, out, err) = project.reel("src", &["generate", "any"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "reel: error: {}:3:1: generate.uot: unknown field `uot`, expected one of `session`, `out`, `dedup`, `reset`",
            project.toml().display()
        )
    );

    let project = Project::new("[test]\nready_timeout = \"soon\"\n");
    let (code, out, err) = project.reel("", &["test"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "reel: error: {}:2:17: test.ready_timeout: invalid type: string \"soon\", expected u64",
            project.toml().display()
        )
    );

    // A file named by --config or REEL_CONFIG is checked the same way.
    let other = project.path().join("ci.toml");
    std::fs::write(&other, "# CI settings\n\nstore = 5\n").unwrap();
    let expected = format!(
        "reel: error: {}:3:9: store: invalid type: integer `5`",
        other.display()
    );
    let (code, _, err) = project.reel("", &["sessions", "--config", other.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with(&expected), "{err}");
    let out = Command::new(reel_bin())
        .current_dir(project.path())
        .args(["sessions", "list"])
        .env("REEL_CONFIG", &other)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with(&expected), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_secret_names_and_patterns_stay_out_of_the_store_and_the_suite() {
    const SESSION_ID: &str = "sess-4f9a8c2e71";
    const PIN: &str = "4931-7720";
    const KEY: &str = "sk_live_T1tleKey99";
    // A number under a secret name: the same placeholder, filled back as a number.
    const DOOR_PIN: u64 = 73915048;
    let door_pin = DOOR_PIN.to_string();
    // `redact = true` in the file, then overridden by --no-redact: the store
    // keeps the values only then, the generated suite never.
    for redact in [true, false] {
        let app_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let app_addr = app_listener.local_addr().unwrap();
        let project = Project::new(&format!(
            "store = \".reel/reel.db\"\n{}\n[redact]\nnames = [\"X-Session\", \"pin\"]\npatterns = [\"^sk_live_[A-Za-z0-9]+$\"]\n\n[generate]\nout = \"suite\"\n\n[test]\napp = \"{}\"\n",
            record_section(app_addr, "secrets", "redact = true\n"),
            demo_app_cmd(app_addr, "http://127.0.0.1:9"),
        ));
        let flags: Vec<String> = if redact {
            vec![]
        } else {
            vec!["--no-redact".into()]
        };
        let rec = Recording::start_in(project.path(), &flags, &[])
            .await
            .unwrap();
        let app = serve_app_on(app_listener, "http://127.0.0.1:9".into());
        let c = client();
        let base = format!("http://{}", rec.inbound);
        let created: Value = c
            .post(format!("{base}/books"))
            .header("X-Session", SESSION_ID)
            .json(&json!({"title": KEY, "author": "A. Writer", "isbn": "978-1", "price_cents": 1200, "pin": PIN, "safe": {"pin": DOOR_PIN}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(created["title"], KEY, "the app echoes the key");
        let id = created["id"].as_u64().unwrap();
        let got = c
            .get(format!("{base}/books/{id}"))
            .header("X-Session", SESSION_ID)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        let (code, out, err) = rec.interrupt().await;
        app.stop().await;
        assert_eq!(code, 0, "{out}{err}");

        let store = project.path().join(".reel/reel.db");
        for v in [SESSION_ID, PIN, KEY, &door_pin] {
            assert_eq!(
                store_holds(&store, v),
                !redact,
                "{v} in the store with redact = {redact}"
            );
        }

        let (code, out, err) = project.reel("", &["generate"]);
        assert_eq!(code, 0, "{out}{err}");
        let suite = project.path().join("suite");
        for file in every_file(&suite) {
            let text = std::fs::read_to_string(&file).unwrap();
            for v in [SESSION_ID, PIN, KEY, &door_pin] {
                assert!(!text.contains(v), "{v} in {}", file.display());
            }
        }
        let mut cases = every_file(&suite.join("cases"));
        cases.sort();
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(&cases[0]).unwrap()).unwrap();
        let request = &case["request"];
        assert!(
            request["headers"]
                .as_array()
                .unwrap()
                .contains(&json!(["x-session", "${secret:X_SESSION}"])),
            "{request}"
        );
        assert_eq!(request["body"]["json"]["pin"], "${secret:PIN}", "{request}");
        assert_eq!(
            request["body"]["json"]["safe"]["pin"], "${secret:PIN_2:number}",
            "{request}"
        );
        assert_eq!(
            request["body"]["json"]["title"], "${secret:TITLE}",
            "{request}"
        );
        let secrets = project.path().join(".reel/secrets.toml");
        if redact {
            assert!(!secrets.exists(), "the store never saw the values");
        } else {
            let kept = std::fs::read_to_string(&secrets).unwrap();
            for v in [SESSION_ID, PIN, KEY, &door_pin] {
                assert!(kept.contains(v), "{v} kept for replay:\n{kept}");
            }
        }

        // The placeholders fill back in at replay: from secrets.toml beside
        // the file's store, or (redacted) from the environment.
        let mut test = Command::new(reel_bin());
        test.current_dir(project.path())
            .arg("test")
            .env_remove("CI")
            .env_remove("REEL_STORE");
        if redact {
            test.env("REEL_SECRET_X_SESSION", SESSION_ID)
                .env("REEL_SECRET_PIN", PIN)
                .env("REEL_SECRET_PIN_2", &door_pin)
                .env("REEL_SECRET_TITLE", KEY);
        }
        let out = test.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.trim_end().ends_with("2 passed, 0 failed"),
            "{stdout}"
        );
    }
}
