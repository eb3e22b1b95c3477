//! Stamps the binary with the commit it was built from, for `reel --version`:
//! `REEL_COMMIT` if set (a packager's choice), else `git rev-parse` in the
//! source tree, else the sha1 cargo records in a published crate
//! (`.cargo_vcs_info.json`), else `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=REEL_COMMIT");
    let commit = std::env::var("REEL_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(from_git)
        .or_else(from_vcs_info)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=REEL_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn from_git() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when HEAD moves: HEAD itself, and the branch it names.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            if let Some(r) = git(&["rev-parse", "--git-path", &branch]) {
                println!("cargo:rerun-if-changed={r}");
            }
        }
        if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
            println!("cargo:rerun-if-changed={packed}");
        }
    }
    Some(commit)
}

fn from_vcs_info() -> Option<String> {
    let text = std::fs::read_to_string(Path::new(".cargo_vcs_info.json")).ok()?;
    let at = text.find("\"sha1\"")?;
    let rest = &text[at + 6..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end.min(start + 12)].to_owned())
}
