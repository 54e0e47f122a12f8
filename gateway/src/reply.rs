//! The answer every command gives: `{id, version, events: [...]}` plus the
//! command's own fields, the `X-Event-Position` header for read-your-writes,
//! and the same bytes again when its idempotency key is replayed.

use axum::{
    http::{HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use rdv_app::respond::Changed;
use rdv_eventstore::{CommandOutcome, CommitSummary, StoredResponse};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

pub const EVENT_POSITION: HeaderName = HeaderName::from_static("x-event-position");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The common part of every command answer (documentation shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandAnswer {
    /// The id of the record the command was about.
    pub id: String,
    /// Its version after the command (use it in `If-Match`).
    pub version: i64,
    pub events: Vec<EventRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventRef {
    pub event_id: Uuid,
    pub event_type: String,
    /// Global position; pass it as `min_position` to read your own write.
    pub position: i64,
}

/// Builds a command's answer from its result `T` and the commit: the record
/// `id_of(T)` of `aggregate_type`, its version, the events, and `extra(T)`.
pub fn reply<T>(
    status: StatusCode,
    aggregate_type: &'static str,
    id_of: impl Fn(&T) -> String + Send + Sync,
    extra: impl Fn(&T) -> Value + Send + Sync,
) -> impl Fn(&T, &CommitSummary<'_>) -> StoredResponse + Send + Sync {
    move |value, summary| answer(status, summary, aggregate_type, &id_of(value), extra(value))
}

/// The answer of a use case that changed one record: `{id, version,
/// events}` of that record.
pub fn changed(status: StatusCode) -> impl Fn(&Changed, &CommitSummary<'_>) -> StoredResponse + Send + Sync {
    move |changed, summary| answer(status, summary, changed.aggregate_type, &changed.id, json!({}))
}

fn answer(
    status: StatusCode,
    summary: &CommitSummary<'_>,
    aggregate_type: &str,
    id: &str,
    extra: Value,
) -> StoredResponse {
    let mut body = json!({
        "id": id,
        "version": summary.version_of(aggregate_type, id),
        "events": summary.events.iter().map(|e| json!({
            "event_id": e.event_id,
            "event_type": e.event_type,
            "position": e.position,
        })).collect::<Vec<_>>(),
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    StoredResponse {
        status: status.as_u16(),
        body,
    }
}

/// A command's outcome as an HTTP response.
pub struct CommandReply(pub CommandOutcome);

impl IntoResponse for CommandReply {
    fn into_response(self) -> Response {
        let StoredResponse { status, body } = self.0.response;
        let position = body["events"]
            .as_array()
            .and_then(|e| e.last())
            .and_then(|e| e["position"].as_i64())
            .unwrap_or(0);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(EVENT_POSITION, HeaderValue::from(position));
        if self.0.replayed {
            headers.insert(REPLAYED, HeaderValue::from_static("true"));
        }
        response
    }
}
