use crate::{auth::Principal, error::ApiError, extract::Query, state::AppState};
use axum::{Json, extract::State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Deserialize, IntoParams)]
pub struct FeedQuery {
    /// Return events after this position (0 for the beginning).
    after: Option<i64>,
    /// At most this many events (default 100, at most 1000).
    limit: Option<i64>,
}

/// One event of the global feed, as auditors and consumers read it.
#[derive(Serialize, ToSchema)]
pub struct FeedEvent {
    position: i64,
    event_id: Uuid,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    occurred_at: DateTime<Utc>,
    actor: String,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    /// The `Idempotency-Key` of the request that caused it, if any.
    idempotency_key: Option<String>,
    payload: Value,
}

impl From<rdv_eventstore::StoredEvent> for FeedEvent {
    fn from(e: rdv_eventstore::StoredEvent) -> Self {
        FeedEvent {
            position: e.position,
            event_id: e.metadata.event_id,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            occurred_at: e.metadata.occurred_at,
            actor: e.metadata.actor,
            correlation_id: e.metadata.correlation_id,
            causation_id: e.metadata.causation_id,
            idempotency_key: e.metadata.idempotency_key,
            payload: e.payload,
        }
    }
}

/// The global feed in commit order; a reader that passes the last position
/// it saw as `after` never misses an event. Platform admin only.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(FeedQuery), security(("bearer" = [])),
    responses((status = 200, body = Vec<FeedEvent>), (status = 403, body = crate::error::Problem)))]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<FeedQuery>,
) -> Result<Json<Vec<FeedEvent>>, ApiError> {
    principal.require_platform_admin()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let events = state.store.read_feed(q.after.unwrap_or(0).max(0), limit).await?;
    Ok(Json(events.into_iter().map(FeedEvent::from).collect()))
}
