//! The distributed backend: PostgreSQL, many concurrent writers, a feed
//! ordered by transaction id (see migrations/postgres/0001_init.sql).

use crate::{
    error::{StoreError, is_unique_violation},
    group_commit::GroupCommit,
    model::*,
    postgres_append::insert,
    rows::EventRow,
    stream_cache::StreamVersionAt,
};
use sqlx::{PgPool, Postgres, Transaction, postgres::PgPoolOptions, types::Json};
use std::time::Duration;
use uuid::Uuid;

pub use crate::postgres_append::MAX_EVENTS_PER_APPEND;

const EVENT_COLUMNS: &str =
    "global_position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata";

/// Positions below this bound belong to transactions that can no longer
/// commit: reading only there is what makes the feed gap-free.
const SAFE_BOUND: &str = "(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)";

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

    pub async fn events_after(&self, position: i64) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM events WHERE global_position > $1 AND global_position < {SAFE_BOUND}");
        let count: i64 = sqlx::query_scalar(&sql).bind(position).fetch_one(&self.pool).await?;
        Ok(count)
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
