//! `reel openapi --diff OLD`: where recorded traffic disagrees with an
//! existing OpenAPI document. Requests to paths or methods it does not
//! have, status codes it does not list, response fields its schemas do not
//! name, and what it documents that the traffic never showed (operations,
//! and response fields no recorded answer had).
//!
//! Schemas are followed through local `$ref`s and `allOf`; below a `oneOf`
//! or `anyOf` fields are not judged (which branch a value took is not
//! known).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{documented_values, media_type, split_target, template, Sample};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// `GET /books/{id}`, as the document names it when it does.
    pub operation: String,
    pub what: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.operation, self.what)
    }
}

/// The documented path template that names `path`: the one with the most
/// literal segments among those that match.
fn route<'a>(templates: &'a [String], path: &str) -> Option<&'a String> {
    let segs: Vec<&str> = path.split('/').collect();
    templates
        .iter()
        .filter(|t| {
            let ts: Vec<&str> = t.split('/').collect();
            ts.len() == segs.len()
                && ts.iter().zip(&segs).all(|(t, s)| {
                    (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s
                })
        })
        .max_by_key(|t| t.split('/').filter(|s| !s.starts_with('{')).count())
}

/// The path prefix of the document's first server (`/api` of
/// `https://x/api`), which its paths are relative to.
fn base_path(doc: &Value) -> String {
    let url = doc["servers"][0]["url"].as_str().unwrap_or("");
    let after = url.split_once("://").map_or(url, |(_, r)| r);
    let path = if url.contains("://") {
        after.find('/').map_or("", |i| &after[i..])
    } else {
        after
    };
    path.trim_end_matches('/').to_owned()
}

fn resolve<'a>(doc: &'a Value, mut s: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            return s;
        };
        let Some(pointer) = r.strip_prefix('#') else {
            return s;
        };
        match doc.pointer(pointer) {
            Some(t) => s = t,
            None => return s,
        }
    }
    s
}

/// The properties a schema names (through `$ref` and `allOf`), or None
/// when it does not constrain them (no `properties`, or a `oneOf`).
fn properties<'a>(doc: &'a Value, s: &'a Value) -> Option<BTreeMap<&'a str, &'a Value>> {
    let s = resolve(doc, s);
    if s.get("oneOf").is_some() || s.get("anyOf").is_some() {
        return None;
    }
    let mut out = BTreeMap::new();
    let mut any = false;
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        any = true;
        out.extend(p.iter().map(|(k, v)| (k.as_str(), v)));
    }
    for part in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(p) = properties(doc, part) {
            any = true;
            out.extend(p);
        }
    }
    any.then_some(out)
}

/// Walks `v` against schema `s`: fields the schema does not name go to
/// `extra`, every field path seen to `seen`.
fn walk(
    doc: &Value,
    s: &Value,
    v: &Value,
    at: &str,
    extra: &mut BTreeSet<String>,
    seen: &mut BTreeSet<String>,
) {
    let s = resolve(doc, s);
    match v {
        Value::Object(m) => {
            let Some(props) = properties(doc, s) else {
                return;
            };
            for (k, child) in m {
                let path = crate::json_path::child(at, k);
                seen.insert(path.clone());
                match props.get(k.as_str()) {
                    Some(ps) => walk(doc, ps, child, &path, extra, seen),
                    None => {
                        extra.insert(path);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for i in items {
                    walk(doc, is, i, &format!("{at}[*]"), extra, seen);
                }
            }
        }
        _ => {}
    }
}

/// Every field path a schema names, through objects and array items, to a
/// bounded depth.
fn named(doc: &Value, s: &Value, at: &str, depth: usize, out: &mut BTreeSet<String>) {
    if depth == 0 {
        return;
    }
    let s = resolve(doc, s);
    if let Some(props) = properties(doc, s) {
        for (k, ps) in props {
            let path = crate::json_path::child(at, k);
            out.insert(path.clone());
            named(doc, ps, &path, depth - 1, out);
        }
    }
    if let Some(is) = s.get("items") {
        named(doc, is, &format!("{at}[*]"), depth - 1, out);
    }
}

/// The documented response of `status`: exact, then its range (`4XX`),
/// then `default`.
fn response(op: &Value, status: u16) -> Option<&Value> {
    let r = &op["responses"];
    r.get(status.to_string())
        .or_else(|| r.get(format!("{}XX", status / 100)))
        .or_else(|| r.get(format!("{}xx", status / 100)))
        .or_else(|| r.get("default"))
}

/// Where `samples` disagree with `doc`, sorted by operation.
pub fn diff(doc: &Value, samples: &[Sample]) -> Vec<Finding> {
    let templates: Vec<String> = doc["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let base = base_path(doc);
    let mut out = BTreeSet::new();
    let mut undocumented: BTreeMap<String, usize> = BTreeMap::new();
    // (template, method, status) → (paths seen, whether a JSON body was seen)
    let mut seen: BTreeMap<(String, String, String), (BTreeSet<String>, bool)> = BTreeMap::new();
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    for (req, res) in samples {
        let (path, _) = split_target(&req.target);
        let path = path
            .strip_prefix(base.as_str())
            .filter(|p| p.starts_with('/'))
            .unwrap_or(&path);
        let method = req.method.to_ascii_lowercase();
        let Some(tpl) = route(&templates, path) else {
            let (ours, _) = template(path);
            *undocumented
                .entry(format!("{} {ours}", method.to_ascii_uppercase()))
                .or_default() += 1;
            continue;
        };
        let name = format!("{} {tpl}", method.to_ascii_uppercase());
        let Some(op) = doc["paths"][tpl].get(&method) else {
            *undocumented.entry(name).or_default() += 1;
            continue;
        };
        used.insert((tpl.clone(), method.clone()));
        let Some(r) = response(op, res.status) else {
            out.insert(Finding {
                operation: name,
                what: format!("status {} is not documented", res.status),
            });
            continue;
        };
        let values = documented_values(res.body.as_ref());
        let Some(media) = media_type(&res.headers).filter(|_| !values.is_empty()) else {
            continue;
        };
        let Some(schema) = r["content"].get(&media).map(|c| &c["schema"]) else {
            out.insert(Finding {
                operation: name,
                what: format!(
                    "status {} answers {media}, which is not documented",
                    res.status
                ),
            });
            continue;
        };
        let key = (tpl.clone(), method.clone(), res.status.to_string());
        let slot = seen.entry(key).or_default();
        slot.1 = true;
        let mut extra = BTreeSet::new();
        for body in values {
            walk(doc, schema, body, "$", &mut extra, &mut slot.0);
        }
        for e in extra {
            out.insert(Finding {
                operation: name.clone(),
                what: format!("status {}: field {e} is not documented", res.status),
            });
        }
    }
    for (op, n) in undocumented {
        out.insert(Finding {
            operation: op,
            what: format!("not documented ({n} recorded)"),
        });
    }
    for tpl in &templates {
        for m in METHODS {
            let Some(op) = doc["paths"][tpl].get(*m) else {
                continue;
            };
            let name = format!("{} {tpl}", m.to_ascii_uppercase());
            if !used.contains(&(tpl.clone(), m.to_string())) {
                out.insert(Finding {
                    operation: name,
                    what: "documented, never seen in the traffic".into(),
                });
                continue;
            }
            for ((t, mm, status), (paths, any_json)) in &seen {
                if t != tpl || mm != m || !any_json {
                    continue;
                }
                let Some(schema) = response(op, status.parse().unwrap_or(0))
                    .and_then(|r| r["content"].as_object())
                    .and_then(|c| c.values().next())
                    .map(|c| &c["schema"])
                else {
                    continue;
                };
                let mut documented = BTreeSet::new();
                named(doc, schema, "$", 6, &mut documented);
                for never in documented.difference(paths) {
                    out.insert(Finding {
                        operation: name.clone(),
                        what: format!("status {status}: documented field {never} never seen"),
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}
