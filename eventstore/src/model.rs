//! The records that go in and out of the store.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Who did what, when and why, attached to every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// UUIDv7, unique across the store; consumers de-duplicate on it.
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// `agent:<id>`, `platform-admin`, `usager:<id>` or `system`.
    pub actor: String,
    /// Shared by every event a request caused, across aggregates.
    pub correlation_id: Uuid,
    /// The event or request that caused this one.
    pub causation_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// An event ready to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: EventMetadata,
}

/// Events for one stream, appended only if the stream is still at
/// `expected_version` (optimistic concurrency).
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub expected_version: i64,
    pub events: Vec<NewEvent>,
}

/// A message for the outside world, sent after its events commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: Uuid,
    /// `email` for now; `sms` and others later.
    pub kind: String,
    pub payload: Value,
    /// The usager it is addressed to, if any: forgetting them (RGPD)
    /// deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl OutboxMessage {
    pub fn new(kind: &str, payload: Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            kind: kind.into(),
            payload,
            subject: None,
        }
    }

    /// Marks the message as sent to this usager (see [`Self::subject`]).
    pub fn about(mut self, usager_id: impl std::fmt::Display) -> Self {
        self.subject = Some(usager_id.to_string());
        self
    }
}

/// A pending outbox row claimed by a sender.
#[derive(Debug, Clone)]
pub struct ClaimedMessage {
    pub message: OutboxMessage,
    pub attempts: i32,
}

/// An idempotency key claimed by a command, with the hash of its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Who and where: the caller and the route, so keys never collide across callers.
    pub scope: String,
    pub key: String,
    pub request_hash: String,
}

/// The HTTP answer a command gave the first time, replayed for its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Value,
}

/// Builds the response saved under an idempotency key from the appended
/// events, inside the append's transaction.
pub type Responder<'a> = dyn Fn(&[CommittedEvent]) -> StoredResponse + Send + Sync + 'a;

/// The first answer saved under an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub response: StoredResponse,
}

/// Everything one command writes, atomically.
#[derive(Debug, Clone, Default)]
pub struct AppendRequest {
    pub streams: Vec<StreamAppend>,
    pub outbox: Vec<OutboxMessage>,
    /// Data keys made for this request's personal data, stored with it
    /// (filled by the store when it seals; see [`crate::personal`]).
    pub data_keys: Vec<NewDataKey>,
}

/// An usager's new data key, wrapped by the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDataKey {
    pub subject: String,
    pub wrapped: String,
}

/// One appended event and where it landed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommittedEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub position: i64,
}

/// An event as read back from a stream or from the global feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: EventMetadata,
}
