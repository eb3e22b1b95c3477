//! Lays reel.toml under the flags: a flag given on the command line (or its
//! environment variable) wins, then the file, then the built-in default.
//! Every choice is kept as a [`Setting`], which `reel config` prints.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _};

use super::{Config, File};
use crate::args::{Cli, Command, GenerateArgs, RecordArgs, SessionsArgs, TestArgs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    File,
    Default,
}

/// One effective value and where it came from (`value` None: not set).
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: String,
    pub value: Option<toml::Value>,
    pub source: Source,
}

/// Fills `command`'s unset flags from `cfg`. `m` holds the command's own
/// matches (which flags were given).
pub fn apply(command: &mut Command, m: &ArgMatches, cfg: &Config) -> Vec<Setting> {
    let mut merge = Merge {
        m,
        settings: Vec::new(),
    };
    let f = &cfg.file;
    match command {
        Command::Record(a) => {
            record(a, &mut merge, f);
            redact(&mut merge, f);
        }
        Command::Generate(a) => {
            generate(a, &mut merge, f);
            redact(&mut merge, f);
        }
        Command::Test(a) => test(a, &mut merge, f),
        Command::Sessions(a) => sessions(a, &mut merge, f),
        Command::Import(a) => m_store(&mut a.store.store, &mut merge, f),
        Command::Openapi(a) => m_store(&mut a.store.store, &mut merge, f),
        Command::Export(a) => {
            m_store(&mut a.store.store, &mut merge, f);
            redact(&mut merge, f);
        }
        _ => {}
    }
    merge.settings
}

fn record(a: &mut RecordArgs, m: &mut Merge, f: &File) {
    let r = &f.record;
    m.take("store", "store", &mut a.store.store, f.store.clone());
    m.take(
        "upstream",
        "record.upstream",
        &mut a.upstream,
        r.upstream.clone().map(Some),
    );
    m.take("listen", "record.listen", &mut a.listen, r.listen.clone());
    let deps = (!r.dep.is_empty()).then(|| r.dep.iter().map(|d| d.0.clone()).collect());
    m.take("deps", "record.dep", &mut a.deps, deps);
    m.take(
        "http_proxy",
        "record.http_proxy",
        &mut a.http_proxy,
        r.http_proxy.clone().map(Some),
    );
    m.take(
        "session",
        "record.session",
        &mut a.session,
        r.session.clone().map(Some),
    );
    m.take(
        "max_body",
        "record.max_body",
        &mut a.max_body,
        r.max_body.map(|s| s.0),
    );
    m.take(
        "max_connections",
        "record.max_connections",
        &mut a.max_connections,
        r.max_connections.map(|n| Some(n.0)),
    );
    m.take(
        "header_timeout",
        "record.header_timeout",
        &mut a.header_timeout,
        r.header_timeout.map(|t| t.0),
    );
    m.switch(
        "redact",
        "no_redact",
        "record.redact",
        &mut a.redact,
        r.redact,
    );
    m.take(
        "app",
        "record.app",
        &mut a.app,
        r.app.as_ref().map(|c| c.argv()),
    );
    let routes = |l: &[super::Route]| -> Option<Vec<reel_core::filter::RoutePattern>> {
        (!l.is_empty()).then(|| l.iter().map(|p| p.0.clone()).collect())
    };
    m.take(
        "include",
        "record.include",
        &mut a.include,
        routes(&r.include),
    );
    m.take(
        "exclude",
        "record.exclude",
        &mut a.exclude,
        routes(&r.exclude),
    );
    m.take(
        "sample",
        "record.sample",
        &mut a.sample,
        r.sample.map(|s| Some(s.0)),
    );
    m.take(
        "sample_seed",
        "record.sample_seed",
        &mut a.sample_seed,
        r.sample_seed.map(Some),
    );
}

/// `[redact]` has no flags; it is listed for the commands that use it.
fn redact(m: &mut Merge, f: &File) {
    let r = &f.redact;
    let list = |v: Vec<String>| (!v.is_empty()).then_some(v);
    let mut names = Vec::new();
    m.take("", "redact.names", &mut names, list(r.names.clone()));
    let mut patterns = Vec::new();
    let given = r.patterns.iter().map(|p| p.0.clone()).collect();
    m.take("", "redact.patterns", &mut patterns, list(given));
}

fn generate(a: &mut GenerateArgs, m: &mut Merge, f: &File) {
    let g = &f.generate;
    m.take("store", "store", &mut a.store.store, f.store.clone());
    // The session reel.toml records is the one to generate from.
    let session = g.session.clone().or_else(|| f.record.session.clone());
    m.take(
        "session",
        "generate.session",
        &mut a.session,
        session.map(Some),
    );
    m.take("out", "generate.out", &mut a.out, g.out.clone().map(Some));
    m.switch("dedup", "no_dedup", "generate.dedup", &mut a.dedup, g.dedup);
    m.take(
        "reset",
        "generate.reset",
        &mut a.reset,
        g.reset.as_ref().map(|c| Some(c.line())),
    );
}

fn test(a: &mut TestArgs, m: &mut Merge, f: &File) {
    let t = &f.test;
    // The suite reel.toml generates is the one to test.
    let dir = t.dir.clone().or_else(|| f.generate.out.clone());
    m.take("dir", "test.dir", &mut a.dir, dir.map(Some));
    // The app and the target are one choice: `--target` alone means an app
    // already running, so the file's app is not started.
    let target_alone = m.given("target").is_some() && m.given("app").is_none();
    let file_app = t.app.as_ref().filter(|_| !target_alone);
    m.take(
        "app",
        "test.app",
        &mut a.app,
        file_app.map(|c| Some(c.line())),
    );
    m.take(
        "target",
        "test.target",
        &mut a.target,
        t.target.clone().map(Some),
    );
    m.take(
        "ready",
        "test.ready",
        &mut a.ready,
        t.ready.clone().map(Some),
    );
    m.take(
        "ready_timeout",
        "test.ready_timeout",
        &mut a.ready_timeout,
        t.ready_timeout,
    );
    m.take(
        "host_header",
        "test.host_header",
        &mut a.host_header,
        t.host_header.as_ref().map(|h| h.0.clone()),
    );
    m.take(
        "case_timeout",
        "test.case_timeout",
        &mut a.case_timeout,
        t.case_timeout.map(|c| c.0),
    );
    m.switch(
        "strict",
        "no_strict",
        "test.strict",
        &mut a.strict,
        t.strict,
    );
    m.take(
        "stability",
        "test.stability",
        &mut a.stability,
        t.stability.map(Some),
    );
    // `--stability 0` switches off the file's runs for once.
    if a.stability == Some(0) {
        a.stability = None;
    }
    m.switch(
        "freeze_time",
        "no_freeze_time",
        "test.freeze_time",
        &mut a.freeze_time,
        t.freeze_time,
    );
    m.switch(
        "recorded_waits",
        "no_recorded_waits",
        "test.recorded_waits",
        &mut a.recorded_waits,
        t.recorded_waits,
    );
    m.take(
        "report",
        "test.report",
        &mut a.report,
        t.report.as_ref().map(|r| Some(r.to_reports())),
    );
    // Without `[test] secrets`, generate keeps them beside the store, and
    // REEL_STORE names the store before reel.toml does.
    let beside_store = f
        .store
        .as_deref()
        .filter(|_| std::env::var_os("REEL_STORE").is_none())
        .map(reel_core::secrets::file_beside);
    let secrets = t.secrets.clone().or(beside_store);
    m.take("secrets", "test.secrets", &mut a.secrets, secrets.map(Some));
}

fn sessions(a: &mut SessionsArgs, m: &mut Merge, f: &File) {
    m_store(&mut a.store.store, m, f);
}

fn m_store(store: &mut std::path::PathBuf, m: &mut Merge, f: &File) {
    m.take("store", "store", store, f.store.clone());
}

struct Merge<'a> {
    m: &'a ArgMatches,
    settings: Vec<Setting>,
}

impl Merge<'_> {
    /// Whether flag `id` was given, on the command line or by its variable.
    fn given(&self, id: &str) -> Option<Source> {
        if id.is_empty() {
            return None;
        }
        match self.m.value_source(id)? {
            ValueSource::CommandLine => Some(Source::Flag),
            ValueSource::EnvVariable => Some(Source::Env),
            _ => None,
        }
    }

    /// A given flag keeps its value; else the file's value replaces the default.
    fn take<T: Show>(&mut self, id: &str, key: &str, slot: &mut T, file: Option<T>) {
        let source = match (self.given(id), file) {
            (Some(s), _) => s,
            (None, Some(v)) => {
                *slot = v;
                Source::File
            }
            (None, None) => Source::Default,
        };
        self.note(key, slot.show(), source);
    }

    /// An on/off flag with its `--no-` form: either one given wins.
    fn switch(&mut self, id: &str, no_id: &str, key: &str, slot: &mut bool, file: Option<bool>) {
        let source = if let Some(s) = self.given(no_id) {
            *slot = false;
            s
        } else if let Some(s) = self.given(id) {
            *slot = true;
            s
        } else if let Some(v) = file {
            *slot = v;
            Source::File
        } else {
            Source::Default
        };
        self.note(key, slot.show(), source);
    }

    fn note(&mut self, key: &str, value: Option<toml::Value>, source: Source) {
        self.settings.push(Setting {
            key: key.to_owned(),
            value,
            source,
        });
    }
}

/// A setting as TOML, for `reel config`.
trait Show {
    fn show(&self) -> Option<toml::Value>;
}

impl Show for String {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.clone()))
    }
}

impl Show for std::path::PathBuf {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.display().to_string()))
    }
}

impl Show for reel_replay::send::HostHeader {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.to_string()))
    }
}

impl Show for reel_core::filter::RoutePattern {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.to_string()))
    }
}

impl Show for reel_core::filter::SampleRate {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::Float(self.get()))
    }
}

impl Show for crate::dep_spec::DepSpec {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.to_string()))
    }
}

impl Show for crate::values::ByteSize {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.to_string()))
    }
}

impl Show for crate::values::Reports {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.to_string()))
    }
}

impl Show for bool {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::Boolean(*self))
    }
}

impl Show for u64 {
    fn show(&self) -> Option<toml::Value> {
        i64::try_from(*self).ok().map(toml::Value::Integer)
    }
}

impl Show for u32 {
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::Integer((*self).into()))
    }
}

impl<T: Show> Show for Vec<T> {
    fn show(&self) -> Option<toml::Value> {
        (!self.is_empty()).then(|| toml::Value::Array(self.iter().filter_map(T::show).collect()))
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> Option<toml::Value> {
        self.as_ref().and_then(T::show)
    }
}

/// What `reel config` prints: the file used, then each command's settings as
/// they stand without flags, each with where it came from.
pub fn show(cfg: &Config) -> String {
    let mut out = match &cfg.path {
        Some(p) => format!("# settings from {} (flags override them)\n", p.display()),
        None => format!(
            "# no {} found here or above (up to the repository root): built-in defaults\n",
            super::FILE_NAME
        ),
    };
    let mut settings: Vec<Setting> = Vec::new();
    for command in ["record", "generate", "test"] {
        let matches = Cli::command()
            .try_get_matches_from(["reel", command])
            .expect("every command runs without arguments");
        let mut cli = Cli::from_arg_matches(&matches).expect("matches from this Cli");
        let (_, sub) = matches.subcommand().expect("a command");
        for s in apply(&mut cli.command, sub, cfg) {
            if !settings.iter().any(|x| x.key == s.key) {
                settings.push(s);
            }
        }
    }
    // Top-level keys first, then one [section] each, as in the file.
    settings.sort_by_key(|s| s.key.contains('.'));
    let mut section = "";
    for s in &settings {
        let (sec, key) = s.key.split_once('.').unwrap_or(("", &s.key));
        if sec != section {
            out.push_str(&format!("\n[{sec}]\n"));
            section = sec;
        }
        let source = match s.source {
            Source::Flag => "flag",
            Source::Env => "environment",
            Source::File => "reel.toml",
            Source::Default => "default",
        };
        let line = match &s.value {
            Some(v) => format!("{key} = {v}"),
            None => format!("# {key} (not set)"),
        };
        out.push_str(&format!("{line:<48} # {source}\n"));
    }
    out
}
