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
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::matcher::{self, Inferred};
use crate::model::{header, Direction, Exchange, Header, Payload, Protocol, Session};
use crate::secrets;
use crate::suite::body::Answer;
use crate::suite::load::SuiteError;
use crate::suite::{
    to_pretty, AppSpec, BodySpec, CaseFile, DependencySpec, JsonLayout, MockSpec, Noise, PgMock,
    RequestSpec, ResponseSpec, SessionRef, SuiteFile, DEFAULT_IGNORED_HEADERS, FORMAT_VERSION,
};
use crate::time::Micros;

/// A suite in memory, ready to write.
#[derive(Debug, Clone)]
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
    pub report: GenerateReport,
    /// Recorded secret values behind the suite's `${secret:NAME}` placeholders.
    pub secrets: secrets::Secrets,
}

/// What the generator decided, for the summary it prints.
#[derive(Debug, Clone, Default)]
pub struct GenerateReport {
    /// Outbound calls made while several cases were in flight: `(seq, call, cases)`.
    pub ambiguous: Vec<(i64, String, Vec<String>)>,
    /// Of the calls made while several cases were in flight, those the
    /// evidence gave to one case: `(seq, call, case)`.
    pub attributed: Vec<(i64, String, String)>,
    /// Calls made while several cases were in flight that are connection
    /// housekeeping (a pool's reset, session settings), which answers any
    /// case: shared, and only counted.
    pub shared_housekeeping: usize,
    /// Outbound calls after the first case that lie in no case's window.
    pub outside: Vec<(i64, String)>,
    /// Inbound exchanges left out because the app never answered: `(seq, error)`.
    pub skipped: Vec<(i64, String)>,
    /// Typed matchers put in place of recorded values: `(case, path, kind)`.
    pub matchers: Vec<(String, String, &'static str)>,
    /// Exchanges of protocols this reel cannot replay yet: `(seq, protocol)`.
    pub unsupported: Vec<(i64, String)>,
    /// Recorded values replaced by references to earlier answers:
    /// `(case, where, reference)`.
    pub chained: Vec<chain::Chained>,
    /// Values several earlier answers could have produced, left as
    /// recorded: `(case, where, candidate references)`.
    pub unlinked: Vec<(String, String, Vec<String>)>,
    /// Fields that differed across repeats of one call: `(case, path, kind)`.
    pub repeats: Vec<(String, String, &'static str)>,
    /// Postgres requests left out because they were never answered: `(seq, why)`.
    pub unanswered: Vec<(i64, String)>,
    /// With `--dedup`: each kept case and the cases it stands for.
    pub deduplicated: Vec<(String, Vec<String>)>,
    /// Request headers named like secrets that carry a new value on every
    /// request and that value flows nowhere: per-request nonces, kept as
    /// recorded. `(name, requests)`.
    pub nonces: Vec<(String, usize)>,
    /// Of those, how many were redacted at record time (`record --redact`)
    /// and are sent as a stand-in value instead.
    pub redacted_nonces: usize,
    /// Postgres parameters the app makes afresh on every run (hashes, salts,
    /// ids, times), now typed matchers in the mock lines.
    pub param_matchers: Vec<postgres::ParamMatcher>,
}

/// Choices `reel generate` offers.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Keep one read case per request and response shape.
    pub dedup: bool,
    /// The project's own secret names and patterns (reel.toml's `[redact]`).
    pub secret_rules: secrets::SecretRules,
}

pub fn generate(session: &Session, exchanges: &[Exchange]) -> Generated {
    generate_with(session, exchanges, &Options::default())
}

pub fn generate_with(session: &Session, exchanges: &[Exchange], options: &Options) -> Generated {
    let mut g = Generator::new(session, options);
    for e in exchanges {
        g.add(e);
    }
    g.finish()
}

/// Builds a suite from a session's exchanges, given one at a time in
/// recorded order, so that a session can be read from the store as a
/// stream: what is kept of each exchange is its suite form, never the
/// recorded bytes.
pub struct Generator<'a> {
    session: &'a Session,
    options: &'a Options,
    report: GenerateReport,
    /// Outbound exchanges of protocols reel cannot replay yet, listed after
    /// the inbound ones.
    unsupported_calls: Vec<(i64, String)>,
    cases: Vec<(String, CaseFile, Vec<MockSpec>)>,
    /// Each case's time window: when its request came, when it was answered.
    case_windows: Vec<(Micros, Micros)>,
    /// Each call as the suite will hold it.
    calls: Vec<attribute::Call>,
    /// Each call's time window, for attribution.
    call_windows: Vec<(Micros, Micros)>,
    pg_names: postgres::Names,
    server_parameters: BTreeMap<String, Vec<(String, String)>>,
}

impl<'a> Generator<'a> {
    pub fn new(session: &'a Session, options: &'a Options) -> Self {
        Generator {
            session,
            options,
            report: GenerateReport::default(),
            unsupported_calls: Vec::new(),
            cases: Vec::new(),
            case_windows: Vec::new(),
            calls: Vec::new(),
            call_windows: Vec::new(),
            pg_names: postgres::Names::default(),
            server_parameters: BTreeMap::new(),
        }
    }

    /// Takes the next exchange, in recorded order.
    pub fn add(&mut self, e: &Exchange) {
        match e.direction {
            Direction::Inbound => self.add_inbound(e),
            Direction::Outbound => self.add_outbound(e),
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
        // The app answered when its response head arrived; an error after
        // that (the client hung up early) does not make the case unusable.
        if e.response.is_none() || e.first_byte_at.is_none() {
            let why = e.error.as_deref().unwrap_or("no response was recorded");
            self.report.skipped.push((e.seq, why.to_owned()));
            return;
        }
        // The number makes every name unique.
        let stem = format!(
            "{:04}-{}-{}",
            self.cases.len() + 1,
            req.method.to_ascii_lowercase(),
            slug(&req.target)
        );
        let case = CaseFile {
            name: stem.clone(),
            seq: e.seq,
            recorded_at: e.started_at.rfc3339(),
            request: request_spec(&e.request),
            request_layout: request_layout(&e.request),
            response: response_spec(e),
            noise: Noise::default(),
            mocks: None,
        };
        self.cases.push((stem, case, Vec::new()));
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

    /// The suite, once every exchange was given.
    pub fn finish(self) -> Generated {
        let Generator {
            session,
            options,
            mut report,
            unsupported_calls,
            mut cases,
            case_windows,
            mut calls,
            call_windows,
            pg_names: _,
            mut server_parameters,
        } = self;
        report.unsupported.extend(unsupported_calls);
        for (call, holders) in calls.iter_mut().zip(holders(&case_windows, &call_windows)) {
            call.holders = holders;
        }
        let first_start = case_windows.first().map(|w| w.0);
        let mut startup = Vec::new();
        let mut shared = Vec::new();
        let mut pg_cases: Vec<Vec<PgMock>> = vec![Vec::new(); cases.len()];
        let mut startup_pg = Vec::new();
        let mut shared_pg = Vec::new();
        // Calls made while several cases were in flight go to the case the
        // evidence names (see `attribute`), else to the shared pool.
        let owners = attribute::resolve(&cases, &calls);
        for (c, owner) in calls.into_iter().zip(owners) {
            let attribute::Call {
                seq,
                started_at,
                mock,
                holders,
            } = c;
            let call = match &mock {
                Mock::Postgres(m) => postgres::describe(m),
                Mock::Http(m) => describe(m),
            };
            let place = match (owner, holders.as_slice()) {
                (Some(n), [_, _, ..]) => {
                    report.attributed.push((seq, call, cases[n].0.clone()));
                    Place::Case(n)
                }
                (Some(n), _) => Place::Case(n),
                (None, []) if first_start.is_none_or(|f| started_at < f) => Place::Startup,
                (None, []) => {
                    report.outside.push((seq, call));
                    Place::Shared
                }
                // A pool's reset between uses belongs to no case: counted.
                (None, _) if matches!(&mock, Mock::Postgres(m) if m.is_housekeeping()) => {
                    report.shared_housekeeping += 1;
                    Place::Shared
                }
                (None, many) => {
                    let names = many.iter().map(|n| cases[*n].0.clone()).collect();
                    report.ambiguous.push((seq, call, names));
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
            }
        }
        let mut pg = BTreeMap::new();
        for ((stem, case, mocks), mut pg_mocks) in cases.iter_mut().zip(pg_cases) {
            for (n, m) in mocks.iter_mut().enumerate() {
                m.id = format!("{stem}#{}", n + 1);
            }
            for (n, m) in pg_mocks.iter_mut().enumerate() {
                m.id = format!("{stem}#{}", mocks.len() + n + 1);
            }
            if !mocks.is_empty() || !pg_mocks.is_empty() {
                case.mocks = Some(format!("mocks/{stem}.jsonl"));
            }
            if !pg_mocks.is_empty() {
                pg.insert(stem.clone(), pg_mocks);
            }
        }
        for (n, m) in startup.iter_mut().enumerate() {
            m.id = format!("startup#{}", n + 1);
        }
        for (n, m) in startup_pg.iter_mut().enumerate() {
            m.id = format!("startup#{}", startup.len() + n + 1);
        }
        for (n, m) in shared.iter_mut().enumerate() {
            m.id = format!("shared#{}", n + 1);
        }
        for (n, m) in shared_pg.iter_mut().enumerate() {
            m.id = format!("shared#{}", shared.len() + n + 1);
        }

        // Values that flow from one answer into later calls become references.
        let mut chains = chain::Chains::default();
        for (stem, case, mocks) in &mut cases {
            let number = crate::suite::case_number(stem).to_owned();
            chains.begin_case();
            chains.rewrite_request(stem, &mut case.request);
            for m in mocks.iter_mut() {
                chains.rewrite_request(stem, &mut m.request);
            }
            if let Some(v) = case.response.body.as_ref().and_then(BodySpec::as_json) {
                chains.learn(&number, v, &case.request);
            }
            chains.sent(&case.request);
            chains.rewrite_expected(&number, stem, &case.request, &mut case.response);
        }
        chains.mark_origins(&mut cases);
        report.chained = std::mem::take(&mut chains.report);
        report.unlinked = std::mem::take(&mut chains.ambiguous);

        report.repeats = repeats::loosen(&mut cases);
        if options.dedup {
            report.deduplicated = dedup::dedup(&mut cases);
        }
        let recorded_at = session.started_at.0 / 1_000_000;
        for (stem, case, _) in &mut cases {
            if let Some(v) = case.response.body.as_mut().and_then(BodySpec::as_json_mut) {
                let mut found = Vec::new();
                matcher::infer_at(v, "$", recorded_at, &mut found);
                for Inferred { path, kind } in found {
                    report.matchers.push((stem.clone(), path, kind));
                }
            }
        }

        let mut secrets = secrets::Secrets::with_rules(options.secret_rules.clone());
        report.nonces = nonce_headers(&cases, &startup, &shared);
        secrets.exempt_headers(report.nonces.iter().map(|(name, _)| name.clone()));
        report.redacted_nonces = stand_in_redacted_nonces(&mut cases, &report.nonces);
        // The first pass finds every secret; the second replaces each wherever
        // else it stands, also where it stood before it was first found (a
        // value a case echoes that a later case names as a secret).
        for _ in 0..2 {
            for (_, case, mocks) in &mut cases {
                secrets.scrub_request(&mut case.request);
                secrets.scrub_response(&mut case.response, true);
                for m in mocks.iter_mut() {
                    secrets.scrub_request(&mut m.request);
                    secrets.scrub_response(&mut m.response, false);
                }
            }
            for m in startup.iter_mut().chain(shared.iter_mut()) {
                secrets.scrub_request(&mut m.request);
                secrets.scrub_response(&mut m.response, false);
            }
            // After HTTP, so secret values found there are known in SQL traffic too.
            for m in pg
                .values_mut()
                .flatten()
                .chain(startup_pg.iter_mut())
                .chain(shared_pg.iter_mut())
            {
                secrets.scrub_pg(m);
            }
        }
        // A reference that a secret's matcher replaced afterwards is not in the
        // suite: the summary lists only what the files hold.
        let by_stem: std::collections::HashMap<&str, usize> = cases
            .iter()
            .enumerate()
            .map(|(i, (stem, _, _))| (stem.as_str(), i))
            .collect();
        report.chained.retain(|(case, place, reference)| {
            let Some((_, c, mocks)) = by_stem.get(case.as_str()).map(|&i| &cases[i]) else {
                return true;
            };
            // References are made in the case's request and HTTP mocks, and in
            // its expected response (places starting with "response").
            let text = if place.starts_with("response") {
                serde_json::to_string(&c.response).unwrap_or_default()
            } else {
                let mut t = serde_json::to_string(&c.request).unwrap_or_default();
                for m in mocks {
                    t.push_str(&serde_json::to_string(m).unwrap_or_default());
                }
                t
            };
            text.contains(reference.as_str())
        });
        // Values the app makes up afresh (a salted hash, a nonce, a new id) are
        // sent differently at replay: matched by kind, and listed. After
        // references and secrets: a value that came from an earlier answer, or
        // that is a secret the app was given, is filled in at replay instead.
        let mut all_pg: Vec<&mut PgMock> = pg
            .values_mut()
            .flatten()
            .chain(startup_pg.iter_mut())
            .chain(shared_pg.iter_mut())
            .collect();
        let sent = cases
            .iter()
            .map(|(stem, case, _)| (stem.clone(), attribute::sent_values(&case.request)))
            .collect();
        report.param_matchers = postgres::infer_params(&mut all_pg, recorded_at, &sent);
        let http_mocks = cases
            .iter_mut()
            .flat_map(|(_, _, m)| m.iter_mut())
            .chain(startup.iter_mut())
            .chain(shared.iter_mut());
        report
            .param_matchers
            .extend(outbound::infer_bodies(http_mocks, recorded_at));
        // What the summary lists is what is written: not the Postgres groups of
        // cases --dedup dropped.
        let kept: std::collections::HashSet<&str> =
            cases.iter().map(|(stem, _, _)| stem.as_str()).collect();
        report.param_matchers.retain(|p| {
            let stem = p.mock.rsplit_once('#').map_or("", |(s, _)| s);
            kept.contains(stem) || stem == "startup" || stem == "shared"
        });
        // The summary `generate` prints quotes calls (their SQL) too.
        for (_, call, _) in &mut report.ambiguous {
            *call = secrets.scrub_text(call);
        }
        for (_, call, _) in &mut report.attributed {
            *call = secrets.scrub_text(call);
        }
        for (_, call) in &mut report.outside {
            *call = secrets.scrub_text(call);
        }

        let setup = &session.setup;
        let dependencies = setup["dependencies"]
            .as_array()
            .map(|deps| {
                deps.iter()
                    .filter_map(|d| {
                        let name = d["name"].as_str()?.to_owned();
                        Some(DependencySpec {
                            server_parameters: server_parameters.remove(&name).unwrap_or_default(),
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
        let suite = SuiteFile {
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
        };
        Generated {
            suite,
            cases,
            startup,
            shared,
            pg,
            startup_pg,
            shared_pg,
            report,
            secrets,
        }
    }
}

/// Request headers named like secrets (not credential headers such as
/// Authorization or Cookie) whose value is new on every one of two or more
/// requests, and never seen in any later request or any dependency call: a
/// client's per-request nonce, which is no credential and that no later call
/// depends on. `(name, requests)`, by name in lower case.
fn nonce_headers(
    cases: &[(String, CaseFile, Vec<MockSpec>)],
    startup: &[MockSpec],
    shared: &[MockSpec],
) -> Vec<(String, usize)> {
    let mut seen: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (i, (_, case, _)) in cases.iter().enumerate() {
        for (name, value) in &case.request.headers {
            let n = name.to_ascii_lowercase();
            if secrets::is_secret_header(&n) && !secrets::is_credential_header(&n) {
                seen.entry(n).or_default().push((i, value.clone()));
            }
        }
    }
    // Nonce-like by their values: two or more requests, each value new.
    seen.retain(|_, values| {
        let distinct: std::collections::BTreeSet<&str> =
            values.iter().map(|(_, v)| v.as_str()).collect();
        values.len() >= 2 && distinct.len() == values.len()
    });
    if seen.is_empty() {
        return Vec::new();
    }
    // Does a value flow: into a later request, or into any dependency call?
    // One pass over every text finds all values at once.
    let candidates: Vec<(&str, usize, &str)> = seen
        .iter()
        .flat_map(|(name, values)| values.iter().map(|(i, v)| (name.as_str(), *i, v.as_str())))
        .collect();
    let finder = aho_corasick::AhoCorasick::new(candidates.iter().map(|(_, _, v)| v))
        .expect("literal patterns build");
    let mut flows: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let mut find = |text: &str, in_request: Option<usize>| {
        for m in finder.find_overlapping_iter(text) {
            let (name, origin, _) = candidates[m.pattern().as_usize()];
            if in_request.is_none_or(|i| i > origin) {
                flows.insert(name);
            }
        }
    };
    for (i, (_, c, _)) in cases.iter().enumerate() {
        find(
            &serde_json::to_string(&c.request).unwrap_or_default(),
            Some(i),
        );
    }
    for m in cases
        .iter()
        .flat_map(|(_, _, m)| m)
        .chain(startup)
        .chain(shared)
    {
        find(&serde_json::to_string(&m.request).unwrap_or_default(), None);
    }
    let mut out = Vec::new();
    for (name, values) in &seen {
        if !flows.contains(name.as_str()) {
            out.push((name.clone(), values.len()));
        }
    }
    out
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
}

/// Where an outbound call goes in the suite.
enum Place {
    Case(usize),
    Startup,
    Shared,
}

/// Writes the suite into `dir`. A folder holding an earlier suite has its
/// generated parts (`cases/`, `mocks/`, `suite.json`) replaced; any other
/// non-empty folder is refused, so nothing of the user's is overwritten.
pub fn write_suite(dir: &Path, g: &Generated) -> Result<Vec<PathBuf>, SuiteError> {
    let werr = |path: &Path| {
        let path = path.to_owned();
        move |source| SuiteError::Write { path, source }
    };
    if dir.exists() {
        let has_suite = dir.join("suite.json").exists();
        let empty = std::fs::read_dir(dir).map_err(werr(dir))?.next().is_none();
        if !has_suite && !empty {
            return Err(SuiteError::Invalid {
                path: dir.to_owned(),
                what:
                    "the folder is not empty and holds no suite.json; give an empty or new folder"
                        .into(),
            });
        }
        for sub in ["cases", "mocks"] {
            let p = dir.join(sub);
            if p.exists() {
                std::fs::remove_dir_all(&p).map_err(werr(&p))?;
            }
        }
    }
    let mut written = Vec::new();
    let mut put = |rel: String, text: String| -> Result<(), SuiteError> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(werr(parent))?;
        }
        // The safety net: no distinctive recorded secret reaches a file.
        crate::files::replace(&path, g.secrets.scrub_file(&text).as_bytes())
            .map_err(werr(&path))?;
        written.push(path);
        Ok(())
    };
    put("suite.json".into(), to_pretty(&g.suite))?;
    std::fs::create_dir_all(dir.join("cases")).map_err(werr(&dir.join("cases")))?;
    let no_pg = Vec::new();
    for (stem, case, mocks) in &g.cases {
        put(format!("cases/{stem}.json"), to_pretty(case))?;
        let pg = g.pg.get(stem).unwrap_or(&no_pg);
        if !mocks.is_empty() || !pg.is_empty() {
            put(format!("mocks/{stem}.jsonl"), jsonl(mocks, pg))?;
        }
    }
    if !g.startup.is_empty() || !g.startup_pg.is_empty() {
        put(
            "mocks/startup.jsonl".into(),
            jsonl(&g.startup, &g.startup_pg),
        )?;
    }
    if !g.shared.is_empty() || !g.shared_pg.is_empty() {
        put("mocks/shared.jsonl".into(), jsonl(&g.shared, &g.shared_pg))?;
    }
    Ok(written)
}

/// One line per mock, HTTP and Postgres together in recorded order.
fn jsonl(http: &[MockSpec], pg: &[PgMock]) -> String {
    let mut lines: Vec<(i64, String)> = http
        .iter()
        .map(|m| (m.seq, serde_json::to_string(m).expect("mocks serialize")))
        .chain(
            pg.iter()
                .map(|m| (m.seq, serde_json::to_string(m).expect("mocks serialize"))),
        )
        .collect();
    lines.sort_by_key(|(seq, _)| *seq);
    let mut s = String::new();
    for (_, line) in lines {
        s.push_str(&line);
        s.push('\n');
    }
    s
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

fn request_spec(p: &Payload) -> RequestSpec {
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

fn response_spec(e: &Exchange) -> ResponseSpec {
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
pub mod outbound;
pub mod postgres;
pub mod repeats;

#[cfg(test)]
mod tests;
