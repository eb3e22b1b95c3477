//! `reel.toml`: the project's settings for each command.
//!
//! The file is the one `--config PATH` (or `REEL_CONFIG`) names, else the
//! `reel.toml` in the current directory or the nearest parent that has one;
//! the search stops at a directory holding `.git` (the project root) or at the
//! filesystem root. Unknown keys and wrong types are errors naming the file,
//! line, column and key. Relative paths in the file are relative to the file's
//! directory. [`merge`] lays the file under the flags: a flag (or its
//! environment variable) wins, then the file, then the built-in default.

pub mod merge;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use reel_core::filter::{RoutePattern, SampleRate};
use reel_core::secrets::SecretRules;
use reel_replay::send::HostHeader;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::dep_spec::DepSpec;
use crate::values::{self, ByteSize, ReportKind};

pub const FILE_NAME: &str = "reel.toml";

/// The settings in effect: a file's, or none.
#[derive(Debug, Default)]
pub struct Config {
    /// The file they came from (`None`: no reel.toml was found).
    pub path: Option<PathBuf>,
    pub file: File,
}

/// The file's contents, with relative paths already made relative to the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Like `--store` / `REEL_STORE`.
    pub store: Option<PathBuf>,
    #[serde(default)]
    pub record: Record,
    #[serde(default)]
    pub redact: Redact,
    #[serde(default)]
    pub generate: Generate,
    #[serde(default)]
    pub test: Test,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub upstream: Option<String>,
    pub listen: Option<String>,
    /// `NAME=PROTO:LISTEN=TARGET` strings or `{ name, protocol, listen, target }`
    /// tables (`[[record.dep]]`), parsed as `--dep` values.
    #[serde(default, alias = "deps")]
    pub dep: Vec<Dep>,
    pub http_proxy: Option<String>,
    pub session: Option<String>,
    pub max_body: Option<Size>,
    /// Like `--max-connections`.
    pub max_connections: Option<MaxConnections>,
    /// Like `--header-timeout`, in seconds.
    pub header_timeout: Option<HeaderTimeout>,
    pub redact: Option<bool>,
    /// Like `-- APP CMD`: an argument list, or one string run by `sh -c`.
    pub app: Option<Command>,
    /// Like `--include` / `--exclude`: `[METHODS] PATH` patterns.
    #[serde(default)]
    pub include: Vec<Route>,
    #[serde(default)]
    pub exclude: Vec<Route>,
    /// Like `--sample`: 0.1 or "10%".
    pub sample: Option<Rate>,
    pub sample_seed: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redact {
    /// Header and field names whose values are secrets (matched whole,
    /// ignoring case; `-` and `_` are the same).
    #[serde(default)]
    pub names: Vec<String>,
    /// Regular expressions: whatever matches them is a secret, wherever it is.
    #[serde(default)]
    pub patterns: Vec<Pattern>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    /// The session to generate from (default: `[record] session`).
    pub session: Option<String>,
    pub out: Option<PathBuf>,
    pub dedup: Option<bool>,
    /// Like `--reset`: run before each app start of `--verify`.
    pub reset: Option<Command>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Test {
    /// The suite folder (default: `[generate] out`).
    pub dir: Option<PathBuf>,
    /// Like `--app`: one string run by `sh`, or an argument list.
    pub app: Option<Command>,
    pub target: Option<String>,
    pub ready: Option<String>,
    /// Seconds.
    pub ready_timeout: Option<u64>,
    /// Like `--host-header`: "recorded", "target" or a host.
    pub host_header: Option<HostHeaderSetting>,
    /// Like `--case-timeout`, in seconds.
    pub case_timeout: Option<CaseTimeout>,
    pub strict: Option<bool>,
    pub stability: Option<u32>,
    pub freeze_time: Option<bool>,
    /// Like `--recorded-waits`.
    pub recorded_waits: Option<bool>,
    pub secrets: Option<PathBuf>,
    pub report: Option<Reports>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reports {
    pub junit: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub json: Option<PathBuf>,
}

/// A `--dep` spec, parsed when the file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep(pub DepSpec);

/// A `--max-body` size: `8M` or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub ByteSize);

/// An `--include` / `--exclude` pattern, checked when the file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route(pub RoutePattern);

/// A `--sample` rate, checked when the file is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub SampleRate);

/// A `--host-header` choice, checked when the file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostHeaderSetting(pub HostHeader);

/// A `--case-timeout` in seconds, 1 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseTimeout(pub u64);

/// A `--max-connections` count, 1 or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxConnections(pub u32);

/// A `--header-timeout` in seconds, 1 to 3600.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderTimeout(pub u64);

/// A secret pattern, compiled once when the file is read.
#[derive(Debug, Clone)]
pub struct Pattern(pub String, pub regex::Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Pattern {}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "a command: a string or an array of strings (program and arguments)"
)]
pub enum Command {
    Shell(String),
    Args(Vec<String>),
}

impl Command {
    /// As an argument list (a string runs through `sh -c`).
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Shell(s) => vec!["sh".into(), "-c".into(), s.clone()],
            Command::Args(a) => a.clone(),
        }
    }

    /// As one line for `sh`.
    pub fn line(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Args(a) => a
                .iter()
                .map(|s| reel_core::generate::shell_quote(s))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

impl<'de> Deserialize<'de> for Dep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            name: String,
            #[serde(default = "http")]
            protocol: String,
            listen: String,
            target: String,
        }
        fn http() -> String {
            "http".into()
        }
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = String;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"NAME=PROTO:LISTEN=TARGET\" or a table with name, protocol, listen and target")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
                Ok(s.to_owned())
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<String, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(format!(
                    "{}={}:{}={}",
                    t.name, t.protocol, t.listen, t.target
                ))
            }
        }
        let spec = d.deserialize_any(Visitor)?;
        crate::dep_spec::parse(&spec)
            .map(Dep)
            .map_err(|e| de::Error::custom(format!("--dep '{spec}': {e}")))
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = String;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a size such as \"8M\", \"512K\" or a number of bytes")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
                Ok(s.to_owned())
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<String, E> {
                Ok(n.to_string())
            }
        }
        let s = d.deserialize_any(Visitor)?;
        ByteSize::parse(&s).map(Size).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Route {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoutePattern::parse(&s)
            .map(Route)
            .map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Rate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a share of reads to keep, more than 0 and at most 1: 0.1 or \"10%\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Rate, E> {
                SampleRate::parse(s).map(Rate).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, r: f64) -> Result<Rate, E> {
                self.visit_str(&r.to_string())
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Rate, E> {
                self.visit_str(&n.to_string())
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for HostHeaderSetting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        HostHeader::parse(&s)
            .map(HostHeaderSetting)
            .map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for CaseTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            0 => Err(de::Error::custom(
                "0 is not a timeout: give the seconds one case may take, 1 or more",
            )),
            n => Ok(CaseTimeout(n)),
        }
    }
}

impl<'de> Deserialize<'de> for MaxConnections {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u32::deserialize(d)? {
            0 => Err(de::Error::custom(
                "0 connections would refuse every client: give 1 or more",
            )),
            n => Ok(MaxConnections(n)),
        }
    }
}

impl<'de> Deserialize<'de> for HeaderTimeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match u64::deserialize(d)? {
            n @ 1..=3600 => Ok(HeaderTimeout(n)),
            n => Err(de::Error::custom(format!(
                "{n} is not a header timeout: give the seconds a request head may take, 1 to 3600"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let regex = SecretRules::compile_pattern(&s).map_err(de::Error::custom)?;
        Ok(Pattern(s, regex))
    }
}

impl Config {
    /// Reads the file `explicit` names, else the one found from the current
    /// directory; no file found is no error.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
        let path = match explicit {
            Some(p) => Some(p.to_owned()),
            None => {
                let cwd = std::env::current_dir().context("finding the current directory")?;
                discover(&cwd)
            }
        };
        let Some(path) = path else {
            tracing::debug!("no {FILE_NAME} found: flags and built-in defaults only");
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the config file {}", path.display()))?;
        let cfg = Config::from_text(path.clone(), &text)?;
        tracing::debug!("using {}", path.display());
        Ok(cfg)
    }

    /// The settings of the file at `path` whose contents are `text`: parsed,
    /// checked and with relative paths made relative to the file's folder.
    pub fn from_text(path: PathBuf, text: &str) -> anyhow::Result<Config> {
        let mut file = parse(text).map_err(|e| anyhow::anyhow!(describe(&path, text, &e)))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        file.resolve(dir);
        Ok(Config {
            path: Some(path),
            file,
        })
    }

    /// The project's extra secret names and patterns (`[redact]`).
    pub fn secret_rules(&self) -> anyhow::Result<SecretRules> {
        let r = &self.file.redact;
        Ok(SecretRules::compiled(
            &r.names,
            r.patterns.iter().map(|p| p.1.clone()).collect(),
        ))
    }
}

/// The `reel.toml` in `start` or its nearest parent, not above a `.git` folder.
pub fn discover(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

pub fn parse(text: &str) -> Result<File, toml::de::Error> {
    toml::from_str(text)
}

impl File {
    /// Makes relative paths relative to `dir`, the file's folder.
    fn resolve(&mut self, dir: &Path) {
        let at = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        let t = &mut self.test;
        let report = t.report.iter_mut().flat_map(|r| {
            [r.junit.as_mut(), r.html.as_mut(), r.json.as_mut()]
                .into_iter()
                .flatten()
        });
        for p in self
            .store
            .iter_mut()
            .chain(self.generate.out.as_mut())
            .chain(t.dir.as_mut())
            .chain(t.secrets.as_mut())
            .chain(report)
        {
            at(p);
        }
    }
}

impl Reports {
    /// As `--report` takes them: junit, html, json, each if set.
    pub fn to_reports(&self) -> values::Reports {
        values::Reports(
            [
                (ReportKind::Junit, &self.junit),
                (ReportKind::Html, &self.html),
                (ReportKind::Json, &self.json),
            ]
            .into_iter()
            .filter_map(|(kind, p)| p.clone().map(|p| (kind, p)))
            .collect(),
        )
    }
}

/// `FILE:LINE:COL: KEY: what is wrong`, from toml's error span.
pub fn describe(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return format!("{}: {message}", path.display());
    };
    let (line, col) = line_col(text, span.start);
    // A file that does not parse has no key to find by position; a
    // duplicate is named from the text (its span is the repeated key).
    let key = key_at(text, span.start).or_else(|| {
        message
            .starts_with("duplicate")
            .then(|| duplicate_key(text, span))
            .flatten()
    });
    match key {
        Some(key) => format!("{}:{line}:{col}: {key}: {message}", path.display()),
        None => format!("{}:{line}:{col}: {message}", path.display()),
    }
}

/// The dotted name of a repeated key or table, whose name `span` covers:
/// `[record]` then `listen`, or `a.b` in full, or a table header's own name.
fn duplicate_key(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let start = text.get(..span.start)?.rfind('\n').map_or(0, |i| i + 1);
    let on_line = text.get(start..span.end)?.trim();
    if let Some(header) = on_line.strip_prefix('[') {
        return Some(header.trim_start_matches('[').trim().to_owned());
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .and_then(|l| l.split(']').next())
        .map(|h| h.trim_start_matches('[').trim());
    Some(match table {
        Some(t) => format!("{t}.{on_line}"),
        None => on_line.to_owned(),
    })
}

/// 1-based line and column (in characters) of byte `pos`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

/// The dotted key (`record.listen`, `record.dep[1].name`) whose name or value
/// is at byte `pos`.
fn key_at(text: &str, pos: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    use toml::Spanned;
    enum Seg {
        Key(String),
        Index(usize),
    }
    fn table(t: &DeTable, pos: usize, path: &mut Vec<Seg>) -> bool {
        for (k, v) in t {
            path.push(Seg::Key(k.get_ref().to_string()));
            if k.span().contains(&pos) || value(v, pos, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    fn value(v: &Spanned<DeValue>, pos: usize, path: &mut Vec<Seg>) -> bool {
        let inner = match v.get_ref() {
            DeValue::Table(t) => table(t, pos, path),
            DeValue::Array(a) => a.iter().enumerate().any(|(i, item)| {
                path.push(Seg::Index(i));
                let found = value(item, pos, path);
                if !found {
                    path.pop();
                }
                found
            }),
            _ => false,
        };
        inner || v.span().contains(&pos)
    }
    let doc = DeTable::parse(text).ok()?;
    let mut path = Vec::new();
    if !table(doc.get_ref(), pos, &mut path) {
        return None;
    }
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if out.is_empty() => out = k,
            Seg::Key(k) => out = format!("{out}.{k}"),
            Seg::Index(i) => out = format!("{out}[{i}]"),
        }
    }
    Some(out)
}
