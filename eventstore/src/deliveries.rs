//! Webhook deliveries at rest: queued by the dispatch projector in its
//! checkpoint's transaction (no event dropped or doubled across crashes:
//! `delivery_queue.rs`), claimed by relay workers with a lease
//! (several processes never send the same delivery at once), and always in
//! order per (endpoint, record): a delivery is claimable only when no
//! earlier one of the same record to the same endpoint is still pending or
//! failed.

use crate::{delivery_queue::CHANNEL, error::StoreError, sqlite::sqlite_sql, store::EventStore};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::delivery_queue::NewDelivery;

/// A delivery claimed for an attempt.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: String,
    pub endpoint_id: String,
    pub record: String,
    pub position: i64,
    pub event_type: String,
    pub body: String,
    pub attempts: i32,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Succeeded,
    /// Failed, to be tried again.
    Failed,
    /// Failed for the last time: kept, never dropped.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
        }
    }
}

/// One attempt's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub at_ms: i64,
    pub status_code: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// Truncated by the caller (4 KB).
    pub response: Option<String>,
    /// The delivery's status after it, and when to try next.
    pub status: DeliveryStatus,
    pub next_attempt_at_ms: i64,
}

impl EventStore {
    /// Changes when deliveries were committed: by a projection of this
    /// process, or, once [`Self::listen_for_deliveries`] runs, of any process
    /// on PostgreSQL. A relay waits on it between polls.
    pub fn deliveries_queued(&self) -> tokio::sync::watch::Receiver<u64> {
        self.deliveries.subscribe()
    }

    /// Until `shutdown`, turns PostgreSQL's notices of deliveries committed by
    /// other processes into [`Self::deliveries_queued`] changes (reconnecting
    /// after a failure; the relay's polling covers the gap). Nothing to do
    /// on SQLite, whose writers share this process or are polled.
    pub async fn listen_for_deliveries(&self, shutdown: tokio_util::sync::CancellationToken) {
        let Some(b) = self.postgres() else { return };
        loop {
            let error = tokio::select! {
                _ = shutdown.cancelled() => return,
                Err(error) = self.relay_notices(&b.pool) => error,
            };
            tracing::warn!(%error, "listening for webhook deliveries; polling meanwhile");
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }

    /// Listens on [`CHANNEL`] and bumps [`Self::deliveries_queued`] at each
    /// notice; ends only on an error.
    async fn relay_notices(&self, pool: &sqlx::PgPool) -> Result<std::convert::Infallible, sqlx::Error> {
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        loop {
            listener.recv().await?;
            self.deliveries.send_modify(|n| *n += 1);
        }
    }
}

const CLAIM: &str = "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id IN ( \
       SELECT d.id FROM webhook_deliveries d \
       WHERE d.status IN ('pending', 'failed') AND d.next_attempt_at <= $2 AND d.claimed_until <= $2 \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.endpoint_id = d.endpoint_id \
                         AND e.record = d.record AND e.position < d.position \
                         AND e.status IN ('pending', 'failed')) \
       ORDER BY d.position LIMIT $3 {LOCK}) \
     RETURNING id, endpoint_id, record, position, event_type, body, attempts";

const OUTCOME: &str = "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
                       claimed_until = 0, last_error = $3 WHERE id = $4";

const ATTEMPT: &str = "INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, duration_ms, error, response) \
                       SELECT $1, attempts, $2, $3, $4, $5, $6 FROM webhook_deliveries WHERE id = $1";

/// [`ATTEMPT`] for a batch (PostgreSQL), numbered before [`OUTCOMES_BATCH`]
/// counts them.
const ATTEMPTS_BATCH: &str = "INSERT INTO webhook_attempts \
       (delivery_id, attempt, at, status_code, duration_ms, error, response) \
     SELECT u.id, d.attempts + 1, u.at, u.status_code, u.duration_ms, u.error, u.response \
     FROM UNNEST($1::text[], $2::bigint[], $3::int[], $4::bigint[], $5::text[], $6::text[]) \
       AS u(id, at, status_code, duration_ms, error, response) \
     JOIN webhook_deliveries d ON d.id = u.id";

/// [`OUTCOME`] for a batch (PostgreSQL).
const OUTCOMES_BATCH: &str = "UPDATE webhook_deliveries d SET status = u.status, attempts = d.attempts + 1, \
       next_attempt_at = u.next_attempt_at, claimed_until = 0, last_error = u.error \
     FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[]) AS u(id, status, next_attempt_at, error) \
     WHERE d.id = u.id";

impl EventStore {
    /// Claims up to `limit` due deliveries for `lease_ms`, the earliest
    /// first, at most one unfinished per (endpoint, record).
    pub async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let until = now_ms + lease_ms;
        Ok(match self.postgres() {
            Some(pg) => {
                let sql = CLAIM.replace("{LOCK}", "FOR UPDATE SKIP LOCKED");
                sqlx::query_as(&sql)
                    .bind(until)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&pg.pool)
                    .await?
            }
            None => {
                let sql = sqlite_sql(&CLAIM.replace("{LOCK}", ""));
                sqlx::query_as(&sql)
                    .bind(until)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&mut *self.sqlite()?.write_connection().await?)
                    .await?
            }
        })
    }

    /// Deliveries not finished yet (pending or failed, to be tried again):
    /// the relay's queue depth.
    pub async fn delivery_queue_depth(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COUNT(*) FROM webhook_deliveries WHERE status IN ('pending', 'failed')";
        Ok(match self.postgres() {
            Some(pg) => sqlx::query_scalar(sql).fetch_one(&pg.pool).await?,
            None => sqlx::query_scalar(sql).fetch_one(&self.sqlite_reader()?).await?,
        })
    }

    /// Records attempts and the deliveries' new statuses, all in one
    /// transaction (one commit for a worker's whole batch).
    pub async fn record_attempts(&self, attempts: &[(String, AttemptRecord)]) -> Result<(), StoreError> {
        match self.postgres() {
            // Two statements for the whole batch: a round trip per delivery
            // would bound a relay to a few thousand a second.
            Some(pg) => {
                let ids: Vec<&str> = attempts.iter().map(|(id, _)| id.as_str()).collect();
                let column = |f: fn(&AttemptRecord) -> Option<String>| -> Vec<Option<String>> {
                    attempts.iter().map(|(_, a)| f(a)).collect()
                };
                let errors = column(|a| a.error.clone());
                let mut tx = pg.pool.begin().await?;
                sqlx::query(ATTEMPTS_BATCH)
                    .bind(&ids)
                    .bind(attempts.iter().map(|(_, a)| a.at_ms).collect::<Vec<_>>())
                    .bind(
                        attempts
                            .iter()
                            .map(|(_, a)| a.status_code.map(i32::from))
                            .collect::<Vec<_>>(),
                    )
                    .bind(attempts.iter().map(|(_, a)| a.duration_ms).collect::<Vec<_>>())
                    .bind(&errors)
                    .bind(column(|a| a.response.clone()))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(OUTCOMES_BATCH)
                    .bind(&ids)
                    .bind(attempts.iter().map(|(_, a)| a.status.as_str()).collect::<Vec<_>>())
                    .bind(attempts.iter().map(|(_, a)| a.next_attempt_at_ms).collect::<Vec<_>>())
                    .bind(&errors)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            // A statement is a function call on SQLite: one per delivery.
            None => {
                let mut tx = self.sqlite()?.begin_write().await?;
                // The attempt number is the count before this one, plus one.
                let insert = ATTEMPT.replace("attempts,", "attempts + 1,");
                let (outcome, insert) = (sqlite_sql(OUTCOME), sqlite_sql(&insert));
                for (delivery_id, attempt) in attempts {
                    sqlx::query(&insert)
                        .bind(delivery_id)
                        .bind(attempt.at_ms)
                        .bind(attempt.status_code.map(i32::from))
                        .bind(attempt.duration_ms)
                        .bind(&attempt.error)
                        .bind(&attempt.response)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(&outcome)
                        .bind(attempt.status.as_str())
                        .bind(attempt.next_attempt_at_ms)
                        .bind(&attempt.error)
                        .bind(delivery_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Deliveries of an endpoint by status, oldest first (at most `limit`).
    pub async fn deliveries_of(
        &self,
        endpoint_id: &str,
        status: Option<DeliveryStatus>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let sql = "SELECT id, endpoint_id, record, position, event_type, status, attempts, next_attempt_at, last_error \
                   FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 = '' OR status = $2) \
                   ORDER BY position LIMIT $3";
        let status = status.map_or("", DeliveryStatus::as_str);
        Ok(match self.postgres() {
            Some(pg) => {
                sqlx::query_as(sql)
                    .bind(endpoint_id)
                    .bind(status)
                    .bind(limit)
                    .fetch_all(&pg.pool)
                    .await?
            }
            None => {
                sqlx::query_as(&sqlite_sql(sql))
                    .bind(endpoint_id)
                    .bind(status)
                    .bind(limit)
                    .fetch_all(&self.sqlite_reader()?)
                    .await?
            }
        })
    }
}

/// One attempt of a delivery, as its log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct AttemptRow {
    pub attempt: i32,
    /// Epoch milliseconds.
    pub at: i64,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// The response body, at most 4 KB.
    pub response: Option<String>,
}

impl EventStore {
    /// One delivery and its attempts, in order.
    /// Since when (epoch ms) an endpoint has done nothing but fail: its
    /// first failed attempt after its last success; none while it succeeds.
    pub async fn failing_since(&self, endpoint_id: &str) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT MIN(a.at) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
                   WHERE d.endpoint_id = $1 AND (a.status_code IS NULL OR a.status_code < 200 OR a.status_code >= 300) \
                   AND a.at > COALESCE((SELECT MAX(s.at) FROM webhook_attempts s \
                       JOIN webhook_deliveries e ON e.id = s.delivery_id \
                       WHERE e.endpoint_id = $1 AND s.status_code >= 200 AND s.status_code < 300), 0)";
        Ok(match self.postgres() {
            Some(pg) => sqlx::query_scalar(sql).bind(endpoint_id).fetch_one(&pg.pool).await?,
            None => {
                sqlx::query_scalar(&sqlite_sql(sql))
                    .bind(endpoint_id)
                    .fetch_one(&self.sqlite_reader()?)
                    .await?
            }
        })
    }

    pub async fn delivery(&self, id: &str) -> Result<Option<(DeliveryRow, Vec<AttemptRow>)>, StoreError> {
        let one = "SELECT id, endpoint_id, record, position, event_type, status, attempts, next_attempt_at, last_error \
                   FROM webhook_deliveries WHERE id = $1";
        let attempts = "SELECT attempt, at, status_code, duration_ms, error, response FROM webhook_attempts \
                        WHERE delivery_id = $1 ORDER BY attempt";
        let (row, tries): (Option<DeliveryRow>, Vec<AttemptRow>) = match self.postgres() {
            Some(pg) => (
                sqlx::query_as(one).bind(id).fetch_optional(&pg.pool).await?,
                sqlx::query_as(attempts).bind(id).fetch_all(&pg.pool).await?,
            ),
            None => {
                let reader = self.sqlite_reader()?;
                (
                    sqlx::query_as(&sqlite_sql(one))
                        .bind(id)
                        .fetch_optional(&reader)
                        .await?,
                    sqlx::query_as(&sqlite_sql(attempts))
                        .bind(id)
                        .fetch_all(&reader)
                        .await?,
                )
            }
        };
        Ok(row.map(|r| (r, tries)))
    }

    /// Sends again every delivery of an endpoint created in `[since, until)`
    /// (epoch ms), with their original `webhook-id`s and bodies; returns how
    /// many.
    pub async fn replay(
        &self,
        endpoint_id: &str,
        since_ms: i64,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, claimed_until = 0 \
                   WHERE endpoint_id = $2 AND created_at >= $3 AND created_at < $4";
        Ok(match self.postgres() {
            Some(pg) => {
                let done = sqlx::query(sql)
                    .bind(now_ms)
                    .bind(endpoint_id)
                    .bind(since_ms)
                    .bind(until_ms)
                    .execute(&pg.pool)
                    .await?;
                done.rows_affected()
            }
            None => {
                let done = sqlx::query(&sqlite_sql(sql))
                    .bind(now_ms)
                    .bind(endpoint_id)
                    .bind(since_ms)
                    .bind(until_ms)
                    .execute(&mut *self.sqlite()?.write_connection().await?)
                    .await?;
                done.rows_affected()
            }
        })
    }

    /// Sends a delivery again now (a failed, dead or succeeded one), with
    /// the same body and `webhook-id`; returns whether it exists.
    pub async fn redeliver(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let sql = "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, claimed_until = 0 \
                   WHERE id = $2";
        let changed = match self.postgres() {
            Some(pg) => {
                let done = sqlx::query(sql).bind(now_ms).bind(id).execute(&pg.pool).await?;
                done.rows_affected()
            }
            None => {
                let done = sqlx::query(&sqlite_sql(sql))
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *self.sqlite()?.write_connection().await?)
                    .await?;
                done.rows_affected()
            }
        };
        Ok(changed == 1)
    }
}

/// A delivery as its log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub record: String,
    pub position: i64,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}
