//! The Postgres mock: speaks protocol v3 where the database stood and answers
//! from the [`PgBook`].
//!
//! Any start-up is accepted without a password (declining TLS first), and
//! answered with AuthenticationOk, the recorded server parameters,
//! BackendKeyData and ReadyForQuery. Request groups are answered when complete
//! (a Query, or extended-protocol messages up to Sync); a Flush answers what
//! has been sent so far. A group with no recording gets an ErrorResponse in
//! the internal-error class (XX000) naming the nearest recorded statement, and
//! the case fails with the diff.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use reel_core::wire::postgres::{
    error_fields, BackendMessage, Bytes, FrontendDecoder, FrontendMessage, Notice, TxStatus,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::http::MockServer;
use super::pg_book::{answer_ranges, Answer, Canon, PgBook};
use crate::errors::ReplayError;

/// What every mocked connection of one dependency is told at start-up.
#[derive(Debug, Clone)]
pub struct PgServerInfo {
    pub parameters: Vec<(String, String)>,
}

impl PgServerInfo {
    /// The recorded parameters, or what a Postgres 15 server sends by default.
    pub fn new(recorded: &[(String, String)]) -> Self {
        let parameters = if recorded.is_empty() {
            [
                ("server_version", "15.0 (reel mock)"),
                ("server_encoding", "UTF8"),
                ("client_encoding", "UTF8"),
                ("DateStyle", "ISO, MDY"),
                ("IntervalStyle", "postgres"),
                ("integer_datetimes", "on"),
                ("standard_conforming_strings", "on"),
                ("TimeZone", "UTC"),
                ("is_superuser", "off"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        } else {
            recorded.to_vec()
        };
        PgServerInfo { parameters }
    }
}

/// Starts the Postgres mock of dependency `name` on `listen`.
pub async fn serve(
    name: &str,
    listen: &str,
    book: Arc<PgBook>,
    info: PgServerInfo,
) -> Result<MockServer, ReplayError> {
    let bind_err = |source| ReplayError::MockBind {
        name: name.to_owned(),
        listen: listen.to_owned(),
        source,
    };
    let listener = TcpListener::bind(listen).await.map_err(bind_err)?;
    let addr: SocketAddr = listener.local_addr().map_err(bind_err)?;
    let (stop, mut stopped) = oneshot::channel::<()>();
    let dep: Arc<str> = name.into();
    let info = Arc::new(info);
    let task = tokio::spawn(async move {
        let pids = AtomicI32::new(1000);
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let conn = Connection {
                        dep: dep.clone(),
                        book: book.clone(),
                        info: info.clone(),
                        pid: pids.fetch_add(1, Ordering::Relaxed),
                    };
                    conns.spawn(async move {
                        if let Err(e) = conn.run(stream).await {
                            tracing::warn!(dependency = %conn.dep, client = %peer, "postgres mock: {e}");
                        }
                    });
                }
            }
        }
        conns.shutdown().await;
    });
    Ok(MockServer::new(name.to_owned(), addr, stop, task))
}

struct Connection {
    dep: Arc<str>,
    book: Arc<PgBook>,
    info: Arc<PgServerInfo>,
    pid: i32,
}

/// One extended-protocol group being received.
#[derive(Default)]
struct Pending {
    canon: Vec<Canon>,
    /// Answered at a Flush: the recording and how far its answer was sent.
    flushed: Option<(Answer, usize)>,
    /// An error was sent; the rest of the group is skipped until Sync.
    failed: bool,
}

impl Connection {
    async fn run(&self, mut stream: TcpStream) -> Result<(), String> {
        let _ = stream.set_nodelay(true);
        let mut dec = FrontendDecoder::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut out = Vec::new();
        let mut statements: HashMap<String, String> = HashMap::new();
        let mut portals: HashMap<String, String> = HashMap::new();
        let mut pending = Pending::default();
        let mut status = TxStatus::Idle;
        let mut started = false;
        loop {
            let msg = loop {
                if let Some((m, _)) = dec.next().map_err(|e| e.to_string())? {
                    break m;
                }
                let n = stream
                    .read(&mut buf)
                    .await
                    .map_err(|e| format!("reading: {e}"))?;
                if n == 0 {
                    return dec.finish().map_err(|e| e.to_string());
                }
                dec.push(&buf[..n]);
            };
            out.clear();
            match msg {
                FrontendMessage::SSLRequest | FrontendMessage::GSSENCRequest => {
                    BackendMessage::EncryptionResponse { accepted: false }.encode(&mut out)
                }
                FrontendMessage::CancelRequest { .. } | FrontendMessage::Terminate => return Ok(()),
                FrontendMessage::StartupMessage { .. } => {
                    started = true;
                    self.greet(&mut out);
                }
                _ if !started => return Err(format!("{} before StartupMessage", msg.name())),
                FrontendMessage::PasswordMessage { .. } => {}
                FrontendMessage::Query { .. } | FrontendMessage::FunctionCall { .. } => {
                    let canon: Vec<Canon> = Canon::of(&msg, None).into_iter().collect();
                    match self.book.answer(&self.dep, &canon) {
                        Ok(answer) => {
                            let copy_in = answer
                                .response
                                .iter()
                                .position(|m| matches!(m, BackendMessage::CopyInResponse { .. }));
                            let split = copy_in.map_or(answer.response.len(), |i| i + 1);
                            encode_all(&answer.response[..split], &mut out, &mut status);
                            if copy_in.is_some() {
                                stream
                                    .write_all(&out)
                                    .await
                                    .map_err(|e| format!("writing: {e}"))?;
                                out.clear();
                                self.read_copy_data(&mut stream, &mut dec, &mut buf).await?;
                            }
                            encode_all(&answer.response[split..], &mut out, &mut status);
                        }
                        Err(miss) => {
                            self.error(&miss, &mut out);
                            BackendMessage::ReadyForQuery { status }.encode(&mut out);
                        }
                    }
                }
                FrontendMessage::Flush => self.flush(&mut pending, &mut out, &mut status),
                FrontendMessage::Sync => {
                    pending.canon.push(Canon::Sync);
                    let p = std::mem::take(&mut pending);
                    if p.failed {
                        BackendMessage::ReadyForQuery { status }.encode(&mut out);
                    } else {
                        match self.book.answer(&self.dep, &p.canon) {
                            Ok(answer) => {
                                let from = p.flushed.map_or(0, |(_, sent)| sent);
                                let from = from.min(answer.response.len());
                                encode_all(&answer.response[from..], &mut out, &mut status);
                            }
                            Err(miss) => {
                                self.error(&miss, &mut out);
                                BackendMessage::ReadyForQuery { status }.encode(&mut out);
                            }
                        }
                    }
                }
                FrontendMessage::CopyData { .. }
                | FrontendMessage::CopyDone
                | FrontendMessage::CopyFail { .. } => {}
                other => {
                    let prepared = match &other {
                        FrontendMessage::Parse { statement, sql, .. } => {
                            statements.insert(statement.clone(), sql.clone());
                            None
                        }
                        FrontendMessage::Bind {
                            portal, statement, ..
                        } => {
                            let sql = statements.get(statement).cloned();
                            if let Some(sql) = &sql {
                                portals.insert(portal.clone(), sql.clone());
                            }
                            sql
                        }
                        FrontendMessage::Describe { kind, name }
                        | FrontendMessage::Close { kind, name } => match kind {
                            reel_core::wire::postgres::Target::Statement => {
                                statements.get(name).cloned()
                            }
                            reel_core::wire::postgres::Target::Portal => portals.get(name).cloned(),
                        },
                        FrontendMessage::Execute { portal, .. } => portals.get(portal).cloned(),
                        _ => None,
                    };
                    if !pending.failed {
                        pending.canon.extend(Canon::of(&other, prepared.as_deref()));
                    }
                }
            }
            if !out.is_empty() {
                stream
                    .write_all(&out)
                    .await
                    .map_err(|e| format!("writing: {e}"))?;
            }
        }
    }

    fn greet(&self, out: &mut Vec<u8>) {
        BackendMessage::Authentication {
            code: 0,
            data: Bytes::default(),
        }
        .encode(out);
        for (name, value) in &self.info.parameters {
            BackendMessage::ParameterStatus {
                name: name.clone(),
                value: value.clone(),
            }
            .encode(out);
        }
        BackendMessage::BackendKeyData {
            process_id: self.pid,
            secret_key: Bytes::from(self.pid.to_be_bytes().to_vec()),
        }
        .encode(out);
        BackendMessage::ReadyForQuery {
            status: TxStatus::Idle,
        }
        .encode(out);
    }

    /// Answers the messages so far of a group the driver flushed.
    fn flush(&self, pending: &mut Pending, out: &mut Vec<u8>, status: &mut TxStatus) {
        if pending.failed || pending.canon.is_empty() {
            return;
        }
        let Some(answer) = self.book.peek(&self.dep, &pending.canon) else {
            let miss = match self.book.answer(&self.dep, &pending.canon) {
                Err(miss) => miss,
                // Cannot happen: a whole match is also a prefix match.
                Ok(_) => return,
            };
            self.error(&miss, out);
            pending.failed = true;
            return;
        };
        // The recorded messages that correspond to what was sent so far.
        let ranges = answer_ranges(&answer.request, &answer.response);
        let mut seen = 0;
        let mut upto = 0;
        for (r, range) in answer.request.iter().zip(&ranges) {
            if seen == pending.canon.len() {
                break;
            }
            if Canon::of(&r.message, r.prepared.as_deref()).is_some() {
                seen += 1;
            }
            upto = range.end;
        }
        let from = pending.flushed.as_ref().map_or(0, |(_, sent)| *sent);
        if upto > from {
            encode_all(&answer.response[from..upto], out, status);
        }
        pending.flushed = Some((answer, upto.max(from)));
    }

    fn error(&self, miss: &crate::model::MockMiss, out: &mut Vec<u8>) {
        let message = match &miss.nearest {
            Some(n) => {
                format!("reel: no recorded answer for this statement; nearest recorded: {n}")
            }
            None => format!(
                "reel: no recorded answer for this statement, and none was recorded for '{}'",
                self.dep
            ),
        };
        let mut fields = error_fields("ERROR", "XX000", &message);
        if !miss.diff.is_empty() {
            fields.push(Notice {
                code: 'D',
                value: miss.diff.clone(),
            });
        }
        BackendMessage::ErrorResponse { fields }.encode(out);
    }

    /// Reads the app's COPY data up to CopyDone or CopyFail.
    async fn read_copy_data(
        &self,
        stream: &mut TcpStream,
        dec: &mut FrontendDecoder,
        buf: &mut [u8],
    ) -> Result<(), String> {
        loop {
            while let Some((m, _)) = dec.next().map_err(|e| e.to_string())? {
                if matches!(
                    m,
                    FrontendMessage::CopyDone | FrontendMessage::CopyFail { .. }
                ) {
                    return Ok(());
                }
            }
            let n = stream
                .read(buf)
                .await
                .map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                return Err("the app closed the connection during COPY".into());
            }
            dec.push(&buf[..n]);
        }
    }
}

fn encode_all(messages: &[BackendMessage], out: &mut Vec<u8>, status: &mut TxStatus) {
    for m in messages {
        if let BackendMessage::ReadyForQuery { status: s } = m {
            *status = *s;
        }
        m.encode(out);
    }
}
