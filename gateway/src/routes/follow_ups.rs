//! Follow-ups: one usager in one category, its status now or at any past
//! instant, closing and reopening, referents, and the organisation's list
//! with "Une intervention est nécessaire".

use super::organisations::organisation;
use crate::{
    auth::Principal,
    error::ApiError,
    extract::{AsOf, CommandHeaders, JsonBody, Query, path_id},
    reply::{CommandReply, changed},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::{DateTime, Utc};
use rdv_app::caller::Place;
use rdv_app::follow_up_changes::{SetFollowUpClosed, SetReferents};
use rdv_app::follow_up_lists::{FollowUpPage, ListFollowUps};
use rdv_app::insertion::category_rules;
use rdv_domain::rights::Permission;
use rdv_domain::{
    category::InvitationFormat,
    follow_up::{ActionReason, FollowUpState, FollowUpStatus, InvitationTrigger, SentNotice, TrackedParticipation},
    ids::{AgentId, FollowUpId, InvitationId, OrganisationId, UsagerId},
};
use rdv_projections::follow_ups::{self, LISTED, Listing};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::{IntoParams, ToSchema};

#[derive(Serialize, ToSchema)]
pub struct InvitationSummary {
    id: InvitationId,
    format: InvitationFormat,
    trigger: InvitationTrigger,
    created_at: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    clicked: bool,
}

/// A follow-up as of an instant.
#[derive(Serialize, ToSchema)]
pub struct FollowUpView {
    id: FollowUpId,
    usager_id: UsagerId,
    motif_category: String,
    status: FollowUpStatus,
    /// Why it needs an agent, if it does ("Une intervention est nécessaire").
    action_required: Option<ActionReason>,
    /// The "Convoquer" button shows.
    convocable: bool,
    closed_at: Option<DateTime<Utc>>,
    /// The instant the view describes.
    as_of: DateTime<Utc>,
    invitations: Vec<InvitationSummary>,
    participations: Vec<TrackedParticipation>,
    notices: Vec<SentNotice>,
    #[schema(value_type = Vec<String>)]
    referents: BTreeSet<AgentId>,
}

impl FollowUpView {
    fn new(id: FollowUpId, state: &FollowUpState, at: DateTime<Utc>, days: u32, convene: bool) -> Self {
        Self {
            id,
            usager_id: state.usager_id,
            motif_category: state.category.clone(),
            status: state.status(at),
            action_required: state.action_required(at, days),
            convocable: convene && state.convocable(at, days),
            closed_at: state.closed_at,
            as_of: at,
            invitations: state
                .invitations
                .iter()
                .map(|i| InvitationSummary {
                    id: i.id,
                    format: i.format,
                    trigger: i.trigger,
                    created_at: i.created_at,
                    valid_until: i.valid_until,
                    clicked: i.clicked,
                })
                .collect(),
            participations: state.participations.values().cloned().collect(),
            notices: state.notices.clone(),
            referents: state.referents.clone(),
        }
    }
}

/// A follow-up's id from its path (404 when it cannot be one).
pub fn follow_up_id(id: &str) -> Result<FollowUpId, ApiError> {
    path_id(id, "follow-up")
}

/// The follow-up of the path, if the caller may work on it (404 otherwise),
/// now or as of a past instant, and the organisation it is seen from.
pub async fn visible_follow_up(
    state: &AppState,
    principal: &Principal,
    id: &str,
    as_of: Option<DateTime<Utc>>,
) -> Result<(FollowUpId, FollowUpState, OrganisationId), ApiError> {
    let follow_up_id = follow_up_id(id)?;
    let (follow_up, organisation_id) =
        rdv_app::insertion::visible_follow_up(state, principal, follow_up_id, as_of).await?;
    Ok((follow_up_id, follow_up, organisation_id))
}

/// A follow-up, now or as of a past instant.
#[utoipa::path(get, path = "/v1/follow-ups/{id}", tag = "insertion", params(("id" = String, Path), AsOf),
    security(("bearer" = [])), responses((status = 200, body = FollowUpView), (status = 404, body = crate::error::Problem)))]
pub async fn get_follow_up(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<AsOf>,
) -> Result<Json<FollowUpView>, ApiError> {
    let (follow_up_id, follow_up, organisation_id) = visible_follow_up(&state, &principal, &id, q.as_of).await?;
    let (days, convene) = category_rules(&state, organisation_id, &follow_up.category).await?;
    let at = q.as_of.unwrap_or_else(|| state.services().now());
    Ok(Json(FollowUpView::new(follow_up_id, &follow_up, at, days, convene)))
}

/// Closes or reopens a follow-up.
async fn set_closed(
    state: &AppState,
    principal: &Principal,
    headers: &CommandHeaders,
    id: &str,
    closed: bool,
) -> Result<CommandReply, ApiError> {
    let command = SetFollowUpClosed {
        follow_up_id: follow_up_id(id)?,
        closed,
        if_match: headers.if_match,
    };
    let verb = if closed { "close" } else { "reopen" };
    let ctx = principal.context(headers, &format!("POST /v1/follow-ups/{id}/{verb}"), "");
    Ok(CommandReply(
        command.run(state, principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// Closes a follow-up: its invitations stop being valid.
#[utoipa::path(post, path = "/v1/follow-ups/{id}/close", tag = "insertion", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = crate::reply::CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn close_follow_up(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    set_closed(&state, &principal, &headers, &id, true).await
}

/// Reopens a closed follow-up.
#[utoipa::path(post, path = "/v1/follow-ups/{id}/reopen", tag = "insertion", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = crate::reply::CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn reopen_follow_up(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    set_closed(&state, &principal, &headers, &id, false).await
}

#[derive(Deserialize, ToSchema)]
pub struct ReferentsRequest {
    #[schema(value_type = Vec<String>)]
    agent_ids: BTreeSet<AgentId>,
}

/// Sets the usager's referents in this follow-up (agents of one of its
/// organisations).
#[utoipa::path(put, path = "/v1/follow-ups/{id}/referents", tag = "insertion", params(("id" = String, Path)),
    request_body = ReferentsRequest, security(("bearer" = [])),
    responses((status = 200, body = crate::reply::CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn set_referents(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<ReferentsRequest>,
) -> Result<CommandReply, ApiError> {
    let command = SetReferents {
        follow_up_id: follow_up_id(&id)?,
        agent_ids: body.value.agent_ids,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("PUT /v1/follow-ups/{id}/referents"), &body.hash);
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct FollowUpListQuery {
    /// Short name of the category.
    motif_category: String,
    /// Only the follow-ups that need an agent now.
    #[serde(default)]
    action_required: bool,
    /// Only this status (computed now).
    status: Option<FollowUpStatus>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
    min_position: Option<i64>,
}

/// An organisation's follow-ups in a category. With `action_required=true`
/// only "Une intervention est nécessaire" (action statuses, or invited more
/// than N days ago without a manual invitation since), each with its
/// reason, read from a queue ordered by the instant action became needed.
#[utoipa::path(get, path = "/v1/organisations/{id}/follow-ups", tag = "insertion",
    params(("id" = String, Path), FollowUpListQuery), security(("bearer" = [])),
    responses((status = 200, body = FollowUpPage), (status = 422, body = crate::error::Problem)))]
pub async fn list_follow_ups(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<FollowUpListQuery>,
) -> Result<Json<FollowUpPage>, ApiError> {
    let query = ListFollowUps {
        organisation_id: path_id(&id, "organisation")?,
        motif_category: q.motif_category,
        action_required: q.action_required,
        status: q.status,
        after: q.after,
        limit: q.limit,
        min_position: q.min_position,
    };
    Ok(Json(query.run(&state, &principal).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct StatsQuery {
    /// Short name of the category.
    motif_category: String,
    min_position: Option<i64>,
}

/// Statistics of the organisation's follow-ups in a category: invited,
/// with RDV, no-show rates after invitation and after convocation, days
/// from invitation to RDV, orientation within 30 days.
#[utoipa::path(get, path = "/v1/organisations/{id}/stats", tag = "insertion",
    params(("id" = String, Path), StatsQuery), security(("bearer" = [])),
    responses((status = 200, body = rdv_projections::insertion_stats::CategoryStats)))]
pub async fn category_stats(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Json<rdv_projections::insertion_stats::CategoryStats>, ApiError> {
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require(
        Permission::Insertion,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    state.wait_for(follow_ups::NAME, q.min_position).await?;
    let listing = Listing::of(organisation_id, q.motif_category.trim());
    let (from, to) = listing.range(None, None);
    let page = state
        .store
        .docs_between(follow_ups::NAME, LISTED, (&from, &to), i64::MAX)
        .await?;
    let docs = follow_ups::with_state(&state.store, &listing, organisation_id, &page).await?;
    let now = state.services().now();
    Ok(Json(rdv_projections::insertion_stats::compute(
        docs.iter().map(|(_, d)| &d.state),
        now,
    )))
}
