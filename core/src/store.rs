//! The SQLite store: schema, migrations and reads.
//!
//! One file (`.reel/reel.db` by default), WAL mode, created with mode 0600. The
//! schema is protocol-generic: every exchange keeps its head (HTTP start line and
//! headers, or a wire protocol's decoded messages) as JSON and its body or raw
//! bytes as a blob. Migrations are keyed on `PRAGMA user_version`; a store from a
//! newer reel is refused rather than touched. All writes during recording go
//! through [`crate::writer::StoreWriter`].

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::body::deserialize_header_value;
use crate::errors::StoreError;
use crate::model::{
    Body, DecodedJson, Direction, Exchange, Header, HttpRequest, HttpResponse, Later, Payload,
    Protocol, Session,
};
use crate::time::Micros;
use crate::wire::mysql::Redecoder;

/// `PRAGMA application_id`: "reel" in ASCII, so other SQLite files are recognised.
const APPLICATION_ID: i64 = 0x7265_656c;

/// Page size of a new store (an existing one keeps its own).
const PAGE_SIZE: i64 = 16 * 1024;

/// Each entry upgrades the schema from version `index` to `index + 1`.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    target      TEXT    NOT NULL,
    notes       TEXT,
    dropped     INTEGER NOT NULL DEFAULT 0,
    -- How the recording was set up (addresses, dependencies, app command), JSON.
    setup       TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX sessions_name ON sessions(name);
CREATE TABLE exchanges (
    id                 INTEGER PRIMARY KEY,
    session_id         INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq                INTEGER NOT NULL,
    direction          TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    protocol           TEXT    NOT NULL,
    dependency         TEXT,
    connection         INTEGER NOT NULL,
    started_at         INTEGER NOT NULL,
    first_byte_at      INTEGER,
    ended_at           INTEGER,
    request_head       TEXT    NOT NULL,
    request_body       BLOB    NOT NULL,
    request_size       INTEGER NOT NULL,
    request_truncated  INTEGER NOT NULL,
    response_head      TEXT,
    response_body      BLOB,
    response_size      INTEGER,
    response_truncated INTEGER,
    error              TEXT,
    UNIQUE (session_id, seq)
);
"#];

/// Exchanges deleted per transaction when a session is removed: a few
/// milliseconds of write lock each.
const DELETE_BATCH: i64 = 2000;

/// SQL: session `s` is being removed (see [`Store::delete_session`]).
const REMOVING: &str =
    "(CASE WHEN json_valid(s.setup) THEN json_extract(s.setup, '$.removing') END) IS NOT NULL";

/// The newest schema version this reel knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// A session with its exchange count, for listings.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionSummary {
    #[serde(flatten)]
    pub session: Session,
    pub exchanges: u64,
    pub inbound: u64,
    pub outbound: u64,
    pub state: crate::model::SessionState,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date: for recording. A new store's folder is made private
    /// (0700) and the file 0600; an existing file is made 0600 too. A file
    /// that is there but empty is refused, not made a store: it is not one.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| StoreError::CreateDir {
                    path: dir.to_owned(),
                    source,
                })?;
        }
        if path.exists() {
            check_file(path)?;
            make_private(path)?;
        } else {
            create_private(path)?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_owned(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens a store that must already exist, creating nothing: for every
    /// command but recording. `write` only for changing it (`sessions rm`);
    /// otherwise read-only, which also works where the store's folder or
    /// file cannot be written (a read-only mount).
    pub fn open_existing(path: &Path, write: bool) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_owned(),
            });
        }
        check_file(path)?;
        use rusqlite::OpenFlags;
        let flags = if write {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let store = |conn| Store {
            conn,
            path: path.to_owned(),
        };
        let first = Connection::open_with_flags(path, flags)
            .map(store)
            .map_err(open_err)
            .and_then(|s| s.check_schema().map(|()| s));
        match first {
            Ok(s) => {
                s.conn
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(open_err)?;
                if write {
                    s.conn
                        .execute_batch("PRAGMA foreign_keys = ON;")
                        .map_err(open_err)?;
                }
                Ok(s)
            }
            // A WAL store on read-only media: SQLite cannot make its
            // shared-memory file there, and nobody can be writing it.
            Err(StoreError::Open { .. }) | Err(StoreError::Sql { .. }) if !write => {
                let uri = format!("file:{}?immutable=1", uri_path(path));
                let s = Connection::open_with_flags(uri, flags)
                    .map(store)
                    .map_err(open_err)?;
                s.check_schema()?;
                Ok(s)
            }
            Err(e) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn sql_err(
        &self,
        what: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sql {
            path: self.path.clone(),
            what,
            source,
        }
    }

    fn configure(&self) -> Result<(), StoreError> {
        let open_err = |source| StoreError::Open {
            path: self.path.clone(),
            source,
        };
        self.conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        // A new store gets 16 KiB pages: an exchange with a 1 KiB body takes about
        // 1.5 KiB, so 4 KiB pages wasted a fifth of the file and cost the writer
        // more page writes (`cargo bench -p reel-core --bench store_writer`: 9.2
        // against 6.8 us of writer CPU per exchange). SQLite ignores this for an
        // existing store, which keeps its page size; it must come before WAL.
        self.conn
            .pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(open_err)?;
        // WAL keeps readers (`reel sessions`) off the writer's back; NORMAL sync is
        // safe against a killed process, which is the crash we must survive.
        self.conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .map_err(open_err)?;
        self.conn
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(open_err)?;
        Ok(())
    }

    /// The file's `application_id` and `user_version`.
    fn marks(&self) -> Result<(i64, i64), StoreError> {
        let app_id: i64 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(self.sql_err("reading application_id"))?;
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.sql_err("reading user_version"))?;
        Ok((app_id, version))
    }

    /// For a store opened without migrating: a reel store of this reel's
    /// schema version.
    fn check_schema(&self) -> Result<(), StoreError> {
        let (app_id, version) = self.marks()?;
        if app_id != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path: self.path.clone(),
            });
        }
        match version {
            v if v > SCHEMA_VERSION => Err(StoreError::TooNew {
                path: self.path.clone(),
                found: v,
                supported: SCHEMA_VERSION,
            }),
            v if v < SCHEMA_VERSION => Err(StoreError::TooOld {
                path: self.path.clone(),
                found: v,
            }),
            _ => Ok(()),
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let (app_id, version) = self.marks()?;
        if app_id != APPLICATION_ID {
            let tables: i64 = self
                .conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(self.sql_err("reading the schema"))?;
            if app_id != 0 || tables > 0 {
                return Err(StoreError::Foreign {
                    path: self.path.clone(),
                });
            }
        }
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let to = i as i64 + 1;
            let batch = format!(
                "BEGIN IMMEDIATE; {sql}; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {to}; COMMIT;"
            );
            if let Err(source) = self.conn.execute_batch(&batch) {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(StoreError::Sql {
                    path: self.path.clone(),
                    what: "migrating the schema",
                    source,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Starts a session and returns its id.
    pub fn create_session(
        &self,
        name: &str,
        target: &str,
        started_at: Micros,
    ) -> Result<i64, StoreError> {
        // Which process records it: a reader tells a session still being
        // recorded from one whose recorder died.
        let setup = serde_json::json!({ "recorder": crate::model::Recorder::this_process() });
        self.conn
            .execute(
                "INSERT INTO sessions (name, started_at, target, setup) VALUES (?1, ?2, ?3, ?4)",
                params![name, started_at.0, target, setup.to_string()],
            )
            .map_err(self.sql_err("creating a session"))?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn list_sessions(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT s.id, s.name, s.started_at, s.ended_at, s.target, s.notes, s.dropped, s.setup,
                        count(e.id),
                        coalesce(sum(e.direction = 'inbound'), 0),
                        coalesce(sum(e.direction = 'outbound'), 0)
                 FROM sessions s LEFT JOIN exchanges e ON e.session_id = s.id
                 WHERE NOT {REMOVING}
                 GROUP BY s.id ORDER BY s.id"
            ))
            .map_err(self.sql_err("listing sessions"))?;
        let rows = stmt
            .query_map([], |r| {
                let session = session_from_row(r)?;
                Ok(SessionSummary {
                    state: session.state(),
                    session,
                    exchanges: r.get::<_, i64>(8)? as u64,
                    inbound: r.get::<_, i64>(9)? as u64,
                    outbound: r.get::<_, i64>(10)? as u64,
                })
            })
            .map_err(self.sql_err("listing sessions"))?;
        rows.collect::<Result<_, _>>()
            .map_err(self.sql_err("listing sessions"))
    }

    /// Finds a session by numeric id, or else by name (the newest of that name).
    pub fn find_session(&self, id_or_name: &str) -> Result<SessionSummary, StoreError> {
        let all = self.list_sessions()?;
        let by_id = id_or_name
            .parse::<i64>()
            .ok()
            .and_then(|id| all.iter().find(|s| s.session.id == id));
        by_id
            .or_else(|| all.iter().rev().find(|s| s.session.name == id_or_name))
            .cloned()
            .ok_or_else(|| StoreError::NoSuchSession(id_or_name.to_owned()))
    }

    /// Records how a session was set up (see [`Session::setup`]), keeping
    /// the recorder that [`Store::create_session`] noted.
    pub fn set_session_setup(&self, id: i64, setup: &Value) -> Result<(), StoreError> {
        let had: Option<String> = self
            .conn
            .query_row(
                "SELECT setup FROM sessions WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql_err("reading the session setup"))?;
        let mut setup = setup.clone();
        let recorder = had
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("recorder").cloned());
        if let (Some(r), Some(obj)) = (recorder, setup.as_object_mut()) {
            obj.entry("recorder").or_insert(r);
        }
        self.conn
            .execute(
                "UPDATE sessions SET setup = ?1 WHERE id = ?2",
                params![setup.to_string(), id],
            )
            .map_err(self.sql_err("recording the session setup"))?;
        Ok(())
    }

    /// Deletes a session and all its exchanges, and returns how many
    /// exchanges went with it.
    ///
    /// A recorder may be writing to this store meanwhile, and waits (up to
    /// its busy timeout) for every write here: so the exchanges go a batch
    /// per transaction, each a few milliseconds, not all in one that could
    /// hold the recorder up for seconds and cost it captures. The session is
    /// marked as being removed first, which hides it from every listing:
    /// a removal cut short leaves no half session to generate from, and the
    /// next `sessions rm` or `prune` finishes it ([`Store::unfinished_removals`]).
    /// The space the exchanges took is reused by later recordings; `VACUUM`
    /// ([`Store::vacuum`]) gives it back to the filesystem.
    pub fn delete_session(&self, id: i64) -> Result<u64, StoreError> {
        self.conn
            .execute(
                "UPDATE sessions SET setup = CASE WHEN json_valid(setup)
                    THEN json_set(setup, '$.removing', json('true')) ELSE '{\"removing\":true}' END
                 WHERE id = ?1",
                params![id],
            )
            .map_err(self.sql_err("marking a session for removal"))?;
        let mut deleted = 0;
        loop {
            let n = self
                .conn
                .execute(
                    "DELETE FROM exchanges WHERE id IN
                        (SELECT id FROM exchanges WHERE session_id = ?1 LIMIT ?2)",
                    params![id, DELETE_BATCH],
                )
                .map_err(self.sql_err("deleting a session's exchanges"))?;
            if n == 0 {
                break;
            }
            deleted += n as u64;
        }
        self.conn
            .execute("DELETE FROM sessions WHERE id = ?1", params![id])
            .map_err(self.sql_err("deleting a session"))?;
        Ok(deleted)
    }

    /// Sessions whose removal was cut short (see [`Store::delete_session`]).
    pub fn unfinished_removals(&self) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT id FROM sessions s WHERE {REMOVING} ORDER BY id"
            ))
            .map_err(self.sql_err("listing sessions"))?;
        let ids = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.sql_err("listing sessions"))?;
        ids.collect::<Result<_, _>>()
            .map_err(self.sql_err("listing sessions"))
    }

    /// The bytes the store takes on disk: its file and its write-ahead log.
    pub fn disk_size(&self) -> u64 {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        [self.path.as_os_str(), wal.as_os_str()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Bytes of pages that removed sessions left free for reuse.
    pub fn free_bytes(&self) -> Result<u64, StoreError> {
        let pages: i64 = self
            .conn
            .pragma_query_value(None, "freelist_count", |r| r.get(0))
            .map_err(self.sql_err("reading the free page count"))?;
        let size: i64 = self
            .conn
            .pragma_query_value(None, "page_size", |r| r.get(0))
            .map_err(self.sql_err("reading the page size"))?;
        Ok((pages * size) as u64)
    }

    /// Rewrites the store without its free pages (SQLite `VACUUM`) and folds
    /// the write-ahead log back into the file, so the file shrinks. It takes
    /// the write lock for as long as it runs: a recorder writing to the store
    /// meanwhile would wait for it, and lose captures once its busy timeout
    /// passes. The caller checks that none is (see `reel sessions vacuum`).
    pub fn vacuum(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("VACUUM")
            .map_err(self.sql_err("vacuuming"))?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(self.sql_err("checkpointing the write-ahead log"))?;
        Ok(())
    }

    /// The exchanges of a session in sequence order.
    pub fn exchanges(&self, session_id: i64) -> Result<Vec<Exchange>, StoreError> {
        let mut out = Vec::new();
        self.each_exchange(session_id, |e| out.push(e))?;
        Ok(out)
    }

    /// Gives a session's exchanges one at a time in recorded order, so a
    /// long session is never held whole.
    pub fn each_exchange(
        &self,
        session_id: i64,
        mut each: impl FnMut(Exchange),
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE session_id = ?1 ORDER BY seq"
            ))
            .map_err(self.sql_err("reading exchanges"))?;
        let mut rows = stmt
            .query(params![session_id])
            .map_err(self.sql_err("reading exchanges"))?;
        let mut later = Redecoder::default();
        while let Some(r) = rows.next().map_err(self.sql_err("reading exchanges"))? {
            each(self.decoded(session_id, self.exchange(session_id, r)?, &mut later)?);
        }
        Ok(())
    }

    /// A session's exchanges (of one protocol only when `protocol` is
    /// given) in the order they began, as `generate` reads them. Sequence
    /// numbers are not that order: an HTTP exchange takes its number when
    /// its request starts, a Postgres or Redis one when it is answered. Only
    /// the row ids are sorted in memory (8 bytes an exchange); each exchange
    /// is then read by its id.
    pub fn each_exchange_by_start(
        &self,
        session_id: i64,
        protocol: Option<crate::model::Protocol>,
        mut each: impl FnMut(Exchange),
    ) -> Result<(), StoreError> {
        let err = || self.sql_err("reading exchanges");
        // One read transaction: a lock taken once, not once per exchange.
        self.conn.execute_batch("BEGIN").map_err(err())?;
        let read = self.read_by_start(session_id, protocol, &mut each);
        let _ = self.conn.execute_batch("COMMIT");
        read
    }

    fn read_by_start(
        &self,
        session_id: i64,
        protocol: Option<crate::model::Protocol>,
        each: &mut impl FnMut(Exchange),
    ) -> Result<(), StoreError> {
        let err = || self.sql_err("reading exchanges");
        let ids: Vec<i64> = self
            .conn
            .prepare(
                "SELECT id FROM exchanges WHERE session_id = ?1 AND (?2 IS NULL OR protocol = ?2)
                 ORDER BY started_at, seq",
            )
            .map_err(err())?
            .query_map(params![session_id, protocol.map(|p| p.as_str())], |r| {
                r.get(0)
            })
            .map_err(err())?
            .collect::<Result<_, _>>()
            .map_err(err())?;
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {EXCHANGE_COLUMNS} FROM exchanges WHERE id = ?1"
            ))
            .map_err(err())?;
        let mut later = Redecoder::default();
        for id in ids {
            let mut rows = stmt.query(params![id]).map_err(err())?;
            // A row removed meanwhile (`sessions rm` elsewhere) is gone.
            let Some(r) = rows.next().map_err(err())? else {
                continue;
            };
            let e = self.exchange(session_id, r)?;
            drop(rows);
            each(self.decoded(session_id, e, &mut later)?);
        }
        Ok(())
    }

    /// `e` with its decoded forms, if it was stored as raw bytes only
    /// (see [`Redecoder`]).
    fn decoded(
        &self,
        session_id: i64,
        mut e: Exchange,
        later: &mut Redecoder,
    ) -> Result<Exchange, StoreError> {
        let (connection, seq) = (e.connection, e.seq);
        later.fill(&mut e, |each| {
            self.connection_before(session_id, connection, seq, each)
        })?;
        Ok(e)
    }

    /// Hands `each` the exchanges connection `connection` of a session
    /// stored before `seq`, in the order they were stored, as stored.
    fn connection_before(
        &self,
        session_id: i64,
        connection: u64,
        seq: i64,
        each: &mut dyn FnMut(&Exchange),
    ) -> Result<(), StoreError> {
        let err = || self.sql_err("reading exchanges");
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {EXCHANGE_COLUMNS} FROM exchanges
                 WHERE session_id = ?1 AND seq < ?3 AND connection = ?2 ORDER BY seq"
            ))
            .map_err(err())?;
        let mut rows = stmt
            .query(params![session_id, connection as i64, seq])
            .map_err(err())?;
        while let Some(r) = rows.next().map_err(err())? {
            each(&self.exchange(session_id, r)?);
        }
        Ok(())
    }

    /// One row of [`EXCHANGE_COLUMNS`] as an exchange; a row that does not
    /// read back is named as corrupt.
    fn exchange(&self, session_id: i64, r: &rusqlite::Row<'_>) -> Result<Exchange, StoreError> {
        exchange_from_row(session_id, r)
            .map_err(self.sql_err("reading exchanges"))?
            .map_err(|(seq, what)| StoreError::Corrupt {
                path: self.path.clone(),
                session: session_id,
                seq,
                what,
            })
    }

    pub fn session(&self, id: i64) -> Result<Option<Session>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, name, started_at, ended_at, target, notes, dropped, setup FROM sessions WHERE id = ?1",
                params![id],
                session_from_row,
            )
            .optional()
            .map_err(self.sql_err("reading a session"))
    }
}

/// An existing store file must hold something: an empty file is not a
/// store, and making it one would hide a mistake (a wrong `--store`).
fn check_file(path: &Path) -> Result<(), StoreError> {
    let meta = std::fs::metadata(path).map_err(|source| StoreError::CreateFile {
        path: path.to_owned(),
        source,
    })?;
    if meta.is_file() && meta.len() == 0 {
        return Err(StoreError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Narrows an existing store file (and its WAL and shared-memory files) to
/// 0600, as a new one is made.
fn make_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = vec![path.to_owned()];
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        files.push(PathBuf::from(p));
    }
    for f in files {
        let Ok(meta) = std::fs::metadata(&f) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).map_err(
                |source| StoreError::CreateFile {
                    path: f.clone(),
                    source,
                },
            )?;
        }
    }
    Ok(())
}

/// A path for an SQLite `file:` URI, with the characters URIs reserve escaped.
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = String::new();
    for b in abs.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{b:02X}")),
            b => out.push(*b as char),
        }
    }
    out
}

/// Creates the store file with mode 0600 before SQLite opens it; SQLite gives its
/// WAL and shared-memory files the same mode.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::CreateFile {
            path: path.to_owned(),
            source,
        }),
    }
}

fn session_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        name: r.get(1)?,
        started_at: Micros(r.get(2)?),
        ended_at: r.get::<_, Option<i64>>(3)?.map(Micros),
        target: r.get(4)?,
        notes: r.get(5)?,
        dropped: r.get::<_, i64>(6)? as u64,
        setup: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or(Value::Null),
    })
}

type RowResult = Result<Exchange, (i64, String)>;

/// The columns [`exchange_from_row`] reads, in its order.
const EXCHANGE_COLUMNS: &str = "seq, direction, protocol, dependency, connection, started_at,
    first_byte_at, ended_at, request_head, request_body, request_size, request_truncated,
    response_head, response_body, response_size, response_truncated, error";

fn exchange_from_row(session_id: i64, r: &rusqlite::Row<'_>) -> rusqlite::Result<RowResult> {
    let seq: i64 = r.get(0)?;
    let direction: String = r.get(1)?;
    let protocol: String = r.get(2)?;
    let Some(direction) = Direction::parse(&direction) else {
        return Ok(Err((seq, format!("unknown direction '{direction}'"))));
    };
    let Some(protocol) = Protocol::parse(&protocol) else {
        return Ok(Err((seq, format!("unknown protocol '{protocol}'"))));
    };
    let request_body = Body {
        bytes: r.get(9)?,
        size: r.get::<_, i64>(10)? as u64,
        truncated: r.get(11)?,
    };
    let request = match decode_head(&r.get::<_, String>(8)?, request_body) {
        Ok(p) => p,
        Err(what) => return Ok(Err((seq, format!("request: {what}")))),
    };
    let response = match r.get::<_, Option<String>>(12)? {
        None => None,
        Some(head) => {
            let body = Body {
                bytes: r.get::<_, Option<Vec<u8>>>(13)?.unwrap_or_default(),
                size: r.get::<_, Option<i64>>(14)?.unwrap_or(0) as u64,
                truncated: r.get::<_, Option<bool>>(15)?.unwrap_or(false),
            };
            match decode_head(&head, body) {
                Ok(p) => Some(p),
                Err(what) => return Ok(Err((seq, format!("response: {what}")))),
            }
        }
    };
    Ok(Ok(Exchange {
        session_id,
        seq,
        direction,
        protocol,
        dependency: r.get(3)?,
        connection: r.get::<_, i64>(4)? as u64,
        started_at: Micros(r.get(5)?),
        first_byte_at: r.get::<_, Option<i64>>(6)?.map(Micros),
        ended_at: r.get::<_, Option<i64>>(7)?.map(Micros),
        request,
        response,
        error: r.get(16)?,
    }))
}

/// The head of a payload as stored: written straight from the model, without
/// building a JSON tree first (this runs for every captured exchange).
#[derive(serde::Serialize)]
#[serde(tag = "kind")]
enum Head<'a> {
    #[serde(rename = "http_request")]
    Request {
        method: &'a str,
        target: &'a str,
        version: &'a str,
        #[serde(serialize_with = "crate::model::serialize_headers")]
        headers: &'a [Header],
    },
    #[serde(rename = "http_response")]
    Response {
        status: u16,
        version: &'a str,
        #[serde(serialize_with = "crate::model::serialize_headers")]
        headers: &'a [Header],
    },
    #[serde(rename = "wire")]
    Wire { decoded: &'a DecodedJson },
}

/// The JSON head stored for a payload (everything but its body bytes).
pub(crate) fn encode_head(p: &Payload) -> String {
    let head = match p {
        Payload::HttpRequest(r) => Head::Request {
            method: &r.method,
            target: &r.target,
            version: &r.version,
            headers: &r.headers,
        },
        Payload::HttpResponse(r) => Head::Response {
            status: r.status,
            version: &r.version,
            headers: &r.headers,
        },
        Payload::Wire {
            decoded: DecodedJson::Text(text),
            ..
        } => return wire_head(text.get()),
        Payload::Wire {
            decoded: DecodedJson::Later(later),
            ..
        } => return later_head(later),
        Payload::Wire { decoded, .. } => Head::Wire { decoded },
    };
    serde_json::to_string(&head).expect("heads serialize")
}

/// The head stored for an answer: as [`encode_head`], but an answer stored
/// as raw bytes only is read with its request's [`Later`], so its head
/// says just that.
pub(crate) fn encode_answer_head(p: &Payload) -> String {
    match p {
        Payload::Wire {
            decoded: DecodedJson::Later(_),
            ..
        } => r#"{"kind":"wire_later"}"#.to_owned(),
        p => encode_head(p),
    }
}

/// The head of a request stored as raw bytes only, to be decoded when read
/// (written by hand: this runs for most MySQL exchanges stored; `write!`
/// cost the store writer 4 % more instructions recording mysqlslap).
fn later_head(l: &Later) -> String {
    let mut n = itoa::Buffer::new();
    let mut head = String::with_capacity(128);
    head.push_str(r#"{"kind":"wire_later","later":{"capabilities":"#);
    head.push_str(n.format(l.capabilities));
    head.push_str(match l.extended_types {
        true => r#","extended_types":true,"cap":"#,
        false => r#","extended_types":false,"cap":"#,
    });
    head.push_str(n.format(l.cap));
    head.push_str(r#","nth":"#);
    head.push_str(n.format(l.nth));
    head.push_str("}}");
    head
}

/// [`Head::Wire`] around JSON `text` written before, in one allocation:
/// what serde would write, without growing its buffer four or five times
/// on the way for each exchange stored.
fn wire_head(text: &str) -> String {
    const OPEN: &str = r#"{"kind":"wire","decoded":"#;
    let mut head = String::with_capacity(OPEN.len() + text.len() + 1);
    head.push_str(OPEN);
    head.push_str(text);
    head.push('}');
    head
}

fn decode_head(head: &str, body: Body) -> Result<Payload, String> {
    let v: Value = serde_json::from_str(head).map_err(|e| format!("head is not JSON: {e}"))?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("head lacks '{k}'"))
    };
    let headers = || -> Result<Vec<Header>, String> {
        let arr = v
            .get("headers")
            .and_then(Value::as_array)
            .ok_or("head lacks 'headers'")?;
        arr.iter()
            .map(|pair| {
                let name = pair.get(0).and_then(Value::as_str);
                let value = pair.get(1).and_then(deserialize_header_value);
                match (name, value) {
                    (Some(n), Some(v)) => Ok(Header::new(n, v)),
                    _ => Err(format!("bad header entry {pair}")),
                }
            })
            .collect()
    };
    match v.get("kind").and_then(Value::as_str) {
        Some("http_request") => Ok(Payload::HttpRequest(HttpRequest {
            method: s("method")?,
            target: s("target")?,
            version: s("version")?,
            headers: headers()?,
            body,
        })),
        Some("http_response") => Ok(Payload::HttpResponse(HttpResponse {
            status: v
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .ok_or("head lacks 'status'")?,
            version: s("version")?,
            headers: headers()?,
            body,
        })),
        Some("wire") => Ok(Payload::Wire {
            decoded: DecodedJson::Value(v.get("decoded").cloned().unwrap_or(Value::Null)),
            raw: body,
        }),
        // An answer's head has no `later`: it is read with its request's.
        Some("wire_later") => Ok(Payload::Wire {
            decoded: DecodedJson::Later(match v.get("later") {
                None => Later::default(),
                Some(l) => serde_json::from_value(l.clone())
                    .map_err(|e| format!("head's 'later' does not read: {e}"))?,
            }),
            raw: body,
        }),
        other => Err(format!("unknown head kind {other:?}")),
    }
}

#[cfg(test)]
mod tests;
