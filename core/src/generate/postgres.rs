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
use crate::wire::postgres::{BackendMessage, FrontendMessage, Prepared};

/// Statement and portal names per recorded connection: `(dependency,
/// connection)` to what that connection prepared.
pub type Names = HashMap<(String, u64), Prepared>;

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
    let prepared = names.entry((dependency.clone(), o.connection)).or_default();
    let request = requests
        .into_iter()
        .map(|message| PgRequest {
            prepared: prepared.follow(&message),
            message,
        })
        .collect();
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
