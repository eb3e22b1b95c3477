//! `reel review --web` with the real binary: a QA person in Debian's
//! Chromium (driven by `fixtures/review/qa.js`) accepts, ignores a path and
//! rejects on a recorded demo suite the changed app fails, and `reel test`
//! then shows exactly those results; requests without the token, from
//! another origin or by another name change nothing on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::replay::{affected, pending, record_and_generate, reel_test, Recorded};
use crate::support::*;

/// A running `reel review --web` and the address it printed.
struct Web {
    _child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    token: String,
}

impl Web {
    async fn start(suite: &Path, extra: &[&str]) -> Web {
        let mut child = tokio::process::Command::new(reel_bin())
            .args(["review", suite.to_str().unwrap(), "--web"])
            .args(extra)
            .env("REEL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("reel review: ") {
                    return url.to_owned();
                }
            }
            panic!("reel review --web ended without printing its address");
        })
        .await
        .expect("reel review --web printed its address in time");
        // Keep reading so the review never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (base, token) = url.split_once("/?token=").expect("an address with a token");
        Web {
            _child: child,
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("{}/?token={}", self.base, self.token)
    }
}

/// Every file of the suite and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn case_json(suite: &Path, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(suite.join(format!("cases/{name}.json"))).unwrap())
        .unwrap()
}

/// The changed app's failures, split as the QA scenario uses them: the
/// quote case (only its amount differs) and the cases whose books lost
/// their `author`.
fn roles(r: &Recorded) -> (String, Vec<String>) {
    let all = affected(&r.suite);
    let quote = all
        .iter()
        .find(|n| {
            case_json(&r.suite, n)["request"]["target"]
                .as_str()
                .unwrap()
                .contains("/quote")
        })
        .expect("a quote case")
        .clone();
    let authors: Vec<String> = all.iter().filter(|n| **n != quote).cloned().collect();
    assert!(authors.len() >= 3, "{authors:?}");
    (quote, authors)
}

/// A copy of a `GET /books/ID` case under a file name that is markup,
/// expecting a header and a body field that are markup too: the changed app
/// fails it, so all of it is on the page.
fn add_hostile_case(suite: &Path) -> String {
    let source = std::fs::read_dir(suite.join("cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "json") && {
                let c: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                let t = c["request"]["target"].as_str().unwrap().to_owned();
                c["request"]["method"] == "GET"
                    && t.starts_with("/books/")
                    && !t.contains("/quote")
                    && c["response"]["status"] == 200
            }
        })
        .expect("a GET /books/ID case");
    let mut c: Value = serde_json::from_slice(&std::fs::read(&source).unwrap()).unwrap();
    let name = "0099-\"><img src=x onerror=window.__pwned=1>";
    c["name"] = Value::from(name);
    c["response"]["headers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!([
            "x-note",
            "\"><img src=x onerror=\"window.__pwned=2\">"
        ]));
    c["response"]["body"]["json"]["blurb"] = Value::from("<script>window.__pwned=3</script>");
    std::fs::write(
        suite.join(format!("cases/{name}.json")),
        serde_json::to_string_pretty(&c).unwrap(),
    )
    .unwrap();
    name.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qa_decides_in_chromium_and_the_next_run_shows_exactly_those_decisions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let r = record_and_generate("web").await;
    let hostile = add_hostile_case(&r.suite);
    let changed = r.app_cmd("changed");
    let (code, out, err) = reel_test(&r.suite, &["--app", &changed], false);
    assert_eq!(code, 1, "{out}{err}");
    let (quote, authors) = roles(&r);
    let mut failing = affected(&r.suite);
    failing.insert(hostile.clone());
    assert_eq!(failed_cases(&out), failing, "{out}");
    assert_eq!(pending(&r.suite), failing);
    assert!(
        r.suite.join(".reel/last-run.json").exists() && r.suite.join(".reel/.gitignore").exists(),
        "reel test keeps its run for the review, git-ignored"
    );
    let (accept, reject, edited) = (&authors[0], &authors[1], &authors[2]);
    let accepted_to = std::fs::read(r.suite.join(format!("cases/{accept}.json.new"))).unwrap();
    let reject_before = std::fs::read(r.suite.join(format!("cases/{reject}.json"))).unwrap();

    // No --app: "re-run this case" replays as the last reel test did.
    let web = Web::start(&r.suite, &[]).await;
    let shots = std::env::var_os("REEL_REVIEW_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| r.suite.join("../shots"));
    let qa = tokio::process::Command::new("node")
        .arg(root.join("fixtures/review/qa.js"))
        .args([
            &web.url(),
            r.suite.to_str().unwrap(),
            shots.to_str().unwrap(),
        ])
        .args([accept, &quote, "$.amount_cents", reject, edited])
        .env("NODE_PATH", root.join("fixtures/real-apps/node_modules"))
        .output()
        .await
        .unwrap();
    assert!(
        qa.status.success(),
        "{}{}",
        String::from_utf8_lossy(&qa.stdout),
        String::from_utf8_lossy(&qa.stderr)
    );
    let seen: Value = serde_json::from_slice(&qa.stdout).unwrap();
    drop(web);

    // What the page showed.
    assert_eq!(seen["problems"], serde_json::json!([]), "{seen:#}");
    assert_eq!(seen["pwned"], Value::Null, "recorded markup ran as script");
    assert_eq!(seen["failedCount"], failing.len());
    let order: Vec<&str> = seen["order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let shown_first: std::collections::BTreeSet<String> = order[..failing.len()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(shown_first, failing, "failing cases come first: {order:?}");
    let filtered: std::collections::BTreeSet<String> = seen["failedShown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(filtered, failing);
    let paths = seen["acceptPaths"].to_string();
    assert!(paths.contains("author_name"), "{paths}");
    let plan = seen["acceptPlan"].as_str().unwrap();
    assert!(
        plan.contains(&format!("cases/{accept}.json rewritten"))
            && plan.contains(&format!("cases/{accept}.json.new removed"))
            && plan.contains("\"author_name\""),
        "{plan}"
    );
    let plan = seen["ignorePlan"].as_str().unwrap();
    assert!(
        plan.contains(&format!("cases/{quote}.json rewritten"))
            && plan.contains("\"$.amount_cents\"")
            && plan.contains("the case passes now"),
        "{plan}"
    );
    assert_eq!(seen["help"], true);
    assert_eq!(seen["helpClosed"], true);
    assert_eq!(seen["afterReload"], edited.as_str());
    let conflict = seen["conflictSaid"].as_str().unwrap();
    assert!(conflict.contains("changed on disk"), "{conflict}");
    assert!(seen["conflictBanner"]
        .as_str()
        .unwrap()
        .contains("changed on disk"));
    assert_eq!(seen["firstTabNoticed"], true);
    assert!(
        seen["staleBeforeRerun"]
            .as_str()
            .unwrap()
            .contains("changed on disk since the last run"),
        "{seen:#}"
    );
    let rerun = seen["rerunSaid"].as_str().unwrap();
    assert!(rerun.contains(&format!("{edited} still fails")), "{rerun}");
    assert!(
        seen["rerunPaths"].to_string().contains("author_name"),
        "{seen:#}"
    );

    // What is on disk.
    assert_eq!(
        std::fs::read(r.suite.join(format!("cases/{accept}.json"))).unwrap(),
        accepted_to,
        "accepting takes the pending snapshot, as reel accept does"
    );
    let q = case_json(&r.suite, &quote);
    assert_eq!(
        q["noise"]["body_paths"],
        serde_json::json!(["$.amount_cents"])
    );
    assert_eq!(
        std::fs::read(r.suite.join(format!("cases/{reject}.json"))).unwrap(),
        reject_before,
        "rejecting keeps the case"
    );
    let left = pending(&r.suite);
    assert!(!left.contains(accept) && !left.contains(&quote) && !left.contains(reject));
    assert!(left.contains(edited), "a refused decision writes nothing");
    let edited_text =
        std::fs::read_to_string(r.suite.join(format!("cases/{edited}.json"))).unwrap();
    assert!(edited_text.ends_with("\n\n"), "the edit on disk stays");

    // The next run: the accepted and the ignored case pass; everything else
    // the changed app breaks still fails.
    let (code, out, err) = reel_test(&r.suite, &["--app", &changed], false);
    assert_eq!(code, 1, "{out}{err}");
    let mut expected = failing.clone();
    expected.remove(accept);
    expected.remove(&quote);
    assert_eq!(failed_cases(&out), expected, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_the_token_or_from_elsewhere_changes_nothing() {
    let r = record_and_generate("web-guard").await;
    let changed = r.app_cmd("changed");
    let (code, out, err) = reel_test(&r.suite, &["--app", &changed], false);
    assert_eq!(code, 1, "{out}{err}");
    let name = pending(&r.suite).into_iter().next().unwrap();
    let web = Web::start(&r.suite, &["--app", &changed]).await;
    let c = reqwest::Client::builder().no_proxy().build().unwrap();
    let host = web.base.strip_prefix("http://").unwrap().to_owned();

    // The page's own read of the case gives the version a decision needs.
    let got = c
        .get(format!("{}/api/case?name={}", web.base, name))
        .header("x-reel-token", &web.token)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    let version = got.json::<Value>().await.unwrap()["version"].clone();
    let body =
        serde_json::json!({"case": name, "decision": {"kind": "accept"}, "version": version});
    let before = snapshot(&r.suite);

    let apply =
        |token: Option<&str>, origin: Option<&str>, host_header: Option<&str>, json: bool| {
            let mut req = c.post(format!("{}/api/apply", web.base));
            if let Some(t) = token {
                req = req.header("x-reel-token", t);
            }
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
            if let Some(h) = host_header {
                req = req.header("host", h);
            }
            req = if json {
                req.header("content-type", "application/json")
            } else {
                req.header("content-type", "text/plain")
            };
            req.body(body.to_string()).send()
        };
    let own_origin = format!("http://{host}");
    // A name an attacker's DNS points at 127.0.0.1, on the review's port.
    let rebound = format!("evil.example:{}", host.rsplit_once(':').unwrap().1);
    let refused = [
        ("no token", apply(None, Some(&own_origin), None, true).await),
        (
            "a wrong token",
            apply(
                Some("0123456789abcdef0123456789abcdef"),
                Some(&own_origin),
                None,
                true,
            )
            .await,
        ),
        (
            "another origin",
            apply(Some(&web.token), Some("http://evil.example"), None, true).await,
        ),
        (
            "another name for the host",
            apply(Some(&web.token), None, Some(&rebound), true).await,
        ),
        (
            "a form's content type",
            apply(Some(&web.token), Some(&own_origin), None, false).await,
        ),
        (
            "the token in the address only",
            c.post(format!("{}/api/apply?token={}", web.base, web.token))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await,
        ),
        (
            "a cross-site fetch",
            c.post(format!("{}/api/apply", web.base))
                .header("x-reel-token", &web.token)
                .header("content-type", "application/json")
                .header("sec-fetch-site", "cross-site")
                .body(body.to_string())
                .send()
                .await,
        ),
    ];
    for (what, answer) in refused {
        let answer = answer.unwrap();
        let status = answer.status().as_u16();
        assert!(
            answer
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{what}: no CORS"
        );
        assert!(status == 403 || status == 415, "{what}: answered {status}");
    }
    for path in ["/", "/api/cases", "/review.js"] {
        let answer = c.get(format!("{}{path}", web.base)).send().await.unwrap();
        assert_eq!(answer.status(), 403, "{path} without the token");
    }
    let page = c.get(web.url()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(snapshot(&r.suite), before, "nothing changed on disk");

    // The same decision from the page's own origin, with the token, applies.
    let ok = apply(Some(&web.token), Some(&own_origin), None, true)
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "{}", ok.text().await.unwrap());
    assert!(!pending(&r.suite).contains(&name));
    drop(web);
}
