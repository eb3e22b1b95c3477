//! Redis exchanges as the suite's mock lines, and the values in their
//! arguments that the app makes afresh on every run.
//!
//! Each command with its replies is one line. What the server pushed of its
//! own (pub/sub messages, client-side caching invalidations) joins the line
//! of the command before it on the same connection, and the mock sends it
//! right after that command's replies. `AUTH` is left out (the mock accepts
//! any password, and a suite never holds one), and so is the `AUTH user
//! password` of a `HELLO`.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use regex::Regex;

use super::postgres::{kind_reason, ParamMatcher};
use crate::matcher::formats::param_kind;
use crate::model::{Exchange, Payload};
use crate::suite::redis::{command_name, matcher_text, RedisMock};
use crate::wire::redis::{Command, Frame};
use crate::wire::Bytes;

/// What one recorded Redis exchange becomes.
pub enum Line {
    Mock(RedisMock),
    /// Frames the server sent of its own on connection `.0`.
    Push(u64, Vec<Frame>),
    /// Nothing the suite holds (`AUTH`).
    Skip,
    /// A command that got no reply, and why.
    Unanswered(String),
}

/// The line of an outbound Redis exchange.
pub fn line(o: &Exchange) -> Line {
    let decoded = |p: Option<&Payload>, key: &str| match p {
        Some(Payload::Wire { decoded, .. }) => decoded.value().get(key).cloned(),
        _ => None,
    };
    let replies: Vec<Frame> = decoded(o.response.as_ref(), "replies")
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let command: Option<Command> =
        decoded(Some(&o.request), "command").and_then(|v| serde_json::from_value(v).ok());
    let Some(command) = command.filter(|c| !c.args.is_empty()) else {
        return if replies.is_empty() {
            Line::Skip
        } else {
            Line::Push(o.connection, replies)
        };
    };
    if let Some(why) = &o.error {
        if replies.is_empty() {
            return Line::Unanswered(format!("{}: {why}", command_name(&command.args)));
        }
    }
    // A value cut at --max-body would be sent, or matched, cut.
    let cut = o.request.body().truncated || o.response.as_ref().is_some_and(|r| r.body().truncated);
    if cut {
        return Line::Unanswered(format!(
            "{}: cut at --max-body",
            command_name(&command.args)
        ));
    }
    let mut cmd = command.args;
    match command_name(&cmd).as_str() {
        "AUTH" => return Line::Skip,
        "HELLO" => drop_hello_auth(&mut cmd),
        _ => {}
    }
    let answered_at = o.first_byte_at.or(o.ended_at);
    let waited_ms = answered_at
        .filter(|_| is_blocking(&cmd))
        .map(|t| (t.0.saturating_sub(o.started_at.0).max(0) as u64 + 500) / 1000);
    Line::Mock(RedisMock {
        id: String::new(),
        seq: o.seq,
        dependency: o.dependency.clone().unwrap_or_default(),
        protocol: "redis".into(),
        connection: o.connection,
        cmd,
        replies,
        pushes: Vec::new(),
        waited_ms,
    })
}

/// A command the server may hold until something happens or its timeout
/// runs out: the blocking pops and moves, `WAIT`, `WAITAOF`, and `XREAD`
/// or `XREADGROUP` with `BLOCK`.
pub fn is_blocking(args: &[Bytes]) -> bool {
    let name = command_name(args);
    match name.as_str() {
        "BLPOP" | "BRPOP" | "BRPOPLPUSH" | "BLMOVE" | "BLMPOP" | "BZPOPMIN" | "BZPOPMAX"
        | "BZMPOP" | "WAIT" | "WAITAOF" => true,
        "XREAD" | "XREADGROUP" => args
            .iter()
            .take_while(|a| !a.eq_ignore_ascii_case(b"STREAMS"))
            .any(|a| a.eq_ignore_ascii_case(b"BLOCK")),
        _ => false,
    }
}

/// Takes `AUTH user password` out of `HELLO [protover [AUTH user password]
/// [SETNAME name]]`, read by its grammar: a client named `auth` is no
/// password. Anything past what the grammar allows is dropped too, as it
/// cannot be told from a password.
fn drop_hello_auth(args: &mut Vec<Bytes>) {
    let mut kept = args[..args.len().min(2)].to_vec();
    let mut i = 2;
    while i < args.len() {
        let option = args[i].to_ascii_uppercase();
        match option.as_slice() {
            b"AUTH" => i += 3,
            b"SETNAME" if i + 1 < args.len() => {
                kept.extend_from_slice(&args[i..i + 2]);
                i += 2;
            }
            _ => break,
        }
    }
    *args = kept;
}

/// UUIDs, ISO 8601 timestamps and epoch seconds or milliseconds inside an
/// argument (`session:<uuid>`, `{"at": "<timestamp>"}`, `rl:<epoch>`).
static INSIDE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)
        | (?P<timestamp>\b\d{4}-\d{2}-\d{2}[T\x20]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)
        | (?P<epoch>\b\d{10}(?:\d{3})?(?:\.\d+)?\b)",
    )
    .expect("the pattern compiles")
});

/// Makes every argument, or part of one, that the app makes afresh on each
/// run a typed matcher, and lists each. `recorded_at` (Unix seconds) tells a
/// "now" from a date that is data; `sent` holds, by case file stem, the
/// values the case's request states literally, which stay exact (the
/// client sends them again).
pub(super) fn infer_args(
    mocks: &mut [&mut RedisMock],
    recorded_at: i64,
    sent: &HashMap<String, BTreeSet<String>>,
) -> Vec<ParamMatcher> {
    let mut found = Vec::new();
    for m in mocks.iter_mut() {
        let stem = m.id.rsplit_once('#').map_or("", |(stem, _)| stem);
        let client = sent.get(stem);
        let from_client = |t: &str| client.is_some_and(|c| c.contains(t));
        let name = command_name(&m.cmd);
        for i in 1..m.cmd.len() {
            let Ok(text) = std::str::from_utf8(&m.cmd[i]) else {
                continue;
            };
            if crate::template::has_placeholder(text) || from_client(text) {
                continue;
            }
            let (new, kinds) = infer_arg(text, recorded_at, &from_client);
            for kind in kinds {
                found.push(ParamMatcher {
                    mock: m.id.clone(),
                    param: format!("argument {i} of {name}"),
                    kind,
                    why: kind_reason(kind),
                });
            }
            if let Some(new) = new {
                m.cmd[i] = Bytes(new.into_bytes());
            }
        }
    }
    found
}

/// One argument with its made-up values as matchers, and their kinds:
/// the whole argument, or values inside it, or `:`-separated parts of a key.
fn infer_arg(
    text: &str,
    near: i64,
    from_client: &dyn Fn(&str) -> bool,
) -> (Option<String>, Vec<&'static str>) {
    if let Some(kind) = whole_kind(text, near) {
        return (Some(matcher_text(kind)), vec![kind]);
    }
    let (mut out, mut kinds) = infer_inside(text, near, from_client);
    // The parts of a key (`session:3f9a...`): tokens, hashes, hex.
    if out.contains(':') {
        let parts: Vec<String> = out
            .split(':')
            .map(|part| match whole_kind(part, near) {
                Some(kind) if !from_client(part) && !part.contains('{') => {
                    kinds.push(kind);
                    matcher_text(kind)
                }
                _ => part.to_owned(),
            })
            .collect();
        out = parts.join(":");
    }
    if kinds.is_empty() {
        (None, kinds)
    } else {
        (Some(out), kinds)
    }
}

/// `text` with each UUID, timestamp near `near` and epoch near `near`
/// inside it that the client did not send as a matcher, and their kinds.
pub(super) fn infer_inside(
    text: &str,
    near: i64,
    from_client: &dyn Fn(&str) -> bool,
) -> (String, Vec<&'static str>) {
    let mut kinds = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for c in INSIDE.captures_iter(text) {
        let (kind, at) = if let Some(m) = c.name("uuid") {
            ("uuid", m)
        } else if let Some(m) = c.name("timestamp") {
            let fresh = crate::matcher::formats::timestamp_secs(m.as_str())
                .is_some_and(|t| (t - near).abs() <= WEEK);
            if !fresh {
                continue;
            }
            ("timestamp", m)
        } else if let Some(m) = c.name("epoch") {
            match epoch_kind(m.as_str(), near) {
                Some(kind) => (kind, m),
                None => continue,
            }
        } else {
            continue;
        };
        if from_client(at.as_str()) {
            continue;
        }
        out.push_str(&text[last..at.start()]);
        out.push_str(&matcher_text(kind));
        last = at.end();
        kinds.push(kind);
    }
    out.push_str(&text[last..]);
    (out, kinds)
}

const WEEK: i64 = 7 * 24 * 3600;

/// The kind of a whole value the app makes afresh: a UUID, a timestamp near
/// the recording, a token, a hash, random hex or base64, or epoch seconds
/// or milliseconds near the recording.
pub(super) fn whole_kind(text: &str, near: i64) -> Option<&'static str> {
    param_kind(text.as_bytes(), false, 0, near).or_else(|| epoch_kind(text, near))
}

fn epoch_kind(text: &str, near: i64) -> Option<&'static str> {
    let whole = text.split('.').next().unwrap_or(text);
    let n: i64 = whole.parse().ok()?;
    crate::matcher::format_kind(&serde_json::json!(n), near)
        .filter(|k| k.starts_with("epoch_"))
        .filter(|_| {
            text.len() == whole.len() || text[whole.len() + 1..].bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::redis::arg_matches;

    const NOW: i64 = 1_764_886_200; // 2025-12-04T22:10:00Z

    fn infer(text: &str) -> (Option<String>, Vec<&'static str>) {
        infer_arg(text, NOW, &|_| false)
    }

    #[test]
    fn made_up_values_become_matchers_whole_inside_and_as_key_parts() {
        let uuid = "0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77";
        assert_eq!(infer(uuid), (Some(matcher_text("uuid")), vec!["uuid"]));
        let (key, kinds) = infer(&format!("session:{uuid}"));
        assert_eq!(key.as_deref(), Some(r#"session:{"$reel":"uuid"}"#));
        assert_eq!(kinds, ["uuid"]);
        let value = r#"{"user": "ann", "at": "2025-12-04T22:10:01.5+00:00", "born": "1990-01-01T00:00:00Z"}"#;
        let (v, kinds) = infer(value);
        let v = v.unwrap();
        assert_eq!(
            kinds,
            ["timestamp"],
            "a date far from the recording is data"
        );
        assert!(v.contains(r#""born": "1990-01-01T00:00:00Z""#), "{v}");
        assert!(arg_matches(
            v.as_bytes(),
            br#"{"user": "ann", "at": "2026-01-05T08:00:00+00:00", "born": "1990-01-01T00:00:00Z"}"#
        ));
        let (rl, kinds) = infer(&format!("rl:ann:{}", NOW / 60 * 60));
        assert_eq!(rl.as_deref(), Some(r#"rl:ann:{"$reel":"epoch_seconds"}"#));
        assert_eq!(kinds, ["epoch_seconds"]);
        let token = "tok:Q2x1ZV9vbmVfdG9rZW5fOXgzSzJtUHFSN3Y";
        let (t, kinds) = infer(token);
        assert_eq!(t.as_deref(), Some(r#"tok:{"$reel":"token"}"#), "{kinds:?}");
        // Names, counts, TTLs and words stay as they are.
        for plain in [
            "user:ann",
            "3600",
            "hello world",
            "EX",
            "42",
            "books:9780441013593",
        ] {
            assert_eq!(infer(plain), (None, vec![]), "{plain}");
        }
    }

    #[test]
    fn what_the_client_sent_stays_exact() {
        let uuid = "0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77";
        let key = format!("session:{uuid}");
        let (new, kinds) = infer_arg(&key, NOW, &|t| t == uuid);
        assert_eq!((new, kinds), (None, vec![]));
    }

    #[test]
    fn hello_loses_its_password_and_auth_its_line() {
        let mut args: Vec<Bytes> = ["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "app"]
            .iter()
            .map(|a| Bytes(a.as_bytes().to_vec()))
            .collect();
        drop_hello_auth(&mut args);
        let left: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        assert_eq!(left, [&b"HELLO"[..], b"3", b"SETNAME", b"app"]);
        // A client named "auth" is a name; the password after AUTH still goes.
        let mut args: Vec<Bytes> = ["HELLO", "3", "SETNAME", "auth", "AUTH", "default", "s3cret"]
            .iter()
            .map(|a| Bytes(a.as_bytes().to_vec()))
            .collect();
        drop_hello_auth(&mut args);
        let left: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        assert_eq!(left, [&b"HELLO"[..], b"3", b"SETNAME", b"auth"]);
    }
}
