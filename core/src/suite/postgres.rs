//! Postgres lines of a `mocks/*.jsonl` file: one recorded request group and the
//! server's answer, as decoded messages.
//!
//! Statement and portal names are whatever the driver chose while recording
//! (`s0`, `sqlx_s_3`, ...); drivers choose them again at replay, maybe
//! differently, so each Bind, Describe, Execute and Close also carries the SQL
//! its statement was prepared with (`"prepared"`). The mock matches on that.
//!
//! [`rewrite_texts`] visits the values a secret can hide in (SQL text,
//! parameters, rows, COPY data, error and notice text), for the generator and
//! `record --redact` to replace secrets and for the mock to fill them back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::matcher::{as_matcher, MARKER};
use crate::wire::postgres::{BackendMessage, Bytes, FrontendMessage};

/// One recorded request group with its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgMock {
    /// `<file stem>#<n>`, unique in the suite.
    pub id: String,
    pub seq: i64,
    pub dependency: String,
    /// Always `postgres`.
    pub protocol: String,
    /// The recorded connection, so a reader can follow one connection's story.
    pub connection: u64,
    pub request: Vec<PgRequest>,
    pub response: Vec<BackendMessage>,
}

/// A message the app sent, with the SQL of the statement it names.
///
/// A Bind parameter may be a typed matcher instead of a value: in the file
/// `"params": ["alice", {"$reel": "password_hash"}]`, here the parameter's
/// index in [`PgRequest::matchers`] (its value in the message is then empty).
/// The mock accepts any value of that kind there (see
/// [`crate::matcher::formats::accepts_param`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PgRequest {
    pub message: FrontendMessage,
    pub prepared: Option<String>,
    /// Bind parameter index to matcher kind.
    pub matchers: BTreeMap<usize, String>,
}

impl PgRequest {
    pub fn new(message: FrontendMessage, prepared: Option<String>) -> Self {
        PgRequest {
            message,
            prepared,
            matchers: BTreeMap::new(),
        }
    }

    /// Puts matcher `kind` in place of Bind parameter `index`'s value.
    pub fn set_matcher(&mut self, index: usize, kind: &str) {
        if let FrontendMessage::Bind { params, .. } = &mut self.message {
            if let Some(p) = params.get_mut(index) {
                *p = Some(Bytes::default());
                self.matchers.insert(index, kind.to_owned());
            }
        }
    }
}

/// The JSON form of a [`PgRequest`] without its matchers.
#[derive(Serialize, Deserialize)]
struct PgRequestForm {
    #[serde(flatten)]
    message: FrontendMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prepared: Option<String>,
}

impl Serialize for PgRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let form = PgRequestForm {
            message: self.message.clone(),
            prepared: self.prepared.clone(),
        };
        if self.matchers.is_empty() {
            return form.serialize(serializer);
        }
        let mut v = serde_json::to_value(&form).map_err(serde::ser::Error::custom)?;
        if let Some(params) = v.get_mut("params").and_then(Value::as_array_mut) {
            for (i, kind) in &self.matchers {
                if let Some(p) = params.get_mut(*i) {
                    *p = json!({ MARKER: kind });
                }
            }
        }
        v.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PgRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(deserializer)?;
        let mut matchers = BTreeMap::new();
        if let Some(params) = v.get_mut("params").and_then(Value::as_array_mut) {
            for (i, p) in params.iter_mut().enumerate() {
                let Some(obj) = p.as_object().filter(|o| o.contains_key(MARKER)) else {
                    continue;
                };
                let kind = match as_matcher(p) {
                    Some(k) if is_param_kind(k) => k.to_owned(),
                    _ => {
                        return Err(serde::de::Error::custom(format!(
                            "parameter {}: {} is not a matcher this reel knows (one of: {})",
                            i + 1,
                            Value::Object(obj.clone()),
                            PARAM_KINDS.join(", ")
                        )))
                    }
                };
                matchers.insert(i, kind);
                *p = Value::String(String::new());
            }
        }
        let form: PgRequestForm = serde_json::from_value(v).map_err(serde::de::Error::custom)?;
        Ok(PgRequest {
            message: form.message,
            prepared: form.prepared,
            matchers,
        })
    }
}

/// The matcher kinds a Postgres parameter can hold.
pub const PARAM_KINDS: &[&str] = &[
    "uuid",
    "timestamp",
    "jwt",
    "password_hash",
    "hex",
    "token",
    "base64",
    "bytes",
    "number",
    "boolean",
    "string",
    "any",
];

fn is_param_kind(k: &str) -> bool {
    PARAM_KINDS.contains(&k)
}

impl PgMock {
    /// Whether every statement the group runs is work a driver or pool
    /// does when it likes ([`is_session_work`]): it belongs to no case.
    pub fn is_housekeeping(&self) -> bool {
        let mut runs = self
            .request
            .iter()
            .filter_map(|r| match &r.message {
                FrontendMessage::Query { sql } => Some(sql.as_str()),
                FrontendMessage::Bind { .. } | FrontendMessage::Execute { .. } => {
                    r.prepared.as_deref()
                }
                _ => None,
            })
            .peekable();
        runs.peek().is_some() && runs.all(is_session_work)
    }

    /// Whether the group left its connection inside a transaction (its last
    /// ReadyForQuery says `T` or `E`): the next group there is the same
    /// holder's.
    pub fn leaves_transaction_open(&self) -> bool {
        self.response
            .iter()
            .rev()
            .find_map(|r| match r {
                BackendMessage::ReadyForQuery { status } => {
                    Some(*status != crate::wire::postgres::TxStatus::Idle)
                }
                _ => None,
            })
            .unwrap_or(false)
    }

    /// The SQL this group runs, for listings, reports and miss messages.
    pub fn sql(&self) -> Option<&str> {
        self.request.iter().find_map(|r| match &r.message {
            FrontendMessage::Query { sql } | FrontendMessage::Parse { sql, .. } => {
                Some(sql.as_str())
            }
            _ => r.prepared.as_deref(),
        })
    }

    /// [`rewrite_texts`] over the request, the `prepared` SQL and the
    /// response; true if anything changed.
    pub fn rewrite_texts(&mut self, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool {
        let mut changed = false;
        for r in &mut self.request {
            if let Some(sql) = &mut r.prepared {
                changed |= rewrite(sql, "sql", f);
            }
        }
        let (req, resp) = rewrite_texts(
            self.request.iter_mut().map(|r| &mut r.message),
            &mut self.response,
            f,
        );
        changed || req || resp
    }
}

/// Calls `f(name, text)` for every text a secret can hide in: Query and Parse
/// SQL, Bind parameters, COPY data, CopyFail, DataRow values, error and notice
/// fields and notification payloads. `name` says what the text is (`sql`,
/// `param`, a DataRow's column name, ...), to name a secret found there.
/// Where `f` returns a new text it replaces the old one; values that are not
/// UTF-8 are not visited. Returns whether the requests and the responses changed.
pub fn rewrite_texts<'a>(
    requests: impl IntoIterator<Item = &'a mut FrontendMessage>,
    responses: &mut [BackendMessage],
    f: &mut dyn FnMut(&str, &str) -> Option<String>,
) -> (bool, bool) {
    use BackendMessage as B;
    use FrontendMessage as F;
    let mut req = false;
    for m in requests {
        req |= match m {
            F::Query { sql } | F::Parse { sql, .. } => rewrite(sql, "sql", f),
            F::Bind { params, .. } => params
                .iter_mut()
                .flatten()
                .fold(false, |c, p| rewrite_bytes(p, "param", f) | c),
            F::CopyData { data } => rewrite_bytes(data, "copy", f),
            F::CopyFail { message } => rewrite(message, "copy", f),
            _ => false,
        };
    }
    let mut resp = false;
    // DataRow values take their names from the RowDescription before them.
    let mut columns: Vec<String> = Vec::new();
    for m in responses {
        resp |= match m {
            B::RowDescription { fields } => {
                columns = fields.iter().map(|c| c.name.clone()).collect();
                false
            }
            B::DataRow { values } => values.iter_mut().enumerate().fold(false, |c, (i, v)| {
                let name = columns.get(i).map_or("value", String::as_str);
                v.as_mut().is_some_and(|v| rewrite_bytes(v, name, f)) | c
            }),
            B::CopyData { data } => rewrite_bytes(data, "copy", f),
            B::ErrorResponse { fields } | B::NoticeResponse { fields } => fields
                .iter_mut()
                .fold(false, |c, n| rewrite(&mut n.value, "error", f) | c),
            B::NotificationResponse { payload, .. } => rewrite(payload, "payload", f),
            _ => false,
        };
    }
    (req, resp)
}

fn rewrite(text: &mut String, name: &str, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool {
    match f(name, text) {
        Some(new) if new != *text => {
            *text = new;
            true
        }
        _ => false,
    }
}

/// Offers a value to `f` as text (named `name`) and takes what it returns
/// instead; values that are not UTF-8 are not offered. Whether it changed.
pub(crate) fn rewrite_bytes(
    b: &mut Bytes,
    name: &str,
    f: &mut dyn FnMut(&str, &str) -> Option<String>,
) -> bool {
    let Ok(text) = std::str::from_utf8(b) else {
        return false;
    };
    match f(name, text) {
        Some(new) if new != text => {
            *b = Bytes(new.into_bytes());
            true
        }
        _ => false,
    }
}

/// Collapses runs of whitespace outside quotes and drops a trailing `;`, so a
/// reformatted query still matches. Case and everything inside quotes stay.
pub fn normalize_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => pending_space = true,
            None => {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                }
                pending_space = false;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    while out.ends_with(';') || out.ends_with(' ') {
        out.pop();
    }
    out
}

/// SQL a driver or pool runs on a connection when it likes, whose answer
/// does not depend on what the app did: resets, session settings, pings and
/// reads of the system catalogs (type introspection).
pub fn is_session_work(sql: &str) -> bool {
    let statements: Vec<&str> = sql
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    !statements.is_empty()
        && statements.iter().all(|s| {
            let lower = s.to_ascii_lowercase();
            let words: Vec<&str> = lower.split_whitespace().collect();
            match words.as_slice() {
                ["reset", ..] | ["discard", ..] | ["unlisten", ..] | ["show", ..] => true,
                ["close", "all"] | ["deallocate", "all"] | ["deallocate", "prepare", "all"] => true,
                // Session settings, not the ones that only last a transaction.
                ["set", "local", ..] | ["set", "transaction", ..] => false,
                ["set", ..] => true,
                ["select", rest @ ..] => {
                    let rest = rest.join(" ");
                    matches!(
                        rest.as_str(),
                        "1" | "1 as one" | "true" | "version()" | "pg_advisory_unlock_all()"
                    ) || rest.starts_with("current_setting(")
                        || reads_catalogs_only(&lower)
                }
                ["with", ..] => reads_catalogs_only(&lower),
                _ => false,
            }
        })
}

/// A read of the system catalogs that writes nothing.
fn reads_catalogs_only(lower: &str) -> bool {
    let catalogs = lower.contains("pg_catalog.")
        || lower.contains("information_schema.")
        || [
            "pg_type",
            "pg_namespace",
            "pg_range",
            "pg_enum",
            "pg_attribute",
        ]
        .iter()
        .any(|t| lower.contains(t));
    let writes = [
        "insert ", "update ", "delete ", "create ", "alter ", "drop ",
    ]
    .iter()
    .any(|w| lower.contains(w));
    catalogs && !writes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_outside_quotes_is_collapsed() {
        assert_eq!(
            normalize_sql("  SELECT  *\n\tFROM t WHERE a = 'x  y' ;  "),
            "SELECT * FROM t WHERE a = 'x  y'"
        );
        assert_ne!(
            normalize_sql("select 'a b'"),
            normalize_sql("select 'a  b'")
        );
    }

    #[test]
    fn a_mock_line_reads_back_with_its_prepared_sql() {
        let m = PgMock {
            id: "0001-get-books#1".into(),
            seq: 4,
            dependency: "db".into(),
            protocol: "postgres".into(),
            connection: 2,
            request: vec![
                PgRequest::new(
                    FrontendMessage::Bind {
                        portal: String::new(),
                        statement: "s0".into(),
                        param_formats: vec![1],
                        params: vec![Some(vec![0, 0, 0, 42].into()), None],
                        result_formats: vec![1],
                    },
                    Some("select * from books where id = $1".into()),
                ),
                PgRequest::new(FrontendMessage::Sync, None),
            ],
            response: vec![BackendMessage::BindComplete],
        };
        let line = serde_json::to_string(&m).unwrap();
        assert!(
            line.contains(r#""prepared":"select * from books where id = $1""#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<PgMock>(&line).unwrap(), m);
        assert_eq!(m.sql(), Some("select * from books where id = $1"));
    }

    #[test]
    fn a_bind_parameter_can_be_a_matcher_written_in_the_line() {
        let line = r#"{"type":"Bind","portal":"","statement":"s1","param_formats":[0,0],"params":["alice",{"$reel":"password_hash"}],"result_formats":[],"prepared":"insert into users values ($1, $2)"}"#;
        let r: PgRequest = serde_json::from_str(line).unwrap();
        assert_eq!(
            r.matchers,
            BTreeMap::from([(1, "password_hash".to_owned())])
        );
        let FrontendMessage::Bind { params, .. } = &r.message else {
            panic!("{r:?}")
        };
        assert_eq!(params[0].as_deref(), Some(&b"alice"[..]));
        assert_eq!(serde_json::to_string(&r).unwrap(), line);

        let mut recorded = r.clone();
        recorded.matchers.clear();
        recorded.set_matcher(0, "string");
        assert!(serde_json::to_string(&recorded)
            .unwrap()
            .contains(r#""params":[{"$reel":"string"},"#));

        let unknown = line.replace("password_hash", "pasword_hash");
        let err = serde_json::from_str::<PgRequest>(&unknown).unwrap_err();
        assert!(
            err.to_string().starts_with(
                r#"parameter 2: {"$reel":"pasword_hash"} is not a matcher this reel knows (one of: uuid, "#
            ),
            "{err}"
        );
    }
}
