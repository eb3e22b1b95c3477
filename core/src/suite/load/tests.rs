//! Loading suite folders as a reviewer may have edited them: mock lines
//! dispatched by their protocol, and Postgres values that cannot go on the
//! wire refused with the file and line.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::suite::BodySpec;

const HTTP_LINE: &str = r#"{"id":"0001-get-books#1","seq":2,"dependency":"pricing","protocol":"http","request":{"method":"GET","target":"/price"},"response":{"status":200}}"#;

/// A recorded `select 1` as generate writes it (one line, no spaces).
fn pg_line() -> String {
    let line = json!({
        "id": "0001-get-books#2",
        "seq": 3,
        "dependency": "db",
        "protocol": "postgres",
        "connection": 1,
        "request": [{"type": "Query", "sql": "select 1"}],
        "response": [
            {"type": "RowDescription", "fields": [{"name": "?column?", "table_oid": 0, "column": 0, "type_oid": 23, "type_size": 4, "type_modifier": -1, "format": 0}]},
            {"type": "DataRow", "values": ["1"]},
            {"type": "CommandComplete", "tag": "SELECT 1"},
            {"type": "ReadyForQuery", "status": "idle"}
        ]
    });
    serde_json::to_string(&line).unwrap()
}

/// A suite folder with one case whose mocks file holds `lines`.
fn suite_with(dir: &Path, server_parameters: Value, lines: &[String]) {
    let suite = json!({
        "reel_suite": 1,
        "name": "s",
        "session": {"id": 1, "name": "s", "recorded_at": "2024-01-01T00:00:00Z"},
        "app": {"command": null, "target": "http://127.0.0.1:8080"},
        "dependencies": [
            {"name": "db", "protocol": "postgres", "listen": "127.0.0.1:15432", "server_parameters": server_parameters}
        ]
    });
    let case = json!({
        "name": "0001-get-books",
        "seq": 1,
        "recorded_at": "2024-01-01T00:00:00Z",
        "request": {"method": "GET", "target": "/books"},
        "response": {"status": 200},
        "mocks": "mocks/0001-get-books.jsonl"
    });
    std::fs::create_dir_all(dir.join("cases")).unwrap();
    std::fs::create_dir_all(dir.join("mocks")).unwrap();
    std::fs::write(dir.join("suite.json"), suite.to_string()).unwrap();
    std::fs::write(dir.join("cases/0001-get-books.json"), case.to_string()).unwrap();
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join("mocks/0001-get-books.jsonl"), text).unwrap();
}

fn mocks_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0001-get-books.jsonl");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn lines_are_dispatched_on_their_protocol_field_however_spaced() {
    let spaced = pg_line().replace(r#""protocol":"postgres""#, r#""protocol" :  "postgres""#);
    assert!(spaced.contains(r#""protocol" :  "postgres""#));
    let (_dir, path) = mocks_file(&format!("{HTTP_LINE}\n\n{spaced}\n{}\n", pg_line()));
    let lines = load_mocks(&path).unwrap();
    assert_eq!(lines.http.len(), 1);
    assert_eq!(lines.postgres.len(), 2);
    assert_eq!(lines.postgres[0], lines.postgres[1]);
    assert_eq!(lines.postgres[0].sql(), Some("select 1"));
}

#[test]
fn an_unknown_or_missing_protocol_names_the_file_and_line() {
    let amqp = HTTP_LINE.replace(r#""protocol":"http""#, r#""protocol":"amqp""#);
    let (_dir, path) = mocks_file(&format!("{HTTP_LINE}\n{amqp}\n"));
    assert_eq!(
        load_mocks(&path).unwrap_err().to_string(),
        format!(
            "{}:2: unknown protocol 'amqp' (mocks are http, postgres, redis or mysql)",
            path.display()
        )
    );
    let none = HTTP_LINE.replace(r#""protocol":"http","#, "");
    let (_dir, path) = mocks_file(&format!("{none}\n"));
    assert_eq!(
        load_mocks(&path).unwrap_err().to_string(),
        format!(
            r#"{}:1: no "protocol" (mocks are "http", "postgres", "redis" or "mysql")"#,
            path.display()
        )
    );
}

#[test]
fn a_line_that_does_not_parse_names_the_file_and_line() {
    let broken = pg_line().replace(r#""sql":"select 1""#, r#""sql":42"#);
    let (_dir, path) = mocks_file(&format!("{HTTP_LINE}\n{}\n{broken}\n", pg_line()));
    let err = load_mocks(&path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:3: ", path.display())), "{err}");
    let (_dir, path) = mocks_file("{\"protocol\": \"http\"\n");
    let err = load_mocks(&path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:1: ", path.display())), "{err}");
}

#[test]
fn an_edited_postgres_value_that_cannot_go_on_the_wire_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    // The reviewer "fixed" a command tag with a JSON escape for NUL.
    let edited = pg_line().replace(r#""tag":"SELECT 1""#, r#""tag":"SELECT\u00001""#);
    assert_ne!(edited, pg_line());
    suite_with(dir.path(), json!([]), &[HTTP_LINE.to_owned(), edited]);
    let err = load_suite(dir.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: response message 3 (CommandComplete): tag contains a NUL byte",
            dir.path().join("mocks/0001-get-books.jsonl").display()
        )
    );

    let edited = pg_line().replace(r#""sql":"select 1""#, r#""sql":"select\u0000 1""#);
    suite_with(dir.path(), json!([]), &[edited]);
    assert!(load_suite(dir.path())
        .unwrap_err()
        .to_string()
        .ends_with(":1: request message 1 (Query): sql contains a NUL byte"),);

    // Unedited, the same suite loads.
    suite_with(dir.path(), json!([["TimeZone", "UTC"]]), &[pg_line()]);
    let suite = load_suite(dir.path()).unwrap();
    assert_eq!(suite.cases[0].pg.len(), 1);
}

#[test]
fn a_server_parameter_that_cannot_go_on_the_wire_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let params = json!([["server_encoding", "UTF8"], ["TimeZone", "U\u{0}TC"]]);
    suite_with(dir.path(), params, &[pg_line()]);
    assert_eq!(
        load_suite(dir.path()).unwrap_err().to_string(),
        format!(
            r#"{}: dependency 'db': server_parameters[1] ("TimeZone"): value contains a NUL byte"#,
            dir.path().join("suite.json").display()
        )
    );
}

/// A suite written before format 2 keeps its unwritten rule: a recorded UUID
/// or RFC 3339 timestamp in a dependency request accepts any of its kind, read
/// as a matcher; in a format 2 suite only written matchers loosen anything.
#[test]
fn a_format_1_suite_reads_its_recorded_uuids_and_timestamps_as_matchers() {
    let bind = json!({
        "id": "0001-get-books#2", "seq": 3, "dependency": "db", "protocol": "postgres",
        "connection": 1,
        "request": [
            {"type": "Bind", "portal": "", "statement": "s1", "param_formats": [0, 0, 0],
             "params": ["1b4e28ba-2fa1-11d2-883f-0016d3cca427", "2024-01-01T00:00:00Z", "42"],
             "result_formats": [], "prepared": "select $1, $2, $3"},
            {"type": "Sync"}
        ],
        "response": [{"type": "BindComplete"}, {"type": "ReadyForQuery", "status": "idle"}]
    })
    .to_string();
    let http = json!({
        "id": "0001-get-books#1", "seq": 2, "dependency": "pricing", "protocol": "http",
        "request": {"method": "POST", "target": "/price",
                    "body": {"json": {"trace": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "n": "42"}}},
        "response": {"status": 200}
    })
    .to_string();
    for (version, loosened) in [(1, true), (2, false)] {
        let dir = tempfile::tempdir().unwrap();
        suite_with(dir.path(), json!([]), &[http.clone(), bind.clone()]);
        let suite_json = dir.path().join("suite.json");
        let text = std::fs::read_to_string(&suite_json).unwrap();
        std::fs::write(
            &suite_json,
            text.replace("\"reel_suite\":1", &format!("\"reel_suite\":{version}")),
        )
        .unwrap();
        let s = load_suite(dir.path()).unwrap();
        let pg = &s.cases[0].pg[0].request[0];
        let expected: std::collections::BTreeMap<usize, String> = if loosened {
            [(0, "uuid".to_owned()), (1, "timestamp".to_owned())].into()
        } else {
            Default::default()
        };
        assert_eq!(pg.matchers, expected, "format {version}");
        let Some(BodySpec::Json(body)) = &s.cases[0].mocks[0].request.body else {
            panic!("{:?}", s.cases[0].mocks[0])
        };
        assert_eq!(
            body["trace"] == json!({"$reel": "uuid"}),
            loosened,
            "format {version}: {body}"
        );
        assert_eq!(body["n"], "42");
    }
}

/// reel writes into a suite (pending snapshots, loosened mock lines): a case
/// naming a mocks file outside it, or a folder that is a link out of it, is
/// refused at load rather than written through later.
#[test]
fn mock_files_and_folders_that_lead_out_of_the_suite_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s");
    suite_with(&s, json!([]), &[HTTP_LINE.to_owned()]);
    assert!(load_suite(&s).is_ok());
    let case = s.join("cases/0001-get-books.json");
    let text = std::fs::read_to_string(&case).unwrap();
    std::fs::copy(
        s.join("mocks/0001-get-books.jsonl"),
        dir.path().join("outside.jsonl"),
    )
    .unwrap();
    for rel in [
        "../outside.jsonl",
        &dir.path().join("outside.jsonl").display().to_string(),
    ] {
        std::fs::write(&case, text.replace("mocks/0001-get-books.jsonl", rel)).unwrap();
        let err = load_suite(&s).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}: mocks: '{rel}' is not a path inside the suite folder (like mocks/0001-get-books.jsonl)",
                case.display()
            )
        );
    }
    std::fs::write(&case, &text).unwrap();

    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(s.join("mocks"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, s.join("mocks")).unwrap();
    let err = load_suite(&s).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: is a link", s.join("mocks").display())),
        "{err}"
    );
    std::fs::remove_file(s.join("mocks")).unwrap();
    std::fs::rename(&elsewhere, s.join("mocks")).unwrap();

    std::fs::rename(s.join("cases"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, s.join("cases")).unwrap();
    let err = load_suite(&s).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: is a link", s.join("cases").display())),
        "{err}"
    );
}

/// An HTTP mock the mock server could not send (it answered the app with a
/// 500 no report explained) fails the load with the file, line and field, as
/// a Postgres line does; so does a case's request or expected response.
#[test]
fn an_edited_http_value_that_cannot_go_on_the_wire_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let mocks = dir.path().join("mocks/0001-get-books.jsonl");
    let edits = [
        (
            r#""status":200"#,
            r#""status":1000"#,
            "response status 1000: not an HTTP status (three digits, 100 to 999)",
        ),
        (
            r#""status":200"#,
            r#""status":200,"headers":[["x-a","1\r\nset-cookie: a=b"]]"#,
            r#"response header 1 ("x-a"): the value contains a CR (\r), which a header value cannot hold"#,
        ),
        (
            r#""status":200"#,
            r#""status":200,"headers":[["x bad","1"]]"#,
            r#"response header 1 ("x bad"): the name contains a space, which a header name cannot hold"#,
        ),
        (
            r#""status":200"#,
            r#""status":200,"body":{"json":{"price":{"$reel":"numbr"}}}"#,
            r#"$.response.body.json.price: {"$reel": "numbr"} is not a matcher reel knows (known: any, uuid, timestamp, token, epoch_seconds, epoch_millis, string, number, boolean, password_hash, jwt, hex, base64, bytes)"#,
        ),
        (
            r#""target":"/price""#,
            r#""target":"/price","headers":[["x(a)","1"]]"#,
            r#"request header 1 ("x(a)"): the name contains '(', which a header name cannot hold"#,
        ),
    ];
    for (from, to, what) in edits {
        let edited = HTTP_LINE.replace(from, to);
        assert_ne!(edited, HTTP_LINE);
        suite_with(dir.path(), json!([]), &[pg_line(), edited]);
        assert_eq!(
            load_suite(dir.path()).unwrap_err().to_string(),
            format!("{}:2: {what}", mocks.display())
        );
    }

    suite_with(dir.path(), json!([]), &[HTTP_LINE.to_owned()]);
    let case = dir.path().join("cases/0001-get-books.json");
    let text = std::fs::read_to_string(&case).unwrap();
    for (from, to, what) in [
        (
            r#""status":200"#,
            r#""status":70000"#,
            "", // not a u16: serde says so, with the line
        ),
        (
            r#""target":"/books""#,
            r#""target":"/books","headers":[["accept","a\nb"]]"#,
            r#"request header 1 ("accept"): the value contains a LF (\n), which a header value cannot hold"#,
        ),
        (
            r#""status":200"#,
            r#""status":20"#,
            "response status 20: not an HTTP status (three digits, 100 to 999)",
        ),
        (
            r#""status":200"#,
            r#""status":200,"body":{"json":[{"id":{"$reel":"UUID"}}]}"#,
            r#"$.response.body.json[0].id: {"$reel": "UUID"} is not a matcher reel knows (known: any, uuid, timestamp, token, epoch_seconds, epoch_millis, string, number, boolean, password_hash, jwt, hex, base64, bytes)"#,
        ),
    ] {
        std::fs::write(&case, text.replace(from, to)).unwrap();
        let err = load_suite(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: ", case.display())), "{err}");
        assert!(err.ends_with(what), "{err}");
    }
}

/// A noise path that does not read as a JSON path would silently ignore
/// nothing: the load fails naming the file, the path and what is wrong.
#[test]
fn a_noise_path_that_is_no_json_path_fails_the_load() {
    let dir = tempfile::tempdir().unwrap();
    suite_with(dir.path(), json!([]), &[HTTP_LINE.to_owned()]);
    let suite = dir.path().join("suite.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&suite).unwrap()).unwrap();
    v["noise"] = json!({"headers": [], "body_paths": ["$.items[x].at"]});
    std::fs::write(&suite, v.to_string()).unwrap();
    assert_eq!(
        load_suite(dir.path()).unwrap_err().to_string(),
        format!(
            "{}: noise body_paths: a bad index 'x' in '$.items[x].at'",
            suite.display()
        )
    );
    v["noise"]["body_paths"] = json!(["$.items[*].at", "$[\"a.b\"]"]);
    std::fs::write(&suite, v.to_string()).unwrap();
    load_suite(dir.path()).unwrap();

    let case = dir.path().join("cases/0001-get-books.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&case).unwrap()).unwrap();
    c["noise"] = json!({"headers": [], "body_paths": ["$.a["]});
    std::fs::write(&case, c.to_string()).unwrap();
    assert_eq!(
        load_suite(dir.path()).unwrap_err().to_string(),
        format!(
            "{}: noise body_paths: an unclosed '[' in '$.a['",
            case.display()
        )
    );
}

/// Found by the `suite_case` fuzz target: serde_json's default float parser
/// may read a number one unit in the last place off, so a case that reel
/// rewrites (review, loosening) changed its numbers at every write.
#[test]
fn a_case_written_again_keeps_its_numbers() {
    let text = json!({
        "name": "0001-get-price",
        "seq": 1,
        "recorded_at": "2024-01-01T00:00:00Z",
        "request": {"method": "GET", "target": "/price"},
        "response": {"status": 200, "body": {"json": {"price": 1}}}
    })
    .to_string()
    .replace(r#""price":1"#, r#""price":4.577777777777779e71"#);
    let path = Path::new("cases/0001-get-price.json");
    let written = crate::suite::to_pretty(&parse_case(path, &text).unwrap());
    assert!(written.contains("4.577777777777779e+71"), "{written}");
    let again = crate::suite::to_pretty(&parse_case(path, &written).unwrap());
    assert_eq!(again, written);
}

/// A Redis line loads with its matchers; one whose reply RESP cannot carry,
/// or whose matcher reel does not know, is refused with its file and line.
#[test]
fn redis_lines_load_and_bad_ones_name_file_and_line() {
    let good = r#"{"id":"0001-get-x#1","seq":4,"dependency":"cache","protocol":"redis","connection":2,"cmd":["GET","session:{\"$reel\":\"uuid\"}"],"reply":"{\"user\": \"ann\"}"}"#;
    let (_dir, path) = mocks_file(&format!("{HTTP_LINE}\n{good}\n"));
    let lines = load_mocks(&path).unwrap();
    assert_eq!((lines.http.len(), lines.redis.len()), (1, 1));
    assert!(crate::suite::redis::arg_matches(
        &lines.redis[0].cmd[1],
        b"session:0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77"
    ));
    let crlf = good.replace(
        r#""reply":"{\"user\": \"ann\"}""#,
        r#""reply":{"simple":"O\r\nK"}"#,
    );
    let (_dir, path) = mocks_file(&format!("{HTTP_LINE}\n{crlf}\n"));
    let err = load_mocks(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}:2: reply 1: cannot be sent: ", path.display())),
        "{err}"
    );
    let unknown = good.replace(r#"\"uuid\""#, r#"\"uuidd\""#);
    let (_dir, path) = mocks_file(&format!("{unknown}\n"));
    let err = load_mocks(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}:1: cmd[1]: {{\"$reel\": \"uuidd\"}} is not a matcher",
            path.display()
        )),
        "{err}"
    );
}

/// A MySQL line loads; one whose answer does not write, or whose command
/// reel does not know, is refused with its file and line.
#[test]
fn mysql_lines_load_and_bad_ones_name_file_and_line() {
    let good = r#"{"id":"0001-get-x#1","seq":4,"dependency":"db","protocol":"mysql","connection":2,"cmd":"COM_QUERY","sql":"SELECT 1","answer":{"results":[{"columns":[{"schema":"","table":"","org_table":"","name":"1","org_name":"","charset":63,"length":1,"type":"LONGLONG","flags":129,"decimals":0}],"rows":[["1"]],"status":2,"warnings":0}]}}"#;
    let (_dir, path) = mocks_file(&format!("{HTTP_LINE}\n{good}\n"));
    let lines = load_mocks(&path).unwrap();
    assert_eq!((lines.http.len(), lines.mysql.len()), (1, 1));
    assert_eq!(lines.mysql[0].sql.as_deref(), Some(&b"SELECT 1"[..]));
    let bad_row = good.replace(r#""rows":[["1"]]"#, r#""rows":[[{"x":1}]]"#);
    let (_dir, path) = mocks_file(&format!("{HTTP_LINE}\n{bad_row}\n"));
    let err = load_mocks(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}:2: \"answer\": row 1: column 1:",
            path.display()
        )),
        "{err}"
    );
    let unknown = good.replace("COM_QUERY", "COM_QUEERY");
    let (_dir, path) = mocks_file(&format!("{unknown}\n"));
    let err = load_mocks(&path).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}:1: \"cmd\" \"COM_QUEERY\" is no MySQL command",
            path.display()
        )),
        "{err}"
    );
}
