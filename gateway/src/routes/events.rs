//! The global event feed for the platform admin (`GET /v1/events`), in
//! position order.

use crate::{auth::Principal, error::ApiError, extract::Query, state::AppState};
use axum::{Json, extract::State};
use rdv_app::audit::FeedEvent;
use rdv_app::caller::Place;
use rdv_domain::rights::Permission;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
pub struct FeedQuery {
    /// Return events after this position (0 for the beginning).
    after: Option<i64>,
    /// At most this many events (default 100, at most 1000).
    limit: Option<i64>,
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
    principal.require(Permission::ReadEventFeed, Place::Platform)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let events = state.store.read_feed(q.after.unwrap_or(0).max(0), limit).await?;
    Ok(Json(events.into_iter().map(FeedEvent::from).collect()))
}
