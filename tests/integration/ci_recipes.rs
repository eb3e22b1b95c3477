//! The CI recipes in `docs/ci/` work as pasted: their steps, read from the
//! YAML files themselves, run in order in a fresh clone of a repository
//! holding a suite, once per shard of the matrix (GitHub Actions) or per
//! parallel node (GitLab), with the variables each CI sets. Together the
//! shards replay every case once, all green, and leave the reports the
//! recipes upload. (`act` and gitlab-runner are not installable here; this
//! runs what they would run.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::*;

fn docs(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/ci")
        .join(name);
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    run_ok(
        Command::new("git")
            .args(["-c", "user.name=reel", "-c", "user.email=reel@example.com"])
            .args(args)
            .current_dir(dir),
    );
}

/// A repository holding the demo's suite at `reel/suite`, as a project
/// commits it (no pending snapshots, reports or kept runs); returns it and
/// how many cases the suite has.
fn repository(root: &Path) -> (PathBuf, usize) {
    let repo = root.join("origin");
    let suite = repo.join("reel/suite");
    std::fs::create_dir_all(&repo).unwrap();
    // The demo keeps its secrets in .reel/secrets.toml where it runs: here,
    // outside the repository, as a developer's machine would.
    let out = Command::new(reel_bin())
        .args(["demo", "--dir", suite.to_str().unwrap()])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(suite.join(".reel")).unwrap();
    std::fs::remove_file(suite.join("report.html")).unwrap();
    let mut cases = 0;
    for e in std::fs::read_dir(suite.join("cases")).unwrap() {
        let p = e.unwrap().path();
        if p.to_string_lossy().ends_with(".json.new") {
            std::fs::remove_file(&p).unwrap();
        } else {
            cases += 1;
        }
    }
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "suite"]);
    (repo, cases)
}

/// The secrets the demo's suite needs, as a CI's secret store holds them:
/// `REEL_SECRET_<NAME>` and the value `reel demo` kept.
fn ci_secrets(root: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root.join(".reel/secrets.toml")).unwrap();
    let t: toml::Table = text.parse().unwrap();
    let secrets = t["secrets"].as_table().unwrap();
    assert!(!secrets.is_empty(), "the demo's suite has a secret to pass");
    secrets
        .iter()
        .map(|(k, v)| (format!("REEL_SECRET_{k}"), v.as_str().unwrap().to_owned()))
        .collect()
}

/// A fresh clone of `repo`, as a CI job checks it out.
fn checkout(repo: &Path, at: &Path) -> PathBuf {
    git(
        at.parent().unwrap(),
        &["clone", "-q", repo.to_str().unwrap(), at.to_str().unwrap()],
    );
    at.to_owned()
}

/// PATH with the reel under test first, as an install step would leave it.
fn path_with_reel() -> String {
    format!(
        "{}:{}",
        reel_bin().parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn env_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// The tests a JUnit report counts, and its failures.
fn junit_counts(path: &Path) -> (usize, usize) {
    let xml = std::fs::read_to_string(path).unwrap();
    let attr = |name: &str| -> usize {
        let at = xml.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        xml[at..].split('"').next().unwrap().parse().unwrap()
    };
    (attr("tests"), attr("failures"))
}

#[test]
fn the_github_actions_workflow_replays_every_case_once_across_its_shards() {
    let root = tempfile::tempdir().unwrap();
    let (repo, cases) = repository(root.path());
    let wf = docs("github-actions.yml");
    assert!(
        wf["on"].get("pull_request").is_some(),
        "runs on pull requests"
    );
    assert_eq!(wf["permissions"], serde_json::json!({"contents": "read"}));
    let shell = wf["defaults"]["run"]["shell"].as_str().unwrap();
    assert_eq!(shell, "bash");
    let job = &wf["jobs"]["replay"];
    let shards: Vec<String> = job["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    assert!(shards.len() > 1, "a matrix of shards");
    let secrets = ci_secrets(root.path());
    let mut ran = 0;
    for shard in &shards {
        let dir = checkout(&repo, &root.path().join(format!("shard-{shard}")));
        let summary = root.path().join(format!("summary-{shard}.md"));
        let mut env = env_map(&job["env"]);
        env.insert("CI".into(), "true".into());
        env.insert("GITHUB_ACTIONS".into(), "true".into());
        env.insert("GITHUB_WORKSPACE".into(), dir.display().to_string());
        env.insert("GITHUB_STEP_SUMMARY".into(), summary.display().to_string());
        env.insert("PATH".into(), path_with_reel());
        let mut failed = false;
        let mut uploaded = Vec::new();
        for step in job["steps"].as_array().unwrap() {
            let always = step["if"].as_str().is_some_and(|c| c.contains("always()"));
            if failed && !always {
                continue;
            }
            if let Some(action) = step["uses"].as_str() {
                if action.starts_with("actions/upload-artifact") {
                    uploaded.push(step["with"]["path"].as_str().unwrap().to_owned());
                }
                continue;
            }
            let expand = |s: &str| -> String {
                let mut s = s.replace("${{ matrix.shard }}", shard);
                for (name, value) in &secrets {
                    s = s.replace(&format!("${{{{ secrets.{name} }}}}"), value);
                }
                assert!(
                    !s.contains("${{"),
                    "an expression this test does not know: {s}"
                );
                s
            };
            let script = expand(step["run"].as_str().unwrap());
            let step_env: BTreeMap<String, String> = env_map(&step["env"])
                .into_iter()
                .map(|(k, v)| (k, expand(&v)))
                .collect();
            // GitHub's `shell: bash`: bash --noprofile --norc -eo pipefail {0}
            let out = Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
                .current_dir(&dir)
                .env_clear()
                .envs(&env)
                .envs(&step_env)
                .output()
                .unwrap();
            if !out.status.success() {
                failed = true;
                eprintln!(
                    "step {} failed:\n{}{}",
                    step["name"],
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        assert!(!failed, "shard {shard}: a step failed (above)");
        let said = std::fs::read_to_string(&summary).unwrap();
        assert!(
            said.contains(&format!("### reel: shard {shard} of {}", shards.len())),
            "{said}"
        );
        assert!(said.trim_end().ends_with("0 failed"), "{said}");
        assert_eq!(uploaded, ["reel-report/"]);
        let report = dir.join("reel-report");
        assert!(report.join("report.html").exists());
        assert!(report
            .join(format!("app.shard-{shard}-of-{}.log", shards.len()))
            .exists());
        let (tests, failures) = junit_counts(&report.join("junit.xml"));
        assert_eq!(failures, 0);
        ran += tests;
        let pending = std::fs::read_dir(dir.join("reel/suite/cases"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .to_string_lossy()
                    .ends_with(".new")
            })
            .count();
        assert_eq!(pending, 0, "CI writes no pending snapshots");
    }
    assert_eq!(ran, cases, "the shards together run every case once");

    // A pull request from a fork gets no secrets: GitHub passes each as an
    // empty string, and the run stops naming what is missing.
    let dir = checkout(&repo, &root.path().join("fork"));
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg("reel test \"$REEL_SUITE\" --shard 1/1")
        .current_dir(&dir)
        .env_clear()
        .envs(env_map(&job["env"]))
        .envs(secrets.keys().map(|k| (k.clone(), String::new())))
        .env("CI", "true")
        .env("PATH", path_with_reel())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    for name in secrets.keys() {
        assert!(said.contains(name.as_str()), "{said}");
    }
}

#[test]
fn the_gitlab_job_replays_every_case_once_across_its_parallel_nodes() {
    let root = tempfile::tempdir().unwrap();
    let (repo, cases) = repository(root.path());
    let ci = docs("gitlab-ci.yml");
    let job = &ci["reel"];
    let nodes = job["parallel"].as_u64().unwrap() as usize;
    assert!(nodes > 1);
    assert_eq!(job["artifacts"]["when"], "always");
    let junit = job["artifacts"]["reports"]["junit"].as_str().unwrap();
    let lines: Vec<&str> = ["before_script", "script"]
        .iter()
        .flat_map(|k| job[*k].as_array().unwrap())
        .map(|l| l.as_str().unwrap())
        .collect();
    // GitLab passes masked CI/CD variables as the job's environment.
    let secrets = ci_secrets(root.path());
    let mut ran = 0;
    for node in 1..=nodes {
        let dir = checkout(&repo, &root.path().join(format!("node-{node}")));
        // GitLab runs the lines in one shell and stops at the first that fails.
        let script = format!("set -eo pipefail\n{}", lines.join("\n"));
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-c", &script])
            .current_dir(&dir)
            .env_clear()
            .envs(env_map(&job["variables"]))
            .envs(&secrets)
            .env("CI", "true")
            .env("GITLAB_CI", "true")
            .env("CI_NODE_INDEX", node.to_string())
            .env("CI_NODE_TOTAL", nodes.to_string())
            .env("CI_PROJECT_DIR", &dir)
            .env("PATH", path_with_reel())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "node {node}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for kept in job["artifacts"]["paths"].as_array().unwrap() {
            assert!(dir.join(kept.as_str().unwrap()).is_dir());
        }
        let (tests, failures) = junit_counts(&dir.join(junit));
        assert_eq!(failures, 0);
        ran += tests;
    }
    assert_eq!(ran, cases, "the nodes together run every case once");
}
