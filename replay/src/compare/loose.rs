//! Headers whose values differ on every run by nature (Date, ETag, Set-Cookie,
//! X-Request-Id, tracing headers: [`LOOSE_HEADERS`]) are compared by form, not
//! value. When the recording had one, the answer must still carry it, in the
//! form it had: a Date an HTTP date, an Age a number, an ETag a quoted (or
//! `W/` quoted) string, a request or trace id the same shape (a random token
//! the same alphabet and about the same length). Set-Cookie must set the same
//! cookies with the same attributes (Path, Domain and SameSite to the letter)
//! and must not clear one the recording set. An auth challenge
//! (`WWW-Authenticate: Digest realm="x", nonce="…"`) must keep its schemes and
//! parameter names, and its parameters' values where they are not random: a
//! nonce, an opaque value or any random token is held to its form. A recorded
//! value that is not of its header's usual form (`Expires: 0`) is compared as
//! it is.

use std::collections::{BTreeMap, BTreeSet};

use reel_core::matcher::is_uuid;
use reel_core::suite::LOOSE_HEADERS;
use reel_core::template::has_placeholder;

/// Whether header `name` (any case) is compared by form.
pub fn is_loose(name: &str) -> bool {
    LOOSE_HEADERS.contains(&name.to_ascii_lowercase().as_str())
}

/// None when the `actual` values of header `name` keep the form of the
/// recorded `expected` ones; else what was expected, in words.
pub fn check(name: &str, expected: &[&str], actual: &[&str]) -> Option<String> {
    let first = expected.first()?;
    let name = name.to_ascii_lowercase();
    if name == "set-cookie" {
        return check_cookies(expected, actual);
    }
    if CHALLENGE_HEADERS.contains(&name.as_str()) {
        // One list of challenges, whichever lines they came on.
        let (e, a) = (expected.join(", "), actual.join(", "));
        let form =
            Challenges::of(&e).map_or_else(|| Form::Exact(e.trim().to_owned()), Form::Challenges);
        return (actual.is_empty() || !form.accepts(&a)).then(|| form.describe());
    }
    let form = Form::of(&name, first);
    (actual.is_empty() || !actual.iter().all(|a| form.accepts(a))).then(|| form.describe())
}

/// The form a recorded value sets for the answers.
#[derive(Debug, Clone, PartialEq)]
enum Form {
    HttpDate,
    Seconds,
    ETag {
        weak: bool,
    },
    /// An ETag sent without its quotes, as some servers do.
    BareETag {
        weak: bool,
    },
    Challenges(Challenges),
    Uuid,
    TraceParent,
    /// A random id (nanoid, base64, hex): its alphabet and about its length.
    Token(Token),
    /// Letters and digits where the recording had them, the same separators.
    Shaped(String),
    Any,
    Exact(String),
}

impl Form {
    fn of(name: &str, recorded: &str) -> Form {
        let recorded = recorded.trim();
        // A placeholder left unfilled (no secrets file): its form is unknown.
        if has_placeholder(recorded) {
            return Form::Any;
        }
        match name {
            "date" | "last-modified" | "expires" if is_http_date(recorded) => Form::HttpDate,
            "age" if is_seconds(recorded) => Form::Seconds,
            "etag" => match (etag_weak(recorded), bare_etag_weak(recorded)) {
                (Some(weak), _) => Form::ETag { weak },
                (None, Some(weak)) => Form::BareETag { weak },
                (None, None) => Form::Exact(recorded.to_owned()),
            },
            "traceparent" if is_traceparent(recorded) => Form::TraceParent,
            // Vendors add and drop their entries freely.
            "tracestate" => Form::Any,
            "date" | "last-modified" | "expires" | "age" => Form::Exact(recorded.to_owned()),
            _ if is_uuid(recorded) => Form::Uuid,
            _ => match Token::of(recorded) {
                Some(t) => Form::Token(t),
                None => Form::Shaped(recorded.to_owned()),
            },
        }
    }

    fn accepts(&self, v: &str) -> bool {
        let v = v.trim();
        match self {
            Form::HttpDate => is_http_date(v),
            Form::Seconds => is_seconds(v),
            Form::ETag { weak } => etag_weak(v) == Some(*weak),
            Form::BareETag { weak } => bare_etag_weak(v) == Some(*weak),
            Form::Challenges(c) => Challenges::of(v).is_some_and(|a| c.accepts(&a)),
            Form::Uuid => is_uuid(v),
            Form::TraceParent => is_traceparent(v),
            Form::Token(t) => t.accepts(v),
            Form::Shaped(recorded) => shape(v) == shape(recorded),
            Form::Any => !v.is_empty(),
            Form::Exact(recorded) => v == recorded,
        }
    }

    fn describe(&self) -> String {
        match self {
            Form::HttpDate => "an HTTP date".into(),
            Form::Seconds => "a number of seconds".into(),
            Form::ETag { weak: true } => "a weak ETag (W/\"…\")".into(),
            Form::ETag { weak: false } => "a quoted ETag (\"…\")".into(),
            Form::BareETag { weak: true } => "a weak unquoted ETag (W/…)".into(),
            Form::BareETag { weak: false } => "an unquoted ETag".into(),
            Form::Challenges(c) => c.describe(),
            Form::Uuid => "a UUID".into(),
            Form::TraceParent => "a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)".into(),
            Form::Token(t) => t.describe(),
            Form::Shaped(recorded) => format!("a value shaped like {recorded:?}"),
            Form::Any => "the header".into(),
            Form::Exact(recorded) => format!("{recorded:?}"),
        }
    }
}

/// The alphabet a random token was drawn from, as one recorded value shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Alphabet {
    Digits,
    HexLower,
    HexUpper,
    /// Letters and digits only: a base64 or base64url token may just not have
    /// drawn its two extra characters, so either pair (not both) is accepted.
    Alnum,
    /// `A-Za-z0-9-_`, as nanoid and base64url use.
    Base64Url,
    /// `A-Za-z0-9+/`, `=` padded.
    Base64,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    alphabet: Alphabet,
    /// Characters before any `=` padding.
    len: usize,
}

impl Token {
    /// Shorter ids (`req-41`) are more likely counters with a structure than
    /// random draws: they keep their shape instead.
    const MIN_LEN: usize = 16;
    /// How far a base64 token's unpadded length may move (one input byte more
    /// or less, or padding dropped).
    const SLACK: usize = 2;

    fn of(recorded: &str) -> Option<Token> {
        let body = recorded.trim_end_matches('=');
        let padding = recorded.len() - body.len();
        if body.len() < Self::MIN_LEN || padding > 2 {
            return None;
        }
        let has = |f: fn(&u8) -> bool| body.as_bytes().iter().any(f);
        let all = |f: fn(&u8) -> bool| body.as_bytes().iter().all(f);
        let url = has(|b| matches!(b, b'-' | b'_'));
        let std = has(|b| matches!(b, b'+' | b'/'));
        // Structured ids (`order-2024-000123`) use separators in one case;
        // a random base64 draw this long has both.
        let mixed_case = has(u8::is_ascii_lowercase) && has(u8::is_ascii_uppercase);
        let alphabet = if url || std {
            if (url && std) || !mixed_case {
                return None;
            }
            if url {
                Alphabet::Base64Url
            } else {
                Alphabet::Base64
            }
        } else if padding > 0 {
            Alphabet::Base64
        } else if all(u8::is_ascii_digit) {
            Alphabet::Digits
        } else if all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
            Alphabet::HexLower
        } else if all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)) {
            Alphabet::HexUpper
        } else if all(u8::is_ascii_alphanumeric) {
            Alphabet::Alnum
        } else {
            return None;
        };
        if !all(|b| b.is_ascii_alphanumeric() || b"-_+/".contains(b)) {
            return None;
        }
        Some(Token {
            alphabet,
            len: body.len(),
        })
    }

    fn padded(&self) -> bool {
        matches!(
            self.alphabet,
            Alphabet::Alnum | Alphabet::Base64Url | Alphabet::Base64
        )
    }

    fn accepts(&self, v: &str) -> bool {
        let body = if self.padded() {
            v.trim_end_matches('=')
        } else {
            v
        };
        if v.len() - body.len() > 2 {
            return false;
        }
        let len_ok = if self.padded() {
            body.len().abs_diff(self.len) <= Self::SLACK
        } else {
            body.len() == self.len
        };
        let b = body.as_bytes();
        let has = |set: &[u8]| b.iter().any(|c| set.contains(c));
        let only = |extra: &[u8]| {
            b.iter()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
        };
        len_ok
            && match self.alphabet {
                Alphabet::Digits => b.iter().all(u8::is_ascii_digit),
                Alphabet::HexLower => b
                    .iter()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)),
                Alphabet::HexUpper => b
                    .iter()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)),
                Alphabet::Base64Url => only(b"-_"),
                Alphabet::Base64 => only(b"+/"),
                Alphabet::Alnum => only(b"-_+/") && !(has(b"-_") && has(b"+/")),
            }
    }

    fn describe(&self) -> String {
        let what = match self.alphabet {
            Alphabet::Digits => "a token of digits",
            Alphabet::HexLower => "a lower-case hex token",
            Alphabet::HexUpper => "an upper-case hex token",
            Alphabet::Alnum => "a letters-and-digits (or base64) token",
            Alphabet::Base64Url => "a base64url token (A-Z a-z 0-9 - _)",
            Alphabet::Base64 => "a base64 token (A-Z a-z 0-9 + / =)",
        };
        if self.padded() {
            format!(
                "{what} of {} to {} characters",
                self.len.saturating_sub(Self::SLACK),
                self.len + Self::SLACK
            )
        } else {
            format!("{what} of {} characters", self.len)
        }
    }
}

/// IMF-fixdate, or the obsolete RFC 850 and asctime forms HTTP still accepts.
pub fn is_http_date(s: &str) -> bool {
    http_date(s).is_some()
}

fn http_date(s: &str) -> Option<chrono::NaiveDateTime> {
    [
        "%a, %d %b %Y %H:%M:%S GMT",
        "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
}

fn is_seconds(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Some(weak) for `"…"` or `W/"…"`.
fn etag_weak(s: &str) -> Option<bool> {
    let (weak, rest) = match s.strip_prefix("W/") {
        Some(r) => (true, r),
        None => (false, s),
    };
    let inner = rest.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('"')).then_some(weak)
}

/// Some(weak) for an ETag without quotes (`5f3e-abc`, `W/5f3e`): one token.
fn bare_etag_weak(s: &str) -> Option<bool> {
    let (weak, rest) = match s.strip_prefix("W/") {
        Some(r) => (true, r),
        None => (false, s),
    };
    let ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b','));
    ok.then_some(weak)
}

/// Headers that carry auth challenges (or, for `Authentication-Info`, the
/// parameters of one) with server-made random values.
const CHALLENGE_HEADERS: &[&str] = &[
    "www-authenticate",
    "proxy-authenticate",
    "authentication-info",
    "proxy-authentication-info",
];

/// Parameters that are random by definition (RFC 7616, RFC 7615).
const RANDOM_PARAMS: &[&str] = &["nonce", "cnonce", "opaque", "nextnonce", "rspauth"];

/// The challenges of a `WWW-Authenticate` value: `Basic realm="a", Digest
/// realm="b", nonce="…"`; parameters with no scheme before them (as in
/// `Authentication-Info`) belong to a challenge with an empty scheme.
#[derive(Debug, Clone, PartialEq)]
struct Challenges(Vec<Challenge>);

#[derive(Debug, Clone, PartialEq)]
struct Challenge {
    /// Lower case: schemes are case-insensitive.
    scheme: String,
    token68: Option<String>,
    /// By lower-case name, values unquoted.
    params: BTreeMap<String, String>,
}

impl Challenges {
    fn of(s: &str) -> Option<Challenges> {
        let mut out: Vec<Challenge> = Vec::new();
        for item in split_unquoted(s, ',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (head, rest) = match item.split_once(char::is_whitespace) {
                Some((h, r)) if !h.contains('=') => (Some(h), r.trim()),
                _ => (None, item),
            };
            if let Some(scheme) = head {
                out.push(Challenge {
                    scheme: scheme.to_ascii_lowercase(),
                    token68: None,
                    params: BTreeMap::new(),
                });
            } else if !item.contains('=') {
                // A scheme alone: `Negotiate`.
                out.push(Challenge {
                    scheme: item.to_ascii_lowercase(),
                    token68: None,
                    params: BTreeMap::new(),
                });
                continue;
            }
            if rest.is_empty() {
                continue;
            }
            if out.is_empty() {
                out.push(Challenge {
                    scheme: String::new(),
                    token68: None,
                    params: BTreeMap::new(),
                });
            }
            let current = out.last_mut()?;
            if head.is_some() && is_token68(rest) {
                current.token68 = Some(rest.to_owned());
                continue;
            }
            let (k, v) = rest.split_once('=')?;
            let k = k.trim();
            if k.is_empty() || k.contains(char::is_whitespace) {
                return None;
            }
            let v = v.trim();
            let v = match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
                None => v.to_owned(),
            };
            current.params.insert(k.to_ascii_lowercase(), v);
        }
        (!out.is_empty()).then_some(Challenges(out))
    }

    /// Whether a random value (by name or by form) is held to its form only.
    fn random(name: &str, recorded: &str) -> bool {
        RANDOM_PARAMS.contains(&name) || Token::of(recorded).is_some() || is_uuid(recorded)
    }

    fn accepts(&self, actual: &Challenges) -> bool {
        self.0.len() == actual.0.len()
            && self.0.iter().zip(&actual.0).all(|(w, g)| {
                w.scheme == g.scheme
                    && match (&w.token68, &g.token68) {
                        (None, None) => true,
                        // Opaque by definition (a GSSAPI blob): any one.
                        (Some(_), Some(b)) => is_token68(b),
                        _ => false,
                    }
                    && w.params.keys().eq(g.params.keys())
                    && w.params.iter().all(|(k, v)| {
                        let got = &g.params[k];
                        if Self::random(k, v) {
                            !got.is_empty() && Form::of("", v).accepts(got)
                        } else {
                            got == v
                        }
                    })
            })
    }

    /// `a Digest challenge with realm="x", nonce=…`.
    fn describe(&self) -> String {
        let one = |c: &Challenge| {
            let mut parts: Vec<String> = c.token68.iter().map(|_| "…".to_owned()).collect();
            parts.extend(c.params.iter().map(|(k, v)| {
                if Self::random(k, v) {
                    format!("{k}=…")
                } else {
                    format!("{k}={v:?}")
                }
            }));
            let scheme = if c.scheme.is_empty() {
                "parameters".to_owned()
            } else {
                format!("a {} challenge", c.scheme)
            };
            if parts.is_empty() {
                scheme
            } else {
                format!("{scheme} with {}", parts.join(", "))
            }
        };
        self.0.iter().map(one).collect::<Vec<_>>().join(", then ")
    }
}

/// RFC 9110's token68: `A-Z a-z 0-9 - . _ ~ + /`, then `=` padding.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// `s` split at `sep` outside double quotes.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn is_traceparent(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 4
        && parts
            .iter()
            .zip([2, 32, 16, 2])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `req-42_a` → `x-x_x`: runs of letters and digits stand for any such run.
fn shape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            if !out.ends_with('x') {
                out.push('x');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Same cookie names; per cookie, the same attribute names, the same Path,
/// Domain and SameSite, and not cleared where the recording set a value.
fn check_cookies(expected: &[&str], actual: &[&str]) -> Option<String> {
    let want = cookies(expected);
    let got = cookies(actual);
    if actual.is_empty() || !want.keys().eq(got.keys()) {
        let names: Vec<&str> = want.keys().map(String::as_str).collect();
        return Some(format!("Set-Cookie for {}", names.join(", ")));
    }
    let wrong: Vec<String> = want
        .iter()
        .filter_map(|(name, w)| {
            let g = &got[name];
            let cleared =
                (!w.value.is_empty() && g.value.is_empty()) || (!w.expired() && g.expired());
            if cleared {
                Some(format!("{}, not cleared", w.form()))
            } else {
                (w.attr_names() != g.attr_names() || w.exact_attrs() != g.exact_attrs())
                    .then(|| w.form())
            }
        })
        .collect();
    (!wrong.is_empty()).then(|| format!("Set-Cookie {}", wrong.join(" and ")))
}

/// One Set-Cookie value: `name=value; Attr=v; Flag`.
#[derive(Debug)]
struct Cookie<'a> {
    name: &'a str,
    value: &'a str,
    /// Attribute names as written, with their values.
    attrs: Vec<(&'a str, Option<&'a str>)>,
}

/// Attributes held to their value; the rest only to their presence.
const EXACT_ATTRS: &[&str] = &["path", "domain", "samesite"];

impl<'a> Cookie<'a> {
    fn parse(v: &'a str) -> Option<Cookie<'a>> {
        let mut parts = v.split(';');
        let (name, value) = parts.next()?.split_once('=')?;
        let attrs = parts
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| match a.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (a, None),
            })
            .collect();
        Some(Cookie {
            name: name.trim(),
            value: value.trim(),
            attrs,
        })
    }

    fn attr(&self, name: &str) -> Option<&'a str> {
        self.attrs
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| *v)
    }

    fn attr_names(&self) -> BTreeSet<String> {
        self.attrs
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect()
    }

    /// Path as written; Domain and SameSite are case-insensitive.
    fn exact_attrs(&self) -> Vec<Option<String>> {
        EXACT_ATTRS
            .iter()
            .map(|a| {
                self.attr(a).map(|v| match *a {
                    "path" => v.to_owned(),
                    _ => v.to_ascii_lowercase(),
                })
            })
            .collect()
    }

    /// Max-Age zero or less, or an Expires already past: the browser drops it.
    fn expired(&self) -> bool {
        if let Some(age) = self.attr("max-age") {
            return age.parse::<i64>().is_ok_and(|s| s <= 0);
        }
        self.attr("expires")
            .and_then(|e| {
                http_date(e).or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(e, "%a, %d-%b-%Y %H:%M:%S GMT").ok()
                })
            })
            .is_some_and(|t| t < chrono::Utc::now().naive_utc())
    }

    /// `sid=…; Path=/; HttpOnly`: what is held, with `…` for what is not.
    fn form(&self) -> String {
        let mut s = format!("{}=…", self.name);
        for (n, v) in &self.attrs {
            s.push_str("; ");
            s.push_str(n);
            match v {
                Some(v) if EXACT_ATTRS.contains(&n.to_ascii_lowercase().as_str()) => {
                    s.push('=');
                    s.push_str(v);
                }
                Some(_) => s.push_str("=…"),
                None => {}
            }
        }
        s
    }
}

/// The cookies set, by name (the last of a name wins, as in a browser).
fn cookies<'a>(values: &[&'a str]) -> BTreeMap<String, Cookie<'a>> {
    values
        .iter()
        .filter_map(|v| Cookie::parse(v))
        .map(|c| (c.name.to_owned(), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, recorded: &str, actual: &str) -> bool {
        check(name, &[recorded], &[actual]).is_none()
    }

    #[test]
    fn dates_must_stay_http_dates() {
        let d = "Thu, 26 Nov 2026 14:53:46 GMT";
        assert!(ok("date", d, "Fri, 27 Nov 2026 09:00:01 GMT"));
        assert!(ok("last-modified", d, "Sunday, 06-Nov-94 08:49:37 GMT"));
        assert!(ok("expires", d, "Sun Nov  6 08:49:37 1994"));
        assert_eq!(
            check("date", &[d], &["2026-11-26T14:53:46Z"]).as_deref(),
            Some("an HTTP date")
        );
        assert_eq!(check("date", &[d], &[]).as_deref(), Some("an HTTP date"));
        // `Expires: 0` is not a date; it is held to what it was.
        assert!(ok("expires", "0", "0"));
        assert!(!ok("expires", "0", d));
    }

    #[test]
    fn ages_etags_and_ids_keep_their_form() {
        assert!(ok("age", "12", "0"));
        assert!(!ok("age", "12", "soon"));
        assert!(ok("etag", "\"abc\"", "\"x1-y2\""));
        assert!(ok("etag", "W/\"abc\"", "W/\"def\""));
        assert!(!ok("etag", "W/\"abc\"", "\"def\""));
        assert!(!ok("etag", "\"abc\"", "abc"));
        let id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        assert!(ok(
            "x-request-id",
            id,
            "00000000-0000-4000-8000-000000000000"
        ));
        assert_eq!(
            check("x-request-id", &[id], &["req-1"]).as_deref(),
            Some("a UUID")
        );
        assert!(ok("x-request-id", "req-41", "req-1009"));
        assert!(!ok("x-request-id", "req-41", "req_41"));
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(ok(
            "traceparent",
            tp,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
        ));
        assert!(!ok("traceparent", tp, "00-abc-def-01"));
        assert!(ok("tracestate", "a=1", "b=2,c=3"));
    }

    #[test]
    fn random_ids_keep_their_alphabet_and_length_not_their_separators() {
        // nanoid: `-` and `_` are drawn like any letter, wherever they fall.
        let nano = "gWFNfE9hVK67O-_a2Nzma";
        assert!(ok("x-request-id", nano, "X3NMU8Xnv93Oi3ErkRPRS"));
        assert!(ok("x-request-id", "X3NMU8Xnv93Oi3ErkRPRS", nano));
        assert!(ok("x-correlation-id", nano, "_-a9Zk0LmQ2rT7vW1xY3b"));
        // base64, padded or not, a byte more or less.
        let b64 = "q83vEjRWeJq8/9+A1B2C3w==";
        assert!(ok("request-id", b64, "Zm9vYmFyYmF6cXV4+/8A9w=="));
        assert!(ok("request-id", b64, "Zm9vYmFyYmF6cXV4+/8A9xE="));
        assert!(ok(
            "x-trace-id",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "0af7651916cd43dd8448eb211c80319c"
        ));
        // Another alphabet, or another length, is another kind of id.
        assert_eq!(
            check("x-request-id", &[nano], &["gWFNfE9hVK67O+/a2Nzma"]).as_deref(),
            Some("a base64url token (A-Z a-z 0-9 - _) of 19 to 23 characters")
        );
        assert!(!ok("x-request-id", nano, "gWFNfE9hVK"));
        assert!(!ok("x-request-id", nano, "gWFNfE9hVK67O-_a2NzmaAAAAA"));
        assert!(!ok("x-request-id", nano, "gWFNfE9h.K67O-_a2Nzma"));
        assert!(!ok("request-id", b64, "q83vEjRWeJq8-9_A1B2C3w=="));
        assert_eq!(
            check(
                "x-trace-id",
                &["4bf92f3577b34da6a3ce929d0e0e4736"],
                &["4bf92f3577b34da6a3ce929d0e0e473"]
            )
            .as_deref(),
            Some("a lower-case hex token of 32 characters")
        );
        assert!(!ok(
            "x-trace-id",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "4BF92F3577B34DA6A3CE929D0E0E4736"
        ));
        assert!(!ok(
            "x-trace-id",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "gbf92f3577b34da6a3ce929d0e0e4736"
        ));
        // Long ids in one case with separators have a structure: kept.
        assert!(ok("x-request-id", "order-2024-000123", "order-2025-9"));
        assert!(!ok(
            "x-request-id",
            "order-2024-000123",
            "order_2024_000123"
        ));
    }

    #[test]
    fn unquoted_etags_keep_their_form() {
        assert!(ok("etag", "5f3e-abc", "77aa-e01"));
        assert!(ok("etag", "W/5f3e", "W/0a1b"));
        assert!(!ok("etag", "5f3e", "W/5f3e"));
        assert!(!ok("etag", "5f3e", "\"5f3e\""));
        assert_eq!(
            check("etag", &["5f3e"], &["a b"]).as_deref(),
            Some("an unquoted ETag")
        );
    }

    #[test]
    fn auth_challenges_keep_schemes_and_names_and_random_values_by_form() {
        let rec = r#"Digest realm="me@example.com", nonce="9c3a4a8e0b7d4f21a6c5e3b2d1f0a9b8", qop="auth", opaque="5ccc069c403ebaf9f0171e9517f40e41", algorithm=MD5, stale=FALSE"#;
        let now = r#"Digest realm="me@example.com", nonce="0f1e2d3c4b5a69788796a5b4c3d2e1f0", qop="auth", opaque="6b9c14de03f5a7e9b2c4d6e8f0a1b3c5", algorithm=MD5, stale=FALSE"#;
        assert!(ok("www-authenticate", rec, now));
        // Another realm, algorithm or parameter set is another challenge.
        let want = Some(
            r#"a digest challenge with algorithm="MD5", nonce=…, opaque=…, qop="auth", realm="me@example.com", stale="FALSE""#,
        );
        for changed in [
            now.replace("me@example.com", "you@example.com"),
            now.replace("MD5", "SHA-256"),
            now.replace(", stale=FALSE", ""),
            now.replace("Digest", "Basic"),
            now.replace("0f1e2d3c4b5a69788796a5b4c3d2e1f0", "x"),
        ] {
            assert_eq!(
                check("WWW-Authenticate", &[rec], &[&changed]).as_deref(),
                want,
                "{changed}"
            );
        }
        // Several challenges, on one line or several, in order.
        let two = [
            r#"Basic realm="a""#,
            r#"Bearer realm="a", error="invalid_token""#,
        ];
        assert!(check("www-authenticate", &two, &[&two.join(", ")]).is_none());
        assert!(!ok(
            "www-authenticate",
            r#"Basic realm="a""#,
            r#"Bearer realm="a""#
        ));
        // A token68 (Negotiate) is random: its form holds.
        assert!(ok(
            "www-authenticate",
            "Negotiate oRswGaADCgEAoxIEEAEAAABDh+CIwTbjqQAAAAA=",
            "Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgk="
        ));
        assert!(ok(
            "authentication-info",
            r#"rspauth="d3b07384d113edec49eaa6238ad5ff00", qop=auth, nc=00000001, cnonce="0a4f113b""#,
            r#"rspauth="c157a79031e1c40f85931829bc5fc552", qop=auth, nc=00000001, cnonce="6a4f1d3b""#
        ));
    }

    #[test]
    fn header_names_in_any_case_are_loose() {
        assert!(is_loose("Set-Cookie"));
        assert!(is_loose("X-Request-ID"));
        assert!(!is_loose("Content-Type"));
        assert!(ok(
            "X-Request-Id",
            "gWFNfE9hVK67O-_a2Nzma",
            "X3NMU8Xnv93Oi3ErkRPRS"
        ));
        assert!(!ok("Set-Cookie", "sid=a; HttpOnly", "sid=b"));
        assert!(ok(
            "SET-COOKIE",
            "sid=a; HttpOnly; path=/",
            "sid=b; Path=/; httponly"
        ));
    }

    #[test]
    fn unfilled_placeholders_only_need_the_header() {
        assert!(ok("x-request-id", "${secret:REQ_ID}", "anything"));
        assert!(!ok("x-request-id", "${secret:REQ_ID}", ""));
        assert!(ok(
            "set-cookie",
            "sid=${secret:COOKIE_SID}; Path=/",
            "sid=s1; Path=/"
        ));
    }

    #[test]
    fn cookies_keep_their_names_and_attributes_whatever_their_values() {
        let rec = ["sid=abc; Path=/; HttpOnly", "theme=dark; Max-Age=60"];
        assert!(check(
            "set-cookie",
            &rec,
            &["theme=light; Max-Age=5", "sid=zzz; Path=/; HttpOnly"]
        )
        .is_none());
        assert_eq!(
            check("set-cookie", &rec, &["sid=zzz"]).as_deref(),
            Some("Set-Cookie for sid, theme")
        );
        // Expires moves with the clock.
        let exp = ["sid=a; Expires=Thu, 26 Nov 2026 14:53:46 GMT; Secure"];
        assert!(check(
            "set-cookie",
            &exp,
            &["sid=b; Expires=Wed, 01 Jan 2098 00:00:00 GMT; Secure"]
        )
        .is_none());
    }

    #[test]
    fn dropped_or_changed_cookie_attributes_fail() {
        let rec = ["sid=abc; Path=/; HttpOnly; Secure; SameSite=Strict"];
        let want = Some("Set-Cookie sid=…; Path=/; HttpOnly; Secure; SameSite=Strict");
        assert_eq!(
            check("set-cookie", &rec, &["sid=zzz; Path=/"]).as_deref(),
            want
        );
        assert_eq!(
            check(
                "set-cookie",
                &rec,
                &["sid=zzz; Path=/; HttpOnly; Secure; SameSite=Lax"]
            )
            .as_deref(),
            want
        );
        assert_eq!(
            check(
                "set-cookie",
                &rec,
                &["sid=zzz; Path=/api; HttpOnly; Secure; SameSite=Strict"]
            )
            .as_deref(),
            want
        );
        // An attribute added is as much a change as one dropped.
        assert!(!ok(
            "set-cookie",
            "sid=a; Path=/",
            "sid=b; Path=/; Domain=example.com"
        ));
        // Attribute names and Domain/SameSite values are case-insensitive.
        assert!(ok(
            "set-cookie",
            "sid=a; Domain=Example.com; SameSite=Lax",
            "sid=b; domain=example.com; samesite=lax"
        ));
    }

    #[test]
    fn a_cookie_cleared_where_the_recording_set_it_fails() {
        let rec = ["sid=abc; Path=/; Max-Age=3600"];
        let want = Some("Set-Cookie sid=…; Path=/; Max-Age=…, not cleared");
        assert_eq!(
            check("set-cookie", &rec, &["sid=; Path=/; Max-Age=3600"]).as_deref(),
            want
        );
        assert_eq!(
            check("set-cookie", &rec, &["sid=zzz; Path=/; Max-Age=0"]).as_deref(),
            want
        );
        assert_eq!(
            check("set-cookie", &rec, &["sid=zzz; Path=/; Max-Age=-1"]).as_deref(),
            want
        );
        let rec = ["sid=abc; Path=/; Expires=Wed, 01 Jan 2098 00:00:00 GMT"];
        assert!(!ok(
            "set-cookie",
            rec[0],
            "sid=zzz; Path=/; Expires=Thu, 01-Jan-1970 00:00:00 GMT"
        ));
        // A recorded logout replays as a logout.
        let logout = "sid=; Path=/; Max-Age=0";
        assert!(ok("set-cookie", logout, "sid=; Path=/; Max-Age=0"));
    }
}
