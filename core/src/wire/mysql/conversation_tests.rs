//! The conversation layer on what real clients and the local MariaDB say
//! to each other, and on answers built byte for byte from the protocol's
//! documents where no client here sends them.

use serde_json::{json, Value};

use super::tests::tapped_in_order;
use super::*;
use crate::time::Micros;
use crate::wire::{DecodeError, Side};

/// A name no other test uses, for a table or procedure of this test's own.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("reel_{prefix}_{}_{nanos}", std::process::id())
}

/// An exchange as the conversation made it, with its answer as the JSON
/// object stored (`answer` here; the rest of the turn through `Deref`).
#[derive(Debug)]
struct Seen {
    turn: Turn,
    answer: serde_json::Map<String, Value>,
}

impl std::ops::Deref for Seen {
    type Target = Turn;

    fn deref(&self) -> &Turn {
        &self.turn
    }
}

fn seen(turns: Vec<Turn>) -> Vec<Seen> {
    turns
        .into_iter()
        .map(|turn| Seen {
            answer: turn.answer.to_map(),
            turn,
        })
        .collect()
}

/// The exchanges one connection's bytes make, fed in the order they came,
/// each direction in reads as they were taken.
fn converse(events: &[(Side, Vec<u8>)], cap: usize) -> Vec<Seen> {
    converse_encoded(events, cap).0
}

/// As [`converse`], with how the connection's answers are written.
fn converse_encoded(events: &[(Side, Vec<u8>)], cap: usize) -> (Vec<Seen>, Encoding) {
    let (turns, encoding) = run(Conversation::new(cap, false), events, cap);
    // A recorder's conversation closes the same exchanges, each plain one
    // of the run after the connection phase as stored raw, its request
    // not described; every other the same, which takes what the raw ones
    // did to the connection (statements prepared, types bound).
    let (recorded, _) = run(
        Conversation::new(cap, false).storing_plain_raw(),
        events,
        cap,
    );
    assert_eq!(recorded.len(), turns.len());
    let run_of_plain = raw_run(&turns);
    for (i, (r, t)) in recorded.iter().zip(&turns).enumerate() {
        let in_run = i < run_of_plain.end && i >= run_of_plain.start;
        assert_eq!(r.raw, in_run.then_some(encoding), "{:?}", t.request);
        match r.raw.is_some() {
            true => {
                assert!(r.request.is_empty(), "{:?}", r.request);
                let described = Turn {
                    request: t.request.clone(),
                    raw: None,
                    ..r.clone()
                };
                assert_eq!(&described, t);
            }
            false => assert_eq!(r, t),
        }
    }
    decode_later_as_recorded(&turns, encoding, cap);
    (seen(turns), encoding)
}

/// Runs `events` through `conv`: the exchanges it closed, and how its
/// connection's answers are written.
fn run(mut conv: Conversation, events: &[(Side, Vec<u8>)], cap: usize) -> (Vec<Turn>, Encoding) {
    let mut client = PacketDecoder::new(Side::Frontend, cap);
    let mut server = PacketDecoder::new(Side::Backend, cap);
    let mut turns = Vec::new();
    for (side, bytes) in events {
        let d = match side {
            Side::Frontend => &mut client,
            Side::Backend => &mut server,
        };
        d.push(bytes);
        while let Some(p) = d.next().unwrap() {
            let done = match side {
                Side::Frontend => conv.client(&p, Micros(0)),
                Side::Backend => conv.server(&p, Micros(0)),
            };
            turns.extend(done.unwrap_or_else(|e| panic!("{e}")));
        }
    }
    client.finish().unwrap();
    server.finish().unwrap();
    turns.extend(conv.finish());
    (turns, conv.encoding())
}

/// Which of `turns` a recorder stores as raw bytes only: every plain one
/// after the connection phase, until one is not. Plain, as read from the
/// exchange (see `Conversation::storing_plain_raw`): answered in full,
/// neither side cut, no local file, not a change of user.
fn raw_run(turns: &[Turn]) -> std::ops::Range<usize> {
    let command = |t: &Turn| t.request.get("command").cloned();
    let start = turns
        .iter()
        .take_while(|t| command(t) == Some(json!("connect")))
        .count();
    let plain = |t: &&Turn| {
        t.answered
            && !t.request_cut
            && !t.answer_cut
            && !t.answer.contains_key("infile")
            && command(t) != Some(json!("COM_CHANGE_USER"))
    };
    let run = turns[start..].iter().take_while(plain).count();
    start..start + run
}

/// The exchanges a recorder would store as raw bytes only (every plain one
/// after the connection phase, until one is not), stored so and decoded
/// again as a read does, decode as the conversation decoded them: in the
/// order stored, and each again when read first.
fn decode_later_as_recorded(turns: &[Turn], encoding: Encoding, cap: usize) {
    use crate::model::{Exchange, Later, Payload};
    let stored = |t: &Turn, nth: u64| {
        let later = Later {
            capabilities: encoding.capabilities,
            extended_types: encoding.extended_types,
            cap: cap as u64,
            nth,
        };
        let answered = t.answered || !t.answer.is_empty();
        stored_raw(
            7,
            later,
            t.request_raw.clone(),
            answered.then(|| t.answer_raw.clone()),
        )
    };
    let plain: Vec<&Turn> = turns[raw_run(turns)].iter().collect();
    let exchanges: Vec<Exchange> = (0..).zip(&plain).map(|(n, t)| stored(t, n)).collect();
    let check = |t: &Turn, e: &Exchange| {
        assert_eq!(e.error, None, "{:?}", t.request);
        let Payload::Wire { decoded, .. } = &e.request else {
            unreachable!()
        };
        assert_eq!(*decoded.value(), Value::Object(t.request.clone()));
        let answer = e.response.as_ref().map(|r| match r {
            Payload::Wire { decoded, .. } => decoded.value().into_owned(),
            _ => unreachable!(),
        });
        let want = (t.answered || !t.answer.is_empty()).then(|| Value::Object(t.answer.to_map()));
        assert_eq!(answer, want, "{:?}", t.request);
    };
    // In order.
    let mut later = Redecoder::default();
    for (t, e) in plain.iter().zip(&exchanges) {
        let mut e = e.clone();
        later
            .fill(&mut e, |_| Err("asked for earlier exchanges"))
            .unwrap_or_else(|err| panic!("{err}: {:?}", t.request));
        check(t, &e);
    }
    // Last first: each is read after the connection's earlier ones again.
    let mut later = Redecoder::default();
    for (i, t) in plain.iter().enumerate().rev() {
        let mut e = exchanges[i].clone();
        later
            .fill(&mut e, |each| {
                exchanges[..i].iter().for_each(each);
                Ok::<_, String>(())
            })
            .unwrap_or_else(|err| panic!("{err}: {:?}", t.request));
        check(t, &e);
    }
}

/// Every answer of a real session, written back from what was read, is
/// the bytes the server sent.
fn answers_write_back(events: &[(Side, Vec<u8>)]) -> usize {
    let (turns, enc) = converse_encoded(events, usize::MAX);
    let mut checked = 0;
    for t in &turns {
        let rows = match t.request["command"].as_str() {
            Some("COM_QUERY") => Rows::Text,
            Some("COM_STMT_EXECUTE") => Rows::Binary,
            Some("COM_STMT_FETCH") => Rows::Fetch,
            Some("connect") | None => continue,
            Some(_) => Rows::Text,
        };
        if t.answer.is_empty() {
            continue;
        }
        let payloads = encode_answer(&t.answer, rows, None, enc)
            .unwrap_or_else(|e| panic!("{e}: {:?}", t.request));
        let mut wire = Vec::new();
        let mut seq = 1u8;
        for p in payloads {
            seq = encode_payload(seq, &p, &mut wire);
        }
        assert_eq!(
            wire,
            t.answer_raw,
            "{:?}\n{}",
            t.request,
            serde_json::to_string(&t.answer).unwrap()
        );
        checked += 1;
    }
    checked
}

/// The exchange's SQL (lossy where it holds bytes that are not UTF-8).
fn sql_of(t: &Seen) -> String {
    let sql = t.request.get("sql").cloned().unwrap_or(Value::Null);
    match serde_json::from_value::<crate::wire::Bytes>(sql) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    }
}

/// The one exchange whose SQL starts with `start`.
fn find<'a>(turns: &'a [Seen], start: &str) -> &'a Seen {
    let found: Vec<&Seen> = turns
        .iter()
        .filter(|t| sql_of(t).starts_with(start))
        .collect();
    assert_eq!(found.len(), 1, "{start}: {:#?}", turns);
    found[0]
}

fn results(t: &Seen) -> &Vec<Value> {
    t.answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{t:?}"))
}

/// PyMySQL's text protocol against MariaDB, from connect to quit: every
/// command pairs with its whole answer, values read as sent, and a
/// 10,000-row result is held whole under a large cap and cut under a small
/// one while every other exchange still pairs.
#[test]
fn a_pymysql_session_pairs_every_command_with_its_answer() {
    let t = unique("conv");
    let script = "import sys, pymysql\n\
        from pymysql.constants import CLIENT\n\
        t = sys.argv[2]\n\
        c = pymysql.connect(host='127.0.0.1', port=int(sys.argv[1]), user='root', database='test', client_flag=CLIENT.MULTI_STATEMENTS)\n\
        cur = c.cursor()\n\
        cur.execute(f\"CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) UNIQUE, price DECIMAL(8,2), born DATE, at DATETIME(6), doc JSON, pic BLOB, mood ENUM('ok','meh'))\")\n\
        try:\n\
        \x20   cur.execute(f'INSERT INTO {t} (name, price, born, at, doc, pic, mood) VALUES (%s,%s,%s,%s,%s,%s,%s)', ('ann', '1.50', '2024-01-02', '2024-01-02 03:04:05.000006', '{\"a\": 1}', b'\\x00\\xff', 'ok'))\n\
        \x20   cur.execute('SELECT LAST_INSERT_ID()')\n\
        \x20   try:\n\
        \x20       cur.execute(f\"INSERT INTO {t} (name) VALUES ('ann')\")\n\
        \x20   except pymysql.err.IntegrityError: pass\n\
        \x20   c.begin(); cur.execute(f\"INSERT INTO {t} (name) VALUES ('bob')\"); c.rollback()\n\
        \x20   cur.execute(f'SELECT * FROM {t}')\n\
        \x20   cur.execute(f'SELECT NULL AS nothing, name FROM {t}')\n\
        \x20   cur.execute('SELECT seq FROM seq_1_to_10000')\n\
        \x20   cur.execute('SELECT 1 AS one; SELECT 2 AS two, 3 AS three')\n\
        \x20   while cur.nextset(): pass\n\
        \x20   cur.execute(f'CREATE PROCEDURE {t}_p() BEGIN SELECT 1 AS a; SELECT 2 AS b; END')\n\
        \x20   cur.execute(f'CALL {t}_p()')\n\
        \x20   while cur.nextset(): pass\n\
        finally:\n\
        \x20   cur.execute(f'DROP PROCEDURE IF EXISTS {t}_p')\n\
        \x20   cur.execute(f'DROP TABLE {t}')\n\
        c.close()\n";
    let events = tapped_in_order("python3", &["-c", script, "{port}", &t]);
    let turns = converse(&events, usize::MAX);
    let written = answers_write_back(&events);
    assert!(written >= 15, "{written}");

    let connect = &turns[0];
    assert_eq!(connect.request["command"], "connect");
    assert_eq!(connect.request["user"], "root");
    assert_eq!(connect.request["database"], "test");
    assert!(connect.answer["greeting"]["server_version"]
        .as_str()
        .unwrap()
        .contains("MariaDB"));
    assert!(connect.answer.contains_key("ok"), "{connect:?}");
    assert!(turns.iter().all(|t| t.answered), "{turns:#?}");
    assert_eq!(turns.last().unwrap().request["command"], "COM_QUIT");

    let insert = find(&turns, &format!("INSERT INTO {t} (name, price"));
    let ok = &results(insert)[0]["ok"];
    assert_eq!(
        (ok["affected_rows"].as_u64(), ok["last_insert_id"].as_u64()),
        (Some(1), Some(1))
    );
    let last = find(&turns, "SELECT LAST_INSERT_ID()");
    assert_eq!(results(last)[0]["rows"], json!([["1"]]));
    assert_eq!(results(last)[0]["columns"][0]["type"], "LONGLONG");

    let dup = find(&turns, &format!("INSERT INTO {t} (name) VALUES ('ann')"));
    assert_eq!(dup.answer["error"]["code"], 1062);
    assert_eq!(dup.answer["error"]["state"], "23000");
    assert!(dup.answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Duplicate entry 'ann'"));
    assert!(turns.iter().any(|t| sql_of(t) == "ROLLBACK"));

    let all = &results(find(&turns, &format!("SELECT * FROM {t}")))[0];
    assert_eq!(
        all["rows"],
        json!([[
            "1",
            "ann",
            "1.50",
            "2024-01-02",
            "2024-01-02 03:04:05.000006",
            "{\"a\": 1}",
            {"base64": "AP8="},
            "ok"
        ]])
    );
    let types: Vec<&str> = all["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "LONG",
            "VAR_STRING",
            "NEWDECIMAL",
            "DATE",
            "DATETIME",
            "BLOB",
            "BLOB",
            "STRING"
        ]
    );
    let nulls = &results(find(&turns, "SELECT NULL AS nothing"))[0];
    assert_eq!(nulls["rows"], json!([[null, "ann"]]));

    let many = &results(find(&turns, "SELECT seq FROM seq_1_to_10000"))[0];
    let rows = many["rows"].as_array().unwrap();
    assert_eq!((rows.len(), &rows[9999]), (10_000, &json!(["10000"])));
    assert_eq!(many.get("rows_cut"), None);

    let multi = results(find(&turns, "SELECT 1 AS one;"));
    assert_eq!(multi.len(), 2, "{multi:?}");
    assert_eq!(multi[1]["rows"], json!([["2", "3"]]));
    let call = results(find(&turns, &format!("CALL {t}_p()")));
    // Two result sets, then the OK of the call itself.
    assert_eq!(call.len(), 3, "{call:?}");
    assert_eq!(call[0]["rows"], json!([["1"]]));
    assert_eq!(call[1]["rows"], json!([["2"]]));
    assert!(call[2].get("ok").is_some(), "{call:?}");

    // Under a cap of 4 KiB the large result is cut, counted and flagged,
    // and every exchange is still paired as before.
    let small = converse(&events, 4096);
    assert_eq!(small.len(), turns.len());
    let cut = &results(find(&small, "SELECT seq FROM seq_1_to_10000"))[0];
    assert_eq!(cut["rows_cut"], true);
    assert_eq!(cut["rows_total"], 10_000);
    assert!(cut["rows"].as_array().unwrap().len() < 200);
    let cut_turn = find(&small, "SELECT seq FROM seq_1_to_10000");
    assert!(cut_turn.answer_cut && cut_turn.answer_raw.len() <= 4096);
    // Every row's packet was counted: a header, a length, the digits.
    let rows: u64 = (1..=10_000u64)
        .map(|n| 4 + 1 + n.to_string().len() as u64)
        .sum();
    assert!(
        cut_turn.answer_size > rows,
        "{} {rows}",
        cut_turn.answer_size
    );
    assert_eq!(
        results(find(&small, "SELECT NULL AS nothing"))[0]["rows"],
        json!([[null, "ann"]])
    );
}

/// Node's mysql2 with prepared statements (`execute`): each execute reads
/// as its statement's SQL with typed parameters, its rows in the binary
/// protocol read as typed values, and the close names the statement.
#[test]
fn mysql2_prepared_statements_read_as_sql_with_typed_values() {
    let t = unique("ps");
    let node_modules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/real-apps/node_modules"
    );
    let script = "const mysql = require('mysql2/promise');\n\
        (async () => {\n\
        const t = process.argv[2];\n\
        const c = await mysql.createConnection({host: '127.0.0.1', port: +process.argv[1], user: 'root', database: 'test'});\n\
        try {\n\
        await c.query(`CREATE TABLE ${t} (id INT AUTO_INCREMENT PRIMARY KEY, n BIGINT UNSIGNED, f DOUBLE, d DATE, at DATETIME(6), tm TIME, s VARCHAR(10), b BLOB)`);\n\
        const ins = `INSERT INTO ${t} (n, f, d, at, tm, s, b) VALUES (?, ?, ?, ?, ?, ?, ?)`;\n\
        await c.execute(ins, [42, 1.5, '2024-01-02', '2024-01-02 03:04:05.000006', '-01:02:03', 'x', Buffer.from([0, 255])]);\n\
        await c.execute(ins, [7, null, null, null, null, 'y', null]);\n\
        const sel = `SELECT * FROM ${t} WHERE id = ?`;\n\
        await c.execute(sel, [1]);\n\
        await c.execute(sel, [2]);\n\
        await c.unprepare(sel);\n\
        } finally {\n\
        await c.query(`DROP TABLE IF EXISTS ${t}`);\n\
        await c.end();\n\
        }\n\
        })().catch(e => { console.error(e); process.exit(1); });\n";
    let path = format!("NODE_PATH={node_modules}");
    let events = tapped_in_order("env", &[&path, "node", "-e", script, "{port}", &t]);
    let turns = converse(&events, usize::MAX);
    let written = answers_write_back(&events);
    assert!(written >= 8, "{written}");
    assert!(turns.iter().all(|t| t.answered), "{turns:#?}");

    let prepares: Vec<&Seen> = turns
        .iter()
        .filter(|t| t.request["command"] == "COM_STMT_PREPARE")
        .collect();
    assert_eq!(prepares.len(), 2, "{turns:#?}");
    assert_eq!(
        prepares[0].answer["prepared"]["params"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        prepares[1].answer["prepared"]["columns"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    let executes: Vec<&Seen> = turns
        .iter()
        .filter(|t| t.request["command"] == "COM_STMT_EXECUTE")
        .collect();
    assert_eq!(executes.len(), 4);
    assert!(sql_of(executes[0]).starts_with(&format!("INSERT INTO {t}")));
    let params = &executes[0].request["params"];
    // A JavaScript number goes as a DOUBLE.
    assert_eq!(executes[0].request["types"][0], "DOUBLE");
    assert_eq!(params[0], 42.0);
    assert_eq!(params[1], 1.5);
    assert_eq!(params[5], "x");
    assert_eq!(params[6], json!({"base64": "AP8="}));
    assert_eq!(executes[1].request["params"][1], Value::Null);
    assert_eq!(executes[1].request["params"][5], "y");
    assert_eq!(results(executes[0])[0]["ok"]["last_insert_id"], 1);
    assert_eq!(results(executes[1])[0]["ok"]["last_insert_id"], 2);

    assert_eq!(executes[2].request["params"], json!([1.0]));
    let row = &results(executes[2])[0]["rows"][0];
    assert_eq!(
        *row,
        json!([
            1,
            42,
            1.5,
            "2024-01-02",
            "2024-01-02 03:04:05.000006",
            "-01:02:03",
            "x",
            {"base64": "AP8="}
        ])
    );
    let row = &results(executes[3])[0]["rows"][0];
    assert_eq!(*row, json!([2, 7, null, null, null, null, "y", null]));

    let close = turns
        .iter()
        .find(|t| t.request["command"] == "COM_STMT_CLOSE")
        .expect("a close");
    assert!(sql_of(close).starts_with(&format!("SELECT * FROM {t}")));
    assert!(close.answer.is_empty());
}

/// A MySQL 8 greeting offering `caps`, its plugin caching_sha2_password.
fn mysql8_greeting(capabilities: u32) -> Vec<u8> {
    let mut p = vec![10];
    p.extend_from_slice(b"8.0.36\0");
    p.extend_from_slice(&8u32.to_le_bytes());
    p.extend_from_slice(b"abcdefgh\0");
    p.extend_from_slice(&(capabilities as u16).to_le_bytes());
    p.push(0xff);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&((capabilities >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(b"ijklmnopqrst\0");
    p.extend_from_slice(b"caching_sha2_password\0");
    p
}

/// A `HandshakeResponse41` taking up `capabilities`, its scramble `auth`.
fn mysql8_hello(capabilities: u32, auth: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&capabilities.to_le_bytes());
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(0xff);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(b"app\0");
    p.push(auth.len() as u8);
    p.extend_from_slice(auth);
    if capabilities & caps::CONNECT_WITH_DB != 0 {
        p.extend_from_slice(b"shop\0");
    }
    p.extend_from_slice(b"caching_sha2_password\0");
    p
}

/// A column definition's payload: `name` of type `t` in table `table` of
/// schema `shop`.
fn shop_column(table: &str, name: &str, t: u8, capabilities: u32) -> Vec<u8> {
    let (table, name) = (table.as_bytes(), name.as_bytes());
    column_payload([b"shop", table, name, name], t, capabilities)
}

/// The payload of a definition of a column of type `t` named by its
/// schema, table (its original table too), name and original name.
fn column_payload(names: [&[u8]; 4], t: u8, capabilities: u32) -> Vec<u8> {
    let [schema, table, name, org_name] = names;
    let c = Column {
        schema: schema.to_vec().into(),
        table: table.to_vec().into(),
        org_table: table.to_vec().into(),
        name: name.to_vec().into(),
        org_name: org_name.to_vec().into(),
        charset: 63,
        length: 11,
        column_type: t,
        flags: 0,
        decimals: 0,
        extended: None,
    };
    encoded(&c, capabilities)
}

/// A connection writes a result set's column definitions once per shape
/// and reuses the text: what it writes is the same as writing them anew,
/// whichever shapes it still holds.
#[test]
fn column_definitions_seen_before_are_written_the_same() {
    use caps::*;
    let offered = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD;
    let column = |table: &str, name: &str| shop_column(table, name, types::LONG, offered);
    let eof = b"\xfe\x00\x00\x02\x00".to_vec();
    let mut steps = vec![
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 32])),
        (Side::Backend, 2, b"\x00\x00\x00\x02\x00\x00\x00".to_vec()),
    ];
    // Six shapes, one table each, then the first two again: more shapes
    // than a connection keeps, so the first is written anew. Then one too
    // wide to keep, twice.
    let queries = [
        ("a", 2),
        ("b", 2),
        ("c", 2),
        ("d", 2),
        ("e", 2),
        ("f", 2),
        ("a", 2),
        ("b", 2),
        ("b", 2),
        ("wide", 40),
        ("wide", 40),
    ];
    for (t, width) in queries {
        let sql = format!("\x03SELECT * FROM {t}");
        steps.push((Side::Frontend, 0, sql.into_bytes()));
        steps.push((Side::Backend, 1, vec![width]));
        for c in 0..width {
            steps.push((Side::Backend, 2 + c, column(t, &format!("c{c}"))));
        }
        steps.push((Side::Backend, 2 + width, eof.clone()));
        steps.push((Side::Backend, 3 + width, b"\x011".repeat(width.into())));
        steps.push((Side::Backend, 4 + width, eof.clone()));
    }
    let mut conv = Conversation::new(usize::MAX, false);
    let turns = script(&mut conv, &steps).unwrap();
    assert_eq!(turns.len(), 1 + queries.len(), "{turns:#?}");
    for (t, (table, width)) in turns[1..].iter().zip(queries) {
        let set = &t.answer["results"][0];
        assert_eq!(set["columns"][0]["table"], table);
        assert_eq!(set["rows"], json!([vec!["1"; width.into()]]));
        assert_eq!(
            serde_json::to_string(&t.turn.answer).unwrap(),
            serde_json::to_string(&t.turn.answer.unshared()).unwrap(),
            "{table}"
        );
        assert_eq!(t.turn.answer.shared_columns(), [true], "{table}");
    }
    // The ninth answer reused the columns the eighth read and the text it
    // wrote; the first table's shape had been let go by the time it came
    // back, and the wide one was never kept.
    let json = |i: usize| turns[i].turn.answer.columns_text();
    let read = |i: usize| turns[i].turn.answer.columns_read();
    assert!(std::sync::Arc::ptr_eq(&json(8), &json(9)));
    assert!(std::sync::Arc::ptr_eq(&read(8), &read(9)));
    assert!(!std::sync::Arc::ptr_eq(&json(1), &json(7)));
    assert!(!std::sync::Arc::ptr_eq(&read(1), &read(7)));
    assert!(!std::sync::Arc::ptr_eq(&json(10), &json(11)));
    assert!(!std::sync::Arc::ptr_eq(&read(10), &read(11)));
}

/// A definition is taken unchecked only where a shape seen before had the
/// same payloads up to and with it: bytes inside a longer definition (here
/// a name) that look like the next one do not count.
#[test]
fn a_definition_is_checked_unless_a_shape_had_it_in_its_place() {
    use caps::*;
    let offered = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD;
    let eof = b"\xfe\x00\x00\x02\x00".to_vec();
    let column = |schema: &[u8], table: &[u8], name: &[u8]| {
        column_payload([schema, table, name, b""], types::LONG, offered)
    };
    // A malformed definition (its catalog is "abc") after its length, as
    // the connection lays definitions out; and a name holding those bytes
    // where, after a first definition of 22 bytes, the next one would lie.
    let malformed = b"\x03abc\x00".to_vec();
    let mut lookalike = (malformed.len() as u32).to_le_bytes().to_vec();
    lookalike.extend_from_slice(&malformed);
    let kept = column(b"shopshopshop", b"t", &lookalike);
    let first = column(b"", b"", b"");
    assert_eq!(first.len(), 22);
    let mut steps = vec![
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 32])),
        (Side::Backend, 2, b"\x00\x00\x00\x02\x00\x00\x00".to_vec()),
        (Side::Frontend, 0, b"\x03SELECT 1".to_vec()),
        (Side::Backend, 1, vec![1]),
        (Side::Backend, 2, kept),
        (Side::Backend, 3, eof.clone()),
        (Side::Backend, 4, eof.clone()),
        (Side::Frontend, 0, b"\x03SELECT 2".to_vec()),
        (Side::Backend, 1, vec![2]),
        (Side::Backend, 2, first),
    ];
    let mut conv = Conversation::new(usize::MAX, false);
    assert!(script(&mut conv, &steps).is_ok());
    steps.push((Side::Backend, 3, malformed));
    let mut conv = Conversation::new(usize::MAX, false);
    let e = script(&mut conv, &steps).expect_err("a malformed definition");
    assert!(e.reason.contains("catalog is \"abc\""), "{e:?}");
}

/// A recorder's conversation closes the run of plain exchanges as stored
/// raw, not described, but keeps what they did to the connection: after a
/// local file ends the run, an execute of the statement prepared and bound
/// in it reads with its SQL and the types bound then. (`converse` checks
/// every exchange against a conversation that describes them all.)
#[test]
fn what_exchanges_stored_raw_did_is_known_after_their_run() {
    use caps::*;
    let offered =
        PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | DEPRECATE_EOF | LOCAL_FILES | LONG_PASSWORD;
    let ok = b"\x00\x00\x00\x02\x00\x00\x00".to_vec();
    let prepare_ok = prepare_ok(1, 0, 1);
    // Statement 1, no cursor, one iteration, no NULLs, then the types
    // (bound: a LONG) or not, and the value.
    let execute = |bind: bool, value: i32| {
        let mut e = vec![0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        match bind {
            true => e.extend_from_slice(&[1, types::LONG, 0]),
            false => e.push(0),
        }
        e.extend_from_slice(&value.to_le_bytes());
        e
    };
    let steps = vec![
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 32])),
        (Side::Backend, 2, ok.clone()),
        (Side::Frontend, 0, b"\x16INSERT INTO t VALUES (?)".to_vec()),
        (Side::Backend, 1, prepare_ok),
        (
            Side::Backend,
            2,
            shop_column("", "?", types::VAR_STRING, offered),
        ),
        (Side::Frontend, 0, execute(true, 41)),
        (Side::Backend, 1, ok.clone()),
        (
            Side::Frontend,
            0,
            b"\x03LOAD DATA LOCAL INFILE 'f' INTO TABLE t".to_vec(),
        ),
        (Side::Backend, 1, b"\xfbf".to_vec()),
        (Side::Frontend, 2, b"7\n".to_vec()),
        (Side::Frontend, 3, Vec::new()),
        (Side::Backend, 4, ok.clone()),
        (Side::Frontend, 0, execute(false, 42)),
        (Side::Backend, 1, ok),
    ];
    let events: Vec<(Side, Vec<u8>)> = steps
        .iter()
        .map(|(side, seq, payload)| {
            let mut raw = Vec::new();
            encode_payload(*seq, payload, &mut raw);
            (*side, raw)
        })
        .collect();
    let turns = converse(&events, usize::MAX);
    let (recorded, _) = run(
        Conversation::new(usize::MAX, false).storing_plain_raw(),
        &events,
        usize::MAX,
    );
    let raw: Vec<bool> = recorded.iter().map(|t| t.raw.is_some()).collect();
    assert_eq!(raw, [false, true, true, false, false]);
    let last = &turns[4].request;
    assert_eq!(last["sql"], json!("INSERT INTO t VALUES (?)"));
    assert_eq!(
        (&last["params"], &last["types"]),
        (&json!([42]), &json!(["LONG"]))
    );
    assert_eq!(recorded[4].request, *last);
}

/// A prepare's OK: statement `stmt` with `columns` columns and `params`
/// parameters, no warnings.
fn prepare_ok(stmt: u32, columns: u16, params: u16) -> Vec<u8> {
    let mut p = vec![0];
    p.extend_from_slice(&stmt.to_le_bytes());
    p.extend_from_slice(&columns.to_le_bytes());
    p.extend_from_slice(&params.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0]);
    p
}

/// Feeds `(side, seq, payload)` in order; the exchanges and the encoding.
fn script(
    conv: &mut Conversation,
    steps: &[(Side, u8, Vec<u8>)],
) -> Result<Vec<Seen>, DecodeError> {
    let mut turns = Vec::new();
    let mut offsets = [0u64; 2];
    for (side, seq, payload) in steps {
        let at = &mut offsets[usize::from(*side == Side::Backend)];
        let mut raw = Vec::new();
        encode_payload(*seq, payload, &mut raw);
        let p = Payload {
            seq: *seq,
            bytes: payload.clone(),
            offset: *at,
            size: raw.len() as u64,
            len: payload.len() as u64,
            cut: false,
            packets: 1,
        };
        *at += raw.len() as u64;
        turns.extend(match side {
            Side::Frontend => conv.client(&p, Micros(0))?,
            Side::Backend => conv.server(&p, Micros(0))?,
        });
    }
    Ok(seen(turns))
}

/// caching_sha2_password's full authentication on a plain connection, byte
/// for byte as MySQL's documents give it (more data 0x04 "perform full
/// authentication", the client's 0x02 asking for the public key, the key,
/// the encrypted password, OK), then its fast path (0x03, OK); with
/// `--redact` neither the scramble, the key nor the password is kept.
#[test]
fn caching_sha2_full_and_fast_authentication_pair_as_one_exchange() {
    use caps::*;
    let offered = PROTOCOL_41
        | SECURE_CONNECTION
        | PLUGIN_AUTH
        | DEPRECATE_EOF
        | CONNECT_WITH_DB
        | LONG_PASSWORD;
    let ok = b"\x00\x00\x00\x02\x00\x00\x00".to_vec();
    let key = b"\x01-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----\n".to_vec();
    let secret = vec![0xA5; 256];
    let full = vec![
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 32])),
        (Side::Backend, 2, b"\x01\x04".to_vec()),
        (Side::Frontend, 3, b"\x02".to_vec()),
        (Side::Backend, 4, key.clone()),
        (Side::Frontend, 5, secret.clone()),
        (Side::Backend, 6, ok.clone()),
    ];
    let mut conv = Conversation::new(usize::MAX, false);
    let turns = script(&mut conv, &full).unwrap();
    assert_eq!(turns.len(), 1);
    let t = &turns[0];
    assert!(t.answered);
    assert_eq!(t.request["user"], "app");
    assert_eq!(t.request["database"], "shop");
    assert_eq!(
        t.answer["auth"],
        json!([{"more": "full auth"}, {"client": {"base64": "Ag=="}}, {"more": String::from_utf8_lossy(&key[1..])}, {"client": {"base64": base64_of(&secret)}}])
    );
    assert_eq!(t.answer["ok"]["status"], 2);
    assert!(conv.encoding().capabilities & DEPRECATE_EOF != 0);

    let mut redacted = Conversation::new(usize::MAX, true);
    let t = &script(&mut redacted, &full).unwrap()[0];
    let stored =
        serde_json::to_string(&t.request).unwrap() + &serde_json::to_string(&t.answer).unwrap();
    assert!(
        !stored.contains("auth_response") && !stored.contains("PUBLIC KEY"),
        "{stored}"
    );
    assert!(!stored.contains(&base64_of(&secret)), "{stored}");
    assert_eq!(
        t.answer["auth"],
        json!([{"more": "full auth"}, {"more": "[redacted]"}])
    );

    let fast = vec![
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 32])),
        (Side::Backend, 2, b"\x01\x03".to_vec()),
        (Side::Backend, 3, ok),
    ];
    let t = &script(&mut Conversation::new(usize::MAX, false), &fast).unwrap()[0];
    assert_eq!(t.answer["auth"], json!([{"more": "fast auth"}]));
    assert!(t.answered);
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Under DEPRECATE_EOF (MySQL 8's clients) rows end in an OK whose header
/// is 0xFE and no EOF follows the column definitions; an execute that
/// opens a cursor answers with its columns only and the fetch brings the
/// rows. Every answer writes back to its bytes.
#[test]
fn deprecate_eof_results_and_a_cursor_read_and_write_back() {
    use caps::*;
    let offered = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | DEPRECATE_EOF | LONG_PASSWORD;
    let column = |name: &str, t: u8| shop_column("t", name, t, offered);
    // SELECT id, name: two columns, two rows, the OK that ends them.
    let end = b"\xfe\x00\x00\x02\x00\x00\x00".to_vec();
    let prepare_ok = prepare_ok(1, 1, 0);
    let mut execute = vec![0x17];
    execute.extend_from_slice(&1u32.to_le_bytes());
    execute.push(1); // CURSOR_TYPE_READ_ONLY
    execute.extend_from_slice(&1u32.to_le_bytes());
    let mut fetch = vec![0x1c];
    fetch.extend_from_slice(&1u32.to_le_bytes());
    fetch.extend_from_slice(&10u32.to_le_bytes());
    let steps = vec![
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 32])),
        (Side::Backend, 2, b"\x00\x00\x00\x02\x00\x00\x00".to_vec()),
        (Side::Frontend, 0, b"\x03SELECT id, name FROM t".to_vec()),
        (Side::Backend, 1, vec![2]),
        (Side::Backend, 2, column("id", types::LONG)),
        (Side::Backend, 3, column("name", types::VAR_STRING)),
        (Side::Backend, 4, b"\x011\x03ann".to_vec()),
        (Side::Backend, 5, b"\x012\xfb".to_vec()),
        (Side::Backend, 6, end.clone()),
        (Side::Frontend, 0, b"\x16SELECT id FROM t".to_vec()),
        (Side::Backend, 1, prepare_ok),
        (Side::Backend, 2, column("id", types::LONG)),
        (Side::Frontend, 0, execute),
        (Side::Backend, 1, vec![1]),
        (Side::Backend, 2, column("id", types::LONG)),
        // The cursor is open: status CURSOR_EXISTS | AUTOCOMMIT.
        (Side::Backend, 3, b"\xfe\x00\x00\x42\x00\x00\x00".to_vec()),
        (Side::Frontend, 0, fetch),
        (Side::Backend, 1, b"\x00\x00\x07\x00\x00\x00".to_vec()),
        // The last row sent: LAST_ROW_SENT | AUTOCOMMIT.
        (Side::Backend, 2, b"\xfe\x00\x00\x82\x00\x00\x00".to_vec()),
    ];
    let mut conv = Conversation::new(usize::MAX, false);
    let turns = script(&mut conv, &steps).unwrap();
    assert_eq!(turns.len(), 5, "{turns:#?}");
    assert!(turns.iter().all(|t| t.answered));
    let query = &turns[1].answer["results"][0];
    assert_eq!(query["rows"], json!([["1", "ann"], ["2", null]]));
    assert_eq!(turns[2].answer["prepared"]["columns"][0]["name"], "id");
    let cursor = &turns[3].answer["results"][0];
    assert_eq!(
        (
            cursor["rows"].as_array().unwrap().len(),
            cursor["status"].as_u64()
        ),
        (0, Some(0x42))
    );
    assert_eq!(turns[4].request["sql"], "SELECT id FROM t");
    assert_eq!(turns[4].answer["results"][0]["rows"], json!([[7]]));
    let enc = conv.encoding();
    for (t, rows) in [
        (&turns[1], Rows::Text),
        (&turns[2], Rows::Text),
        (&turns[3], Rows::Binary),
        (&turns[4], Rows::Fetch),
    ] {
        let mut wire = Vec::new();
        let mut seq = 1u8;
        for p in encode_answer(&t.answer, rows, None, enc).unwrap() {
            seq = encode_payload(seq, &p, &mut wire);
        }
        assert_eq!(wire, t.answer_raw, "{:?}", t.request);
    }
}

/// A packet out of sequence, a command that is not one, an answer with no
/// command: each is an error naming the side, what was read and where.
#[test]
fn broken_conversations_say_which_side_what_and_where() {
    use caps::*;
    let offered = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD;
    let hello = vec![
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 32])),
        (Side::Backend, 2, b"\x00\x00\x00\x02\x00\x00\x00".to_vec()),
    ];
    // Where the next payload of each side starts: after the greeting and
    // the OK (4-byte headers), and after the client's answer.
    let server_at = hello[0].2.len() + 4 + hello[2].2.len() + 4;
    let client_at = hello[1].2.len() + 4;
    let with = |more: Vec<(Side, u8, Vec<u8>)>| {
        let mut steps = hello.clone();
        steps.extend(more);
        script(&mut Conversation::new(usize::MAX, false), &steps)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        with(vec![
            (Side::Frontend, 0, b"\x03SELECT 1".to_vec()),
            (Side::Backend, 3, vec![1])
        ]),
        format!("malformed answer to COM_QUERY from the server at byte {server_at}: sequence id 3 where 1 was due")
    );
    assert_eq!(
        with(vec![(Side::Frontend, 2, b"\x0e".to_vec())]),
        format!("malformed command from the client at byte {client_at}: a command with sequence id 2, where a command starts at 0")
    );
    assert_eq!(
        with(vec![(
            Side::Backend,
            3,
            b"\x00\x00\x00\x02\x00\x00\x00".to_vec()
        )]),
        format!("malformed answer from the server at byte {server_at}: a packet with no command waiting for one")
    );
    assert_eq!(
        with(vec![(Side::Frontend, 0, b"\x0e\x00".to_vec())]),
        format!("malformed command from the client at byte {client_at}: COM_PING of 1 bytes where it has 0")
    );
    // A text row is checked as it comes, though kept as its payload: a
    // value longer than the row.
    let column = shop_column("t", "a", 0xFD, offered);
    let row_at = server_at + 5 + column.len() + 4 + 5 + 4;
    let broken_row = with(vec![
        (Side::Frontend, 0, b"\x03SELECT a FROM t".to_vec()),
        (Side::Backend, 1, vec![1]),
        (Side::Backend, 2, column),
        (Side::Backend, 3, b"\xfe\x00\x00\x02\x00".to_vec()),
        (Side::Backend, 4, b"\x05ab".to_vec()),
    ]);
    assert_eq!(
        broken_row,
        format!("malformed answer to COM_QUERY from the server at byte {row_at}: the payload ends before column 1")
    );
    // So is a binary row: a DATE of a length no DATE has, in an execute's
    // answer (statement 1, no parameters, prepared with no columns).
    let prepared = prepare_ok(1, 0, 0);
    let column = shop_column("t", "d", 0x0A, offered);
    let row_at = server_at + 4 + prepared.len() + 5 + column.len() + 4 + 5 + 4;
    let broken_row = with(vec![
        (Side::Frontend, 0, b"\x16SELECT d FROM t".to_vec()),
        (Side::Backend, 1, prepared),
        (
            Side::Frontend,
            0,
            b"\x17\x01\x00\x00\x00\x00\x01\x00\x00\x00".to_vec(),
        ),
        (Side::Backend, 1, vec![1]),
        (Side::Backend, 2, column),
        (Side::Backend, 3, b"\xfe\x00\x00\x02\x00".to_vec()),
        (
            Side::Backend,
            4,
            b"\x00\x00\x05\xe8\x07\x0c\x06\x01".to_vec(),
        ),
    ]);
    assert_eq!(
        broken_row,
        format!("malformed answer to COM_STMT_EXECUTE from the server at byte {row_at}: column 1 (d): a DATE of 5 bytes, not 0, 4, 7 or 11")
    );
    let greeting = &hello[0];
    let eager = script(
        &mut Conversation::new(usize::MAX, false),
        &[
            greeting.clone(),
            (Side::Backend, 1, b"\x00\x00\x00\x02\x00\x00\x00".to_vec()),
            hello[1].clone(),
        ],
    );
    assert_eq!(
        eager.unwrap_err().to_string(),
        format!(
            "malformed answer to the connection phase from the server at byte {}: the server sent a packet before the client answered its greeting",
            greeting.2.len() + 4
        )
    );
    let early = script(
        &mut Conversation::new(usize::MAX, false),
        &[(Side::Frontend, 0, b"\x03SELECT 1".to_vec())],
    );
    assert!(early
        .unwrap_err()
        .to_string()
        .contains("before the server's greeting"));
}

/// What the review of the conversation found, each by the bytes that show
/// it: a server that refuses with an ERR in place of the greeting (sequence
/// id 0), MariaDB's dialog plugin sending its prompt with no 0x01 before
/// it, a query the server ends with an ERR after some rows (whole, and
/// written back as sent), and a cursor opened under DEPRECATE_EOF written
/// for a client without it (one EOF, not two).
#[test]
fn refusals_dialogs_errors_inside_rows_and_cursors_read_as_sent() {
    use caps::*;
    let refused = script(
        &mut Conversation::new(usize::MAX, false),
        &[(
            Side::Backend,
            0,
            b"\xff\x10\x04#08004Too many connections".to_vec(),
        )],
    )
    .unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].answer["error"]["code"], 1040);

    let offered = PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD;
    let dialog = [
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 20])),
        (Side::Backend, 2, b"\xfedialog\0\x04Password: ".to_vec()),
        (Side::Frontend, 3, b"s3cret\0".to_vec()),
        (Side::Backend, 4, b"\x04Code: ".to_vec()),
        (Side::Frontend, 5, b"123456\0".to_vec()),
        (Side::Backend, 6, b"\x00\x00\x00\x02\x00\x00\x00".to_vec()),
    ];
    let t = &script(&mut Conversation::new(usize::MAX, true), &dialog).unwrap()[0];
    assert!(t.answered && t.answer.contains_key("ok"), "{t:?}");
    let stored = serde_json::to_string(&t.answer).unwrap();
    assert!(
        !stored.contains("s3cret") && !stored.contains("Code"),
        "{stored}"
    );

    let mut conv = Conversation::new(usize::MAX, false);
    let column = column_payload([b"", b"", b"n", b""], types::LONG, offered);
    let killed = [
        (Side::Backend, 0, mysql8_greeting(offered)),
        (Side::Frontend, 1, mysql8_hello(offered, &[7; 20])),
        (Side::Backend, 2, b"\x00\x00\x00\x02\x00\x00\x00".to_vec()),
        (Side::Frontend, 0, b"\x03SELECT n FROM t".to_vec()),
        (Side::Backend, 1, vec![1]),
        (Side::Backend, 2, column.clone()),
        (Side::Backend, 3, b"\xfe\x00\x00\x02\x00".to_vec()),
        (Side::Backend, 4, b"\x011".to_vec()),
        (
            Side::Backend,
            5,
            b"\xff\x25\x05#70100Query execution was interrupted".to_vec(),
        ),
    ];
    let turns = script(&mut conv, &killed).unwrap();
    let t = &turns[1];
    assert!(t.answered);
    assert_eq!(t.answer["results"][0]["rows"], json!([["1"]]));
    assert_eq!(t.answer["error"]["code"], 1317);
    let mut wire = Vec::new();
    let mut seq = 1u8;
    for p in encode_answer(&t.answer, Rows::Text, None, conv.encoding()).unwrap() {
        seq = encode_payload(seq, &p, &mut wire);
    }
    assert_eq!(wire, t.answer_raw);

    let deprecating = offered | DEPRECATE_EOF;
    let mut execute = vec![0x17];
    execute.extend_from_slice(&1u32.to_le_bytes());
    execute.push(1);
    execute.extend_from_slice(&1u32.to_le_bytes());
    let prepare_ok = prepare_ok(1, 1, 0);
    let cursor = [
        (Side::Backend, 0, mysql8_greeting(deprecating)),
        (Side::Frontend, 1, mysql8_hello(deprecating, &[7; 20])),
        (Side::Backend, 2, b"\x00\x00\x00\x02\x00\x00\x00".to_vec()),
        (Side::Frontend, 0, b"\x16SELECT n FROM t".to_vec()),
        (Side::Backend, 1, prepare_ok),
        (Side::Backend, 2, column.clone()),
        (Side::Frontend, 0, execute),
        (Side::Backend, 1, vec![1]),
        (Side::Backend, 2, column),
        (Side::Backend, 3, b"\xfe\x00\x00\x42\x00\x00\x00".to_vec()),
    ];
    let turns = script(&mut Conversation::new(usize::MAX, false), &cursor).unwrap();
    let opened = &turns[2].answer;
    assert_eq!(opened["results"][0]["cursor"], true, "{opened:?}");
    let old_client = Encoding {
        capabilities: offered,
        extended_types: false,
    };
    let payloads = encode_answer(opened, Rows::Binary, None, old_client).unwrap();
    // The column count, its definition, one EOF.
    assert_eq!(payloads.len(), 3, "{payloads:?}");
    assert_eq!(payloads[2], b"\xfe\x00\x00\x42\x00");
}

/// A column definition's payload, as a server that offered `capabilities`
/// (and no extended types) writes it.
fn encoded(c: &Column, capabilities: u32) -> Vec<u8> {
    let mut b = Vec::new();
    encode_column(
        c,
        Encoding {
            capabilities,
            extended_types: false,
        },
        &mut b,
    );
    b
}
