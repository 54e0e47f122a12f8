//! Organisations over HTTP: creation and changes through
//! [`rdv_app::organisations`], reads from the directory projection.

use super::territories::MinPosition;
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
use rdv_app::organisations::{CreateOrganisation, UpdateOrganisation};
use rdv_domain::rights::Permission;
use rdv_domain::{
    ids::{OrganisationId, TerritoryId},
    organisation::{OrganisationDetails, OrganisationPatch, OrganisationState},
    values::{Email, Text, TimeZone},
};
use rdv_projections::directory::{self, OrganisationView};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct CreateOrganisationRequest {
    name: Option<String>,
    address: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    website: Option<String>,
    opening_hours: Option<String>,
    /// IANA name; the territory's when absent.
    timezone: Option<String>,
}

/// Optional free text: trimmed, and blank means absent.
fn free_text(raw: Option<String>) -> Option<String> {
    raw.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Creates an organisation in a territory.
#[utoipa::path(post, path = "/v1/territories/{id}/organisations", tag = "organisations", params(("id" = String, Path)),
    request_body = CreateOrganisationRequest, security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_organisation(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<CreateOrganisationRequest>,
) -> Result<CommandReply, ApiError> {
    let territory_id: TerritoryId = path_id(&id, "territory")?;
    let r = body.value;
    let mut form = Form::default();
    let name = form.required("name", r.name.as_deref(), Text::parse);
    let email = form.optional("email", free_text(r.email).as_deref(), Email::parse);
    let timezone = form.optional("timezone", r.timezone.as_deref(), TimeZone::parse);
    let phone = form.contact_phone("phone", r.phone);
    let command = form.finish(|| {
        Some(CreateOrganisation {
            territory_id,
            timezone: timezone?,
            details: OrganisationDetails {
                name: name?,
                address: free_text(r.address),
                phone: phone?,
                email: email?,
                website: free_text(r.website),
                opening_hours: free_text(r.opening_hours),
            },
        })
    })?;
    let ctx = principal.context(
        &headers,
        &format!("POST /v1/territories/{id}/organisations"),
        &body.hash,
    );
    let respond = changed(StatusCode::CREATED);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// The organisations of a territory.
#[utoipa::path(get, path = "/v1/territories/{id}/organisations", tag = "organisations", params(("id" = String, Path), MinPosition),
    security(("bearer" = [])), responses((status = 200, body = Vec<OrganisationView>)))]
pub async fn list_organisations(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
) -> Result<Json<Vec<OrganisationView>>, ApiError> {
    let territory_id: TerritoryId = path_id(&id, "territory")?;
    principal.require(Permission::ConfigureTerritory, Place::Territory(territory_id))?;
    state.wait_for(directory::NAME, q.min_position).await?;
    let docs = state.store.docs(directory::NAME, directory::ORGANISATIONS, &id).await?;
    Ok(Json(
        docs.into_iter()
            .filter_map(|d| serde_json::from_value(d).ok())
            .collect(),
    ))
}

/// Loads an organisation for a rights check; 404 when it does not exist.
pub async fn organisation(state: &AppState, id: &str) -> Result<(OrganisationId, OrganisationState), ApiError> {
    let organisation_id: OrganisationId = path_id(id, "organisation")?;
    Ok((organisation_id, state.organisation(organisation_id).await?))
}

/// An organisation.
#[utoipa::path(get, path = "/v1/organisations/{id}", tag = "organisations", params(("id" = String, Path), MinPosition),
    security(("bearer" = [])), responses((status = 200, body = OrganisationView), (status = 404, body = crate::error::Problem)))]
pub async fn get_organisation(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
) -> Result<Json<OrganisationView>, ApiError> {
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require(
        Permission::ReadOrganisation,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    state.wait_for(directory::NAME, q.min_position).await?;
    let doc = state
        .store
        .doc(directory::NAME, directory::ORGANISATIONS, &id)
        .await?
        .ok_or_else(|| ApiError::not_ready("the organisation is not projected yet; retry with min_position"))?;
    Ok(Json(
        serde_json::from_value(doc).map_err(|e| ApiError::not_ready(e.to_string()))?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateOrganisationRequest {
    name: Option<String>,
    #[serde(default, deserialize_with = "rdv_domain::values::present")]
    #[schema(value_type = Option<String>)]
    address: Option<Option<String>>,
    #[serde(default, deserialize_with = "rdv_domain::values::present")]
    #[schema(value_type = Option<String>)]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "rdv_domain::values::present")]
    #[schema(value_type = Option<String>)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "rdv_domain::values::present")]
    #[schema(value_type = Option<String>)]
    website: Option<Option<String>>,
    #[serde(default, deserialize_with = "rdv_domain::values::present")]
    #[schema(value_type = Option<String>)]
    opening_hours: Option<Option<String>>,
}

/// Changes an organisation; absent fields stay, `null` clears.
#[utoipa::path(patch, path = "/v1/organisations/{id}", tag = "organisations", params(("id" = String, Path)),
    request_body = UpdateOrganisationRequest, security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 412, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn update_organisation(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<UpdateOrganisationRequest>,
) -> Result<CommandReply, ApiError> {
    let organisation_id: OrganisationId = path_id(&id, "organisation")?;
    let r = body.value;
    let mut form = Form::default();
    let name = form.optional("name", r.name.as_deref(), Text::parse);
    let email = match r.email {
        Some(raw) => form
            .optional("email", free_text(raw).as_deref(), Email::parse)
            .map(Some),
        None => Some(None),
    };
    let text = |raw: Option<Option<String>>| raw.map(free_text);
    let phone = r.phone.map(|p| form.contact_phone("phone", p));
    let command = form.finish(|| {
        Some(UpdateOrganisation {
            organisation_id,
            if_match: headers.if_match,
            patch: OrganisationPatch {
                name: name?,
                address: text(r.address),
                phone: match phone {
                    Some(phone) => Some(phone?),
                    None => None,
                },
                email: email?,
                website: text(r.website),
                opening_hours: text(r.opening_hours),
            },
        })
    })?;
    let ctx = principal.context(&headers, &format!("PATCH /v1/organisations/{id}"), &body.hash);
    let respond = changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}
