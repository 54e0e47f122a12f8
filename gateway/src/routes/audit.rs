//! The auditors' read-only API: every event of a record with its metadata,
//! and the events of a territory filtered by time, actor and type. An
//! auditor holds the `audit` right in a territory (territorial admins and
//! the platform admin may audit too); a record outside the caller's
//! territories is a 404, as a missing one.

use crate::{auth::Principal, error::ApiError, extract::Query, state::AppState};
use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use rdv_app::audit::{FeedEvent, territories_of};
use rdv_app::caller::Place;
use rdv_domain::rights::Permission;
use rdv_domain::{DomainError, ids::TerritoryId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use utoipa::{IntoParams, ToSchema};

/// Whether the caller may audit the record (a platform admin always).
async fn may_audit(state: &AppState, principal: &Principal, aggregate_type: &str, id: &str) -> Result<bool, ApiError> {
    if principal.is_platform_admin() {
        return Ok(true);
    }
    let territories = territories_of(&state.store, aggregate_type, id).await?;
    Ok(territories
        .into_iter()
        .any(|t| principal.may(Permission::Audit, Place::Territory(t))))
}

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
    let events = state.store.load_stream(&aggregate_type, &id).await?;
    if events.is_empty() || !may_audit(&state, &principal, &aggregate_type, &id).await? {
        return Err(ApiError::not_found("record"));
    }
    Ok(Json(events.iter().cloned().map(FeedEvent::from).collect()))
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

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    events: Vec<FeedEvent>,
    /// Pass as `after` for the next page; none once the feed is read.
    next: Option<i64>,
}

/// Feed rows read per page at most, matching or not.
const SCAN: i64 = 5_000;

/// Events in feed order, filtered; paginated by position. An auditor sees
/// the events of their territory's records.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, body = AuditPage), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn audit_events(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(DomainError::invalid("limit", "between 1 and 1000").into());
    }
    let territory = match (q.territory_id, principal.is_platform_admin()) {
        (Some(t), _) if principal.may(Permission::Audit, Place::Territory(t)) => Some(t),
        (Some(_), _) => return Err(ApiError::forbidden("this needs the audit right in the territory")),
        (None, true) => None,
        (None, false) => return Err(DomainError::invalid("territory_id", "name the territory you audit").into()),
    };
    let mut after = q.after.unwrap_or(0).max(0);
    let (mut events, mut scanned, mut known) = (Vec::new(), 0, HashMap::<(String, String), bool>::new());
    let next = loop {
        let page = state.store.read_feed(after, 500).await?;
        let Some(last) = page.last().map(|e| e.position) else {
            break None;
        };
        for event in page {
            after = event.position;
            scanned += 1;
            let wanted = q.from.is_none_or(|f| event.metadata.occurred_at >= f)
                && q.to.is_none_or(|t| event.metadata.occurred_at < t)
                && q.actor.as_ref().is_none_or(|a| *a == event.metadata.actor)
                && q.event_type.as_ref().is_none_or(|t| *t == event.event_type);
            if !wanted {
                continue;
            }
            if let Some(territory) = territory {
                let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
                let inside = match known.get(&key) {
                    Some(inside) => *inside,
                    None => {
                        let territories: BTreeSet<TerritoryId> = territories_of(&state.store, &key.0, &key.1)
                            .await?
                            .into_iter()
                            .collect();
                        *known.entry(key).or_insert(territories.contains(&territory))
                    }
                };
                if !inside {
                    continue;
                }
            }
            events.push(FeedEvent::from(event));
            if events.len() == limit {
                break;
            }
        }
        if events.len() == limit || scanned >= SCAN {
            break Some(after.min(last));
        }
    };
    Ok(Json(AuditPage { events, next }))
}
