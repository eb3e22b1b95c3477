//! Decoding MySQL exchanges that were stored as raw bytes only
//! ([`DecodedJson::Later`]) when a session is read.
//!
//! Recording keeps a plain exchange's raw bytes and how its connection
//! stood after the connection phase, not its decoded JSON: writing that
//! JSON and storing it beside the raw bytes (whose column definitions alone
//! it spells out at twice their size) was a large share of what recording
//! a MySQL query cost. Reading runs each connection's stored exchanges
//! through a [`Conversation`] again, in the order they were stored, which
//! rebuilds what the connection knew (its prepared statements, the shapes
//! of its results) and gives the same JSON recording would have written.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{command_name, Conversation, Encoding, PacketDecoder, Turn};
use crate::model::{DecodedJson, Exchange, Later, Payload};
use crate::time::Micros;
use crate::wire::Side;

/// Connections whose conversations are kept at once. Past it, the half
/// read longest ago are dropped; one of them read again is rebuilt from
/// the store (see [`Redecoder::fill`]).
const KEPT: usize = 4096;

/// Per connection, the conversation rebuilt so far, how many of its
/// exchanges it has read, and when it was last used.
pub struct Redecoder {
    conns: HashMap<u64, Kept>,
    uses: u64,
    kept: usize,
}

impl Default for Redecoder {
    fn default() -> Self {
        Redecoder {
            conns: HashMap::new(),
            uses: 0,
            kept: KEPT,
        }
    }
}

struct Kept {
    conv: Conversation,
    read: u64,
    used: u64,
    /// Exchanges found missing before one read (see [`Redecoder::fill`]).
    missing: u64,
}

/// Commands whose reading depends on what earlier exchanges of the
/// connection did with its prepared statements.
const STATEMENT_COMMANDS: [&str; 5] = [
    "COM_STMT_EXECUTE",
    "COM_STMT_FETCH",
    "COM_STMT_SEND_LONG_DATA",
    "COM_STMT_CLOSE",
    "COM_STMT_RESET",
];

impl Redecoder {
    /// Decodes `e` if it was stored raw only. `earlier` hands, when asked,
    /// each exchange its connection stored before it to the function it is
    /// given, in the order they were stored: needed only when exchanges
    /// come out of that order (they are read by start time, and a wall
    /// clock can step back) or the connection's conversation was dropped.
    /// Only its error is returned: raw bytes that do not decode (an
    /// exchange of the connection's was dropped while recording, or the
    /// store was altered) make `e` an exchange with that error, the rest of
    /// the session readable.
    pub fn fill<E>(
        &mut self,
        e: &mut Exchange,
        earlier: impl FnOnce(&mut dyn FnMut(&Exchange)) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(later) = later_of(e) else {
            return Ok(());
        };
        let (mut conv, missing) = match self.conns.remove(&e.connection) {
            Some(k) if k.read == later.nth => (k.conv, k.missing),
            None if later.nth == 0 => (resume(&later), 0),
            // Out of order, or its conversation dropped: read the
            // connection again up to it.
            _ => {
                let mut conv = resume(&later);
                let mut read = 0;
                earlier(&mut |b| {
                    if later_of(b).is_some() {
                        // One that does not decode is named when it is read.
                        let _ = decode(&mut conv, b);
                        read += 1;
                    }
                })?;
                (conv, later.nth.saturating_sub(read))
            }
        };
        let decoded = decode(&mut conv, e);
        let gap = match missing {
            0 => String::new(),
            n => format!(
                " ({n} of the exchanges its connection stored before it as raw bytes \
                 are missing: dropped while recording?)"
            ),
        };
        let command = match &decoded {
            Ok(turn) => turn.request.get("command").and_then(Value::as_str),
            Err(_) => None,
        };
        if command != Some("COM_QUIT") {
            self.keep(e.connection, conv, later.nth + 1, missing);
        }
        if missing > 0 && command.is_some_and(|c| STATEMENT_COMMANDS.contains(&c)) {
            // Read, but maybe in a statement's state the missing ones
            // changed (prepared, bound other types, opened a cursor).
            e.error = Some(format!(
                "stored as raw bytes, and what it did with its statement cannot be read for sure{gap}"
            ));
        }
        match decoded {
            Ok(turn) => {
                set_decoded(&mut e.request, Value::Object(turn.request));
                if let Some(r) = &mut e.response {
                    set_decoded(r, Value::Object(turn.answer.to_map()));
                }
            }
            Err(why) => {
                let code = e.request.body().bytes.get(4).copied();
                let command = code.map_or("", command_name);
                set_decoded(&mut e.request, json!({ "command": command }));
                if let Some(r) = &mut e.response {
                    set_decoded(r, json!({}));
                }
                e.error = Some(format!("stored as raw bytes, which {why}{gap}"));
            }
        }
        Ok(())
    }

    fn keep(&mut self, connection: u64, conv: Conversation, read: u64, missing: u64) {
        if self.conns.len() >= self.kept {
            let mut used: Vec<u64> = self.conns.values().map(|k| k.used).collect();
            let (_, cut, _) = used.select_nth_unstable((self.kept / 2).max(1) - 1);
            let cut = *cut;
            self.conns.retain(|_, k| k.used > cut);
        }
        self.uses += 1;
        let used = self.uses;
        self.conns.insert(
            connection,
            Kept {
                conv,
                read,
                used,
                missing,
            },
        );
    }
}

fn set_decoded(p: &mut Payload, v: Value) {
    if let Payload::Wire { decoded, .. } = p {
        *decoded = DecodedJson::Value(v);
    }
}

/// How `e` was stored, if raw only.
fn later_of(e: &Exchange) -> Option<Later> {
    match &e.request {
        Payload::Wire {
            decoded: DecodedJson::Later(l),
            ..
        } => Some(*l),
        _ => None,
    }
}

/// The cap `later`'s exchange was recorded under.
fn cap(later: &Later) -> usize {
    usize::try_from(later.cap).unwrap_or(usize::MAX)
}

/// A conversation as the connection phase left it.
fn resume(later: &Later) -> Conversation {
    Conversation::resume(
        cap(later),
        Encoding {
            capabilities: later.capabilities,
            extended_types: later.extended_types,
        },
    )
}

/// Runs `e`'s raw bytes through `conv`: the client's command, then the
/// server's answer. The one exchange they make; when they do not make one,
/// `conv` is left waiting on nothing.
fn decode(conv: &mut Conversation, e: &Exchange) -> Result<Turn, String> {
    let decoded = decode_one(conv, e);
    if decoded.is_err() {
        conv.abandon();
    }
    decoded
}

fn decode_one(conv: &mut Conversation, e: &Exchange) -> Result<Turn, String> {
    let cap = later_of(e).map_or(usize::MAX, |l| cap(&l));
    let mut turns = Vec::new();
    let sides = [
        (Side::Frontend, Some(&e.request)),
        (Side::Backend, e.response.as_ref()),
    ];
    for (side, payload) in sides {
        let Some(payload) = payload else { continue };
        let mut d = PacketDecoder::new(side, cap);
        d.push(&payload.body().bytes);
        while let Some(p) = d.next().map_err(|err| format!("do not decode: {err}"))? {
            let done = match side {
                Side::Frontend => conv.client(&p, Micros(0)),
                Side::Backend => conv.server(&p, Micros(0)),
            };
            turns.extend(done.map_err(|err| format!("do not decode: {err}"))?);
        }
        d.finish().map_err(|err| format!("do not decode: {err}"))?;
    }
    let n = turns.len();
    match <[Turn; 1]>::try_from(turns) {
        Ok([turn]) => Ok(turn),
        Err(_) => Err(format!("decode as {n} exchanges, not one")),
    }
}

/// `sql` on `connection`, its `nth` exchange, answered by an OK with
/// `nth` rows affected; stored as raw bytes only (for tests).
#[cfg(test)]
pub(crate) fn stored_query(connection: u64, nth: u64, sql: &str) -> Exchange {
    let command = [&[0x03u8][..], sql.as_bytes()].concat();
    stored(connection, nth, &command, &[0, nth as u8, 0, 2, 0, 0, 0])
}

/// `command` on `connection`, its `nth` exchange, answered by `answer`
/// (one payload); stored as raw bytes only (for tests).
#[cfg(test)]
fn stored(connection: u64, nth: u64, command: &[u8], answer: &[u8]) -> Exchange {
    use crate::wire::mysql::{caps, encode_payload};
    let later = Later {
        capabilities: caps::PROTOCOL_41,
        extended_types: false,
        cap: 1 << 20,
        nth,
    };
    let packet = |seq, payload: &[u8]| {
        let mut bytes = Vec::new();
        encode_payload(seq, payload, &mut bytes);
        bytes
    };
    stored_raw(
        connection,
        later,
        packet(0, command),
        Some(packet(1, answer)),
    )
}

/// An exchange of `connection` stored as raw bytes only: `request` and
/// `answer` as sent, with `later` (for tests).
#[cfg(test)]
pub(crate) fn stored_raw(
    connection: u64,
    later: Later,
    request: Vec<u8>,
    answer: Option<Vec<u8>>,
) -> Exchange {
    use crate::model::{Body, Direction, Protocol};
    let wire = |bytes| Payload::Wire {
        decoded: DecodedJson::Later(later),
        raw: Body::complete(bytes),
    };
    Exchange {
        session_id: 1,
        seq: later.nth as i64,
        direction: Direction::Outbound,
        protocol: Protocol::Mysql,
        dependency: None,
        connection,
        started_at: Micros(0),
        first_byte_at: None,
        ended_at: None,
        request: wire(request),
        response: answer.map(wire),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `COM_STMT_PREPARE` of `sql` (no columns, no parameters) as
    /// statement `id`, then its `COM_STMT_EXECUTE`, each answered.
    fn prepare(connection: u64, nth: u64, id: u8, sql: &str) -> Exchange {
        let command = [&[0x16u8][..], sql.as_bytes()].concat();
        stored(
            connection,
            nth,
            &command,
            &[0, id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        )
    }

    fn execute(connection: u64, nth: u64, id: u8) -> Exchange {
        let command = [0x17, id, 0, 0, 0, 0, 1, 0, 0, 0];
        stored(connection, nth, &command, &[0, 0, 0, 2, 0, 0, 0])
    }

    /// Each exchange read in turn, with what reading its connection again
    /// was asked for.
    fn read_all(later: &mut Redecoder, stored: &[Exchange]) -> (Vec<Exchange>, Vec<u64>) {
        let mut asked = Vec::new();
        let mut read = Vec::new();
        for (i, e) in stored.iter().enumerate() {
            let (mut e, conn) = (e.clone(), e.connection);
            later
                .fill(&mut e, |each| {
                    asked.push(conn);
                    stored[..i]
                        .iter()
                        .filter(|b| b.connection == conn)
                        .for_each(each);
                    Ok::<_, ()>(())
                })
                .unwrap();
            read.push(e);
        }
        (read, asked)
    }

    fn request(e: &Exchange) -> Value {
        match &e.request {
            Payload::Wire { decoded, .. } => decoded.value().into_owned(),
            _ => unreachable!(),
        }
    }

    /// With room for two connections' conversations, a third drops the one
    /// read longest ago; that connection read again is rebuilt from its
    /// earlier exchanges (its execute reads as the SQL its prepare gave),
    /// and the other, read since, is not.
    #[test]
    fn a_dropped_conversation_is_rebuilt_from_its_connections_earlier_exchanges() {
        let mut later = Redecoder {
            kept: 2,
            ..Redecoder::default()
        };
        let stored = [
            prepare(1, 0, 7, "DO 1"),
            stored_query(2, 0, "SET @a = 1"),
            stored_query(3, 0, "SET @b = 1"),
            stored_query(2, 1, "SET @a = 2"),
            execute(1, 1, 7),
            stored_query(2, 2, "SET @a = 3"),
        ];
        let (read, asked) = read_all(&mut later, &stored);
        assert_eq!(asked, [1]);
        for e in &read {
            assert_eq!(e.error, None, "{e:?}");
        }
        assert_eq!(request(&read[4])["command"], "COM_STMT_EXECUTE");
        assert_eq!(request(&read[4])["sql"], "DO 1", "{}", request(&read[4]));
        assert_eq!(request(&read[5])["sql"], "SET @a = 3");
    }

    /// An exchange whose bytes do not decode leaves nothing waiting: the
    /// next one reads as itself. A statement's command after exchanges
    /// found missing reads with an error that says so (here the prepare of
    /// statement 8, whose execute would otherwise read as unprepared); a
    /// plain query after them does not.
    #[test]
    fn a_broken_or_missing_exchange_spoils_no_other_silently() {
        let mut broken = stored_query(1, 1, "SET @a = 2");
        if let Some(Payload::Wire { raw, .. }) = &mut broken.response {
            raw.bytes[3] = 5;
        }
        let stored = [
            prepare(1, 0, 7, "DO 1"),
            broken,
            stored_query(1, 2, "SET @a = 3"),
            execute(1, 3, 7),
            // nth 4 (the prepare of statement 8) was lost.
            execute(1, 5, 8),
            stored_query(1, 6, "SET @a = 4"),
            execute(1, 7, 7),
        ];
        let (read, _) = read_all(&mut Redecoder::default(), &stored);
        let why = read[1].error.as_deref().unwrap_or_default();
        assert!(why.contains("sequence id 5 where 1 was due"), "{why}");
        assert_eq!(read[2].error, None);
        assert_eq!(request(&read[2])["sql"], "SET @a = 3");
        assert_eq!(read[3].error, None);
        assert_eq!(request(&read[3])["sql"], "DO 1");
        let why = read[4].error.as_deref().unwrap_or_default();
        assert!(why.contains("cannot be read for sure"), "{why}");
        assert!(
            why.contains("1 of the exchanges its connection stored"),
            "{why}"
        );
        assert_eq!(read[5].error, None);
        assert!(read[6]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("for sure"));
    }

    /// A connection's conversation is let go once it quits.
    #[test]
    fn a_connection_that_quits_is_let_go() {
        let mut later = Redecoder::default();
        let quit = stored(1, 1, &[0x01], &[]);
        let quit = Exchange {
            response: None,
            ..quit
        };
        let (read, _) = read_all(&mut later, &[stored_query(1, 0, "DO 1"), quit]);
        assert_eq!(request(&read[1])["command"], "COM_QUIT");
        assert!(later.conns.is_empty());
    }
}
