//! Cancel, change status, reschedule, waiting room, and the usager's own
//! view of an RDV: each route parses, runs one use case of
//! [`rdv_app::rdv_lifecycle`] and shapes its answer.

use super::*;
use rdv_app::rdv_access::{agent_rdv, usager_rdv};
use rdv_app::rdv_lifecycle::{
    CancelOwnRdv, CancelRdv, ChangeRdvStatus, MarkUsagerArrived, RescheduleOwnRdv, RescheduleRdv, UpdateRdvDetails,
};

/// Cancels an RDV as an agent.
#[utoipa::path(post, path = "/v1/rdvs/{id}/cancel", tag = "rdvs", params(("id" = String, Path)), request_body = StatusRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn cancel_rdv(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<StatusRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/cancel"), &body.hash);
    let command = CancelRdv {
        rdv_id,
        status: body.value.status,
    };
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, answer(rdv_id)).await?,
    ))
}

/// Cancels an RDV as its usager, with the participation token: more than
/// 4 h ahead and when the motif allows it; the status becomes `excused`.
#[utoipa::path(post, path = "/v1/public/rdvs/{id}/cancel", tag = "rdvs", params(("id" = String, Path)), request_body = TokenRequest,
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem), (status = 410, body = crate::error::Problem)))]
pub async fn public_cancel(
    State(state): State<AppState>,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<TokenRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let ctx = crate::auth::anonymous_context("usager".into(), &headers);
    let command = CancelOwnRdv {
        rdv_id,
        token: body.value.token,
    };
    let respond = answer_with_warnings(StatusCode::OK, rdv_id);
    Ok(CommandReply(command.run(&state, ctx, respond).await?))
}

/// Changes an RDV's status from the agent's menu (before its day: excused,
/// revoked; on its day, once started, and after it: also seen, noshow; any
/// status back to unknown). Cancelling frees the agents' time; going back
/// from a cancellation takes it again (with warnings on overlaps).
#[utoipa::path(post, path = "/v1/rdvs/{id}/status", tag = "rdvs", params(("id" = String, Path)), request_body = StatusRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn change_status(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<StatusRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/status"), &body.hash);
    let command = ChangeRdvStatus {
        rdv_id,
        status: body.value.status,
    };
    let respond = answer_with_warnings(StatusCode::OK, rdv_id);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct RescheduleRequest {
    /// RFC 3339.
    #[schema(value_type = String)]
    starts_at: DateTime<FixedOffset>,
    /// Defaults to the RDV's current duration.
    duration_in_min: Option<u32>,
}

/// Moves an RDV as an agent: any time, overlaps are warnings.
#[utoipa::path(post, path = "/v1/rdvs/{id}/reschedule", tag = "rdvs", params(("id" = String, Path)), request_body = RescheduleRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn reschedule(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<RescheduleRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/reschedule"), &body.hash);
    let command = RescheduleRdv {
        rdv_id,
        starts_at: body.value.starts_at,
        duration_in_min: body.value.duration_in_min,
    };
    let respond = answer_with_warnings(StatusCode::OK, rdv_id);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct PublicRescheduleRequest {
    token: String,
    /// RFC 3339; a slot the search offers now, with the RDV's agent.
    #[schema(value_type = String)]
    starts_at: DateTime<FixedOffset>,
}

/// Moves an RDV as its usager: more than 2 days ahead, when the motif lets
/// usagers edit and book it, never an RDV an agent created, and only to a
/// slot offered now with the same agent (409 with `next_slots` otherwise).
#[utoipa::path(post, path = "/v1/public/rdvs/{id}/reschedule", tag = "rdvs", params(("id" = String, Path)),
    request_body = PublicRescheduleRequest,
    responses((status = 200, body = CommandAnswer), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn public_reschedule(
    State(state): State<AppState>,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<PublicRescheduleRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let ctx = crate::auth::anonymous_context("usager".into(), &headers);
    let PublicRescheduleRequest { token, starts_at } = body.value;
    let command = RescheduleOwnRdv {
        rdv_id,
        token,
        starts_at,
    };
    let respond = answer_with_warnings(StatusCode::OK, rdv_id);
    Ok(CommandReply(command.run(&state, ctx, respond).await?))
}

/// Salle d'attente: marks the usager of an RDV of today as arrived. In the
/// espace's e-mail mode, each agent of the RDV gets an e-mail (without the
/// usager's name); in visual mode, agendas show `arrived_at`.
#[utoipa::path(post, path = "/v1/rdvs/{id}/arrived", tag = "rdvs", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn mark_arrived(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/arrived"), "");
    let command = MarkUsagerArrived { rdv_id };
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, answer(rdv_id)).await?,
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct PublicRdvQuery {
    /// The participation token from the booking or its notification.
    token: String,
}

/// What an usager sees of their RDV: never the internal Contexte, nor the
/// agents' identities.
#[derive(Serialize, ToSchema)]
pub struct PublicRdvView {
    id: RdvId,
    organisation: String,
    motif: String,
    /// Name and address of the lieu, when on site.
    place: Option<String>,
    /// RFC 3339 with the organisation's offset.
    starts_at: String,
    ends_at: String,
    timezone: String,
    status: RdvStatus,
    /// What the usager may still do online.
    can_cancel: bool,
    instructions: Option<String>,
}

/// The usager's own RDV, opened with its participation token.
#[utoipa::path(get, path = "/v1/public/rdvs", tag = "rdvs", params(PublicRdvQuery),
    responses((status = 200, body = PublicRdvView), (status = 410, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn public_rdv(
    State(state): State<AppState>,
    crate::extract::Query(q): crate::extract::Query<PublicRdvQuery>,
) -> Result<Json<PublicRdvView>, ApiError> {
    let rdv_id = tokens::participation_rdv(q.token.trim())
        .ok_or_else(|| DomainError::invalid("token", "this participation token is not valid"))?;
    let (open, usager) = usager_rdv(&state, rdv_id, &q.token).await?;
    let rdv = open.rdv;
    let notice = notice_context(&state, &rdv.booking).await?;
    let may_cancel = notice.usager_may_cancel;
    let now = state.services().now();
    Ok(Json(PublicRdvView {
        id: rdv_id,
        organisation: notice.organisation,
        motif: notice.motif,
        place: notice.place,
        starts_at: rdv.booking.starts_at.with_timezone(&notice.zone.0).to_rfc3339(),
        ends_at: rdv.booking.ends_at.with_timezone(&notice.zone.0).to_rfc3339(),
        timezone: notice.zone.0.name().to_string(),
        status: rdv.participations[&usager].status,
        can_cancel: may_cancel
            && !rdv.participations[&usager].status.is_cancelled()
            && rdv.booking.starts_at - now > rdv_domain::rdv::usager_cancellation_notice(),
        instructions: notice.instructions,
    }))
}

/// The details of an RDV an agent may edit.
#[derive(Deserialize)]
struct RdvDetails {
    agent_ids: BTreeSet<AgentId>,
    lieu_id: Option<LieuId>,
    context: Option<String>,
}

/// Changes an RDV's agents, lieu or internal Contexte note: the body is a
/// JSON merge patch of `{agent_ids, lieu_id, context}`. New agents' time is
/// reserved (overlaps are warnings), removed agents' time is freed; a new
/// lieu is told to the usagers (RDV Service Public notifies an update when
/// the start or the lieu changes).
#[utoipa::path(patch, path = "/v1/rdvs/{id}", tag = "rdvs", params(("id" = String, Path)),
    request_body(content = Object, description = "JSON merge patch of {agent_ids, lieu_id, context}"), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 412, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_rdv(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<Value>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let b = agent_rdv(&state, &principal, rdv_id).await?.rdv.booking;
    let current = json!({"agent_ids": b.agent_ids, "lieu_id": b.lieu_id, "context": b.context});
    let RdvDetails {
        agent_ids,
        lieu_id,
        context,
    } = JsonBody::patched(current, body.value)?;
    let ctx = principal.context(&headers, &format!("PATCH /v1/rdvs/{id}"), &body.hash);
    let command = UpdateRdvDetails {
        rdv_id,
        agent_ids,
        lieu_id,
        context,
    };
    let respond = answer_with_warnings(StatusCode::OK, rdv_id);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}
