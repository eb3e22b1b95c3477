//! Turns the payloads of one MySQL connection into exchanges: the
//! connection phase (greeting, the client's answer, the authentication
//! that follows) as one, then each command with its whole answer.
//!
//! An answer's end is known only from the command and what came before:
//! - `COM_QUERY` and `COM_STMT_EXECUTE`: an OK, an ERR, or a result set
//!   (column count, column definitions, an EOF unless `DEPRECATE_EOF`,
//!   rows, an EOF or OK that ends them), repeated while the status says
//!   more results follow (stored procedures, several statements in one
//!   query). `COM_QUERY` may instead ask for a local file (`0xFB`): the
//!   client sends it and an empty packet, then the server answers.
//! - `COM_STMT_PREPARE`: OK with the statement id and the counts of
//!   parameters and columns, each followed by that many definitions.
//! - `COM_STMT_FETCH`: rows of an open cursor; `COM_FIELD_LIST`: column
//!   definitions; both end in an EOF.
//! - `COM_CHANGE_USER` authenticates again, as the connection phase does.
//! - `COM_STMT_CLOSE`, `COM_STMT_SEND_LONG_DATA` and `COM_QUIT` get no answer.
//! - Everything else: one payload.
//!
//! Sequence ids are checked: a command starts at 0 and each payload of its
//! exchange, either side's, counts on. A client may send commands before
//! the last is answered (MariaDB's connectors pipeline a prepare and its
//! execute); answers come in order.
//!
//! Each connection's statements are kept (their SQL, parameter count, the
//! types last bound, long data sent), so an execute reads as the SQL it
//! runs and its parameters' values.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::value::{
    binary_cells, binary_from, execute_params, text, text_cells, type_name, Column, ParamType,
};
use super::{
    caps, mariadb_caps, ClientHello, Command, ErrPacket, Generic, Greeting, OkPacket, Payload,
};
use super::{MAX_PACKET, MORE_RESULTS};
use crate::time::Micros;
use crate::wire::{Bytes, DecodeError, Side};

/// `SERVER_STATUS_CURSOR_EXISTS`: an execute opened a cursor; its rows come
/// by `COM_STMT_FETCH`.
const CURSOR_EXISTS: u16 = 0x0040;
/// The MariaDB capabilities a conversation reads; the recorder withdraws
/// the others from the greeting.
pub const READ_MARIADB: u32 = mariadb_caps::EXTENDED_TYPE_INFO;

/// `execute` with this statement id means the one prepared last (MariaDB).
const LAST_PREPARED: u32 = u32::MAX;

/// One stored exchange: a command (or the connection phase) with its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The command read: `{"command": "COM_QUERY", "sql": ...}`.
    pub request: Map<String, Value>,
    pub request_raw: Vec<u8>,
    pub request_size: u64,
    pub request_cut: bool,
    /// The answer read: `{"results": [...]}`, `{"error": ...}`, ...; empty
    /// for a command that gets none.
    pub answer: Answer,
    pub answer_raw: Vec<u8>,
    pub answer_size: u64,
    pub answer_cut: bool,
    /// Whether the server answered in full.
    pub answered: bool,
    /// To be stored as raw bytes only, its request not described (see
    /// [`Conversation::storing_plain_raw`]): how its connection's answers
    /// are written, which a read decodes it again with.
    pub raw: Option<super::Encoding>,
    pub started_at: Micros,
    pub first_byte_at: Option<Micros>,
    pub ended_at: Option<Micros>,
}

/// An answer as read, its parts in the order they came: written as the
/// JSON object stored (`{"results": [...]}`, `{"error": ...}`, ...).
///
/// Its result sets stay typed until they are written, once, on the
/// recorder's thread: built as `serde_json::Value` objects (a map per
/// column definition) only to be written out and dropped, they were a
/// large share of what recording a MySQL query cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    parts: Vec<(&'static str, Part)>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    One(Value),
    List(Vec<Item>),
}

/// One entry of an answer's `results` or `auth` list.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Value(Value),
    Set(Box<ResultSet>),
}

/// A result set's row as kept: its payload, checked as it came, read into
/// values (in its set's columns) only when written, which an exchange
/// stored as raw bytes never is.
#[derive(Debug, Clone, PartialEq)]
enum Row {
    Text(Box<[u8]>),
    Binary(Box<[u8]>),
}

/// A result set's rows as written: each an array of its values.
struct RowsJson<'a> {
    rows: &'a [Row],
    columns: &'a [Column],
}

impl serde::Serialize for RowsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.rows.len()))?;
        for row in self.rows {
            seq.serialize_element(&RowJson {
                row,
                columns: self.columns,
            })?;
        }
        seq.end()
    }
}

struct RowJson<'a> {
    row: &'a Row,
    columns: &'a [Column],
}

impl serde::Serialize for RowJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.columns.len()))?;
        let mut written = Ok(());
        let mut write = |v: Value| {
            if written.is_ok() {
                written = seq.serialize_element(&v);
            }
        };
        match self.row {
            Row::Text(payload) => text_cells(payload, self.columns.len(), |cell| {
                write(cell.map_or(Value::Null, text))
            }),
            Row::Binary(payload) => binary_cells(payload, self.columns, |c, cell| {
                write(cell.map_or(Value::Null, |b| binary_from(c.column_type, c.unsigned(), b)))
            }),
        }
        .map_err(S::Error::custom)?;
        written?;
        seq.end()
    }
}

/// One result set as stored.
#[derive(Debug, Clone, PartialEq)]
struct ResultSet {
    columns: Arc<[Column]>,
    /// `columns` as written in JSON (see [`Shapes`]).
    columns_json: Option<SharedJson>,
    rows: Vec<Row>,
    /// The rows there were, when only some are kept.
    rows_total: Option<u64>,
    cursor: bool,
    /// The status and warnings of the EOF or OK that ended it; `None` for
    /// one the connection ended inside.
    end: Option<(u16, u16)>,
    /// The status and warnings of the EOF after the column definitions.
    columns_eof: Option<(u16, u16)>,
}

impl Answer {
    /// Sets `key` to `v`, where it stood if it was set before.
    fn insert(&mut self, key: &'static str, v: Value) {
        match self.parts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, part)) => *part = Part::One(v),
            None => self.parts.push((key, Part::One(v))),
        }
    }

    /// Appends `item` to the list at `key`.
    fn push(&mut self, key: &'static str, item: Item) {
        match self.parts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, Part::List(items))) => items.push(item),
            Some((_, part)) => *part = Part::List(vec![item]),
            None => self.parts.push((key, Part::List(vec![item]))),
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.parts.iter().any(|(k, _)| *k == key)
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The answer as the JSON object stored.
    pub fn to_map(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => unreachable!("an answer writes as an object"),
        }
    }
}

#[cfg(test)]
impl Answer {
    /// The result sets in this answer, each with whether it took its
    /// columns' JSON from the connection's [`Shapes`].
    pub(super) fn shared_columns(&self) -> Vec<bool> {
        self.sets().map(|set| set.columns_json.is_some()).collect()
    }

    /// This answer with every result set writing its columns itself.
    pub(super) fn unshared(&self) -> Answer {
        let mut a = self.clone();
        a.sets_mut().for_each(|set| set.columns_json = None);
        a
    }

    /// The shared JSON of the first result set's columns.
    pub(super) fn columns_text(&self) -> std::sync::Arc<serde_json::value::RawValue> {
        let set = self.sets().next().expect("a result set");
        set.columns_json.clone().expect("shared columns").0
    }

    /// The first result set's columns, as read.
    pub(super) fn columns_read(&self) -> Arc<[Column]> {
        self.sets().next().expect("a result set").columns.clone()
    }

    fn sets(&self) -> impl Iterator<Item = &ResultSet> {
        self.parts
            .iter()
            .flat_map(|(_, part)| match part {
                Part::List(items) => items.as_slice(),
                Part::One(_) => &[],
            })
            .filter_map(|item| match item {
                Item::Set(set) => Some(&**set),
                Item::Value(_) => None,
            })
    }

    fn sets_mut(&mut self) -> impl Iterator<Item = &mut ResultSet> {
        self.parts
            .iter_mut()
            .flat_map(|(_, part)| match part {
                Part::List(items) => items.as_mut_slice(),
                Part::One(_) => &mut [],
            })
            .filter_map(|item| match item {
                Item::Set(set) => Some(&mut **set),
                Item::Value(_) => None,
            })
    }
}

impl serde::Serialize for Answer {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.parts.len()))?;
        for (k, part) in &self.parts {
            match part {
                Part::One(v) => m.serialize_entry(k, v)?,
                Part::List(items) => m.serialize_entry(k, items)?,
            }
        }
        m.end()
    }
}

impl serde::Serialize for Item {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Item::Value(v) => v.serialize(s),
            Item::Set(set) => set.serialize(s),
        }
    }
}

/// An EOF's status and warnings, as stored.
#[derive(serde::Serialize)]
struct EofJson {
    status: u16,
    warnings: u16,
}

impl serde::Serialize for ResultSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match &self.columns_json {
            Some(json) => m.serialize_entry("columns", &*json.0)?,
            None => m.serialize_entry("columns", &*self.columns)?,
        }
        m.serialize_entry(
            "rows",
            &RowsJson {
                rows: &self.rows,
                columns: &self.columns,
            },
        )?;
        if let Some(total) = self.rows_total {
            m.serialize_entry("rows_total", &total)?;
            m.serialize_entry("rows_cut", &true)?;
        }
        if self.cursor {
            m.serialize_entry("cursor", &true)?;
        }
        let eof = |(status, warnings)| EofJson { status, warnings };
        match self.end {
            Some((status, warnings)) => {
                m.serialize_entry("status", &status)?;
                m.serialize_entry("warnings", &warnings)?;
                // Written only where it says something the end does not.
                if let Some(e) = self.columns_eof.filter(|&e| e != (status, warnings)) {
                    m.serialize_entry("columns_eof", &eof(e))?;
                }
            }
            None => {
                m.serialize_entry("unfinished", &true)?;
                if let Some(e) = self.columns_eof {
                    m.serialize_entry("columns_eof", &eof(e))?;
                }
            }
        }
        m.end()
    }
}

/// JSON text written once and shared by the answers that hold it.
#[derive(Debug, Clone)]
struct SharedJson(Arc<serde_json::value::RawValue>);

impl PartialEq for SharedJson {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// Column definitions a connection's answers had lately: their payloads,
/// read, and written as JSON.
///
/// The same query answers with the same definitions each time it runs.
/// Reading them (half a dozen names a column, each a string of its own) and
/// writing them (a dozen keys a column) was the largest part of what a
/// short answer cost; definitions whose payloads match ones seen lately are
/// taken as they were read and written then. Most recent first; only small
/// ones are kept, so a connection holds some tens of KiB at most.
#[derive(Debug, Default)]
struct Shapes(VecDeque<Shape>);

#[derive(Debug)]
struct Shape {
    /// The definitions' payloads, each after its length (4 bytes, LE).
    payloads: Vec<u8>,
    columns: Arc<[Column]>,
    json: SharedJson,
}

impl Shapes {
    const KEPT: usize = 4;
    /// Largest JSON kept, in bytes: about twenty columns.
    const MAX_JSON: usize = 4096;

    /// Whether a shape kept has definition payload `def` right after
    /// `before`, the payloads read so far (as in [`Shape`]): then `def` was
    /// checked when that shape was read. Matching the whole of `before`
    /// keeps a payload that only looks like a definition from inside a
    /// longer one (a name's bytes) from passing unchecked.
    fn had(&self, before: &[u8], def: &[u8]) -> bool {
        let Ok(len) = u32::try_from(def.len()) else {
            return false;
        };
        let at = before.len();
        self.0.iter().any(|s| {
            s.payloads.get(at..at + 4) == Some(&len.to_le_bytes())
                && s.payloads.get(at + 4..at + 4 + def.len()) == Some(def)
                && s.payloads.starts_with(before)
        })
    }

    /// The columns whose definitions' payloads are `payloads` (as in
    /// [`Shape`]), and their JSON: as read before if seen lately, else read
    /// now with `extended_types`.
    fn resolve(
        &mut self,
        payloads: &[u8],
        extended_types: bool,
    ) -> (Arc<[Column]>, Option<SharedJson>) {
        if let Some(i) = self.0.iter().position(|s| s.payloads == payloads) {
            let seen = self.0.remove(i).expect("a position found");
            let found = (seen.columns.clone(), Some(seen.json.clone()));
            self.0.push_front(seen);
            return found;
        }
        let mut columns = Vec::new();
        let mut rest = payloads;
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let (def, tail) = tail.split_at(u32::from_le_bytes(*len) as usize);
            // Each was checked as it came, by the same reading, or matched
            // one checked before (see `had`).
            columns.extend(Column::parse(def, extended_types).ok());
            rest = tail;
        }
        let columns: Arc<[Column]> = columns.into();
        // Column definitions always write as JSON.
        let Ok(json) = serde_json::value::to_raw_value(&*columns) else {
            return (columns, None);
        };
        let json = SharedJson(json.into());
        // A wide one is written for this answer alone.
        if json.0.get().len() <= Self::MAX_JSON {
            self.0.truncate(Self::KEPT - 1);
            self.0.push_front(Shape {
                payloads: payloads.to_vec(),
                columns: columns.clone(),
                json: json.clone(),
            });
        }
        (columns, Some(json))
    }
}

/// What a prepared statement is on one connection.
#[derive(Debug, Clone, Default)]
struct Statement {
    sql: Vec<u8>,
    params: usize,
    /// The types the last execute bound.
    bound: Vec<ParamType>,
    /// Values sent apart (`COM_STMT_SEND_LONG_DATA`) since the last execute,
    /// by parameter, each within the cap.
    long_data: BTreeMap<u16, Vec<u8>>,
    /// The columns of its last execute's result, which a fetch's rows are in.
    columns: Arc<[Column]>,
    /// Long data sent since the last execute went past the cap.
    long_data_cut: bool,
}

/// What a command's answer still expects.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Nothing: the command gets no answer.
    Nothing,
    /// Authentication, until an OK or ERR; client payloads belong to it.
    Auth,
    /// A result set, an OK or an ERR, in the text or binary protocol.
    Results {
        binary: bool,
        stage: Stage,
    },
    Prepare(PrepStage),
    /// Rows of statement `stmt`'s cursor, until an EOF or ERR.
    Fetch,
    /// Column definitions until an EOF or ERR.
    FieldList,
    /// One payload of any kind.
    One,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// An OK, an ERR, a local-file request or a column count.
    Start,
    Columns(u64),
    ColumnsEof,
    Rows,
    /// The client is sending a local file; an empty payload ends it.
    Infile,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PrepStage {
    Start,
    Params(u64),
    ParamsEof,
    Columns(u64),
    ColumnsEof,
}

/// A command waiting for (the rest of) its answer.
#[derive(Debug)]
struct Pending {
    turn: Turn,
    command: Option<Command>,
    expect: Expect,
    next_seq: u8,
    /// The result set being read: its columns (once all their definitions
    /// are read), their JSON, and its rows.
    columns: Arc<[Column]>,
    columns_json: Option<SharedJson>,
    rows: Vec<Row>,
    /// The result set's column definitions read and not yet resolved into
    /// `columns` (see [`Shape`] for the layout).
    defs: Vec<u8>,
    rows_total: u64,
    rows_cut: bool,
    /// Decoded bytes held for this answer, against the cap.
    held: usize,
    /// Results and authentication steps kept.
    items: usize,
    /// The columns of the last result set read (an execute's cursor reads
    /// its rows in them).
    last_columns: Arc<[Column]>,
    /// Definitions of a prepare's parameters and columns.
    param_defs: Vec<Column>,
    prepare_columns: Vec<Column>,
    prepared: Option<(u32, u64, u64, u16)>,
    /// The status and warnings of the EOF after the column definitions.
    columns_eof: Option<(u16, u16)>,
    /// The status of the EOFs after a prepare's definitions.
    prepare_eof: Option<u16>,
    /// An execute opened a cursor: its rows come by fetch.
    cursor: bool,
    /// The local file's content as sent, within the cap, and its size.
    infile: Vec<u8>,
    infile_size: u64,
}

impl Pending {
    fn new(command: Option<Command>, expect: Expect, seq: u8, now: Micros) -> Self {
        Pending {
            turn: Turn {
                request: Map::new(),
                request_raw: Vec::new(),
                request_size: 0,
                request_cut: false,
                answer: Answer::default(),
                answer_raw: Vec::new(),
                answer_size: 0,
                answer_cut: false,
                answered: expect == Expect::Nothing,
                raw: None,
                started_at: now,
                first_byte_at: None,
                ended_at: None,
            },
            command,
            expect,
            next_seq: seq,
            columns: Arc::default(),
            columns_json: None,
            rows: Vec::new(),
            defs: Vec::new(),
            rows_total: 0,
            rows_cut: false,
            held: 0,
            items: 0,
            last_columns: Arc::default(),
            param_defs: Vec::new(),
            prepare_columns: Vec::new(),
            prepared: None,
            columns_eof: None,
            prepare_eof: None,
            cursor: false,
            infile: Vec::new(),
            infile_size: 0,
        }
    }

    fn done(&self) -> bool {
        self.turn.answered
    }

    /// Makes the column definitions read into the result set's columns.
    fn resolve_columns(&mut self, shapes: &mut Shapes, extended_types: bool) {
        if !self.defs.is_empty() {
            (self.columns, self.columns_json) = shapes.resolve(&self.defs, extended_types);
            self.defs.clear();
        }
    }

    /// Checks that `p` carries the sequence id due next in this exchange,
    /// and counts on past its packets.
    fn take_seq(&mut self, p: &Payload) -> Result<(), String> {
        if p.seq != self.next_seq {
            return Err(format!(
                "sequence id {} where {} was due",
                p.seq, self.next_seq
            ));
        }
        self.next_seq = p.seq.wrapping_add(p.packets as u8);
        Ok(())
    }

    /// Whether the next client payload belongs to this exchange.
    fn wants_client(&self) -> bool {
        !self.done()
            && matches!(
                self.expect,
                Expect::Auth
                    | Expect::Results {
                        stage: Stage::Infile,
                        ..
                    }
            )
    }

    fn name(&self) -> &'static str {
        match &self.command {
            Some(c) => c.name(),
            None => "the connection phase",
        }
    }
}

/// Room taken for an answer's raw bytes at its first payload: a short
/// answer's (an OK, a row or two) fit, instead of growing five times.
const FIRST_ANSWER: usize = 512;

fn add_raw(raw: &mut Vec<u8>, size: &mut u64, cut: &mut bool, p: &Payload, cap: usize) {
    *size += p.size;
    let room = cap.saturating_sub(raw.len());
    if !p.write_raw(raw, room) {
        *cut = true;
    }
}

/// [`add_raw`] for an answer's payload.
fn add_answer_raw(t: &mut Turn, p: &Payload, cap: usize) {
    if t.answer_raw.capacity() == 0 {
        t.answer_raw
            .reserve(FIRST_ANSWER.max(p.bytes.len() + 4).min(cap));
    }
    add_raw(
        &mut t.answer_raw,
        &mut t.answer_size,
        &mut t.answer_cut,
        p,
        cap,
    );
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Greeting,
    Hello,
    Commands,
}

/// Pairs one connection's commands with their answers.
#[derive(Debug)]
pub struct Conversation {
    cap: usize,
    /// Authentication data is not kept (`--redact`).
    redact: bool,
    phase: Phase,
    server_caps: u32,
    server_mariadb: u32,
    /// The capabilities both sides took up.
    capabilities: u32,
    /// MariaDB's capabilities both sides took up.
    mariadb: u32,
    waiting: VecDeque<Pending>,
    statements: HashMap<u32, Statement>,
    last_prepared: Option<u32>,
    shapes: Shapes,
    /// Plain exchanges are still closed as stored raw: see
    /// [`Conversation::storing_plain_raw`].
    raw_run: bool,
}

impl Conversation {
    /// A conversation keeping at most `cap` bytes of each side of an
    /// exchange, raw and decoded; with `redact`, no authentication data.
    pub fn new(cap: usize, redact: bool) -> Self {
        Conversation {
            cap,
            redact,
            phase: Phase::Greeting,
            server_caps: 0,
            server_mariadb: 0,
            capabilities: 0,
            mariadb: 0,
            waiting: VecDeque::new(),
            statements: HashMap::new(),
            last_prepared: None,
            shapes: Shapes::default(),
            raw_run: false,
        }
    }

    /// This conversation, closing each plain exchange after the connection
    /// phase as one to be stored as raw bytes only ([`Turn::raw`]), until
    /// one is not plain. A plain exchange can be decoded again from its raw
    /// bytes alone, given how its connection stood before it: a command
    /// (not the connection phase, not a change of user), answered in full,
    /// with no local file and neither side cut. Each side's payloads then
    /// follow one another: the client's command, then the server's answer.
    /// What such an exchange does to the connection (a statement prepared
    /// or closed, types bound) is kept, but its request is not described,
    /// as a read describes it again from its raw bytes. For a recorder; a
    /// read needs every request described.
    pub fn storing_plain_raw(mut self) -> Self {
        self.raw_run = true;
        self
    }

    /// Closes every exchange from now on described, as stored decoded: the
    /// recorder could not store one that was to be stored raw.
    pub fn end_raw_run(&mut self) {
        self.raw_run = false;
    }

    /// A conversation past its connection phase, as it stood when that
    /// ended with `encoding`: for decoding exchanges again from their raw
    /// bytes (see [`Conversation::storing_plain_raw`]).
    pub fn resume(cap: usize, encoding: super::Encoding) -> Self {
        let mut c = Conversation::new(cap, false);
        c.phase = Phase::Commands;
        c.capabilities = encoding.capabilities;
        if encoding.extended_types {
            c.mariadb = mariadb_caps::EXTENDED_TYPE_INFO;
        }
        c
    }

    /// Drops the exchanges still waiting, keeping what the connection
    /// knows (its statements): after bytes that did not decode, so that
    /// the next command is not read as the rest of one that broke off.
    pub fn abandon(&mut self) {
        self.waiting.clear();
    }

    /// Whether no exchange waits for more.
    pub fn idle(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether the server has greeted and the client not yet answered.
    pub fn awaiting_hello(&self) -> bool {
        self.phase == Phase::Hello
    }

    /// How this connection's answers are written (after the client's answer).
    pub fn encoding(&self) -> super::Encoding {
        super::Encoding {
            capabilities: self.capabilities,
            extended_types: self.mariadb & mariadb_caps::EXTENDED_TYPE_INFO != 0,
        }
    }

    /// The capabilities both sides took up (after the client's answer).
    pub fn capabilities(&self) -> u32 {
        self.capabilities
    }

    /// The exchanges still waiting when the connection ended, as far as
    /// they got.
    pub fn finish(&mut self) -> Vec<Turn> {
        let mut out = Vec::new();
        while let Some(p) = self.waiting.pop_front() {
            out.push(self.close(p));
        }
        out
    }

    /// Takes a payload of the client's; the exchanges it completes.
    pub fn client(&mut self, p: &Payload, now: Micros) -> Result<Vec<Turn>, DecodeError> {
        let error = |reason: String| DecodeError {
            side: Side::Frontend,
            message: "command".into(),
            offset: p.offset,
            reason,
        };
        match self.phase {
            Phase::Greeting => {
                return Err(error(
                    "the client sent a packet before the server's greeting".into(),
                ))
            }
            Phase::Hello => return self.hello(p).map_err(error).map(|()| Vec::new()),
            Phase::Commands => {}
        }
        if let Some(last) = self.waiting.back_mut().filter(|w| w.wants_client()) {
            let name = last.name();
            let err = |reason: String| DecodeError {
                side: Side::Frontend,
                message: name.into(),
                offset: p.offset,
                reason,
            };
            last.take_seq(p).map_err(err)?;
            let t = &mut last.turn;
            add_raw(
                &mut t.request_raw,
                &mut t.request_size,
                &mut t.request_cut,
                p,
                self.cap,
            );
            if last.expect == Expect::Auth {
                if !self.redact {
                    t.answer.push(
                        "auth",
                        Item::Value(json!({"client": Bytes(p.bytes.clone())})),
                    );
                }
            } else if p.len == 0 {
                // The local file ends; the server answers next.
                last.expect = Expect::Results {
                    binary: false,
                    stage: Stage::Start,
                };
            } else {
                last.infile_size += p.len;
                let room = self.cap.saturating_sub(last.infile.len());
                last.infile
                    .extend_from_slice(&p.bytes[..p.bytes.len().min(room)]);
            }
            return Ok(Vec::new());
        }
        if p.seq != 0 {
            return Err(error(format!(
                "a command with sequence id {}, where a command starts at 0",
                p.seq
            )));
        }
        let command = Command::parse(&p.bytes).map_err(error)?;
        let expect = expect_for(&command);
        let mut pending = Pending::new(Some(command), expect, p.seq.wrapping_add(1), now);
        if p.cut {
            // Only its start was kept (a query or a value over the cap).
            pending.turn.request.insert("cut".into(), Value::from(true));
        }
        let t = &mut pending.turn;
        add_raw(
            &mut t.request_raw,
            &mut t.request_size,
            &mut t.request_cut,
            p,
            self.cap,
        );
        self.waiting.push_back(pending);
        Ok(self.emit())
    }

    /// The client's answer to the greeting.
    fn hello(&mut self, p: &Payload) -> Result<(), String> {
        let Some(pending) = self.waiting.back_mut() else {
            return Err("an answer to a greeting the connection no longer waits on".into());
        };
        if p.seq != pending.next_seq {
            return Err(format!(
                "the answer to the greeting has sequence id {}, where {} was due",
                p.seq, pending.next_seq
            ));
        }
        if ClientHello::is_ssl_request(&p.bytes) {
            return Err(
                "the client asks for TLS, which the recorder withdrew from the \
                 greeting; let it connect without (ssl-mode=DISABLED, ssl=false)"
                    .into(),
            );
        }
        let hello = ClientHello::parse(&p.bytes)?;
        if hello.capabilities & caps::COMPRESS != 0 {
            return Err(
                "the client asks for compression, which the recorder withdrew \
                 from the greeting; let it connect without"
                    .into(),
            );
        }
        self.capabilities = hello.capabilities & self.server_caps;
        self.mariadb = hello.mariadb_caps() & self.server_mariadb;
        let unread = self.mariadb & !READ_MARIADB;
        if unread != 0 {
            return Err(format!(
                "the client takes up MariaDB capabilities reel does not read (0x{unread:x}: \
                 progress reports, cached metadata, bulk operations); the recorder withdraws them"
            ));
        }
        let r = &mut pending.turn.request;
        r.insert("command".into(), Value::from("connect"));
        r.insert("user".into(), text(&hello.user));
        if let Some(db) = &hello.database {
            r.insert("database".into(), text(db));
        }
        if let Some(plugin) = &hello.auth_plugin {
            r.insert("auth_plugin".into(), text(plugin));
        }
        r.insert("capabilities".into(), Value::from(hello.capabilities));
        r.insert("charset".into(), Value::from(hello.charset));
        if let Some(attrs) = hello.attrs.as_deref().and_then(connect_attrs) {
            r.insert("attrs".into(), Value::Object(attrs));
        }
        if !self.redact {
            r.insert("auth_response".into(), text(&hello.auth_response));
        }
        pending.next_seq = p.seq.wrapping_add(p.packets as u8);
        let t = &mut pending.turn;
        add_raw(
            &mut t.request_raw,
            &mut t.request_size,
            &mut t.request_cut,
            p,
            self.cap,
        );
        self.phase = Phase::Commands;
        Ok(())
    }

    /// Takes a payload of the server's; the exchanges it completes.
    pub fn server(&mut self, p: &Payload, now: Micros) -> Result<Vec<Turn>, DecodeError> {
        if self.phase == Phase::Greeting {
            let error = |reason: String| DecodeError {
                side: Side::Backend,
                message: "greeting".into(),
                offset: p.offset,
                reason,
            };
            if p.bytes.first() == Some(&0xFF) {
                // Refused before the handshake (too many connections, host
                // not allowed): an exchange of its own.
                let mut pending = Pending::new(None, Expect::One, p.seq, now);
                pending
                    .turn
                    .request
                    .insert("command".into(), "connect".into());
                self.waiting.push_back(pending);
                return self.answer(p, now).map(|()| self.emit());
            }
            let g = Greeting::parse(&p.bytes).map_err(error)?;
            self.server_caps = g.capabilities;
            self.server_mariadb = g.mariadb_caps();
            let mut pending = Pending::new(None, Expect::Auth, p.seq.wrapping_add(1), now);
            let rest = g.rest.as_ref();
            pending.turn.answer.insert(
                "greeting",
                json!({
                    "server_version": text(&g.server_version),
                    "connection_id": g.connection_id,
                    "capabilities": g.capabilities,
                    "charset": rest.map(|r| r.charset),
                    "status": rest.map(|r| r.status),
                    "auth_plugin": rest.and_then(|r| r.auth_plugin.as_deref()).map(text),
                }),
            );
            let t = &mut pending.turn;
            add_raw(
                &mut t.answer_raw,
                &mut t.answer_size,
                &mut t.answer_cut,
                p,
                self.cap,
            );
            t.first_byte_at = Some(now);
            t.ended_at = Some(now);
            self.waiting.push_back(pending);
            self.phase = Phase::Hello;
            return Ok(Vec::new());
        }
        if self.phase == Phase::Hello {
            return Err(DecodeError {
                side: Side::Backend,
                message: "answer to the connection phase".into(),
                offset: p.offset,
                reason: "the server sent a packet before the client answered its greeting".into(),
            });
        }
        if !self.waiting.iter().any(|w| !w.done()) {
            if p.bytes.first() == Some(&0xFF) {
                // The server's own: a timeout's or a shutdown's error.
                let mut pending = Pending::new(None, Expect::One, p.seq, now);
                pending.turn.request.insert("command".into(), Value::Null);
                self.waiting.push_back(pending);
                return self.answer(p, now).map(|()| self.emit());
            }
            return Err(DecodeError {
                side: Side::Backend,
                message: "answer".into(),
                offset: p.offset,
                reason: "a packet with no command waiting for one".into(),
            });
        }
        self.answer(p, now)?;
        Ok(self.emit())
    }

    /// Adds `p` to the first exchange still waiting for its answer.
    fn answer(&mut self, p: &Payload, now: Micros) -> Result<(), DecodeError> {
        let cap = self.cap;
        let capabilities = self.capabilities;
        let redact = self.redact;
        let head = self
            .waiting
            .iter_mut()
            .find(|w| !w.done())
            .expect("an exchange waits");
        if let Some(Command::StmtFetch { stmt_id, .. }) = &head.command {
            if head.columns.is_empty() && head.rows_total == 0 {
                // A fetch's rows are in the columns of the execute that
                // opened the cursor.
                let id = match *stmt_id {
                    LAST_PREPARED => self.last_prepared.unwrap_or(*stmt_id),
                    id => id,
                };
                if let Some(s) = self.statements.get(&id) {
                    head.columns = s.columns.clone();
                }
            }
        }
        let name = head.name();
        let error = |reason: String| DecodeError {
            side: Side::Backend,
            message: format!("answer to {name}"),
            offset: p.offset,
            reason,
        };
        head.take_seq(p).map_err(error)?;
        let t = &mut head.turn;
        t.first_byte_at.get_or_insert(now);
        t.ended_at = Some(now);
        add_answer_raw(t, p, cap);
        let ctx = Ctx {
            capabilities,
            extended_types: self.mariadb & mariadb_caps::EXTENDED_TYPE_INFO != 0,
            cap,
            redact,
        };
        step(head, p, &ctx, &mut self.shapes).map_err(error)
    }

    /// Takes every exchange done at the front, in order, applying what each
    /// did to the connection's statements.
    fn emit(&mut self) -> Vec<Turn> {
        let mut out = Vec::new();
        while self.waiting.front().is_some_and(Pending::done) {
            let p = self.waiting.pop_front().expect("a done exchange");
            out.push(self.close(p));
        }
        out
    }

    /// The exchange as stored, its command described with what the
    /// connection knows of its statement.
    fn close(&mut self, mut p: Pending) -> Turn {
        let t = &p.turn;
        // See `storing_plain_raw`.
        let plain = p.done()
            && !t.request_cut
            && !t.answer_cut
            && !t.answer.contains_key("infile")
            && matches!(&p.command, Some(c) if !matches!(c, Command::ChangeUser(_)));
        if let Some(c) = p.command.take() {
            // The connection phase (no command) neither is plain nor ends
            // the run.
            self.raw_run &= plain;
            p.turn.raw = self.raw_run.then(|| self.encoding());
            self.describe(&c, &mut p);
        }
        let reading_rows = matches!(
            p.expect,
            Expect::Results { .. } | Expect::Fetch | Expect::FieldList
        );
        let begun = p.rows_total > 0 || !p.columns.is_empty() || !p.defs.is_empty();
        if !p.done() && reading_rows && begun {
            // A result set the connection ended inside.
            let extended_types = self.encoding().extended_types;
            p.resolve_columns(&mut self.shapes, extended_types);
            let set = result_set(&mut p, None);
            p.turn.answer.push("results", set);
        }
        p.turn
    }

    fn describe(&mut self, c: &Command, p: &mut Pending) {
        let mut r = Described(match p.turn.raw {
            Some(_) => None,
            None => Some(&mut p.turn.request),
        });
        r.insert("command", || Value::from(c.name()));
        let ok = p.turn.answered && !p.turn.answer.contains_key("error");
        let last = self.last_prepared;
        let stmt_id = |id: u32| match id {
            LAST_PREPARED => last.unwrap_or(id),
            id => id,
        };
        match c {
            Command::Query(sql) => {
                r.insert("sql", || text(sql));
                if !p.infile.is_empty() || p.infile_size > 0 {
                    r.insert("infile", || text(&p.infile));
                    r.insert("infile_size", || Value::from(p.infile_size));
                }
            }
            Command::StmtPrepare(sql) => {
                r.insert("sql", || text(sql));
                if let (true, Some((id, _, params, _))) = (ok, p.prepared) {
                    self.statements.insert(
                        id,
                        Statement {
                            sql: sql.clone(),
                            params: params as usize,
                            ..Default::default()
                        },
                    );
                    self.last_prepared = Some(id);
                } else {
                    // A failed prepare is no statement to run as "the last".
                    self.last_prepared = None;
                }
            }
            Command::StmtExecute {
                stmt_id: id,
                flags,
                params,
                ..
            } => {
                let id = stmt_id(*id);
                r.insert("stmt", || Value::from(id));
                if *flags != 0 {
                    r.insert("flags", || Value::from(*flags));
                }
                let cut = p.turn.request_cut;
                match self.statements.get_mut(&id) {
                    Some(s) => {
                        r.insert("sql", || text(&s.sql));
                        let sent: Vec<u16> = s.long_data.keys().copied().collect();
                        match execute_params(params, s.params, &s.bound, &sent) {
                            Ok((values, types)) => {
                                let long_data = &s.long_data;
                                r.insert("params", || {
                                    let value = |(i, v): (usize, Option<Value>)| {
                                        v.unwrap_or_else(|| text(&long_data[&(i as u16)]))
                                    };
                                    values.into_iter().enumerate().map(value).collect()
                                });
                                r.insert("types", || {
                                    types.iter().map(|t| Value::from(param_type(t))).collect()
                                });
                                s.bound = types;
                            }
                            Err(_) if cut => {}
                            Err(e) => {
                                r.insert("params_error", || Value::from(e));
                            }
                        }
                        if std::mem::take(&mut s.long_data_cut) {
                            r.insert("params_error", || {
                                Value::from("a value sent apart went past --max-body")
                            });
                        }
                        s.long_data.clear();
                        if !p.last_columns.is_empty() {
                            s.columns = std::mem::take(&mut p.last_columns);
                        }
                    }
                    None => {
                        r.insert("params_error", || {
                            Value::from(format!(
                                "statement {id} was not prepared on this connection"
                            ))
                        });
                    }
                }
            }
            Command::StmtSendLongData {
                stmt_id: id,
                param,
                data,
            } => {
                let id = stmt_id(*id);
                r.insert("stmt", || Value::from(id));
                r.insert("param", || Value::from(*param));
                r.insert("data", || text(data));
                if let Some(s) = self.statements.get_mut(&id) {
                    r.insert("sql", || text(&s.sql));
                    // Only for a parameter the statement has: at most its
                    // count of values, each within the cap.
                    if usize::from(*param) < s.params {
                        let held = s.long_data.entry(*param).or_default();
                        let room = self.cap.saturating_sub(held.len());
                        s.long_data_cut |= data.len() > room;
                        held.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
            }
            Command::StmtClose(id) | Command::StmtReset(id) => {
                let id = stmt_id(*id);
                r.insert("stmt", || Value::from(id));
                if let Some(s) = self.statements.get_mut(&id) {
                    r.insert("sql", || text(&s.sql));
                    s.long_data.clear();
                    s.long_data_cut = false;
                }
                if matches!(c, Command::StmtClose(_)) {
                    self.statements.remove(&id);
                }
            }
            Command::StmtFetch { stmt_id: id, rows } => {
                let id = stmt_id(*id);
                r.insert("stmt", || Value::from(id));
                r.insert("rows", || Value::from(*rows));
                if let Some(s) = self.statements.get(&id) {
                    r.insert("sql", || text(&s.sql));
                }
            }
            Command::InitDb(db) => {
                r.insert("database", || text(db));
            }
            Command::SetOption(o) => {
                r.insert("option", || Value::from(*o));
            }
            Command::ChangeUser(body) => {
                // Its user name leads; the rest is authentication data.
                let user = body.split(|&b| b == 0).next().unwrap_or_default();
                r.insert("user", || text(user));
                if ok {
                    self.statements.clear();
                    self.last_prepared = None;
                }
            }
            Command::ResetConnection => {
                if ok {
                    self.statements.clear();
                    self.last_prepared = None;
                }
            }
            Command::Other { body, .. } => {
                if !body.is_empty() {
                    r.insert("body", || text(body));
                }
            }
            Command::Quit | Command::Ping => {}
        }
    }
}

/// The request an exchange's command is described into: its turn's map,
/// or nothing for one stored as raw bytes only (see [`Turn::raw`]).
struct Described<'a>(Option<&'a mut Map<String, Value>>);

impl Described<'_> {
    /// Sets `key` to what `value` makes, if the request is described.
    fn insert(&mut self, key: &str, value: impl FnOnce() -> Value) {
        if let Some(m) = &mut self.0 {
            m.insert(key.to_owned(), value());
        }
    }
}

fn param_type(t: &ParamType) -> String {
    match t.unsigned {
        true => format!("{} UNSIGNED", type_name(t.column_type)),
        false => type_name(t.column_type).to_owned(),
    }
}

/// What a command's answer is.
fn expect_for(c: &Command) -> Expect {
    match c {
        Command::Quit | Command::StmtClose(_) | Command::StmtSendLongData { .. } => Expect::Nothing,
        Command::Query(_) => Expect::Results {
            binary: false,
            stage: Stage::Start,
        },
        Command::StmtExecute { .. } => Expect::Results {
            binary: true,
            stage: Stage::Start,
        },
        Command::StmtPrepare(_) => Expect::Prepare(PrepStage::Start),
        Command::StmtFetch { .. } => Expect::Fetch,
        Command::ChangeUser(_) => Expect::Auth,
        Command::Other { code: 0x04, .. } => Expect::FieldList,
        _ => Expect::One,
    }
}

fn ok_json(ok: &OkPacket) -> Value {
    let mut m = Map::new();
    m.insert("affected_rows".into(), ok.affected_rows.into());
    m.insert("last_insert_id".into(), ok.last_insert_id.into());
    m.insert("status".into(), ok.status.into());
    m.insert("warnings".into(), ok.warnings.into());
    if !ok.info.is_empty() {
        m.insert("info".into(), text(&ok.info));
    }
    Value::Object(m)
}

fn err_json(e: &ErrPacket) -> Value {
    json!({
        "code": e.code,
        "state": e.sql_state.as_ref().map(|s| text(s)),
        "message": text(&e.message),
    })
}

/// The result set read so far, ended by `end` (an EOF's or OK's status and
/// warnings), as stored; its rows are taken.
fn result_set(p: &mut Pending, end: Option<(u16, u16)>) -> Item {
    let columns = std::mem::take(&mut p.columns);
    if matches!(p.command, Some(Command::StmtExecute { .. })) {
        // A cursor's rows, fetched later, are in these columns.
        p.last_columns = columns.clone();
    }
    let set = ResultSet {
        columns,
        columns_json: p.columns_json.take(),
        rows: std::mem::take(&mut p.rows),
        rows_total: p.rows_cut.then_some(p.rows_total),
        cursor: std::mem::take(&mut p.cursor),
        end,
        columns_eof: p.columns_eof.take(),
    };
    p.rows_total = 0;
    p.rows_cut = false;
    Item::Set(Box::new(set))
}

/// Reads one payload of an answer into the exchange waiting for it.
/// What reading an answer needs of its connection.
struct Ctx {
    capabilities: u32,
    extended_types: bool,
    cap: usize,
    redact: bool,
}

fn step(head: &mut Pending, p: &Payload, ctx: &Ctx, shapes: &mut Shapes) -> Result<(), String> {
    let Ctx {
        capabilities,
        cap,
        redact,
        ..
    } = *ctx;
    let deprecate_eof = capabilities & caps::DEPRECATE_EOF != 0;
    let first = p.bytes.first().copied();
    // An EOF, or the OK that stands for one under DEPRECATE_EOF: 0xFE and
    // shorter than a packet (a row beginning 0xFE holds 16 MiB or more).
    let is_end = first == Some(0xFE) && p.len < MAX_PACKET as u64;
    let generic = || Generic::parse(&p.bytes, capabilities);
    let end_status = || -> Result<(u16, u16), String> {
        match generic()? {
            Generic::Eof(e) => Ok((e.status, e.warnings)),
            Generic::Ok(o) => Ok((o.status, o.warnings)),
            _ => Err("an EOF that does not read as one".into()),
        }
    };
    match head.expect.clone() {
        Expect::Nothing => unreachable!("a command with no answer is done"),
        Expect::Auth => match first {
            Some(0x00) | Some(0xFF) => finish_generic(head, generic()?),
            Some(0xFE) => {
                let mut parts = p.bytes[1..].splitn(2, |&b| b == 0);
                let plugin = parts.next().unwrap_or_default();
                head.turn
                    .answer
                    .push("auth", Item::Value(json!({"switch": text(plugin)})));
                Ok(())
            }
            Some(0x01) => {
                let data = &p.bytes[1..];
                // caching_sha2_password: 3 is "fast path taken", 4 "send
                // the password"; longer data is a public key.
                let step = match (redact, data) {
                    (_, [3]) => json!({"more": "fast auth"}),
                    (_, [4]) => json!({"more": "full auth"}),
                    (true, _) => json!({"more": "[redacted]"}),
                    (false, _) => json!({"more": text(data)}),
                };
                push_kept(head, "auth", Item::Value(step), cap);
                Ok(())
            }
            // A plugin's own data with no 0x01 before it, as MariaDB sends
            // some (the PAM dialog's prompts).
            _ => {
                let step = match redact {
                    true => json!({"data": "[redacted]"}),
                    false => json!({"data": text(&p.bytes)}),
                };
                push_kept(head, "auth", Item::Value(step), cap);
                Ok(())
            }
        },
        Expect::One => {
            match first {
                Some(0x00) | Some(0xFF) | Some(0xFE) => match generic()? {
                    Generic::Other => {
                        head.turn.answer.insert("payload", text(&p.bytes));
                    }
                    g => return finish_generic(head, g),
                },
                _ => {
                    head.turn.answer.insert("payload", text(&p.bytes));
                }
            }
            head.turn.answered = true;
            Ok(())
        }
        Expect::FieldList => {
            if first == Some(0xFF) || is_end {
                head.resolve_columns(shapes, ctx.extended_types);
                let end = end_or_err(head, generic()?);
                if let Some(end) = end {
                    let set = result_set(head, Some(end));
                    push_kept(head, "results", set, cap);
                }
                head.turn.answered = true;
                return Ok(());
            }
            take_result_def(head, p, ctx, shapes)?;
            Ok(())
        }
        Expect::Fetch => {
            if first == Some(0xFF) || is_end {
                if let Some(end) = end_or_err(head, generic()?) {
                    let set = result_set(head, Some(end));
                    push_kept(head, "results", set, cap);
                }
                head.turn.answered = true;
                return Ok(());
            }
            // A fetch's rows are in its cursor's columns, which the
            // conversation hands over before the fetch is read.
            row(head, p, true, cap)
        }
        Expect::Prepare(stage) => prepare_step(head, p, stage, ctx, is_end),
        Expect::Results { binary, stage } => {
            let set_stage = |head: &mut Pending, stage| {
                head.expect = Expect::Results { binary, stage };
            };
            match stage {
                Stage::Start => match first {
                    Some(0x00) | Some(0xFF) => {
                        let g = generic()?;
                        if let Generic::Ok(ok) = &g {
                            push_kept(
                                head,
                                "results",
                                Item::Value(json!({"ok": ok_json(ok)})),
                                cap,
                            );
                            if ok.status & MORE_RESULTS != 0 {
                                return Ok(());
                            }
                            head.turn.answered = true;
                            return Ok(());
                        }
                        finish_generic(head, g)
                    }
                    Some(0xFB) if !binary => {
                        head.turn.answer.insert("infile", text(&p.bytes[1..]));
                        set_stage(head, Stage::Infile);
                        Ok(())
                    }
                    _ => {
                        let mut r = super::read::Reader { p: &p.bytes, at: 0 };
                        let n = r.lenenc("the column count")?;
                        if r.at != p.bytes.len() || n == 0 {
                            return Err(format!(
                                "a packet beginning 0x{:02x} where an OK, an ERR or a column count was due",
                                first.unwrap_or(0)
                            ));
                        }
                        set_stage(head, Stage::Columns(n));
                        // Room for the definitions, as they run (a few
                        // dozen bytes each), up to 64 of them.
                        head.defs
                            .reserve(usize::try_from(n.min(64)).unwrap_or(64) * 64);
                        Ok(())
                    }
                },
                Stage::Columns(left) => {
                    take_result_def(head, p, ctx, shapes)?;
                    if left == 1 {
                        head.resolve_columns(shapes, ctx.extended_types);
                    }
                    let next = match (left - 1, deprecate_eof) {
                        (0, true) => Stage::Rows,
                        (0, false) => Stage::ColumnsEof,
                        (n, _) => Stage::Columns(n),
                    };
                    set_stage(head, next);
                    Ok(())
                }
                Stage::ColumnsEof => {
                    let (status, warnings) = end_status()?;
                    if !is_end {
                        return Err("no EOF after the column definitions".into());
                    }
                    if status & CURSOR_EXISTS != 0 {
                        head.cursor = true;
                        return end_result(head, status, warnings, binary, cap);
                    }
                    head.columns_eof = Some((status, warnings));
                    set_stage(head, Stage::Rows);
                    Ok(())
                }
                Stage::Rows => {
                    if first == Some(0xFF) {
                        let g = generic()?;
                        let set = result_set(head, None);
                        push_kept(head, "results", set, cap);
                        return finish_generic(head, g);
                    }
                    if is_end {
                        let (status, warnings) = end_status()?;
                        // Under DEPRECATE_EOF an execute that opened a
                        // cursor ends its columns with this OK, no rows.
                        head.cursor |=
                            binary && head.rows_total == 0 && status & CURSOR_EXISTS != 0;
                        return end_result(head, status, warnings, binary, cap);
                    }
                    row(head, p, binary, cap)
                }
                Stage::Infile => Err("a server packet while the client sends its file".into()),
            }
        }
    }
}

/// A result set's end: stored, then either more results or the answer's end.
fn end_result(
    head: &mut Pending,
    status: u16,
    warnings: u16,
    binary: bool,
    cap: usize,
) -> Result<(), String> {
    let set = result_set(head, Some((status, warnings)));
    push_kept(head, "results", set, cap);
    if status & MORE_RESULTS != 0 {
        head.expect = Expect::Results {
            binary,
            stage: Stage::Start,
        };
    } else {
        head.turn.answered = true;
    }
    Ok(())
}

/// An EOF's (or OK's) status and warnings, or, for an ERR, the error stored.
fn end_or_err(head: &mut Pending, g: Generic) -> Option<(u16, u16)> {
    match g {
        Generic::Eof(e) => Some((e.status, e.warnings)),
        Generic::Ok(o) => Some((o.status, o.warnings)),
        Generic::Err(e) => {
            head.turn.answer.insert("error", err_json(&e));
            None
        }
        Generic::Other => None,
    }
}

/// An OK, ERR or EOF that ends the answer.
fn finish_generic(head: &mut Pending, g: Generic) -> Result<(), String> {
    let a = &mut head.turn.answer;
    match g {
        Generic::Ok(ok) => {
            a.insert("ok", ok_json(&ok));
        }
        Generic::Err(e) => {
            a.insert("error", err_json(&e));
        }
        Generic::Eof(e) => {
            a.insert("eof", json!({"status": e.status, "warnings": e.warnings}));
        }
        Generic::Other => return Err("a packet that is no OK, ERR or EOF".into()),
    }
    head.turn.answered = true;
    Ok(())
}

/// What a decoded definition, result or authentication step costs beyond
/// its bytes, against the cap.
const PER_ITEM: usize = 64;

/// Charges a definition of `len` bytes against the cap: past it the answer
/// is flagged cut, its rows are only counted, and false says to drop it.
fn charge_def(head: &mut Pending, len: usize, cap: usize) -> bool {
    let cost = len + PER_ITEM;
    if head.held + cost > cap {
        head.turn.answer_cut = true;
        head.rows_cut = true;
        return false;
    }
    head.held += cost;
    true
}

/// Reads a prepare's parameter (with `params`) or column definition into
/// the answer being read, within the cap (see [`charge_def`]).
fn take_def(head: &mut Pending, p: &Payload, ctx: &Ctx, params: bool) -> Result<(), String> {
    let c = Column::parse(&p.bytes, ctx.extended_types)?;
    if charge_def(head, p.bytes.len(), ctx.cap) {
        match params {
            true => head.param_defs.push(c),
            false => head.prepare_columns.push(c),
        }
    }
    Ok(())
}

/// Takes a result set's column definition, within the cap (see
/// [`charge_def`]): checked now, unless a shape seen lately had the same
/// payload in its place (it was checked then), and read once all are in
/// (see [`Shapes`]).
fn take_result_def(
    head: &mut Pending,
    p: &Payload,
    ctx: &Ctx,
    shapes: &Shapes,
) -> Result<(), String> {
    if !shapes.had(&head.defs, &p.bytes) {
        Column::check(&p.bytes, ctx.extended_types)?;
    }
    if charge_def(head, p.bytes.len(), ctx.cap) {
        let Ok(len) = u32::try_from(p.bytes.len()) else {
            return Err("a column definition of 4 GiB or more".into());
        };
        head.defs.extend_from_slice(&len.to_le_bytes());
        head.defs.extend_from_slice(&p.bytes);
    }
    Ok(())
}

/// Appends `v` to the answer's `key` list while the answer holds fewer
/// items than the cap allows (at least 64, however small the cap); past
/// that the answer is flagged cut. A result set's rows and definitions
/// are charged as they are read.
fn push_kept(head: &mut Pending, key: &'static str, item: Item, cap: usize) {
    if head.items >= (cap / PER_ITEM).max(64) {
        head.turn.answer_cut = true;
        return;
    }
    head.items += 1;
    head.turn.answer.push(key, item);
}

/// One row of the result set being read, kept while the cap allows.
fn row(head: &mut Pending, p: &Payload, binary: bool, cap: usize) -> Result<(), String> {
    head.rows_total += 1;
    // What a decoded value costs beyond its bytes (a JSON value, a string's
    // heap block), so that the cap bounds memory, not just payload bytes.
    const PER_VALUE: usize = 32;
    let cost = p.bytes.len() + PER_VALUE * head.columns.len();
    if head.rows_cut || p.cut || head.held + cost > cap {
        head.rows_cut = true;
        return Ok(());
    }
    let payload = p.bytes.as_slice().into();
    let row = match binary {
        true => {
            binary_cells(&p.bytes, &head.columns, |_, _| ())?;
            Row::Binary(payload)
        }
        false => {
            text_cells(&p.bytes, head.columns.len(), |_| ())?;
            Row::Text(payload)
        }
    };
    head.held += cost;
    head.rows.push(row);
    Ok(())
}

/// One payload of a prepare's answer.
fn prepare_step(
    head: &mut Pending,
    p: &Payload,
    stage: PrepStage,
    ctx: &Ctx,
    is_end: bool,
) -> Result<(), String> {
    let deprecate_eof = ctx.capabilities & caps::DEPRECATE_EOF != 0;
    // After `n` definitions of one kind: an EOF (unless DEPRECATE_EOF),
    // then the next kind, or the end.
    let after = |head: &mut Pending, columns_next: Option<u64>| {
        let next = match columns_next {
            Some(n) if n > 0 => Some(PrepStage::Columns(n)),
            _ => None,
        };
        match next {
            Some(s) => head.expect = Expect::Prepare(s),
            None => {
                let (id, _, _, warnings) = head.prepared.expect("a prepare's OK was read");
                let params = serde_json::to_value(&head.param_defs).expect("columns serialise");
                let columns =
                    serde_json::to_value(&head.prepare_columns).expect("columns serialise");
                let mut prepared =
                    json!({"stmt": id, "params": params, "columns": columns, "warnings": warnings});
                if let Some(status) = head.prepare_eof {
                    prepared["eof_status"] = status.into();
                }
                head.turn.answer.insert("prepared", prepared);
                head.prepare_columns.clear();
                head.param_defs.clear();
                head.turn.answered = true;
            }
        }
    };
    match stage {
        PrepStage::Start => {
            if p.bytes.first() == Some(&0xFF) {
                let g = Generic::parse(&p.bytes, caps::PROTOCOL_41)?;
                return finish_generic(head, g);
            }
            let b = &p.bytes;
            if b.len() < 12 || b[0] != 0 {
                return Err("a prepare's answer that is neither its OK nor an ERR".into());
            }
            let id = u32::from_le_bytes(b[1..5].try_into().expect("4 bytes"));
            let columns = u64::from(u16::from_le_bytes([b[5], b[6]]));
            let params = u64::from(u16::from_le_bytes([b[7], b[8]]));
            let warnings = u16::from_le_bytes([b[10], b[11]]);
            head.prepared = Some((id, columns, params, warnings));
            match params {
                0 => after(head, Some(columns)),
                n => head.expect = Expect::Prepare(PrepStage::Params(n)),
            }
        }
        PrepStage::Params(left) => {
            take_def(head, p, ctx, true)?;
            let columns = head.prepared.map(|p| p.1);
            match (left - 1, deprecate_eof) {
                (0, true) => after(head, columns),
                (0, false) => head.expect = Expect::Prepare(PrepStage::ParamsEof),
                (n, _) => head.expect = Expect::Prepare(PrepStage::Params(n)),
            }
        }
        PrepStage::ParamsEof => {
            if !is_end {
                return Err("no EOF after the parameter definitions".into());
            }
            head.prepare_eof = Some(eof_status(&p.bytes));
            let columns = head.prepared.map(|p| p.1);
            after(head, columns);
        }
        PrepStage::Columns(left) => {
            take_def(head, p, ctx, false)?;
            match (left - 1, deprecate_eof) {
                (0, true) => after(head, None),
                (0, false) => head.expect = Expect::Prepare(PrepStage::ColumnsEof),
                (n, _) => head.expect = Expect::Prepare(PrepStage::Columns(n)),
            }
        }
        PrepStage::ColumnsEof => {
            if !is_end {
                return Err("no EOF after the column definitions".into());
            }
            head.prepare_eof = Some(eof_status(&p.bytes));
            after(head, None);
        }
    }
    Ok(())
}

/// The status of an EOF payload (0 for a bare one).
fn eof_status(p: &[u8]) -> u16 {
    match p.len() >= 5 {
        true => u16::from_le_bytes([p[3], p[4]]),
        false => 0,
    }
}

/// The connection attributes (`_client_name`, `_pid`, ...) as an object;
/// `None` where the block does not read as pairs of strings.
fn connect_attrs(block: &[u8]) -> Option<Map<String, Value>> {
    let mut r = super::read::Reader { p: block, at: 0 };
    let n = r.lenenc("").ok()?;
    let end = r.at + usize::try_from(n).ok()?;
    let mut m = Map::new();
    while r.at < end {
        let k = r.lenenc("").ok()?;
        let k = r.take(usize::try_from(k).ok()?, "").ok()?;
        let v = r.lenenc("").ok()?;
        let v = r.take(usize::try_from(v).ok()?, "").ok()?;
        m.insert(String::from_utf8_lossy(k).into_owned(), text(v));
    }
    Some(m)
}
