//! Participants of an RDV: agents add and remove usagers and set one
//! participation's status; usagers sign up to ateliers themselves. Each
//! route runs one use case of [`rdv_app::rdv_participants`].

use super::*;
use rdv_app::rdv_participants::{
    AddParticipant, RemoveParticipant, SetParticipationStatus, SignUpAnswer, SignUpToAtelier,
};

#[derive(Deserialize, ToSchema)]
pub struct AddParticipantRequest {
    usager_id: UsagerId,
}

/// The answer of a new participation: 201 with the participation's link.
fn signed_up(
    rdv_id: RdvId,
) -> impl Fn(&SignUpAnswer, &rdv_eventstore::CommitSummary<'_>) -> rdv_eventstore::StoredResponse + Send + Sync {
    reply(StatusCode::CREATED, "Rdv", move |_| rdv_id.to_string(), |a| json!(a))
}

/// Adds an usager of the organisation to an RDV as an agent. An atelier may
/// go over its seats: a `too_many_participants` warning says so. The usager
/// gets their own participation link.
#[utoipa::path(post, path = "/v1/rdvs/{id}/participants", tag = "rdvs", params(("id" = String, Path)),
    request_body = AddParticipantRequest, security(("bearer" = [])),
    responses((status = 201, body = SignUpAnswer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn add_participant(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<AddParticipantRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let ctx = principal.context(&headers, &format!("POST /v1/rdvs/{id}/participants"), &body.hash);
    let command = AddParticipant {
        rdv_id,
        usager_id: body.value.usager_id,
    };
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, signed_up(rdv_id)).await?,
    ))
}

/// Removes an usager from an RDV (an individual RDV keeps at least one: to
/// end it, cancel it). The usager is told, as for a cancellation.
#[utoipa::path(delete, path = "/v1/rdvs/{id}/participants/{usager_id}", tag = "rdvs",
    params(("id" = String, Path), ("usager_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn remove_participant(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, usager)): Path<(String, String)>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let usager_id: UsagerId = path_id(&usager, "participant")?;
    let ctx = principal.context(&headers, &format!("DELETE /v1/rdvs/{id}/participants/{usager}"), "");
    let command = RemoveParticipant { rdv_id, usager_id };
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, answer(rdv_id)).await?,
    ))
}

/// Sets one participation's status as an agent, from the individual status
/// menu (seen and noshow once the RDV has started).
#[utoipa::path(post, path = "/v1/rdvs/{id}/participants/{usager_id}/status", tag = "rdvs",
    params(("id" = String, Path), ("usager_id" = String, Path)), request_body = StatusRequest, security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn participation_status(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, usager)): Path<(String, String)>,
    body: JsonBody<StatusRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let usager_id: UsagerId = path_id(&usager, "participant")?;
    let path = format!("POST /v1/rdvs/{id}/participants/{usager}/status");
    let ctx = principal.context(&headers, &path, &body.hash);
    let command = SetParticipationStatus {
        rdv_id,
        usager_id,
        status: body.value.status,
    };
    let respond = answer_with_warnings(StatusCode::OK, rdv_id);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct SignUpRequest {
    usager: UsagerFields,
}

/// Signs an usager up to an atelier (no login): a collective motif bookable
/// by everyone and visible, an atelier not revoked, starting inside the
/// motif's booking window, with a seat left (409 `this atelier is full`
/// otherwise, also when the last seat went to a concurrent sign-up).
#[utoipa::path(post, path = "/v1/public/rdvs/{id}/participants", tag = "rdvs", params(("id" = String, Path)),
    request_body = SignUpRequest,
    responses((status = 201, body = SignUpAnswer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn public_sign_up(
    State(state): State<AppState>,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<SignUpRequest>,
) -> Result<CommandReply, ApiError> {
    let rdv_id = path_id(&id, "rdv")?;
    let today = state.services().now().date_naive();
    let profile = body.value.usager.parse("usager.", today)?;
    let ctx = crate::auth::anonymous_context("usager".into(), &headers);
    let command = SignUpToAtelier { rdv_id, profile };
    Ok(CommandReply(command.run(&state, ctx, signed_up(rdv_id)).await?))
}
