//! The byte level of the Postgres protocol: a streaming decoder for each
//! direction of a connection, the encoder of every message, and the names of
//! messages as the Postgres documentation spells them.
//!
//! Decoding is strict: anything a real server or libpq would reject as a
//! protocol violation is an error naming the message, the side and the stream
//! offset, because a recording that silently misreads a frame would replay
//! nonsense. Decoding never panics and never trusts a count or a length before
//! the bytes it claims are there.
//!
//! Encoding and `check` share one set of rules (through a `Sink` that keeps
//! the bytes or only counts them), so a message from an edited suite can be
//! rejected at load with the reason `encode` would otherwise panic with.

use std::fmt;

use super::super::{DecodeError, Side};
use super::{
    BackendMessage, Bytes, Field, FrontendMessage, Notice, Target, TxStatus, CANCEL_REQUEST_CODE,
    GSSENC_REQUEST_CODE, SSL_REQUEST_CODE,
};

/// The largest frame Postgres accepts, length field included
/// (`PQ_LARGE_MESSAGE_LIMIT`, 1 GiB - 1).
const MAX_FRAME_LEN: u32 = 0x3fff_ffff;
/// The largest startup packet body Postgres accepts (`MAX_STARTUP_PACKET_LENGTH`).
const MAX_STARTUP_BODY: u32 = 10_000;
/// Major version 1234 marks a request code (SSL, GSSENC, cancel) rather than a protocol.
const REQUEST_MAJOR: i32 = 1234;
/// Past this much spare capacity an emptied buffer is shrunk, so that one huge
/// row does not pin its memory for the rest of the connection.
const SHRINK_ABOVE: usize = 1 << 20;

/// Decodes what the client sends: the untagged startup packets first, then
/// tagged messages once a StartupMessage has gone by.
#[derive(Debug)]
pub struct FrontendDecoder {
    stream: Stream,
    /// Still before the StartupMessage: packets are untagged.
    startup: bool,
}

impl Default for FrontendDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrontendDecoder {
    pub fn new() -> Self {
        FrontendDecoder {
            stream: Stream::new(Side::Frontend),
            startup: true,
        }
    }

    /// A decoder for a connection already past its StartupMessage: every
    /// message is tagged.
    pub fn after_startup() -> Self {
        FrontendDecoder {
            stream: Stream::new(Side::Frontend),
            startup: false,
        }
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.stream.push(bytes);
    }

    /// The next complete message and its exact bytes, or `Ok(None)` when more
    /// bytes are needed. After an error the stream cannot be resynchronised, so
    /// every later call returns the same error.
    // Not an Iterator: `None` means "not yet", not "the end".
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(FrontendMessage, Vec<u8>)>, DecodeError> {
        whole(|| self.next_piece())
    }

    /// [`FrontendDecoder::next`], with messages over the cap
    /// ([`FrontendDecoder::with_cap`]) as [`Piece::Oversized`].
    pub fn next_piece(&mut self) -> Result<Option<Piece<FrontendMessage>>, DecodeError> {
        let startup = self.startup;
        let decoded = self
            .stream
            .next(!startup, |data| decode_frontend(data, startup))?;
        if let Some(Piece::Message(FrontendMessage::StartupMessage { .. }, _)) = &decoded {
            self.startup = false;
        }
        Ok(decoded)
    }

    /// A decoder that passes on a message longer than `cap` bytes as it
    /// comes instead of holding and decoding it.
    pub fn with_cap(cap: usize) -> Self {
        let mut d = Self::new();
        d.stream.cap = cap;
        d
    }

    /// The bytes of oversized messages received since the last call, in
    /// order: each message's bytes follow its [`Piece::Oversized`].
    pub fn take_passed(&mut self) -> Vec<u8> {
        self.stream.take_passed()
    }

    /// The stream offset of the first byte not yet decoded.
    pub fn offset(&self) -> u64 {
        self.stream.offset
    }

    /// How many bytes are waiting to be decoded.
    pub fn buffered(&self) -> usize {
        self.stream.unread().len()
    }

    /// Checks, at the end of the stream, that no partial message is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let mut startup = self.startup;
        self.stream.finish(|data| {
            let step = decode_frontend(data, startup);
            if let Step::Message(FrontendMessage::StartupMessage { .. }, _) = &step {
                startup = false;
            }
            step
        })
    }
}

/// Decodes what the server sends: tagged messages, and the single unframed
/// byte that answers an SSLRequest or GSSENCRequest when told to expect it.
#[derive(Debug)]
pub struct BackendDecoder {
    stream: Stream,
    /// The next byte answers an encryption request.
    expect_encryption: bool,
}

impl Default for BackendDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BackendDecoder {
    pub fn new() -> Self {
        BackendDecoder {
            stream: Stream::new(Side::Backend),
            expect_encryption: false,
        }
    }

    /// The client has sent an SSLRequest or GSSENCRequest: the next byte from
    /// the server is its single-byte answer, `S` or `N`.
    pub fn expect_encryption_response(&mut self) {
        self.expect_encryption = true;
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.stream.push(bytes);
    }

    /// The next complete message and its exact bytes, or `Ok(None)` when more
    /// bytes are needed. After an error the stream cannot be resynchronised, so
    /// every later call returns the same error.
    // Not an Iterator: `None` means "not yet", not "the end".
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<(BackendMessage, Vec<u8>)>, DecodeError> {
        whole(|| self.next_piece())
    }

    /// [`BackendDecoder::next`], with messages over the cap
    /// ([`BackendDecoder::with_cap`]) as [`Piece::Oversized`].
    pub fn next_piece(&mut self) -> Result<Option<Piece<BackendMessage>>, DecodeError> {
        let expect_encryption = self.expect_encryption;
        let decoded = self.stream.next(!expect_encryption, |data| {
            decode_backend(data, expect_encryption)
        })?;
        if decoded.is_some() {
            self.expect_encryption = false;
        }
        Ok(decoded)
    }

    /// A decoder that passes on a message longer than `cap` bytes as it
    /// comes instead of holding and decoding it.
    pub fn with_cap(cap: usize) -> Self {
        let mut d = Self::new();
        d.stream.cap = cap;
        d
    }

    /// The bytes of oversized messages received since the last call.
    pub fn take_passed(&mut self) -> Vec<u8> {
        self.stream.take_passed()
    }

    /// The stream offset of the first byte not yet decoded.
    pub fn offset(&self) -> u64 {
        self.stream.offset
    }

    /// How many bytes are waiting to be decoded.
    pub fn buffered(&self) -> usize {
        self.stream.unread().len()
    }

    /// Checks, at the end of the stream, that no partial message is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let mut expect_encryption = self.expect_encryption;
        self.stream.finish(|data| {
            let step = decode_backend(data, expect_encryption);
            expect_encryption = false;
            step
        })
    }
}

/// What `next` gives: a whole message and its exact bytes, none yet, or
/// the error the stream is lost to.
pub type Next<M> = Result<Option<(M, Vec<u8>)>, DecodeError>;

/// Either direction's decoder, for code that reads both alike (the codec's
/// tests, the fuzz targets).
pub trait Decoder {
    type Message: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug;
    fn push(&mut self, bytes: &[u8]);
    fn next(&mut self) -> Next<Self::Message>;
    fn offset(&self) -> u64;
    fn buffered(&self) -> usize;
    fn finish(&self) -> Result<(), DecodeError>;
    /// The message's exact bytes on the wire.
    fn encode(message: &Self::Message, out: &mut Vec<u8>);
    /// Whether the message can go on the wire, and if not why.
    fn check(message: &Self::Message) -> Result<(), String>;
}

impl Decoder for FrontendDecoder {
    type Message = FrontendMessage;
    fn push(&mut self, bytes: &[u8]) {
        FrontendDecoder::push(self, bytes)
    }
    fn next(&mut self) -> Result<Option<(FrontendMessage, Vec<u8>)>, DecodeError> {
        FrontendDecoder::next(self)
    }
    fn offset(&self) -> u64 {
        FrontendDecoder::offset(self)
    }
    fn buffered(&self) -> usize {
        FrontendDecoder::buffered(self)
    }
    fn finish(&self) -> Result<(), DecodeError> {
        FrontendDecoder::finish(self)
    }
    fn encode(message: &FrontendMessage, out: &mut Vec<u8>) {
        message.encode(out)
    }
    fn check(message: &FrontendMessage) -> Result<(), String> {
        message.check()
    }
}

impl Decoder for BackendDecoder {
    type Message = BackendMessage;
    fn push(&mut self, bytes: &[u8]) {
        BackendDecoder::push(self, bytes)
    }
    fn next(&mut self) -> Result<Option<(BackendMessage, Vec<u8>)>, DecodeError> {
        BackendDecoder::next(self)
    }
    fn offset(&self) -> u64 {
        BackendDecoder::offset(self)
    }
    fn buffered(&self) -> usize {
        BackendDecoder::buffered(self)
    }
    fn finish(&self) -> Result<(), DecodeError> {
        BackendDecoder::finish(self)
    }
    fn encode(message: &BackendMessage, out: &mut Vec<u8>) {
        message.encode(out)
    }
    fn check(message: &BackendMessage) -> Result<(), String> {
        message.check()
    }
}

/// The next whole message of `next_piece`, skipping oversized ones (which
/// only a capped decoder gives, and whose bytes it passes on).
fn whole<M>(
    mut next_piece: impl FnMut() -> Result<Option<Piece<M>>, DecodeError>,
) -> Result<Option<(M, Vec<u8>)>, DecodeError> {
    loop {
        match next_piece()? {
            Some(Piece::Message(m, raw)) => return Ok(Some((m, raw))),
            Some(Piece::Oversized { .. }) => continue,
            None => return Ok(None),
        }
    }
}

/// The bytes of one direction not yet decoded, behind a read cursor so that
/// taking a small message off the front costs nothing; the consumed prefix is
/// dropped only once it outweighs what is left, which keeps the copying linear.
#[derive(Debug)]
struct Stream {
    side: Side,
    buf: Vec<u8>,
    /// Index in `buf` of the first undecoded byte.
    start: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    /// The first error; the stream is lost after it.
    failed: Option<DecodeError>,
    /// A frame longer than this is passed on as it comes, not decoded, so
    /// a message declaring up to 1 GiB costs no more than this to hold.
    cap: usize,
    /// Bytes of the frame being passed on that are still to come.
    passing: u64,
    /// Bytes of passed frames not yet taken by [`Stream::take_passed`].
    passed: Vec<u8>,
    /// The message being passed on, for an error if the stream ends inside it.
    passing_name: &'static str,
}

/// What a decoder hands out next.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece<M> {
    /// A whole message and its exact bytes.
    Message(M, Vec<u8>),
    /// The start of a message longer than the decoder's cap: its tag and
    /// its whole length on the wire. Its bytes are passed on as they come
    /// (`take_passed`), never held whole nor decoded.
    Oversized { tag: u8, length: u64 },
}

/// What the undecoded bytes start with.
enum Step<M> {
    /// A whole message and the length of its frame.
    Message(M, usize),
    /// The start of a frame: `have` of `need` bytes (`exact` false when the
    /// length is not known yet and `need` is the header's size).
    Partial {
        message: &'static str,
        have: usize,
        need: usize,
        exact: bool,
    },
    Invalid {
        message: String,
        reason: String,
    },
}

impl Stream {
    fn new(side: Side) -> Self {
        Stream {
            side,
            buf: Vec::new(),
            start: 0,
            offset: 0,
            failed: None,
            cap: usize::MAX,
            passing: 0,
            passed: Vec::new(),
            passing_name: "",
        }
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn push(&mut self, mut bytes: &[u8]) {
        if self.passing > 0 {
            let n = bytes
                .len()
                .min(self.passing.try_into().unwrap_or(usize::MAX));
            self.passed.extend_from_slice(&bytes[..n]);
            self.passing -= n as u64;
            self.offset += n as u64;
            bytes = &bytes[n..];
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Takes `len` unread bytes off the front; once all is read, the
    /// buffer is emptied (and shrunk after a large message).
    fn consume(&mut self, len: usize) -> Vec<u8> {
        let taken = self.unread()[..len].to_vec();
        self.start += len;
        self.offset += len as u64;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            if self.buf.capacity() > SHRINK_ABOVE {
                self.buf.shrink_to(SHRINK_ABOVE / 16);
            }
        }
        taken
    }

    /// The bytes of passed frames since the last call.
    fn take_passed(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.passed)
    }

    /// The next piece; `may_pass` false keeps a frame over the cap whole
    /// (the untagged startup packets, which are small by their own limit).
    fn next<M>(
        &mut self,
        may_pass: bool,
        decode: impl FnOnce(&[u8]) -> Step<M>,
    ) -> Result<Option<Piece<M>>, DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.unread().is_empty() || self.passing > 0 {
            return Ok(None);
        }
        match decode(self.unread()) {
            // Too long to hold: what is here goes out now, the rest as it comes.
            Step::Partial {
                message,
                need,
                exact: true,
                ..
            } if may_pass && need > self.cap => {
                let tag = self.unread()[0];
                self.passing_name = message;
                let have = self.unread().len();
                let head = self.consume(have);
                self.passed.extend_from_slice(&head);
                self.passing = (need - have) as u64;
                Ok(Some(Piece::Oversized {
                    tag,
                    length: need as u64,
                }))
            }
            Step::Message(message, len) => {
                let raw = self.consume(len);
                Ok(Some(Piece::Message(message, raw)))
            }
            Step::Partial { .. } => Ok(None),
            Step::Invalid { message, reason } => {
                let error = DecodeError {
                    side: self.side,
                    message,
                    offset: self.offset,
                    reason,
                };
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Walks whatever is left without consuming it, so that `finish` reports
    /// the first problem even if the caller stopped calling `next` early.
    fn finish<M>(&self, mut decode: impl FnMut(&[u8]) -> Step<M>) -> Result<(), DecodeError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        if self.passing > 0 {
            return Err(DecodeError {
                side: self.side,
                message: self.passing_name.to_owned(),
                offset: self.offset,
                reason: format!(
                    "truncated: the stream ended {} bytes before the end of the message",
                    self.passing
                ),
            });
        }
        let mut data = self.unread();
        let mut offset = self.offset;
        while !data.is_empty() {
            let (message, reason) = match decode(data) {
                Step::Message(_, len) => {
                    data = &data[len..];
                    offset += len as u64;
                    continue;
                }
                Step::Partial {
                    message,
                    have,
                    need,
                    exact,
                } => {
                    let at_least = if exact { "" } else { "at least " };
                    let reason = format!(
                        "truncated: the stream ended after {have} of {at_least}{need} bytes"
                    );
                    (message.to_owned(), reason)
                }
                Step::Invalid { message, reason } => (message, reason),
            };
            return Err(DecodeError {
                side: self.side,
                message,
                offset,
                reason,
            });
        }
        Ok(())
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A byte as a reader wants to see it in an error: `'x' (0x78)`, or `0x01`
/// when it is not printable.
fn show_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() {
        format!("'{}' (0x{byte:02x})", byte as char)
    } else {
        format!("0x{byte:02x}")
    }
}

fn unknown_type(tag: u8) -> String {
    format!("message of unknown type {}", show_byte(tag))
}

/// Splits off a tagged frame: Byte1 tag, Int32 length counting itself, body.
fn tagged_frame<M>(
    data: &[u8],
    side: Side,
    name_of: fn(u8) -> Option<&'static str>,
) -> Result<(u8, &[u8], usize), Step<M>> {
    let tag = data[0];
    let Some(name) = name_of(tag) else {
        return Err(Step::Invalid {
            message: unknown_type(tag),
            reason: format!("not a message type the {side} sends"),
        });
    };
    if data.len() < 5 {
        return Err(Step::Partial {
            message: name,
            have: data.len(),
            need: 5,
            exact: false,
        });
    }
    let len = be_u32(&data[1..5]);
    let reason = if (len as i32) < 4 {
        Some(format!("length {} is less than 4", len as i32))
    } else if len > MAX_FRAME_LEN {
        Some(format!("length {len} is over Postgres's 1 GiB limit"))
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(Step::Invalid {
            message: name.to_owned(),
            reason,
        });
    }
    let total = 1 + len as usize;
    if data.len() < total {
        return Err(Step::Partial {
            message: name,
            have: data.len(),
            need: total,
            exact: true,
        });
    }
    Ok((tag, &data[5..total], total))
}

/// Decodes one body, requiring it to hold nothing after the last field.
fn decode_body<M>(
    name: &'static str,
    body: &[u8],
    len: usize,
    decode: impl FnOnce(&mut Reader<'_>) -> Result<M, String>,
) -> Step<M> {
    let mut reader = Reader { body, pos: 0 };
    match decode(&mut reader).and_then(|message| reader.end().map(|()| message)) {
        Ok(message) => Step::Message(message, len),
        Err(reason) => Step::Invalid {
            message: name.to_owned(),
            reason,
        },
    }
}

fn decode_frontend(data: &[u8], startup: bool) -> Step<FrontendMessage> {
    if startup {
        return decode_startup(data);
    }
    match tagged_frame(data, Side::Frontend, frontend_tag_name) {
        Ok((tag, body, len)) => {
            let name = frontend_tag_name(tag).unwrap_or("message");
            decode_body(name, body, len, |r| frontend_body(tag, r))
        }
        Err(step) => step,
    }
}

/// The untagged packets a client sends before (and instead of) a StartupMessage:
/// Int32 length counting itself, Int32 protocol version or request code, body.
fn decode_startup(data: &[u8]) -> Step<FrontendMessage> {
    const PACKET: &str = "startup packet";
    if data.len() < 4 {
        return Step::Partial {
            message: PACKET,
            have: data.len(),
            need: 8,
            exact: false,
        };
    }
    let len = be_u32(&data[..4]) as i32;
    if len < 8 {
        return Step::Invalid {
            message: PACKET.to_owned(),
            reason: format!("length {len} is less than 8"),
        };
    }
    if len as u32 - 4 > MAX_STARTUP_BODY {
        return Step::Invalid {
            message: PACKET.to_owned(),
            reason: format!(
                "length {len} is over Postgres's limit of {MAX_STARTUP_BODY} bytes after the length"
            ),
        };
    }
    let len = len as usize;
    if data.len() < 8 {
        return Step::Partial {
            message: PACKET,
            have: data.len(),
            need: len,
            exact: true,
        };
    }
    let code = be_u32(&data[4..8]) as i32;
    let (major, minor) = (code >> 16, code & 0xffff);
    let name = match code {
        SSL_REQUEST_CODE => "SSLRequest",
        GSSENC_REQUEST_CODE => "GSSENCRequest",
        CANCEL_REQUEST_CODE => "CancelRequest",
        _ if major == 3 => "StartupMessage",
        _ if major == REQUEST_MAJOR => {
            return Step::Invalid {
                message: PACKET.to_owned(),
                reason: format!("unknown request code {major}.{minor}"),
            }
        }
        _ => {
            return Step::Invalid {
                message: "StartupMessage".to_owned(),
                reason: format!("unsupported protocol version {major}.{minor}"),
            }
        }
    };
    if data.len() < len {
        return Step::Partial {
            message: name,
            have: data.len(),
            need: len,
            exact: true,
        };
    }
    decode_body(name, &data[8..len], len, |r| {
        Ok(match code {
            SSL_REQUEST_CODE => FrontendMessage::SSLRequest,
            GSSENC_REQUEST_CODE => FrontendMessage::GSSENCRequest,
            CANCEL_REQUEST_CODE => FrontendMessage::CancelRequest {
                process_id: r.i32(What::Field("process ID"))?,
                secret_key: r.rest(),
            },
            _ => FrontendMessage::StartupMessage {
                protocol: code,
                params: startup_params(r)?,
            },
        })
    })
}

/// Name/value pairs up to the empty name that ends them.
fn startup_params(r: &mut Reader<'_>) -> Result<Vec<(String, String)>, String> {
    let mut params = Vec::new();
    loop {
        if r.remaining() == 0 {
            return Err("the parameter list has no terminating zero byte".to_owned());
        }
        let i = params.len();
        let name = r.cstr(What::Item("name of parameter", i))?;
        if name.is_empty() {
            return Ok(params);
        }
        let value = r.cstr(What::Item("value of parameter", i))?;
        params.push((name, value));
    }
}

fn frontend_tag_name(tag: u8) -> Option<&'static str> {
    Some(match tag {
        b'p' => "PasswordMessage",
        b'Q' => "Query",
        b'P' => "Parse",
        b'B' => "Bind",
        b'D' => "Describe",
        b'E' => "Execute",
        b'C' => "Close",
        b'S' => "Sync",
        b'H' => "Flush",
        b'd' => "CopyData",
        b'c' => "CopyDone",
        b'f' => "CopyFail",
        b'F' => "FunctionCall",
        b'X' => "Terminate",
        _ => return None,
    })
}

fn frontend_body(tag: u8, r: &mut Reader<'_>) -> Result<FrontendMessage, String> {
    use FrontendMessage as F;
    Ok(match tag {
        b'p' => F::PasswordMessage { data: r.rest() },
        b'Q' => F::Query {
            sql: r.cstr(What::Field("query string"))?,
        },
        b'P' => F::Parse {
            statement: r.cstr(What::Field("statement name"))?,
            sql: r.cstr(What::Field("query string"))?,
            param_types: r.list("parameter type", 4, |r, i| {
                r.u32(What::Item("type of parameter", i))
            })?,
        },
        b'B' => F::Bind {
            portal: r.cstr(What::Field("portal name"))?,
            statement: r.cstr(What::Field("statement name"))?,
            param_formats: r.list("parameter format", 2, |r, i| {
                r.i16(What::Item("format of parameter", i))
            })?,
            params: r.list("parameter", 4, |r, i| r.value(What::Item("parameter", i)))?,
            result_formats: r.list("result format", 2, |r, i| {
                r.i16(What::Item("result format", i))
            })?,
        },
        b'D' => F::Describe {
            kind: r.target()?,
            name: r.cstr(What::Field("name"))?,
        },
        b'E' => F::Execute {
            portal: r.cstr(What::Field("portal name"))?,
            max_rows: r.i32(What::Field("row limit"))?,
        },
        b'C' => F::Close {
            kind: r.target()?,
            name: r.cstr(What::Field("name"))?,
        },
        b'S' => F::Sync,
        b'H' => F::Flush,
        b'd' => F::CopyData { data: r.rest() },
        b'c' => F::CopyDone,
        b'f' => F::CopyFail {
            message: r.cstr(What::Field("error message"))?,
        },
        b'F' => F::FunctionCall { body: r.rest() },
        b'X' => F::Terminate,
        _ => return Err(format!("{} is not a client message type", show_byte(tag))),
    })
}

fn decode_backend(data: &[u8], expect_encryption: bool) -> Step<BackendMessage> {
    if expect_encryption {
        return match data[0] {
            b'S' => Step::Message(BackendMessage::EncryptionResponse { accepted: true }, 1),
            b'N' => Step::Message(BackendMessage::EncryptionResponse { accepted: false }, 1),
            other => Step::Invalid {
                message: "EncryptionResponse".to_owned(),
                reason: format!("expected 'S' or 'N', got {}", show_byte(other)),
            },
        };
    }
    match tagged_frame(data, Side::Backend, backend_tag_name) {
        Ok((tag, body, len)) => {
            let name = backend_tag_name(tag).unwrap_or("message");
            decode_body(name, body, len, |r| backend_body(tag, r))
        }
        Err(step) => step,
    }
}

fn backend_tag_name(tag: u8) -> Option<&'static str> {
    Some(match tag {
        b'R' => "Authentication",
        b'S' => "ParameterStatus",
        b'K' => "BackendKeyData",
        b'v' => "NegotiateProtocolVersion",
        b'Z' => "ReadyForQuery",
        b'T' => "RowDescription",
        b'D' => "DataRow",
        b'C' => "CommandComplete",
        b'I' => "EmptyQueryResponse",
        b'E' => "ErrorResponse",
        b'N' => "NoticeResponse",
        b'A' => "NotificationResponse",
        b'1' => "ParseComplete",
        b'2' => "BindComplete",
        b'3' => "CloseComplete",
        b'n' => "NoData",
        b's' => "PortalSuspended",
        b't' => "ParameterDescription",
        b'G' => "CopyInResponse",
        b'H' => "CopyOutResponse",
        b'W' => "CopyBothResponse",
        b'd' => "CopyData",
        b'c' => "CopyDone",
        b'V' => "FunctionCallResponse",
        _ => return None,
    })
}

fn backend_body(tag: u8, r: &mut Reader<'_>) -> Result<BackendMessage, String> {
    use BackendMessage as B;
    Ok(match tag {
        b'R' => B::Authentication {
            code: r.i32(What::Field("authentication code"))?,
            data: r.rest(),
        },
        b'S' => B::ParameterStatus {
            name: r.cstr(What::Field("parameter name"))?,
            value: r.cstr(What::Field("parameter value"))?,
        },
        b'K' => B::BackendKeyData {
            process_id: r.i32(What::Field("process ID"))?,
            secret_key: r.rest(),
        },
        b'v' => {
            let minor = r.i32(What::Field("newest minor version"))?;
            let count = r.i32(What::Field("option count"))?;
            let count =
                usize::try_from(count).map_err(|_| format!("option count {count} is negative"))?;
            let unrecognized =
                r.items(count, "option", 1, |r, i| r.cstr(What::Item("option", i)))?;
            B::NegotiateProtocolVersion {
                minor,
                unrecognized,
            }
        }
        b'Z' => B::ReadyForQuery {
            status: match r.u8(What::Field("transaction status"))? {
                b'I' => TxStatus::Idle,
                b'T' => TxStatus::InTransaction,
                b'E' => TxStatus::Failed,
                other => {
                    return Err(format!(
                        "transaction status {} is not 'I', 'T' or 'E'",
                        show_byte(other)
                    ))
                }
            },
        },
        // A field is at least its name's terminator and 18 bytes of numbers.
        b'T' => B::RowDescription {
            fields: r.list("field", 19, |r, i| {
                Ok(Field {
                    name: r.cstr(What::Item("name of field", i))?,
                    table_oid: r.u32(What::Item("table OID of field", i))?,
                    column: r.i16(What::Item("column number of field", i))?,
                    type_oid: r.u32(What::Item("type OID of field", i))?,
                    type_size: r.i16(What::Item("type size of field", i))?,
                    type_modifier: r.i32(What::Item("type modifier of field", i))?,
                    format: r.i16(What::Item("format of field", i))?,
                })
            })?,
        },
        b'D' => B::DataRow {
            values: r.list("column", 4, |r, i| r.value(What::Item("column", i)))?,
        },
        b'C' => B::CommandComplete {
            tag: r.cstr(What::Field("command tag"))?,
        },
        b'I' => B::EmptyQueryResponse,
        b'E' => B::ErrorResponse {
            fields: notice_fields(r)?,
        },
        b'N' => B::NoticeResponse {
            fields: notice_fields(r)?,
        },
        b'A' => B::NotificationResponse {
            process_id: r.i32(What::Field("process ID"))?,
            channel: r.cstr(What::Field("channel name"))?,
            payload: r.cstr(What::Field("payload"))?,
        },
        b'1' => B::ParseComplete,
        b'2' => B::BindComplete,
        b'3' => B::CloseComplete,
        b'n' => B::NoData,
        b's' => B::PortalSuspended,
        b't' => B::ParameterDescription {
            types: r.list("parameter type", 4, |r, i| {
                r.u32(What::Item("type of parameter", i))
            })?,
        },
        b'G' | b'H' | b'W' => {
            let format = r.u8(What::Field("overall format"))? as i8;
            let column_formats = r.list("column format", 2, |r, i| {
                r.i16(What::Item("format of column", i))
            })?;
            B::copy_response(tag, format, column_formats)
        }
        b'd' => B::CopyData { data: r.rest() },
        b'c' => B::CopyDone,
        b'V' => B::FunctionCallResponse { body: r.rest() },
        _ => return Err(format!("{} is not a server message type", show_byte(tag))),
    })
}

/// ErrorResponse/NoticeResponse fields: a code byte and a string each, up to
/// a zero code byte.
fn notice_fields(r: &mut Reader<'_>) -> Result<Vec<Notice>, String> {
    let mut fields = Vec::new();
    loop {
        if r.remaining() == 0 {
            return Err("the field list has no terminating zero byte".to_owned());
        }
        let code = r.u8(What::Field("field code"))?;
        if code == 0 {
            return Ok(fields);
        }
        fields.push(Notice {
            // Codes are ASCII letters in practice; any other byte maps to the
            // Latin-1 char of the same value so that it encodes back exactly.
            code: char::from(code),
            value: r.cstr(What::NoticeValue(code))?,
        });
    }
}

/// What a field is called in an error.
#[derive(Clone, Copy)]
enum What {
    Field(&'static str),
    /// The n-th (from 0) of a list, shown counted from 1 as Postgres's `$1` is.
    Item(&'static str, usize),
    /// The string of an ErrorResponse/NoticeResponse field, by its code.
    NoticeValue(u8),
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            What::Field(name) => f.write_str(name),
            What::Item(name, i) => write!(f, "{name} {}", i + 1),
            What::NoticeValue(code) => write!(f, "value of field {}", show_byte(code)),
        }
    }
}

/// Reads the fields of one message body; every read checks the bytes are
/// there and errors are reasons for a `DecodeError`.
struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.body.len() - self.pos
    }

    fn take(&mut self, n: usize, what: What) -> Result<&'a [u8], String> {
        if self.remaining() < n {
            return Err(format!("{what} runs past the end of the body"));
        }
        let bytes = &self.body[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn u8(&mut self, what: What) -> Result<u8, String> {
        Ok(self.take(1, what)?[0])
    }

    fn i16(&mut self, what: What) -> Result<i16, String> {
        let b = self.take(2, what)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn u16(&mut self, what: What) -> Result<u16, String> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self, what: What) -> Result<i32, String> {
        Ok(self.u32(what)? as i32)
    }

    fn u32(&mut self, what: What) -> Result<u32, String> {
        Ok(be_u32(self.take(4, what)?))
    }

    fn rest(&mut self) -> Bytes {
        let bytes = &self.body[self.pos..];
        self.pos = self.body.len();
        Bytes::from(bytes)
    }

    fn cstr(&mut self, what: What) -> Result<String, String> {
        let rest = &self.body[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            return Err(format!("{what} has no terminating zero byte"));
        };
        let text =
            std::str::from_utf8(&rest[..len]).map_err(|_| format!("{what} is not valid UTF-8"))?;
        self.pos += len + 1;
        Ok(text.to_owned())
    }

    /// An Int32 length (-1 for NULL) and that many bytes.
    fn value(&mut self, what: What) -> Result<Option<Bytes>, String> {
        if self.remaining() < 4 {
            return Err(format!("length of {what} runs past the end of the body"));
        }
        let len = self.i32(what)?;
        if len == -1 {
            return Ok(None);
        }
        let Ok(n) = usize::try_from(len) else {
            return Err(format!("{what} has length {len}"));
        };
        if n > self.remaining() {
            return Err(format!(
                "{what} has length {len} but only {} bytes remain",
                self.remaining()
            ));
        }
        Ok(Some(Bytes::from(self.take(n, what)?)))
    }

    fn target(&mut self) -> Result<Target, String> {
        match self.u8(What::Field("kind"))? {
            b'S' => Ok(Target::Statement),
            b'P' => Ok(Target::Portal),
            other => Err(format!("kind {} is not 'S' or 'P'", show_byte(other))),
        }
    }

    /// An Int16 count (read unsigned, as Postgres does) and that many items.
    fn list<T>(
        &mut self,
        noun: &'static str,
        min_size: usize,
        read: impl FnMut(&mut Self, usize) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let count = self
            .u16(What::Field(noun))
            .map_err(|_| format!("{noun} count runs past the end of the body"))?;
        self.items(usize::from(count), noun, min_size, read)
    }

    /// `count` items of at least `min_size` bytes each. The count is only
    /// trusted as far as the body can hold that many items.
    fn items<T>(
        &mut self,
        count: usize,
        noun: &'static str,
        min_size: usize,
        mut read: impl FnMut(&mut Self, usize) -> Result<T, String>,
    ) -> Result<Vec<T>, String> {
        let mut items = Vec::with_capacity(count.min(self.remaining() / min_size));
        for i in 0..count {
            if self.remaining() < min_size {
                return Err(format!(
                    "{noun} count {count} runs past the end of the body"
                ));
            }
            items.push(read(self, i)?);
        }
        Ok(items)
    }

    fn end(&self) -> Result<(), String> {
        match self.remaining() {
            0 => Ok(()),
            1 => Err("1 unexpected byte after the last field".to_owned()),
            n => Err(format!("{n} unexpected bytes after the last field")),
        }
    }
}

impl FrontendMessage {
    /// Appends the message's bytes as the client sends them.
    ///
    /// # Panics
    ///
    /// If the message cannot be put on the wire, for any reason [`check`]
    /// gives. Decoded messages never have one.
    ///
    /// [`check`]: FrontendMessage::check
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Err(reason) = self.write(out) {
            panic!("cannot encode {}: {reason}", self.name());
        }
    }

    /// Whether the message can be put on the wire, which one read from an
    /// edited suite may not: a string containing a NUL byte, an empty
    /// StartupMessage parameter name, a list of more than 65535 items, or a
    /// packet over Postgres's size limit. The reason names the field as the
    /// message's JSON form does (`sql`, `params[2]`).
    pub fn check(&self) -> Result<(), String> {
        self.write(&mut Count(0))
    }

    fn write(&self, out: &mut impl Sink) -> Result<(), String> {
        use FrontendMessage as F;
        match self {
            F::SSLRequest => untagged(out, SSL_REQUEST_CODE, |_| Ok(())),
            F::GSSENCRequest => untagged(out, GSSENC_REQUEST_CODE, |_| Ok(())),
            F::CancelRequest {
                process_id,
                secret_key,
            } => untagged(out, CANCEL_REQUEST_CODE, |out| {
                out.put(&process_id.to_be_bytes());
                out.put(secret_key);
                Ok(())
            }),
            F::StartupMessage { protocol, params } => untagged(out, *protocol, |out| {
                for (i, (name, value)) in params.iter().enumerate() {
                    if name.is_empty() {
                        return Err(format!("{} is empty", Key::ItemField("params", i, "name")));
                    }
                    put_cstr(out, Key::ItemField("params", i, "name"), name)?;
                    put_cstr(out, Key::ItemField("params", i, "value"), value)?;
                }
                out.put(&[0]);
                Ok(())
            }),
            F::PasswordMessage { data } => tagged(out, b'p', |out| {
                out.put(data);
                Ok(())
            }),
            F::Query { sql } => tagged(out, b'Q', |out| put_cstr(out, Key::Field("sql"), sql)),
            F::Parse {
                statement,
                sql,
                param_types,
            } => tagged(out, b'P', |out| {
                put_cstr(out, Key::Field("statement"), statement)?;
                put_cstr(out, Key::Field("sql"), sql)?;
                put_count(out, Key::Field("param_types"), param_types.len())?;
                for oid in param_types {
                    out.put(&oid.to_be_bytes());
                }
                Ok(())
            }),
            F::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            } => tagged(out, b'B', |out| {
                put_cstr(out, Key::Field("portal"), portal)?;
                put_cstr(out, Key::Field("statement"), statement)?;
                put_i16s(out, Key::Field("param_formats"), param_formats)?;
                put_count(out, Key::Field("params"), params.len())?;
                for (i, value) in params.iter().enumerate() {
                    put_value(out, Key::Item("params", i), value.as_ref())?;
                }
                put_i16s(out, Key::Field("result_formats"), result_formats)
            }),
            F::Describe { kind, name } => tagged(out, b'D', |out| {
                out.put(&[target_byte(*kind)]);
                put_cstr(out, Key::Field("name"), name)
            }),
            F::Execute { portal, max_rows } => tagged(out, b'E', |out| {
                put_cstr(out, Key::Field("portal"), portal)?;
                out.put(&max_rows.to_be_bytes());
                Ok(())
            }),
            F::Close { kind, name } => tagged(out, b'C', |out| {
                out.put(&[target_byte(*kind)]);
                put_cstr(out, Key::Field("name"), name)
            }),
            F::Sync => tagged(out, b'S', |_| Ok(())),
            F::Flush => tagged(out, b'H', |_| Ok(())),
            F::CopyData { data } => tagged(out, b'd', |out| {
                out.put(data);
                Ok(())
            }),
            F::CopyDone => tagged(out, b'c', |_| Ok(())),
            F::CopyFail { message } => tagged(out, b'f', |out| {
                put_cstr(out, Key::Field("message"), message)
            }),
            F::FunctionCall { body } => tagged(out, b'F', |out| {
                out.put(body);
                Ok(())
            }),
            F::Terminate => tagged(out, b'X', |_| Ok(())),
        }
    }
}

impl BackendMessage {
    /// Appends the message's bytes as the server sends them.
    ///
    /// # Panics
    ///
    /// If the message cannot be put on the wire, for any reason [`check`]
    /// gives. Decoded messages never have one.
    ///
    /// [`check`]: BackendMessage::check
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Err(reason) = self.write(out) {
            panic!("cannot encode {}: {reason}", self.name());
        }
    }

    /// Whether the message can be put on the wire, which one read from an
    /// edited suite may not: a string containing a NUL byte, a notice field
    /// code that is `'\0'` or above U+00FF, a list of more than 65535 items,
    /// or a message over Postgres's 1 GiB limit. The reason names the field
    /// as the message's JSON form does (`tag`, `fields[1].value`).
    pub fn check(&self) -> Result<(), String> {
        self.write(&mut Count(0))
    }

    fn write(&self, out: &mut impl Sink) -> Result<(), String> {
        use BackendMessage as B;
        match self {
            B::EncryptionResponse { accepted } => {
                out.put(&[if *accepted { b'S' } else { b'N' }]);
                Ok(())
            }
            B::Authentication { code, data } => tagged(out, b'R', |out| {
                out.put(&code.to_be_bytes());
                out.put(data);
                Ok(())
            }),
            B::ParameterStatus { name, value } => tagged(out, b'S', |out| {
                put_cstr(out, Key::Field("name"), name)?;
                put_cstr(out, Key::Field("value"), value)
            }),
            B::BackendKeyData {
                process_id,
                secret_key,
            } => tagged(out, b'K', |out| {
                out.put(&process_id.to_be_bytes());
                out.put(secret_key);
                Ok(())
            }),
            B::NegotiateProtocolVersion {
                minor,
                unrecognized,
            } => tagged(out, b'v', |out| {
                out.put(&minor.to_be_bytes());
                let count = i32::try_from(unrecognized.len())
                    .map_err(|_| format!("unrecognized has {} items", unrecognized.len()))?;
                out.put(&count.to_be_bytes());
                for (i, option) in unrecognized.iter().enumerate() {
                    put_cstr(out, Key::Item("unrecognized", i), option)?;
                }
                Ok(())
            }),
            B::ReadyForQuery { status } => tagged(out, b'Z', |out| {
                out.put(&[match status {
                    TxStatus::Idle => b'I',
                    TxStatus::InTransaction => b'T',
                    TxStatus::Failed => b'E',
                }]);
                Ok(())
            }),
            B::RowDescription { fields } => tagged(out, b'T', |out| {
                put_count(out, Key::Field("fields"), fields.len())?;
                for (i, field) in fields.iter().enumerate() {
                    put_cstr(out, Key::ItemField("fields", i, "name"), &field.name)?;
                    out.put(&field.table_oid.to_be_bytes());
                    out.put(&field.column.to_be_bytes());
                    out.put(&field.type_oid.to_be_bytes());
                    out.put(&field.type_size.to_be_bytes());
                    out.put(&field.type_modifier.to_be_bytes());
                    out.put(&field.format.to_be_bytes());
                }
                Ok(())
            }),
            B::DataRow { values } => tagged(out, b'D', |out| {
                put_count(out, Key::Field("values"), values.len())?;
                for (i, value) in values.iter().enumerate() {
                    put_value(out, Key::Item("values", i), value.as_ref())?;
                }
                Ok(())
            }),
            B::CommandComplete { tag } => {
                tagged(out, b'C', |out| put_cstr(out, Key::Field("tag"), tag))
            }
            B::EmptyQueryResponse => tagged(out, b'I', |_| Ok(())),
            B::ErrorResponse { fields } => tagged(out, b'E', |out| put_notice(out, fields)),
            B::NoticeResponse { fields } => tagged(out, b'N', |out| put_notice(out, fields)),
            B::NotificationResponse {
                process_id,
                channel,
                payload,
            } => tagged(out, b'A', |out| {
                out.put(&process_id.to_be_bytes());
                put_cstr(out, Key::Field("channel"), channel)?;
                put_cstr(out, Key::Field("payload"), payload)
            }),
            B::ParseComplete => tagged(out, b'1', |_| Ok(())),
            B::BindComplete => tagged(out, b'2', |_| Ok(())),
            B::CloseComplete => tagged(out, b'3', |_| Ok(())),
            B::NoData => tagged(out, b'n', |_| Ok(())),
            B::PortalSuspended => tagged(out, b's', |_| Ok(())),
            B::ParameterDescription { types } => tagged(out, b't', |out| {
                put_count(out, Key::Field("types"), types.len())?;
                for oid in types {
                    out.put(&oid.to_be_bytes());
                }
                Ok(())
            }),
            B::CopyInResponse {
                format,
                column_formats,
            } => put_copy_response(out, b'G', *format, column_formats),
            B::CopyOutResponse {
                format,
                column_formats,
            } => put_copy_response(out, b'H', *format, column_formats),
            B::CopyBothResponse {
                format,
                column_formats,
            } => put_copy_response(out, b'W', *format, column_formats),
            B::CopyData { data } => tagged(out, b'd', |out| {
                out.put(data);
                Ok(())
            }),
            B::CopyDone => tagged(out, b'c', |_| Ok(())),
            B::FunctionCallResponse { body } => tagged(out, b'V', |out| {
                out.put(body);
                Ok(())
            }),
        }
    }
}

/// Where encoded bytes go: the connection's buffer, or only a count of them
/// when a message is checked, so that checking and encoding follow the same
/// rules and a check allocates nothing.
trait Sink {
    fn len(&self) -> usize;
    fn put(&mut self, bytes: &[u8]);
    /// Fills in the length field reserved at `at`.
    fn set_len(&mut self, at: usize, len: u32);
}

impl Sink for Vec<u8> {
    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }

    fn set_len(&mut self, at: usize, len: u32) {
        self[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// A sink that keeps no bytes, only how many there would be.
struct Count(usize);

impl Sink for Count {
    fn len(&self) -> usize {
        self.0
    }

    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }

    fn set_len(&mut self, _: usize, _: u32) {}
}

/// A field as the message's JSON form names it, for the reasons `check`
/// gives: `tag`, `params[2]`, `fields[0].name` (indices from 0, as in JSON).
#[derive(Clone, Copy)]
enum Key {
    Field(&'static str),
    Item(&'static str, usize),
    ItemField(&'static str, usize, &'static str),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Key::Field(name) => f.write_str(name),
            Key::Item(list, i) => write!(f, "{list}[{i}]"),
            Key::ItemField(list, i, name) => write!(f, "{list}[{i}].{name}"),
        }
    }
}

/// A frame with a tag byte, then the length (counting itself) and the body.
fn tagged<S: Sink>(
    out: &mut S,
    tag: u8,
    body: impl FnOnce(&mut S) -> Result<(), String>,
) -> Result<(), String> {
    out.put(&[tag]);
    length_prefixed(out, MAX_FRAME_LEN, body)
}

/// A startup-phase packet: length, then the protocol version or request code.
fn untagged<S: Sink>(
    out: &mut S,
    code: i32,
    body: impl FnOnce(&mut S) -> Result<(), String>,
) -> Result<(), String> {
    length_prefixed(out, MAX_STARTUP_BODY + 4, |out| {
        out.put(&code.to_be_bytes());
        body(out)
    })
}

/// The length field, counting itself, then the body; the same limits the
/// decoders hold the other side to.
fn length_prefixed<S: Sink>(
    out: &mut S,
    max_len: u32,
    body: impl FnOnce(&mut S) -> Result<(), String>,
) -> Result<(), String> {
    let at = out.len();
    out.put(&[0; 4]);
    body(out)?;
    let len = out.len() - at;
    match u32::try_from(len) {
        Ok(len) if len <= max_len => {
            out.set_len(at, len);
            Ok(())
        }
        _ => Err(format!(
            "the message would be {len} bytes long, over Postgres's limit of {max_len}"
        )),
    }
}

fn put_cstr(out: &mut impl Sink, key: Key, text: &str) -> Result<(), String> {
    if text.as_bytes().contains(&0) {
        return Err(format!("{key} contains a NUL byte"));
    }
    out.put(text.as_bytes());
    out.put(&[0]);
    Ok(())
}

fn put_count(out: &mut impl Sink, key: Key, count: usize) -> Result<(), String> {
    let count = u16::try_from(count)
        .map_err(|_| format!("{key} has {count} items; a message holds at most 65535"))?;
    out.put(&count.to_be_bytes());
    Ok(())
}

fn put_i16s(out: &mut impl Sink, key: Key, values: &[i16]) -> Result<(), String> {
    put_count(out, key, values.len())?;
    for value in values {
        out.put(&value.to_be_bytes());
    }
    Ok(())
}

fn put_value(out: &mut impl Sink, key: Key, value: Option<&Bytes>) -> Result<(), String> {
    match value {
        None => out.put(&(-1i32).to_be_bytes()),
        Some(bytes) => {
            let len = i32::try_from(bytes.len())
                .map_err(|_| format!("{key} is {} bytes long, over 2 GiB", bytes.len()))?;
            out.put(&len.to_be_bytes());
            out.put(bytes);
        }
    }
    Ok(())
}

fn put_notice(out: &mut impl Sink, fields: &[Notice]) -> Result<(), String> {
    for (i, field) in fields.iter().enumerate() {
        // The decoder maps each code byte to the char of the same value.
        let code = u8::try_from(field.code)
            .ok()
            .filter(|&code| code != 0)
            .ok_or_else(|| {
                format!(
                    "{} {:?} is not a single byte from U+0001 to U+00FF",
                    Key::ItemField("fields", i, "code"),
                    field.code
                )
            })?;
        out.put(&[code]);
        put_cstr(out, Key::ItemField("fields", i, "value"), &field.value)?;
    }
    out.put(&[0]);
    Ok(())
}

fn put_copy_response(
    out: &mut impl Sink,
    tag: u8,
    format: i8,
    column_formats: &[i16],
) -> Result<(), String> {
    tagged(out, tag, |out| {
        out.put(&[format as u8]);
        put_i16s(out, Key::Field("column_formats"), column_formats)
    })
}

fn target_byte(target: Target) -> u8 {
    match target {
        Target::Statement => b'S',
        Target::Portal => b'P',
    }
}

pub(crate) fn frontend_name(message: &FrontendMessage) -> &'static str {
    use FrontendMessage as F;
    match message {
        F::SSLRequest => "SSLRequest",
        F::GSSENCRequest => "GSSENCRequest",
        F::CancelRequest { .. } => "CancelRequest",
        F::StartupMessage { .. } => "StartupMessage",
        F::PasswordMessage { .. } => "PasswordMessage",
        F::Query { .. } => "Query",
        F::Parse { .. } => "Parse",
        F::Bind { .. } => "Bind",
        F::Describe { .. } => "Describe",
        F::Execute { .. } => "Execute",
        F::Close { .. } => "Close",
        F::Sync => "Sync",
        F::Flush => "Flush",
        F::CopyData { .. } => "CopyData",
        F::CopyDone => "CopyDone",
        F::CopyFail { .. } => "CopyFail",
        F::FunctionCall { .. } => "FunctionCall",
        F::Terminate => "Terminate",
    }
}

pub(crate) fn backend_name(message: &BackendMessage) -> &'static str {
    use BackendMessage as B;
    match message {
        B::EncryptionResponse { .. } => "EncryptionResponse",
        B::Authentication { .. } => "Authentication",
        B::ParameterStatus { .. } => "ParameterStatus",
        B::BackendKeyData { .. } => "BackendKeyData",
        B::NegotiateProtocolVersion { .. } => "NegotiateProtocolVersion",
        B::ReadyForQuery { .. } => "ReadyForQuery",
        B::RowDescription { .. } => "RowDescription",
        B::DataRow { .. } => "DataRow",
        B::CommandComplete { .. } => "CommandComplete",
        B::EmptyQueryResponse => "EmptyQueryResponse",
        B::ErrorResponse { .. } => "ErrorResponse",
        B::NoticeResponse { .. } => "NoticeResponse",
        B::NotificationResponse { .. } => "NotificationResponse",
        B::ParseComplete => "ParseComplete",
        B::BindComplete => "BindComplete",
        B::CloseComplete => "CloseComplete",
        B::NoData => "NoData",
        B::PortalSuspended => "PortalSuspended",
        B::ParameterDescription { .. } => "ParameterDescription",
        B::CopyInResponse { .. } => "CopyInResponse",
        B::CopyOutResponse { .. } => "CopyOutResponse",
        B::CopyBothResponse { .. } => "CopyBothResponse",
        B::CopyData { .. } => "CopyData",
        B::CopyDone => "CopyDone",
        B::FunctionCallResponse { .. } => "FunctionCallResponse",
    }
}
