//! Redis lines of a `mocks/*.jsonl` file: one command the app sent, with the
//! replies it got, readable in a pull request:
//!
//! ```text
//! {"id":"0002-post-sessions#1","seq":7,"dependency":"cache","protocol":"redis","connection":3,
//!  "cmd":["SET","session:{\"$reel\":\"uuid\"}","{\"user\": \"ann\"}","EX","3600"],
//!  "reply":{"simple":"OK"}}
//! ```
//!
//! `cmd` holds the arguments as sent: a JSON string when printable UTF-8,
//! else `{"base64": ...}`. Where the app makes a value afresh on each run
//! (a UUID in a key, a timestamp in a value), the generator writes a typed
//! matcher in its place, the whole argument (`{"$reel": "uuid"}`) or inside
//! it, as text (`session:{"$reel":"uuid"}`), as HTTP mocks do in a query.
//!
//! Replies keep their RESP type, so the mock sends back exactly what was
//! recorded: a bulk string is a JSON string (or `{"base64": ...}`), a
//! simple string `{"simple": "OK"}`, an error `{"error": "ERR ..."}`, an
//! integer a number, RESP2's null bulk string `null`, an array a JSON
//! array; every other type (RESP3's maps, sets, doubles, ... and RESP2's
//! null array) is the codec's tagged form, `{"type": "map", "value": ...}`.
//! A command answered once has `"reply"`; one answered several times
//! (`SUBSCRIBE a b`) or not at all (`CLIENT REPLY OFF`) has `"replies"`.
//! What the server pushed on the connection after the reply (pub/sub
//! messages, client-side caching invalidations) is `"pushes"`, sent by the
//! mock right after the replies.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::postgres::rewrite_bytes;
use crate::matcher::{self, MARKER};
use crate::wire::redis::Frame;
use crate::wire::Bytes;

/// One recorded command and what answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisMock {
    /// `<file stem>#<n>`, unique in the suite.
    pub id: String,
    pub seq: i64,
    pub dependency: String,
    /// Always `redis`.
    pub protocol: String,
    /// The recorded connection, so a reader can follow one connection's story.
    pub connection: u64,
    /// The arguments, the command's name first; matchers as text inside
    /// them (see [`arg_matches`]).
    pub cmd: Vec<Bytes>,
    pub replies: Vec<Frame>,
    pub pushes: Vec<Frame>,
    /// How long a blocking command (`BLPOP`, `XREAD ... BLOCK`, `WAIT`)
    /// waited for its reply when recorded, in milliseconds; the mock waits
    /// as long only when asked (`reel test --recorded-waits`).
    pub waited_ms: Option<u64>,
}

impl RedisMock {
    /// The command's name in upper case (`GET`), with its subcommand for
    /// the commands that have one (`CLIENT SETNAME`).
    pub fn name(&self) -> String {
        command_name(&self.cmd)
    }

    /// `MULTI`: the commands after it on its connection queue until the
    /// transaction ends.
    pub fn begins_transaction(&self) -> bool {
        self.name() == "MULTI"
    }

    /// `EXEC` or `DISCARD` (or `RESET`, which discards too): the end of a
    /// transaction `MULTI` began.
    pub fn ends_transaction(&self) -> bool {
        matches!(self.name().as_str(), "EXEC" | "DISCARD" | "RESET")
    }

    /// One readable line: `SET session:… {…} EX 3600`, values shortened.
    pub fn describe(&self) -> String {
        describe_args(&self.cmd)
    }

    /// Calls `f(name, text)` for every text a secret can hide in (the
    /// arguments after the command's name, and the strings of the replies
    /// and pushes); where `f` returns a new text it replaces the old one.
    /// Whether anything changed.
    pub fn rewrite_texts(&mut self, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool {
        let mut changed = false;
        for a in self.cmd.iter_mut().skip(1) {
            changed |= rewrite_bytes(a, "arg", f);
        }
        for r in self.replies.iter_mut().chain(self.pushes.iter_mut()) {
            changed |= rewrite_frame(r, f);
        }
        changed
    }
}

/// The name of a command from its arguments, with the subcommand of
/// container commands (`CLIENT SETNAME`, `CONFIG GET`, `SCRIPT LOAD`).
pub fn command_name(args: &[impl AsRef<[u8]>]) -> String {
    let word = |i: usize| {
        args.get(i)
            .map(|a| String::from_utf8_lossy(a.as_ref()).to_ascii_uppercase())
            .unwrap_or_default()
    };
    let name = word(0);
    match name.as_str() {
        "CLIENT" | "CONFIG" | "SCRIPT" | "FUNCTION" | "OBJECT" | "MEMORY" | "CLUSTER"
        | "COMMAND" | "XINFO" | "XGROUP" | "ACL" | "MODULE" | "PUBSUB" | "LATENCY" | "SLOWLOG"
            if args.len() > 1 =>
        {
            format!("{name} {}", word(1))
        }
        _ => name,
    }
}

/// Whether a command is work a client library does when it likes (greeting,
/// choosing a database, checking the server, loading scripts), whatever the
/// case: its recordings are owed by no case and answer in any.
pub fn is_housekeeping(args: &[impl AsRef<[u8]>]) -> bool {
    let name = command_name(args);
    let first = name.split(' ').next().unwrap_or_default();
    matches!(
        first,
        "HELLO"
            | "AUTH"
            | "SELECT"
            | "PING"
            | "ECHO"
            | "QUIT"
            | "RESET"
            | "READONLY"
            | "READWRITE"
            | "CLIENT"
            | "COMMAND"
            | "INFO"
    ) || matches!(
        name.as_str(),
        "CONFIG GET" | "SCRIPT LOAD" | "SCRIPT EXISTS" | "FUNCTION LIST"
    )
}

/// Arguments as one readable line, each shortened to 60 characters.
pub fn describe_args(args: &[impl AsRef<[u8]>]) -> String {
    args.iter()
        .map(|a| {
            let text = String::from_utf8_lossy(a.as_ref());
            let short: String = text.chars().take(60).collect();
            if short.len() < text.len() {
                format!("{short}…")
            } else {
                short
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn rewrite_frame(frame: &mut Frame, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool {
    match frame {
        Frame::Simple(b) | Frame::Bulk(b) => rewrite_bytes(b, "reply", f),
        Frame::Error(b) | Frame::BulkError(b) => rewrite_bytes(b, "error", f),
        Frame::Verbatim { text, .. } => rewrite_bytes(text, "reply", f),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            v.iter_mut().fold(false, |c, x| rewrite_frame(x, f) | c)
        }
        Frame::Map(pairs) => pairs.iter_mut().fold(false, |c, (k, v)| {
            rewrite_frame(k, f) | rewrite_frame(v, f) | c
        }),
        Frame::Attributed { attributes, frame } => {
            let a = attributes.iter_mut().fold(false, |c, (k, v)| {
                rewrite_frame(k, f) | rewrite_frame(v, f) | c
            });
            rewrite_frame(frame, f) | a
        }
        Frame::Integer(_)
        | Frame::NullBulk
        | Frame::NullArray
        | Frame::Null
        | Frame::Boolean(_)
        | Frame::Double(_)
        | Frame::BigNumber(_) => false,
    }
}

/// A frame in the suite's readable form (see the module's documentation).
pub fn frame_to_json(f: &Frame) -> Value {
    match f {
        Frame::Bulk(b) => serde_json::to_value(b).expect("bytes serialize"),
        Frame::Simple(b) => json!({ "simple": bytes_json(b) }),
        Frame::Error(b) => json!({ "error": bytes_json(b) }),
        Frame::Integer(n) => json!(n),
        Frame::NullBulk => Value::Null,
        Frame::Array(v) => Value::Array(v.iter().map(frame_to_json).collect()),
        other => serde_json::to_value(other).expect("frames serialize"),
    }
}

fn bytes_json(b: &Bytes) -> Value {
    serde_json::to_value(b).expect("bytes serialize")
}

/// A frame from its readable form, or what is wrong with it.
pub fn frame_from_json(v: &Value) -> Result<Frame, String> {
    let bytes = |v: &Value| -> Result<Bytes, String> {
        serde_json::from_value(v.clone()).map_err(|e| format!("{v}: {e}"))
    };
    Ok(match v {
        Value::String(s) => Frame::Bulk(Bytes(s.clone().into_bytes())),
        Value::Null => Frame::NullBulk,
        Value::Number(n) => Frame::Integer(
            n.as_i64()
                .ok_or_else(|| format!("{n} is not a RESP integer (a whole number of 64 bits)"))?,
        ),
        Value::Array(items) => Frame::Array(
            items
                .iter()
                .map(frame_from_json)
                .collect::<Result<_, _>>()?,
        ),
        Value::Bool(_) => {
            return Err(format!(
                "{v}: a RESP3 boolean is written {{\"type\": \"boolean\", \"value\": {v}}}"
            ))
        }
        Value::Object(m) => {
            let only = |key: &str| m.len() == 1 && m.contains_key(key);
            if only("base64") {
                Frame::Bulk(bytes(v)?)
            } else if only("simple") {
                Frame::Simple(bytes(&m["simple"])?)
            } else if only("error") {
                Frame::Error(bytes(&m["error"])?)
            } else if m.contains_key("type") {
                serde_json::from_value(v.clone()).map_err(|e| format!("{v}: {e}"))?
            } else {
                return Err(format!(
                    "{v} is not a reply: a bulk string is a JSON string or {{\"base64\": ...}}, \
                     and other types are {{\"simple\": ...}}, {{\"error\": ...}} or \
                     {{\"type\": ..., \"value\": ...}}"
                ));
            }
        }
    })
}

/// The JSON form of one line.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    id: String,
    seq: i64,
    dependency: String,
    protocol: String,
    connection: u64,
    cmd: Vec<Value>,
    /// `"reply": null` (a null bulk string) is a reply: present, not absent.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    reply: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replies: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pushes: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    waited_ms: Option<u64>,
}

/// A field that is there, whatever its value (`null` too).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Serialize for RedisMock {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let cmd = self
            .cmd
            .iter()
            .map(
                |a| match std::str::from_utf8(a).ok().and_then(whole_matcher) {
                    Some(kind) => json!({ MARKER: kind }),
                    None => bytes_json(a),
                },
            )
            .collect();
        let (reply, replies) = match self.replies.as_slice() {
            [one] => (Some(frame_to_json(one)), None),
            many => (None, Some(many.iter().map(frame_to_json).collect())),
        };
        Form {
            id: self.id.clone(),
            seq: self.seq,
            dependency: self.dependency.clone(),
            protocol: self.protocol.clone(),
            connection: self.connection,
            cmd,
            reply,
            replies,
            pushes: self.pushes.iter().map(frame_to_json).collect(),
            waited_ms: self.waited_ms,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RedisMock {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let form = Form::deserialize(deserializer)?;
        if form.cmd.is_empty() {
            return Err(D::Error::custom("\"cmd\" is empty: a command has a name"));
        }
        let mut cmd = Vec::with_capacity(form.cmd.len());
        for (i, a) in form.cmd.iter().enumerate() {
            let arg = match a {
                Value::Object(m) if m.contains_key(MARKER) => {
                    let kind = matcher::as_matcher(a).ok_or_else(|| {
                        D::Error::custom(format!("cmd[{i}]: {a} is not a matcher"))
                    })?;
                    Bytes(matcher_text(kind).into_bytes())
                }
                _ => serde_json::from_value(a.clone()).map_err(|e| {
                    D::Error::custom(format!(
                        "cmd[{i}]: {a} is not an argument (a string or {{\"base64\": ...}}): {e}"
                    ))
                })?,
            };
            if let Some(kind) = unknown_kind(&arg) {
                return Err(D::Error::custom(format!(
                    "cmd[{i}]: {{\"{MARKER}\": {kind:?}}} is not a matcher reel knows (known: {})",
                    matcher::KINDS.join(", ")
                )));
            }
            cmd.push(arg);
        }
        let frames = |list: &[Value], what: &str| -> Result<Vec<Frame>, D::Error> {
            list.iter()
                .enumerate()
                .map(|(i, v)| {
                    frame_from_json(v).map_err(|e| D::Error::custom(format!("{what}[{i}]: {e}")))
                })
                .collect()
        };
        let replies =
            match (&form.reply, &form.replies) {
                (Some(_), Some(_)) => {
                    return Err(D::Error::custom(
                        "both \"reply\" and \"replies\": a line has one or the other",
                    ))
                }
                (Some(r), None) => {
                    vec![frame_from_json(r).map_err(|e| D::Error::custom(format!("reply: {e}")))?]
                }
                (None, Some(list)) => frames(list, "replies")?,
                (None, None) => return Err(D::Error::custom(
                    "no \"reply\": a command answered once has \"reply\", any other \"replies\"",
                )),
            };
        if form.protocol != "redis" {
            return Err(D::Error::custom("\"protocol\" is not \"redis\""));
        }
        Ok(RedisMock {
            id: form.id,
            seq: form.seq,
            dependency: form.dependency,
            protocol: form.protocol,
            connection: form.connection,
            cmd,
            replies,
            pushes: frames(&form.pushes, "pushes")?,
            waited_ms: form.waited_ms,
        })
    }
}

/// A matcher as it stands inside an argument: `{"$reel":"uuid"}`.
pub fn matcher_text(kind: &str) -> String {
    format!("{{\"{MARKER}\":\"{kind}\"}}")
}

/// The kind when `text` is one matcher and nothing else.
fn whole_matcher(text: &str) -> Option<&str> {
    match pieces(text).as_slice() {
        [Piece::Matcher(kind)] => Some(kind),
        _ => None,
    }
}

/// A matcher kind inside `arg` that reel does not know.
fn unknown_kind(arg: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(arg).ok()?;
    pieces(text).into_iter().find_map(|p| match p {
        Piece::Matcher(k) if !matcher::KINDS.contains(&k) => Some(k.to_owned()),
        _ => None,
    })
}

/// Part of an argument: text to match exactly, or a matcher.
#[derive(Debug, Clone, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Matcher(&'a str),
}

/// Splits an argument at its matchers (`{"$reel":"uuid"}`, with or without
/// spaces after the colon).
fn pieces(text: &str) -> Vec<Piece<'_>> {
    let open = format!("{{\"{MARKER}\":");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let body = after.trim_start_matches(' ');
        let kind_end = body
            .strip_prefix('"')
            .and_then(|b| b.find('"').map(|e| (&b[..e], &b[e + 1..])));
        match kind_end {
            Some((kind, tail)) if tail.starts_with('}') && !kind.is_empty() => {
                if at > 0 {
                    out.push(Piece::Text(&rest[..at]));
                }
                out.push(Piece::Matcher(kind));
                rest = &tail[1..];
            }
            _ => {
                // Not a matcher after all: keep it as text.
                let keep = at + open.len();
                out.push(Piece::Text(&rest[..keep]));
                rest = &rest[keep..];
            }
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// Whether a recorded argument holds a matcher (see [`arg_matches`]).
pub fn holds_matcher(arg: &[u8]) -> bool {
    std::str::from_utf8(arg).is_ok_and(|t| pieces(t).iter().any(|p| matches!(p, Piece::Matcher(_))))
}

/// Whether a recorded argument, with any matchers in it, accepts `actual`.
pub fn arg_matches(recorded: &[u8], actual: &[u8]) -> bool {
    if recorded == actual {
        return true;
    }
    let (Ok(rec), Ok(act)) = (std::str::from_utf8(recorded), std::str::from_utf8(actual)) else {
        return false;
    };
    let parts = pieces(rec);
    if !parts.iter().any(|p| matches!(p, Piece::Matcher(_))) {
        return false;
    }
    match_pieces(&parts, act)
}

/// Whether `actual` is `parts` in a row. A matcher's value ends where the
/// rest can begin: each such place is tried, and each (piece, offset) at
/// most once, so an argument with many matchers stays linear in its
/// length times their number, whatever a hand-edited suite holds.
fn match_pieces(parts: &[Piece<'_>], actual: &str) -> bool {
    let mut failed = std::collections::HashSet::new();
    match_from(parts, actual, 0, 0, &mut failed)
}

fn match_from(
    parts: &[Piece<'_>],
    actual: &str,
    piece: usize,
    at: usize,
    failed: &mut std::collections::HashSet<(usize, usize)>,
) -> bool {
    if failed.contains(&(piece, at)) {
        return false;
    }
    let rest = &actual[at..];
    let ok = match parts.get(piece) {
        None => rest.is_empty(),
        Some(Piece::Text(t)) => {
            rest.starts_with(t) && match_from(parts, actual, piece + 1, at + t.len(), failed)
        }
        Some(Piece::Matcher(kind)) => {
            let ends: Vec<usize> = match parts.get(piece + 1) {
                None => vec![rest.len()],
                // Every place the next text starts, overlapping ones too.
                Some(Piece::Text(t)) => rest
                    .char_indices()
                    .map(|(i, _)| i)
                    .filter(|&i| rest[i..].starts_with(t))
                    .collect(),
                Some(Piece::Matcher(_)) => rest.char_indices().map(|(i, _)| i).collect(),
            };
            ends.into_iter().any(|end| {
                accepts_text(kind, &rest[..end])
                    && match_from(parts, actual, piece + 1, at + end, failed)
            })
        }
    };
    if !ok {
        failed.insert((piece, at));
    }
    ok
}

/// Whether `s` is a value of `kind` as text: epoch kinds as digits, with a
/// fraction or not (`1764886200.123`, as Python's `time.time()` gives).
pub fn accepts_text(kind: &str, s: &str) -> bool {
    match kind {
        "epoch_seconds" | "epoch_millis" | "number" => {
            let (whole, fraction) = s.split_once('.').unwrap_or((s, "0"));
            !fraction.is_empty()
                && fraction.bytes().all(|b| b.is_ascii_digit())
                && whole
                    .parse::<i64>()
                    .is_ok_and(|n| matcher::accepts(kind, &json!(n)))
        }
        _ => matcher::formats::accepts_text(kind, s),
    }
}

/// Arguments as the suite writes them, for diffs and reports: one per line.
pub fn args_text(args: &[impl AsRef<[u8]>]) -> String {
    let mut s = String::new();
    for a in args {
        match std::str::from_utf8(a.as_ref()) {
            Ok(t) => s.push_str(&serde_json::to_string(t).expect("strings serialize")),
            Err(_) => s.push_str(&bytes_json(&Bytes(a.as_ref().to_vec())).to_string()),
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes(s.as_bytes().to_vec())
    }

    fn line(replies: Vec<Frame>) -> RedisMock {
        RedisMock {
            id: "0001-get-x#1".into(),
            seq: 3,
            dependency: "cache".into(),
            protocol: "redis".into(),
            connection: 1,
            cmd: vec![b("SET"), b("k"), Bytes(vec![0xff, 0]), b("EX"), b("60")],
            replies,
            pushes: vec![],
            waited_ms: None,
        }
    }

    #[test]
    fn every_reply_type_survives_the_readable_form() {
        let frames = vec![
            Frame::Simple(b("OK")),
            Frame::Bulk(b("OK")),
            Frame::Bulk(Bytes(vec![0, 159, 146, 150])),
            Frame::Error(b("ERR wrong")),
            Frame::Integer(-7),
            Frame::NullBulk,
            Frame::NullArray,
            Frame::Null,
            Frame::Boolean(true),
            Frame::Double("inf".into()),
            Frame::BigNumber("123456789012345678901234567890".into()),
            Frame::BulkError(b("SYNTAX bad")),
            Frame::Verbatim {
                format: "txt".into(),
                text: b("hi"),
            },
            Frame::Array(vec![
                Frame::Bulk(b("a")),
                Frame::Simple(b("b")),
                Frame::NullBulk,
            ]),
            Frame::Map(vec![(Frame::Bulk(b("k")), Frame::Integer(1))]),
            Frame::Set(vec![Frame::Bulk(b("x"))]),
            Frame::Push(vec![Frame::Bulk(b("message"))]),
            Frame::Attributed {
                attributes: vec![(Frame::Simple(b("ttl")), Frame::Integer(3))],
                frame: Box::new(Frame::Bulk(b("v"))),
            },
        ];
        for f in &frames {
            let v = frame_to_json(f);
            assert_eq!(&frame_from_json(&v).unwrap(), f, "{v}");
        }
        // Simple and bulk strings stay apart; so do the three nulls.
        assert_eq!(
            frame_to_json(&Frame::Simple(b("OK"))),
            json!({"simple": "OK"})
        );
        assert_eq!(frame_to_json(&Frame::Bulk(b("OK"))), json!("OK"));
        assert_ne!(
            frame_to_json(&Frame::NullArray),
            frame_to_json(&Frame::NullBulk)
        );
        let m = line(frames.clone());
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<RedisMock>(&text).unwrap(), m);
        let null = line(vec![Frame::NullBulk]);
        let text = serde_json::to_string(&null).unwrap();
        assert!(text.ends_with(r#""reply":null}"#), "{text}");
        assert_eq!(serde_json::from_str::<RedisMock>(&text).unwrap(), null);
        let none = line(vec![]);
        let text = serde_json::to_string(&none).unwrap();
        assert!(text.ends_with(r#""replies":[]}"#), "{text}");
        assert_eq!(serde_json::from_str::<RedisMock>(&text).unwrap(), none);
        let one = line(vec![Frame::Simple(b("OK"))]);
        let text = serde_json::to_string(&one).unwrap();
        assert!(
            text.contains(
                r#""cmd":["SET","k",{"base64":"/wA="},"EX","60"],"reply":{"simple":"OK"}"#
            ),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<RedisMock>(&text).unwrap(), one);
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        let err = |s: &str| {
            serde_json::from_str::<RedisMock>(s)
                .unwrap_err()
                .to_string()
        };
        let head = r#""id":"a#1","seq":1,"dependency":"c","protocol":"redis","connection":1"#;
        assert!(err(&format!(r#"{{{head},"cmd":[],"reply":1}}"#)).contains("\"cmd\" is empty"));
        assert!(err(&format!(r#"{{{head},"cmd":["GET"]}}"#)).contains("no \"reply\""));
        assert!(err(&format!(
            r#"{{{head},"cmd":["GET",{{"$reel":"uuidd"}}],"reply":1}}"#
        ))
        .contains("cmd[1]: {\"$reel\": \"uuidd\"} is not a matcher reel knows"));
        assert!(err(&format!(
            r#"{{{head},"cmd":["GET","k:{{\"$reel\":\"nope\"}}"],"reply":1}}"#
        ))
        .contains("cmd[1]: {\"$reel\": \"nope\"}"));
        assert!(
            err(&format!(r#"{{{head},"cmd":["GET"],"reply":{{"oops":1}}}}"#))
                .contains("reply: {\"oops\":1} is not a reply")
        );
        assert!(err(&format!(r#"{{{head},"cmd":["GET"],"reply":1.5}}"#))
            .contains("reply: 1.5 is not a RESP integer"));
        assert!(err(&format!(
            r#"{{{head},"cmd":["GET"],"reply":1,"replies":[]}}"#
        ))
        .contains("both"));
        assert!(err(&format!(r#"{{{head},"cmd":[7],"reply":1}}"#))
            .contains("cmd[0]: 7 is not an argument"));
    }

    #[test]
    fn matchers_inside_arguments_accept_values_of_their_kind_only() {
        let rec = format!("session:{}", matcher_text("uuid"));
        assert!(arg_matches(
            rec.as_bytes(),
            b"session:0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77"
        ));
        assert!(!arg_matches(rec.as_bytes(), b"session:not-a-uuid"));
        assert!(!arg_matches(
            rec.as_bytes(),
            b"user:0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77"
        ));
        let two = format!(
            "rl:{}:{}",
            matcher_text("uuid"),
            matcher_text("epoch_seconds")
        );
        assert!(arg_matches(
            two.as_bytes(),
            b"rl:0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77:1764870000"
        ));
        assert!(!arg_matches(
            two.as_bytes(),
            b"rl:0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77:soon"
        ));
        let json_value = format!(
            r#"{{"user": "ann", "at": "{}"}}"#,
            matcher_text("timestamp")
        );
        assert!(arg_matches(
            json_value.as_bytes(),
            br#"{"user": "ann", "at": "2026-12-04T22:10:00.123456+00:00"}"#
        ));
        assert!(!arg_matches(
            json_value.as_bytes(),
            br#"{"user": "bob", "at": "2026-12-04T22:10:00.123456+00:00"}"#
        ));
        // A fraction of a second, as Python's time.time() writes it.
        let score = matcher_text("epoch_seconds");
        assert!(arg_matches(score.as_bytes(), b"1764886300.5"));
        assert!(!arg_matches(score.as_bytes(), b"1764886300."));
        // The text after a matcher may start inside what the matcher took.
        let hex = format!("{}aa", matcher_text("hex"));
        assert!(arg_matches(hex.as_bytes(), b"0aaa"));
        // Many matchers in a row against a long value end quickly.
        let many = format!("{}\u{0}", format!("{}e", matcher_text("any")).repeat(20));
        let long = "e".repeat(300);
        let t0 = std::time::Instant::now();
        assert!(!arg_matches(many.as_bytes(), long.as_bytes()));
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t0.elapsed()
        );
        // Without matchers, only the same bytes.
        assert!(arg_matches(b"k", b"k"));
        assert!(!arg_matches(b"k", b"K"));
        // A brace that only looks like a matcher is text.
        assert!(arg_matches(br#"{"$reel":7}"#, br#"{"$reel":7}"#));
        assert!(holds_matcher(rec.as_bytes()) && holds_matcher(two.as_bytes()));
        assert!(!holds_matcher(br#"{"$reel":7}"#) && !holds_matcher(b"k"));
        assert_eq!(whole_matcher(&matcher_text("uuid")), Some("uuid"));
        assert_eq!(whole_matcher(&rec), None);
    }

    #[test]
    fn housekeeping_is_what_a_client_library_sends_of_its_own() {
        for cmd in [
            &["hello", "3", "AUTH", "u", "p"][..],
            &["PING"],
            &["client", "setinfo", "LIB-NAME", "redis-py"],
            &["CLIENT"],
            &["COMMAND", "DOCS"],
            &["CONFIG", "GET", "maxmemory"],
            &["SCRIPT", "LOAD", "return 1"],
            &["FUNCTION", "LIST"],
        ] {
            assert!(is_housekeeping(cmd), "{cmd:?}");
        }
        for cmd in [
            &["GET", "k"][..],
            &["CONFIG", "SET", "maxmemory", "1"],
            &["SCRIPT", "FLUSH"],
            &["EVALSHA", "abc", "0"],
            &["FUNCTION", "LOAD", "..."],
            &[],
        ] {
            assert!(!is_housekeeping(cmd), "{cmd:?}");
        }
    }
}
