//! Which recorded MySQL line answers a command.
//!
//! A command is matched on its dependency, its name (`COM_QUERY`,
//! `COM_STMT_EXECUTE`, ...), its SQL (white space aside) and an execute's
//! parameter values, first against the current case's lines in recorded
//! order (each answers once), then the startup and shared pool (unused lines
//! first, then used ones, newest first), and, for housekeeping or while no
//! case runs, any case's. No fuzzy fallback: a command that matches nothing
//! is a miss, reported with the nearest recorded statement and a diff.
//!
//! A prepare is answered from any recording of the same SQL, wherever it
//! was prepared (a pool prepares a statement once per connection, not once
//! per case), or, where only its executes were recorded, from what they
//! show of it.

use std::collections::HashMap;
use std::sync::Mutex;

use reel_core::matcher::{accepts, as_matcher};
use reel_core::suite::mysql::{
    is_housekeeping_sql, normalize_sql, sql_literals, sql_shape, MysqlMock,
};
use reel_core::suite::redis::{accepts_text, arg_matches, holds_matcher};
use serde_json::{json, Map, Value};

use super::book::{CaseMockLog, CaseRun};
use crate::diff::unified;
use crate::model::{MissValue, MockMiss};

/// A command as the mock read it.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    pub cmd: &'a str,
    pub sql: Option<&'a [u8]>,
    pub params: Option<&'a [Value]>,
    /// What another command carried (`COM_FIELD_LIST`'s table).
    pub body: Option<&'a [u8]>,
}

/// A command whole, for a diff: its name, its SQL as compared, its
/// parameters.
fn whole(cmd: &str, sql: Option<&[u8]>, params: Option<&[Value]>) -> String {
    let mut s = cmd.to_owned();
    if let Some(sql) = sql {
        s.push(' ');
        s.push_str(&String::from_utf8_lossy(&normalize_sql(sql)));
    }
    if let Some(p) = params {
        s.push_str(&format!(" {}", Value::Array(p.to_vec())));
    }
    s
}

impl Ask<'_> {
    fn describe(&self) -> String {
        whole(self.cmd, self.sql, self.params)
    }

    fn housekeeping(&self) -> bool {
        match self.cmd {
            "COM_QUERY" => self.sql.is_some_and(is_housekeeping_sql),
            "COM_PING"
            | "COM_INIT_DB"
            | "COM_SET_OPTION"
            | "COM_RESET_CONNECTION"
            | "COM_STMT_RESET"
            | "COM_CHANGE_USER" => true,
            _ => false,
        }
    }
}

/// Two values are the same parameter: equal, the same number however
/// written (`42` and `42.0`: a JavaScript client binds numbers as doubles),
/// or one the recorded matcher (`{"$reel": "uuid"}`) accepts.
fn same_value(recorded: &Value, sent: &Value) -> bool {
    if let Some(kind) = as_matcher(recorded) {
        return accepts(kind, sent)
            || sent.as_str().is_some_and(|t| accepts_text(kind, t))
            || (sent.is_number() && accepts_text(kind, &sent.to_string()));
    }
    match (recorded, sent) {
        // As floats only where one side is one: two integers past 2^53
        // that differ must not match.
        (Value::Number(a), Value::Number(b)) => {
            a == b || ((a.is_f64() || b.is_f64()) && a.as_f64() == b.as_f64())
        }
        (a, b) => a == b,
    }
}

/// The recorded SQL accepts the sent SQL: the same, white space aside, or
/// the same around the values its matchers stand for.
fn same_sql(recorded: Option<&[u8]>, sent: Option<&[u8]>) -> bool {
    match (recorded.map(normalize_sql), sent.map(normalize_sql)) {
        (Some(r), Some(s)) => r == s || arg_matches(&r, &s),
        (r, s) => r == s,
    }
}

fn matches(l: &MysqlMock, dependency: &str, ask: &Ask) -> bool {
    l.dependency == dependency
        && l.cmd == ask.cmd
        && same_sql(l.sql.as_deref(), ask.sql)
        && l.body.as_deref().unwrap_or_default() == ask.body.unwrap_or_default()
        && match (&l.params, ask.params) {
            (Some(r), Some(s)) => {
                r.len() == s.len() && r.iter().zip(s).all(|(r, s)| same_value(r, s))
            }
            (None, None) => true,
            (None, Some(s)) => s.is_empty(),
            (Some(r), None) => r.is_empty(),
        }
}

/// What a line is looked up by: its dependency, command and SQL as compared.
type Key = (String, String, Vec<u8>);

/// A line whose SQL holds a matcher is looked up by its command alone: its
/// key has no SQL.
fn key_of(m: &MysqlMock) -> Key {
    let sql = match m.sql.as_deref() {
        Some(s) if holds_matcher(s) => Vec::new(),
        Some(s) => normalize_sql(s),
        None => Vec::new(),
    };
    (m.dependency.clone(), m.cmd.clone(), sql)
}

fn ask_key(dependency: &str, ask: &Ask) -> Key {
    (
        dependency.to_owned(),
        ask.cmd.to_owned(),
        ask.sql.map(normalize_sql).unwrap_or_default(),
    )
}

/// Lines by key, each key's in recorded order: finding the lines a
/// command may match costs the same however many lines a suite holds.
#[derive(Default)]
struct Index(HashMap<Key, Vec<usize>>);

impl Index {
    fn new<'a>(lines: impl Iterator<Item = &'a MysqlMock>) -> Self {
        let mut map: HashMap<Key, Vec<usize>> = HashMap::new();
        for (n, m) in lines.enumerate() {
            map.entry(key_of(m)).or_default().push(n);
        }
        Index(map)
    }

    /// The lines an ask of `key` may match: those of its SQL and those
    /// whose SQL holds matchers, in recorded order.
    fn get(&self, key: &Key) -> Vec<usize> {
        let exact = self.0.get(key).map_or(&[][..], Vec::as_slice);
        let loose_key = (key.0.clone(), key.1.clone(), Vec::new());
        let loose = match key.2.is_empty() {
            true => &[][..],
            false => self.0.get(&loose_key).map_or(&[][..], Vec::as_slice),
        };
        let mut all: Vec<usize> = exact.iter().chain(loose).copied().collect();
        all.sort_unstable();
        all
    }
}

struct CaseLines {
    lines: Vec<MysqlMock>,
    used: Vec<bool>,
    index: Index,
}

struct State {
    cases: Vec<CaseLines>,
    pool_used: Vec<bool>,
    run: CaseRun,
}

/// Every recorded MySQL line of a run, and what each case used.
pub struct MysqlBook {
    state: Mutex<State>,
    pool: Vec<MysqlMock>,
    pool_index: Index,
    /// Every case's lines, as `(case, line)`, by key.
    all: Vec<(usize, usize)>,
    all_index: Index,
}

/// Where an answer came from.
enum At {
    Case(usize, usize),
    Pool(usize),
    Again(usize, usize),
}

impl MysqlBook {
    /// `cases[i]` are case `i`'s lines in recorded order; `pool` the startup
    /// and shared lines, in recorded order.
    pub fn new(cases: Vec<Vec<MysqlMock>>, pool: Vec<MysqlMock>) -> Self {
        let cases: Vec<CaseLines> = cases
            .into_iter()
            .map(|lines| CaseLines {
                used: vec![false; lines.len()],
                index: Index::new(lines.iter()),
                lines,
            })
            .collect();
        let all: Vec<(usize, usize)> = cases
            .iter()
            .enumerate()
            .flat_map(|(i, c)| (0..c.lines.len()).map(move |n| (i, n)))
            .collect();
        let all_index = Index::new(all.iter().map(|&(i, n)| &cases[i].lines[n]));
        MysqlBook {
            pool_index: Index::new(pool.iter()),
            all,
            all_index,
            state: Mutex::new(State {
                cases,
                pool_used: vec![false; pool.len()],
                run: CaseRun::default(),
            }),
            pool,
        }
    }

    pub fn begin_case(&self, i: usize) {
        self.state.lock().expect("mysql book lock").run.begin(i);
    }

    /// The case's log: its lines not used (housekeeping aside) too.
    pub fn end_case(&self) -> CaseMockLog {
        let mut s = self.state.lock().expect("mysql book lock");
        let (current, mut log) = s.run.end();
        if let Some(i) = current {
            let c = &s.cases[i];
            log.unused = c
                .lines
                .iter()
                .zip(&c.used)
                .filter(|(l, used)| !**used && !l.is_housekeeping())
                .map(|(l, _)| l.id.clone())
                .collect();
        }
        log
    }

    /// An answer that could not be sent.
    pub fn failed(&self, what: String) {
        self.state
            .lock()
            .expect("mysql book lock")
            .run
            .failure(what);
    }

    /// The greeting recorded for `dependency`: its server version,
    /// capabilities and character set.
    pub fn greeting(&self, dependency: &str) -> Option<Map<String, Value>> {
        let s = self.state.lock().expect("mysql book lock");
        let cases = s.cases.iter().flat_map(|c| &c.lines);
        self.pool
            .iter()
            .chain(cases)
            .find(|l| l.dependency == dependency && l.cmd == "connect")
            .and_then(|l| l.answer.get("greeting")?.as_object().cloned())
    }

    /// How a prepare of `sql` is answered: a recorded prepare of it from
    /// anywhere, else one made from a recorded execute of it (its
    /// parameter count and result columns).
    pub fn prepared(&self, dependency: &str, sql: &[u8]) -> Option<Map<String, Value>> {
        let s = self.state.lock().expect("mysql book lock");
        let all: Vec<&MysqlMock> = self
            .pool
            .iter()
            .chain(s.cases.iter().flat_map(|c| &c.lines))
            .filter(|l| l.dependency == dependency && same_sql(l.sql.as_deref(), Some(sql)))
            .collect();
        // A prepare that succeeded, before one recorded failing.
        let prepares = || all.iter().filter(|l| l.cmd == "COM_STMT_PREPARE");
        if let Some(p) = prepares()
            .find(|l| l.answer.contains_key("prepared"))
            .or_else(|| prepares().next())
        {
            return Some(p.answer.clone());
        }
        let e = all.iter().find(|l| l.cmd == "COM_STMT_EXECUTE")?;
        let params = e.params.as_ref().map_or(0, Vec::len);
        let columns = e
            .answer
            .get("results")
            .and_then(|r| r.get(0))
            .and_then(|r| r.get("columns"))
            .cloned()
            .unwrap_or_else(|| json!([]));
        // A parameter's definition says little to a client: a string, as
        // MySQL describes a `?` whose type it does not know.
        let param = json!({"schema": "", "table": "", "org_table": "", "name": "?", "org_name": "",
            "charset": 63, "length": 0, "type": "VAR_STRING", "flags": 128, "decimals": 0});
        let mut m = Map::new();
        m.insert(
            "prepared".into(),
            json!({"stmt": 0, "params": vec![param; params], "columns": columns, "warnings": 0}),
        );
        Some(m)
    }

    /// The recorded answer to `ask` on `dependency`, or, where none is
    /// recorded, `fallback` (a session setting the mock answers itself),
    /// logged as neither used nor missed.
    pub fn answer_or(
        &self,
        dependency: &str,
        ask: &Ask,
        fallback: Map<String, Value>,
    ) -> Map<String, Value> {
        match self.find(dependency, ask) {
            Some((_, a)) => a,
            None => fallback,
        }
    }

    /// The recorded answer to `ask` on `dependency`, with its line's id; a
    /// miss is logged for the case and returned.
    pub fn answer(
        &self,
        dependency: &str,
        ask: &Ask,
    ) -> Result<(String, Map<String, Value>), MockMiss> {
        if let Some(found) = self.find(dependency, ask) {
            return Ok(found);
        }
        let mut s = self.state.lock().expect("mysql book lock");
        let miss = self.miss(&s, dependency, ask);
        s.run.miss(miss.clone());
        Err(miss)
    }

    /// A prepare of `sql` that [`MysqlBook::prepared`] has no answer for,
    /// logged for the case as a miss with the nearest recorded statement
    /// (prepared or executed) and returned.
    pub fn prepare_missed(&self, dependency: &str, sql: &[u8]) -> MockMiss {
        let ask = Ask {
            cmd: "COM_STMT_PREPARE",
            sql: Some(sql),
            params: None,
            body: None,
        };
        let mut s = self.state.lock().expect("mysql book lock");
        let miss = self.miss(&s, dependency, &ask);
        s.run.miss(miss.clone());
        miss
    }

    /// The recorded answer to `ask`, its line marked used and logged.
    fn find(&self, dependency: &str, ask: &Ask) -> Option<(String, Map<String, Value>)> {
        let mut s = self.state.lock().expect("mysql book lock");
        let key = ask_key(dependency, ask);
        let found = {
            let mut at = None;
            if let Some(i) = s.run.current {
                let c = &s.cases[i];
                at = c
                    .index
                    .get(&key)
                    .iter()
                    .find(|&&n| !c.used[n] && matches(&c.lines[n], dependency, ask))
                    .map(|&n| At::Case(i, n));
            }
            if at.is_none() {
                let in_pool: Vec<usize> = self
                    .pool_index
                    .get(&key)
                    .iter()
                    .copied()
                    .filter(|&n| matches(&self.pool[n], dependency, ask))
                    .collect();
                at = in_pool
                    .iter()
                    .find(|&&n| !s.pool_used[n])
                    .or(in_pool.last())
                    .map(|&n| At::Pool(n));
            }
            if at.is_none() && (ask.housekeeping() || s.run.current.is_none()) {
                at = self
                    .all_index
                    .get(&key)
                    .iter()
                    .map(|&k| self.all[k])
                    .find(|&(i, n)| matches(&s.cases[i].lines[n], dependency, ask))
                    .map(|(i, n)| At::Again(i, n));
            }
            at
        };
        let line = match found {
            Some(At::Case(i, n)) => {
                s.cases[i].used[n] = true;
                Some(&s.cases[i].lines[n])
            }
            Some(At::Pool(n)) => {
                s.pool_used[n] = true;
                Some(&self.pool[n])
            }
            Some(At::Again(i, n)) => Some(&s.cases[i].lines[n]),
            None => None,
        };
        let (id, answer) = line.map(|l| (l.id.clone(), l.answer.clone()))?;
        s.run.log.used.push(id.clone());
        Some((id, answer))
    }

    /// The miss of `ask`, with the nearest line of the same command (the
    /// case's own first, then the pool's, then any case's).
    fn miss(&self, s: &State, dependency: &str, ask: &Ask) -> MockMiss {
        let text = ask.describe();
        let own = s.run.current.into_iter().flat_map(|i| &s.cases[i].lines);
        let others = s.cases.iter().flat_map(|c| &c.lines);
        let mut best: Option<(f32, &MysqlMock)> = None;
        // A prepare is near a statement however it was run: its SQL alone.
        let prepare = ask.cmd == "COM_STMT_PREPARE";
        let recorded = |l: &MysqlMock| match prepare {
            true => whole(ask.cmd, l.sql.as_deref(), None),
            false => whole(&l.cmd, l.sql.as_deref(), l.params.as_deref()),
        };
        for l in own.chain(&self.pool).chain(others) {
            let kin = l.cmd == ask.cmd || (prepare && l.cmd == "COM_STMT_EXECUTE");
            if l.dependency != dependency || !kin {
                continue;
            }
            let recorded = recorded(l);
            let ratio = similar::TextDiff::configure()
                .timeout(std::time::Duration::from_millis(20))
                .diff_chars(&recorded, &text)
                .ratio();
            if best.is_none_or(|(r, _)| ratio > r) {
                best = Some((ratio, l));
            }
        }
        let mut miss = MockMiss {
            dependency: dependency.to_owned(),
            call: text.clone(),
            nearest: None,
            diff: String::new(),
            values: Vec::new(),
        };
        if let Some((_, l)) = best {
            miss.nearest = Some(format!("{} ({})", l.id, l.describe()));
            miss.diff = unified(&recorded(l), &text);
            miss.values = differing_values(l, ask);
        }
        miss
    }
}

/// The values in which `ask` differs from line `l`, when the two are the
/// same statement but for them: the values written into the SQL
/// (`sql.literals[i]`, as drivers that quote in the client send them) and
/// an execute's parameters (`params[i]`).
fn differing_values(l: &MysqlMock, ask: &Ask) -> Vec<MissValue> {
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    };
    let recorded_sql = l.sql.as_deref().map(normalize_sql).unwrap_or_default();
    let sent_sql = ask.sql.map(normalize_sql).unwrap_or_default();
    let (recorded_at, sent_at) = (sql_literals(&recorded_sql), sql_literals(&sent_sql));
    if recorded_at.len() != sent_at.len()
        || sql_shape(&recorded_sql, &recorded_at) != sql_shape(&sent_sql, &sent_at)
    {
        return Vec::new();
    }
    let mut out: Vec<MissValue> = recorded_at
        .into_iter()
        .zip(sent_at)
        .enumerate()
        .filter_map(|(i, (r, s))| {
            let (r, s) = (&recorded_sql[r], &sent_sql[s]);
            (r != s && !arg_matches(r, s)).then(|| MissValue {
                mock: l.id.clone(),
                path: format!("sql.literals[{i}]"),
                recorded: Some(String::from_utf8_lossy(r).into_owned()),
                actual: Some(String::from_utf8_lossy(s).into_owned()),
            })
        })
        .collect();
    if let (Some(recorded), Some(sent)) = (&l.params, ask.params) {
        if recorded.len() == sent.len() {
            out.extend(
                recorded
                    .iter()
                    .zip(sent)
                    .enumerate()
                    .filter(|(_, (r, s))| !same_value(r, s))
                    .map(|(i, (r, s))| MissValue {
                        mock: l.id.clone(),
                        path: format!("params[{i}]"),
                        recorded: text(r),
                        actual: text(s),
                    }),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, cmd: &str, sql: &str, params: Option<Value>, answer: Value) -> MysqlMock {
        let mut m = MysqlMock::new(
            id,
            "db",
            cmd,
            Some(sql),
            answer.as_object().unwrap().clone(),
        );
        m.params = params.map(|p| p.as_array().unwrap().clone());
        m
    }

    fn ok(id: u64) -> Value {
        json!({"results": [{"ok": {"affected_rows": 1, "last_insert_id": id, "status": 2, "warnings": 0}}]})
    }

    /// A prepare of SQL recorded nowhere is a miss of its case, named with
    /// the nearest statement, even one that was only ever executed (a
    /// pool prepares once per connection, so its prepare may be elsewhere).
    #[test]
    fn a_prepare_of_unrecorded_sql_is_a_miss_with_its_nearest() {
        let book = MysqlBook::new(
            vec![vec![line(
                "c#1",
                "COM_STMT_EXECUTE",
                "SELECT id FROM books ORDER BY id LIMIT ?",
                Some(json!([10])),
                json!({"results": [{"ok": {}}]}),
            )]],
            vec![],
        );
        book.begin_case(0);
        assert!(book
            .prepared("db", b"SELECT id FROM books ORDER BY title LIMIT ?")
            .is_none());
        let miss = book.prepare_missed("db", b"SELECT id FROM books ORDER BY title LIMIT ?");
        assert_eq!(
            miss.nearest.as_deref().map(|n| n.starts_with("c#1")),
            Some(true)
        );
        assert!(
            miss.diff
                .contains("-COM_STMT_PREPARE SELECT id FROM books ORDER BY id LIMIT ?"),
            "{}",
            miss.diff
        );
        let log = book.end_case();
        assert_eq!(log.misses.len(), 1);
    }

    /// A statement that differs from its recording only in the values
    /// written into its SQL names each such value by its place, as
    /// `--verify` needs to make it a matcher; a statement of another shape
    /// names none.
    #[test]
    fn a_value_written_into_the_sql_is_named_by_its_place() {
        let book = MysqlBook::new(
            vec![vec![line(
                "c#1",
                "COM_QUERY",
                "INSERT INTO codes (user, code) VALUES ('ann', '042117')",
                None,
                ok(1),
            )]],
            vec![],
        );
        book.begin_case(0);
        let ask = |sql: &'static [u8]| Ask {
            cmd: "COM_QUERY",
            sql: Some(sql),
            params: None,
            body: None,
        };
        let miss = book
            .answer(
                "db",
                &ask(b"INSERT INTO codes (user, code)\n VALUES ('ann', '551208')"),
            )
            .unwrap_err();
        let got: Vec<_> = miss
            .values
            .iter()
            .map(|v| (v.path.as_str(), v.recorded.as_deref(), v.actual.as_deref()))
            .collect();
        assert_eq!(got, [("sql.literals[1]", Some("042117"), Some("551208"))]);
        let miss = book
            .answer("db", &ask(b"INSERT INTO codes (user) VALUES ('ann')"))
            .unwrap_err();
        assert!(miss.values.is_empty(), "{:?}", miss.values);
    }

    /// A case's lines answer once each, in order; the pool answers again;
    /// SQL matches white space aside and numbers however written; a
    /// changed parameter misses, naming the nearest line and the value.
    #[test]
    fn lines_answer_in_order_and_a_changed_value_misses_with_its_nearest() {
        let insert = "INSERT INTO t (n) VALUES (?)";
        let book = MysqlBook::new(
            vec![vec![
                line("c#1", "COM_STMT_EXECUTE", insert, Some(json!([42])), ok(1)),
                line("c#2", "COM_STMT_EXECUTE", insert, Some(json!([42])), ok(2)),
            ]],
            vec![line(
                "p#1",
                "COM_QUERY",
                "SET NAMES utf8mb4",
                None,
                json!({"results": [{"ok": {}}]}),
            )],
        );
        book.begin_case(0);
        fn ask(params: &[Value]) -> Ask<'_> {
            Ask {
                cmd: "COM_STMT_EXECUTE",
                sql: Some(b"INSERT INTO t  (n)\n VALUES (?)"),
                params: Some(params),
                body: None,
            }
        }
        let (id, a) = book.answer("db", &ask(&[json!(42.0)])).unwrap();
        assert_eq!(
            (id.as_str(), &a["results"][0]["ok"]["last_insert_id"]),
            ("c#1", &json!(1))
        );
        let (id, _) = book.answer("db", &ask(&[json!(42)])).unwrap();
        assert_eq!(id, "c#2");
        let set = Ask {
            cmd: "COM_QUERY",
            sql: Some(b"SET NAMES utf8mb4"),
            params: None,
            body: None,
        };
        for _ in 0..2 {
            assert_eq!(book.answer("db", &set).unwrap().0, "p#1");
        }
        let miss = book.answer("db", &ask(&[json!(43)])).unwrap_err();
        assert!(
            miss.nearest.as_deref().unwrap().starts_with("c#"),
            "{miss:?}"
        );
        assert_eq!(miss.values.len(), 1);
        assert_eq!(miss.values[0].path, "params[0]");
        assert_eq!(
            (
                miss.values[0].recorded.as_deref(),
                miss.values[0].actual.as_deref()
            ),
            (Some("42"), Some("43"))
        );
        assert!(
            miss.diff
                .contains("-COM_STMT_EXECUTE INSERT INTO t (n) VALUES (?) [42]"),
            "{}",
            miss.diff
        );
        let log = book.end_case();
        assert_eq!(log.used, ["c#1", "c#2", "p#1", "p#1"]);
        assert_eq!(log.misses.len(), 1);
        assert!(log.unused.is_empty());
        // Another dependency's line answers nothing here.
        assert!(book.answer("other", &set).is_err());
    }

    /// A made-up value the generator wrote as a matcher, inside the SQL or
    /// as a whole parameter, accepts any value of its kind and no other.
    #[test]
    fn matchers_in_sql_and_parameters_accept_their_kind() {
        let book = MysqlBook::new(
            vec![],
            vec![
                line(
                    "p#1",
                    "COM_QUERY",
                    r#"INSERT INTO o (ref) VALUES ('{"$reel":"uuid"}')"#,
                    None,
                    ok(1),
                ),
                line(
                    "p#2",
                    "COM_STMT_EXECUTE",
                    "SELECT * FROM o WHERE ref = ?",
                    Some(json!([{"$reel": "uuid"}])),
                    ok(0),
                ),
            ],
        );
        let uuid = "793a4c9f-5e2e-4e3e-b404-943b62affbe4";
        let insert = format!("INSERT INTO o (ref) VALUES ('{uuid}')");
        let ask = Ask {
            cmd: "COM_QUERY",
            sql: Some(insert.as_bytes()),
            params: None,
            body: None,
        };
        assert_eq!(book.answer("db", &ask).unwrap().0, "p#1");
        let ask = Ask {
            cmd: "COM_QUERY",
            sql: Some(b"INSERT INTO o (ref) VALUES ('nope')"),
            params: None,
            body: None,
        };
        assert!(book.answer("db", &ask).is_err());
        let sql = b"SELECT * FROM o WHERE ref = ?";
        let params = [json!(uuid)];
        let ask = Ask {
            cmd: "COM_STMT_EXECUTE",
            sql: Some(sql),
            params: Some(&params),
            body: None,
        };
        assert_eq!(book.answer("db", &ask).unwrap().0, "p#2");
        let params = [json!("ann")];
        let ask = Ask {
            cmd: "COM_STMT_EXECUTE",
            sql: Some(sql),
            params: Some(&params),
            body: None,
        };
        assert!(book.answer("db", &ask).is_err());
    }

    /// Two integers past 2^53 that differ do not match; a session setting
    /// recorded nowhere is answered by the fallback and is no miss; a
    /// prepare of SQL whose execute holds a matcher is answered, and a
    /// prepare that succeeded wins over one recorded failing.
    #[test]
    fn big_ints_settings_and_prepares_as_the_review_found() {
        let big = json!(1_790_000_000_000_000_001u64);
        let sel = "SELECT * FROM o WHERE ref = '{\"$reel\":\"uuid\"}' AND id = ?";
        let book = MysqlBook::new(
            vec![vec![line(
                "c#1",
                "COM_STMT_EXECUTE",
                "SELECT ?",
                Some(json!([big])),
                ok(0),
            )]],
            vec![
                line("p#1", "COM_STMT_EXECUTE", sel, Some(json!([1])), ok(0)),
                line(
                    "p#2",
                    "COM_STMT_PREPARE",
                    "SELECT 2",
                    None,
                    json!({"error": {"code": 1146, "state": "42S02", "message": "no"}}),
                ),
                line(
                    "p#3",
                    "COM_STMT_PREPARE",
                    "SELECT 2",
                    None,
                    json!({"prepared": {"stmt": 1, "params": [], "columns": [], "warnings": 0}}),
                ),
            ],
        );
        book.begin_case(0);
        let other = [json!(1_790_000_000_000_000_002u64)];
        let ask = Ask {
            cmd: "COM_STMT_EXECUTE",
            sql: Some(b"SELECT ?"),
            params: Some(&other),
            body: None,
        };
        assert!(book.answer("db", &ask).is_err());
        let set = Ask {
            cmd: "COM_QUERY",
            sql: Some(b"SET time_zone = '+00:00'"),
            params: None,
            body: None,
        };
        let fallback = json!({"ok": {}}).as_object().unwrap().clone();
        assert_eq!(book.answer_or("db", &set, fallback.clone()), fallback);
        let log = book.end_case();
        assert_eq!(
            log.misses.len(),
            1,
            "only the big int missed: {:?}",
            log.misses
        );
        let uuid_sql =
            "SELECT * FROM o WHERE ref = '793a4c9f-5e2e-4e3e-b404-943b62affbe4' AND id = ?";
        assert!(book.prepared("db", uuid_sql.as_bytes()).is_some());
        let p = book.prepared("db", b"SELECT 2").unwrap();
        assert!(p.contains_key("prepared"), "{p:?}");
    }

    /// A prepare is answered from a recorded prepare of its SQL anywhere,
    /// or from an execute of it; SQL recorded nowhere has no answer.
    #[test]
    fn a_prepare_is_answered_from_any_recording_of_its_sql() {
        let sel = "SELECT id FROM t WHERE id = ?";
        let result = json!({"results": [{"columns": [{"schema": "", "table": "", "org_table": "", "name": "id",
            "org_name": "", "charset": 63, "length": 11, "type": "LONG", "flags": 0, "decimals": 0}],
            "rows": [[1]], "status": 2, "warnings": 0}]});
        let book = MysqlBook::new(
            vec![vec![line(
                "c#1",
                "COM_STMT_EXECUTE",
                sel,
                Some(json!([1])),
                result,
            )]],
            vec![],
        );
        let p = book.prepared("db", sel.as_bytes()).unwrap();
        assert_eq!(p["prepared"]["params"].as_array().unwrap().len(), 1);
        assert_eq!(p["prepared"]["columns"][0]["name"], "id");
        assert!(book.prepared("db", b"SELECT 2").is_none());
    }
}
