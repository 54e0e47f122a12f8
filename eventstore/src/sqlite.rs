//! The embedded backend: one SQLite file in WAL mode, one writer connection
//! (so positions follow commit order) and a few reader connections.

use crate::{
    error::{StoreError, is_unique_violation},
    model::*,
    rows::{EventRow, timestamp},
    stream_cache::StreamVersionAt,
};
use sqlx::{
    Sqlite, SqlitePool, Transaction,
    pool::PoolConnection,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    types::Json,
};
use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

const EVENT_COLUMNS: &str =
    "global_position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

#[derive(Debug, Clone)]
pub struct SqliteBackend {
    writer: SqlitePool,
    pub(crate) reader: SqlitePool,
    /// Tasks of this process waiting for the writer ([`Self::writers_waiting`]).
    waiting: Arc<AtomicUsize>,
}

/// Counts a task as waiting for the writer until dropped (also when the
/// wait is given up).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn on(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// SQLite numbers its parameters `?N`; the shared SQL text uses `$N`.
pub(crate) fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

/// The writer's page cache (negative: KiB): a projector rebuilding a large
/// read model rewrites the same index pages batch after batch, and with
/// SQLite's default of 2 MiB reads them back from the file each time.
const WRITER_CACHE: &str = "-65536";
/// Pages the write-ahead log grows to before it is copied into the database
/// (default 1,000): pages rewritten meanwhile are copied once.
const WAL_CHECKPOINT_PAGES: &str = "10000";

/// Rows a connection's thread may read ahead of the task consuming them.
const ROW_CHANNEL: usize = 4096;

impl SqliteBackend {
    /// Opens (or creates) `<dir>/rdv.sqlite3` and migrates it.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let options = SqliteConnectOptions::new()
            .filename(dir.join("rdv.sqlite3"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode survives a process crash; only a power loss
            // may drop the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Deleted content is overwritten with zeros, so an erased usager's
            // read-model rows do not linger in free pages (RGPD).
            .pragma("secure_delete", "ON")
            .row_buffer_size(ROW_CHANNEL);
        // A file on this machine does not hang up: no ping before each use
        // (sqlx's default costs a round trip to the connection's thread).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", WRITER_CACHE)
                    .pragma("wal_autocheckpoint", WAL_CHECKPOINT_PAGES),
            )
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            waiting: Arc::default(),
        })
    }

    /// A write transaction that takes the database's write lock at once
    /// (`BEGIN IMMEDIATE`), so a second process waits its turn (busy
    /// timeout) instead of failing to upgrade a read lock.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        let _waiting = Waiting::on(&self.waiting);
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The writer connection, for a statement of its own.
    pub(crate) async fn write_connection(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        let _waiting = Waiting::on(&self.waiting);
        Ok(self.writer.acquire().await?)
    }

    /// Open and idle connections, readers and writer.
    pub(crate) fn connections(&self) -> (u32, usize) {
        (
            self.reader.size() + self.writer.size(),
            self.reader.num_idle() + self.writer.num_idle(),
        )
    }

    /// How many tasks of this process wait for the writer now: a projector
    /// working off a backlog in one long transaction commits when one does.
    pub(crate) fn writers_waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Writes events as they were stored elsewhere, positions and metadata
    /// included (a replay into a fresh directory).
    pub(crate) async fn import(&self, events: &[StoredEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for event in events {
            sqlx::query(
                "INSERT INTO events (global_position, aggregate_type, aggregate_id, sequence, event_type, event_version, \
                 payload, metadata, event_id, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(event.position)
            .bind(&event.aggregate_type)
            .bind(&event.aggregate_id)
            .bind(event.sequence)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(Json(&event.payload))
            .bind(Json(&event.metadata))
            .bind(event.metadata.event_id.to_string())
            .bind(timestamp(event.metadata.occurred_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The stream's events after sequence `after` (0: all of them).
    pub async fn load_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = ? AND aggregate_id = ? AND sequence > ? \
             ORDER BY sequence"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(after)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    pub async fn read_feed(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE global_position > ? ORDER BY global_position LIMIT ?");
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    /// Events of some aggregate types after `after` (at most `limit`), and
    /// the position the feed was scanned to (one writer: positions are
    /// commit order, so everything up to the head read first is there).
    pub async fn read_feed_of(
        &self,
        after: i64,
        limit: i64,
        aggregate_types: &[&str],
    ) -> Result<(Vec<StoredEvent>, i64), StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(global_position) FROM events")
            .fetch_one(&self.reader)
            .await?;
        let head = head.unwrap_or(0);
        let types = serde_json::to_string(aggregate_types).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > ? AND global_position <= ? \
             AND (json_array_length(?3) = 0 OR aggregate_type IN (SELECT value FROM json_each(?3))) \
             ORDER BY global_position LIMIT ?4"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(after)
            .bind(head)
            .bind(types)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?;
        let events = rows.into_iter().map(EventRow::into_event).collect::<Vec<_>>();
        let scanned = match events.last() {
            Some(last) if events.len() as i64 == limit => last.position,
            _ => head.max(after),
        };
        Ok((events, scanned))
    }

    pub(crate) async fn read_versions(&self, after: i64, limit: i64) -> Result<Vec<StreamVersionAt>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT global_position, aggregate_type, aggregate_id, sequence FROM events \
             WHERE global_position > ? ORDER BY global_position LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?)
    }

    /// The highest position written (with one writer, the head).
    pub async fn last_written(&self) -> Result<i64, StoreError> {
        self.head().await
    }

    pub async fn head(&self) -> Result<i64, StoreError> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(global_position) FROM events")
            .fetch_one(&self.reader)
            .await?;
        Ok(head.unwrap_or(0))
    }

    pub async fn events_after(&self, position: i64) -> Result<i64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE global_position > ?")
            .bind(position)
            .fetch_one(&self.reader)
            .await?;
        Ok(count)
    }

    pub async fn append(
        &self,
        request: &AppendRequest,
        idempotency: Option<(&IdempotencyClaim, &Responder<'_>)>,
    ) -> Result<Vec<CommittedEvent>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut committed = Vec::new();
        for stream in &request.streams {
            let current: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(sequence), 0) FROM events WHERE aggregate_type = ? AND aggregate_id = ?",
            )
            .bind(&stream.aggregate_type)
            .bind(&stream.aggregate_id)
            .fetch_one(&mut *tx)
            .await?;
            if current != stream.expected_version {
                return Err(StoreError::Conflict {
                    aggregate_type: stream.aggregate_type.clone(),
                    aggregate_id: stream.aggregate_id.clone(),
                });
            }
            for (index, event) in stream.events.iter().enumerate() {
                let sequence = stream.expected_version + index as i64 + 1;
                let position: i64 = sqlx::query_scalar(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, \
                     metadata, event_id, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING global_position",
                )
                .bind(&stream.aggregate_type)
                .bind(&stream.aggregate_id)
                .bind(sequence)
                .bind(&event.event_type)
                .bind(&event.event_version)
                .bind(Json(&event.payload))
                .bind(Json(&event.metadata))
                .bind(event.metadata.event_id.to_string())
                .bind(timestamp(event.metadata.occurred_at))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| conflict_or(e, stream))?;
                committed.push(CommittedEvent::of(stream, event, sequence, position));
            }
        }
        insert_outbox(&mut tx, &request.outbox).await?;
        for key in &request.data_keys {
            sqlx::query("INSERT INTO data_keys (subject, wrapped, created_at) VALUES (?, ?, ?)")
                .bind(&key.subject)
                .bind(&key.wrapped)
                .bind(chrono::Utc::now().timestamp_millis())
                .execute(&mut *tx)
                .await
                .map_err(|e| match request.streams.first() {
                    // Made meanwhile by another writer: load and try again.
                    Some(stream) => conflict_or(e, stream),
                    None => e.into(),
                })?;
        }
        if let Some((claim, respond)) = idempotency {
            let response = respond(&committed);
            sqlx::query(
                "INSERT INTO idempotency (scope, key, request_hash, status, response, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&claim.scope)
            .bind(&claim.key)
            .bind(&claim.request_hash)
            .bind(response.status as i64)
            .bind(Json(&response.body))
            .bind(timestamp(chrono::Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { StoreError::IdempotencyRace } else { e.into() })?;
        }
        tx.commit().await?;
        Ok(committed)
    }
}

fn conflict_or(err: sqlx::Error, stream: &StreamAppend) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Conflict {
            aggregate_type: stream.aggregate_type.clone(),
            aggregate_id: stream.aggregate_id.clone(),
        }
    } else {
        err.into()
    }
}

async fn insert_outbox(tx: &mut Transaction<'static, Sqlite>, messages: &[OutboxMessage]) -> Result<(), StoreError> {
    let now = timestamp(chrono::Utc::now());
    for message in messages {
        sqlx::query(
            "INSERT INTO outbox (id, kind, payload, subject, created_at, available_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(message.id.to_string())
        .bind(&message.kind)
        .bind(Json(&message.payload))
        .bind(&message.subject)
        .bind(&now)
        .bind(&now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
