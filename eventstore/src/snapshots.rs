//! Snapshots of streams that grow for as long as their record lives (an
//! agent's agenda over the years): aggregates that opt in
//! ([`VersionedAggregate::snapshot_every`]) are loaded from their latest
//! snapshot and the events after it, and a load that folded that many
//! events past the snapshot stores a new one. Snapshots are a cache derived
//! from the events: one that no longer decodes (the state's shape changed)
//! is ignored and replaced, and deleting them all loses nothing. They are
//! not sealed, so only aggregates without usagers' personal data opt in.
//!
//! Every load of an aggregate goes through here
//! ([`EventStore::load_aggregate`]), whether it opts in or not.

use crate::{codec::Decoder, error::StoreError, model::StoredEvent, sqlite::sqlite_sql, store::EventStore};
use rdv_domain::VersionedAggregate;
use serde_json::Value;
use sqlx::types::Json;
use std::sync::Arc;

/// A stream as a load reads it: the latest snapshot (state, version) when
/// the aggregate keeps them and one exists, and the events after it.
#[derive(Debug, Clone)]
pub struct StreamTail {
    pub snapshot: Option<(Value, i64)>,
    pub events: Arc<Vec<StoredEvent>>,
}

impl StreamTail {
    /// A stream known to be empty.
    pub fn empty() -> Self {
        Self {
            snapshot: None,
            events: Arc::default(),
        }
    }
}

const UPSERT: &str = "INSERT INTO snapshots (aggregate_type, aggregate_id, version, state) VALUES ($1, $2, $3, $4) \
                      ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET version = excluded.version, \
                      state = excluded.state WHERE excluded.version >= snapshots.version";

impl EventStore {
    /// What loading aggregate `A` of id `id` needs to read.
    pub async fn load_tail<A: VersionedAggregate>(&self, id: &str) -> Result<StreamTail, StoreError> {
        if A::snapshot_every().is_none() {
            return Ok(StreamTail {
                snapshot: None,
                events: self.load_stream(A::TYPE, id).await?,
            });
        }
        let snapshot = self.snapshot(A::TYPE, id).await?;
        let after = snapshot.as_ref().map_or(0, |(_, version)| *version);
        Ok(StreamTail {
            events: Arc::new(self.load_stream_after(A::TYPE, id, after).await?),
            snapshot,
        })
    }

    /// The aggregate and its version, folded from `tail`; with `keep`, stores
    /// a new snapshot when the tail was long enough to deserve one.
    pub async fn fold_tail<A: VersionedAggregate>(
        &self,
        id: &str,
        tail: &StreamTail,
        keep: bool,
    ) -> Result<(A, i64), StoreError> {
        let decoded = tail
            .snapshot
            .as_ref()
            .map(|(state, version)| (A::deserialize(state), *version));
        let (aggregate, from, events) = match decoded {
            None => (A::default(), 0, tail.events.clone()),
            Some((Ok(state), version)) => (state, version, tail.events.clone()),
            Some((Err(error), _)) => {
                tracing::warn!(aggregate_type = A::TYPE, %error, "a snapshot no longer decodes: folding the whole stream");
                (A::default(), 0, self.load_stream(A::TYPE, id).await?)
            }
        };
        let aggregate = Decoder::<A>::default().fold_onto(aggregate, &events)?;
        let version = events.last().map_or(from, |e| e.sequence);
        if let Some(every) = A::snapshot_every()
            && keep
            && version - from >= every
            && let Err(error) = self.save_snapshot(A::TYPE, id, version, &aggregate).await
        {
            // The load stands; the next one tries again.
            tracing::warn!(aggregate_type = A::TYPE, %error, "could not store a snapshot");
        }
        Ok((aggregate, version))
    }

    /// An aggregate folded from its stream (read through the cache), or from
    /// its latest snapshot and the events after it.
    pub async fn load_aggregate<A: VersionedAggregate>(&self, id: &str) -> Result<A, StoreError> {
        Ok(self.load_versioned::<A>(id).await?.0)
    }

    /// An aggregate and its version (snapshot and tail, or its whole stream).
    pub async fn load_versioned<A: VersionedAggregate>(&self, id: &str) -> Result<(A, i64), StoreError> {
        let tail = self.load_tail::<A>(id).await?;
        self.fold_tail(id, &tail, true).await
    }

    async fn snapshot(&self, aggregate_type: &str, id: &str) -> Result<Option<(Value, i64)>, StoreError> {
        let sql = "SELECT state, version FROM snapshots WHERE aggregate_type = $1 AND aggregate_id = $2";
        let row: Option<(Json<Value>, i64)> = match self.postgres() {
            Some(pg) => {
                sqlx::query_as(sql)
                    .bind(aggregate_type)
                    .bind(id)
                    .fetch_optional(&pg.pool)
                    .await?
            }
            None => {
                sqlx::query_as(&sqlite_sql(sql))
                    .bind(aggregate_type)
                    .bind(id)
                    .fetch_optional(&self.sqlite_reader()?)
                    .await?
            }
        };
        Ok(row.map(|(Json(state), version)| (state, version)))
    }

    async fn save_snapshot<A: VersionedAggregate>(
        &self,
        aggregate_type: &str,
        id: &str,
        version: i64,
        aggregate: &A,
    ) -> Result<(), StoreError> {
        let state = serde_json::to_value(aggregate).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        match self.postgres() {
            Some(pg) => {
                sqlx::query(UPSERT)
                    .bind(aggregate_type)
                    .bind(id)
                    .bind(version)
                    .bind(Json(state))
                    .execute(&pg.pool)
                    .await?;
            }
            None => {
                sqlx::query(&sqlite_sql(UPSERT))
                    .bind(aggregate_type)
                    .bind(id)
                    .bind(version)
                    .bind(Json(state))
                    .execute(&mut *self.sqlite()?.write_connection().await?)
                    .await?;
            }
        }
        Ok(())
    }
}
