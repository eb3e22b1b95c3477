//! Keeping secrets out of generated files.
//!
//! A secret is a *value*. Credentials in headers (Authorization,
//! Proxy-Authorization, Cookie, X-Api-Key, ...) and in body, form and query
//! fields whose name has a secret word in it (password, secret, token,
//! api key, ...; matched as words, so `Access-Control-Allow-Credentials` or
//! `token_type` are not) become `${secret:NAME}` placeholders; the recorded
//! values go to `.reel/secrets.toml` (mode 0600, git-ignored) for the
//! replayer. Empty, boolean and tiny values (fewer than 4 characters) are
//! never secrets by a name alone, nor are cookies whose name says nothing of a
//! session unless their value looks like one. In expected responses such
//! fields become `{"$reel": "string"}` matchers, so a fresh app's fresh token
//! passes.
//!
//! Every value once found to be a secret is then replaced wherever else it
//! stands *as a value*: a whole JSON string or number, header value, query,
//! form or cookie value, SQL parameter or row value, or the inside of an SQL
//! string literal; and, when it is distinctive (long and varied, see
//! [`distinctive`]), wherever it stands as a whole token inside a longer text
//! (`"Bearer tok_…"`, a URL echoed back). Never in keys, header names, SQL
//! identifiers or keywords, or path templates: a password that is the word
//! `password` leaves the field `password` and the column `hashed_password`
//! alone. An expected value that is wholly a secret the client sent is a
//! placeholder (the app echoes what it is sent); one the server made is
//! checked by type.
//!
//! [`SecretRules`] adds a project's own names and value patterns (reel.toml's
//! `[redact]`) to the built-in ones, for generated files and `record --redact`.
//! Patterns apply anywhere a value can be, SQL text included.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::{json, Value};

use crate::matcher::MARKER;
use crate::suite::load::SuiteError;
use crate::suite::{BodySpec, PgMock, RedisMock, RequestSpec, ResponseSpec};
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

/// Header families that name credentials without carrying any: CORS
/// (`Access-Control-Allow-Credentials: true`), fetch metadata and websocket
/// handshakes (`Sec-WebSocket-Key` is a nonce).
const NOT_SECRET_HEADER_PREFIXES: &[&str] = &["access-control-", "sec-"];

/// A name is secret when one of its words is, or ends in, one of these.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "credentials",
    "apikey",
    "accesskey",
    "privatekey",
];

/// Two words in a row that name a secret: `api_key`, `X-Access-Key`.
const SECRET_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("access", "key"),
    ("private", "key"),
    ("secret", "key"),
    ("client", "secret"),
];

/// A last word that makes the name about a secret, not the secret itself:
/// `token_type: "bearer"`, `password_hint`, `token_expires_at`.
const NOT_SECRET_TAILS: &[&str] = &[
    "type",
    "types",
    "kind",
    "expires",
    "expiry",
    "expiration",
    "ttl",
    "lifetime",
    "length",
    "len",
    "count",
    "size",
    "hint",
    "policy",
    "url",
    "uri",
    "endpoint",
    "enabled",
    "required",
    "strength",
    "min",
    "max",
    "format",
    "at",
    "date",
    "time",
    "version",
    "algorithm",
    "alg",
    "scheme",
];

/// Words in a cookie's name that say it holds a session or a credential.
const SESSION_COOKIE_WORDS: &[&str] = &[
    "sess", "auth", "jwt", "csrf", "xsrf", "remember", "login", "identity",
];

/// Word endings in a cookie's name that say the same: `sid`, `connect.sid`.
const SESSION_COOKIE_ENDINGS: &[&str] = &["sid", "key"];

/// Values shorter than this are never secrets by their name alone.
const MIN_SECRET_CHARS: usize = 4;

/// Marks a forgotten value: only its hash is kept, to recognise it again.
const HASHED: &str = "\u{0}fnv:";

fn hashed(value: &str) -> String {
    format!("{}{:016x}", HASHED, crate::fnv::fnv1a(value.as_bytes()))
}

/// The lower-case words of a field or header name: `X-Api-Key` → x, api,
/// key; `refreshToken` → refresh, token; `hashed_password` → hashed, password.
fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

pub fn is_secret_field(name: &str) -> bool {
    let words = name_words(name);
    let Some(last) = words.last() else {
        return false;
    };
    if NOT_SECRET_TAILS.contains(&last.as_str()) {
        return false;
    }
    let secret_word = |w: &String| {
        SECRET_WORDS
            .iter()
            .any(|s| w == s || (w.len() > s.len() && w.ends_with(s)))
    };
    words.iter().any(secret_word)
        || words
            .windows(2)
            .any(|p| SECRET_PAIRS.contains(&(p[0].as_str(), p[1].as_str())))
}

/// Whether the header exists to carry a credential (Authorization, Cookie,
/// X-Api-Key, ...), whatever its value looks like.
pub fn is_credential_header(name: &str) -> bool {
    SECRET_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    if NOT_SECRET_HEADER_PREFIXES.iter().any(|p| n.starts_with(p)) {
        return false;
    }
    SECRET_HEADERS.contains(&n.as_str()) || is_secret_field(&n)
}

/// Whether a cookie's name says it holds a session or credential
/// (`sessionid`, `PHPSESSID`, `connect.sid`, `remember_token`).
fn is_session_cookie(name: &str) -> bool {
    is_secret_field(name)
        || name_words(name).iter().any(|w| {
            SESSION_COOKIE_WORDS.iter().any(|s| w.contains(s))
                || SESSION_COOKIE_ENDINGS.iter().any(|s| w.ends_with(s))
        })
}

/// Whether a value under a secret name is a secret: empty, boolean and tiny
/// values never are (`0`, `""`, `true`).
fn secret_by_name(value: &str) -> bool {
    value.chars().count() >= MIN_SECRET_CHARS && !is_flag(value)
}

/// Long and varied enough that, found as a whole token inside a longer text,
/// it is that secret and no coincidence: 8 or more visible ASCII characters
/// of at least two kinds (letters, digits, other), or 12 or more of one.
/// `password` and `1234` are not; `hunter22`, a JWT or an API key are.
pub fn distinctive(value: &str) -> bool {
    if value.len() < 8 || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let kinds = [
        value.bytes().any(|b| b.is_ascii_alphabetic()),
        value.bytes().any(|b| b.is_ascii_digit()),
        value.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ];
    kinds.iter().filter(|k| **k).count() >= 2 || value.len() >= 12
}

/// A cookie whose name says nothing of sessions is a secret only when its
/// value looks like a session id: distinctive and 16 characters or more.
fn session_like(value: &str) -> bool {
    value.len() >= 16 && distinctive(value)
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
            .map(|p| Self::compile_pattern(p.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self::compiled(names, patterns))
    }

    /// Rules from patterns compiled before (by [`SecretRules::compile_pattern`]).
    pub fn compiled(
        names: impl IntoIterator<Item = impl AsRef<str>>,
        patterns: Vec<Regex>,
    ) -> Self {
        SecretRules {
            names: names.into_iter().map(|n| normalise(n.as_ref())).collect(),
            patterns,
        }
    }

    /// A pattern compiled as [`SecretRules::new`] uses it, or why it cannot be.
    ///
    /// Under `cargo fuzz` (`cfg(fuzzing)`) a pattern is only read, by the
    /// regex crate's own parser (the same syntax errors), and stands as a
    /// regex that matches nothing: building a pattern's automata, the regex
    /// crate's work and fuzzed upstream, took nine tenths of each
    /// `reel_toml` input (docs/fuzzing.md).
    pub fn compile_pattern(pattern: &str) -> Result<Regex, PatternError> {
        let why = |e: String| PatternError {
            pattern: pattern.to_owned(),
            reason: e
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned(),
        };
        if cfg!(fuzzing) {
            static NOTHING: std::sync::LazyLock<Regex> =
                std::sync::LazyLock::new(|| Regex::new(r"[^\s\S]").expect("the pattern compiles"));
            regex_syntax::Parser::new()
                .parse(pattern)
                .map_err(|e| why(e.to_string()))?;
            return Ok(NOTHING.clone());
        }
        Regex::new(pattern).map_err(|e| why(e.to_string()))
    }

    /// Whether any value pattern is set (names alone never apply to
    /// positional values such as SQL parameters).
    pub fn has_patterns(&self) -> bool {
        !self.patterns.is_empty()
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
        let found: Vec<Range<usize>> = self
            .patterns
            .iter()
            .flat_map(|p| p.find_iter(value).map(|m| m.range()))
            .filter(|r| !r.is_empty())
            .collect();
        not_overlapping(found, |r| r.clone())
    }
}

/// `found` in order, earliest first and the longer of two that start
/// together, leaving out any that overlaps one kept before it.
fn not_overlapping<T>(mut found: Vec<T>, at: impl Fn(&T) -> Range<usize>) -> Vec<T> {
    found.sort_by_key(|x| {
        let r = at(x);
        (r.start, std::cmp::Reverse(r.end))
    });
    let mut out: Vec<T> = Vec::new();
    for x in found {
        if out.last().is_none_or(|last| at(&x).start >= at(last).end) {
            out.push(x);
        }
    }
    out
}

/// A secret found inside a value: its place, and its name when it is one
/// already known (a pattern's new match has none yet).
struct Hit {
    at: Range<usize>,
    name: Option<String>,
}

/// How much of a text a known secret must fill to be replaced there.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    /// A value of its own (a header, query or JSON value, a parameter): the
    /// whole of it, or a distinctive secret as a whole token inside it.
    Value,
    /// Free text that may hold names (a path, a report line): distinctive
    /// secrets as whole tokens only.
    Tokens,
    /// SQL text: the inside of each string literal, as a [`Scope::Value`].
    Sql,
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
    /// The lengths of the distinctive secrets, each with the first bytes
    /// they start with: where a text is searched for them as tokens, only
    /// windows of these lengths, starting with these bytes, are looked up
    /// (by hash, so values forgotten at record time are still found).
    token_shapes: BTreeMap<usize, HashSet<u8>>,
    /// Names of secrets first seen in what a client sent (a password), as
    /// against what a server made (a login's token).
    client_sent: HashSet<String>,
    /// Whether the exchange being scrubbed is a request.
    in_request: bool,
    /// Header names (lower case) that are not secrets in this session
    /// however they are named ([`Secrets::exempt_headers`]).
    exempt: HashSet<String>,
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

    /// Request headers of these names (any case) are left as recorded: the
    /// generator found them to be per-request nonces, not credentials.
    pub fn exempt_headers(&mut self, names: impl IntoIterator<Item = String>) {
        self.exempt
            .extend(names.into_iter().map(|n| n.to_ascii_lowercase()));
    }

    fn is_secret_header(&self, name: &str) -> bool {
        self.rules.is_secret_header(name) && !self.exempt.contains(&name.to_ascii_lowercase())
    }

    /// Keeps the names but drops the values (redaction at record time must not
    /// hold secrets): a value seen again is then matched by its hash.
    pub fn forget_values(&mut self) {
        if self.plain == 0 {
            return;
        }
        for (name, v) in self.by_name.iter_mut() {
            if !v.starts_with(HASHED) {
                let h = hashed(v);
                self.by_value.remove(v.as_str());
                self.by_value.insert(h.clone(), name.clone());
                *v = h;
            }
        }
        self.plain = 0;
    }

    /// The placeholder for `value`, named after `base`; the same value always
    /// gets the same name, another value under the same base gets `_2`, `_3`.
    pub fn placeholder(&mut self, base: &str, value: &str) -> String {
        if let Some(name) = self.name_of(value) {
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
        if distinctive(value) {
            self.token_shapes
                .entry(value.len())
                .or_default()
                .insert(value.as_bytes()[0]);
        }
        if self.in_request {
            self.client_sent.insert(name.clone());
        }
        format!("${{secret:{name}}}")
    }

    /// The name of `value` if it is a known secret as a whole.
    fn known(&self, value: &str) -> Option<&String> {
        if !secret_by_name(value) {
            return None;
        }
        self.name_of(value)
    }

    /// The name `value` was given, by the value itself or, once it was
    /// forgotten, by its hash.
    fn name_of(&self, value: &str) -> Option<&String> {
        self.by_value.get(value).or_else(|| {
            // Only a value that was forgotten is kept by its hash.
            (self.plain < self.by_name.len())
                .then(|| self.by_value.get(&hashed(value)))
                .flatten()
        })
    }

    /// Known distinctive secrets standing as whole tokens inside `text`
    /// (neither neighbour a letter or digit), longest first where two start
    /// at the same place.
    fn known_tokens(&self, text: &str) -> Vec<Hit> {
        let mut out = Vec::new();
        if self.token_shapes.is_empty() {
            return out;
        }
        let b = text.as_bytes();
        let word = |i: usize| b[i].is_ascii_alphanumeric() || b[i] >= 0x80;
        let mut i = 0;
        'start: while i < b.len() {
            if i > 0 && word(i - 1) {
                i += 1;
                continue;
            }
            for (&len, firsts) in self.token_shapes.iter().rev() {
                let j = i + len;
                if j > b.len() || !firsts.contains(&b[i]) || (j < b.len() && word(j)) {
                    continue;
                }
                if !text.is_char_boundary(j) {
                    continue;
                }
                if let Some(name) = self.known(&text[i..j]) {
                    out.push(Hit {
                        at: i..j,
                        name: Some(name.clone()),
                    });
                    i = j;
                    continue 'start;
                }
            }
            i += 1;
        }
        out
    }

    /// The secrets inside `text` read as `scope` says, in order, not overlapping.
    fn hits(&self, text: &str, scope: Scope) -> Vec<Hit> {
        if crate::template::has_placeholder(text) {
            return Vec::new();
        }
        let mut found: Vec<Hit> = self
            .rules
            .matches(text)
            .into_iter()
            .map(|at| Hit { at, name: None })
            .collect();
        match scope {
            Scope::Value => found.extend(self.known_in_value(text)),
            Scope::Tokens => found.extend(self.known_tokens(text)),
            Scope::Sql => {
                for lit in sql_literals(text) {
                    let inside = &text[lit.clone()];
                    // Patterns again too: one anchored to a whole value
                    // (`^sk_live_…$`) matches a literal's inside only.
                    found.extend(self.hits(inside, Scope::Value).into_iter().map(|h| Hit {
                        at: h.at.start + lit.start..h.at.end + lit.start,
                        name: h.name,
                    }));
                }
            }
        }
        not_overlapping(found, |h| h.at.clone())
    }

    /// Known secrets in a value: all of it, or distinctive ones as tokens.
    fn known_in_value(&self, text: &str) -> Vec<Hit> {
        match self.known(text) {
            Some(name) => vec![Hit {
                at: 0..text.len(),
                name: Some(name.clone()),
            }],
            None => self.known_tokens(text),
        }
    }

    /// `text` with its secrets (see [`Secrets::hits`]) replaced by
    /// placeholders; a new one is named after `base`. `None` when nothing is.
    fn replaced(&mut self, base: &str, text: &str, scope: Scope) -> Option<String> {
        let hits = self.hits(text, scope);
        if hits.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for h in hits {
            out.push_str(&text[last..h.at.start]);
            match h.name {
                Some(name) => out.push_str(&format!("${{secret:{name}}}")),
                None => out.push_str(&self.placeholder(base, &text[h.at.clone()])),
            }
            last = h.at.end;
        }
        out.push_str(&text[last..]);
        Some(out)
    }

    /// `value` with the secrets in it replaced, for values with no secret
    /// name of their own: the whole value if it is a known secret,
    /// distinctive ones as tokens inside it, and pattern matches.
    pub fn scrub_value(&mut self, base: &str, value: &str) -> String {
        self.replaced(base, value, Scope::Value)
            .unwrap_or_else(|| value.to_owned())
    }

    /// The Postgres form of [`Secrets::scrub_value`]: SQL text only inside
    /// its string literals.
    fn scrub_pg_text(&mut self, base: &str, text: &str) -> Option<String> {
        let scope = if base == "sql" {
            Scope::Sql
        } else {
            Scope::Value
        };
        self.replaced(base, text, scope)
    }

    /// Replaces credentials in a request the app receives or sends.
    pub fn scrub_request(&mut self, req: &mut RequestSpec) {
        self.in_request = true;
        for (name, value) in &mut req.headers {
            // A nonce is no secret, by name or by value.
            if value.is_empty() || self.exempt.contains(&name.to_ascii_lowercase()) {
                continue;
            }
            *value = if self.is_secret_header(name) {
                self.scrub_header_value(name, value)
            } else {
                self.scrub_value(name, value)
            };
        }
        req.target = self.scrub_target(&req.target);
        let form = req.headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("content-type")
                && v.starts_with("application/x-www-form-urlencoded")
        });
        match &mut req.body {
            Some(BodySpec::Json(v) | BodySpec::JsonLines(v) | BodySpec::JsonSeq(v)) => {
                self.scrub_json(v, "secret", false)
            }
            Some(BodySpec::Text(t)) if form => *t = self.scrub_pairs(t, '&'),
            Some(BodySpec::Text(t)) => *t = self.scrub_value("secret", t),
            _ => {}
        }
        self.in_request = false;
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
            } else if self.is_secret_header(&n) {
                self.scrub_header_value(name, value)
            } else {
                self.scrub_value(name, value)
            };
        }
        match &mut resp.body {
            Some(BodySpec::Json(v) | BodySpec::JsonLines(v) | BodySpec::JsonSeq(v)) => {
                self.scrub_json(v, "secret", expected)
            }
            Some(BodySpec::Text(t)) => *t = self.scrub_value("secret", t),
            _ => {}
        }
    }

    /// Replaces secrets in a Postgres mock line's SQL literals, parameters,
    /// rows, COPY data and error text; the mock fills the placeholders back
    /// at replay, so the line still matches.
    pub fn scrub_pg(&mut self, m: &mut PgMock) {
        m.rewrite_texts(&mut |base, text| self.scrub_pg_text(base, text));
    }

    /// Replaces secrets in a MySQL line's SQL, parameters, rows and error
    /// text; the mock fills the placeholders back at replay.
    pub fn scrub_mysql(&mut self, m: &mut crate::suite::MysqlMock) {
        m.rewrite_texts(&mut |base, text| self.scrub_pg_text(base, text));
    }

    /// Replaces secrets in a Redis line's arguments and replies; the mock
    /// fills the placeholders back at replay, so the line still matches.
    pub fn scrub_redis(&mut self, m: &mut RedisMock) {
        // Passwords by the command's grammar (`CONFIG SET requirepass`,
        // `MIGRATE ... AUTH`, `ACL SETUSER ... >password`) first, so that
        // the value is known wherever else it shows.
        // The same for what `CONFIG GET` answers.
        for (i, from) in crate::wire::redis::password_args(&m.cmd) {
            self.redis_password(&mut m.cmd[i], from);
        }
        let cmd = m.cmd.clone();
        crate::wire::redis::password_replies(&cmd, &mut m.replies, &mut |b| {
            self.redis_password(b, 0)
        });
        m.rewrite_texts(&mut |base, text| self.replaced(base, text, Scope::Value));
    }

    /// A password in a Redis argument or reply, from byte `from` on, as its
    /// placeholder (`${secret:REDIS_PASSWORD}`). Bytes that are not text get
    /// no placeholder (none could stand for them) and are dropped for
    /// `[redacted]`; that, and what the recorder redacted, stays as it is.
    fn redis_password(&mut self, arg: &mut crate::wire::Bytes, from: usize) {
        let arg = &mut arg.0;
        let Ok(password) = std::str::from_utf8(&arg[from..]) else {
            arg.truncate(from);
            arg.extend_from_slice(b"[redacted]");
            return;
        };
        if password.is_empty()
            || password == "[redacted]"
            || crate::template::has_placeholder(password)
        {
            return;
        }
        let placeholder = self.placeholder("redis_password", password);
        arg.truncate(from);
        arg.extend_from_slice(placeholder.as_bytes());
    }

    /// [`Secrets::scrub_pg`] for recorded messages; whether the requests and
    /// the responses changed.
    pub fn scrub_pg_messages(
        &mut self,
        requests: &mut [FrontendMessage],
        responses: &mut [BackendMessage],
    ) -> (bool, bool) {
        crate::suite::postgres::rewrite_texts(requests, responses, &mut |base, text| {
            self.scrub_pg_text(base, text)
        })
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
            return self.scrub_cookies(value);
        }
        if !secret_by_name(value) {
            return value.to_owned();
        }
        self.placeholder(name, value)
    }

    /// Whether a cookie's value is a credential: by its name, or by its look.
    fn secret_cookie(&self, name: &str, value: &str) -> bool {
        secret_by_name(value)
            && !crate::template::has_placeholder(value)
            && (is_session_cookie(name) || session_like(value) || self.rules.is_extra_name(name))
    }

    fn scrub_set_cookie(&mut self, value: &str) -> String {
        if crate::template::has_placeholder(value) {
            return value.to_owned();
        }
        let (pair, attrs) = value.split_once(';').unwrap_or((value, ""));
        let Some((k, v)) = pair.split_once('=') else {
            return value.to_owned();
        };
        let ph = if self.secret_cookie(k.trim(), v.trim()) {
            self.placeholder(&format!("COOKIE_{}", k.trim()), v.trim())
        } else {
            self.scrub_value(&format!("COOKIE_{}", k.trim()), v)
        };
        if attrs.is_empty() {
            format!("{k}={ph}")
        } else {
            format!("{k}={ph};{attrs}")
        }
    }

    /// `a=1; sid=xyz` with the credential cookies' values replaced.
    fn scrub_cookies(&mut self, header: &str) -> String {
        header
            .split("; ")
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if self.secret_cookie(k, v) => {
                    format!("{k}={}", self.placeholder(&format!("COOKIE_{k}"), v))
                }
                Some((k, v)) => format!("{k}={}", self.scrub_value(&format!("COOKIE_{k}"), v)),
                None => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A path's segments are names as often as values: only distinctive
    /// secrets and pattern matches are replaced there; query values as values.
    fn scrub_target(&mut self, target: &str) -> String {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        let path = path
            .split('/')
            .map(|seg| {
                self.replaced("secret", seg, Scope::Tokens)
                    .unwrap_or_else(|| seg.to_owned())
            })
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
                        && secret_by_name(v)
                        && !crate::template::has_placeholder(v) =>
                {
                    format!("{k}={}", self.placeholder(k, v))
                }
                Some((k, v)) => format!("{k}={}", self.scrub_value(k, v)),
                None => self
                    .replaced("secret", pair, Scope::Tokens)
                    .unwrap_or_else(|| pair.to_owned()),
            })
            .collect::<Vec<_>>()
            .join(&sep.to_string())
    }

    /// The placeholder for a number `v` (see [`crate::template::SecretType`]):
    /// its JSON text is kept as the secret, `${secret:NAME:number}` stands
    /// in, and fills back as a number.
    fn typed_placeholder(&mut self, base: &str, v: &Value) -> Option<String> {
        let ty = crate::template::SecretType::of(v)?;
        let ph = self.placeholder(base, &v.to_string());
        Some(typed(&ph, ty))
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
                        // Either way the value is learned, so it is found
                        // again wherever else it stands (an echo).
                        Value::String(s) if secret_by_name(s) => {
                            let ph = match crate::template::has_placeholder(s) {
                                true => s.clone(),
                                false => self.placeholder(k, &s.clone()),
                            };
                            *child = match expected {
                                true => by_type(child),
                                false => Value::String(ph),
                            };
                        }
                        // A numeric PIN: the same, typed.
                        Value::Number(n) if secret_by_name(&n.to_string()) => {
                            let ph = self.typed_placeholder(k, child);
                            *child = match (expected, ph) {
                                (true, _) | (false, None) => by_type(child),
                                (false, Some(ph)) => Value::String(ph),
                            };
                        }
                        Value::Object(_) | Value::Array(_) => self.scrub_json(child, k, expected),
                        // Empty, tiny and boolean values are no secrets by name.
                        _ => {}
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|c| self.scrub_json(c, key, expected)),
            // A value that is wholly a secret (by pattern, or one found
            // before): in an expected response, one the client sent is
            // echoed, so its placeholder stands in; any other is checked by
            // type. A secret inside a longer text becomes a placeholder in place.
            Value::String(s) => {
                let hits = self.hits(s, Scope::Value);
                let whole = matches!(hits.as_slice(), [h] if h.at == (0..s.len()));
                if expected && whole {
                    let sent = hits[0]
                        .name
                        .as_ref()
                        .is_some_and(|n| self.client_sent.contains(n));
                    if !sent {
                        *v = by_type(v);
                        return;
                    }
                }
                if let Some(new) = self.replaced(key, s, Scope::Value) {
                    *s = new;
                }
            }
            // A number cannot hold a placeholder in part: a pattern match in
            // its text, or a known secret that is the whole number, makes it
            // the secret.
            Value::Number(n) => {
                let text = n.to_string();
                let known = self.known(&text).cloned();
                if known.is_none() && self.rules.matches(&text).is_empty() {
                    return;
                }
                let sent = known.as_ref().is_some_and(|n| self.client_sent.contains(n));
                if expected && !sent {
                    *v = by_type(v);
                } else if let Some(ph) = self.typed_placeholder(key, v) {
                    *v = Value::String(ph);
                }
            }
            _ => {}
        }
    }

    /// Distinctive recorded secrets still standing as tokens in a summary
    /// line replaced by their placeholders; SQL string literals in it are
    /// read as values.
    pub fn scrub_text(&self, text: &str) -> String {
        let mut hits = self.known_tokens(text);
        for lit in sql_literals(text) {
            let inside = &text[lit.clone()];
            if let Some(name) = self.known(inside) {
                hits.push(Hit {
                    at: lit,
                    name: Some(name.clone()),
                });
            }
        }
        self.put_hits(text, hits)
    }

    /// The last safety net over a whole generated file: distinctive recorded
    /// secrets still standing as tokens anywhere in it. Ordinary words are
    /// left, since they may be keys or names; every value was scrubbed before.
    pub fn scrub_file(&self, text: &str) -> String {
        self.put_hits(text, self.known_tokens(text))
    }

    fn put_hits(&self, text: &str, mut hits: Vec<Hit>) -> String {
        hits.sort_by_key(|h| (h.at.start, std::cmp::Reverse(h.at.end)));
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for h in hits {
            if h.at.start < last {
                continue;
            }
            // A numeric secret in a file may be a bare JSON number, which a
            // placeholder inside would break; [`Secrets::scrub_json`] has
            // already typed those where they stand as values.
            let found = &text[h.at.clone()];
            if is_number_text(found) {
                continue;
            }
            out.push_str(&text[last..h.at.start]);
            out.push_str(&format!("${{secret:{}}}", h.name.unwrap_or_default()));
            last = h.at.end;
        }
        out.push_str(&text[last..]);
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

/// `text` (a report line, a diff) with the secret `value` replaced by
/// `with` where it stands as a value: as a whole token when it is
/// [`distinctive`], else only where it is quoted whole (`"value"` or
/// `'value'`) and not a JSON key, so a password that is the word `password`
/// leaves `"password":` and `hashed_password` alone.
pub fn mask_value(text: &str, value: &str, with: &str) -> String {
    if value.is_empty() || !text.contains(value) {
        return text.to_owned();
    }
    let b = text.as_bytes();
    let word = |i: usize| b[i].is_ascii_alphanumeric() || b[i] >= 0x80;
    let strong = distinctive(value);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in text.match_indices(value) {
        let j = i + value.len();
        if i < last {
            continue;
        }
        let alone = if strong {
            let before = i > 0 && word(i - 1);
            let after = j < b.len() && word(j);
            !before && !after
        } else {
            let quote = i.checked_sub(1).map(|k| b[k]);
            let key = text[(j + 1).min(text.len())..]
                .trim_start()
                .starts_with(':');
            matches!(quote, Some(b'"' | b'\'')) && b.get(j) == quote.as_ref() && !key
        };
        if alone {
            out.push_str(&text[last..i]);
            out.push_str(with);
            last = j;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// A boolean secret's text: far too common to look for anywhere else.
fn is_flag(value: &str) -> bool {
    value == "true" || value == "false"
}

/// Whether `value` is the text of a JSON number (a numeric secret's).
fn is_number_text(value: &str) -> bool {
    matches!(serde_json::from_str::<Value>(value), Ok(Value::Number(_)))
}

/// `${secret:NAME}` as the typed `${secret:NAME:number}`.
fn typed(placeholder: &str, ty: crate::template::SecretType) -> String {
    let name = placeholder.strip_suffix('}').unwrap_or(placeholder);
    format!("{name}:{}}}", ty.suffix())
}

/// The insides of SQL string literals (`'...'`, a quote doubled inside),
/// skipping quoted identifiers and `--` comments: where a value stands in
/// SQL text, as against names and keywords.
fn sql_literals(sql: &str) -> Vec<Range<usize>> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() {
                    if b[j] == b'\'' {
                        if b.get(j + 1) == Some(&b'\'') {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j += 1;
                }
                out.push(start..j);
                i = j + 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Where `reel generate` keeps a store's secrets and `reel test` looks for
/// them: `secrets.toml` beside the store (`.reel/secrets.toml` by default).
pub fn file_beside(store: &Path) -> PathBuf {
    store
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("secrets.toml")
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
            Some(BodySpec::Text("user=a&passwd=pw1234-long".into())),
        );
        s.scrub_request(&mut r);
        assert_eq!(
            r.body,
            Some(BodySpec::Text("user=a&passwd=${secret:PASSWD}".into()))
        );
        let mut resp = ResponseSpec {
            status: 200,
            headers: vec![(
                "Set-Cookie".into(),
                "sid=xyz987abc; Path=/; HttpOnly".into(),
            )],
            body_encoding: None,
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
        // Free text: distinctive secrets as whole tokens only.
        assert_eq!(
            s.scrub_text("echo: pw1234-long and xyz987abc, not xyz987abcd"),
            "echo: ${secret:PASSWD} and ${secret:COOKIE_SID}, not xyz987abcd"
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
            body_encoding: None,
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
            body_encoding: None,
            body: Some(BodySpec::Text("account acct-123456".into())),
        };
        s.scrub_response(&mut text, false);
        assert_eq!(
            text.body,
            Some(BodySpec::Text("account ${secret:REF}".into()))
        );
    }

    #[test]
    fn numbers_under_secret_names_or_patterns_are_secrets_of_their_type_and_booleans_never() {
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
        // A boolean is no secret by its name; the PIN where it stands again
        // as a whole number is, typed, and a longer number is left alone.
        assert_eq!(
            body,
            &json!({
                "pin": "${secret:PIN:number}",
                "opt_in": true,
                "card": {"number": "${secret:NUMBER:number}"},
                "amount": "${secret:PIN:number}",
                "id": 19876540,
            })
        );
        assert_eq!(s.values()["PIN"], "987654");
        assert!(!s.values().contains_key("OPT_IN"));
        assert_eq!(s.values()["NUMBER"], "4111111111111111");
        // The last net over a file leaves numbers (bare JSON numbers would break).
        let text = s.scrub_file(&serde_json::to_string_pretty(body).unwrap());
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, body);

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
            body_encoding: None,
            body: Some(BodySpec::Json(
                json!({"pin": 1111, "opt_in": false, "number": 4000000000000002u64, "count": 3}),
            )),
        };
        s.scrub_response(&mut resp, true);
        assert_eq!(
            resp.body,
            Some(BodySpec::Json(json!({
                "pin": {"$reel": "number"},
                "opt_in": false,
                "number": {"$reel": "number"},
                "count": 3,
            })))
        );
    }

    #[test]
    fn names_are_matched_as_words() {
        for secret in [
            "password",
            "hashed_password",
            "passwordConfirmation",
            "refreshToken",
            "X-Auth-Token",
            "client_secret",
            "api_key",
            "X-Api-Key",
            "apikey",
            "AccessKey",
            "credentials",
        ] {
            assert!(is_secret_field(secret), "{secret}");
        }
        for plain in [
            "token_type",
            "max_tokens",
            "input_tokens",
            "password_hint",
            "token_expires_at",
            "tokenizer",
            "keyboard",
            "monkey",
            "secretary_name_url",
        ] {
            assert!(!is_secret_field(plain), "{plain}");
        }
        assert!(!is_secret_header("Access-Control-Allow-Credentials"));
        assert!(!is_secret_header("Sec-WebSocket-Key"));
        assert!(is_secret_header("Authorization"));
        assert!(is_secret_header("X-CSRF-Token"));
    }

    /// The secrets of issue 11: ordinary words. They are replaced where
    /// they stand as values, never in keys, header names, SQL identifiers or
    /// keywords, or path templates.
    #[test]
    fn secrets_that_are_ordinary_words_are_replaced_only_as_values() {
        for word in [
            "password", "admin", "secret", "token", "test", "user", "1234",
        ] {
            let mut s = Secrets::default();
            let mut login = req(
                &[("Content-Type", "application/json")],
                &format!("/api/{word}/login?next=/{word}"),
                Some(BodySpec::Json(json!({
                    "user": {"email": "ann@example.com", "password": word, "note": word}
                }))),
            );
            s.scrub_request(&mut login);
            let Some(BodySpec::Json(body)) = &login.body else {
                panic!()
            };
            assert_eq!(body["user"]["password"], "${secret:PASSWORD}", "{word}");
            // Wholly the secret elsewhere too: a value.
            assert_eq!(body["user"]["note"], "${secret:PASSWORD}", "{word}");
            // The path is a template: an ordinary word is left there.
            assert_eq!(login.target, format!("/api/{word}/login?next=/{word}"));

            // A validation error names the field and quotes the word in text.
            let mut answer = ResponseSpec {
                status: 422,
                headers: vec![("X-Password-Policy".into(), "min 8".into())],
                body_encoding: None,
                body: Some(BodySpec::Json(json!({
                    "errors": {"password": [format!("{word} is too weak")], "token": null},
                    "hashed_password": "$2b$12$abcdefghijklmnopqrstuv",
                }))),
            };
            s.scrub_response(&mut answer, true);
            let Some(BodySpec::Json(body)) = &answer.body else {
                panic!()
            };
            let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["errors", "hashed_password"], "{word}");
            assert!(body["errors"].get("password").is_some(), "{word}");
            assert_eq!(body["errors"]["password"][0], format!("{word} is too weak"));
            assert_eq!(
                answer.headers[0],
                ("X-Password-Policy".into(), "min 8".into())
            );

            // SQL: identifiers and keywords stay, literals and parameters go.
            let mut m = PgMock {
                id: "0001#1".into(),
                seq: 1,
                dependency: "db".into(),
                protocol: "postgres".into(),
                connection: 1,
                request: vec![crate::suite::PgRequest {
                    message: FrontendMessage::Query {
                        sql: format!(
                            "SELECT id, hashed_password FROM users WHERE {word}_col = '{word}' AND user = $1"
                        ),
                    },
                    prepared: None,
                    matchers: Default::default(),
                }],
                response: vec![BackendMessage::DataRow {
                    values: vec![Some(word.as_bytes().to_vec().into()), None],
                }],
            };
            s.scrub_pg(&mut m);
            let FrontendMessage::Query { sql } = &m.request[0].message else {
                panic!()
            };
            assert_eq!(
                sql,
                &format!(
                    "SELECT id, hashed_password FROM users WHERE {word}_col = '${{secret:PASSWORD}}' AND user = $1"
                )
            );
            assert_eq!(
                m.response[0],
                BackendMessage::DataRow {
                    values: vec![Some(b"${secret:PASSWORD}".to_vec().into()), None]
                }
            );
        }
    }

    #[test]
    fn a_secret_echoed_under_another_name_is_replaced_everywhere() {
        let mut s = Secrets::default();
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl";
        let mut login = ResponseSpec {
            status: 200,
            headers: vec![],
            body_encoding: None,
            body: Some(BodySpec::Json(json!({"user": {"token": token}}))),
        };
        s.scrub_response(&mut login, true);
        let mut me = ResponseSpec {
            status: 200,
            headers: vec![("X-Echo".into(), format!("Token {token}"))],
            body_encoding: None,
            body: Some(BodySpec::Json(json!({
                "auth": format!("Bearer {token}"),
                "copy": token,
                "api": "the key k9k9-Long-Key99 was used",
            }))),
        };
        let mut call = req(&[], "/me?api_key=k9k9-Long-Key99", None);
        s.scrub_request(&mut call);
        s.scrub_response(&mut me, true);
        let text = serde_json::to_string(&me).unwrap();
        assert!(!text.contains(token), "{text}");
        assert!(!text.contains("k9k9-Long-Key99"), "{text}");
        let Some(BodySpec::Json(body)) = &me.body else {
            panic!()
        };
        assert_eq!(body["auth"], "Bearer ${secret:TOKEN}");
        // Wholly a token the server made: checked by type.
        assert_eq!(body["copy"], json!({"$reel": "string"}));
        // Something the client sent is echoed back as sent.
        assert_eq!(body["api"], "the key ${secret:API_KEY} was used");
        assert_eq!(me.headers[0].1, "Token ${secret:TOKEN}");
    }

    #[test]
    fn tiny_empty_and_boolean_values_and_plain_cookies_are_no_secrets() {
        let mut s = Secrets::default();
        let mut r = req(
            &[
                (
                    "Cookie",
                    "theme=dark; n=0; e=; never=never; sessionid=abc123def456",
                ),
                ("Access-Control-Allow-Credentials", "true"),
            ],
            "/cookies/set?password=&token=0&k=never",
            Some(BodySpec::Json(
                json!({"password": "", "token": true, "secret": "abc"}),
            )),
        );
        s.scrub_request(&mut r);
        assert_eq!(
            r.headers[0].1,
            "theme=dark; n=0; e=; never=never; sessionid=${secret:COOKIE_SESSIONID}"
        );
        assert_eq!(r.headers[1].1, "true");
        assert_eq!(r.target, "/cookies/set?password=&token=0&k=never");
        assert_eq!(
            r.body,
            Some(BodySpec::Json(
                json!({"password": "", "token": true, "secret": "abc"})
            ))
        );
        let mut set = ResponseSpec {
            status: 200,
            headers: vec![
                ("Set-Cookie".into(), "k=never; Path=/".into()),
                (
                    "Set-Cookie".into(),
                    "x=Zm9vYmFyYmF6cXV4MTIzNDU2; Path=/".into(),
                ),
            ],
            body_encoding: None,
            body: None,
        };
        s.scrub_response(&mut set, true);
        assert_eq!(set.headers[0].1, "k=never; Path=/");
        // An unnamed cookie that looks like a session id is one.
        assert_eq!(set.headers[1].1, "x=${secret:COOKIE_X}; Path=/");
        assert_eq!(s.values().len(), 2, "{:?}", s.values());
    }

    #[test]
    fn forgotten_values_are_still_found_as_tokens_inside_text() {
        let mut s = Secrets::default();
        let mut r = req(&[], "/get?api_key=k9k9-Long-Key99", None);
        s.scrub_request(&mut r);
        s.forget_values();
        assert!(s.values().values().all(|v| v.starts_with(HASHED)));
        let mut echo = ResponseSpec {
            status: 200,
            headers: vec![],
            body_encoding: None,
            body: Some(BodySpec::Json(json!({
                "url": "http://127.0.0.1/get?api_key=k9k9-Long-Key99",
                "args": {"key": "k9k9-Long-Key99"},
            }))),
        };
        s.scrub_response(&mut echo, false);
        assert_eq!(
            echo.body,
            Some(BodySpec::Json(json!({
                "url": "http://127.0.0.1/get?api_key=${secret:API_KEY}",
                "args": {"key": "${secret:API_KEY}"},
            })))
        );
    }

    #[test]
    fn reports_mask_secrets_only_where_they_stand_as_values() {
        let ph = "${secret:PASSWORD}";
        assert_eq!(
            mask_value(
                r#"{"password": "password"} INSERT INTO t (hashed_password) VALUES ('password')"#,
                "password",
                ph
            ),
            r#"{"password": "${secret:PASSWORD}"} INSERT INTO t (hashed_password) VALUES ('${secret:PASSWORD}')"#
        );
        assert_eq!(
            mask_value(
                "Bearer tok_9f86d081 and xtok_9f86d081",
                "tok_9f86d081",
                "${secret:T}"
            ),
            "Bearer ${secret:T} and xtok_9f86d081"
        );
    }

    #[test]
    fn a_pattern_anchored_to_a_whole_value_finds_it_inside_an_sql_literal() {
        let rules = SecretRules::new([] as [&str; 0], ["^sk_live_[A-Za-z0-9]+$"]).unwrap();
        let mut s = Secrets::with_rules(rules);
        let mut requests = vec![FrontendMessage::Query {
            sql: "select * from keys where k = 'sk_live_AB1' and note = 'sk_live_x y'".into(),
        }];
        s.scrub_pg_messages(&mut requests, &mut []);
        assert_eq!(
            requests[0],
            FrontendMessage::Query {
                sql: "select * from keys where k = '${secret:SQL}' and note = 'sk_live_x y'".into()
            }
        );
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let err = SecretRules::compile_pattern("sk_(live").unwrap_err();
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
