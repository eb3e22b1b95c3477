//! Values that differ across repeats of the same request: when the same call
//! (method, target, body, and who asked: its credential headers such as
//! Authorization and Cookie) was made more than once with no state-changing call
//! in between, and a response field came back different each time, it is
//! volatile (a counter, a random pick, a clock) and becomes a typed matcher in
//! every one of those cases. Calls separated by a POST/PUT/PATCH/DELETE are not
//! repeats: their answers may differ for a reason the suite must check.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::matcher::{accepts, as_matcher, format_kind, MARKER};
use crate::suite::{BodySpec, CaseFile, MockSpec};
use crate::template::has_placeholder;

/// The scalar leaves of `v` by JSON path, leaving out matchers and references.
pub fn leaves(v: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    if as_matcher(v).is_some() {
        return;
    }
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, c)| leaves(c, crate::json_path::child(&path, k), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| leaves(c, format!("{path}[{i}]"), out)),
        Value::String(s) if has_placeholder(s) => {}
        leaf => {
            out.insert(path, leaf.clone());
        }
    }
}

/// Replaces the value at a JSON path like `$.items[0].id`, if it is there.
pub fn set(v: &mut Value, path: &str, to: Value) {
    if let Some(slot) = crate::json_path::at_mut(v, path) {
        *slot = to;
    }
}

/// The paths whose values differ between `bodies` (present in all of them),
/// with the most specific matcher kind that accepts every value seen (a
/// format all share, such as `uuid`, else their JSON type; `near` is the
/// time epoch values are near). A path whose values differ in JSON type is
/// left out: a field that changes type is a change the suite must catch, and
/// no matcher short of "anything" would take it.
pub fn differing(bodies: &[BTreeMap<String, Value>], near: i64) -> Vec<(String, &'static str)> {
    let Some(first_body) = bodies.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (path, first) in first_body {
        let values: Vec<&Value> = bodies.iter().filter_map(|b| b.get(path)).collect();
        if values.len() != bodies.len() || values.iter().all(|v| *v == first) {
            continue;
        }
        if let Some(kind) = kind_of(&values, near) {
            out.push((path.clone(), kind));
        }
    }
    out
}

/// The most specific matcher all `values` satisfy: a volatile format they
/// all have (a UUID in every sample is a `uuid`, not any `string`), else the
/// one JSON type they share, if they share one.
pub fn kind_of(values: &[&Value], near: i64) -> Option<&'static str> {
    let format = values
        .first()
        .and_then(|v| format_kind(v, near))
        .filter(|k| values.iter().all(|v| accepts(k, v)));
    if format.is_some() {
        return format;
    }
    type_kind(values)
}

/// The matcher for the one JSON type all `values` share, if they share one.
fn type_kind(values: &[&Value]) -> Option<&'static str> {
    if values.iter().all(|v| v.is_number()) {
        Some("number")
    } else if values.iter().all(|v| v.is_string()) {
        Some("string")
    } else if values.iter().all(|v| v.is_boolean()) {
        Some("boolean")
    } else {
        None
    }
}

/// Loosens fields that differ across repeats; returns `(case, path, kind)`.
pub fn loosen(
    cases: &mut [(String, CaseFile, Vec<MockSpec>)],
) -> Vec<(String, String, &'static str)> {
    let mut groups: BTreeMap<(u32, String, String, String, String), Vec<usize>> = BTreeMap::new();
    let mut epoch = 0;
    for (i, (_, case, _)) in cases.iter().enumerate() {
        let m = case.request.method.to_ascii_uppercase();
        if !matches!(m.as_str(), "GET" | "HEAD" | "OPTIONS") {
            epoch += 1;
            continue;
        }
        let body = serde_json::to_string(&case.request.body).unwrap_or_default();
        // The same read by another user (or by nobody) may rightly answer
        // otherwise (`favorited`): not a repeat.
        let asker: String = case
            .request
            .headers
            .iter()
            .filter(|(n, _)| crate::secrets::is_credential_header(n))
            .map(|(n, v)| format!("{}: {v}\n", n.to_ascii_lowercase()))
            .collect();
        groups
            .entry((epoch, m, case.request.target.clone(), body, asker))
            .or_default()
            .push(i);
    }
    let mut report = Vec::new();
    for members in groups.values().filter(|m| m.len() > 1) {
        let near = chrono::DateTime::parse_from_rfc3339(&cases[members[0]].1.recorded_at)
            .map_or(0, |t| t.timestamp());
        let bodies: Vec<BTreeMap<String, Value>> = members
            .iter()
            .map(|i| {
                let mut out = BTreeMap::new();
                if let Some(v) = cases[*i]
                    .1
                    .response
                    .body
                    .as_ref()
                    .and_then(BodySpec::as_json)
                {
                    leaves(v, "$".into(), &mut out);
                }
                out
            })
            .collect();
        let statuses: Vec<u16> = members
            .iter()
            .map(|i| cases[*i].1.response.status)
            .collect();
        if statuses.windows(2).any(|w| w[0] != w[1]) {
            continue;
        }
        for (path, kind) in differing(&bodies, near) {
            for i in members {
                let (stem, case, _) = &mut cases[*i];
                if let Some(v) = case.response.body.as_mut().and_then(BodySpec::as_json_mut) {
                    set(v, &path, json!({ MARKER: kind }));
                    report.push((stem.clone(), path.clone(), kind));
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        leaves(&v, "$".into(), &mut out);
        out
    }

    #[test]
    fn values_that_differ_in_type_are_never_loosened() {
        let bodies = [
            body(json!({"n": 1, "s": "a", "b": true, "price": 3999, "same": 7})),
            body(json!({"n": 2, "s": "b", "b": false, "price": "3999", "same": 7})),
        ];
        assert_eq!(
            differing(&bodies, 0),
            [
                ("$.b".to_owned(), "boolean"),
                ("$.n".to_owned(), "number"),
                ("$.s".to_owned(), "string")
            ]
        );
    }

    #[test]
    fn a_format_every_sample_shares_is_the_matcher() {
        let at = 1_764_160_000;
        let bodies = [
            body(json!({"id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "at": at, "s": "abc"})),
            body(
                json!({"id": "6fa459ea-ee8a-3ca4-894e-db77e160355e", "at": at + 5, "s": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}),
            ),
        ];
        assert_eq!(
            differing(&bodies, at),
            [
                ("$.at".to_owned(), "epoch_seconds"),
                ("$.id".to_owned(), "uuid"),
                ("$.s".to_owned(), "string")
            ]
        );
    }
}
