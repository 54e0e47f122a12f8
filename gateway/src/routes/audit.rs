//! The auditors' read-only API ([`rdv_app::audit_queries`]): every event
//! of a record with its metadata, and the events of a territory filtered
//! by time, actor and type.

use crate::{auth::Principal, error::ApiError, extract::Query, state::AppState};
use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use rdv_app::audit::FeedEvent;
use rdv_app::audit_queries::{AuditPage, ReadAuditFeed, ReadRecordHistory};
use rdv_domain::ids::TerritoryId;
use serde::Deserialize;
use utoipa::IntoParams;

/// Every event of a record, oldest first, with who did it, when, and the
/// correlation, causation and idempotency keys.
#[utoipa::path(get, path = "/v1/audit/{aggregate_type}/{id}/events", tag = "audit",
    params(("aggregate_type" = String, Path, description = "Rdv, Usager, Motif, Agent, FollowUp..."), ("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<FeedEvent>), (status = 404, body = crate::error::Problem)))]
pub async fn record_events(
    State(state): State<AppState>,
    principal: Principal,
    Path((aggregate_type, id)): Path<(String, String)>,
) -> Result<Json<Vec<FeedEvent>>, ApiError> {
    let query = ReadRecordHistory { aggregate_type, id };
    Ok(Json(query.run(&state, &principal).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Required unless the caller is the platform admin: only the events of
    /// this territory's records.
    #[param(value_type = Option<String>, format = Uuid)]
    territory_id: Option<TerritoryId>,
    /// Events that occurred at or after this instant.
    from: Option<DateTime<Utc>>,
    /// Events that occurred before this instant.
    to: Option<DateTime<Utc>>,
    /// Only this actor (`agent:<id>`, `usager:<id>`, `system:...`).
    actor: Option<String>,
    /// Only this event type (`RdvBooked`...).
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// The `next` of the previous page (a position).
    after: Option<i64>,
    /// At most this many events (default 100, at most 1000).
    limit: Option<usize>,
}

/// Events in feed order, filtered; paginated by position. An auditor sees
/// the events of their territory's records.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn audit_events(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let query = ReadAuditFeed {
        territory_id: q.territory_id,
        from: q.from,
        to: q.to,
        actor: q.actor,
        event_type: q.event_type,
        after: q.after,
        limit: q.limit,
    };
    Ok(Json(query.run(&state, &principal).await?))
}
