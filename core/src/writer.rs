//! The store writer: one thread that owns the write connection and stores
//! captures in batched transactions.
//!
//! Recorders run on async tasks (and inside pingora's synchronous body filters),
//! so they never touch SQLite: they hand finished exchanges to a bounded channel
//! through a [`CaptureSender`]. The writer drains whatever is queued into one
//! transaction at a time. A capture that cannot be queued or stored is counted,
//! never silently lost: the count is written to the session and reported.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use rusqlite::params;

use crate::errors::StoreError;
use crate::model::{Direction, Exchange, Payload};
use crate::store::{encode_answer_head, encode_head, Store};
use crate::time::Micros;

/// Most captures stored in one transaction.
const MAX_BATCH: usize = 2048;
/// Captures waiting for the writer before new ones are counted as dropped.
const QUEUE_CAPACITY: usize = 65_536;
/// Body bytes waiting for the writer before new captures are counted as
/// dropped: a stalled disk must cost captures (counted), not all the memory.
const QUEUE_BYTES: u64 = 1 << 30;

pub enum Capture {
    Exchange(Box<Exchange>),
    /// Record how the session was set up, once the recorders are bound.
    Setup(serde_json::Value),
    /// Store everything queued before this, end the session and stop.
    Finish {
        ended_at: Micros,
    },
}

/// What the writer did, for the summary printed at the end of a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterStats {
    pub stored: u64,
    pub inbound: u64,
    pub outbound: u64,
    /// Outbound exchanges per dependency name, sorted by name.
    pub per_dependency: Vec<(String, u64)>,
    pub dropped: u64,
    pub batches: u64,
}

/// A cheap, cloneable handle the recorders use to hand over captures.
#[derive(Clone)]
pub struct CaptureSender {
    tx: Sender<Capture>,
    session_id: i64,
    next_seq: Arc<AtomicI64>,
    next_connection: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    /// Body bytes queued and not yet stored, and the most allowed.
    queued_bytes: Arc<AtomicU64>,
    budget: u64,
}

impl CaptureSender {
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The next sequence number, taken when a request starts so that exchanges are
    /// ordered by arrival, not by completion.
    pub fn next_seq(&self) -> i64 {
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// A connection id unique within this recording run.
    pub fn next_connection(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues an exchange for storing. Never blocks; a full queue counts a
    /// drop. Whether it was queued.
    pub fn send(&self, mut exchange: Exchange) -> bool {
        exchange.session_id = self.session_id;
        let bytes = exchange_bytes(&exchange);
        if self.queued_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes > self.budget {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                seq = exchange.seq,
                "capture queue over its byte budget: exchange dropped"
            );
            return false;
        }
        match self.tx.try_send(Capture::Exchange(Box::new(exchange))) {
            Ok(()) => true,
            Err(e) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                match e {
                    TrySendError::Full(_) => {
                        tracing::error!("capture queue full: exchange dropped")
                    }
                    TrySendError::Disconnected(_) => {
                        tracing::error!("store writer has stopped: exchange dropped")
                    }
                }
                false
            }
        }
    }

    /// Queues an exchange, waiting while the queue is full: for an import,
    /// where nothing live waits on the sender and nothing may be dropped.
    /// `false` when the writer has stopped.
    pub fn send_waiting(&self, mut exchange: Exchange) -> bool {
        exchange.session_id = self.session_id;
        let bytes = exchange_bytes(&exchange);
        self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        if self.tx.send(Capture::Exchange(Box::new(exchange))).is_err() {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Records the session's setup (see [`crate::model::Session::setup`]).
    pub fn set_setup(&self, setup: serde_json::Value) {
        if self.tx.send(Capture::Setup(setup)).is_err() {
            tracing::error!("store writer has stopped: session setup not stored");
        }
    }

    /// Captures dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// What an exchange costs the queue: its bodies, and for a wire protocol
/// the decoded messages as well, counted as the raw bytes they came from
/// (both are stored; the recorders cap both at `--max-body`).
fn exchange_bytes(e: &Exchange) -> u64 {
    let cost = |p: &Payload| match p {
        Payload::Wire { raw, .. } => 2 * raw.bytes.len(),
        p => p.body().bytes.len(),
    };
    (cost(&e.request) + e.response.as_ref().map_or(0, cost)) as u64
}

pub struct StoreWriter {
    sender: CaptureSender,
    handle: JoinHandle<Result<WriterStats, StoreError>>,
}

impl StoreWriter {
    /// Creates a session in `store` and starts the writer thread that owns `store`.
    pub fn start(
        store: Store,
        session_name: &str,
        target: &str,
    ) -> Result<(Self, i64), StoreError> {
        Self::start_with_budget(store, session_name, target, QUEUE_BYTES)
    }

    /// [`StoreWriter::start`] with another budget for queued body bytes.
    pub fn start_with_budget(
        store: Store,
        session_name: &str,
        target: &str,
        queue_bytes: u64,
    ) -> Result<(Self, i64), StoreError> {
        let session_id = store.create_session(session_name, target, Micros::now())?;
        let (tx, rx) = bounded(QUEUE_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let queued_bytes = Arc::new(AtomicU64::new(0));
        let (thread_dropped, thread_queued) = (dropped.clone(), queued_bytes.clone());
        let handle = std::thread::Builder::new()
            .name("reel-store-writer".into())
            .spawn(move || run(store, session_id, rx, thread_dropped, thread_queued))
            .map_err(|_| StoreError::WriterGone)?;
        let sender = CaptureSender {
            tx,
            session_id,
            next_seq: Arc::new(AtomicI64::new(1)),
            next_connection: Arc::new(AtomicU64::new(1)),
            dropped,
            queued_bytes,
            budget: queue_bytes,
        };
        Ok((StoreWriter { sender, handle }, session_id))
    }

    pub fn sender(&self) -> CaptureSender {
        self.sender.clone()
    }

    /// Stores everything queued, ends the session and returns what was done.
    /// Call after the recorders have stopped.
    pub fn finish(self) -> Result<WriterStats, StoreError> {
        self.sender
            .tx
            .send(Capture::Finish {
                ended_at: Micros::now(),
            })
            .map_err(|_| StoreError::WriterGone)?;
        self.handle.join().map_err(|_| StoreError::WriterGone)?
    }
}

/// How long the writer waits for more captures after emptying the queue.
const IDLE_PAUSE: Duration = Duration::from_millis(5);

/// How long the writer keeps adding batches to one transaction before it
/// commits (it commits at once when its queue runs dry or it is told to
/// finish). Every commit rewrites the pages it left part-filled (the
/// table's last leaf, the index's, the pages above them) to the WAL and
/// takes SQLite's locks, whatever the batch holds: committing each 5 ms
/// batch, recording `mysqlslap` wrote about 4 KiB of file per exchange of
/// 1 KiB, and 2 KiB (the WAL, then the checkpoint) committing every 50 ms.
/// Inserting every 5 ms keeps each burst of the writer's work short.
const COMMIT_EVERY: Duration = Duration::from_millis(50);

/// What the writer has stored but not yet committed: counted as stored
/// only once the commit succeeds.
#[derive(Default)]
struct Uncommitted {
    began: Option<Instant>,
    inbound: u64,
    outbound: u64,
    per_dependency: Vec<String>,
}

impl Uncommitted {
    fn add(&mut self, e: &Exchange) {
        match e.direction {
            Direction::Inbound => self.inbound += 1,
            Direction::Outbound => self.outbound += 1,
        }
        if let (Direction::Outbound, Some(dep)) = (e.direction, &e.dependency) {
            self.per_dependency.push(dep.clone());
        }
    }

    fn count(&self) -> u64 {
        self.inbound + self.outbound
    }
}

fn run(
    store: Store,
    session_id: i64,
    rx: Receiver<Capture>,
    dropped: Arc<AtomicU64>,
    queued_bytes: Arc<AtomicU64>,
) -> Result<WriterStats, StoreError> {
    let mut stats = WriterStats::default();
    let mut per_dep = std::collections::BTreeMap::<String, u64>::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut open = Uncommitted::default();
    let mut finish = None;
    // Ends the open transaction, if any, and counts what it held.
    let mut commit = |open: &mut Uncommitted, stats: &mut WriterStats| {
        if open.began.take().is_none() {
            return;
        }
        let held = std::mem::take(open);
        match commit_batches(&store) {
            Ok(()) => {
                stats.stored += held.count();
                stats.inbound += held.inbound;
                stats.outbound += held.outbound;
                for dep in held.per_dependency {
                    *per_dep.entry(dep).or_default() += 1;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, count = held.count(), "captures could not be stored");
                dropped.fetch_add(held.count(), Ordering::Relaxed);
            }
        }
    };
    while finish.is_none() {
        let first = match rx.try_recv() {
            Ok(c) => c,
            Err(_) => {
                // Nothing queued: make what is held durable before waiting.
                commit(&mut open, &mut stats);
                match rx.recv() {
                    Ok(c) => c,
                    // Every sender is gone without a Finish: end.
                    Err(_) => break,
                }
            }
        };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        let mut exchanges = Vec::with_capacity(batch.len());
        for c in batch.drain(..) {
            match c {
                Capture::Exchange(e) => exchanges.push(e),
                Capture::Finish { ended_at } => finish = Some(ended_at),
                Capture::Setup(v) => {
                    if let Err(e) = store.set_session_setup(session_id, &v) {
                        tracing::error!(error = %e, "session setup not stored");
                    }
                }
            }
        }
        if !exchanges.is_empty() {
            let batch_bytes: u64 = exchanges.iter().map(|e| exchange_bytes(e)).sum();
            if open.began.is_none() {
                match begin(&store) {
                    Ok(()) => open.began = Some(Instant::now()),
                    Err(e) => {
                        tracing::error!(error = %e, count = exchanges.len(), "a batch could not be stored");
                        dropped.fetch_add(exchanges.len() as u64, Ordering::Relaxed);
                    }
                }
            }
            if open.began.is_some() {
                match write_batch(&store, &exchanges) {
                    Ok(failed) => {
                        for e in exchanges.iter().filter(|e| !failed.contains(&e.seq)) {
                            open.add(e);
                        }
                        dropped.fetch_add(failed.len() as u64, Ordering::Relaxed);
                        stats.batches += 1;
                    }
                    Err(e) => {
                        // The transaction is rolled back: what it held is lost too.
                        let lost = exchanges.len() as u64 + open.count();
                        tracing::error!(error = %e, count = lost, "captures could not be stored");
                        dropped.fetch_add(lost, Ordering::Relaxed);
                        open = Uncommitted::default();
                    }
                }
            }
            queued_bytes.fetch_sub(batch_bytes, Ordering::AcqRel);
        }
        if finish.is_some() || open.began.is_some_and(|t| t.elapsed() >= COMMIT_EVERY) {
            commit(&mut open, &mut stats);
        }
        // The queue ran dry: let captures gather for a moment instead of being
        // woken for each one. Under load that saves a context switch per
        // exchange on both sides of the channel; a crash loses at most
        // `COMMIT_EVERY` more, and a Finish still ends the loop right away.
        if finish.is_none() && rx.is_empty() {
            std::thread::sleep(IDLE_PAUSE);
        }
    }
    commit(&mut open, &mut stats);
    stats.dropped = dropped.load(Ordering::Relaxed);
    stats.per_dependency = per_dep.into_iter().collect();
    let ended_at = finish.unwrap_or_else(Micros::now);
    store
        .conn()
        .execute(
            "UPDATE sessions SET ended_at = ?1, dropped = ?2 WHERE id = ?3",
            params![ended_at.0, stats.dropped as i64, session_id],
        )
        .map_err(store.sql_err("ending the session"))?;
    Ok(stats)
}

fn begin(store: &Store) -> Result<(), StoreError> {
    store
        .conn()
        .execute_batch("BEGIN")
        .map_err(store.sql_err("starting a batch"))
}

/// Commits the open transaction; rolls it back if that fails.
fn commit_batches(store: &Store) -> Result<(), StoreError> {
    store
        .conn()
        .execute_batch("COMMIT")
        .map_err(store.sql_err("committing a batch"))
        .map_err(|e| rolled_back(store, e))
}

/// Ends the open transaction after `e`: one left open would make every
/// later BEGIN fail too.
fn rolled_back(store: &Store, e: StoreError) -> StoreError {
    let _ = store.conn().execute_batch("ROLLBACK");
    e
}

/// Inserts a batch into the open transaction. Returns the seqs of exchanges
/// that failed alone (the rest of the batch is kept); on an error, the
/// transaction has been rolled back.
fn write_batch(store: &Store, exchanges: &[Box<Exchange>]) -> Result<Vec<i64>, StoreError> {
    let conn = store.conn();
    let mut failed = Vec::new();
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO exchanges (session_id, seq, direction, protocol, dependency,
                connection, started_at, first_byte_at, ended_at, request_head, request_body,
                request_size, request_truncated, response_head, response_body, response_size,
                response_truncated, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )
        .map_err(store.sql_err("preparing the insert"))
        .map_err(|e| rolled_back(store, e))?;
    for e in exchanges {
        let req_body = e.request.body();
        let resp = e.response.as_ref();
        let result = stmt.execute(params![
            e.session_id,
            e.seq,
            e.direction.as_str(),
            e.protocol.as_str(),
            e.dependency,
            e.connection as i64,
            e.started_at.0,
            e.first_byte_at.map(|t| t.0),
            e.ended_at.map(|t| t.0),
            encode_head(&e.request),
            req_body.bytes,
            req_body.size as i64,
            req_body.truncated,
            resp.map(encode_answer_head),
            resp.map(|r| &r.body().bytes),
            resp.map(|r| r.body().size as i64),
            resp.map(|r| r.body().truncated),
            e.error,
        ]);
        if let Err(err) = result {
            // Some errors (a full disk, an I/O error) take the whole
            // transaction with them, not just this row.
            if conn.is_autocommit() {
                return Err(store.sql_err("storing an exchange")(err));
            }
            tracing::error!(seq = e.seq, error = %err, "exchange could not be stored");
            failed.push(e.seq);
        }
    }
    Ok(failed)
}
