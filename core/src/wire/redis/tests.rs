use proptest::prelude::*;

use super::*;
use crate::wire::{Bytes, Side};

fn b(s: &str) -> Bytes {
    Bytes(s.as_bytes().to_vec())
}

fn bulk(s: &str) -> Frame {
    Frame::Bulk(b(s))
}

fn encoded(f: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_reply(f, &mut out).expect("encodes");
    out
}

/// Every frame `bytes` holds, fed `step` bytes at a time.
fn replies(bytes: &[u8], step: usize, cap: usize) -> Vec<Decoded<Frame>> {
    let mut d = ReplyDecoder::with_cap(cap);
    let mut out = Vec::new();
    for chunk in bytes.chunks(step.max(1)) {
        d.push(chunk);
        while let Some(f) = d.next().expect("decodes") {
            out.push(f);
        }
    }
    d.finish().expect("nothing left over");
    out
}

fn commands(bytes: &[u8], step: usize, cap: usize) -> Vec<Decoded<Command>> {
    let mut d = CommandDecoder::with_cap(cap);
    let mut out = Vec::new();
    for chunk in bytes.chunks(step.max(1)) {
        d.push(chunk);
        while let Some(c) = d.next().expect("decodes") {
            out.push(c);
        }
    }
    d.finish().expect("nothing left over");
    out
}

fn reply_error(bytes: &[u8]) -> crate::wire::DecodeError {
    let mut d = ReplyDecoder::new();
    d.push(bytes);
    loop {
        match d.next() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error in {:?}", String::from_utf8_lossy(bytes)),
            Err(e) => {
                assert_eq!(d.next().unwrap_err(), e, "an error stays");
                return e;
            }
        }
    }
}

fn command_error(bytes: &[u8]) -> crate::wire::DecodeError {
    let mut d = CommandDecoder::new();
    d.push(bytes);
    loop {
        match d.next() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error in {:?}", String::from_utf8_lossy(bytes)),
            Err(e) => return e,
        }
    }
}

/// One of every RESP2 and RESP3 type, as the spec writes them.
fn every_type() -> Vec<(&'static [u8], Frame)> {
    vec![
        (b"+OK\r\n", Frame::Simple(b("OK"))),
        (b"-ERR unknown\r\n", Frame::Error(b("ERR unknown"))),
        (b":-42\r\n", Frame::Integer(-42)),
        (b"$5\r\nhello\r\n", bulk("hello")),
        (b"$0\r\n\r\n", bulk("")),
        (b"$-1\r\n", Frame::NullBulk),
        (b"*-1\r\n", Frame::NullArray),
        (b"*0\r\n", Frame::Array(vec![])),
        (b"_\r\n", Frame::Null),
        (b"#t\r\n", Frame::Boolean(true)),
        (b"#f\r\n", Frame::Boolean(false)),
        (b",3.14\r\n", Frame::Double("3.14".into())),
        (b",-inf\r\n", Frame::Double("-inf".into())),
        (b",1.5e-3\r\n", Frame::Double("1.5e-3".into())),
        (
            b"(3492890328409238509324850943850943825024385\r\n",
            Frame::BigNumber("3492890328409238509324850943850943825024385".into()),
        ),
        (
            b"!21\r\nSYNTAX invalid syntax\r\n",
            Frame::BulkError(b("SYNTAX invalid syntax")),
        ),
        (
            b"=15\r\ntxt:Some string\r\n",
            Frame::Verbatim {
                format: "txt".into(),
                text: b("Some string"),
            },
        ),
        (
            b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
            Frame::Array(vec![bulk("a"), Frame::Array(vec![Frame::Integer(1)])]),
        ),
        (
            b"%2\r\n+first\r\n:1\r\n+second\r\n_\r\n",
            Frame::Map(vec![
                (Frame::Simple(b("first")), Frame::Integer(1)),
                (Frame::Simple(b("second")), Frame::Null),
            ]),
        ),
        (
            b"~2\r\n+a\r\n#f\r\n",
            Frame::Set(vec![Frame::Simple(b("a")), Frame::Boolean(false)]),
        ),
        (
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            Frame::Push(vec![bulk("message"), bulk("ch"), bulk("hi")]),
        ),
        (
            b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n",
            Frame::Attributed {
                attributes: vec![(
                    Frame::Simple(b("key-popularity")),
                    Frame::Map(vec![(bulk("a"), Frame::Double("0.19".into()))]),
                )],
                frame: Box::new(Frame::Array(vec![Frame::Integer(2)])),
            },
        ),
    ]
}

#[test]
fn every_type_decodes_whole_and_byte_by_byte_with_its_exact_bytes() {
    for (bytes, frame) in every_type() {
        for step in [1, 2, 3, bytes.len()] {
            let got = replies(bytes, step, usize::MAX);
            assert_eq!(got.len(), 1, "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(got[0].value, frame);
            assert_eq!(got[0].raw, bytes);
            assert_eq!(got[0].size, bytes.len() as u64);
            assert!(!got[0].cut);
        }
        assert_eq!(encoded(&frame), bytes, "{frame:?} encodes as it came");
        let json = serde_json::to_string(&frame).unwrap();
        assert_eq!(
            serde_json::from_str::<Frame>(&json).unwrap(),
            frame,
            "{json}"
        );
    }
}

/// Found by fuzzing: a CR inside a simple string (not before its LF) is
/// content, as hiredis reads it, and the frame is sent back as it came.
#[test]
fn a_carriage_return_inside_a_line_is_content_and_sent_back_as_it_came() {
    let bytes = b"~2\r\n+a\rf\x10XXX\r\n-ERR x\r\r\n";
    let got = replies(bytes, 1, usize::MAX);
    assert_eq!(
        got[0].value,
        Frame::Set(vec![
            Frame::Simple(Bytes(b"a\rf\x10XXX".to_vec())),
            Frame::Error(b("ERR x\r")),
        ])
    );
    assert_eq!(encoded(&got[0].value), bytes);
}

#[test]
fn frames_in_a_row_each_know_their_offset() {
    let all: Vec<u8> = every_type().iter().flat_map(|(b, _)| b.to_vec()).collect();
    let got = replies(&all, 7, usize::MAX);
    let mut at = 0;
    for (g, (bytes, frame)) in got.iter().zip(every_type()) {
        assert_eq!(g.value, frame);
        assert_eq!(g.offset, at);
        at += bytes.len() as u64;
    }
    assert_eq!(got.len(), every_type().len());
}

#[test]
fn streamed_strings_and_aggregates_are_joined() {
    let got = replies(
        b"$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n",
        1,
        usize::MAX,
    );
    assert_eq!(got[0].value, bulk("Hello word"));
    let got = replies(b"*?\r\n:1\r\n$?\r\n;2\r\nab\r\n;0\r\n.\r\n", 1, usize::MAX);
    assert_eq!(
        got[0].value,
        Frame::Array(vec![Frame::Integer(1), bulk("ab")])
    );
    let got = replies(
        b"%?\r\n+a\r\n:1\r\n+b\r\n:2\r\n.\r\n~?\r\n.\r\n",
        2,
        usize::MAX,
    );
    assert_eq!(
        got[0].value,
        Frame::Map(vec![
            (Frame::Simple(b("a")), Frame::Integer(1)),
            (Frame::Simple(b("b")), Frame::Integer(2)),
        ])
    );
    assert_eq!(got[1].value, Frame::Set(vec![]));
}

#[test]
fn attributes_inside_an_aggregate_describe_the_next_element_only() {
    let got = replies(
        b"*2\r\n|1\r\n+ttl\r\n:3\r\n$1\r\na\r\n$1\r\nb\r\n",
        1,
        usize::MAX,
    );
    assert_eq!(
        got[0].value,
        Frame::Array(vec![
            Frame::Attributed {
                attributes: vec![(Frame::Simple(b("ttl")), Frame::Integer(3))],
                frame: Box::new(bulk("a")),
            },
            bulk("b"),
        ])
    );
    assert_eq!(encoded(&got[0].value), got[0].raw);
}

#[test]
fn commands_come_as_arrays_or_inline_lines_and_empty_ones_are_no_command() {
    let bytes = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n\r\n*0\r\nPING\r\n  set  \"a b\\x41\\n\" 'it\\'s'\nGET k\r\n";
    for step in [1, 5, bytes.len()] {
        let got = commands(bytes, step, usize::MAX);
        let args: Vec<Vec<Bytes>> = got.iter().map(|c| c.value.args.clone()).collect();
        assert_eq!(
            args,
            vec![
                vec![b("SET"), b("k"), b("")],
                vec![b("PING")],
                vec![b("set"), b("a bA\n"), b("it's")],
                vec![b("GET"), b("k")],
            ]
        );
        assert_eq!(got[0].value.name(), "SET");
        assert!(!got[0].value.inline && got[1].value.inline);
        assert_eq!(got[0].raw, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        // The empty line and `*0` are skipped: the next command starts after them.
        assert_eq!(got[1].offset, got[0].size + 2 + 4);
    }
    let mut out = Vec::new();
    encode_command(
        &Command {
            args: vec![b("GET"), b("k")],
            inline: false,
        },
        &mut out,
    );
    assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    // Found by fuzzing: an inline word starting with '*' cannot be sent
    // inline again, or it would read as an array's count.
    assert!(command_error(b"*N\r\n").reason.contains("argument count"));
    let inline = commands(b"\x0b*N\n", 1, usize::MAX);
    assert_eq!(inline[0].value.args, [b("*N")]);
    let mut again = Vec::new();
    encode_command(&inline[0].value, &mut again);
    assert_eq!(again, b"*1\r\n$2\r\n*N\r\n");
}

#[test]
fn malformed_input_is_an_error_naming_side_and_offset() {
    let e = reply_error(b"+OK\r\n?what\r\n");
    assert_eq!((e.side, e.offset), (Side::Backend, 5));
    assert!(e.reason.contains("unknown type '?'"), "{e}");
    assert_eq!(
        e.to_string(),
        "malformed reply from the server at byte 5: a frame of unknown type '?'"
    );
    for (bytes, why) in [
        (&b":12a\r\n"[..], "no integer"),
        (b"$3\r\nabcd\r\n", "not followed by CRLF"),
        (b"$-2\r\n", "no length"),
        (b"=3\r\ntxt\r\n", "format"),
        (b",1.2.3\r\n", "no double"),
        (b"(12x\r\n", "no big number"),
        (b"#x\r\n", "no boolean"),
        (b".\r\n", "outside"),
        (b"%?\r\n+a\r\n.\r\n", "after a key"),
        (b"+OK\n", "LF without CR"),
        (b"$?\r\n:1\r\n", "expected ';'"),
    ] {
        let e = reply_error(bytes);
        assert!(
            e.reason.contains(why),
            "{:?}: {e}",
            String::from_utf8_lossy(bytes)
        );
    }
    let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
    assert!(reply_error(deep.as_bytes())
        .reason
        .contains("nested deeper"));
    let ok = "*1\r\n".repeat(MAX_DEPTH) + ":1\r\n";
    assert_eq!(replies(ok.as_bytes(), 3, usize::MAX).len(), 1);
    // Every reply the decoder takes at the limit is one the encoder writes
    // back (a mock sends what was recorded): an empty aggregate is an
    // aggregate too (found by fuzzing).
    for inner in ["*0\r\n", "%0\r\n", "~0\r\n", "|1\r\n+a\r\n+b\r\n*0\r\n"] {
        let deep = "*1\r\n".repeat(MAX_DEPTH) + inner;
        assert!(
            reply_error(deep.as_bytes())
                .reason
                .contains("nested deeper"),
            "{inner:?} inside {MAX_DEPTH} levels"
        );
        let ok = "*1\r\n".repeat(MAX_DEPTH - 1) + inner;
        let decoded = replies(ok.as_bytes(), 5, usize::MAX);
        let mut out = Vec::new();
        encode_reply(&decoded[0].value, &mut out).expect("what was decoded encodes");
        assert_eq!(
            out,
            ok.as_bytes(),
            "{inner:?} inside {} levels",
            MAX_DEPTH - 1
        );
    }

    let e = command_error(b"PING\r\n*2\r\n:1\r\n");
    assert_eq!((e.side, e.offset), (Side::Frontend, 6));
    assert!(
        e.reason.contains("expected '$' before argument 1, got ':'"),
        "{e}"
    );
    assert!(command_error(b"SET \"a\r\n")
        .reason
        .contains("unbalanced quotes"));
    assert!(command_error(b"SET \"a\"b\r\n")
        .reason
        .contains("closing quote"));
    assert!(command_error(b"*x\r\n").reason.contains("argument count"));
    let long = vec![b'a'; MAX_INLINE + 10];
    assert!(command_error(&long).reason.contains("no line end within"));

    let mut d = ReplyDecoder::new();
    d.push(b"*2\r\n:1\r\n");
    assert!(d.next().unwrap().is_none());
    let e = d.finish().unwrap_err();
    assert!(e.reason.contains("ended inside"), "{e}");
    let mut d = CommandDecoder::new();
    d.push(b"*1\r\n$4\r\nPI");
    assert!(d.next().unwrap().is_none());
    assert!(d.finish().is_err());
}

#[test]
fn frames_that_cannot_be_sent_are_refused_by_the_encoder() {
    let mut out = Vec::new();
    for (frame, why) in [
        (Frame::Simple(b("a\r\nb")), "line feed"),
        (Frame::Double("1.x".into()), "no double"),
        (Frame::BigNumber("".into()), "no big number"),
        (
            Frame::Verbatim {
                format: "text".into(),
                text: b("x"),
            },
            "three bytes",
        ),
    ] {
        let e = encode_reply(&frame, &mut out).unwrap_err();
        assert!(e.contains(why), "{frame:?}: {e}");
    }
}

/// Reads `total` bytes of a bulk string's body, `read` bytes at a time, as
/// a connection would hand them over, checking the decoder never holds more
/// than one read of input.
fn feed_huge(push: &mut dyn FnMut(&[u8]), buffered: &dyn Fn() -> usize, total: usize, read: usize) {
    let chunk = vec![b'x'; read];
    let mut left = total;
    while left > 0 {
        let n = left.min(read);
        push(&chunk[..n]);
        left -= n;
        assert!(buffered() <= read, "holds {} bytes", buffered());
    }
}

#[test]
fn a_512_mib_value_is_cut_at_the_cap_and_never_held() {
    const TOTAL: usize = 512 << 20;
    const CAP: usize = 1 << 20;
    let d = std::cell::RefCell::new(CommandDecoder::with_cap(CAP));
    let head = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${TOTAL}\r\n");
    d.borrow_mut().push(head.as_bytes());
    assert!(d.borrow_mut().next().unwrap().is_none());
    feed_huge(
        &mut |bytes| {
            let mut d = d.borrow_mut();
            d.push(bytes);
            assert!(d.next().unwrap().is_none());
        },
        &|| d.borrow().buffered(),
        TOTAL,
        64 * 1024,
    );
    let mut d = d.into_inner();
    d.push(b"\r\nPING\r\n");
    let c = d.next().unwrap().unwrap();
    assert!(c.cut);
    assert_eq!(c.value.args.len(), 3);
    assert_eq!(c.value.name(), "SET");
    assert_eq!(c.value.args[1], b("big"));
    let kept = c.value.args[2].len();
    assert!(kept < CAP && kept > CAP - 100, "{kept}");
    assert_eq!(c.raw.len(), CAP);
    assert_eq!(c.size as usize, head.len() + TOTAL + 2);
    // The next command is read as usual.
    let next = d.next().unwrap().unwrap();
    assert_eq!(
        (next.value.name(), next.offset, next.cut),
        ("PING".into(), c.size, false)
    );

    let r = std::cell::RefCell::new(ReplyDecoder::with_cap(CAP));
    r.borrow_mut()
        .push(format!("*2\r\n:1\r\n${TOTAL}\r\n").as_bytes());
    feed_huge(
        &mut |bytes| {
            let mut r = r.borrow_mut();
            r.push(bytes);
            assert!(r.next().unwrap().is_none());
        },
        &|| r.borrow().buffered(),
        TOTAL,
        64 * 1024,
    );
    let mut r = r.into_inner();
    r.push(b"\r\n");
    let f = r.next().unwrap().unwrap();
    assert!(f.cut);
    let Frame::Array(items) = &f.value else {
        panic!("{:?}", f.value)
    };
    assert_eq!(items[0], Frame::Integer(1));
    assert!(matches!(&items[1], Frame::Bulk(v) if v.len() < CAP));
}

#[test]
fn a_million_small_values_are_cut_too() {
    const CAP: usize = 64 * 1024;
    let mut bytes = b"*1000000\r\n".to_vec();
    for _ in 0..1_000_000 {
        bytes.extend_from_slice(b":7\r\n");
    }
    let got = replies(&bytes, 4096, CAP);
    assert_eq!(got.len(), 1);
    assert!(got[0].cut);
    let Frame::Array(items) = &got[0].value else {
        panic!()
    };
    assert!(items.len() < CAP / 8, "{} kept", items.len());
    assert_eq!(got[0].size as usize, bytes.len());

    let mut cmd = b"*1000001\r\n$5\r\nRPUSH\r\n".to_vec();
    for _ in 0..1_000_000 {
        cmd.extend_from_slice(b"$1\r\nv\r\n");
    }
    let got = commands(&cmd, 4096, CAP);
    assert!(got[0].cut);
    assert!(got[0].value.args.len() < CAP / 8);
    assert_eq!(got[0].value.name(), "RPUSH");
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    let bytes = prop::collection::vec(any::<u8>(), 0..12).prop_map(Bytes);
    let line = "[a-zA-Z0-9 _:-]{0,12}".prop_map(|s| Bytes(s.into_bytes()));
    let leaf = prop_oneof![
        line.clone().prop_map(Frame::Simple),
        line.prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        bytes.clone().prop_map(Frame::Bulk),
        Just(Frame::NullBulk),
        Just(Frame::NullArray),
        Just(Frame::Null),
        any::<bool>().prop_map(Frame::Boolean),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Frame::Double(f.to_string())),
        "-?[0-9]{1,40}".prop_map(Frame::BigNumber),
        bytes.clone().prop_map(Frame::BulkError),
        ("[a-z]{3}", bytes).prop_map(|(format, text)| Frame::Verbatim { format, text }),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        let pairs = prop::collection::vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Frame::Array),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Frame::Set),
            prop::collection::vec(inner.clone(), 0..5).prop_map(Frame::Push),
            pairs.clone().prop_map(Frame::Map),
            (
                prop::collection::vec((inner.clone(), inner.clone()), 1..3),
                inner
            )
                .prop_map(|(attributes, frame)| Frame::Attributed {
                    attributes,
                    frame: Box::new(frame),
                }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any frames, cut into any reads: each decodes as it was encoded, with
    /// its exact bytes, and its JSON form gives it back.
    #[test]
    fn any_frames_in_any_reads_decode_as_encoded(
        frames in prop::collection::vec(arb_frame(), 1..5),
        step in 1usize..64,
    ) {
        let mut all = Vec::new();
        for f in &frames {
            all.extend(encoded(f));
        }
        let got = replies(&all, step, usize::MAX);
        prop_assert_eq!(got.len(), frames.len());
        for (g, f) in got.iter().zip(&frames) {
            prop_assert_eq!(&g.value, f);
            prop_assert_eq!(&g.raw, &encoded(f));
            let json = serde_json::to_string(f).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Frame>(&json).unwrap(), f);
        }
    }

    /// Any commands, any reads, any cap: every command comes out, in order,
    /// whole when it fits the cap and flagged cut when not, never holding
    /// more than the cap of it.
    #[test]
    fn any_commands_any_cap(
        args in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6), 1..6),
        step in 1usize..64,
        cap in 1usize..200,
    ) {
        let mut all = Vec::new();
        let cmds: Vec<Command> = args.into_iter().map(|a| Command { args: a.into_iter().map(Bytes).collect(), inline: false }).collect();
        for c in &cmds {
            encode_command(c, &mut all);
        }
        let got = commands(&all, step, cap);
        prop_assert_eq!(got.len(), cmds.len());
        let mut at = 0;
        for (g, c) in got.iter().zip(&cmds) {
            let mut bytes = Vec::new();
            encode_command(c, &mut bytes);
            prop_assert_eq!(g.offset, at);
            prop_assert_eq!(g.size, bytes.len() as u64);
            at += g.size;
            prop_assert!(g.raw.len() <= cap);
            prop_assert!(bytes.starts_with(&g.raw));
            if !g.cut {
                prop_assert_eq!(&g.value, c);
            } else {
                let kept: usize = g.value.args.iter().map(|a| a.len()).sum();
                prop_assert!(kept <= cap);
                for (k, a) in g.value.args.iter().zip(&c.args) {
                    prop_assert!(a.starts_with(k));
                }
            }
        }
    }
}

/// A throwaway Redis on a Unix socket of its own, with DEBUG allowed (the
/// shared one refuses it): `DEBUG PROTOCOL` makes a real server send every
/// RESP3 type.
struct OwnRedis {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl OwnRedis {
    fn start() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("redis.sock");
        let child = std::process::Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(&sock)
            .args(["--enable-debug-command", "yes"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("redis-server: {e}"),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&sock).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::yield_now();
        }
        Some(OwnRedis { child, dir })
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn what_a_real_redis_sends_decodes_byte_by_byte() {
    use std::io::{Read, Write};
    let Some(redis) = OwnRedis::start() else {
        eprintln!("redis-server is not installed: scripts/deps.sh installs it");
        return;
    };
    let mut conn = std::os::unix::net::UnixStream::connect(redis.dir.path().join("redis.sock"))
        .expect("connects");
    let script: Vec<Vec<&str>> = vec![
        vec!["HELLO", "3"],
        vec!["DEBUG", "PROTOCOL", "string"],
        vec!["DEBUG", "PROTOCOL", "integer"],
        vec!["DEBUG", "PROTOCOL", "double"],
        vec!["DEBUG", "PROTOCOL", "bignum"],
        vec!["DEBUG", "PROTOCOL", "null"],
        vec!["DEBUG", "PROTOCOL", "array"],
        vec!["DEBUG", "PROTOCOL", "set"],
        vec!["DEBUG", "PROTOCOL", "map"],
        vec!["DEBUG", "PROTOCOL", "attrib"],
        vec!["DEBUG", "PROTOCOL", "push"],
        vec!["DEBUG", "PROTOCOL", "verbatim"],
        vec!["DEBUG", "PROTOCOL", "true"],
        vec!["DEBUG", "PROTOCOL", "false"],
        vec!["HSET", "h", "a", "1"],
        vec!["HGETALL", "h"],
        vec!["NOSUCHCOMMAND"],
        vec!["HELLO", "2"],
        vec!["GET", "missing"],
        vec!["LRANGE", "missing", "0", "-1"],
    ];
    // One write, as a pipelining client sends them; reel's own command
    // decoder reads them back first.
    let mut sent = Vec::new();
    for args in &script {
        let c = Command {
            args: args.iter().map(|a| b(a)).collect(),
            inline: false,
        };
        encode_command(&c, &mut sent);
    }
    let back = commands(&sent, 3, usize::MAX);
    assert_eq!(back.len(), script.len());
    conn.write_all(&sent).unwrap();

    let mut d = ReplyDecoder::new();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    // DEBUG PROTOCOL push sends a push, then its reply.
    while got.len() < script.len() + 1 {
        conn.read_exact(&mut byte)
            .expect("the server answers every command");
        d.push(&byte);
        while let Some(f) = d.next().expect("a real server's bytes decode") {
            assert_eq!(encoded(&f.value), f.raw, "{:?} encodes as sent", f.value);
            got.push(f.value);
        }
    }
    let kind = |f: &Frame| match f {
        Frame::Attributed { frame, .. } => format!("attributed {}", kind_of(frame)),
        f => kind_of(f),
    };
    fn kind_of(f: &Frame) -> String {
        serde_json::to_value(f).unwrap()["type"]
            .as_str()
            .unwrap()
            .to_owned()
    }
    let kinds: Vec<String> = got.iter().map(kind).collect();
    assert_eq!(
        kinds,
        [
            "map",
            "bulk",
            "integer",
            "double",
            "big_number",
            "null",
            "array",
            "set",
            "map",
            "attributed bulk",
            "push",
            "bulk",
            "verbatim",
            "boolean",
            "boolean",
            "integer",
            "map",
            "error",
            "array",
            "null_bulk",
            "array"
        ]
    );
    // The push comes before the reply to its DEBUG command.
    assert!(got[10].is_push());
    assert!(matches!(&got[12], Frame::Verbatim { format, .. } if format == "txt"));
    assert_eq!(
        got[16],
        Frame::Map(vec![(bulk("a"), bulk("1"))]),
        "HGETALL under RESP3 is a map"
    );
    assert_eq!(got[20], Frame::Array(vec![]));
}

/// A connection to the shared Redis whose both directions go through the
/// decoders and a [`Pairer`], as the recorder's do.
struct Live {
    conn: std::net::TcpStream,
    commands: CommandDecoder,
    replies: ReplyDecoder,
    pairer: Pairer,
    pairs: Vec<Pair>,
    /// A key prefix of this test's own.
    prefix: String,
}

impl Live {
    fn connect(test: &str) -> Self {
        let conn = std::net::TcpStream::connect("127.0.0.1:6379")
            .expect("the machine's Redis listens on 127.0.0.1:6379");
        conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        Live {
            conn,
            commands: CommandDecoder::new(),
            replies: ReplyDecoder::new(),
            pairer: Pairer::with_cap(usize::MAX),
            pairs: Vec::new(),
            prefix: format!("reel:test:{test}:{}:", std::process::id()),
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    /// Sends commands in one write, as a pipelining client does.
    fn send(&mut self, cmds: &[&[&str]]) {
        use std::io::Write;
        let mut bytes = Vec::new();
        for args in cmds {
            let c = Command {
                args: args.iter().map(|a| b(a)).collect(),
                inline: false,
            };
            encode_command(&c, &mut bytes);
        }
        self.conn.write_all(&bytes).unwrap();
        self.commands.push(&bytes);
        while let Some(c) = self.commands.next().unwrap() {
            let done = self.pairer.client(c, crate::time::Micros::now());
            self.pairs.extend(done);
        }
    }

    /// Reads until `enough` holds of the exchanges so far.
    fn read_until(&mut self, enough: impl Fn(&[Pair]) -> bool) {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        while !enough(&self.pairs) {
            let n = self.conn.read(&mut buf).expect("Redis answers");
            assert!(n > 0, "Redis closed the connection");
            self.replies.push(&buf[..n]);
            while let Some(f) = self.replies.next().unwrap() {
                let done = self.pairer.server(f, crate::time::Micros::now());
                self.pairs.extend(done);
            }
        }
    }

    /// Each exchange as `COMMAND -> reply kinds`, `(own) -> kinds` for the
    /// server's own.
    fn summary(&self) -> Vec<String> {
        self.pairs
            .iter()
            .map(|p| {
                let cmd = p.command.as_ref().map_or("(own)".to_owned(), |c| {
                    let mut s = c.name();
                    if let Some(a) = c.args.get(1) {
                        s = format!("{s} {}", String::from_utf8_lossy(a));
                    }
                    s
                });
                let kinds: Vec<String> = p.replies.iter().map(frame_kind).collect();
                format!("{cmd} -> {}", kinds.join(" "))
            })
            .collect()
    }
}

fn frame_kind(f: &Frame) -> String {
    let mut s = serde_json::to_value(f).unwrap()["type"]
        .as_str()
        .unwrap()
        .to_owned();
    if let Some(Frame::Bulk(v) | Frame::Simple(v)) = elements_of(f).and_then(|e| e.first()) {
        s = format!("{s}:{}", String::from_utf8_lossy(v));
    }
    s
}

fn elements_of(f: &Frame) -> Option<&[Frame]> {
    match f {
        Frame::Array(v) | Frame::Push(v) => Some(v),
        _ => None,
    }
}

fn said(pairs: &[Pair], name: &str) -> bool {
    pairs.iter().any(|p| {
        p.replies.iter().any(|r| match r {
            Frame::Bulk(v) | Frame::Simple(v) => v.as_slice() == name.as_bytes(),
            Frame::Array(e) | Frame::Push(e) => e
                .iter()
                .any(|x| matches!(x, Frame::Bulk(v) if v.as_slice() == name.as_bytes())),
            _ => false,
        })
    })
}

#[test]
fn pipelined_commands_and_a_transaction_pair_with_their_replies_in_order() {
    let mut r = Live::connect("pipeline");
    let (k, n) = (r.key("k"), r.key("n"));
    r.send(&[
        &["SET", &k, "v"],
        &["GET", &k],
        &["NOSUCHCOMMAND"],
        &["MULTI"],
        &["INCR", &n],
        &["INCR", &k],
        &["EXEC"],
        &["HELLO", "3"],
        &["HSET", &k, "a", "1"],
        &["DEL", &k, &n],
        &["HSET", &k, "a", "1"],
        &["HGETALL", &k],
        &["DEL", &k],
        &["ECHO", "end"],
    ]);
    r.read_until(|p| said(p, "end"));
    assert_eq!(
        r.summary(),
        [
            format!("SET {k} -> simple"),
            format!("GET {k} -> bulk"),
            "NOSUCHCOMMAND -> error".into(),
            "MULTI -> simple".into(),
            format!("INCR {n} -> simple"),
            format!("INCR {k} -> simple"),
            // The transaction's answer: one reply, an array of both results.
            "EXEC -> array".into(),
            "HELLO 3 -> map".into(),
            format!("HSET {k} -> error"),
            format!("DEL {k} -> integer"),
            format!("HSET {k} -> integer"),
            format!("HGETALL {k} -> map"),
            format!("DEL {k} -> integer"),
            "ECHO end -> bulk".into(),
        ]
    );
    assert!(r.pairer.idle());
    let exec = &r.pairs[6];
    assert!(matches!(&exec.replies[0], Frame::Array(v) if v.len() == 2));
    assert!(exec.first_byte_at >= exec.started_at);
}

#[test]
fn subscriptions_are_answered_per_channel_and_messages_are_the_servers_own() {
    for resp3 in [false, true] {
        let mut r = Live::connect(&format!("pubsub{resp3}"));
        let (a, c) = (r.key("a"), r.key("c"));
        if resp3 {
            r.send(&[&["HELLO", "3"]]);
        }
        r.send(&[&["SUBSCRIBE", &a, &c]]);
        r.read_until(|p| p.iter().filter(|p| p.command.is_some()).count() == 1 + resp3 as usize);
        let mut publisher = Live::connect("publisher");
        publisher.send(&[&["PUBLISH", &a, "hello"]]);
        publisher.read_until(|p| !p.is_empty());
        r.read_until(|p| p.iter().any(|p| p.command.is_none()));
        r.send(&[&["PING", "sub"], &["UNSUBSCRIBE"], &["PING", "end"]]);
        r.read_until(|p| said(p, "end"));
        let s = r.summary();
        let sub = if resp3 { "push" } else { "array" };
        let tail = &s[resp3 as usize..];
        assert_eq!(
            tail,
            [
                format!("SUBSCRIBE {a} -> {sub}:subscribe {sub}:subscribe"),
                format!("(own) -> {sub}:message"),
                // Subscribed under RESP2, PING answers with an array.
                format!("PING sub -> {}", if resp3 { "bulk" } else { "array:pong" }),
                format!("UNSUBSCRIBE -> {sub}:unsubscribe {sub}:unsubscribe"),
                "PING end -> bulk".to_owned(),
            ],
            "resp3: {resp3}"
        );
        assert!(r.pairer.idle());
    }
}

#[test]
fn client_tracking_invalidations_and_silenced_replies_pair_as_redis_sends_them() {
    let mut r = Live::connect("tracking");
    let k = r.key("k");
    r.send(&[
        &["HELLO", "3"],
        &["CLIENT", "TRACKING", "on"],
        &["SET", &k, "1"],
        &["GET", &k],
        &["CLIENT", "REPLY", "OFF"],
        &["SET", &k, "2"],
        &["CLIENT", "REPLY", "ON"],
        &["CLIENT", "REPLY", "SKIP"],
        &["GET", &k],
        &["ECHO", "end"],
    ]);
    r.read_until(|p| said(p, "end"));
    let s = r.summary();
    // Our own SET k 2 invalidates the key we read: a push of the server's
    // own, where it came.
    let own: Vec<&String> = s.iter().filter(|x| x.starts_with("(own)")).collect();
    assert_eq!(own, ["(own) -> push:invalidate"], "{s:#?}");
    let no_own: Vec<String> = s
        .iter()
        .filter(|x| !x.starts_with("(own)"))
        .cloned()
        .collect();
    assert_eq!(
        no_own,
        [
            "HELLO 3 -> map".to_owned(),
            "CLIENT TRACKING -> simple".into(),
            format!("SET {k} -> simple"),
            format!("GET {k} -> bulk"),
            "CLIENT REPLY -> ".into(),
            format!("SET {k} -> "),
            "CLIENT REPLY -> simple".into(),
            "CLIENT REPLY -> ".into(),
            format!("GET {k} -> "),
            "ECHO end -> bulk".into(),
        ]
    );
    r.send(&[&["DEL", &k], &["ECHO", "end2"]]);
    r.read_until(|p| said(p, "end2"));
}

#[test]
fn scripts_blocking_reads_watched_transactions_and_scans_pair_one_reply_each() {
    let mut r = Live::connect("scripts");
    let (k, q) = (r.key("k"), r.key("q"));
    let script = "return redis.call('GET', KEYS[1])";
    // The script's SHA1, as Redis names it: asked of Redis itself.
    let sha = {
        let mut probe = Live::connect("sha");
        probe.send(&[&["SCRIPT", "LOAD", script]]);
        probe.read_until(|p| !p.is_empty());
        let Frame::Bulk(sha) = &probe.pairs[0].replies[0] else {
            panic!("{:?}", probe.pairs[0].replies)
        };
        String::from_utf8_lossy(sha).into_owned()
    };
    r.send(&[
        &["SCRIPT", "FLUSH"],
        &["EVALSHA", &sha, "1", &k],
        &["SCRIPT", "LOAD", script],
        &["EVALSHA", &sha, "1", &k],
        &["BLPOP", &q, "0.05"],
        &["WATCH", &k],
        &["MULTI"],
        &["SET", &k, "1"],
        &["EXEC"],
        &["SELECT", "1"],
        &["SELECT", "0"],
        &["CLIENT", "SETNAME", "reel-test"],
        &[
            "SCAN",
            "0",
            "MATCH",
            &format!("{}*", r.prefix),
            "COUNT",
            "10",
        ],
        &["DEL", &k],
        &["ECHO", "end"],
    ]);
    r.read_until(|p| said(p, "end"));
    let kinds: Vec<String> = r
        .pairs
        .iter()
        .map(|p| {
            let name = p.command.as_ref().map(|c| c.name()).unwrap_or_default();
            let reply: Vec<String> = p.replies.iter().map(frame_kind).collect();
            format!("{name} {}", reply.join(" "))
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "SCRIPT simple",
            // The script cache was flushed: NOSCRIPT, then the client loads it.
            "EVALSHA error",
            "SCRIPT bulk",
            "EVALSHA null_bulk",
            // A blocking read that timed out: a null array, after the wait.
            "BLPOP null_array",
            "WATCH simple",
            "MULTI simple",
            "SET simple",
            // The transaction ran (nothing touched the watched key): its results.
            "EXEC array:OK",
            "SELECT simple",
            "SELECT simple",
            "CLIENT simple",
            // The cursor, then the keys.
            "SCAN array:0",
            "DEL integer",
            "ECHO bulk",
        ]
    );
    let blpop = &r.pairs[4];
    let waited = blpop.ended_at.unwrap().0 - blpop.started_at.unwrap().0;
    assert!(waited >= 40_000, "BLPOP answered after {waited} µs");
    assert!(r.pairer.idle());
}

#[test]
fn passwords_are_found_where_the_grammar_puts_them_and_nowhere_else() {
    let found = |line: &str| password_args(&line.split(' ').collect::<Vec<_>>());
    assert_eq!(found("AUTH s3cret"), [(1, 0)]);
    assert_eq!(found("auth app s3cret"), [(2, 0)]);
    assert_eq!(found("HELLO 3 AUTH app s3cret SETNAME auth"), [(4, 0)]);
    assert_eq!(found("HELLO 3 SETNAME auth AUTH app s3cret"), [(6, 0)]);
    // A word the grammar does not know is stepped over: the server refuses
    // the command, but the password was sent.
    assert_eq!(found("HELLO 3 BOGUS AUTH app s3cret"), [(5, 0)]);
    assert_eq!(found("MIGRATE h 6379 k 0 5000 BOGUS AUTH s3cret"), [(8, 0)]);
    assert_eq!(
        found("MIGRATE h 6379 \"\" 0 5000 COPY AUTH2 app s3cret KEYS auth x"),
        [(9, 0)]
    );
    assert_eq!(
        found("MIGRATE h 6379 k 0 5000 REPLACE AUTH s3cret"),
        [(8, 0)]
    );
    assert_eq!(
        found("ACL SETUSER >ann on >s3cret <old #abc ~* +@all"),
        [(4, 1), (5, 1), (6, 1)]
    );
    assert_eq!(
        found("CONFIG SET maxmemory 1gb requirepass s3cret MASTERAUTH m4ster"),
        [(5, 0), (7, 0)]
    );
    for none in [
        "GET auth",
        "SET AUTH s3cret",
        "HELLO 3",
        "MIGRATE h 6379 k 0 5000 KEYS AUTH x",
        "CONFIG GET requirepass",
        "CONFIG SET requirepass",
        "ACL GETUSER >ann",
    ] {
        assert_eq!(found(none), [], "{none}");
    }
}

#[test]
fn passwords_in_config_get_replies_are_found_in_resp2_and_resp3() {
    let bulk = |s: &str| Frame::Bulk(Bytes(s.as_bytes().to_vec()));
    let mut replies = vec![Frame::Array(vec![
        bulk("maxmemory"),
        bulk("0"),
        bulk("requirepass"),
        bulk("s3cret"),
        bulk("masterauth"),
        bulk("m4ster"),
    ])];
    let mut seen = Vec::new();
    let cmd = ["config", "get", "*"];
    assert!(password_replies(&cmd, &mut replies, &mut |b| {
        seen.push(String::from_utf8_lossy(b).into_owned());
        b.0 = b"[redacted]".to_vec();
    }));
    assert_eq!(seen, ["s3cret", "m4ster"]);
    assert_eq!(
        replies,
        [Frame::Array(vec![
            bulk("maxmemory"),
            bulk("0"),
            bulk("requirepass"),
            bulk("[redacted]"),
            bulk("masterauth"),
            bulk("[redacted]"),
        ])]
    );
    let mut map = vec![Frame::Map(vec![(bulk("requirepass"), bulk("s3cret"))])];
    let mut n = 0;
    assert!(password_replies(
        &["CONFIG", "GET", "requirepass"],
        &mut map,
        &mut |_| n += 1
    ));
    assert_eq!(n, 1);
    // Not CONFIG GET, or no password asked for: nothing.
    let mut other = vec![Frame::Array(vec![bulk("requirepass"), bulk("s3cret")])];
    assert!(!password_replies(
        &["LRANGE", "l", "0", "-1"],
        &mut other,
        &mut |_| n += 1
    ));
    let mut other = vec![Frame::Array(vec![bulk("maxmemory"), bulk("0")])];
    assert!(!password_replies(
        &["CONFIG", "GET", "maxmemory"],
        &mut other,
        &mut |_| n += 1
    ));
    assert_eq!(n, 1);
}
