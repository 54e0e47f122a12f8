//! The distributed backend: PostgreSQL, many concurrent writers, a feed
//! ordered by transaction id (see migrations/postgres/0001_init.sql).

use crate::{
    error::{StoreError, is_unique_violation},
    model::*,
    rows::EventRow,
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
}

impl PostgresBackend {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn load_stream(&self, aggregate_type: &str, aggregate_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence"
        );
        let rows: Vec<EventRow> = sqlx::query_as(&sql)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(EventRow::into_event).collect()
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
        rows.into_iter().map(EventRow::into_event).collect()
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
        let total: usize = request.streams.iter().map(|s| s.events.len()).sum();
        if total >= MAX_EVENTS_PER_APPEND {
            return Err(StoreError::Corrupt(format!(
                "{total} events in one append; the limit is {MAX_EVENTS_PER_APPEND}"
            )));
        }
        let mut tx = self.pool.begin().await?;
        let mut committed = Vec::with_capacity(total);
        let mut index: i64 = 0;
        for stream in &request.streams {
            if stream.events.is_empty() {
                continue;
            }
            let n = stream.events.len();
            let mut sequences = Vec::with_capacity(n);
            let mut offsets = Vec::with_capacity(n);
            let (mut types, mut versions, mut payloads, mut metadata, mut ids, mut times) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (i, event) in stream.events.iter().enumerate() {
                sequences.push(stream.expected_version + i as i64 + 1);
                offsets.push(index);
                index += 1;
                types.push(event.event_type.clone());
                versions.push(event.event_version.clone());
                payloads.push(Json(event.payload.clone()));
                metadata.push(Json(
                    serde_json::to_value(&event.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ));
                ids.push(event.metadata.event_id);
                times.push(event.metadata.occurred_at);
            }
            // pg_current_xact_id() assigns the transaction id before any
            // position is computed from it.
            let positions: Vec<i64> = sqlx::query_scalar(
                "INSERT INTO events (global_position, aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata, event_id, occurred_at) \
                 SELECT (pg_current_xact_id()::text::bigint << 16) + e.offset_in_tx, $1, $2, e.sequence, \
                        e.event_type, e.event_version, e.payload, e.metadata, e.event_id, e.occurred_at \
                 FROM UNNEST($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::jsonb[], $8::jsonb[], \
                             $9::uuid[], $10::timestamptz[]) \
                      AS e(offset_in_tx, sequence, event_type, event_version, payload, metadata, event_id, occurred_at) \
                 ORDER BY e.offset_in_tx \
                 RETURNING global_position",
            )
            .bind(&stream.aggregate_type)
            .bind(&stream.aggregate_id)
            .bind(&offsets)
            .bind(&sequences)
            .bind(&types)
            .bind(&versions)
            .bind(&payloads)
            .bind(&metadata)
            .bind(&ids)
            .bind(&times)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict {
                        aggregate_type: stream.aggregate_type.clone(),
                        aggregate_id: stream.aggregate_id.clone(),
                    }
                } else {
                    e.into()
                }
            })?;
            let mut positions = positions;
            positions.sort_unstable();
            for ((event, sequence), position) in stream.events.iter().zip(sequences).zip(positions) {
                committed.push(CommittedEvent::of(stream, event, sequence, position));
            }
        }
        let now = chrono::Utc::now();
        for message in &request.outbox {
            sqlx::query("INSERT INTO outbox (id, kind, payload, created_at, available_at) VALUES ($1, $2, $3, $4, $4)")
                .bind(message.id)
                .bind(&message.kind)
                .bind(Json(&message.payload))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        Ok((tx, committed))
    }

    pub async fn append(
        &self,
        request: &AppendRequest,
        idempotency: Option<(&IdempotencyClaim, &crate::Responder<'_>)>,
    ) -> Result<Vec<CommittedEvent>, StoreError> {
        let (mut tx, committed) = self.begin_append(request).await?;
        if let Some((claim, respond)) = idempotency {
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
        }
        tx.commit().await?;
        Ok(committed)
    }

    pub async fn idempotency(&self, scope: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row: Option<(String, i32, Json<serde_json::Value>)> =
            sqlx::query_as("SELECT request_hash, status, response FROM idempotency WHERE scope = $1 AND key = $2")
                .bind(scope)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(request_hash, status, Json(body))| IdempotencyRecord {
            request_hash,
            response: StoredResponse {
                status: status as u16,
                body,
            },
        }))
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
