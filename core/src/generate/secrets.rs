//! Keeping secrets out of generated files.
//!
//! Credentials in headers (Authorization, Proxy-Authorization, Cookie,
//! X-Api-Key, ...) and in body, form and query fields named like password,
//! secret, token or api_key become `${secret:NAME}` placeholders; the recorded
//! values go to `.reel/secrets.toml` (mode 0600, git-ignored) for the replayer.
//! In expected responses such fields become `{"$reel": "string"}` matchers, so
//! a fresh app's fresh token passes. A last pass replaces any recorded secret
//! value still left anywhere in a file's text.
//!
//! [`SecretRules`] adds a project's own names and value patterns (reel.toml's
//! `[redact]`) to the built-in ones, for generated files and `record --redact`.
//!
//! Postgres values have no field names: in SQL text, parameters, rows, COPY
//! data and error text, parts matching a pattern and secret values already
//! found (in HTTP traffic) become placeholders, which the mock fills back.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use regex::Regex;
use serde_json::{json, Value};

use crate::matcher::MARKER;
use crate::suite::load::SuiteError;
use crate::suite::{BodySpec, PgMock, RequestSpec, ResponseSpec};
use crate::wire::postgres::{BackendMessage, FrontendMessage};

/// Headers whose whole value (after an auth scheme) is a credential.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "x-access-token",
];

/// A field is secret when its normalised name contains one of these.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
];

/// Marks a forgotten value: only its hash is kept, to recognise it again.
const HASHED: &str = "\u{0}fnv:";

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

pub fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    SECRET_WORDS.iter().any(|w| n.contains(w))
}

pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_HEADERS.contains(&n.as_str()) || is_secret_field(&n)
}

/// A project's own secret names and value patterns, on top of the built-in ones.
#[derive(Debug, Clone, Default)]
pub struct SecretRules {
    /// Header and field names, normalised as [`normalise`] does; matched whole.
    names: Vec<String>,
    /// A value (or the part of it) matching one of these is a secret wherever it is.
    patterns: Vec<Regex>,
}

#[derive(Debug, thiserror::Error)]
#[error("secret pattern '{pattern}' is not a valid regular expression: {reason}")]
pub struct PatternError {
    pub pattern: String,
    /// regex's own one-line reason (its message also draws the pattern).
    pub reason: String,
}

/// `X-Session` and `x_session` name the same thing.
fn normalise(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

impl SecretRules {
    pub fn new(
        names: impl IntoIterator<Item = impl AsRef<str>>,
        patterns: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Self, PatternError> {
        let patterns = patterns
            .into_iter()
            .map(|p| {
                Regex::new(p.as_ref()).map_err(|e| PatternError {
                    pattern: p.as_ref().to_owned(),
                    reason: e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or_default()
                        .trim_start_matches("error: ")
                        .to_owned(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(SecretRules {
            names: names.into_iter().map(|n| normalise(n.as_ref())).collect(),
            patterns,
        })
    }

    /// Whether any value pattern is set (names alone never apply to
    /// positional values such as SQL parameters).
    pub fn has_patterns(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// Checks a pattern the way [`SecretRules::new`] will use it.
    pub fn check_pattern(pattern: &str) -> Result<(), PatternError> {
        Self::new([] as [&str; 0], [pattern]).map(|_| ())
    }

    fn is_extra_name(&self, name: &str) -> bool {
        !self.names.is_empty() && self.names.contains(&normalise(name))
    }

    pub fn is_secret_field(&self, name: &str) -> bool {
        is_secret_field(name) || self.is_extra_name(name)
    }

    pub fn is_secret_header(&self, name: &str) -> bool {
        is_secret_header(name) || self.is_extra_name(name)
    }

    /// The parts of `value` matching a pattern: non-empty, in order, not overlapping.
    fn matches(&self, value: &str) -> Vec<Range<usize>> {
        let mut found: Vec<Range<usize>> = self
            .patterns
            .iter()
            .flat_map(|p| p.find_iter(value).map(|m| m.range()))
            .filter(|r| !r.is_empty())
            .collect();
        // Earliest first, the longer of two that start together.
        found.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let mut out: Vec<Range<usize>> = Vec::new();
        for r in found {
            if out.last().is_none_or(|last| r.start >= last.end) {
                out.push(r);
            }
        }
        out
    }
}

/// The secrets found so far: placeholder names and their recorded values.
///
/// A body can carry thousands of secrets (a list of tokens), so every lookup
/// is by key: the name of a value, and the next free suffix of a name.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    by_name: BTreeMap<String, String>,
    /// The inverse of `by_name`: the name of each recorded value (or hash).
    by_value: HashMap<String, String>,
    /// For each base name, the lowest suffix that may still be free.
    next_suffix: HashMap<String, u32>,
    /// How many values are held as they are, not as hashes.
    plain: usize,
    rules: SecretRules,
}

impl Secrets {
    /// Finds the built-in secrets and those `rules` describe.
    pub fn with_rules(rules: SecretRules) -> Self {
        Secrets {
            rules,
            ..Secrets::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.by_name
    }

    /// Keeps the names but drops the values (redaction at record time must not
    /// hold secrets): a value seen again is then matched by its hash.
    pub fn forget_values(&mut self) {
        if self.plain == 0 {
            return;
        }
        for (name, v) in self.by_name.iter_mut() {
            if !v.starts_with(HASHED) {
                let hashed = format!("{}{:016x}", HASHED, fnv(v));
                self.by_value.remove(v.as_str());
                self.by_value.insert(hashed.clone(), name.clone());
                *v = hashed;
            }
        }
        self.plain = 0;
    }

    /// The placeholder for `value`, named after `base`; the same value always
    /// gets the same name, another value under the same base gets `_2`, `_3`.
    pub fn placeholder(&mut self, base: &str, value: &str) -> String {
        let hashed = format!("{}{:016x}", HASHED, fnv(value));
        if let Some(name) = self
            .by_value
            .get(value)
            .or_else(|| self.by_value.get(&hashed))
        {
            return format!("${{secret:{name}}}");
        }
        // Names become REEL_SECRET_<NAME> variables at replay: BASE, then
        // BASE_2, BASE_3, ..., the first that is free. Names are never taken
        // back, so the search goes on from where the last one ended.
        let base = crate::env::upper_snake(base);
        let mut n = self.next_suffix.get(&base).copied().unwrap_or(1);
        let suffixed = |n: u32| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            }
        };
        let mut name = suffixed(n);
        while self.by_name.contains_key(&name) {
            n += 1;
            name = suffixed(n);
        }
        self.next_suffix.insert(base.clone(), n + 1);
        self.by_name.insert(name.clone(), value.to_owned());
        self.by_value.insert(value.to_owned(), name.clone());
        if !value.starts_with(HASHED) {
            self.plain += 1;
        }
        format!("${{secret:{name}}}")
    }

    /// Replaces credentials in a request the app receives or sends.
    pub fn scrub_request(&mut self, req: &mut RequestSpec) {
        for (name, value) in &mut req.headers {
            if value.is_empty() {
                continue;
            }
            *value = if self.rules.is_secret_header(name) {
                self.scrub_header_value(name, value)
            } else {
                self.scrub_matches(name, value)
            };
        }
        req.target = self.scrub_target(&req.target);
        let form = req.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("content-type")
                && v.starts_with("application/x-www-form-urlencoded")
        });
        match &mut req.body {
            Some(BodySpec::Json(v)) => self.scrub_json(v, "secret", false),
            Some(BodySpec::Text(t)) if form => *t = self.scrub_pairs(t, '&'),
            Some(BodySpec::Text(t)) => *t = self.scrub_matches("secret", t),
            _ => {}
        }
    }

    /// Replaces credentials in a response. An expected response (what a case
    /// checks) gets matchers; a mock response (what the app is served) gets
    /// placeholders, so the app receives a working value.
    pub fn scrub_response(&mut self, resp: &mut ResponseSpec, expected: bool) {
        for (name, value) in &mut resp.headers {
            let n = name.to_ascii_lowercase();
            if value.is_empty() {
                continue;
            }
            *value = if n == "set-cookie" {
                self.scrub_set_cookie(value)
            } else if self.rules.is_secret_header(&n) {
                self.scrub_header_value(name, value)
            } else {
                self.scrub_matches(name, value)
            };
        }
        match &mut resp.body {
            Some(BodySpec::Json(v)) => self.scrub_json(v, "secret", expected),
            Some(BodySpec::Text(t)) => *t = self.scrub_matches("secret", t),
            _ => {}
        }
    }

    /// `value` with every part matching a secret pattern replaced by a
    /// placeholder named after `base`.
    fn scrub_matches(&mut self, base: &str, value: &str) -> String {
        if crate::template::has_placeholder(value) {
            return value.to_owned();
        }
        let found = self.rules.matches(value);
        if found.is_empty() {
            return value.to_owned();
        }
        let mut out = String::with_capacity(value.len());
        let mut last = 0;
        for r in found {
            out.push_str(&value[last..r.start]);
            out.push_str(&self.placeholder(base, &value[r.clone()]));
            last = r.end;
        }
        out.push_str(&value[last..]);
        out
    }

    /// `value` with every part that matches a secret pattern or is a secret
    /// value found so far (4 characters or more) replaced by a placeholder
    /// named after `base`: for values with no field name to go by, such as
    /// SQL text, query parameters and rows.
    pub fn scrub_value(&mut self, base: &str, value: &str) -> String {
        self.scrubbed_value(base, value)
            .unwrap_or_else(|| value.to_owned())
    }

    /// [`Secrets::scrub_value`], `None` when nothing is replaced.
    fn scrubbed_value(&mut self, base: &str, value: &str) -> Option<String> {
        if crate::template::has_placeholder(value) {
            return None;
        }
        let mut found = self.rules.matches(value);
        // At record time every known value is a hash: nothing to look for.
        if self.plain > 0 {
            for known in self.by_name.values() {
                if known.len() >= 4 && !known.starts_with(HASHED) && !is_flag(known) {
                    found.extend(
                        value
                            .match_indices(known.as_str())
                            .map(|(i, k)| i..i + k.len()),
                    );
                }
            }
        }
        if found.is_empty() {
            // At record time known values are kept only as hashes: a value
            // that is a whole known secret (a password bound as a parameter)
            // is still recognised.
            if value.len() >= 4 {
                let hashed = format!("{}{:016x}", HASHED, fnv(value));
                if let Some(name) = self.by_value.get(&hashed) {
                    return Some(format!("${{secret:{name}}}"));
                }
            }
            return None;
        }
        // Earliest first, the longer of two that start together.
        found.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let mut out = String::with_capacity(value.len());
        let mut last = 0;
        for r in found {
            if r.start < last {
                continue;
            }
            out.push_str(&value[last..r.start]);
            out.push_str(&self.placeholder(base, &value[r.clone()]));
            last = r.end;
        }
        out.push_str(&value[last..]);
        Some(out)
    }

    /// Replaces secrets in a Postgres mock line's SQL, parameters, rows, COPY
    /// data and error text (see [`Secrets::scrub_value`]); the mock fills the
    /// placeholders back at replay, so the line still matches.
    pub fn scrub_pg(&mut self, m: &mut PgMock) {
        m.rewrite_texts(&mut |base, text| self.scrubbed_value(base, text));
    }

    /// [`Secrets::scrub_pg`] for recorded messages; whether the requests and
    /// the responses changed.
    pub fn scrub_pg_messages(
        &mut self,
        requests: &mut [FrontendMessage],
        responses: &mut [BackendMessage],
    ) -> (bool, bool) {
        crate::suite::postgres::rewrite_texts(requests, responses, &mut |base, text| {
            self.scrubbed_value(base, text)
        })
    }

    /// Whether the whole of `value` matches a secret pattern.
    fn wholly_secret(&self, value: &str) -> bool {
        matches!(self.rules.matches(value).as_slice(), [r] if *r == (0..value.len()))
    }

    fn scrub_header_value(&mut self, name: &str, value: &str) -> String {
        // A reference to an earlier answer (a login's token) is no recorded secret.
        if crate::template::has_placeholder(value) {
            return value.to_owned();
        }
        let n = name.to_ascii_lowercase();
        // Keep the scheme of `Bearer xyz` / `Basic xyz` readable.
        if n.ends_with("authorization") {
            if let Some((scheme, cred)) = value.split_once(' ') {
                return format!("{scheme} {}", self.placeholder(name, cred.trim()));
            }
        }
        if n == "cookie" {
            return self.scrub_pairs_named(value, "; ", "COOKIE");
        }
        self.placeholder(name, value)
    }

    fn scrub_set_cookie(&mut self, value: &str) -> String {
        if crate::template::has_placeholder(value) {
            return value.to_owned();
        }
        let (pair, attrs) = value.split_once(';').unwrap_or((value, ""));
        let Some((k, v)) = pair.split_once('=') else {
            return value.to_owned();
        };
        let ph = self.placeholder(&format!("COOKIE_{}", k.trim()), v.trim());
        if attrs.is_empty() {
            format!("{k}={ph}")
        } else {
            format!("{k}={ph};{attrs}")
        }
    }

    fn scrub_target(&mut self, target: &str) -> String {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let path = path
            .split('/')
            .map(|seg| self.scrub_matches("secret", seg))
            .collect::<Vec<_>>()
            .join("/");
        match query {
            Some(q) => format!("{path}?{}", self.scrub_pairs(q, '&')),
            None => path,
        }
    }

    /// `a=1&password=x` with secret-named values replaced.
    fn scrub_pairs(&mut self, s: &str, sep: char) -> String {
        s.split(sep)
            .map(|pair| match pair.split_once('=') {
                Some((k, v))
                    if self.rules.is_secret_field(k)
                        && !v.is_empty()
                        && !crate::template::has_placeholder(v) =>
                {
                    format!("{k}={}", self.placeholder(k, v))
                }
                Some((k, v)) => format!("{k}={}", self.scrub_matches(k, v)),
                None => self.scrub_matches("secret", pair),
            })
            .collect::<Vec<_>>()
            .join(&sep.to_string())
    }

    /// Every cookie value is a credential: `a=1; b=2` → placeholders.
    fn scrub_pairs_named(&mut self, s: &str, sep: &str, base: &str) -> String {
        s.split(sep)
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if !v.is_empty() && !crate::template::has_placeholder(v) => {
                    format!("{k}={}", self.placeholder(&format!("{base}_{k}"), v))
                }
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(sep)
    }

    /// The placeholder for a number or boolean `v` (see
    /// [`crate::template::SecretType`]): its JSON text is kept as the secret,
    /// `${secret:NAME:number}` stands in, and fills back as a number.
    fn typed_placeholder(&mut self, base: &str, v: &Value) -> Option<String> {
        let ty = crate::template::SecretType::of(v)?;
        let ph = self.placeholder(base, &v.to_string());
        let name = ph.strip_suffix('}')?;
        Some(format!("{name}:{}}}", ty.suffix()))
    }

    /// `key` is the field `v` is the value of (for names of placeholders).
    /// `expected` (a response a case checks): secrets become matchers of
    /// their type; elsewhere placeholders.
    fn scrub_json(&mut self, v: &mut Value, key: &str, expected: bool) {
        let by_type = |v: &Value| {
            let kind = match v {
                Value::Number(_) => "number",
                Value::Bool(_) => "boolean",
                _ => "string",
            };
            json!({ MARKER: kind })
        };
        match v {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    if !self.rules.is_secret_field(k) {
                        self.scrub_json(child, k, expected);
                        continue;
                    }
                    match child {
                        // An expected secret is checked by type, even one that
                        // was redacted at record time; elsewhere a placeholder
                        // (or one already there) stands in.
                        Value::String(s) if !s.is_empty() => {
                            *child = match expected {
                                true => by_type(child),
                                false if crate::template::has_placeholder(s) => child.clone(),
                                false => Value::String(self.placeholder(k, &s.clone())),
                            };
                        }
                        // A numeric PIN or a flag: the same, typed.
                        Value::Number(_) | Value::Bool(_) if expected => *child = by_type(child),
                        Value::Number(_) | Value::Bool(_) => {
                            if let Some(ph) = self.typed_placeholder(k, child) {
                                *child = Value::String(ph);
                            }
                        }
                        _ => self.scrub_json(child, k, expected),
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|c| self.scrub_json(c, key, expected)),
            // A value that is a secret by its look alone: checked by type when
            // expected, like a secret-named field; a secret inside a longer
            // text becomes a placeholder in place.
            Value::String(s) => match expected {
                true if self.wholly_secret(s) => *v = by_type(v),
                _ => *s = self.scrub_matches(key, s),
            },
            // A number cannot hold a placeholder in part: any match in its
            // text makes the whole number the secret.
            Value::Number(n) if !self.rules.matches(&n.to_string()).is_empty() => {
                if expected {
                    *v = by_type(v);
                } else if let Some(ph) = self.typed_placeholder(key, v) {
                    *v = Value::String(ph);
                }
            }
            _ => {}
        }
    }

    /// The safety net: any recorded secret value (of 4 characters or more)
    /// still in `text` is replaced by its placeholder.
    pub fn scrub_text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        let mut by_len: Vec<(&String, &String)> = self.by_name.iter().collect();
        by_len.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        for (name, value) in by_len {
            if value.len() < 4 || is_flag(value) {
                continue;
            }
            if is_number_text(value) {
                out = replace_number(&out, value, name);
                continue;
            }
            let escaped = serde_json::to_string(value).expect("strings serialize");
            let escaped = &escaped[1..escaped.len() - 1];
            out = out.replace(escaped, &format!("${{secret:{name}}}"));
        }
        out
    }

    /// Merges these secrets into the TOML file at `path` (mode 0600), keeping
    /// values already there, and git-ignores its folder's contents.
    pub fn save(&self, path: &Path) -> Result<(), SuiteError> {
        use std::os::unix::fs::OpenOptionsExt;
        let werr = |p: &Path| {
            let p = p.to_owned();
            move |source| SuiteError::Write { path: p, source }
        };
        let mut all = load_file(path)?;
        for (k, v) in &self.by_name {
            all.insert(k.clone(), v.clone());
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(werr(dir))?;
            let ignore = dir.join(".gitignore");
            if !ignore.exists() {
                std::fs::write(&ignore, "# reel's store and secrets stay out of git\n*\n")
                    .map_err(werr(&ignore))?;
            }
        }
        let mut text = String::from(
            "# Secret values recorded by reel, used by `reel test` to fill ${secret:NAME}.\n# Keep this file out of git. REEL_SECRET_<NAME> in the environment wins.\n[secrets]\n",
        );
        for (k, v) in &all {
            text.push_str(&format!("{k} = {}\n", toml_string(v)));
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(werr(path))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(werr(path))?;
        // A file that existed keeps its old mode through open(); tighten it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(werr(path))?;
        Ok(())
    }
}

/// A boolean secret's text: far too common to look for anywhere else.
fn is_flag(value: &str) -> bool {
    value == "true" || value == "false"
}

/// Whether `value` is the text of a JSON number (a numeric secret's).
fn is_number_text(value: &str) -> bool {
    matches!(serde_json::from_str::<Value>(value), Ok(Value::Number(_)))
}

/// `text` with the numeric secret `value` replaced where it stands alone
/// (not part of a longer number): inside a JSON string by its placeholder,
/// as a bare JSON number by the placeholder as a typed string, so the file
/// stays valid JSON and the value fills back as a number. A JSON string never
/// spans lines, so whether a place is inside one is read from its line.
fn replace_number(text: &str, value: &str, name: &str) -> String {
    let part_of_number = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '.');
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(value) {
        let end = i + value.len();
        if part_of_number(text[..i].chars().next_back())
            || part_of_number(text[end..].chars().next())
        {
            continue;
        }
        out.push_str(&text[last..i]);
        let line = &text[text[..i].rfind('\n').map_or(0, |n| n + 1)..i];
        if in_json_string(line) {
            out.push_str(&format!("${{secret:{name}}}"));
        } else {
            out.push_str(&format!("\"${{secret:{name}:number}}\""));
        }
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Whether the end of `line` is inside a JSON string.
fn in_json_string(line: &str) -> bool {
    let mut inside = false;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if inside => escaped = true,
            '"' => inside = !inside,
            _ => {}
        }
    }
    inside
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Reads `[secrets]` from a secrets file; a missing file is empty.
pub fn load_file(path: &Path) -> Result<BTreeMap<String, String>, SuiteError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(SuiteError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| SuiteError::Invalid {
            path: path.to_owned(),
            what: e.to_string(),
        })?;
    let mut out = BTreeMap::new();
    if let Some(toml::Value::Table(t)) = doc.get("secrets") {
        for (k, v) in t {
            if let toml::Value::String(s) = v {
                out.insert(k.clone(), s.clone());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)], target: &str, body: Option<BodySpec>) -> RequestSpec {
        RequestSpec {
            method: "POST".into(),
            target: target.into(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            body,
        }
    }

    #[test]
    fn thousands_of_secrets_under_one_name_are_numbered_in_order_and_kept_apart() {
        let mut s = Secrets::default();
        let tokens: Vec<Value> = (1..=5000)
            .map(|i| json!({ "id": i, "token": format!("tok-{i:05}") }))
            .collect();
        let mut body = json!({ "password": "hunter22", "items": tokens });
        s.scrub_json(&mut body, "secret", false);
        assert_eq!(body["password"], "${secret:PASSWORD}");
        assert_eq!(body["items"][0]["token"], "${secret:TOKEN}");
        assert_eq!(body["items"][1]["token"], "${secret:TOKEN_2}");
        assert_eq!(body["items"][4999]["token"], "${secret:TOKEN_5000}");
        assert_eq!(s.values().len(), 5001);
        assert_eq!(s.values()["TOKEN_1234"], "tok-01234");

        // Record time keeps hashes only; a value seen again keeps its name,
        // a new one takes the next free number, also after a name another
        // base happened to take.
        s.forget_values();
        assert!(s.values().values().all(|v| v.starts_with(HASHED)));
        assert_eq!(s.placeholder("token", "tok-00007"), "${secret:TOKEN_7}");
        assert_eq!(s.placeholder("token_5001", "other"), "${secret:TOKEN_5001}");
        assert_eq!(s.placeholder("token", "tok-new"), "${secret:TOKEN_5002}");
        assert_eq!(s.scrub_value("p1", "hunter22"), "${secret:PASSWORD}");
        assert_eq!(s.scrub_value("p1", "not a secret"), "not a secret");
    }

    #[test]
    fn credentials_become_placeholders_with_the_scheme_kept() {
        let mut s = Secrets::default();
        let mut r = req(
            &[
                ("Authorization", "Bearer abc.def"),
                ("X-Api-Key", "k-123"),
                ("Accept", "*/*"),
            ],
            "/login?api_key=zzz999&page=2",
            Some(BodySpec::Json(
                json!({"user": "ann", "password": "hunter22", "nested": {"refresh_token": "rt-1"}}),
            )),
        );
        s.scrub_request(&mut r);
        assert_eq!(r.headers[0].1, "Bearer ${secret:AUTHORIZATION}");
        assert_eq!(r.headers[1].1, "${secret:X_API_KEY}");
        assert_eq!(r.headers[2].1, "*/*");
        assert_eq!(r.target, "/login?api_key=${secret:API_KEY}&page=2");
        assert_eq!(
            r.body,
            Some(BodySpec::Json(
                json!({"user": "ann", "password": "${secret:PASSWORD}", "nested": {"refresh_token": "${secret:REFRESH_TOKEN}"}})
            ))
        );
        assert_eq!(s.values()["PASSWORD"], "hunter22");
        assert_eq!(s.values()["AUTHORIZATION"], "abc.def");
    }

    #[test]
    fn expected_tokens_become_matchers_and_text_is_scrubbed() {
        let mut s = Secrets::default();
        let mut r = req(
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "/f",
            Some(BodySpec::Text("user=a&passwd=pw1234".into())),
        );
        s.scrub_request(&mut r);
        assert_eq!(
            r.body,
            Some(BodySpec::Text("user=a&passwd=${secret:PASSWD}".into()))
        );
        let mut resp = ResponseSpec {
            status: 200,
            headers: vec![("Set-Cookie".into(), "sid=xyz987; Path=/; HttpOnly".into())],
            body: Some(BodySpec::Json(json!({"access_token": "tok-1"}))),
        };
        s.scrub_response(&mut resp, true);
        assert_eq!(
            resp.headers[0].1,
            "sid=${secret:COOKIE_SID}; Path=/; HttpOnly"
        );
        assert_eq!(
            resp.body,
            Some(BodySpec::Json(json!({"access_token": {"$reel": "string"}})))
        );
        assert_eq!(
            s.scrub_text("echo: pw1234 and xyz987"),
            "echo: ${secret:PASSWD} and ${secret:COOKIE_SID}"
        );
    }

    #[test]
    fn references_to_earlier_answers_are_not_taken_for_secrets() {
        let mut s = Secrets::default();
        let mut r = req(
            &[("Cookie", "sid=${0001.response.body.sid}")],
            "/x?token=${0001.response.body.token}",
            None,
        );
        s.scrub_request(&mut r);
        assert_eq!(r.target, "/x?token=${0001.response.body.token}");
        assert_eq!(r.headers[0].1, "sid=${0001.response.body.sid}");
        assert!(s.is_empty());
    }

    #[test]
    fn extra_names_and_patterns_are_secrets_wherever_they_appear() {
        let rules = SecretRules::new(
            ["X-Session", "pin"],
            ["^sk_live_[A-Za-z0-9]+$", "acct-[0-9]{6}"],
        )
        .unwrap();
        let mut s = Secrets::with_rules(rules);
        let mut r = req(
            &[
                ("x-session", "s-77"),
                ("X-Note", "sk_live_AAA111"),
                ("Accept", "*/*"),
            ],
            "/keys/sk_live_PATH9?pin=1234&ref=acct-123456&page=2",
            Some(BodySpec::Json(json!({
                "pin": "9876",
                "spin": "not a secret",
                "key": "sk_live_BBB222",
                "memo": "pay acct-654321 today",
                "tags": ["sk_live_CCC333", "plain"],
            }))),
        );
        s.scrub_request(&mut r);
        assert_eq!(r.headers[0].1, "${secret:X_SESSION}");
        assert_eq!(r.headers[1].1, "${secret:X_NOTE}");
        assert_eq!(r.headers[2].1, "*/*");
        assert_eq!(
            r.target,
            "/keys/${secret:SECRET}?pin=${secret:PIN}&ref=${secret:REF}&page=2"
        );
        assert_eq!(
            r.body,
            Some(BodySpec::Json(json!({
                "pin": "${secret:PIN_2}",
                "spin": "not a secret",
                "key": "${secret:KEY}",
                "memo": "pay ${secret:MEMO} today",
                "tags": ["${secret:TAGS}", "plain"],
            })))
        );
        assert_eq!(s.values()["MEMO"], "acct-654321");
        assert_eq!(s.values()["PIN_2"], "9876");

        // Expected: a wholly secret value is checked by type; a secret inside
        // a text is a placeholder the replayer fills.
        let mut resp = ResponseSpec {
            status: 200,
            headers: vec![("X-Session".into(), "s-88".into())],
            body: Some(BodySpec::Json(
                json!({"key": "sk_live_DDD444", "pin": "1111", "memo": "acct-000001 ok"}),
            )),
        };
        s.scrub_response(&mut resp, true);
        assert_eq!(resp.headers[0].1, "${secret:X_SESSION_2}");
        assert_eq!(
            resp.body,
            Some(BodySpec::Json(json!({
                "key": {"$reel": "string"},
                "pin": {"$reel": "string"},
                "memo": "${secret:MEMO_2} ok",
            })))
        );
        let mut text = ResponseSpec {
            status: 200,
            headers: vec![],
            body: Some(BodySpec::Text("account acct-123456".into())),
        };
        s.scrub_response(&mut text, false);
        assert_eq!(
            text.body,
            Some(BodySpec::Text("account ${secret:REF}".into()))
        );
    }

    #[test]
    fn numbers_and_booleans_under_secret_names_or_patterns_are_secrets_of_their_type() {
        let rules = SecretRules::new(["pin", "opt_in"], ["^4[0-9]{15}$"]).unwrap();
        let mut s = Secrets::with_rules(rules);
        let mut r = req(
            &[],
            "/pay",
            Some(BodySpec::Json(json!({
                "pin": 987654,
                "opt_in": true,
                "card": {"number": 4111111111111111u64},
                "amount": 987654,
                "id": 19876540,
            }))),
        );
        s.scrub_request(&mut r);
        let Some(BodySpec::Json(body)) = &r.body else {
            panic!("{r:?}")
        };
        // The same value elsewhere is left to the safety net, which keeps
        // the file valid JSON and leaves longer numbers alone.
        assert_eq!(
            body,
            &json!({
                "pin": "${secret:PIN:number}",
                "opt_in": "${secret:OPT_IN:boolean}",
                "card": {"number": "${secret:NUMBER:number}"},
                "amount": 987654,
                "id": 19876540,
            })
        );
        assert_eq!(s.values()["PIN"], "987654");
        assert_eq!(s.values()["OPT_IN"], "true");
        assert_eq!(s.values()["NUMBER"], "4111111111111111");
        let text = s.scrub_text(&serde_json::to_string_pretty(body).unwrap());
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["amount"], "${secret:PIN:number}", "{text}");
        assert_eq!(back["id"], 19876540, "{text}");
        assert_eq!(back["opt_in"], "${secret:OPT_IN:boolean}", "{text}");
        assert_eq!(
            s.scrub_text("\"note\": \"pin 987654, true\""),
            "\"note\": \"pin ${secret:PIN}, true\""
        );

        // Placeholders fill back as the recorded JSON type.
        struct Kept(BTreeMap<String, String>);
        impl crate::template::Resolver for Kept {
            fn secret(&self, name: &str) -> Result<String, String> {
                self.0.get(name).cloned().ok_or_else(|| name.to_owned())
            }
            fn response(&self, _: &str, _: &str) -> Result<Value, String> {
                Err("none".into())
            }
        }
        let filled = crate::template::resolve_json(body, &Kept(s.values().clone())).unwrap();
        assert_eq!(filled["pin"], 987654);
        assert_eq!(filled["opt_in"], true);
        assert_eq!(filled["card"]["number"], 4111111111111111u64);

        // Expected: checked by type, like a string secret.
        let mut resp = ResponseSpec {
            status: 200,
            headers: vec![],
            body: Some(BodySpec::Json(
                json!({"pin": 1111, "opt_in": false, "number": 4000000000000002u64, "count": 3}),
            )),
        };
        s.scrub_response(&mut resp, true);
        assert_eq!(
            resp.body,
            Some(BodySpec::Json(json!({
                "pin": {"$reel": "number"},
                "opt_in": {"$reel": "boolean"},
                "number": {"$reel": "number"},
                "count": 3,
            })))
        );
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let err = SecretRules::check_pattern("sk_(live").unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret pattern 'sk_(live' is not a valid regular expression: unclosed group"
        );
    }

    #[test]
    fn the_same_value_keeps_one_name_and_files_merge() {
        let mut s = Secrets::default();
        assert_eq!(s.placeholder("token", "a"), "${secret:TOKEN}");
        assert_eq!(s.placeholder("other", "a"), "${secret:TOKEN}");
        assert_eq!(s.placeholder("token", "b"), "${secret:TOKEN_2}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".reel/secrets.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "[secrets]\nOLD = \"kept\"\n").unwrap();
        s.save(&path).unwrap();
        let back = load_file(&path).unwrap();
        assert_eq!(back["OLD"], "kept");
        assert_eq!(back["TOKEN_2"], "b");
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        assert!(dir.path().join(".reel/.gitignore").exists());
    }
}
