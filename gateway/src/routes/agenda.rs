//! An agent's plages and absences: each route runs one use case of
//! [`rdv_app::agenda`] and answers `{id, version, events}` on the agent's
//! agenda, plus what was created.

use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, JsonBody, path_id},
    reply::{CommandAnswer, CommandReply, changed, reply},
    state::AppState,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use rdv_app::agenda::{
    AbsenceRecorded, AbsenceRequest, CreatePlage, DeleteAbsence, DeletePlage, PlageRequest, PlageSaved, RecordAbsence,
    UpdateAbsence, UpdatePlage,
};
use rdv_eventstore::{CommitSummary, StoredResponse};
use serde_json::{Value, json};

/// The answer of a saved plage: its id and a warning per overlapped plage.
fn plage_saved(status: StatusCode) -> impl Fn(&PlageSaved, &CommitSummary<'_>) -> StoredResponse + Send + Sync {
    reply(
        status,
        "AgentAgenda",
        |saved: &PlageSaved| saved.agent_id.to_string(),
        |saved| {
            let warnings: Vec<Value> = saved
                .overlapping
                .iter()
                .map(|id| json!({"code": "overlapping_plage", "plage_id": id, "message": "overlaps another plage of the agent"}))
                .collect();
            json!({"plage_id": saved.plage_id, "warnings": warnings})
        },
    )
}

/// Creates a plage d'ouverture for an agent (the agent or an organisation
/// admin). Overlaps with the agent's other plages come back as warnings.
#[utoipa::path(post, path = "/v1/agents/{id}/plages", tag = "agenda", params(("id" = String, Path)), request_body = PlageRequest,
    security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer, description = "also holds plage_id and warnings"), (status = 422, body = crate::error::Problem)))]
pub async fn create_plage(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<PlageRequest>,
) -> Result<CommandReply, ApiError> {
    let command = CreatePlage {
        agent_id: path_id(&id, "agent")?,
        plage: body.value,
    };
    let ctx = principal.context(&headers, &format!("POST /v1/agents/{id}/plages"), &body.hash);
    let respond = plage_saved(StatusCode::CREATED);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Replaces a plage (the body is a whole plage, as for creation).
#[utoipa::path(patch, path = "/v1/plages/{id}", tag = "agenda", params(("id" = String, Path)), request_body = PlageRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn update_plage(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<PlageRequest>,
) -> Result<CommandReply, ApiError> {
    let command = UpdatePlage {
        plage_id: path_id(&id, "plage")?,
        plage: body.value,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("PATCH /v1/plages/{id}"), &body.hash);
    let respond = plage_saved(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Deletes a plage.
#[utoipa::path(delete, path = "/v1/plages/{id}", tag = "agenda", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn delete_plage(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let command = DeletePlage {
        plage_id: path_id(&id, "plage")?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("DELETE /v1/plages/{id}"), "");
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// Records an absence of an agent; it applies in all its organisations.
#[utoipa::path(post, path = "/v1/agents/{id}/absences", tag = "agenda", params(("id" = String, Path)), request_body = AbsenceRequest,
    security(("bearer" = [])), responses((status = 201, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn create_absence(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<AbsenceRequest>,
) -> Result<CommandReply, ApiError> {
    let command = RecordAbsence {
        agent_id: path_id(&id, "agent")?,
        absence: body.value,
    };
    let ctx = principal.context(&headers, &format!("POST /v1/agents/{id}/absences"), &body.hash);
    let respond = reply(
        StatusCode::CREATED,
        "AgentAgenda",
        |r: &AbsenceRecorded| r.agent_id.to_string(),
        |r| json!({"absence_id": r.absence_id}),
    );
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Replaces an absence.
#[utoipa::path(patch, path = "/v1/absences/{id}", tag = "agenda", params(("id" = String, Path)), request_body = AbsenceRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn update_absence(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<AbsenceRequest>,
) -> Result<CommandReply, ApiError> {
    let command = UpdateAbsence {
        absence_id: path_id(&id, "absence")?,
        absence: body.value,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("PATCH /v1/absences/{id}"), &body.hash);
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// Deletes an absence.
#[utoipa::path(delete, path = "/v1/absences/{id}", tag = "agenda", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn delete_absence(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let command = DeleteAbsence {
        absence_id: path_id(&id, "absence")?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("DELETE /v1/absences/{id}"), "");
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}
