//! Which recorded Postgres request group answers what the app sends.
//!
//! A group is compared message by message in a form free of the driver's
//! statement and portal names: Parse by its normalized SQL and parameter
//! types; Bind, Describe, Execute and Close by the SQL of the statement they
//! name; Bind also by its parameter values and formats. A recorded UUID or
//! timestamp parameter (in text format) accepts any value of that format.
//! Candidates: the current case's groups in recorded order (each answers
//! once), then the shared pool and the startup set (which answer again).
//! Groups that only prepare or close statements may be answered by any
//! recording of the same messages, and work the app does while no case runs
//! by any case's unused recording: both happen when the driver or the app
//! gets round to them, which shifts between runs.

use std::ops::Range;
use std::sync::Mutex;

use reel_core::matcher::{is_timestamp, is_uuid};
use reel_core::suite::postgres::normalize_sql;
use reel_core::suite::{PgMock, PgRequest};
use reel_core::wire::postgres::{BackendMessage, FrontendMessage, Target};

use super::book::CaseMockLog;
use crate::diff::unified;
use crate::model::MockMiss;

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
        params: Vec<Option<Vec<u8>>>,
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
                    .map(|p| p.as_ref().map(|b| b.to_vec()))
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

    /// One readable line, for miss diffs.
    fn text(&self) -> String {
        let sql = |s: &Option<String>| s.clone().unwrap_or_else(|| "(unknown statement)".into());
        match self {
            Canon::Query(sql) => format!("Query: {sql}"),
            Canon::Parse { sql, types } if types.is_empty() => format!("Parse: {sql}"),
            Canon::Parse { sql, types } => format!("Parse: {sql}  types {types:?}"),
            Canon::Bind { sql: s, params, .. } => {
                let params: Vec<String> = params
                    .iter()
                    .map(|p| match p {
                        None => "NULL".into(),
                        Some(b) => match std::str::from_utf8(b) {
                            Ok(t) if !t.chars().any(char::is_control) => format!("'{t}'"),
                            _ => format!("0x{}", hex(b)),
                        },
                    })
                    .collect();
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
    // What the app sends once COPY data has begun (the Sync after CopyDone)
    // is read with the data, not matched.
    let copy_starts = request
        .iter()
        .position(|r| {
            matches!(
                r.message,
                FrontendMessage::CopyData { .. }
                    | FrontendMessage::CopyDone
                    | FrontendMessage::CopyFail { .. }
            )
        })
        .unwrap_or(request.len());
    request[..copy_starts]
        .iter()
        .filter_map(|r| Canon::of(&r.message, r.prepared.as_deref()))
        .collect()
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
        ) => {
            s1 == s2
                && f1 == f2
                && r1 == r2
                && p1.len() == p2.len()
                && p1.iter().zip(p2).all(|(a, b)| same_param(a, b))
        }
        _ => recorded == actual,
    }
}

/// Equal bytes, or both UUIDs, or both timestamps (values an app makes up
/// itself on every run).
fn same_param(recorded: &Option<Vec<u8>>, actual: &Option<Vec<u8>>) -> bool {
    match (recorded, actual) {
        (Some(r), Some(a)) if r != a => match (std::str::from_utf8(r), std::str::from_utf8(a)) {
            (Ok(r), Ok(a)) => (is_uuid(r) && is_uuid(a)) || (is_timestamp(r) && is_timestamp(a)),
            _ => false,
        },
        (r, a) => r == a,
    }
}

/// `prefix` of a group: all of it, or the part up to a Flush.
fn matches_prefix(recorded: &[Canon], actual: &[Canon], whole: bool) -> bool {
    if whole {
        recorded.len() == actual.len() && recorded.iter().zip(actual).all(|(r, a)| same(r, a))
    } else {
        recorded.len() >= actual.len() && recorded.iter().zip(actual).all(|(r, a)| same(r, a))
    }
}

/// A recorded answer picked for the app.
#[derive(Debug, Clone)]
pub struct Answer {
    pub id: String,
    /// The recorded request, to split the answer by message.
    pub request: Vec<PgRequest>,
    pub response: Vec<BackendMessage>,
}

struct Loaded {
    mock: PgMock,
    canon: Vec<Canon>,
}

impl Loaded {
    fn new(mock: PgMock) -> Self {
        Loaded {
            canon: canon_of(&mock.request),
            mock,
        }
    }

    fn answer(&self) -> Answer {
        Answer {
            id: self.mock.id.clone(),
            request: self.mock.request.clone(),
            response: self.mock.response.clone(),
        }
    }
}

struct CaseGroups {
    groups: Vec<Loaded>,
    used: Vec<bool>,
}

struct State {
    cases: Vec<CaseGroups>,
    current: Option<usize>,
    log: CaseMockLog,
    outside: Vec<MockMiss>,
}

pub struct PgBook {
    state: Mutex<State>,
    pool: Vec<Loaded>,
}

impl PgBook {
    /// `cases[i]` are case `i`'s groups in recorded order; `pool` the shared
    /// and startup groups.
    pub fn new(cases: Vec<Vec<PgMock>>, pool: Vec<PgMock>) -> Self {
        PgBook {
            state: Mutex::new(State {
                cases: cases
                    .into_iter()
                    .map(|g| {
                        let groups: Vec<Loaded> =
                            g.into_iter().filter(answered).map(Loaded::new).collect();
                        CaseGroups {
                            used: vec![false; groups.len()],
                            groups,
                        }
                    })
                    .collect(),
                current: None,
                log: CaseMockLog::default(),
                outside: Vec::new(),
            }),
            pool: pool.into_iter().filter(answered).map(Loaded::new).collect(),
        }
    }

    pub fn begin_case(&self, i: usize) {
        let mut s = self.state.lock().expect("pg book lock");
        s.current = Some(i);
        s.log = CaseMockLog::default();
        let outside = std::mem::take(&mut s.outside);
        s.log.misses.extend(outside);
    }

    pub fn end_case(&self) -> CaseMockLog {
        let mut s = self.state.lock().expect("pg book lock");
        let mut log = std::mem::take(&mut s.log);
        if let Some(i) = s.current.take() {
            let c = &s.cases[i];
            log.unused = c
                .groups
                .iter()
                .zip(&c.used)
                .filter(|(_, used)| !**used)
                .map(|(g, _)| g.mock.id.clone())
                .collect();
        }
        log
    }

    /// A miss found after the answer was chosen (COPY data that differs).
    pub fn note_miss(&self, miss: MockMiss) {
        let mut s = self.state.lock().expect("pg book lock");
        if s.current.is_some() {
            s.log.misses.push(miss);
        } else {
            s.outside.push(miss);
        }
    }

    /// The recorded answer to a group the app sent up to a Flush: looked up
    /// without using it, since the rest of the group decides.
    pub fn peek(&self, dependency: &str, actual: &[Canon]) -> Option<Answer> {
        let s = self.state.lock().expect("pg book lock");
        let case = s.current.map(|i| &s.cases[i]);
        case.into_iter()
            .flat_map(|c| {
                c.groups
                    .iter()
                    .zip(&c.used)
                    .filter(|(_, u)| !**u)
                    .map(|(g, _)| g)
            })
            .chain(&self.pool)
            .find(|g| g.mock.dependency == dependency && matches_prefix(&g.canon, actual, false))
            .map(Loaded::answer)
    }

    /// The recorded answer to a whole group, or the miss explained.
    pub fn answer(&self, dependency: &str, actual: &[Canon]) -> Result<Answer, MockMiss> {
        let mut s = self.state.lock().expect("pg book lock");
        if let Some(i) = s.current {
            let c = &s.cases[i];
            let hit = c.groups.iter().zip(&c.used).position(|(g, used)| {
                !*used && g.mock.dependency == dependency && matches_prefix(&g.canon, actual, true)
            });
            if let Some(n) = hit {
                s.cases[i].used[n] = true;
                let answer = s.cases[i].groups[n].answer();
                s.log.used.push(answer.id.clone());
                return Ok(answer);
            }
        }
        if let Some(g) = self
            .pool
            .iter()
            .find(|g| g.mock.dependency == dependency && matches_prefix(&g.canon, actual, true))
        {
            s.log.used.push(g.mock.id.clone());
            return Ok(g.answer());
        }
        // Preparing and closing statements happens when the driver gets round
        // to it (a statement dropped after the response went out is closed
        // during the next request), and the answers never depend on data: any
        // recording of the same messages will do.
        let housekeeping = actual.iter().all(|c| {
            matches!(
                c,
                Canon::Parse { .. } | Canon::Describe(..) | Canon::Close(..) | Canon::Sync
            )
        });
        // Work the app does while no case runs (connecting and migrating at
        // start-up) may have fallen inside a case's window when recorded.
        let outside = s.current.is_none();
        if housekeeping || outside {
            let found = s.cases.iter().enumerate().find_map(|(i, c)| {
                c.groups
                    .iter()
                    .zip(&c.used)
                    .position(|(g, used)| {
                        (housekeeping || !*used)
                            && g.mock.dependency == dependency
                            && matches_prefix(&g.canon, actual, true)
                    })
                    .map(|n| (i, n))
            });
            if let Some((i, n)) = found {
                s.cases[i].used[n] = true;
                let answer = s.cases[i].groups[n].answer();
                s.log.used.push(answer.id.clone());
                return Ok(answer);
            }
        }
        let candidates = s
            .current
            .map(|i| s.cases[i].groups.iter().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(&self.pool)
            .filter(|g| g.mock.dependency == dependency);
        let miss = nearest(dependency, actual, candidates);
        if s.current.is_some() {
            s.log.misses.push(miss.clone());
        } else {
            s.outside.push(miss.clone());
        }
        Err(miss)
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

fn nearest<'a>(
    dependency: &str,
    actual: &[Canon],
    candidates: impl Iterator<Item = &'a Loaded>,
) -> MockMiss {
    let actual_text = text_of(actual);
    let best = candidates
        .map(|g| {
            let text = text_of(&g.canon);
            let ratio = similar::TextDiff::from_chars(text.as_str(), actual_text.as_str()).ratio();
            (ratio, g, text)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let call = actual
        .iter()
        .map(Canon::text)
        .find(|t| t != "Sync")
        .unwrap_or_else(|| "Sync".into());
    let mut miss = MockMiss {
        dependency: dependency.to_owned(),
        call,
        nearest: None,
        diff: String::new(),
    };
    if let Some((_, g, text)) = best {
        miss.nearest = Some(format!(
            "{} ({})",
            g.mock.id,
            g.mock.sql().map(normalize_sql).unwrap_or_default()
        ));
        miss.diff = unified(&text, &actual_text);
    }
    miss
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
    use reel_core::wire::postgres::TxStatus;

    fn req(m: FrontendMessage, prepared: Option<&str>) -> PgRequest {
        PgRequest {
            message: m,
            prepared: prepared.map(str::to_owned),
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
        let miss = book.answer("db", &other_value).unwrap_err();
        assert_eq!(
            miss.nearest.as_deref(),
            Some("0001#1 (select * from books where id = $1)")
        );
        assert!(
            miss.diff
                .contains("-Bind: select * from books where id = $1  params ['42']"),
            "{}",
            miss.diff
        );
        assert!(
            miss.diff
                .contains("+Bind: select * from books where id = $1  params ['43']"),
            "{}",
            miss.diff
        );
        assert_eq!(book.answer("db", &other_name).unwrap().id, "0001#1");
        // Each of the case's groups answers once.
        assert!(book.answer("db", &other_name).is_err());
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
            book.answer("db", &canon_of(&migrate())).unwrap().id,
            "0001#1"
        );
        book.begin_case(0);
        // A close recorded in case 2 answers in case 1, and again later.
        assert_eq!(book.answer("db", &canon_of(&close())).unwrap().id, "0002#1");
        assert_eq!(book.answer("db", &canon_of(&close())).unwrap().id, "0002#1");
        // Inside a case, another case's data work is not taken.
        assert!(book.answer("db", &canon_of(&migrate())).is_err());
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
        assert!(book.answer("db", &canon_of(&q())).is_err());
    }

    #[test]
    fn made_up_uuids_and_timestamps_match_their_format_only() {
        let u1 = "6f1c2a1e-8a59-4b4e-9a53-0d0c1c8b8a11";
        let u2 = "0b5f0b38-07c4-4f0b-8a53-5f7f3e1a9c22";
        let a = Canon::of(&bind("", "insert", u1).message, Some("insert")).unwrap();
        let b = Canon::of(&bind("", "insert", u2).message, Some("insert")).unwrap();
        let c = Canon::of(&bind("", "insert", "not-a-uuid").message, Some("insert")).unwrap();
        assert!(same(&a, &b));
        assert!(!same(&a, &c));
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
}
