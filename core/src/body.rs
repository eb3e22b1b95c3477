//! How bytes are shown in JSON: UTF-8 text where they are text, base64 otherwise.

use base64::Engine as _;
use serde::ser::SerializeMap;

/// Serializes bytes as `{"encoding": "text"|"base64", "data": ...}` plus extra fields.
pub fn encode_bytes(bytes: &[u8]) -> (&'static str, String) {
    match std::str::from_utf8(bytes) {
        Ok(text) => ("text", text.to_owned()),
        Err(_) => (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ),
    }
}

/// A header value: text when it is valid UTF-8 (nearly always), else `{"base64": ...}`.
pub fn serialize_header_value<S: serde::Serializer>(value: &[u8], s: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(value) {
        Ok(text) => s.serialize_str(text),
        Err(_) => {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry(
                "base64",
                &base64::engine::general_purpose::STANDARD.encode(value),
            )?;
            m.end()
        }
    }
}

/// Reads a header value written by [`serialize_header_value`].
pub fn deserialize_header_value(v: &serde_json::Value) -> Option<Vec<u8>> {
    match v {
        serde_json::Value::String(s) => Some(s.as_bytes().to_vec()),
        serde_json::Value::Object(m) => m
            .get("base64")
            .and_then(|b| b.as_str())
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_stays_text_and_binary_becomes_base64() {
        assert_eq!(encode_bytes(b"{\"a\":1}"), ("text", "{\"a\":1}".into()));
        assert_eq!(encode_bytes(&[0xff, 0x00]), ("base64", "/wA=".into()));
    }

    #[test]
    fn header_values_round_trip() {
        for raw in [b"plain".to_vec(), vec![0x80, b'a', 0xfe]] {
            let mut out = Vec::new();
            serialize_header_value(&raw, &mut serde_json::Serializer::new(&mut out)).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(deserialize_header_value(&v).unwrap(), raw);
        }
    }
}
