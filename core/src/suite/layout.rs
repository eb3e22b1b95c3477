//! How a JSON request body was laid out on the wire, so that replay sends the
//! same bytes.
//!
//! A case keeps a JSON body as a JSON value (readable, and where secrets and
//! references are found), but clients write JSON in different ways: Python's
//! `json.dumps` puts a space after `,` and `:` and escapes non-ASCII, a
//! pretty-printer indents, a file sent with curl ends in a line break. An app
//! that hashes, signs or echoes the raw body sees the difference. `generate`
//! writes the layout beside the case's request when the compact form is not
//! what the client sent and one of these layouts gives its bytes back exactly;
//! a body no layout reproduces (numbers written as `1e-05`, escaped slashes)
//! is sent compact.

use serde::{Deserialize, Serialize};
use serde_json::ser::Formatter;
use serde_json::Value;

/// Absent fields are the compact form's: one line, `,` and `:`, UTF-8 as is,
/// no line break at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonLayout {
    /// Spaces of indentation, one item per line (pretty-printed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indent: Option<u8>,
    /// `": "` after keys, and `", "` between items on one line.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spaced: bool,
    /// Characters beyond ASCII written as `\uXXXX` escapes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ascii: bool,
    /// A line break after the value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub newline: bool,
}

impl JsonLayout {
    /// `v` written in this layout.
    pub fn write(&self, v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut out,
            LayoutFormatter {
                layout: *self,
                level: 0,
                has_value: false,
            },
        );
        v.serialize(&mut ser).expect("JSON values serialize");
        if self.newline {
            out.push(b'\n');
        }
        out
    }

    /// The layout that writes `v` as exactly `bytes`, when the compact form
    /// does not; None when compact is exact or no layout is.
    pub fn of(v: &Value, bytes: &[u8]) -> Option<JsonLayout> {
        if serde_json::to_vec(v).is_ok_and(|c| c == bytes) {
            return None;
        }
        let newline = bytes.ends_with(b"\n");
        let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        // The first line break inside the value is followed by one level of
        // indentation.
        let indent = text
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| text[i + 1..].iter().take_while(|&&b| b == b' ').count());
        let indent = match indent {
            None => None,
            Some(n @ 1..=16) => Some(n as u8),
            Some(_) => return None,
        };
        [(false, false), (true, false), (false, true), (true, true)]
            .into_iter()
            .map(|(spaced, ascii)| JsonLayout {
                indent,
                spaced,
                ascii,
                newline,
            })
            .find(|l| l.write(v) == bytes)
    }
}

/// serde_json's formatter hooks, written for a [`JsonLayout`] (the indented
/// form follows serde_json's `PrettyFormatter`).
struct LayoutFormatter {
    layout: JsonLayout,
    level: usize,
    has_value: bool,
}

impl LayoutFormatter {
    fn new_line<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        if let Some(n) = self.layout.indent {
            w.write_all(b"\n")?;
            for _ in 0..self.level * usize::from(n) {
                w.write_all(b" ")?;
            }
        }
        Ok(())
    }

    fn separator<W: ?Sized + std::io::Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            let one_line_space = self.layout.spaced && self.layout.indent.is_none();
            w.write_all(if one_line_space { b", " } else { b"," })?;
        }
        self.new_line(w)
    }

    fn open<W: ?Sized + std::io::Write>(&mut self, w: &mut W, c: &[u8]) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(c)
    }

    fn close<W: ?Sized + std::io::Write>(&mut self, w: &mut W, c: &[u8]) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.new_line(w)?;
        }
        w.write_all(c)
    }
}

impl Formatter for LayoutFormatter {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.separator(w, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.separator(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(if self.layout.spaced { b": " } else { b":" })
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if !self.layout.ascii {
            return w.write_all(fragment.as_bytes());
        }
        // As Python's ensure_ascii: everything outside space..~ is escaped
        // (serde_json has already escaped quotes, backslashes and controls).
        for c in fragment.chars() {
            if (' '..='~').contains(&c) {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each client's way of writing the same value comes back byte for byte.
    #[test]
    fn the_layouts_of_common_clients_are_found_and_reproduced() {
        let v = json!({"name": "Zoë 😀", "tags": ["a", "b"], "n": {"x": 1.5, "e": []}, "k": null});
        let clients: &[(&str, &str, Option<JsonLayout>)] = &[
            (
                "serde_json, JSON.stringify",
                r#"{"name":"Zoë 😀","tags":["a","b"],"n":{"x":1.5,"e":[]},"k":null}"#,
                None,
            ),
            (
                "Python json.dumps (requests' json=)",
                r#"{"name": "Zo\u00eb \ud83d\ude00", "tags": ["a", "b"], "n": {"x": 1.5, "e": []}, "k": null}"#,
                Some(JsonLayout { spaced: true, ascii: true, ..Default::default() }),
            ),
            (
                "Python json.dumps(ensure_ascii=False) and a trailing line break",
                "{\"name\": \"Zoë 😀\", \"tags\": [\"a\", \"b\"], \"n\": {\"x\": 1.5, \"e\": []}, \"k\": null}\n",
                Some(JsonLayout { spaced: true, newline: true, ..Default::default() }),
            ),
            (
                "JSON.stringify(v, null, 2)",
                "{\n  \"name\": \"Zoë 😀\",\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ],\n  \"n\": {\n    \"x\": 1.5,\n    \"e\": []\n  },\n  \"k\": null\n}",
                Some(JsonLayout { indent: Some(2), spaced: true, ..Default::default() }),
            ),
            (
                "Python json.dumps(indent=4)",
                "{\n    \"name\": \"Zo\\u00eb \\ud83d\\ude00\",\n    \"tags\": [\n        \"a\",\n        \"b\"\n    ],\n    \"n\": {\n        \"x\": 1.5,\n        \"e\": []\n    },\n    \"k\": null\n}",
                Some(JsonLayout { indent: Some(4), spaced: true, ascii: true, newline: false }),
            ),
        ];
        for (client, bytes, want) in clients {
            let parsed: Value = serde_json::from_str(bytes).unwrap();
            assert_eq!(parsed, v, "{client}");
            let found = JsonLayout::of(&v, bytes.as_bytes());
            assert_eq!(found, *want, "{client}");
            let written = found.map_or_else(|| serde_json::to_vec(&v).unwrap(), |l| l.write(&v));
            assert_eq!(String::from_utf8(written).unwrap(), *bytes, "{client}");
        }
        // A spelling no layout gives back is sent compact.
        let odd = br#"{"x": 1e-05}"#;
        let v: Value = serde_json::from_slice(odd).unwrap();
        assert_eq!(JsonLayout::of(&v, odd), None);
    }

    #[test]
    fn only_what_differs_from_compact_is_written() {
        let l = JsonLayout {
            spaced: true,
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"{"spaced":true}"#);
        let back: JsonLayout = serde_json::from_str(r#"{"indent": 2, "newline": true}"#).unwrap();
        assert_eq!(
            back,
            JsonLayout {
                indent: Some(2),
                newline: true,
                ..Default::default()
            }
        );
    }
}
