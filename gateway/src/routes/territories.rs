//! Territories over HTTP: creation, services and territory rights through
//! [`rdv_app::territories`]; the read; and the `min_position` query every
//! read-your-writes route shares.

use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, Form, JsonBody, Query, path_id},
    reply::{CommandAnswer, CommandReply, changed},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use rdv_app::caller::Place;
use rdv_app::territories::{CreateTerritory, GrantTerritoryRights, SetServiceActive};
use rdv_domain::rights::Permission;
use rdv_domain::{
    ids::TerritoryId,
    values::{DepartementNumber, ServiceKind, TerritoryRights, Text, TimeZone},
};
use rdv_projections::directory::{self, TerritoryView};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, ToSchema)]
pub struct CreateTerritoryRequest {
    name: Option<String>,
    /// e.g. `26`, `974`, `2A`
    departement_number: Option<String>,
    /// IANA name; `Europe/Paris` when absent.
    timezone: Option<String>,
}

/// Position a query must reflect (read-your-writes): waits up to 5 s.
#[derive(Deserialize, IntoParams)]
pub struct MinPosition {
    pub min_position: Option<i64>,
}

/// Creates a territory (espace). Platform admin only.
#[utoipa::path(post, path = "/v1/territories", tag = "territories", request_body = CreateTerritoryRequest,
    security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn create_territory(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    body: JsonBody<CreateTerritoryRequest>,
) -> Result<CommandReply, ApiError> {
    let r = body.value;
    let mut form = Form::default();
    let name = form.required("name", r.name.as_deref(), Text::parse);
    let departement = form.required(
        "departement_number",
        r.departement_number.as_deref(),
        DepartementNumber::parse,
    );
    let timezone = form.optional("timezone", r.timezone.as_deref(), TimeZone::parse);
    let command = form.finish(|| {
        Some(CreateTerritory {
            name: name?,
            departement_number: departement?,
            timezone: timezone?.unwrap_or_default(),
        })
    })?;
    let ctx = principal.context(&headers, "POST /v1/territories", &body.hash);
    Ok(CommandReply(
        command
            .run(&state, &principal, &ctx, changed(StatusCode::CREATED))
            .await?,
    ))
}

/// A territory with its active services.
#[utoipa::path(get, path = "/v1/territories/{id}", tag = "territories", params(("id" = String, Path), MinPosition),
    security(("bearer" = [])), responses((status = 200, body = TerritoryView), (status = 404, body = crate::error::Problem)))]
pub async fn get_territory(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
) -> Result<Json<TerritoryView>, ApiError> {
    let territory: TerritoryId = path_id(&id, "territory")?;
    principal.require(Permission::ReadTerritory, Place::Territory(territory))?;
    state.wait_for(directory::NAME, q.min_position).await?;
    let doc = state
        .store
        .doc(directory::NAME, directory::TERRITORIES, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("territory"))?;
    Ok(Json(
        serde_json::from_value(doc).map_err(|e| ApiError::not_ready(e.to_string()))?,
    ))
}

async fn change_service(
    state: AppState,
    principal: Principal,
    headers: CommandHeaders,
    id: String,
    service: String,
    active: bool,
) -> Result<CommandReply, ApiError> {
    let territory_id: TerritoryId = path_id(&id, "territory")?;
    let service = ServiceKind::parse(&service, "service")?;
    let command = SetServiceActive {
        territory_id,
        service,
        active,
        if_match: headers.if_match,
    };
    let verb = if active { "activate" } else { "deactivate" };
    let ctx = principal.context(
        &headers,
        &format!("POST /v1/territories/{id}/services/{}/{verb}", service.slug()),
        "",
    );
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// Offers a service of the catalogue in the territory.
#[utoipa::path(post, path = "/v1/territories/{id}/services/{service}/activate", tag = "territories",
    params(("id" = String, Path), ("service" = String, Path, description = "service_social, pmi, secretariat, medico_social, rsa, conseiller_numerique, mairie")),
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn activate_service(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, service)): Path<(String, String)>,
) -> Result<CommandReply, ApiError> {
    change_service(state, principal, headers, id, service, true).await
}

/// Stops offering a service in the territory.
#[utoipa::path(post, path = "/v1/territories/{id}/services/{service}/deactivate", tag = "territories",
    params(("id" = String, Path), ("service" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn deactivate_service(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, service)): Path<(String, String)>,
) -> Result<CommandReply, ApiError> {
    change_service(state, principal, headers, id, service, false).await
}

/// Sets an agent's rights over the whole territory (territorial admin,
/// configuration, webhooks); all false revokes them.
#[utoipa::path(put, path = "/v1/territories/{id}/agents/{agent_id}/rights", tag = "territories",
    params(("id" = String, Path), ("agent_id" = String, Path)), request_body = TerritoryRights,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 403, body = crate::error::Problem)))]
pub async fn grant_territory_rights(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, agent_id)): Path<(String, String)>,
    body: JsonBody<TerritoryRights>,
) -> Result<CommandReply, ApiError> {
    let command = GrantTerritoryRights {
        territory_id: path_id(&id, "territory")?,
        agent_id: path_id(&agent_id, "agent")?,
        rights: body.value,
        if_match: headers.if_match,
    };
    let ctx = principal.context(
        &headers,
        &format!("PUT /v1/territories/{id}/agents/{agent_id}/rights"),
        &body.hash,
    );
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}
