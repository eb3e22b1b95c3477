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

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgRequest {
    #[serde(flatten)]
    pub message: FrontendMessage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared: Option<String>,
}

impl PgMock {
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

fn rewrite_bytes(
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
                PgRequest {
                    message: FrontendMessage::Bind {
                        portal: String::new(),
                        statement: "s0".into(),
                        param_formats: vec![1],
                        params: vec![Some(vec![0, 0, 0, 42].into()), None],
                        result_formats: vec![1],
                    },
                    prepared: Some("select * from books where id = $1".into()),
                },
                PgRequest {
                    message: FrontendMessage::Sync,
                    prepared: None,
                },
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
}
