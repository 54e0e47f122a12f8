//! The projector runner: feed → projection → documents + checkpoint.

use rdv_eventstore::{EventStore, ProjectionTx, StoreError, StoredEvent};
use std::{sync::Arc, time::Duration};
use tokio::{sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// How many events a projector reads and applies at a time. Only a backlog
/// (a rebuild, a restart) fills it; large transactions write each B-tree
/// page and commit once for many documents: rebuilding 200,000 events,
/// 2,000 → 10,000 took follow-ups from 28 s to 18 s on SQLite, and the RGPD
/// projection from 51 s to 11 s on PostgreSQL. The cost: on SQLite appends
/// wait for such a batch (up to a second on this 2-core machine) while a
/// backlog is being worked off.
const BATCH: i64 = 10_000;
/// A projector works a backlog off several batches to a transaction while
/// nobody in this process waits to write (SQLite: appends wait for the
/// single writer, and then the transaction commits after the batch at
/// hand). Each batch's documents are written behind while the next batch
/// is applied (1,000,000 events on PostgreSQL, same run: usagers 19.0 s →
/// 15.8 s, RGPD 25.5 s → 22.0 s), or, for a projection that [holds its
/// documents](Projection::holds_documents), [`HELD_WRITTEN_BEHIND`] at a
/// time or once at the commit, up to this many documents in the
/// transaction's memory: the index pages its random keys dirty all over
/// its B-trees are then written once per many batches rather than once per
/// batch. 1,000,000 events on SQLite, follow-ups:
/// 32.6 s at a batch a transaction, 22.9 s at up to 100,000 documents and
/// 3 s; with their state stored once, 19.0–19.9 s at 100,000 and 3 s,
/// 17.1–18.1 s at 200,000 and 5 s (peak memory 550–580 MB), 17.6 s at
/// 300,000 (650 MB).
const TX_DOCUMENTS: usize = 200_000;
/// ... and of these, on PostgreSQL, written behind whenever this many are
/// changed and not written yet, while the next batches are applied (reads
/// go beside the transaction meanwhile, see
/// [`ProjectionTx::hold_documents`]): follow-ups over 1,000,000 events,
/// all written at the commit 19.3–22.5 s, 50,000 at a time 14.6–15.6 s.
const HELD_WRITTEN_BEHIND: usize = 50_000;
/// ... and for this long at most: another process waiting for SQLite's
/// lock gives up after its busy timeout (10 s).
const TX_OPEN: Duration = Duration::from_secs(5);
/// How often a projector looks for events written by other processes,
/// unless told otherwise ([`Projector::polling_every`]).
const POLL: Duration = Duration::from_millis(200);
/// How long a projector waits before trying again when the database is
/// out of reach, doubled at each failure in a row up to [`RETRY_AT_MOST`].
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_AT_MOST: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event the projection cannot make sense of: the projector stops
    /// rather than skip it.
    #[error("event at position {position} ({event_type}): {reason}")]
    Event {
        position: i64,
        event_type: String,
        reason: String,
    },
}

impl ProjectionError {
    pub fn event(event: &StoredEvent, reason: impl std::fmt::Display) -> Self {
        Self::Event {
            position: event.position,
            event_type: event.event_type.clone(),
            reason: reason.to_string(),
        }
    }
}

/// A read model: how one event changes its documents.
#[async_trait::async_trait]
pub trait Projection: Send + Sync {
    /// Names the projection's documents and checkpoint.
    fn name(&self) -> &'static str;

    /// The aggregate types whose events the projection reads: the projector
    /// fetches only those from the feed (none listed: every event).
    fn aggregates(&self) -> &'static [&'static str];

    /// Whether the projection reads events exactly as stored, personal data
    /// sealed (the hash chain, which must not change when a key is
    /// destroyed), rather than opened.
    fn reads_stored_events(&self) -> bool {
        false
    }

    /// The least time between two catch-ups. Zero for read models requests
    /// wait on; a projection nobody waits on (the hash chain) takes a pause,
    /// so it writes a few large batches instead of one transaction per
    /// append.
    fn pace(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Work on a batch that needs no transaction, done before the write
    /// transaction opens (on SQLite its lock is the whole store's, and every
    /// append waits on it): the chain hashes its batch here. By default
    /// nothing.
    async fn prepare(&self, _store: &EventStore, _events: &[StoredEvent]) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Whether the documents a transaction reads and changes are held in
    /// memory until it commits ([`TX_DOCUMENTS`] at most) and written once
    /// per many batches ([`HELD_WRITTEN_BEHIND`] at a time on PostgreSQL,
    /// at the commit on SQLite), rather than each batch's written behind
    /// while the next one is applied and forgotten.
    /// Worth it where documents are keyed by hashed ids (inserted all over
    /// the index, each index page dirtied by many batches); where keys
    /// follow the feed (usagers, RGPD) holding only costs: 1,000,000 events
    /// on SQLite, usagers 8.4 s → 12.6 s, RGPD 16.4 s → 18.7 s.
    fn holds_documents(&self) -> bool {
        false
    }

    /// Reads ahead, in a statement per collection, the documents the
    /// batch's events will read ([`ProjectionTx::prefetch`]). By default
    /// nothing: each document is read when first asked for, a round trip
    /// each, which is what makes a rebuild slow.
    async fn prefetch(&self, _tx: &mut ProjectionTx, _events: &[StoredEvent]) -> Result<(), ProjectionError> {
        Ok(())
    }

    /// Applies one event inside the batch's transaction. Events the
    /// projection does not care about are ignored.
    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError>;

    /// Applies a batch of events in feed order; by default one at a time. A
    /// projection that can do the batch's work at once overrides it.
    async fn apply_batch(&self, tx: &mut ProjectionTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(tx, event).await?;
        }
        Ok(())
    }
}

/// Where a projector stands, as its watchers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectorStatus {
    /// Caught up to this position (or working towards the head).
    Running(i64),
    /// Stopped at this position on an error, which is also recorded in the store.
    Failed(i64, String),
}

impl ProjectorStatus {
    pub fn position(&self) -> i64 {
        match self {
            ProjectorStatus::Running(p) | ProjectorStatus::Failed(p, _) => *p,
        }
    }
}

/// A checkpoint that moved over events the projection does not read is
/// written at most this often (so other processes waiting on it see it
/// move), not once per wake.
const SKIPPED_CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone, Copy)]
struct Skipped {
    stored: i64,
    scanned: i64,
    written: std::time::Instant,
    /// No event lies between `stored` and `scanned`: only the scan bound
    /// moved (PostgreSQL's moves with every transaction, this projector's
    /// own checkpoint writes included), so there is nothing to write.
    settled: bool,
}

impl Skipped {
    /// Progress made in memory that the stored checkpoint should get.
    fn unsaved(&self) -> bool {
        self.scanned > self.stored && !self.settled
    }
}

/// A batch being read: its events and how far the feed was scanned.
type ReadTask = JoinHandle<Result<(Vec<StoredEvent>, i64), StoreError>>;

/// The batch a read task got (a panic in it is reported as a store error).
async fn joined(read: ReadTask) -> Result<(Vec<StoredEvent>, i64), StoreError> {
    read.await.map_err(|e| StoreError::Corrupt(e.to_string()))?
}

/// Runs one projection over the feed.
pub struct Projector {
    store: EventStore,
    projection: Arc<dyn Projection>,
    status: watch::Sender<ProjectorStatus>,
    /// The stored checkpoint as last seen, how far the feed was scanned past
    /// it without finding an event of the projection, and when the
    /// checkpoint was last written. Nothing can appear later in a scanned
    /// stretch, so resuming from it is safe while the stored checkpoint is
    /// unchanged (a rebuild elsewhere resets it, and then it is not used).
    skipped: std::sync::Mutex<Skipped>,
    poll: Duration,
}

impl Projector {
    pub fn new(store: EventStore, projection: Arc<dyn Projection>) -> Self {
        Self {
            store,
            projection,
            status: watch::channel(ProjectorStatus::Running(0)).0,
            skipped: std::sync::Mutex::new(Skipped {
                stored: 0,
                scanned: 0,
                written: std::time::Instant::now(),
                settled: false,
            }),
            poll: POLL,
        }
    }

    /// Looks for other processes' events this often: seldom when something
    /// else wakes the store's listeners on every append (JetStream in `rdv
    /// project`), the polling then only a safety net for lost messages.
    pub fn polling_every(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    pub fn name(&self) -> &'static str {
        self.projection.name()
    }

    /// Follows the projector's progress (for `min_position` waits).
    pub fn status(&self) -> watch::Receiver<ProjectorStatus> {
        self.status.subscribe()
    }

    /// Reads the batch after `after` (a task of its own, so the next batch
    /// is read and decoded while the current one is applied).
    fn read_after(&self, after: i64) -> ReadTask {
        let (store, aggregates) = (self.store.clone(), self.projection.aggregates());
        let stored = self.projection.reads_stored_events();
        tokio::spawn(async move {
            match stored {
                true => store.stored_feed_of(after, BATCH, aggregates).await,
                false => store.read_feed_of(after, BATCH, aggregates).await,
            }
        })
    }

    /// Applies everything after the checkpoint, batch by batch, and returns
    /// the new checkpoint. The batch is read before the transaction starts,
    /// so the write lock (SQLite's single writer) is held only to apply it;
    /// after a full batch the next one is read meanwhile. If another
    /// instance moved the checkpoint, the batch is read again. A paced
    /// projection stops after a batch that was not full (what had come),
    /// leaving newer events to its next round.
    pub async fn catch_up(&self) -> Result<i64, ProjectionError> {
        let name = self.projection.name();
        let mut ahead = None;
        loop {
            let (stored, _) = self.store.checkpoint(name).await?;
            let skipped = *self.skipped.lock().unwrap_or_else(|e| e.into_inner());
            let checkpoint = if skipped.stored == stored {
                stored.max(skipped.scanned)
            } else {
                stored
            };
            let (batch, scanned) = match ahead.take() {
                Some((after, read)) if after == checkpoint => match joined(read).await? {
                    // Read while this projector's own transaction was open,
                    // which holds PostgreSQL's feed horizon back: an empty
                    // read-ahead does not mean caught up.
                    (batch, _) if batch.is_empty() => joined(self.read_after(checkpoint)).await?,
                    read => read,
                },
                _ => joined(self.read_after(checkpoint)).await?,
            };
            let due = skipped.written.elapsed() >= SKIPPED_CHECKPOINT_EVERY;
            // Caught up. A stretch skipped in memory is written once it is
            // due, so the stored checkpoint (what `/metrics` reports and a
            // restart resumes from) does not stay behind while idle.
            if scanned == checkpoint && (checkpoint == stored || !due || skipped.settled) {
                self.status.send_replace(ProjectorStatus::Running(checkpoint));
                return Ok(checkpoint);
            }
            if batch.is_empty() && scanned > checkpoint && !due {
                // Only other aggregates' events: move on in memory, write nothing.
                *self.skipped.lock().unwrap_or_else(|e| e.into_inner()) = Skipped {
                    stored,
                    scanned,
                    written: skipped.written,
                    settled: false,
                };
                self.status.send_replace(ProjectorStatus::Running(scanned));
                continue;
            }
            if batch.is_empty() && self.store.head().await? <= stored {
                *self.skipped.lock().unwrap_or_else(|e| e.into_inner()) = Skipped {
                    stored,
                    scanned,
                    written: std::time::Instant::now(),
                    settled: true,
                };
                self.status.send_replace(ProjectorStatus::Running(scanned));
                continue;
            }
            self.projection.prepare(&self.store, &batch).await?;
            let mut tx = self.store.begin_projection().await?;
            if tx.lock_checkpoint(name).await? != stored {
                continue;
            }
            let opened = std::time::Instant::now();
            let holds = self.projection.holds_documents();
            let held_written_behind = holds && tx.hold_documents().await?;
            let (mut batch, mut scanned) = (batch, scanned);
            self.projection.prefetch(&mut tx, &batch).await?;
            loop {
                let full = batch.len() as i64 == BATCH;
                if full {
                    ahead = Some((scanned, self.read_after(scanned)));
                }
                self.projection.apply_batch(&mut tx, &batch).await?;
                if held_written_behind && tx.unwritten() >= HELD_WRITTEN_BEHIND {
                    tx.flush_behind().await?;
                }
                let join = full
                    && (!holds || tx.documents() < TX_DOCUMENTS)
                    && opened.elapsed() < TX_OPEN
                    && !self.store.writers_waiting();
                let Some((_, read)) = ahead.take_if(|_| join) else {
                    break;
                };
                match joined(read).await? {
                    (next, at) if !next.is_empty() => {
                        self.projection.prepare(&self.store, &next).await?;
                        if !holds {
                            tx.forget_unchanged();
                        }
                        // Read before this batch's writes are queued, so
                        // that they do not wait for them...
                        self.projection.prefetch(&mut tx, &next).await?;
                        // ... which go on while the next batch is applied.
                        if !holds {
                            tx.flush_behind().await?;
                        }
                        (batch, scanned) = (next, at);
                    }
                    // Read meanwhile (see above): read again once committed.
                    _ => break,
                }
            }
            tx.set_checkpoint(name, scanned).await?;
            tx.commit().await?;
            *self.skipped.lock().unwrap_or_else(|e| e.into_inner()) = Skipped {
                stored: scanned,
                scanned,
                written: std::time::Instant::now(),
                settled: false,
            };
            self.status.send_replace(ProjectorStatus::Running(scanned));
            // A paced projection takes what had come and lets the next come
            // in the next round, rather than chasing a busy feed in small
            // batches (a full batch means a backlog: go on).
            if !self.projection.pace().is_zero() && (batch.len() as i64) < BATCH {
                return Ok(scanned);
            }
        }
    }

    /// Forgets the read model and projects the whole feed again.
    pub async fn rebuild(&self) -> Result<i64, ProjectionError> {
        self.store.reset_projection(self.projection.name()).await?;
        self.catch_up().await
    }

    /// Keeps the projection up to date until `shutdown`, woken by appends in
    /// this process and polling for other writers. While the database is out
    /// of reach it tries again, less and less often; on any other error it
    /// records it, reports it and stops: no event is silently skipped.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut appended = self.store.subscribe();
        let mut retry = RETRY_FIRST;
        loop {
            match self.catch_up().await {
                Ok(_) => retry = RETRY_FIRST,
                // The database out of reach (restarting, a lost connection,
                // no connection to spare): the work is still to do, later.
                Err(ProjectionError::Store(error)) if error.is_transient() => {
                    let position = self.status.borrow().position();
                    tracing::warn!(projection = self.name(), position, %error, retry_in = ?retry, "projector paused");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(retry) => {}
                    }
                    retry = (retry * 2).min(RETRY_AT_MOST);
                    continue;
                }
                Err(error) => {
                    let position = self.status.borrow().position();
                    tracing::error!(projection = self.name(), position, %error, "projector stopped");
                    if let Err(e) = self
                        .store
                        .record_projection_error(self.name(), &error.to_string())
                        .await
                    {
                        tracing::error!(projection = self.name(), error = %e, "could not record the projector error");
                    }
                    self.status
                        .send_replace(ProjectorStatus::Failed(position, error.to_string()));
                    return;
                }
            }
            // A stretch skipped in memory is written soon even when nothing
            // else comes: other processes wait on the stored checkpoint.
            let unsaved = self.skipped.lock().unwrap_or_else(|e| e.into_inner()).unsaved();
            let wait = match unsaved {
                true => self.poll.min(SKIPPED_CHECKPOINT_EVERY),
                false => self.poll,
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = appended.changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            let pace = self.projection.pace();
            if !pace.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pace) => {}
                }
            }
        }
    }
}
