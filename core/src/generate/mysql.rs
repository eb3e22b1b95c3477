//! MySQL exchanges as the suite's mock lines.
//!
//! Each command with its whole answer is one line. The connection phase
//! keeps only what the mock greets with (the server's version,
//! capabilities, character set) and who connected: no authentication data,
//! no client attributes. `COM_QUIT`, `COM_STMT_CLOSE` and
//! `COM_STMT_SEND_LONG_DATA` get no answer and the mock deals with them
//! itself (long data joins the execute's values), so they hold no line.

use serde_json::{Map, Value};

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
    if matches!(
        cmd.as_str(),
        "COM_QUIT" | "COM_STMT_CLOSE" | "COM_STMT_SEND_LONG_DATA"
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
    let cut_rows = answer
        .get("results")
        .and_then(Value::as_array)
        .is_some_and(|r| {
            r.iter()
                .any(|s| s.get("rows_cut").is_some() || s.get("unfinished").is_some())
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
        _ => answer,
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
