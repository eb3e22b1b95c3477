//! MySQL exchanges as the suite's mock lines.
//!
//! Each command with its whole answer is one line. The connection phase
//! keeps only what the mock greets with (the server's version,
//! capabilities, character set) and who connected: no authentication data,
//! no client attributes. `COM_QUIT`, `COM_STMT_CLOSE` and
//! `COM_STMT_SEND_LONG_DATA` get no answer and the mock deals with them
//! itself (long data joins the execute's values), so they hold no line.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use super::postgres::{kind_reason, ParamMatcher};
use super::redis::{infer_inside, whole_kind};
use crate::model::{Exchange, Payload};
use crate::suite::mysql::MysqlMock;
use crate::wire::Bytes;

/// What one recorded MySQL exchange becomes.
pub enum Line {
    Mock(Box<MysqlMock>),
    /// Nothing the suite holds.
    Skip,
    /// A command that got no whole answer, and why.
    Unanswered(String),
}

/// The line of an outbound MySQL exchange.
pub fn line(o: &Exchange) -> Line {
    let decoded = |p: Option<&Payload>| match p {
        Some(Payload::Wire { decoded, .. }) => decoded.value().as_object().cloned(),
        _ => None,
    };
    let request = decoded(Some(&o.request)).unwrap_or_default();
    let answer = decoded(o.response.as_ref()).unwrap_or_default();
    let cmd = match request.get("command").and_then(Value::as_str) {
        Some(c) => c.to_owned(),
        // The server's own error (a timeout's) answers no command.
        None => return Line::Skip,
    };
    // The mock deals with these itself (it answers a change of user with
    // OK whatever the credentials): their lines, and any authentication
    // data in them, never reach a suite.
    if matches!(
        cmd.as_str(),
        "COM_QUIT" | "COM_STMT_CLOSE" | "COM_STMT_SEND_LONG_DATA" | "COM_CHANGE_USER"
    ) {
        return Line::Skip;
    }
    let bytes = |key: &str| -> Option<Bytes> {
        request
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    };
    let describe = || match bytes("sql") {
        Some(sql) => format!("{cmd} {}", String::from_utf8_lossy(&sql)),
        None => cmd.clone(),
    };
    let answered = cmd == "connect" && answer.contains_key("greeting")
        || answer.keys().any(|k| k != "greeting" && k != "auth");
    if let Some(why) = &o.error {
        if !answered || cmd != "connect" {
            return Line::Unanswered(format!("{}: {why}", describe()));
        }
    }
    if !answered {
        return Line::Unanswered(format!("{}: no answer", describe()));
    }
    // An answer cut at --max-body would be sent cut.
    // A result set the server ended with an ERR is whole: its rows, then
    // the error.
    let ended_by_error = answer.contains_key("error");
    let cut_rows = answer
        .get("results")
        .and_then(Value::as_array)
        .is_some_and(|r| {
            r.iter().any(|s| {
                s.get("rows_cut").is_some() || (s.get("unfinished").is_some() && !ended_by_error)
            })
        });
    let cut = o.request.body().truncated && cmd != "connect"
        || o.response.as_ref().is_some_and(|r| r.body().truncated)
        || cut_rows
        || request.contains_key("params_error");
    if cut {
        return Line::Unanswered(format!("{}: cut at --max-body", describe()));
    }
    let answer = match cmd.as_str() {
        "connect" => {
            let mut a = Map::new();
            a.insert("greeting".into(), answer["greeting"].clone());
            a
        }
        _ => {
            let mut a = answer;
            a.remove("auth");
            a
        }
    };
    Line::Mock(Box::new(MysqlMock {
        id: String::new(),
        seq: o.seq,
        dependency: o.dependency.clone().unwrap_or_default(),
        protocol: "mysql".into(),
        connection: o.connection,
        sql: bytes("sql"),
        params: request.get("params").and_then(Value::as_array).cloned(),
        database: bytes("database"),
        user: bytes("user"),
        option: request
            .get("option")
            .and_then(Value::as_u64)
            .and_then(|o| u16::try_from(o).ok()),
        rows: request
            .get("rows")
            .and_then(Value::as_u64)
            .and_then(|r| u32::try_from(r).ok()),
        body: bytes("body"),
        cmd,
        answer,
    }))
}

/// Makes every value the app makes afresh on each run (a UUID, a
/// timestamp near the recording, a token, epoch seconds) a typed matcher:
/// inside a statement's SQL, where a driver writes values into the text
/// (PyMySQL, the `mariadb` client), and as an execute's whole parameter.
/// Values a case's request states literally stay exact (the client sends
/// them again); `sent` holds them by case file stem. Each is listed.
pub(super) fn infer_values(
    mocks: &mut [&mut MysqlMock],
    recorded_at: i64,
    sent: &HashMap<String, BTreeSet<String>>,
) -> Vec<ParamMatcher> {
    let mut found = Vec::new();
    for m in mocks.iter_mut() {
        if m.is_housekeeping() || !matches!(m.cmd.as_str(), "COM_QUERY" | "COM_STMT_EXECUTE") {
            continue;
        }
        let stem = m.id.rsplit_once('#').map_or("", |(stem, _)| stem);
        let client = sent.get(stem);
        let from_client = |t: &str| client.is_some_and(|c| c.contains(t));
        let statement = m.describe();
        let mut note = |kind: &'static str, what: String| {
            found.push(ParamMatcher {
                mock: m.id.clone(),
                param: format!("{what} of {statement}"),
                kind,
                why: kind_reason(kind),
            })
        };
        if let Some(text) = m
            .sql
            .as_deref()
            .and_then(|s| std::str::from_utf8(s).ok())
            .filter(|t| !crate::template::has_placeholder(t))
        {
            let (new, kinds) = infer_inside(text, recorded_at, &from_client);
            if !kinds.is_empty() {
                kinds
                    .into_iter()
                    .for_each(|k| note(k, "a value in the SQL".into()));
                m.sql = Some(Bytes(new.into_bytes()));
            }
        }
        for (i, p) in m.params.iter_mut().flatten().enumerate() {
            let text = match &*p {
                Value::String(t) => t.clone(),
                Value::Number(n) if n.is_i64() => n.to_string(),
                _ => continue,
            };
            if crate::template::has_placeholder(&text) || from_client(&text) {
                continue;
            }
            if let Some(kind) = whole_kind(&text, recorded_at) {
                note(kind, format!("parameter {}", i + 1));
                *p = serde_json::json!({ crate::matcher::MARKER: kind });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(id: &str, cmd: &str, sql: &str, params: Option<Value>) -> MysqlMock {
        let answer = json!({"results": [{"ok": {}}]});
        let mut m = MysqlMock::new(
            id,
            "db",
            cmd,
            Some(sql),
            answer.as_object().unwrap().clone(),
        );
        m.params = params.map(|p| p.as_array().unwrap().clone());
        m
    }

    fn exchange(request: Value, answer: Value) -> Exchange {
        use crate::model::{Body, DecodedJson, Direction, Protocol};
        use crate::time::Micros;
        let wire = |v: &Value| Payload::Wire {
            decoded: DecodedJson::text(v),
            raw: Body {
                bytes: Vec::new(),
                size: 0,
                truncated: false,
            },
        };
        Exchange {
            session_id: 1,
            seq: 3,
            direction: Direction::Outbound,
            protocol: Protocol::Mysql,
            dependency: Some("db".into()),
            connection: 1,
            started_at: Micros(0),
            first_byte_at: Some(Micros(1)),
            ended_at: Some(Micros(2)),
            request: wire(&request),
            response: Some(wire(&answer)),
            error: None,
        }
    }

    /// A change of user holds a password's exchange (a cleartext plugin's
    /// reply, unless --redact): it never becomes a line. A result the
    /// server ended with an ERR after some rows is whole: it does.
    #[test]
    fn a_change_of_user_is_no_line_and_an_error_inside_rows_is_one() {
        let change = exchange(
            json!({"command": "COM_CHANGE_USER", "user": "app"}),
            json!({"auth": [{"switch": "mysql_clear_password"}, {"client": "hunter2"}], "ok": {}}),
        );
        assert!(matches!(super::line(&change), Line::Skip));
        let killed = exchange(
            json!({"command": "COM_QUERY", "sql": "SELECT n FROM t"}),
            json!({"results": [{"columns": [], "rows": [["1"]], "unfinished": true}],
                "error": {"code": 1317, "state": "70100", "message": "interrupted"}}),
        );
        assert!(matches!(super::line(&killed), Line::Mock(_)));
    }

    /// A UUID and a time the app wrote into its SQL, and a UUID it bound as
    /// a parameter, become matchers; a value the case's request sent stays.
    #[test]
    fn made_up_values_in_sql_and_parameters_become_matchers() {
        let now = 1_764_973_850; // 2025-12-05 22:30:50 UTC
        let mut text = line(
            "0005-post-orders#2",
            "COM_QUERY",
            "INSERT INTO o (user_id, amount, ref, placed) VALUES (1, '12.50', '793a4c9f-5e2e-4e3e-b404-943b62affbe4', '2025-12-05 22:30:50.656498')",
            None,
        );
        let mut bound = line(
            "0006-post-orders#2",
            "COM_STMT_EXECUTE",
            "INSERT INTO o (ref, who) VALUES (?, ?)",
            Some(json!([
                "f39e78ad-7264-430c-a7d9-ebf2f211cd84",
                "ann@example.com"
            ])),
        );
        let mut sent_uuid = line(
            "0007-get-orders#1",
            "COM_QUERY",
            "SELECT * FROM o WHERE ref = '0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77'",
            None,
        );
        let mut sent = HashMap::new();
        sent.insert(
            "0007-get-orders".to_owned(),
            BTreeSet::from(["0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77".to_owned()]),
        );
        let found = infer_values(&mut [&mut text, &mut bound, &mut sent_uuid], now, &sent);
        assert_eq!(
            text.sql.as_deref(),
            Some(&br#"INSERT INTO o (user_id, amount, ref, placed) VALUES (1, '12.50', '{"$reel":"uuid"}', '{"$reel":"timestamp"}')"#[..])
        );
        assert_eq!(
            bound.params,
            Some(vec![json!({"$reel": "uuid"}), json!("ann@example.com")])
        );
        assert!(sent_uuid
            .sql
            .as_deref()
            .unwrap()
            .ends_with(b"'0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77'"));
        let kinds: Vec<&str> = found.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["uuid", "timestamp", "uuid"]);
    }
}
