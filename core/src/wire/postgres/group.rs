//! Turns the two message streams of one Postgres connection into exchanges.
//!
//! A request group is what the client sends up to a point where the server
//! answers with ReadyForQuery: a StartupMessage (with the password messages that
//! follow it), one simple Query, one FunctionCall, or extended-protocol messages
//! up to and including Sync. Its response group is everything the server sends
//! until that ReadyForQuery. Clients pipeline (send several groups before the
//! first answer), so complete groups wait in order for their answers.
//!
//! COPY ... FROM STDIN data and password messages belong to the group that asked
//! for them, which is the one still open or else the newest waiting one; so
//! does a Flush sent after a Sync (psycopg's pipeline mode does that).

use std::collections::VecDeque;

use crate::model::{Body, DecodedJson, Direction, Exchange, Payload, Protocol};
use crate::time::Micros;

use super::{BackendMessage, Bytes, FrontendMessage};

/// One request group with its response group: one stored exchange.
///
/// What a group keeps is bounded by the grouper's cap (`--max-body`) in each
/// direction: past it, bulk messages (rows, COPY data, notices) are counted
/// and let go instead of kept, and the raw bytes stop; the messages that
/// frame the answer (descriptions, completions, errors, ReadyForQuery) are
/// always kept. `*_size` counts every byte, `*_cut` says something was let go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestGroup {
    pub requests: Vec<FrontendMessage>,
    pub request_raw: Vec<u8>,
    pub request_size: u64,
    pub request_cut: bool,
    pub responses: Vec<BackendMessage>,
    pub response_raw: Vec<u8>,
    pub response_size: u64,
    pub response_cut: bool,
    pub started_at: Option<Micros>,
    pub first_byte_at: Option<Micros>,
    pub ended_at: Option<Micros>,
}

/// Keeps a message and its bytes within `cap` bytes kept so far; a bulk
/// message past it is only counted.
///
/// `passed` counts the bytes of a message too long to hold that went by
/// without being kept (see [`crate::wire::postgres::Piece::Oversized`]):
/// `msg` then only stands in for it, and the group is cut.
fn keep<M>(
    msgs: &mut Vec<M>,
    kept: &mut Vec<u8>,
    size: &mut u64,
    cut: &mut bool,
    (msg, raw, bulk, passed): (M, &[u8], bool, u64),
    cap: usize,
) {
    *size += raw.len() as u64 + passed;
    *cut |= passed > 0;
    let fits = !*cut && kept.len() + raw.len() <= cap;
    if fits {
        kept.extend_from_slice(raw);
    } else {
        *cut = true;
    }
    if fits || !bulk {
        msgs.push(msg);
    }
}

impl RequestGroup {
    fn push_request(&mut self, msg: FrontendMessage, raw: Raw<'_>, now: Micros, cap: usize) {
        self.started_at.get_or_insert(now);
        let bulk = matches!(msg, FrontendMessage::CopyData { .. });
        keep(
            &mut self.requests,
            &mut self.request_raw,
            &mut self.request_size,
            &mut self.request_cut,
            (msg, raw.0, bulk, raw.1),
            cap,
        );
    }

    fn push_response(&mut self, msg: BackendMessage, raw: Raw<'_>, now: Micros, cap: usize) {
        self.first_byte_at.get_or_insert(now);
        let bulk = matches!(
            msg,
            BackendMessage::DataRow { .. }
                | BackendMessage::CopyData { .. }
                | BackendMessage::NoticeResponse { .. }
                | BackendMessage::NotificationResponse { .. }
        );
        keep(
            &mut self.responses,
            &mut self.response_raw,
            &mut self.response_size,
            &mut self.response_cut,
            (msg, raw.0, bulk, raw.1),
            cap,
        );
    }

    /// The group as the exchange stored of it: a call to `dependency` on
    /// connection `connection`, its raw bytes kept within `cap`. Its `seq`
    /// is the caller's to set.
    pub fn into_exchange(
        self,
        dependency: &str,
        connection: u64,
        cap: usize,
        error: Option<String>,
    ) -> Exchange {
        let answered = !self.responses.is_empty();
        Exchange {
            session_id: 0,
            seq: 0,
            direction: Direction::Outbound,
            protocol: Protocol::Postgres,
            dependency: Some(dependency.to_owned()),
            connection,
            started_at: self.started_at.unwrap_or_else(Micros::now),
            first_byte_at: self.first_byte_at,
            ended_at: self.ended_at,
            request: Payload::Wire {
                decoded: DecodedJson::text(&Messages {
                    messages: &self.requests,
                }),
                raw: Body::capped(self.request_raw, self.request_size, self.request_cut, cap),
            },
            response: answered.then(|| Payload::Wire {
                decoded: DecodedJson::text(&Messages {
                    messages: &self.responses,
                }),
                raw: Body::capped(
                    self.response_raw,
                    self.response_size,
                    self.response_cut,
                    cap,
                ),
            }),
            error,
        }
    }

    /// The SQL this group runs, for listings and error messages.
    pub fn sql(&self) -> Option<&str> {
        self.requests.iter().find_map(|m| match m {
            FrontendMessage::Query { sql } | FrontendMessage::Parse { sql, .. } => {
                Some(sql.as_str())
            }
            _ => None,
        })
    }
}

/// An exchange's decoded messages, as stored: `{"messages": [...]}`.
#[derive(serde::Serialize)]
struct Messages<'a, M> {
    messages: &'a [M],
}

/// A message's bytes as kept, and how many more went by unkept.
type Raw<'a> = (&'a [u8], u64);

/// Assembles one connection's exchanges; feed it every decoded message.
#[derive(Debug)]
pub struct Grouper {
    /// Bytes of messages a group keeps in each direction (see [`RequestGroup`]).
    cap: usize,
    /// Extended-protocol messages not yet closed by a Sync.
    open: Option<RequestGroup>,
    /// Complete request groups waiting for their ReadyForQuery, oldest first.
    waiting: VecDeque<RequestGroup>,
    /// The oldest waiting group got CopyInResponse: the client's COPY data,
    /// and any Sync (or Flush) it sends with it, belong to that group; the
    /// server ignores a Sync during COPY, so it brings no answer of its own.
    copy_in: bool,
    /// An extended-protocol COPY ended (CopyDone/CopyFail): the client's next
    /// Sync is the one that ends that group.
    copy_sync: bool,
}

impl Default for Grouper {
    fn default() -> Self {
        Self::with_cap(usize::MAX)
    }
}

impl Grouper {
    pub fn new() -> Self {
        Self::default()
    }

    /// A grouper whose groups keep at most `cap` bytes of messages in each
    /// direction.
    pub fn with_cap(cap: usize) -> Self {
        Grouper {
            cap,
            open: None,
            waiting: VecDeque::new(),
            copy_in: false,
            copy_sync: false,
        }
    }

    /// Takes a message from the client; returns groups that are now finished
    /// (only those that get no answer: CancelRequest).
    pub fn client(&mut self, msg: FrontendMessage, raw: &[u8], now: Micros) -> Vec<RequestGroup> {
        self.client_raw(msg, (raw, 0), now)
    }

    /// A client message too long to hold went by (`tag`, `length` bytes):
    /// it is grouped as its type says, by a stand-in with nothing of it
    /// kept, and its group is cut.
    pub fn client_oversized(&mut self, tag: u8, length: u64, now: Micros) -> Vec<RequestGroup> {
        use FrontendMessage as F;
        let none = || Bytes(Vec::new());
        let stand_in = match tag {
            b'Q' => F::Query { sql: String::new() },
            b'F' => F::FunctionCall { body: none() },
            b'd' => F::CopyData { data: none() },
            b'f' => F::CopyFail {
                message: String::new(),
            },
            b'p' => F::PasswordMessage { data: none() },
            b'B' => F::Bind {
                portal: String::new(),
                statement: String::new(),
                param_formats: Vec::new(),
                params: Vec::new(),
                result_formats: Vec::new(),
            },
            // Parse, and names too long to hold in Describe, Execute, Close.
            _ => F::Parse {
                statement: String::new(),
                sql: String::new(),
                param_types: Vec::new(),
            },
        };
        self.client_raw(stand_in, (&[], length), now)
    }

    fn client_raw(&mut self, msg: FrontendMessage, raw: Raw<'_>, now: Micros) -> Vec<RequestGroup> {
        use FrontendMessage as F;
        let cap = self.cap;
        match msg {
            F::SSLRequest | F::GSSENCRequest | F::Terminate => Vec::new(),
            F::CopyData { .. } | F::CopyDone | F::CopyFail { .. } | F::Sync | F::Flush
                if self.copy_in || (self.copy_sync && matches!(msg, F::Sync | F::Flush)) =>
            {
                if let Some(group) = self.waiting.front_mut() {
                    if matches!(msg, F::CopyDone | F::CopyFail { .. }) {
                        self.copy_in = false;
                        // A simple Query's COPY ends here; an extended one
                        // with the Sync that follows.
                        self.copy_sync = !matches!(group.requests.first(), Some(F::Query { .. }));
                    } else if self.copy_sync && matches!(msg, F::Sync) {
                        self.copy_sync = false;
                    }
                    group.push_request(msg, raw, now, cap);
                }
                Vec::new()
            }
            F::CancelRequest { .. } => {
                let mut group = RequestGroup::default();
                group.push_request(msg, raw, now, cap);
                group.ended_at = Some(now);
                vec![group]
            }
            F::StartupMessage { .. } | F::Query { .. } | F::FunctionCall { .. } => {
                self.close_open();
                let mut group = RequestGroup::default();
                group.push_request(msg, raw, now, cap);
                self.waiting.push_back(group);
                Vec::new()
            }
            // A Flush right after a Sync asks for nothing new: it stays with
            // the group it follows rather than waiting for an answer of its own.
            F::PasswordMessage { .. }
            | F::CopyData { .. }
            | F::CopyDone
            | F::CopyFail { .. }
            | F::Flush
                if self.open.is_none() && !self.waiting.is_empty() =>
            {
                if let Some(group) = self.waiting.back_mut() {
                    group.push_request(msg, raw, now, cap);
                }
                Vec::new()
            }
            F::Sync => {
                self.open
                    .get_or_insert_with(RequestGroup::default)
                    .push_request(msg, raw, now, cap);
                self.close_open();
                Vec::new()
            }
            _ => {
                self.open
                    .get_or_insert_with(RequestGroup::default)
                    .push_request(msg, raw, now, cap);
                Vec::new()
            }
        }
    }

    /// Takes a message from the server; returns the group it finished, if any.
    pub fn server(&mut self, msg: BackendMessage, raw: &[u8], now: Micros) -> Option<RequestGroup> {
        self.server_raw(msg, (raw, 0), now)
    }

    /// A server message too long to hold went by (`tag`, `length` bytes): a
    /// row, COPY data or notice as its type says, nothing of it kept, and
    /// the group it answers is cut.
    pub fn server_oversized(&mut self, tag: u8, length: u64, now: Micros) -> Option<RequestGroup> {
        let stand_in = match tag {
            b'd' => BackendMessage::CopyData {
                data: Bytes(Vec::new()),
            },
            b'N' => BackendMessage::NoticeResponse { fields: Vec::new() },
            _ => BackendMessage::DataRow { values: Vec::new() },
        };
        self.server_raw(stand_in, (&[], length), now)
    }

    fn server_raw(
        &mut self,
        msg: BackendMessage,
        raw: Raw<'_>,
        now: Micros,
    ) -> Option<RequestGroup> {
        let cap = self.cap;
        let done = matches!(msg, BackendMessage::ReadyForQuery { .. });
        if matches!(
            msg,
            BackendMessage::CopyInResponse { .. } | BackendMessage::CopyBothResponse { .. }
        ) && !self.waiting.is_empty()
        {
            self.copy_in = true;
        }
        // Answers go to the oldest waiting group; after a Flush the server answers
        // messages that are still open.
        let target = match (self.waiting.front_mut(), self.open.as_mut()) {
            (Some(group), _) => group,
            (None, Some(group)) => group,
            // Nothing asked: a notification, notice or parameter change while
            // the connection is idle. It is kept as an exchange of its own,
            // and must not wait in line for the next group's answer.
            (None, None) => {
                let mut alone = RequestGroup::default();
                alone.push_response(msg, raw, now, cap);
                alone.started_at = Some(now);
                alone.ended_at = Some(now);
                return Some(alone);
            }
        };
        target.push_response(msg, raw, now, cap);
        if done {
            let mut group = self.waiting.pop_front()?;
            self.copy_in = false;
            self.copy_sync = false;
            group.ended_at = Some(now);
            group.started_at.get_or_insert(now);
            return Some(group);
        }
        None
    }

    /// Whether every group sent so far has its answer.
    pub fn idle(&self) -> bool {
        self.waiting.is_empty() && self.open.as_ref().is_none_or(|g| g.requests.is_empty())
    }

    /// At the end of the connection: groups that never got their answer, and
    /// messages sent after the last one, as they are.
    pub fn finish(mut self, now: Micros) -> Vec<RequestGroup> {
        self.close_open();
        self.waiting
            .into_iter()
            .filter(|g| !g.requests.is_empty() || !g.responses.is_empty())
            .map(|mut g| {
                g.started_at.get_or_insert(now);
                g
            })
            .collect()
    }

    fn close_open(&mut self) {
        if let Some(group) = self.open.take() {
            // Flushes alone ask the server for nothing: queued, they would
            // take the answer meant for the next group.
            if group
                .requests
                .iter()
                .all(|m| matches!(m, FrontendMessage::Flush))
                && group.responses.is_empty()
            {
                return;
            }
            self.waiting.push_back(group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Notice, TxStatus};
    use super::*;

    fn q(sql: &str) -> FrontendMessage {
        FrontendMessage::Query { sql: sql.into() }
    }

    fn ready() -> BackendMessage {
        BackendMessage::ReadyForQuery {
            status: TxStatus::Idle,
        }
    }

    fn tag(t: &str) -> BackendMessage {
        BackendMessage::CommandComplete { tag: t.into() }
    }

    #[test]
    fn a_group_keeps_its_framing_and_counts_the_bulk_past_its_cap() {
        let mut g = Grouper::with_cap(100);
        let t = Micros(1);
        g.client(q("copy t to stdout"), b"Q-copy", t);
        let mut raw_total = 0u64;
        let mut last = None;
        let mut answer = vec![BackendMessage::CopyOutResponse {
            format: 0,
            column_formats: vec![0],
        }];
        answer.extend((0..50).map(|i| BackendMessage::CopyData {
            data: format!("row {i:03}\n").into_bytes().into(),
        }));
        answer.extend([BackendMessage::CopyDone, tag("COPY 50"), ready()]);
        for m in answer {
            let mut raw = Vec::new();
            m.encode(&mut raw);
            raw_total += raw.len() as u64;
            last = g.server(m, &raw, t);
        }
        let group = last.expect("ReadyForQuery ends the group");
        assert!(group.response_cut);
        assert_eq!(group.response_size, raw_total);
        assert!(group.response_raw.len() <= 100);
        let rows = group
            .responses
            .iter()
            .filter(|m| matches!(m, BackendMessage::CopyData { .. }))
            .count();
        assert!(rows > 0 && rows < 50, "{rows} rows kept");
        assert!(matches!(
            group.responses[group.responses.len() - 3..],
            [
                BackendMessage::CopyDone,
                BackendMessage::CommandComplete { .. },
                BackendMessage::ReadyForQuery { .. }
            ]
        ));
        assert!(!group.request_cut);
    }

    #[test]
    fn pipelined_groups_get_their_own_answers_in_order() {
        let mut g = Grouper::new();
        let t = Micros(1);
        for m in [
            FrontendMessage::Parse {
                statement: "s0".into(),
                sql: "select 1".into(),
                param_types: vec![],
            },
            FrontendMessage::Sync,
            q("select 2"),
        ] {
            assert!(g.client(m, b"", t).is_empty());
        }
        assert!(g.server(BackendMessage::ParseComplete, b"1", t).is_none());
        let first = g.server(ready(), b"Z", Micros(2)).unwrap();
        assert_eq!(first.sql(), Some("select 1"));
        assert_eq!(first.responses.len(), 2);
        assert_eq!(first.ended_at, Some(Micros(2)));
        assert!(g.server(tag("SELECT 1"), b"C", t).is_none());
        let second = g.server(ready(), b"Z", Micros(3)).unwrap();
        assert_eq!(second.sql(), Some("select 2"));
        assert_eq!(second.responses, vec![tag("SELECT 1"), ready()]);
        assert_eq!(second.request_raw, b"");
        assert!(g.finish(Micros(4)).is_empty());
    }

    #[test]
    fn copy_data_and_passwords_join_the_group_that_asked() {
        let mut g = Grouper::new();
        let t = Micros(1);
        g.client(
            FrontendMessage::StartupMessage {
                protocol: super::super::PROTOCOL_V3,
                params: vec![("user".into(), "me".into())],
            },
            b"s",
            t,
        );
        g.server(
            BackendMessage::Authentication {
                code: 5,
                data: vec![1, 2, 3, 4].into(),
            },
            b"R",
            t,
        );
        g.client(
            FrontendMessage::PasswordMessage {
                data: b"md5abc".to_vec().into(),
            },
            b"p",
            t,
        );
        let startup = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(startup.requests.len(), 2);
        assert_eq!(startup.request_raw, b"sp");

        g.client(q("copy t from stdin"), b"Q", t);
        g.server(
            BackendMessage::CopyInResponse {
                format: 0,
                column_formats: vec![0],
            },
            b"G",
            t,
        );
        g.client(
            FrontendMessage::CopyData {
                data: b"1\n".to_vec().into(),
            },
            b"d",
            t,
        );
        g.client(FrontendMessage::CopyDone, b"c", t);
        g.server(tag("COPY 1"), b"C", t);
        let copy = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(copy.requests.len(), 3);
        assert_eq!(copy.responses.len(), 3);
    }

    #[test]
    fn a_flush_after_a_sync_does_not_take_the_next_groups_answer() {
        let mut g = Grouper::new();
        let t = Micros(1);
        g.client(FrontendMessage::Sync, b"S", t);
        g.client(FrontendMessage::Flush, b"H", t);
        g.client(q("commit"), b"Q", t);
        let first = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(
            first.requests,
            vec![FrontendMessage::Sync, FrontendMessage::Flush]
        );
        g.server(tag("COMMIT"), b"C", t);
        let commit = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(commit.sql(), Some("commit"));
        assert_eq!(commit.responses, vec![tag("COMMIT"), ready()]);
    }

    #[test]
    fn a_flush_after_an_answered_sync_does_not_take_the_next_answer_either() {
        let mut g = Grouper::new();
        let t = Micros(1);
        g.client(FrontendMessage::Sync, b"S", t);
        assert!(g.server(ready(), b"Z", t).is_some());
        // The server answered before the Flush arrived: nothing waits now.
        g.client(FrontendMessage::Flush, b"H", t);
        g.client(q("commit"), b"Q", t);
        g.server(tag("COMMIT"), b"C", t);
        let commit = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(commit.requests, vec![q("commit")]);
        assert_eq!(commit.responses, vec![tag("COMMIT"), ready()]);
    }

    #[test]
    fn a_notification_while_idle_is_kept_alone_and_shifts_nothing() {
        let mut g = Grouper::new();
        let t = Micros(1);
        let note = BackendMessage::NotificationResponse {
            process_id: 7,
            channel: "books".into(),
            payload: "42".into(),
        };
        let alone = g.server(note.clone(), b"A", t).unwrap();
        assert!(alone.requests.is_empty());
        assert_eq!(alone.responses, vec![note]);
        g.client(q("select 'a'"), b"Q", t);
        g.server(tag("SELECT 1"), b"C", t);
        let a = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(a.sql(), Some("select 'a'"));
        assert_eq!(a.responses, vec![tag("SELECT 1"), ready()]);
        assert!(g.idle());
    }

    #[test]
    fn an_extended_copy_in_keeps_its_data_and_second_sync_in_one_group() {
        let mut g = Grouper::new();
        let t = Micros(1);
        for m in [
            FrontendMessage::Bind {
                portal: String::new(),
                statement: "s0".into(),
                param_formats: vec![],
                params: vec![],
                result_formats: vec![],
            },
            FrontendMessage::Execute {
                portal: String::new(),
                max_rows: 0,
            },
            FrontendMessage::Sync,
        ] {
            g.client(m, b"", t);
        }
        g.server(BackendMessage::BindComplete, b"2", t);
        g.server(
            BackendMessage::CopyInResponse {
                format: 0,
                column_formats: vec![],
            },
            b"G",
            t,
        );
        g.client(
            FrontendMessage::CopyData {
                data: b"1\n".to_vec().into(),
            },
            b"d",
            t,
        );
        g.client(FrontendMessage::CopyDone, b"c", t);
        g.client(FrontendMessage::Sync, b"S", t);
        assert!(!g.idle());
        // The driver closes the statement before the COPY's answer is in.
        g.client(
            FrontendMessage::Close {
                kind: super::super::Target::Statement,
                name: "s0".into(),
            },
            b"C",
            t,
        );
        g.client(FrontendMessage::Sync, b"S", t);
        g.server(tag("COPY 1"), b"C", t);
        let copy = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(copy.requests.len(), 6);
        g.server(BackendMessage::CloseComplete, b"3", t);
        let close = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(close.requests.len(), 2);
        assert_eq!(close.responses.len(), 2);
        assert!(g.idle());
        // The next query gets its own answer.
        g.client(q("select 'first'"), b"Q", t);
        g.server(tag("SELECT 1"), b"C", t);
        let next = g.server(ready(), b"Z", t).unwrap();
        assert_eq!(next.sql(), Some("select 'first'"));
    }

    #[test]
    fn flush_answers_go_to_the_open_group_and_unanswered_groups_survive_the_end() {
        let mut g = Grouper::new();
        let t = Micros(1);
        g.client(
            FrontendMessage::Describe {
                kind: super::super::Target::Statement,
                name: "s1".into(),
            },
            b"D",
            t,
        );
        g.client(FrontendMessage::Flush, b"H", t);
        g.server(BackendMessage::NoData, b"n", t);
        g.server(
            BackendMessage::NoticeResponse {
                fields: vec![Notice {
                    code: 'M',
                    value: "hi".into(),
                }],
            },
            b"N",
            t,
        );
        let left = g.finish(Micros(9));
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].requests.len(), 2);
        assert_eq!(left[0].responses.len(), 2);
        assert_eq!(left[0].ended_at, None);
    }
}
