//! HAR 1.2 in: a browser's or a proxy's saved traffic (Chromium and Firefox
//! devtools, Playwright, mitmproxy, Charles) as the exchanges of a session.
//!
//! Entries to the app under test (one host and port) become inbound
//! exchanges; entries to any other host become outbound exchanges of an
//! HTTP dependency named after that host. A HAR says nothing of which call
//! the app made while answering which request: outbound entries are placed
//! by time, as generation places any outbound exchange.
//!
//! HAR keeps a response's content decoded (`content.text`, base64 when
//! `content.encoding` says so) beside the headers it came with: a
//! `Content-Encoding` header is dropped and `Content-Length` made to fit the
//! decoded body, so what is stored reads as one consistent message. HTTP/2
//! pseudo-headers (`:authority`, ...) are left out.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::model::{
    Body, Direction, Exchange, Header, HttpRequest, HttpResponse, Payload, Protocol,
};
use crate::time::Micros;

/// Traffic another tool saved (a HAR file, a Keploy test set), read: the
/// exchanges it holds, and what could not be taken.
#[derive(Debug)]
pub struct Imported {
    /// `http://host:port` of the app under test.
    pub app: String,
    /// Whether the app's host was the most frequent one, not given.
    pub app_guessed: bool,
    /// In the order of their start.
    pub exchanges: Vec<Exchange>,
    /// Each other host as a dependency.
    pub dependencies: Vec<ImportedDependency>,
    /// `entry 3: response.status: ...`, one per entry left out.
    pub skipped: Vec<String>,
    /// What was taken other than as written.
    pub notes: Vec<String>,
}

/// A host the imported traffic called besides the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedDependency {
    pub name: String,
    /// `host:port`, the port always written.
    pub at: String,
    /// `http` or `https`; or the protocol of a dependency whose address
    /// the source did not keep (`postgres` from Keploy's mocks, `at` empty).
    pub scheme: String,
}

impl ImportedDependency {
    /// Where the app called it, `https://api.example.com`: the port left
    /// out when it is the scheme's own.
    pub fn origin(&self) -> String {
        let default = match self.scheme.as_str() {
            "https" => ":443",
            _ => ":80",
        };
        let at = self.at.strip_suffix(default).unwrap_or(&self.at);
        format!("{}://{at}", self.scheme)
    }

    /// Where replay stands its mock: where the app reached it, when that
    /// was this machine; else on a port of reel's choosing, which the app
    /// learns from `REEL_DEP_<NAME>_URL` (a remote host's address is not
    /// reel's to listen on).
    pub fn mock_address(&self) -> String {
        let host = self
            .at
            .rsplit_once(':')
            .map_or(self.at.as_str(), |(h, _)| h)
            .trim_matches(['[', ']']);
        let local = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if local {
            self.at.clone()
        } else {
            "127.0.0.1:0".to_owned()
        }
    }
}

impl Imported {
    /// The setup of the session this traffic becomes, as a recording's:
    /// the app's address, each dependency where it was called and where
    /// replay's mock stands, and where the traffic came from.
    pub fn setup(&self, format: &str, file: &std::path::Path) -> Value {
        let dependencies: Vec<Value> = self
            .dependencies
            .iter()
            .map(|d| {
                let http = d.scheme.starts_with("http");
                serde_json::json!({
                    "name": d.name,
                    "protocol": if http { "http" } else { d.scheme.as_str() },
                    "listen": d.mock_address(),
                    "target": (!d.at.is_empty()).then(|| d.origin()),
                })
            })
            .collect();
        serde_json::json!({
            "listen": null,
            "upstream": self.app,
            "dependencies": dependencies,
            "app": [],
            "imported": {"format": format, "file": file.display().to_string()},
        })
    }
}

/// Puts imported exchanges in the order they started and numbers them
/// from 1, as a recording numbers them by arrival.
pub(crate) fn in_order(exchanges: &mut [Exchange]) {
    exchanges.sort_by_key(|x| x.started_at);
    for (n, x) in exchanges.iter_mut().enumerate() {
        x.seq = n as i64 + 1;
    }
}

/// Why a HAR file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum HarError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no log.entries array: not a HAR file")]
    NoEntries,
    #[error("--app-host {0}: no entry goes to that host")]
    NoSuchHost(String),
    #[error("no entry could be taken:\n  {}", .0.join("\n  "))]
    Nothing(Vec<String>),
}

/// One entry's URL, split.
pub(crate) struct Url {
    pub(crate) scheme: String,
    /// `host:port`, the port always written.
    pub(crate) authority: String,
    /// Path and query.
    target: String,
}

pub(crate) fn parse_url(url: &str) -> Result<Url, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("'{url}' is not an absolute URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    let port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        other => return Err(format!("scheme '{other}' is not HTTP")),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (host, path) = rest.split_at(end);
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host.is_empty() {
        return Err(format!("'{url}' names no host"));
    }
    let authority = match host.rsplit_once(':') {
        Some((name, p)) if !host.ends_with(']') => match p.parse::<u16>() {
            Ok(n) if n > 0 && !name.is_empty() => host.to_ascii_lowercase(),
            _ => return Err(format!("'{url}' has no valid port")),
        },
        _ => format!("{}:{port}", host.to_ascii_lowercase()),
    };
    let path = path.split('#').next().unwrap_or("");
    let target = match path {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    Ok(Url {
        scheme,
        authority,
        target,
    })
}

/// A dependency's name from its host: letters, digits and `-`, as
/// `--dep NAME=...` takes them (`api.example.com:443` → `api-example-com`);
/// an address or `localhost` keeps its port (`127-0-0-1-18081`).
fn dependency_name(authority: &str) -> String {
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
    let bare = host.trim_matches(['[', ']']);
    let host = if bare == "localhost" || bare.parse::<std::net::IpAddr>().is_ok() {
        format!("{bare}-{port}")
    } else {
        host.to_owned()
    };
    let mut name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        name = "dependency".into();
    }
    name
}

/// Reads a HAR file's entries; `app_host` (`host` or `host:port`) picks the
/// app under test, else the host most entries go to.
pub fn read(bytes: &[u8], app_host: Option<&str>) -> Result<Imported, HarError> {
    // HAR is JSON, so UTF-8; a tool that wrote other bytes into a text
    // field does not cost the other entries.
    let mut notes = Vec::new();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(e) => {
            notes.push(format!(
                "bytes that are not UTF-8 (the first at byte {}) were read as U+FFFD",
                e.valid_up_to()
            ));
            String::from_utf8_lossy(bytes)
        }
    };
    let v: Value = serde_json::from_str(&text)?;
    let entries = v["log"]["entries"].as_array().ok_or(HarError::NoEntries)?;
    // `(entry, why)`, listed in entry order at the end.
    let mut skipped: Vec<(usize, String)> = Vec::new();
    let mut urls: Vec<Option<Url>> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        match e["request"]["url"].as_str() {
            None => {
                skipped.push((i, "request.url: missing".to_owned()));
                urls.push(None);
            }
            Some(u) => match parse_url(u) {
                Ok(u) => urls.push(Some(u)),
                Err(why) => {
                    skipped.push((i, format!("request.url: {why}")));
                    urls.push(None);
                }
            },
        }
    }
    let (app, app_guessed) = match app_host {
        Some(h) => {
            let wanted = h.to_ascii_lowercase();
            let found = urls.iter().flatten().find(|u| {
                u.authority == wanted
                    || u.authority
                        .rsplit_once(':')
                        .is_some_and(|(host, _)| host == wanted)
            });
            match found {
                Some(u) => (u.authority.clone(), false),
                None => return Err(HarError::NoSuchHost(h.to_owned())),
            }
        }
        None => {
            let mut count: BTreeMap<&str, usize> = BTreeMap::new();
            for u in urls.iter().flatten() {
                *count.entry(&u.authority).or_default() += 1;
            }
            // The most frequent; of equals, the first seen.
            let first_seen = |a: &str| urls.iter().flatten().position(|u| u.authority == a);
            let best = count
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(first_seen(b.0).cmp(&first_seen(a.0))))
                .map(|(a, _)| (*a).to_owned());
            match best {
                Some(a) => (a, true),
                None => return Err(HarError::Nothing(listed(skipped))),
            }
        }
    };
    let app_scheme = urls
        .iter()
        .flatten()
        .find(|u| u.authority == app)
        .map_or("http".to_owned(), |u| u.scheme.clone());
    let mut dependencies: Vec<ImportedDependency> = Vec::new();
    let mut exchanges = Vec::new();
    for (i, (e, url)) in entries.iter().zip(&urls).enumerate() {
        let Some(url) = url else { continue };
        let dependency = if url.authority == app {
            None
        } else {
            let taken = dependencies
                .iter()
                .find(|d| d.at == url.authority && d.scheme == url.scheme);
            Some(match taken {
                Some(d) => d.name.clone(),
                None => {
                    let base = dependency_name(&url.authority);
                    let mut name = base.clone();
                    let mut n = 1;
                    while dependencies.iter().any(|d| d.name == name) {
                        n += 1;
                        name = format!("{base}-{n}");
                    }
                    dependencies.push(ImportedDependency {
                        name: name.clone(),
                        at: url.authority.clone(),
                        scheme: url.scheme.clone(),
                    });
                    name
                }
            })
        };
        match exchange(e, url, dependency) {
            Ok(x) => exchanges.push(x),
            Err(why) => skipped.push((i, why)),
        }
    }
    if exchanges.is_empty() {
        return Err(HarError::Nothing(listed(skipped)));
    }
    in_order(&mut exchanges);
    // Only dependencies that kept an entry.
    dependencies.retain(|d| {
        exchanges
            .iter()
            .any(|x| x.dependency.as_deref() == Some(d.name.as_str()))
    });
    Ok(Imported {
        app: format!("{app_scheme}://{app}"),
        app_guessed,
        exchanges,
        dependencies,
        skipped: listed(skipped),
        notes,
    })
}

/// `entry 3: why`, in entry order.
fn listed(mut skipped: Vec<(usize, String)>) -> Vec<String> {
    skipped.sort_by_key(|(i, _)| *i);
    skipped
        .into_iter()
        .map(|(i, why)| format!("entry {i}: {why}"))
        .collect()
}

/// A HAR timing in milliseconds as microseconds; -1 (not applicable) and
/// missing as 0.
fn ms(v: &Value) -> i64 {
    // At most a day: a bigger timing is a broken one.
    v.as_f64()
        .filter(|t| *t > 0.0)
        .map_or(0, |t| (t.min(86_400_000.0) * 1000.0) as i64)
}

fn headers(v: &Value, field: &str) -> Result<Vec<Header>, String> {
    let Some(list) = v.as_array() else {
        return Err(format!("{field}: missing"));
    };
    let mut out = Vec::new();
    for (n, h) in list.iter().enumerate() {
        let (Some(name), Some(value)) = (h["name"].as_str(), h["value"].as_str()) else {
            return Err(format!("{field}[{n}]: a header needs a name and a value"));
        };
        if name.starts_with(':') {
            continue;
        }
        out.push(Header::new(name, value.as_bytes().to_vec()));
    }
    Ok(out)
}

/// `text`, base64-decoded when `encoding` says so.
fn text_bytes(holder: &Value, field: &str) -> Result<Vec<u8>, String> {
    let Some(text) = holder["text"].as_str() else {
        return Ok(Vec::new());
    };
    match holder["encoding"].as_str() {
        Some(enc) if enc.eq_ignore_ascii_case("base64") => {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| format!("{field}.text: not base64: {e}"))
        }
        Some(other) if !other.is_empty() => Err(format!(
            "{field}.encoding: '{other}' is not one HAR names (base64)"
        )),
        _ => Ok(text.as_bytes().to_vec()),
    }
}

fn version(v: &Value) -> String {
    match v.as_str().map(str::to_ascii_uppercase).as_deref() {
        Some("HTTP/1.0") => "HTTP/1.0".into(),
        // h2 and h3 answers are replayed over HTTP/1.1, as reel sends.
        _ => "HTTP/1.1".into(),
    }
}

fn exchange(e: &Value, url: &Url, dependency: Option<String>) -> Result<Exchange, String> {
    let req = &e["request"];
    let method = req["method"]
        .as_str()
        .filter(|m| !m.is_empty())
        .ok_or("request.method: missing")?
        .to_ascii_uppercase();
    let started = e["startedDateTime"]
        .as_str()
        .ok_or("startedDateTime: missing")?;
    let started = chrono::DateTime::parse_from_rfc3339(started)
        .map_err(|err| format!("startedDateTime: '{started}' is not an ISO 8601 time: {err}"))?;
    let started_at = Micros(started.timestamp_micros());
    let res = &e["response"];
    let status = res["status"].as_u64().ok_or("response.status: missing")?;
    if !(100..=999).contains(&status) {
        return Err(format!(
            "response.status: {status} (the client got no answer: blocked, failed or cancelled)"
        ));
    }
    let request_body = text_bytes(&req["postData"], "request.postData")?;
    let mut req_headers = headers(&req["headers"], "request.headers")?;
    if !req_headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("host"))
    {
        req_headers.insert(0, Header::new("host", url.authority.as_bytes().to_vec()));
    }
    let content = &res["content"];
    if content["text"].is_null() && content["size"].as_i64().is_some_and(|n| n > 0) {
        return Err(format!(
            "response.content.text: missing for a body of {} bytes (saved without content?)",
            content["size"]
        ));
    }
    let body = text_bytes(content, "response.content")?;
    let mut res_headers = headers(&res["headers"], "response.headers")?;
    res_headers.retain(|h| {
        !h.name.eq_ignore_ascii_case("content-encoding")
            && !h.name.eq_ignore_ascii_case("transfer-encoding")
    });
    match res_headers
        .iter_mut()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        // An empty body (a HEAD, a 304) keeps the length it was sent with.
        Some(h) if !body.is_empty() => h.value = body.len().to_string().into_bytes(),
        Some(_) => {}
        None if !body.is_empty() => res_headers.push(Header::new(
            "content-length",
            body.len().to_string().into_bytes(),
        )),
        None => {}
    }
    let t = &e["timings"];
    let before_answer =
        ms(&t["blocked"]) + ms(&t["dns"]) + ms(&t["connect"]) + ms(&t["send"]) + ms(&t["wait"]);
    let total = ms(&e["time"]).max(before_answer);
    Ok(Exchange {
        session_id: 0,
        seq: 0,
        direction: if dependency.is_some() {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        protocol: Protocol::Http,
        dependency,
        connection: e["connection"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        started_at,
        first_byte_at: Some(Micros(started_at.0.saturating_add(before_answer))),
        ended_at: Some(Micros(started_at.0.saturating_add(total))),
        request: Payload::HttpRequest(HttpRequest {
            method,
            target: url.target.clone(),
            version: version(&req["httpVersion"]),
            headers: req_headers,
            body: Body::complete(request_body),
        }),
        response: Some(Payload::HttpResponse(HttpResponse {
            status: status as u16,
            version: version(&res["httpVersion"]),
            headers: res_headers,
            body: Body::complete(body),
        })),
        error: None,
    })
}

#[cfg(test)]
mod tests;

/// A session's HTTP exchanges as a HAR 1.2 document, in recorded order;
/// with `secrets`, each request and answer has its credentials replaced by
/// the placeholders a suite would hold (`${secret:AUTHORIZATION}`). The
/// number of exchanges of other protocols, which HAR cannot hold, is
/// returned beside it.
pub fn write(
    session: &crate::model::Session,
    exchanges: &[Exchange],
    mut secrets: Option<&mut crate::secrets::Secrets>,
) -> (Value, usize) {
    let origin_of = |dep: &str| -> String {
        let found = session.setup["dependencies"].as_array().and_then(|deps| {
            deps.iter()
                .find(|d| d["name"] == dep)
                .and_then(|d| d["target"].as_str())
        });
        match found {
            Some(t) if t.contains("://") => t.trim_end_matches('/').to_owned(),
            Some(t) => format!("http://{t}"),
            None => format!("http://{dep}"),
        }
    };
    let mut entries = Vec::new();
    let mut other = 0;
    for e in exchanges {
        if e.protocol != Protocol::Http || e.request.as_http_request().is_none() {
            other += 1;
            continue;
        }
        let origin = without_userinfo(&match &e.dependency {
            Some(d) => origin_of(d),
            None => session.target.trim_end_matches('/').to_owned(),
        });
        entries.push(entry(e, &origin, secrets.as_deref_mut()));
    }
    let mut har = serde_json::json!({"log": {
        "version": "1.2",
        "creator": {"name": "reel", "version": env!("CARGO_PKG_VERSION")},
        "pages": [],
        "entries": entries,
    }});
    // A secret found late in the session (a token an answer handed out,
    // sent as a bearer later) also stood in earlier entries: every text is
    // gone over again with all of them known.
    if let Some(s) = secrets {
        scrub_strings(&mut har, s);
    }
    (har, other)
}

pub(crate) fn scrub_strings(v: &mut Value, secrets: &crate::secrets::Secrets) {
    match v {
        Value::String(t) => {
            let clean = secrets.scrub_file(t);
            if clean != *t {
                *t = clean;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_strings(x, secrets)),
        Value::Object(o) => o.values_mut().for_each(|x| scrub_strings(x, secrets)),
        _ => {}
    }
}

/// `scheme://host:port` with any `user:password@` taken out.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Headers as HAR writes them.
fn header_list(headers: &[(String, String)]) -> Vec<Value> {
    headers
        .iter()
        .map(|(n, v)| serde_json::json!({"name": n, "value": v}))
        .collect()
}

/// A body as HAR text: as it is when UTF-8, else base64 with its encoding.
fn content(bytes: &[u8], mime: &str) -> serde_json::Map<String, Value> {
    let mut c = serde_json::Map::new();
    c.insert("mimeType".into(), mime.into());
    match std::str::from_utf8(bytes) {
        Ok(t) => {
            c.insert("text".into(), t.into());
        }
        Err(_) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            c.insert("text".into(), b64.into());
            c.insert("encoding".into(), "base64".into());
        }
    }
    c
}

fn millis(from: Micros, to: Option<Micros>) -> f64 {
    to.map_or(0.0, |t| t.0.saturating_sub(from.0).max(0) as f64 / 1000.0)
}

fn entry(e: &Exchange, origin: &str, secrets: Option<&mut crate::secrets::Secrets>) -> Value {
    let mut req = crate::generate::request_spec(&e.request);
    let mut res = crate::generate::response_spec(e);
    if let Some(s) = secrets {
        s.scrub_request(&mut req);
        s.scrub_response(&mut res, false);
    }
    let version = e
        .request
        .as_http_request()
        .map_or("HTTP/1.1", |r| r.version.as_str());
    let url = if req.target.contains("://") {
        req.target.clone()
    } else {
        format!("{origin}{}", req.target)
    };
    let query: Vec<Value> = req
        .target
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .into_iter()
        .flat_map(crate::matcher::query_pairs)
        .map(|(n, v)| serde_json::json!({"name": n, "value": v}))
        .collect();
    let mime = |headers: &[(String, String)]| {
        crate::suite::spec_header(headers, "content-type")
            .unwrap_or("")
            .to_owned()
    };
    let req_body = req.body.as_ref().map(|b| b.to_bytes()).unwrap_or_default();
    let mut request = serde_json::json!({
        "method": req.method,
        "url": url,
        "httpVersion": version,
        "cookies": [],
        "headers": header_list(&req.headers),
        "queryString": query,
        "headersSize": -1,
        "bodySize": req_body.len(),
    });
    if !req_body.is_empty() {
        request["postData"] = Value::Object(content(&req_body, &mime(&req.headers)));
    }
    let res_body = res.body.as_ref().map(|b| b.to_bytes()).unwrap_or_default();
    let mut body = content(&res_body, &mime(&res.headers));
    body.insert("size".into(), res_body.len().into());
    let location = crate::suite::spec_header(&res.headers, "location").unwrap_or("");
    let wait = millis(e.started_at, e.first_byte_at);
    let total = millis(e.started_at, e.ended_at);
    serde_json::json!({
        "startedDateTime": e.started_at.rfc3339(),
        "time": total,
        "request": request,
        "response": {
            "status": res.status,
            "statusText": "",
            "httpVersion": version,
            "cookies": [],
            "headers": header_list(&res.headers),
            "content": body,
            "redirectURL": location,
            "headersSize": -1,
            "bodySize": res_body.len(),
        },
        "cache": {},
        "timings": {"send": 0, "wait": wait, "receive": (total - wait).max(0.0)},
        "connection": e.connection.to_string(),
    })
}
