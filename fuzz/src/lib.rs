//! What each fuzz target runs on its input, and the invariants it asserts.
//!
//! The targets in `fuzz_targets/` are one line each over these functions, and
//! the stable corpus-replay test (`cli/tests/fuzz_corpora.rs`) includes this
//! file by path, so CI replays every corpus file through exactly the code the
//! fuzzer ran, without a nightly toolchain. This file may therefore use only
//! crates both sides have: `reel-core`, `reel` (its library) and `serde_json`.
//!
//! Every function takes bytes from outside and must never panic; a panic here
//! is either a crash in reel or a broken invariant, both bugs.

use std::path::{Path, PathBuf};

use reel_core::coding;
use reel_core::suite::body::Answer;
use reel_core::suite::load::{parse_case, parse_mocks, parse_suite};
use reel_core::suite::postgres::{is_session_work, normalize_sql};
use reel_core::suite::{to_pretty, BodySpec, JsonLayout, RequestSpec, ResponseSpec};
use reel_core::time::Micros;
use reel_core::wire::mysql::{self, PacketDecoder};
use reel_core::wire::postgres::{
    BackendDecoder, DecodeError, Decoder, FrontendDecoder, FrontendMessage, Grouper, Prepared,
    RequestGroup,
};
use reel_core::wire::redis::{self, CommandDecoder, ReplyDecoder};
use reel_core::wire::Side;

/// What a fuzz target runs on one input.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, for the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("pg_frontend", pg_frontend),
    ("pg_backend", pg_backend),
    ("suite_case", suite_case),
    ("suite_mocks", suite_mocks),
    ("reel_toml", reel_toml),
    ("http_body", http_body),
    ("redis_command", redis_command),
    ("redis_reply", redis_reply),
    ("mysql_packet", mysql_packet),
    ("mysql_conversation", mysql_conversation),
    ("import_traffic", import_traffic),
];

/// The recorder's caps a group may be built with: tiny ones make cutting
/// reachable from small inputs, `usize::MAX` is "no cap".
const CAPS: [usize; 4] = [0, 16, 256, usize::MAX];

/// The first bytes of an input: settings, then where the stream is split.
struct Plan<'a> {
    flags: u8,
    /// Lengths of the chunks the stream arrives in; the rest comes at once.
    chunks: Vec<usize>,
    stream: &'a [u8],
}

/// Byte 0: flags; byte 1: how many chunk lengths follow (0-7), one byte each.
/// Short inputs are all stream, so a raw capture works as a seed too.
fn plan(data: &[u8]) -> Plan<'_> {
    let [flags, n, rest @ ..] = data else {
        return Plan {
            flags: 0,
            chunks: Vec::new(),
            stream: data,
        };
    };
    let n = usize::from(n % 8).min(rest.len());
    Plan {
        flags: *flags,
        chunks: rest[..n].iter().map(|&b| usize::from(b)).collect(),
        stream: &rest[n..],
    }
}

impl Plan<'_> {
    /// The stream cut as the chunk lengths say.
    fn pieces(&self) -> Vec<&[u8]> {
        let mut rest = self.stream;
        let mut out = Vec::new();
        for &len in &self.chunks {
            let (piece, tail) = rest.split_at(len.min(rest.len()));
            out.push(piece);
            rest = tail;
        }
        out.push(rest);
        out
    }

    fn cap(&self) -> usize {
        CAPS[usize::from(self.flags >> 6)]
    }
}

/// How one stream decoded: its messages with their bytes, and how it ended.
struct Decoded<M> {
    messages: Vec<(M, Vec<u8>)>,
    error: Option<DecodeError>,
    finish: Result<(), DecodeError>,
}

/// Feeds `pieces` to `decoder` as a connection would, taking every message
/// after each read, and checks what a decoder promises: offsets advance by
/// each message's length, nothing is lost or invented, a message re-encodes
/// to its exact bytes and survives the JSON a suite stores it as, an error
/// sticks, and `finish` complains exactly when bytes are left over.
fn decode<D: Decoder>(mut decoder: D, pieces: &[&[u8]]) -> Decoded<D::Message> {
    let mut messages = Vec::new();
    let mut error = None;
    let mut pushed = 0u64;
    'read: for piece in pieces {
        decoder.push(piece);
        pushed += piece.len() as u64;
        loop {
            let before = decoder.offset();
            match decoder.next() {
                Ok(Some((message, raw))) => {
                    assert_eq!(decoder.offset(), before + raw.len() as u64);
                    check_message::<D>(&message, &raw);
                    messages.push((message, raw));
                }
                Ok(None) => break,
                Err(e) => {
                    assert_eq!(e.offset, before, "an error names where its message starts");
                    assert_eq!(decoder.next().unwrap_err(), e, "errors stick");
                    error = Some(e);
                    break 'read;
                }
            }
        }
        assert_eq!(decoder.offset() + decoder.buffered() as u64, pushed);
    }
    let finish = decoder.finish();
    if error.is_none() {
        assert_eq!(
            finish.is_err(),
            decoder.buffered() > 0,
            "finish fails exactly when a partial message is left"
        );
    }
    Decoded {
        messages,
        error,
        finish,
    }
}

fn check_message<D: Decoder>(message: &D::Message, raw: &[u8]) {
    assert_eq!(
        D::check(message),
        Ok(()),
        "a decoded message can be encoded"
    );
    let mut again = Vec::new();
    D::encode(message, &mut again);
    assert_eq!(
        again, raw,
        "{message:?} re-encodes to the bytes it came from"
    );
    let json = serde_json::to_string(message).expect("a message serializes");
    let back: D::Message = serde_json::from_str(&json).expect("its JSON reads back");
    assert_eq!(&back, message, "JSON round trip of {json}");
}

/// Chunked and whole decoding must agree: resumption loses nothing.
fn same_as_whole<D: Decoder>(chunked: &Decoded<D::Message>, whole: Decoded<D::Message>) {
    assert_eq!(chunked.messages, whole.messages);
    assert_eq!(chunked.error, whole.error);
    assert_eq!(chunked.finish, whole.finish);
}

/// A group as the recorder stores it: its kept bytes are its kept messages
/// unless something was cut, and its sizes count at least what it kept.
fn check_group(group: &RequestGroup) {
    if !group.request_cut {
        let mut raw = Vec::new();
        for m in &group.requests {
            m.encode(&mut raw);
        }
        assert_eq!(raw, group.request_raw);
        assert_eq!(group.request_size, raw.len() as u64);
    }
    if !group.response_cut {
        let mut raw = Vec::new();
        for m in &group.responses {
            m.encode(&mut raw);
        }
        assert_eq!(raw, group.response_raw);
        assert_eq!(group.response_size, raw.len() as u64);
    }
    assert!(group.request_size >= group.request_raw.len() as u64);
    assert!(group.response_size >= group.response_raw.len() as u64);
    let _ = group.sql();
    let stored = serde_json::json!({
        "requests": group.requests,
        "responses": group.responses,
    });
    let _ = stored.to_string();
}

/// A StartupMessage a client sends first, for inputs that start after it.
fn startup_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    FrontendMessage::StartupMessage {
        protocol: 196_608,
        params: vec![("user".into(), "app".into())],
    }
    .encode(&mut out);
    out
}

/// What the client sends, as the recorder reads it: the startup phase
/// (flag bit 0 clear) or the normal phase after a StartupMessage, decoded in
/// the chunks the input chooses, grouped with the recorder's cap, followed
/// by statement and portal names as the generator and the mock do.
pub fn pg_frontend(data: &[u8]) {
    let plan = plan(data);
    let mut pieces = plan.pieces();
    let startup = startup_bytes();
    if plan.flags & 1 == 1 {
        pieces.insert(0, &startup);
    }
    let chunked = decode(FrontendDecoder::new(), &pieces);
    let whole: Vec<u8> = pieces.concat();
    same_as_whole::<FrontendDecoder>(&chunked, decode(FrontendDecoder::new(), &[&whole]));

    let mut grouper = Grouper::with_cap(plan.cap());
    let mut prepared = Prepared::default();
    let mut groups = Vec::new();
    for (i, (message, raw)) in chunked.messages.into_iter().enumerate() {
        let _ = prepared.follow(&message);
        groups.extend(grouper.client(message, &raw, Micros(i as i64)));
    }
    let _ = grouper.idle();
    groups.extend(grouper.finish(Micros(0)));
    groups.iter().for_each(check_group);
}

/// What the server sends, as the recorder reads it: optionally (flag bit 0)
/// the one-byte answer to an encryption request first, decoded in the chunks
/// the input chooses, then grouped after a request the flags choose (none: an
/// idle connection's notices; a simple Query; an extended Parse/Bind/Execute
/// with Sync) with the recorder's cap.
pub fn pg_backend(data: &[u8]) {
    let plan = plan(data);
    let pieces = plan.pieces();
    let new = || {
        let mut d = BackendDecoder::new();
        if plan.flags & 1 == 1 {
            d.expect_encryption_response();
        }
        d
    };
    let chunked = decode(new(), &pieces);
    same_as_whole::<BackendDecoder>(&chunked, decode(new(), &[&pieces.concat()]));

    let mut grouper = Grouper::with_cap(plan.cap());
    let request: Vec<FrontendMessage> = match (plan.flags >> 1) % 3 {
        0 => Vec::new(),
        1 => vec![FrontendMessage::Query {
            sql: "select 1".into(),
        }],
        _ => vec![
            FrontendMessage::Parse {
                statement: String::new(),
                sql: "select $1".into(),
                param_types: vec![],
            },
            FrontendMessage::Bind {
                portal: String::new(),
                statement: String::new(),
                param_formats: vec![],
                params: vec![Some(b"1".to_vec().into())],
                result_formats: vec![],
            },
            FrontendMessage::Execute {
                portal: String::new(),
                max_rows: 0,
            },
            FrontendMessage::Sync,
        ],
    };
    let mut groups = Vec::new();
    for m in request {
        let mut raw = Vec::new();
        m.encode(&mut raw);
        groups.extend(grouper.client(m, &raw, Micros(0)));
    }
    for (i, (message, raw)) in chunked.messages.into_iter().enumerate() {
        groups.extend(grouper.server(message, &raw, Micros(i as i64)));
    }
    let _ = grouper.idle();
    groups.extend(grouper.finish(Micros(0)));
    groups.iter().for_each(check_group);
}

/// Where the suite targets pretend their text came from: errors name it.
const CASE_PATH: &str = "suite/cases/0001-fuzz.json";
const MOCKS_PATH: &str = "suite/mocks/0001-fuzz.jsonl";

/// A case file as `reel test` loads it (also read as a `suite.json`, the
/// other JSON document of a suite folder), then what replay does with a
/// loaded case: the request's bytes to send, the expected answer's bytes and
/// codings. What loads must also load again from the form reel writes it in
/// (`reel review` and loosening rewrite case files).
pub fn suite_case(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new(CASE_PATH);
    if let Ok(suite) = parse_suite(Path::new("suite/suite.json"), text) {
        let again = to_pretty(&suite);
        parse_suite(Path::new("suite/suite.json"), &again)
            .unwrap_or_else(|e| panic!("a suite.json reel writes loads again: {e}\n{again}"));
    }
    let Ok(case) = parse_case(path, text) else {
        return;
    };
    use_http(&case.request, &case.response);
    let again = to_pretty(&case);
    let reloaded = parse_case(path, &again)
        .unwrap_or_else(|e| panic!("a case reel writes loads again: {e}\n{again}"));
    assert_eq!(
        to_pretty(&reloaded),
        again,
        "writing a loaded case is stable"
    );
}

/// A mocks file (JSON lines, HTTP, Postgres and Redis) as the mock server
/// loads it, then what the mock does with each line: the HTTP answer's
/// bytes, encoded again with its codings; the Postgres request and answer
/// messages put on the wire; the SQL it matches and reports by; the Redis
/// replies and pushes put on the wire and the arguments matched. What loads must load again
/// from the form `generate` writes it in.
pub fn suite_mocks(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new(MOCKS_PATH);
    let Ok(lines) = parse_mocks(path, text) else {
        return;
    };
    let mut written = String::new();
    for mock in &lines.http {
        use_http(&mock.request, &mock.response);
        written.push_str(&serde_json::to_string(mock).expect("a mock serializes"));
        written.push('\n');
    }
    for mock in &lines.postgres {
        let mut wire = Vec::new();
        for r in &mock.request {
            r.message.encode(&mut wire);
        }
        for m in &mock.response {
            m.encode(&mut wire);
        }
        if let Some(sql) = mock.sql() {
            let _ = is_session_work(&normalize_sql(sql));
        }
        let _ = mock.is_housekeeping();
        written.push_str(&serde_json::to_string(mock).expect("a mock serializes"));
        written.push('\n');
    }
    for mock in &lines.redis {
        // What the mock sends: every reply and push goes on the wire.
        let mut wire = Vec::new();
        for f in mock.replies.iter().chain(&mock.pushes) {
            redis::encode_reply(f, &mut wire).expect("a loaded Redis line's frames can be sent");
        }
        // What the mock matches: a recorded argument accepts itself.
        for a in &mock.cmd {
            if !reel_core::suite::redis::holds_matcher(a) {
                assert!(reel_core::suite::redis::arg_matches(a, a));
            }
        }
        let _ = reel_core::suite::redis::is_housekeeping(&mock.cmd);
        let _ = mock.describe();
        written.push_str(&serde_json::to_string(mock).expect("a mock serializes"));
        written.push('\n');
    }
    for mock in &lines.mysql {
        // What the mock sends: a loaded line's answer writes, under either
        // end-of-rows convention.
        for capabilities in [
            mysql::caps::PROTOCOL_41,
            mysql::caps::PROTOCOL_41 | mysql::caps::DEPRECATE_EOF,
        ] {
            let enc = mysql::Encoding {
                capabilities,
                extended_types: false,
            };
            if mock.cmd != "connect" {
                mysql::encode_answer(&mock.answer, mock.rows_as(), Some(1), enc)
                    .expect("a loaded MySQL line's answer writes");
            }
        }
        let _ = mock.is_housekeeping();
        let _ = mock.describe();
        let _ = mock.leaves_transaction_open();
        written.push_str(&serde_json::to_string(mock).expect("a mock serializes"));
        written.push('\n');
    }
    let reloaded = parse_mocks(path, &written)
        .unwrap_or_else(|e| panic!("mocks reel writes load again: {e}\n{written}"));
    assert_eq!(reloaded.http.len(), lines.http.len());
    assert_eq!(reloaded.postgres, lines.postgres);
    assert_eq!(reloaded.redis, lines.redis);
    assert_eq!(reloaded.mysql, lines.mysql);
}

/// What replay does with a loaded exchange: builds the request it sends and
/// the answer a mock sends, encoded with the answer's codings.
fn use_http(request: &RequestSpec, response: &ResponseSpec) {
    let _ = request.body.as_ref().map(BodySpec::to_bytes);
    if !matches!(response.body, Some(BodySpec::Matcher(_))) {
        let _ = response.wire_body();
    }
    if let Some(body) = &response.body {
        let _ = body.lines_of();
    }
}

/// A reel.toml as `reel` reads it: parsed, checked, paths resolved, then laid
/// under the flags of every command (`reel config`'s view, which merges into
/// the typed arguments of record, generate and test) and its redaction rules
/// compiled.
pub fn reel_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = reel::config::Config::from_text(PathBuf::from("project/reel.toml"), text) else {
        return;
    };
    let _ = reel::config::merge::show(&cfg);
    let _ = cfg.secret_rules();
    if let Some(r) = &cfg.file.test.report {
        let _ = r.to_reports();
    }
}

/// Content types a body may come with: bits 0-2 of the first byte.
const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/json"),
    Some("text/plain; charset=utf-8"),
    Some("application/x-ndjson"),
    Some("application/json-seq"),
    Some("application/octet-stream"),
    Some("application/problem+json"),
    Some("text/html"),
];

/// Content-Encoding values: bits 3-5 of the first byte.
const ENCODINGS: [Option<&str>; 8] = [
    None,
    Some("gzip"),
    Some("deflate"),
    Some("br"),
    Some("zstd"),
    Some("gzip, br"),
    Some("identity"),
    Some("x-unknown"),
];

/// A recorded HTTP body as `generate` turns it into a suite's form: a
/// request body (kept faithful, with the JSON layout that gives its bytes
/// back) and an answer (decoded from its Content-Encoding, within the decoded
/// size cap, and encoded again for a mock). Byte 0 picks the content type
/// (bits 0-2), the coding (bits 3-5) and whether the body was cut at the
/// recording cap (bit 6); the rest is the body.
pub fn http_body(data: &[u8]) {
    let [flags, body @ ..] = data else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(flags & 7)];
    let encoding = ENCODINGS[usize::from((flags >> 3) & 7)];
    let truncated = flags & 0x40 != 0;

    if let Some(spec) = BodySpec::from_bytes(body, content_type, false) {
        if matches!(content_type, None | Some("text/plain; charset=utf-8"))
            || content_type == Some("application/octet-stream")
        {
            assert_eq!(spec.to_bytes(), body, "a request body is kept faithfully");
        }
        if let BodySpec::Json(v) = &spec {
            if let Some(layout) = JsonLayout::of(v, body) {
                assert_eq!(layout.write(v), body, "{layout:?} writes the body back");
            }
        }
    }

    let mut headers = Vec::new();
    if let Some(t) = content_type {
        headers.push(("content-type".to_owned(), t.to_owned()));
    }
    if let Some(e) = encoding {
        headers.push(("content-encoding".to_owned(), e.to_owned()));
    }
    let answer = Answer::of(&headers, body, truncated);
    let Some(spec) = &answer.body else {
        return;
    };
    let decoded = spec.to_bytes();
    // The round trip does not depend on size, and encoding a bomb's 1 MiB
    // again (brotli at the quality mocks use) would be most of the run.
    let (Some(codings), true) = (answer.encoding.as_deref(), decoded.len() <= 64 << 10) else {
        return;
    };
    // What a mock sends must decode to what the suite shows.
    let codings = coding::parse_list(codings).expect("reel reads the codings it wrote");
    let wire = coding::encode(&decoded, &codings).expect("encoding into memory");
    assert_eq!(coding::decode(&wire, &codings).ok(), Some(decoded));
}

/// What a Redis decoder promises, whatever the bytes and however they
/// arrive: each command or frame's `raw` is the stream's bytes at its
/// offset (cut at the cap), offsets only grow, replies follow each other
/// with no gap, a frame not cut re-encodes to its exact bytes and survives
/// its JSON, a cut one keeps at most the cap, the input held is at most a
/// line, and an error sticks.
fn redis_stream<T: std::fmt::Debug>(
    data: &[u8],
    mut push: impl FnMut(&[u8]),
    mut next: impl FnMut() -> Result<Option<redis::Decoded<T>>, DecodeError>,
    buffered: impl Fn() -> usize,
    max_line: usize,
    contiguous: bool,
    mut check: impl FnMut(&redis::Decoded<T>, usize),
) {
    let p = plan(data);
    let cap = p.cap();
    let mut end = 0u64;
    for piece in p.pieces() {
        push(piece);
        loop {
            match next() {
                Ok(Some(d)) => {
                    assert!(d.offset >= end, "offsets only grow");
                    if contiguous {
                        assert_eq!(d.offset, end, "frames follow each other");
                    }
                    let at = d.offset as usize;
                    let shown = (d.size as usize).min(cap);
                    assert_eq!(d.raw.len(), shown);
                    assert_eq!(&d.raw[..], &p.stream[at..at + shown]);
                    if d.size as usize > cap {
                        assert!(d.cut, "a frame over the cap is flagged");
                    }
                    check(&d, cap);
                    end = d.offset + d.size;
                }
                Ok(None) => {
                    assert!(buffered() <= max_line + 2, "holds {} bytes", buffered());
                    break;
                }
                Err(e) => {
                    let again = next().unwrap_err();
                    assert_eq!(again, e, "errors stick");
                    return;
                }
            }
        }
    }
}

/// Bytes a top-level frame keeps inside aggregates and attributes.
fn held_in_aggregates(f: &redis::Frame) -> usize {
    use redis::Frame::*;
    match f {
        Array(_) | Set(_) | Push(_) | Map(_) => kept(f),
        Attributed { attributes, frame } => {
            attributes
                .iter()
                .map(|(k, v)| kept(k) + kept(v))
                .sum::<usize>()
                + held_in_aggregates(frame)
        }
        _ => 0,
    }
}

/// Bytes kept of a frame's strings, to check a cut frame keeps at most the cap.
fn kept(f: &redis::Frame) -> usize {
    use redis::Frame::*;
    match f {
        Simple(b) | Error(b) | Bulk(b) | BulkError(b) => b.len(),
        Verbatim { text, .. } => text.len() + 4,
        Double(t) | BigNumber(t) => t.len(),
        Array(v) | Set(v) | Push(v) => v.iter().map(kept).sum(),
        Map(v) => v.iter().map(|(k, v)| kept(k) + kept(v)).sum(),
        Attributed { attributes, frame } => {
            attributes
                .iter()
                .map(|(k, v)| kept(k) + kept(v))
                .sum::<usize>()
                + kept(frame)
        }
        _ => 0,
    }
}

/// MySQL's packet layer on either side's stream (flag bit 0 picks it), cut
/// into the input's chunks, with one of the caps: payloads follow each
/// other with no gap from byte 0; each one's raw bytes are the stream's at
/// its offset, cut at the cap, and its bytes what those packets carry; one
/// not cut, written again, gives its raw bytes back; chunked and whole
/// decoding agree; an error sticks; `finish` fails exactly when a packet is
/// left open. A payload that reads as a server greeting or a client's
/// handshake answer writes back to its bytes (a greeting also with TLS and
/// compression withdrawn); OK, ERR and EOF read without a panic.
pub fn mysql_packet(data: &[u8]) {
    let plan = plan(data);
    let side = match plan.flags & 1 {
        0 => Side::Frontend,
        _ => Side::Backend,
    };
    let cap = plan.cap();
    let run = |pieces: &[&[u8]]| {
        let mut d = PacketDecoder::new(side, cap);
        let mut got = Vec::new();
        let mut error = None;
        for piece in pieces {
            d.push(piece);
            loop {
                match d.next() {
                    Ok(Some(p)) => got.push(p),
                    Ok(None) => break,
                    Err(e) => {
                        if let Some(before) = &error {
                            assert_eq!(&e, before, "an error sticks");
                        }
                        error = Some(e);
                        break;
                    }
                }
            }
        }
        (got, error, d.finish(), d.idle())
    };
    let stream = plan.stream;
    let (got, error, finish, idle) = run(&plan.pieces());
    let mut at = 0u64;
    for p in &got {
        assert_eq!(p.offset, at, "payloads follow each other");
        let end = (at + p.size) as usize;
        assert!(end <= stream.len(), "a payload ends past the stream");
        let raw = &stream[at as usize..end];
        assert_eq!(&p.raw_within(cap)[..], &raw[..raw.len().min(cap)]);
        assert_eq!(p.cut, raw.len() > cap);
        assert_eq!(p.size, p.len + 4 * u64::from(p.packets));
        assert!(p.bytes.len() <= cap && p.bytes.len() as u64 <= p.len);
        if !p.cut {
            let mut again = Vec::new();
            mysql::encode_payload(p.seq, &p.bytes, &mut again);
            assert_eq!(again, raw, "written again, a payload is its bytes");
            // A payload that reads as a command writes back the same.
            if let Ok(c) = mysql::Command::parse(&p.bytes) {
                let mut again = Vec::new();
                c.encode(&mut again);
                assert_eq!(again, p.bytes, "a command writes back as read");
            }
            // Read as a generic answer under either capability set, an OK
            // or ERR says no more than its bytes did.
            for agreed in [0, u32::MAX] {
                if let Ok(mysql::Generic::Ok(o)) = mysql::Generic::parse(&p.bytes, agreed) {
                    assert!(o.info.len() < p.bytes.len());
                }
                if let Ok(mysql::Generic::Err(e)) = mysql::Generic::parse(&p.bytes, agreed) {
                    assert!(e.message.len() + 3 <= p.bytes.len());
                }
            }
            // A payload that reads as a client's handshake answer writes
            // back the same.
            if let Ok(h) = mysql::ClientHello::parse(&p.bytes) {
                let mut again = Vec::new();
                h.encode(&mut again);
                assert_eq!(again, p.bytes, "a handshake answer writes back as read");
            }
            // A payload that reads as a greeting writes back the same, and
            // withdrawing capabilities changes them alone.
            if let Ok(mut g) = mysql::Greeting::parse(&p.bytes) {
                let mut again = Vec::new();
                g.encode(&mut again);
                assert_eq!(again, p.bytes, "a greeting writes back as read");
                let offered = g.capabilities;
                g.withdraw(mysql::caps::SSL | mysql::caps::COMPRESS);
                assert_eq!(
                    g.capabilities,
                    offered & !(mysql::caps::SSL | mysql::caps::COMPRESS)
                );
                let mut forwarded = Vec::new();
                g.encode(&mut forwarded);
                assert_eq!(forwarded.len(), p.bytes.len());
                assert_eq!(mysql::Greeting::parse(&forwarded).as_ref(), Ok(&g));
            }
        }
        at += p.size;
    }
    match &error {
        Some(e) => {
            assert!(e.offset >= at, "an error lies past what was read");
            assert_eq!(finish.as_ref(), Err(e), "finish repeats the error");
        }
        None => {
            assert_eq!(
                finish.is_ok(),
                at == stream.len() as u64,
                "finish fails exactly when bytes are left"
            );
            assert_eq!(idle, finish.is_ok());
        }
    }
    let (whole, whole_error, _, _) = run(&[stream]);
    assert_eq!(whole, got, "chunked and whole decoding agree");
    assert_eq!(whole_error, error);
}

/// The Redis command decoder on a client's stream (see [`redis_stream`]).
pub fn redis_command(data: &[u8]) {
    let d = std::cell::RefCell::new(CommandDecoder::with_cap(plan(data).cap()));
    redis_stream(
        data,
        |b| d.borrow_mut().push(b),
        || d.borrow_mut().next(),
        || d.borrow().buffered(),
        redis::MAX_INLINE,
        false,
        |c, cap| {
            assert!(
                c.cut || !c.value.args.is_empty(),
                "an empty command is none"
            );
            if c.cut {
                let k: usize = c.value.args.iter().map(|a| a.len()).sum();
                assert!(k <= cap, "a cut command keeps {k} bytes over the cap {cap}");
            } else {
                // Sent again, it reads the same (its bytes may differ: an
                // inline line, a count written `*+2`).
                let mut again = Vec::new();
                redis::encode_command(&c.value, &mut again);
                let mut d = CommandDecoder::new();
                d.push(&again);
                let back = d.next().expect("re-encoded").expect("whole");
                assert_eq!(back.value.args, c.value.args);
                assert_eq!(back.raw, again);
            }
            let json = serde_json::to_string(&c.value).expect("serializes");
            let back: redis::Command = serde_json::from_str(&json).expect("its JSON loads");
            assert_eq!(back, c.value);
        },
    );
}

/// The Redis reply decoder on a server's stream (see [`redis_stream`]).
pub fn redis_reply(data: &[u8]) {
    let d = std::cell::RefCell::new(ReplyDecoder::with_cap(plan(data).cap()));
    redis_stream(
        data,
        |b| d.borrow_mut().push(b),
        || d.borrow_mut().next(),
        || d.borrow().buffered(),
        1 << 20,
        true,
        |f, cap| {
            if f.cut {
                // A top-level value is returned whatever the cap: a line
                // (at most 1 MiB) is kept whole, so only what aggregates
                // and attributes hold counts against the cap.
                assert!(
                    held_in_aggregates(&f.value) <= cap + 4,
                    "a cut frame keeps at most the cap"
                );
                return;
            }
            // Sent again, it reads the same (its bytes may differ: streamed
            // in parts, an integer written `:+1`).
            let mut again = Vec::new();
            if let Err(e) = redis::encode_reply(&f.value, &mut again) {
                panic!("a decoded frame does not encode: {e}");
            }
            let mut d = ReplyDecoder::new();
            d.push(&again);
            let back = d.next().expect("re-encoded").expect("whole");
            assert_eq!(back.value, f.value);
            assert_eq!(back.raw, again);
            d.finish().expect("one frame");
            let json = serde_json::to_string(&f.value).expect("serializes");
            let back: redis::Frame = serde_json::from_str(&json).expect("its JSON loads");
            assert_eq!(back, f.value);
        },
    );
}

/// One MySQL connection as the recorder reads it: the input is what the two
/// sides sent, read by read (a byte whose top bit names the side, the
/// read's length in its low bits and the next byte, then its bytes), each
/// side through its packet decoder into a [`mysql::Conversation`], with
/// one of the caps and `--redact` or not (flag bits of byte 0). Whatever
/// the bytes, nothing panics; every exchange stored keeps within the cap
/// raw and holds no more rows than it counted; an answer that reads whole
/// writes back without a panic; after an error nothing more is taken; and
/// the exchanges still waiting come out at the end, leaving it idle.
pub fn mysql_conversation(data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let cap = CAPS[usize::from(flags >> 6)];
    let mut conv = mysql::Conversation::new(cap, flags & 1 != 0);
    let mut client = PacketDecoder::new(Side::Frontend, cap);
    let mut server = PacketDecoder::new(Side::Backend, cap);
    let mut turns = Vec::new();
    'feed: while let [head, lo, tail @ ..] = rest {
        let side = match head & 0x80 {
            0 => Side::Frontend,
            _ => Side::Backend,
        };
        let len = (usize::from(head & 0x7f) << 8 | usize::from(*lo)).min(tail.len());
        let (read, after) = tail.split_at(len);
        rest = after;
        let d = match side {
            Side::Frontend => &mut client,
            Side::Backend => &mut server,
        };
        d.push(read);
        loop {
            let p = match d.next() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(_) => break 'feed,
            };
            let now = reel_core::time::Micros(0);
            let done = match side {
                Side::Frontend => conv.client(&p, now),
                Side::Backend => conv.server(&p, now),
            };
            match done {
                Ok(done) => turns.extend(done),
                Err(_) => break 'feed,
            }
        }
    }
    turns.extend(conv.finish());
    assert!(conv.idle(), "nothing waits once finished");
    let enc = conv.encoding();
    for t in &turns {
        assert!(t.request_raw.len() <= cap && t.answer_raw.len() <= cap);
        assert!(t.request_size >= t.request_raw.len() as u64);
        assert!(t.answer_size >= t.answer_raw.len() as u64);
        let answer = t.answer.to_map();
        for r in answer
            .get("results")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
        {
            let held = r.get("rows").and_then(|r| r.as_array()).map_or(0, Vec::len);
            if let Some(total) = r.get("rows_total").and_then(|t| t.as_u64()) {
                assert!(held as u64 <= total, "no more rows held than counted");
            }
        }
        let rows = match t.request.get("command").and_then(|c| c.as_str()) {
            Some("COM_STMT_EXECUTE") => mysql::Rows::Binary,
            Some("COM_STMT_FETCH") => mysql::Rows::Fetch,
            _ => mysql::Rows::Text,
        };
        if t.answered && !t.answer_cut {
            let _ = mysql::encode_answer(&answer, rows, None, enc);
        }
        // What is stored serialises.
        serde_json::to_string(&t.request).expect("a request serialises");
        serde_json::to_string(&t.answer).expect("an answer serialises");
    }
}

/// The Keploy test a mocks file is read beside when the input names none.
const KEPLOY_TEST: &str = "kind: Http
name: test-1
spec:
  req: {method: GET, url: 'http://localhost:8080/books', header: {}, body: ''}
  resp: {status_code: 200, header: {}, body: ok}
  created: 1796029200
";

/// What `reel import` reads from another tool. Byte 0 even: the rest is a
/// HAR file for `har::read` (bit 1: with `--app-host localhost:8080`).
/// Odd: a Keploy test set, its test file and `mocks.yaml` split at the
/// first line `--- mocks` (without one, all of it is the mocks file, beside
/// a test of a GET to the app). Asserts: exchanges come in order of their
/// start, numbered from 1; every dependency has calls; a Postgres
/// exchange's stored bytes are exactly its stored messages, on each side;
/// the session's setup can be written.
pub fn import_traffic(data: &[u8]) {
    use reel_core::keploy::{read_sets, TestSet};
    use reel_core::model::{Payload, Protocol};
    use reel_core::wire::postgres::BackendMessage;
    let [flag, rest @ ..] = data else {
        return;
    };
    let imported = if flag & 1 == 0 {
        let host = (flag & 2 != 0).then_some("localhost:8080");
        reel_core::har::read(rest, host).ok()
    } else {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        let (tests, mocks) = text
            .split_once("\n--- mocks\n")
            .unwrap_or((KEPLOY_TEST, text));
        let set = TestSet {
            tests: vec![(PathBuf::from("tests/test-1.yaml"), tests.to_owned())],
            mocks: Some((PathBuf::from("mocks.yaml"), mocks.to_owned())),
        };
        read_sets(Path::new(""), &[set]).ok()
    };
    let Some(imported) = imported else {
        return;
    };
    let _ = imported.setup("fuzz", Path::new("input"));
    for (i, x) in imported.exchanges.iter().enumerate() {
        assert_eq!(x.seq, i as i64 + 1, "exchanges are numbered in order");
        if i > 0 {
            assert!(imported.exchanges[i - 1].started_at <= x.started_at);
        }
    }
    for d in &imported.dependencies {
        assert!(
            imported
                .exchanges
                .iter()
                .any(|x| x.dependency.as_deref() == Some(d.name.as_str())),
            "dependency {} has no calls",
            d.name
        );
    }
    fn messages<M: serde::de::DeserializeOwned>(p: &Payload) -> (Vec<M>, Vec<u8>) {
        let Payload::Wire { decoded, raw } = p else {
            panic!("a Postgres exchange holds wire messages");
        };
        let v = decoded.value();
        let ms = serde_json::from_value(v["messages"].clone()).expect("stored messages load");
        (ms, raw.bytes.clone())
    }
    for x in imported
        .exchanges
        .iter()
        .filter(|x| x.protocol == Protocol::Postgres)
    {
        let (sent, raw): (Vec<FrontendMessage>, _) = messages(&x.request);
        let mut again = Vec::new();
        sent.iter().for_each(|m| m.encode(&mut again));
        assert_eq!(again, raw, "a request's bytes are its messages");
        if let Some(answer) = &x.response {
            let (got, raw): (Vec<BackendMessage>, _) = messages(answer);
            let mut again = Vec::new();
            got.iter().for_each(|m| m.encode(&mut again));
            assert_eq!(again, raw, "an answer's bytes are its messages");
        }
    }
}
