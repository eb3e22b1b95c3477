//! Tests of the Postgres codec: property tests of the round trips through
//! bytes and JSON and of decoding arbitrary bytes, then frames shaped like real
//! psql/libpq and server traffic, malformed ones with the exact error a user
//! would read.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::Union;

use super::*;

// ---------------------------------------------------------------------------
// Strategies

/// A string Postgres can carry: anything but a zero byte.
fn text() -> impl Strategy<Value = String> + Clone {
    "[^\\x00]{0,12}"
}

/// Raw bytes and printable text, so both JSON forms of `Bytes` are exercised.
fn bytes() -> impl Strategy<Value = Bytes> + Clone {
    prop_oneof![
        vec(any::<u8>(), 0..24).prop_map(Bytes),
        text().prop_map(|s| Bytes(s.into_bytes())),
    ]
}

fn target() -> impl Strategy<Value = Target> + Clone {
    prop_oneof![Just(Target::Statement), Just(Target::Portal)]
}

/// Messages of the startup phase that keep the decoder in it.
fn pre_startup() -> BoxedStrategy<FrontendMessage> {
    Union::new(vec![
        Just(FrontendMessage::SSLRequest).boxed(),
        Just(FrontendMessage::GSSENCRequest).boxed(),
        (any::<i32>(), bytes())
            .prop_map(|(process_id, secret_key)| FrontendMessage::CancelRequest {
                process_id,
                secret_key,
            })
            .boxed(),
    ])
    .boxed()
}

fn startup_message() -> BoxedStrategy<FrontendMessage> {
    (0..=0xffff_i32, vec(("[^\\x00]{1,8}", text()), 0..6))
        .prop_map(|(minor, params)| FrontendMessage::StartupMessage {
            protocol: PROTOCOL_V3 | minor,
            params,
        })
        .boxed()
}

fn tagged_frontend() -> BoxedStrategy<FrontendMessage> {
    use FrontendMessage as F;
    Union::new(vec![
        bytes().prop_map(|data| F::PasswordMessage { data }).boxed(),
        text().prop_map(|sql| F::Query { sql }).boxed(),
        (text(), text(), vec(any::<u32>(), 0..4))
            .prop_map(|(statement, sql, param_types)| F::Parse {
                statement,
                sql,
                param_types,
            })
            .boxed(),
        (
            text(),
            text(),
            vec(any::<i16>(), 0..4),
            vec(option::of(bytes()), 0..5),
            vec(any::<i16>(), 0..4),
        )
            .prop_map(
                |(portal, statement, param_formats, params, result_formats)| F::Bind {
                    portal,
                    statement,
                    param_formats,
                    params,
                    result_formats,
                },
            )
            .boxed(),
        (target(), text())
            .prop_map(|(kind, name)| F::Describe { kind, name })
            .boxed(),
        (text(), any::<i32>())
            .prop_map(|(portal, max_rows)| F::Execute { portal, max_rows })
            .boxed(),
        (target(), text())
            .prop_map(|(kind, name)| F::Close { kind, name })
            .boxed(),
        Just(F::Sync).boxed(),
        Just(F::Flush).boxed(),
        bytes().prop_map(|data| F::CopyData { data }).boxed(),
        Just(F::CopyDone).boxed(),
        text().prop_map(|message| F::CopyFail { message }).boxed(),
        bytes().prop_map(|body| F::FunctionCall { body }).boxed(),
        Just(F::Terminate).boxed(),
    ])
    .boxed()
}

fn frontend_message() -> impl Strategy<Value = FrontendMessage> {
    prop_oneof![pre_startup(), startup_message(), tagged_frontend()]
}

/// A client's stream as the decoder must see it: encryption or cancel
/// requests, a StartupMessage, then tagged messages.
fn frontend_stream() -> impl Strategy<Value = Vec<FrontendMessage>> {
    (
        vec(pre_startup(), 0..3),
        startup_message(),
        vec(tagged_frontend(), 0..20),
    )
        .prop_map(|(mut stream, startup, tagged)| {
            stream.push(startup);
            stream.extend(tagged);
            stream
        })
}

fn copy_response() -> impl Strategy<Value = (i8, Vec<i16>)> {
    (any::<i8>(), vec(any::<i16>(), 0..4))
}

fn backend_message() -> BoxedStrategy<BackendMessage> {
    use BackendMessage as B;
    let field = (
        text(),
        any::<u32>(),
        any::<i16>(),
        any::<u32>(),
        any::<i16>(),
        any::<i32>(),
        any::<i16>(),
    )
        .prop_map(
            |(name, table_oid, column, type_oid, type_size, type_modifier, format)| Field {
                name,
                table_oid,
                column,
                type_oid,
                type_size,
                type_modifier,
                format,
            },
        );
    let notice = || {
        vec(
            (1..=255_u8, text()).prop_map(|(code, value)| Notice {
                code: char::from(code),
                value,
            }),
            0..6,
        )
    };
    Union::new(vec![
        any::<bool>()
            .prop_map(|accepted| B::EncryptionResponse { accepted })
            .boxed(),
        (any::<i32>(), bytes())
            .prop_map(|(code, data)| B::Authentication { code, data })
            .boxed(),
        (text(), text())
            .prop_map(|(name, value)| B::ParameterStatus { name, value })
            .boxed(),
        (any::<i32>(), bytes())
            .prop_map(|(process_id, secret_key)| B::BackendKeyData {
                process_id,
                secret_key,
            })
            .boxed(),
        (any::<i32>(), vec(text(), 0..4))
            .prop_map(|(minor, unrecognized)| B::NegotiateProtocolVersion {
                minor,
                unrecognized,
            })
            .boxed(),
        prop_oneof![
            Just(TxStatus::Idle),
            Just(TxStatus::InTransaction),
            Just(TxStatus::Failed)
        ]
        .prop_map(|status| B::ReadyForQuery { status })
        .boxed(),
        vec(field, 0..4)
            .prop_map(|fields| B::RowDescription { fields })
            .boxed(),
        vec(option::of(bytes()), 0..5)
            .prop_map(|values| B::DataRow { values })
            .boxed(),
        text().prop_map(|tag| B::CommandComplete { tag }).boxed(),
        Just(B::EmptyQueryResponse).boxed(),
        notice()
            .prop_map(|fields| B::ErrorResponse { fields })
            .boxed(),
        notice()
            .prop_map(|fields| B::NoticeResponse { fields })
            .boxed(),
        (any::<i32>(), text(), text())
            .prop_map(|(process_id, channel, payload)| B::NotificationResponse {
                process_id,
                channel,
                payload,
            })
            .boxed(),
        Just(B::ParseComplete).boxed(),
        Just(B::BindComplete).boxed(),
        Just(B::CloseComplete).boxed(),
        Just(B::NoData).boxed(),
        Just(B::PortalSuspended).boxed(),
        vec(any::<u32>(), 0..4)
            .prop_map(|types| B::ParameterDescription { types })
            .boxed(),
        copy_response()
            .prop_map(|(format, column_formats)| B::CopyInResponse {
                format,
                column_formats,
            })
            .boxed(),
        copy_response()
            .prop_map(|(format, column_formats)| B::CopyOutResponse {
                format,
                column_formats,
            })
            .boxed(),
        copy_response()
            .prop_map(|(format, column_formats)| B::CopyBothResponse {
                format,
                column_formats,
            })
            .boxed(),
        bytes().prop_map(|data| B::CopyData { data }).boxed(),
        Just(B::CopyDone).boxed(),
        bytes()
            .prop_map(|body| B::FunctionCallResponse { body })
            .boxed(),
    ])
    .boxed()
}

/// Sizes of successive reads from the socket, used in turn.
fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(1..64_usize, 1..8)
}

// ---------------------------------------------------------------------------
// Feeding a decoder the way the recorder does

/// One decoded message and when it came out.
#[derive(Debug)]
struct Decoded<M> {
    message: M,
    raw: Vec<u8>,
    /// `offset()` just before it was decoded.
    offset: u64,
    /// Bytes pushed before and after the read that completed it.
    fed_before: u64,
    fed_after: u64,
}

/// Pushes `bytes` in reads of `chunks` sizes (in turn), taking every message
/// as soon as `next` gives it, then calls `finish`. `before_next` is told how
/// many messages came out so far. An error comes with the number of bytes fed.
fn feed<D: Decoder>(
    decoder: &mut D,
    bytes: &[u8],
    chunks: &[usize],
    mut before_next: impl FnMut(&mut D, usize),
) -> Result<Vec<Decoded<D::Message>>, (DecodeError, u64)> {
    let mut decoded = Vec::new();
    let mut fed = 0;
    let mut sizes = chunks.iter().cycle();
    while fed < bytes.len() {
        let size = (*sizes.next().unwrap()).min(bytes.len() - fed);
        let fed_before = fed as u64;
        decoder.push(&bytes[fed..fed + size]);
        fed += size;
        loop {
            before_next(decoder, decoded.len());
            let offset = decoder.offset();
            match decoder.next() {
                Ok(Some((message, raw))) => decoded.push(Decoded {
                    message,
                    raw,
                    offset,
                    fed_before,
                    fed_after: fed as u64,
                }),
                Ok(None) => break,
                Err(error) => return Err((error, fed as u64)),
            }
        }
    }
    decoder.finish().map_err(|e| (e, fed as u64))?;
    Ok(decoded)
}

fn encode_frontend(messages: &[FrontendMessage]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let frames: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            m.encode(&mut out);
            out
        })
        .collect();
    (frames.concat(), frames)
}

fn encode_backend(messages: &[BackendMessage]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let frames: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| {
            let mut out = Vec::new();
            m.encode(&mut out);
            out
        })
        .collect();
    (frames.concat(), frames)
}

/// Feeds a server stream, telling the decoder to expect an encryption answer
/// where `messages` has one (as the recorder does on seeing an SSLRequest).
fn feed_backend(
    messages: &[BackendMessage],
    bytes: &[u8],
    chunks: &[usize],
) -> Result<Vec<Decoded<BackendMessage>>, (DecodeError, u64)> {
    feed(&mut BackendDecoder::new(), bytes, chunks, |decoder, n| {
        if let Some(BackendMessage::EncryptionResponse { .. }) = messages.get(n) {
            decoder.expect_encryption_response();
        }
    })
}

/// Every message back with its exact bytes, at its offset, out of the read
/// that completed it and not later.
fn check_round_trip<M: PartialEq + std::fmt::Debug>(
    messages: &[M],
    frames: &[Vec<u8>],
    decoded: &[Decoded<M>],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(decoded.len(), messages.len());
    let mut offset = 0;
    for ((message, frame), got) in messages.iter().zip(frames).zip(decoded) {
        prop_assert_eq!(&got.message, message);
        prop_assert_eq!(&got.raw, frame);
        prop_assert_eq!(got.offset, offset);
        offset += frame.len() as u64;
        prop_assert!(got.fed_before < offset && offset <= got.fed_after);
    }
    Ok(())
}

/// What every decoding error must tell a user: which side, which message,
/// and where in what was fed.
fn check_error(error: &DecodeError, side: Side, fed: u64) -> Result<(), TestCaseError> {
    prop_assert_eq!(error.side, side);
    prop_assert!(!error.message.is_empty());
    prop_assert!(!error.reason.is_empty());
    prop_assert!(error.offset < fed, "{error} (fed {fed})");
    Ok(())
}

fn check_garbage<D: Decoder>(
    decoder: &mut D,
    side: Side,
    bytes: &[u8],
    chunks: &[usize],
) -> Result<(), TestCaseError> {
    match feed(decoder, bytes, chunks, |_, _| {}) {
        Ok(decoded) => {
            let total: usize = decoded.iter().map(|d| d.raw.len()).sum();
            prop_assert_eq!(total, bytes.len());
        }
        Err((error, fed)) => {
            check_error(&error, side, fed)?;
            // A broken frame loses the stream, so it stays reported; a
            // truncation is only an error once the stream has ended.
            match decoder.next() {
                Ok(None) => prop_assert!(error.reason.starts_with("truncated"), "{error}"),
                next => prop_assert_eq!(next, Err(error.clone())),
            }
            prop_assert_eq!(decoder.finish(), Err(error));
        }
    }
    Ok(())
}

fn mutate(mut bytes: Vec<u8>, flips: &[(Index, u8)], cut: Option<Index>) -> Vec<u8> {
    if !bytes.is_empty() {
        for (at, byte) in flips {
            let at = at.index(bytes.len());
            bytes[at] = *byte;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut.index(bytes.len() + 1));
    }
    bytes
}

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #[test]
    fn frontend_stream_round_trips(messages in frontend_stream(), chunks in chunk_sizes()) {
        let (bytes, frames) = encode_frontend(&messages);
        let decoded = feed(&mut FrontendDecoder::new(), &bytes, &chunks, |_, _| {})
            .map_err(|(e, _)| TestCaseError::fail(e.to_string()))?;
        check_round_trip(&messages, &frames, &decoded)?;
    }

    #[test]
    fn frontend_stream_round_trips_one_byte_at_a_time(messages in frontend_stream()) {
        let (bytes, frames) = encode_frontend(&messages);
        let decoded = feed(&mut FrontendDecoder::new(), &bytes, &[1], |_, _| {})
            .map_err(|(e, _)| TestCaseError::fail(e.to_string()))?;
        check_round_trip(&messages, &frames, &decoded)?;
    }

    #[test]
    fn frontend_stream_round_trips_in_one_read(messages in frontend_stream()) {
        let (bytes, frames) = encode_frontend(&messages);
        let decoded = feed(&mut FrontendDecoder::new(), &bytes, &[bytes.len().max(1)], |_, _| {})
            .map_err(|(e, _)| TestCaseError::fail(e.to_string()))?;
        check_round_trip(&messages, &frames, &decoded)?;
    }

    #[test]
    fn backend_stream_round_trips(
        messages in vec(backend_message(), 0..20),
        chunks in chunk_sizes(),
    ) {
        let (bytes, frames) = encode_backend(&messages);
        let decoded = feed_backend(&messages, &bytes, &chunks)
            .map_err(|(e, _)| TestCaseError::fail(e.to_string()))?;
        check_round_trip(&messages, &frames, &decoded)?;
    }

    #[test]
    fn backend_stream_round_trips_one_byte_at_a_time(messages in vec(backend_message(), 0..20)) {
        let (bytes, frames) = encode_backend(&messages);
        let decoded = feed_backend(&messages, &bytes, &[1])
            .map_err(|(e, _)| TestCaseError::fail(e.to_string()))?;
        check_round_trip(&messages, &frames, &decoded)?;
    }

    /// Whatever reel records passes `check`, so a suite it wrote always loads.
    #[test]
    fn messages_that_encode_pass_check(
        frontend in frontend_message(),
        backend in backend_message(),
    ) {
        prop_assert_eq!(frontend.check(), Ok(()));
        prop_assert_eq!(backend.check(), Ok(()));
    }

    #[test]
    fn frontend_message_json_round_trips(message in frontend_message()) {
        let json = serde_json::to_string(&message).unwrap();
        let back: FrontendMessage = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, message);
    }

    #[test]
    fn backend_message_json_round_trips(message in backend_message()) {
        let json = serde_json::to_string(&message).unwrap();
        let back: BackendMessage = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, message);
    }

    #[test]
    fn bytes_json_round_trips(value in bytes()) {
        let json = serde_json::to_value(&value).unwrap();
        let printable = std::str::from_utf8(&value)
            .is_ok_and(|s| s.chars().all(|c| !c.is_control() || "\t\n\r".contains(c)));
        prop_assert_eq!(json.is_string(), printable);
        let back: Bytes = serde_json::from_value(json).unwrap();
        prop_assert_eq!(back, value);
    }

    #[test]
    fn frontend_decoder_survives_arbitrary_bytes(
        after_startup in any::<bool>(),
        garbage in vec(any::<u8>(), 0..256),
        chunks in chunk_sizes(),
    ) {
        let mut bytes = if after_startup { PSQL_STARTUP.to_vec() } else { Vec::new() };
        bytes.extend(garbage);
        check_garbage(&mut FrontendDecoder::new(), Side::Frontend, &bytes, &chunks)?;
    }

    #[test]
    fn backend_decoder_survives_arbitrary_bytes(
        expect_encryption in any::<bool>(),
        bytes in vec(any::<u8>(), 0..256),
        chunks in chunk_sizes(),
    ) {
        let mut decoder = BackendDecoder::new();
        if expect_encryption {
            decoder.expect_encryption_response();
        }
        check_garbage(&mut decoder, Side::Backend, &bytes, &chunks)?;
    }

    /// Near-valid streams reach deep into the body decoders, where random
    /// bytes rarely get.
    #[test]
    fn frontend_decoder_survives_damaged_streams(
        messages in frontend_stream(),
        flips in vec((any::<Index>(), any::<u8>()), 0..4),
        cut in option::of(any::<Index>()),
        chunks in chunk_sizes(),
    ) {
        let bytes = mutate(encode_frontend(&messages).0, &flips, cut);
        check_garbage(&mut FrontendDecoder::new(), Side::Frontend, &bytes, &chunks)?;
    }

    #[test]
    fn backend_decoder_survives_damaged_streams(
        messages in vec(backend_message(), 1..20),
        flips in vec((any::<Index>(), any::<u8>()), 0..4),
        cut in option::of(any::<Index>()),
        chunks in chunk_sizes(),
    ) {
        let bytes = mutate(encode_backend(&messages).0, &flips, cut);
        check_garbage(&mut BackendDecoder::new(), Side::Backend, &bytes, &chunks)?;
    }
}

// ---------------------------------------------------------------------------
// Real traffic shapes

/// `psql -h localhost -U app appdb` with a UTF-8 locale.
const PSQL_STARTUP: &[u8] = b"\x00\x00\x00\x4c\x00\x03\x00\x00\
    user\0app\0database\0appdb\0application_name\0psql\0client_encoding\0UTF8\0\0";

/// A tagged frame built by hand, independently of the encoder.
fn frame(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let body = parts.concat();
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    out.extend(body);
    out
}

fn decode_all_frontend(decoder: &mut FrontendDecoder) -> Vec<FrontendMessage> {
    std::iter::from_fn(|| decoder.next().unwrap())
        .map(|(m, _)| m)
        .collect()
}

fn decode_all_backend(decoder: &mut BackendDecoder) -> Vec<BackendMessage> {
    std::iter::from_fn(|| decoder.next().unwrap())
        .map(|(m, _)| m)
        .collect()
}

fn encoded_frontend(messages: &[FrontendMessage]) -> Vec<u8> {
    encode_frontend(messages).0
}

fn encoded_backend(messages: &[BackendMessage]) -> Vec<u8> {
    encode_backend(messages).0
}

fn psql_startup_message() -> FrontendMessage {
    let params = [
        ("user", "app"),
        ("database", "appdb"),
        ("application_name", "psql"),
        ("client_encoding", "UTF8"),
    ];
    FrontendMessage::StartupMessage {
        protocol: PROTOCOL_V3,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

/// A client decoder that has read psql's StartupMessage (76 bytes).
fn client_after_startup() -> FrontendDecoder {
    let mut decoder = FrontendDecoder::new();
    decoder.push(PSQL_STARTUP);
    decoder.next().unwrap().unwrap();
    assert_eq!(decoder.offset(), 76);
    decoder
}

#[test]
fn psql_startup_message_decodes_and_encodes_back() {
    let mut decoder = FrontendDecoder::new();
    decoder.push(PSQL_STARTUP);
    let (message, raw) = decoder.next().unwrap().unwrap();
    assert_eq!(message, psql_startup_message());
    assert_eq!(message.name(), "StartupMessage");
    assert_eq!(raw, PSQL_STARTUP);
    assert_eq!(encoded_frontend(&[message]), PSQL_STARTUP);
    assert_eq!((decoder.offset(), decoder.buffered()), (76, 0));
    assert_eq!(decoder.next(), Ok(None));
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn ssl_request_refused_then_startup_message() {
    let ssl_request = b"\x00\x00\x00\x08\x04\xd2\x16\x2f";
    let mut client = FrontendDecoder::new();
    client.push(ssl_request);
    assert_eq!(
        client.next().unwrap(),
        Some((FrontendMessage::SSLRequest, ssl_request.to_vec()))
    );
    // Still the startup phase: the StartupMessage is untagged.
    client.push(PSQL_STARTUP);
    assert_eq!(decode_all_frontend(&mut client), [psql_startup_message()]);
    assert_eq!(client.offset(), 8 + 76);
    // And now tagged.
    client.push(&frame(b'Q', &[b"SELECT 1\0"]));
    assert_eq!(
        decode_all_frontend(&mut client),
        [FrontendMessage::Query {
            sql: "SELECT 1".into()
        }]
    );

    let mut server = BackendDecoder::new();
    server.expect_encryption_response();
    server.push(b"N");
    server.push(&frame(b'R', &[&0_i32.to_be_bytes()]));
    assert_eq!(
        decode_all_backend(&mut server),
        [
            BackendMessage::EncryptionResponse { accepted: false },
            BackendMessage::Authentication {
                code: 0,
                data: Bytes::default()
            },
        ]
    );
    assert_eq!(server.offset(), 1 + 9);
}

#[test]
fn extended_protocol_batch_in_one_read() {
    // libpq's PQexecParams("SELECT $1::int4", one binary int4 parameter 42, binary results).
    let batch = [
        frame(
            b'P',
            &[b"\0SELECT $1::int4\0", b"\x00\x01", b"\x00\x00\x00\x17"],
        ),
        frame(
            b'B',
            &[
                b"\0\0",
                b"\x00\x01\x00\x01",
                b"\x00\x01\x00\x00\x00\x04\x00\x00\x00\x2a",
                b"\x00\x01\x00\x01",
            ],
        ),
        frame(b'D', &[b"P\0"]),
        frame(b'E', &[b"\0", b"\x00\x00\x00\x00"]),
        frame(b'S', &[]),
    ];
    let mut client = client_after_startup();
    client.push(&batch.concat());
    let mut decoded = Vec::new();
    while let Some((message, raw)) = client.next().unwrap() {
        decoded.push((message.name(), raw));
    }
    let names: Vec<&str> = decoded.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["Parse", "Bind", "Describe", "Execute", "Sync"]);
    let raws: Vec<&[u8]> = decoded.iter().map(|(_, raw)| raw.as_slice()).collect();
    assert_eq!(raws, batch.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert_eq!(client.offset(), 76 + batch.concat().len() as u64);

    let expected = [
        FrontendMessage::Parse {
            statement: String::new(),
            sql: "SELECT $1::int4".into(),
            param_types: vec![23],
        },
        FrontendMessage::Bind {
            portal: String::new(),
            statement: String::new(),
            param_formats: vec![1],
            params: vec![Some(Bytes(42_i32.to_be_bytes().to_vec()))],
            result_formats: vec![1],
        },
        FrontendMessage::Describe {
            kind: Target::Portal,
            name: String::new(),
        },
        FrontendMessage::Execute {
            portal: String::new(),
            max_rows: 0,
        },
        FrontendMessage::Sync,
    ];
    assert_eq!(encoded_frontend(&expected), batch.concat());
}

#[test]
fn row_description_and_data_row_with_null() {
    // The answer to `SELECT 42 AS id, NULL::text AS name`.
    let answer = [
        frame(
            b'T',
            &[
                b"\x00\x02",
                b"id\0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00",
                b"name\0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00",
            ],
        ),
        frame(
            b'D',
            &[b"\x00\x02", b"\x00\x00\x00\x0242", b"\xff\xff\xff\xff"],
        ),
        frame(b'C', &[b"SELECT 1\0"]),
        frame(b'Z', &[b"I"]),
    ]
    .concat();
    let field = |name: &str, type_oid, type_size| Field {
        name: name.into(),
        table_oid: 0,
        column: 0,
        type_oid,
        type_size,
        type_modifier: -1,
        format: 0,
    };
    let expected = [
        BackendMessage::RowDescription {
            fields: vec![field("id", 23, 4), field("name", 25, -1)],
        },
        BackendMessage::DataRow {
            values: vec![Some(Bytes(b"42".to_vec())), None],
        },
        BackendMessage::CommandComplete {
            tag: "SELECT 1".into(),
        },
        BackendMessage::ReadyForQuery {
            status: TxStatus::Idle,
        },
    ];
    let mut server = BackendDecoder::new();
    server.push(&answer);
    assert_eq!(decode_all_backend(&mut server), expected);
    assert_eq!(encoded_backend(&expected), answer);
    assert_eq!(
        serde_json::to_value(&expected[1]).unwrap(),
        serde_json::json!({"type": "DataRow", "values": ["42", null]})
    );
}

#[test]
fn error_response_for_a_unique_violation() {
    let fields = [
        ('S', "ERROR"),
        ('V', "ERROR"),
        ('C', "23505"),
        (
            'M',
            "duplicate key value violates unique constraint \"users_email_key\"",
        ),
        ('D', "Key (email)=(ann@example.com) already exists."),
        ('s', "public"),
        ('t', "users"),
        ('n', "users_email_key"),
        ('F', "nbtinsert.c"),
        ('L', "666"),
        ('R', "_bt_check_unique"),
    ];
    let mut body = Vec::new();
    for (code, value) in fields {
        body.push(code as u8);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    let bytes = frame(b'E', &[&body]);

    let mut server = BackendDecoder::new();
    server.push(&bytes);
    let (message, raw) = server.next().unwrap().unwrap();
    assert_eq!(raw, bytes);
    assert_eq!(message.name(), "ErrorResponse");
    assert_eq!(message.notice_field('C'), Some("23505"));
    assert_eq!(message.notice_field('n'), Some("users_email_key"));
    let expected = BackendMessage::ErrorResponse {
        fields: fields
            .iter()
            .map(|&(code, value)| Notice {
                code,
                value: value.into(),
            })
            .collect(),
    };
    assert_eq!(message, expected);
    assert_eq!(encoded_backend(&[expected]), bytes);
}

#[test]
fn each_message_comes_out_as_soon_as_its_frame_is_complete() {
    let query = frame(b'Q', &[b"SELECT 1\0"]);
    let mut client = client_after_startup();
    client.push(&query[..query.len() - 1]);
    assert_eq!(client.next(), Ok(None));
    // The last byte of the Query and the first of the next message.
    client.push(&[query[query.len() - 1], b'S']);
    assert_eq!(client.next().unwrap().unwrap().1, query);
    assert_eq!(client.next(), Ok(None));
    assert_eq!(client.buffered(), 1);
}

#[test]
fn many_small_messages_decode_in_linear_time() {
    // Quadratic re-copying of the buffer would make this take minutes.
    let count = 200_000;
    let sync = frame(b'S', &[]);
    let stream = sync.repeat(count);
    let mut client = client_after_startup();
    client.push(&stream);
    let mut decoded = 0;
    while client.next().unwrap().is_some() {
        decoded += 1;
    }
    assert_eq!(decoded, count);
    // Also when every read holds one and a half messages.
    let mut client = client_after_startup();
    let mut decoded = 0;
    for read in stream.chunks(7) {
        client.push(read);
        while client.next().unwrap().is_some() {
            decoded += 1;
        }
    }
    assert_eq!(decoded, count);
    assert_eq!(client.finish(), Ok(()));
}

// ---------------------------------------------------------------------------
// Malformed frames: the exact text a user reads

/// Feeds `bytes` (after psql's startup for the client) and returns the first
/// error, from `next` or else from `finish`.
fn client_error(bytes: &[u8]) -> String {
    let mut client = client_after_startup();
    first_error(&mut client, bytes)
}

fn server_error(bytes: &[u8]) -> String {
    first_error(&mut BackendDecoder::new(), bytes)
}

fn first_error<D: Decoder>(decoder: &mut D, bytes: &[u8]) -> String {
    decoder.push(bytes);
    loop {
        match decoder.next() {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(error) => return error.to_string(),
        }
    }
    decoder
        .finish()
        .expect_err("the bytes should be malformed")
        .to_string()
}

#[test]
fn truncated_message_at_end_of_stream() {
    let query = frame(b'Q', &[b"SELECT 1\0"]);
    assert_eq!(
        client_error(&query[..10]),
        "malformed Query from the client at byte 76: \
         truncated: the stream ended after 10 of 14 bytes"
    );
    assert_eq!(
        client_error(b"Q\x00\x00"),
        "malformed Query from the client at byte 76: \
         truncated: the stream ended after 3 of at least 5 bytes"
    );
    assert_eq!(
        first_error(&mut FrontendDecoder::new(), &PSQL_STARTUP[..30]),
        "malformed StartupMessage from the client at byte 0: \
         truncated: the stream ended after 30 of 76 bytes"
    );
    assert_eq!(
        first_error(&mut FrontendDecoder::new(), &PSQL_STARTUP[..2]),
        "malformed startup packet from the client at byte 0: \
         truncated: the stream ended after 2 of at least 8 bytes"
    );
    let row = frame(b'D', &[b"\x00\x01\x00\x00\x00\x0242"]);
    let mut stream = frame(b'Z', &[b"I"]);
    stream.extend_from_slice(&row[..row.len() - 1]);
    assert_eq!(
        server_error(&stream),
        "malformed DataRow from the server at byte 6: \
         truncated: the stream ended after 12 of 13 bytes"
    );
}

#[test]
fn malformed_frames_name_message_side_offset_and_reason() {
    let cases: &[(&str, Vec<u8>, &str)] = &[
        (
            "length 3",
            b"S\x00\x00\x00\x03".to_vec(),
            "malformed Sync from the client at byte 76: length 3 is less than 4",
        ),
        (
            "negative length",
            b"Q\xff\xff\xff\xfb".to_vec(),
            "malformed Query from the client at byte 76: length -5 is less than 4",
        ),
        (
            "length over 1 GiB",
            b"d\x40\x00\x00\x00".to_vec(),
            "malformed CopyData from the client at byte 76: \
             length 1073741824 is over Postgres's 1 GiB limit",
        ),
        (
            "unknown tag",
            b"x\x00\x00\x00\x04".to_vec(),
            "malformed message of unknown type 'x' (0x78) from the client at byte 76: \
             not a message type the client sends",
        ),
        (
            "a server message from the client",
            frame(b'Z', &[b"I"]),
            "malformed message of unknown type 'Z' (0x5a) from the client at byte 76: \
             not a message type the client sends",
        ),
        (
            "Bind parameter count past the body",
            frame(
                b'B',
                &[
                    b"\0\0",
                    b"\x00\x00",
                    b"\x00\x03\x00\x00\x00\x01a",
                    b"\x00\x00",
                ],
            ),
            "malformed Bind from the client at byte 76: \
             parameter count 3 runs past the end of the body",
        ),
        (
            "Bind parameter with a negative length",
            frame(
                b'B',
                &[
                    b"\0\0",
                    b"\x00\x00",
                    b"\x00\x02\xff\xff\xff\xff\xff\xff\xff\xfb",
                    b"\x00\x00",
                ],
            ),
            "malformed Bind from the client at byte 76: parameter 2 has length -5",
        ),
        (
            "Bind parameter longer than the body",
            frame(
                b'B',
                &[b"\0\0", b"\x00\x00", b"\x00\x01\x00\x00\x00\x09abc"],
            ),
            "malformed Bind from the client at byte 76: \
             parameter 1 has length 9 but only 3 bytes remain",
        ),
        (
            "Query without its terminator",
            frame(b'Q', &[b"SELECT 1"]),
            "malformed Query from the client at byte 76: \
             query string has no terminating zero byte",
        ),
        (
            "Query in Latin-1",
            frame(b'Q', &[b"SELECT 'caf\xe9'\0"]),
            "malformed Query from the client at byte 76: query string is not valid UTF-8",
        ),
        (
            "Sync with a body",
            frame(b'S', &[b"\0\0"]),
            "malformed Sync from the client at byte 76: 2 unexpected bytes after the last field",
        ),
        (
            "Describe of an unknown kind",
            frame(b'D', &[b"X\0"]),
            "malformed Describe from the client at byte 76: kind 'X' (0x58) is not 'S' or 'P'",
        ),
        (
            "Close without a kind",
            frame(b'C', &[]),
            "malformed Close from the client at byte 76: kind runs past the end of the body",
        ),
    ];
    for (what, bytes, expected) in cases {
        assert_eq!(client_error(bytes), *expected, "{what}");
    }

    let cases: &[(&str, Vec<u8>, &str)] = &[
        (
            "unknown tag",
            b"x\x00\x00\x00\x04".to_vec(),
            "malformed message of unknown type 'x' (0x78) from the server at byte 0: \
             not a message type the server sends",
        ),
        (
            "bad transaction status",
            [frame(b'1', &[]), frame(b'Z', &[b"X"])].concat(),
            "malformed ReadyForQuery from the server at byte 5: \
             transaction status 'X' (0x58) is not 'I', 'T' or 'E'",
        ),
        (
            "DataRow value with a negative length",
            frame(b'D', &[b"\x00\x01\xff\xff\xff\xfe"]),
            "malformed DataRow from the server at byte 0: column 1 has length -2",
        ),
        (
            "ErrorResponse without its final zero",
            frame(b'E', &[b"SERROR\0"]),
            "malformed ErrorResponse from the server at byte 0: \
             the field list has no terminating zero byte",
        ),
        (
            "RowDescription field cut short",
            frame(
                b'T',
                &[b"\x00\x01id\0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17"],
            ),
            "malformed RowDescription from the server at byte 0: \
             field count 1 runs past the end of the body",
        ),
        (
            "NegotiateProtocolVersion with a negative count",
            frame(b'v', &[b"\x00\x00\x00\x00\xff\xff\xff\xff"]),
            "malformed NegotiateProtocolVersion from the server at byte 0: \
             option count -1 is negative",
        ),
    ];
    for (what, bytes, expected) in cases {
        assert_eq!(server_error(bytes), *expected, "{what}");
    }
}

#[test]
fn malformed_startup_packets() {
    let cases: &[(&[u8], &str)] = &[
        (
            b"\x00\x00\x00\x03",
            "malformed startup packet from the client at byte 0: length 3 is less than 8",
        ),
        (
            b"\x00\x01\x00\x00",
            "malformed startup packet from the client at byte 0: \
             length 65536 is over Postgres's limit of 10000 bytes after the length",
        ),
        (
            b"\x00\x00\x00\x08\x00\x02\x00\x00",
            "malformed StartupMessage from the client at byte 0: \
             unsupported protocol version 2.0",
        ),
        (
            b"\x00\x00\x00\x08\x04\xd2\x16\x31",
            "malformed startup packet from the client at byte 0: \
             unknown request code 1234.5681",
        ),
        (
            b"\x00\x00\x00\x0c\x04\xd2\x16\x2f\x00\x00\x00\x00",
            "malformed SSLRequest from the client at byte 0: \
             4 unexpected bytes after the last field",
        ),
        (
            b"\x00\x00\x00\x0d\x00\x03\x00\x00user\0",
            "malformed StartupMessage from the client at byte 0: \
             value of parameter 1 has no terminating zero byte",
        ),
        (
            b"\x00\x00\x00\x08\x00\x03\x00\x00",
            "malformed StartupMessage from the client at byte 0: \
             the parameter list has no terminating zero byte",
        ),
    ];
    for (bytes, expected) in cases {
        assert_eq!(first_error(&mut FrontendDecoder::new(), bytes), *expected);
    }
}

#[test]
fn encryption_response_must_be_s_or_n() {
    let mut server = BackendDecoder::new();
    server.expect_encryption_response();
    server.push(b"S");
    assert_eq!(
        server.next(),
        Ok(Some((
            BackendMessage::EncryptionResponse { accepted: true },
            b"S".to_vec()
        )))
    );
    let mut server = BackendDecoder::new();
    server.expect_encryption_response();
    assert_eq!(
        first_error(&mut server, b"G"),
        "malformed EncryptionResponse from the server at byte 0: expected 'S' or 'N', got 'G' (0x47)"
    );
}

#[test]
fn errors_stay_reported_after_the_first() {
    let mut client = client_after_startup();
    client.push(b"x\x00\x00\x00\x04");
    let error = client.next().unwrap_err();
    client.push(&frame(b'S', &[]));
    assert_eq!(client.next(), Err(error.clone()));
    assert_eq!(client.finish(), Err(error));
}

#[test]
fn decode_error_display() {
    let error = DecodeError {
        side: Side::Frontend,
        message: "Bind".into(),
        offset: 1234,
        reason: "parameter 2 has length -5".into(),
    };
    assert_eq!(
        error.to_string(),
        "malformed Bind from the client at byte 1234: parameter 2 has length -5"
    );
}

#[test]
fn bytes_json_forms() {
    let cases: &[(&[u8], serde_json::Value)] = &[
        (b"caf\xc3\xa9\tok\r\n", serde_json::json!("café\tok\r\n")),
        (b"", serde_json::json!("")),
        (b"\x00\x01\xff", serde_json::json!({"base64": "AAH/"})),
        (b"bell\x07", serde_json::json!({"base64": "YmVsbAc="})),
        (b"del\x7f", serde_json::json!({"base64": "ZGVsfw=="})),
        (b"\xe9t\xe9", serde_json::json!({"base64": "6XTp"})),
    ];
    for (bytes, json) in cases {
        let value = Bytes::from(*bytes);
        assert_eq!(serde_json::to_value(&value).unwrap(), *json);
        assert_eq!(
            serde_json::from_value::<Bytes>(json.clone()).unwrap(),
            value
        );
    }
    for bad in [
        serde_json::json!({"base64": "not base64!"}),
        serde_json::json!({"hex": "00"}),
        serde_json::json!({}),
        serde_json::json!(7),
    ] {
        assert!(
            serde_json::from_value::<Bytes>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

// ---------------------------------------------------------------------------
// Messages that cannot go on the wire, as a hand-edited suite may hold them

#[test]
fn check_names_the_field_a_backend_message_cannot_carry() {
    use BackendMessage as B;
    let notice = |code: char, value: &str| Notice {
        code,
        value: value.into(),
    };
    let cases: Vec<(B, &str)> = vec![
        (
            B::CommandComplete {
                tag: "SELECT 1\0".into(),
            },
            "tag contains a NUL byte",
        ),
        (
            B::ParameterStatus {
                name: "TimeZone".into(),
                value: "U\0TC".into(),
            },
            "value contains a NUL byte",
        ),
        (
            B::RowDescription {
                fields: vec![
                    Field {
                        name: "id".into(),
                        table_oid: 0,
                        column: 0,
                        type_oid: 23,
                        type_size: 4,
                        type_modifier: -1,
                        format: 0,
                    },
                    Field {
                        name: "ti\0tle".into(),
                        table_oid: 0,
                        column: 0,
                        type_oid: 25,
                        type_size: -1,
                        type_modifier: -1,
                        format: 0,
                    },
                ],
            },
            "fields[1].name contains a NUL byte",
        ),
        (
            B::ErrorResponse {
                fields: vec![notice('\0', "ERROR")],
            },
            "fields[0].code '\\0' is not a single byte from U+0001 to U+00FF",
        ),
        (
            B::NoticeResponse {
                fields: vec![notice('S', "NOTICE"), notice('€', "x")],
            },
            "fields[1].code '€' is not a single byte from U+0001 to U+00FF",
        ),
        (
            B::ErrorResponse {
                fields: vec![notice('M', "bad\0")],
            },
            "fields[0].value contains a NUL byte",
        ),
        (
            B::DataRow {
                values: vec![None; 65_536],
            },
            "values has 65536 items; a message holds at most 65535",
        ),
        (
            B::CopyOutResponse {
                format: 0,
                column_formats: vec![0; 70_000],
            },
            "column_formats has 70000 items; a message holds at most 65535",
        ),
        (
            B::NotificationResponse {
                process_id: 1,
                channel: "jobs".into(),
                payload: "\0".into(),
            },
            "payload contains a NUL byte",
        ),
    ];
    for (message, reason) in cases {
        assert_eq!(message.check(), Err(reason.to_owned()), "{message:?}");
    }
    // Any code from U+0001 to U+00FF is one byte on the wire and decodes back.
    let latin1 = B::NoticeResponse {
        fields: vec![notice('é', "x")],
    };
    assert_eq!(latin1.check(), Ok(()));
    let mut server = BackendDecoder::new();
    server.push(&encoded_backend(std::slice::from_ref(&latin1)));
    assert_eq!(server.next().unwrap().map(|(m, _)| m), Some(latin1));
    assert_eq!(
        B::DataRow {
            values: vec![None; 65_535]
        }
        .check(),
        Ok(())
    );
}

#[test]
fn check_names_the_field_a_frontend_message_cannot_carry() {
    use FrontendMessage as F;
    let cases: Vec<(F, &str)> = vec![
        (
            F::Query {
                sql: "select 1\0".into(),
            },
            "sql contains a NUL byte",
        ),
        (
            F::Parse {
                statement: "s0\0".into(),
                sql: "select 1".into(),
                param_types: vec![],
            },
            "statement contains a NUL byte",
        ),
        (
            F::Bind {
                portal: String::new(),
                statement: "s0".into(),
                param_formats: vec![],
                params: vec![None; 65_536],
                result_formats: vec![],
            },
            "params has 65536 items; a message holds at most 65535",
        ),
        (
            F::StartupMessage {
                protocol: PROTOCOL_V3,
                params: vec![
                    ("user".into(), "postgres".into()),
                    (String::new(), "x".into()),
                ],
            },
            "params[1].name is empty",
        ),
        (
            F::StartupMessage {
                protocol: PROTOCOL_V3,
                params: vec![("options".into(), "x".repeat(10_000))],
            },
            "the message would be 10018 bytes long, over Postgres's limit of 10004",
        ),
    ];
    for (message, reason) in cases {
        assert_eq!(message.check(), Err(reason.to_owned()), "{message:?}");
    }
}

#[test]
#[should_panic(expected = "cannot encode CommandComplete: tag contains a NUL byte")]
fn encode_panics_with_the_reason_check_gives() {
    BackendMessage::CommandComplete {
        tag: "INSERT\0".into(),
    }
    .encode(&mut Vec::new());
}

// ---------------------------------------------------------------------------
// A capped decoder: messages over the cap are passed on, never held

/// Feeds `bytes` to a client decoder capped at `cap` in reads of `chunks`,
/// as the recorder does: what it forwards (messages' bytes and passed bytes,
/// in order), the pieces, and the most it ever held.
fn feed_capped(
    bytes: &[u8],
    cap: usize,
    chunks: &[usize],
) -> (Vec<u8>, Vec<Piece<FrontendMessage>>, usize) {
    let mut d = FrontendDecoder::with_cap(cap);
    let (mut forwarded, mut pieces, mut held) = (Vec::new(), Vec::new(), 0);
    let mut fed = 0;
    let mut sizes = chunks.iter().cycle();
    while fed < bytes.len() {
        let size = (*sizes.next().unwrap()).min(bytes.len() - fed);
        d.push(&bytes[fed..fed + size]);
        fed += size;
        held = held.max(d.buffered());
        forwarded.extend(d.take_passed());
        while let Some(piece) = d.next_piece().unwrap() {
            match &piece {
                Piece::Message(_, raw) => forwarded.extend_from_slice(raw),
                Piece::Oversized { .. } => forwarded.extend(d.take_passed()),
            }
            pieces.push(piece);
        }
    }
    d.finish().unwrap();
    (forwarded, pieces, held)
}

proptest! {
    /// Whatever the messages and reads: every byte goes out once and in
    /// order, a message up to the cap comes whole, one over it comes as its
    /// tag and length, and the decoder never holds much more than the cap.
    #[test]
    fn a_capped_decoder_passes_long_messages_on_and_holds_little(
        startup in startup_message(),
        tagged in vec(tagged_frontend(), 0..20),
        cap in 8..200_usize,
        chunks in chunk_sizes(),
    ) {
        let mut messages = vec![startup];
        messages.extend(tagged);
        let (bytes, frames) = encode_frontend(&messages);
        let (forwarded, pieces, held) = feed_capped(&bytes, cap, &chunks);
        prop_assert_eq!(&forwarded, &bytes);
        prop_assert_eq!(pieces.len(), messages.len());
        for ((piece, message), frame) in pieces.iter().zip(&messages).zip(&frames) {
            match piece {
                Piece::Message(m, raw) => {
                    prop_assert_eq!(m, message);
                    prop_assert_eq!(raw, frame);
                }
                Piece::Oversized { tag, length } => {
                    prop_assert!(frame.len() > cap, "{} bytes passed at cap {cap}", frame.len());
                    prop_assert_eq!(*tag, frame[0]);
                    prop_assert_eq!(*length as usize, frame.len());
                }
            }
        }
        // The startup packet is kept whole, whatever its size.
        let startup_len = frames[0].len();
        prop_assert!(held <= cap.max(startup_len) + 64, "held {held} at cap {cap}");
    }
}

/// A 100 MiB message through a decoder capped at 64 KiB: held never over
/// a read more than the cap, passed on whole, and the stream ending inside
/// it is an error naming how much was missing.
#[test]
fn a_huge_message_is_passed_on_in_reads_and_a_cut_one_is_reported() {
    let mut d = FrontendDecoder::with_cap(64 * 1024);
    let mut startup = Vec::new();
    FrontendMessage::StartupMessage {
        protocol: 196608,
        params: vec![("user".into(), "u".into())],
    }
    .encode(&mut startup);
    d.push(&startup);
    assert!(matches!(d.next_piece(), Ok(Some(Piece::Message(..)))));
    let len: u32 = 100 << 20;
    let mut head = vec![b'Q'];
    head.extend_from_slice(&(len + 4).to_be_bytes());
    d.push(&head);
    let piece = d.next_piece().unwrap();
    assert_eq!(
        piece,
        Some(Piece::Oversized {
            tag: b'Q',
            length: u64::from(len) + 5
        })
    );
    let chunk = vec![b'x'; 8192];
    let mut passed = d.take_passed().len();
    for _ in 0..(len as usize / chunk.len() - 1) {
        d.push(&chunk);
        assert_eq!(d.buffered(), 0);
        assert_eq!(d.next_piece().unwrap(), None);
        passed += d.take_passed().len();
    }
    assert_eq!(passed, 5 + len as usize - chunk.len());
    let e = d.finish().unwrap_err();
    assert_eq!(e.message, "Query");
    assert!(e.reason.contains("ended 8192 bytes before the end"), "{e}");
    // The rest of it, then a Sync that decodes as usual.
    let mut rest = chunk.clone();
    rest.extend_from_slice(&[b'S', 0, 0, 0, 4]);
    d.push(&rest);
    assert_eq!(d.take_passed().len(), chunk.len());
    assert_eq!(
        d.next_piece().unwrap(),
        Some(Piece::Message(
            FrontendMessage::Sync,
            vec![b'S', 0, 0, 0, 4]
        ))
    );
    d.finish().unwrap();
}
