//! The event store: one type over both backends, chosen at start-up.

use crate::{
    backend::{Backend, Conn},
    error::StoreError,
    model::*,
    personal::{self, Keyring, Sealing},
    postgres::PostgresBackend,
    readmodel::ProjectionTx,
    rows::timestamp,
    sealing::MasterKey,
    sqlite::{SqliteBackend, sqlite_sql},
    stream_cache::StreamCache,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use std::{path::Path, sync::Arc};
use tokio::sync::watch;

// Defined in the model beside the idempotency records; still named here, where it was first.
pub use crate::model::Responder;

/// Runs the same expression on whichever backend is in use.
macro_rules! on_backend {
    ($self:expr, $b:ident => $body:expr) => {
        match &$self.backend {
            Backend::Sqlite($b) => $body,
            Backend::Postgres($b) => $body,
        }
    };
}

/// The event store, cheap to clone. It also tells in-process listeners
/// (projectors, relays) that something was appended, so they need not poll.
#[derive(Debug, Clone)]
pub struct EventStore {
    backend: Backend,
    appended: Arc<watch::Sender<i64>>,
    /// Bumped when a projection transaction that queued webhook deliveries
    /// commits (here, or in another process on PostgreSQL: see
    /// [`EventStore::listen_for_deliveries`]), so relays need not poll.
    pub(crate) deliveries: Arc<watch::Sender<u64>>,
    cache: Arc<StreamCache>,
    /// Seals and opens usagers' personal data.
    sealing: Sealing,
}

impl EventStore {
    /// The embedded store: `<dir>/rdv.sqlite3`.
    pub async fn open_sqlite(dir: &Path) -> Result<Self, StoreError> {
        Ok(Self::new(Backend::Sqlite(SqliteBackend::open(dir).await?)))
    }

    /// The distributed store on PostgreSQL.
    pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Ok(Self::new(Backend::Postgres(
            PostgresBackend::connect(url, max_connections).await?,
        )))
    }

    fn new(backend: Backend) -> Self {
        Self {
            backend,
            appended: Arc::new(watch::channel(0).0),
            deliveries: Arc::new(watch::channel(0).0),
            cache: Arc::default(),
            sealing: Sealing::Refused,
        }
    }

    /// Seals usagers' personal data with data keys kept in this store and
    /// wrapped by `master` (see [`crate::personal`]).
    pub fn with_master_key(mut self, master: MasterKey) -> Self {
        self.sealing = Sealing::Keys(Keyring::new(master, self.backend.clone()));
        self
    }

    /// Stores personal data in clear: only for the benchmark measuring what
    /// sealing costs. Never in a deployment.
    pub fn with_personal_data_in_clear(mut self) -> Self {
        self.sealing = Sealing::Clear;
        self
    }

    /// Reads personal data with `source`'s keys: a scratch store that
    /// replays `source`'s events (imported sealed) opens them this way.
    pub fn sharing_keys_of(mut self, source: &EventStore) -> Self {
        self.sealing = source.sealing.clone();
        self
    }

    async fn opened(&self, mut events: Vec<StoredEvent>) -> Result<Vec<StoredEvent>, StoreError> {
        personal::open(&self.sealing, &mut events).await?;
        Ok(events)
    }

    /// `sqlite` or `postgres`, as `/health` reports it.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The PostgreSQL backend, for tests that hold transactions open.
    pub fn postgres(&self) -> Option<&PostgresBackend> {
        match &self.backend {
            Backend::Postgres(pg) => Some(pg),
            Backend::Sqlite(_) => None,
        }
    }

    /// The SQLite backend (the single writer: every write goes there).
    pub(crate) fn sqlite(&self) -> Result<&SqliteBackend, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => Ok(b),
            Backend::Postgres(_) => Err(StoreError::Corrupt("not a SQLite store".into())),
        }
    }

    /// Whether another task of this process waits to write (SQLite: for the
    /// single writer a projection transaction holds). PostgreSQL writers
    /// do not wait on projection transactions: never.
    pub fn writers_waiting(&self) -> bool {
        match &self.backend {
            Backend::Sqlite(b) => b.writers_waiting() > 0,
            Backend::Postgres(_) => false,
        }
    }

    pub(crate) fn sqlite_reader(&self) -> Result<sqlx::SqlitePool, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => Ok(b.reader.clone()),
            Backend::Postgres(_) => Err(StoreError::Corrupt("not a SQLite store".into())),
        }
    }

    /// The events of one stream in order, from the cache when it has them.
    pub async fn load_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Arc<Vec<StoredEvent>>, StoreError> {
        if let Some(events) = self.cache.get(aggregate_type, aggregate_id) {
            return Ok(events);
        }
        let events = Arc::new(self.load_stream_after(aggregate_type, aggregate_id, 0).await?);
        self.cache.offer(aggregate_type, aggregate_id, events.clone());
        Ok(events)
    }

    /// A stream's events after sequence `after`, read from the store.
    pub(crate) async fn load_stream_after(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let stored = on_backend!(self, b => b.load_stream(aggregate_type, aggregate_id, after).await)?;
        self.opened(stored).await
    }

    /// Keeps the stream cache in step with appends made by other processes
    /// until `shutdown`: a gateway runs this beside its command service.
    pub async fn follow_feed(&self, shutdown: tokio_util::sync::CancellationToken) {
        let mut position = match self.head().await {
            Ok(head) => head,
            Err(error) => {
                tracing::error!(%error, "stream cache cannot read the feed; caching stays off");
                return;
            }
        };
        self.cache.enable();
        // This process's own appends are written through; the feed is only
        // polled for other processes' appends. Only a full page is followed
        // at once: under a steady load a short page comes back on every
        // poll, and reading again at once would spin on the database.
        const PAGE: usize = 1000;
        loop {
            match on_backend!(self, b => b.read_versions(position, PAGE as i64).await) {
                Ok(versions) => {
                    self.cache.observe(&versions);
                    position = versions.last().map_or(position, |v| v.position);
                    if versions.len() == PAGE {
                        continue;
                    }
                }
                Err(error) => tracing::warn!(%error, "stream cache could not read the feed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => {
                    self.cache.disable();
                    return;
                }
                _ = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
            }
        }
    }

    /// Events after `after` in feed order, at most `limit`, never skipping
    /// one that commits late.
    pub async fn read_feed(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let stored = on_backend!(self, b => b.read_feed(after, limit).await)?;
        self.opened(stored).await
    }

    /// Events of the given aggregate types after `after`, at most `limit`,
    /// and the position up to which the feed was scanned (resume from it):
    /// what a reader interested in a few streams needs, without transferring
    /// the rest. Never skips an event that commits late.
    pub async fn read_feed_of(
        &self,
        after: i64,
        limit: i64,
        aggregate_types: &[&str],
    ) -> Result<(Vec<StoredEvent>, i64), StoreError> {
        let (stored, scanned) = self.stored_feed_of(after, limit, aggregate_types).await?;
        Ok((self.opened(stored).await?, scanned))
    }

    /// [`Self::read_feed_of`] with events exactly as stored, personal data
    /// sealed: what the hash chain covers and what a replay copies.
    pub async fn stored_feed_of(
        &self,
        after: i64,
        limit: i64,
        aggregate_types: &[&str],
    ) -> Result<(Vec<StoredEvent>, i64), StoreError> {
        on_backend!(self, b => b.read_feed_of(after, limit, aggregate_types).await)
    }

    /// The highest position any committed event holds: a position beyond it
    /// was never handed out, so no reader should wait for it.
    pub async fn last_written(&self) -> Result<i64, StoreError> {
        on_backend!(self, b => b.last_written().await)
    }

    /// The position of the last readable event (0 when empty).
    pub async fn head(&self) -> Result<i64, StoreError> {
        on_backend!(self, b => b.head().await)
    }

    /// How many readable events come after `position`: a reader's lag in
    /// events (positions may skip numbers, so their difference is not).
    pub async fn events_after(&self, position: i64) -> Result<i64, StoreError> {
        on_backend!(self, b => b.events_after(position).await)
    }

    /// Appends every stream, outbox message and idempotency record in one
    /// transaction, or nothing.
    pub async fn append(
        &self,
        request: &AppendRequest,
        idempotency: Option<(&IdempotencyClaim, &Responder<'_>)>,
    ) -> Result<Vec<CommittedEvent>, StoreError> {
        let sealed = personal::seal(&self.sealing, request).await?;
        let committed = match on_backend!(self, b => b.append(&sealed, idempotency).await) {
            Ok(committed) => committed,
            Err(error) => {
                self.cache.evict_all(request);
                return Err(error);
            }
        };
        personal::stored_keys(&self.sealing, &sealed);
        // The cache keeps plain events; a stream whose personal data was
        // just destroyed is read afresh (erased) next time.
        let forgets = request.streams.iter().any(|s| {
            s.events
                .iter()
                .any(|e| rdv_domain::usager::personal::forgets(&s.aggregate_type, &e.event_type))
        });
        if forgets {
            self.cache.evict_all(request);
        } else {
            self.cache.appended(request, &committed);
        }
        if let Some(last) = committed.last() {
            self.appended.send_replace(last.position);
        }
        Ok(committed)
    }

    /// Wakes up whenever this process appends, or another process's append
    /// is [`Self::observe_append`]d; the value is the last position.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.appended.subscribe()
    }

    /// Tells this process's listeners that another process appended up to
    /// `position` (learnt from JetStream), so they need not wait for a poll.
    pub fn observe_append(&self, position: i64) {
        self.appended.send_if_modified(|last| {
            let later = position > *last;
            if later {
                *last = position;
            }
            later
        });
    }

    /// The first answer given under an idempotency key, if any.
    pub async fn idempotency(&self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let sql = "SELECT request_hash, status, response FROM idempotency WHERE scope = $1 AND key = $2";
        let row: Option<(String, i32, Json<Value>)> = match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_as(&sqlite_sql(sql))
                    .bind(scope)
                    .bind(key)
                    .fetch_optional(&b.reader)
                    .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_as(sql)
                    .bind(scope)
                    .bind(key)
                    .fetch_optional(&b.pool)
                    .await?
            }
        };
        Ok(row.map(|(request_hash, status, Json(body))| IdempotencyRecord {
            request_hash,
            response: StoredResponse {
                status: status as u16,
                body,
            },
        }))
    }

    // ----- outbox -----

    /// The ids of the messages addressed to a subject (an usager), sent or
    /// not: the development outbox names its files after them, and
    /// forgetting the usager deletes those files too.
    pub async fn outbox_ids_of(&self, subject: &str) -> Result<Vec<String>, StoreError> {
        Ok(match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_scalar("SELECT id FROM outbox WHERE subject = ?1")
                    .bind(subject)
                    .fetch_all(&mut *b.write_connection().await?)
                    .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_scalar("SELECT id::text FROM outbox WHERE subject = $1")
                    .bind(subject)
                    .fetch_all(&b.pool)
                    .await?
            }
        })
    }

    /// Makes erased rows unreadable on disk. SQLite zeroes freed pages
    /// (`secure_delete`), but the write-ahead log keeps old copies of pages
    /// until it is checkpointed: this copies it into the database and
    /// truncates it. PostgreSQL keeps dead rows until vacuum, out of any
    /// dump; nothing to do there.
    pub async fn scrub_erased(&self) -> Result<(), StoreError> {
        if let Backend::Sqlite(b) = &self.backend {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *b.write_connection().await?)
                .await?;
        }
        Ok(())
    }

    /// Claims up to `limit` due messages for `lease`; a sender that dies
    /// leaves them to be claimed again when the lease ends.
    pub async fn claim_outbox(&self, limit: i64, lease: chrono::Duration) -> Result<Vec<ClaimedMessage>, StoreError> {
        let now = Utc::now();
        let until = now + lease;
        type Row = (String, String, Json<Value>, Option<String>, i32);
        let rows: Vec<Row> = match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_as(
                    "UPDATE outbox SET available_at = ?1, attempts = attempts + 1 WHERE id IN \
                     (SELECT id FROM outbox WHERE sent_at IS NULL AND available_at <= ?2 ORDER BY available_at LIMIT ?3) \
                     RETURNING id, kind, payload, subject, attempts",
                )
                .bind(timestamp(until))
                .bind(timestamp(now))
                .bind(limit)
                .fetch_all(&mut *b.write_connection().await?)
                .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_as(
                    "UPDATE outbox SET available_at = $1, attempts = attempts + 1 WHERE id IN \
                     (SELECT id FROM outbox WHERE sent_at IS NULL AND available_at <= $2 ORDER BY available_at \
                      LIMIT $3 FOR UPDATE SKIP LOCKED) \
                     RETURNING id::text, kind, payload, subject, attempts",
                )
                .bind(until)
                .bind(now)
                .bind(limit)
                .fetch_all(&b.pool)
                .await?
            }
        };
        rows.into_iter()
            .map(|(id, kind, Json(payload), subject, attempts)| {
                let id = id
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("outbox id {id}: {e}")))?;
                Ok(ClaimedMessage {
                    message: OutboxMessage {
                        id,
                        kind,
                        payload,
                        subject,
                    },
                    attempts,
                })
            })
            .collect()
    }

    pub async fn outbox_sent(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        self.outbox_update(
            "UPDATE outbox SET sent_at = $1, last_error = NULL WHERE id = $2",
            Utc::now(),
            id,
            None,
        )
        .await
    }

    /// Records a failed attempt; the message is tried again at `retry_at`.
    pub async fn outbox_failed(&self, id: uuid::Uuid, error: &str, retry_at: DateTime<Utc>) -> Result<(), StoreError> {
        self.outbox_update(
            "UPDATE outbox SET available_at = $1, last_error = $3 WHERE id = $2",
            retry_at,
            id,
            Some(error),
        )
        .await
    }

    async fn outbox_update(
        &self,
        sql: &str,
        at: DateTime<Utc>,
        id: uuid::Uuid,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => {
                let sql = sqlite_sql(sql);
                let mut q = sqlx::query(&sql).bind(timestamp(at)).bind(id.to_string());
                if error.is_some() {
                    q = q.bind(error);
                }
                q.execute(&mut *b.write_connection().await?).await?;
            }
            Backend::Postgres(b) => {
                let mut q = sqlx::query(sql).bind(at).bind(id);
                if error.is_some() {
                    q = q.bind(error);
                }
                q.execute(&b.pool).await?;
            }
        }
        Ok(())
    }

    /// Messages not yet sent (for health and tests).
    pub async fn outbox_pending(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL";
        Ok(on_backend!(self, b => sqlx::query_scalar(sql).fetch_one(b.read_pool()).await?))
    }

    // ----- read models -----

    /// Opens the transaction in which a projector writes documents and its
    /// checkpoint together.
    pub async fn begin_projection(&self) -> Result<ProjectionTx, StoreError> {
        let (conn, pool) = match &self.backend {
            Backend::Sqlite(b) => (Conn::Sqlite(b.begin_write().await?), None),
            Backend::Postgres(b) => {
                let mut tx = b.pool.begin().await?;
                // Every statement of a projection reads or writes by key,
                // and must stay on the indexes: during a rebuild the read
                // model grows faster than its statistics, and a plan made
                // for a small table (a scan of the collection per id looked
                // up) took minutes per batch.
                sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
                // A flush writes tens of thousands of rows in one statement,
                // read from the arrays it binds: with the default 4 MB they
                // went through a temporary file (follow-ups over 1,000,000
                // events, 200,000 rows a statement: commits 21.4 s → 17.8 s).
                sqlx::query("SET LOCAL work_mem = '64MB'").execute(&mut *tx).await?;
                (Conn::Postgres(tx), Some(b.pool.clone()))
            }
        };
        Ok(ProjectionTx::new(conn, pool, self.deliveries.clone()))
    }

    /// One document of a projection's collection.
    pub async fn doc(&self, projection: &str, collection: &str, id: &str) -> Result<Option<Value>, StoreError> {
        let sql = "SELECT doc FROM read_models WHERE projection = $1 AND collection = $2 AND id = $3";
        let row: Option<Json<Value>> = match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_scalar(&sqlite_sql(sql))
                    .bind(projection)
                    .bind(collection)
                    .bind(id)
                    .fetch_optional(&b.reader)
                    .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_scalar(sql)
                    .bind(projection)
                    .bind(collection)
                    .bind(id)
                    .fetch_optional(&b.pool)
                    .await?
            }
        };
        Ok(row.map(|Json(v)| v))
    }

    /// The documents of a collection under one parent, in id order.
    pub async fn docs(&self, projection: &str, collection: &str, parent: &str) -> Result<Vec<Value>, StoreError> {
        let sql = "SELECT doc FROM read_models WHERE projection = $1 AND collection = $2 AND parent = $3 ORDER BY id";
        let rows: Vec<Json<Value>> = match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_scalar(&sqlite_sql(sql))
                    .bind(projection)
                    .bind(collection)
                    .bind(parent)
                    .fetch_all(&b.reader)
                    .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_scalar(sql)
                    .bind(projection)
                    .bind(collection)
                    .bind(parent)
                    .fetch_all(&b.pool)
                    .await?
            }
        };
        Ok(rows.into_iter().map(|Json(v)| v).collect())
    }

    /// A page of a collection under one parent, in id order: ids after
    /// `after` and below `below` (either bound optional), at most `limit`.
    /// Returns (id, document) pairs so the caller can continue after the last.
    pub async fn docs_page(
        &self,
        projection: &str,
        collection: &str,
        parent: &str,
        (after, below): (Option<&str>, Option<&str>),
        limit: i64,
    ) -> Result<Vec<(String, Value)>, StoreError> {
        let sql = "SELECT id, doc FROM read_models WHERE projection = $1 AND collection = $2 AND parent = $3 \
                   AND ($4 IS NULL OR id > $4) AND ($5 IS NULL OR id < $5) ORDER BY id LIMIT $6";
        let rows: Vec<(String, Json<Value>)> = match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_as(&sqlite_sql(sql))
                    .bind(projection)
                    .bind(collection)
                    .bind(parent)
                    .bind(after)
                    .bind(below)
                    .bind(limit)
                    .fetch_all(&b.reader)
                    .await?
            }
            Backend::Postgres(b) => {
                let sql = sql
                    .replace("$4 IS NULL", "$4::text IS NULL")
                    .replace("$5 IS NULL", "$5::text IS NULL");
                sqlx::query_as(&sql)
                    .bind(projection)
                    .bind(collection)
                    .bind(parent)
                    .bind(after)
                    .bind(below)
                    .bind(limit)
                    .fetch_all(&b.pool)
                    .await?
            }
        };
        Ok(rows.into_iter().map(|(id, Json(v))| (id, v)).collect())
    }

    /// A page of a collection keyed by what groups its documents (the
    /// follow-ups of an organisation's category): ids strictly between
    /// `from` and `to`, in id order, at most `limit`, as (id, document)
    /// pairs. A range of the key's own index: such a collection needs no
    /// parent, and no second index entry per document.
    pub async fn docs_between(
        &self,
        projection: &str,
        collection: &str,
        (from, to): (&str, &str),
        limit: i64,
    ) -> Result<Vec<(String, Value)>, StoreError> {
        let sql = "SELECT id, doc FROM read_models WHERE projection = $1 AND collection = $2 \
                   AND id > $3 AND id < $4 ORDER BY id LIMIT $5";
        let rows: Vec<(String, Json<Value>)> = match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_as(&sqlite_sql(sql))
                    .bind(projection)
                    .bind(collection)
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(&b.reader)
                    .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_as(sql)
                    .bind(projection)
                    .bind(collection)
                    .bind(from)
                    .bind(to)
                    .bind(limit)
                    .fetch_all(&b.pool)
                    .await?
            }
        };
        Ok(rows.into_iter().map(|(id, Json(v))| (id, v)).collect())
    }

    /// The documents of a collection with these ids, as (id, document)
    /// pairs (absent ids left out): a page of references (the follow-ups'
    /// list and queue entries) resolved in one statement.
    pub async fn docs_with_ids(
        &self,
        projection: &str,
        collection: &str,
        ids: &[String],
    ) -> Result<Vec<(String, Value)>, StoreError> {
        let rows: Vec<(String, String)> = match &self.backend {
            Backend::Sqlite(b) => {
                let ids = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query_as(
                    "SELECT id, CAST(doc AS TEXT) FROM read_models WHERE projection = ?1 AND collection = ?2 \
                     AND id IN (SELECT value FROM json_each(?3))",
                )
                .bind(projection)
                .bind(collection)
                .bind(ids)
                .fetch_all(&b.reader)
                .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_as(crate::readmodel::PG_DOCS_WITH_IDS)
                    .bind(projection)
                    .bind(collection)
                    .bind(ids)
                    .fetch_all(&b.pool)
                    .await?
            }
        };
        rows.into_iter()
            .map(|(id, text)| {
                let doc = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{id}: {e}")))?;
                Ok((id, doc))
            })
            .collect()
    }

    /// Copies events from another store as they are (positions, metadata):
    /// `rdv replay` and `rdv verify` rebuild read models in a fresh SQLite
    /// directory this way. Only a SQLite store takes them.
    pub async fn import(&self, events: &[StoredEvent]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.import(events).await,
            Backend::Postgres(_) => Err(StoreError::Corrupt(
                "events are imported into a fresh SQLite directory only".into(),
            )),
        }
    }

    /// Every document of a projection as (collection, id, parent, doc), in
    /// order: what `rdv verify` compares.
    pub async fn dump_projection(
        &self,
        projection: &str,
    ) -> Result<Vec<(String, String, Option<String>, Value)>, StoreError> {
        let sql = "SELECT collection, id, parent, doc FROM read_models WHERE projection = $1 ORDER BY collection, id";
        let rows: Vec<(String, String, Option<String>, Json<Value>)> = match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_as(&sqlite_sql(sql))
                    .bind(projection)
                    .fetch_all(&b.reader)
                    .await?
            }
            Backend::Postgres(b) => sqlx::query_as(sql).bind(projection).fetch_all(&b.pool).await?,
        };
        Ok(rows.into_iter().map(|(c, i, p, Json(d))| (c, i, p, d)).collect())
    }

    /// Every checkpoint (projections and publishers) by name: what
    /// `/metrics` reports as positions and lags.
    pub async fn checkpoints(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = "SELECT name, position FROM projection_checkpoints ORDER BY name";
        Ok(match &self.backend {
            Backend::Sqlite(b) => sqlx::query_as(sql).fetch_all(&b.reader).await?,
            Backend::Postgres(b) => sqlx::query_as(sql).fetch_all(&b.pool).await?,
        })
    }

    /// The projectors stopped on an event they could not apply: name,
    /// checkpoint and the recorded error (which names the event's position
    /// and type). Cleared when the projector moves on.
    pub async fn failed_projections(&self) -> Result<Vec<(String, i64, String)>, StoreError> {
        let sql = "SELECT name, position, error FROM projection_checkpoints WHERE error IS NOT NULL ORDER BY name";
        Ok(match &self.backend {
            Backend::Sqlite(b) => sqlx::query_as(sql).fetch_all(&b.reader).await?,
            Backend::Postgres(b) => sqlx::query_as(sql).fetch_all(&b.pool).await?,
        })
    }

    /// Open and idle connections of the pools this process holds.
    pub fn connections(&self) -> (u32, usize) {
        match &self.backend {
            Backend::Sqlite(b) => b.connections(),
            Backend::Postgres(b) => (b.pool.size(), b.pool.num_idle()),
        }
    }

    /// A projector's checkpoint and its last error, if it stopped on one.
    pub async fn checkpoint(&self, name: &str) -> Result<(i64, Option<String>), StoreError> {
        let sql = "SELECT position, error FROM projection_checkpoints WHERE name = $1";
        let row: Option<(i64, Option<String>)> = match &self.backend {
            Backend::Sqlite(b) => {
                sqlx::query_as(&sqlite_sql(sql))
                    .bind(name)
                    .fetch_optional(&b.reader)
                    .await?
            }
            Backend::Postgres(b) => sqlx::query_as(sql).bind(name).fetch_optional(&b.pool).await?,
        };
        Ok(row.unwrap_or((0, None)))
    }

    /// Forgets a projection's documents and checkpoint, for a rebuild from 0.
    pub async fn reset_projection(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_projection().await?;
        // After the projector's transaction at hand, if any: its documents
        // go too, and it starts over from the checkpoint's absence.
        tx.lock_checkpoint(name).await?;
        tx.execute("DELETE FROM read_models WHERE projection = $1", name)
            .await?;
        tx.execute("DELETE FROM projection_checkpoints WHERE name = $1", name)
            .await?;
        tx.commit().await
    }

    /// Records why a projector stopped, keeping its checkpoint where it was.
    pub async fn record_projection_error(&self, name: &str, error: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_projection().await?;
        tx.record_error(name, error).await?;
        tx.commit().await
    }
}

impl SqliteBackend {
    fn read_pool(&self) -> &sqlx::SqlitePool {
        &self.reader
    }
}

impl PostgresBackend {
    fn read_pool(&self) -> &sqlx::PgPool {
        &self.pool
    }
}
