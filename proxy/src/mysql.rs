//! Records a MySQL or MariaDB dependency: a TCP proxy that forwards the
//! app's connections to the real server and stores the connection phase,
//! then each command with its whole answer, as outbound exchanges
//! (protocol `mysql`).
//!
//! The server's greeting is read whole and forwarded with what reel does
//! not read withdrawn: TLS (reel sits on loopback next to the app; the app
//! goes on in plain, as with Postgres's 'N'), compression, query
//! attributes, optional result-set metadata, and MariaDB's capabilities
//! other than extended type information. Authentication passes through
//! untouched. Everything after the greeting is forwarded as it arrives and
//! decoded from a copy, within the `--max-body` cap, so a huge result or
//! parameter is never held. A payload that breaks the protocol closes that
//! one connection, with an error naming the side, the command and the byte
//! offset; the exchanges in flight are stored with that error.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use reel_core::model::Later;
use reel_core::time::Micros;
use reel_core::wire::mysql::{
    caps, encode_payload, Conversation, ErrPacket, Greeting, PacketDecoder, Turn, READ_MARIADB,
};
use reel_core::wire::Side;
use reel_core::{Body, DecodedJson, Direction, Exchange, Payload, Protocol};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::tcp::{self, READ_CHUNK};

/// What the recorder withdraws from the greeting it forwards.
const WITHDRAWN: u32 = caps::SSL
    | caps::COMPRESS
    | caps::ZSTD_COMPRESSION
    | caps::OPTIONAL_RESULTSET_METADATA
    | caps::QUERY_ATTRIBUTES;

/// How long the server may take to greet.
const GREETING: std::time::Duration = std::time::Duration::from_secs(10);

/// One recorded MySQL dependency.
pub(crate) struct MysqlRecorder {
    pub dep: tcp::WireDep,
    /// With `--redact`: no authentication data is stored.
    pub redact: bool,
}

impl std::ops::Deref for MysqlRecorder {
    type Target = tcp::WireDep;

    fn deref(&self) -> &tcp::WireDep {
        &self.dep
    }
}

impl MysqlRecorder {
    /// Records one connection of the app's (see [`tcp::serve`]).
    pub(crate) async fn connection(
        self: Arc<Self>,
        client: TcpStream,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) {
        let _guard = self.in_flight.enter();
        let conn = Conn {
            id: self.sink.next_connection(),
            rec: self.clone(),
            conv: Mutex::new(Conversation::new(self.body_cap, self.redact).storing_plain_raw()),
            stored_raw: AtomicU64::new(0),
        };
        let _ = client.set_nodelay(true);
        let mut server = match TcpStream::connect(&self.target).await {
            Ok(s) => s,
            Err(e) => {
                let why = format!("cannot connect to {}: {e}", self.target);
                return self.no_server(client, why).await;
            }
        };
        let _ = server.set_nodelay(true);
        let who = (self.name.as_str(), conn.id, peer);
        let (client_rd, mut client_wr) = client.into_split();
        let mut decoder = PacketDecoder::new(Side::Backend, self.body_cap);
        let greeted = tokio::time::timeout(
            GREETING,
            conn.greet(&mut server, &mut client_wr, &mut decoder),
        )
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{} sent no greeting within {} s",
                self.target,
                GREETING.as_secs()
            ))
        });
        if let Err(e) = greeted {
            tracing::error!(dependency = %self.name, connection = conn.id, client = %peer, "{e}; closing this connection");
            conn.finish(Some(&e));
            return;
        }
        let (server_rd, server_wr) = server.into_split();
        let from_app = PacketDecoder::new(Side::Frontend, self.body_cap);
        let upstream = conn.forward(client_rd, server_wr, from_app, Side::Frontend);
        let downstream = conn.forward(server_rd, client_wr, decoder, Side::Backend);
        let error = tcp::relay(upstream, downstream, shutdown, || conn.idle(), who).await;
        if error.is_none() && conn.conv.lock().awaiting_hello() {
            tracing::warn!(
                dependency = %self.name, connection = conn.id, client = %peer,
                "the app closed the connection after the greeting: if it requires TLS \
                 (ssl-mode=REQUIRED, ssl: true), let it connect without; reel records on loopback"
            );
        }
        conn.finish(error.as_deref());
    }

    /// Logs why the app has no server and tells it, in an ERR packet
    /// (2003, `HY000`) where a greeting would be.
    async fn no_server(&self, mut client: TcpStream, why: String) {
        tracing::error!(dependency = %self.name, "{why}");
        let _ = client
            .write_all(&err_packet(2003, &format!("reel: {why}")))
            .await;
        let _ = client.shutdown().await;
    }
}

/// An ERR packet (sequence id 0) with `code`, state `HY000` and `message`.
fn err_packet(code: u16, message: &str) -> Vec<u8> {
    let mut payload = Vec::new();
    ErrPacket {
        code,
        sql_state: Some(*b"HY000"),
        message: message.as_bytes().to_vec(),
    }
    .encode(&mut payload);
    let mut out = Vec::new();
    encode_payload(0, &payload, &mut out);
    out
}

/// One proxied connection's recording state.
struct Conn {
    id: u64,
    rec: Arc<MysqlRecorder>,
    /// Its exchanges are stored as raw bytes only ([`Later`]) until one
    /// after the connection phase cannot be: the conversation tells which
    /// ([`Turn::raw`]).
    conv: Mutex<Conversation>,
    /// How many were.
    stored_raw: AtomicU64,
}

impl Drop for Conn {
    /// A connection dropped mid-way (its recorder's runtime ended when the
    /// stop grace ran out) still stores what it saw.
    fn drop(&mut self) {
        self.finish(Some("recording stopped before the server answered"));
    }
}

impl Conn {
    fn idle(&self) -> bool {
        self.conv.lock().idle()
    }

    /// Stores what never got its whole answer, with the reason the
    /// connection ended.
    fn finish(&self, error: Option<&str>) {
        let left = self.conv.lock().finish();
        for t in left {
            let why = match (t.answered, error) {
                (true, _) => None,
                (false, Some(e)) => Some(e.to_owned()),
                (false, None) => {
                    Some("the connection closed before the server answered".to_owned())
                }
            };
            self.store(t, why);
        }
    }

    /// Reads the server's greeting, forwards it with what reel does not read
    /// withdrawn, and hands it to the conversation. An ERR in its place (too
    /// many connections, a host not allowed) is forwarded as it came.
    async fn greet(
        &self,
        server: &mut TcpStream,
        client: &mut (impl AsyncWrite + Unpin),
        decoder: &mut PacketDecoder,
    ) -> Result<(), String> {
        let mut buf = vec![0u8; READ_CHUNK];
        let payload = loop {
            if let Some(p) = decoder.next().map_err(|e| e.to_string())? {
                break p;
            }
            let n = server
                .read(&mut buf)
                .await
                .map_err(|e| format!("reading from the server: {e}"))?;
            if n == 0 {
                decoder.finish().map_err(|e| e.to_string())?;
                return Err("the server closed the connection before its greeting".into());
            }
            decoder.push(&buf[..n]);
        };
        if payload.cut {
            return Err(format!(
                "the server's greeting ({} bytes) is longer than --max-body: give a larger --max-body",
                payload.len
            ));
        }
        let mut sent = payload.clone();
        if payload.bytes.first() != Some(&0xFF) {
            let mut g = Greeting::parse(&payload.bytes)
                .map_err(|e| format!("malformed greeting from the server at byte 0: {e}"))?;
            g.withdraw(WITHDRAWN);
            g.withdraw_mariadb(!READ_MARIADB);
            sent.bytes.clear();
            g.encode(&mut sent.bytes);
            sent.len = sent.bytes.len() as u64;
            sent.size = sent.len + 4;
        }
        let mut raw = Vec::new();
        encode_payload(sent.seq, &sent.bytes, &mut raw);
        client
            .write_all(&raw)
            .await
            .map_err(|e| format!("writing to the app: {e}"))?;
        let done = self
            .conv
            .lock()
            .server(&sent, Micros::now())
            .map_err(|e| e.to_string())?;
        done.into_iter().for_each(|t| self.store(t, None));
        Ok(())
    }

    /// Forwards what the `decoder`'s side sends as it comes and decodes a
    /// copy into the conversation.
    async fn forward(
        &self,
        rd: impl AsyncRead + Unpin,
        wr: impl AsyncWrite + Unpin,
        decoder: PacketDecoder,
        side: Side,
    ) -> Result<(), String> {
        let decode = |d: &mut PacketDecoder, bytes: &[u8]| {
            d.push(bytes);
            // What one read brought arrived at once: one reading of the
            // clock and one lock for all its payloads. What they finished
            // is stored after, an error or not.
            let now = Micros::now();
            let mut done = Vec::new();
            let mut conv = self.conv.lock();
            let read = loop {
                let p = match d.next() {
                    Ok(Some(p)) => p,
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e.to_string()),
                };
                let turns = match side {
                    Side::Frontend => conv.client(&p, now),
                    Side::Backend => conv.server(&p, now),
                };
                match turns {
                    Ok(turns) if done.is_empty() => done = turns,
                    Ok(turns) => done.extend(turns),
                    Err(e) => break Err(e.to_string()),
                }
            };
            drop(conv);
            done.into_iter().for_each(|t| self.store(t, None));
            read
        };
        let end = |d: &PacketDecoder| d.finish().map_err(|e| e.to_string());
        let sides = match side {
            Side::Frontend => ("the app", "the server"),
            Side::Backend => ("the server", "the app"),
        };
        tcp::forward(rd, wr, sides, decoder, decode, end).await
    }

    /// How `t` is stored: as raw bytes only, to be decoded when the session
    /// is read, while it and every exchange of this connection since the
    /// connection phase can be (the conversation closed it [`Turn::raw`],
    /// its request not described); else decoded, as read.
    fn later(&self, t: &Turn) -> Option<Later> {
        let encoding = t.raw?;
        Some(Later {
            capabilities: encoding.capabilities,
            extended_types: encoding.extended_types,
            cap: self.rec.body_cap as u64,
            nth: self.stored_raw.fetch_add(1, Ordering::Relaxed),
        })
    }

    fn store(&self, t: Turn, error: Option<String>) {
        let rec = &self.rec;
        let answered = t.answered || !t.answer.is_empty();
        // Stored as raw bytes only, neither side was cut (see
        // `Conversation::storing_plain_raw`) and none authenticates.
        let later = self.later(&t);
        let authenticates = matches!(
            t.request.get("command").and_then(|c| c.as_str()),
            Some("connect" | "COM_CHANGE_USER")
        );
        let request_raw = match rec.redact && authenticates {
            // The raw bytes hold the password's scramble (or the password
            // itself, for a cleartext plugin): none of it is stored.
            true => Body::capped(Vec::new(), t.request_size, true, rec.body_cap),
            false => Body::capped(t.request_raw, t.request_size, t.request_cut, rec.body_cap),
        };
        let request = Payload::Wire {
            decoded: decoded(later, &t.request),
            raw: request_raw,
        };
        let response = answered.then(|| Payload::Wire {
            decoded: decoded(later, &t.answer),
            raw: Body::capped(t.answer_raw, t.answer_size, t.answer_cut, rec.body_cap),
        });
        let exchange = Exchange {
            session_id: 0,
            seq: rec.sink.next_seq(),
            direction: Direction::Outbound,
            protocol: Protocol::Mysql,
            dependency: Some(rec.name.clone()),
            connection: self.id,
            started_at: t.started_at,
            first_byte_at: t.first_byte_at,
            ended_at: t.ended_at,
            request,
            response,
            error,
        };
        if !rec.sink.send(exchange) && later.is_some() {
            // Exchanges after it may need what it did (a statement it
            // prepared): they are stored decoded. (Those closed already are
            // stored raw: a read finds the gap their count leaves.)
            self.conv.lock().end_raw_run();
        }
    }
}

/// A side of an exchange as stored: to be decoded when read (`later`), or
/// `read` written as JSON now.
fn decoded(later: Option<Later>, read: &impl serde::Serialize) -> DecodedJson {
    match later {
        Some(later) => DecodedJson::Later(later),
        None => DecodedJson::text(read),
    }
}

/// Answers a connection over `--max-connections` as MySQL answers one over
/// `max_connections`: ERR 1040 where the greeting would be, then close.
pub(crate) async fn refuse(mut client: TcpStream) {
    let answer = err_packet(
        1040,
        "reel: too many connections are open to this recorder (--max-connections)",
    );
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        client.write_all(&answer).await?;
        client.shutdown().await?;
        let mut buf = [0u8; 1024];
        while client.read(&mut buf).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
