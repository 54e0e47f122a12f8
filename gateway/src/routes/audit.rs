//! The auditors' read-only API: every event of a record with its metadata,
//! and the events of a territory filtered by time, actor and type. An
//! auditor holds the `audit` right in a territory (territorial admins and
//! the platform admin may audit too); a record outside the caller's
//! territories is a 404, as a missing one.

use super::events::FeedEvent;
use crate::{auth::Principal, error::ApiError, extract::Query, state::AppState};
use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use rdv_domain::{
    DomainError,
    agent::Agent,
    category::CategoryConfiguration,
    follow_up::FollowUp,
    ids::{OrganisationId, TerritoryId, UsagerId},
    lieu::Lieu,
    motif::Motif,
    organisation::Organisation,
    rdv::Rdv,
    usager::Usager,
    webhook_endpoint::WebhookEndpoint,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use utoipa::{IntoParams, ToSchema};

async fn organisation_territory(state: &AppState, organisation: OrganisationId) -> Result<Vec<TerritoryId>, ApiError> {
    let organisation = state.load::<Organisation>(&organisation.to_string()).await?;
    Ok(organisation.0.map(|o| o.territory_id).into_iter().collect())
}

async fn usager_territories(state: &AppState, usager: UsagerId) -> Result<Vec<TerritoryId>, ApiError> {
    let mut territories = Vec::new();
    if let Some(usager) = state.load::<Usager>(&usager.to_string()).await?.0 {
        for organisation in usager.organisation_ids {
            territories.extend(organisation_territory(state, organisation).await?);
        }
    }
    Ok(territories)
}

async fn agent_territories(state: &AppState, agent: &str) -> Result<Vec<TerritoryId>, ApiError> {
    let mut territories = Vec::new();
    if let Some(agent) = state.load::<Agent>(agent).await?.0 {
        territories.extend(agent.territory_rights.keys().copied());
        for organisation in agent.memberships.keys() {
            territories.extend(organisation_territory(state, *organisation).await?);
        }
    }
    Ok(territories)
}

/// The territories a record belongs to, from its current state (none for
/// records of no territory, which only the platform admin audits).
async fn territories_of(state: &AppState, aggregate_type: &str, id: &str) -> Result<Vec<TerritoryId>, ApiError> {
    Ok(match aggregate_type {
        "Territory" => id.parse().map(TerritoryId).into_iter().collect(),
        "Organisation" => match id.parse() {
            Ok(o) => organisation_territory(state, OrganisationId(o)).await?,
            Err(_) => Vec::new(),
        },
        "Motif" => state
            .load::<Motif>(id)
            .await?
            .0
            .map(|m| m.territory_id)
            .into_iter()
            .collect(),
        "Lieu" => match state.load::<Lieu>(id).await?.0 {
            Some(lieu) => organisation_territory(state, lieu.organisation_id).await?,
            None => Vec::new(),
        },
        "Rdv" => match state.load::<Rdv>(id).await?.0 {
            Some(rdv) => organisation_territory(state, rdv.booking.organisation_id).await?,
            None => Vec::new(),
        },
        "Usager" => match id.parse() {
            Ok(u) => usager_territories(state, UsagerId(u)).await?,
            Err(_) => Vec::new(),
        },
        "FollowUp" => match state.load::<FollowUp>(id).await?.0 {
            Some(follow_up) => usager_territories(state, follow_up.usager_id).await?,
            None => Vec::new(),
        },
        "WebhookEndpoint" => match state.load::<WebhookEndpoint>(id).await?.0 {
            Some(endpoint) => organisation_territory(state, endpoint.organisation_id).await?,
            None => Vec::new(),
        },
        "CategoryConfiguration" => match state.load::<CategoryConfiguration>(id).await?.0 {
            Some(config) => organisation_territory(state, config.organisation_id).await?,
            None => Vec::new(),
        },
        // An agent's agenda is its id; an agent's day is `{agent}:{day}`.
        "Agent" | "AgentAgenda" | "AgentDay" => {
            agent_territories(state, id.split(':').next().unwrap_or_default()).await?
        }
        _ => Vec::new(),
    })
}

/// Whether the caller may audit the record (a platform admin always).
async fn may_audit(state: &AppState, principal: &Principal, aggregate_type: &str, id: &str) -> Result<bool, ApiError> {
    if principal.require_platform_admin().is_ok() {
        return Ok(true);
    }
    let territories = territories_of(state, aggregate_type, id).await?;
    Ok(territories.into_iter().any(|t| principal.may_audit(t)))
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
    let territory = match (q.territory_id, principal.require_platform_admin().is_ok()) {
        (Some(t), _) if principal.may_audit(t) => Some(t),
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
                        let territories: BTreeSet<TerritoryId> =
                            territories_of(&state, &key.0, &key.1).await?.into_iter().collect();
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
