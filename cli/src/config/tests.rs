//! reel.toml: finding, parsing, errors that point at the key, and merging
//! under the flags.

use std::path::{Path, PathBuf};

use clap::{CommandFactory as _, FromArgMatches as _};

use super::merge::{self, Source};
use super::*;
use crate::args::{Cli, Command};

const EXAMPLE: &str = r#"
store = ".reel/reel.db"

[record]
upstream = "http://127.0.0.1:8080"
listen = "127.0.0.1:16789"
session = "checkout"
max_body = "4M"
redact = true
app = ["./my-app", "--port", "8080"]
dep = [
    "audit=http:127.0.0.1:18082=http://audit.internal",
    { name = "pricing", listen = "127.0.0.1:18081", target = "https://pricing.example.com" },
]

[redact]
names = ["x-session", "pin"]
patterns = ["^sk_live_[A-Za-z0-9]+$"]

[generate]
out = "reel/checkout"
dedup = true
reset = ["psql", "-c", "truncate users restart identity cascade"]

[test]
app = "./my-app --port 8080"
ready = "http://127.0.0.1:8080/health"
ready_timeout = 60
strict = true
stability = 3
report = { junit = "out/junit.xml", html = "out/report.html" }
"#;

/// Writes `text` as `dir/reel.toml` and loads it by path.
fn load_in(dir: &Path, text: &str) -> anyhow::Result<Config> {
    let path = dir.join(FILE_NAME);
    std::fs::write(&path, text).unwrap();
    Config::load(Some(&path))
}

fn load_err(text: &str) -> (PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let err = load_in(dir.path(), text).unwrap_err();
    (dir.path().join(FILE_NAME), format!("{err:#}"))
}

/// `reel ARGS` parsed and merged over `cfg`.
fn merged(args: &[&str], cfg: &Config) -> (Command, Vec<merge::Setting>) {
    let matches = Cli::command()
        .try_get_matches_from(std::iter::once("reel").chain(args.iter().copied()))
        .unwrap();
    let mut cli = Cli::from_arg_matches(&matches).unwrap();
    let (_, sub) = matches.subcommand().unwrap();
    let settings = merge::apply(&mut cli.command, sub, cfg);
    (cli.command, settings)
}

fn source(settings: &[merge::Setting], key: &str) -> Source {
    settings
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("no setting {key}"))
        .source
}

#[test]
fn the_example_parses_with_paths_relative_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_in(dir.path(), EXAMPLE).unwrap();
    let f = &cfg.file;
    assert_eq!(f.store, Some(dir.path().join(".reel/reel.db")));
    assert_eq!(f.record.upstream.as_deref(), Some("http://127.0.0.1:8080"));
    assert_eq!(
        f.record
            .dep
            .iter()
            .map(|d| d.0.to_string())
            .collect::<Vec<_>>(),
        [
            "audit=http:127.0.0.1:18082=http://audit.internal",
            "pricing=http:127.0.0.1:18081=https://pricing.example.com",
        ]
    );
    assert_eq!(
        f.record.app.as_ref().unwrap().argv(),
        ["./my-app", "--port", "8080"]
    );
    assert_eq!(f.generate.out, Some(dir.path().join("reel/checkout")));
    assert_eq!(
        f.test.report.as_ref().unwrap().to_reports().to_string(),
        format!(
            "junit={},html={}",
            dir.path().join("out/junit.xml").display(),
            dir.path().join("out/report.html").display()
        )
    );
    let rules = cfg.secret_rules().unwrap();
    assert!(rules.is_secret_header("X-Session"));
    assert!(rules.is_secret_field("PIN"));
    assert!(!rules.is_secret_field("spin"));
}

#[test]
fn an_unknown_key_names_file_line_column_and_key() {
    let (path, err) = load_err("[record]\nlisten = \"127.0.0.1:1\"\nuptream = \"http://x\"\n");
    assert!(
        err.starts_with(&format!(
            "{}:3:1: record.uptream: unknown field `uptream`",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains("expected one of"), "{err}");

    let (path, err) = load_err("[generat]\nout = \"x\"\n");
    assert!(
        err.starts_with(&format!(
            "{}:1:2: generat: unknown field `generat`",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn a_wrong_type_names_the_key_at_its_value() {
    let (path, err) = load_err("[record]\nlisten = 16789\n");
    assert_eq!(
        err,
        format!(
            "{}:2:10: record.listen: invalid type: integer `16789`, expected a string",
            path.display()
        )
    );
    let (path, err) = load_err("[test]\nstrict = \"yes\"\n");
    assert!(
        err.starts_with(&format!(
            "{}:2:10: test.strict: invalid type: string",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn values_are_checked_where_they_are_written() {
    // toml points at the list, not at the item in it.
    let (path, err) = load_err("[record]\ndep = [\"pricing\"]\n");
    assert!(
        err.starts_with(&format!(
            "{}:2:7: record.dep: --dep 'pricing'",
            path.display()
        )),
        "{err}"
    );
    let (path, err) =
        load_err("[record]\nupstream = \"http://a\"\n\n[[record.dep]]\nname = \"p\"\nlisten = \"127.0.0.1:1\"\ntarget = \"http://b\"\nport = 1\n");
    assert!(
        err.starts_with(&format!(
            "{}:8:1: record.dep[0].port: unknown field `port`",
            path.display()
        )),
        "{err}"
    );
    let (path, err) = load_err("[redact]\npatterns = [\"ok\", \"sk_(live\"]\n");
    assert!(
        err.starts_with(&format!(
            "{}:2:12: redact.patterns: secret pattern 'sk_(live'",
            path.display()
        )),
        "{err}"
    );
    let (path, err) = load_err("[record]\nmax_body = \"lots\"\n");
    assert!(
        err.starts_with(&format!(
            "{}:2:12: record.max_body: 'lots' is not a size",
            path.display()
        )),
        "{err}"
    );
    let (_, err) = load_err("[record\n");
    assert!(err.contains(":1:"), "{err}");
}

#[test]
fn the_nearest_file_is_found_but_not_above_the_repository() {
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("project");
    let deep = project.join("src/deeper");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(root.path().join(FILE_NAME), "").unwrap();
    assert_eq!(discover(&deep), Some(root.path().join(FILE_NAME)));
    std::fs::create_dir(project.join(".git")).unwrap();
    assert_eq!(
        discover(&deep),
        None,
        "the search stops at the repository root"
    );
    std::fs::write(project.join(FILE_NAME), "").unwrap();
    assert_eq!(discover(&deep), Some(project.join(FILE_NAME)));
    std::fs::write(deep.join(FILE_NAME), "").unwrap();
    assert_eq!(discover(&deep), Some(deep.join(FILE_NAME)));
}

#[test]
fn a_missing_explicit_file_is_an_error() {
    let err = Config::load(Some(Path::new("/nonexistent/reel.toml"))).unwrap_err();
    assert!(
        format!("{err:#}").contains("/nonexistent/reel.toml"),
        "{err:#}"
    );
}

#[test]
fn flags_win_the_file_fills_the_rest_and_defaults_come_last() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_in(dir.path(), EXAMPLE).unwrap();

    let (cmd, settings) = merged(&["record", "--listen", "127.0.0.1:0", "--no-redact"], &cfg);
    let Command::Record(a) = cmd else { panic!() };
    assert_eq!(a.listen, "127.0.0.1:0");
    assert_eq!(source(&settings, "record.listen"), Source::Flag);
    assert!(!a.redact, "--no-redact beats redact = true");
    assert_eq!(source(&settings, "record.redact"), Source::Flag);
    assert_eq!(a.upstream.as_deref(), Some("http://127.0.0.1:8080"));
    assert_eq!(a.max_body, ByteSize(4 << 20));
    assert_eq!(a.session.as_deref(), Some("checkout"));
    assert_eq!(a.deps.len(), 2);
    assert_eq!(a.app, ["./my-app", "--port", "8080"]);
    assert_eq!(a.http_proxy, None);
    assert_eq!(source(&settings, "record.http_proxy"), Source::Default);
    assert_eq!(source(&settings, "redact.names"), Source::File);

    // A flag given for a list replaces the file's whole list.
    let (cmd, _) = merged(
        &[
            "record",
            "--dep",
            "x=http:127.0.0.1:0=http://x",
            "--",
            "other-app",
        ],
        &cfg,
    );
    let Command::Record(a) = cmd else { panic!() };
    assert_eq!(
        a.deps.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["x=http:127.0.0.1:0=http://x"]
    );
    assert_eq!(a.app, ["other-app"]);

    let (cmd, settings) = merged(&["generate", "other", "--no-dedup"], &cfg);
    let Command::Generate(a) = cmd else { panic!() };
    assert_eq!(a.session.as_deref(), Some("other"));
    assert!(!a.dedup);
    assert_eq!(a.out, Some(dir.path().join("reel/checkout")));
    assert_eq!(
        a.reset.as_deref(),
        Some("psql -c 'truncate users restart identity cascade'")
    );
    assert_eq!(source(&settings, "generate.reset"), Source::File);

    let (cmd, settings) = merged(&["test", "--ready-timeout", "5"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!(
        a.dir,
        Some(dir.path().join("reel/checkout")),
        "[generate] out"
    );
    assert_eq!(a.ready_timeout, 5);
    assert_eq!(a.app.as_deref(), Some("./my-app --port 8080"));
    assert!(a.strict);
    assert_eq!(a.stability, Some(3));
    assert_eq!(source(&settings, "test.stability"), Source::File);
    assert!(a.report.unwrap().to_string().starts_with("junit="));
}

#[test]
fn without_a_file_the_built_in_defaults_stand() {
    let cfg = Config::default();
    let (cmd, settings) = merged(&["record"], &cfg);
    let Command::Record(a) = cmd else { panic!() };
    assert_eq!(a.listen, "127.0.0.1:16789");
    assert_eq!(a.max_body, ByteSize(8 << 20));
    assert_eq!(a.upstream, None);
    assert!(!a.redact);
    assert!(settings
        .iter()
        .filter(|s| s.key != "store")
        .all(|s| s.source == Source::Default));
    let (cmd, _) = merged(&["test", "suite"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!(a.dir, Some(PathBuf::from("suite")));
    assert_eq!(a.ready_timeout, 30);
    assert_eq!(a.secrets, None);
}

#[test]
fn an_app_may_be_a_string_or_a_list() {
    let f = parse("[record]\napp = \"./run.sh --fast\"\n[test]\napp = [\"./my app\", \"-v\"]\n")
        .unwrap();
    assert_eq!(
        f.record.app.unwrap().argv(),
        ["sh", "-c", "./run.sh --fast"]
    );
    assert_eq!(f.test.app.unwrap().line(), "'./my app' -v");
    let err = parse("[test]\napp = 3\n").unwrap_err();
    assert!(err.message().contains("a command"), "{}", err.message());
}

#[test]
fn reel_config_shows_each_value_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_in(
        dir.path(),
        "[record]\nupstream = \"http://127.0.0.1:9\"\n[generate]\ndedup = true\n",
    )
    .unwrap();
    let shown = merge::show(&cfg);
    assert!(
        shown.starts_with(&format!(
            "# settings from {}",
            dir.path().join(FILE_NAME).display()
        )),
        "{shown}"
    );
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in\n{shown}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("upstream ="),
        "upstream = \"http://127.0.0.1:9\" # reel.toml"
    );
    assert_eq!(line("listen ="), "listen = \"127.0.0.1:16789\" # default");
    assert_eq!(line("dedup ="), "dedup = true # reel.toml");
    assert!(
        shown.contains("\n[record]\n") && shown.contains("\n[test]\n"),
        "{shown}"
    );
}

#[test]
fn the_readme_example_parses() {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```toml\n")
        .expect("a toml example in README.md")
        + 8;
    let len = readme[start..].find("```").unwrap();
    let f = parse(&readme[start..start + len]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.record.dep.len(), 1);
    assert_eq!(f.redact.patterns.len(), 1);
    assert!(f.test.report.is_some());
}

#[test]
fn a_duplicate_key_is_named() {
    let (path, err) = load_err("[record]\nlisten = \"a\"\nlisten = \"b\"\n");
    assert_eq!(
        err,
        format!("{}:3:1: record.listen: duplicate key", path.display())
    );
    let (path, err) = load_err("[test]\nstrict = true\n\n[test]\n");
    assert_eq!(err, format!("{}:4:2: test: duplicate key", path.display()));
}

#[test]
fn a_target_flag_alone_means_the_files_app_is_not_started() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_in(
        dir.path(),
        "[test]\napp = \"./my-app\"\ntarget = \"http://127.0.0.1:8080\"\n",
    )
    .unwrap();

    let (cmd, settings) = merged(&["test", "--target", "http://127.0.0.1:9"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!(a.target.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(a.app, None, "an app already running at --target");
    assert_eq!(source(&settings, "test.app"), Source::Default);

    // --app keeps the file's target (where that app listens).
    let (cmd, _) = merged(&["test", "--app", "./other"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!(a.app.as_deref(), Some("./other"));
    assert_eq!(a.target.as_deref(), Some("http://127.0.0.1:8080"));

    let (cmd, _) = merged(&["test", "--app", "./other", "--target", "http://x"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!(a.app.as_deref(), Some("./other"));
    assert_eq!(a.target.as_deref(), Some("http://x"));

    let (cmd, _) = merged(&["test"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!(a.app.as_deref(), Some("./my-app"));
}

#[test]
fn freeze_time_and_stability_from_the_file_can_be_switched_off_for_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_in(dir.path(), "[test]\nfreeze_time = true\nstability = 3\n").unwrap();

    let (cmd, _) = merged(&["test"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert!(a.freeze_time);
    assert_eq!(a.stability, Some(3));

    let (cmd, settings) = merged(&["test", "--no-freeze-time", "--stability", "0"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert!(!a.freeze_time);
    assert_eq!(source(&settings, "test.freeze_time"), Source::Flag);
    assert_eq!(a.stability, None, "0 is off");
    assert_eq!(source(&settings, "test.stability"), Source::Flag);

    // The last of the pair given wins, as with --strict / --no-strict.
    let (cmd, _) = merged(&["test", "--no-freeze-time", "--freeze-time"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert!(a.freeze_time);
}

#[test]
fn host_header_and_case_timeout_are_typed_where_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_in(
        dir.path(),
        "[test]\nhost_header = \"api.example.com:8443\"\ncase_timeout = 5\n",
    )
    .unwrap();
    let (cmd, settings) = merged(&["test", "suite"], &cfg);
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!(
        a.host_header,
        HostHeader::Value("api.example.com:8443".into())
    );
    assert_eq!(a.case_timeout, 5);
    assert_eq!(source(&settings, "test.host_header"), Source::File);
    // The flags win; without either, the recorded Host and 30 s.
    let (cmd, _) = merged(
        &[
            "test",
            "suite",
            "--host-header",
            "target",
            "--case-timeout",
            "9",
        ],
        &cfg,
    );
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!((a.host_header, a.case_timeout), (HostHeader::Target, 9));
    let (cmd, _) = merged(&["test", "suite"], &Config::default());
    let Command::Test(a) = cmd else { panic!() };
    assert_eq!((a.host_header, a.case_timeout), (HostHeader::Recorded, 30));

    let (path, err) = load_err("[test]\nhost_header = \"http://x/\"\n");
    assert_eq!(
        err,
        format!(
            "{}:2:15: test.host_header: 'http://x/' is not a host: expected recorded, target or a host such as api.example.com:8443",
            path.display()
        )
    );
    let (path, err) = load_err("[test]\ncase_timeout = 0\n");
    assert_eq!(
        err,
        format!(
            "{}:2:16: test.case_timeout: 0 is not a timeout: give the seconds one case may take, 1 or more",
            path.display()
        )
    );
}

#[test]
fn record_filters_come_from_the_file_and_flags_replace_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_in(
        dir.path(),
        "[record]\ninclude = [\"GET /api/**\", \"/health\"]\nexclude = [\"* /static/**\"]\nsample = 0.25\nsample_seed = 7\n",
    )
    .unwrap();
    let texts = |l: &[reel_core::filter::RoutePattern]| {
        l.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let (cmd, settings) = merged(&["record"], &cfg);
    let Command::Record(a) = cmd else { panic!() };
    assert_eq!(texts(&a.include), ["GET /api/**", "/health"]);
    assert_eq!(texts(&a.exclude), ["* /static/**"]);
    assert_eq!(a.sample.map(|s| s.get()), Some(0.25));
    assert_eq!(a.sample_seed, Some(7));
    for key in [
        "record.include",
        "record.exclude",
        "record.sample",
        "record.sample_seed",
    ] {
        assert_eq!(source(&settings, key), Source::File, "{key}");
    }

    // A list flag replaces the file's list; the rest still comes from the file.
    let (cmd, settings) = merged(
        &["record", "--include", "POST /orders", "--sample", "10%"],
        &cfg,
    );
    let Command::Record(a) = cmd else { panic!() };
    assert_eq!(texts(&a.include), ["POST /orders"]);
    assert_eq!(texts(&a.exclude), ["* /static/**"]);
    assert_eq!(a.sample.map(|s| s.get()), Some(0.1));
    assert_eq!(source(&settings, "record.include"), Source::Flag);
    assert_eq!(source(&settings, "record.sample"), Source::Flag);

    // `reel config` shows them and where they came from.
    let shown = merge::show(&cfg);
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(key))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("no {key} in:\n{shown}"))
    };
    assert_eq!(
        line("include ="),
        "include = [\"GET /api/**\", \"/health\"] # reel.toml"
    );
    assert_eq!(line("sample ="), "sample = 0.25 # reel.toml");
    assert_eq!(line("sample_seed ="), "sample_seed = 7 # reel.toml");

    // A rate may be written as a share, a percentage or 1.
    for rate in ["\"10%\"", "1", "0.5"] {
        load_in(dir.path(), &format!("[record]\nsample = {rate}\n")).unwrap();
    }
}

#[test]
fn bad_filters_in_the_file_name_the_key() {
    let (path, err) = load_err("[record]\ninclude = [\"GET api/x\"]\n");
    assert!(
        err.starts_with(&format!(
            "{}:2:11: record.include: 'GET api/x'",
            path.display()
        )) && err.contains("should start with '/'"),
        "{err}"
    );
    let (path, err) = load_err("[record]\nsample = 0\n");
    assert!(
        err.starts_with(&format!(
            "{}:2:10: record.sample: '0' is not a rate",
            path.display()
        )),
        "{err}"
    );
    let (_, err) = load_err("[record]\nsample = 1.5\n");
    assert!(err.contains("record.sample: '1.5' is not a rate"), "{err}");
}
