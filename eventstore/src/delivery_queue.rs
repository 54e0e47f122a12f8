//! Webhook deliveries as a projection queues them: the rows it writes in
//! its own transaction, with its documents and before its checkpoint moves
//! (no event dropped or doubled across crashes), and the notice that tells
//! relays in other processes at commit. The projection transaction
//! (`readmodel.rs`) builds on it to write them; what relays do with them
//! (claims, attempts, the log) builds on the store, in `deliveries.rs`.

use crate::{backend::Conn, error::StoreError, sqlite::sqlite_sql};

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// The `webhook-id`, the same on every attempt.
    pub id: String,
    pub endpoint_id: String,
    /// `Rdv:<id>`: the unit of ordering.
    pub record: String,
    pub position: i64,
    pub event_type: String,
    pub body: String,
    pub created_at_ms: i64,
}

const INSERT: &str = "INSERT INTO webhook_deliveries (id, endpoint_id, record, position, event_type, body, status, \
                      next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) \
                      ON CONFLICT (id) DO NOTHING";

/// [`INSERT`] for a batch (PostgreSQL).
const INSERT_BATCH: &str = "INSERT INTO webhook_deliveries (id, endpoint_id, record, position, event_type, body, \
       status, next_attempt_at, created_at) \
     SELECT d.id, d.endpoint_id, d.record, d.position, d.event_type, d.body, 'pending', d.created_at, d.created_at \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[]) \
       AS d(id, endpoint_id, record, position, event_type, body, created_at) \
     ON CONFLICT (id) DO NOTHING";

/// Inserts queued deliveries in a projection transaction (nothing when
/// there are none).
pub(crate) async fn insert_deliveries(conn: &mut Conn, pending: &[NewDelivery]) -> Result<(), StoreError> {
    if pending.is_empty() {
        return Ok(());
    }
    match conn {
        Conn::Sqlite(tx) => {
            let sql = sqlite_sql(INSERT);
            for d in pending {
                sqlx::query(&sql)
                    .bind(&d.id)
                    .bind(&d.endpoint_id)
                    .bind(&d.record)
                    .bind(d.position)
                    .bind(&d.event_type)
                    .bind(&d.body)
                    .bind(d.created_at_ms)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Conn::Postgres(tx) => {
            let column = |f: fn(&NewDelivery) -> &str| -> Vec<&str> { pending.iter().map(f).collect() };
            sqlx::query(INSERT_BATCH)
                .bind(column(|d| &d.id))
                .bind(column(|d| &d.endpoint_id))
                .bind(column(|d| &d.record))
                .bind(pending.iter().map(|d| d.position).collect::<Vec<_>>())
                .bind(column(|d| &d.event_type))
                .bind(column(|d| &d.body))
                .bind(pending.iter().map(|d| d.created_at_ms).collect::<Vec<_>>())
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// The PostgreSQL channel on which committed deliveries are announced.
pub(crate) const CHANNEL: &str = "rdv_deliveries";
/// Announces on [`CHANNEL`], in the transaction that queued deliveries:
/// PostgreSQL delivers the notice when (and only if) it commits.
pub(crate) const NOTIFY: &str = "NOTIFY rdv_deliveries";
