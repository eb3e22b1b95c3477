//! Where the generator puts a suite as it goes: in memory ([`Memory`], for
//! tests and the demo) or straight into a folder ([`Dir`], for `reel
//! generate`, so that a session of a million exchanges never sits in
//! memory whole).
//!
//! The generator hands over each stretch of cases as soon as no later
//! exchange can change it, and comes back only for the few decisions that
//! look back across the session: a field loosened across repeats, an
//! origin a later case refers to, a case `--dedup` drops, a secret found
//! after the files that hold it were written.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::secrets::Secrets;
use crate::suite::load::SuiteError;
use crate::suite::{to_pretty, CaseFile, MockSpec, MysqlMock, PgMock, RedisMock, SuiteFile};

/// The two pools of mocks no one case owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Calls made before the first case: the app starting.
    Startup,
    /// Calls no case could be given.
    Shared,
}

impl Pool {
    pub fn name(self) -> &'static str {
        match self {
            Pool::Startup => "startup",
            Pool::Shared => "shared",
        }
    }
}

/// The wire-protocol lines that go with a case or a pool, beside its HTTP
/// mocks.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    pub pg: Vec<PgMock>,
    pub redis: Vec<RedisMock>,
    pub mysql: Vec<MysqlMock>,
}

impl Wire {
    fn is_empty(&self) -> bool {
        self.pg.is_empty() && self.redis.is_empty() && self.mysql.is_empty()
    }
}

/// What a suite is written into.
pub trait Sink {
    /// A finished case with its mocks. `secrets` are those known so far.
    fn case(
        &mut self,
        stem: String,
        case: CaseFile,
        http: Vec<MockSpec>,
        wire: Wire,
        secrets: &Secrets,
    ) -> Result<(), SuiteError>;
    /// More mocks for a pool, after those given before.
    fn pool(
        &mut self,
        pool: Pool,
        http: Vec<MockSpec>,
        wire: Wire,
        secrets: &Secrets,
    ) -> Result<(), SuiteError>;
    /// Changes a case given before.
    fn patch_case(
        &mut self,
        stem: &str,
        edit: &mut dyn FnMut(&mut CaseFile),
        secrets: &Secrets,
    ) -> Result<(), SuiteError>;
    /// Takes a case given before out of the suite, with its mocks.
    fn drop_case(&mut self, stem: &str) -> Result<(), SuiteError>;
    /// Puts each pool in recorded order, whatever order its mocks came in,
    /// and numbers them in that order (`shared#1`, ...): a mock given with
    /// the provisional id [`provisional_id`] gets its number. Returns the
    /// final ids of the provisional ones in `wanted`.
    fn finish_pools(
        &mut self,
        secrets: &Secrets,
        wanted: &std::collections::HashSet<String>,
    ) -> Result<std::collections::HashMap<String, String>, SuiteError>;
    /// Scrubs what was given before the newest secrets were found.
    fn rescrub(&mut self, secrets: &mut Secrets) -> Result<(), SuiteError>;
}

/// The id a pool's mock has until the pool is put in order: its pool and
/// sequence number (`shared#@1234`).
pub fn provisional_id(pool: Pool, seq: i64) -> String {
    format!("{}#@{seq}", pool.name())
}

/// Scrubs cases, each with its HTTP mocks, then the pools' HTTP mocks, then
/// the Postgres groups and the Redis lines (after HTTP, so secret values
/// found there are known in their traffic too): the order the generator
/// finds secrets in.
pub(super) fn scrub<'a>(
    secrets: &mut Secrets,
    cases: &mut [(String, CaseFile, Vec<MockSpec>)],
    pools: impl Iterator<Item = &'a mut MockSpec>,
    pg: impl Iterator<Item = &'a mut PgMock>,
    redis: impl Iterator<Item = &'a mut RedisMock>,
    mysql: impl Iterator<Item = &'a mut MysqlMock>,
) {
    for (_, case, mocks) in cases {
        secrets.scrub_request(&mut case.request);
        secrets.scrub_response(&mut case.response, true);
        for m in mocks.iter_mut() {
            secrets.scrub_request(&mut m.request);
            secrets.scrub_response(&mut m.response, false);
        }
    }
    for m in pools {
        secrets.scrub_request(&mut m.request);
        secrets.scrub_response(&mut m.response, false);
    }
    for m in pg {
        secrets.scrub_pg(m);
    }
    for m in redis {
        secrets.scrub_redis(m);
    }
    for m in mysql {
        secrets.scrub_mysql(m);
    }
}

/// A suite held in memory.
#[derive(Debug, Default)]
pub struct Memory {
    pub cases: Vec<(String, CaseFile, Vec<MockSpec>)>,
    pub pg: BTreeMap<String, Vec<PgMock>>,
    pub startup: Vec<MockSpec>,
    pub shared: Vec<MockSpec>,
    pub startup_pg: Vec<PgMock>,
    pub shared_pg: Vec<PgMock>,
    pub redis: BTreeMap<String, Vec<RedisMock>>,
    pub startup_redis: Vec<RedisMock>,
    pub shared_redis: Vec<RedisMock>,
    pub mysql: BTreeMap<String, Vec<MysqlMock>>,
    pub startup_mysql: Vec<MysqlMock>,
    pub shared_mysql: Vec<MysqlMock>,
    index: std::collections::HashMap<String, usize>,
    dropped: HashSet<String>,
}

impl Memory {
    fn at(&mut self, stem: &str) -> &mut CaseFile {
        let i = self.index[stem];
        &mut self.cases[i].1
    }

    /// The cases kept, in recorded order.
    pub fn into_parts(mut self) -> Self {
        if !self.dropped.is_empty() {
            let dropped = std::mem::take(&mut self.dropped);
            self.cases.retain(|(stem, _, _)| !dropped.contains(stem));
            self.pg.retain(|stem, _| !dropped.contains(stem));
            self.redis.retain(|stem, _| !dropped.contains(stem));
            self.mysql.retain(|stem, _| !dropped.contains(stem));
        }
        self.index.clear();
        self
    }
}

impl Sink for Memory {
    fn case(
        &mut self,
        stem: String,
        case: CaseFile,
        http: Vec<MockSpec>,
        Wire { pg, redis, mysql }: Wire,
        _: &Secrets,
    ) -> Result<(), SuiteError> {
        self.index.insert(stem.clone(), self.cases.len());
        if !mysql.is_empty() {
            self.mysql.insert(stem.clone(), mysql);
        }
        if !pg.is_empty() {
            self.pg.insert(stem.clone(), pg);
        }
        if !redis.is_empty() {
            self.redis.insert(stem.clone(), redis);
        }
        self.cases.push((stem, case, http));
        Ok(())
    }

    fn pool(
        &mut self,
        pool: Pool,
        http: Vec<MockSpec>,
        Wire { pg, redis, mysql }: Wire,
        _: &Secrets,
    ) -> Result<(), SuiteError> {
        let (h, p, r, m) = match pool {
            Pool::Startup => (
                &mut self.startup,
                &mut self.startup_pg,
                &mut self.startup_redis,
                &mut self.startup_mysql,
            ),
            Pool::Shared => (
                &mut self.shared,
                &mut self.shared_pg,
                &mut self.shared_redis,
                &mut self.shared_mysql,
            ),
        };
        h.extend(http);
        p.extend(pg);
        r.extend(redis);
        m.extend(mysql);
        Ok(())
    }

    fn patch_case(
        &mut self,
        stem: &str,
        edit: &mut dyn FnMut(&mut CaseFile),
        _: &Secrets,
    ) -> Result<(), SuiteError> {
        edit(self.at(stem));
        Ok(())
    }

    fn drop_case(&mut self, stem: &str) -> Result<(), SuiteError> {
        self.dropped.insert(stem.to_owned());
        Ok(())
    }

    fn finish_pools(
        &mut self,
        _: &Secrets,
        wanted: &std::collections::HashSet<String>,
    ) -> Result<std::collections::HashMap<String, String>, SuiteError> {
        let mut ids = std::collections::HashMap::new();
        for (pool, http, pg, redis, mysql) in [
            (
                Pool::Startup,
                &mut self.startup,
                &mut self.startup_pg,
                &mut self.startup_redis,
                &mut self.startup_mysql,
            ),
            (
                Pool::Shared,
                &mut self.shared,
                &mut self.shared_pg,
                &mut self.shared_redis,
                &mut self.shared_mysql,
            ),
        ] {
            http.sort_by_key(|m| m.seq);
            pg.sort_by_key(|m| m.seq);
            redis.sort_by_key(|m| m.seq);
            mysql.sort_by_key(|m| m.seq);
            let mut order: Vec<(i64, &mut String)> = http
                .iter_mut()
                .map(|m| (m.seq, &mut m.id))
                .chain(pg.iter_mut().map(|m| (m.seq, &mut m.id)))
                .chain(redis.iter_mut().map(|m| (m.seq, &mut m.id)))
                .chain(mysql.iter_mut().map(|m| (m.seq, &mut m.id)))
                .collect();
            order.sort_by_key(|(seq, _)| *seq);
            for (n, (_, id)) in order.into_iter().enumerate() {
                let new = format!("{}#{}", pool.name(), n + 1);
                if wanted.contains(id.as_str()) {
                    ids.insert(id.clone(), new.clone());
                }
                *id = new;
            }
        }
        Ok(ids)
    }

    fn rescrub(&mut self, secrets: &mut Secrets) -> Result<(), SuiteError> {
        let Memory {
            cases,
            pg,
            startup,
            shared,
            startup_pg,
            shared_pg,
            redis,
            startup_redis,
            shared_redis,
            mysql,
            startup_mysql,
            shared_mysql,
            ..
        } = self;
        scrub(
            secrets,
            cases,
            startup.iter_mut().chain(shared.iter_mut()),
            pg.values_mut()
                .flatten()
                .chain(startup_pg.iter_mut())
                .chain(shared_pg.iter_mut()),
            redis
                .values_mut()
                .flatten()
                .chain(startup_redis.iter_mut())
                .chain(shared_redis.iter_mut()),
            mysql
                .values_mut()
                .flatten()
                .chain(startup_mysql.iter_mut())
                .chain(shared_mysql.iter_mut()),
        );
        Ok(())
    }
}

/// A suite written into a folder as it is made.
///
/// Everything is written into a fresh folder inside the suite folder first
/// and moved into place by [`Dir::finish`], so an earlier suite there stays
/// whole until the new one is complete, and a generation that fails leaves
/// it as it was.
pub struct Dir {
    root: PathBuf,
    stage: tempfile::TempDir,
    mocks_made: bool,
    /// The pools' lines as they come, put in recorded order at the end: a
    /// pool may hold hundreds of thousands, more than memory should.
    pools: rusqlite::Connection,
}

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> SuiteError {
    let path = path.to_owned();
    move |source| SuiteError::Write { path, source }
}

fn rerr(path: &Path) -> impl FnOnce(std::io::Error) -> SuiteError {
    let path = path.to_owned();
    move |source| SuiteError::Read { path, source }
}

/// The name the staging folder inside a suite folder starts with.
const STAGE: &str = ".reel-generating.";

/// One line per mock, of every protocol together in recorded order.
pub fn jsonl(http: &[MockSpec], pg: &[PgMock], redis: &[RedisMock], mysql: &[MysqlMock]) -> String {
    fn line<T: serde::Serialize>(seq: i64, m: &T) -> (i64, String) {
        (seq, serde_json::to_string(m).expect("mocks serialize"))
    }
    let mut lines: Vec<(i64, String)> = http
        .iter()
        .map(|m| line(m.seq, m))
        .chain(pg.iter().map(|m| line(m.seq, m)))
        .chain(redis.iter().map(|m| line(m.seq, m)))
        .chain(mysql.iter().map(|m| line(m.seq, m)))
        .collect();
    lines.sort_by_key(|(seq, _)| *seq);
    let mut s = String::new();
    for (_, line) in lines {
        s.push_str(&line);
        s.push('\n');
    }
    s
}

impl Dir {
    /// Prepares to write a suite into `root`. A folder holding an earlier
    /// suite is replaced when [`Dir::finish`] is called; any other non-empty
    /// folder is refused, so nothing of the user's is overwritten.
    pub fn create(root: &Path) -> Result<Self, SuiteError> {
        if root.exists() {
            // What a generation that was killed left behind.
            for e in std::fs::read_dir(root).map_err(rerr(root))?.flatten() {
                if e.file_name().to_string_lossy().starts_with(STAGE) {
                    let p = e.path();
                    let gone = if e.file_type().is_ok_and(|t| t.is_dir()) {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                    gone.map_err(werr(&p))?;
                }
            }
            let has_suite = root.join("suite.json").exists();
            let empty = std::fs::read_dir(root)
                .map_err(rerr(root))?
                .next()
                .is_none();
            if !has_suite && !empty {
                return Err(SuiteError::Invalid {
                    path: root.to_owned(),
                    what: "the folder is not empty and holds no suite.json; give an empty or new folder"
                        .into(),
                });
            }
        }
        std::fs::create_dir_all(root).map_err(werr(root))?;
        let stage = tempfile::Builder::new()
            .prefix(STAGE)
            .tempdir_in(root)
            .map_err(werr(root))?;
        let cases = stage.path().join("cases");
        std::fs::create_dir(&cases).map_err(werr(&cases))?;
        let db = stage.path().join("pools.db");
        let sql_err = |e: rusqlite::Error| {
            werr(&db)(std::io::Error::other(format!(
                "the pools' scratch database: {e}"
            )))
        };
        let pools = rusqlite::Connection::open(&db).map_err(sql_err)?;
        pools
            .execute_batch(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
                 CREATE TABLE lines (pool TEXT NOT NULL, seq INTEGER NOT NULL, line TEXT NOT NULL,
                                     PRIMARY KEY (pool, seq)) WITHOUT ROWID;
                 BEGIN;",
            )
            .map_err(sql_err)?;
        Ok(Dir {
            root: root.to_owned(),
            stage,
            mocks_made: false,
            pools,
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.stage.path().join(rel)
    }

    /// Makes `mocks/` in `stage` when the first mocks file is written.
    fn mocks_dir(stage: &Path, made: &mut bool) -> Result<(), SuiteError> {
        if !*made {
            let dir = stage.join("mocks");
            std::fs::create_dir(&dir).map_err(werr(&dir))?;
            *made = true;
        }
        Ok(())
    }

    fn put(&mut self, rel: &str, text: &str, secrets: &Secrets) -> Result<(), SuiteError> {
        if rel.starts_with("mocks/") {
            Self::mocks_dir(self.stage.path(), &mut self.mocks_made)?;
        }
        let path = self.path(rel);
        // The safety net: no distinctive recorded secret reaches a file.
        std::fs::write(&path, secrets.scrub_file(text)).map_err(werr(&path))
    }

    /// Writes `suite.json` and moves the new suite into place: the earlier
    /// suite's parts are moved into the staging folder first (a rename each,
    /// never following a link), the new ones into their place, and only
    /// then is the staging folder removed with the old parts. Returns the
    /// files the suite holds.
    pub fn finish(self, suite: &SuiteFile, secrets: &Secrets) -> Result<Vec<PathBuf>, SuiteError> {
        let mut this = self;
        this.put("suite.json", &to_pretty(suite), secrets)?;
        let parts = ["cases", "mocks", "suite.json"];
        let aside = |sub: &str| this.path(&format!("old-{sub}"));
        let mut moved = Vec::new();
        let swapped = (|| {
            for sub in parts {
                let old = this.root.join(sub);
                if std::fs::symlink_metadata(&old).is_ok() {
                    std::fs::rename(&old, aside(sub)).map_err(werr(&old))?;
                    moved.push(sub);
                }
            }
            for sub in parts {
                let from = this.path(sub);
                if from.exists() {
                    let to = this.root.join(sub);
                    std::fs::rename(&from, &to).map_err(werr(&to))?;
                }
            }
            Ok(())
        })();
        if let Err(e) = swapped {
            // Put the earlier suite back where the new one is not.
            for sub in moved {
                let to = this.root.join(sub);
                if std::fs::symlink_metadata(&to).is_err() {
                    let _ = std::fs::rename(aside(sub), &to);
                }
            }
            return Err(e);
        }
        let mut files = vec![this.root.join("suite.json")];
        for sub in ["cases", "mocks"] {
            let dir = this.root.join(sub);
            if let Ok(entries) = std::fs::read_dir(&dir) {
                let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                names.sort();
                files.extend(names);
            }
        }
        Ok(files)
    }
}

impl Sink for Dir {
    fn case(
        &mut self,
        stem: String,
        case: CaseFile,
        http: Vec<MockSpec>,
        wire: Wire,
        secrets: &Secrets,
    ) -> Result<(), SuiteError> {
        self.put(&format!("cases/{stem}.json"), &to_pretty(&case), secrets)?;
        if !http.is_empty() || !wire.is_empty() {
            let lines = jsonl(&http, &wire.pg, &wire.redis, &wire.mysql);
            self.put(&format!("mocks/{stem}.jsonl"), &lines, secrets)?;
        }
        Ok(())
    }

    fn pool(
        &mut self,
        pool: Pool,
        http: Vec<MockSpec>,
        Wire { pg, redis, mysql }: Wire,
        _: &Secrets,
    ) -> Result<(), SuiteError> {
        let db = self.path("pools.db");
        let mut insert = self
            .pools
            .prepare_cached("INSERT OR REPLACE INTO lines (pool, seq, line) VALUES (?1, ?2, ?3)")
            .map_err(|e| werr(&db)(std::io::Error::other(e)))?;
        let lines = http
            .iter()
            .map(|m| (m.seq, serde_json::to_string(m)))
            .chain(pg.iter().map(|m| (m.seq, serde_json::to_string(m))))
            .chain(redis.iter().map(|m| (m.seq, serde_json::to_string(m))))
            .chain(mysql.iter().map(|m| (m.seq, serde_json::to_string(m))));
        // Scrubbed when the pool file is written, with every secret known.
        for (seq, line) in lines {
            let line = line.expect("mocks serialize");
            insert
                .execute(rusqlite::params![pool.name(), seq, line])
                .map_err(|e| werr(&db)(std::io::Error::other(e)))?;
        }
        Ok(())
    }

    fn finish_pools(
        &mut self,
        secrets: &Secrets,
        wanted: &std::collections::HashSet<String>,
    ) -> Result<std::collections::HashMap<String, String>, SuiteError> {
        let db = self.path("pools.db");
        let sql = |e: rusqlite::Error| werr(&db)(std::io::Error::other(e));
        let mut ids = std::collections::HashMap::new();
        for pool in [Pool::Startup, Pool::Shared] {
            let mut stmt = self
                .pools
                .prepare("SELECT seq, line FROM lines WHERE pool = ?1 ORDER BY seq")
                .map_err(sql)?;
            let mut rows = stmt.query([pool.name()]).map_err(sql)?;
            let mut out: Option<std::io::BufWriter<std::fs::File>> = None;
            let path = self
                .stage
                .path()
                .join(format!("mocks/{}.jsonl", pool.name()));
            let mut n = 0;
            while let Some(r) = rows.next().map_err(sql)? {
                let (seq, line): (i64, String) = (r.get(0).map_err(sql)?, r.get(1).map_err(sql)?);
                n += 1;
                let new = format!("{}#{n}", pool.name());
                let old = provisional_id(pool, seq);
                let prefix = format!(
                    "{{\"id\":{}",
                    serde_json::to_string(&old).unwrap_or_default()
                );
                let line = match line.strip_prefix(&prefix) {
                    Some(rest) => {
                        if wanted.contains(&old) {
                            ids.insert(old, new.clone());
                        }
                        format!(
                            "{{\"id\":{}{rest}",
                            serde_json::to_string(&new).unwrap_or_default()
                        )
                    }
                    None => line,
                };
                if out.is_none() {
                    Self::mocks_dir(self.stage.path(), &mut self.mocks_made)?;
                    let f = std::fs::File::create(&path).map_err(werr(&path))?;
                    out = Some(std::io::BufWriter::new(f));
                }
                let w = out.as_mut().expect("opened above");
                writeln!(w, "{}", secrets.scrub_file(&line)).map_err(werr(&path))?;
            }
            if let Some(mut w) = out {
                w.flush().map_err(werr(&path))?;
            }
        }
        Ok(ids)
    }

    fn patch_case(
        &mut self,
        stem: &str,
        edit: &mut dyn FnMut(&mut CaseFile),
        secrets: &Secrets,
    ) -> Result<(), SuiteError> {
        let path = self.path(&format!("cases/{stem}.json"));
        let text = std::fs::read_to_string(&path).map_err(rerr(&path))?;
        let mut case: CaseFile = crate::suite::load::parse(&path, &text)?;
        edit(&mut case);
        self.put(&format!("cases/{stem}.json"), &to_pretty(&case), secrets)
    }

    fn drop_case(&mut self, stem: &str) -> Result<(), SuiteError> {
        for rel in [format!("cases/{stem}.json"), format!("mocks/{stem}.jsonl")] {
            let path = self.path(&rel);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(werr(&path)(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Rewrites, scrubbed again, each file that holds a recorded secret
    /// value: found by one pass of Aho-Corasick over the file's text.
    fn rescrub(&mut self, secrets: &mut Secrets) -> Result<(), SuiteError> {
        let values: Vec<String> = secrets
            .values()
            .values()
            .flat_map(|v| {
                // As it stands in JSON text too.
                let quoted = serde_json::to_string(v).unwrap_or_default();
                let escaped = quoted[1..quoted.len() - 1].to_owned();
                [v.clone(), escaped]
            })
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Ok(());
        }
        let finder = aho_corasick::AhoCorasick::new(&values).expect("literal patterns build");
        for sub in ["cases", "mocks"] {
            let dir = self.path(sub);
            if !dir.exists() {
                continue;
            }
            let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(rerr(&dir))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(rerr(&dir))?;
            names.sort();
            for path in names {
                let text = std::fs::read_to_string(&path).map_err(rerr(&path))?;
                if !finder.is_match(&text) {
                    continue;
                }
                let again = if sub == "cases" {
                    let case: CaseFile = crate::suite::load::parse(&path, &text)?;
                    let mut one = [(String::new(), case, Vec::new())];
                    let none = std::iter::empty();
                    scrub(
                        secrets,
                        &mut one,
                        none,
                        std::iter::empty(),
                        std::iter::empty(),
                        std::iter::empty(),
                    );
                    to_pretty(&one[0].1)
                } else {
                    let (mut http, mut pg, mut redis, mut mysql) =
                        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                    for (i, line) in text.lines().enumerate() {
                        let bad = |source| SuiteError::ParseLine {
                            path: path.clone(),
                            line: i + 1,
                            source,
                        };
                        let v: Value = serde_json::from_str(line).map_err(bad)?;
                        match v.get("protocol").and_then(Value::as_str) {
                            Some("postgres") => pg.push(serde_json::from_value(v).map_err(bad)?),
                            Some("redis") => redis.push(serde_json::from_value(v).map_err(bad)?),
                            Some("mysql") => mysql.push(serde_json::from_value(v).map_err(bad)?),
                            _ => http.push(serde_json::from_value(v).map_err(bad)?),
                        }
                    }
                    scrub(
                        secrets,
                        &mut [],
                        http.iter_mut(),
                        pg.iter_mut(),
                        redis.iter_mut(),
                        mysql.iter_mut(),
                    );
                    jsonl(&http, &pg, &redis, &mysql)
                };
                std::fs::write(&path, secrets.scrub_file(&again)).map_err(werr(&path))?;
            }
        }
        Ok(())
    }
}
