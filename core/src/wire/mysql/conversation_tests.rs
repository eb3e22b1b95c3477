//! The conversation layer on what real clients and the local MariaDB say
//! to each other, and on answers built byte for byte from the protocol's
//! documents where no client here sends them.

use serde_json::{json, Value};

use super::tests::tapped_in_order;
use super::*;
use crate::time::Micros;
use crate::wire::Side;

/// A name no other test uses, for a table or procedure of this test's own.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("reel_{prefix}_{}_{nanos}", std::process::id())
}

/// The exchanges one connection's bytes make, fed in the order they came,
/// each direction in reads as they were taken.
fn converse(events: &[(Side, Vec<u8>)], cap: usize) -> Vec<Turn> {
    let mut conv = Conversation::new(cap, false);
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
    turns
}

/// The exchange's SQL (lossy where it holds bytes that are not UTF-8).
fn sql_of(t: &Turn) -> String {
    let sql = t.request.get("sql").cloned().unwrap_or(Value::Null);
    match serde_json::from_value::<crate::wire::Bytes>(sql) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => String::new(),
    }
}

/// The one exchange whose SQL starts with `start`.
fn find<'a>(turns: &'a [Turn], start: &str) -> &'a Turn {
    let found: Vec<&Turn> = turns
        .iter()
        .filter(|t| sql_of(t).starts_with(start))
        .collect();
    assert_eq!(found.len(), 1, "{start}: {:#?}", turns);
    found[0]
}

fn results(t: &Turn) -> &Vec<Value> {
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
    assert!(turns.iter().all(|t| t.answered), "{turns:#?}");

    let prepares: Vec<&Turn> = turns
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

    let executes: Vec<&Turn> = turns
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
