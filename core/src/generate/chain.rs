//! Values that flow between calls: an id the app handed out (POST /books
//! returns 42, then GET /books/42) or a token from a login used as a bearer
//! later. The generator replaces such literals in later requests, in mocks and
//! in expected responses with references like `${0003.response.body.id}`,
//! which the replayer fills with what the app returned this run; the value's
//! origin becomes a typed matcher. So a suite passes against a fresh app that
//! hands out id 43 instead of 42, and still fails when the flow breaks.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::matcher::MARKER;
use crate::suite::{BodySpec, CaseFile, MockSpec, RequestSpec, ResponseSpec};

/// A response value later calls may refer to.
#[derive(Debug, Clone)]
struct Learned {
    text: String,
    /// Four-digit case number.
    case: String,
    /// `body.items[0].id`
    path: String,
    /// Long and opaque enough to be found inside other text (tokens).
    strong: bool,
}

impl Learned {
    fn reference(&self) -> String {
        format!("${{{}.response.{}}}", self.case, self.path)
    }
}

/// Where a reference was put: `(case, place, reference)`.
pub type Chained = (String, String, String);

#[derive(Debug, Default)]
pub struct Chains {
    learned: Vec<Learned>,
    /// `(case, path)` of values some later call referred to.
    used: BTreeSet<(String, String)>,
    /// Values the current case's request referred to.
    in_request: Vec<Learned>,
    pub report: Vec<Chained>,
}

/// Keys whose values identify something the server made.
fn id_like(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "id" || k == "uuid" || k.ends_with("_id") || key.ends_with("Id") || k.contains("token")
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn strong(text: &str) -> bool {
    text.len() >= 8 && !text.contains(char::is_whitespace)
}

impl Chains {
    fn find(&self, text: &str) -> Option<&Learned> {
        self.learned.iter().find(|l| l.text == text)
    }

    /// A new case starts: forget what the previous request referred to.
    pub fn begin_case(&mut self) {
        self.in_request.clear();
    }

    fn use_ref(&mut self, l: &Learned, case: &str, place: String) -> String {
        if place.starts_with("request") && !self.in_request.iter().any(|x| x.text == l.text) {
            self.in_request.push(l.clone());
        }
        self.used.insert((l.case.clone(), l.path.clone()));
        let r = l.reference();
        self.report.push((case.to_owned(), place, r.clone()));
        r
    }

    /// Learns the id-like values of case `case`'s response body.
    pub fn learn(&mut self, case: &str, body: &Value) {
        fn walk(c: &mut Chains, case: &str, v: &Value, path: String, key: Option<&str>) {
            match v {
                Value::Object(m) => {
                    for (k, child) in m {
                        walk(c, case, child, format!("{path}.{k}"), Some(k));
                    }
                }
                Value::Array(a) => {
                    for (i, child) in a.iter().enumerate() {
                        walk(c, case, child, format!("{path}[{i}]"), key);
                    }
                }
                leaf => {
                    if let (Some(k), Some(text)) = (key, scalar_text(leaf)) {
                        // The first response that produced a value is its origin.
                        if id_like(k) && c.find(&text).is_none() {
                            c.learned.push(Learned {
                                strong: strong(&text),
                                text,
                                case: case.to_owned(),
                                path: path.clone(),
                            });
                        }
                    }
                }
            }
        }
        walk(self, case, body, "body".into(), None);
    }

    /// Replaces learned values in a request (a case's, or a mock's: what the
    /// app forwarded to a dependency). `case` names where, for the report.
    pub fn rewrite_request(&mut self, case: &str, req: &mut RequestSpec) {
        let (path, query) = match req.target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (req.target.clone(), None),
        };
        let mut segments = Vec::new();
        for seg in path.split('/') {
            match self.find(seg).cloned() {
                Some(l) => segments.push(self.use_ref(&l, case, format!("request path '{seg}'"))),
                None => segments.push(seg.to_owned()),
            }
        }
        let mut target = segments.join("/");
        if let Some(q) = query {
            let mut pairs = Vec::new();
            for pair in q.split('&') {
                let rewritten = match pair.split_once('=') {
                    Some((k, v)) => match self.find(v).cloned() {
                        Some(l) if id_like(k) || l.strong => {
                            let r = self.use_ref(&l, case, format!("query {k}"));
                            format!("{k}={r}")
                        }
                        _ => pair.to_owned(),
                    },
                    None => pair.to_owned(),
                };
                pairs.push(rewritten);
            }
            target = format!("{target}?{}", pairs.join("&"));
        }
        req.target = target;
        for (name, value) in &mut req.headers {
            let n = name.to_ascii_lowercase();
            if n == "host" || n == "content-length" {
                continue;
            }
            let strongs: Vec<Learned> = self.learned.iter().filter(|l| l.strong).cloned().collect();
            for l in strongs {
                if value.contains(&l.text) {
                    let r = self.use_ref(&l, case, format!("header {n}"));
                    *value = value.replace(&l.text, &r);
                }
            }
        }
        if let Some(BodySpec::Json(v)) = &mut req.body {
            self.rewrite_json(case, v, "request body", None, None);
        }
    }

    /// Replaces learned values in JSON leaves: id-like keys match any learned
    /// value, other keys only strong ones. `skip_case` leaves out values this
    /// same case produced (an expected body refers only to earlier answers).
    fn rewrite_json(
        &mut self,
        case: &str,
        v: &mut Value,
        place: &str,
        key: Option<&str>,
        skip_case: Option<&str>,
    ) {
        match v {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    self.rewrite_json(case, child, place, Some(k), skip_case);
                }
            }
            Value::Array(a) => {
                for child in a.iter_mut() {
                    self.rewrite_json(case, child, place, key, skip_case);
                }
            }
            leaf => {
                let Some(text) = scalar_text(leaf) else {
                    return;
                };
                let Some(l) = self.find(&text).cloned() else {
                    return;
                };
                if skip_case == Some(l.case.as_str()) {
                    return;
                }
                if key.is_some_and(id_like) || l.strong {
                    let r = self.use_ref(&l, case, format!("{place} {}", key.unwrap_or("value")));
                    *leaf = Value::String(r);
                }
            }
        }
    }

    /// Replaces learned values in an expected response: a Location naming the
    /// id just created, ids that earlier cases produced.
    /// `number` is the case's four-digit number, `case` its name for the report.
    pub fn rewrite_expected(&mut self, number: &str, case: &str, resp: &mut ResponseSpec) {
        for (name, value) in &mut resp.headers {
            let n = name.to_ascii_lowercase();
            if n != "location" && n != "content-location" {
                continue;
            }
            let segs: Vec<String> = value.split('/').map(str::to_owned).collect();
            let mut out = Vec::new();
            for seg in segs {
                match self.find(&seg).cloned() {
                    Some(l) => out.push(self.use_ref(&l, case, format!("header {n}"))),
                    None => out.push(seg),
                }
            }
            *value = out.join("/");
        }
        if let Some(BodySpec::Json(v)) = &mut resp.body {
            self.rewrite_json(case, v, "response body", None, Some(number));
            // Text about the thing the request named ("book 42 not found")
            // names it by the same reference.
            let named = self.in_request.clone();
            if !named.is_empty() {
                rewrite_words(v, &named);
            }
        }
    }

    /// Each value some later call referred to becomes a typed matcher at its
    /// origin: the id must be there and of its type, and the calls that use
    /// it check the rest.
    pub fn mark_origins(&self, cases: &mut [(String, CaseFile, Vec<MockSpec>)]) {
        for (case, path) in &self.used {
            let Some((_, c, _)) = cases
                .iter_mut()
                .find(|(stem, _, _)| crate::suite::case_number(stem) == case.as_str())
            else {
                continue;
            };
            let Some(BodySpec::Json(body)) = c.response.body.as_mut() else {
                continue;
            };
            if let Some(leaf) =
                crate::template::at_path_mut(body, path.strip_prefix("body").unwrap_or(path))
            {
                let kind = if leaf.is_number() { "number" } else { "string" };
                if crate::matcher::as_matcher(leaf).is_none() {
                    *leaf = json!({ MARKER: kind });
                }
            }
        }
    }
}

fn rewrite_words(v: &mut Value, named: &[Learned]) {
    match v {
        Value::String(s) => {
            for l in named {
                *s = replace_word(s, &l.text, &l.reference());
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| rewrite_words(x, named)),
        Value::Object(m) => m.values_mut().for_each(|x| rewrite_words(x, named)),
        _ => {}
    }
}

/// Replaces `word` where it stands alone (not inside a longer word or number).
pub(crate) fn replace_word(s: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut copied = 0;
    for (i, _) in s.match_indices(word) {
        if i < copied {
            continue;
        }
        // Look at the neighbours in the whole string, not in what is left.
        let before = s[..i].chars().next_back();
        let after = s[i + word.len()..].chars().next();
        let alone = !before.is_some_and(|c| c.is_alphanumeric() || c == '{' || c == '.')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '}');
        if alone {
            out.push_str(&s[copied..i]);
            out.push_str(with);
            copied = i + word.len();
        }
    }
    out.push_str(&s[copied..]);
    out
}
