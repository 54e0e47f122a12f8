//! The statement that appends on PostgreSQL: every event, outbox message
//! and data key of a request in one insert. The backend runs it in the
//! transaction of an append that saves an idempotency record (or that a
//! test holds open); group commit runs it for the other appends, several
//! requests merged into one. Both build on it, neither on the other.

use crate::{
    error::{StoreError, is_unique_violation},
    model::*,
};
use sqlx::types::Json;
use uuid::Uuid;

/// Events one transaction may append: the low 16 bits of a position.
pub const MAX_EVENTS_PER_APPEND: usize = 1 << 16;

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
