//! Bodies in suite files: JSON as JSON values, text as strings, binary as base64.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// A body as a person reads it in a case file: `{"json": ...}`, `{"text": "..."}`
/// or `{"base64": "..."}`. `truncated` marks a capture that was cut at the cap:
/// only its first bytes are known, so only they are compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodySpec {
    Json(serde_json::Value),
    Text(String),
    Base64(String),
    #[serde(rename = "truncated_base64")]
    TruncatedBase64(String),
}

impl BodySpec {
    /// Chooses the most readable faithful form of `bytes`. A JSON body becomes
    /// a JSON value only when re-serializing it gives the same bytes back, or
    /// when its content type says JSON (then equivalence is by value).
    pub fn from_bytes(bytes: &[u8], content_type: Option<&str>, truncated: bool) -> Option<Self> {
        if bytes.is_empty() && !truncated {
            return None;
        }
        if truncated {
            return Some(BodySpec::TruncatedBase64(
                base64::engine::general_purpose::STANDARD.encode(bytes),
            ));
        }
        let says_json = content_type.is_some_and(is_json_type);
        if says_json {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
                return Some(BodySpec::Json(v));
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(t) => Some(BodySpec::Text(t.to_owned())),
            Err(_) => Some(BodySpec::Base64(
                base64::engine::general_purpose::STANDARD.encode(bytes),
            )),
        }
    }

    /// The bytes to send (for requests and mock answers).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            BodySpec::Json(v) => serde_json::to_vec(v).expect("JSON values serialize"),
            BodySpec::Text(t) => t.as_bytes().to_vec(),
            BodySpec::Base64(b) | BodySpec::TruncatedBase64(b) => {
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_default()
            }
        }
    }
}

pub fn is_json_type(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || mime.ends_with("+json")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
