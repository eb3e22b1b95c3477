//! Which recorded interaction answers a call.
//!
//! A call is matched on dependency, method, path, query (order-insensitive) and
//! body (JSON-aware: equal values, or any value of a kind where the recording
//! holds a typed matcher such as `{"$reel": "uuid"}`), first against the current case's mocks in recorded order
//! (each answers once), then the shared pool and the startup set (which may
//! answer again). No fuzzy fallback: a call that matches nothing is a miss,
//! answered with an error and reported with the nearest recorded call.

use std::sync::{Arc, Mutex};

use reel_core::json_path::Step;
use reel_core::matcher::formats::accepts_json;
use reel_core::matcher::{as_matcher, percent_decode};
use reel_core::suite::{spec_header, BodySpec, MockSpec, ResponseSpec};
use serde_json::Value;

use crate::compare::Rules;
use crate::diff::unified;
use crate::model::{MissValue, MockMiss};
use crate::resolve::{resolve_request, resolve_response};
use reel_core::template::Resolver;

/// A call the app made to a mocked dependency.
#[derive(Debug, Clone)]
pub struct Call {
    pub dependency: String,
    pub method: String,
    pub target: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Call {
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.target)
    }
}

/// What happened to one case's mocks while it ran.
#[derive(Debug, Clone, Default)]
pub struct CaseMockLog {
    pub used: Vec<String>,
    pub unused: Vec<String>,
    pub misses: Vec<MockMiss>,
    /// Answers the mock could not send (the app got a 500 instead), each
    /// with its dependency and reason.
    pub failures: Vec<String>,
}

impl CaseMockLog {
    /// Both logs, this one's entries first.
    pub fn merge(mut self, other: CaseMockLog) -> CaseMockLog {
        self.used.extend(other.used);
        self.unused.extend(other.unused);
        self.misses.extend(other.misses);
        self.failures.extend(other.failures);
        self
    }
}

/// Which case runs and what its calls did so far. What happens while no
/// case runs (the app starting, a pool connecting) is reported with the
/// next case: every mock book keeps one.
#[derive(Debug, Default)]
pub struct CaseRun {
    pub current: Option<usize>,
    pub log: CaseMockLog,
    /// Misses and failures while no case ran.
    outside: CaseMockLog,
}

impl CaseRun {
    /// Case `i` starts, with what happened since the last one ended.
    pub fn begin(&mut self, i: usize) {
        self.current = Some(i);
        self.log = std::mem::take(&mut self.outside);
    }

    /// The case that ran, if one did, and its log.
    pub fn end(&mut self) -> (Option<usize>, CaseMockLog) {
        (self.current.take(), std::mem::take(&mut self.log))
    }

    /// A call no recording answered.
    pub fn miss(&mut self, miss: MockMiss) {
        match self.current {
            Some(_) => self.log.misses.push(miss),
            None => self.outside.misses.push(miss),
        }
    }

    /// An answer that could not be sent.
    pub fn failure(&mut self, what: String) {
        match self.current {
            Some(_) => self.log.failures.push(what),
            None => self.outside.failures.push(what),
        }
    }
}

struct CaseMocks {
    mocks: Vec<MockSpec>,
    used: Vec<bool>,
}

struct State {
    cases: Vec<CaseMocks>,
    run: CaseRun,
}

pub struct MockBook {
    state: Mutex<State>,
    shared: Vec<MockSpec>,
    startup: Vec<MockSpec>,
    /// Fills placeholders in recorded calls and answers (secrets, values
    /// from earlier responses of this run).
    context: Arc<dyn Resolver + Send + Sync>,
    /// The suite's body noise rules, applied to recorded request bodies too.
    noise: Rules,
}

impl MockBook {
    /// `cases[i]` are the mocks of case `i`, in recorded order.
    pub fn new(
        cases: Vec<Vec<MockSpec>>,
        shared: Vec<MockSpec>,
        startup: Vec<MockSpec>,
        context: Arc<dyn Resolver + Send + Sync>,
    ) -> Self {
        let cases = cases
            .into_iter()
            .map(|mocks| CaseMocks {
                used: vec![false; mocks.len()],
                mocks,
            })
            .collect();
        MockBook {
            state: Mutex::new(State {
                cases,
                run: CaseRun::default(),
            }),
            shared,
            startup,
            context,
            noise: Rules::default(),
        }
    }

    /// Body paths the suite ignores are ignored when matching calls as well.
    pub fn with_noise(mut self, noise: Rules) -> Self {
        self.noise = noise;
        self
    }

    /// The mock, placeholders filled, if it matches the call. Only mocks that
    /// hold a placeholder are copied and filled: most hold none.
    fn fill_if_matches(&self, m: &MockSpec, call: &Call) -> Option<MockSpec> {
        if mentions_placeholder(m) {
            let filled = self.filled(m);
            matches(&filled, call, &self.noise).then_some(filled)
        } else {
            matches(m, call, &self.noise).then(|| m.clone())
        }
    }

    /// A recorded mock with its placeholders filled; one that cannot be filled
    /// is left as recorded (and so matches nothing that differs).
    fn filled(&self, m: &MockSpec) -> MockSpec {
        let mut m = m.clone();
        if let Ok(r) = resolve_request(&m.request, self.context.as_ref()) {
            m.request = r;
        }
        if let Ok(r) = resolve_response(&m.response, self.context.as_ref()) {
            m.response = r;
        }
        m
    }

    /// Case `i` starts: its mocks answer first from now on.
    pub fn begin_case(&self, i: usize) {
        let mut s = self.state.lock().expect("mock book lock");
        s.run.begin(i);
    }

    /// An answer could not be sent (the app got a 500): the case reports why.
    pub fn failed(&self, what: String) {
        let mut s = self.state.lock().expect("mock book lock");
        s.run.failure(what);
    }

    /// The current case ends; returns what its calls used and missed.
    pub fn end_case(&self) -> CaseMockLog {
        let mut s = self.state.lock().expect("mock book lock");
        let (current, mut log) = s.run.end();
        if let Some(i) = current {
            let c = &s.cases[i];
            log.unused = c
                .mocks
                .iter()
                .zip(&c.used)
                .filter(|(_, used)| !**used)
                .map(|(m, _)| m.id.clone())
                .collect();
        }
        log
    }

    /// Answers a call, or explains the miss.
    pub fn answer(&self, call: &Call) -> Result<(String, ResponseSpec), MockMiss> {
        let mut s = self.state.lock().expect("mock book lock");
        let current = s.run.current;
        if let Some(i) = current {
            let c = &s.cases[i];
            let hit = c
                .mocks
                .iter()
                .zip(&c.used)
                .enumerate()
                .filter(|(_, (m, used))| !**used && could_match(m, call))
                .find_map(|(n, (m, _))| self.fill_if_matches(m, call).map(|m| (n, m)));
            if let Some((n, m)) = hit {
                s.cases[i].used[n] = true;
                let answer = (m.id, m.response);
                s.run.log.used.push(answer.0.clone());
                return Ok(answer);
            }
        }
        if let Some(m) = self
            .shared
            .iter()
            .chain(&self.startup)
            .filter(|m| could_match(m, call))
            .find_map(|m| self.fill_if_matches(m, call))
        {
            s.run.log.used.push(m.id.clone());
            return Ok((m.id, m.response));
        }
        let candidates: Vec<&MockSpec> = current
            .map(|i| s.cases[i].mocks.iter().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(&self.shared)
            .chain(&self.startup)
            .filter(|m| m.dependency == call.dependency)
            .collect();
        let miss = nearest_miss(
            call,
            &candidates,
            current.and_then(|i| {
                let c = &s.cases[i];
                c.mocks
                    .iter()
                    .zip(&c.used)
                    .any(|(m, used)| *used && matches(m, call, &self.noise))
                    .then_some(())
            }),
        );
        s.run.miss(miss.clone());
        Err(miss)
    }
}

/// Cheap checks first: a mock of another dependency or method never matches.
fn could_match(m: &MockSpec, call: &Call) -> bool {
    m.dependency == call.dependency && m.request.method.eq_ignore_ascii_case(&call.method)
}

fn mentions_placeholder(m: &MockSpec) -> bool {
    let has = |s: &str| reel_core::template::has_placeholder(s);
    has(&m.request.target)
        || m.request.headers.iter().any(|(_, v)| has(v))
        || m.response.headers.iter().any(|(_, v)| has(v))
        || [&m.request.body, &m.response.body].iter().any(|b| match b {
            Some(BodySpec::Json(v) | BodySpec::JsonLines(v) | BodySpec::JsonSeq(v)) => {
                has(&v.to_string())
            }
            Some(BodySpec::Text(t)) => has(t),
            _ => false,
        })
}

fn matches(m: &MockSpec, call: &Call, noise: &Rules) -> bool {
    m.dependency == call.dependency
        && m.request.method.eq_ignore_ascii_case(&call.method)
        && same_target(&m.request.target, &call.target)
        && same_body(m, call, noise)
}

fn split_target(t: &str) -> (&str, Vec<(String, String)>) {
    let (path, query) = t.split_once('?').unwrap_or((t, ""));
    let mut pairs: Vec<(String, String)> = reel_core::matcher::query_pairs(query)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    pairs.sort();
    (path, pairs)
}

/// Absolute-form targets (through HTTP_PROXY) compare by path and query. A
/// recorded query value may be a typed matcher (`?nonce={"$reel":"hex"}`),
/// which any value of that kind satisfies.
fn same_target(recorded: &str, actual: &str) -> bool {
    use reel_core::suite::origin_form;
    let (rp, rq) = split_target(origin_form(recorded));
    let (ap, aq) = split_target(origin_form(actual));
    rp == ap
        && rq.len() == aq.len()
        && rq.iter().zip(&aq).all(|((rk, rv), (ak, av))| {
            rk == ak
                && (rv == av
                    || query_matcher(rv).is_some_and(|kind| {
                        reel_core::matcher::formats::accepts_text(&kind, &percent_decode(av))
                    }))
        })
}

/// The matcher kind a recorded query value holds, if it is one (as
/// written, or percent-encoded).
fn query_matcher(v: &str) -> Option<String> {
    let v = serde_json::from_str::<Value>(&percent_decode(v)).ok()?;
    as_matcher(&v).map(str::to_owned)
}

fn same_body(m: &MockSpec, call: &Call, noise: &Rules) -> bool {
    match &m.request.body {
        None => call.body.is_empty(),
        Some(BodySpec::Json(recorded)) => {
            serde_json::from_slice::<Value>(&call.body).is_ok_and(|actual| {
                if noise.has_paths() {
                    json_matches_under(recorded, &actual, &mut Vec::new(), noise)
                } else {
                    json_matches(recorded, &actual)
                }
            })
        }
        Some(b) => b.to_bytes() == call.body,
    }
}

/// Equal JSON, except where the recording holds a typed matcher
/// (`{"$reel": "uuid"}`, written by `generate` for a value the app makes
/// afresh on every run, or by hand): any value of that kind is accepted.
fn json_matches(recorded: &Value, actual: &Value) -> bool {
    if let Some(kind) = as_matcher(recorded) {
        return accepts_json(kind, actual);
    }
    match (recorded, actual) {
        (Value::Object(r), Value::Object(a)) => {
            r.len() == a.len()
                && r.iter()
                    .all(|(k, rv)| a.get(k).is_some_and(|av| json_matches(rv, av)))
        }
        (Value::Array(r), Value::Array(a)) => {
            r.len() == a.len() && r.iter().zip(a).all(|(x, y)| json_matches(x, y))
        }
        (r, a) => r == a,
    }
}

/// [`json_matches`], skipping the paths the suite's noise rules ignore.
fn json_matches_under(
    recorded: &Value,
    actual: &Value,
    path: &mut Vec<Step>,
    noise: &Rules,
) -> bool {
    if noise.ignores_steps(path) {
        return true;
    }
    if as_matcher(recorded).is_some() {
        return json_matches(recorded, actual);
    }
    let mut below = |step: Step, r: Option<&Value>, a: Option<&Value>| {
        path.push(step);
        let ok = match (r, a) {
            (Some(x), Some(y)) => json_matches_under(x, y, path, noise),
            _ => noise.ignores_steps(path),
        };
        path.pop();
        ok
    };
    match (recorded, actual) {
        (Value::Object(r), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = r.keys().chain(a.keys()).collect();
            keys.into_iter()
                .all(|k| below(Step::Key(k.clone()), r.get(k), a.get(k)))
        }
        (Value::Array(r), Value::Array(a)) => {
            (0..r.len().max(a.len())).all(|i| below(Step::Index(i), r.get(i), a.get(i)))
        }
        (r, a) => json_matches(r, a),
    }
}

fn request_text(method: &str, target: &str, body: Option<String>) -> String {
    let mut s = format!("{method} {target}\n");
    if let Some(b) = body {
        s.push('\n');
        s.push_str(&b);
        if !s.ends_with('\n') {
            s.push('\n');
        }
    }
    s
}

fn body_text(body: &[u8], content_type: Option<&str>) -> Option<String> {
    BodySpec::from_bytes(body, content_type, false).map(|b| match b {
        BodySpec::Json(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        BodySpec::Text(t) => t,
        other => format!("<{} bytes of binary>", other.to_bytes().len()),
    })
}

fn nearest_miss(call: &Call, candidates: &[&MockSpec], exhausted: Option<()>) -> MockMiss {
    let actual = request_text(
        &call.method,
        &call.target,
        body_text(&call.body, call.content_type.as_deref()),
    );
    let scored = candidates.iter().map(|m| {
        let text = request_text(
            &m.request.method,
            &m.request.target,
            m.request.body.as_ref().and_then(|b| {
                body_text(
                    &b.to_bytes(),
                    spec_header(&m.request.headers, "content-type"),
                )
            }),
        );
        let ratio = similar::TextDiff::from_chars(text.as_str(), actual.as_str()).ratio();
        (ratio, *m, text)
    });
    let best = scored.max_by(|a, b| a.0.total_cmp(&b.0));
    let mut miss = MockMiss {
        dependency: call.dependency.clone(),
        call: call.describe(),
        nearest: None,
        diff: String::new(),
        values: Vec::new(),
    };
    if let Some((_, m, text)) = best {
        miss.nearest = Some(format!(
            "{} ({} {})",
            m.id, m.request.method, m.request.target
        ));
        miss.diff = unified(&text, &actual);
        miss.values = differing_values(m, call);
    }
    if exhausted.is_some() {
        miss.diff.push_str(
            "(this case's recorded answers to this call were all used: the app called it more often than when recorded)\n",
        );
    }
    miss
}

/// The JSON body fields in which `call` differs from recording `m`, when
/// nothing else differs (method, target, the set of fields).
fn differing_values(m: &MockSpec, call: &Call) -> Vec<MissValue> {
    use reel_core::generate::repeats::leaves;
    let Some(BodySpec::Json(recorded)) = &m.request.body else {
        return Vec::new();
    };
    let Ok(actual) = serde_json::from_slice::<Value>(&call.body) else {
        return Vec::new();
    };
    if !m.request.method.eq_ignore_ascii_case(&call.method)
        || !same_target(&m.request.target, &call.target)
    {
        return Vec::new();
    }
    let (mut r, mut a) = (Default::default(), Default::default());
    leaves(recorded, "$".into(), &mut r);
    leaves(&actual, "$".into(), &mut a);
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    r.iter()
        .filter_map(|(path, rv)| {
            let av = a.get(path)?;
            (rv != av).then(|| MissValue {
                mock: m.id.clone(),
                path: path.clone(),
                recorded: Some(text(rv)),
                actual: Some(text(av)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
