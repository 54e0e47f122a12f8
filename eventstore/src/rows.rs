//! Row shapes shared by both backends.

use crate::model::*;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sqlx::types::Json;

/// An `events` row as both backends return it.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    global_position: i64,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Json<Value>,
    /// Read straight into its type, with no JSON tree in between.
    metadata: Json<EventMetadata>,
}

impl EventRow {
    pub(crate) fn into_event(self) -> StoredEvent {
        StoredEvent {
            position: self.global_position,
            aggregate_type: self.aggregate_type,
            aggregate_id: self.aggregate_id,
            sequence: self.sequence,
            event_type: self.event_type,
            event_version: self.event_version,
            payload: self.payload.0,
            metadata: self.metadata.0,
        }
    }
}

/// The one text form of instants in SQLite: fixed width, so text order is time order.
pub(crate) fn timestamp(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl CommittedEvent {
    pub(crate) fn of(stream: &StreamAppend, event: &NewEvent, sequence: i64, position: i64) -> Self {
        Self {
            event_id: event.metadata.event_id,
            event_type: event.event_type.clone(),
            aggregate_type: stream.aggregate_type.clone(),
            aggregate_id: stream.aggregate_id.clone(),
            sequence,
            position,
        }
    }
}
