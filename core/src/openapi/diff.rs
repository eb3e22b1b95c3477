//! `reel openapi --diff OLD`: where recorded traffic disagrees with an
//! existing OpenAPI document. Requests to paths or methods it does not
//! have, query parameters and request body fields it does not name, status
//! codes it does not list, response fields its schemas do not name, JSON
//! types it does not allow, and what it documents that the traffic never
//! showed (operations, and response fields no recorded answer had).
//!
//! Schemas are followed through local `$ref`s and `allOf`; below a `oneOf`
//! or `anyOf` fields are not judged (which branch a value took is not
//! known).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{documented_values, media_type, split_target, template, Sample, METHODS};

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
            ts.len() == segs.len() && ts.iter().zip(&segs).all(|(t, s)| segment_matches(t, s))
        })
        .max_by_key(|t| t.split('/').filter(|s| !s.starts_with('{')).count())
}

/// Whether a path segment fits a template's segment: the same text, or
/// its literal parts in order around `{parameters}` (`{name}.json`).
fn segment_matches(t: &str, s: &str) -> bool {
    if !t.contains('{') {
        return t == s;
    }
    let mut literals = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        literals.push(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return t == s,
        }
    }
    literals.push(rest);
    let (first, last) = (literals[0], literals[literals.len() - 1]);
    if s.is_empty() || !s.starts_with(first) || !s[first.len()..].ends_with(last) {
        return false;
    }
    let mut middle = &s[first.len()..s.len() - last.len()];
    for lit in &literals[1..literals.len() - 1] {
        match middle.find(lit) {
            Some(i) => middle = &middle[i + lit.len()..],
            None => return false,
        }
    }
    true
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
/// The properties a schema names, and whether it leaves others open
/// (`additionalProperties` not false, or a part of an `allOf` that is a
/// `oneOf`/`anyOf`, whose fields are not known).
struct Props<'a> {
    named: BTreeMap<&'a str, &'a Value>,
    open: bool,
}

fn properties<'a>(doc: &'a Value, s: &'a Value) -> Option<Props<'a>> {
    let s = resolve(doc, s);
    if s.get("oneOf").is_some() || s.get("anyOf").is_some() {
        return None;
    }
    let mut out = Props {
        named: BTreeMap::new(),
        open: s
            .get("additionalProperties")
            .is_some_and(|a| a != &Value::Bool(false)),
    };
    let mut any = false;
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        any = true;
        out.named.extend(p.iter().map(|(k, v)| (k.as_str(), v)));
    }
    for part in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match properties(doc, part) {
            Some(p) => {
                any = true;
                out.named.extend(p.named);
                out.open |= p.open;
            }
            None => out.open = true,
        }
    }
    any.then_some(out)
}

/// The JSON type of a value as a schema names it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The types a schema allows, if it says (`type`, or `nullable` of 3.0).
fn types_of(s: &Value) -> Option<Vec<&str>> {
    let mut t: Vec<&str> = match s.get("type")? {
        Value::String(t) => vec![t.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    if s.get("nullable") == Some(&Value::Bool(true)) {
        t.push("null");
    }
    Some(t)
}

/// What walking answers against a schema found.
#[derive(Default)]
struct Walked {
    /// Fields the schema does not name.
    extra: BTreeSet<String>,
    /// Every field path seen.
    seen: BTreeSet<String>,
    /// `(path, the document's types, the traffic's type)`.
    mistyped: BTreeSet<(String, String, &'static str)>,
}

/// Walks `v` against schema `s`, at JSON path `at`.
fn walk(doc: &Value, s: &Value, v: &Value, at: &str, w: &mut Walked) {
    let s = resolve(doc, s);
    // A suite's matcher stands for a value of its kind; a placeholder
    // (a chained id, a secret) for a value of a type not known here.
    let kind = crate::matcher::as_matcher(v);
    let t = match kind {
        Some("any") => return,
        Some("epoch_seconds" | "epoch_millis") => "integer",
        Some("number") => "number",
        Some("boolean") => "boolean",
        Some(_) => "string",
        None if v.as_str().is_some_and(crate::template::has_placeholder) => return,
        None => json_type(v),
    };
    if let Some(types) = types_of(s) {
        let fits = types.contains(&t)
            || (t == "integer" && types.contains(&"number"))
            || (t == "number" && types.contains(&"integer") && kind.is_some());
        if !fits {
            w.mistyped.insert((at.to_owned(), types.join(" or "), t));
            return;
        }
    }
    if kind.is_some() {
        return;
    }
    match v {
        Value::Object(m) => {
            let Some(props) = properties(doc, s) else {
                return;
            };
            for (k, child) in m {
                let path = crate::json_path::child(at, k);
                w.seen.insert(path.clone());
                match props.named.get(k.as_str()) {
                    Some(ps) => walk(doc, ps, child, &path, w),
                    None if props.open => {}
                    None => {
                        w.extra.insert(path);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items") {
                for i in items {
                    walk(doc, is, i, &format!("{at}[*]"), w);
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
        for (k, ps) in props.named {
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
fn response<'a>(doc: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    let r = &op["responses"];
    r.get(status.to_string())
        .or_else(|| r.get(format!("{}XX", status / 100)))
        .or_else(|| r.get(format!("{}xx", status / 100)))
        .or_else(|| r.get("default"))
        .map(|r| resolve(doc, r))
}

/// The documented content for an answer of media type `media`: its own
/// entry (parameters aside), else `type/*`, else `*/*`; and its key.
fn content_for<'a>(r: &'a Value, media: &str) -> Option<(&'a String, &'a Value)> {
    let content = r.get("content")?.as_object()?;
    let bare = |k: &str| {
        k.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    };
    let family = format!("{}/*", media.split('/').next().unwrap_or(""));
    [media, family.as_str(), "*/*"]
        .iter()
        .find_map(|want| content.iter().find(|(k, _)| bare(k) == *want))
}

/// Where a request disagrees with its operation: query parameters the
/// document does not name (at the path or the operation), and body fields
/// or types its request schema does not allow.
fn request(
    doc: &Value,
    path_item: &Value,
    op: &Value,
    req: &crate::suite::RequestSpec,
    name: &str,
    out: &mut BTreeSet<Finding>,
) {
    let named: BTreeSet<String> = [path_item, op]
        .iter()
        .filter_map(|v| v.get("parameters").and_then(Value::as_array))
        .flatten()
        .map(|p| resolve(doc, p))
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let (_, query) = split_target(&req.target);
    for (q, _) in query {
        // A `deepObject` or `form` object parameter names its fields
        // `filter[x]`: the name before the bracket is what is documented.
        let base = q.split('[').next().unwrap_or(&q);
        if !named.contains(&q) && !named.contains(base) {
            out.insert(Finding {
                operation: name.to_owned(),
                what: format!("query parameter {q} is not documented"),
            });
        }
    }
    let values = documented_values(req.body.as_ref());
    let Some(media) = media_type(&req.headers).filter(|_| !values.is_empty()) else {
        return;
    };
    let body = resolve(doc, &op["requestBody"]);
    if body.is_null() {
        out.insert(Finding {
            operation: name.to_owned(),
            what: format!("a {media} request body is not documented"),
        });
        return;
    }
    let Some((_, content)) = content_for(body, &media) else {
        out.insert(Finding {
            operation: name.to_owned(),
            what: format!("a {media} request body is not documented"),
        });
        return;
    };
    let mut w = Walked::default();
    for v in values {
        walk(doc, &content["schema"], v, "$", &mut w);
    }
    for e in w.extra {
        out.insert(Finding {
            operation: name.to_owned(),
            what: format!("request field {e} is not documented"),
        });
    }
    for (at, documented, sent) in w.mistyped {
        out.insert(Finding {
            operation: name.to_owned(),
            what: format!("request {at} is {sent} in the traffic, {documented} in the document"),
        });
    }
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
    // (template, method, status, documented media type) → field paths seen
    let mut seen: BTreeMap<(String, String, String, String), BTreeSet<String>> = BTreeMap::new();
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
        request(doc, &doc["paths"][tpl], op, req, &name, &mut out);
        let Some(r) = response(doc, op, res.status) else {
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
        let Some((key, schema)) = content_for(r, &media).map(|(k, c)| (k.clone(), &c["schema"]))
        else {
            out.insert(Finding {
                operation: name,
                what: format!(
                    "status {} answers {media}, which is not documented",
                    res.status
                ),
            });
            continue;
        };
        let slot = seen
            .entry((tpl.clone(), method.clone(), res.status.to_string(), key))
            .or_default();
        let mut w = Walked::default();
        for body in values {
            walk(doc, schema, body, "$", &mut w);
        }
        slot.extend(w.seen);
        for e in w.extra {
            out.insert(Finding {
                operation: name.clone(),
                what: format!("status {}: field {e} is not documented", res.status),
            });
        }
        for (at, documented, sent) in w.mistyped {
            out.insert(Finding {
                operation: name.clone(),
                what: format!(
                    "status {}: {at} is {sent} in the traffic, {documented} in the document",
                    res.status
                ),
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
            for ((t, mm, status, media), paths) in &seen {
                if t != tpl || mm != m {
                    continue;
                }
                let Some(schema) = response(doc, op, status.parse().unwrap_or(0))
                    .and_then(|r| r["content"].get(media))
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
