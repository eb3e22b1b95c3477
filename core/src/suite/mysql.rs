//! MySQL lines of a `mocks/*.jsonl` file: one command the app sent to a
//! MySQL or MariaDB server, with its whole answer, readable in a pull
//! request:
//!
//! ```text
//! {"id":"0002-get-user#1","seq":9,"dependency":"db","protocol":"mysql","connection":2,
//!  "cmd":"COM_STMT_EXECUTE","sql":"SELECT id, name FROM users WHERE id = ?","params":[42],
//!  "answer":{"results":[{"columns":[...],"rows":[[42,"ann"]],"status":2,"warnings":0}]}}
//! ```
//!
//! `cmd` names the command as MySQL's documents do (`COM_QUERY`,
//! `COM_STMT_PREPARE`, `COM_STMT_EXECUTE`, `COM_PING`, ...), or `connect`
//! for the connection phase, whose line keeps the server's greeting (its
//! version, capabilities, character set) for the mock to greet with.
//! `sql` is the statement's text, `params` an execute's values as JSON
//! (numbers, strings, `{"base64": ...}`, `null`). Statement ids are left
//! out: they belong to one connection, and the mock gives its own.
//!
//! `answer` is what the server sent, as the recorder read it: `results`
//! (each an `{"ok": ...}` or a result set with its `columns` and `rows`),
//! an `error` (`code`, `state`, `message`), a prepare's `prepared`, an
//! `ok`, an `eof`, or a `payload` kept as sent. Text-protocol values are
//! strings as sent; binary ones are typed. A line is checked when the suite
//! loads: its answer must write back to packets.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire::mysql::{self, Encoding, Rows};
use crate::wire::Bytes;

/// One recorded command and its whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlMock {
    /// `<file stem>#<n>`, unique in the suite.
    pub id: String,
    pub seq: i64,
    pub dependency: String,
    /// Always `mysql`.
    pub protocol: String,
    /// The recorded connection, so a reader can follow one connection's story.
    pub connection: u64,
    /// `COM_QUERY`, `COM_STMT_EXECUTE`, ..., or `connect`.
    pub cmd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<Bytes>,
    /// An execute's parameter values, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<Value>>,
    /// `COM_INIT_DB`'s database; the connection phase's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<Bytes>,
    /// The connection phase's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Bytes>,
    /// `COM_SET_OPTION`'s option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub option: Option<u16>,
    /// `COM_STMT_FETCH`'s row count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u32>,
    /// What another command carried, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Bytes>,
    pub answer: Map<String, Value>,
}

/// The commands a line may hold: the protocol's, and the connection phase.
fn known_command(cmd: &str) -> bool {
    cmd == "connect" || (0..=0x1f).any(|c| mysql::command_name(c) == cmd)
}

/// SQL as it is compared: runs of white space outside quotes as one
/// space, trimmed, a trailing `;` dropped. What is inside `'...'`, `"..."`
/// and `` `...` `` stays as it is, backslash escapes too.
pub fn normalize_sql(sql: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sql.len());
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    let mut space = false;
    for &b in sql {
        if let Some(q) = quote {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' && q != b'`' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        if b.is_ascii_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
        }
        if matches!(b, b'\'' | b'"' | b'`') {
            quote = Some(b);
        }
        out.push(b);
    }
    while out.last() == Some(&b';') {
        out.pop();
        while out.last() == Some(&b' ') {
            out.pop();
        }
    }
    out
}

/// Where the values written into `sql` itself stand, in order: the inside
/// of each `'...'` or `"..."` string, and each number that is not part of
/// a name (`42`, `3.5`, `0x1f`, but not the `1` of `t1`). Drivers that
/// quote parameters in the client (PyMySQL, mysqlclient, aiomysql, the
/// text protocol of mysql2) send their values here; a made-up one is found
/// by comparing two statements' literals.
pub fn sql_literals(sql: &[u8]) -> Vec<std::ops::Range<usize>> {
    let name_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'@');
    let mut out = Vec::new();
    let mut i = 0;
    while i < sql.len() {
        let b = sql[i];
        match b {
            b'\'' | b'"' | b'`' => {
                let start = i + 1;
                let mut j = start;
                while j < sql.len() {
                    if sql[j] == b'\\' && b != b'`' {
                        j += 2;
                    } else if sql[j] == b && sql.get(j + 1) == Some(&b) {
                        // A doubled quote stands for one.
                        j += 2;
                    } else if sql[j] == b {
                        break;
                    } else {
                        j += 1;
                    }
                }
                let end = j.min(sql.len());
                if b != b'`' {
                    out.push(start..end);
                }
                i = end + 1;
            }
            b'0'..=b'9' if i == 0 || !name_byte(sql[i - 1]) => {
                let start = i;
                while i < sql.len() && (name_byte(sql[i]) || sql[i] == b'.') {
                    i += 1;
                }
                out.push(start..i);
            }
            _ if name_byte(b) => {
                while i < sql.len() && name_byte(sql[i]) {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// `sql` with each of its [`sql_literals`] taken out: two statements with
/// the same shape differ only in the values written into them.
pub fn sql_shape(sql: &[u8], literals: &[std::ops::Range<usize>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sql.len());
    let mut at = 0;
    for r in literals {
        out.extend_from_slice(&sql[at..r.start]);
        out.push(b'?');
        at = r.end;
    }
    out.extend_from_slice(&sql[at.min(sql.len())..]);
    out
}

impl MysqlMock {
    /// A line of `dependency` for `cmd` with `sql` and `answer`, no other
    /// field set, its id `id`.
    pub fn new(
        id: &str,
        dependency: &str,
        cmd: &str,
        sql: Option<&str>,
        answer: Map<String, Value>,
    ) -> Self {
        MysqlMock {
            id: id.to_owned(),
            seq: 0,
            dependency: dependency.to_owned(),
            protocol: "mysql".into(),
            connection: 0,
            cmd: cmd.to_owned(),
            sql: sql.map(|s| Bytes(s.as_bytes().to_vec())),
            params: None,
            database: None,
            user: None,
            option: None,
            rows: None,
            body: None,
            answer,
        }
    }

    /// How its answer's rows are written.
    pub fn rows_as(&self) -> Rows {
        rows_as(&self.cmd)
    }

    /// Checks what loading promises: a command reel knows, the fields it
    /// needs, and an answer that writes back to packets. Why not, as text.
    pub fn check(&self) -> Result<(), String> {
        if self.protocol != "mysql" {
            return Err(format!(
                "\"protocol\" is {:?}, not \"mysql\"",
                self.protocol
            ));
        }
        if !known_command(&self.cmd) {
            return Err(format!(
                "\"cmd\" {:?} is no MySQL command (COM_QUERY, COM_STMT_EXECUTE, ..., or connect)",
                self.cmd
            ));
        }
        let needs_sql = matches!(
            self.cmd.as_str(),
            "COM_QUERY" | "COM_STMT_PREPARE" | "COM_STMT_EXECUTE" | "COM_STMT_FETCH"
        );
        if needs_sql && self.sql.is_none() {
            return Err(format!("a {} line has no \"sql\"", self.cmd));
        }
        if self.params.is_some() && self.cmd != "COM_STMT_EXECUTE" {
            return Err(format!(
                "a {} line has \"params\": only an execute has",
                self.cmd
            ));
        }
        if self.cmd == "connect" {
            return match self.answer.get("greeting") {
                Some(Value::Object(_)) => Ok(()),
                _ => Err("a connect line has no \"answer\".\"greeting\"".into()),
            };
        }
        let enc = Encoding {
            capabilities: mysql::caps::PROTOCOL_41,
            extended_types: false,
        };
        mysql::encode_answer(&self.answer, self.rows_as(), None, enc)
            .map(|_| ())
            .map_err(|e| format!("\"answer\": {e}"))
    }

    /// Work a client library does when it likes (connecting, pinging,
    /// choosing a database or character set, preparing a statement, reading
    /// server variables), whatever the case: answered from any case.
    pub fn is_housekeeping(&self) -> bool {
        match self.cmd.as_str() {
            "connect"
            | "COM_PING"
            | "COM_INIT_DB"
            | "COM_SET_OPTION"
            | "COM_RESET_CONNECTION"
            | "COM_STMT_PREPARE"
            | "COM_STMT_RESET"
            | "COM_CHANGE_USER" => true,
            "COM_QUERY" => self.sql.as_deref().is_some_and(is_housekeeping_sql),
            _ => false,
        }
    }

    /// Calls `f(name, text)` for every text a secret can hide in (the SQL,
    /// the parameters, the values of the rows, an error's message); where
    /// `f` returns a new text it replaces the old one. Whether anything
    /// changed.
    pub fn rewrite_texts(&mut self, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool {
        let mut changed = false;
        if let Some(sql) = &mut self.sql {
            changed |= super::postgres::rewrite_bytes(sql, "sql", f);
        }
        for p in self.params.iter_mut().flatten() {
            changed |= rewrite_value(p, "param", f);
        }
        let results = self.answer.get_mut("results").and_then(Value::as_array_mut);
        for set in results.into_iter().flatten() {
            let rows = set.get_mut("rows").and_then(Value::as_array_mut);
            for v in rows
                .into_iter()
                .flatten()
                .filter_map(Value::as_array_mut)
                .flatten()
            {
                changed |= rewrite_value(v, "value", f);
            }
        }
        if let Some(m) = self
            .answer
            .get_mut("error")
            .and_then(|e| e.get_mut("message"))
        {
            changed |= rewrite_value(m, "error", f);
        }
        changed
    }

    /// Whether the server said, at the end of the answer, that a
    /// transaction is open on the connection (`SERVER_STATUS_IN_TRANS`):
    /// what follows on it until the transaction ends belongs together.
    pub fn leaves_transaction_open(&self) -> bool {
        const IN_TRANS: u64 = 0x0001;
        let status = |v: &Value| v.get("status").and_then(Value::as_u64);
        let last = match self.answer.get("results").and_then(Value::as_array) {
            Some(r) => r
                .last()
                .and_then(|s| s.get("ok").and_then(status).or_else(|| status(s))),
            None => self.answer.get("ok").and_then(status),
        };
        last.is_some_and(|s| s & IN_TRANS != 0)
    }

    /// One readable line: `COM_QUERY SELECT ...`, long SQL shortened.
    pub fn describe(&self) -> String {
        let mut s = self.cmd.clone();
        if let Some(sql) = &self.sql {
            let text = String::from_utf8_lossy(&normalize_sql(sql)).into_owned();
            s.push(' ');
            match text.char_indices().nth(80) {
                Some((i, _)) => {
                    s.push_str(&text[..i]);
                    s.push('…');
                }
                None => s.push_str(&text),
            }
        }
        if let Some(p) = &self.params {
            s.push_str(&format!(" {}", Value::Array(p.clone())));
        }
        s
    }
}

/// Offers a JSON string to `f` (as `name`) and takes what it returns.
fn rewrite_value(
    v: &mut Value,
    name: &str,
    f: &mut dyn FnMut(&str, &str) -> Option<String>,
) -> bool {
    let Value::String(text) = v else {
        return false;
    };
    match f(name, text) {
        Some(new) if &new != text => {
            *text = new;
            true
        }
        _ => false,
    }
}

/// How the answer to `cmd` writes its rows.
pub fn rows_as(cmd: &str) -> Rows {
    match cmd {
        "COM_STMT_EXECUTE" => Rows::Binary,
        "COM_STMT_FETCH" => Rows::Fetch,
        "COM_FIELD_LIST" => Rows::FieldList,
        _ => Rows::Text,
    }
}

/// Session settings and server variables a driver reads or sets on its own
/// (`SET NAMES`, `SET autocommit`, `SELECT @@version`, `SHOW VARIABLES`).
pub fn is_housekeeping_sql(sql: &[u8]) -> bool {
    let sql = normalize_sql(sql).to_ascii_uppercase();
    // `SELECT @@IDENTITY` is the last insert id: the app's, not the driver's.
    let identity = sql.starts_with(b"SELECT @@IDENTITY");
    !identity
        && [
            "SET ",
            "SELECT @@",
            "SHOW VARIABLES",
            "SHOW SESSION VARIABLES",
        ]
        .iter()
        .any(|p| sql.starts_with(p.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_values_written_into_sql_are_found_and_names_are_not() {
        let sql = br#"INSERT INTO t1_codes (user, code, n, f, h) VALUES ('ann', 'it''s \'x', 42, -3.5, 0x1f) -- "q""#;
        let found: Vec<&str> = sql_literals(sql)
            .into_iter()
            .map(|r| std::str::from_utf8(&sql[r]).unwrap())
            .collect();
        assert_eq!(found, ["ann", r"it''s \'x", "42", "3.5", "0x1f", "q"]);
        let other =
            br#"INSERT INTO t1_codes (user, code, n, f, h) VALUES ('bob', '', 7, -1, 2) -- "q""#;
        assert_eq!(
            sql_shape(sql, &sql_literals(sql)),
            sql_shape(other, &sql_literals(other))
        );
        assert_eq!(
            sql_shape(
                b"SELECT `a1` FROM t WHERE id = 5",
                &sql_literals(b"SELECT `a1` FROM t WHERE id = 5")
            ),
            b"SELECT `a1` FROM t WHERE id = ?"
        );
        // An unterminated string runs to the end.
        assert_eq!(
            sql_literals(b"SELECT 'abc"),
            vec![std::ops::Range { start: 8, end: 11 }]
        );
    }
    use serde_json::json;

    fn parse(line: Value) -> Result<MysqlMock, String> {
        let m: MysqlMock = serde_json::from_value(line).map_err(|e| e.to_string())?;
        m.check().map(|()| m)
    }

    fn base() -> Value {
        json!({"id": "0001-a#1", "seq": 3, "dependency": "db", "protocol": "mysql", "connection": 1,
            "cmd": "COM_STMT_EXECUTE", "sql": "SELECT n FROM t WHERE id = ?", "params": [42],
            "answer": {"results": [{"columns": [{"schema": "shop", "table": "t", "org_table": "t",
                "name": "n", "org_name": "n", "charset": 63, "length": 20, "type": "LONGLONG",
                "flags": 0, "decimals": 0}], "rows": [[7]], "status": 2, "warnings": 0}]}})
    }

    /// A line reads and writes back the same; what is wrong with one is
    /// named: the command, a missing field, a stray one, an answer that
    /// does not write.
    #[test]
    fn lines_read_back_and_bad_ones_say_what_is_wrong() {
        let m = parse(base()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), base());
        assert_eq!(m.rows_as(), Rows::Binary);
        assert!(!m.is_housekeeping());
        assert_eq!(
            m.describe(),
            "COM_STMT_EXECUTE SELECT n FROM t WHERE id = ? [42]"
        );
        let with = |k: &str, v: Value| {
            let mut l = base();
            match v {
                Value::Null => {
                    l.as_object_mut().unwrap().remove(k);
                }
                v => l[k] = v,
            }
            parse(l).unwrap_err()
        };
        assert!(with("cmd", json!("COM_NOPE")).contains("\"cmd\" \"COM_NOPE\" is no MySQL command"));
        assert!(with("sql", Value::Null).contains("a COM_STMT_EXECUTE line has no \"sql\""));
        assert!(with("protocol", json!("redis")).contains("not \"mysql\""));
        assert!(with("rows_total", json!(1)).contains("unknown field `rows_total`"));
        let mut l = base();
        l["answer"]["results"][0]["rows"] = json!([["seven"]]);
        let e = parse(l).unwrap_err();
        assert!(
            e.contains("\"answer\": row 1: column 1 (n): \"seven\" is not an integer"),
            "{e}"
        );
        let mut l = base();
        l["cmd"] = json!("COM_QUERY");
        assert!(parse(l)
            .unwrap_err()
            .contains("a COM_QUERY line has \"params\""));
    }

    #[test]
    fn driver_settings_are_housekeeping_and_the_apps_statements_are_not() {
        for sql in [
            "SET NAMES utf8mb4",
            "set  autocommit=0",
            "SELECT @@version_comment LIMIT 1",
            "SHOW VARIABLES LIKE 'sql_mode'",
        ] {
            assert!(is_housekeeping_sql(sql.as_bytes()), "{sql}");
        }
        for sql in [
            "SELECT @@IDENTITY",
            "SELECT * FROM settings",
            "INSERT INTO t VALUES (1)",
        ] {
            assert!(!is_housekeeping_sql(sql.as_bytes()), "{sql}");
        }
        assert_eq!(normalize_sql(b"  SELECT\n\t1 ,  2 ;"), b"SELECT 1 , 2");
        assert_eq!(
            normalize_sql(b"SELECT 'a  b',  'it\\'s  x' ,\n`c  d`"),
            b"SELECT 'a  b', 'it\\'s  x' , `c  d`"
        );
    }
}
