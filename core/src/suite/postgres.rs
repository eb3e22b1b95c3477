//! Postgres lines of a `mocks/*.jsonl` file: one recorded request group and the
//! server's answer, as decoded messages.
//!
//! Statement and portal names are whatever the driver chose while recording
//! (`s0`, `sqlx_s_3`, ...); drivers choose them again at replay, maybe
//! differently, so each Bind, Describe, Execute and Close also carries the SQL
//! its statement was prepared with (`"prepared"`). The mock matches on that.

use serde::{Deserialize, Serialize};

use crate::wire::postgres::{BackendMessage, FrontendMessage};

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
