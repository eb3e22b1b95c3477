//! `generate --dedup`: one case per shape. Reads (GET, HEAD, OPTIONS) with the
//! same request shape (method, route with ids generalised, query keys, body
//! schema) and response shape (status, body schema) as an earlier case are
//! dropped. Writes are always kept, since they change what later cases see,
//! and so is any case a kept case refers to (`${NNNN.response...}`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::matcher::{as_matcher, is_uuid};
use crate::suite::{BodySpec, CaseFile, MockSpec};

fn schema(v: &Value) -> String {
    // A matcher reads as the type it stands for: loosening a field (across
    // repeats, or at an origin later cases refer to) does not change the
    // case's shape, so it may come after the shape was taken.
    if let Some(kind) = as_matcher(v) {
        return match kind {
            "number" | "epoch_seconds" | "epoch_millis" => "number",
            "boolean" => "bool",
            "any" => "any",
            _ => "string",
        }
        .to_owned();
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
        // Case numbers have four digits or more: a long session's have more.
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits >= 4 && r[digits..].starts_with(".response.") {
            out.insert(r[..digits].to_owned());
        }
        rest = r;
    }
}

/// `--dedup`, as cases stream by: the first case of each shape is kept, a
/// later read of a shape already kept is dropped unless a case kept refers
/// to it. Decided at the end, when every reference is known.
#[derive(Debug, Default)]
pub struct Dedup {
    /// The first case of each shape, by the shape's hash.
    first_of: HashMap<u64, usize>,
    /// `(dropped, kept)` case indexes, unless referred to.
    drop: Vec<(usize, usize)>,
    /// Numbers of the cases that cases kept refer to.
    needed: BTreeSet<String>,
}

impl Dedup {
    /// Takes the next cases; `base` is the first one's index in the session.
    pub fn observe(&mut self, cases: &[(String, CaseFile, Vec<MockSpec>)], base: usize) {
        for (j, (_, case, mocks)) in cases.iter().enumerate() {
            let read = matches!(
                case.request.method.to_ascii_uppercase().as_str(),
                "GET" | "HEAD" | "OPTIONS"
            );
            let hash = {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                shape(case).hash(&mut h);
                h.finish()
            };
            match self.first_of.get(&hash) {
                Some(&kept) if read => self.drop.push((base + j, kept)),
                Some(_) => references(case, mocks, &mut self.needed),
                None => {
                    self.first_of.insert(hash, base + j);
                    references(case, mocks, &mut self.needed);
                }
            }
        }
    }

    /// The cases to drop, and `(kept case, the cases it stands for)`.
    pub fn finish(self, stems: &[String]) -> (Vec<usize>, Vec<(String, Vec<String>)>) {
        let drop: Vec<(usize, usize)> = self
            .drop
            .into_iter()
            .filter(|(d, _)| !self.needed.contains(crate::suite::case_number(&stems[*d])))
            .collect();
        let mut stands_for: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (dropped, kept) in &drop {
            stands_for
                .entry(stems[*kept].clone())
                .or_default()
                .push(stems[*dropped].clone());
        }
        (
            drop.into_iter().map(|(d, _)| d).collect(),
            stands_for.into_iter().collect(),
        )
    }
}
