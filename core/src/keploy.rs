//! `reel import keploy DIR`: a Keploy test set (`keploy/test-set-N/`) as
//! recorded traffic. Each HTTP test case (`tests/*.yaml`) is a request to
//! the app; each HTTP mock (`mocks.yaml`) a call the app made to a
//! dependency, named after its host. Both carry their times, so `reel
//! generate` places every call in the test whose time window holds it, as
//! for a recording.
//!
//! The documents become HAR entries and are read by [`crate::har::read`]:
//! one way to turn another tool's HTTP traffic into exchanges. Mocks of
//! other protocols (Postgres, MySQL, Redis, Mongo, gRPC, generic) are
//! listed as not carried over: Keploy keeps their messages in a form of its
//! own, not as the bytes reel replays from. Keploy's noise rules are
//! listed too: reel finds volatile values on its own evidence.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::har::{HarError, Imported};

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

/// Every YAML document of a file.
fn documents(path: &Path) -> Result<Vec<Value>, KeployError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeployError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let v = Value::deserialize(doc).map_err(|e| KeployError::Yaml {
            path: path.to_owned(),
            doc: i + 1,
            error: e.to_string(),
        })?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
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
    let req_body = text(field(req, &["body"]));
    let res_body = text(field(resp, &["body"]));
    let time = millis_between(started, ended);
    let mut request = json!({
        "method": text(field(req, &["method"])),
        "url": text(field(req, &["url"])),
        "httpVersion": version(req),
        "headers": req_headers,
    });
    if !req_body.is_empty() {
        request["postData"] = json!({"mimeType": req_type, "text": req_body});
    }
    json!({
        "startedDateTime": started,
        "time": time,
        "request": request,
        "response": {
            "status": field(resp, &["status_code", "status"]).cloned().unwrap_or(Value::Null),
            "httpVersion": version(resp),
            "headers": res_headers,
            "content": {"mimeType": res_type, "text": res_body, "size": res_body.len()},
        },
        "timings": {"wait": time},
        "connection": connection.to_string(),
    })
}

/// The host of an absolute URL, with its port.
fn authority(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest[..end].to_ascii_lowercase())
}

/// Reads the Keploy test set (or the folder of test sets) at `dir`.
pub fn read(dir: &Path) -> Result<Imported, KeployError> {
    let mut entries: Vec<Value> = Vec::new();
    // Where each entry came from, to name it in what is left out.
    let mut origins: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut not_http: BTreeMap<String, usize> = BTreeMap::new();
    let mut app_hosts: BTreeMap<String, usize> = BTreeMap::new();
    for set in test_sets(dir)? {
        let label = |p: &Path| p.strip_prefix(dir).unwrap_or(p).display().to_string();
        let mut tests: Vec<PathBuf> = std::fs::read_dir(set.join("tests"))
            .map_err(|source| KeployError::Read {
                path: set.join("tests"),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        tests.sort();
        for path in &tests {
            for (i, doc) in documents(path)?.into_iter().enumerate() {
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
                let started = text(field(req, &["timestamp"]));
                let ended = text(field(resp, &["timestamp"]));
                if let Some(a) = authority(&text(field(req, &["url"]))) {
                    *app_hosts.entry(a).or_default() += 1;
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
        let mocks = ["mocks.yaml", "mocks.yml"]
            .iter()
            .map(|m| set.join(m))
            .find(|p| p.is_file());
        if let Some(path) = mocks {
            for (i, doc) in documents(&path)?.into_iter().enumerate() {
                let name = text(field(&doc, &["name"]));
                let at = format!("{} document {} ({name})", label(&path), i + 1);
                let kind = text(field(&doc, &["kind"]));
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
    imported.skipped.extend(skipped);
    imported.notes.extend(notes);
    Ok(imported)
}
