//! Which case made a dependency call that several cases' time windows hold.
//!
//! Under a concurrent client several cases are in flight at once, and by
//! time alone a call made then could be any of theirs. Such a call used to
//! go to the shared pool, where at replay any case could take it: one user's
//! query answered with another user's rows. Two kinds of evidence decide
//! instead, and a call with neither stays in the shared pool (and is
//! reported):
//!
//! - **A connection held in a transaction.** A Postgres group sent on a
//!   connection that the previous group there left inside a transaction
//!   (`ReadyForQuery` status `T` or `E`) comes from whoever holds that
//!   connection: the same case. Such groups are decided together.
//! - **Values only some of the cases know.** The call's values are looked
//!   up in what each case in flight knows: its own request and response
//!   (JSON leaves, path segments other than plain words, query values, the
//!   claims of JWTs among them) and the calls already found to be its own.
//!   What the call sent (Bind parameters, decoded by type; an HTTP call's
//!   path, query and JSON) is asked first, since a case's request is what
//!   makes its queries; only if that cannot tell, what came back too (the
//!   rows of a read show in its case's answer). A value every candidate
//!   knows, or none, says nothing. Strings decide: the case strictly ahead
//!   by their weight (longer weighs more). Without a telling string,
//!   integers may, but only uncontested: ids are small and repeat by chance.
//!
//! Calls are decided in recorded order, twice over, so that a call decided
//! late (its evidence a later call's) still helps the ones before it.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::Mock;
use crate::suite::postgres::normalize_sql;
use crate::suite::{BodySpec, CaseFile, MockSpec, PgMock, RequestSpec};
use crate::time::Micros;
use crate::wire::postgres::{is_binary_param, BackendMessage, Field, FrontendMessage};

/// A dependency call as the suite will hold it, and the cases whose time
/// windows hold it.
pub(super) struct Call {
    pub seq: i64,
    pub started_at: Micros,
    pub mock: Mock,
    /// Indexes of the cases in flight while it was made.
    pub holders: Vec<usize>,
}

/// The case each call belongs to: its only holder, or among several the
/// one the evidence picks; `None` for a call no case holds, or whose
/// holders the evidence cannot tell apart.
pub(super) fn resolve(
    cases: &[(String, CaseFile, Vec<MockSpec>)],
    calls: &[Call],
    units: &[Vec<usize>],
    types: &Types,
) -> Vec<Option<usize>> {
    let mut owner: Vec<Option<usize>> = calls
        .iter()
        .map(|c| match c.holders.as_slice() {
            [one] => Some(*one),
            _ => None,
        })
        .collect();
    let ambiguous: Vec<&Vec<usize>> = units
        .iter()
        .filter(|u| u.iter().any(|&n| calls[n].holders.len() > 1))
        .collect();
    if ambiguous.is_empty() {
        return owner;
    }
    // Only the cases an ambiguous call could be are looked into, with the
    // calls known to be theirs: what the rest knows decides nothing.
    let contested: BTreeSet<usize> = ambiguous
        .iter()
        .flat_map(|u| u.iter().flat_map(|&n| calls[n].holders.iter().copied()))
        .collect();
    // What each call sent (its parameters), and all it carried (with its
    // answer's rows), for the calls that are asked about.
    let mut values: HashMap<usize, (BTreeSet<String>, BTreeSet<String>)> = HashMap::new();
    let mut known: HashMap<usize, BTreeSet<String>> = contested
        .iter()
        .map(|&c| {
            let case = &cases[c].1;
            let mut k = request_values(&case.request);
            if let Some(v) = case.response.body.as_ref().and_then(BodySpec::as_json) {
                json_values(v, &mut k);
            }
            for (name, value) in &case.response.headers {
                if name.eq_ignore_ascii_case("location") {
                    k.extend(target_values(value));
                }
            }
            (c, k)
        })
        .collect();
    for (n, o) in owner.iter().enumerate() {
        if let Some(k) = o.and_then(|case| known.get_mut(&case)) {
            let v = values
                .entry(n)
                .or_insert_with(|| call_values(&calls[n], types));
            k.extend(v.1.iter().cloned());
        }
    }
    for unit in &ambiguous {
        for &n in unit.iter() {
            values
                .entry(n)
                .or_insert_with(|| call_values(&calls[n], types));
        }
    }

    for _ in 0..2 {
        for unit in &ambiguous {
            if unit.iter().all(|&n| owner[n].is_some()) {
                continue;
            }
            // A member already decided decides its transaction.
            let decided = unit.iter().find_map(|&n| owner[n]);
            let candidates = match decided {
                Some(case) => vec![case],
                None => common_holders(unit.iter().map(|&n| &calls[n].holders)),
            };
            let chosen = match candidates.as_slice() {
                [] => None,
                [one] => Some(*one),
                // What the calls sent decides first: a case's request is
                // what makes its queries. Only if that cannot tell, what
                // came back too (a read's rows show in its case's answer;
                // an article's description shows in every answer about it).
                many => [false, true].into_iter().find_map(|answers| {
                    let mut vals = BTreeSet::new();
                    for &n in unit.iter() {
                        let (sent, all) = &values[&n];
                        vals.extend(if answers { all } else { sent }.iter().cloned());
                    }
                    best(many, &vals, &known)
                }),
            };
            if let Some(case) = chosen {
                for &n in unit.iter() {
                    if calls[n].holders.contains(&case) && owner[n].is_none() {
                        owner[n] = Some(case);
                        if let Some(k) = known.get_mut(&case) {
                            k.extend(values[&n].1.iter().cloned());
                        }
                    }
                }
            }
        }
    }
    owner
}

/// The case whose known values share the most with `vals`, counting only
/// values some candidates know and others do not. Strings decide: the case
/// strictly ahead by their weight. Without one, integers may (ids are small
/// and repeat by chance): only the one case that knows any of them.
fn best(
    candidates: &[usize],
    vals: &BTreeSet<String>,
    known: &HashMap<usize, BTreeSet<String>>,
) -> Option<usize> {
    let mut strong = vec![0u32; candidates.len()];
    let mut weak = vec![0u32; candidates.len()];
    for v in vals {
        let w = weight(v);
        if w == 0 {
            continue;
        }
        let knows: Vec<bool> = candidates
            .iter()
            .map(|&c| known.get(&c).is_some_and(|k| k.contains(v)))
            .collect();
        let some = knows.iter().filter(|k| **k).count();
        if some == 0 || some == candidates.len() {
            continue;
        }
        let score = if w > 1 { &mut strong } else { &mut weak };
        for (s, k) in score.iter_mut().zip(knows) {
            if k {
                *s += w;
            }
        }
    }
    let ahead = |score: &[u32], alone: bool| {
        let top = *score.iter().max()?;
        let mut at_top = score.iter().enumerate().filter(|(_, s)| **s == top);
        let others = score.iter().filter(|s| **s > 0).count();
        match (at_top.next(), at_top.next()) {
            (Some((i, _)), None) if top > 0 && (!alone || others == 1) => Some(candidates[i]),
            _ => None,
        }
    };
    if strong.iter().any(|s| *s > 0) {
        ahead(&strong, false)
    } else {
        ahead(&weak, true)
    }
}

/// How much a shared value says: nothing for tiny or boolean-like text, a
/// little for an integer, much for a long string.
fn weight(v: &str) -> u32 {
    let v = v.trim();
    if v.is_empty() || matches!(v, "true" | "false" | "null" | "t" | "f") {
        return 0;
    }
    if v.parse::<i64>().is_ok() {
        return 1;
    }
    match v.chars().count() {
        0..=2 => 0,
        3..=7 => 2,
        _ => 4,
    }
}

/// Holders every member of a unit shares, in order.
fn common_holders<'a>(mut all: impl Iterator<Item = &'a Vec<usize>>) -> Vec<usize> {
    let Some(first) = all.next() else {
        return Vec::new();
    };
    let mut common = first.clone();
    for h in all {
        common.retain(|c| h.contains(c));
    }
    common
}

/// Calls grouped by transaction: a Postgres group joins the one before it on
/// its connection when that one left a transaction open, and a Redis
/// command the `MULTI` before it on its connection until `EXEC` or
/// `DISCARD`. Every other call is a unit of its own. Units in recorded order.
pub(super) fn transaction_units(calls: &[Call]) -> Vec<Vec<usize>> {
    let mut units: Vec<Vec<usize>> = Vec::new();
    let mut open: HashMap<(&str, u64), usize> = HashMap::new();
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&n| (calls[n].started_at, calls[n].seq));
    for n in order {
        let (key, leaves_open) = match &calls[n].mock {
            Mock::Postgres(m) => (
                (m.dependency.as_str(), m.connection),
                m.leaves_transaction_open(),
            ),
            Mock::Mysql(m) => (
                (m.dependency.as_str(), m.connection),
                m.leaves_transaction_open(),
            ),
            Mock::Redis(m) => {
                let key = (m.dependency.as_str(), m.connection);
                let open_after =
                    m.begins_transaction() || (open.contains_key(&key) && !m.ends_transaction());
                (key, open_after)
            }
            Mock::Http(_) => {
                units.push(vec![n]);
                continue;
            }
        };
        // A command queued in a MULTI is part of it, whoever holds it.
        let queued = matches!(&calls[n].mock, Mock::Redis(_));
        let unit = match open.remove(&key) {
            Some(u) if queued || !calls[n].holders.is_empty() => {
                units[u].push(n);
                u
            }
            _ => {
                units.push(vec![n]);
                units.len() - 1
            }
        };
        if leaves_open {
            open.insert(key, unit);
        }
    }
    units
}

/// Parameter types and result columns by statement (dependency and
/// normalized SQL), learned from the recording as it streams by: a driver
/// that caches its statements binds and executes later without describing
/// again.
#[derive(Debug, Default)]
pub(super) struct Types {
    params: super::postgres::ParamTypes,
    rows: HashMap<(String, String), Vec<Field>>,
}

impl Types {
    /// The parameter types, for the parameter matchers too.
    pub(super) fn params_mut(&mut self) -> &mut super::postgres::ParamTypes {
        &mut self.params
    }

    pub(super) fn learn(&mut self, calls: &[Call]) {
        let pg = || {
            calls.iter().filter_map(|c| match &c.mock {
                Mock::Postgres(m) => Some(m),
                Mock::Http(_) | Mock::Redis(_) | Mock::Mysql(_) => None,
            })
        };
        for m in pg() {
            // One statement described per group is the common case; the
            // columns belong to the last statement the group names.
            let last_sql = m.request.iter().rev().find_map(|r| match &r.message {
                FrontendMessage::Parse { sql, .. } => Some(sql.as_str()),
                _ => r.prepared.as_deref(),
            });
            if let (Some(sql), Some(fields)) = (last_sql, row_fields(&m.response)) {
                self.rows
                    .entry((m.dependency.clone(), normalize_sql(sql)))
                    .or_insert(fields);
            }
        }
        super::postgres::learn_param_types(&mut self.params, pg());
    }

    fn of(&self, dep: &str, sql: Option<&str>) -> (Option<&Vec<u32>>, Option<&Vec<Field>>) {
        let Some(sql) = sql else {
            return (None, None);
        };
        let key = (dep.to_owned(), normalize_sql(sql));
        (self.params.get(&key), self.rows.get(&key))
    }
}

fn row_fields(response: &[BackendMessage]) -> Option<Vec<Field>> {
    response.iter().find_map(|r| match r {
        BackendMessage::RowDescription { fields } => Some(fields.clone()),
        _ => None,
    })
}

/// The values a call sent, and those with its answer's, as text.
fn call_values(c: &Call, types: &Types) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut sent, mut answered) = (BTreeSet::new(), BTreeSet::new());
    match &c.mock {
        Mock::Http(m) => {
            sent.extend(request_values(&m.request));
            if let Some(v) = m.response.body.as_ref().and_then(BodySpec::as_json) {
                json_values(v, &mut answered);
            }
        }
        Mock::Postgres(m) => pg_values(m, types, &mut sent, &mut answered),
        Mock::Redis(m) => {
            for a in m.cmd.iter().skip(1) {
                if let Ok(t) = std::str::from_utf8(a) {
                    text_values(t, &mut sent);
                }
            }
            m.replies
                .iter()
                .for_each(|f| frame_values(f, &mut answered));
        }
        Mock::Mysql(m) => {
            let text = |v: &serde_json::Value, into: &mut _| match v {
                serde_json::Value::String(t) => text_values(t, into),
                serde_json::Value::Number(n) => text_values(&n.to_string(), into),
                _ => {}
            };
            m.params.iter().flatten().for_each(|v| text(v, &mut sent));
            let results = m.answer.get("results").and_then(|r| r.as_array());
            for set in results.into_iter().flatten() {
                let rows = set.get("rows").and_then(|r| r.as_array());
                for row in rows.into_iter().flatten().filter_map(|r| r.as_array()) {
                    row.iter().for_each(|v| text(v, &mut answered));
                }
            }
        }
    }
    answered.extend(sent.iter().cloned());
    (sent, answered)
}

/// A Redis value as the values it holds: itself and the ids in a key
/// (`session:<uuid>`, `order:1042`), where they hold a digit or a sign
/// other than `-` and `_`, and the leaves of a JSON document. A word of
/// letters only is most often vocabulary: a key's namespace (`session`),
/// a hash field (`last_login`), an option (`EX`), which every case making
/// such calls shares; as evidence it would only favour the cases that
/// made such calls before.
/// A number on its own (a TTL, a count, a score) is no evidence either: the
/// same few recur in every case. In a key it names one thing (`order:1042`).
fn text_values(t: &str, out: &mut BTreeSet<String>) {
    let has_value = |p: &str| {
        p.chars()
            .any(|c| !c.is_ascii_alphabetic() && c != '-' && c != '_')
    };
    if has_value(t) && t.parse::<f64>().is_err() {
        out.insert(t.to_owned());
    }
    // A key: no spaces or quotes (a JSON document or a sentence is no
    // key), and no timestamp (whose colons separate no parts).
    let key = !t.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '{' | '['))
        && !crate::matcher::formats::is_any_timestamp(t);
    if key && t.contains(':') {
        out.extend(
            t.split(':')
                .filter(|p| has_value(p) && !epoch_like(p))
                .map(str::to_owned),
        );
    }
    if t.starts_with(['{', '[']) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
            json_values(&v, out);
        }
    }
}

/// Seconds or milliseconds since 1970 between 2001 and 2100, as a key
/// holds them (`rl:ann:1796428320`): a time every request of that minute
/// shares, not an id only one case knows.
fn epoch_like(p: &str) -> bool {
    let secs = match p.len() {
        10 => p.parse::<u64>().ok(),
        13 => p.parse::<u64>().ok().map(|ms| ms / 1000),
        _ => None,
    };
    secs.is_some_and(|s| (978_307_200..4_102_444_800).contains(&s))
}

/// The strings and integers of a Redis reply, as text.
fn frame_values(f: &crate::wire::redis::Frame, out: &mut BTreeSet<String>) {
    use crate::wire::redis::Frame;
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => {
            if let Ok(t) = std::str::from_utf8(b) {
                text_values(t, out);
            }
        }
        Frame::Array(v) | Frame::Set(v) | Frame::Push(v) => {
            v.iter().for_each(|x| frame_values(x, out));
        }
        Frame::Map(pairs) => pairs.iter().for_each(|(k, v)| {
            frame_values(k, out);
            frame_values(v, out);
        }),
        Frame::Attributed { frame, .. } => frame_values(frame, out),
        _ => {}
    }
}

fn pg_values(
    m: &PgMock,
    types: &Types,
    sent: &mut BTreeSet<String>,
    answered: &mut BTreeSet<String>,
) {
    let mut result_formats: Vec<i16> = Vec::new();
    let mut sql: Option<&str> = None;
    for r in &m.request {
        let FrontendMessage::Bind {
            param_formats,
            params,
            result_formats: rf,
            ..
        } = &r.message
        else {
            continue;
        };
        sql = r.prepared.as_deref();
        result_formats = rf.clone();
        let (oids, _) = types.of(&m.dependency, sql);
        for (i, p) in params.iter().enumerate() {
            if r.matchers.contains_key(&i) {
                continue;
            }
            let oid = oids.and_then(|t| t.get(i)).copied().unwrap_or(0);
            if let Some(p) = p {
                sent.extend(value_text(
                    p.as_slice(),
                    is_binary_param(param_formats, i),
                    oid,
                ));
            }
        }
    }
    let fields = row_fields(&m.response)
        .or_else(|| types.of(&m.dependency, sql).1.cloned())
        .unwrap_or_default();
    for r in &m.response {
        let BackendMessage::DataRow { values } = r else {
            continue;
        };
        for (i, v) in values.iter().enumerate() {
            let Some(v) = v else { continue };
            let field = fields.get(i);
            // The Bind's result formats when there was one; else the
            // description's (a simple query's rows are text).
            let binary = if result_formats.is_empty() {
                field.is_some_and(|f| f.format == 1)
            } else {
                is_binary_param(&result_formats, i)
            };
            let oid = field.map_or(0, |f| f.type_oid);
            answered.extend(value_text(v.as_slice(), binary, oid));
        }
    }
}

/// A Postgres value as the text a JSON answer would show it as: integers,
/// UUIDs and text by type, or by size where the type is not known.
pub(crate) fn value_text(b: &[u8], binary: bool, oid: u32) -> Option<String> {
    let text = || {
        std::str::from_utf8(b)
            .ok()
            .filter(|s| !s.chars().any(char::is_control))
            .map(str::to_owned)
    };
    if !binary {
        return text();
    }
    let int = |b: &[u8]| match b.len() {
        2 => Some(i16::from_be_bytes([b[0], b[1]]).to_string()),
        4 => Some(i32::from_be_bytes(b.try_into().ok()?).to_string()),
        8 => Some(i64::from_be_bytes(b.try_into().ok()?).to_string()),
        _ => None,
    };
    let uuid = |b: &[u8]| {
        uuid::Uuid::from_slice(b)
            .ok()
            .map(|u| u.hyphenated().to_string())
    };
    match oid {
        20 | 21 | 23 => int(b),
        2950 => uuid(b),
        // jsonb's binary form is a version byte, then the text.
        3802 => b
            .split_first()
            .and_then(|(_, rest)| std::str::from_utf8(rest).ok().map(str::to_owned)),
        25 | 1043 | 1042 | 19 | 114 => text(),
        0 => match b.len() {
            16 => uuid(b),
            2 | 4 | 8 => int(b),
            _ => text(),
        },
        _ => None,
    }
}

/// What a request carries itself: its path segments, query values and JSON
/// leaves, and the claims of a bearer JWT.
fn request_values(req: &RequestSpec) -> BTreeSet<String> {
    let mut out = target_values(&req.target);
    if let Some(v) = req.body.as_ref().and_then(BodySpec::as_json) {
        json_values(v, &mut out);
    }
    for (name, value) in &req.headers {
        if name.eq_ignore_ascii_case("authorization") {
            if let Some((_, token)) = value.split_once(' ') {
                jwt_claims(token.trim(), &mut out);
            }
        }
    }
    out
}

/// A target's path segments and query values, percent-decoded. A segment
/// of lower-case letters only (`api`, `price`) names a kind of thing, not
/// one thing: it is left out.
fn target_values(target: &str) -> BTreeSet<String> {
    let mut out = sent_in_target(target);
    out.retain(|v| !v.chars().all(|c| c.is_ascii_lowercase()));
    out
}

/// Every value a request states literally: its path segments and query
/// values (percent-decoded) and its JSON leaves. A value the client sent
/// as it stands is sent the same at replay (one that came from an earlier
/// answer is a `${...}` reference by now, and is not among these).
pub(crate) fn sent_values(req: &RequestSpec) -> BTreeSet<String> {
    let mut out = sent_in_target(&req.target);
    if let Some(v) = req.body.as_ref().and_then(BodySpec::as_json) {
        let mut leaves = BTreeSet::new();
        json_values(v, &mut leaves);
        out.extend(leaves);
    }
    out.retain(|v| !v.is_empty() && !crate::template::has_placeholder(v));
    out
}

fn sent_in_target(target: &str) -> BTreeSet<String> {
    let target = crate::suite::origin_form(target);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut out: BTreeSet<String> = path
        .split('/')
        .map(crate::matcher::percent_decode)
        .collect();
    out.extend(
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(_, v)| crate::matcher::percent_decode(v)),
    );
    out
}

/// A JSON value's scalar leaves as text, and the claims of JWTs among them.
fn json_values(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => m.values().for_each(|c| json_values(c, out)),
        Value::Array(a) => a.iter().for_each(|c| json_values(c, out)),
        Value::String(s) => {
            jwt_claims(s, out);
            out.insert(s.clone());
        }
        Value::Number(n) => {
            out.insert(n.to_string());
        }
        _ => {}
    }
}

/// A JWT's payload claims (`sub`, a session id, ...) as values: what the
/// app put in a token it made is what it stored or looked up.
fn jwt_claims(s: &str, out: &mut BTreeSet<String>) {
    use base64::Engine as _;
    if !crate::matcher::formats::is_jwt(s) {
        return;
    }
    let payload = s.split('.').nth(1).unwrap_or_default();
    if let Some(v) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        json_values(&v, out);
    }
}
