//! Values that flow between calls: an id the app handed out (POST /books
//! returns 42, then GET /books/42) or a token from a login used as a bearer
//! later. The generator replaces such literals in later requests, in mocks and
//! in expected responses with references like `${0003.response.body.id}`,
//! which the replayer fills with what the app returned this run; the value's
//! origin becomes a typed matcher. So a suite passes against a fresh app that
//! hands out id 43 instead of 42, and still fails when the flow breaks.
//!
//! Equal text alone is evidence only for a long, opaque value (a token, a
//! UUID: letters and digits mixed); a name is not, however long. A short or
//! plain one (a small integer, a name) links only when the
//! context agrees: the resource its origin named (`article` for
//! `article.id`, or `book` for the `id` a `POST /books` answered) is the one
//! the later place names (the path segment before it, `/articles/1`; a key
//! such as `article_id`). A value the client itself sent (in this request,
//! or in an earlier one at a place naming the same resource) is no origin, and a
//! new resource's own id is a new origin, never a reference to an older
//! value that happens to be equal. When two earlier values could be the
//! origin, none is picked, and that is reported.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use crate::matcher::MARKER;
use crate::suite::{BodySpec, CaseFile, MockSpec, RequestSpec, ResponseSpec};

/// A response value later calls may refer to.
#[derive(Debug, Clone, Default)]
struct Learned {
    text: String,
    /// Four-digit case number.
    case: String,
    /// `body.items[0].id`
    path: String,
    /// Long and opaque enough to be found inside other text (tokens).
    strong: bool,
    /// The kind of thing the value identifies, singular and lower case
    /// (`article`), when its place says.
    resource: Option<String>,
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
    /// Indexes into `learned` by value, in learned order: a session's
    /// length must not make each lookup longer.
    by_text: HashMap<String, Vec<usize>>,
    /// Indexes of strong values by their last 8 bytes (every strong value
    /// has 8), to find those inside a longer text in one pass over it. The
    /// last, since tokens of one kind share their start (`eyJhbGci` for
    /// every JWT) but seldom their end.
    strong_by_suffix: HashMap<[u8; 8], Vec<usize>>,
    /// `(case, path)` of values some later call referred to.
    used: BTreeSet<(String, String)>,
    /// Values the current case's request referred to.
    in_request: Vec<Learned>,
    /// Values the current case's request or HTTP mocks referred to,
    /// anywhere (headers and query too): what may flow on into its Redis
    /// lines.
    flowed: Vec<Learned>,
    /// Values clients sent of their own (not references), with the
    /// resource the place named: a name or id the client chose is no
    /// server's origin when an answer lists it later.
    client: BTreeSet<(String, Option<String>)>,
    pub report: Vec<Chained>,
    /// Places whose value several earlier answers could have produced, so
    /// no reference was made: `(case, place, the candidates)`.
    pub ambiguous: Vec<(String, String, Vec<String>)>,
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

/// Long and opaque enough that equal text is the same value: 8 or more
/// visible ASCII characters mixing letters and digits (a UUID, a hash, a
/// token, `basicauth:3f2a…`). A name is not, however long: an OpenAPI
/// `operationId` such as `__heartbeat__` or `contribute` is also a path
/// segment and a word in a URL, and a name the client chose (`tasks`)
/// comes back in listings; such values link only where the context agrees.
/// A secret's placeholder (`${secret:TOKEN}`, what `record --redact` stores
/// for a token) stands for an opaque value and is one.
fn strong(text: &str) -> bool {
    let opaque = text.len() >= 8
        && text.bytes().all(|b| b.is_ascii_graphic())
        && text.bytes().any(|b| b.is_ascii_alphabetic())
        && text.bytes().any(|b| b.is_ascii_digit());
    opaque || secret_placeholder(text)
}

/// Whether `text` is one `${secret:...}` placeholder and nothing else.
fn secret_placeholder(text: &str) -> bool {
    text.strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .and_then(crate::template::parse)
        .is_some_and(|p| {
            matches!(
                p,
                crate::template::Placeholder::Secret(_)
                    | crate::template::Placeholder::TypedSecret(..)
            )
        })
}

/// `articles` → `article`, `categories` → `category`, `Book` → `book`.
fn singular(word: &str) -> String {
    let w = word.to_ascii_lowercase();
    if let Some(stem) = w.strip_suffix("ies") {
        format!("{stem}y")
    } else if w.ends_with('s') && !w.ends_with("ss") && w.len() > 1 {
        w[..w.len() - 1].to_owned()
    } else {
        w
    }
}

/// The resource a key names: `article_id`, `articleId` → `article`; `id`,
/// `uuid` and other keys name none by themselves.
fn key_resource(key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let stem = lower
        .strip_suffix("_id")
        .or_else(|| lower.strip_suffix("-id"))
        .or_else(|| lower.strip_suffix("_uuid"))
        .or_else(|| key.strip_suffix("Id").map(|_| &lower[..lower.len() - 2]))?;
    (!stem.is_empty()).then(|| singular(stem))
}

/// The resource a JSON path names for its leaf: the leaf key's own
/// (`author_id`), else the nearest enclosing key (`body.comments[0].id` →
/// `comment`); `None` at the top level.
fn path_resource(path: &str) -> Option<String> {
    let keys = path_keys(path);
    let keys: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .filter(|k| !k.is_empty() && *k != "body")
        .collect();
    let (leaf, parents) = keys.split_last()?;
    key_resource(leaf).or_else(|| {
        parents
            .last()
            .filter(|p| !CONTAINERS.contains(&p.to_ascii_lowercase().as_str()))
            .map(|p| singular(p))
    })
}

/// The object keys along a path (`body.items[0].id` → body, items, id).
fn path_keys(path: &str) -> Vec<String> {
    let rest = path.strip_prefix("body").unwrap_or(path);
    let mut keys: Vec<String> = path
        .starts_with("body")
        .then(|| "body".to_owned())
        .into_iter()
        .collect();
    keys.extend(
        crate::json_path::parse(rest)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| match s {
                crate::json_path::Step::Key(k) => Some(k),
                _ => None,
            }),
    );
    keys
}

/// Keys that wrap a list or a payload without naming what is in it.
const CONTAINERS: &[&str] = &[
    "items", "data", "results", "result", "records", "rows", "list", "content", "entries",
    "objects", "hits", "nodes", "edges", "payload", "response", "values", "page",
];

/// The resource a request target names last: `/api/books/42?x=1` → `book`.
fn target_resource(target: &str) -> Option<String> {
    let path = crate::suite::origin_form(target)
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    path.split('/')
        .rev()
        .find(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphabetic() || c == '-' || c == '_')
        })
        .map(singular)
}

/// Scalar values a request carries itself: its path segments, query values
/// and JSON body leaves.
fn request_values(req: &RequestSpec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    out.extend(path.split('/').map(str::to_owned));
    out.extend(
        query
            .split('&')
            .filter_map(|p| p.split_once('=').map(|(_, v)| v.to_owned())),
    );
    if let Some(BodySpec::Json(v)) = &req.body {
        let mut leaves = std::collections::BTreeMap::new();
        super::repeats::leaves(v, "$".into(), &mut leaves);
        out.extend(leaves.values().filter_map(scalar_text));
    }
    out
}

impl Chains {
    /// The origin of `text` at a place whose context names `resources`: a
    /// strong value's latest origin; a weak value's only origin that names
    /// a resource one of `resources` names. Several that could be: none, and
    /// it is reported.
    fn pick(
        &mut self,
        text: &str,
        resources: &[Option<String>],
        case: &str,
        place: &str,
    ) -> Option<Learned> {
        self.pick_except(text, resources, case, place, None)
    }

    /// [`Chains::pick`] among the origins not in case `skip`.
    fn pick_except(
        &mut self,
        text: &str,
        resources: &[Option<String>],
        case: &str,
        place: &str,
        skip: Option<&str>,
    ) -> Option<Learned> {
        let all: Vec<&Learned> = self
            .with_text(text)
            .filter(|l| skip != Some(l.case.as_str()))
            .collect();
        let latest = all.last()?;
        // Equal long tokens are the same value; the client most likely sends
        // the one it got last (a login's after a register's, in the same second).
        if latest.strong {
            return Some((*latest).clone());
        }
        let agree: Vec<&Learned> = all
            .iter()
            .copied()
            .filter(|l| l.resource.is_some() && resources.contains(&l.resource))
            .collect();
        match agree.as_slice() {
            [one] => Some((*one).clone()),
            // One earlier value and a place that does not name it: equal by
            // coincidence (`/pages/1`).
            [] if all.len() < 2 => None,
            [] => {
                let candidates = all.iter().map(|l| l.reference()).collect();
                self.ambiguous
                    .push((case.to_owned(), place.to_owned(), candidates));
                None
            }
            many => {
                let candidates = many.iter().map(|l| l.reference()).collect();
                self.ambiguous
                    .push((case.to_owned(), place.to_owned(), candidates));
                None
            }
        }
    }

    fn strong_match(&self, text: &str) -> Option<Learned> {
        self.with_text(text).rfind(|l| l.strong).cloned()
    }

    /// The values learned as `text`, in learned order.
    fn with_text<'a>(&'a self, text: &str) -> impl DoubleEndedIterator<Item = &'a Learned> {
        self.by_text
            .get(text)
            .into_iter()
            .flatten()
            .map(|&i| &self.learned[i])
    }

    /// The strong values found inside `text`, in learned order.
    fn strong_within(&self, text: &str) -> Vec<&Learned> {
        let bytes = text.as_bytes();
        let mut found = BTreeSet::new();
        for (at, window) in bytes.windows(8).enumerate() {
            let key: [u8; 8] = window.try_into().expect("windows of 8");
            for &i in self.strong_by_suffix.get(&key).into_iter().flatten() {
                if bytes[..at + 8].ends_with(self.learned[i].text.as_bytes()) {
                    found.insert(i);
                }
            }
        }
        found.into_iter().map(|i| &self.learned[i]).collect()
    }

    /// Adds an origin. A strong value handed out again (a token in every
    /// answer of a long session) keeps only its two latest origins: the
    /// latest is the one referred to, the one before it when the latest is
    /// the case asking, and older ones would only make lookups longer.
    fn push_learned(&mut self, l: Learned) {
        let i = self.learned.len();
        let key = l.text.as_bytes().last_chunk::<8>().copied();
        let same = self.by_text.entry(l.text.clone()).or_default();
        same.push(i);
        if l.strong && same.len() > 2 {
            let old = same.remove(0);
            self.learned[old] = Learned::default();
            if let Some(key) = key {
                if let Some(v) = self.strong_by_suffix.get_mut(&key) {
                    v.retain(|&x| x != old);
                }
            }
        }
        if let (true, Some(key)) = (l.strong, key) {
            self.strong_by_suffix.entry(key).or_default().push(i);
        }
        self.learned.push(l);
    }

    /// A `/`-separated path with its learned values replaced: the segment
    /// before a value names what it is (`/articles/1`). `place` names each
    /// segment's place for the report.
    fn rewrite_segments(
        &mut self,
        path: &str,
        case: &str,
        place: impl Fn(&str) -> String,
    ) -> String {
        let mut out: Vec<String> = Vec::new();
        for seg in path.split('/') {
            let named = out
                .last()
                .filter(|p| !p.is_empty() && !p.contains("${"))
                .map(|p| singular(p));
            let place = place(seg);
            match self.pick(seg, &[named], case, &place) {
                Some(l) => out.push(self.use_ref(&l, case, place)),
                None => out.push(seg.to_owned()),
            }
        }
        out.join("/")
    }

    /// Notes what a client request carried of its own, after its answer was
    /// learned: a later answer that lists such a value (a collection the
    /// client named `tasks`, a UUID it made up) hands out nothing new.
    pub fn sent(&mut self, req: &RequestSpec) {
        let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
        let mut previous: Option<&str> = None;
        for seg in path.split('/') {
            let named = previous.filter(|p| !p.is_empty()).map(singular);
            self.client_value(seg, named);
            previous = (!seg.contains("${")).then_some(seg);
        }
        let last_resource = target_resource(path);
        for (k, v) in query.split('&').filter_map(|p| p.split_once('=')) {
            let named =
                key_resource(k).or_else(|| id_like(k).then(|| last_resource.clone()).flatten());
            self.client_value(v, named);
        }
        if let Some(BodySpec::Json(v)) = &req.body {
            let mut leaves = std::collections::BTreeMap::new();
            super::repeats::leaves(v, "$".into(), &mut leaves);
            for (p, leaf) in &leaves {
                if let Some(text) = scalar_text(leaf) {
                    let named =
                        path_resource(p.trim_start_matches('$')).or_else(|| last_resource.clone());
                    self.client_value(&text, named);
                }
            }
        }
    }

    fn client_value(&mut self, text: &str, named: Option<String>) {
        if !text.is_empty() && !text.contains("${") {
            self.client.insert((text.to_owned(), named));
        }
    }

    /// Whether the client sent `text` of its own before: anywhere for an
    /// opaque value, at a place naming `resource` for a short one.
    fn client_made(&self, text: &str, resource: &Option<String>) -> bool {
        match strong(text) {
            true => self
                .client
                .range((text.to_owned(), None)..)
                .next()
                .is_some_and(|(t, _)| t == text),
            false => {
                resource.is_some() && self.client.contains(&(text.to_owned(), resource.clone()))
            }
        }
    }

    /// A new case starts: forget what the previous request referred to.
    pub fn begin_case(&mut self) {
        self.in_request.clear();
        self.flowed.clear();
    }

    /// Carries the current case's references into its Redis lines: a value
    /// its request took from an earlier answer (so the client sends what
    /// the app answered this run) stands for the same in what the app then
    /// sends Redis and reads back, with the same evidence as elsewhere. A
    /// long opaque value (a token) is replaced wherever it stands whole or
    /// as a `:`-separated part; a short one (an id) only as the part after
    /// the resource its origin named (`cart:4821` for the `id` a `POST
    /// /carts` answered), never alone (`SCARD 4821` could be a count) nor
    /// under another name (`page:4821`). Run after
    /// [`Chains::rewrite_request`] on the case's request and HTTP mocks.
    pub fn rewrite_redis(&mut self, case: &str, lines: &mut [crate::suite::redis::RedisMock]) {
        if self.flowed.is_empty() {
            return;
        }
        let flows = self.flowed.clone();
        for m in lines.iter_mut() {
            let name = crate::suite::redis::command_name(&m.cmd);
            let mut texts: Vec<(String, &mut crate::wire::Bytes)> = Vec::new();
            for (i, arg) in m.cmd.iter_mut().enumerate().skip(1) {
                texts.push((format!("argument {i} of {name}"), arg));
            }
            for r in m.replies.iter_mut() {
                reply_texts(r, &mut |b| texts.push((format!("reply to {name}"), b)));
            }
            for (what, bytes) in texts {
                let Ok(text) = std::str::from_utf8(bytes) else {
                    continue;
                };
                let mut out = text.to_owned();
                for l in &flows {
                    let new = with_reference(&out, l);
                    if new != out {
                        self.used.insert((l.case.clone(), l.path.clone()));
                        let place = format!("redis {} {what}", m.id);
                        self.report.push((case.to_owned(), place, l.reference()));
                        out = new;
                    }
                }
                if out != text {
                    bytes.0 = out.into_bytes();
                }
            }
        }
    }

    fn use_ref(&mut self, l: &Learned, case: &str, place: String) -> String {
        if place.starts_with("request") && !self.in_request.iter().any(|x| x.text == l.text) {
            self.in_request.push(l.clone());
        }
        if !self
            .flowed
            .iter()
            .any(|x| x.text == l.text && x.resource == l.resource)
        {
            self.flowed.push(l.clone());
        }
        self.used.insert((l.case.clone(), l.path.clone()));
        let r = l.reference();
        self.report.push((case.to_owned(), place, r.clone()));
        r
    }

    /// Learns the id-like values of case `case`'s response body, answered to
    /// `request`: each is an origin unless the request carried it itself, or
    /// the same value is already known as the same resource.
    pub fn learn(&mut self, case: &str, body: &Value, request: &RequestSpec) {
        struct Walk<'a> {
            case: &'a str,
            sent: BTreeSet<String>,
            fallback: Option<String>,
        }
        fn walk(c: &mut Chains, w: &Walk, v: &Value, path: String, key: Option<&str>) {
            match v {
                Value::Object(m) => {
                    for (k, child) in m {
                        walk(c, w, child, crate::json_path::child(&path, k), Some(k));
                    }
                }
                Value::Array(a) => {
                    for (i, child) in a.iter().enumerate() {
                        walk(c, w, child, format!("{path}[{i}]"), key);
                    }
                }
                leaf => {
                    let (Some(k), Some(text)) = (key, scalar_text(leaf)) else {
                        return;
                    };
                    if !id_like(k) || w.sent.contains(&text) {
                        return;
                    }
                    let resource = path_resource(&path).or_else(|| w.fallback.clone());
                    if c.client_made(&text, &resource) {
                        return;
                    }
                    let known = c.with_text(&text).any(|l| {
                        match l.strong {
                            // Handed out again by a later answer: the
                            // latest origin.
                            true => l.case == w.case,
                            false => l.resource == resource,
                        }
                    });
                    if !known {
                        c.push_learned(Learned {
                            strong: strong(&text),
                            text,
                            case: w.case.to_owned(),
                            path: path.clone(),
                            resource,
                        });
                    }
                }
            }
        }
        let w = Walk {
            case,
            sent: request_values(request),
            fallback: target_resource(&request.target),
        };
        walk(self, &w, body, "body".into(), None);
    }

    /// Replaces learned values in a request (a case's, or a mock's: what the
    /// app forwarded to a dependency). `case` names where, for the report.
    pub fn rewrite_request(&mut self, case: &str, req: &mut RequestSpec) {
        let (path, query) = match req.target.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (req.target.clone(), None),
        };
        let segments = self.rewrite_segments(&path, case, |seg| format!("request path '{seg}'"));
        let mut target = segments;
        let last_resource = target_resource(&path);
        if let Some(q) = query {
            let mut pairs = Vec::new();
            for pair in q.split('&') {
                let rewritten = match pair.split_once('=') {
                    Some((k, v)) => {
                        let named = key_resource(k)
                            .or_else(|| id_like(k).then(|| last_resource.clone()).flatten());
                        let place = format!("query {k}");
                        let found = match id_like(k) {
                            true => self.pick(v, &[named], case, &place),
                            false => self.strong_match(v),
                        };
                        match found {
                            Some(l) => {
                                let r = self.use_ref(&l, case, place);
                                format!("{k}={r}")
                            }
                            None => pair.to_owned(),
                        }
                    }
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
            // Latest first: an equal token handed out again is the later one.
            let strongs: Vec<Learned> = self
                .strong_within(value)
                .into_iter()
                .rev()
                .cloned()
                .collect();
            for l in strongs {
                if value.contains(&l.text) {
                    let r = self.use_ref(&l, case, format!("header {n}"));
                    *value = value.replace(&l.text, &r);
                }
            }
        }
        if let Some(v) = req.body.as_mut().and_then(BodySpec::as_json_mut) {
            let fallback = last_resource.clone();
            self.rewrite_json(case, v, "request body", "body", fallback.as_deref(), None);
        }
    }

    /// Replaces learned values in JSON leaves: strong values anywhere (also
    /// inside longer text), weak ones under id-like keys whose context names
    /// their origin's resource (the key, the enclosing key, or `fallback`:
    /// what the request's path names). `skip_case` leaves out values this
    /// same case produced (an expected body refers only to earlier answers).
    fn rewrite_json(
        &mut self,
        case: &str,
        v: &mut Value,
        place: &str,
        path: &str,
        fallback: Option<&str>,
        skip_case: Option<&str>,
    ) {
        match v {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    let p = crate::json_path::child(path, k);
                    self.rewrite_json(case, child, place, &p, fallback, skip_case);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter_mut().enumerate() {
                    let p = format!("{path}[{i}]");
                    self.rewrite_json(case, child, place, &p, fallback, skip_case);
                }
            }
            leaf => {
                let Some(text) = scalar_text(leaf) else {
                    return;
                };
                let keys = path_keys(path);
                let key = keys.last().map(String::as_str).filter(|k| *k != "body");
                let where_ = format!("{place} {}", key.unwrap_or("value"));
                let found = match self.strong_match(&text) {
                    Some(l) => Some(l),
                    None if key.is_some_and(id_like) => {
                        // The place names it, or the request does (`items[0].id`
                        // in the answer to `GET /books`).
                        let named = path_resource(path);
                        let asked = fallback.map(str::to_owned);
                        self.pick_except(&text, &[named, asked], case, &where_, skip_case)
                    }
                    None => None,
                };
                match found {
                    Some(l) if skip_case != Some(l.case.as_str()) => {
                        let r = self.use_ref(&l, case, where_);
                        *leaf = Value::String(r);
                    }
                    Some(_) => {}
                    // A token inside a longer text (`"Bearer tok_…"`).
                    None => {
                        if let Value::String(s) = leaf {
                            // Latest first, as in headers.
                            let inside: Vec<Learned> = self
                                .strong_within(s)
                                .into_iter()
                                .rev()
                                .filter(|l| skip_case != Some(l.case.as_str()))
                                .cloned()
                                .collect();
                            for l in inside {
                                let r = self.use_ref(&l, case, where_.clone());
                                *s = s.replace(&l.text, &r);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Replaces learned values in an expected response: a Location naming the
    /// id just created, ids that earlier cases produced.
    /// `number` is the case's four-digit number, `case` its name for the report.
    pub fn rewrite_expected(
        &mut self,
        number: &str,
        case: &str,
        request: &RequestSpec,
        resp: &mut ResponseSpec,
    ) {
        for (name, value) in &mut resp.headers {
            let n = name.to_ascii_lowercase();
            if n != "location" && n != "content-location" {
                continue;
            }
            *value = self.rewrite_segments(value, case, |_| format!("response header {n}"));
        }
        if let Some(v) = resp.body.as_mut().and_then(BodySpec::as_json_mut) {
            let fallback = target_resource(&request.target);
            self.rewrite_json(
                case,
                v,
                "response body",
                "body",
                fallback.as_deref(),
                Some(number),
            );
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
    /// it check the rest. Marks the origins in `cases` and returns the others,
    /// `(case number, path)`: origins in cases handed on before, which the
    /// caller marks with [`mark_origin`]. What was marked is forgotten.
    pub fn mark_origins(
        &mut self,
        cases: &mut [(String, CaseFile, Vec<MockSpec>)],
    ) -> Vec<(String, String)> {
        let by_number: HashMap<&str, usize> = cases
            .iter()
            .enumerate()
            .map(|(i, (stem, _, _))| (crate::suite::case_number(stem), i))
            .collect();
        let mut elsewhere = Vec::new();
        let mut here = Vec::new();
        for (case, path) in std::mem::take(&mut self.used) {
            match by_number.get(case.as_str()) {
                Some(&i) => here.push((i, path)),
                None => elsewhere.push((case, path)),
            }
        }
        for (i, path) in here {
            mark_origin(&mut cases[i].1, &path);
        }
        elsewhere
    }
}

/// The value at `path` (`body.id`) of a case's expected response becomes a
/// typed matcher, unless it is one already.
pub fn mark_origin(c: &mut CaseFile, path: &str) {
    let Some(body) = c.response.body.as_mut().and_then(BodySpec::as_json_mut) else {
        return;
    };
    if let Some(leaf) = crate::json_path::at_mut(body, path.strip_prefix("body").unwrap_or(path)) {
        // A matcher put there before (by its format, once the case was
        // handed on) stands for its type.
        let number = match crate::matcher::as_matcher(leaf) {
            Some(kind) => matches!(kind, "number" | "epoch_seconds" | "epoch_millis"),
            None => leaf.is_number(),
        };
        *leaf = json!({ MARKER: if number { "number" } else { "string" } });
    }
}

/// `text` (a Redis argument or reply) with `l`'s value replaced by its
/// reference: a strong value as the whole text or a `:`-separated part, a
/// weak one only as the part after its resource's name. See
/// [`Chains::rewrite_redis`].
fn with_reference(text: &str, l: &Learned) -> String {
    if l.strong && text == l.text {
        return l.reference();
    }
    if !text.contains(':') || !text.contains(l.text.as_str()) {
        return text.to_owned();
    }
    let parts: Vec<&str> = text.split(':').collect();
    let named = |k: usize| {
        k > 0
            && l.resource
                .as_deref()
                .is_some_and(|r| singular(parts[k - 1]) == r)
    };
    parts
        .iter()
        .enumerate()
        .map(
            |(k, part)| match *part == l.text && (l.strong || named(k)) {
                true => l.reference(),
                false => (*part).to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join(":")
}

/// Calls `f` on each string of a reply, inside aggregates too.
fn reply_texts<'a>(
    f: &'a mut crate::wire::redis::Frame,
    each: &mut dyn FnMut(&'a mut crate::wire::Bytes),
) {
    use crate::wire::redis::Frame;
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => each(b),
        Frame::Verbatim { text, .. } => each(text),
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            v.iter_mut().for_each(|x| reply_texts(x, each))
        }
        Frame::Map(pairs) => pairs.iter_mut().for_each(|(k, v)| {
            reply_texts(k, each);
            reply_texts(v, each);
        }),
        Frame::Attributed { frame, .. } => reply_texts(frame, each),
        _ => {}
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

/// Replaces `word` where it stands alone: not inside a longer word or
/// number, nor a part of a token that signs join (the `11` of a time
/// `21:11:05`, of a date `2026-11-04`, of a version `1.11.2`), while
/// `book 11: gone` and `/books/11` still name it.
pub(crate) fn replace_word(s: &str, word: &str, with: &str) -> String {
    let mut out = String::new();
    let mut copied = 0;
    let joins = |c: char, beyond: Option<char>| {
        matches!(c, ':' | '-' | '.' | '+' | '_') && beyond.is_some_and(char::is_alphanumeric)
    };
    for (i, _) in s.match_indices(word) {
        if i < copied {
            continue;
        }
        // Look at the neighbours in the whole string, not in what is left.
        let mut before = s[..i].chars().rev();
        let (b1, b2) = (before.next(), before.next());
        let mut after = s[i + word.len()..].chars();
        let (a1, a2) = (after.next(), after.next());
        let alone = !b1
            .is_some_and(|c| c.is_alphanumeric() || c == '{' || c == '.' || joins(c, b2))
            && !a1.is_some_and(|c| c.is_alphanumeric() || c == '}' || joins(c, a2));
        if alone {
            out.push_str(&s[copied..i]);
            out.push_str(with);
            copied = i + word.len();
        }
    }
    out.push_str(&s[copied..]);
    out
}
