//! The byte level of RESP: a streaming decoder of commands (what a client
//! sends) and one of reply frames (what a server sends), and the encoder of
//! both.
//!
//! Decoding is strict where Redis or a client library would refuse the
//! bytes, and names the side, what was being read and its stream offset.
//! It never panics and never trusts a length or a count before the bytes it
//! claims are there: nothing is allocated on a count's word, a length is
//! read as its bytes arrive, and nesting is bounded ([`MAX_DEPTH`]), so a
//! hostile peer costs at most the cap and a line.

use super::super::{Bytes, DecodeError, Side};
use super::{Command, Frame};

/// The longest inline command and the longest count or length line Redis
/// reads (`PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE: usize = 64 * 1024;
/// The deepest nesting of aggregates a reply may have. Real replies nest a
/// few levels (`XREAD`: 4); a suite's JSON must load again (serde_json
/// stops at 128 levels, and each RESP level takes up to three).
pub const MAX_DEPTH: usize = 32;
/// The longest simple string, error, double or big number line a reply may
/// have: Redis's own are short; this bounds what a broken server costs.
const MAX_LINE: usize = 1 << 20;
/// What each value costs against the cap besides its bytes, so that a
/// million empty strings are cut as a million-byte one would be.
const VALUE_COST: usize = 8;
/// Past this much consumed input an emptied buffer is compacted.
const COMPACT_ABOVE: usize = 64 * 1024;

/// A decoded command or reply frame with its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<T> {
    pub value: T,
    /// The bytes it came as; only the first `cap` of them when [`cut`](Self::cut).
    pub raw: Vec<u8>,
    /// Where it starts in its direction of the connection.
    pub offset: u64,
    /// How many bytes it took on the wire, all of them.
    pub size: u64,
    /// Longer than the cap: values past it were cut (their first bytes
    /// kept) or left out, so `value` is not what was sent.
    pub cut: bool,
}

/// Bytes received and not yet decoded, and where they are in the stream.
#[derive(Debug, Default)]
struct Input {
    buf: Vec<u8>,
    pos: usize,
    /// The stream offset of `buf[0]`.
    base: u64,
    /// How far past `pos` a line end was already looked for.
    scanned: usize,
}

impl Input {
    fn push(&mut self, bytes: &[u8]) {
        if self.pos == self.buf.len() {
            self.base += self.pos as u64;
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > COMPACT_ABOVE && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn rest(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// The next line without its end, once it is all here, and the bytes it
    /// took. A line ends in CRLF; with `lf`, also in a lone LF (as Redis
    /// reads inline commands). Longer than `max` is an error.
    fn line(&mut self, max: usize, lf: bool) -> Result<Option<(Vec<u8>, usize)>, String> {
        let rest = &self.buf[self.pos..];
        let Some(i) = rest[self.scanned..].iter().position(|&b| b == b'\n') else {
            self.scanned = rest.len();
            if rest.len() > max + 1 {
                return Err(format!("no line end within {max} bytes"));
            }
            return Ok(None);
        };
        let end = self.scanned + i;
        self.scanned = 0;
        let body = match end.checked_sub(1).map(|j| rest[j]) {
            Some(b'\r') => end - 1,
            _ if lf => end,
            _ => return Err("a line ends in LF without CR".into()),
        };
        if body > max {
            return Err(format!("a line longer than {max} bytes"));
        }
        let line = rest[..body].to_vec();
        self.pos += end + 1;
        Ok(Some((line, end + 1)))
    }

    /// Up to `n` bytes, consumed.
    fn take(&mut self, n: u64) -> &[u8] {
        let k = (self.buf.len() - self.pos).min(usize::try_from(n).unwrap_or(usize::MAX));
        let start = self.pos;
        self.pos += k;
        &self.buf[start..start + k]
    }
}

/// The frame or command being read: its bytes so far, within the cap.
#[derive(Debug, Default)]
struct Progress {
    start: Option<u64>,
    raw: Vec<u8>,
    size: u64,
    /// What the values kept so far cost against the cap.
    kept: usize,
    cut: bool,
}

impl Progress {
    fn begin(&mut self, at: u64) {
        if self.start.is_none() {
            self.start = Some(at);
        }
    }

    fn saw(&mut self, bytes: &[u8], cap: usize) {
        self.size += bytes.len() as u64;
        let room = cap.saturating_sub(self.raw.len());
        if bytes.len() > room {
            self.cut = true;
        }
        self.raw.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// How much of a value of `len` bytes may be kept (less than all of it
    /// cuts the frame), and whether the value is kept at all: once the cap
    /// is reached, later values are left out.
    fn keep(&mut self, len: u64, cap: usize) -> (usize, bool) {
        let fits = self.kept < cap;
        let room = cap.saturating_sub(self.kept);
        let want = usize::try_from(len).unwrap_or(usize::MAX);
        let k = want.min(room);
        if k < want || !fits {
            self.cut = true;
        }
        self.kept = self.kept.saturating_add(k.saturating_add(VALUE_COST));
        (k, fits)
    }

    fn done<T>(&mut self, value: T) -> Decoded<T> {
        let p = std::mem::take(self);
        Decoded {
            value,
            raw: p.raw,
            offset: p.start.unwrap_or_default(),
            size: p.size,
            cut: p.cut,
        }
    }
}

/// A string whose bytes are still arriving.
#[derive(Debug)]
struct Data {
    kind: DataKind,
    /// Bytes still to come, then the CRLF after them.
    left: u64,
    crlf: u8,
    kept: Vec<u8>,
    /// How many of the bytes to keep.
    keep: usize,
    /// Whether the string is kept at all (see [`Progress::keep`]).
    fits: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DataKind {
    Bulk,
    BulkError,
    Verbatim,
    /// A part of a string streamed in parts (`;N`).
    Part,
    /// An argument of a command.
    Arg,
}

impl DataKind {
    fn what(self) -> &'static str {
        match self {
            DataKind::Bulk | DataKind::Part => "bulk string",
            DataKind::BulkError => "bulk error",
            DataKind::Verbatim => "verbatim string",
            DataKind::Arg => "command argument",
        }
    }
}

/// Reads a string's bytes and the CRLF after them as they arrive; the
/// string once all is here.
fn read_data(
    d: &mut Data,
    input: &mut Input,
    progress: &mut Progress,
    cap: usize,
) -> Result<Option<Vec<u8>>, String> {
    while d.left > 0 {
        let chunk = input.take(d.left);
        if chunk.is_empty() {
            return Ok(None);
        }
        d.left -= chunk.len() as u64;
        let room = d.keep - d.kept.len();
        d.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        progress.saw(chunk, cap);
    }
    while d.crlf < 2 {
        let chunk = input.take(1);
        let Some(&b) = chunk.first() else {
            return Ok(None);
        };
        let want = if d.crlf == 0 { b'\r' } else { b'\n' };
        if b != want {
            return Err(format!("the {} is not followed by CRLF", d.kind.what()));
        }
        progress.saw(chunk, cap);
        d.crlf += 1;
    }
    Ok(Some(std::mem::take(&mut d.kept)))
}

fn new_data(kind: DataKind, len: u64, progress: &mut Progress, cap: usize) -> Data {
    let (mut keep, fits) = progress.keep(len, cap);
    // A verbatim string's format is its first four bytes: always kept.
    if kind == DataKind::Verbatim {
        keep = keep.max(len.min(4) as usize);
    }
    Data {
        kind,
        left: len,
        crlf: 0,
        kept: Vec::with_capacity(keep.min(64 * 1024)),
        keep,
        fits,
    }
}

/// A length or count: decimal, no sign, no spaces; `-1` where `null` allows.
fn parse_len(line: &[u8], null: bool) -> Result<Option<u64>, String> {
    if null && line == b"-1" {
        return Ok(None);
    }
    let text = std::str::from_utf8(line)
        .ok()
        .filter(|t| !t.is_empty() && t.len() <= 19 && t.bytes().all(|b| b.is_ascii_digit()));
    match text.and_then(|t| t.parse::<i64>().ok()) {
        Some(n) => Ok(Some(n as u64)),
        None => Err(format!("'{}' is no length", printable(line))),
    }
}

/// Bytes for an error message: ASCII as it is, the rest escaped, at most 40.
fn printable(bytes: &[u8]) -> String {
    let mut s: String = bytes
        .iter()
        .take(40)
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect();
    if bytes.len() > 40 {
        s.push('…');
    }
    s
}

/// What a decoder reads on `side`: commands from the client, replies from
/// the server.
fn what(side: Side) -> &'static str {
    match side {
        Side::Frontend => "command",
        Side::Backend => "reply",
    }
}

/// A step's result, its error named by side and offset and kept, so that
/// every later call returns it again.
fn sticky<T>(
    found: Result<T, String>,
    error: &mut Option<DecodeError>,
    side: Side,
    progress: &Progress,
    input: &Input,
) -> Result<T, DecodeError> {
    found.map_err(|reason| {
        let e = DecodeError {
            side,
            message: what(side).into(),
            offset: progress.start.unwrap_or(input.offset()),
            reason,
        };
        *error = Some(e.clone());
        e
    })
}

/// At the end of the stream: an error unless the decoder is `idle`.
fn ended(idle: bool, side: Side, progress: &Progress, input: &Input) -> Result<(), DecodeError> {
    if idle {
        return Ok(());
    }
    Err(DecodeError {
        side,
        message: what(side).into(),
        offset: progress.start.unwrap_or(input.offset()),
        reason: "the stream ended inside it".into(),
    })
}

/// Decodes what a client sends: commands, as arrays of bulk strings or
/// inline lines, in the order sent.
#[derive(Debug)]
pub struct CommandDecoder {
    input: Input,
    cap: usize,
    progress: Progress,
    state: CommandState,
    args: Vec<Bytes>,
    error: Option<DecodeError>,
}

#[derive(Debug)]
enum CommandState {
    /// Between commands.
    Start,
    /// Reading the `$len` line of an argument; this many are still to come.
    Length { left: u64 },
    /// Reading an argument's bytes.
    Arg { left: u64, data: Data },
}

impl Default for CommandDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandDecoder {
    /// A decoder that keeps every command whole.
    pub fn new() -> Self {
        Self::with_cap(usize::MAX)
    }

    /// A decoder that keeps at most about `cap` bytes of any one command: an
    /// argument past it is cut, later ones left out, and the command
    /// flagged [`Decoded::cut`].
    pub fn with_cap(cap: usize) -> Self {
        CommandDecoder {
            input: Input::default(),
            cap,
            progress: Progress::default(),
            state: CommandState::Start,
            args: Vec::new(),
            error: None,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.push(bytes);
    }

    /// The stream offset of the first byte not yet decoded.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// How many received bytes wait to be decoded: a string's bytes are
    /// taken as they come, so this stays within a line or one read.
    pub fn buffered(&self) -> usize {
        self.input.rest().len()
    }

    /// The next complete command, or `Ok(None)` when more bytes are needed.
    /// After an error every later call returns it again: the stream cannot
    /// be read further.
    // Not an Iterator: `None` means "not yet", not "the end".
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Decoded<Command>>, DecodeError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let found = self.step();
        sticky(
            found,
            &mut self.error,
            Side::Frontend,
            &self.progress,
            &self.input,
        )
    }

    fn step(&mut self) -> Result<Option<Decoded<Command>>, String> {
        let cap = self.cap;
        loop {
            match &mut self.state {
                CommandState::Start => {
                    let Some(&first) = self.input.rest().first() else {
                        return Ok(None);
                    };
                    self.progress.begin(self.input.offset());
                    if first != b'*' {
                        let Some((line, took)) = self.input.line(MAX_INLINE, true)? else {
                            return Ok(None);
                        };
                        let start = self.input.pos - took;
                        self.progress
                            .saw(&self.input.buf[start..self.input.pos], cap);
                        let args = split_inline(&line)?;
                        if args.is_empty() {
                            // Redis reads an empty line as no command.
                            self.progress = Progress::default();
                            continue;
                        }
                        let mut kept = Vec::new();
                        for a in args {
                            let (k, fits) = self.progress.keep(a.len() as u64, cap);
                            if fits {
                                kept.push(Bytes(a[..k].to_vec()));
                            }
                        }
                        let command = Command {
                            args: kept,
                            inline: true,
                        };
                        return Ok(Some(self.progress.done(command)));
                    }
                    let Some((line, took)) = self.input.line(MAX_INLINE, false)? else {
                        return Ok(None);
                    };
                    let start = self.input.pos - took;
                    self.progress
                        .saw(&self.input.buf[start..self.input.pos], cap);
                    let count = parse_count(&line[1..])?;
                    if count == 0 {
                        // `*0` and `*-1` are no command to Redis either.
                        self.progress = Progress::default();
                        continue;
                    }
                    self.state = CommandState::Length { left: count };
                }
                CommandState::Length { left } => {
                    let left = *left;
                    let Some((line, took)) = self.input.line(MAX_INLINE, false)? else {
                        return Ok(None);
                    };
                    let start = self.input.pos - took;
                    self.progress
                        .saw(&self.input.buf[start..self.input.pos], cap);
                    let Some(len) = line.strip_prefix(b"$") else {
                        return Err(format!(
                            "expected '$' before argument {}, got '{}'",
                            self.args.len() + 1,
                            printable(&line[..line.len().min(1)])
                        ));
                    };
                    let len = parse_len(len, false)?.unwrap_or_default();
                    let data = new_data(DataKind::Arg, len, &mut self.progress, cap);
                    self.state = CommandState::Arg { left, data };
                }
                CommandState::Arg { left, data } => {
                    let Some(arg) = read_data(data, &mut self.input, &mut self.progress, cap)?
                    else {
                        return Ok(None);
                    };
                    // Arguments past the cap are left out.
                    if data.fits {
                        self.args.push(Bytes(arg));
                    }
                    let left = *left - 1;
                    if left > 0 {
                        self.state = CommandState::Length { left };
                        continue;
                    }
                    self.state = CommandState::Start;
                    let command = Command {
                        args: std::mem::take(&mut self.args),
                        inline: false,
                    };
                    return Ok(Some(self.progress.done(command)));
                }
            }
        }
    }

    /// Checks, at the end of the stream, that no command was left half sent.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let idle = matches!(self.state, CommandState::Start) && self.input.rest().is_empty();
        ended(idle, Side::Frontend, &self.progress, &self.input)
    }
}

/// An array's count as Redis reads a command's: at most `i32::MAX`
/// arguments; zero or less is no command.
fn parse_count(line: &[u8]) -> Result<u64, String> {
    let text = std::str::from_utf8(line).map_err(|_| "the argument count is not a number")?;
    match text.parse::<i64>() {
        Ok(n) if n <= 0 => Ok(0),
        Ok(n) if n <= i64::from(i32::MAX) => Ok(n as u64),
        _ => Err(format!("'{}' is no argument count", printable(line))),
    }
}

/// Splits an inline command into words as Redis does (`sdssplitargs`):
/// blanks part words; "double quotes" take `\n \r \t \b \a \xHH` and `\"`
/// escapes; 'single quotes' take `\'`; a closing quote must end the word.
pub(super) fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut args = Vec::new();
    let mut i = 0;
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    loop {
        while i < line.len() && blank(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(args);
        }
        let mut word = Vec::new();
        let (mut double, mut single) = (false, false);
        loop {
            let Some(&c) = line.get(i) else {
                if double || single {
                    return Err("unbalanced quotes in an inline command".into());
                }
                break;
            };
            if double {
                let hex = |b: Option<&u8>| b.filter(|b| b.is_ascii_hexdigit()).copied();
                if c == b'\\' && line.get(i + 1) == Some(&b'x') {
                    if let (Some(h), Some(l)) = (hex(line.get(i + 2)), hex(line.get(i + 3))) {
                        let v = |d: u8| (d as char).to_digit(16).unwrap_or_default() as u8;
                        word.push(v(h) * 16 + v(l));
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    word.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if line.get(i + 1).is_some_and(|&n| !blank(n)) {
                        return Err("a closing quote must end the word in an inline command".into());
                    }
                    i += 1;
                    break;
                }
                word.push(c);
            } else if single {
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    word.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if line.get(i + 1).is_some_and(|&n| !blank(n)) {
                        return Err("a closing quote must end the word in an inline command".into());
                    }
                    i += 1;
                    break;
                }
                word.push(c);
            } else {
                match c {
                    c if blank(c) => break,
                    b'"' => double = true,
                    b'\'' => single = true,
                    c => word.push(c),
                }
            }
            i += 1;
        }
        args.push(word);
    }
}

/// Decodes what a server sends: reply frames and pushes, RESP2 and RESP3.
#[derive(Debug)]
pub struct ReplyDecoder {
    input: Input,
    cap: usize,
    progress: Progress,
    /// The aggregates being read, outermost first.
    stack: Vec<Level>,
    /// A string whose bytes are arriving.
    data: Option<Data>,
    /// A string streamed in parts (`$?`), its parts so far, and whether
    /// it is kept.
    parts: Option<(Vec<u8>, bool)>,
    /// Attributes read for the next top-level frame, outermost first.
    attributes: Vec<Vec<(Frame, Frame)>>,
    error: Option<DecodeError>,
}

#[derive(Debug)]
struct Level {
    kind: Aggregate,
    /// Elements still to come (a map's pair counts two); `None` for one
    /// streamed in parts, which ends at `.`.
    left: Option<u64>,
    items: Vec<Frame>,
    /// Attributes read for the next element, outermost first.
    attributes: Vec<Vec<(Frame, Frame)>>,
    /// Whether the aggregate is kept (see [`Progress::keep`]).
    fits: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregate {
    Array,
    Set,
    Push,
    Map,
    Attribute,
}

impl Aggregate {
    fn of(tag: u8) -> Option<Self> {
        Some(match tag {
            b'*' => Aggregate::Array,
            b'~' => Aggregate::Set,
            b'>' => Aggregate::Push,
            b'%' => Aggregate::Map,
            b'|' => Aggregate::Attribute,
            _ => return None,
        })
    }

    fn pairs(self) -> bool {
        matches!(self, Aggregate::Map | Aggregate::Attribute)
    }
}

/// `frame` with the attributes read before it, the last read innermost.
fn attributed(pending: &mut Vec<Vec<(Frame, Frame)>>, mut frame: Frame) -> Frame {
    while let Some(attributes) = pending.pop() {
        frame = Frame::Attributed {
            attributes,
            frame: Box::new(frame),
        };
    }
    frame
}

fn pairs(items: Vec<Frame>) -> Vec<(Frame, Frame)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// What a line or a string made.
enum Made {
    /// A whole value, and whether it is kept (see [`Progress::keep`]).
    Value(Frame, bool),
    /// An aggregate was opened, or a part of a streamed string read.
    Nothing,
}

impl Default for ReplyDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplyDecoder {
    /// A decoder that keeps every frame whole.
    pub fn new() -> Self {
        Self::with_cap(usize::MAX)
    }

    /// A decoder that keeps at most about `cap` bytes of any one frame: a
    /// string past it is cut, later values left out, and the frame flagged
    /// [`Decoded::cut`].
    pub fn with_cap(cap: usize) -> Self {
        ReplyDecoder {
            input: Input::default(),
            cap,
            progress: Progress::default(),
            stack: Vec::new(),
            data: None,
            parts: None,
            attributes: Vec::new(),
            error: None,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.push(bytes);
    }

    /// The stream offset of the first byte not yet decoded.
    pub fn offset(&self) -> u64 {
        self.input.offset()
    }

    /// How many received bytes wait to be decoded: a string's bytes are
    /// taken as they come, so this stays within a line or one read.
    pub fn buffered(&self) -> usize {
        self.input.rest().len()
    }

    /// The next complete frame, or `Ok(None)` when more bytes are needed.
    /// After an error every later call returns it again.
    // Not an Iterator: `None` means "not yet", not "the end".
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Decoded<Frame>>, DecodeError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let found = self.step();
        sticky(
            found,
            &mut self.error,
            Side::Backend,
            &self.progress,
            &self.input,
        )
    }

    fn step(&mut self) -> Result<Option<Decoded<Frame>>, String> {
        let cap = self.cap;
        loop {
            let made = if let Some(d) = &mut self.data {
                let Some(bytes) = read_data(d, &mut self.input, &mut self.progress, cap)? else {
                    return Ok(None);
                };
                let (kind, fits) = (d.kind, d.fits);
                self.data = None;
                self.string(kind, bytes, fits)?
            } else {
                if self.input.rest().is_empty() {
                    return Ok(None);
                }
                self.progress.begin(self.input.offset());
                let Some((line, took)) = self.input.line(MAX_LINE, false)? else {
                    return Ok(None);
                };
                let start = self.input.pos - took;
                self.progress
                    .saw(&self.input.buf[start..self.input.pos], cap);
                self.line(&line)?
            };
            let Made::Value(mut frame, mut fits) = made else {
                continue;
            };
            // A whole value: it fills the aggregates it is in, and ends
            // each it completes.
            loop {
                let Some(level) = self.stack.last_mut() else {
                    frame = attributed(&mut self.attributes, frame);
                    return Ok(Some(self.progress.done(frame)));
                };
                frame = attributed(&mut level.attributes, frame);
                if fits {
                    level.items.push(frame);
                }
                match &mut level.left {
                    Some(left) if *left > 1 => {
                        *left -= 1;
                        break;
                    }
                    Some(_) => {}
                    None => break,
                }
                let level = self.stack.pop().expect("a level is there");
                fits = level.fits;
                match self.close(level) {
                    Some(done) => frame = done,
                    None => break,
                }
            }
        }
    }

    /// The frame a finished aggregate makes. Attributes make none: they are
    /// kept for the value they describe, the next at their level.
    fn close(&mut self, level: Level) -> Option<Frame> {
        Some(match level.kind {
            Aggregate::Array => Frame::Array(level.items),
            Aggregate::Set => Frame::Set(level.items),
            Aggregate::Push => Frame::Push(level.items),
            Aggregate::Map => Frame::Map(pairs(level.items)),
            Aggregate::Attribute => {
                let slot = match self.stack.last_mut() {
                    Some(parent) => &mut parent.attributes,
                    None => &mut self.attributes,
                };
                slot.push(pairs(level.items));
                return None;
            }
        })
    }

    /// The value a string's bytes make, or nothing for a part of a string
    /// streamed in parts.
    fn string(&mut self, kind: DataKind, bytes: Vec<u8>, fits: bool) -> Result<Made, String> {
        let frame = match kind {
            DataKind::Bulk | DataKind::Arg => Frame::Bulk(Bytes(bytes)),
            DataKind::BulkError => Frame::BulkError(Bytes(bytes)),
            DataKind::Verbatim => {
                if bytes.len() < 4 || bytes[3] != b':' {
                    return Err("a verbatim string without its 'xxx:' format".into());
                }
                let format = std::str::from_utf8(&bytes[..3])
                    .map_err(|_| "a verbatim string's format is not UTF-8")?
                    .to_owned();
                Frame::Verbatim {
                    format,
                    text: Bytes(bytes[4..].to_vec()),
                }
            }
            DataKind::Part => {
                if let Some((whole, _)) = &mut self.parts {
                    whole.extend_from_slice(&bytes);
                }
                return Ok(Made::Nothing);
            }
        };
        Ok(Made::Value(frame, fits))
    }

    /// Takes one line: a simple value, or the head of a string or an aggregate.
    fn line(&mut self, line: &[u8]) -> Result<Made, String> {
        let Some((&tag, rest)) = line.split_first() else {
            return Err("an empty line where a frame should start".into());
        };
        if self.parts.is_some() {
            // Inside a string streamed in parts: only `;N` lines.
            if tag != b';' {
                return Err(format!(
                    "expected ';' in a streamed string, got '{}'",
                    printable(&[tag])
                ));
            }
            let len = parse_len(rest, false)?.unwrap_or_default();
            if len == 0 {
                let (whole, fits) = self.parts.take().unwrap_or_default();
                return Ok(Made::Value(Frame::Bulk(Bytes(whole)), fits));
            }
            self.data = Some(new_data(DataKind::Part, len, &mut self.progress, self.cap));
            return Ok(Made::Nothing);
        }
        let text = || {
            std::str::from_utf8(rest)
                .map(str::to_owned)
                .map_err(|_| format!("'{}' is not UTF-8", printable(rest)))
        };
        let value = match tag {
            b'+' => Frame::Simple(Bytes(rest.to_vec())),
            b'-' => Frame::Error(Bytes(rest.to_vec())),
            b':' => Frame::Integer(
                text()?
                    .parse::<i64>()
                    .map_err(|_| format!("'{}' is no integer", printable(rest)))?,
            ),
            b'_' if rest.is_empty() => Frame::Null,
            b'_' => return Err("a null with something after '_'".into()),
            b'#' => match rest {
                b"t" => Frame::Boolean(true),
                b"f" => Frame::Boolean(false),
                _ => return Err(format!("'{}' is no boolean", printable(rest))),
            },
            b',' => {
                let t = text()?;
                if !valid_double(&t) {
                    return Err(format!("'{}' is no double", printable(rest)));
                }
                Frame::Double(t)
            }
            b'(' => {
                let t = text()?;
                let digits = t.strip_prefix(['+', '-']).unwrap_or(&t);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("'{}' is no big number", printable(rest)));
                }
                Frame::BigNumber(t)
            }
            b'$' if rest == b"?" => {
                let (_, fits) = self.progress.keep(0, self.cap);
                self.parts = Some((Vec::new(), fits));
                return Ok(Made::Nothing);
            }
            b'$' | b'!' | b'=' => {
                let kind = match tag {
                    b'$' => DataKind::Bulk,
                    b'!' => DataKind::BulkError,
                    _ => DataKind::Verbatim,
                };
                let Some(len) = parse_len(rest, tag == b'$')? else {
                    let (_, fits) = self.progress.keep(0, self.cap);
                    return Ok(Made::Value(Frame::NullBulk, fits));
                };
                self.data = Some(new_data(kind, len, &mut self.progress, self.cap));
                return Ok(Made::Nothing);
            }
            b'.' if rest.is_empty() => {
                // The end of an aggregate streamed in parts.
                match self.stack.last() {
                    Some(Level {
                        left: None,
                        kind,
                        items,
                        ..
                    }) => {
                        if kind.pairs() && items.len() % 2 == 1 {
                            return Err("a streamed map ended after a key".into());
                        }
                    }
                    _ => return Err("'.' outside an aggregate streamed in parts".into()),
                }
                let level = self.stack.pop().expect("checked above");
                let fits = level.fits;
                return Ok(match self.close(level) {
                    Some(frame) => Made::Value(frame, fits),
                    None => Made::Nothing,
                });
            }
            tag => {
                let Some(kind) = Aggregate::of(tag) else {
                    return Err(format!("a frame of unknown type '{}'", printable(&[tag])));
                };
                let (_, fits) = self.progress.keep(0, self.cap);
                let count = if rest == b"?" {
                    None
                } else {
                    match parse_len(rest, tag == b'*')? {
                        None => return Ok(Made::Value(Frame::NullArray, fits)),
                        Some(n) if kind.pairs() => Some(n.checked_mul(2).ok_or("too many pairs")?),
                        Some(n) => Some(n),
                    }
                };
                let level = Level {
                    kind,
                    left: count,
                    items: Vec::new(),
                    attributes: Vec::new(),
                    fits,
                };
                // An empty aggregate is one too: what is decoded here is
                // what `encode_reply` writes back.
                if self.stack.len() >= MAX_DEPTH {
                    return Err(format!("aggregates nested deeper than {MAX_DEPTH}"));
                }
                if count == Some(0) {
                    return Ok(match self.close(level) {
                        Some(frame) => Made::Value(frame, fits),
                        None => Made::Nothing,
                    });
                }
                self.stack.push(level);
                return Ok(Made::Nothing);
            }
        };
        // A line's value is kept whole or not at all.
        let (k, fits) = self.progress.keep(line.len() as u64, self.cap);
        Ok(Made::Value(value, fits && k == line.len()))
    }

    /// Checks, at the end of the stream, that no frame was left half sent.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let idle = self.stack.is_empty()
            && self.data.is_none()
            && self.parts.is_none()
            && self.attributes.is_empty()
            && self.input.rest().is_empty();
        ended(idle, Side::Backend, &self.progress, &self.input)
    }
}

fn valid_double(t: &str) -> bool {
    matches!(t, "inf" | "-inf" | "+inf" | "nan" | "-nan")
        || (t
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            && t.bytes().any(|b| b.is_ascii_digit())
            && t.parse::<f64>().is_ok())
}

/// A command as a client sends it: an array of bulk strings; inline when it
/// was sent so and each word can be written plainly (no blank, quote or
/// control byte, and not starting with `*`).
pub fn encode_command(c: &Command, out: &mut Vec<u8>) {
    let plain = |a: &Bytes| {
        !a.is_empty()
            && a.iter()
                .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'')
    };
    // A line starting with '*' would be read as an array's count.
    let starts_array = c.args.first().is_some_and(|a| a.first() == Some(&b'*'));
    if c.inline && !starts_array && !c.args.is_empty() && c.args.iter().all(plain) {
        for (i, a) in c.args.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(a);
        }
        out.extend_from_slice(b"\r\n");
        return;
    }
    out.extend_from_slice(format!("*{}\r\n", c.args.len()).as_bytes());
    for a in &c.args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// A reply frame as a server sends it. An error names what cannot be sent
/// as it stands (a line value with CR or LF, a bad double, a format that is
/// not three bytes), so that an edited suite is refused at load.
pub fn encode_reply(f: &Frame, out: &mut Vec<u8>) -> Result<(), String> {
    encode_at(f, out, 0)
}

fn encode_at(f: &Frame, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
    let aggregate = matches!(
        f,
        Frame::Array(_) | Frame::Set(_) | Frame::Push(_) | Frame::Map(_) | Frame::Attributed { .. }
    );
    if aggregate && depth >= MAX_DEPTH {
        return Err(format!("aggregates nested deeper than {MAX_DEPTH}"));
    }
    let line = |out: &mut Vec<u8>, tag: u8, v: &[u8], what: &str| {
        // The line ends at the first LF; a CR before it is the line's end,
        // any other CR is content (as hiredis reads it), so only LF is out.
        if v.contains(&b'\n') {
            return Err(format!(
                "a {what} cannot hold a line feed; use a bulk string"
            ));
        }
        out.push(tag);
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
        Ok(())
    };
    let head = |out: &mut Vec<u8>, tag: char, n: usize| {
        out.extend_from_slice(format!("{tag}{n}\r\n").as_bytes());
    };
    let data = |out: &mut Vec<u8>, tag: char, v: &[u8]| {
        head(out, tag, v.len());
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    };
    match f {
        Frame::Simple(v) => line(out, b'+', v, "simple string")?,
        Frame::Error(v) => line(out, b'-', v, "simple error")?,
        Frame::Integer(n) => line(out, b':', n.to_string().as_bytes(), "integer")?,
        Frame::Bulk(v) => data(out, '$', v),
        Frame::NullBulk => out.extend_from_slice(b"$-1\r\n"),
        Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
        Frame::Null => out.extend_from_slice(b"_\r\n"),
        Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Frame::Double(t) => {
            if !valid_double(t) {
                return Err(format!("'{t}' is no double"));
            }
            line(out, b',', t.as_bytes(), "double")?
        }
        Frame::BigNumber(t) => {
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("'{t}' is no big number"));
            }
            line(out, b'(', t.as_bytes(), "big number")?
        }
        Frame::BulkError(v) => data(out, '!', v),
        Frame::Verbatim { format, text } => {
            if format.len() != 3 {
                return Err(format!(
                    "a verbatim string's format is three bytes ('txt'), not '{format}'"
                ));
            }
            let mut v = format.as_bytes().to_vec();
            v.push(b':');
            v.extend_from_slice(text);
            data(out, '=', &v);
        }
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            let tag = match f {
                Frame::Array(_) => '*',
                Frame::Set(_) => '~',
                _ => '>',
            };
            head(out, tag, items.len());
            for item in items {
                encode_at(item, out, depth + 1)?;
            }
        }
        Frame::Map(entries) => {
            head(out, '%', entries.len());
            for (k, v) in entries {
                encode_at(k, out, depth + 1)?;
                encode_at(v, out, depth + 1)?;
            }
        }
        Frame::Attributed { attributes, frame } => {
            head(out, '|', attributes.len());
            for (k, v) in attributes {
                encode_at(k, out, depth + 1)?;
                encode_at(v, out, depth + 1)?;
            }
            encode_at(frame, out, depth)?;
        }
    }
    Ok(())
}
