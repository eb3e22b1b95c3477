//! `reel import keploy DIR`: a Keploy test set (`keploy/test-set-N/`) as
//! recorded traffic. Each HTTP test case (`tests/*.yaml`) is a request to
//! the app; each HTTP mock (`mocks.yaml`) a call the app made to a
//! dependency, named after its host. Both carry their times, so `reel
//! generate` places every call in the test whose time window holds it, as
//! for a recording.
//!
//! The HTTP documents become HAR entries and are read by
//! [`crate::har::read`]: one way to turn another tool's HTTP traffic into
//! exchanges. Postgres mocks become the calls of a dependency named
//! `postgres`, grouped as a recording's ([`postgres`]). Mocks of other
//! protocols (MySQL, Redis, Mongo, gRPC, generic) are listed as not carried
//! over. Keploy's noise rules are listed too: reel finds volatile values on
//! its own evidence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::har::{HarError, Imported, ImportedDependency};

mod postgres;

#[derive(Debug, thiserror::Error)]
pub enum KeployError {
    #[error("{}: no Keploy test set here (expected tests/ and mocks.yaml, or test-set-N folders holding them)", .0.display())]
    NoTestSet(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: document {doc}: not YAML reel can read: {error}", path.display())]
    Yaml {
        path: PathBuf,
        doc: usize,
        error: String,
    },
    #[error("{}: {source}", dir.display())]
    Traffic {
        dir: PathBuf,
        #[source]
        source: HarError,
    },
}

/// The test sets under `dir`: itself when it is one, else its
/// `test-set-*` folders in name order.
fn test_sets(dir: &Path) -> Result<Vec<PathBuf>, KeployError> {
    if dir.join("tests").is_dir() {
        return Ok(vec![dir.to_owned()]);
    }
    let read = std::fs::read_dir(dir).map_err(|source| KeployError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut sets: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("test-set"))
                && p.join("tests").is_dir()
        })
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Err(KeployError::NoTestSet(dir.to_owned()));
    }
    Ok(sets)
}

/// Every YAML document of a file's text.
fn documents(path: &Path, text: &str) -> Result<Vec<Value>, KeployError> {
    // The YAML reader resolves `!!binary` to its base64 text and forgets
    // the tag; as a local tag it is kept, and the bytes can be taken.
    static BINARY_TAG: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?m)((?::|^\s*-)[ \t]+)!!binary([ \t\r\n])").expect("a valid pattern")
    });
    let text = BINARY_TAG.replace_all(text, "${1}!reel_binary${2}");
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let v = serde_yaml_ng::Value::deserialize(doc).map_err(|e| KeployError::Yaml {
            path: path.to_owned(),
            doc: i + 1,
            error: e.to_string(),
        })?;
        let v = json_of(v);
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The key a `!!binary` scalar becomes: its base64 text under it.
const BINARY: &str = "$keploy_binary";

/// A YAML value as JSON. A `!!binary` scalar (how Keploy, in Go, writes a
/// body that is not UTF-8) is kept as its base64 text under [`BINARY`];
/// any other tag is dropped for the value it tags, so one unknown tag in a
/// mock of another protocol does not stop the import.
fn json_of(v: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(json_of).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (key_text(k), json_of(v)))
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let binary = tag == "!reel_binary";
            match (binary, t.value) {
                (true, Y::String(b64)) => {
                    let b64: String = b64.split_whitespace().collect();
                    json!({ BINARY: b64 })
                }
                (_, inner) => json_of(inner),
            }
        }
    }
}

/// A mapping key as text. Keploy writes only scalar keys; a list or
/// mapping as a key (which YAML allows) is named, not written out: written
/// out, each level would quote the one inside it, and a few hundred bytes
/// of nested keys would grow to gigabytes.
fn key_text(k: serde_yaml_ng::Value) -> String {
    use serde_yaml_ng::Value as Y;
    match k {
        Y::String(s) => s,
        Y::Number(n) => n.to_string(),
        Y::Bool(b) => b.to_string(),
        Y::Null => "null".to_owned(),
        Y::Tagged(t) => key_text(t.value),
        Y::Sequence(_) | Y::Mapping(_) => "(a list or mapping as a key)".to_owned(),
    }
}

/// A body as HAR content fields: its text, or base64 with its encoding
/// when Keploy wrote it as `!!binary`.
fn har_text(body: Option<&Value>) -> (String, Option<&'static str>) {
    match body {
        Some(Value::Object(m)) if m.len() == 1 && m.contains_key(BINARY) => {
            (text(m.get(BINARY)), Some("base64"))
        }
        other => (text(other), None),
    }
}

/// A field by any of the spellings Keploy versions wrote.
fn field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a Value> {
    let m = v.as_object()?;
    names.iter().find_map(|n| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v)
    })
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Keploy's header map as HAR's list (a value may be a list of values).
fn header_list(v: Option<&Value>) -> (Vec<Value>, String) {
    let mut out = Vec::new();
    let mut content_type = String::new();
    for (name, value) in v.and_then(Value::as_object).into_iter().flatten() {
        let values: Vec<String> = match value {
            Value::Array(a) => a.iter().map(|x| text(Some(x))).collect(),
            other => vec![text(Some(other))],
        };
        for value in values {
            if name.eq_ignore_ascii_case("content-type") {
                content_type.clone_from(&value);
            }
            out.push(json!({"name": name, "value": value}));
        }
    }
    (out, content_type)
}

fn millis_between(from: &str, to: &str) -> f64 {
    let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    match (t(from), t(to)) {
        (Some(a), Some(b)) => ((b - a).num_microseconds().unwrap_or(0).max(0)) as f64 / 1000.0,
        _ => 0.0,
    }
}

/// One Keploy HTTP request and answer (`spec` of a test or a mock) as a
/// HAR entry; `started`/`ended` the times Keploy kept for it.
fn entry(spec: &Value, started: &str, ended: &str, connection: usize) -> Value {
    let req = field(spec, &["req"]).unwrap_or(&Value::Null);
    let resp = field(spec, &["resp", "res"]).unwrap_or(&Value::Null);
    let version = |v: &Value| {
        let major = field(v, &["proto_major"])
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let minor = field(v, &["proto_minor"])
            .and_then(Value::as_u64)
            .unwrap_or(1);
        format!(
            "HTTP/{}.{}",
            major.max(1),
            if major == 0 { 1 } else { minor }
        )
    };
    let (req_headers, req_type) = header_list(field(req, &["header", "headers"]));
    let (res_headers, res_type) = header_list(field(resp, &["header", "headers"]));
    let (req_body, req_encoding) = har_text(field(req, &["body"]));
    let (res_body, res_encoding) = har_text(field(resp, &["body"]));
    let time = millis_between(started, ended);
    // Some versions write a mock's URL as its path; the Host header, when
    // kept, says where it went.
    let mut url = text(field(req, &["url"]));
    if url.starts_with('/') {
        let host = req_headers
            .iter()
            .find(|h| {
                h["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case("host"))
            })
            .and_then(|h| h["value"].as_str());
        if let Some(host) = host {
            url = format!("http://{host}{url}");
        }
    }
    let mut request = json!({
        "method": text(field(req, &["method"])),
        "url": url,
        "httpVersion": version(req),
        "headers": req_headers,
    });
    if !req_body.is_empty() {
        request["postData"] = json!({"mimeType": req_type, "text": req_body});
        if let Some(e) = req_encoding {
            request["postData"]["encoding"] = e.into();
        }
    }
    let mut content = json!({"mimeType": res_type, "text": res_body, "size": res_body.len()});
    if let Some(e) = res_encoding {
        content["encoding"] = e.into();
    }
    // A status written as text ("201") is still that status.
    let status = match field(resp, &["status_code", "status"]) {
        Some(Value::String(s)) => s.trim().parse::<u64>().map_or(Value::Null, Value::from),
        Some(v) => v.clone(),
        None => Value::Null,
    };
    json!({
        "startedDateTime": started,
        "time": time,
        "request": request,
        "response": {
            "status": status,
            "httpVersion": version(resp),
            "headers": res_headers,
            "content": content,
        },
        "timings": {"wait": time},
        "connection": connection.to_string(),
    })
}

/// When a test was sent: its request's timestamp, else the `created` time
/// Keploy writes on every test (whole seconds).
fn sent_at(spec: &Value, req: &Value) -> String {
    let stamp = text(field(req, &["timestamp"]));
    if !stamp.is_empty() {
        return stamp;
    }
    field(spec, &["created"])
        .and_then(Value::as_i64)
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// One test set's files, read: each test file's path and text, in name
/// order, and its `mocks.yaml`, if it has one.
#[derive(Debug, Clone, Default)]
pub struct TestSet {
    pub tests: Vec<(PathBuf, String)>,
    pub mocks: Option<(PathBuf, String)>,
}

/// Reads the Keploy test set (or the folder of test sets) at `dir`.
pub fn read(dir: &Path) -> Result<Imported, KeployError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|text| (path.to_owned(), text))
            .map_err(|source| KeployError::Read {
                path: path.to_owned(),
                source,
            })
    };
    let mut sets = Vec::new();
    for set in test_sets(dir)? {
        let mut tests: Vec<PathBuf> = std::fs::read_dir(set.join("tests"))
            .map_err(|source| KeployError::Read {
                path: set.join("tests"),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        tests.sort();
        let mocks = ["mocks.yaml", "mocks.yml"]
            .iter()
            .map(|m| set.join(m))
            .find(|p| p.is_file());
        sets.push(TestSet {
            tests: tests.iter().map(|p| read(p)).collect::<Result<_, _>>()?,
            mocks: mocks.map(|p| read(&p)).transpose()?,
        });
    }
    read_sets(dir, &sets)
}

/// The traffic of test sets already read; paths are named relative to `dir`.
pub fn read_sets(dir: &Path, sets: &[TestSet]) -> Result<Imported, KeployError> {
    let mut entries: Vec<Value> = Vec::new();
    // Where each entry came from, to name it in what is left out.
    let mut origins: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut not_http: BTreeMap<String, usize> = BTreeMap::new();
    let mut app_hosts: BTreeMap<String, usize> = BTreeMap::new();
    let mut postgres = postgres::Connections::default();
    let mut pg_mocks = 0;
    for set in sets {
        let label = |p: &Path| p.strip_prefix(dir).unwrap_or(p).display().to_string();
        for (path, source) in &set.tests {
            for (i, doc) in documents(path, source)?.into_iter().enumerate() {
                let at = if i == 0 {
                    label(path)
                } else {
                    format!("{} document {}", label(path), i + 1)
                };
                let kind = text(field(&doc, &["kind"]));
                if !kind.eq_ignore_ascii_case("http") {
                    skipped.push(format!(
                        "{at}: a {kind} test: only HTTP tests are carried over"
                    ));
                    continue;
                }
                let spec = field(&doc, &["spec"]).unwrap_or(&Value::Null);
                let req = field(spec, &["req"]).unwrap_or(&Value::Null);
                let resp = field(spec, &["resp", "res"]).unwrap_or(&Value::Null);
                let started = sent_at(spec, req);
                let ended = Some(text(field(resp, &["timestamp"])))
                    .filter(|e| !e.is_empty())
                    .unwrap_or_else(|| started.clone());
                // The host as the HAR reader names it, so that it finds it.
                if let Ok(u) = crate::har::parse_url(&text(field(req, &["url"]))) {
                    *app_hosts.entry(u.authority).or_default() += 1;
                }
                let noise: Vec<String> = field(spec, &["assertions"])
                    .and_then(|a| field(a, &["noise"]))
                    .map(|n| match n {
                        Value::Object(m) => m.keys().cloned().collect(),
                        Value::Array(a) => a.iter().map(|x| text(Some(x))).collect(),
                        _ => Vec::new(),
                    })
                    .unwrap_or_default();
                if !noise.is_empty() {
                    notes.push(format!(
                        "{at}: Keploy's noise {} is not carried over: reel finds volatile values by their form, and generate --verify by running the app",
                        noise.join(", ")
                    ));
                }
                origins.push(at);
                entries.push(entry(spec, &started, &ended, entries.len() + 1));
            }
        }
        if let Some((path, mocks)) = &set.mocks {
            for (i, doc) in documents(path, mocks)?.into_iter().enumerate() {
                let name = text(field(&doc, &["name"]));
                let at = format!("{} document {} ({name})", label(path), i + 1);
                let kind = text(field(&doc, &["kind"]));
                if kind.eq_ignore_ascii_case("postgres") {
                    match postgres.mock(&doc) {
                        Ok(()) => pg_mocks += 1,
                        Err(why) => skipped.push(format!("{at}: {why}")),
                    }
                    continue;
                }
                if !kind.eq_ignore_ascii_case("http") {
                    *not_http.entry(kind).or_default() += 1;
                    continue;
                }
                let spec = field(&doc, &["spec"]).unwrap_or(&Value::Null);
                let req = field(spec, &["req"]).unwrap_or(&Value::Null);
                let resp = field(spec, &["resp", "res"]).unwrap_or(&Value::Null);
                let started = field(spec, &["reqTimestampMock"])
                    .map(|v| text(Some(v)))
                    .unwrap_or_else(|| text(field(req, &["timestamp"])));
                let ended = field(spec, &["resTimestampMock"])
                    .map(|v| text(Some(v)))
                    .unwrap_or_else(|| text(field(resp, &["timestamp"])));
                origins.push(at);
                entries.push(entry(spec, &started, &ended, entries.len() + 1));
            }
        }
        postgres.end_set();
    }
    for (kind, n) in &not_http {
        skipped.push(format!(
            "{n} {kind} {}: not carried over; Keploy keeps their messages in a form of its own, not the bytes reel replays (record the app with reel for those)",
            if *n == 1 { "mock" } else { "mocks" }
        ));
    }
    // The app is where the tests went (the host most of them name).
    let app = app_hosts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(a, _)| a.clone());
    let har = json!({"log": {"version": "1.2", "entries": entries}});
    let bytes = serde_json::to_vec(&har).expect("JSON");
    let mut imported =
        crate::har::read(&bytes, app.as_deref()).map_err(|source| KeployError::Traffic {
            dir: dir.to_owned(),
            source,
        })?;
    imported.app_guessed = false;
    // `entry N: why` names the HAR entry made here: name the file instead.
    for s in &mut imported.skipped {
        if let Some((n, why)) = s
            .strip_prefix("entry ")
            .and_then(|r| r.split_once(": "))
            .and_then(|(n, why)| Some((n.parse::<usize>().ok()?, why)))
        {
            if let Some(origin) = origins.get(n) {
                *s = format!("{origin}: {why}");
            }
        }
    }
    let pg = postgres.finish();
    if !pg.is_empty() {
        imported.exchanges.extend(pg);
        crate::har::in_order(&mut imported.exchanges);
        imported.dependencies.push(ImportedDependency {
            name: postgres::DEPENDENCY.to_owned(),
            at: String::new(),
            scheme: "postgres".to_owned(),
        });
        notes.push(format!(
            "{pg_mocks} Postgres {} taken as the calls of dependency '{}'",
            if pg_mocks == 1 { "mock" } else { "mocks" },
            postgres::DEPENDENCY
        ));
    }
    imported.skipped.extend(skipped);
    imported.notes.extend(notes);
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Payload;

    /// Variants Keploy versions write: `res`, `kind: HTTP`, a status as
    /// text, no request timestamp (only `created`), header lists, a body
    /// that is a YAML map, a `!!binary` body, and a tag reel does not know
    /// in a mock it does not carry over.
    #[test]
    fn a_mapping_as_a_key_is_named_not_written_out() {
        // Found by fuzzing: written out, 80 nested keys took over 2 GB
        // (each level doubles the escaping); 20 stay small enough to fail.
        let text = format!("{}x{}: 1", "{".repeat(20), "}".repeat(20));
        let v = json_of(serde_yaml_ng::from_str(&text).unwrap());
        assert_eq!(v, json!({"(a list or mapping as a key)": 1}));
        let v = json_of(serde_yaml_ng::from_str("{1: a, true: b, ~: c}").unwrap());
        assert_eq!(v, json!({"1": "a", "true": "b", "null": "c"}));
    }

    #[test]
    fn keploy_variants_import_as_they_were_meant() {
        let dir = tempfile::tempdir().unwrap();
        let set = dir.path().join("test-set-1");
        std::fs::create_dir_all(set.join("tests")).unwrap();
        std::fs::write(
            set.join("tests/test-1.yaml"),
            r#"version: api.keploy.io/v1beta1
kind: HTTP
name: test-1
spec:
  req:
    method: POST
    url: http://localhost:8080/img?x=1
    header: {Content-Type: application/json, Accept: [a/b, c/d]}
    body: {name: logo}
  res:
    status_code: "201"
    header: {Content-Type: image/png}
    body: !!binary |
      iVBORw0KGgo=
  created: 1796029200
"#,
        )
        .unwrap();
        std::fs::write(
            set.join("mocks.yaml"),
            r#"version: api.keploy.io/v1beta1
kind: MySQL
name: mock-0
spec:
  requests: [!custom {header: 1}]
---
version: api.keploy.io/v1beta1
kind: Http
name: mock-1
spec:
  req: {method: GET, url: "https://api.example.com/v1/logo", header: {}, body: ""}
  resp: {status_code: 200, header: {}, body: ok}
  reqTimestampMock: 2026-11-30T09:00:00.100Z
  resTimestampMock: 2026-11-30T09:00:00.200Z
---
kind: Http
name: mock-2
spec:
  req: {method: GET, url: /v2/rates, header: {Host: rates.example.com}, body: ""}
  resp: {status_code: 200, header: {}, body: ok}
  reqTimestampMock: 2026-11-30T09:00:00.300Z
  resTimestampMock: 2026-11-30T09:00:00.400Z
---
kind: Http
name: mock-3
spec:
  req: {method: GET, url: /-/package/next/dist-tags, header: {Accept: '*/*'}, body: ""}
  resp: {status_code: 200, header: {}, body: ok}
  reqTimestampMock: 2026-11-30T09:00:00.500Z
  resTimestampMock: 2026-11-30T09:00:00.600Z
"#,
        )
        .unwrap();
        let got = read(dir.path()).unwrap();
        assert_eq!(got.app, "http://localhost:8080");
        assert_eq!(got.exchanges.len(), 3, "{:?}", got.skipped);
        // A URL written as a path goes where its Host header says; without
        // one, nothing says where, and the mock is listed.
        assert_eq!(got.dependencies[1].origin(), "http://rates.example.com");
        assert!(
            got.skipped.iter().any(|s| s
                == "test-set-1/mocks.yaml document 4 (mock-3): request.url: '/-/package/next/dist-tags' is not an absolute URL"),
            "{:?}",
            got.skipped
        );
        let test = got
            .exchanges
            .iter()
            .find(|x| x.dependency.is_none())
            .unwrap();
        let Some(Payload::HttpResponse(res)) = &test.response else {
            panic!("{:?}", test.response)
        };
        assert_eq!(res.status, 201);
        assert_eq!(&res.body.bytes[..4], b"\x89PNG");
        let Payload::HttpRequest(req) = &test.request else {
            panic!()
        };
        assert_eq!(req.body.bytes, br#"{"name":"logo"}"#);
        assert_eq!(
            req.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("accept"))
                .count(),
            2
        );
        assert_eq!(test.started_at.0, 1_796_029_200 * 1_000_000);
        assert_eq!(got.dependencies[0].origin(), "https://api.example.com");
        assert!(
            got.skipped
                .iter()
                .any(|s| s.starts_with("1 MySQL mock: not carried over")),
            "{:?}",
            got.skipped
        );
    }
}
