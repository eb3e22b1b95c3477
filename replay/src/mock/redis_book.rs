//! Which recorded Redis command answers what the app sends, and the few
//! answers the mock makes itself.
//!
//! A recording matches a command of the same dependency with the same number
//! of arguments, the same name (in any case) and every other argument
//! accepted by the recorded one: equal bytes, or a value of the kind of a
//! typed matcher written in it (`session:{"$reel":"uuid"}`). `HELLO` is
//! matched on its protocol version alone: the password after `AUTH` may have
//! been taken out of the suite.
//!
//! Candidates: the current case's unused lines in recorded order (each
//! answers once), then the shared pool and the startup set (the same command
//! recorded several times answers in recorded order, then the latest again).
//! Housekeeping, work a client library does when it likes (greeting,
//! choosing a database, checking the server, loading scripts; see
//! [`is_housekeeping`]), is answered by any recording of it in any case, as
//! often as asked, and is owed by no case; so is work the app does while no
//! case runs (connecting at start-up). Housekeeping recorded nowhere is
//! answered by the mock itself where the answer does not depend on data
//! ([`synthesize`]): a greeting, `+OK` to `AUTH` (the suite never holds the
//! password), `+PONG`.

use std::collections::HashMap;
use std::sync::Mutex;

use reel_core::suite::redis::{
    arg_matches, args_text, command_name, describe_args, holds_matcher, is_housekeeping,
};
use reel_core::suite::RedisMock;
use reel_core::wire::redis::Frame;
use reel_core::wire::Bytes;

use super::book::{CaseMockLog, CaseRun};
use crate::diff::unified;
use crate::model::{MissValue, MockMiss};

/// The id of an answer the mock made itself.
pub const SYNTHESIZED: &str = "synthesized";

/// How much of a command is compared when looking for the nearest recording:
/// a miss on a command carrying a large value stays quick.
const NEAREST_TEXT_MAX: usize = 1024;

/// What answers one command: the replies, then what the server pushed after
/// them (pub/sub messages, invalidations).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The recording's id, or [`SYNTHESIZED`].
    pub id: String,
    pub replies: Vec<Frame>,
    pub pushes: Vec<Frame>,
    /// How long to wait before answering: what a blocking command waited
    /// when recorded, when the book was asked to (`--recorded-waits`).
    pub wait: Option<std::time::Duration>,
}

/// What the mock knows of the connection a command came on, for the
/// answers it makes itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The connection's number on its mock, from 1: `CLIENT ID`.
    pub connection: u64,
    /// RESP 2 until a `HELLO 3` succeeds.
    pub protocol: u8,
}

impl Session {
    pub fn new(connection: u64) -> Self {
        Session {
            connection,
            protocol: 2,
        }
    }

    /// The session once `args` was answered by `answer`: a successful
    /// `HELLO 2|3` switches the protocol, `RESET` goes back to RESP 2.
    pub fn after(&mut self, args: &[Bytes], answer: &Answer) {
        let failed = matches!(
            answer.replies.first(),
            None | Some(Frame::Error(_) | Frame::BulkError(_))
        );
        if failed {
            return;
        }
        match command_name(args).as_str() {
            "HELLO" => {
                if let Some(v) = args.get(1).and_then(|v| protocol_version(v)) {
                    self.protocol = v;
                }
            }
            "RESET" => self.protocol = 2,
            _ => {}
        }
    }
}

/// `2` or `3`, the protocol versions the mock speaks.
fn protocol_version(arg: &[u8]) -> Option<u8> {
    match arg {
        b"2" => Some(2),
        b"3" => Some(3),
        _ => None,
    }
}

/// The mock's own answer to housekeeping that no recording answers, where
/// the answer depends on nothing recorded; `None` for anything else.
pub fn synthesize(args: &[Bytes], session: Session) -> Option<Vec<Frame>> {
    let simple = |s: &str| Some(vec![Frame::Simple(Bytes(s.as_bytes().to_vec()))]);
    let n = args.len();
    match command_name(args).as_str() {
        // Any password: suites never hold it.
        "AUTH" if (2..=3).contains(&n) => simple("OK"),
        "SELECT" if n == 2 => simple("OK"),
        "PING" if n == 1 => simple("PONG"),
        "PING" | "ECHO" if n == 2 => Some(vec![Frame::Bulk(args[1].clone())]),
        "QUIT" | "READONLY" | "READWRITE" => simple("OK"),
        "RESET" if n == 1 => simple("RESET"),
        "CLIENT SETNAME" | "CLIENT SETINFO" | "CLIENT NO-EVICT" | "CLIENT NO-TOUCH"
        | "CLIENT TRACKING" => simple("OK"),
        "CLIENT ID" if n == 2 => Some(vec![Frame::Integer(
            i64::try_from(session.connection).unwrap_or(i64::MAX),
        )]),
        "HELLO" => Some(vec![hello(args.get(1), session)]),
        _ => None,
    }
}

/// What Redis 7 answers `HELLO [protover]`, in the protocol asked for (the
/// connection's when none is).
fn hello(protover: Option<&Bytes>, session: Session) -> Frame {
    let proto = match protover {
        None => session.protocol,
        Some(v) => match protocol_version(v) {
            Some(p) => p,
            None => {
                return Frame::Error(Bytes(
                    b"NOPROTO sorry, this protocol version is not supported".to_vec(),
                ))
            }
        },
    };
    let bulk = |s: &str| Frame::Bulk(Bytes(s.as_bytes().to_vec()));
    let pairs = vec![
        (bulk("server"), bulk("redis")),
        (bulk("version"), bulk("7.0.0")),
        (bulk("proto"), Frame::Integer(i64::from(proto))),
        (
            bulk("id"),
            Frame::Integer(i64::try_from(session.connection).unwrap_or(i64::MAX)),
        ),
        (bulk("mode"), bulk("standalone")),
        (bulk("role"), bulk("master")),
        (bulk("modules"), Frame::Array(Vec::new())),
    ];
    if proto == 3 {
        Frame::Map(pairs)
    } else {
        Frame::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
    }
}

/// Whether recorded arguments answer the `actual` ones.
fn matches(recorded: &[Bytes], actual: &[Bytes]) -> bool {
    let (Some(rn), Some(an)) = (recorded.first(), actual.first()) else {
        return false;
    };
    if !rn.eq_ignore_ascii_case(an) {
        return false;
    }
    if rn.eq_ignore_ascii_case(b"HELLO") {
        // The generator may have taken the password after AUTH out.
        return recorded.get(1) == actual.get(1);
    }
    recorded.len() == actual.len()
        && recorded[1..]
            .iter()
            .zip(&actual[1..])
            .all(|(r, a)| arg_matches(r, a))
}

struct Line {
    mock: RedisMock,
    housekeeping: bool,
}

impl Line {
    fn new(mock: RedisMock) -> Self {
        Line {
            housekeeping: is_housekeeping(&mock.cmd),
            mock,
        }
    }

    /// The line's answer; with `waits`, after as long as it waited when
    /// recorded.
    fn answer(&self, waits: bool) -> Answer {
        Answer {
            id: self.mock.id.clone(),
            replies: self.mock.replies.clone(),
            pushes: self.mock.pushes.clone(),
            wait: self
                .mock
                .waited_ms
                .filter(|_| waits)
                .map(std::time::Duration::from_millis),
        }
    }
}

struct CaseLines {
    lines: Vec<Line>,
    used: Vec<bool>,
    index: Index,
}

/// Where the lines that may answer a command are, so that a suite of many
/// recorded commands answers each as fast as a few: lines without a matcher
/// by their exact arguments, the others (and every `HELLO`, matched on its
/// version alone) by command name and number of arguments.
#[derive(Default)]
struct Index {
    exact: HashMap<(String, Vec<Bytes>), Vec<usize>>,
    loose: HashMap<(String, Vec<u8>, usize), Vec<usize>>,
}

impl Index {
    fn new<'a>(lines: impl Iterator<Item = &'a RedisMock>) -> Self {
        let mut index = Index::default();
        for (n, m) in lines.enumerate() {
            match index_key(&m.dependency, &m.cmd) {
                Key::Exact(k) if !m.cmd.iter().any(|a| holds_matcher(a)) => {
                    index.exact.entry(k).or_default().push(n)
                }
                _ => index
                    .loose
                    .entry(loose_key(&m.dependency, &m.cmd))
                    .or_default()
                    .push(n),
            }
        }
        index
    }

    /// The positions of the lines that may answer `args`, in recorded order.
    fn lookup(&self, dependency: &str, args: &[Bytes]) -> Vec<usize> {
        let mut found: Vec<usize> = match index_key(dependency, args) {
            Key::Exact(k) => self.exact.get(&k).cloned().unwrap_or_default(),
            Key::Hello => Vec::new(),
        };
        if let Some(loose) = self.loose.get(&loose_key(dependency, args)) {
            found.extend(loose);
            found.sort_unstable();
        }
        found
    }
}

enum Key {
    Exact((String, Vec<Bytes>)),
    Hello,
}

/// A command's arguments with its name in upper case, as the index keys it.
fn index_key(dependency: &str, args: &[Bytes]) -> Key {
    match args.first() {
        Some(name) if name.eq_ignore_ascii_case(b"HELLO") => Key::Hello,
        _ => {
            let mut k = args.to_vec();
            if let Some(name) = k.first_mut() {
                name.0.make_ascii_uppercase();
            }
            Key::Exact((dependency.to_owned(), k))
        }
    }
}

fn loose_key(dependency: &str, args: &[Bytes]) -> (String, Vec<u8>, usize) {
    let name = args
        .first()
        .map(|a| a.to_ascii_uppercase())
        .unwrap_or_default();
    let count = if name == b"HELLO" {
        usize::MAX
    } else {
        args.len()
    };
    (dependency.to_owned(), name, count)
}

/// Where a recording is: case `i`'s line `n`, the pool's line `n`, or any
/// case's line answering again (housekeeping, start-up), which uses nothing.
#[derive(Debug, Clone, Copy)]
enum At {
    Case(usize, usize),
    Pool(usize),
    Again,
}

struct State {
    cases: Vec<CaseLines>,
    /// Where to look among every case's lines (`all`); built again when
    /// references in a case's lines are filled.
    all_index: Index,
    /// Which pool lines have answered.
    pool_used: Vec<bool>,
    run: CaseRun,
}

pub struct RedisBook {
    state: Mutex<State>,
    pool: Vec<Line>,
    pool_index: Index,
    /// Every case's lines, `(case, line)`.
    all: Vec<(usize, usize)>,
    /// Blocking commands answer after as long as they waited when recorded.
    recorded_waits: bool,
}

impl RedisBook {
    /// `cases[i]` are case `i`'s lines in recorded order; `pool` the
    /// startup and shared lines, in recorded order.
    pub fn new(cases: Vec<Vec<RedisMock>>, pool: Vec<RedisMock>) -> Self {
        let cases: Vec<CaseLines> = cases
            .into_iter()
            .map(|lines| CaseLines {
                used: vec![false; lines.len()],
                index: Index::new(lines.iter()),
                lines: lines.into_iter().map(Line::new).collect(),
            })
            .collect();
        let pool: Vec<Line> = pool.into_iter().map(Line::new).collect();
        let pool_index = Index::new(pool.iter().map(|l| &l.mock));
        let all: Vec<(usize, usize)> = cases
            .iter()
            .enumerate()
            .flat_map(|(i, c)| (0..c.lines.len()).map(move |n| (i, n)))
            .collect();
        let all_index = Index::new(all.iter().map(|&(i, n)| &cases[i].lines[n].mock));
        RedisBook {
            pool_index,
            all,
            state: Mutex::new(State {
                all_index,
                pool_used: vec![false; pool.len()],
                cases,
                run: CaseRun::default(),
            }),
            pool,
            recorded_waits: false,
        }
    }

    /// Fills the references to earlier answers in case `i`'s lines
    /// (`cart:${0001.response.body.id}`), now that those answers are in,
    /// with `fill`. One that cannot be filled (its case failed) stays as
    /// written and matches nothing else; the miss shows it.
    pub fn fill_references(&self, i: usize, fill: &mut dyn FnMut(&str) -> Option<String>) {
        let mut s = self.state.lock().expect("redis book lock");
        let Some(c) = s.cases.get_mut(i) else {
            return;
        };
        let (mut changed, mut housekeeping) = (false, false);
        for line in &mut c.lines {
            let filled = line.mock.rewrite_texts(&mut |_, text| {
                reel_core::template::has_placeholder(text)
                    .then(|| fill(text))
                    .flatten()
            });
            changed |= filled;
            housekeeping |= filled && line.housekeeping;
        }
        if changed {
            c.index = Index::new(c.lines.iter().map(|l| &l.mock));
        }
        // Other cases' lines are looked among for housekeeping only (and
        // before the first case, when nothing is filled yet).
        if housekeeping {
            let cases = &s.cases;
            s.all_index = Index::new(self.all.iter().map(|&(i, n)| &cases[i].lines[n].mock));
        }
    }

    /// Blocking commands answer after as long as they waited when recorded
    /// (`reel test --recorded-waits`), not at once.
    pub fn with_recorded_waits(mut self, on: bool) -> Self {
        self.recorded_waits = on;
        self
    }

    /// Case `i` starts: its lines answer first from now on.
    pub fn begin_case(&self, i: usize) {
        let mut s = self.state.lock().expect("redis book lock");
        s.run.begin(i);
    }

    /// The current case ends; what its commands used and missed.
    pub fn end_case(&self) -> CaseMockLog {
        let mut s = self.state.lock().expect("redis book lock");
        let (current, mut log) = s.run.end();
        if let Some(i) = current {
            let c = &s.cases[i];
            // Housekeeping happens when the client library likes: its
            // recordings are not owed by the case they were recorded in.
            log.unused = c
                .lines
                .iter()
                .zip(&c.used)
                .filter(|(l, used)| !**used && !l.housekeeping)
                .map(|(l, _)| l.mock.id.clone())
                .collect();
        }
        log
    }

    /// An answer could not be sent (the app got an error instead): the case
    /// reports why.
    pub fn failed(&self, what: String) {
        let mut s = self.state.lock().expect("redis book lock");
        s.run.failure(what);
    }

    /// The answer to a command the app sent on a connection in `session`:
    /// a recording's, the mock's own for housekeeping recorded nowhere, or
    /// the miss explained (and noted for the case).
    pub fn answer(
        &self,
        dependency: &str,
        args: &[Bytes],
        session: Session,
    ) -> Result<Answer, MockMiss> {
        let mut s = self.state.lock().expect("redis book lock");
        let housekeeping = is_housekeeping(args);
        let found = self
            .candidates(&s, dependency, args, housekeeping)
            .into_iter()
            .find(|(_, l)| matches(&l.mock.cmd, args))
            .map(|(at, l)| (at, l.answer(self.recorded_waits)));
        if let Some((at, mut answer)) = found {
            // What the server pushed after a command is sent once, when its
            // line first answers: a ping answered again pushes nothing.
            let first = match at {
                At::Case(i, n) => !std::mem::replace(&mut s.cases[i].used[n], true),
                At::Pool(n) => !std::mem::replace(&mut s.pool_used[n], true),
                At::Again => false,
            };
            if !first {
                answer.pushes.clear();
            }
            s.run.log.used.push(answer.id.clone());
            return Ok(answer);
        }
        if let Some(replies) = synthesize(args, session) {
            return Ok(Answer {
                id: SYNTHESIZED.into(),
                replies,
                pushes: Vec::new(),
                wait: None,
            });
        }
        let miss = {
            let candidates = self.lines_near(&s, dependency, housekeeping);
            miss(dependency, args, candidates)
        };
        s.run.miss(miss.clone());
        Err(miss)
    }

    /// The recordings that may answer `args`, in the order they are tried:
    /// the case's unused lines, the pool, and then, for housekeeping or while
    /// no case runs, every case's lines. Only those the index names: the
    /// caller checks each.
    fn candidates<'a>(
        &'a self,
        s: &'a State,
        dependency: &str,
        args: &[Bytes],
        housekeeping: bool,
    ) -> Vec<(At, &'a Line)> {
        let mut out = Vec::new();
        if let Some(i) = s.run.current {
            let c = &s.cases[i];
            for n in c.index.lookup(dependency, args) {
                if !c.used[n] {
                    out.push((At::Case(i, n), &c.lines[n]));
                }
            }
        }
        // The same command recorded several times in the pool (while cases
        // overlapped) was answered as the data stood then: the recordings
        // answer in recorded order, and once all have, the latest again.
        let in_pool = self.pool_index.lookup(dependency, args);
        let (used, unused): (Vec<usize>, Vec<usize>) =
            in_pool.into_iter().partition(|&n| s.pool_used[n]);
        for n in unused.into_iter().chain(used.into_iter().rev()) {
            out.push((At::Pool(n), &self.pool[n]));
        }
        // Answering again uses nothing: start-up work answered from a case's
        // line leaves it to its case.
        if housekeeping || s.run.current.is_none() {
            for k in s.all_index.lookup(dependency, args) {
                let (i, n) = self.all[k];
                out.push((At::Again, &s.cases[i].lines[n]));
            }
        }
        out
    }

    /// Every line a miss may be near to: the case's (used or not), the
    /// pool's, and every case's where any could have answered.
    fn lines_near<'a>(
        &'a self,
        s: &'a State,
        dependency: &'a str,
        housekeeping: bool,
    ) -> impl Iterator<Item = &'a Line> + 'a {
        // The case's own lines first, so that they win a tie.
        let own = s.run.current.into_iter().flat_map(|i| &s.cases[i].lines);
        let all = (housekeeping || s.run.current.is_none())
            .then(|| s.cases.iter().flat_map(|c| &c.lines))
            .into_iter()
            .flatten();
        own.chain(&self.pool)
            .chain(all)
            .filter(move |l| l.mock.dependency == dependency)
    }
}

/// A miss explained: the nearest recorded line (the same command first, then
/// the most alike; the first of equals, so misses read the same each run),
/// the diff to it and the values it differs in.
fn miss<'a>(
    dependency: &str,
    args: &[Bytes],
    candidates: impl Iterator<Item = &'a Line>,
) -> MockMiss {
    let name = command_name(args);
    let text = args_text(args);
    let short = prefix(&text, NEAREST_TEXT_MAX);
    let rank_of = |l: &Line| {
        if l.mock.name() == name {
            2
        } else if l
            .mock
            .cmd
            .first()
            .zip(args.first())
            .is_some_and(|(r, a)| r.eq_ignore_ascii_case(a))
        {
            1
        } else {
            0
        }
    };
    // Only the lines of the best rank are compared, each within a deadline:
    // a miss is answered while the book is held.
    let candidates: Vec<(u8, &Line)> = candidates.map(|l| (rank_of(l), l)).collect();
    let top = candidates.iter().map(|(r, _)| *r).max().unwrap_or(0);
    let mut best: Option<(u8, f32, &Line)> = None;
    for (rank, l) in candidates.into_iter().filter(|(r, _)| *r == top) {
        let recorded = args_text(&l.mock.cmd);
        let ratio = similar::TextDiff::configure()
            .timeout(std::time::Duration::from_millis(20))
            .diff_chars(prefix(&recorded, NEAREST_TEXT_MAX), short)
            .ratio();
        let better = best.is_none_or(|(r, q, _)| {
            rank.cmp(&r).then(ratio.total_cmp(&q)) == std::cmp::Ordering::Greater
        });
        if better {
            best = Some((rank, ratio, l));
        }
    }
    let mut miss = MockMiss {
        dependency: dependency.to_owned(),
        call: describe_args(args),
        nearest: None,
        diff: String::new(),
        values: Vec::new(),
    };
    if let Some((_, _, l)) = best {
        miss.nearest = Some(format!("{} ({})", l.mock.id, l.mock.describe()));
        miss.diff = unified(&args_text(&l.mock.cmd), &text);
        miss.values = differing_values(l, args);
    }
    miss
}

/// The arguments in which `args` differs from line `l`, when nothing else
/// differs (the same command, the same number of arguments).
fn differing_values(l: &Line, args: &[Bytes]) -> Vec<MissValue> {
    let cmd = &l.mock.cmd;
    if cmd.len() != args.len() || l.mock.name() != command_name(args) {
        return Vec::new();
    }
    cmd.iter()
        .zip(args)
        .enumerate()
        .skip(1)
        .filter(|(_, (r, a))| !arg_matches(r, a))
        .map(|(i, (r, a))| MissValue {
            mock: l.mock.id.clone(),
            path: format!("cmd[{i}]"),
            recorded: Some(value_text(r)),
            actual: Some(value_text(a)),
        })
        .collect()
}

/// An argument as text for [`MissValue`]: UTF-8 as it is, other bytes as
/// `0x` and hex digits.
fn value_text(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(t) if !t.chars().any(char::is_control) => t.to_owned(),
        _ => format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// At most the first `max` bytes of `s`, cut at a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use reel_core::suite::redis::matcher_text;

    use super::*;

    const UUID: &str = "0b7f1c9e-8a1e-4a43-9d0e-2f5b8e1c3a77";
    const ON_7: Session = Session {
        connection: 7,
        protocol: 2,
    };

    fn b(s: &str) -> Bytes {
        Bytes(s.as_bytes().to_vec())
    }

    fn cmd(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| b(w)).collect()
    }

    fn line(id: &str, words: &[&str], reply: Frame) -> RedisMock {
        RedisMock {
            id: id.into(),
            seq: 1,
            dependency: "cache".into(),
            protocol: "redis".into(),
            connection: 1,
            cmd: cmd(words),
            replies: vec![reply],
            pushes: vec![],
            waited_ms: None,
        }
    }

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(b(s))
    }

    fn simple(s: &str) -> Frame {
        Frame::Simple(b(s))
    }

    /// The id of what answers `words`, or the miss's call.
    fn ask(book: &RedisBook, words: &[&str]) -> Result<String, String> {
        book.answer("cache", &cmd(words), ON_7)
            .map(|a| a.id)
            .map_err(|m| m.call)
    }

    fn session_key() -> String {
        format!("session:{}", matcher_text("uuid"))
    }

    /// References to earlier answers are filled when the case starts, with
    /// this run's values: the key then answers as this run names it, and
    /// the recorded one no longer does; a reply refers the same way.
    #[test]
    fn references_in_a_cases_lines_are_filled_when_it_starts() {
        let book = RedisBook::new(
            vec![
                vec![],
                vec![
                    line(
                        "0002#1",
                        &["HGETALL", "cart:${0001.response.body.id}"],
                        Frame::Array(vec![bulk("owner"), bulk("${0001.response.body.owner}")]),
                    ),
                    line("0002#2", &["GET", "${0001.response.body.id}"], bulk("x")),
                ],
            ],
            vec![],
        );
        let mut filled = Vec::new();
        book.fill_references(1, &mut |text| {
            filled.push(text.to_owned());
            (!text.contains("owner}")).then(|| text.replace("${0001.response.body.id}", "7733"))
        });
        assert_eq!(filled.len(), 3, "{filled:?}");
        book.begin_case(1);
        assert_eq!(
            ask(&book, &["HGETALL", "cart:4821"]),
            Err("HGETALL cart:4821".into())
        );
        let a = book
            .answer("cache", &cmd(&["HGETALL", "cart:7733"]), ON_7)
            .unwrap();
        assert_eq!(a.id, "0002#1");
        // What could not be filled stays as written.
        assert_eq!(
            a.replies,
            [Frame::Array(vec![
                bulk("owner"),
                bulk("${0001.response.body.owner}")
            ])]
        );
        assert_eq!(ask(&book, &["GET", "7733"]), Ok("0002#2".into()));
        book.end_case();
    }

    #[test]
    fn the_cases_lines_answer_once_in_recorded_order() {
        let key = session_key();
        let book = RedisBook::new(
            vec![
                vec![
                    line("0001#1", &["GET", "k"], bulk("a")),
                    line("0001#2", &["GET", "k"], bulk("b")),
                    line("0001#3", &["SET", &key, "v"], simple("OK")),
                    line("0001#4", &["DEL", "k"], Frame::Integer(1)),
                ],
                vec![line("0002#1", &["GET", "k"], bulk("c"))],
            ],
            vec![],
        );
        book.begin_case(0);
        let first = book.answer("cache", &cmd(&["GET", "k"]), ON_7).unwrap();
        assert_eq!(
            first,
            Answer {
                id: "0001#1".into(),
                replies: vec![bulk("a")],
                pushes: vec![],
                wait: None,
            }
        );
        // The name in any case; the arguments as recorded.
        assert_eq!(ask(&book, &["get", "k"]), Ok("0001#2".into()));
        assert_eq!(ask(&book, &["GET", "K"]), Err("GET K".into()));
        // Each answers once, and another case's data is not taken.
        assert_eq!(ask(&book, &["GET", "k"]), Err("GET k".into()));
        // A matcher inside an argument accepts a value of its kind.
        let fresh = format!("session:{UUID}");
        assert_eq!(ask(&book, &["SET", &fresh, "v"]), Ok("0001#3".into()));
        // So many arguments, no more.
        assert_eq!(ask(&book, &["DEL", "k", "k2"]), Err("DEL k k2".into()));
        let log = book.end_case();
        assert_eq!(log.used, ["0001#1", "0001#2", "0001#3"]);
        assert_eq!(log.unused, ["0001#4"]);
        let calls: Vec<&str> = log.misses.iter().map(|m| m.call.as_str()).collect();
        assert_eq!(calls, ["GET K", "GET k", "DEL k k2"]);
        // A used line is still the nearest, the first of equals.
        assert_eq!(log.misses[1].nearest.as_deref(), Some("0001#1 (GET k)"));
        assert_eq!(log.misses[1].diff, "");

        book.begin_case(1);
        assert_eq!(ask(&book, &["GET", "k"]), Ok("0002#1".into()));
        assert!(book.end_case().unused.is_empty());
    }

    #[test]
    fn a_miss_names_the_nearest_line_its_diff_and_the_values_that_differ() {
        let key = session_key();
        let book = RedisBook::new(
            vec![vec![
                line("0001#1", &["SET", &key, "v"], simple("OK")),
                line("0001#2", &["GETEX", "user:1"], bulk("ann")),
                line("0001#3", &["GET", "something:else:entirely"], bulk("x")),
            ]],
            vec![],
        );
        book.begin_case(0);
        let miss = book
            .answer("cache", &cmd(&["SET", "session:not-a-uuid", "v"]), ON_7)
            .unwrap_err();
        assert_eq!(miss.dependency, "cache");
        assert_eq!(miss.call, "SET session:not-a-uuid v");
        assert_eq!(
            miss.nearest.as_deref(),
            Some(r#"0001#1 (SET session:{"$reel":"uuid"} v)"#)
        );
        assert_eq!(
            miss.diff,
            r#"--- expected
+++ actual
@@ -1,3 +1,3 @@
 "SET"
-"session:{\"$reel\":\"uuid\"}"
+"session:not-a-uuid"
 "v"
"#
        );
        assert_eq!(
            miss.values,
            [MissValue {
                mock: "0001#1".into(),
                path: "cmd[1]".into(),
                recorded: Some(key.clone()),
                actual: Some("session:not-a-uuid".into()),
            }]
        );
        // The same command is nearer than a more alike other one.
        let miss = book
            .answer("cache", &cmd(&["GET", "user:1"]), ON_7)
            .unwrap_err();
        assert_eq!(
            miss.nearest.as_deref(),
            Some("0001#3 (GET something:else:entirely)")
        );
        assert_eq!(miss.values.len(), 1);
        assert_eq!(miss.values[0].path, "cmd[1]");
        // Another command: no values, only the diff.
        let miss = book
            .answer("cache", &cmd(&["HGET", "user:1", "name"]), ON_7)
            .unwrap_err();
        assert!(miss.values.is_empty(), "{:?}", miss.values);
        assert!(miss.diff.contains("+\"HGET\""), "{}", miss.diff);
        // Binary values show as hex.
        let miss = book
            .answer("cache", &[b("SET"), Bytes(vec![0xff, 0]), b("v")], ON_7)
            .unwrap_err();
        assert_eq!(miss.values[0].actual.as_deref(), Some("0xff00"));
        // Nothing recorded for the dependency: no nearest.
        let miss = book
            .answer("other", &cmd(&["SET", &key, "v"]), ON_7)
            .unwrap_err();
        assert_eq!(miss.nearest, None);
        assert_eq!(miss.diff, "");
        assert_eq!(book.end_case().misses.len(), 5);
    }

    /// Calls made while cases overlapped are in the shared pool, the same
    /// command perhaps several times as the data changed.
    #[test]
    fn the_pools_lines_answer_in_recorded_order_then_the_latest_again() {
        let book = RedisBook::new(
            vec![vec![line("0001#1", &["GET", "n"], bulk("case"))]],
            vec![
                line("shared#1", &["GET", "n"], bulk("0")),
                line("shared#2", &["GET", "n"], bulk("1")),
                line("startup#1", &["GET", "n"], bulk("2")),
            ],
        );
        book.begin_case(0);
        let ids: Vec<String> = (0..5).map(|_| ask(&book, &["GET", "n"]).unwrap()).collect();
        assert_eq!(
            ids,
            ["0001#1", "shared#1", "shared#2", "startup#1", "startup#1"]
        );
        assert_eq!(book.end_case().used, ids);
    }

    #[test]
    fn housekeeping_answers_from_any_case_as_often_as_asked_and_is_never_owed() {
        let book = RedisBook::new(
            vec![
                vec![],
                vec![
                    line("0002#1", &["INFO", "server"], bulk("redis_version:7.2.4")),
                    line("0002#2", &["SCRIPT", "LOAD", "return 1"], bulk("e0e1f9fa")),
                    line("0002#3", &["GET", "k"], bulk("v")),
                    line("0002#4", &["PING"], simple("PONG")),
                ],
            ],
            vec![],
        );
        // While no case runs (start-up), any case's line answers, and leaves
        // it to its case.
        assert_eq!(ask(&book, &["GET", "k"]), Ok("0002#3".into()));
        book.begin_case(0);
        for _ in 0..3 {
            assert_eq!(ask(&book, &["INFO", "server"]), Ok("0002#1".into()));
        }
        assert_eq!(
            ask(&book, &["script", "LOAD", "return 1"]),
            Ok("0002#2".into())
        );
        // Another case's data is not.
        assert_eq!(ask(&book, &["GET", "k"]), Err("GET k".into()));
        // Housekeeping recorded with other arguments is a miss.
        assert_eq!(ask(&book, &["INFO", "memory"]), Err("INFO memory".into()));
        let log = book.end_case();
        assert_eq!(log.used, ["0002#1", "0002#1", "0002#1", "0002#2"]);
        let misses: Vec<String> = log.misses.iter().map(|m| m.call.clone()).collect();
        assert_eq!(misses, ["GET k", "INFO memory"]);
        // Housekeeping misses look at every case.
        assert_eq!(
            log.misses[1].nearest.as_deref(),
            Some("0002#1 (INFO server)")
        );
        book.begin_case(1);
        assert_eq!(ask(&book, &["GET", "k"]), Ok("0002#3".into()));
        let log = book.end_case();
        assert!(log.unused.is_empty(), "{:?}", log.unused);
    }

    #[test]
    fn misses_while_no_case_runs_are_reported_with_the_next_case() {
        let book = RedisBook::new(vec![vec![line("0001#1", &["GET", "k"], bulk("v"))]], vec![]);
        assert_eq!(ask(&book, &["GET", "nope"]), Err("GET nope".into()));
        book.failed("dependency 'cache': something".into());
        book.begin_case(0);
        let log = book.end_case();
        assert_eq!(log.misses.len(), 1);
        assert_eq!(log.misses[0].call, "GET nope");
        assert_eq!(log.failures, ["dependency 'cache': something"]);
        assert_eq!(log.unused, ["0001#1"]);
        book.begin_case(0);
        assert!(book.end_case().misses.is_empty());
    }

    #[test]
    fn a_recording_answers_before_the_mock_answers_itself() {
        let map = Frame::Map(vec![(bulk("server"), bulk("redis"))]);
        let book = RedisBook::new(
            vec![vec![
                line(
                    "0001#1",
                    &["HELLO", "3", "AUTH", "default", ""],
                    map.clone(),
                ),
                line("0001#2", &["PING"], simple("PONG from the recording")),
            ]],
            vec![],
        );
        book.begin_case(0);
        // HELLO by its protocol version alone: the password was taken out.
        let answer = book
            .answer(
                "cache",
                &cmd(&["hello", "3", "AUTH", "default", "s3cret", "SETNAME", "app"]),
                ON_7,
            )
            .unwrap();
        assert_eq!((answer.id.as_str(), answer.replies), ("0001#1", vec![map]));
        assert_eq!(ask(&book, &["PING"]), Ok("0001#2".into()));
        assert_eq!(ask(&book, &["HELLO", "2"]), Ok(SYNTHESIZED.into()));
        assert_eq!(ask(&book, &["AUTH", "pw"]), Ok(SYNTHESIZED.into()));
        let log = book.end_case();
        assert_eq!(log.used, ["0001#1", "0001#2"]);
        assert!(log.misses.is_empty());
    }

    #[test]
    fn the_mock_answers_housekeeping_recorded_nowhere_as_redis_would() {
        let book = RedisBook::new(vec![vec![]], vec![]);
        book.begin_case(0);
        let replies = |words: &[&str], session: Session| {
            book.answer("cache", &cmd(words), session)
                .map(|a| a.replies)
                .map_err(|m| m.call)
        };
        let one = |f: Frame| Ok(vec![f]);
        assert_eq!(replies(&["AUTH", "anything"], ON_7), one(simple("OK")));
        assert_eq!(replies(&["auth", "user", "pw"], ON_7), one(simple("OK")));
        assert_eq!(replies(&["SELECT", "2"], ON_7), one(simple("OK")));
        assert_eq!(replies(&["PING"], ON_7), one(simple("PONG")));
        assert_eq!(replies(&["PING", "hi"], ON_7), one(bulk("hi")));
        assert_eq!(replies(&["ECHO", "x y"], ON_7), one(bulk("x y")));
        assert_eq!(replies(&["QUIT"], ON_7), one(simple("OK")));
        assert_eq!(replies(&["RESET"], ON_7), one(simple("RESET")));
        assert_eq!(replies(&["READONLY"], ON_7), one(simple("OK")));
        assert_eq!(
            replies(&["client", "setname", "app"], ON_7),
            one(simple("OK"))
        );
        assert_eq!(
            replies(&["CLIENT", "SETINFO", "LIB-NAME", "redis-py"], ON_7),
            one(simple("OK"))
        );
        assert_eq!(
            replies(&["CLIENT", "TRACKING", "on"], ON_7),
            one(simple("OK"))
        );
        assert_eq!(replies(&["CLIENT", "ID"], ON_7), one(Frame::Integer(7)));
        let info = |proto: i64| {
            vec![
                (bulk("server"), bulk("redis")),
                (bulk("version"), bulk("7.0.0")),
                (bulk("proto"), Frame::Integer(proto)),
                (bulk("id"), Frame::Integer(7)),
                (bulk("mode"), bulk("standalone")),
                (bulk("role"), bulk("master")),
                (bulk("modules"), Frame::Array(vec![])),
            ]
        };
        assert_eq!(
            replies(&["HELLO", "3", "SETNAME", "app"], ON_7),
            one(Frame::Map(info(3)))
        );
        let flat: Vec<Frame> = info(2).into_iter().flat_map(|(k, v)| [k, v]).collect();
        assert_eq!(replies(&["HELLO", "2"], ON_7), one(Frame::Array(flat)));
        // No version: the connection's.
        let on_3 = Session {
            protocol: 3,
            ..ON_7
        };
        assert_eq!(replies(&["HELLO"], on_3), one(Frame::Map(info(3))));
        assert_eq!(
            replies(&["HELLO", "4"], ON_7),
            one(Frame::Error(b(
                "NOPROTO sorry, this protocol version is not supported"
            )))
        );
        // Housekeeping whose answer is data, and anything else, is a miss.
        assert_eq!(
            replies(&["CLIENT", "LIST"], ON_7),
            Err("CLIENT LIST".into())
        );
        assert_eq!(replies(&["INFO"], ON_7), Err("INFO".into()));
        assert_eq!(replies(&["ECHO"], ON_7), Err("ECHO".into()));
        assert_eq!(replies(&["GET", "k"], ON_7), Err("GET k".into()));
        let log = book.end_case();
        assert!(log.used.is_empty(), "{:?}", log.used);
        assert_eq!(log.misses.len(), 4);
    }

    #[test]
    fn a_connection_speaks_resp3_after_a_successful_hello_3_until_reset() {
        let mut session = Session::new(1);
        assert_eq!(session.protocol, 2);
        let answered = |replies: Vec<Frame>| Answer {
            id: SYNTHESIZED.into(),
            replies,
            pushes: vec![],
            wait: None,
        };
        let refused = answered(vec![Frame::Error(b("NOPROTO sorry"))]);
        session.after(&cmd(&["HELLO", "3"]), &refused);
        assert_eq!(session.protocol, 2);
        session.after(&cmd(&["HELLO", "3"]), &answered(vec![Frame::Map(vec![])]));
        assert_eq!(session.protocol, 3);
        session.after(&cmd(&["PING"]), &answered(vec![simple("PONG")]));
        assert_eq!(session.protocol, 3);
        session.after(&cmd(&["reset"]), &answered(vec![simple("RESET")]));
        assert_eq!(session.protocol, 2);
    }
}
