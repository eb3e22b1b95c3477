//! Records a Postgres dependency: a TCP proxy that forwards the app's
//! connections to the real server and stores each request group with its
//! answer as an outbound exchange (protocol `postgres`).
//!
//! Client bytes are decoded before they are forwarded, a whole message at a
//! time, so a malformed frame never reaches the server and the recorder can
//! answer SSLRequest/GSSENCRequest itself ('N': reel does not speak TLS to the
//! app; it does not need to, it sits on loopback next to it). Server bytes are
//! forwarded as they arrive and decoded from a copy. A frame that does not
//! decode closes that one connection, with an error naming the message and its
//! byte offset, and the groups in flight are stored with that error.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use reel_core::redact::Redactor;
use reel_core::time::Micros;
use reel_core::wire::postgres::{
    BackendDecoder, BackendMessage, DecodeError, FrontendDecoder, FrontendMessage, Grouper, Piece,
    RequestGroup,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::tcp::{self, READ_CHUNK};

/// One recorded Postgres dependency.
pub(crate) struct PgRecorder {
    pub dep: tcp::WireDep,
    /// With `--redact`: password messages are not stored, and values matching
    /// the project's secret patterns are stored as placeholders.
    pub redactor: Option<Arc<Redactor>>,
}

impl std::ops::Deref for PgRecorder {
    type Target = tcp::WireDep;

    fn deref(&self) -> &tcp::WireDep {
        &self.dep
    }
}

impl PgRecorder {
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
            grouper: Mutex::new(Grouper::with_cap(self.body_cap)),
        };
        let _ = client.set_nodelay(true);
        let (mut client_rd, mut client_wr) = client.into_split();
        // A message over --max-body is passed on as it comes, not held.
        let mut decoder = FrontendDecoder::with_cap(self.body_cap);

        // Startup: answer encryption requests, then connect for the first real message.
        let mut asked_tls = false;
        let first = loop {
            match read_frame(&mut client_rd, &mut decoder).await {
                Ok(Some((FrontendMessage::SSLRequest | FrontendMessage::GSSENCRequest, _))) => {
                    asked_tls = true;
                    if client_wr.write_all(b"N").await.is_err() {
                        return;
                    }
                }
                Ok(Some(first)) => break first,
                Ok(None) => {
                    if asked_tls {
                        tracing::error!(
                            dependency = %self.name,
                            client = %peer,
                            "the client asked for TLS and closed the connection when reel declined: \
                             TLS to the recorder is not supported; connect with sslmode=disable \
                             (or prefer) to the recorder's address, which is on loopback"
                        );
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(dependency = %self.name, client = %peer, "{e}; closing this connection");
                    return;
                }
            }
        };

        let server = match TcpStream::connect(&self.target).await {
            Ok(s) => s,
            Err(e) => {
                let why = format!("cannot connect to {}: {e}", self.target);
                tracing::error!(dependency = %self.name, "{why}");
                let mut answer = Vec::new();
                BackendMessage::ErrorResponse {
                    fields: reel_core::wire::postgres::error_fields(
                        "FATAL",
                        "08001",
                        &format!("reel: {why}"),
                    ),
                }
                .encode(&mut answer);
                let _ = client_wr.write_all(&answer).await;
                conn.client(first.0, &first.1);
                conn.finish(Some(&why));
                return;
            }
        };
        let _ = server.set_nodelay(true);
        let (server_rd, mut server_wr) = server.into_split();
        let is_cancel = matches!(first.0, FrontendMessage::CancelRequest { .. });
        if server_wr.write_all(&first.1).await.is_err() {
            conn.finish(Some("the server closed the connection"));
            return;
        }
        conn.client(first.0, &first.1);
        if is_cancel {
            conn.finish(None);
            return;
        }

        let upstream = conn.client_to_server(client_rd, server_wr, decoder);
        let downstream = conn.server_to_client(server_rd, client_wr);
        let who = (self.name.as_str(), conn.id, peer);
        let error = tcp::relay(upstream, downstream, shutdown, || conn.idle(), who).await;
        conn.finish(error.as_deref());
    }
}

/// One proxied connection's recording state.
struct Conn {
    id: u64,
    rec: Arc<PgRecorder>,
    grouper: Mutex<Grouper>,
}

impl Drop for Conn {
    /// A connection dropped mid-way (its recorder's runtime ended when the stop
    /// grace ran out) still stores what it saw; after `finish` there is nothing left.
    fn drop(&mut self) {
        self.finish(Some("recording stopped before the server answered"));
    }
}

impl Conn {
    fn client(&self, msg: FrontendMessage, raw: &[u8]) {
        let done = self.grouper.lock().client(msg, raw, Micros::now());
        for g in done {
            self.store(g, None);
        }
    }

    fn server(&self, msg: BackendMessage, raw: &[u8]) {
        let done = self.grouper.lock().server(msg, raw, Micros::now());
        if let Some(g) = done {
            self.store(g, None);
        }
    }

    fn client_oversized(&self, tag: u8, length: u64) {
        let done = self
            .grouper
            .lock()
            .client_oversized(tag, length, Micros::now());
        for g in done {
            self.store(g, None);
        }
    }

    fn server_oversized(&self, tag: u8, length: u64) {
        let done = self
            .grouper
            .lock()
            .server_oversized(tag, length, Micros::now());
        if let Some(g) = done {
            self.store(g, None);
        }
    }

    fn idle(&self) -> bool {
        self.grouper.lock().idle()
    }

    /// Stores what never got its answer, with the reason the connection ended.
    fn finish(&self, error: Option<&str>) {
        let left = std::mem::take(&mut *self.grouper.lock()).finish(Micros::now());
        for g in left {
            let why = error.unwrap_or("the connection closed before the server answered");
            self.store(g, Some(why.to_owned()));
        }
    }

    /// Forwards whole decoded messages, so nothing malformed reaches the
    /// server; a message over --max-body is passed on as it comes once its
    /// type and length are checked, and the server judges the rest.
    async fn client_to_server(
        &self,
        mut rd: OwnedReadHalf,
        mut wr: OwnedWriteHalf,
        mut decoder: FrontendDecoder,
    ) -> Result<(), String> {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut out = Vec::with_capacity(READ_CHUNK);
        loop {
            let n = rd
                .read(&mut buf)
                .await
                .map_err(|e| format!("reading from the app: {e}"))?;
            if n == 0 {
                decoder.finish().map_err(|e| e.to_string())?;
                let _ = wr.shutdown().await;
                return Ok(());
            }
            decoder.push(&buf[..n]);
            out.clear();
            // The rest of a message being passed on comes before what follows it.
            out.extend_from_slice(&decoder.take_passed());
            while let Some(piece) = decoder.next_piece().map_err(|e| e.to_string())? {
                match piece {
                    Piece::Message(msg, raw) => {
                        out.extend_from_slice(&raw);
                        self.client(msg, &raw);
                    }
                    Piece::Oversized { tag, length } => {
                        out.extend_from_slice(&decoder.take_passed());
                        self.client_oversized(tag, length);
                    }
                }
            }
            if !out.is_empty() {
                wr.write_all(&out)
                    .await
                    .map_err(|e| format!("writing to the server: {e}"))?;
            }
        }
    }

    /// Forwards the server's bytes as they come and decodes a copy.
    async fn server_to_client(&self, rd: OwnedReadHalf, wr: OwnedWriteHalf) -> Result<(), String> {
        let decoder = BackendDecoder::with_cap(self.rec.body_cap);
        let decode = |d: &mut BackendDecoder, bytes: &[u8]| {
            d.push(bytes);
            // Forwarded already: what is passed on is only dropped here.
            d.take_passed();
            while let Some(piece) = d.next_piece().map_err(|e| e.to_string())? {
                match piece {
                    Piece::Message(msg, raw) => self.server(msg, &raw),
                    Piece::Oversized { tag, length } => {
                        d.take_passed();
                        self.server_oversized(tag, length);
                    }
                }
            }
            Ok(())
        };
        let end = |d: &BackendDecoder| d.finish().map_err(|e| e.to_string());
        tcp::forward(rd, wr, ("the server", "the app"), decoder, decode, end).await
    }

    fn store(&self, mut group: RequestGroup, error: Option<String>) {
        let rec = &self.rec;
        if let Some(redactor) = &rec.redactor {
            let (values, answer) = redactor.postgres(&mut group.requests, &mut group.responses);
            // The raw bytes must not keep what the messages no longer hold.
            if redact_passwords(&mut group.requests) | values {
                group.request_raw.clear();
                for m in &group.requests {
                    m.encode(&mut group.request_raw);
                }
            }
            if answer {
                group.response_raw.clear();
                for m in &group.responses {
                    m.encode(&mut group.response_raw);
                }
            }
        }
        let mut exchange = group.into_exchange(&rec.name, self.id, rec.body_cap, error);
        exchange.seq = rec.sink.next_seq();
        rec.sink.send(exchange);
    }
}

/// Reads until one whole message is decoded; `None` at a clean end of stream.
async fn read_frame(
    rd: &mut OwnedReadHalf,
    decoder: &mut FrontendDecoder,
) -> Result<Option<(FrontendMessage, Vec<u8>)>, DecodeError> {
    let mut buf = [0u8; 1024];
    loop {
        if let Some(m) = decoder.next()? {
            return Ok(Some(m));
        }
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => {
                decoder.finish()?;
                return Ok(None);
            }
            Ok(n) => decoder.push(&buf[..n]),
        }
    }
}

/// Replaces password, SASL and GSS response data; true if anything changed.
fn redact_passwords(requests: &mut [FrontendMessage]) -> bool {
    let mut changed = false;
    for m in requests {
        if let FrontendMessage::PasswordMessage { data } = m {
            *data = b"[redacted]".to_vec().into();
            changed = true;
        }
    }
    changed
}

/// Answers a connection over `--max-connections` as Postgres answers one
/// over `max_connections`: a FATAL `too_many_connections` error, then close.
pub(crate) async fn refuse(mut client: TcpStream) {
    let mut answer = Vec::new();
    BackendMessage::ErrorResponse {
        fields: reel_core::wire::postgres::error_fields(
            "FATAL",
            "53300",
            "reel: too many connections are open to this recorder (--max-connections)",
        ),
    }
    .encode(&mut answer);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        client.write_all(&answer).await?;
        client.shutdown().await?;
        let mut buf = [0u8; 1024];
        while client.read(&mut buf).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
