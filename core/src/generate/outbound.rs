//! Values the app makes afresh on every run in the HTTP calls it makes to
//! its dependencies (a request id, a nonce, a signed token, a timestamp)
//! become typed matchers in the mock's recorded request body or query
//! (`?nonce={"$reel":"hex"}`), so the mock still answers the call at
//! replay; each is listed. (The mock does not match request headers.) Postgres parameters get
//! the same treatment in [`super::postgres::infer_params`].

use serde_json::{json, Value};

use super::postgres::ParamMatcher;
use crate::matcher::formats::{text_kind, timestamp_secs};
use crate::matcher::{percent_decode, MARKER};
use crate::suite::{BodySpec, MockSpec};

/// Makes the made-up values in each mock's JSON request body matchers.
/// `recorded_at` (Unix seconds) tells a "now" timestamp from a date that is data.
pub fn infer_bodies<'a>(
    mocks: impl Iterator<Item = &'a mut MockSpec>,
    recorded_at: i64,
) -> Vec<ParamMatcher> {
    let mut found = Vec::new();
    for m in mocks {
        for (key, kind) in infer_query(&mut m.request.target, recorded_at) {
            found.push(ParamMatcher {
                mock: m.id.clone(),
                param: format!("query {key}"),
                kind,
                why: super::postgres::kind_reason(kind),
            });
        }
        if let Some(BodySpec::Json(v)) = &mut m.request.body {
            walk(v, "$", recorded_at, &mut |path, kind| {
                found.push(ParamMatcher {
                    mock: m.id.clone(),
                    param: format!("request body {path}"),
                    kind,
                    why: super::postgres::kind_reason(kind),
                })
            });
        }
    }
    found
}

/// Makes the made-up query values of `target` matchers; returns each key.
fn infer_query(target: &mut String, near: i64) -> Vec<(String, &'static str)> {
    let Some((path, query)) = target.split_once('?') else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let Some((k, v)) = pair.split_once('=') else {
                return pair.to_owned();
            };
            let decoded: String = percent_decode(v);
            match kind_of(&decoded, near) {
                Some(kind) if !crate::template::has_placeholder(v) => {
                    found.push((k.to_owned(), kind));
                    format!("{k}={}", json!({ MARKER: kind }))
                }
                _ => pair.to_owned(),
            }
        })
        .collect();
    if !found.is_empty() {
        *target = format!("{path}?{}", pairs.join("&"));
    }
    found
}

/// The made-up kind of a text value; a timestamp only near `near`.
fn kind_of(s: &str, near: i64) -> Option<&'static str> {
    match text_kind(s) {
        Some("timestamp") => timestamp_secs(s)
            .is_some_and(|t| (t - near).abs() <= 7 * 24 * 3600)
            .then_some("timestamp"),
        other => other,
    }
}

fn walk(v: &mut Value, path: &str, near: i64, found: &mut dyn FnMut(&str, &'static str)) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                walk(child, &crate::json_path::child(path, k), near, found);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter_mut().enumerate() {
                walk(child, &format!("{path}[{i}]"), near, found);
            }
        }
        Value::String(s) if !crate::template::has_placeholder(s) => {
            if let Some(kind) = kind_of(s, near) {
                found(path, kind);
                *v = json!({ MARKER: kind });
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::{RequestSpec, ResponseSpec};

    #[test]
    fn made_up_values_in_a_dependency_call_become_matchers() {
        let mut m = MockSpec {
            id: "0001-post-orders#1".into(),
            seq: 3,
            dependency: "payments".into(),
            protocol: "http".into(),
            request: RequestSpec {
                method: "POST".into(),
                target: "/charges?order=42&sig=9ec928750d2703ed9d986669c327b879".into(),
                headers: vec![],
                body: Some(BodySpec::Json(json!({
                    "amount": 1200,
                    "currency": "EUR",
                    "idempotency_key": "6f1c2a1e-8a59-4b4e-9a53-0d0c1c8b8a11",
                    "nonce": "9ec928750d2703ed9d986669c327b879",
                    "at": "2026-12-02T17:20:20Z",
                    "due": "2020-01-01T00:00:00Z"
                }))),
            },
            response: ResponseSpec {
                status: 200,
                headers: vec![],
                body: None,
                body_encoding: None,
            },
        };
        let now = 1_796_231_400;
        let found = infer_bodies(std::iter::once(&mut m), now);
        let listed: Vec<_> = found.iter().map(|f| (f.param.as_str(), f.kind)).collect();
        assert_eq!(m.request.target, r#"/charges?order=42&sig={"$reel":"hex"}"#);
        assert_eq!(
            listed,
            [
                ("query sig", "hex"),
                ("request body $.idempotency_key", "uuid"),
                ("request body $.nonce", "hex"),
                ("request body $.at", "timestamp"),
            ]
        );
        let Some(BodySpec::Json(body)) = &m.request.body else {
            panic!()
        };
        assert_eq!(body["nonce"], json!({"$reel": "hex"}));
        assert_eq!(
            body["due"], "2020-01-01T00:00:00Z",
            "a date that is data stays"
        );
        assert_eq!(body["currency"], "EUR");
    }
}
