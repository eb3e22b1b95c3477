//! Redis's RESP protocol, versions 2 and 3: the command and reply types,
//! their JSON form, a streaming decoder for each direction and an encoder.
//!
//! A client sends commands, each an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`)
//! or an inline line of words (`PING\r\n`), as Redis reads them. A server
//! answers with frames of any RESP type: the RESP2 ones (simple string,
//! error, integer, bulk string, array and their nulls) and, after
//! `HELLO 3`, the RESP3 ones (null, boolean, double, big number, bulk error,
//! verbatim string, map, set, push, attribute, and aggregates and strings
//! streamed in parts). Values stay bytes and show in JSON as a string when
//! they are printable UTF-8, as `{"base64": ...}` otherwise
//! ([`Bytes`](super::Bytes)).
//!
//! The decoders keep memory bounded by a cap, as the recorder's `--max-body`
//! asks: a value past it is cut (its first bytes kept), the rest of its
//! frame is read and dropped as it comes, and the frame is flagged
//! ([`Decoded::cut`]) with its full size. A 512 MB bulk string is never held.

mod codec;
mod pair;

#[cfg(test)]
mod tests;

pub use codec::{
    encode_command, encode_reply, CommandDecoder, Decoded, ReplyDecoder, MAX_DEPTH, MAX_INLINE,
};
pub use pair::{Pair, Pairer};

use serde::{Deserialize, Serialize};

use super::Bytes;

/// A command as the client sent it. The first argument is its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    pub args: Vec<Bytes>,
    /// Sent as an inline line of words (`PING\r\n`), not as an array.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
}

impl Command {
    /// The command's name in upper case (`GET`), empty for no arguments.
    pub fn name(&self) -> String {
        self.args
            .first()
            .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
            .unwrap_or_default()
    }
}

/// Where a command holds a password, read by its grammar: `(argument,
/// byte where the password starts in it)`.
///
/// - `AUTH [username] password`
/// - `HELLO [protover [AUTH username password] [SETNAME name]]`
/// - `MIGRATE host port key db timeout [COPY] [REPLACE] [AUTH password]
///   [AUTH2 username password] [KEYS key ...]`
/// - `ACL SETUSER username rule ...`: the rules `>password`, `<password`
///   and the password hashes `#hash`, `!hash` (from their second byte)
/// - `CONFIG SET parameter value ...`: the values of the parameters that
///   are passwords ([`PASSWORD_PARAMETERS`])
///
/// Options are looked for only where the grammar has them, so a key or a
/// client name that reads `auth` is no password; but a word the grammar
/// does not know is stepped over, not taken as the end (the server refuses
/// such a command, yet the password was sent and must not be kept).
pub fn password_args(args: &[impl AsRef<[u8]>]) -> Vec<(usize, usize)> {
    let is = |i: usize, w: &str| {
        args.get(i)
            .is_some_and(|a| a.as_ref().eq_ignore_ascii_case(w.as_bytes()))
    };
    let n = args.len();
    let mut found = Vec::new();
    if is(0, "AUTH") && n >= 2 {
        found.push((n - 1, 0));
    } else if is(0, "HELLO") {
        let mut i = 2;
        while i < n {
            if is(i, "AUTH") && i + 2 < n {
                found.push((i + 2, 0));
                i += 3;
            } else if is(i, "SETNAME") {
                i += 2;
            } else {
                i += 1;
            }
        }
    } else if is(0, "MIGRATE") {
        let mut i = 6;
        while i < n && !is(i, "KEYS") {
            if is(i, "AUTH") && i + 1 < n {
                found.push((i + 1, 0));
                i += 2;
            } else if is(i, "AUTH2") && i + 2 < n {
                found.push((i + 2, 0));
                i += 3;
            } else {
                i += 1;
            }
        }
    } else if is(0, "ACL") && is(1, "SETUSER") {
        for (i, rule) in args.iter().enumerate().skip(3) {
            if matches!(rule.as_ref().first(), Some(b'>' | b'<' | b'#' | b'!')) {
                found.push((i, 1));
            }
        }
    } else if is(0, "CONFIG") && is(1, "SET") {
        for i in (2..n.saturating_sub(1)).step_by(2) {
            if PASSWORD_PARAMETERS.iter().any(|p| is(i, p)) {
                found.push((i + 1, 0));
            }
        }
    }
    found
}

/// The configuration parameters whose values are passwords.
pub const PASSWORD_PARAMETERS: [&str; 4] = [
    "requirepass",
    "masterauth",
    "tls-key-file-pass",
    "tls-client-key-file-pass",
];

/// Calls `f` on each password in the replies to `CONFIG GET` (`cmd`): the
/// values of [`PASSWORD_PARAMETERS`] in its name and value pairs, an
/// array under RESP2, a map under RESP3. Whether there was one.
pub fn password_replies(
    cmd: &[impl AsRef<[u8]>],
    replies: &mut [Frame],
    f: &mut dyn FnMut(&mut Bytes),
) -> bool {
    let is = |i: usize, w: &str| {
        cmd.get(i)
            .is_some_and(|a| a.as_ref().eq_ignore_ascii_case(w.as_bytes()))
    };
    if !(is(0, "CONFIG") && is(1, "GET")) {
        return false;
    }
    let secret = |name: &Frame| match name {
        Frame::Bulk(b) | Frame::Simple(b) => PASSWORD_PARAMETERS
            .iter()
            .any(|p| b.eq_ignore_ascii_case(p.as_bytes())),
        _ => false,
    };
    let mut any = false;
    let mut value = |v: &mut Frame| {
        if let Frame::Bulk(b) | Frame::Simple(b) = v {
            any = true;
            f(b);
        }
    };
    for r in replies {
        match r {
            Frame::Array(items) => {
                for pair in items.chunks_mut(2) {
                    if let [name, v] = pair {
                        if secret(name) {
                            value(v);
                        }
                    }
                }
            }
            Frame::Map(pairs) => {
                for (name, v) in pairs {
                    if secret(name) {
                        value(v);
                    }
                }
            }
            _ => {}
        }
    }
    any
}

/// A reply frame, or a frame inside one. RESP2's nulls (`$-1`, `*-1`) and
/// RESP3's (`_`) are kept apart so that a reply is sent back as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Frame {
    /// `+OK`
    Simple(Bytes),
    /// `-ERR unknown command`
    Error(Bytes),
    /// `:42`
    Integer(i64),
    /// `$5\r\nhello`; a string streamed in parts (`$?`) is joined.
    Bulk(Bytes),
    /// `$-1`, RESP2's null string.
    NullBulk,
    /// `*2` and its elements; an aggregate streamed in parts (`*?`) is joined.
    Array(Vec<Frame>),
    /// `*-1`, RESP2's null array.
    NullArray,
    /// `_`, RESP3's null.
    Null,
    /// `#t`
    Boolean(bool),
    /// `,3.14`, kept as sent (`inf`, `-inf`, `nan`, `1e10`).
    Double(String),
    /// `(3492890328409238509324850943850943825024385`, kept as sent.
    BigNumber(String),
    /// `!21\r\nSYNTAX invalid syntax`
    BulkError(Bytes),
    /// `=15\r\ntxt:Some string`: a three-letter format, then the text.
    Verbatim { format: String, text: Bytes },
    /// `%2` and its key and value pairs, in the order sent.
    Map(Vec<(Frame, Frame)>),
    /// `~2` and its elements.
    Set(Vec<Frame>),
    /// `>3`: data the server sends of its own (pub/sub messages,
    /// client-side caching invalidations), not a command's reply.
    Push(Vec<Frame>),
    /// `|1` and its pairs, then the frame they describe.
    Attributed {
        attributes: Vec<(Frame, Frame)>,
        frame: Box<Frame>,
    },
}

impl Frame {
    /// The frame a server sends of its own accord (`>`), rather than as a
    /// reply to a command, also when attributes come before it.
    pub fn is_push(&self) -> bool {
        match self {
            Frame::Push(_) => true,
            Frame::Attributed { frame, .. } => frame.is_push(),
            _ => false,
        }
    }
}
