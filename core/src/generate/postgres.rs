//! Postgres exchanges become mock lines.
//!
//! Each request group keeps its messages; Bind, Describe, Execute and Close
//! also get the SQL of the statement they name, found by following the
//! recorded connection from its Parse messages (statement names are the
//! driver's, and may differ at replay). Connection start-up groups are not
//! mocks: the mock accepts any start-up and answers with the server's
//! ParameterStatus values, which go to `suite.json`. Password messages are
//! therefore never written anywhere.

use std::collections::HashMap;

use crate::model::{Exchange, Payload};
use crate::suite::{PgMock, PgRequest};
use crate::wire::postgres::{BackendMessage, FrontendMessage, Target};

/// Statement and portal names per recorded connection.
#[derive(Debug, Default)]
pub struct Names {
    statements: HashMap<(String, u64, String), String>,
    portals: HashMap<(String, u64, String), String>,
}

/// What a recorded Postgres exchange is, for the suite.
pub enum Group {
    /// A request group the mock must answer.
    Mock(PgMock),
    /// Connection start-up: the server's ParameterStatus values.
    Startup(Vec<(String, String)>),
    /// Nothing to replay (CancelRequest, a notification while idle).
    Skip,
    /// Sent, but never answered (the connection or the recording ended
    /// first): a mock of it would leave the driver waiting. Why, for the
    /// summary.
    Unanswered(String),
}

pub fn group(o: &Exchange, names: &mut Names) -> Group {
    let dependency = o.dependency.clone().unwrap_or_default();
    let requests: Vec<FrontendMessage> = messages(Some(&o.request));
    let responses: Vec<BackendMessage> = messages(o.response.as_ref());
    if requests.is_empty() {
        return Group::Skip;
    }
    match requests.first() {
        Some(FrontendMessage::StartupMessage { .. }) => {
            return Group::Startup(
                responses
                    .iter()
                    .filter_map(|m| match m {
                        BackendMessage::ParameterStatus { name, value } => {
                            Some((name.clone(), value.clone()))
                        }
                        _ => None,
                    })
                    .collect(),
            )
        }
        Some(FrontendMessage::CancelRequest { .. }) => return Group::Skip,
        _ => {}
    }
    let key = |name: &str| (dependency.clone(), o.connection, name.to_owned());
    let mut request = Vec::with_capacity(requests.len());
    for message in requests {
        let prepared = match &message {
            FrontendMessage::Parse { statement, sql, .. } => {
                names.statements.insert(key(statement), sql.clone());
                None
            }
            FrontendMessage::Bind {
                portal, statement, ..
            } => {
                let sql = names.statements.get(&key(statement)).cloned();
                if let Some(sql) = &sql {
                    names.portals.insert(key(portal), sql.clone());
                }
                sql
            }
            FrontendMessage::Describe { kind, name } | FrontendMessage::Close { kind, name } => {
                match kind {
                    Target::Statement => names.statements.get(&key(name)).cloned(),
                    Target::Portal => names.portals.get(&key(name)).cloned(),
                }
            }
            FrontendMessage::Execute { portal, .. } => names.portals.get(&key(portal)).cloned(),
            _ => None,
        };
        request.push(PgRequest { message, prepared });
    }
    if !matches!(responses.last(), Some(BackendMessage::ReadyForQuery { .. })) {
        let why = o
            .error
            .clone()
            .unwrap_or_else(|| "no ReadyForQuery was recorded".to_owned());
        return Group::Unanswered(why);
    }
    Group::Mock(PgMock {
        id: String::new(),
        seq: o.seq,
        dependency,
        protocol: "postgres".into(),
        connection: o.connection,
        request,
        response: responses,
    })
}

fn messages<T: serde::de::DeserializeOwned>(p: Option<&Payload>) -> Vec<T> {
    match p {
        Some(Payload::Wire { decoded, .. }) => decoded
            .get("messages")
            .cloned()
            .and_then(|m| serde_json::from_value(m).ok())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// `db: select * from books where id = $1` for reports.
pub fn describe(m: &PgMock) -> String {
    let sql = m.sql().unwrap_or("(no SQL)");
    let one_line: String = crate::suite::postgres::normalize_sql(sql)
        .chars()
        .take(80)
        .collect();
    format!("{}: {one_line}", m.dependency)
}
