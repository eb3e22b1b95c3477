//! `Bytes`: a protocol value kept as raw bytes (parameters, row values, copy
//! data, keys), and its JSON form.
//!
//! In JSON a value is a plain string when it is printable UTF-8, so recorded
//! rows stay readable and editable, and `{"base64": "..."}` otherwise, so that
//! any bytes survive the trip through JSON exactly.

use std::fmt;
use std::ops::Deref;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Raw bytes of a protocol value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text, if they can be shown as a JSON string without
    /// hiding anything (see [`printable`]).
    fn as_printable(&self) -> Option<&str> {
        printable(&self.0)
    }
}

/// `bytes` as text, if they can be shown as a JSON string without hiding
/// anything: UTF-8 with no control characters except tab and line breaks.
///
/// Every recorded value and name passes through here, so it looks at bytes,
/// not `char`s: once the bytes are known to be UTF-8, a control character
/// (`char::is_control`) is an ASCII one or a C1 one, and a C1 control is
/// always the two bytes `C2 80` to `C2 9F`.
pub(crate) fn printable(bytes: &[u8]) -> Option<&str> {
    // Plain ASCII without controls, the common case: one pass with no
    // early exit, which the compiler turns into vector compares.
    if bytes
        .iter()
        .fold(true, |all, &b| all & (0x20..0x7f).contains(&b))
    {
        return std::str::from_utf8(bytes).ok();
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let control = bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\t' | b'\n' | b'\r' => false,
        0..=0x1f | 0x7f => true,
        0xc2 => matches!(bytes.get(i + 1), Some(0x80..=0x9f)),
        _ => false,
    });
    (!control).then_some(text)
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes(bytes)
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Self {
        Bytes(bytes.to_vec())
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return serializer.serialize_bytes(&self.0);
        }
        match self.as_printable() {
            Some(text) => serializer.serialize_str(text),
            None => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("base64", &STANDARD.encode(&self.0))?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BytesVisitor)
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"a string or {"base64": "..."}"#)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Bytes, E> {
        Ok(Bytes(text.as_bytes().to_vec()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Bytes, E> {
        Ok(Bytes(text.into_bytes()))
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes(bytes.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes(bytes))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bytes, A::Error> {
        let mut decoded = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "base64" {
                return Err(de::Error::unknown_field(&key, &["base64"]));
            }
            if decoded.is_some() {
                return Err(de::Error::duplicate_field("base64"));
            }
            let text: String = map.next_value()?;
            let bytes = STANDARD
                .decode(text.as_bytes())
                .map_err(|e| de::Error::custom(format_args!("invalid base64: {e}")))?;
            decoded = Some(Bytes(bytes));
        }
        decoded.ok_or_else(|| de::Error::missing_field("base64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `printable` must mean, said the slow way: valid UTF-8 whose
    /// `char`s are not controls, tab and line breaks allowed.
    fn printable_by_chars(bytes: &[u8]) -> bool {
        std::str::from_utf8(bytes).is_ok_and(|t| {
            t.chars()
                .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        })
    }

    #[test]
    fn printable_agrees_with_char_is_control_for_every_char() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            // Alone, and between neighbours that could be mistaken for
            // parts of it.
            for text in [format!("{c}"), format!("\u{c2}{c}\u{9f}")] {
                assert_eq!(
                    printable(text.as_bytes()).is_some(),
                    printable_by_chars(text.as_bytes()),
                    "U+{:04X} in {text:?}",
                    c as u32
                );
            }
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_not_printable() {
        for bad in [&b"\xc2"[..], b"a\xff", b"\xc2\x80\x80", b"\xed\xa0\x80"] {
            assert_eq!(printable(bad), None, "{bad:?}");
            assert!(!printable_by_chars(bad));
        }
        assert_eq!(printable("né\u{a0}".as_bytes()), Some("né\u{a0}"));
        assert_eq!(printable("a\u{85}b".as_bytes()), None);
        assert_eq!(printable(b"tab\there\r\n"), Some("tab\there\r\n"));
    }

    #[test]
    fn json_keeps_printable_text_as_a_string_and_the_rest_as_base64() {
        let json = |b: &[u8]| serde_json::to_value(Bytes::from(b)).unwrap();
        assert_eq!(json(b"plain"), serde_json::json!("plain"));
        assert_eq!(json(b"\x00\x01"), serde_json::json!({"base64": "AAE="}));
        assert_eq!(
            json("\u{9f}".as_bytes()),
            serde_json::json!({"base64": "wp8="})
        );
    }
}
