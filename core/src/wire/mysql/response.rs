//! The server's generic answers: OK, ERR and (before `DEPRECATE_EOF`) EOF,
//! read from a payload, and the OK and ERR a mock sends of its own.

use super::caps;
use super::read::Reader;

/// An OK packet: a command done, or (header `0xFE`, under
/// `DEPRECATE_EOF`) the end of a result set's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkPacket {
    /// `0x00`, or `0xFE` where it ends rows.
    pub header: u8,
    pub affected_rows: u64,
    pub last_insert_id: u64,
    /// `SERVER_STATUS_*` flags (in a transaction, more results follow...).
    pub status: u16,
    pub warnings: u16,
    /// What follows, as sent: a human-readable note (`Rows matched: 1
    /// Changed: 1`), and with `SESSION_TRACK` the session state changes.
    pub info: Vec<u8>,
}

/// An ERR packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    /// `1146` for a table that does not exist, ...
    pub code: u16,
    /// `42S02`, ... (with `PROTOCOL_41`).
    pub sql_state: Option<[u8; 5]>,
    pub message: Vec<u8>,
}

/// An EOF packet (before `DEPRECATE_EOF`): the end of column definitions
/// or of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EofPacket {
    pub warnings: u16,
    pub status: u16,
}

/// What a payload of the server's is, read as a generic answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generic {
    Ok(OkPacket),
    Err(ErrPacket),
    Eof(EofPacket),
    /// Anything else: a result set's column count, a row, a prepare's
    /// answer, an authentication exchange.
    Other,
}

/// `SERVER_MORE_RESULTS_EXISTS`: another result set follows (a stored
/// procedure, several statements in one query).
pub const MORE_RESULTS: u16 = 0x0008;

impl Generic {
    /// Reads `p` as the server's answer on a connection with
    /// `capabilities` (those both sides took up). A payload starting `0x00`
    /// is OK and `0xFF` ERR; one starting `0xFE` is EOF when shorter than 9
    /// bytes, and OK where rows end under `DEPRECATE_EOF`. A row can start
    /// with `0x00` or `0xFE` too: callers read a payload as generic only
    /// where the protocol has one.
    pub fn parse(p: &[u8], capabilities: u32) -> Result<Generic, String> {
        let Some(&first) = p.first() else {
            return Err("an empty payload".into());
        };
        let eof_is_ok = capabilities & caps::DEPRECATE_EOF != 0;
        match first {
            0x00 => ok(p, capabilities).map(Generic::Ok),
            0xFF => err(p, capabilities).map(Generic::Err),
            0xFE if p.len() < 9 && !(eof_is_ok && p.len() >= 7) => {
                if p.len() < 5 {
                    // Pre-4.1 servers send a bare 0xFE.
                    return Ok(Generic::Eof(EofPacket {
                        warnings: 0,
                        status: 0,
                    }));
                }
                Ok(Generic::Eof(EofPacket {
                    warnings: u16::from_le_bytes([p[1], p[2]]),
                    status: u16::from_le_bytes([p[3], p[4]]),
                }))
            }
            0xFE if eof_is_ok => ok(p, capabilities).map(Generic::Ok),
            _ => Ok(Generic::Other),
        }
    }
}

fn ok(p: &[u8], capabilities: u32) -> Result<OkPacket, String> {
    let mut r = Reader { p, at: 1 };
    let affected_rows = r.lenenc("the affected rows")?;
    let last_insert_id = r.lenenc("the last insert id")?;
    let (status, warnings) = if capabilities & caps::PROTOCOL_41 != 0 {
        (
            u16::from_le_bytes(r.array("the status")?),
            u16::from_le_bytes(r.array("the warnings")?),
        )
    } else {
        (0, 0)
    };
    Ok(OkPacket {
        header: p[0],
        affected_rows,
        last_insert_id,
        status,
        warnings,
        info: p[r.at..].to_vec(),
    })
}

fn err(p: &[u8], capabilities: u32) -> Result<ErrPacket, String> {
    let code = p
        .get(1..3)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or("an ERR packet that ends before its code")?;
    let rest = &p[3..];
    let (sql_state, message) = match rest.first() {
        Some(b'#') if capabilities & caps::PROTOCOL_41 != 0 && rest.len() >= 6 => {
            let state: [u8; 5] = rest[1..6].try_into().expect("5 bytes");
            (Some(state), rest[6..].to_vec())
        }
        _ => (None, rest.to_vec()),
    };
    Ok(ErrPacket {
        code,
        sql_state,
        message,
    })
}

/// Writes `n` as a length-encoded integer, as short as it goes.
pub fn put_lenenc(n: u64, out: &mut Vec<u8>) {
    match n {
        0..=0xfa => out.push(n as u8),
        0xfb..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

impl OkPacket {
    /// The payload, for a connection speaking the 4.1 protocol.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.header);
        put_lenenc(self.affected_rows, out);
        put_lenenc(self.last_insert_id, out);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&self.warnings.to_le_bytes());
        out.extend_from_slice(&self.info);
    }
}

impl ErrPacket {
    /// The payload, for a connection speaking the 4.1 protocol.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(0xFF);
        out.extend_from_slice(&self.code.to_le_bytes());
        if let Some(state) = &self.sql_state {
            out.push(b'#');
            out.extend_from_slice(state);
        }
        out.extend_from_slice(&self.message);
    }
}
