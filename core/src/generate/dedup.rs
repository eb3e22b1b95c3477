//! `generate --dedup`: one case per shape. Reads (GET, HEAD, OPTIONS) with the
//! same request shape (method, route with ids generalised, query keys, body
//! schema) and response shape (status, body schema) as an earlier case are
//! dropped. Writes are always kept, since they change what later cases see,
//! and so is any case a kept case refers to (`${NNNN.response...}`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::matcher::{as_matcher, is_uuid};
use crate::suite::{BodySpec, CaseFile, MockSpec};

fn schema(v: &Value) -> String {
    if let Some(kind) = as_matcher(v) {
        return kind.to_owned();
    }
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(a) => format!("[{}]", a.first().map(schema).unwrap_or_default()),
        Value::Object(m) => {
            let fields: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}:{}", schema(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
    }
}

fn body_schema(b: &Option<BodySpec>) -> String {
    match b {
        None => String::new(),
        Some(BodySpec::Json(v)) => schema(v),
        Some(BodySpec::JsonLines(v) | BodySpec::JsonSeq(v)) => format!("lines {}", schema(v)),
        Some(BodySpec::Text(_)) => "text".into(),
        Some(_) => "binary".into(),
    }
}

fn route(target: &str) -> (String, Vec<String>) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path
        .split('/')
        .map(|seg| {
            let generic = seg.starts_with("${")
                || (!seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()))
                || is_uuid(seg);
            if generic {
                "{id}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let mut keys: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split('=').next().unwrap_or(p).to_owned())
        .collect();
    keys.sort();
    keys.dedup();
    (path, keys)
}

fn shape(c: &CaseFile) -> String {
    let (path, keys) = route(&c.request.target);
    format!(
        "{} {path} ?{} {} => {} {}",
        c.request.method.to_ascii_uppercase(),
        keys.join(","),
        body_schema(&c.request.body),
        c.response.status,
        body_schema(&c.response.body)
    )
}

fn references(c: &CaseFile, mocks: &[MockSpec], out: &mut BTreeSet<String>) {
    let text = serde_json::to_string(c).unwrap_or_default()
        + &serde_json::to_string(mocks).unwrap_or_default();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("${") {
        let r = &rest[i + 2..];
        if r.len() > 5
            && r.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && r[4..].starts_with(".response.")
        {
            out.insert(r[..4].to_owned());
        }
        rest = r;
    }
}

/// Drops repeated read shapes; returns `(kept case, the cases it stands for)`.
pub fn dedup(cases: &mut Vec<(String, CaseFile, Vec<MockSpec>)>) -> Vec<(String, Vec<String>)> {
    let mut first_of: BTreeMap<String, String> = BTreeMap::new();
    let mut drop: BTreeMap<String, String> = BTreeMap::new();
    for (stem, case, _) in cases.iter() {
        let read = matches!(
            case.request.method.to_ascii_uppercase().as_str(),
            "GET" | "HEAD" | "OPTIONS"
        );
        match first_of.get(&shape(case)) {
            Some(kept) if read => {
                drop.insert(stem.clone(), kept.clone());
            }
            Some(_) => {}
            None => {
                first_of.insert(shape(case), stem.clone());
            }
        }
    }
    let mut needed = BTreeSet::new();
    for (stem, case, mocks) in cases.iter() {
        if !drop.contains_key(stem) {
            references(case, mocks, &mut needed);
        }
    }
    drop.retain(|stem, _| !needed.contains(crate::suite::case_number(stem)));
    cases.retain(|(stem, _, _)| !drop.contains_key(stem));
    let mut stands_for: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (dropped, kept) in drop {
        stands_for.entry(kept).or_default().push(dropped);
    }
    stands_for.into_iter().collect()
}
