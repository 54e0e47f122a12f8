//! RDVs: booking, lifecycle and participants, over the `Rdv` aggregate and
//! the agents' day streams ([`rdv_domain::agent_day`]) in one transaction.
//! This module holds what the routes share: reserving and releasing time,
//! notices to usagers, access checks, and the read routes.

use rdv_app::rdv_views::{ListRdvs, RdvPage, RdvWithHistory, ReadRdv};
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
    rdv::{Prescripteur, RdvStatus},
    values::{Email, Text},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use utoipa::ToSchema;

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
    let query = ReadRdv {
        rdv_id: path_id(&id, "rdv")?,
        as_of: q.as_of,
    };
    Ok(Json(query.run(&state, &principal).await?))
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

/// The RDVs of an organisation, filtered, ordered by start then id.
#[utoipa::path(get, path = "/v1/organisations/{id}/rdvs", tag = "rdvs", params(("id" = String, Path), RdvFilters),
    security(("bearer" = [])), responses((status = 200, body = RdvPage)))]
pub async fn list_rdvs(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<RdvFilters>,
) -> Result<Json<RdvPage>, ApiError> {
    let query = ListRdvs {
        organisation_id: path_id(&id, "organisation")?,
        starts_after: q.starts_after,
        starts_before: q.starts_before,
        status: q.status,
        agent_id: q.agent_id,
        lieu_id: q.lieu_id,
        motif_id: q.motif_id,
        page: q.page,
        per_page: q.per_page,
        min_position: q.min_position,
    };
    Ok(Json(query.run(&state, &principal).await?))
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
