//! `reel openapi`: an OpenAPI 3.1 document inferred from recorded traffic to
//! the app (a session, a suite or a HAR file, each read into requests and
//! responses as suites hold them, secrets already placeholders).
//!
//! - Paths: a segment that is an id (digits, a UUID, 16 or more hex digits,
//!   a chained placeholder) becomes a parameter, `/books/{id}`; the last one
//!   is `id`, an earlier one is named after the segment before it
//!   (`/authors/{author_id}/books/{id}`). A literal segment seen where ids
//!   are seen stays its own path (`/books/export`).
//! - Parameters: path, query (required when every request had it) and the
//!   `x-` headers clients sent; `Authorization: Bearer|Basic` as a security
//!   scheme.
//! - Bodies: a JSON Schema per media type from every example ([`schema`]),
//!   responses per status code, one real example each. Each operation
//!   also documents `4XX` (and `5XX` when the traffic had one) with the
//!   shape of the API's errors of that class, for statuses not seen.
//! - Enums only on evidence: at most five short codes, each seen at least
//!   twice on average, at a field whose name clients never send (a value a
//!   client chose, like a title, is open whatever was recorded).

pub mod diff;
pub mod schema;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::matcher::{as_matcher, is_uuid};
use crate::suite::{spec_header, BodySpec, RequestSpec, ResponseSpec};
use crate::template::has_placeholder;
use schema::Shape;

/// One recorded request to the app and its answer.
pub type Sample = (RequestSpec, ResponseSpec);

/// The requests to the app among recorded `exchanges` (HTTP, inbound), as
/// suites hold them: bodies decoded, and with `secrets`, every credential a
/// placeholder, in every sample (one found late stood in earlier ones too).
pub fn samples(
    exchanges: &[crate::model::Exchange],
    mut secrets: Option<&mut crate::secrets::Secrets>,
) -> Vec<Sample> {
    let mut out: Vec<Sample> = exchanges
        .iter()
        .filter(|e| e.dependency.is_none() && e.protocol == crate::model::Protocol::Http)
        .filter(|e| e.request.as_http_request().is_some())
        .map(|e| {
            let mut req = crate::generate::request_spec(&e.request);
            let mut res = crate::generate::response_spec(e);
            if let Some(s) = secrets.as_deref_mut() {
                s.scrub_request(&mut req);
                s.scrub_response(&mut res, false);
            }
            (req, res)
        })
        .collect();
    if let Some(s) = secrets {
        let mut all = serde_json::to_value(&out).expect("specs serialize");
        crate::har::scrub_strings(&mut all, s);
        out = serde_json::from_value(all).expect("specs read back");
    }
    out
}

/// The path and the decoded query pairs of a request target (an absolute
/// target keeps only its path).
pub fn split_target(target: &str) -> (String, Vec<(String, String)>) {
    // An absolute target (`http://host/path`) keeps its path; a URL in a
    // query string (`/login?next=https://x/`) is a value, not the target.
    let absolute = !target.starts_with('/')
        && target
            .split_once("://")
            .is_some_and(|(scheme, _)| scheme.bytes().all(|b| b.is_ascii_alphabetic()));
    let target = match target.split_once("://") {
        Some((_, rest)) if absolute => rest.find('/').map_or("/", |i| &rest[i..]),
        _ => target,
    };
    let target = target.split('#').next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let dec = crate::matcher::percent_decode;
    let pairs = crate::matcher::query_pairs(query)
        .map(|(n, v)| (dec(n), dec(v)))
        .filter(|(n, _)| !n.is_empty())
        .collect();
    (
        if path.is_empty() {
            "/".into()
        } else {
            path.to_owned()
        },
        pairs,
    )
}

/// Whether a path segment names one resource rather than a kind of them.
pub fn is_id(seg: &str) -> bool {
    let hex = seg.len() >= 16 && seg.bytes().all(|b| b.is_ascii_hexdigit());
    let digits = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
    digits || hex || is_uuid(seg) || has_placeholder(seg)
}

fn singular(seg: &str) -> String {
    let s = seg
        .to_ascii_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    if let Some(stem) = s.strip_suffix("ies") {
        format!("{stem}y")
    } else if s.len() > 3 && s.ends_with('s') && !s.ends_with("ss") {
        s[..s.len() - 1].to_owned()
    } else {
        s
    }
}

/// A path as a template and the values its parameters had:
/// `/books/6/quote` is `/books/{id}/quote` with `id = 6`.
pub fn template(path: &str) -> (String, Vec<(String, String)>) {
    let segs: Vec<&str> = path.split('/').collect();
    let last_id = segs.iter().rposition(|s| is_id(s));
    let mut names = BTreeSet::new();
    let mut params = Vec::new();
    let mut out = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        if !is_id(seg) {
            out.push(seg.to_string());
            continue;
        }
        let base = if Some(i) == last_id || i == 0 {
            "id".to_owned()
        } else {
            format!("{}_id", singular(segs[i - 1]))
        };
        let mut name = base.clone();
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("{base}{n}");
            n += 1;
        }
        out.push(format!("{{{name}}}"));
        params.push((name, seg.to_string()));
    }
    (out.join("/"), params)
}

/// The media type of a `content-type` value, without its parameters.
fn media_type(headers: &[(String, String)]) -> Option<String> {
    spec_header(headers, "content-type")
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|m| !m.is_empty())
}

/// A body as one JSON value, when it is JSON (lines and sequences as the
/// array of their values).
fn json_of(body: Option<&BodySpec>) -> Option<&Value> {
    body.and_then(BodySpec::as_json)
}

/// The JSON values a body's schema describes: the body, or each line of
/// JSON Lines and JSON text sequences.
fn documented_values(body: Option<&BodySpec>) -> Vec<&Value> {
    match body {
        Some(BodySpec::JsonLines(Value::Array(lines)) | BodySpec::JsonSeq(Value::Array(lines))) => {
            lines.iter().collect()
        }
        _ => json_of(body).into_iter().collect(),
    }
}

/// Whether a value holds a matcher or a placeholder anywhere: not a real
/// example.
fn is_template(v: &Value) -> bool {
    match v {
        _ if as_matcher(v).is_some() => true,
        Value::String(s) => has_placeholder(s),
        Value::Array(a) => a.iter().any(is_template),
        Value::Object(m) => m.values().any(is_template),
        _ => false,
    }
}

/// What one content type of one place saw.
#[derive(Default)]
struct Content {
    shape: Shape,
    /// A JSON example without matchers or placeholders.
    example: Option<Value>,
    json: bool,
    text: bool,
}

impl Content {
    fn add(&mut self, body: Option<&BodySpec>) {
        let values = documented_values(body);
        if values.is_empty() {
            self.text |= matches!(body, Some(BodySpec::Text(_)));
            return;
        }
        self.json = true;
        for v in values {
            self.shape.add(v);
            if self.example.is_none() && !is_template(v) {
                self.example = Some(v.clone());
            }
        }
    }

    fn media(&self, closed: &dyn Fn(&[&str]) -> bool) -> Value {
        let mut m = Map::new();
        if self.json {
            m.insert("schema".into(), self.shape.schema(closed));
            if let Some(e) = &self.example {
                m.insert("example".into(), e.clone());
            }
        } else if self.text {
            m.insert("schema".into(), json!({"type": "string"}));
        } else {
            m.insert("schema".into(), json!({}));
        }
        Value::Object(m)
    }
}

#[derive(Default)]
struct Operation {
    count: usize,
    path: BTreeMap<String, Shape>,
    /// name → (requests that had it, values)
    query: BTreeMap<String, (usize, Shape)>,
    /// Query parameters a request gave more than once (`?tag=a&tag=b`).
    repeated: BTreeSet<String>,
    headers: BTreeMap<String, (usize, Shape)>,
    /// Requests with a body, by media type.
    bodies: usize,
    request: BTreeMap<String, Content>,
    /// Requests by authorization scheme (`bearer`, `basic`).
    auth: BTreeMap<String, usize>,
    responses: BTreeMap<u16, BTreeMap<String, Content>>,
}

/// Request headers that describe the connection or the client, not the API.
const PLAIN_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-real-ip",
    "x-request-id",
    "x-amzn-trace-id",
];

/// The methods an OpenAPI path item can hold; a request with another
/// (`PURGE`, `PROPFIND`) cannot be documented.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Whether OpenAPI can document a request with `method`.
pub fn describable(method: &str) -> bool {
    METHODS.contains(&method.to_ascii_lowercase().as_str())
}

/// The OpenAPI 3.1 document of `samples`, requests to `server`. Requests
/// whose method OpenAPI has no place for are left out ([`describable`]).
pub fn document(title: &str, server: Option<&str>, samples: &[Sample]) -> Value {
    let mut ops: BTreeMap<(String, String), Operation> = BTreeMap::new();
    // Field and parameter names clients send: what they choose is open.
    let mut chosen: BTreeSet<String> = BTreeSet::new();
    for (req, _) in samples {
        let (_, query) = split_target(&req.target);
        chosen.extend(query.into_iter().map(|(n, _)| n));
        if let Some(v) = json_of(req.body.as_ref()) {
            keys(v, &mut chosen);
        }
    }
    for (req, res) in samples.iter().filter(|(r, _)| describable(&r.method)) {
        let (path, query) = split_target(&req.target);
        let (tpl, params) = template(&path);
        let op = ops
            .entry((tpl, req.method.to_ascii_lowercase()))
            .or_default();
        op.count += 1;
        for (name, value) in params {
            op.path.entry(name).or_default().add_text(&value);
        }
        let mut seen = BTreeSet::new();
        for (name, value) in query {
            let slot = op.query.entry(name.clone()).or_default();
            if seen.insert(name.clone()) {
                slot.0 += 1;
            } else {
                op.repeated.insert(name);
            }
            slot.1.add_text(&value);
        }
        let mut seen = BTreeSet::new();
        for (name, value) in &req.headers {
            let name = name.to_ascii_lowercase();
            if name.starts_with("x-") && !PLAIN_HEADERS.contains(&name.as_str()) {
                let slot = op.headers.entry(name.clone()).or_default();
                if seen.insert(name.clone()) {
                    slot.0 += 1;
                }
                slot.1.add(&Value::String(value.clone()));
            }
            if name == "authorization" {
                let scheme = value.split(' ').next().unwrap_or("").to_ascii_lowercase();
                if scheme == "bearer" || scheme == "basic" {
                    *op.auth.entry(scheme).or_default() += 1;
                }
            }
        }
        if req.body.is_some() {
            op.bodies += 1;
            let media = media_type(&req.headers).unwrap_or_else(|| "*/*".into());
            op.request.entry(media).or_default().add(req.body.as_ref());
        }
        let by_media = op.responses.entry(res.status).or_default();
        if res.body.is_some() {
            let media = media_type(&res.headers).unwrap_or_else(|| "*/*".into());
            by_media.entry(media).or_default().add(res.body.as_ref());
        }
    }
    // Every error answer of the API, whatever operation gave it: the shape
    // of its client errors (4xx) and of its server errors (5xx). Each
    // operation documents the range (`4XX`, `5XX`) as that shape, so a
    // client (or a tester such as Schemathesis) meeting a status the
    // traffic did not show still checks its body against the API's errors.
    // Any API may answer a bad request with a 4xx, so `4XX` is documented
    // even when none was recorded (then without a body to check); `5XX`
    // only when the traffic had one. A success not recorded stays
    // undocumented.
    let mut errors: [(BTreeMap<String, Content>, usize); 2] = Default::default();
    for (_, res) in samples
        .iter()
        .filter(|(_, r)| r.status >= 400 && r.status < 600)
    {
        let slot = &mut errors[usize::from(res.status >= 500)];
        slot.1 += 1;
        if res.body.is_some() {
            let media = media_type(&res.headers).unwrap_or_else(|| "*/*".into());
            slot.0.entry(media).or_default().add(res.body.as_ref());
        }
    }
    let closed = |at: &[&str]| {
        at.iter()
            .rev()
            .find(|k| **k != "[]")
            .is_none_or(|k| !chosen.contains(*k))
    };
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut schemes = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for ((tpl, method), op) in &ops {
        let mut o = Map::new();
        let slug: String = tpl
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim_matches(['{', '}']))
            .collect::<Vec<_>>()
            .join("_")
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_");
        let mut id = format!("{method}_{}", if slug.is_empty() { "root" } else { &slug });
        while !ids.insert(id.clone()) {
            id.push('_');
        }
        o.insert("operationId".into(), id.into());
        o.insert(
            "summary".into(),
            format!(
                "{} {tpl} ({} recorded)",
                method.to_ascii_uppercase(),
                plural(op.count, "request")
            )
            .into(),
        );
        let mut params = Vec::new();
        for (name, shape) in &op.path {
            params.push(json!({"name": name, "in": "path", "required": true, "schema": shape.schema(&|_| false)}));
        }
        for (name, (n, shape)) in &op.query {
            // What clients send is open: no enum here.
            let mut schema = shape.schema(&|_| false);
            if op.repeated.contains(name) {
                schema = json!({"type": "array", "items": schema});
            }
            params.push(
                json!({"name": name, "in": "query", "required": *n == op.count, "schema": schema}),
            );
        }
        for (name, (n, shape)) in &op.headers {
            params.push(json!({"name": name, "in": "header", "required": *n == op.count, "schema": shape.schema(&|_| false)}));
        }
        if !params.is_empty() {
            o.insert("parameters".into(), Value::Array(params));
        }
        if !op.request.is_empty() {
            let content: Map<String, Value> = op
                .request
                .iter()
                .map(|(m, c)| (m.clone(), c.media(&|_| false)))
                .collect();
            o.insert(
                "requestBody".into(),
                json!({"required": op.bodies == op.count, "content": content}),
            );
        }
        let mut responses = Map::new();
        for (status, by_media) in &op.responses {
            let reason = http::StatusCode::from_u16(*status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Recorded answer");
            let mut r = Map::new();
            r.insert("description".into(), reason.into());
            if !by_media.is_empty() {
                let content: Map<String, Value> = by_media
                    .iter()
                    .map(|(m, c)| (m.clone(), c.media(&closed)))
                    .collect();
                r.insert("content".into(), Value::Object(content));
            }
            responses.insert(status.to_string(), Value::Object(r));
        }
        for (range, (shapes, n)) in ["4XX", "5XX"].iter().zip(&errors) {
            if *n == 0 && *range == "5XX" {
                continue;
            }
            let mut r = Map::new();
            let description = match n {
                0 => "A client error (none was recorded)".to_owned(),
                n => format!(
                    "Any other {} error: shaped as the API's were ({n} recorded)",
                    if *range == "4XX" { "client" } else { "server" }
                ),
            };
            r.insert("description".into(), description.into());
            if !shapes.is_empty() {
                let content: Map<String, Value> = shapes
                    .iter()
                    .map(|(m, c)| (m.clone(), c.media(&closed)))
                    .collect();
                r.insert("content".into(), Value::Object(content));
            }
            responses.insert((*range).into(), Value::Object(r));
        }
        o.insert("responses".into(), Value::Object(responses));
        if !op.auth.is_empty() {
            let mut sec: Vec<Value> = op
                .auth
                .keys()
                .map(|s| {
                    schemes.insert(s.clone());
                    json!({ format!("{s}Auth"): [] })
                })
                .collect();
            if op.auth.values().sum::<usize>() < op.count {
                sec.insert(0, json!({}));
            }
            o.insert("security".into(), Value::Array(sec));
        }
        paths
            .entry(tpl.clone())
            .or_default()
            .insert(method.clone(), Value::Object(o));
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "recorded",
            "description": format!(
                "Inferred by reel from {} to the app: what the traffic showed, not what the app promises.",
                plural(samples.len(), "recorded request")
            ),
        },
        "paths": paths,
    });
    if let Some(s) = server {
        doc["servers"] = json!([{ "url": s }]);
    }
    if !schemes.is_empty() {
        let defs: Map<String, Value> = schemes
            .iter()
            .map(|s| (format!("{s}Auth"), json!({"type": "http", "scheme": s})))
            .collect();
        doc["components"] = json!({ "securitySchemes": defs });
    }
    doc
}

fn keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                out.insert(k.clone());
                keys(c, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| keys(c, out)),
        _ => {}
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
