//! Which recorded Postgres request group answers what the app sends.
//!
//! A group is compared message by message in a form free of the driver's
//! statement and portal names: Parse by its normalized SQL and parameter
//! types; Bind, Describe, Execute and Close by the SQL of the statement they
//! name; Bind also by its parameter values and formats, where a parameter the
//! suite holds as a typed matcher (`{"$reel": "uuid"}`) accepts any value of
//! that kind, and nothing else is loosened.
//!
//! Candidates: the current case's groups in recorded order (each answers
//! once), then the shared pool and the startup set (which answer again).
//!
//! A connection pool makes the rest move between runs: which connection a
//! case gets, and so whether the statement is already prepared there. So
//! preparing is matched apart from executing. A group's Parse, Describe of a
//! statement and Close messages are answered from any recording of the same
//! message in the suite (a statement's description depends on its SQL, not
//! on the case), and its Bind, Describe of a portal, Execute and Sync are
//! matched to the case's recordings by themselves: a group recorded as
//! Bind/Execute/Sync answers a replayed Parse/Describe/Bind/Execute/Sync of
//! the same statement, and the other way round, the answer re-assembled
//! message by message. Work a driver or pool does when it likes (resetting a
//! connection, setting session parameters, reading the system catalogs,
//! pings) is answered by any recording of it, in any case, as often as
//! asked; so is work the app does while no case runs (connecting and
//! migrating at start-up) from any case's unused recordings.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;

use reel_core::matcher::formats::accepts_param;
use reel_core::suite::postgres::{is_session_work, normalize_sql};
use reel_core::suite::{PgMock, PgRequest};
use reel_core::wire::postgres::{
    is_binary_param, BackendMessage, FrontendMessage, Target, TxStatus,
};

use super::book::{CaseMockLog, CaseRun};
use crate::model::{MissValue, MockMiss};

/// A Bind parameter: a recorded or sent value (`None` is NULL), or the
/// suite's matcher kind in its place.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Value(Option<Vec<u8>>),
    Matcher(String),
}

/// A request message with names replaced by what they stand for.
#[derive(Debug, Clone, PartialEq)]
pub enum Canon {
    Query(String),
    Parse {
        sql: String,
        types: Vec<u32>,
    },
    Bind {
        sql: Option<String>,
        formats: Vec<i16>,
        params: Vec<Param>,
        result_formats: Vec<i16>,
    },
    Describe(Target, Option<String>),
    Execute(Option<String>, i32),
    Close(Target, Option<String>),
    Sync,
    FunctionCall(Vec<u8>),
}

impl Canon {
    /// `None` for messages that do not change what the server answers
    /// (Flush) or that follow the answer (COPY data).
    pub fn of(m: &FrontendMessage, prepared: Option<&str>) -> Option<Canon> {
        let sql = || prepared.map(normalize_sql);
        Some(match m {
            FrontendMessage::Query { sql } => Canon::Query(normalize_sql(sql)),
            FrontendMessage::Parse {
                sql, param_types, ..
            } => Canon::Parse {
                sql: normalize_sql(sql),
                types: param_types.clone(),
            },
            FrontendMessage::Bind {
                param_formats,
                params,
                result_formats,
                ..
            } => Canon::Bind {
                sql: sql(),
                formats: param_formats.clone(),
                params: params
                    .iter()
                    .map(|p| Param::Value(p.as_ref().map(|b| b.to_vec())))
                    .collect(),
                result_formats: result_formats.clone(),
            },
            FrontendMessage::Describe { kind, .. } => Canon::Describe(*kind, sql()),
            FrontendMessage::Execute { max_rows, .. } => Canon::Execute(sql(), *max_rows),
            FrontendMessage::Close { kind, .. } => Canon::Close(*kind, sql()),
            FrontendMessage::Sync => Canon::Sync,
            FrontendMessage::FunctionCall { body } => Canon::FunctionCall(body.to_vec()),
            _ => return None,
        })
    }

    /// A recorded message, its matchers in place of their parameters.
    pub fn of_recorded(r: &PgRequest) -> Option<Canon> {
        let mut c = Canon::of(&r.message, r.prepared.as_deref())?;
        if let Canon::Bind { params, .. } = &mut c {
            for (i, kind) in &r.matchers {
                if let Some(p) = params.get_mut(*i) {
                    *p = Param::Matcher(kind.clone());
                }
            }
        }
        Some(c)
    }

    /// One readable line, for miss diffs.
    pub fn text(&self) -> String {
        let sql = |s: &Option<String>| s.clone().unwrap_or_else(|| "(unknown statement)".into());
        match self {
            Canon::Query(sql) => format!("Query: {sql}"),
            Canon::Parse { sql, types } if types.is_empty() => format!("Parse: {sql}"),
            Canon::Parse { sql, types } => format!("Parse: {sql}  types {types:?}"),
            Canon::Bind { sql: s, params, .. } => {
                let params: Vec<String> = params.iter().map(param_text).collect();
                format!("Bind: {}  params [{}]", sql(s), params.join(", "))
            }
            Canon::Describe(k, s) => format!("Describe {}: {}", target(*k), sql(s)),
            Canon::Execute(s, 0) => format!("Execute: {}", sql(s)),
            Canon::Execute(s, n) => format!("Execute: {}  max rows {n}", sql(s)),
            Canon::Close(k, s) => format!("Close {}: {}", target(*k), sql(s)),
            Canon::Sync => "Sync".into(),
            Canon::FunctionCall(b) => format!("FunctionCall 0x{}", hex(b)),
        }
    }

    /// Preparing or closing a statement: answered the same whichever case,
    /// connection or moment it comes in.
    fn prepares(&self) -> bool {
        matches!(
            self,
            Canon::Parse { .. } | Canon::Describe(Target::Statement, _) | Canon::Close(..)
        )
    }

    /// The SQL this message runs, if it runs any.
    fn runs(&self) -> Option<&str> {
        match self {
            Canon::Query(sql) => Some(sql),
            Canon::Bind { sql, .. } | Canon::Execute(sql, _) | Canon::Describe(_, sql) => {
                sql.as_deref()
            }
            _ => None,
        }
    }
}

fn param_text(p: &Param) -> String {
    match p {
        Param::Matcher(kind) => format!("<{kind}>"),
        Param::Value(None) => "NULL".into(),
        Param::Value(Some(b)) => match std::str::from_utf8(b) {
            Ok(t) if !t.chars().any(char::is_control) => format!("'{t}'"),
            _ => format!("0x{}", hex(b)),
        },
    }
}

fn target(k: Target) -> &'static str {
    match k {
        Target::Statement => "statement",
        Target::Portal => "portal",
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A recorded group's request in canonical form.
pub fn canon_of(request: &[PgRequest]) -> Vec<Canon> {
    request[..before_copy(request)]
        .iter()
        .filter_map(Canon::of_recorded)
        .collect()
}

/// What the app sends once COPY data has begun (the Sync after CopyDone) is
/// read with the data, not matched: the index of the first COPY message.
fn before_copy(request: &[PgRequest]) -> usize {
    request
        .iter()
        .position(|r| {
            matches!(
                r.message,
                FrontendMessage::CopyData { .. }
                    | FrontendMessage::CopyDone
                    | FrontendMessage::CopyFail { .. }
            )
        })
        .unwrap_or(request.len())
}

pub fn text_of(group: &[Canon]) -> String {
    let mut s = String::new();
    for c in group {
        s.push_str(&c.text());
        s.push('\n');
    }
    s
}

fn same(recorded: &Canon, actual: &Canon) -> bool {
    match differing_params(recorded, actual) {
        Some(mut differing) => differing.next().is_none(),
        None => recorded == actual,
    }
}

/// For two Binds alike but for their parameter values (statement, formats,
/// count), each parameter `actual` sends that `recorded` does not accept, as
/// (index, recorded, actual). `None` for any other pair of messages.
fn differing_params<'a>(
    recorded: &'a Canon,
    actual: &'a Canon,
) -> Option<impl Iterator<Item = (usize, &'a Param, &'a Param)>> {
    match (recorded, actual) {
        (
            Canon::Bind {
                sql: s1,
                formats: f1,
                params: p1,
                result_formats: r1,
            },
            Canon::Bind {
                sql: s2,
                formats: f2,
                params: p2,
                result_formats: r2,
            },
        ) if s1 == s2 && f1 == f2 && r1 == r2 && p1.len() == p2.len() => Some(
            p1.iter()
                .zip(p2)
                .enumerate()
                .filter(|(i, (x, y))| !same_param(x, y, is_binary_param(f2, *i)))
                .map(|(i, (x, y))| (i, x, y)),
        ),
        _ => None,
    }
}

/// Equal values, or a value the recorded matcher accepts.
fn same_param(recorded: &Param, actual: &Param, binary: bool) -> bool {
    match (recorded, actual) {
        (Param::Matcher(kind), Param::Value(v)) => accepts_param(kind, v.as_deref(), binary),
        (r, a) => r == a,
    }
}

fn all_same(recorded: &[Canon], actual: &[Canon], whole: bool) -> bool {
    let len_ok = if whole {
        recorded.len() == actual.len()
    } else {
        recorded.len() >= actual.len()
    };
    len_ok && recorded.iter().zip(actual).all(|(r, a)| same(r, a))
}

/// A group whose running part (if any) is all session work.
fn is_housekeeping(group: &[Canon]) -> bool {
    group.iter().all(|c| match c {
        Canon::Sync => true,
        c if c.prepares() => true,
        c => c.runs().is_some_and(is_session_work),
    })
}

/// A recorded answer picked for the app.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    /// The recorded request, for COPY data to be compared with.
    pub request: Vec<PgRequest>,
    /// The answer to what the app sent, in order.
    pub response: Vec<BackendMessage>,
    /// Where the answer to each message the app sent ends in `response`.
    pub ends: Vec<usize>,
}

impl Answer {
    /// The answer messages from the one to the `sent`-th message the app
    /// sent on (those before it were sent at a Flush).
    pub fn after(&self, sent: usize) -> &[BackendMessage] {
        let from = match sent {
            0 => 0,
            n => self.ends.get(n - 1).copied().unwrap_or(self.response.len()),
        };
        &self.response[from.min(self.response.len())..]
    }

    /// The answer messages to the app's messages `from..to`.
    pub fn between(&self, from: usize, to: usize) -> &[BackendMessage] {
        let start = match from {
            0 => 0,
            n => self.ends[n - 1],
        };
        &self.response[start..self.ends[to - 1].max(start)]
    }
}

struct Loaded {
    mock: PgMock,
    canon: Vec<Canon>,
    /// For each message of `canon`, its index in `mock.request`.
    at: Vec<usize>,
    /// For each message of `canon`, its answer in `mock.response`.
    ranges: Vec<Range<usize>>,
    housekeeping: bool,
}

impl Loaded {
    fn new(mock: PgMock) -> Self {
        let canon = canon_of(&mock.request);
        // The answer range of each canonical message: messages that are not
        // (Flush, COPY) are left out, as in `canon`.
        let all = answer_ranges(&mock.request, &mock.response);
        let cut = before_copy(&mock.request);
        let (at, ranges): (Vec<usize>, Vec<Range<usize>>) = mock.request[..cut]
            .iter()
            .zip(&all)
            .enumerate()
            .filter(|(_, (r, _))| Canon::of(&r.message, None).is_some())
            .map(|(i, (_, range))| (i, range.clone()))
            .unzip();
        Loaded {
            housekeeping: is_housekeeping(&canon),
            canon,
            at,
            ranges,
            mock,
        }
    }

    /// The whole recorded answer, for a group sent exactly as recorded.
    fn answer(&self) -> Answer {
        let mut ends: Vec<usize> = self.ranges.iter().map(|r| r.end).collect();
        if let Some(last) = ends.last_mut() {
            *last = self.mock.response.len();
        }
        Answer {
            id: self.mock.id.clone(),
            request: self.mock.request.clone(),
            response: self.mock.response.clone(),
            ends,
        }
    }

    /// The running part: the messages that do not prepare, with their answers.
    fn running(&self) -> impl Iterator<Item = (&Canon, &Range<usize>)> {
        self.canon
            .iter()
            .zip(&self.ranges)
            .filter(|(c, _)| !c.prepares())
    }
}

/// The running messages of a group the app sent.
fn running(actual: &[Canon]) -> Vec<Canon> {
    actual.iter().filter(|c| !c.prepares()).cloned().collect()
}

struct CaseGroups {
    groups: Vec<Loaded>,
    used: Vec<bool>,
}

struct State {
    cases: Vec<CaseGroups>,
    /// Which pool groups have answered.
    pool_used: Vec<bool>,
    run: CaseRun,
}

/// A recorded answer to a preparing message, and where it was recorded.
struct Prepared {
    id: String,
    canon: Canon,
    answer: Vec<BackendMessage>,
}

/// Where a recording is: case `i`'s group `n`, or the pool.
#[derive(Debug, Clone, Copy)]
enum At {
    Case(usize, usize),
    Pool(usize),
}

pub struct PgBook {
    state: Mutex<State>,
    pool: Vec<Loaded>,
    /// Answers to preparing messages (by dependency and message text) from
    /// wherever they were recorded, with the recording's id.
    prepared: HashMap<(String, String), Prepared>,
}

impl PgBook {
    /// `cases[i]` are case `i`'s groups in recorded order; `pool` the
    /// startup and shared groups, in recorded order.
    pub fn new(cases: Vec<Vec<PgMock>>, pool: Vec<PgMock>) -> Self {
        let cases: Vec<CaseGroups> = cases
            .into_iter()
            .map(|g| {
                let groups: Vec<Loaded> = g.into_iter().filter(answered).map(Loaded::new).collect();
                CaseGroups {
                    used: vec![false; groups.len()],
                    groups,
                }
            })
            .collect();
        let pool: Vec<Loaded> = pool.into_iter().filter(answered).map(Loaded::new).collect();
        let mut prepared: HashMap<(String, String), Prepared> = HashMap::new();
        let loaded = cases.iter().flat_map(|c| &c.groups).chain(&pool);
        for g in loaded {
            for (c, range) in g.canon.iter().zip(&g.ranges) {
                if !c.prepares() || matches!(c, Canon::Close(..)) {
                    continue;
                }
                let answer = g.mock.response[range.clone()].to_vec();
                let failed = |a: &[BackendMessage]| {
                    a.iter()
                        .any(|m| matches!(m, BackendMessage::ErrorResponse { .. }))
                };
                // An answer that is there at all; a success over an error.
                let key = (g.mock.dependency.clone(), c.text());
                match prepared.get(&key) {
                    Some(had) if !failed(&had.answer) || failed(&answer) => {}
                    _ if answer.is_empty() => {}
                    _ => {
                        let p = Prepared {
                            id: g.mock.id.clone(),
                            canon: c.clone(),
                            answer,
                        };
                        prepared.insert(key, p);
                    }
                }
            }
        }
        PgBook {
            state: Mutex::new(State {
                pool_used: vec![false; pool.len()],
                cases,
                run: CaseRun::default(),
            }),
            pool,
            prepared,
        }
    }

    pub fn begin_case(&self, i: usize) {
        let mut s = self.state.lock().expect("pg book lock");
        s.run.begin(i);
    }

    pub fn end_case(&self) -> CaseMockLog {
        let mut s = self.state.lock().expect("pg book lock");
        let (current, mut log) = s.run.end();
        if let Some(i) = current {
            let c = &s.cases[i];
            // Housekeeping happens when the driver likes: its recordings
            // are not owed by the case they were recorded in.
            log.unused = c
                .groups
                .iter()
                .zip(&c.used)
                .filter(|(g, used)| !**used && !g.housekeeping)
                .map(|(g, _)| g.mock.id.clone())
                .collect();
        }
        log
    }

    /// A miss found after the answer was chosen (COPY data that differs).
    pub fn note_miss(&self, miss: MockMiss) {
        let mut s = self.state.lock().expect("pg book lock");
        s.run.miss(miss);
    }

    /// The answer to the messages of a group the app sent up to a Flush:
    /// looked up without using a recording, since the rest of the group
    /// decides which one answers.
    pub fn peek(&self, dependency: &str, actual: &[Canon], status: TxStatus) -> Option<Answer> {
        let s = self.state.lock().expect("pg book lock");
        self.find(&s, dependency, actual, false, status)
            .map(|(_, answer)| answer)
    }

    /// The recorded answer to a whole group, or the miss explained.
    /// `status` is the connection's transaction status, for a Sync whose
    /// answer is not taken from a recording.
    pub fn answer(
        &self,
        dependency: &str,
        actual: &[Canon],
        status: TxStatus,
    ) -> Result<Answer, MockMiss> {
        let mut s = self.state.lock().expect("pg book lock");
        if let Some((at, answer)) = self.find(&s, dependency, actual, true, status) {
            match at {
                Some(At::Case(i, n)) => s.cases[i].used[n] = true,
                Some(At::Pool(n)) => s.pool_used[n] = true,
                None => {}
            }
            s.run.log.used.push(answer.id.clone());
            return Ok(answer);
        }
        let miss = match self.unprepared(dependency, actual) {
            Some(c) => self.nearest_prepared(dependency, c),
            None => {
                let candidates = s
                    .run
                    .current
                    .map(|i| s.cases[i].groups.iter().collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .chain(&self.pool)
                    .filter(|g| g.mock.dependency == dependency);
                nearest(dependency, actual, candidates)
            }
        };
        s.run.miss(miss.clone());
        Err(miss)
    }

    /// The first message of `actual` that prepares a statement no recording
    /// prepared: what a miss is about when there is one.
    fn unprepared<'a>(&self, dependency: &str, actual: &'a [Canon]) -> Option<&'a Canon> {
        actual.iter().find(|c| {
            c.prepares()
                && !matches!(c, Canon::Close(..))
                && !self
                    .prepared
                    .contains_key(&(dependency.to_owned(), c.text()))
        })
    }

    /// A miss on preparing `c`: the nearest recorded message of its kind.
    fn nearest_prepared(&self, dependency: &str, c: &Canon) -> MockMiss {
        let text = c.text();
        let kind = |c: &Canon| std::mem::discriminant(c);
        let best = self
            .prepared
            .iter()
            .filter(|((dep, _), p)| dep == dependency && kind(&p.canon) == kind(c))
            .map(|((_, t), p)| {
                let ratio = similar::TextDiff::from_chars(t.as_str(), text.as_str()).ratio();
                (ratio, t, p)
            })
            // Equal ratios: the first in text order, so misses read the same each run.
            .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)));
        MockMiss {
            dependency: dependency.to_owned(),
            call: super::pg_diff::short(&text),
            nearest: best.map(|(_, _, p)| {
                let sql = match &p.canon {
                    Canon::Parse { sql, .. } => sql.as_str(),
                    c => c.runs().unwrap_or_default(),
                };
                format!("{} ({})", p.id, super::pg_diff::short(sql))
            }),
            diff: best.map_or_else(String::new, |(_, _, p)| {
                super::pg_diff::miss_diff(std::slice::from_ref(&p.canon), std::slice::from_ref(c))
            }),
            values: Vec::new(),
        }
    }

    /// The recordings that may answer, in the order they are tried: the
    /// case's unused groups, the pool, and then, for housekeeping or while
    /// no case runs, every case's groups.
    /// `housekeeping` is asked only once the case and the pool had no answer
    /// (most calls are answered there).
    fn candidates<'a>(
        &'a self,
        s: &'a State,
        dependency: &'a str,
        housekeeping: &'a dyn Fn() -> bool,
    ) -> impl Iterator<Item = (At, &'a Loaded)> + 'a {
        let current = s.run.current;
        let own = current.into_iter().flat_map(move |i| {
            let c = &s.cases[i];
            c.groups
                .iter()
                .enumerate()
                .filter(|(n, _)| !c.used[*n])
                .map(move |(n, g)| (At::Case(i, n), g))
        });
        // The same call recorded several times in the pool (while cases
        // overlapped) was answered as the data stood then: the recordings
        // answer in recorded order, and once all have, the latest again.
        let unused = self
            .pool
            .iter()
            .enumerate()
            .filter(|(n, _)| !s.pool_used[*n]);
        let used = self
            .pool
            .iter()
            .enumerate()
            .rev()
            .filter(|(n, _)| s.pool_used[*n]);
        let pool = unused.chain(used).map(|(n, g)| (At::Pool(n), g));
        let anywhere = std::iter::once(())
            .filter_map(move |()| {
                let again = housekeeping();
                (again || current.is_none()).then_some(again)
            })
            .flat_map(move |again| {
                s.cases.iter().enumerate().flat_map(move |(i, c)| {
                    c.groups
                        .iter()
                        .enumerate()
                        // Housekeeping answers again; start-up work takes
                        // recordings no case has used.
                        .filter(move |(n, _)| again || !c.used[*n])
                        .map(move |(n, g)| (At::Case(i, n), g))
                })
            });
        own.chain(pool)
            .chain(anywhere)
            .filter(move |(_, g)| g.mock.dependency == dependency)
    }

    /// Finds the answer to `actual` (`whole`: a complete group; else the part
    /// up to a Flush): a recording of exactly these messages, or one whose
    /// running part matches, the preparing messages answered from wherever
    /// they were recorded.
    fn find(
        &self,
        s: &State,
        dependency: &str,
        actual: &[Canon],
        whole: bool,
        status: TxStatus,
    ) -> Option<(Option<At>, Answer)> {
        let housekeeping = || is_housekeeping(actual);
        if let Some((at, g)) = self
            .candidates(s, dependency, &housekeeping)
            .find(|(_, g)| all_same(&g.canon, actual, whole))
        {
            let mut answer = g.answer();
            answer.ends.truncate(actual.len());
            if !whole {
                // A prefix: the answer so far.
                let end = answer.ends.last().copied().unwrap_or(0);
                answer.response.truncate(end);
            }
            return Some((Some(at), answer));
        }
        // Preparing messages, from wherever they were recorded.
        let mut prepared: Vec<Option<&Prepared>> = Vec::new();
        for c in actual.iter().filter(|c| c.prepares()) {
            match c {
                Canon::Close(..) => prepared.push(None),
                c => prepared.push(Some(self.prepared.get(&(dependency.to_owned(), c.text()))?)),
            }
        }
        let run = running(actual);
        let housekeeping = || is_housekeeping(&run);
        // Nothing runs: the group only prepares (and syncs).
        let found = if run.iter().all(|c| *c == Canon::Sync) {
            None
        } else {
            let hit = self
                .candidates(s, dependency, &housekeeping)
                .find(|(_, g)| {
                    let recorded: Vec<Canon> = g.running().map(|(c, _)| c.clone()).collect();
                    all_same(&recorded, &run, whole)
                })?;
            Some(hit)
        };
        // Re-assembled message by message.
        let mut answer = Answer {
            id: String::new(),
            request: Vec::new(),
            response: Vec::new(),
            ends: Vec::new(),
        };
        let recorded: Vec<&Range<usize>> = found
            .as_ref()
            .map(|(_, g)| g.running().map(|(_, r)| r).collect())
            .unwrap_or_default();
        let mut prepared = prepared.into_iter();
        let mut k = 0;
        let mut failed = false;
        let mut ids: Vec<String> = Vec::new();
        for c in actual {
            if c.prepares() {
                let part = prepared.next().flatten();
                if !failed {
                    match part {
                        Some(p) => {
                            if !ids.contains(&p.id) {
                                ids.push(p.id.clone());
                            }
                            failed = p
                                .answer
                                .iter()
                                .any(|m| matches!(m, BackendMessage::ErrorResponse { .. }));
                            answer.response.extend(p.answer.iter().cloned());
                        }
                        // Postgres closes a name it does not know all the same.
                        None => answer.response.push(BackendMessage::CloseComplete),
                    }
                }
            } else {
                match (&found, c) {
                    (Some((_, g)), _) if !failed => {
                        answer
                            .response
                            .extend(g.mock.response[recorded[k].clone()].iter().cloned());
                    }
                    (_, Canon::Sync) => {
                        // With nothing run, or after an error in preparing,
                        // the transaction state is the connection's.
                        answer.response.push(BackendMessage::ReadyForQuery {
                            status: match status {
                                TxStatus::Idle => TxStatus::Idle,
                                _ if failed => TxStatus::Failed,
                                other => other,
                            },
                        });
                        failed = false;
                    }
                    _ => {}
                }
                k += 1;
            }
            answer.ends.push(answer.response.len());
        }
        if let Some((_, g)) = &found {
            ids.insert(0, g.mock.id.clone());
            answer.request = g.mock.request.clone();
        }
        answer.id = ids.join(", ");
        Some((found.map(|(at, _)| at), answer))
    }
}
/// A recording whose answer never reached ReadyForQuery would leave the
/// driver waiting: it answers nothing. Nor does one whose answer cannot go on
/// the wire (suite files are checked when loaded, but a secret filled in at
/// replay could still carry a NUL byte): said once, instead of a panic later.
fn answered(m: &PgMock) -> bool {
    if let Some((i, why)) = m
        .response
        .iter()
        .enumerate()
        .find_map(|(i, r)| r.check().err().map(|e| (i, e)))
    {
        tracing::warn!(
            mock = %m.id,
            "recorded answer message {} ({}) cannot be sent: {why}; this recording answers nothing",
            i + 1,
            m.response[i].name()
        );
        return false;
    }
    matches!(
        m.response.last(),
        Some(BackendMessage::ReadyForQuery { .. })
    )
}

/// A miss on running something: the recording whose running part is
/// nearest, compared by running part (what prepared it matched already).
fn nearest<'a>(
    dependency: &str,
    actual: &[Canon],
    candidates: impl Iterator<Item = &'a Loaded>,
) -> MockMiss {
    let run = running(actual);
    let runs_anything = run.iter().any(|c| *c != Canon::Sync);
    let part = |g: &Loaded| -> Vec<Canon> {
        if runs_anything {
            g.running().map(|(c, _)| c.clone()).collect()
        } else {
            g.canon.clone()
        }
    };
    let actual_part = if runs_anything { run } else { actual.to_vec() };
    let actual_text = text_of(&actual_part);
    let best = candidates
        .map(|g| {
            let recorded = part(g);
            let text = text_of(&recorded);
            let ratio = similar::TextDiff::from_chars(text.as_str(), actual_text.as_str()).ratio();
            (ratio, g, recorded)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let call = actual_part
        .iter()
        .map(Canon::text)
        .find(|t| t != "Sync")
        .map(|t| super::pg_diff::short(&t))
        .unwrap_or_else(|| "Sync".into());
    let mut miss = MockMiss {
        dependency: dependency.to_owned(),
        call,
        nearest: None,
        diff: String::new(),
        values: Vec::new(),
    };
    if let Some((_, g, recorded)) = best {
        miss.nearest = Some(format!(
            "{} ({})",
            g.mock.id,
            super::pg_diff::short(&g.mock.sql().map(normalize_sql).unwrap_or_default())
        ));
        miss.diff = super::pg_diff::miss_diff(&recorded, &actual_part);
        miss.values = differing_values(g, &actual_part, runs_anything);
    }
    miss
}

/// The Bind parameters in which `actual` differs from recording `g`, when
/// nothing else differs (the same messages, statements and formats).
fn differing_values(g: &Loaded, actual: &[Canon], running_only: bool) -> Vec<MissValue> {
    let recorded: Vec<(usize, &Canon)> = g
        .canon
        .iter()
        .zip(&g.at)
        .filter(|(c, _)| !running_only || !c.prepares())
        .map(|(c, at)| (*at, c))
        .collect();
    if recorded.len() != actual.len() {
        return Vec::new();
    }
    let mut values = Vec::new();
    for ((at, r), a) in recorded.into_iter().zip(actual) {
        match differing_params(r, a) {
            Some(differing) => {
                values.extend(differing.map(|(i, x, y)| MissValue {
                    mock: g.mock.id.clone(),
                    path: format!("request[{at}].params[{i}]"),
                    recorded: raw_text(x),
                    actual: raw_text(y),
                }));
            }
            None if r == a => {}
            None => return Vec::new(),
        }
    }
    values
}

/// A parameter as text for [`MissValue`]: UTF-8 as it is, other bytes as
/// `0x` and hex digits, a matcher as its JSON.
fn raw_text(p: &Param) -> Option<String> {
    match p {
        Param::Matcher(kind) => Some(format!("{{\"$reel\":\"{kind}\"}}")),
        Param::Value(None) => None,
        Param::Value(Some(b)) => Some(match std::str::from_utf8(b) {
            Ok(t) if !t.chars().any(char::is_control) => t.to_owned(),
            _ => format!("0x{}", hex(b)),
        }),
    }
}

/// For each request message, the response messages that answer it. Notices,
/// parameter changes and notifications can come at any point and go with the
/// message being answered. After an error the server skips to the Sync.
pub fn answer_ranges(requests: &[PgRequest], responses: &[BackendMessage]) -> Vec<Range<usize>> {
    use BackendMessage as B;
    let asynchronous = |m: &B| {
        matches!(
            m,
            B::NoticeResponse { .. } | B::ParameterStatus { .. } | B::NotificationResponse { .. }
        )
    };
    let mut pos = 0;
    let mut failed = false;
    let mut out = Vec::with_capacity(requests.len());
    // Takes answers until `last` says the message is answered, or an error.
    let take = |pos: &mut usize, failed: &mut bool, last: &dyn Fn(&B) -> bool| {
        while *pos < responses.len() {
            let m = &responses[*pos];
            *pos += 1;
            if asynchronous(m) {
                continue;
            }
            if matches!(m, B::ErrorResponse { .. }) {
                *failed = true;
                return;
            }
            if last(m) {
                return;
            }
        }
    };
    for r in requests {
        let start = pos;
        match &r.message {
            FrontendMessage::Sync
            | FrontendMessage::Query { .. }
            | FrontendMessage::FunctionCall { .. } => {
                take(&mut pos, &mut failed, &|m| {
                    matches!(m, B::ReadyForQuery { .. })
                });
                // An error inside a Query is followed by its ReadyForQuery.
                if failed {
                    take(&mut pos, &mut false, &|m| {
                        matches!(m, B::ReadyForQuery { .. })
                    });
                }
                failed = false;
            }
            _ if failed => {}
            FrontendMessage::Parse { .. }
            | FrontendMessage::Bind { .. }
            | FrontendMessage::Close { .. } => take(&mut pos, &mut failed, &|_| true),
            FrontendMessage::Describe {
                kind: Target::Statement,
                ..
            } => take(&mut pos, &mut failed, &|m| {
                matches!(m, B::RowDescription { .. } | B::NoData)
            }),
            FrontendMessage::Describe { .. } => take(&mut pos, &mut failed, &|_| true),
            FrontendMessage::Execute { .. } => take(&mut pos, &mut failed, &|m| {
                matches!(
                    m,
                    B::CommandComplete { .. }
                        | B::EmptyQueryResponse
                        | B::PortalSuspended
                        | B::CopyInResponse { .. }
                )
            }),
            _ => {}
        }
        out.push(start..pos);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(m: FrontendMessage, prepared: Option<&str>) -> PgRequest {
        PgRequest {
            message: m,
            prepared: prepared.map(str::to_owned),
            matchers: Default::default(),
        }
    }

    fn mock(id: &str, request: Vec<PgRequest>, response: Vec<BackendMessage>) -> PgMock {
        PgMock {
            id: id.into(),
            seq: 1,
            dependency: "db".into(),
            protocol: "postgres".into(),
            connection: 1,
            request,
            response,
        }
    }

    fn bind(statement: &str, sql: &str, param: &str) -> PgRequest {
        req(
            FrontendMessage::Bind {
                portal: String::new(),
                statement: statement.into(),
                param_formats: vec![0],
                params: vec![Some(param.as_bytes().to_vec().into())],
                result_formats: vec![],
            },
            Some(sql),
        )
    }

    fn ready() -> BackendMessage {
        BackendMessage::ReadyForQuery {
            status: TxStatus::Idle,
        }
    }

    #[test]
    fn statement_names_do_not_matter_but_sql_and_values_do() {
        let sql = "select * from books where id = $1";
        let recorded = mock(
            "0001#1",
            vec![bind("s0", sql, "42"), req(FrontendMessage::Sync, None)],
            vec![BackendMessage::BindComplete, ready()],
        );
        let book = PgBook::new(vec![vec![recorded]], vec![]);
        book.begin_case(0);
        let other_name = canon_of(&[
            bind("sqlx_s_7", sql, "42"),
            req(FrontendMessage::Sync, None),
        ]);
        let other_value = canon_of(&[bind("s0", sql, "43"), req(FrontendMessage::Sync, None)]);
        let miss = book.answer("db", &other_value, TxStatus::Idle).unwrap_err();
        assert_eq!(
            miss.nearest.as_deref(),
            Some("0001#1 (select * from books where id = $1)")
        );
        assert_eq!(
            miss.diff,
            "--- expected\n+++ actual\n Bind: select * from books where id = $1\n-  $1 = '42'\n+  $1 = '43'\n"
        );
        assert_eq!(
            book.answer("db", &other_name, TxStatus::Idle).unwrap().id,
            "0001#1"
        );
        // Each of the case's groups answers once.
        assert!(book.answer("db", &other_name, TxStatus::Idle).is_err());
        let log = book.end_case();
        assert_eq!(log.used, ["0001#1"]);
        assert_eq!(log.misses.len(), 2);
    }

    #[test]
    fn closing_and_start_up_work_may_come_from_another_case() {
        let sql = "select 1";
        let close = || {
            vec![
                req(
                    FrontendMessage::Close {
                        kind: Target::Statement,
                        name: "s1".into(),
                    },
                    Some(sql),
                ),
                req(FrontendMessage::Sync, None),
            ]
        };
        let migrate = || {
            vec![req(
                FrontendMessage::Query {
                    sql: "create table t ()".into(),
                },
                None,
            )]
        };
        let book = PgBook::new(
            vec![
                vec![mock("0001#1", migrate(), vec![ready()])],
                vec![mock(
                    "0002#1",
                    close(),
                    vec![BackendMessage::CloseComplete, ready()],
                )],
            ],
            vec![],
        );
        // Start-up work before any case runs takes case 1's recording.
        assert_eq!(
            book.answer("db", &canon_of(&migrate()), TxStatus::Idle)
                .unwrap()
                .id,
            "0001#1"
        );
        book.begin_case(0);
        // A close recorded in case 2 answers in case 1, and again later.
        assert_eq!(
            book.answer("db", &canon_of(&close()), TxStatus::Idle)
                .unwrap()
                .id,
            "0002#1"
        );
        assert_eq!(
            book.answer("db", &canon_of(&close()), TxStatus::Idle)
                .unwrap()
                .id,
            "0002#1"
        );
        // Inside a case, another case's data work is not taken.
        assert!(book
            .answer("db", &canon_of(&migrate()), TxStatus::Idle)
            .is_err());
        let log = book.end_case();
        assert!(log.unused.is_empty(), "{:?}", log.unused);
    }

    #[test]
    fn an_answer_that_cannot_go_on_the_wire_answers_nothing() {
        let q = || {
            vec![req(
                FrontendMessage::Query {
                    sql: "select 1".into(),
                },
                None,
            )]
        };
        let bad = mock(
            "0001#1",
            q(),
            vec![
                BackendMessage::CommandComplete {
                    tag: "SELECT\u{0}1".into(),
                },
                ready(),
            ],
        );
        let book = PgBook::new(vec![vec![bad]], vec![]);
        book.begin_case(0);
        assert!(book.answer("db", &canon_of(&q()), TxStatus::Idle).is_err());
    }

    #[test]
    fn made_up_values_match_only_through_a_written_matcher() {
        let u1 = "6f1c2a1e-8a59-4b4e-9a53-0d0c1c8b8a11";
        let u2 = "0b5f0b38-07c4-4f0b-8a53-5f7f3e1a9c22";
        let sent = |v: &str| Canon::of(&bind("", "insert", v).message, Some("insert")).unwrap();
        let recorded = |v: &str, kind: Option<&str>| {
            let mut r = bind("", "insert", v);
            if let Some(k) = kind {
                r.set_matcher(0, k);
            }
            Canon::of_recorded(&r).unwrap()
        };
        // No silent loosening: a recorded UUID is that UUID.
        assert!(!same(&recorded(u1, None), &sent(u2)));
        assert!(same(&recorded(u1, Some("uuid")), &sent(u2)));
        assert!(!same(&recorded(u1, Some("uuid")), &sent("not-a-uuid")));
        let h1 = "$2b$04$l74TG0M.K3A7gtwpeEU4peAEwXSBUuMJV3a61y41vNU1DHOi1RG5u";
        let h2 = "$2b$04$qgT03yhuZzRoClIJQCCC8Oe48nOacch4kDUkjKNL7tX0KkAOJOX.i";
        assert!(same(&recorded(h1, Some("password_hash")), &sent(h2)));
        assert!(!same(
            &recorded(h1, Some("password_hash")),
            &sent("hunter2")
        ));
        assert_eq!(
            recorded(h1, Some("password_hash")).text(),
            "Bind: insert  params [<password_hash>]"
        );
    }

    #[test]
    fn answers_split_by_the_message_they_answer() {
        use BackendMessage as B;
        let requests = vec![
            req(
                FrontendMessage::Parse {
                    statement: "s1".into(),
                    sql: "select 1".into(),
                    param_types: vec![],
                },
                None,
            ),
            req(
                FrontendMessage::Describe {
                    kind: Target::Statement,
                    name: "s1".into(),
                },
                None,
            ),
            req(FrontendMessage::Flush, None),
            bind("s1", "select 1", "x"),
            req(
                FrontendMessage::Execute {
                    portal: String::new(),
                    max_rows: 0,
                },
                None,
            ),
            req(FrontendMessage::Sync, None),
        ];
        let responses = vec![
            B::ParseComplete,
            B::ParameterDescription { types: vec![] },
            B::NoData,
            B::BindComplete,
            B::DataRow { values: vec![None] },
            B::CommandComplete {
                tag: "SELECT 1".into(),
            },
            ready(),
        ];
        assert_eq!(
            answer_ranges(&requests, &responses),
            vec![0..1, 1..3, 3..3, 3..4, 4..6, 6..7]
        );
        let failed = vec![
            B::ParseComplete,
            B::ErrorResponse { fields: vec![] },
            ready(),
        ];
        assert_eq!(
            answer_ranges(&requests, &failed),
            vec![0..1, 1..2, 2..2, 2..2, 2..2, 2..3]
        );
    }

    fn parse(name: &str, sql: &str) -> PgRequest {
        req(
            FrontendMessage::Parse {
                statement: name.into(),
                sql: sql.into(),
                param_types: vec![],
            },
            None,
        )
    }

    fn describe(name: &str, sql: &str) -> PgRequest {
        req(
            FrontendMessage::Describe {
                kind: Target::Statement,
                name: name.into(),
            },
            Some(sql),
        )
    }

    fn execute(sql: &str) -> PgRequest {
        req(
            FrontendMessage::Execute {
                portal: String::new(),
                max_rows: 0,
            },
            Some(sql),
        )
    }

    fn row(v: &str) -> BackendMessage {
        BackendMessage::DataRow {
            values: vec![Some(v.as_bytes().to_vec().into())],
        }
    }

    fn described() -> Vec<BackendMessage> {
        vec![
            BackendMessage::ParameterDescription { types: vec![23] },
            BackendMessage::RowDescription { fields: vec![] },
        ]
    }

    fn selected(tag: &str) -> BackendMessage {
        BackendMessage::CommandComplete { tag: tag.into() }
    }

    /// What a pool does at replay: the connection a case gets has not
    /// prepared the statement that, when recorded, another connection had.
    #[test]
    fn a_statement_prepared_elsewhere_is_prepared_again_from_any_recording() {
        use BackendMessage as B;
        let sql = "select title from books where id = $1";
        // Case 1 prepared and ran it; case 2 only ran it (same connection).
        let case1 = mock(
            "0001#1",
            vec![
                parse("s1", sql),
                describe("s1", sql),
                bind("s1", sql, "1"),
                execute(sql),
                req(FrontendMessage::Sync, None),
            ],
            [
                vec![B::ParseComplete],
                described(),
                vec![B::BindComplete, row("A"), selected("SELECT 1"), ready()],
            ]
            .concat(),
        );
        let case2 = mock(
            "0002#1",
            vec![
                bind("s1", sql, "2"),
                execute(sql),
                req(FrontendMessage::Sync, None),
            ],
            vec![B::BindComplete, row("B"), selected("SELECT 1"), ready()],
        );
        let book = PgBook::new(vec![vec![case1], vec![case2]], vec![]);

        // At replay case 2 runs on a fresh connection and prepares first.
        book.begin_case(1);
        let sent = canon_of(&[
            parse("s9", sql),
            describe("s9", sql),
            bind("s9", sql, "2"),
            execute(sql),
            req(FrontendMessage::Sync, None),
        ]);
        let answer = book.answer("db", &sent, TxStatus::Idle).unwrap();
        assert_eq!(
            answer.response,
            [
                vec![B::ParseComplete],
                described(),
                vec![B::BindComplete, row("B"), selected("SELECT 1"), ready()]
            ]
            .concat()
        );
        assert_eq!(answer.id, "0002#1, 0001#1");
        assert!(book.end_case().unused.is_empty());

        // And case 1 runs on a connection that has it prepared already.
        book.begin_case(0);
        let sent = canon_of(&[
            bind("s9", sql, "1"),
            execute(sql),
            req(FrontendMessage::Sync, None),
        ]);
        let answer = book.answer("db", &sent, TxStatus::Idle).unwrap();
        assert_eq!(
            answer.response,
            vec![B::BindComplete, row("A"), selected("SELECT 1"), ready()]
        );
        assert_eq!(book.end_case().used, ["0001#1"]);

        // Preparing alone (a driver's Parse/Describe/Sync) is answered from
        // the recording, as often as asked, in the connection's state.
        book.begin_case(1);
        let prepare = canon_of(&[
            parse("s3", sql),
            describe("s3", sql),
            req(FrontendMessage::Sync, None),
        ]);
        for status in [TxStatus::Idle, TxStatus::InTransaction] {
            let answer = book.answer("db", &prepare, status).unwrap();
            assert_eq!(
                answer.response,
                [
                    vec![B::ParseComplete],
                    described(),
                    vec![B::ReadyForQuery { status }]
                ]
                .concat()
            );
        }
        // A statement recorded nowhere is still a miss.
        let other = canon_of(&[parse("s4", "select 2"), req(FrontendMessage::Sync, None)]);
        assert!(book.answer("db", &other, TxStatus::Idle).is_err());
        // And the case's own values still decide: no recording ran id 3.
        let three = canon_of(&[
            bind("s9", sql, "3"),
            execute(sql),
            req(FrontendMessage::Sync, None),
        ]);
        assert!(book.answer("db", &three, TxStatus::Idle).is_err());
    }

    /// A Flush answers the prepared part first; the Sync the rest.
    #[test]
    fn a_flushed_group_is_answered_in_two_parts() {
        use BackendMessage as B;
        let sql = "select 1";
        let recorded = mock(
            "0001#1",
            vec![
                bind("s1", sql, "x"),
                execute(sql),
                req(FrontendMessage::Sync, None),
            ],
            vec![B::BindComplete, row("1"), selected("SELECT 1"), ready()],
        );
        let prepared = mock(
            "startup#1",
            vec![
                parse("s1", sql),
                describe("s1", sql),
                req(FrontendMessage::Sync, None),
            ],
            [vec![B::ParseComplete], described(), vec![ready()]].concat(),
        );
        let book = PgBook::new(vec![vec![recorded]], vec![prepared]);
        book.begin_case(0);
        let first = canon_of(&[parse("a", sql), describe("a", sql)]);
        let peeked = book.peek("db", &first, TxStatus::Idle).unwrap();
        assert_eq!(
            peeked.between(0, 2),
            [vec![B::ParseComplete], described()].concat()
        );
        let whole = canon_of(&[
            parse("a", sql),
            describe("a", sql),
            bind("a", sql, "x"),
            execute(sql),
            req(FrontendMessage::Sync, None),
        ]);
        let answer = book.answer("db", &whole, TxStatus::Idle).unwrap();
        assert_eq!(
            answer.after(2),
            [B::BindComplete, row("1"), selected("SELECT 1"), ready()]
        );
    }

    #[test]
    fn housekeeping_is_answered_by_any_recording_and_is_never_owed() {
        let reset = || {
            vec![req(
                FrontendMessage::Query {
                    sql: "SELECT pg_advisory_unlock_all();\nCLOSE ALL;\nUNLISTEN *;\nRESET ALL;"
                        .into(),
                },
                None,
            )]
        };
        let book = PgBook::new(
            vec![vec![], vec![mock("0002#1", reset(), vec![ready()])]],
            vec![],
        );
        book.begin_case(0);
        for _ in 0..3 {
            assert_eq!(
                book.answer("db", &canon_of(&reset()), TxStatus::Idle)
                    .unwrap()
                    .id,
                "0002#1"
            );
        }
        book.end_case();
        book.begin_case(1);
        let log = book.end_case();
        assert!(log.unused.is_empty(), "{:?}", log.unused);

        for work in [
            "RESET ALL",
            "DISCARD ALL",
            "SET search_path = blog",
            "select 1",
            "SELECT pg_advisory_unlock_all()",
            "WITH RECURSIVE typeinfo_tree AS (SELECT ... FROM pg_catalog.pg_type t) SELECT * FROM typeinfo_tree",
        ] {
            assert!(is_session_work(work), "{work}");
        }
        for data in [
            "select * from users",
            "SET LOCAL statement_timeout = 0",
            "insert into pg_type_log select * from pg_catalog.pg_type",
            "BEGIN",
        ] {
            assert!(!is_session_work(data), "{data}");
        }
    }

    /// Calls made while cases overlapped are in the shared pool, the same
    /// query perhaps several times as the data changed: they answer in
    /// recorded order, not the first one always.
    #[test]
    fn the_pools_recordings_of_one_query_answer_in_recorded_order() {
        let q = || {
            vec![req(
                FrontendMessage::Query {
                    sql: "select count(*) from favorites".into(),
                },
                None,
            )]
        };
        let answer = |n: &str| vec![row(n), selected("SELECT 1"), ready()];
        let book = PgBook::new(
            vec![vec![]],
            vec![
                mock("shared#1", q(), answer("0")),
                mock("shared#2", q(), answer("1")),
            ],
        );
        book.begin_case(0);
        let ids: Vec<String> = (0..3)
            .map(|_| {
                book.answer("db", &canon_of(&q()), TxStatus::Idle)
                    .unwrap()
                    .id
            })
            .collect();
        assert_eq!(ids, ["shared#1", "shared#2", "shared#2"]);
    }
}
