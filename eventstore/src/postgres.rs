//! The distributed backend: PostgreSQL, many concurrent writers, a feed
//! ordered by transaction id (see migrations/postgres/0001_init.sql).

use crate::{
    error::{StoreError, is_unique_violation},
    group_commit::GroupCommit,
    model::*,
    rows::EventRow,
    stream_cache::StreamVersionAt,
};
use sqlx::{PgPool, Postgres, Transaction, postgres::PgPoolOptions, types::Json};
use std::time::Duration;
use uuid::Uuid;

const EVENT_COLUMNS: &str =
    "global_position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

/// Positions below this bound belong to transactions that can no longer
/// commit: reading only there is what makes the feed gap-free.
const SAFE_BOUND: &str = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)";

/// Events one transaction may append: the low 16 bits of a position.
pub const MAX_EVENTS_PER_APPEND: usize = 1 << 16;

#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pub(crate) pool: PgPool,
    /// Appends without an idempotency record go through group commit.
    group: GroupCommit,
}

/// A pooled connection idle longer than this is checked before use.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

/// Statements writing appends at once (see [`crate::group_commit`]): fewer
/// than the concurrent requests, so that groups form under load.
pub const GROUP_WRITERS: usize = 2;

impl PostgresBackend {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out: a round trip per
            // statement under load. Only a connection that sat idle may
            // have been dropped by the server or the network.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_BEFORE_PING {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let writers = std::env::var("RDV_PG_WRITERS")
            .ok()
            .and_then(|w| w.parse().ok())
            .unwrap_or(GROUP_WRITERS);
        let group = GroupCommit::start(pool.clone(), writers);
        Ok(Self { pool, group })
    }

    /// The stream's events after sequence `after` (0: all of them).
    pub async fn load_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3 \
             ORDER BY sequence"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    pub async fn read_feed(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > $1 AND global_position < {SAFE_BOUND} \
             ORDER BY global_position LIMIT $2"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    /// Events of some aggregate types after `after` (at most `limit`), and
    /// the position the feed was scanned to. Everything below the bound read
    /// first has committed or aborted, so the second query sees it all.
    pub async fn read_feed_of(
        &self,
        after: i64,
        limit: i64,
        aggregate_types: &[&str],
    ) -> Result<(Vec<StoredEvent>, i64), StoreError> {
        let bound: i64 = sqlx::query_scalar(&format!("SELECT {SAFE_BOUND}"))
            .fetch_one(&self.pool)
            .await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_position > $1 AND global_position < $2 \
             AND (cardinality($3::text[]) = 0 OR aggregate_type = ANY($3)) ORDER BY global_position LIMIT $4"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(after)
            .bind(bound)
            .bind(aggregate_types)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let events = rows.into_iter().map(EventRow::into_event).collect::<Vec<_>>();
        let scanned = match events.last() {
            Some(last) if events.len() as i64 == limit => last.position,
            _ => (bound - 1).max(after),
        };
        Ok((events, scanned))
    }

    pub(crate) async fn read_versions(&self, after: i64, limit: i64) -> Result<Vec<StreamVersionAt>, StoreError> {
        let sql = format!(
            "SELECT global_position, aggregate_type, aggregate_id, sequence FROM events \
             WHERE global_position > $1 AND global_position < {SAFE_BOUND} ORDER BY global_position LIMIT $2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The highest position written, readable or not yet (a transaction
    /// older than it may still be open).
    pub async fn last_written(&self) -> Result<i64, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(global_position) FROM events")
            .fetch_one(&self.pool)
            .await?;
        Ok(last.unwrap_or(0))
    }

    pub async fn head(&self) -> Result<i64, StoreError> {
        let sql = format!("SELECT MAX(global_position) FROM events WHERE global_position < {SAFE_BOUND}");
        let head: Option<i64> = sqlx::query_scalar(&sql).fetch_one(&self.pool).await?;
        Ok(head.unwrap_or(0))
    }

    /// Starts an append and leaves its transaction open: the caller commits.
    /// Tests use this to hold transactions open against a tailing reader.
    pub async fn begin_append(
        &self,
        request: &AppendRequest,
    ) -> Result<(Transaction<'static, Postgres>, Vec<CommittedEvent>), StoreError> {
        let mut tx = self.pool.begin().await?;
        let committed = insert(&mut tx, request).await?;
        Ok((tx, committed))
    }

    pub async fn append(
        &self,
        request: &AppendRequest,
        idempotency: Option<(&IdempotencyClaim, &Responder<'_>)>,
    ) -> Result<Vec<CommittedEvent>, StoreError> {
        let Some((claim, respond)) = idempotency else {
            // One statement is one transaction, shared with concurrent appends.
            return self.group.append(request).await;
        };
        let (mut tx, committed) = self.begin_append(request).await?;
        let response = respond(&committed);
        sqlx::query(
            "INSERT INTO idempotency (scope, key, request_hash, status, response, created_at) \
             VALUES ($1, $2, $3, $4, $5, now())",
        )
        .bind(&claim.scope)
        .bind(&claim.key)
        .bind(&claim.request_hash)
        .bind(response.status as i32)
        .bind(Json(&response.body))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::IdempotencyRace
            } else {
                e.into()
            }
        })?;
        tx.commit().await?;
        Ok(committed)
    }

    /// A fresh, empty database for one test: created from `base_url`'s server.
    pub async fn create_database(base_url: &str, name: &str) -> Result<String, StoreError> {
        let admin = PgPoolOptions::new().max_connections(1).connect(base_url).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&admin)
            .await?;
        admin.close().await;
        let (prefix, _) = base_url.rsplit_once('/').unwrap_or((base_url, ""));
        Ok(format!("{prefix}/{name}"))
    }
}

/// A database name for a test, unique per run.
pub fn unique_database_name(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::now_v7().simple())
}

/// Inserts every event and outbox message of a request in one statement.
/// `pg_current_xact_id()` assigns the transaction id before any position is
/// computed from it; a stream moved on by another writer violates the
/// (aggregate_type, aggregate_id, sequence) key and becomes a conflict.
pub(crate) async fn insert(
    conn: &mut sqlx::PgConnection,
    request: &AppendRequest,
) -> Result<Vec<CommittedEvent>, StoreError> {
    let total: usize = request.streams.iter().map(|s| s.events.len()).sum();
    if total >= MAX_EVENTS_PER_APPEND {
        return Err(StoreError::Corrupt(format!(
            "{total} events in one append; the limit is {MAX_EVENTS_PER_APPEND}"
        )));
    }
    let mut rows = Rows::default();
    for stream in &request.streams {
        for (i, event) in stream.events.iter().enumerate() {
            rows.push(stream, event, stream.expected_version + i as i64 + 1)?;
        }
    }
    let returned: Vec<(i64, Uuid)> = sqlx::query_as(
        "WITH appended AS ( \
           INSERT INTO events (global_position, aggregate_type, aggregate_id, sequence, event_type, event_version, \
                               payload, metadata, event_id, occurred_at) \
           SELECT (pg_current_xact_id()::text::bigint << 16) + e.ord, e.aggregate_type, e.aggregate_id, e.sequence, \
                  e.event_type, e.event_version, e.payload, e.metadata, e.event_id, e.occurred_at \
           FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[]::json[], $7::text[]::json[], \
                       $8::uuid[], $9::timestamptz[]) WITH ORDINALITY \
                AS e(aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, event_id, \
                     occurred_at, ord) \
           RETURNING global_position, event_id), \
         queued AS ( \
           INSERT INTO outbox (id, kind, payload, subject, created_at, available_at) \
           SELECT o.id, o.kind, o.payload, o.subject, now(), now() \
           FROM UNNEST($10::uuid[], $11::text[], $12::jsonb[], $13::text[]) AS o(id, kind, payload, subject)), \
         keyed AS ( \
           INSERT INTO data_keys (subject, wrapped, created_at) \
           SELECT k.subject, k.wrapped, (extract(epoch FROM now()) * 1000)::bigint \
           FROM UNNEST($14::text[], $15::text[]) AS k(subject, wrapped)) \
         SELECT global_position, event_id FROM appended",
    )
    .bind(&rows.aggregate_types)
    .bind(&rows.aggregate_ids)
    .bind(&rows.sequences)
    .bind(&rows.event_types)
    .bind(&rows.event_versions)
    .bind(&rows.payloads)
    .bind(&rows.metadata)
    .bind(&rows.event_ids)
    .bind(&rows.occurred_at)
    .bind(request.outbox.iter().map(|m| m.id).collect::<Vec<_>>())
    .bind(request.outbox.iter().map(|m| m.kind.clone()).collect::<Vec<_>>())
    .bind(request.outbox.iter().map(|m| Json(&m.payload)).collect::<Vec<_>>())
    .bind(request.outbox.iter().map(|m| m.subject.clone()).collect::<Vec<_>>())
    .bind(request.data_keys.iter().map(|k| k.subject.clone()).collect::<Vec<_>>())
    .bind(request.data_keys.iter().map(|k| k.wrapped.clone()).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            let stream = request.streams.first();
            StoreError::Conflict {
                aggregate_type: stream.map(|s| s.aggregate_type.clone()).unwrap_or_default(),
                aggregate_id: stream.map(|s| s.aggregate_id.clone()).unwrap_or_default(),
            }
        } else {
            e.into()
        }
    })?;
    let positions: std::collections::HashMap<Uuid, i64> = returned.into_iter().map(|(p, id)| (id, p)).collect();
    let mut committed = Vec::with_capacity(total);
    for stream in &request.streams {
        for (i, event) in stream.events.iter().enumerate() {
            let position = positions.get(&event.metadata.event_id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "event {} was not returned by its insert",
                    event.metadata.event_id
                ))
            })?;
            committed.push(CommittedEvent::of(
                stream,
                event,
                stream.expected_version + i as i64 + 1,
                position,
            ));
        }
    }
    committed.sort_by_key(|e| e.position);
    Ok(committed)
}

/// Column arrays for one UNNEST insert.
#[derive(Default)]
struct Rows {
    aggregate_types: Vec<String>,
    aggregate_ids: Vec<String>,
    sequences: Vec<i64>,
    event_types: Vec<String>,
    event_versions: Vec<String>,
    /// Payloads and metadata as JSON text: PostgreSQL stores them as
    /// `json`, checked but not converted.
    payloads: Vec<String>,
    metadata: Vec<String>,
    event_ids: Vec<Uuid>,
    occurred_at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl Rows {
    fn push(&mut self, stream: &StreamAppend, event: &NewEvent, sequence: i64) -> Result<(), StoreError> {
        self.aggregate_types.push(stream.aggregate_type.clone());
        self.aggregate_ids.push(stream.aggregate_id.clone());
        self.sequences.push(sequence);
        self.event_types.push(event.event_type.clone());
        self.event_versions.push(event.event_version.clone());
        let text = |value: Result<String, serde_json::Error>| value.map_err(|e| StoreError::Corrupt(e.to_string()));
        self.payloads.push(text(serde_json::to_string(&event.payload))?);
        self.metadata.push(text(serde_json::to_string(&event.metadata))?);
        self.event_ids.push(event.metadata.event_id);
        self.occurred_at.push(event.metadata.occurred_at);
        Ok(())
    }
}
