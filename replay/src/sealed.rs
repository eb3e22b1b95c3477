//! Loosening recorded dependency requests on evidence: what `reel generate
//! --verify` learns by replaying the new suite *sealed*, against reel's own
//! mocks with no real dependency, several times with fresh app instances.
//!
//! A call the mock cannot match is reported with the values in which it
//! differs from the nearest recording ([`MissValue`]). A value that differs
//! between runs of the same build is made afresh by the app (a random id, a
//! salt, a time): it becomes a matcher in the mock line, of the one kind all
//! values seen share, and is listed with the values. A value that every run
//! sent the same but not as recorded is a change, not noise, and is not
//! loosened (unless the recorded value and every sent one share a volatile
//! format, as with `--verify`'s expected values): the call stays a miss and
//! is listed ([`still_missing`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use reel_core::matcher::formats::text_kind;
use reel_core::matcher::MARKER;
use reel_core::suite::mysql::sql_literals;
use reel_core::suite::redis::matcher_text;
use reel_core::suite::{BodySpec, LoadedSuite, MockSpec, MysqlMock, PgMock, RedisMock};
use reel_core::wire::Bytes;
use serde_json::{json, Value};

use crate::errors::ReplayError;
use crate::model::{MissValue, RunReport};

/// A recorded dependency request value made a matcher.
#[derive(Debug, Clone, PartialEq)]
pub struct CallLoosened {
    /// The mock line's id and its file.
    pub mock: String,
    pub file: PathBuf,
    /// `request[3].params[1]` or `$.nonce`.
    pub path: String,
    pub kind: &'static str,
    /// Why, with the values seen.
    pub why: String,
}

/// A call that matched no recording in some sealed runs.
#[derive(Debug, Clone, PartialEq)]
pub struct StillMissing {
    pub case: String,
    /// 1-based.
    pub runs: Vec<usize>,
    /// `db: Bind: INSERT ...`.
    pub call: String,
}

/// The values seen at one place of one recording: the recorded one, and
/// what each run sent (by run).
#[derive(Default)]
struct Seen {
    recorded: Option<String>,
    sent: BTreeMap<usize, Option<String>>,
}

/// Finds the dependency request values that `runs` (sealed replays of
/// `suite`) sent differently between runs, and, when `write`, makes them
/// matchers in the suite's mock files.
pub fn loosen_calls(
    suite: &LoadedSuite,
    runs: &[RunReport],
    write: bool,
) -> Result<Vec<CallLoosened>, ReplayError> {
    let mut seen: BTreeMap<(String, String), Seen> = BTreeMap::new();
    for (n, run) in runs.iter().enumerate() {
        for c in &run.cases {
            for miss in &c.mock_misses {
                for MissValue {
                    mock,
                    path,
                    recorded,
                    actual,
                } in &miss.values
                {
                    let s = seen.entry((mock.clone(), path.clone())).or_default();
                    s.recorded = recorded.clone();
                    s.sent.entry(n).or_insert_with(|| actual.clone());
                }
            }
        }
    }
    let mut found = Vec::new();
    for ((mock, path), s) in &seen {
        let sent: Vec<&Option<String>> = s.sent.values().collect();
        let Some(values) = sent
            .iter()
            .map(|v| v.as_deref())
            .collect::<Option<Vec<&str>>>()
        else {
            // NULL where a value was, or the other way round: a change.
            continue;
        };
        let Some(recorded) = s.recorded.as_deref() else {
            continue;
        };
        let differ = sent.len() >= 2 && values.iter().any(|v| *v != values[0]);
        let (kind, why) = if differ {
            let Some(kind) = shared_kind(&values) else {
                continue;
            };
            (kind, format!("differed across runs: {}", listed(&values)))
        } else {
            // The same in every run but not as recorded: only a value of a
            // volatile format, recorded as one too, is taken for noise.
            let mut all = values.clone();
            all.push(recorded);
            match shared_format(&all) {
                Some(kind) => (
                    kind,
                    format!(
                        "differed from the recording, each a {kind}: {} recorded, {} sent",
                        short(recorded),
                        short(values[0])
                    ),
                ),
                None => continue,
            }
        };
        found.push(CallLoosened {
            file: mock_file(suite, mock),
            mock: mock.clone(),
            path: path.clone(),
            kind,
            why,
        });
    }
    if write {
        write_matchers(&found)?;
    }
    Ok(found)
}

/// The calls that matched no recording, by case, with the runs they missed in.
pub fn still_missing(runs: &[RunReport]) -> Vec<StillMissing> {
    let mut out: Vec<StillMissing> = Vec::new();
    for (n, run) in runs.iter().enumerate() {
        for c in &run.cases {
            for miss in &c.mock_misses {
                let call = format!("{}: {}", miss.dependency, miss.call);
                match out.iter_mut().find(|m| m.case == c.name && m.call == call) {
                    Some(m) if !m.runs.contains(&(n + 1)) => m.runs.push(n + 1),
                    Some(_) => {}
                    None => out.push(StillMissing {
                        case: c.name.clone(),
                        runs: vec![n + 1],
                        call,
                    }),
                }
            }
        }
    }
    out.sort_by(|a, b| a.case.cmp(&b.case));
    out
}

/// A format every value has (a UUID, a hash, a hex salt), else the type they
/// all share: numbers, binary values, or any text.
fn shared_kind(values: &[&str]) -> Option<&'static str> {
    if let Some(kind) = shared_format(values) {
        return Some(kind);
    }
    if values.iter().all(|v| v.parse::<f64>().is_ok()) {
        Some("number")
    } else if values.iter().all(|v| is_hex_bytes(v)) {
        Some("bytes")
    } else if values.iter().all(|v| !is_hex_bytes(v)) {
        Some("string")
    } else {
        None
    }
}

/// The volatile format every value has, if they share one.
fn shared_format(values: &[&str]) -> Option<&'static str> {
    let first = text_kind(values.first()?)?;
    values
        .iter()
        .all(|v| text_kind(v) == Some(first))
        .then_some(first)
}

/// How [`MissValue`] shows a binary value.
fn is_hex_bytes(v: &str) -> bool {
    v.strip_prefix("0x")
        .is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
}

fn listed(values: &[&str]) -> String {
    let mut s: Vec<String> = values.iter().take(4).map(|v| short(v)).collect();
    if values.len() > 4 {
        s.push("…".into());
    }
    s.join(", ")
}

fn short(v: &str) -> String {
    if v.chars().count() > 20 {
        format!("'{}…'", v.chars().take(19).collect::<String>())
    } else {
        format!("'{v}'")
    }
}

/// The mocks file a mock id (`<file stem>#<n>`) is a line of.
fn mock_file(suite: &LoadedSuite, id: &str) -> PathBuf {
    let stem = id.rsplit_once('#').map_or(id, |(s, _)| s);
    suite.dir.join("mocks").join(format!("{stem}.jsonl"))
}

/// Puts each loosened value's matcher into its mock line, leaving every
/// other line as it is.
fn write_matchers(found: &[CallLoosened]) -> Result<(), ReplayError> {
    let mut by_file: BTreeMap<&PathBuf, Vec<&CallLoosened>> = BTreeMap::new();
    for l in found {
        by_file.entry(&l.file).or_default().push(l);
    }
    for (file, loosened) in by_file {
        let read_err = |e: std::io::Error| ReplayError::Write {
            path: file.clone(),
            source: e,
        };
        let text = std::fs::read_to_string(file).map_err(read_err)?;
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let here: Vec<&&CallLoosened> = loosened
                .iter()
                .filter(|l| line.contains(&format!("\"id\":\"{}\"", l.mock)))
                .collect();
            let edited = if here.is_empty() {
                None
            } else {
                edit_line(line, &here)
            };
            out.push_str(edited.as_deref().unwrap_or(line));
            out.push('\n');
        }
        reel_core::files::replace(file, out.as_bytes()).map_err(read_err)?;
    }
    Ok(())
}

/// One mock line with the matchers put in, or `None` if it is not the
/// line of those mocks after all.
fn edit_line(line: &str, loosened: &[&&CallLoosened]) -> Option<String> {
    let v: Value = serde_json::from_str(line).ok()?;
    let id = v.get("id")?.as_str()?.to_owned();
    let mine: Vec<&&&CallLoosened> = loosened.iter().filter(|l| l.mock == id).collect();
    if mine.is_empty() {
        return None;
    }
    match v.get("protocol")?.as_str()? {
        "postgres" => {
            let mut m: PgMock = serde_json::from_value(v).ok()?;
            for l in mine {
                let (r, p) = pg_path(&l.path)?;
                m.request.get_mut(r)?.set_matcher(p, l.kind);
            }
            serde_json::to_string(&m).ok()
        }
        "redis" => {
            let mut m: RedisMock = serde_json::from_value(v).ok()?;
            for l in mine {
                let i = indexed(&l.path, "cmd[")?;
                *m.cmd.get_mut(i)? = Bytes(matcher_text(l.kind).into_bytes());
            }
            serde_json::to_string(&m).ok()
        }
        "mysql" => {
            let mut m: MysqlMock = serde_json::from_value(v).ok()?;
            // Each literal's place in the SQL as it was before any edit:
            // replaced from the last, the earlier ones stay where they were.
            let sql = m.sql.as_ref().map(|b| b.0.clone()).unwrap_or_default();
            let at = sql_literals(&sql);
            let mut literals: Vec<(usize, &str)> = Vec::new();
            for l in mine {
                if let Some(i) = indexed(&l.path, "sql.literals[") {
                    literals.push((i, l.kind));
                } else {
                    let i = indexed(&l.path, "params[")?;
                    *m.params.as_mut()?.get_mut(i)? = json!({ MARKER: l.kind });
                }
            }
            literals.sort_unstable_by_key(|l| std::cmp::Reverse(l.0));
            let mut edited = sql;
            for (i, kind) in literals {
                let r = at.get(i)?.clone();
                edited.splice(r, matcher_text(kind).into_bytes());
            }
            if let Some(b) = m.sql.as_mut() {
                b.0 = edited;
            }
            serde_json::to_string(&m).ok()
        }
        _ => {
            let mut m: MockSpec = serde_json::from_value(v).ok()?;
            if let Some(BodySpec::Json(body)) = &mut m.request.body {
                for l in mine {
                    reel_core::generate::repeats::set(body, &l.path, json!({ MARKER: l.kind }));
                }
            }
            serde_json::to_string(&m).ok()
        }
    }
}

/// `3` of `params[3]`, given `params[`.
fn indexed(path: &str, prefix: &str) -> Option<usize> {
    path.strip_prefix(prefix)?.strip_suffix(']')?.parse().ok()
}

/// `request[3].params[1]` as `(3, 1)`.
fn pg_path(path: &str) -> Option<(usize, usize)> {
    let rest = path.strip_prefix("request[")?;
    let (r, rest) = rest.split_once("].params[")?;
    let p = rest.strip_suffix(']')?;
    Some((r.parse().ok()?, p.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CaseResult, MockMiss, Outcome};
    use reel_core::suite::{RequestSpec, ResponseSpec};

    /// A sealed run in which case `0001-x` missed once, with these values
    /// (`path`, recorded, sent) against mock `0001-x#1`.
    fn run(values: &[(&str, &str, &str)]) -> RunReport {
        let spec = RequestSpec {
            method: "GET".into(),
            target: "/".into(),
            headers: vec![],
            body: None,
        };
        let case = CaseResult {
            name: "0001-x".into(),
            file: "s/cases/0001-x.json".into(),
            outcome: Outcome::Failed,
            duration_ms: 1.0,
            request: spec,
            expected: ResponseSpec {
                status: 200,
                headers: vec![],
                body: None,
                body_encoding: None,
            },
            actual: None,
            accepted: None,
            differences: vec![],
            diff: String::new(),
            mocks_used: vec![],
            mocks_unused: vec![],
            app_log: vec![],
            mock_misses: vec![MockMiss {
                dependency: "db".into(),
                call: "Bind: insert into codes values ($1, $2)".into(),
                nearest: Some("0001-x#1 (insert into codes values ($1, $2))".into()),
                diff: String::new(),
                values: values
                    .iter()
                    .map(|(path, recorded, sent)| MissValue {
                        mock: "0001-x#1".into(),
                        path: (*path).into(),
                        recorded: Some((*recorded).into()),
                        actual: Some((*sent).into()),
                    })
                    .collect(),
            }],
            error: None,
        };
        RunReport {
            suite_name: "s".into(),
            suite_dir: "s".into(),
            started_at: String::new(),
            duration_ms: 1.0,
            target: String::new(),
            shard: None,
            cases: vec![case],
            passed: 0,
            failed: 1,
            skipped: 0,
        }
    }

    fn suite() -> LoadedSuite {
        LoadedSuite {
            dir: "s".into(),
            suite: serde_json::from_value(json!({
                "reel_suite": 2, "name": "s",
                "session": {"id": 1, "name": "s", "recorded_at": "2026-01-01T00:00:00Z"},
                "app": {"command": null, "target": "http://127.0.0.1:1"}
            }))
            .unwrap(),
            cases: vec![],
            startup: vec![],
            shared: vec![],
            startup_pg: vec![],
            shared_pg: vec![],
            startup_redis: vec![],
            shared_redis: vec![],
            startup_mysql: vec![],
            shared_mysql: vec![],
        }
    }

    #[test]
    fn what_differs_between_runs_is_loosened_and_a_change_is_not() {
        let p = "request[1].params[1]";
        let code = "request[1].params[0]";
        let runs = [
            run(&[(p, "042117", "551208"), (code, "EUR", "USD")]),
            run(&[(p, "042117", "093310"), (code, "EUR", "USD")]),
        ];
        let loosened = loosen_calls(&suite(), &runs, false).unwrap();
        let got: Vec<_> = loosened
            .iter()
            .map(|l| (l.path.as_str(), l.kind, l.why.as_str()))
            .collect();
        assert_eq!(
            got,
            [(p, "number", "differed across runs: '551208', '093310'")]
        );
        assert_eq!(loosened[0].file, PathBuf::from("s/mocks/0001-x.jsonl"));
        // Every run sent USD where EUR was recorded: a change, still a miss.
        let missing = still_missing(&runs);
        assert_eq!(missing.len(), 1);
        assert_eq!(
            (missing[0].case.as_str(), missing[0].runs.as_slice()),
            ("0001-x", &[1, 2][..])
        );
        // One run alone shows no difference between runs.
        assert!(loosen_calls(&suite(), &runs[..1], false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_kind_is_the_format_all_values_share_else_their_type() {
        assert_eq!(
            shared_kind(&[
                "9ec928750d2703ed9d986669c327b879",
                "fb095fec7ba98afb9bebe618e2ec60c3"
            ]),
            Some("hex")
        );
        assert_eq!(shared_kind(&["17", "23"]), Some("number"));
        assert_eq!(shared_kind(&["0x0a0b", "0x0c0d"]), Some("bytes"));
        assert_eq!(shared_kind(&["ab12", "zz"]), Some("string"));
        assert_eq!(shared_kind(&["0x0a0b", "zz"]), None);
        assert_eq!(pg_path("request[3].params[1]"), Some((3, 1)));
        assert_eq!(pg_path("$.x"), None);
    }

    /// A MySQL value that differed across runs becomes its matcher where
    /// it stood: inside the SQL the driver quoted it into, or as an
    /// execute's parameter. The rest of the line stays as it was.
    #[test]
    fn a_mysql_value_that_differs_becomes_a_matcher_where_it_stood() {
        let line = r#"{"id":"0001-x#3","seq":7,"dependency":"db","protocol":"mysql","connection":1,"cmd":"COM_QUERY","sql":"INSERT INTO codes (user, code, n) VALUES ('ann', '042117', 5)","answer":{"results":[{"ok":{}}]}}"#;
        let loosened = |path: &str, kind: &'static str| CallLoosened {
            mock: "0001-x#3".into(),
            file: PathBuf::from("s/mocks/0001-x.jsonl"),
            path: path.into(),
            kind,
            why: String::new(),
        };
        let (a, b) = (
            loosened("sql.literals[1]", "number"),
            loosened("sql.literals[2]", "number"),
        );
        let edited = edit_line(line, &[&&a, &&b]).unwrap();
        assert_eq!(
            edited,
            line.replace(
                "'042117', 5)",
                r#"'{\"$reel\":\"number\"}', {\"$reel\":\"number\"})"#
            )
        );
        let execute = r#"{"id":"0001-x#3","seq":7,"dependency":"db","protocol":"mysql","connection":1,"cmd":"COM_STMT_EXECUTE","sql":"INSERT INTO codes VALUES (?, ?)","params":["ann","042117"],"answer":{"results":[{"ok":{}}]}}"#;
        let p = loosened("params[1]", "number");
        assert_eq!(
            edit_line(execute, &[&&p]).unwrap(),
            execute.replace(r#""042117""#, r#"{"$reel":"number"}"#)
        );
    }

    /// A Redis argument that differed across runs becomes its matcher in
    /// the line, and the rest of the line stays as it was.
    #[test]
    fn a_redis_argument_that_differs_becomes_a_matcher() {
        let line = r#"{"id":"0001-x#2","seq":5,"dependency":"cache","protocol":"redis","connection":1,"cmd":["SET","k","9ec928750d2703ed9d986669c327b879"],"reply":{"simple":"OK"}}"#;
        let l = CallLoosened {
            mock: "0001-x#2".into(),
            file: PathBuf::from("s/mocks/0001-x.jsonl"),
            path: "cmd[2]".into(),
            kind: "hex",
            why: String::new(),
        };
        let edited = edit_line(line, &[&&l]).unwrap();
        assert_eq!(
            edited,
            line.replace(
                r#""9ec928750d2703ed9d986669c327b879""#,
                r#"{"$reel":"hex"}"#
            )
        );
    }
}
