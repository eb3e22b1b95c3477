//! Typed matchers: `{"$reel": "uuid"}` in an expected body accepts any value of
//! that type or format, but still requires the field to be there.

use serde_json::{json, Value};

pub mod formats;

/// The key that marks a matcher object.
pub const MARKER: &str = "$reel";

/// A matcher the generator put in place of a recorded value.
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    pub path: String,
    pub kind: &'static str,
}

/// Replaces volatile-format values in `v` with matchers, listing each one.
/// `recorded_at` (Unix seconds) lets epoch times near the recording be seen.
pub fn infer_at(v: &mut Value, path: &str, recorded_at: i64, found: &mut Vec<Inferred>) {
    if let Some(kind) = v.as_i64().and_then(|n| epoch_kind(n, recorded_at)) {
        found.push(Inferred {
            path: path.to_owned(),
            kind,
        });
        *v = json!({ MARKER: kind });
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                infer_at(child, &crate::json_path::child(path, k), recorded_at, found);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter_mut().enumerate() {
                infer_at(child, &format!("{path}[{i}]"), recorded_at, found);
            }
        }
        _ => infer(v, path, found),
    }
}

/// Replaces volatile-format strings in `v` with matchers, listing each one.
pub fn infer(v: &mut Value, path: &str, found: &mut Vec<Inferred>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                infer(child, &crate::json_path::child(path, k), found);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter_mut().enumerate() {
                infer(child, &format!("{path}[{i}]"), found);
            }
        }
        Value::String(s) => {
            if let Some(kind) = volatile_kind(s) {
                found.push(Inferred {
                    path: path.to_owned(),
                    kind,
                });
                *v = json!({ MARKER: kind });
            }
        }
        _ => {}
    }
}

/// The matcher kind of `v` if it is a matcher object.
pub fn as_matcher(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get(MARKER).and_then(Value::as_str),
        _ => None,
    }
}

/// Every kind a `{"$reel": KIND}` matcher can name (see [`accepts`]).
pub const KINDS: &[&str] = &[
    "any",
    "uuid",
    "timestamp",
    "token",
    "epoch_seconds",
    "epoch_millis",
    "string",
    "number",
    "boolean",
    "password_hash",
    "jwt",
    "hex",
    "base64",
    "bytes",
];

/// The first matcher in `v` (at JSON path `path`) whose kind reel does not
/// know, as `"PATH: ..."`: such a matcher would match nothing, and its case
/// would fail with a diff that does not say why.
pub fn check_kinds(v: &Value, path: &str) -> Result<(), String> {
    match v {
        Value::Object(m) => {
            if let Some(kind) = as_matcher(v) {
                if !KINDS.contains(&kind) {
                    return Err(format!(
                        "{path}: {{\"{MARKER}\": {kind:?}}} is not a matcher reel knows \
                         (known: {})",
                        KINDS.join(", ")
                    ));
                }
                return Ok(());
            }
            m.iter()
                .try_for_each(|(k, child)| check_kinds(child, &crate::json_path::child(path, k)))
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, child)| check_kinds(child, &format!("{path}[{i}]"))),
        _ => Ok(()),
    }
}

/// A query string's `name=value` pieces as written (not decoded), empty
/// pieces left out; a piece without `=` is a name with an empty value.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// A query value percent-decoded (`+` is a space; anything malformed is left
/// as it is): how the generator reads a made-up value in a mock's target,
/// and the mock a matcher written there (as written, or percent-encoded).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// Whether `actual` satisfies matcher `kind`.
pub fn accepts(kind: &str, actual: &Value) -> bool {
    match kind {
        "any" => true,
        "uuid" => actual.as_str().is_some_and(is_uuid),
        "timestamp" => actual.as_str().is_some_and(is_timestamp),
        "token" => actual.as_str().is_some_and(is_token),
        "epoch_seconds" | "epoch_millis" => actual.as_i64().is_some_and(|n| n > 0),
        "string" => actual.is_string(),
        "number" => actual.is_number(),
        "boolean" => actual.is_boolean(),
        // Kinds of values apps make up and send to their dependencies.
        "password_hash" | "jwt" | "hex" | "base64" | "bytes" => actual
            .as_str()
            .is_some_and(|s| formats::accepts_text(kind, s)),
        _ => false,
    }
}

/// The volatile format of one value, if it has one: a UUID, timestamp or
/// token string, or epoch seconds or milliseconds within a week of `near`.
pub fn format_kind(v: &Value, near: i64) -> Option<&'static str> {
    match v {
        Value::String(s) => volatile_kind(s),
        _ => v.as_i64().and_then(|n| epoch_kind(n, near)),
    }
}

fn volatile_kind(s: &str) -> Option<&'static str> {
    if is_uuid(s) {
        Some("uuid")
    } else if is_timestamp(s) {
        Some("timestamp")
    } else if is_token(s) {
        Some("token")
    } else {
        None
    }
}

/// Seconds or milliseconds since the epoch within a week of the recording.
fn epoch_kind(n: i64, recorded_at: i64) -> Option<&'static str> {
    const WEEK: i64 = 7 * 24 * 3600;
    // Before 2000 nothing is a plausible "now"; small numbers are counts.
    const Y2K: i64 = 946_684_800;
    if recorded_at < Y2K || n < Y2K {
        return None;
    }
    if (n - recorded_at).abs() <= WEEK {
        Some("epoch_seconds")
    } else if (n / 1000 - recorded_at).abs() <= WEEK {
        Some("epoch_millis")
    } else {
        None
    }
}

/// An opaque random token: 24+ characters of one word, letters and digits
/// mixed, many distinct characters (session ids, API tokens, nonces). One
/// random token in a few hundred has no digits at all (32 characters of
/// base64url: 0.4%): without digits, upper and lower case each make 30 to
/// 70% of the letters, as in random text and not in CamelCase names
/// (`AbstractSingletonProxyFactoryBean`: 15%). Not a slug: a value whose
/// `-`, `_` or `.` parts include two or more words of lower-case letters
/// (`dragons-of-u3f9a1c2-0`) was made of words, and is data.
pub fn is_token(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 24
        || !b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.+/=".contains(c))
    {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let letters = b.iter().filter(|c| c.is_ascii_alphabetic()).count();
    let distinct = b.iter().collect::<std::collections::BTreeSet<_>>().len();
    let upper = b.iter().filter(|c| c.is_ascii_uppercase()).count();
    let mixed_case = (letters * 3..=letters * 7).contains(&(upper * 10)) && distinct >= 12;
    (digits >= 3 || mixed_case) && letters >= 3 && distinct >= 10 && !is_slug(s)
}

/// Words joined by `-`, `_` or `.` (`dragons-of-ua62dddc5e5-0`,
/// `report_2026_q3_final.v2.pdf`): it begins with a lower-case word of three
/// letters or more, has another, and a separator every eight characters or
/// oftener. Random base64url has one in about 32, and seldom begins with a
/// word: a JWT or an API key is not taken for a slug.
fn is_slug(s: &str) -> bool {
    let word = |p: &str| p.len() >= 2 && p.bytes().all(|c| c.is_ascii_lowercase());
    let parts: Vec<&str> = s.split(['-', '_', '.']).collect();
    let separators = parts.len() - 1;
    parts.first().is_some_and(|p| word(p) && p.len() >= 3)
        && parts.iter().filter(|p| word(p)).count() >= 2
        && separators * 8 >= s.len()
}

pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// RFC 3339 / ISO 8601 date-times with a zone, e.g. `2026-11-26T12:00:00.123Z`.
pub fn is_timestamp(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_are_as_written_and_keep_names_without_values() {
        let got: Vec<_> = query_pairs("a=1&&b&c=x=y&d=%20+").collect();
        assert_eq!(got, [("a", "1"), ("b", ""), ("c", "x=y"), ("d", "%20+")]);
        assert_eq!(percent_decode("%20+%zz"), "  %zz");
    }

    #[test]
    fn volatile_formats_become_matchers_with_their_paths() {
        let mut v = json!({
            "id": 7,
            "request_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "items": [{"created_at": "2026-11-26T12:00:00.5+01:00", "title": "T"}]
        });
        let mut found = Vec::new();
        infer(&mut v, "$", &mut found);
        assert_eq!(
            v,
            json!({
                "id": 7,
                "request_id": {"$reel": "uuid"},
                "items": [{"created_at": {"$reel": "timestamp"}, "title": "T"}]
            })
        );
        let paths: Vec<_> = found.iter().map(|f| (f.path.as_str(), f.kind)).collect();
        assert_eq!(
            paths,
            [
                ("$.request_id", "uuid"),
                ("$.items[0].created_at", "timestamp")
            ]
        );
    }

    #[test]
    fn epoch_times_near_the_recording_and_tokens_are_volatile() {
        let at = 1_764_160_000;
        let mut v = json!({"ts": at + 60, "ms": (at - 5) * 1000, "count": 42, "year": 2026,
            "sid": "9f86d081884c7d659a2feaa0c55ad015", "isbn": "978-0441013593",
            "word": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
            "slug": "dragons-of-ua62dddc5e5-0", "file": "report_2026_q3_final.v2.pdf"});
        let mut found = Vec::new();
        infer_at(&mut v, "$", at, &mut found);
        let kinds: Vec<_> = found.iter().map(|f| (f.path.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("$.ts", "epoch_seconds"),
                ("$.ms", "epoch_millis"),
                ("$.sid", "token")
            ]
        );
        assert_eq!(v["count"], 42);
        assert_eq!(
            v["slug"], "dragons-of-ua62dddc5e5-0",
            "words make a slug, not a token"
        );
        // A random nonce with no digit at all (secrets.token_urlsafe(24)).
        assert!(accepts("token", &json!("CueWrhlUhEZHv-HxBodidjaUEmHYGvgp")));
        assert!(!accepts(
            "token",
            &json!("AbstractSingletonProxyFactoryBean")
        ));
        assert!(!accepts("token", &json!("XMLHttpRequestEventTargetImpl")));
        // Random base64url may hold short lower-case parts between - and _.
        let jwt_like = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VybmFtZSI6ImMxNzk2Mjg1Mzc3XzMiLCJzdWIiOiJhY2Nlc3MiLCJleHAiOjE3OTY4OTAyMjF9.48Nah2m6xikIZBbvawONnIz0uPI2_vv-ZIaIr8-B_fs";
        assert!(accepts("token", &json!(jwt_like)));
        assert!(accepts("token", &json!("abc-defgh_Xk29fLq0Zp7Rt4Wm")));
        assert!(accepts("token", &json!("0123456789abcdefABCDEF-_")));
        assert!(!accepts("token", &json!("short1a")));
    }

    #[test]
    fn matchers_check_type_and_format() {
        assert!(accepts(
            "uuid",
            &json!("00000000-0000-0000-0000-000000000000")
        ));
        assert!(!accepts("uuid", &json!("not-a-uuid")));
        assert!(!accepts("uuid", &json!(5)));
        assert!(accepts("timestamp", &json!("2026-01-01T00:00:00Z")));
        assert!(!accepts("timestamp", &json!("yesterday")));
        assert_eq!(as_matcher(&json!({"$reel": "uuid"})), Some("uuid"));
        assert_eq!(as_matcher(&json!({"$reel": "uuid", "x": 1})), None);
    }

    #[test]
    fn every_known_kind_is_one_accepts_takes_and_an_unknown_one_is_named() {
        // A kind in the list that `accepts` fell through for would refuse
        // everything: each accepts some value.
        let samples = [
            json!("550e8400-e29b-41d4-a716-446655440000"),
            json!("2026-01-01T00:00:00Z"),
            json!("abc-defgh_Xk29fLq0Zp7Rt4Wm"),
            json!(1_700_000_000),
            json!(true),
            json!("ff"),
            json!("$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"),
            json!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"),
        ];
        for kind in KINDS {
            assert!(
                samples.iter().any(|v| accepts(kind, v)),
                "no sample satisfies {kind}"
            );
        }
        let body = json!({"items": [{"id": {"$reel": "uuid"}}, {"id": {"$reel": "uuidd"}}]});
        let err = check_kinds(&body, "$").unwrap_err();
        assert!(
            err.starts_with(r#"$.items[1].id: {"$reel": "uuidd"} is not a matcher reel knows (known: any, uuid,"#),
            "{err}"
        );
        assert_eq!(check_kinds(&json!({"a": {"$reel": "token"}}), "$"), Ok(()));
    }
}
