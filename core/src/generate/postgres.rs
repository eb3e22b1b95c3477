//! Postgres exchanges become mock lines.
//!
//! Each request group keeps its messages; Bind, Describe, Execute and Close
//! also get the SQL of the statement they name, found by following the
//! recorded connection from its Parse messages (statement names are the
//! driver's, and may differ at replay). Connection start-up groups are not
//! mocks: the mock accepts any start-up and answers with the server's
//! ParameterStatus values, which go to `suite.json`. Password messages are
//! therefore never written anywhere.

use std::collections::{BTreeSet, HashMap};

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
        .map(|message| {
            let sql = prepared.follow(&message);
            PgRequest::new(message, sql)
        })
        .collect();
    // Cut at `--max-body` while recording: the mock could only give a
    // partial answer, or compare against partial COPY data. (After the
    // statement names were followed: later groups name what this one prepared.)
    for (side, payload) in [
        ("answer", o.response.as_ref()),
        ("request", Some(&o.request)),
    ] {
        let Some(body) = payload.map(Payload::body).filter(|b| b.truncated) else {
            continue;
        };
        return Group::Unanswered(format!(
            "its {side} was cut at --max-body while recording ({} of {} bytes kept); record again with a larger --max-body to replay it",
            body.bytes.len(),
            body.size
        ));
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
            .value()
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

/// A Bind parameter the generator made a matcher, for the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamMatcher {
    /// The mock line's id.
    pub mock: String,
    /// `$2 of INSERT INTO users (...)`.
    pub param: String,
    pub kind: &'static str,
    /// Why, without the value: `a bcrypt hash`.
    pub why: String,
}

/// Each statement's parameter types, learned from what the recording says:
/// the types a Parse gave, and the server's ParameterDescription for a
/// Describe of the statement. By dependency and normalized SQL.
pub(super) fn learn_param_types<'a>(
    types: &mut ParamTypes,
    mocks: impl Iterator<Item = &'a PgMock>,
) {
    use crate::suite::postgres::normalize_sql;
    for m in mocks {
        let mut descriptions = m.response.iter().filter_map(|r| match r {
            BackendMessage::ParameterDescription { types } => Some(types),
            _ => None,
        });
        for r in &m.request {
            match &r.message {
                FrontendMessage::Parse {
                    sql, param_types, ..
                } if param_types.iter().any(|t| *t != 0) => {
                    types
                        .entry((m.dependency.clone(), normalize_sql(sql)))
                        .or_insert_with(|| param_types.clone());
                }
                FrontendMessage::Describe {
                    kind: crate::wire::postgres::Target::Statement,
                    ..
                } => {
                    if let (Some(t), Some(sql)) = (descriptions.next(), &r.prepared) {
                        types.insert((m.dependency.clone(), normalize_sql(sql)), t.clone());
                    }
                }
                _ => {}
            }
        }
    }
}

/// Parameter types by dependency and normalized SQL.
pub(super) type ParamTypes = HashMap<(String, String), Vec<u32>>;

/// Makes every Bind parameter whose value the app makes afresh on each run
/// (by its format, or for binary values its type: see
/// [`crate::matcher::formats::param_kind`]) a typed matcher, and lists each.
/// `recorded_at` (Unix seconds) tells a "now" timestamp from a date that is data.
/// `sent` holds, by case file stem, the values the case's request states
/// literally: such a value is the client's, sent the same at replay, and
/// stays exact however random it looks (a slug, a username with digits), so
/// that it still tells one user's row from another's.
pub(super) fn infer_params(
    mocks: &mut [&mut PgMock],
    types: &mut ParamTypes,
    recorded_at: i64,
    sent: &HashMap<String, BTreeSet<String>>,
) -> Vec<ParamMatcher> {
    use crate::matcher::formats::param_kind;
    use crate::suite::postgres::normalize_sql;
    learn_param_types(types, mocks.iter().map(|m| &**m));
    let types = &*types;
    let mut found = Vec::new();
    for m in mocks.iter_mut() {
        for r in &mut m.request {
            let FrontendMessage::Bind {
                param_formats,
                params,
                ..
            } = &r.message
            else {
                continue;
            };
            let sql = r.prepared.as_deref().map(normalize_sql).unwrap_or_default();
            let oids = types.get(&(m.dependency.clone(), sql.clone()));
            let stem = m.id.rsplit_once('#').map_or("", |(stem, _)| stem);
            let client = sent.get(stem);
            let mut kinds = Vec::new();
            for (i, p) in params.iter().enumerate() {
                let Some(value) = p else { continue };
                // Placeholders (secrets) are filled at replay, not matched.
                if std::str::from_utf8(value).is_ok_and(crate::template::has_placeholder) {
                    continue;
                }
                let binary = crate::wire::postgres::is_binary_param(param_formats, i);
                let oid = oids.and_then(|t| t.get(i)).copied().unwrap_or(0);
                let from_client = client.is_some_and(|c| {
                    super::attribute::value_text(value, binary, oid).is_some_and(|t| c.contains(&t))
                });
                if from_client {
                    continue;
                }
                if let Some(kind) = param_kind(value, binary, oid, recorded_at) {
                    kinds.push((i, kind, why(kind, value, binary)));
                }
            }
            for (i, kind, why) in kinds {
                r.set_matcher(i, kind);
                let short: String = sql.chars().take(48).collect();
                let ellipsis = if short.len() < sql.len() { "…" } else { "" };
                found.push(ParamMatcher {
                    mock: m.id.clone(),
                    param: format!("${} of {short}{ellipsis}", i + 1),
                    kind,
                    why,
                });
            }
        }
    }
    found
}

/// Why a value of `kind` is made afresh on every run, for the summary.
pub fn kind_reason(kind: &str) -> String {
    match kind {
        "password_hash" => "a password hash, salted afresh each time",
        "jwt" => "a JSON Web Token, signed afresh each time",
        "hex" => "random hex digits (a salt, nonce or HMAC)",
        "base64" => "random base64 (a salt, nonce or HMAC)",
        "token" => "a random token",
        "bytes" => "random bytes",
        "uuid" => "a UUID",
        "timestamp" => "a timestamp near the recording's time",
        other => other,
    }
    .to_owned()
}

/// What made a value a matcher, without the value itself.
fn why(kind: &str, value: &[u8], binary: bool) -> String {
    let text = std::str::from_utf8(value).unwrap_or("");
    match kind {
        "password_hash" => {
            let scheme = text
                .trim_start_matches('$')
                .split(['$', ':'])
                .next()
                .unwrap_or("");
            let scheme = match scheme {
                "2a" | "2b" | "2x" | "2y" | "2" => "bcrypt",
                "5" | "6" => "sha-crypt",
                "7" | "y" | "gy" => "scrypt",
                other => other,
            };
            format!("a password hash ({scheme}), salted afresh each time")
        }
        "jwt" => "a JSON Web Token, signed afresh each time".into(),
        "hex" => format!("{} random hex digits (a salt, nonce or HMAC)", value.len()),
        "base64" => format!(
            "{} random base64 characters (a salt, nonce or HMAC)",
            text.len()
        ),
        "token" => format!("a random token of {} characters", text.len()),
        "bytes" => format!("{} random bytes (bytea)", value.len()),
        "uuid" if binary => "a UUID (binary)".into(),
        "uuid" => "a UUID".into(),
        "timestamp" => "a timestamp near the recording's time".into(),
        other => other.to_owned(),
    }
}
