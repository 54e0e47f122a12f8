//! An organisation's lieux over HTTP: the routes parse, run a use case of
//! [`rdv_app::lieux`] and answer; reads and history beside them.

use super::{organisations::organisation, territories::MinPosition};
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
use rdv_app::history::{self, HistoryEntry};
use rdv_app::lieux::{CreateLieu, SetLieuEnabled, UpdateLieu, managed_lieu};
use rdv_domain::rights::Permission;
use rdv_domain::{
    ids::{LieuId, OrganisationId},
    lieu::{Lieu, LieuDetails, LieuPatch},
    values::Text,
};
use rdv_projections::configuration::{self, LieuView};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct CreateLieuRequest {
    name: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    /// An ad-hoc place for one RDV; it never becomes a regular lieu.
    #[serde(default)]
    single_use: bool,
}

/// Creates a lieu of the organisation (organisation admin).
#[utoipa::path(post, path = "/v1/organisations/{id}/lieux", tag = "lieux", params(("id" = String, Path)),
    request_body = CreateLieuRequest, security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn create_lieu(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<CreateLieuRequest>,
) -> Result<CommandReply, ApiError> {
    let organisation_id: OrganisationId = path_id(&id, "organisation")?;
    let r = body.value;
    let mut form = Form::default();
    let name = form.required("name", r.name.as_deref(), Text::parse);
    let address = form.required("address", r.address.as_deref(), Text::parse);
    let phone = form.contact_phone("phone", r.phone);
    let command = form.finish(|| {
        Some(CreateLieu {
            organisation_id,
            details: LieuDetails {
                name: name?,
                address: address?,
                phone: phone?,
            },
            single_use: r.single_use,
        })
    })?;
    let ctx = principal.context(&headers, &format!("POST /v1/organisations/{id}/lieux"), &body.hash);
    Ok(CommandReply(
        command
            .run(&state, &principal, &ctx, changed(StatusCode::CREATED))
            .await?,
    ))
}

/// The lieux of an organisation.
#[utoipa::path(get, path = "/v1/organisations/{id}/lieux", tag = "lieux", params(("id" = String, Path), MinPosition),
    security(("bearer" = [])), responses((status = 200, body = Vec<LieuView>)))]
pub async fn list_lieux(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
) -> Result<Json<Vec<LieuView>>, ApiError> {
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require(
        Permission::ReadOrganisationCatalogue,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    state.wait_for(configuration::NAME, q.min_position).await?;
    let docs = state.store.docs(configuration::NAME, configuration::LIEUX, &id).await?;
    let mut lieux: Vec<LieuView> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect();
    lieux.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(Json(lieux))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateLieuRequest {
    name: Option<String>,
    address: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "rdv_domain::values::present")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
}

/// Changes a lieu's name, address or phone.
#[utoipa::path(patch, path = "/v1/lieux/{id}", tag = "lieux", params(("id" = String, Path)), request_body = UpdateLieuRequest,
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn update_lieu(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<UpdateLieuRequest>,
) -> Result<CommandReply, ApiError> {
    let lieu_id: LieuId = path_id(&id, "lieu")?;
    let r = body.value;
    let mut form = Form::default();
    let name = form.optional("name", r.name.as_deref(), Text::parse);
    let address = form.optional("address", r.address.as_deref(), Text::parse);
    let phone = r.phone.map(|p| form.contact_phone("phone", p));
    let command = form.finish(|| {
        Some(UpdateLieu {
            lieu_id,
            if_match: headers.if_match,
            patch: LieuPatch {
                name: name?,
                address: address?,
                phone: match phone {
                    Some(phone) => Some(phone?),
                    None => None,
                },
            },
        })
    })?;
    let ctx = principal.context(&headers, &format!("PATCH /v1/lieux/{id}"), &body.hash);
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

async fn set_availability(
    state: AppState,
    principal: Principal,
    headers: CommandHeaders,
    id: String,
    enabled: bool,
) -> Result<CommandReply, ApiError> {
    let command = SetLieuEnabled {
        lieu_id: path_id(&id, "lieu")?,
        enabled,
        if_match: headers.if_match,
    };
    let verb = if enabled { "enable" } else { "disable" };
    let ctx = principal.context(&headers, &format!("POST /v1/lieux/{id}/{verb}"), "");
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// Disables a lieu (kept for past RDVs).
#[utoipa::path(post, path = "/v1/lieux/{id}/disable", tag = "lieux", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn disable_lieu(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    set_availability(state, principal, headers, id, false).await
}

/// Enables a disabled lieu again.
#[utoipa::path(post, path = "/v1/lieux/{id}/enable", tag = "lieux", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn enable_lieu(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    set_availability(state, principal, headers, id, true).await
}

/// Every change of a lieu: who, when, which fields.
#[utoipa::path(get, path = "/v1/lieux/{id}/history", tag = "lieux", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = crate::error::Problem)))]
pub async fn lieu_history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    managed_lieu(&state, &principal, path_id(&id, "lieu")?).await?;
    let events = state.store.load_stream("Lieu", &id).await?;
    Ok(Json(history::of::<Lieu>(&events, |l| {
        l.0.as_ref().map_or(Value::Null, |s| {
            json!({"name": s.details.name, "address": s.details.address, "phone": s.details.phone, "availability": s.availability})
        })
    })?))
}
