//! Bodies in suite files: JSON as JSON values, JSON lines as a list of
//! values, text as strings, binary as base64, and a matcher for a whole body
//! that is random by evidence.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::coding;

/// A body as a person reads it in a case file: `{"json": ...}`,
/// `{"json_lines": [...]}`, `{"json_seq": [...]}`, `{"text": "..."}`,
/// `{"base64": "..."}` or `{"$reel": {"kind": "bytes", "length": 16}}`.
/// `truncated` marks a capture that was cut at the cap: only its first bytes
/// are known, so only they are compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodySpec {
    Json(Value),
    /// Newline-delimited JSON (`application/x-ndjson`, JSON Lines): one value
    /// per line, compared line by line as JSON. Always a JSON array here, so
    /// line 2's `id` is `$[1].id` for matchers, noise rules and references.
    #[serde(rename = "json_lines", deserialize_with = "array")]
    JsonLines(Value),
    /// `application/json-seq` (RFC 7464): each value after an RS byte.
    #[serde(rename = "json_seq", deserialize_with = "array")]
    JsonSeq(Value),
    Text(String),
    Base64(String),
    #[serde(rename = "truncated_base64")]
    TruncatedBase64(String),
    /// Any body of a kind (and length), for answers that are random as a
    /// whole (random bytes, generated text): found by evidence from repeated
    /// runs, or written by hand. Only in expected responses.
    #[serde(rename = "$reel")]
    Matcher(BodyMatcher),
}

fn array<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    let v = Value::deserialize(d)?;
    if v.is_array() {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(
            "json_lines and json_seq hold a list of values, one per line",
        ))
    }
}

/// `{"kind": "text" | "bytes", "length": 16 | [64, 255]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyMatcher {
    pub kind: BodyKind,
    /// The body's length in bytes (decoded, where it was compressed): one
    /// number, or the least and most as `[min, max]`. Any length when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<Length>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyKind {
    /// UTF-8 text (JSON is text too).
    Text,
    /// Any bytes.
    Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Length {
    Exact(usize),
    Range([usize; 2]),
}

impl Length {
    /// The length class of the lengths seen: the one length when they all
    /// agree, else the powers of two around them (`[64, 255]` for 70 and
    /// 200), so a random length of the same order still passes.
    pub fn class_of(lengths: &[usize]) -> Option<Length> {
        let (&min, &max) = (lengths.iter().min()?, lengths.iter().max()?);
        if min == max {
            return Some(Length::Exact(min));
        }
        let low = if min == 0 {
            0
        } else {
            1 << (usize::BITS - 1 - min.leading_zeros())
        };
        let high = max
            .checked_next_power_of_two()
            .map(|p| if p == max { p * 2 - 1 } else { p - 1 })
            .unwrap_or(usize::MAX);
        Some(Length::Range([low, high]))
    }

    pub fn accepts(self, n: usize) -> bool {
        match self {
            Length::Exact(l) => n == l,
            Length::Range([lo, hi]) => (lo..=hi).contains(&n),
        }
    }
}

impl BodyMatcher {
    pub fn accepts(&self, bytes: &[u8]) -> bool {
        let kind_ok = match self.kind {
            BodyKind::Text => std::str::from_utf8(bytes).is_ok(),
            BodyKind::Bytes => true,
        };
        kind_ok && self.length.is_none_or(|l| l.accepts(bytes.len()))
    }

    /// `any text of 64 to 255 bytes`.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            BodyKind::Text => "any text",
            BodyKind::Bytes => "any bytes",
        };
        match self.length {
            None => what.to_owned(),
            Some(Length::Exact(n)) => format!("{what} of {n} bytes"),
            Some(Length::Range([lo, hi])) => format!("{what} of {lo} to {hi} bytes"),
        }
    }
}

impl BodySpec {
    /// Chooses the most readable faithful form of `bytes`. A JSON body becomes
    /// a JSON value only when re-serializing it gives the same bytes back, or
    /// when its content type says JSON (then equivalence is by value); the
    /// same for JSON lines.
    pub fn from_bytes(bytes: &[u8], content_type: Option<&str>, truncated: bool) -> Option<Self> {
        Self::choose(bytes, content_type, truncated, false)
    }

    /// [`BodySpec::from_bytes`] for an answer, which reel compares rather than
    /// sends byte for byte: text that is JSON lines (every line a JSON object
    /// or array, two or more) and a JSON-typed body of several values, one per
    /// line, are JSON lines by value, however the lines are spaced.
    pub fn of_response(bytes: &[u8], content_type: Option<&str>, truncated: bool) -> Option<Self> {
        Self::choose(bytes, content_type, truncated, true)
    }

    fn choose(
        bytes: &[u8],
        content_type: Option<&str>,
        truncated: bool,
        response: bool,
    ) -> Option<Self> {
        if bytes.is_empty() && !truncated {
            return None;
        }
        if truncated {
            return Some(BodySpec::TruncatedBase64(
                base64::engine::general_purpose::STANDARD.encode(bytes),
            ));
        }
        let mime = content_type.map(mime_of).unwrap_or_default();
        let text = std::str::from_utf8(bytes).ok();
        if is_json_mime(&mime) {
            if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
                return Some(BodySpec::Json(v));
            }
        }
        if let Some(t) = text {
            if mime == "application/json-seq" {
                if let Some(v) = json_seq(t) {
                    return Some(BodySpec::JsonSeq(v));
                }
            }
            if JSON_LINES_TYPES.contains(&mime.as_str()) {
                if let Some(v) = json_lines(t, false) {
                    return Some(BodySpec::JsonLines(v));
                }
            }
            if let Some(v) = json_lines(t, true) {
                let lines = BodySpec::JsonLines(v);
                if response || lines.to_bytes() == bytes {
                    return Some(lines);
                }
            }
        }
        match text {
            Some(t) => Some(BodySpec::Text(t.to_owned())),
            None => Some(BodySpec::Base64(
                base64::engine::general_purpose::STANDARD.encode(bytes),
            )),
        }
    }

    /// The bytes to send (for requests and mock answers). A matcher has none:
    /// the suite loader allows it only where a body is compared.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            BodySpec::Json(v) => serde_json::to_vec(v).expect("JSON values serialize"),
            BodySpec::JsonLines(v) | BodySpec::JsonSeq(v) => {
                let seq = matches!(self, BodySpec::JsonSeq(_));
                let mut out = Vec::new();
                for line in v.as_array().map(Vec::as_slice).unwrap_or_default() {
                    if seq {
                        out.push(RS);
                    }
                    serde_json::to_writer(&mut out, line).expect("JSON values serialize");
                    out.push(b'\n');
                }
                out
            }
            BodySpec::Text(t) => t.as_bytes().to_vec(),
            BodySpec::Base64(b) | BodySpec::TruncatedBase64(b) => {
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_default()
            }
            BodySpec::Matcher(_) => Vec::new(),
        }
    }

    /// The JSON a JSON or JSON-lines body holds (lines as an array).
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            BodySpec::Json(v) | BodySpec::JsonLines(v) | BodySpec::JsonSeq(v) => Some(v),
            _ => None,
        }
    }

    pub fn as_json_mut(&mut self) -> Option<&mut Value> {
        match self {
            BodySpec::Json(v) | BodySpec::JsonLines(v) | BodySpec::JsonSeq(v) => Some(v),
            _ => None,
        }
    }

    /// The same form holding other JSON: lines stay lines.
    pub fn with_json(&self, v: Value) -> BodySpec {
        match self {
            BodySpec::JsonLines(_) => BodySpec::JsonLines(v),
            BodySpec::JsonSeq(_) => BodySpec::JsonSeq(v),
            _ => BodySpec::Json(v),
        }
    }

    /// A text body read as JSON lines, when it is one (for an answer whose
    /// recording was JSON lines but that came back with one line or as plain
    /// text): every non-blank line a JSON value.
    pub fn lines_of(&self) -> Option<Value> {
        match self {
            BodySpec::Text(t) => json_lines(t, false),
            other => other.as_json().filter(|v| v.is_array()).cloned(),
        }
    }
}

/// An answer's body as a suite shows it: decoded from its `Content-Encoding`
/// where reel can decode it, as sent where it cannot (and why).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    pub body: Option<BodySpec>,
    /// The codings undone, as a suite writes them (`gzip`, `gzip, br`).
    pub encoding: Option<String>,
    /// Why a body sent with a coding is shown as sent.
    pub undecoded: Option<String>,
}

impl Answer {
    pub fn of(headers: &[(String, String)], bytes: &[u8], truncated: bool) -> Answer {
        let content_type = super::spec_header(headers, "content-type");
        let raw = |undecoded: Option<String>| Answer {
            body: BodySpec::of_response(bytes, content_type, truncated),
            encoding: None,
            undecoded,
        };
        let codings = match coding::of_headers(headers) {
            Ok(c) => c,
            Err(e) => return raw(Some(e.to_string())),
        };
        if codings.is_empty() || bytes.is_empty() {
            return raw(None);
        }
        let decoded = if truncated {
            coding::decode_prefix(bytes, &codings)
        } else {
            coding::decode(bytes, &codings)
        };
        match decoded {
            Ok(d) => Answer {
                body: BodySpec::of_response(&d, content_type, truncated),
                encoding: Some(coding::describe(&codings)),
                undecoded: None,
            },
            Err(e) => raw(Some(e.to_string())),
        }
    }
}

impl super::ResponseSpec {
    /// This response with its body decoded, if a suite written before bodies
    /// were shown decoded holds it as sent (base64 of gzip, say); else as it
    /// is.
    pub fn decoded(mut self) -> Self {
        if self.body_encoding.is_some() {
            return self;
        }
        let (bytes, truncated) = match &self.body {
            Some(b @ (BodySpec::Base64(_) | BodySpec::Text(_))) => (b.to_bytes(), false),
            Some(b @ BodySpec::TruncatedBase64(_)) => (b.to_bytes(), true),
            _ => return self,
        };
        let answer = Answer::of(&self.headers, &bytes, truncated);
        if answer.encoding.is_some() {
            self.body = answer.body;
            self.body_encoding = answer.encoding;
        }
        self
    }

    /// The body's bytes as they go on the wire: encoded again with
    /// `body_encoding`, if it has one.
    pub fn wire_body(&self) -> std::io::Result<Vec<u8>> {
        let bytes = self
            .body
            .as_ref()
            .map(BodySpec::to_bytes)
            .unwrap_or_default();
        match &self.body_encoding {
            Some(e) if !bytes.is_empty() => {
                let codings = coding::parse_list(e).map_err(std::io::Error::other)?;
                coding::encode(&bytes, &codings)
            }
            _ => Ok(bytes),
        }
    }
}

/// The record separator that starts each value of `application/json-seq`.
const RS: u8 = 0x1e;

/// Content types of newline-delimited JSON.
const JSON_LINES_TYPES: &[&str] = &[
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonl",
    "application/jsonlines",
    "application/x-jsonlines",
];

/// The values of newline-delimited JSON. `strict` (text that no content type
/// calls JSON lines): two or more lines, each a JSON object or array, no blank
/// line, a newline at the end.
fn json_lines(text: &str, strict: bool) -> Option<Value> {
    if strict && !text.ends_with('\n') {
        return None;
    }
    let mut out = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).ok()?;
        if strict && !(v.is_object() || v.is_array()) {
            return None;
        }
        out.push(v);
    }
    let blank = text.trim_end_matches('\n').split('\n').count() != out.len();
    if out.is_empty() || (strict && (out.len() < 2 || blank)) {
        return None;
    }
    Some(Value::Array(out))
}

fn json_seq(text: &str) -> Option<Value> {
    let values: Option<Vec<Value>> = text
        .split(RS as char)
        .filter(|r| !r.trim().is_empty())
        .map(|r| serde_json::from_str(r.trim()).ok())
        .collect();
    values.filter(|v| !v.is_empty()).map(Value::Array)
}

/// `application/json` of `Application/JSON; charset=utf-8`.
fn mime_of(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || mime.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A recorded JSON answer is sent by the mock from its parsed value: a
    /// number read one unit in the last place off (serde_json's default
    /// float parser) would reach the app changed.
    #[test]
    fn a_json_answer_keeps_its_numbers_exactly() {
        let recorded = br#"{"price":4.577777777777779e+71}"#;
        let body = BodySpec::of_response(recorded, Some("application/json"), false).unwrap();
        assert_eq!(
            String::from_utf8(body.to_bytes()).unwrap(),
            r#"{"price":4.577777777777779e+71}"#
        );
    }

    #[test]
    fn picks_json_text_or_base64() {
        let j = BodySpec::from_bytes(b"{\"a\":1}", Some("application/json; charset=utf-8"), false);
        assert_eq!(j, Some(BodySpec::Json(serde_json::json!({"a": 1}))));
        let t = BodySpec::from_bytes(b"{\"a\":1}", Some("text/plain"), false);
        assert_eq!(t, Some(BodySpec::Text("{\"a\":1}".into())));
        let b = BodySpec::from_bytes(&[0xff, 1], None, false).unwrap();
        assert_eq!(b, BodySpec::Base64("/wE=".into()));
        assert_eq!(b.to_bytes(), vec![0xff, 1]);
        assert_eq!(BodySpec::from_bytes(b"", None, false), None);
    }

    #[test]
    fn serializes_with_a_readable_marker() {
        let s = serde_json::to_string(&BodySpec::Text("hi".into())).unwrap();
        assert_eq!(s, r#"{"text":"hi"}"#);
        let s = serde_json::to_string(&BodySpec::Json(serde_json::json!([1]))).unwrap();
        assert_eq!(s, r#"{"json":[1]}"#);
    }

    #[test]
    fn json_lines_are_values_one_per_line() {
        let nd = b"{\"id\": 1}\n\n{\"id\": 2}\n";
        let typed = BodySpec::from_bytes(nd, Some("application/x-ndjson"), false).unwrap();
        assert_eq!(typed, BodySpec::JsonLines(json!([{"id": 1}, {"id": 2}])));
        assert_eq!(typed.to_bytes(), b"{\"id\":1}\n{\"id\":2}\n");
        assert_eq!(
            serde_json::to_string(&typed).unwrap(),
            r#"{"json_lines":[{"id":1},{"id":2}]}"#
        );
        // A JSON-typed stream of values (httpbin's /stream) is lines too.
        let stream = b"{\"id\": 0}\n{\"id\": 1}\n";
        assert_eq!(
            BodySpec::of_response(stream, Some("application/json"), false),
            Some(BodySpec::JsonLines(json!([{"id": 0}, {"id": 1}])))
        );
        // Untyped text: lines when they are objects, in a request only when
        // sending them again gives the same bytes.
        assert_eq!(
            BodySpec::from_bytes(b"{\"a\":1}\n{\"a\":2}\n", Some("text/plain"), false),
            Some(BodySpec::JsonLines(json!([{"a": 1}, {"a": 2}])))
        );
        assert!(matches!(
            BodySpec::from_bytes(stream, None, false),
            Some(BodySpec::Text(_))
        ));
        assert!(matches!(
            BodySpec::of_response(stream, None, false),
            Some(BodySpec::JsonLines(_))
        ));
        for not_lines in [
            &b"1\n2\n"[..],
            b"{\"a\":1}\n",
            b"{\"a\":1}\n\n{\"a\":2}\n",
            b"{\"a\":1}\n{",
        ] {
            assert!(
                matches!(
                    BodySpec::of_response(not_lines, Some("text/plain"), false),
                    Some(BodySpec::Text(_))
                ),
                "{}",
                String::from_utf8_lossy(not_lines)
            );
        }
        let seq = b"\x1e{\"a\":1}\n\x1e[2]\n";
        let s = BodySpec::from_bytes(seq, Some("application/json-seq"), false).unwrap();
        assert_eq!(s, BodySpec::JsonSeq(json!([{"a": 1}, [2]])));
        assert_eq!(s.to_bytes(), seq);
        assert!(serde_json::from_str::<BodySpec>(r#"{"json_lines": {"a": 1}}"#).is_err());
    }

    #[test]
    fn body_matchers_take_a_kind_and_a_length_class() {
        let m: BodySpec =
            serde_json::from_str(r#"{"$reel": {"kind": "bytes", "length": [64, 255]}}"#).unwrap();
        let BodySpec::Matcher(m) = m else {
            panic!("{m:?}")
        };
        assert!(m.accepts(&[0xff; 64]) && m.accepts(&[0; 255]) && !m.accepts(&[0; 256]));
        assert_eq!(m.describe(), "any bytes of 64 to 255 bytes");
        let text = BodyMatcher {
            kind: BodyKind::Text,
            length: Some(Length::Exact(3)),
        };
        assert!(text.accepts(b"abc") && !text.accepts(&[0xff, 0xfe, 0xfd]));
        assert_eq!(
            serde_json::to_string(&BodySpec::Matcher(text)).unwrap(),
            r#"{"$reel":{"kind":"text","length":3}}"#
        );
        assert_eq!(Length::class_of(&[100, 100]), Some(Length::Exact(100)));
        assert_eq!(Length::class_of(&[70, 200]), Some(Length::Range([64, 255])));
        assert_eq!(Length::class_of(&[64, 128]), Some(Length::Range([64, 255])));
        assert_eq!(Length::class_of(&[0, 3]), Some(Length::Range([0, 3])));
    }
}
