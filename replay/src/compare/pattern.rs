//! Header values with matcher slots: `${reel:KIND}` in an expected header
//! value stands for any text of that kind, the rest must be as written.
//! `X-Nonce: ${reel:token}` takes any token; `Content-Type: multipart/mixed;
//! boundary=${reel:string}` keeps the media type and lets the boundary vary.
//!
//! Kinds are those of body matchers (`uuid`, `timestamp`, `token`, `number`,
//! `string`, ...) plus `http_date`. `reel test --stability` and `reel generate
//! --verify` write slots where a header differed between runs: the whole
//! value when every value shares a format, else only the words that differed.

use reel_core::matcher::{accepts as accepts_value, format_kind};
use serde_json::Value;

use super::loose::is_http_date;

const OPEN: &str = "${reel:";

/// Whether an expected header value holds a slot.
pub fn has_slots(v: &str) -> bool {
    !slots(v).is_empty()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece<'a> {
    Lit(&'a str),
    Slot(&'a str),
}

fn pieces(p: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = p;
    while let Some(i) = rest.find(OPEN) {
        let after = &rest[i + OPEN.len()..];
        let Some(end) = after.find('}') else { break };
        let kind = &after[..end];
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            // Not a slot: keep it as text and look further on.
            out.push(Piece::Lit(&rest[..i + OPEN.len()]));
            rest = after;
            continue;
        }
        if i > 0 {
            out.push(Piece::Lit(&rest[..i]));
        }
        out.push(Piece::Slot(kind));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Lit(rest));
    }
    out
}

fn slots(p: &str) -> Vec<&str> {
    pieces(p)
        .into_iter()
        .filter_map(|x| match x {
            Piece::Slot(k) => Some(k),
            Piece::Lit(_) => None,
        })
        .collect()
}

/// Whether `actual` fits `pattern`: its text where the pattern has text, a
/// value of the slot's kind where it has a slot.
pub fn accepts(pattern: &str, actual: &str) -> bool {
    fits(&pieces(pattern), actual.trim())
}

fn fits(pieces: &[Piece<'_>], s: &str) -> bool {
    match pieces {
        [] => s.is_empty(),
        [Piece::Lit(l), rest @ ..] => s.strip_prefix(l).is_some_and(|r| fits(rest, r)),
        [Piece::Slot(k)] => slot_accepts(k, s),
        [Piece::Slot(k), Piece::Lit(l), rest @ ..] => s
            .match_indices(l)
            .any(|(i, _)| slot_accepts(k, &s[..i]) && fits(rest, &s[i + l.len()..])),
        // Two slots side by side: split anywhere.
        [Piece::Slot(k), rest @ ..] => (0..=s.len())
            .filter(|i| s.is_char_boundary(*i))
            .any(|i| slot_accepts(k, &s[..i]) && fits(rest, &s[i..])),
    }
}

/// Whether one slot's text is of `kind`.
pub fn slot_accepts(kind: &str, v: &str) -> bool {
    match kind {
        "any" => true,
        "string" => !v.is_empty(),
        "http_date" => is_http_date(v),
        "number" => !v.is_empty() && v.parse::<f64>().is_ok(),
        "epoch_seconds" | "epoch_millis" => v.parse::<i64>().is_ok_and(|n| n > 0),
        other => accepts_value(other, &Value::String(v.to_owned())),
    }
}

/// The most specific kind every value has: a format (UUID, timestamp,
/// token, ...), an HTTP date, a number, or any text.
pub fn kind_of(values: &[&str]) -> &'static str {
    let all = |k: &str| values.iter().all(|v| slot_accepts(k, v));
    let format = values
        .first()
        .and_then(|v| format_kind(&Value::String((*v).to_owned()), 0))
        .filter(|k| all(k));
    if let Some(k) = format {
        return k;
    }
    if all("http_date") {
        "http_date"
    } else if all("number") {
        "number"
    } else if all("string") {
        "string"
    } else {
        "any"
    }
}

/// The pattern that takes every one of `values` (the recording's first):
/// `${reel:KIND}` for the whole value when all share a format; else, when
/// all have the same words and separators, a slot for each word that
/// differs; else any text. None when the values are all the same.
pub fn infer(values: &[&str]) -> Option<String> {
    let first = *values.first()?;
    if values.iter().all(|v| *v == first) {
        return None;
    }
    let kind = kind_of(values);
    if !matches!(kind, "string" | "number" | "any") {
        return Some(slot(kind));
    }
    let split: Vec<Vec<(bool, &str)>> = values.iter().map(|v| words(v)).collect();
    let skeleton = |w: &[(bool, &str)]| -> Vec<Option<String>> {
        w.iter()
            .map(|(word, t)| (!word).then(|| (*t).to_owned()))
            .collect()
    };
    let shape = skeleton(&split[0]);
    if split.iter().any(|w| skeleton(w) != shape) {
        return Some(slot(kind));
    }
    let mut out = String::new();
    for (i, (word, text)) in split[0].iter().enumerate() {
        let at: Vec<&str> = split.iter().map(|w| w[i].1).collect();
        if *word && at.iter().any(|t| t != text) {
            out.push_str(&slot(kind_of(&at)));
        } else {
            out.push_str(text);
        }
    }
    Some(out)
}

fn slot(kind: &str) -> String {
    format!("{OPEN}{kind}}}")
}

/// Runs of word characters (letters, digits, `-_.+/~`) and of the rest.
fn words(s: &str) -> Vec<(bool, &str)> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || "-_.+/~".contains(c);
    let mut out: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut cur: Option<bool> = None;
    for (i, c) in s.char_indices() {
        let w = is_word(c);
        if cur.is_some_and(|k| k != w) {
            out.push((cur.unwrap_or(false), &s[start..i]));
            start = i;
        }
        cur = Some(w);
    }
    if let Some(w) = cur {
        out.push((w, &s[start..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE_A: &str = "9c3a4a8e0b7d4f21a6c5e3b2d1f0a9b8";
    const NONCE_B: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

    #[test]
    fn slots_take_their_kind_and_text_must_be_as_written() {
        assert!(accepts("${reel:token}", NONCE_A));
        assert!(!accepts("${reel:token}", "short"));
        assert!(accepts("${reel:number}", "42"));
        assert!(accepts(
            "${reel:http_date}",
            "Thu, 26 Nov 2026 14:53:46 GMT"
        ));
        let p = "multipart/mixed; boundary=${reel:string}";
        assert!(accepts(p, "multipart/mixed; boundary=abc123"));
        assert!(!accepts(p, "multipart/form-data; boundary=abc123"));
        assert!(!accepts(p, "multipart/mixed; boundary="));
        let digest = r#"Digest realm="x", nonce="${reel:token}", qop="auth""#;
        assert!(accepts(
            digest,
            &format!("Digest realm=\"x\", nonce=\"{NONCE_B}\", qop=\"auth\"")
        ));
        assert!(!accepts(
            digest,
            &format!("Digest realm=\"y\", nonce=\"{NONCE_B}\", qop=\"auth\"")
        ));
        // Text that only looks like a slot is text.
        assert!(accepts("${reel:}", "${reel:}"));
        assert!(!has_slots("${reel:a b}") && has_slots("a ${reel:uuid}"));
    }

    #[test]
    fn inference_keeps_what_every_run_agreed_on() {
        assert_eq!(infer(&["a", "a"]), None);
        assert_eq!(
            infer(&[
                "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                "6fa459ea-ee8a-3ca4-894e-db77e160355e"
            ])
            .as_deref(),
            Some("${reel:uuid}")
        );
        assert_eq!(infer(&[NONCE_A, NONCE_B]).as_deref(), Some("${reel:token}"));
        assert_eq!(
            infer(&[
                &format!("Digest realm=\"x\", nonce=\"{NONCE_A}\", stale=FALSE"),
                &format!("Digest realm=\"x\", nonce=\"{NONCE_B}\", stale=FALSE"),
            ])
            .as_deref(),
            Some("Digest realm=\"x\", nonce=\"${reel:token}\", stale=FALSE")
        );
        assert_eq!(
            infer(&["v=1; id=123", "v=1; id=4567"]).as_deref(),
            Some("v=1; id=${reel:number}")
        );
        // Words that come and go: the whole value is any text.
        assert_eq!(
            infer(&["a; b=1", "a; b=1; c=2"]).as_deref(),
            Some("${reel:string}")
        );
        for (p, v) in [
            ("v=1; id=${reel:number}", "v=1; id=8"),
            ("${reel:string}", "a; b=1; c=3"),
        ] {
            assert!(accepts(p, v), "{p} {v}");
        }
    }
}
