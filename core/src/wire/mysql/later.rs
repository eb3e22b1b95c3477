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
}

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
            Some(k) if k.read == later.nth => (k.conv, 0),
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
        self.keep(e.connection, conv, later.nth + 1);
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
                let gap = match missing {
                    0 => String::new(),
                    n => format!(
                        " ({n} of the exchanges its connection stored before it as raw bytes \
                         are missing: dropped while recording?)"
                    ),
                };
                e.error = Some(format!("stored as raw bytes, which {why}{gap}"));
            }
        }
        Ok(())
    }
}

impl Redecoder {
    fn keep(&mut self, connection: u64, conv: Conversation, read: u64) {
        if self.conns.len() >= self.kept {
            let mut used: Vec<u64> = self.conns.values().map(|k| k.used).collect();
            let (_, cut, _) = used.select_nth_unstable((self.kept / 2).max(1) - 1);
            let cut = *cut;
            self.conns.retain(|_, k| k.used > cut);
        }
        self.uses += 1;
        let used = self.uses;
        self.conns.insert(connection, Kept { conv, read, used });
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

/// A conversation as the connection phase left it.
fn resume(later: &Later) -> Conversation {
    Conversation::resume(
        usize::try_from(later.cap).unwrap_or(usize::MAX),
        Encoding {
            capabilities: later.capabilities,
            extended_types: later.extended_types,
        },
    )
}

/// Runs `e`'s raw bytes through `conv`: the client's command, then the
/// server's answer. The one exchange they make.
fn decode(conv: &mut Conversation, e: &Exchange) -> Result<Turn, String> {
    let cap = later_of(e).map_or(usize::MAX, |l| usize::try_from(l.cap).unwrap_or(usize::MAX));
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
    use crate::model::{Body, Direction, Protocol};
    use crate::wire::mysql::{caps, encode_payload};
    let later = Later {
        capabilities: caps::PROTOCOL_41,
        extended_types: false,
        cap: 1 << 20,
        nth,
    };
    let mut command = Vec::new();
    encode_payload(0, &[&[0x03u8][..], sql.as_bytes()].concat(), &mut command);
    let mut ok = Vec::new();
    encode_payload(1, &[0, nth as u8, 0, 2, 0, 0, 0], &mut ok);
    let wire = |bytes| Payload::Wire {
        decoded: DecodedJson::Later(later),
        raw: Body::complete(bytes),
    };
    Exchange {
        session_id: 1,
        seq: 0,
        direction: Direction::Outbound,
        protocol: Protocol::Mysql,
        dependency: None,
        connection,
        started_at: Micros(0),
        first_byte_at: None,
        ended_at: None,
        request: wire(command),
        response: Some(wire(ok)),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With room for two connections' conversations, a third drops the one
    /// read longest ago; that connection read again is rebuilt from its
    /// earlier exchanges, and the other is not.
    #[test]
    fn a_dropped_conversation_is_rebuilt_from_its_connections_earlier_exchanges() {
        let mut later = Redecoder {
            kept: 2,
            ..Redecoder::default()
        };
        let stored: Vec<Exchange> = [(1, 0), (2, 0), (3, 0), (2, 1), (1, 1), (2, 2)]
            .into_iter()
            .map(|(conn, nth)| stored_query(conn, nth, &format!("SET @c{conn}_{nth} = 1")))
            .collect();
        let mut asked = Vec::new();
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
            assert_eq!(e.error, None);
            let Payload::Wire { decoded, .. } = &e.request else {
                unreachable!()
            };
            let sql = format!("SET @c{}_{} = 1", e.connection, later_nth(&stored[i]));
            assert_eq!(decoded.value()["sql"], sql.as_str());
        }
        // Connection 1 was dropped when 3 came, 2 was kept; then 3 when 1
        // came again, and 2 (read since) was kept.
        assert_eq!(asked, [1]);
    }

    fn later_nth(e: &Exchange) -> u64 {
        later_of(e).unwrap().nth
    }
}
