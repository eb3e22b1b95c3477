//! What an installed reel offers a shell: its version with the commit it
//! was built from, completion scripts a shell loads, and a man page.

use crate::support::*;

fn stdout(args: &[&str]) -> String {
    let out = reel(args);
    assert!(
        out.status.success(),
        "reel {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let shown = stdout(&["--version"]);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned());
    let commit = head.unwrap_or_else(|| "unknown".into());
    assert_eq!(
        shown.trim(),
        format!("reel {} ({commit})", env!("CARGO_PKG_VERSION"))
    );
}

/// bash loads the script and completes a subcommand and a flag from it.
#[test]
fn bash_completes_subcommands_and_flags_from_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("reel.bash");
    std::fs::write(&script, stdout(&["completions", "bash"])).unwrap();
    let complete = |words: &str, cword: usize| {
        let out = run_ok(std::process::Command::new("bash").arg("-c").arg(format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; \
             COMP_LINE='{words}'; \
             _reel reel \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        )));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("reel gen", 1).trim(), "generate");
    assert!(
        complete("reel record --max-", 2).contains("--max-body"),
        "record's flags complete"
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(
            stdout(&["completions", shell]).contains("generate"),
            "{shell}"
        );
    }
}

#[test]
fn the_man_page_names_every_command() {
    let page = stdout(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH reel 1"),
        "{page}"
    );
    for command in [
        "record", "sessions", "generate", "test", "review", "accept", "demo",
    ] {
        assert!(page.contains(command), "{command} is in the man page");
    }
}

/// The Dockerfile builds an image whose `reel` names the commit and runs the
/// whole demo loop. Needs a container engine; without one (`docker info`
/// fails) the test says so and passes, as the image cannot be built here.
#[test]
fn the_docker_image_runs_the_demo() {
    let engine = std::process::Command::new("docker")
        .arg("info")
        .output()
        .ok()
        .filter(|o| o.status.success());
    if engine.is_none() {
        eprintln!(
            "skipped: no container engine (`docker info` failed), so the image cannot be built"
        );
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tag = format!("reel-test-{}", std::process::id());
    let commit = "0123456789ab";
    let build = std::process::Command::new("docker")
        .args(["build", "--build-arg", &format!("REEL_COMMIT={commit}")])
        .args(["-t", &tag])
        .arg(&root)
        .output()
        .expect("running docker build");
    assert!(
        build.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let version = std::process::Command::new("docker")
        .args(["run", "--rm", &tag, "--version"])
        .output();
    let demo = std::process::Command::new("docker")
        .args(["run", "--rm", "-e", "NO_COLOR=1", &tag, "demo"])
        .output();
    let _ = std::process::Command::new("docker")
        .args(["image", "rm", "-f", &tag])
        .output();
    let version = version.expect("docker run --version");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("reel {} ({commit})", env!("CARGO_PKG_VERSION")),
        "{}",
        String::from_utf8_lossy(&version.stderr)
    );
    let demo = demo.expect("docker run demo");
    let shown = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success() && shown.contains("passed"),
        "reel demo in the image: {shown}{}",
        String::from_utf8_lossy(&demo.stderr)
    );
}
