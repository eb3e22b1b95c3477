//! The MySQL mock: greets where the server stood, with the recorded server
//! version and character set, accepts any user and password, and answers
//! each command from the [`MysqlBook`].
//!
//! It keeps each connection's prepared statements with ids of its own, so
//! an app's pool may prepare on any connection what was recorded on
//! another. An execute's parameters are read with the statement's types
//! (and values sent apart by `COM_STMT_SEND_LONG_DATA`) and matched as
//! values. A command with no recording gets ERR 1105 (`HY000`) naming the
//! nearest recorded statement, and the case fails with the diff. Bytes
//! that are no MySQL close that connection only.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use reel_core::suite::mysql::rows_as;
use reel_core::wire::mysql::{
    caps, encode_answer, encode_payload, execute_params, ClientHello, Command, Encoding, ErrPacket,
    PacketDecoder, ParamType,
};
use reel_core::wire::{Bytes, Side};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::MockServer;
use super::mysql_book::{Ask, MysqlBook};
use crate::errors::ReplayError;

/// What the mock offers a client: the protocol it writes (4.1, with or
/// without DEPRECATE_EOF), no TLS, no compression, no session tracking.
const OFFERED: u32 = caps::LONG_PASSWORD
    | caps::FOUND_ROWS
    | caps::LONG_FLAG
    | caps::CONNECT_WITH_DB
    | caps::PROTOCOL_41
    | caps::TRANSACTIONS
    | caps::SECURE_CONNECTION
    | caps::MULTI_STATEMENTS
    | caps::MULTI_RESULTS
    | caps::PS_MULTI_RESULTS
    | caps::PLUGIN_AUTH
    | caps::CONNECT_ATTRS
    | caps::PLUGIN_AUTH_LENENC_CLIENT_DATA
    | caps::DEPRECATE_EOF;

/// `execute` with this statement id means the one prepared last (MariaDB).
const LAST_PREPARED: u32 = u32::MAX;

/// Starts the MySQL mock of dependency `name` on `listen`.
pub async fn serve(
    name: &str,
    listen: &str,
    book: Arc<MysqlBook>,
) -> Result<MockServer, ReplayError> {
    let dep: Arc<str> = name.into();
    super::serve_tcp(name, listen, "mysql", move |stream, n| {
        let mut conn = Connection {
            dep: dep.clone(),
            book: book.clone(),
            id: n,
            enc: Encoding {
                capabilities: OFFERED,
                extended_types: false,
            },
            statements: HashMap::new(),
            next_stmt: 1,
            last_prepared: None,
        };
        async move { conn.run(stream).await }
    })
    .await
}

/// A statement prepared on one connection.
struct Statement {
    sql: Vec<u8>,
    params: usize,
    bound: Vec<ParamType>,
    long_data: BTreeMap<u16, Vec<u8>>,
}

struct Connection {
    dep: Arc<str>,
    book: Arc<MysqlBook>,
    id: u64,
    enc: Encoding,
    statements: HashMap<u32, Statement>,
    next_stmt: u32,
    last_prepared: Option<u32>,
}

/// Reads payloads off a connection.
struct Reader {
    rd: tokio::net::tcp::OwnedReadHalf,
    dec: PacketDecoder,
    buf: Vec<u8>,
}

impl Reader {
    /// The next payload; `None` when the client closed between payloads.
    async fn next(&mut self) -> Result<Option<reel_core::wire::mysql::Payload>, String> {
        loop {
            if let Some(p) = self.dec.next().map_err(|e| e.to_string())? {
                return Ok(Some(p));
            }
            let n = self
                .rd
                .read(&mut self.buf)
                .await
                .map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                return self.dec.finish().map(|()| None).map_err(|e| e.to_string());
            }
            self.dec.push(&self.buf[..n]);
        }
    }
}

impl Connection {
    async fn run(&mut self, stream: TcpStream) -> Result<(), String> {
        let _ = stream.set_nodelay(true);
        let (rd, mut wr) = stream.into_split();
        let mut rd = Reader {
            rd,
            dec: PacketDecoder::new(Side::Frontend, usize::MAX),
            buf: vec![0u8; 64 * 1024],
        };
        let mut out = Vec::new();
        encode_payload(0, &self.greeting(), &mut out);
        wr.write_all(&out)
            .await
            .map_err(|e| format!("writing: {e}"))?;
        let Some(hello) = rd.next().await? else {
            return Ok(());
        };
        if ClientHello::is_ssl_request(&hello.bytes) {
            let mut out = Vec::new();
            encode_payload(
                2,
                &err(1043, b"08S01", "reel's mock speaks no TLS: connect without"),
                &mut out,
            );
            let _ = wr.write_all(&out).await;
            return Err("the client asked for TLS".into());
        }
        let h = ClientHello::parse(&hello.bytes)
            .map_err(|e| format!("the client's handshake answer: {e}"))?;
        self.enc.capabilities = h.capabilities & OFFERED;
        // Any user, any password: the recording stood in for the server's check.
        let mut out = Vec::new();
        encode_payload(hello.seq.wrapping_add(1), &ok_payload(), &mut out);
        wr.write_all(&out)
            .await
            .map_err(|e| format!("writing: {e}"))?;
        while let Some(p) = rd.next().await? {
            if p.seq != 0 {
                return Err(format!(
                    "a command with sequence id {}, where a command starts at 0",
                    p.seq
                ));
            }
            let command = Command::parse(&p.bytes)?;
            if command == Command::Quit {
                return Ok(());
            }
            let Some(payloads) = self.answer(command) else {
                continue;
            };
            let mut out = Vec::new();
            let mut seq = 1u8;
            for p in payloads {
                seq = encode_payload(seq, &p, &mut out);
            }
            wr.write_all(&out)
                .await
                .map_err(|e| format!("writing: {e}"))?;
        }
        Ok(())
    }

    /// The greeting: protocol 10, the recorded server version, character
    /// set and status, mysql_native_password with a scramble.
    fn greeting(&self) -> Vec<u8> {
        let recorded = self.book.greeting(&self.dep).unwrap_or_default();
        let version = recorded
            .get("server_version")
            .and_then(Value::as_str)
            .unwrap_or("8.0.0-reel-mock");
        let charset = recorded
            .get("charset")
            .and_then(Value::as_u64)
            .unwrap_or(45) as u8;
        let status = recorded.get("status").and_then(Value::as_u64).unwrap_or(2) as u16;
        let mut p = vec![10];
        p.extend_from_slice(version.as_bytes());
        p.push(0);
        p.extend_from_slice(&(self.id as u32).to_le_bytes());
        p.extend_from_slice(b"reelmock");
        p.push(0);
        p.extend_from_slice(&(OFFERED as u16).to_le_bytes());
        p.push(charset);
        p.extend_from_slice(&status.to_le_bytes());
        p.extend_from_slice(&((OFFERED >> 16) as u16).to_le_bytes());
        p.push(21);
        p.extend_from_slice(&[0; 10]);
        p.extend_from_slice(b"scramble1234\0");
        p.extend_from_slice(b"mysql_native_password\0");
        p
    }

    /// The payloads that answer `command`, or none for one that gets none.
    fn answer(&mut self, command: Command) -> Option<Vec<Vec<u8>>> {
        let name = command.name();
        let stmt_id = |id: u32, last: Option<u32>| match id {
            LAST_PREPARED => last.unwrap_or(id),
            id => id,
        };
        let answer = match &command {
            Command::StmtClose(id) => {
                self.statements.remove(&stmt_id(*id, self.last_prepared));
                return None;
            }
            Command::StmtSendLongData {
                stmt_id: id,
                param,
                data,
            } => {
                // Only for a parameter the statement has.
                let s = self.statements.get_mut(&stmt_id(*id, self.last_prepared));
                if let Some(s) = s.filter(|s| usize::from(*param) < s.params) {
                    s.long_data
                        .entry(*param)
                        .or_default()
                        .extend_from_slice(data);
                }
                return None;
            }
            Command::Ping
            | Command::InitDb(_)
            | Command::ResetConnection
            | Command::ChangeUser(_) => {
                if matches!(command, Command::ResetConnection | Command::ChangeUser(_)) {
                    self.statements.clear();
                    self.last_prepared = None;
                }
                Ok(ok_answer())
            }
            Command::StmtReset(id) => {
                if let Some(s) = self.statements.get_mut(&stmt_id(*id, self.last_prepared)) {
                    s.long_data.clear();
                }
                Ok(ok_answer())
            }
            Command::SetOption(_) => {
                let ask = Ask {
                    cmd: name,
                    sql: None,
                    params: None,
                    body: None,
                };
                // As servers answer it when recorded nowhere: an EOF.
                Ok(self.book.answer_or(&self.dep, &ask, eof_answer()))
            }
            // A session setting recorded nowhere changes nothing the mock
            // answers: OK, and no miss.
            Command::Query(sql) if is_setting(sql) => {
                let ask = Ask {
                    cmd: name,
                    sql: Some(sql),
                    params: None,
                    body: None,
                };
                Ok(self.book.answer_or(&self.dep, &ask, ok_answer()))
            }
            Command::Query(sql) => self.recorded(&Ask {
                cmd: name,
                sql: Some(sql),
                params: None,
                body: None,
            }),
            Command::StmtPrepare(sql) => match self.book.prepared(&self.dep, sql) {
                // Recorded failing: the error again, and no statement.
                Some(a) if !a.contains_key("prepared") => {
                    self.last_prepared = None;
                    Ok(a)
                }
                Some(a) => {
                    let id = self.next_stmt;
                    self.next_stmt += 1;
                    let params = a
                        .get("prepared")
                        .and_then(|p| p.get("params"))
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    self.statements.insert(
                        id,
                        Statement {
                            sql: sql.clone(),
                            params,
                            bound: Vec::new(),
                            long_data: BTreeMap::new(),
                        },
                    );
                    self.last_prepared = Some(id);
                    return self.encode(&a, "COM_STMT_PREPARE", Some(id));
                }
                None => {
                    self.last_prepared = None;
                    Err(miss_text(&self.book.prepare_missed(&self.dep, sql)))
                }
            },
            Command::StmtExecute {
                stmt_id: id,
                params,
                ..
            } => {
                let id = stmt_id(*id, self.last_prepared);
                match self.statements.get_mut(&id) {
                    None => Err(format!(
                        "reel: statement {id} was not prepared on this connection"
                    )),
                    Some(s) => {
                        let sent: Vec<u16> = s.long_data.keys().copied().collect();
                        match execute_params(params, s.params, &s.bound, &sent) {
                            Err(e) => Err(format!("reel: the execute's parameters: {e}")),
                            Ok((values, types)) => {
                                s.bound = types;
                                let long = std::mem::take(&mut s.long_data);
                                let values: Vec<Value> = values
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, v)| {
                                        v.unwrap_or_else(|| {
                                            let b =
                                                long.get(&(i as u16)).cloned().unwrap_or_default();
                                            serde_json::to_value(Bytes(b)).expect("bytes serialise")
                                        })
                                    })
                                    .collect();
                                let sql = s.sql.clone();
                                self.recorded(&Ask {
                                    cmd: name,
                                    sql: Some(&sql),
                                    params: Some(&values),
                                    body: None,
                                })
                            }
                        }
                    }
                }
            }
            Command::StmtFetch { stmt_id: id, .. } => {
                let id = stmt_id(*id, self.last_prepared);
                match self.statements.get(&id) {
                    None => Err(format!(
                        "reel: statement {id} was not prepared on this connection"
                    )),
                    Some(s) => {
                        let sql = s.sql.clone();
                        self.recorded(&Ask {
                            cmd: name,
                            sql: Some(&sql),
                            params: None,
                            body: None,
                        })
                    }
                }
            }
            Command::Quit => return None,
            Command::Other { body, .. } => self.recorded(&Ask {
                cmd: name,
                sql: None,
                params: None,
                body: Some(body),
            }),
        };
        match answer {
            Ok(a) => self.encode(&a, name, None),
            Err(message) => Some(vec![err(1105, b"HY000", &message)]),
        }
    }

    /// The recorded answer to `ask`, or the text of the ERR a miss gets.
    fn recorded(&self, ask: &Ask) -> Result<Map<String, Value>, String> {
        self.book
            .answer(&self.dep, ask)
            .map(|(_, a)| a)
            .map_err(|m| miss_text(&m))
    }

    /// A recorded answer as payloads; one that does not write is an ERR,
    /// and a failure of the case.
    fn encode(
        &self,
        answer: &Map<String, Value>,
        cmd: &str,
        stmt: Option<u32>,
    ) -> Option<Vec<Vec<u8>>> {
        match encode_answer(answer, rows_as(cmd), stmt, self.enc) {
            Ok(p) => Some(p),
            Err(e) => {
                let why = format!(
                    "{}: a recorded answer to {cmd} does not write: {e}",
                    self.dep
                );
                self.book.failed(why.clone());
                Some(vec![err(1105, b"HY000", &format!("reel: {why}"))])
            }
        }
    }
}

/// `SET ...`: a session setting.
fn is_setting(sql: &[u8]) -> bool {
    let sql = reel_core::suite::mysql::normalize_sql(sql).to_ascii_uppercase();
    sql.starts_with(b"SET ")
}

fn eof_answer() -> Map<String, Value> {
    json!({"eof": {"status": 2, "warnings": 0}})
        .as_object()
        .cloned()
        .expect("an object")
}

fn ok_answer() -> Map<String, Value> {
    json!({"ok": {"affected_rows": 0, "last_insert_id": 0, "status": 2, "warnings": 0}})
        .as_object()
        .cloned()
        .expect("an object")
}

fn ok_payload() -> Vec<u8> {
    let mut p = Vec::new();
    reel_core::wire::mysql::encode_ok(ok_answer()["ok"].as_object().expect("an object"), 0, &mut p);
    p
}

/// An ERR payload.
fn err(code: u16, state: &[u8; 5], message: &str) -> Vec<u8> {
    let mut p = Vec::new();
    ErrPacket {
        code,
        sql_state: Some(*state),
        message: message.as_bytes().to_vec(),
    }
    .encode(&mut p);
    p
}

/// What a miss tells the app: no recording matched, and the nearest.
fn miss_text(miss: &crate::model::MockMiss) -> String {
    match &miss.nearest {
        Some(n) => format!(
            "reel: no recorded statement matches {}; nearest: {n}",
            miss.call
        ),
        None => format!("reel: no recorded statement matches {}", miss.call),
    }
}
