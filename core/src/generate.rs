//! The generator: a recorded session becomes a suite folder.
//!
//! Each inbound exchange becomes a case. Each outbound exchange is attributed
//! to the inbound exchange whose time window contains it; when several were in
//! flight, to the one the evidence names (a transaction held open, values only
//! it knows: see [`attribute`]), else the call goes to the shared pool (and is
//! reported), and calls before the first case form the startup set. Values
//! that differ on every run by their very format (UUIDs, timestamps) become
//! typed matchers such as `{"$reel": "uuid"}`, so the field must still be
//! there and well formed.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::matcher::{self, Inferred};
use crate::model::{header, Direction, Exchange, Header, Payload, Protocol, Session};
use crate::secrets;
use crate::suite::body::Answer;
use crate::suite::load::SuiteError;
use crate::suite::{
    AppSpec, BodySpec, CaseFile, DependencySpec, JsonLayout, MockSpec, MysqlMock, Noise, PgMock,
    RedisMock, RequestSpec, ResponseSpec, SessionRef, SuiteFile, DEFAULT_IGNORED_HEADERS,
    FORMAT_VERSION,
};
use crate::time::Micros;
pub use rows::Rows;

/// A suite in memory, ready to write.
#[derive(Debug)]
pub struct Generated {
    pub suite: SuiteFile,
    /// `(file stem, case, its mocks)` in recorded order.
    pub cases: Vec<(String, CaseFile, Vec<MockSpec>)>,
    pub startup: Vec<MockSpec>,
    pub shared: Vec<MockSpec>,
    /// Postgres request groups by case file stem, in recorded order.
    pub pg: BTreeMap<String, Vec<PgMock>>,
    pub startup_pg: Vec<PgMock>,
    pub shared_pg: Vec<PgMock>,
    /// Redis lines by case file stem, in recorded order.
    pub redis: BTreeMap<String, Vec<RedisMock>>,
    pub startup_redis: Vec<RedisMock>,
    pub shared_redis: Vec<RedisMock>,
    /// MySQL lines by case file stem, in recorded order.
    pub mysql: BTreeMap<String, Vec<MysqlMock>>,
    pub startup_mysql: Vec<MysqlMock>,
    pub shared_mysql: Vec<MysqlMock>,
    pub report: GenerateReport,
    /// Recorded secret values behind the suite's `${secret:NAME}` placeholders.
    pub secrets: secrets::Secrets,
}

/// What the generator decided, for the summary it prints.
#[derive(Debug, Default)]
pub struct GenerateReport {
    /// Outbound calls made while several cases were in flight: `(seq, call, cases)`.
    pub ambiguous: Rows<(i64, String, Vec<String>)>,
    /// Of the calls made while several cases were in flight, those the
    /// evidence gave to one case: `(seq, call, case)`.
    pub attributed: Rows<(i64, String, String)>,
    /// Calls made while several cases were in flight that are connection
    /// housekeeping (a pool's reset, session settings), which answers any
    /// case: shared, and only counted.
    pub shared_housekeeping: usize,
    /// Outbound calls after the first case that lie in no case's window.
    pub outside: Rows<(i64, String)>,
    /// Inbound exchanges left out because the app never answered: `(seq, error)`.
    pub skipped: Rows<(i64, String)>,
    /// Typed matchers put in place of recorded values: `(case, path, kind)`.
    pub matchers: Rows<(String, String, &'static str)>,
    /// Exchanges of protocols this reel cannot replay yet: `(seq, protocol)`.
    pub unsupported: Rows<(i64, String)>,
    /// Recorded values replaced by references to earlier answers:
    /// `(case, where, reference)`.
    pub chained: Rows<chain::Chained>,
    /// Values several earlier answers could have produced, left as
    /// recorded: `(case, where, candidate references)`.
    pub unlinked: Rows<(String, String, Vec<String>)>,
    /// Fields that differed across repeats of one call: `(case, path, kind)`.
    pub repeats: Rows<(String, String, &'static str)>,
    /// Postgres requests and Redis commands left out because they were never
    /// answered: `(seq, why)`.
    pub unanswered: Rows<(i64, String)>,
    /// With `--dedup`: each kept case and the cases it stands for.
    pub deduplicated: Vec<(String, Vec<String>)>,
    /// Request headers named like secrets that carry a new value on every
    /// request and that value flows nowhere: per-request nonces, kept as
    /// recorded. `(name, requests)`.
    pub nonces: Vec<(String, usize)>,
    /// Of those, how many were redacted at record time (`record --redact`)
    /// and are sent as a stand-in value instead.
    pub redacted_nonces: usize,
    /// Postgres parameters and Redis arguments the app makes afresh on every
    /// run (hashes, salts, ids, times), now typed matchers in the mock lines.
    pub param_matchers: Rows<postgres::ParamMatcher>,
}

impl GenerateReport {
    /// Keeps only the first `keep` rows of each list in memory.
    pub fn spill_after(&mut self, keep: usize) {
        self.ambiguous.spill_after(keep);
        self.attributed.spill_after(keep);
        self.outside.spill_after(keep);
        self.skipped.spill_after(keep);
        self.matchers.spill_after(keep);
        self.unsupported.spill_after(keep);
        self.chained.spill_after(keep);
        self.unlinked.spill_after(keep);
        self.repeats.spill_after(keep);
        self.unanswered.spill_after(keep);
        self.param_matchers.spill_after(keep);
    }
}

/// Choices `reel generate` offers.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep one read case per request and response shape.
    pub dedup: bool,
    /// The project's own secret names and patterns (reel.toml's `[redact]`).
    pub secret_rules: secrets::SecretRules,
    /// How many cases to gather before handing a stretch on ([`WINDOW`]
    /// when 0). The suite is the same whatever it is; tests make it small.
    pub window: usize,
}

pub fn generate(session: &Session, exchanges: &[Exchange]) -> Generated {
    generate_with(session, exchanges, &Options::default())
}

pub fn generate_with(session: &Session, exchanges: &[Exchange], options: &Options) -> Generated {
    // In the order they began, as the store gives them to `generate_into`.
    let mut by_start: Vec<&Exchange> = exchanges.iter().collect();
    by_start.sort_by_key(|e| (e.started_at, e.seq));
    let mut nonces = Nonces::default();
    by_start.iter().for_each(|e| nonces.first(e));
    by_start.iter().for_each(|e| nonces.second(e));
    let mut g =
        Generator::new(session, options, sink::Memory::default(), nonces).window(options.window);
    for e in by_start {
        g.add(e);
    }
    let (made, memory) = g.finish().expect("a suite in memory is always written");
    made.into_generated(memory.into_parts())
}

/// How many cases the generator gathers before it tries to hand a stretch
/// of them on: enough that attribution sees every case in flight, few
/// enough that memory stays small.
pub const WINDOW: usize = 512;

/// How many cases (or sixteen times as many calls) the window may hold
/// while a case stays open (a long poll, a stream): then the older half is
/// handed on anyway, and calls the open case makes later go to the cases
/// in flight with it or to the shared pool.
const WINDOW_LIMIT: usize = 8192;

/// Rows of each of the summary's lists `generate_into` keeps in memory.
pub const SUMMARY_ROWS: usize = 1000;

/// What the generator made, beside the suite's files.
#[derive(Debug)]
pub struct Made {
    pub suite: SuiteFile,
    pub report: GenerateReport,
    /// Recorded secret values behind the suite's `${secret:NAME}` placeholders.
    pub secrets: secrets::Secrets,
    pub counts: Counts,
}

/// How many cases and mocks the suite holds, as written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub cases: usize,
    pub http_in_cases: usize,
    pub pg_in_cases: usize,
    pub http_startup: usize,
    pub pg_startup: usize,
    pub http_shared: usize,
    pub pg_shared: usize,
    pub redis_in_cases: usize,
    pub redis_startup: usize,
    pub redis_shared: usize,
    pub mysql_in_cases: usize,
    pub mysql_startup: usize,
    pub mysql_shared: usize,
}

impl Made {
    fn into_generated(self, m: sink::Memory) -> Generated {
        Generated {
            suite: self.suite,
            cases: m.cases,
            startup: m.startup,
            shared: m.shared,
            pg: m.pg,
            startup_pg: m.startup_pg,
            shared_pg: m.shared_pg,
            redis: m.redis,
            startup_redis: m.startup_redis,
            shared_redis: m.shared_redis,
            mysql: m.mysql,
            startup_mysql: m.startup_mysql,
            shared_mysql: m.shared_mysql,
            report: self.report,
            secrets: self.secrets,
        }
    }
}

impl Generated {
    /// What was made, beside the files: for a summary.
    pub fn made(self) -> Made {
        let counts = self.counts();
        Made {
            suite: self.suite,
            report: self.report,
            secrets: self.secrets,
            counts,
        }
    }

    /// How many cases and mocks it holds.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            cases: self.cases.len(),
            http_startup: self.startup.len(),
            pg_startup: self.startup_pg.len(),
            http_shared: self.shared.len(),
            pg_shared: self.shared_pg.len(),
            redis_startup: self.startup_redis.len(),
            redis_shared: self.shared_redis.len(),
            mysql_startup: self.startup_mysql.len(),
            mysql_shared: self.shared_mysql.len(),
            ..Counts::default()
        };
        for (stem, _, mocks) in &self.cases {
            c.http_in_cases += mocks.len();
            c.pg_in_cases += self.pg.get(stem).map_or(0, Vec::len);
            c.redis_in_cases += self.redis.get(stem).map_or(0, Vec::len);
            c.mysql_in_cases += self.mysql.get(stem).map_or(0, Vec::len);
        }
        c
    }
}

/// Generates the suite of a session read from `store` straight into the
/// folder `dir`: the store is read three times (twice its HTTP exchanges
/// only, for nonce headers, then all of it), and what is held at any time
/// is the stretch of cases in flight, not the session.
pub fn generate_into(
    store: &crate::Store,
    session: &Session,
    options: &Options,
    dir: &Path,
) -> Result<Made, GenerateError> {
    let mut nonces = Nonces::default();
    store.each_exchange_by_start(session.id, Some(Protocol::Http), |e| nonces.first(&e))?;
    store.each_exchange_by_start(session.id, Some(Protocol::Http), |e| nonces.second(&e))?;
    let sink = sink::Dir::create(dir)?;
    let mut g = Generator::new(session, options, sink, nonces)
        .window(options.window)
        .spill_summary(SUMMARY_ROWS);
    store.each_exchange_by_start(session.id, None, |e| g.add(&e))?;
    let (made, dir) = g.finish()?;
    dir.finish(&made.suite, &made.secrets)?;
    Ok(made)
}

/// Why a suite could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    #[error(transparent)]
    Suite(#[from] SuiteError),
}

/// Builds a suite from a session's exchanges, given one at a time in
/// recorded order, so that a session can be read from the store as a
/// stream. Cases gather in a window; a stretch of them is finished and
/// handed to the sink as soon as the recording has moved past them (no
/// later call can be theirs), with the calls attributed to them. What is
/// kept across the session is compact: values later cases may refer to,
/// the groups of repeats still open, each case's shape for `--dedup`, the
/// secrets found.
pub struct Generator<'a, S: sink::Sink> {
    session: &'a Session,
    options: &'a Options,
    sink: S,
    error: Option<SuiteError>,
    report: GenerateReport,
    /// Outbound exchanges of protocols reel cannot replay yet, listed after
    /// the inbound ones.
    unsupported_calls: Rows<(i64, String)>,
    /// The window: cases not handed on yet, from case number `base` + 1.
    cases: Vec<(String, CaseFile, Vec<MockSpec>)>,
    /// Each case's time window: when its request came, when it was answered.
    case_windows: Vec<(Micros, Micros)>,
    base: usize,
    /// Calls not handed on yet, as the suite will hold them.
    calls: Vec<attribute::Call>,
    /// Each call's time window, for attribution.
    call_windows: Vec<(Micros, Micros)>,
    /// The latest start seen.
    now: Micros,
    window: usize,
    next_flush: usize,
    next_calls_flush: usize,
    first_case_start: Option<Micros>,
    pg_names: postgres::Names,
    server_parameters: BTreeMap<String, Vec<(String, String)>>,
    types: attribute::Types,
    chains: chain::Chains,
    repeats: repeats::Repeats,
    dedup: dedup::Dedup,
    secrets: secrets::Secrets,
    /// Some secret was found after files that may hold it were handed on.
    late_secrets: bool,
    /// Something was handed to the sink.
    handed_on: bool,
    /// Every case's file stem, by case index.
    stems: Vec<String>,
    /// Mocks each case holds: `(http, postgres, redis, mysql)`, by case index.
    case_mocks: Vec<(u32, u32, u32, u32)>,
    counts: Counts,
    /// Origins to mark in cases handed on: `(case index, path)`.
    origins: Vec<(usize, String)>,
    loosen: Vec<repeats::Loosen>,
}

impl<'a, S: sink::Sink> Generator<'a, S> {
    /// A generator writing into `sink`; `nonces` has seen the session's
    /// HTTP exchanges twice (see [`Nonces`]).
    pub fn new(session: &'a Session, options: &'a Options, sink: S, nonces: Nonces) -> Self {
        let report = GenerateReport {
            nonces: nonces.result(),
            ..GenerateReport::default()
        };
        let mut secrets = secrets::Secrets::with_rules(options.secret_rules.clone());
        secrets.exempt_headers(report.nonces.iter().map(|(name, _)| name.clone()));
        Generator {
            session,
            options,
            sink,
            error: None,
            report,
            unsupported_calls: Rows::default(),
            cases: Vec::new(),
            case_windows: Vec::new(),
            base: 0,
            calls: Vec::new(),
            call_windows: Vec::new(),
            now: Micros(i64::MIN),
            window: WINDOW,
            next_flush: WINDOW,
            next_calls_flush: WINDOW_LIMIT * 2,
            first_case_start: None,
            pg_names: postgres::Names::default(),
            server_parameters: BTreeMap::new(),
            types: attribute::Types::default(),
            chains: chain::Chains::default(),
            repeats: repeats::Repeats::default(),
            dedup: dedup::Dedup::default(),
            secrets,
            late_secrets: false,
            handed_on: false,
            stems: Vec::new(),
            case_mocks: Vec::new(),
            counts: Counts::default(),
            origins: Vec::new(),
            loosen: Vec::new(),
        }
    }

    /// Keeps only the first `keep` rows of each of the summary's lists in
    /// memory, the rest in temporary files: for a session of any length.
    pub fn spill_summary(mut self, keep: usize) -> Self {
        self.report.spill_after(keep);
        self.unsupported_calls.spill_after(keep);
        self
    }

    /// Gathers `cases` cases before trying to hand some on ([`WINDOW`] when 0).
    pub fn window(mut self, cases: usize) -> Self {
        self.window = if cases == 0 { WINDOW } else { cases };
        self.next_flush = self.window;
        self
    }

    /// Takes the next exchange, in the order exchanges began (as
    /// [`crate::Store::each_exchange_by_start`] gives them): a case that
    /// ended before the latest start holds no call still to come.
    pub fn add(&mut self, e: &Exchange) {
        self.now = self.now.max(e.started_at);
        match e.direction {
            Direction::Inbound => self.add_inbound(e),
            Direction::Outbound => self.add_outbound(e),
        }
        // A session of few requests and many calls (a worker) flushes on
        // its calls.
        if self.cases.len() >= self.next_flush || self.calls.len() >= self.next_calls_flush {
            let force = self.cases.len() >= WINDOW_LIMIT;
            self.flush(false, force);
            self.next_flush = self.cases.len() + self.window;
            self.next_calls_flush = self.calls.len().max(WINDOW_LIMIT) * 2;
        }
    }

    fn add_inbound(&mut self, e: &Exchange) {
        let Some(req) = e
            .request
            .as_http_request()
            .filter(|_| e.protocol == Protocol::Http)
        else {
            self.report
                .unsupported
                .push((e.seq, e.protocol.as_str().into()));
            return;
        };
        if let Err(why) = answered(e) {
            self.report.skipped.push((e.seq, why.to_owned()));
            return;
        }
        // The number makes every name unique.
        let stem = format!(
            "{:04}-{}-{}",
            self.stems.len() + 1,
            req.method.to_ascii_lowercase(),
            slug(&req.target)
        );
        let case = CaseFile {
            name: stem.clone(),
            seq: e.seq,
            recorded_at: e.started_at.rfc3339(),
            duration_ms: e.ended_at.map(|end| {
                let us = end.0.saturating_sub(e.started_at.0);
                (us as f64 / 100.0).round() / 10.0
            }),
            request: request_spec(&e.request),
            request_layout: request_layout(&e.request),
            response: response_spec(e),
            noise: Noise::default(),
            mocks: None,
        };
        self.stems.push(stem.clone());
        self.case_mocks.push((0, 0, 0, 0));
        self.cases.push((stem, case, Vec::new()));
        self.first_case_start.get_or_insert(e.started_at);
        self.case_windows
            .push((e.started_at, e.ended_at.unwrap_or(e.started_at)));
    }

    fn add_outbound(&mut self, o: &Exchange) {
        let mock = match o.protocol {
            Protocol::Http => Mock::Http(Box::new(mock_spec(o))),
            Protocol::Postgres => match postgres::group(o, &mut self.pg_names) {
                postgres::Group::Mock(m) => Mock::Postgres(m),
                postgres::Group::Startup(params) => {
                    let dep = o.dependency.clone().unwrap_or_default();
                    self.server_parameters.entry(dep).or_insert(params);
                    return;
                }
                postgres::Group::Skip => return,
                postgres::Group::Unanswered(why) => {
                    self.report.unanswered.push((o.seq, why));
                    return;
                }
            },
            Protocol::Redis => match redis::line(o) {
                redis::Line::Mock(m) => Mock::Redis(m),
                redis::Line::Push(connection, frames) => {
                    self.add_pushes(o, connection, frames);
                    return;
                }
                redis::Line::Skip => return,
                redis::Line::Unanswered(why) => {
                    self.report.unanswered.push((o.seq, why));
                    return;
                }
            },
            Protocol::Mysql => match mysql::line(o) {
                mysql::Line::Mock(m) => Mock::Mysql(m),
                mysql::Line::Skip => return,
                mysql::Line::Unanswered(why) => {
                    self.report.unanswered.push((o.seq, why));
                    return;
                }
            },
            _ => {
                self.unsupported_calls
                    .push((o.seq, o.protocol.as_str().into()));
                return;
            }
        };
        // A Postgres answer's last message (ReadyForQuery) may arrive after
        // the app has already answered its caller: the query belongs to the
        // case it was sent in.
        let end = match o.protocol {
            Protocol::Postgres => o.started_at,
            _ => o.ended_at.unwrap_or(o.started_at),
        };
        self.call_windows.push((o.started_at, end));
        self.calls.push(attribute::Call {
            seq: o.seq,
            started_at: o.started_at,
            mock,
            holders: Vec::new(),
        });
    }

    /// Frames a Redis server pushed on `connection`: they join the line of
    /// the command before them there, which the mock answers with them.
    fn add_pushes(
        &mut self,
        o: &Exchange,
        connection: u64,
        frames: Vec<crate::wire::redis::Frame>,
    ) {
        let dep = o.dependency.as_deref().unwrap_or_default();
        // Not a ping or other housekeeping, which answers again and again.
        let before = self.calls.iter_mut().rev().find_map(|c| match &mut c.mock {
            Mock::Redis(m)
                if m.connection == connection
                    && m.dependency == dep
                    && !crate::suite::redis::is_housekeeping(&m.cmd) =>
            {
                Some(m)
            }
            _ => None,
        });
        match before {
            Some(m) => m.pushes.extend(frames),
            None => self.report.unanswered.push((
                o.seq,
                "a push with no command before it on its connection in reach".into(),
            )),
        }
    }

    /// Attributes the calls in the window and hands on the cases the
    /// recording has moved past, with their calls; `last`: all of them.
    fn flush(&mut self, last: bool, force: bool) {
        if self.cases.is_empty() && self.calls.is_empty() {
            return;
        }
        for (call, holders) in self
            .calls
            .iter_mut()
            .zip(holders(&self.case_windows, &self.call_windows))
        {
            call.holders = holders;
        }
        self.types.learn(&self.calls);
        let units = attribute::transaction_units(&self.calls);
        let owners = attribute::resolve(&self.cases, &self.calls, &units, &self.types);
        // Settled: exchanges come in the order they began, so what ended
        // before the latest start no later exchange can change.
        let settled = if last { Micros(i64::MAX) } else { self.now };
        // Hand on the cases before the first one still open, or holding a
        // call whose unit is not settled, or sharing one with a later case;
        // when one stays open too long, the older half of the window anyway.
        let mut k = self
            .case_windows
            .iter()
            .position(|w| w.1 >= settled)
            .unwrap_or(self.cases.len());
        if force {
            k = k.max(self.cases.len() / 2);
            tracing::warn!(
                cases = self.cases.len(),
                "generate: a case stayed open while many others came; handing on those before it"
            );
        }
        let unit_open = |unit: &[usize]| {
            !last
                && unit.last().is_some_and(|&n| match &self.calls[n].mock {
                    Mock::Postgres(m) => m.leaves_transaction_open(),
                    Mock::Mysql(m) => m.leaves_transaction_open(),
                    // A MULTI whose EXEC has not come yet.
                    Mock::Redis(m) => {
                        let first = unit.first().map(|&f| &self.calls[f].mock);
                        matches!(first, Some(Mock::Redis(f)) if f.begins_transaction())
                            && !m.ends_transaction()
                    }
                    Mock::Http(_) => false,
                })
        };
        loop {
            let mut moved = false;
            for unit in &units {
                let held = unit.iter().flat_map(|&n| self.calls[n].holders.iter());
                let (Some(lo), Some(hi)) = (held.clone().min(), held.max()) else {
                    continue;
                };
                if *lo < k && (*hi >= k || unit_open(unit)) && !force {
                    k = *lo;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        let mut take = vec![false; self.calls.len()];
        for unit in &units {
            let held: Vec<usize> = unit
                .iter()
                .flat_map(|&n| self.calls[n].holders.iter().copied())
                .collect();
            let go = if held.is_empty() {
                !unit_open(unit) && unit.iter().all(|&n| self.call_windows[n].0 < settled)
            } else if force {
                // Its holders past the cut lose it to those before.
                held.iter().any(|&h| h < k)
            } else {
                held.iter().all(|&h| h < k)
            };
            if go {
                unit.iter().for_each(|&n| take[n] = true);
            }
        }
        if k == 0 && !take.iter().any(|t| *t) {
            return;
        }
        let mut calls = Vec::new();
        let mut kept_calls = Vec::new();
        let mut kept_windows = Vec::new();
        let windows = std::mem::take(&mut self.call_windows);
        for (((call, window), owner), go) in std::mem::take(&mut self.calls)
            .into_iter()
            .zip(windows)
            .zip(owners)
            .zip(take)
        {
            if go {
                // Only a forced cut leaves holders past it: they are not in
                // this stretch.
                let mut call = call;
                call.holders.retain(|&h| h < k);
                calls.push((call, owner.filter(|&o| o < k)));
            } else {
                kept_calls.push(call);
                kept_windows.push(window);
            }
        }
        self.calls = kept_calls;
        self.call_windows = kept_windows;
        let cases: Vec<_> = self.cases.drain(..k).collect();
        self.case_windows.drain(..k);
        let base = self.base;
        self.base += k;
        if let Err(e) = self.finish_stretch(cases, base, calls) {
            self.error.get_or_insert(e);
        }
    }

    /// Finishes a stretch of cases (case `base` onwards) with the calls
    /// given to them or to no case, and hands them to the sink.
    fn finish_stretch(
        &mut self,
        mut cases: Vec<(String, CaseFile, Vec<MockSpec>)>,
        base: usize,
        calls: Vec<(attribute::Call, Option<usize>)>,
    ) -> Result<(), SuiteError> {
        if self.error.is_some() {
            return Ok(());
        }
        let report = &mut self.report;
        let mut startup = Vec::new();
        let mut shared = Vec::new();
        let mut pg_cases: Vec<Vec<PgMock>> = vec![Vec::new(); cases.len()];
        let mut startup_pg = Vec::new();
        let mut shared_pg = Vec::new();
        let mut redis_cases: Vec<Vec<RedisMock>> = vec![Vec::new(); cases.len()];
        let mut startup_redis = Vec::new();
        let mut shared_redis = Vec::new();
        let mut mysql_cases: Vec<Vec<MysqlMock>> = vec![Vec::new(); cases.len()];
        let mut startup_mysql = Vec::new();
        let mut shared_mysql = Vec::new();
        let first_start = self.first_case_start;
        // This stretch's rows, scrubbed before they join the summary.
        let mut ambiguous = Vec::new();
        let mut attributed = Vec::new();
        let mut outside = Vec::new();
        // Calls made while several cases were in flight go to the case the
        // evidence names (see `attribute`), else to the shared pool.
        for (c, owner) in calls {
            let attribute::Call {
                seq,
                started_at,
                mock,
                holders,
            } = c;
            let call = match &mock {
                Mock::Postgres(m) => postgres::describe(m),
                Mock::Redis(m) => format!("{} {}", m.dependency, m.describe()),
                Mock::Mysql(m) => format!("{} {}", m.dependency, m.describe()),
                Mock::Http(m) => describe(m),
            };
            let place = match (owner, holders.as_slice()) {
                (Some(n), [_, _, ..]) => {
                    attributed.push((seq, call, cases[n].0.clone()));
                    Place::Case(n)
                }
                (Some(n), _) => Place::Case(n),
                (None, []) if first_start.is_none_or(|f| started_at < f) => Place::Startup,
                (None, []) => {
                    outside.push((seq, call));
                    Place::Shared
                }
                // A pool's reset between uses belongs to no case: counted.
                (None, _) if mock.is_housekeeping() => {
                    report.shared_housekeeping += 1;
                    Place::Shared
                }
                (None, many) => {
                    let names = many.iter().map(|n| cases[*n].0.clone()).collect();
                    ambiguous.push((seq, call, names));
                    Place::Shared
                }
            };
            match (mock, place) {
                (Mock::Http(m), Place::Case(n)) => cases[n].2.push(*m),
                (Mock::Http(m), Place::Startup) => startup.push(*m),
                (Mock::Http(m), Place::Shared) => shared.push(*m),
                (Mock::Postgres(m), Place::Case(n)) => pg_cases[n].push(m),
                (Mock::Postgres(m), Place::Startup) => startup_pg.push(m),
                (Mock::Postgres(m), Place::Shared) => shared_pg.push(m),
                (Mock::Redis(m), Place::Case(n)) => redis_cases[n].push(m),
                (Mock::Redis(m), Place::Startup) => startup_redis.push(m),
                (Mock::Redis(m), Place::Shared) => shared_redis.push(m),
                (Mock::Mysql(m), Place::Case(n)) => mysql_cases[n].push(*m),
                (Mock::Mysql(m), Place::Startup) => startup_mysql.push(*m),
                (Mock::Mysql(m), Place::Shared) => shared_mysql.push(*m),
            }
        }
        for (j, ((((stem, case, mocks), pg_mocks), redis_mocks), mysql_mocks)) in cases
            .iter_mut()
            .zip(&mut pg_cases)
            .zip(&mut redis_cases)
            .zip(&mut mysql_cases)
            .enumerate()
        {
            // HTTP mocks first, then Postgres groups, Redis lines, MySQL lines.
            let ids = mocks
                .iter_mut()
                .map(|m| &mut m.id)
                .chain(pg_mocks.iter_mut().map(|m| &mut m.id))
                .chain(redis_mocks.iter_mut().map(|m| &mut m.id))
                .chain(mysql_mocks.iter_mut().map(|m| &mut m.id));
            for (n, id) in ids.enumerate() {
                *id = format!("{stem}#{}", n + 1);
            }
            if !mocks.is_empty()
                || !pg_mocks.is_empty()
                || !redis_mocks.is_empty()
                || !mysql_mocks.is_empty()
            {
                case.mocks = Some(format!("mocks/{stem}.jsonl"));
            }
            self.case_mocks[base + j] = (
                mocks.len() as u32,
                pg_mocks.len() as u32,
                redis_mocks.len() as u32,
                mysql_mocks.len() as u32,
            );
        }
        // A pool's ids are given once it is in recorded order, at the end.
        for (pool, http, pg, redis) in [
            (
                sink::Pool::Startup,
                &mut startup,
                &mut startup_pg,
                &mut startup_redis,
            ),
            (
                sink::Pool::Shared,
                &mut shared,
                &mut shared_pg,
                &mut shared_redis,
            ),
        ] {
            http.iter_mut()
                .for_each(|m| m.id = sink::provisional_id(pool, m.seq));
            pg.iter_mut()
                .for_each(|m| m.id = sink::provisional_id(pool, m.seq));
            redis
                .iter_mut()
                .for_each(|m| m.id = sink::provisional_id(pool, m.seq));
        }
        for (pool, mysql) in [
            (sink::Pool::Startup, &mut startup_mysql),
            (sink::Pool::Shared, &mut shared_mysql),
        ] {
            mysql
                .iter_mut()
                .for_each(|m| m.id = sink::provisional_id(pool, m.seq));
        }

        // Values that flow from one answer into later calls become references.
        let chains = &mut self.chains;
        for ((stem, case, mocks), redis) in cases.iter_mut().zip(&mut redis_cases) {
            let number = crate::suite::case_number(stem).to_owned();
            chains.begin_case();
            chains.rewrite_request(stem, &mut case.request);
            for m in mocks.iter_mut() {
                chains.rewrite_request(stem, &mut m.request);
            }
            chains.rewrite_redis(stem, redis);
            if let Some(v) = case.response.body.as_ref().and_then(BodySpec::as_json) {
                chains.learn(&number, v, &case.request);
            }
            chains.sent(&case.request);
            chains.rewrite_expected(&number, stem, &case.request, &mut case.response);
        }
        for (number, path) in chains.mark_origins(&mut cases) {
            if let Some(i) = number.parse::<usize>().ok().and_then(|n| n.checked_sub(1)) {
                self.origins.push((i, path));
            }
        }
        let mut chained = std::mem::take(&mut chains.report);
        report.unlinked.extend(chains.ambiguous.drain(..));

        let mut loosened = Vec::new();
        self.repeats.observe(
            &mut repeats::AtHand {
                cases: &mut cases,
                base,
            },
            &self.stems,
            &mut self.loosen,
            &mut loosened,
        );
        report.repeats.extend(loosened);
        if self.options.dedup {
            self.dedup.observe(&cases, base);
        }
        let recorded_at = self.session.started_at.0 / 1_000_000;
        for (stem, case, _) in &mut cases {
            if let Some(v) = case.response.body.as_mut().and_then(BodySpec::as_json_mut) {
                let mut found = Vec::new();
                matcher::infer_at(v, "$", recorded_at, &mut found);
                for Inferred { path, kind } in found {
                    report.matchers.push((stem.clone(), path, kind));
                }
            }
        }

        let secrets = &mut self.secrets;
        let known_before = secrets.values().len();
        report.redacted_nonces += stand_in_redacted_nonces(&mut cases, &report.nonces);
        // The first pass finds every secret; the second replaces each wherever
        // else it stands, also where it stood before it was first found (a
        // value a case echoes that a later case names as a secret).
        for _ in 0..2 {
            sink::scrub(
                secrets,
                &mut cases,
                startup.iter_mut().chain(shared.iter_mut()),
                pg_cases
                    .iter_mut()
                    .flatten()
                    .chain(startup_pg.iter_mut())
                    .chain(shared_pg.iter_mut()),
                redis_cases
                    .iter_mut()
                    .flatten()
                    .chain(startup_redis.iter_mut())
                    .chain(shared_redis.iter_mut()),
                mysql_cases
                    .iter_mut()
                    .flatten()
                    .chain(startup_mysql.iter_mut())
                    .chain(shared_mysql.iter_mut()),
            );
        }
        if secrets.values().len() > known_before && self.handed_on {
            self.late_secrets = true;
        }
        // A reference that a secret's matcher replaced afterwards is not in the
        // suite: the summary lists only what the files hold.
        let by_stem: std::collections::HashMap<&str, usize> = cases
            .iter()
            .enumerate()
            .map(|(i, (stem, _, _))| (stem.as_str(), i))
            .collect();
        chained.retain(|(case, place, reference)| {
            let Some(&i) = by_stem.get(case.as_str()) else {
                return true;
            };
            let (_, c, mocks) = &cases[i];
            // References are made in the case's request and HTTP mocks, in
            // its Redis lines, and in its expected response (places starting
            // with "response").
            let text = if place.starts_with("response") {
                serde_json::to_string(&c.response).unwrap_or_default()
            } else if place.starts_with("redis") {
                serde_json::to_string(&redis_cases[i]).unwrap_or_default()
            } else {
                let mut t = serde_json::to_string(&c.request).unwrap_or_default();
                for m in mocks {
                    t.push_str(&serde_json::to_string(m).unwrap_or_default());
                }
                t
            };
            text.contains(reference.as_str())
        });
        report.chained.extend(chained);
        // Values the app makes up afresh (a salted hash, a nonce, a new id) are
        // sent differently at replay: matched by kind, and listed. After
        // references and secrets: a value that came from an earlier answer, or
        // that is a secret the app was given, is filled in at replay instead.
        let mut all_pg: Vec<&mut PgMock> = pg_cases
            .iter_mut()
            .flatten()
            .chain(startup_pg.iter_mut())
            .chain(shared_pg.iter_mut())
            .collect();
        let sent = cases
            .iter()
            .map(|(stem, case, _)| (stem.clone(), attribute::sent_values(&case.request)))
            .collect();
        report.param_matchers.extend(postgres::infer_params(
            &mut all_pg,
            self.types.params_mut(),
            recorded_at,
            &sent,
        ));
        let mut all_redis: Vec<&mut RedisMock> = redis_cases
            .iter_mut()
            .flatten()
            .chain(startup_redis.iter_mut())
            .chain(shared_redis.iter_mut())
            .collect();
        report
            .param_matchers
            .extend(redis::infer_args(&mut all_redis, recorded_at, &sent));
        let mut all_mysql: Vec<&mut MysqlMock> = mysql_cases
            .iter_mut()
            .flatten()
            .chain(startup_mysql.iter_mut())
            .chain(shared_mysql.iter_mut())
            .collect();
        report
            .param_matchers
            .extend(mysql::infer_values(&mut all_mysql, recorded_at, &sent));
        let http_mocks = cases
            .iter_mut()
            .flat_map(|(_, _, m)| m.iter_mut())
            .chain(startup.iter_mut())
            .chain(shared.iter_mut());
        report
            .param_matchers
            .extend(outbound::infer_bodies(http_mocks, recorded_at));
        // The summary `generate` prints quotes calls (their SQL) too.
        for (_, call, _) in &mut ambiguous {
            *call = secrets.scrub_text(call);
        }
        for (_, call, _) in &mut attributed {
            *call = secrets.scrub_text(call);
        }
        for (_, call) in &mut outside {
            *call = secrets.scrub_text(call);
        }
        report.ambiguous.extend(ambiguous);
        report.attributed.extend(attributed);
        report.outside.extend(outside);

        let c = &mut self.counts;
        c.cases += cases.len();
        c.http_startup += startup.len();
        c.pg_startup += startup_pg.len();
        c.http_shared += shared.len();
        c.pg_shared += shared_pg.len();
        c.redis_startup += startup_redis.len();
        c.redis_shared += shared_redis.len();
        c.mysql_startup += startup_mysql.len();
        c.mysql_shared += shared_mysql.len();
        for ((((stem, case, mocks), pg), redis), mysql) in cases
            .into_iter()
            .zip(pg_cases)
            .zip(redis_cases)
            .zip(mysql_cases)
        {
            c.http_in_cases += mocks.len();
            c.pg_in_cases += pg.len();
            c.redis_in_cases += redis.len();
            c.mysql_in_cases += mysql.len();
            let wire = sink::Wire { pg, redis, mysql };
            self.sink.case(stem, case, mocks, wire, secrets)?;
        }
        let s = &mut self.sink;
        let wire = sink::Wire {
            pg: startup_pg,
            redis: startup_redis,
            mysql: startup_mysql,
        };
        s.pool(sink::Pool::Startup, startup, wire, secrets)?;
        let wire = sink::Wire {
            pg: shared_pg,
            redis: shared_redis,
            mysql: shared_mysql,
        };
        s.pool(sink::Pool::Shared, shared, wire, secrets)?;
        self.handed_on = true;
        Ok(())
    }

    /// The suite, once every exchange was given: what the generator made,
    /// and the sink it wrote into.
    pub fn finish(mut self) -> Result<(Made, S), SuiteError> {
        self.flush(true, false);
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut report = std::mem::take(&mut self.report);
        report.unsupported.extend(self.unsupported_calls.all());
        // What looks back across the session, on cases handed on before.
        // The pools in recorded order; the summary names their mocks by
        // their ids there.
        let wanted: std::collections::HashSet<String> = report
            .param_matchers
            .all()
            .map(|p| p.mock)
            .filter(|id| id.contains("#@"))
            .collect();
        let ids = self.sink.finish_pools(&self.secrets, &wanted)?;
        if !ids.is_empty() {
            report.param_matchers.update(|p| {
                if let Some(id) = ids.get(&p.mock) {
                    p.mock = id.clone();
                }
            });
        }
        let mut none: Vec<(String, CaseFile, Vec<MockSpec>)> = Vec::new();
        let mut loosened = Vec::new();
        self.repeats.close(
            &mut repeats::AtHand {
                cases: &mut none,
                base: self.stems.len(),
            },
            &self.stems,
            &mut self.loosen,
            &mut loosened,
        );
        report.repeats.extend(loosened);
        // They were made before the cases were handed on, in the order a
        // suite made whole makes them: origins and repeats first, so a field
        // they loosen is not also listed as matched by its format.
        let mut edits: BTreeMap<usize, Edits> = BTreeMap::new();
        for (i, path) in std::mem::take(&mut self.origins) {
            edits.entry(i).or_default().0.push(path);
        }
        for l in std::mem::take(&mut self.loosen) {
            edits.entry(l.case).or_default().1.push((l.path, l.kind));
        }
        let loosened: std::collections::HashSet<(&str, String)> = edits
            .iter()
            .flat_map(|(&i, (origins, loosen))| {
                let stem = self.stems[i].as_str();
                origins
                    .iter()
                    .map(|p| format!("${}", p.strip_prefix("body").unwrap_or(p)))
                    .chain(loosen.iter().map(|(p, _)| p.clone()))
                    .map(move |p| (stem, p))
            })
            .collect();
        report
            .matchers
            .retain(|(stem, path, _)| !loosened.contains(&(stem.as_str(), path.clone())));
        drop(loosened);
        for (i, (origins, loosen)) in edits {
            self.sink.patch_case(
                &self.stems[i],
                &mut |case| {
                    for path in &origins {
                        chain::mark_origin(case, path);
                    }
                    if let Some(v) = case.response.body.as_mut().and_then(BodySpec::as_json_mut) {
                        for (path, kind) in &loosen {
                            repeats::set(v, path, serde_json::json!({ matcher::MARKER: kind }));
                        }
                    }
                },
                &self.secrets,
            )?;
        }
        if self.options.dedup {
            let (drop, stands_for) = std::mem::take(&mut self.dedup).finish(&self.stems);
            let dropped: std::collections::HashSet<&str> =
                drop.iter().map(|&i| self.stems[i].as_str()).collect();
            for &i in &drop {
                self.sink.drop_case(&self.stems[i])?;
                let (http, pg, redis, mysql) = self.case_mocks[i];
                self.counts.cases -= 1;
                self.counts.http_in_cases -= http as usize;
                self.counts.pg_in_cases -= pg as usize;
                self.counts.redis_in_cases -= redis as usize;
                self.counts.mysql_in_cases -= mysql as usize;
            }
            // What the summary lists is what is written: not what the cases
            // --dedup dropped held.
            report
                .matchers
                .retain(|(stem, _, _)| !dropped.contains(stem.as_str()));
            report.param_matchers.retain(|p| {
                let stem = p.mock.rsplit_once('#').map_or("", |(s, _)| s);
                !dropped.contains(stem)
            });
            report.deduplicated = stands_for;
        }
        if self.late_secrets {
            self.sink.rescrub(&mut self.secrets)?;
        }
        let made = Made {
            suite: self.suite_file(),
            report,
            secrets: self.secrets,
            counts: self.counts,
        };
        Ok((made, self.sink))
    }

    fn suite_file(&mut self) -> SuiteFile {
        let session = self.session;
        let setup = &session.setup;
        let dependencies = setup["dependencies"]
            .as_array()
            .map(|deps| {
                deps.iter()
                    .filter_map(|d| {
                        let name = d["name"].as_str()?.to_owned();
                        Some(DependencySpec {
                            server_parameters: self
                                .server_parameters
                                .remove(&name)
                                .unwrap_or_default(),
                            protocol: d["protocol"].as_str().unwrap_or("http").to_owned(),
                            listen: d["listen"].as_str()?.to_owned(),
                            name,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let command = setup["app"].as_array().filter(|a| !a.is_empty()).map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(shell_quote)
                .collect::<Vec<_>>()
                .join(" ")
        });
        SuiteFile {
            reel_suite: FORMAT_VERSION,
            name: session.name.clone(),
            session: SessionRef {
                id: session.id,
                name: session.name.clone(),
                recorded_at: session.started_at.rfc3339(),
            },
            app: AppSpec {
                command,
                target: session.target.clone(),
                ready: None,
            },
            dependencies,
            noise: Noise {
                headers: DEFAULT_IGNORED_HEADERS
                    .iter()
                    .map(|h| h.to_string())
                    .collect(),
                body_paths: Vec::new(),
            },
        }
    }
}

/// What to change in a case handed on: origins to mark (paths from `body`)
/// and fields to loosen (`(path, kind)`).
type Edits = (Vec<String>, Vec<(String, &'static str)>);

/// Whether an inbound exchange makes a case: the app answered when its
/// response head arrived; an error after that (the client hung up early)
/// does not make the case unusable.
fn answered(e: &Exchange) -> Result<(), &str> {
    if e.response.is_none() || e.first_byte_at.is_none() {
        return Err(e.error.as_deref().unwrap_or("no response was recorded"));
    }
    Ok(())
}

/// Request headers named like secrets (not credential headers such as
/// Authorization or Cookie) whose value is new on every one of two or more
/// requests, and never seen in any later request or any dependency call: a
/// client's per-request nonce, which is no credential and that no later call
/// depends on.
///
/// Found before the suite is made, since secrets must know them: the
/// session's HTTP exchanges are given twice, to [`Nonces::first`] (the
/// values) and then to [`Nonces::second`] (where they flow).
#[derive(Default)]
pub struct Nonces {
    /// Values by header name (lower case): `(request, value)`.
    seen: BTreeMap<String, Vec<(usize, String)>>,
    /// Inbound requests that make cases seen in this pass.
    requests: usize,
    /// The candidates' values, found in one pass over each text.
    finder: Option<(aho_corasick::AhoCorasick, Vec<(String, usize)>)>,
    flows: std::collections::BTreeSet<String>,
}

impl Nonces {
    /// The first pass: each case's secret-named headers.
    pub fn first(&mut self, e: &Exchange) {
        if !self.is_case(e) {
            return;
        }
        let i = self.requests;
        self.requests += 1;
        for (name, value) in request_spec(&e.request).headers {
            let n = name.to_ascii_lowercase();
            if secrets::is_secret_header(&n) && !secrets::is_credential_header(&n) {
                self.seen.entry(n).or_default().push((i, value));
            }
        }
    }

    fn is_case(&self, e: &Exchange) -> bool {
        e.direction == Direction::Inbound
            && e.protocol == Protocol::Http
            && e.request.as_http_request().is_some()
            && answered(e).is_ok()
    }

    /// The second pass: does a value flow, into a later request or into any
    /// dependency call?
    pub fn second(&mut self, e: &Exchange) {
        if self.finder.is_none() {
            // Nonce-like by their values: two or more requests, each value new.
            self.seen.retain(|_, values| {
                let distinct: std::collections::BTreeSet<&str> =
                    values.iter().map(|(_, v)| v.as_str()).collect();
                values.len() >= 2 && distinct.len() == values.len()
            });
            let candidates: Vec<(String, usize, String)> = self
                .seen
                .iter()
                .flat_map(|(name, values)| {
                    values.iter().map(|(i, v)| (name.clone(), *i, v.clone()))
                })
                .collect();
            let finder = aho_corasick::AhoCorasick::new(candidates.iter().map(|(_, _, v)| v))
                .expect("literal patterns build");
            let names = candidates.into_iter().map(|(n, i, _)| (n, i)).collect();
            self.finder = Some((finder, names));
            self.requests = 0;
        }
        if self.seen.is_empty() || e.protocol != Protocol::Http {
            return;
        }
        let in_request = match e.direction {
            Direction::Inbound if self.is_case(e) => {
                self.requests += 1;
                Some(self.requests - 1)
            }
            Direction::Inbound => return,
            Direction::Outbound => None,
        };
        let text = serde_json::to_string(&request_spec(&e.request)).unwrap_or_default();
        let (finder, names) = self.finder.as_ref().expect("built above");
        for m in finder.find_overlapping_iter(&text) {
            let (name, origin) = &names[m.pattern().as_usize()];
            if in_request.is_none_or(|i| i > *origin) {
                self.flows.insert(name.clone());
            }
        }
    }

    /// `(name, requests)` of each nonce header, by name in lower case.
    pub fn result(&self) -> Vec<(String, usize)> {
        self.seen
            .iter()
            .filter(|(name, _)| self.finder.is_some() && !self.flows.contains(*name))
            .map(|(name, values)| (name.clone(), values.len()))
            .collect()
    }
}

/// A nonce header `record --redact` already replaced by a secret placeholder
/// lost its value, and no REEL_SECRET_* can give it back: one secret per
/// request would be asked for. Since a nonce is new on every request and
/// flows nowhere, any new value does; each such placeholder becomes
/// `reel-nonce-<case number>` wherever the case holds it (an app that echoes
/// the header echoes the stand-in). Returns how many were replaced.
fn stand_in_redacted_nonces(
    cases: &mut [(String, CaseFile, Vec<MockSpec>)],
    nonces: &[(String, usize)],
) -> usize {
    let mut replaced = 0;
    for (stem, case, _) in cases.iter_mut() {
        let placeholders: Vec<String> = case
            .request
            .headers
            .iter()
            .filter(|(n, v)| {
                nonces.iter().any(|(name, _)| n.eq_ignore_ascii_case(name))
                    && crate::template::secret_names(v).len() == 1
                    && v.starts_with("${secret:")
                    && v.ends_with('}')
            })
            .map(|(_, v)| v.clone())
            .collect();
        for ph in placeholders {
            let stand_in = format!("reel-nonce-{}", crate::suite::case_number(stem));
            let swap = |text: &str| text.replace(&ph, &stand_in);
            for (_, v) in case
                .request
                .headers
                .iter_mut()
                .chain(&mut case.response.headers)
            {
                *v = swap(v);
            }
            if let Some(body) = case.response.body.as_mut() {
                let text = serde_json::to_string(body).expect("bodies serialize");
                if text.contains(&ph) {
                    *body = serde_json::from_str(&swap(&text)).expect("a swapped body parses");
                }
            }
            replaced += 1;
        }
    }
    replaced
}

/// The cases (indexes into `cases`, each given as its time window) whose
/// window holds each of `calls`: started no later than the call and ended
/// no earlier, in index order. One sweep over both sorted by start, with
/// only the cases in flight at hand: a session's length adds no work per
/// call.
fn holders(cases: &[(Micros, Micros)], calls: &[(Micros, Micros)]) -> Vec<Vec<usize>> {
    let mut by_start: Vec<usize> = (0..cases.len()).collect();
    by_start.sort_by_key(|&i| cases[i].0);
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&n| calls[n].0);
    let mut out = vec![Vec::new(); calls.len()];
    let (mut next, mut in_flight) = (0, Vec::new());
    for n in order {
        let (start, end) = calls[n];
        while next < by_start.len() && cases[by_start[next]].0 <= start {
            in_flight.push(by_start[next]);
            next += 1;
        }
        // A case that ended before this call began holds no later call either.
        in_flight.retain(|&i| cases[i].1 >= start);
        let mut held: Vec<usize> = in_flight
            .iter()
            .copied()
            .filter(|&i| end <= cases[i].1)
            .collect();
        held.sort_unstable();
        out[n] = held;
    }
    out
}

/// A dependency call as the suite holds it.
enum Mock {
    Http(Box<MockSpec>),
    Postgres(PgMock),
    Redis(RedisMock),
    Mysql(Box<MysqlMock>),
}

impl Mock {
    /// Connection housekeeping (a pool's reset, session settings, a ping),
    /// which answers any case.
    fn is_housekeeping(&self) -> bool {
        match self {
            Mock::Postgres(m) => m.is_housekeeping(),
            Mock::Redis(m) => crate::suite::redis::is_housekeeping(&m.cmd),
            Mock::Mysql(m) => m.is_housekeeping(),
            Mock::Http(_) => false,
        }
    }
}

/// Where an outbound call goes in the suite.
enum Place {
    Case(usize),
    Startup,
    Shared,
}

/// Writes a suite made in memory into `dir`. A folder holding an earlier
/// suite has its generated parts (`cases/`, `mocks/`, `suite.json`)
/// replaced; any other non-empty folder is refused, so nothing of the
/// user's is overwritten.
pub fn write_suite(dir: &Path, g: &Generated) -> Result<Vec<std::path::PathBuf>, SuiteError> {
    use sink::Sink as _;
    let mut out = sink::Dir::create(dir)?;
    for (stem, case, mocks) in &g.cases {
        let wire = sink::Wire {
            pg: g.pg.get(stem).cloned().unwrap_or_default(),
            redis: g.redis.get(stem).cloned().unwrap_or_default(),
            mysql: g.mysql.get(stem).cloned().unwrap_or_default(),
        };
        out.case(stem.clone(), case.clone(), mocks.clone(), wire, &g.secrets)?;
    }
    for (pool, http, pg, redis, mysql) in [
        (
            sink::Pool::Startup,
            &g.startup,
            &g.startup_pg,
            &g.startup_redis,
            &g.startup_mysql,
        ),
        (
            sink::Pool::Shared,
            &g.shared,
            &g.shared_pg,
            &g.shared_redis,
            &g.shared_mysql,
        ),
    ] {
        let wire = sink::Wire {
            pg: pg.clone(),
            redis: redis.clone(),
            mysql: mysql.clone(),
        };
        out.pool(pool, http.clone(), wire, &g.secrets)?;
    }
    out.finish_pools(&g.secrets, &Default::default())?;
    out.finish(&g.suite, &g.secrets)
}

fn headers_spec(headers: &[Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            (
                h.name.clone(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect()
}

pub(crate) fn request_spec(p: &Payload) -> RequestSpec {
    match p {
        Payload::HttpRequest(r) => RequestSpec {
            method: r.method.clone(),
            target: r.target.clone(),
            headers: headers_spec(&r.headers),
            body: BodySpec::from_bytes(
                &r.body.bytes,
                header(&r.headers, "content-type").and_then(|v| std::str::from_utf8(v).ok()),
                r.body.truncated,
            ),
        },
        _ => RequestSpec {
            method: String::new(),
            target: String::new(),
            headers: Vec::new(),
            body: None,
        },
    }
}

/// The layout of a JSON request body whose bytes the compact form does not
/// give back, so that replay sends what the client sent.
fn request_layout(p: &Payload) -> Option<JsonLayout> {
    let r = p.as_http_request()?;
    if r.body.truncated {
        return None;
    }
    let content_type = header(&r.headers, "content-type").and_then(|v| std::str::from_utf8(v).ok());
    match BodySpec::from_bytes(&r.body.bytes, content_type, false)? {
        BodySpec::Json(v) => JsonLayout::of(&v, &r.body.bytes),
        _ => None,
    }
}

pub(crate) fn response_spec(e: &Exchange) -> ResponseSpec {
    match e.response.as_ref().and_then(Payload::as_http_response) {
        Some(r) => {
            // Shown decoded, so a reviewer reads it and inference, secrets
            // and references see its JSON; mocks encode it again.
            let headers = headers_spec(&r.headers);
            let answer = Answer::of(&headers, &r.body.bytes, r.body.truncated);
            if let Some(why) = &answer.undecoded {
                tracing::warn!(seq = e.seq, %why, "response body kept as sent");
            }
            ResponseSpec {
                status: r.status,
                headers,
                body_encoding: answer.encoding,
                body: answer.body,
            }
        }
        None => ResponseSpec {
            status: 502,
            headers: Vec::new(),
            body_encoding: None,
            body: e.error.clone().map(BodySpec::Text),
        },
    }
}

/// A recorded outbound call; its id is given once its place is known.
fn mock_spec(o: &Exchange) -> MockSpec {
    MockSpec {
        id: String::new(),
        seq: o.seq,
        dependency: o.dependency.clone().unwrap_or_default(),
        protocol: o.protocol.as_str().to_owned(),
        request: request_spec(&o.request),
        response: response_spec(o),
    }
}

/// An HTTP call as the summary names it: `pricing: GET /quote`.
fn describe(m: &MockSpec) -> String {
    let dep = if m.dependency.is_empty() {
        "?"
    } else {
        &m.dependency
    };
    match m.request.method.as_str() {
        "" => dep.to_owned(),
        method => format!("{dep}: {method} {}", m.request.target),
    }
}

/// `/books/42/quote?currency=EUR` → `books-42-quote`; `/` → `root`.
pub fn slug(target: &str) -> String {
    let path = crate::suite::origin_form(target)
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let mut out = String::new();
    for c in path.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out = out.trim_end_matches('-').to_owned();
    if out.len() > 48 {
        out.truncate(48);
        out = out.trim_end_matches('-').to_owned();
    }
    if out.is_empty() {
        "root".into()
    } else {
        out
    }
}

/// Quotes a word for `sh -c` when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+-,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub mod attribute;
pub mod chain;
pub mod dedup;
pub mod mysql;
pub mod outbound;
pub mod postgres;
pub mod redis;
pub mod repeats;
pub mod rows;
pub mod sink;

#[cfg(test)]
mod tests;
