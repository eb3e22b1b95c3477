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

use std::sync::Arc;

use reel_core::wire::postgres::{
    error_fields, BackendMessage, Bytes, FrontendDecoder, FrontendMessage, Notice, Prepared,
    TxStatus,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::http::MockServer;
use super::pg_book::{Answer, Canon, PgBook};
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
    let dep: Arc<str> = name.into();
    let info = Arc::new(info);
    super::serve_tcp(name, listen, "postgres", move |stream, n| {
        let conn = Connection {
            dep: dep.clone(),
            book: book.clone(),
            info: info.clone(),
            // Backend process ids as a server gives them: from 1000.
            pid: 999 + n as i32,
        };
        async move { conn.run(stream).await }
    })
    .await
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
    /// How many of `canon`'s messages were answered at a Flush.
    sent: usize,
    /// An error was sent; the rest of the group is skipped until Sync.
    failed: bool,
}

impl Connection {
    async fn run(&self, stream: TcpStream) -> Result<(), String> {
        let _ = stream.set_nodelay(true);
        let mut io = Io {
            stream,
            dec: FrontendDecoder::new(),
            buf: vec![0u8; 64 * 1024],
            out: Vec::new(),
            status: TxStatus::Idle,
        };
        let mut names = Prepared::default();
        let mut pending = Pending::default();
        let mut started = false;
        loop {
            let Some(msg) = io.next_message().await? else {
                return io.dec.finish().map_err(|e| e.to_string());
            };
            match msg {
                FrontendMessage::SSLRequest | FrontendMessage::GSSENCRequest => {
                    BackendMessage::EncryptionResponse { accepted: false }.encode(&mut io.out)
                }
                FrontendMessage::CancelRequest { .. } | FrontendMessage::Terminate => return Ok(()),
                FrontendMessage::StartupMessage { .. } => {
                    started = true;
                    self.greet(&mut io.out);
                }
                _ if !started => return Err(format!("{} before StartupMessage", msg.name())),
                FrontendMessage::PasswordMessage { .. } => {}
                FrontendMessage::Query { .. } | FrontendMessage::FunctionCall { .. } => {
                    let canon: Vec<Canon> = Canon::of(&msg, None).into_iter().collect();
                    match self.book.answer(&self.dep, &canon, io.status) {
                        Ok(answer) => self.send_answer(&mut io, &answer, 0, false).await?,
                        Err(miss) => self.fail(&miss, &mut io.out, &mut io.status),
                    }
                }
                FrontendMessage::Flush => self.flush(&mut pending, &mut io),
                FrontendMessage::Sync => {
                    pending.canon.push(Canon::Sync);
                    let p = std::mem::take(&mut pending);
                    if p.failed {
                        BackendMessage::ReadyForQuery { status: io.status }.encode(&mut io.out);
                    } else {
                        match self.book.answer(&self.dep, &p.canon, io.status) {
                            Ok(answer) => self.send_answer(&mut io, &answer, p.sent, true).await?,
                            Err(miss) => self.fail(&miss, &mut io.out, &mut io.status),
                        }
                    }
                }
                FrontendMessage::CopyData { .. }
                | FrontendMessage::CopyDone
                | FrontendMessage::CopyFail { .. } => {}
                other => {
                    let prepared = names.follow(&other);
                    if !pending.failed {
                        pending.canon.extend(Canon::of(&other, prepared.as_deref()));
                    }
                }
            }
            io.write_out().await?;
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
    fn flush(&self, pending: &mut Pending, io: &mut Io) {
        if pending.failed || pending.canon.len() == pending.sent {
            return;
        }
        let Some(answer) = self.book.peek(&self.dep, &pending.canon, io.status) else {
            let miss = match self.book.answer(&self.dep, &pending.canon, io.status) {
                Err(miss) => miss,
                // Cannot happen: a whole match is also a prefix match.
                Ok(_) => return,
            };
            self.error(&miss, &mut io.out);
            pending.failed = true;
            return;
        };
        let upto = pending.canon.len();
        encode_all(
            answer.between(pending.sent, upto),
            &mut io.out,
            &mut io.status,
        );
        pending.sent = upto;
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

    /// An error for a group with no recording, then ReadyForQuery: a failed
    /// transaction stays failed until the app rolls it back.
    fn fail(&self, miss: &crate::model::MockMiss, out: &mut Vec<u8>, status: &mut TxStatus) {
        self.error(miss, out);
        if *status != TxStatus::Idle {
            *status = TxStatus::Failed;
        }
        BackendMessage::ReadyForQuery { status: *status }.encode(out);
    }

    /// Sends the answer to the group's messages from the `sent`-th on (those
    /// before were answered at a Flush). Where the server asked for COPY
    /// data, the app's data is read and compared with the recording first;
    /// data that differs is a miss.
    async fn send_answer(
        &self,
        io: &mut Io,
        answer: &Answer,
        sent: usize,
        extended: bool,
    ) -> Result<(), String> {
        let response = answer.after(sent);
        let Some(copy) = response
            .iter()
            .position(|m| matches!(m, BackendMessage::CopyInResponse { .. }))
        else {
            encode_all(response, &mut io.out, &mut io.status);
            return Ok(());
        };
        encode_all(&response[..=copy], &mut io.out, &mut io.status);
        io.write_out().await?;
        let sent = self.read_copy_data(io, extended).await?;
        let recorded: Vec<&FrontendMessage> = answer
            .request
            .iter()
            .map(|r| &r.message)
            .filter(|m| is_copy(m))
            .collect();
        if recorded.len() == sent.len() && recorded.iter().zip(&sent).all(|(r, s)| *r == s) {
            encode_all(&response[copy + 1..], &mut io.out, &mut io.status);
            return Ok(());
        }
        let text = |ms: &mut dyn Iterator<Item = &FrontendMessage>| -> String {
            ms.map(copy_text).collect()
        };
        let miss = crate::model::MockMiss {
            dependency: self.dep.to_string(),
            call: "COPY data".into(),
            nearest: Some(format!(
                "{} ({})",
                answer.id,
                answer
                    .request
                    .iter()
                    .find_map(|r| match &r.message {
                        FrontendMessage::Query { sql } => Some(sql.clone()),
                        _ => r.prepared.clone(),
                    })
                    .unwrap_or_default()
            )),
            diff: crate::diff::unified(
                &text(&mut recorded.iter().copied()),
                &text(&mut sent.iter()),
            ),
            values: Vec::new(),
        };
        self.book.note_miss(miss.clone());
        self.fail(&miss, &mut io.out, &mut io.status);
        Ok(())
    }

    /// Reads the app's COPY data up to CopyDone or CopyFail (and, in the
    /// extended protocol, the Sync after it).
    async fn read_copy_data(
        &self,
        io: &mut Io,
        extended: bool,
    ) -> Result<Vec<FrontendMessage>, String> {
        let mut got = Vec::new();
        let mut ended = false;
        loop {
            let Some(m) = io.next_message().await? else {
                return Err("the app closed the connection during COPY".into());
            };
            match m {
                FrontendMessage::Sync if ended => return Ok(got),
                FrontendMessage::Sync | FrontendMessage::Flush => {}
                m @ (FrontendMessage::CopyDone | FrontendMessage::CopyFail { .. }) => {
                    got.push(m);
                    if !extended {
                        return Ok(got);
                    }
                    ended = true;
                }
                m @ FrontendMessage::CopyData { .. } => got.push(m),
                other => {
                    return Err(format!(
                        "{} during COPY FROM STDIN, where CopyData, CopyDone or CopyFail belong",
                        other.name()
                    ))
                }
            }
        }
    }
}

/// One connection's I/O: the socket, the decoder of what the app sends, and
/// the answer being built with the transaction status it will report.
struct Io {
    stream: TcpStream,
    dec: FrontendDecoder,
    buf: Vec<u8>,
    out: Vec<u8>,
    status: TxStatus,
}

impl Io {
    /// The app's next whole message, reading as needed; `None` once the app
    /// has closed the connection (the decoder may still hold a partial frame).
    async fn next_message(&mut self) -> Result<Option<FrontendMessage>, String> {
        loop {
            if let Some((m, _)) = self.dec.next().map_err(|e| e.to_string())? {
                return Ok(Some(m));
            }
            let n = self
                .stream
                .read(&mut self.buf)
                .await
                .map_err(|e| format!("reading: {e}"))?;
            if n == 0 {
                return Ok(None);
            }
            self.dec.push(&self.buf[..n]);
        }
    }

    /// Sends what has been encoded so far, if anything.
    async fn write_out(&mut self) -> Result<(), String> {
        if !self.out.is_empty() {
            self.stream
                .write_all(&self.out)
                .await
                .map_err(|e| format!("writing: {e}"))?;
            self.out.clear();
        }
        Ok(())
    }
}

fn is_copy(m: &FrontendMessage) -> bool {
    matches!(
        m,
        FrontendMessage::CopyData { .. }
            | FrontendMessage::CopyDone
            | FrontendMessage::CopyFail { .. }
    )
}

/// One line per COPY message, for the miss diff.
fn copy_text(m: &FrontendMessage) -> String {
    match m {
        FrontendMessage::CopyData { data } => match std::str::from_utf8(data) {
            Ok(t) => format!("CopyData: {}\n", t.escape_debug()),
            Err(_) => format!("CopyData: {} bytes\n", data.len()),
        },
        FrontendMessage::CopyFail { message } => format!("CopyFail: {message}\n"),
        other => format!("{}\n", other.name()),
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

#[cfg(test)]
mod tests {
    use reel_core::suite::{PgMock, PgRequest};
    use reel_core::wire::postgres::{BackendDecoder, PROTOCOL_V3};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn copy_group(data: &[u8]) -> PgMock {
        let req = |message| PgRequest {
            message,
            prepared: None,
            matchers: Default::default(),
        };
        PgMock {
            id: "0001#1".into(),
            seq: 1,
            dependency: "db".into(),
            protocol: "postgres".into(),
            connection: 1,
            request: vec![
                req(FrontendMessage::Query {
                    sql: "copy t from stdin".into(),
                }),
                req(FrontendMessage::CopyData {
                    data: data.to_vec().into(),
                }),
                req(FrontendMessage::CopyDone),
            ],
            response: vec![
                BackendMessage::CopyInResponse {
                    format: 0,
                    column_formats: vec![0],
                },
                BackendMessage::CommandComplete {
                    tag: "COPY 2".into(),
                },
                BackendMessage::ReadyForQuery {
                    status: TxStatus::Idle,
                },
            ],
        }
    }

    /// Sends `messages` and reads answers until ReadyForQuery.
    async fn exchange(
        s: &mut TcpStream,
        dec: &mut BackendDecoder,
        messages: &[FrontendMessage],
    ) -> Vec<BackendMessage> {
        let mut out = Vec::new();
        for m in messages {
            m.encode(&mut out);
        }
        s.write_all(&out).await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            while let Some((m, _)) = dec.next().unwrap() {
                let done = matches!(m, BackendMessage::ReadyForQuery { .. });
                got.push(m);
                if done {
                    return got;
                }
            }
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "the mock closed the connection; got {got:?}");
            dec.push(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn copy_data_is_compared_with_the_recording() {
        let book = Arc::new(PgBook::new(
            vec![vec![copy_group(b"1\n2\n"), copy_group(b"1\n2\n")]],
            vec![],
        ));
        let server = serve("db", "127.0.0.1:0", book.clone(), PgServerInfo::new(&[]))
            .await
            .unwrap();
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        let mut dec = BackendDecoder::new();
        let hello = exchange(
            &mut s,
            &mut dec,
            &[FrontendMessage::StartupMessage {
                protocol: PROTOCOL_V3,
                params: vec![("user".into(), "ci".into())],
            }],
        )
        .await;
        assert!(matches!(
            hello[0],
            BackendMessage::Authentication { code: 0, .. }
        ));
        book.begin_case(0);
        let copy = |data: &[u8]| {
            vec![
                FrontendMessage::Query {
                    sql: "copy t from stdin".into(),
                },
                FrontendMessage::CopyData {
                    data: data.to_vec().into(),
                },
                FrontendMessage::CopyDone,
            ]
        };
        let same = exchange(&mut s, &mut dec, &copy(b"1\n2\n")).await;
        assert_eq!(
            same[1],
            BackendMessage::CommandComplete {
                tag: "COPY 2".into()
            }
        );
        let other = exchange(&mut s, &mut dec, &copy(b"999\n")).await;
        let BackendMessage::ErrorResponse { .. } = &other[1] else {
            panic!("COPY data that differs gets an error: {other:?}");
        };
        assert_eq!(other[1].notice_field('C'), Some("XX000"));
        let log = book.end_case();
        assert_eq!(log.misses.len(), 1);
        assert!(
            log.misses[0].diff.contains("-CopyData: 1\\n2\\n"),
            "{}",
            log.misses[0].diff
        );
        assert!(
            log.misses[0].diff.contains("+CopyData: 999\\n"),
            "{}",
            log.misses[0].diff
        );
        server.stop().await;
    }
}
