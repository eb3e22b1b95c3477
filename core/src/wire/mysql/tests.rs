use proptest::prelude::*;

use super::*;
use crate::wire::Side;

/// Every payload `bytes` holds, pushed in chunks of `chunk` bytes.
fn decode(bytes: &[u8], chunk: usize, cap: usize) -> (Vec<Payload>, PacketDecoder) {
    let mut d = PacketDecoder::new(Side::Backend, cap);
    let mut out = Vec::new();
    for c in bytes.chunks(chunk.max(1)) {
        d.push(c);
        while let Some(p) = d.next().unwrap() {
            out.push(p);
        }
    }
    (out, d)
}

#[test]
fn payloads_of_every_size_around_the_split_come_back_whole() {
    let m = MAX_PACKET;
    for (len, chunks) in [
        (0, &[1, 3, 1 << 20][..]),
        (1, &[1, 2, 5][..]),
        (251, &[1, 7][..]),
        (m - 1, &[4096, 1 << 20][..]),
        (m, &[3, 1 << 20][..]),
        (m + 5, &[65536][..]),
        (2 * m, &[1 << 22][..]),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        for first in [0u8, 255] {
            let mut wire = Vec::new();
            let after = encode_payload(first, &payload, &mut wire);
            let packets = len / m + 1;
            assert_eq!(wire.len(), len + 4 * packets, "len {len}");
            assert_eq!(after, first.wrapping_add(packets as u8));
            for &chunk in chunks {
                let (got, d) = decode(&wire, chunk, usize::MAX);
                assert_eq!(got.len(), 1, "len {len}, chunk {chunk}");
                let p = &got[0];
                assert_eq!(p.seq, first);
                assert!(p.bytes == payload, "len {len}, chunk {chunk}");
                assert!(p.raw_within(usize::MAX) == wire);
                assert_eq!(
                    (p.offset, p.size, p.len),
                    (0, wire.len() as u64, len as u64)
                );
                assert_eq!(p.packets as usize, packets);
                assert!(!p.cut);
                assert!(d.idle());
                d.finish().unwrap();
            }
        }
    }
}

/// Past the cap a payload keeps its start and its full size, and what is
/// held stays within the cap however large the payload (20 MiB here).
#[test]
fn a_payload_over_the_cap_is_cut_and_the_next_one_read_whole() {
    let big = vec![7u8; 20 << 20];
    let mut wire = Vec::new();
    encode_payload(1, &big, &mut wire);
    encode_payload(0, b"\x0eafter", &mut wire);
    let (got, _) = decode(&wire, 1 << 16, 1024);
    assert_eq!(got.len(), 2);
    let p = &got[0];
    assert!(p.cut);
    assert_eq!((p.bytes.len(), p.raw_within(1024).len()), (1024, 1024));
    assert_eq!(p.len, 20 << 20);
    assert_eq!(p.size, (20 << 20) + 8);
    assert_eq!(p.packets, 2);
    assert_eq!(&p.raw_within(1024)[..4], &[0xff, 0xff, 0xff, 1]);
    let next = &got[1];
    assert_eq!(next.offset, p.size);
    assert_eq!(next.bytes, b"\x0eafter");
    assert!(!next.cut);
}

#[test]
fn a_split_payload_out_of_sequence_is_an_error_naming_where() {
    let mut wire = Vec::new();
    encode_payload(0, &vec![0u8; MAX_PACKET + 10], &mut wire);
    // The second packet's sequence id: 5 instead of 1.
    wire[MAX_PACKET + 4 + 3] = 5;
    let mut d = PacketDecoder::new(Side::Frontend, 64);
    d.push(&wire);
    let e = d.next().unwrap_err();
    assert_eq!(e.offset, MAX_PACKET as u64 + 4);
    assert_eq!(
        e.to_string(),
        format!(
            "malformed packet from the client at byte {}: sequence id 5 where 1 was due, in a payload over 16 MiB that began at byte 0",
            MAX_PACKET + 4
        )
    );
    // It sticks: nothing after it is read.
    d.push(b"\x01\x00\x00\x00\x0e");
    assert_eq!(d.next().unwrap_err(), e);
    assert_eq!(d.finish().unwrap_err(), e);
}

#[test]
fn a_stream_that_ends_inside_a_packet_says_where_and_how() {
    let ends = |bytes: &[u8]| {
        let mut d = PacketDecoder::new(Side::Backend, 64);
        d.push(bytes);
        while d.next().unwrap().is_some() {}
        d.finish().map_err(|e| e.to_string())
    };
    assert_eq!(ends(b"\x01\x00\x00\x00\x0e"), Ok(()));
    assert_eq!(
        ends(b"\x01\x00\x00\x00\x0e\x05\x00"),
        Err("malformed packet from the server at byte 5: the stream ended 2 bytes into a packet header".into())
    );
    assert_eq!(
        ends(b"\x05\x00\x00\x00abc"),
        Err("malformed packet from the server at byte 0: the stream ended with 2 bytes of the packet still to come".into())
    );
    let mut split = Vec::new();
    encode_payload(0, &vec![1u8; MAX_PACKET], &mut split);
    split.truncate(MAX_PACKET + 4);
    assert_eq!(
        ends(&split),
        Err("malformed packet from the server at byte 0: the stream ended before the packet that ends a payload over 16 MiB".into())
    );
}

/// The greeting the MariaDB on this machine sends first is one payload,
/// sequence id 0, protocol version 10, its server version after it.
#[test]
fn a_real_servers_greeting_is_one_payload() {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect("127.0.0.1:3306") else {
        panic!("no MySQL or MariaDB on 127.0.0.1:3306 (the machine starts one)");
    };
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut d = PacketDecoder::new(Side::Backend, 1 << 20);
    let mut buf = [0u8; 7];
    let greeting = loop {
        let n = s.read(&mut buf).expect("the server sends its greeting");
        assert!(n > 0, "the server closed before its greeting");
        d.push(&buf[..n]);
        if let Some(p) = d.next().unwrap() {
            break p;
        }
    };
    assert_eq!(greeting.seq, 0);
    assert_eq!(greeting.offset, 0);
    assert_eq!(greeting.bytes[0], 10, "protocol version 10");
    let version: Vec<u8> = greeting.bytes[1..]
        .iter()
        .take_while(|&&b| b != 0)
        .copied()
        .collect();
    let version = String::from_utf8(version).unwrap();
    assert!(
        version.chars().next().is_some_and(|c| c.is_ascii_digit()),
        "{version}"
    );
    assert_eq!(greeting.size, greeting.len + 4);
    assert_eq!(greeting.raw_within(usize::MAX).len() as u64, greeting.size);
}

proptest! {
    /// Payloads back to back, pushed in any chunks, come back as sent, at
    /// the offsets they were sent at, and cut exactly past the cap.
    #[test]
    fn payloads_back_to_back_in_any_chunks(
        lens in proptest::collection::vec(0usize..600, 1..8),
        seq in any::<u8>(),
        chunk in 1usize..700,
        cap in prop_oneof![Just(0usize), Just(16), Just(256), Just(usize::MAX)],
    ) {
        let mut wire = Vec::new();
        let mut sent = Vec::new();
        for (i, &len) in lens.iter().enumerate() {
            let payload: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
            let at = wire.len() as u64;
            encode_payload(seq.wrapping_add(i as u8), &payload, &mut wire);
            sent.push((at, payload));
        }
        let (got, d) = decode(&wire, chunk, cap);
        prop_assert_eq!(got.len(), sent.len());
        for (p, (at, payload)) in got.iter().zip(&sent) {
            prop_assert_eq!(p.offset, *at);
            prop_assert_eq!(p.len, payload.len() as u64);
            prop_assert_eq!(p.size, payload.len() as u64 + 4);
            let kept = payload.len().min(cap);
            prop_assert_eq!(&p.bytes[..], &payload[..kept]);
            let raw = &wire[*at as usize..(*at + p.size) as usize];
            prop_assert_eq!(&p.raw_within(cap)[..], &raw[..raw.len().min(cap)]);
            prop_assert_eq!(p.cut, raw.len() > cap);
        }
        prop_assert!(d.idle());
        prop_assert!(d.finish().is_ok());
    }
}

/// The greeting of the local MariaDB reads field by field and writes back
/// to its exact bytes; withdrawn, TLS and compression are no longer
/// offered and nothing else changes.
#[test]
fn a_real_greeting_reads_writes_back_and_withdraws_tls() {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect("127.0.0.1:3306")
        .expect("the machine runs MariaDB on 127.0.0.1:3306");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut d = PacketDecoder::new(Side::Backend, 1 << 20);
    let mut buf = [0u8; 512];
    let payload = loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        d.push(&buf[..n]);
        if let Some(p) = d.next().unwrap() {
            break p.bytes;
        }
    };
    let g = Greeting::parse(&payload).unwrap();
    let mut again = Vec::new();
    g.encode(&mut again);
    assert_eq!(again, payload);
    assert!(g.capabilities & caps::PROTOCOL_41 != 0);
    let rest = g.rest.as_ref().expect("a greeting of this century");
    assert!(rest.auth_plugin.is_some(), "{g:?}");
    let mut plain = g.clone();
    plain.withdraw(caps::SSL | caps::COMPRESS | caps::ZSTD_COMPRESSION);
    assert_eq!(plain.capabilities & (caps::SSL | caps::COMPRESS), 0);
    assert_eq!(
        plain.capabilities,
        g.capabilities & !(caps::SSL | caps::COMPRESS | caps::ZSTD_COMPRESSION)
    );
    let mut forwarded = Vec::new();
    plain.encode(&mut forwarded);
    assert_eq!(Greeting::parse(&forwarded).unwrap(), plain);
    assert_eq!(forwarded.len(), payload.len());
}

/// MySQL 8's greeting, as its documentation lays it out: a 21-byte
/// scramble whose second part ends in a NUL, `caching_sha2_password`.
#[test]
fn a_mysql_8_greeting_reads_as_documented() {
    let mut p = vec![10];
    p.extend_from_slice(b"8.0.36\0");
    p.extend_from_slice(&8u32.to_le_bytes());
    p.extend_from_slice(b"abcdefgh\0");
    p.extend_from_slice(&0xffffu16.to_le_bytes());
    p.push(0xff);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&0xdfffu16.to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0");
    p.extend_from_slice(b"caching_sha2_password\0");
    let g = Greeting::parse(&p).unwrap();
    assert_eq!(g.server_version, b"8.0.36");
    assert_eq!(g.connection_id, 8);
    assert_eq!(&g.auth_data_1, b"abcdefgh");
    assert_eq!(g.capabilities, 0xdfff_ffff);
    assert!(g.capabilities & caps::DEPRECATE_EOF != 0);
    let r = g.rest.as_ref().unwrap();
    assert_eq!((r.charset, r.status, r.auth_data_len), (0xff, 2, 21));
    assert_eq!(r.auth_data_2, b"ijklmnopqrst\0");
    assert_eq!(
        r.auth_plugin.as_deref(),
        Some(&b"caching_sha2_password"[..])
    );
    let mut again = Vec::new();
    g.encode(&mut again);
    assert_eq!(again, p);
    // A server that ends the payload instead of the plugin name's NUL.
    p.pop();
    let g = Greeting::parse(&p).unwrap();
    let mut again = Vec::new();
    g.encode(&mut again);
    assert_eq!(again, p);
    // An old server's greeting stops after the lower flags.
    let short = &p[..1 + 7 + 4 + 9 + 2];
    let g = Greeting::parse(short).unwrap();
    assert_eq!((g.capabilities, g.rest.is_none()), (0xffff, true));
    let mut again = Vec::new();
    g.encode(&mut again);
    assert_eq!(again, short);
}

#[test]
fn a_greeting_that_is_not_one_says_why() {
    assert_eq!(
        Greeting::parse(b"\x09abc\0"),
        Err("protocol version 9, where reel reads 10 (MySQL 3.21 and later, MariaDB)".into())
    );
    assert_eq!(
        Greeting::parse(b"\x0a5.5.5"),
        Err("the server version has no terminating NUL".into())
    );
    assert_eq!(
        Greeting::parse(b"\x0a5.5\0\x01\x00"),
        Err("the payload ends before the connection id".into())
    );
    assert_eq!(
        Greeting::parse(b""),
        Err("the payload ends before the protocol version".into())
    );
}

/// Runs `program args` (`{port}` in an argument becomes the tap's port)
/// against the local MariaDB through a tap; what the client sent and what
/// the server sent.
fn tapped(program: &str, args: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let mut up = Vec::new();
    let mut down = Vec::new();
    for (side, bytes) in tapped_in_order(program, args) {
        match side {
            Side::Frontend => up.extend_from_slice(&bytes),
            Side::Backend => down.extend_from_slice(&bytes),
        }
    }
    (up, down)
}

/// As [`tapped`], each read of either side in the order they came: a
/// side's bytes are listed before they are passed on, so an answer comes
/// after what it answers.
pub(super) fn tapped_in_order(program: &str, args: &[&str]) -> Vec<(Side, Vec<u8>)> {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let tap = std::thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let server = TcpStream::connect("127.0.0.1:3306").unwrap();
        let copy = |mut from: TcpStream, mut to: TcpStream, side: Side| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = from.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    log.lock().unwrap().push((side, buf[..n].to_vec()));
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(Shutdown::Write);
            })
        };
        let up = copy(
            client.try_clone().unwrap(),
            server.try_clone().unwrap(),
            Side::Frontend,
        );
        let down = copy(server, client, Side::Backend);
        up.join().unwrap();
        down.join().unwrap();
    });
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{port}", &port.to_string()))
        .collect();
    let out = std::process::Command::new(program)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/deps.sh installs the clients)"));
    assert!(
        out.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    tap.join().unwrap();
    Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
}

/// Every payload of one direction, which must decode whole.
fn payloads(side: Side, bytes: &[u8]) -> Vec<Payload> {
    let mut d = PacketDecoder::new(side, usize::MAX);
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(p) = d.next().unwrap() {
        out.push(p);
    }
    d.finish().unwrap();
    out
}

/// What real clients send through a connection to the local MariaDB reads
/// payload by payload; the greeting and the client's answer read field by
/// field and write back to their exact bytes; PyMySQL's query and its
/// goodbye are where they should be.
#[test]
fn real_clients_handshakes_read_and_write_back() {
    let script = "import sys, pymysql\n\
        c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user='root', database='test')\n\
        cur = c.cursor(); cur.execute('SELECT 1'); assert cur.fetchone() == (1,)\n\
        c.close()\n";
    let clients: [(&str, Vec<&str>, &str); 2] = [
        ("python3", vec!["-c", script, "{port}"], "pymysql"),
        (
            "mariadb",
            vec![
                "-h",
                "127.0.0.1",
                "-P",
                "{port}",
                "-u",
                "root",
                "--skip-ssl",
                "test",
                "-e",
                "SELECT 1",
            ],
            "mariadb",
        ),
    ];
    for (program, args, name) in clients {
        let (up, down) = tapped(program, &args);
        let sent = payloads(Side::Frontend, &up);
        let answered = payloads(Side::Backend, &down);
        let greeting = Greeting::parse(&answered[0].bytes).unwrap();
        let mut again = Vec::new();
        greeting.encode(&mut again);
        assert_eq!(again, answered[0].bytes, "{name}");
        let hello = &sent[0];
        assert_eq!(hello.seq, 1, "{name}");
        assert!(!ClientHello::is_ssl_request(&hello.bytes), "{name}");
        let h = ClientHello::parse(&hello.bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(h.user, b"root", "{name}");
        assert_eq!(h.database.as_deref(), Some(&b"test"[..]), "{name}");
        assert!(h.auth_plugin.is_some(), "{name}: {h:?}");
        let mut again = Vec::new();
        h.encode(&mut again);
        assert_eq!(again, hello.bytes, "{name}");
        assert!(
            sent.iter()
                .any(|p| p.seq == 0 && p.bytes == b"\x03SELECT 1"),
            "{name}: the query is a COM_QUERY"
        );
        let last = sent.last().unwrap();
        assert_eq!(
            (last.seq, &last.bytes[..]),
            (0, &b"\x01"[..]),
            "{name}: COM_QUIT"
        );
    }
}

/// The local MariaDB's answers to PyMySQL read as OK, ERR and EOF where
/// the protocol puts them, and an OK and an ERR write back to their bytes.
#[test]
fn a_real_servers_ok_err_and_eof_read_as_sent() {
    let script = "import sys, pymysql\n\
        c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user='root', database='test')\n\
        cur = c.cursor(); cur.execute('SELECT 1')\n\
        try:\n    cur.execute('SELECT * FROM reel_no_such_table')\nexcept pymysql.err.ProgrammingError: pass\n\
        c.close()\n";
    let (up, down) = tapped("python3", &["-c", script, "{port}"]);
    let hello = ClientHello::parse(&payloads(Side::Frontend, &up)[0].bytes).unwrap();
    let greeting = Greeting::parse(&payloads(Side::Backend, &down)[0].bytes).unwrap();
    let agreed = hello.capabilities & greeting.capabilities;
    let answers = payloads(Side::Backend, &down);
    let read = |p: &Payload| Generic::parse(&p.bytes, agreed).unwrap();
    // The handshake ends in OK, sequence id 2.
    let Generic::Ok(ok) = read(&answers[1]) else {
        panic!("{:?}", answers[1])
    };
    assert_eq!(answers[1].seq, 2);
    assert_eq!((ok.affected_rows, ok.last_insert_id), (0, 0));
    let mut again = Vec::new();
    ok.encode(&mut again);
    assert_eq!(again, answers[1].bytes);
    // SELECT 1 (as the answers after the OKs of PyMySQL's own settings):
    // one column, its definition, an EOF (PyMySQL asks for no
    // DEPRECATE_EOF), the row, an EOF.
    assert_eq!(agreed & caps::DEPRECATE_EOF, 0);
    let eofs = answers
        .iter()
        .filter(|p| matches!(read(p), Generic::Eof(_)))
        .count();
    assert_eq!(eofs, 2);
    let Some(Generic::Err(e)) = answers
        .iter()
        .map(read)
        .find(|g| matches!(g, Generic::Err(_)))
    else {
        panic!("no ERR among {answers:?}")
    };
    assert_eq!(e.code, 1146);
    assert_eq!(e.sql_state, Some(*b"42S02"));
    assert_eq!(
        String::from_utf8_lossy(&e.message),
        "Table 'test.reel_no_such_table' doesn't exist"
    );
    let err = answers
        .iter()
        .find(|p| p.bytes.first() == Some(&0xFF))
        .unwrap();
    let mut again = Vec::new();
    e.encode(&mut again);
    assert_eq!(again, err.bytes);
}

#[test]
fn generic_answers_by_the_documents_bytes() {
    let p41 = caps::PROTOCOL_41;
    // OK: 1 row, insert id 300 (a 2-byte length-encoded integer), in a
    // transaction, 1 warning.
    let ok = b"\x00\x01\xfc\x2c\x01\x03\x00\x01\x00";
    assert_eq!(
        Generic::parse(ok, p41),
        Ok(Generic::Ok(OkPacket {
            header: 0,
            affected_rows: 1,
            last_insert_id: 300,
            status: 3,
            warnings: 1,
            info: vec![],
        }))
    );
    let eof = b"\xfe\x00\x00\x22\x00";
    let eof_read = Generic::parse(eof, p41);
    assert_eq!(
        eof_read,
        Ok(Generic::Eof(EofPacket {
            warnings: 0,
            status: 0x22
        }))
    );
    // Under DEPRECATE_EOF the end of rows is an OK that starts 0xFE.
    let end = b"\xfe\x00\x00\x22\x00\x00\x00";
    let Ok(Generic::Ok(o)) = Generic::parse(end, p41 | caps::DEPRECATE_EOF) else {
        panic!()
    };
    assert_eq!((o.header, o.status), (0xfe, 0x22));
    assert!(o.status & MORE_RESULTS == 0);
    assert_eq!(Generic::parse(b"\x01\x31", p41), Ok(Generic::Other));
    assert_eq!(
        Generic::parse(b"\x00\xfc\x01", p41),
        Err("the payload ends before the affected rows".into())
    );
    assert_eq!(Generic::parse(b"", p41), Err("an empty payload".into()));
    for n in [0u64, 250, 251, 65535, 65536, 0xff_ffff, 1 << 24, u64::MAX] {
        let mut out = vec![0x00];
        put_lenenc(n, &mut out);
        out.extend_from_slice(&[0, 0, 0, 0, 0]);
        let Ok(Generic::Ok(o)) = Generic::parse(&out, p41) else {
            panic!("{n}")
        };
        assert_eq!(o.affected_rows, n);
    }
}

/// What PyMySQL sends once connected reads command by command and writes
/// back to its bytes: its own settings, the query, the goodbye.
#[test]
fn a_real_clients_commands_read_and_write_back() {
    let script = "import sys, pymysql\n\
        c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user='root', database='test')\n\
        c.select_db('test'); c.ping()\n\
        cur = c.cursor(); cur.execute('SELECT %s', (\"it's\",))\n\
        c.close()\n";
    let (up, _) = tapped("python3", &["-c", script, "{port}"]);
    let sent = payloads(Side::Frontend, &up);
    let commands: Vec<Command> = sent[1..]
        .iter()
        .map(|p| {
            assert_eq!(p.seq, 0, "a command starts a sequence");
            let c = Command::parse(&p.bytes).unwrap();
            let mut again = Vec::new();
            c.encode(&mut again);
            assert_eq!(again, p.bytes);
            c
        })
        .collect();
    let names: Vec<&str> = commands.iter().map(Command::name).collect();
    assert!(names.contains(&"COM_INIT_DB"), "{names:?}");
    assert!(names.contains(&"COM_PING"), "{names:?}");
    assert!(
        commands.contains(&Command::Query(b"SELECT 'it\\'s'".to_vec())),
        "{commands:?}"
    );
    assert_eq!(commands.last(), Some(&Command::Quit));
    assert!(!Command::Quit.answered() && Command::Ping.answered());
}

#[test]
fn prepared_statement_commands_read_as_documented() {
    let cases: Vec<(&[u8], Command)> = vec![
        (
            b"\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01\x08\x00\x2a\x00\x00\x00\x00\x00\x00\x00",
            Command::StmtExecute {
                stmt_id: 1,
                flags: 0,
                iterations: 1,
                params: b"\x00\x01\x08\x00\x2a\x00\x00\x00\x00\x00\x00\x00".to_vec(),
            },
        ),
        (
            b"\x18\x02\x00\x00\x00\x01\x00blob",
            Command::StmtSendLongData {
                stmt_id: 2,
                param: 1,
                data: b"blob".to_vec(),
            },
        ),
        (b"\x19\x03\x00\x00\x00", Command::StmtClose(3)),
        (b"\x1a\x03\x00\x00\x00", Command::StmtReset(3)),
        (b"\x1b\x01\x00", Command::SetOption(1)),
        (
            b"\x1c\x03\x00\x00\x00\x0a\x00\x00\x00",
            Command::StmtFetch { stmt_id: 3, rows: 10 },
        ),
        (b"\x16SELECT ?", Command::StmtPrepare(b"SELECT ?".to_vec())),
        (b"\x1f", Command::ResetConnection),
        (
            b"\x09",
            Command::Other {
                code: 9,
                body: vec![],
            },
        ),
    ];
    for (bytes, want) in cases {
        let c = Command::parse(bytes).unwrap();
        assert_eq!(c, want);
        let mut again = Vec::new();
        c.encode(&mut again);
        assert_eq!(again, bytes);
    }
    assert_eq!(Command::parse(b"\x09").unwrap().name(), "COM_STATISTICS");
    assert_eq!(
        Command::parse(b"\x19\x03\x00\x00"),
        Err("COM_STMT_CLOSE of 3 bytes where it has 4".into())
    );
    assert_eq!(
        Command::parse(b"\x17\x01\x00"),
        Err("COM_STMT_EXECUTE of 2 bytes, shorter than its 9".into())
    );
    assert_eq!(
        Command::parse(b"\x01x"),
        Err("COM_QUIT of 1 bytes where it has 0".into())
    );
    assert_eq!(Command::parse(b""), Err("an empty command".into()));
}
