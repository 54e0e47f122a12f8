//! RDVs: booking, lifecycle and participants, over the `Rdv` aggregate and
//! the agents' day streams ([`rdv_domain::agent_day`]) in one transaction.
//! This module holds what the routes share: reserving and releasing time,
//! notices to usagers, access checks, and the read routes.

use rdv_app::caller::Place;
use rdv_domain::rights::Permission;
pub mod booking;
pub mod convocations;
pub mod lifecycle;
pub mod participants;

use crate::routes::usagers::UsagerFields;
use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, Form, JsonBody, path_id},
    reply::{CommandAnswer, CommandReply, reply},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, FixedOffset};
use rdv_app::rdv_changes::Warning;
use rdv_app::rdv_notices::notice_context;
use rdv_app::tokens;
use rdv_domain::{
    DomainError,
    ids::{AgentId, LieuId, MotifId, OrganisationId, RdvId, UsagerId},
    organisation::OrganisationState,
    rdv::{Prescripteur, Rdv, RdvState, RdvStatus},
    values::{Email, Text},
};
use rdv_projections::rdvs::RdvDoc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Whether the espace shows the internal Contexte field. When it is off,
/// views hide the stored value, which shows again when it is turned back on.
async fn context_shown(state: &AppState, organisation: &OrganisationState) -> Result<bool, ApiError> {
    let territory = state
        .load::<rdv_domain::territory::Territory>(&organisation.territory_id.to_string())
        .await?;
    Ok(territory.state()?.settings.rdv_fields.context_enabled)
}

/// An RDV with its history.
#[derive(Serialize, ToSchema)]
pub struct RdvWithHistory {
    #[serde(flatten)]
    rdv: RdvDoc,
    /// Every change: who, when, which fields.
    history: Vec<rdv_app::history::HistoryEntry>,
}

/// An RDV (read from its stream: always current) and its history, or as it
/// stood at `as_of` (its events until then). The Contexte note is left out
/// of both while the espace has it turned off.
#[utoipa::path(get, path = "/v1/rdvs/{id}", tag = "rdvs", params(("id" = String, Path), crate::extract::AsOf),
    security(("bearer" = [])),
    responses((status = 200, body = RdvWithHistory), (status = 404, body = crate::error::Problem)))]
pub async fn get_rdv(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<crate::extract::AsOf>,
) -> Result<Json<RdvWithHistory>, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let rdv = rdv_app::rdv_lifecycle::agent_rdv(&state, &principal, rdv_id).await?.rdv;
    let rdv = match q.as_of {
        Some(_) => state
            .load_as_of::<Rdv>(&id, q.as_of)
            .await?
            .0
            .ok_or_else(|| ApiError::not_found("rdv as of this instant"))?,
        None => rdv,
    };
    let organisation = crate::routes::organisations::organisation(&state, &rdv.booking.organisation_id.to_string())
        .await?
        .1;
    let show_context = context_shown(&state, &organisation).await?;
    let view = |s: &RdvState| {
        let mut doc = RdvDoc::new(rdv_id.0, s);
        doc.context = doc.context.filter(|_| show_context);
        doc
    };
    let mut events = state.store.load_stream("Rdv", &id).await?.to_vec();
    events.retain(|e| q.as_of.is_none_or(|at| e.metadata.occurred_at <= at));
    let history = rdv_app::history::of::<Rdv>(&events, |r| r.0.as_ref().map_or(Value::Null, |s| json!(view(s))))?;
    Ok(Json(RdvWithHistory {
        rdv: view(&rdv),
        history,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct RdvFilters {
    starts_after: Option<DateTime<FixedOffset>>,
    starts_before: Option<DateTime<FixedOffset>>,
    status: Option<RdvStatus>,
    agent_id: Option<AgentId>,
    lieu_id: Option<LieuId>,
    motif_id: Option<MotifId>,
    /// 1-based (default 1).
    page: Option<usize>,
    /// Default 100, at most 500.
    per_page: Option<usize>,
    min_position: Option<i64>,
}

/// Pagination as RDV Service Public's API gives it.
#[derive(Serialize, ToSchema)]
pub struct PageMeta {
    current_page: usize,
    next_page: Option<usize>,
    prev_page: Option<usize>,
    total_pages: usize,
    total_count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct RdvPage {
    rdvs: Vec<RdvDoc>,
    meta: PageMeta,
}

/// The RDVs of an organisation, filtered, ordered by start then id.
#[utoipa::path(get, path = "/v1/organisations/{id}/rdvs", tag = "rdvs", params(("id" = String, Path), RdvFilters),
    security(("bearer" = [])), responses((status = 200, body = RdvPage)))]
pub async fn list_rdvs(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<RdvFilters>,
) -> Result<Json<RdvPage>, ApiError> {
    let (organisation_id, organisation) = crate::routes::organisations::organisation(&state, &id).await?;
    principal.require(
        Permission::Rdvs,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    let per_page = q.per_page.unwrap_or(100);
    if !(1..=500).contains(&per_page) {
        return Err(DomainError::invalid("per_page", "must be between 1 and 500").into());
    }
    let page = q.page.unwrap_or(1).max(1);
    state.wait_for(rdv_projections::rdvs::NAME, q.min_position).await?;
    let docs = state
        .store
        .docs(rdv_projections::rdvs::NAME, rdv_projections::rdvs::RDVS, &id)
        .await?;
    let mut rdvs: Vec<RdvDoc> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<RdvDoc>(d).ok())
        .filter(|r| {
            q.starts_after.is_none_or(|t| r.starts_at >= t)
                && q.starts_before.is_none_or(|t| r.starts_at < t)
                && q.status.is_none_or(|s| r.status == s)
                && q.agent_id.is_none_or(|a| r.agent_ids.contains(&a.0))
                && q.lieu_id.is_none_or(|l| r.lieu_id == Some(l.0))
                && q.motif_id.is_none_or(|m| r.motif_id == m.0)
        })
        .collect();
    rdvs.sort_by_key(|r| (r.starts_at, r.id));
    let total_count = rdvs.len();
    let total_pages = total_count.div_ceil(per_page).max(1);
    let mut rdvs: Vec<RdvDoc> = rdvs.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    if !context_shown(&state, &organisation).await? {
        rdvs.iter_mut().for_each(|d| d.context = None);
    }
    let meta = PageMeta {
        current_page: page,
        next_page: (page < total_pages).then_some(page + 1),
        prev_page: (page > 1).then_some(page - 1),
        total_pages,
        total_count,
    };
    Ok(Json(RdvPage { rdvs, meta }))
}

/// The answer of an RDV command without a result of its own.
fn answer(
    rdv_id: RdvId,
) -> impl Fn(&(), &rdv_eventstore::CommitSummary<'_>) -> rdv_eventstore::StoredResponse + Send + Sync {
    reply(StatusCode::OK, "Rdv", move |_| rdv_id.to_string(), |_| json!({}))
}

/// The answer of an RDV command whose result is a list of warnings.
fn answer_with_warnings(
    status: StatusCode,
    rdv_id: RdvId,
) -> impl Fn(&Vec<Warning>, &rdv_eventstore::CommitSummary<'_>) -> rdv_eventstore::StoredResponse + Send + Sync {
    reply(
        status,
        "Rdv",
        move |_| rdv_id.to_string(),
        |warnings: &Vec<Warning>| json!({"warnings": warnings}),
    )
}

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The participation token from the booking or its notification.
    token: String,
}

/// A status to set. To cancel: `excused` (the usager's reason) or
/// `revoked` (the service's).
#[derive(Deserialize, ToSchema)]
pub struct StatusRequest {
    status: RdvStatus,
}
