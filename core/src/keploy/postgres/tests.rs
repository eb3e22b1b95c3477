//! Keploy Postgres mocks in the shapes Keploy writes them (taken from a
//! Keploy recording of a Go app on lib/pq: the Sync left out of the header,
//! tags and column names as byte lists, a login's parameter statuses
//! repeated past the header's count, a notice kept only as its payload).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

use super::*;
use crate::model::Payload;

fn yaml(text: &str) -> Value {
    let y = serde_yaml_ng::Value::deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .expect("test YAML");
    super::super::json_of(y)
}

fn b64_of(msgs: &[FrontendMessage]) -> String {
    let mut raw = Vec::new();
    for m in msgs {
        m.encode(&mut raw);
    }
    STANDARD.encode(raw)
}

/// The decoded messages of one side of an exchange.
fn sent(p: &Payload) -> Vec<Value> {
    match p {
        Payload::Wire { decoded, .. } => decoded.value()["messages"].as_array().cloned().unwrap(),
        other => panic!("not wire: {other:?}"),
    }
}

fn types(p: &Payload) -> Vec<String> {
    sent(p)
        .iter()
        .map(|m| m["type"].as_str().unwrap().to_owned())
        .collect()
}

fn raw(p: &Payload) -> Vec<u8> {
    match p {
        Payload::Wire { raw, .. } => raw.bytes.clone(),
        other => panic!("not wire: {other:?}"),
    }
}

fn import(docs: &[&str]) -> Vec<Exchange> {
    let mut c = Connections::default();
    for d in docs {
        c.mock(&yaml(d)).unwrap();
    }
    c.finish()
}

fn startup(t: &str, user: &str) -> String {
    let payload = b64_of(&[FrontendMessage::StartupMessage {
        protocol: 196_608,
        params: vec![
            ("user".into(), user.into()),
            ("database".into(), "shop".into()),
        ],
    }]);
    format!(
        "
kind: Postgres
name: mock-0
spec:
    metadata:
        type: config
    postgresrequests:
        - identifier: StartupRequest
          length: 102
          payload: {payload}
          startup_message:
            protocolversion: 196608
            parameters:
                database: shop
                user: {user}
          auth_type: 0
    postgresresponses:
        - header: [R]
          identifier: ServerResponse
          length: 102
          authentication_md5_password:
            salt: [12, 34, 56, 78]
          msg_type: 82
          auth_type: 5
    reqtimestampmock: {t}.100Z
    restimestampmock: {t}.101Z
"
    )
}

fn login_done(t: &str) -> String {
    format!(
        r#"
kind: Postgres
name: mock-1
spec:
    postgresrequests:
        - header: [p]
          identifier: ClientRequest
          password_message:
            password: md5f00dfeedf00dfeedf00dfeedf00dfeed
          auth_type: 0
    postgresresponses:
        - header: [R, S, S, K, Z]
          identifier: ServerResponse
          authentication_md5_password:
            salt: [0, 0, 0, 0]
          backend_key_data:
            process_id: 31
            secret_key: 2938221901
          parameter_status:
            - name: server_version
              value: 15.4
            - name: TimeZone
              value: UTC
            - name: TimeZone
              value: UTC
          ready_for_query:
            txstatus: 73
          auth_type: 0
    reqtimestampmock: {t}.200Z
    restimestampmock: {t}.201Z
"#
    )
}

const PREPARE: &str = r#"
kind: Postgres
name: mock-2
spec:
    postgresrequests:
        - header: [P, D]
          identifier: ClientRequest
          describe:
            object_type: 83
            name: ""
          parse:
            - name: ""
              query: SELECT name, price FROM products WHERE id=$1
              parameter_oids: []
          msg_type: 68
    postgresresponses:
        - header: ["1", t, T, Z]
          identifier: ServerResponse
          authentication_md5_password:
            salt: [0, 0, 0, 0]
          parameter_description:
            parameteroids: [23]
          ready_for_query:
            txstatus: 73
          row_description: {fields: [{name: [110, 97, 109, 101], table_oid: 16386, table_attribute_number: 2, data_type_oid: 25, data_type_size: -1, type_modifier: -1, format: 0}, {field_name: price, table_oid: 16386, table_attribute_number: 3, data_type_oid: 1700, data_type_size: -1, type_modifier: 655366, format: 0}]}
    reqtimestampmock: 2024-02-15T07:46:56.300Z
    restimestampmock: 2024-02-15T07:46:56.301Z
"#;

const EXECUTE: &str = r#"
kind: Postgres
name: mock-3
spec:
    postgresrequests:
        - header: [B, E]
          identifier: ClientRequest
          bind:
            - parameters: [[49, 49]]
              result_format_codes: [0, 1]
          execute:
            - {}
    postgresresponses:
        - header: ["2", D, D, C, Z]
          identifier: ServerResponse
          command_complete:
            - command_tag: [83, 69, 76, 69, 67, 84, 32, 50]
          data_row: [{row_values: [Widget, "b64:AAEAAA=="]}, {row_values: ["", "b64:AAA="]}]
          ready_for_query:
            txstatus: 73
    reqtimestampmock: 2024-02-15T07:46:56.400Z
    restimestampmock: 2024-02-15T07:46:56.401Z
"#;

/// A Parse and Describe the server answered without ReadyForQuery: the
/// client flushed.
const DESCRIBE_FLUSHED: &str = r#"
kind: Postgres
spec:
    postgresrequests:
        - header: [P, D]
          parse:
            - name: ""
              query: SELECT $1::int AS n
          describe: {object_type: 83, name: ""}
    postgresresponses:
        - header: ["1", t, T]
          parameter_description: {parameteroids: [23]}
          row_description: {fields: [{name: [110], data_type_oid: 23, data_type_size: 4, type_modifier: -1, format: 0}]}
    reqtimestampmock: 2024-02-15T07:46:56.050Z
    restimestampmock: 2024-02-15T07:46:56.051Z
"#;

#[test]
fn a_lib_pq_session_becomes_the_exchanges_a_recording_would_hold() {
    let t = "2024-02-15T07:46:56";
    let got = import(&[&startup(t, "shop"), &login_done(t), PREPARE, EXECUTE]);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got.iter().all(|x| x.connection == got[0].connection));
    assert!(got
        .iter()
        .all(|x| x.dependency.as_deref() == Some(DEPENDENCY)));

    // The login: the password joins the startup's group; the `R` before the
    // statuses is AuthenticationOk; only as many statuses as the header says.
    let login = &got[0];
    assert_eq!(types(&login.request), ["StartupMessage", "PasswordMessage"]);
    let answer = login.response.as_ref().unwrap();
    assert_eq!(
        types(answer),
        [
            "Authentication",
            "Authentication",
            "ParameterStatus",
            "ParameterStatus",
            "BackendKeyData",
            "ReadyForQuery"
        ]
    );
    let a = sent(answer);
    assert_eq!(a[0]["code"], 5);
    assert_eq!(a[1]["code"], 0);
    assert_eq!(
        a[2],
        json!({"type": "ParameterStatus", "name": "server_version", "value": "15.4"})
    );
    assert_eq!(a[3]["name"], "TimeZone");
    // The startup message is the payload's bytes: `user` first, as sent.
    assert_eq!(
        sent(&login.request)[0]["params"],
        json!([["user", "shop"], ["database", "shop"]])
    );
    assert_eq!(
        login.started_at,
        Micros(
            chrono::DateTime::parse_from_rfc3339("2024-02-15T07:46:56.100Z")
                .unwrap()
                .timestamp_micros()
        )
    );

    // The prepare: the Sync Keploy's header leaves out is back, since the
    // server's ReadyForQuery answered one.
    let prepare = &got[1];
    assert_eq!(types(&prepare.request), ["Parse", "Describe", "Sync"]);
    let p = sent(&prepare.request);
    assert_eq!(p[0]["sql"], "SELECT name, price FROM products WHERE id=$1");
    assert_eq!(
        p[1],
        json!({"type": "Describe", "kind": "statement", "name": ""})
    );
    let answer = sent(prepare.response.as_ref().unwrap());
    assert_eq!(
        answer[1],
        json!({"type": "ParameterDescription", "types": [23]})
    );
    assert_eq!(answer[2]["fields"][0]["name"], "name");
    assert_eq!(answer[2]["fields"][1]["name"], "price");
    assert_eq!(answer[2]["fields"][1]["type_modifier"], 655_366);

    // The execute: parameters and tags from byte lists, `b64:` values as
    // bytes, an empty value as NULL.
    let exec = &got[2];
    assert_eq!(types(&exec.request), ["Bind", "Execute", "Sync"]);
    let b = &sent(&exec.request)[0];
    assert_eq!(b["params"], json!(["11"]));
    assert_eq!(b["result_formats"], json!([0, 1]));
    let answer = sent(exec.response.as_ref().unwrap());
    assert_eq!(
        answer[1]["values"],
        json!(["Widget", {"base64": "AAEAAA=="}])
    );
    assert_eq!(answer[2]["values"], json!([null, {"base64": "AAA="}]));
    assert_eq!(
        answer[3],
        json!({"type": "CommandComplete", "tag": "SELECT 2"})
    );
    // The raw bytes are what those messages put on the wire.
    let mut expect = Vec::new();
    for m in [
        FrontendMessage::Bind {
            portal: String::new(),
            statement: String::new(),
            param_formats: vec![],
            params: vec![Some(Bytes(b"11".to_vec()))],
            result_formats: vec![0, 1],
        },
        FrontendMessage::Execute {
            portal: String::new(),
            max_rows: 0,
        },
        FrontendMessage::Sync,
    ] {
        m.encode(&mut expect);
    }
    assert_eq!(raw(&exec.request), expect);
}

#[test]
fn a_payload_that_agrees_with_the_header_is_taken_as_sent() {
    // Keploy writes a payload when its own rebuild differs, as it does for a
    // request with a Sync: these bytes carry a named statement the fields
    // below do not, so which one was read shows.
    let msgs = [
        FrontendMessage::Parse {
            statement: "stmt_7".into(),
            sql: "SELECT 1".into(),
            param_types: vec![],
        },
        FrontendMessage::Bind {
            portal: String::new(),
            statement: "stmt_7".into(),
            param_formats: vec![],
            params: vec![],
            result_formats: vec![],
        },
        FrontendMessage::Execute {
            portal: String::new(),
            max_rows: 0,
        },
        FrontendMessage::Sync,
    ];
    let doc = |header: &str| {
        format!(
            r#"
kind: Postgres
spec:
    postgresrequests:
        - header: [{header}]
          identifier: ClientRequest
          payload: {}
          parse:
            - name: ""
              query: SELECT 1
          bind:
            - {{}}
          execute:
            - {{}}
    postgresresponses:
        - header: ["1", "2", C, Z]
          identifier: ServerResponse
          command_complete:
            - command_tag_type: SELECT 1
          ready_for_query:
            txstatus: 73
    reqtimestampmock: 2024-02-15T07:46:56.400Z
    restimestampmock: 2024-02-15T07:46:56.401Z
"#,
            b64_of(&msgs)
        )
    };
    let got = import(&[&doc("P, B, E")]);
    let p = sent(&got[0].request);
    assert_eq!(p[0]["statement"], "stmt_7");
    assert_eq!(
        raw(&got[0].request),
        STANDARD.decode(b64_of(&msgs)).unwrap()
    );

    // A payload of other messages than the header lists is not trusted.
    let err = Connections::default()
        .mock(&yaml(&doc("P, B, D, E")))
        .unwrap_err();
    assert_eq!(
        err, "postgresrequests[0].describe: missing",
        "the fields were read, and name what is missing"
    );
}

#[test]
fn a_notice_kept_as_payload_and_an_error_from_its_fields() {
    let mut notice = Vec::new();
    for m in [
        BackendMessage::NoticeResponse {
            fields: vec![
                Notice {
                    code: 'S',
                    value: "NOTICE".into(),
                },
                Notice {
                    code: 'C',
                    value: "42P07".into(),
                },
                Notice {
                    code: 'M',
                    value: "relation \"products\" already exists, skipping".into(),
                },
            ],
        },
        BackendMessage::CommandComplete {
            tag: "CREATE TABLE".into(),
        },
        BackendMessage::ReadyForQuery {
            status: TxStatus::Idle,
        },
    ] {
        m.encode(&mut notice);
    }
    let create = format!(
        r#"
kind: Postgres
spec:
    postgresrequests:
        - header: [Q]
          identifier: ClientRequest
          query:
            string: CREATE TABLE IF NOT EXISTS products (id SERIAL)
    postgresresponses:
        - header: ["N", C, Z]
          identifier: ServerResponse
          payload: {}
          command_complete:
            - command_tag: [67, 82, 69, 65, 84, 69]
          notice_response:
            severity: NOTICE
            code: 42P07
          ready_for_query:
            txstatus: 73
    reqtimestampmock: 2024-02-15T07:46:56.500Z
    restimestampmock: 2024-02-15T07:46:56.501Z
"#,
        STANDARD.encode(&notice)
    );
    let duplicate = r#"
kind: Postgres
spec:
    postgresrequests:
        - header: [Q]
          identifier: ClientRequest
          query:
            string: INSERT INTO products (id) VALUES (1)
    postgresresponses:
        - header: [E, Z]
          identifier: ServerResponse
          error_response:
            severity: ERROR
            severity_unlocalized: ERROR
            code: "23505"
            message: duplicate key value violates unique constraint "products_pkey"
            detail: Key (id)=(1) already exists.
            hint: ""
            position: 0
            schema_name: public
            table_name: products
            constraint_name: products_pkey
            file: nbtinsert.c
            line: 666
            routine: _bt_check_unique
            unknown_fields: {}
          ready_for_query:
            txstatus: 69
    reqtimestampmock: 2024-02-15T07:46:56.600Z
    restimestampmock: 2024-02-15T07:46:56.601Z
"#;
    let got = import(&[&create, duplicate]);
    let answer = got[0].response.as_ref().unwrap();
    assert_eq!(raw(answer), notice, "the payload's bytes, not the fields");
    let answer = sent(got[1].response.as_ref().unwrap());
    let codes: String = answer[0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        codes, "SVCMDstnFLR",
        "in Postgres's order, empty ones left out"
    );
    assert_eq!(answer[0]["fields"][2]["value"], "23505");
    assert_eq!(
        answer[1],
        json!({"type": "ReadyForQuery", "status": "failed"})
    );
}

#[test]
fn connections_follow_connection_ids_and_else_logins() {
    let t = "2024-02-15T07:46:56";
    let with_id = |doc: &str, id: &str| format!("{doc}connectionId: \"{id}\"\n");
    // Two pooled connections, their mocks interleaved.
    let got = import(&[
        &with_id(&startup(t, "a"), "4"),
        &with_id(&startup(t, "b"), "5"),
        &with_id(&login_done(t), "4"),
        &with_id(&login_done(t), "5"),
        &with_id(PREPARE, "5"),
        &with_id(EXECUTE, "4"),
    ]);
    let conn_of = |ty: &str| {
        got.iter()
            .find(|x| types(&x.request)[0] == ty)
            .map(|x| x.connection)
            .unwrap()
    };
    let users: Vec<(u64, Value)> = got
        .iter()
        .filter(|x| types(&x.request)[0] == "StartupMessage")
        .map(|x| (x.connection, sent(&x.request)[0]["params"][0][1].clone()))
        .collect();
    assert_eq!(users.len(), 2);
    assert_ne!(users[0].0, users[1].0);
    let conn_of_user = |u: &str| users.iter().find(|(_, v)| v == u).unwrap().0;
    assert_eq!(conn_of("Parse"), conn_of_user("b"));
    assert_eq!(conn_of("Bind"), conn_of_user("a"));
    // Both logins completed: each has its AuthenticationOk.
    for x in got
        .iter()
        .filter(|x| types(&x.request)[0] == "StartupMessage")
    {
        assert_eq!(types(&x.request), ["StartupMessage", "PasswordMessage"]);
        let answer = sent(x.response.as_ref().unwrap());
        assert_eq!(
            (answer[0]["code"].clone(), answer[1]["code"].clone()),
            (json!(5), json!(0))
        );
    }

    // Without ids, each login starts a connection and what follows is its.
    let later = "2024-02-15T07:46:57";
    let got = import(&[
        &startup(t, "a"),
        &login_done(t),
        PREPARE,
        &startup(later, "b"),
        &login_done(later),
        EXECUTE,
    ]);
    let conns: Vec<u64> = got.iter().map(|x| x.connection).collect();
    assert_eq!(conns.len(), 4);
    assert_eq!(conns[0], conns[1]);
    assert_eq!(conns[2], conns[3]);
    assert_ne!(conns[0], conns[2]);
}

#[test]
fn what_cannot_be_read_is_named_by_its_place() {
    let bad = |spec: &str| {
        Connections::default()
            .mock(&yaml(&format!("kind: Postgres\nspec:\n{spec}")))
            .unwrap_err()
    };
    assert_eq!(
        bad("    postgresrequests:\n        - header: [B, E]\n          bind:\n            - parameters: [[300]]\n          execute: [{}]\n"),
        "postgresrequests[0].bind[0].parameters[0]: 300 is not a byte"
    );
    assert_eq!(
        bad("    postgresrequests:\n        - header: [F]\n"),
        "postgresrequests[0].header: message type 'F' is kept by Keploy in no field reel can read, and there is no payload"
    );
    assert_eq!(
        bad("    postgresrequests:\n        - header: [Q]\n          query: {string: SELECT 1}\n    postgresresponses:\n        - header: [Z]\n          ready_for_query: {txstatus: 1}\n"),
        "postgresresponses[0].ready_for_query.txstatus: 1 is not I (73), T (84) or E (69)"
    );
    assert_eq!(
        bad("    postgresrequests: []\n"),
        "postgresrequests: no message"
    );
    assert!(bad("    requests:\n        - message: {}\n")
        .starts_with("spec.requests: Keploy's packet layout"));
    assert_eq!(
        bad("    postgresrequests:\n        - header: [Q]\n          query: {string: SELECT 1}\n    reqtimestampmock: yesterday\n"),
        "reqtimestampmock: 'yesterday' is not an RFC 3339 time: premature end of input"
    );
}

#[test]
fn an_ssl_request_is_read_and_left_out_as_when_recording() {
    let ssl = STANDARD.encode([0, 0, 0, 8, 4, 210, 22, 47]);
    let t = "2024-02-15T07:46:56";
    let doc = format!(
        "
kind: Postgres
spec:
    postgresrequests:
        - identifier: StartupRequest
          payload: {ssl}
    postgresresponses:
        - payload: Tg==
    reqtimestampmock: {t}.050Z
    restimestampmock: {t}.051Z
"
    );
    // Read, and then left out as a recording leaves it out: reel answers
    // an encryption request itself. The login that follows is on the same
    // connection, not a second one.
    let got = import(&[&doc, &startup(t, "shop"), &login_done(t), EXECUTE]);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(
        types(&got[0].request),
        ["StartupMessage", "PasswordMessage"]
    );
    assert_eq!(got[0].connection, 1);
    assert_eq!(got[1].connection, 1);
}

#[test]
fn a_scram_login_keploy_kept_in_part_is_whole_again() {
    // As Keploy writes a JDBC client's SCRAM login: the mechanism list, the
    // client's first message kept as a "password", its final message not
    // kept at all, and the server's final message before AuthenticationOk
    // in one bundle whose `auth_type` is the last one's.
    let t = "2024-10-17T15:34:48";
    let docs = [
        format!(
            "
kind: Postgres
spec:
    postgresrequests:
        - identifier: StartupRequest
          payload: {}
    postgresresponses:
        - header: [R]
          authentication_sasl:
            auth_mechanisms: [SCRAM-SHA-256]
          auth_type: 10
    reqtimestampmock: {t}.100+05:30
    restimestampmock: {t}.101+05:30
connectionId: \"0\"
",
            b64_of(&[FrontendMessage::StartupMessage {
                protocol: 196_608,
                params: vec![("user".into(), "keploy-user".into())],
            }])
        ),
        format!(
            "
kind: Postgres
spec:
    postgresrequests:
        - header: [p]
          password_message:
            password: SCRAM-SHA-256
    postgresresponses:
        - header: [R]
          authentication_sasl_continue: {{data: [114, 61, 49]}}
          auth_type: 11
    reqtimestampmock: {t}.200+05:30
    restimestampmock: {t}.201+05:30
connectionId: \"0\"
"
        ),
        format!(
            "
kind: Postgres
spec:
    postgresrequests:
        - header: [p]
          msg_type: 112
          auth_type: 0
    postgresresponses:
        - header: [R, R, S, K, Z]
          authentication_sasl_final: {{data: [118, 61, 50]}}
          backend_key_data: {{process_id: 82, secret_key: 7}}
          parameter_status:
            - {{name: server_version, value: '16.3'}}
          ready_for_query: {{txstatus: 73}}
          auth_type: 0
    reqtimestampmock: {t}.300+05:30
    restimestampmock: {t}.301+05:30
connectionId: \"0\"
"
        ),
    ];
    let got = import(&docs.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(
        types(&got[0].request),
        ["StartupMessage", "PasswordMessage", "PasswordMessage"]
    );
    let codes: Vec<Value> = sent(got[0].response.as_ref().unwrap())
        .iter()
        .filter(|m| m["type"] == "Authentication")
        .map(|m| json!([m["code"], m["data"]]))
        .collect();
    assert_eq!(
        codes,
        [
            json!([10, {"base64": STANDARD.encode(b"SCRAM-SHA-256\0\0")}]),
            json!([11, "r=1"]),
            json!([12, "v=2"]),
            json!([0, ""])
        ]
    );
}

#[test]
fn an_answer_without_ready_for_query_followed_a_flush() {
    // A node client (Keploy's node-postgres sample, on postgres.js) describes
    // a statement and flushes; the server answers without ReadyForQuery,
    // and the Sync comes with the execute.
    let got = import(&[DESCRIBE_FLUSHED, EXECUTE]);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(
        types(&got[0].request),
        ["Parse", "Describe", "Flush", "Bind", "Execute", "Sync"]
    );
    assert_eq!(
        types(got[0].response.as_ref().unwrap()),
        [
            "ParseComplete",
            "ParameterDescription",
            "RowDescription",
            "BindComplete",
            "DataRow",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery"
        ]
    );
}

#[test]
fn fields_that_cannot_be_sent_are_listed_not_fatal() {
    let bad = |body: &str| {
        Connections::default()
            .mock(&yaml(&format!("kind: Postgres\nspec:\n{body}")))
            .unwrap_err()
    };
    let q =
        "    postgresrequests:\n        - header: [Q]\n          query: {string: \"SELECT 1\"}\n";
    assert!(bad(
        "    postgresrequests:\n        - header: [Q]\n          query: {string: \"SELECT \\0\"}\n"
    )
    .starts_with("postgresrequests: message 1 (Query): "));
    assert!(bad(&format!(
        "{q}    postgresresponses:\n        - header: [E, Z]\n          error_response: {{severity: ERROR, code: XX000, message: m, unknown_fields: {{\"0\": x}}}}\n          ready_for_query: {{txstatus: 73}}\n"
    ))
    .starts_with("postgresresponses: message 1 (ErrorResponse): "));
    // Numbers out of their field's range, and a status given as a letter.
    assert_eq!(
        bad(&format!("{q}    postgresresponses:\n        - header: [Z]\n          ready_for_query: {{txstatus: 329}}\n")),
        "postgresresponses[0].ready_for_query.txstatus: 329 is not I (73), T (84) or E (69)"
    );
    assert_eq!(
        bad(&format!("{q}    postgresresponses:\n        - header: [K, Z]\n          backend_key_data: {{process_id: 1, secret_key: 4294967297}}\n          ready_for_query: {{txstatus: 73}}\n")),
        "postgresresponses[0].backend_key_data.secret_key: 4294967297 is not a whole number in range"
    );
    assert_eq!(
        bad("    postgresrequests:\n        - header: [D]\n          describe: {object_type: 339, name: \"\"}\n"),
        "postgresrequests[0].describe.object_type: 339 is not S (83) or P (80)"
    );
    let got = import(&[&format!(
        "kind: Postgres\nspec:\n{q}    postgresresponses:\n        - header: [Z]\n          ready_for_query: {{txstatus: E}}\n"
    )]);
    assert_eq!(
        sent(got[0].response.as_ref().unwrap())[0],
        json!({"type": "ReadyForQuery", "status": "failed"})
    );
}

#[test]
fn a_pipelined_bundle_keeps_its_inner_sync_and_gets_its_last() {
    // Keploy keeps a Sync in the middle of what it read and drops the last:
    // two statements, two ReadyForQuery, then a query of the next mock.
    let pipelined = r#"
kind: Postgres
spec:
    postgresrequests:
        - header: [P, B, E, S, P, B, E]
          parse:
            - {name: "", query: BEGIN}
            - {name: "", query: "UPDATE t SET n = 1"}
          bind: [{}, {}]
          execute: [{}, {}]
    postgresresponses:
        - header: ["1", "2", C, Z, "1", "2", C, Z]
          command_complete: [{command_tag_type: BEGIN}, {command_tag_type: UPDATE 1}]
          ready_for_query: {txstatus: 84}
    reqtimestampmock: 2024-02-15T07:46:56.100Z
    restimestampmock: 2024-02-15T07:46:56.101Z
"#;
    let commit = r#"
kind: Postgres
spec:
    postgresrequests:
        - header: [Q]
          query: {string: COMMIT}
    postgresresponses:
        - header: [C, Z]
          command_complete: [{command_tag_type: COMMIT}]
          ready_for_query: {txstatus: 73}
    reqtimestampmock: 2024-02-15T07:46:56.200Z
    restimestampmock: 2024-02-15T07:46:56.201Z
"#;
    let got = import(&[pipelined, commit]);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(types(&got[0].request), ["Parse", "Bind", "Execute", "Sync"]);
    assert_eq!(types(&got[1].request), ["Parse", "Bind", "Execute", "Sync"]);
    assert_eq!(
        sent(got[1].response.as_ref().unwrap())[2]["tag"],
        "UPDATE 1"
    );
    assert_eq!(types(&got[2].request), ["Query"]);
    assert_eq!(sent(got[2].response.as_ref().unwrap())[0]["tag"], "COMMIT");
    assert!(got.iter().all(|x| x.error.is_none()));
}

#[test]
fn a_mock_that_cannot_be_read_takes_its_connection_until_the_next_login() {
    let t = "2024-02-15T07:46:56";
    let broken_login = format!(
        "
kind: Postgres
spec:
    postgresrequests:
        - identifier: StartupRequest
    reqtimestampmock: {t}.100Z
connectionId: \"3\"
"
    );
    let on = |doc: &str, id: &str| format!("{doc}connectionId: \"{id}\"\n");
    let mut c = Connections::default();
    assert_eq!(
        c.mock(&yaml(&broken_login)).unwrap_err(),
        "postgresrequests[0].startup_message: missing"
    );
    // The password and the query that follow on its connection would be
    // grouped as one exchange with the login's answer: both are listed.
    for doc in [on(&login_done(t), "3"), on(PREPARE, "3")] {
        assert_eq!(
            c.mock(&yaml(&doc)).unwrap_err(),
            "left out with the mock before it on its connection, which could not be read"
        );
    }
    // Another connection, and a new login on the same id, are taken.
    c.mock(&yaml(&on(EXECUTE, "4"))).unwrap();
    c.mock(&yaml(&on(&startup(t, "again"), "3"))).unwrap();
    c.mock(&yaml(&on(&login_done(t), "3"))).unwrap();
    let got = c.finish();
    let firsts: Vec<String> = got.iter().map(|x| types(&x.request)[0].clone()).collect();
    assert_eq!(firsts, ["StartupMessage", "Bind"], "{got:#?}");
}

#[test]
fn each_test_set_ends_its_connections() {
    // An answer without ReadyForQuery leaves its group open; the next test
    // set's first query, on a connection with the same number, is not its.
    let mut c = Connections::default();
    c.mock(&yaml(DESCRIBE_FLUSHED)).unwrap();
    c.end_set();
    c.mock(&yaml(EXECUTE)).unwrap();
    let got = c.finish();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(types(&got[1].request), ["Bind", "Execute", "Sync"]);
    assert!(got[1].response.is_some());
    assert_ne!(got[0].connection, got[1].connection);
    // The open group was kept, saying it has no ReadyForQuery's end.
    assert_eq!(types(&got[0].request), ["Parse", "Describe", "Flush"]);
}

#[test]
fn an_empty_bind_parameter_is_null_where_its_type_has_no_empty_value() {
    // Keploy writes NULL and empty alike, `[]`. The server described the
    // statement's parameters as text and int4: an empty int4 cannot be, so
    // it was NULL; the text one is taken as empty, as Keploy's replay sends
    // it, and so is one of a statement whose types nobody said.
    let prepare = r#"
kind: Postgres
spec:
    postgresrequests:
        - header: [P, D]
          parse: [{name: s1, query: "UPDATE t SET note = $1 WHERE n = $2"}]
          describe: {object_type: 83, name: s1}
    postgresresponses:
        - header: ["1", t, n, Z]
          parameter_description: {parameteroids: [25, 23]}
          ready_for_query: {txstatus: 73}
    reqtimestampmock: 2024-02-15T07:46:56.100Z
    restimestampmock: 2024-02-15T07:46:56.101Z
"#;
    let bind = |statement: &str| {
        format!(
            r#"
kind: Postgres
spec:
    postgresrequests:
        - header: [B, E]
          bind: [{{prepared_statement: {statement}, parameters: [[], []]}}]
          execute: [{{}}]
    postgresresponses:
        - header: ["2", D, C, Z]
          data_row: [{{row_values: ["", n]}}]
          command_complete: [{{command_tag_type: UPDATE 1}}]
          ready_for_query: {{txstatus: 73}}
    reqtimestampmock: 2024-02-15T07:46:56.200Z
    restimestampmock: 2024-02-15T07:46:56.201Z
"#
        )
    };
    let got = import(&[prepare, &bind("s1"), &bind("s9")]);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(sent(&got[1].request)[0]["params"], json!(["", null]));
    assert_eq!(sent(&got[2].request)[0]["params"], json!(["", ""]));
    // A row's empty value is NULL: what Keploy's replay sends for it.
    assert_eq!(
        sent(got[1].response.as_ref().unwrap())[1]["values"],
        json!([null, "n"])
    );
}
