//! The runner: mocks up, app up, every case sent in recorded order and
//! compared, everything down again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use reel_core::suite::load::LoadedCase;
use reel_core::suite::{LoadedSuite, MysqlMock, PgMock, RedisMock};
use reel_core::template::{has_placeholder, resolve_str};

use crate::app::{authority_of, App};
use crate::compare::{accepted_response, compare, Rules};
use crate::context::{RefsOnly, ReplayContext, SecretsOnly};
use crate::errors::{error_chain, ReplayError};
use crate::freeze::{self, Clock};
use crate::mock::http::{serve, MockServer};
use crate::mock::mysql_book::MysqlBook;
use crate::mock::pg_book::PgBook;
use crate::mock::postgres::PgServerInfo;
use crate::mock::redis_book::RedisBook;
use crate::mock::MockBook;
use crate::model::{CaseResult, MockMiss, Outcome, RunReport};
use crate::resolve::{resolve_expected, resolve_request};
use crate::send::{HostHeader, Sender};
use crate::shard::Shard;
pub use nix::sys::signal::Signal;

#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Where to send cases; defaults to the suite's recorded target.
    pub target: Option<String>,
    /// The app command; defaults to the suite's, unless `target` names an
    /// app that is already running.
    pub app: Option<String>,
    pub ready: Option<String>,
    pub ready_timeout: Duration,
    pub shard: Option<Shard>,
    /// Unused recorded mocks fail their case.
    pub strict: bool,
    /// How long one case may take, from sending its request to the end of
    /// the answer (`--case-timeout`).
    pub request_timeout: Duration,
    /// The `Host` each request carries (`--host-header`).
    pub host_header: HostHeader,
    /// Values for `${secret:NAME}` placeholders (the environment wins).
    pub secrets: std::collections::BTreeMap<String, String>,
    /// Run the app under libfaketime, its clock set to each case's recorded
    /// time before the case is sent (see [`crate::freeze`]).
    pub freeze_time: bool,
    /// Blocking Redis commands answer after as long as they waited when
    /// recorded, not at once (`--recorded-waits`).
    pub recorded_waits: bool,
    /// Where the output of the app reel starts is appended (`None`: kept only
    /// for the reports, not in a file).
    pub app_log: Option<std::path::PathBuf>,
    /// Start no mocks: the real dependencies are reached at their recorded
    /// addresses, where the caller has put something that forwards to them
    /// (`reel generate --verify`).
    pub real_dependencies: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            target: None,
            app: None,
            ready: None,
            ready_timeout: Duration::from_secs(30),
            shard: None,
            strict: false,
            request_timeout: Duration::from_secs(30),
            host_header: HostHeader::Recorded,
            secrets: Default::default(),
            freeze_time: false,
            recorded_waits: false,
            app_log: None,
            real_dependencies: false,
        }
    }
}

/// What the runner tells its caller as the run goes (for progress output).
#[derive(Debug)]
pub enum Progress<'a> {
    /// Case `index` (from 0) of `total` is about to be sent.
    Started {
        index: usize,
        total: usize,
        name: &'a str,
    },
    /// A case's result, as soon as it is known.
    Finished(&'a CaseResult),
}

/// What the run started and must stop again, whichever way it ends: the one
/// shutdown path for success, errors and interruption.
#[derive(Default)]
struct Harness {
    mocks: Vec<MockServer>,
    app: Option<App>,
}

impl Harness {
    async fn shutdown(self) {
        if let Some(a) = self.app {
            a.stop(Duration::from_secs(5)).await;
        }
        stop_all(self.mocks).await;
    }
}

/// Runs the suite. `progress` hears of each case as it starts and ends.
/// When `interrupted` completes first (a signal), the run stops: the app's
/// whole process group and the mocks are stopped before this returns
/// [`ReplayError::Interrupted`].
pub async fn run(
    suite: &LoadedSuite,
    cfg: &RunConfig,
    progress: impl FnMut(Progress<'_>),
    interrupted: impl std::future::Future<Output = Signal>,
) -> Result<RunReport, ReplayError> {
    let mut harness = Harness::default();
    let result = tokio::select! {
        r = run_in(suite, cfg, progress, &mut harness) => r,
        signal = interrupted => Err(ReplayError::Interrupted { signal }),
    };
    harness.shutdown().await;
    result
}

async fn run_in(
    suite: &LoadedSuite,
    cfg: &RunConfig,
    mut progress: impl FnMut(Progress<'_>),
    harness: &mut Harness,
) -> Result<RunReport, ReplayError> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let target = cfg
        .target
        .clone()
        .unwrap_or_else(|| suite.suite.app.target.clone());
    let target = target.trim_end_matches('/').to_owned();
    // Sender::new refuses the same targets authority_of does, as BadTarget.
    let mut sender = Sender::new(&target, cfg.host_header.clone(), cfg.request_timeout)
        .map_err(|_| ReplayError::BadTarget(target.clone()))?;
    let command = match (&cfg.app, &cfg.target) {
        (Some(app), _) => Some(app.clone()),
        (None, Some(_)) => None,
        (None, None) => suite.suite.app.command.clone(),
    };
    let ready = cfg.ready.clone().or_else(|| suite.suite.app.ready.clone());

    let picks = cfg.shard.map(|s| s.picks(&suite.cases));
    let selected: Vec<&LoadedCase> = suite
        .cases
        .iter()
        .enumerate()
        .filter(|(i, _)| picks.as_ref().is_none_or(|p| p[*i]))
        .map(|(_, c)| c)
        .collect();
    let frozen = match (cfg.freeze_time, &command) {
        (false, _) => None,
        (true, None) => {
            return Err(ReplayError::FreezeTime(
                "reel must start the app to set its clock: give --app CMD, or use a suite that has an app command (not --target alone)".into(),
            ))
        }
        (true, Some(cmd)) => Some(Frozen::prepare(suite, &selected, cmd)?),
    };

    let context = Arc::new(ReplayContext::new(cfg.secrets.clone()));
    let missing = context.missing(suite, &selected);
    if !missing.is_empty() {
        return Err(ReplayError::MissingSecrets {
            list: missing_list(&missing),
        });
    }
    let book = Arc::new(
        MockBook::new(
            selected.iter().map(|c| c.mocks.clone()).collect(),
            suite.shared.clone(),
            suite.startup.clone(),
            context.clone(),
        )
        .with_noise(Rules::new(&[&suite.suite.noise])),
    );
    // Secrets do not change during a run: Postgres lines are filled once.
    let mut unfilled = HashMap::new();
    let pg_cases = selected
        .iter()
        .map(|c| fill(&c.pg, &context, &mut unfilled))
        .collect();
    let pg_pool = fill(
        in_recorded_order(&suite.startup_pg, &suite.shared_pg, |m| m.seq),
        &context,
        &mut unfilled,
    );
    let pg_book = Arc::new(PgBook::new(pg_cases, pg_pool));
    let redis_cases = selected
        .iter()
        .map(|c| fill(&c.redis, &context, &mut unfilled))
        .collect();
    let redis_pool = fill(
        in_recorded_order(&suite.startup_redis, &suite.shared_redis, |m| m.seq),
        &context,
        &mut unfilled,
    );
    let redis_book =
        Arc::new(RedisBook::new(redis_cases, redis_pool).with_recorded_waits(cfg.recorded_waits));
    let mysql_cases = selected
        .iter()
        .map(|c| fill(&c.mysql, &context, &mut unfilled))
        .collect();
    let mysql_pool = fill(
        in_recorded_order(&suite.startup_mysql, &suite.shared_mysql, |m| m.seq),
        &context,
        &mut unfilled,
    );
    let mysql_book = Arc::new(MysqlBook::new(mysql_cases, mysql_pool));
    let mut env = Vec::new();
    for dep in &suite.suite.dependencies {
        if cfg.real_dependencies {
            env.extend(reel_core::env::dep_vars(
                &dep.name,
                &dep.protocol,
                &dep.listen,
            ));
            continue;
        }
        let m = match dep.protocol.as_str() {
            "http" => serve(&dep.name, &dep.listen, book.clone()).await?,
            "postgres" => {
                let info = PgServerInfo::new(&dep.server_parameters);
                crate::mock::postgres::serve(&dep.name, &dep.listen, pg_book.clone(), info).await?
            }
            "redis" => {
                crate::mock::redis::serve(&dep.name, &dep.listen, redis_book.clone()).await?
            }
            "mysql" => {
                crate::mock::mysql::serve(&dep.name, &dep.listen, mysql_book.clone()).await?
            }
            _ => {
                return Err(ReplayError::UnsupportedProtocol {
                    name: dep.name.clone(),
                    protocol: dep.protocol.clone(),
                })
            }
        };
        env.extend(reel_core::env::dep_vars(
            &dep.name,
            &dep.protocol,
            &m.addr.to_string(),
        ));
        harness.mocks.push(m);
    }
    env.push(("REEL_TARGET".to_owned(), target.clone()));
    let unset: &[&str] = match &frozen {
        Some(f) => {
            env.extend(f.clock.env());
            freeze::UNSET
        }
        None => &[],
    };

    if let Some(cmd) = &command {
        let a = harness
            .app
            .insert(App::start(cmd, &env, unset, cfg.app_log.as_deref())?);
        if let (Some(_), Some(pid)) = (&frozen, a.id()) {
            a.remove_when_stopped(freeze::shared_memory_of(pid));
        }
        a.wait_ready(&target, ready.as_deref(), cfg.ready_timeout)
            .await
            .map_err(|e| match &frozen {
                Some(f) => freeze::under_faketime(e, &f.lib),
                None => e,
            })?;
        if let Some(f) = &frozen {
            f.check_loaded(&target)?;
        }
    }

    let mut cases = Vec::with_capacity(selected.len());
    for (i, case) in selected.iter().enumerate() {
        progress(Progress::Started {
            index: i,
            total: selected.len(),
            name: &case.case.name,
        });
        book.begin_case(i);
        pg_book.begin_case(i);
        redis_book.fill_references(i, &mut |text| resolve_str(text, context.as_ref()).ok());
        redis_book.begin_case(i);
        mysql_book.begin_case(i);
        if let Some(a) = &harness.app {
            a.begin_case();
        }
        let t0 = Instant::now();
        // Reports show the request as sent, but with secrets still hidden.
        let request = resolve_request(&case.case.request, &RefsOnly(&context))
            .unwrap_or_else(|_| case.case.request.clone());
        let clock_set = match &frozen {
            Some(f) => f.clock.set(f.times[i]).map_err(|e| e.to_string()),
            None => Ok(()),
        };
        let sent = match (
            clock_set,
            resolve_request(&case.case.request, context.as_ref()),
        ) {
            (Err(e), _) => Err(format!("cannot set the app's clock: {e}")),
            (Ok(()), Ok(req)) => sender
                .send(&req, case.case.request_layout.as_ref())
                .await
                .map_err(|e| {
                    format!(
                        "sending {} {}: {}",
                        request.method,
                        request.target,
                        error_chain(&e)
                    )
                }),
            (Ok(()), Err(e)) => Err(format!("cannot fill the request: {e}")),
        };
        let mut log = book
            .end_case()
            .merge(pg_book.end_case())
            .merge(redis_book.end_case())
            .merge(mysql_book.end_case());
        if !unfilled.is_empty() {
            explain_unfilled(&mut log.misses, &unfilled);
        }
        let mock_failures = std::mem::take(&mut log.failures);
        let rules = Rules::new(&[&suite.suite.noise, &case.case.noise]);
        let mut result = CaseResult {
            name: case.case.name.clone(),
            file: case.path.clone(),
            outcome: Outcome::Passed,
            duration_ms: t0.elapsed().as_secs_f64() * 1000.0,
            request,
            expected: case.case.response.clone(),
            actual: None,
            accepted: None,
            differences: Vec::new(),
            diff: String::new(),
            mocks_used: log.used,
            mocks_unused: log.unused,
            mock_misses: log.misses,
            error: None,
            app_log: Vec::new(),
        };
        let mut problems = Vec::new();
        match sent {
            Ok(actual) => {
                // The expected response may refer to this case's own answer
                // (a Location naming the id just created) and earlier ones.
                context.record(&case.case.name, &actual);
                let expected = resolve_expected(&case.case.response, context.as_ref())
                    .unwrap_or_else(|e| {
                        problems.push(format!("cannot fill the expected response: {e}"));
                        case.case.response.clone()
                    });
                let c = compare(&expected, &actual, &rules);
                result.accepted = Some(accepted_response(&case.case.response, &expected, &actual));
                result.differences = c.differences;
                result.diff = c.diff;
                result.actual = Some(actual);
            }
            Err(e) => problems.push(e),
        }
        problems.extend(mock_failures);
        if !result.mock_misses.is_empty() {
            problems.push(format!(
                "{} call(s) to dependencies matched no recorded interaction",
                result.mock_misses.len()
            ));
        }
        if cfg.strict && !result.mocks_unused.is_empty() {
            problems.push(format!(
                "recorded calls not made (--strict): {}",
                result.mocks_unused.join(", ")
            ));
        }
        if !problems.is_empty() {
            result.error = Some(problems.join("; "));
        }
        if result.error.is_some() || !result.differences.is_empty() {
            result.outcome = Outcome::Failed;
        }
        if let Some(a) = &harness.app {
            // What the app printed while a failing case ran explains it; a
            // passing case's output is only in the log file.
            if result.outcome == Outcome::Failed {
                result.app_log = a.end_case_settled().await;
            } else {
                a.end_case();
            }
        }
        if context.handed_out_any() {
            mask_secrets(&mut result, &context);
        }
        progress(Progress::Finished(&result));
        cases.push(result);
    }

    let mut report = RunReport {
        suite_name: suite.suite.name.clone(),
        suite_dir: suite.dir.clone(),
        started_at,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        target,
        shard: cfg.shard.map(|s| (s.k, s.n)),
        passed: 0,
        failed: 0,
        skipped: 0,
        cases,
    };
    report.recount();
    Ok(report)
}

/// `  REEL_SECRET_NAME (used by cases/0001-x.json, ...)`, a line each; at
/// most three files named per secret.
fn missing_list(
    missing: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> String {
    missing
        .iter()
        .map(|(name, files)| {
            let mut shown: Vec<&str> = files.iter().take(3).map(String::as_str).collect();
            let more = files.len().saturating_sub(3);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            shown.sort();
            format!("  REEL_SECRET_{name} (used by {}{tail})", shown.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a report shows of a case must not carry the secret values the run
/// filled in (an app may echo them): they become placeholders again.
fn mask_secrets(result: &mut CaseResult, context: &ReplayContext) {
    result.diff = context.mask(&result.diff);
    result.error = result.error.as_deref().map(|e| context.mask(e));
    for d in &mut result.differences {
        d.expected = d.expected.as_deref().map(|v| context.mask(v));
        d.actual = d.actual.as_deref().map(|v| context.mask(v));
    }
    for m in &mut result.mock_misses {
        m.call = context.mask(&m.call);
        m.nearest = m.nearest.as_deref().map(|n| context.mask(n));
        m.diff = context.mask(&m.diff);
        for v in &mut m.values {
            v.recorded = v.recorded.as_deref().map(|t| context.mask(t));
            v.actual = v.actual.as_deref().map(|t| context.mask(t));
        }
    }
    if let Some(accepted) = &result.accepted {
        let text = serde_json::to_string(accepted).expect("responses serialize");
        if let Ok(a) = serde_json::from_str(&context.mask(&text)) {
            result.accepted = Some(a);
        }
    }
    for l in &mut result.app_log {
        *l = context.mask(l);
    }
    if let Some(actual) = &result.actual {
        let text = serde_json::to_string(actual).expect("responses serialize");
        let masked = context.mask(&text);
        if masked != text {
            if let Ok(a) = serde_json::from_str(&masked) {
                result.actual = Some(a);
            }
        }
    }
}

/// A pool's lines, start-up and shared together, in the order they were
/// recorded: the same call recorded several times answers in that order,
/// so a call the app makes while starting gets the answer it got then.
fn in_recorded_order<'a, T>(
    startup: &'a [T],
    shared: &'a [T],
    seq: impl Fn(&T) -> i64,
) -> Vec<&'a T> {
    let mut all: Vec<&T> = startup.iter().chain(shared).collect();
    all.sort_by_key(|m| seq(m));
    all
}

/// A wire-protocol mock line (Postgres, Redis): its id, and a visit of
/// every text a secret's placeholder can stand in.
trait Line: Clone {
    fn id(&self) -> &str;
    fn rewrite_texts(&mut self, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool;
}

impl Line for PgMock {
    fn id(&self) -> &str {
        &self.id
    }
    fn rewrite_texts(&mut self, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool {
        PgMock::rewrite_texts(self, f)
    }
}

impl Line for MysqlMock {
    fn id(&self) -> &str {
        &self.id
    }
    fn rewrite_texts(&mut self, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool {
        MysqlMock::rewrite_texts(self, f)
    }
}

impl Line for RedisMock {
    fn id(&self) -> &str {
        &self.id
    }
    fn rewrite_texts(&mut self, f: &mut dyn FnMut(&str, &str) -> Option<String>) -> bool {
        RedisMock::rewrite_texts(self, f)
    }
}

/// Mock lines with their secrets filled; a line that cannot be filled
/// stays as recorded, and why is kept in `unfilled` by its id.
fn fill<'a, T: Line + 'a>(
    mocks: impl IntoIterator<Item = &'a T>,
    context: &ReplayContext,
    unfilled: &mut HashMap<String, String>,
) -> Vec<T> {
    mocks
        .into_iter()
        .map(|m| {
            fill_secrets(m, context).unwrap_or_else(|why| {
                unfilled.insert(m.id().to_owned(), why);
                m.clone()
            })
        })
        .collect()
}

/// A mock line with its `${secret:NAME}` placeholders filled, or why it
/// cannot be (it is then used as recorded, and matches nothing that
/// differs).
fn fill_secrets<T: Line>(m: &T, context: &ReplayContext) -> Result<T, String> {
    let mut filled = m.clone();
    let mut missing: Vec<String> = Vec::new();
    filled.rewrite_texts(&mut |_, text| {
        if !has_placeholder(text) {
            return None;
        }
        resolve_str(text, &SecretsOnly(context))
            .map_err(|e| {
                if !missing.contains(&e) {
                    missing.push(e);
                }
            })
            .ok()
    });
    if missing.is_empty() {
        Ok(filled)
    } else {
        Err(missing.join("; "))
    }
}

/// A miss whose nearest recording could not be filled says which secret it lacks.
fn explain_unfilled(misses: &mut [MockMiss], unfilled: &HashMap<String, String>) {
    for m in misses {
        let id = m
            .nearest
            .as_deref()
            .map(|n| n.split_once(" (").map_or(n, |(id, _)| id));
        if let Some((id, why)) = id.and_then(|id| unfilled.get_key_value(id)) {
            m.diff.push_str(&format!(
                "({id} holds a secret that could not be filled in: {why})\n"
            ));
        }
    }
}

/// The app's clock under `--freeze-time` and the time of each selected case.
struct Frozen {
    lib: std::path::PathBuf,
    clock: Clock,
    times: Vec<DateTime<Utc>>,
}

impl Frozen {
    /// Finds libfaketime, refuses an app it cannot reach, and reads every
    /// case's time before anything is started.
    fn prepare(
        suite: &LoadedSuite,
        selected: &[&LoadedCase],
        command: &str,
    ) -> Result<Self, ReplayError> {
        let lib = freeze::library()?;
        freeze::check_command(command)?;
        let times = selected
            .iter()
            .map(|c| {
                freeze::parse_time(&c.case.recorded_at).ok_or_else(|| {
                    ReplayError::FreezeTime(format!(
                        "{}: recorded_at '{}' is not an RFC 3339 time",
                        c.path.display(),
                        c.case.recorded_at
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The app starts at the time the recording did.
        let start = freeze::parse_time(&suite.suite.session.recorded_at)
            .or_else(|| times.first().copied())
            .unwrap_or_else(Utc::now);
        Ok(Frozen {
            clock: Clock::new(lib.clone(), start)?,
            lib,
            times,
        })
    }

    fn check_loaded(&self, target: &str) -> Result<(), ReplayError> {
        let authority = authority_of(target)?;
        let port = authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .ok_or_else(|| ReplayError::BadTarget(target.to_owned()))?;
        freeze::check_loaded(port, &self.lib)
    }
}

async fn stop_all(mocks: Vec<MockServer>) {
    for m in mocks {
        m.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reel_core::suite::PgRequest;
    use reel_core::wire::postgres::{BackendMessage, FrontendMessage};

    fn line(param: &str, row: &str) -> PgMock {
        let sql = "insert into users (pw) values ($1) returning note";
        PgMock {
            id: "0001-post-login#2".into(),
            seq: 2,
            dependency: "db".into(),
            protocol: "postgres".into(),
            connection: 1,
            request: vec![PgRequest {
                message: FrontendMessage::Bind {
                    portal: String::new(),
                    statement: "s1".into(),
                    param_formats: vec![],
                    params: vec![Some(param.as_bytes().to_vec().into())],
                    result_formats: vec![],
                },
                prepared: Some(sql.into()),
                matchers: Default::default(),
            }],
            response: vec![BackendMessage::DataRow {
                values: vec![Some(row.as_bytes().to_vec().into())],
            }],
        }
    }

    #[test]
    fn a_pool_answers_in_recorded_order_start_up_first() {
        let (mut a, mut b, mut c) = (line("x", "1"), line("x", "2"), line("x", "3"));
        (a.seq, b.seq, c.seq) = (1, 40, 7);
        let startup = vec![a, c];
        let shared = vec![b];
        let order: Vec<i64> = in_recorded_order(&startup, &shared, |m| m.seq)
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(order, [1, 7, 40]);
    }

    #[test]
    fn postgres_lines_get_their_secrets_and_nothing_else() {
        let context =
            ReplayContext::new([("PASSWORD".to_owned(), "hunter2-long".to_owned())].into());
        let recorded = line("${secret:PASSWORD}", "by ${0001.response.body.id}");
        assert_eq!(
            fill_secrets(&recorded, &context).unwrap(),
            line("hunter2-long", "by ${0001.response.body.id}")
        );
        // Reports hide the value again.
        assert_eq!(context.mask("'hunter2-long'"), "'${secret:PASSWORD}'");

        let missing = line("${secret:NOPE}", "x");
        let why = fill_secrets(&missing, &context).unwrap_err();
        assert!(why.starts_with("secret NOPE is not set"), "{why}");
        let mut misses = vec![MockMiss {
            dependency: "db".into(),
            call: "Bind: insert ...".into(),
            nearest: Some("0001-post-login#2 (insert ...)".into()),
            diff: String::new(),
            values: Vec::new(),
        }];
        explain_unfilled(&mut misses, &HashMap::from([(missing.id.clone(), why)]));
        assert!(
            misses[0].diff.starts_with(
                "(0001-post-login#2 holds a secret that could not be filled in: secret NOPE is not set: set REEL_SECRET_NOPE"
            ),
            "{}",
            misses[0].diff
        );
    }
}
