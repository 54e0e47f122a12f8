//! The espace's settings over HTTP: one PUT per setting, run by
//! [`rdv_app::territories::ConfigureEspace`]; the read and the history.

use super::territories::MinPosition;
use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, JsonBody, Query, path_id},
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
use rdv_app::territories::{ConfigureEspace, EspaceSetting};
use rdv_domain::rights::Permission;
use rdv_domain::{
    ids::TerritoryId,
    territory::{EspaceSettings, RdvFieldSettings, Territory, UsagerFieldSettings, WaitingRoomSettings},
};
use rdv_projections::configuration;
use serde_json::Value;

/// The espace's settings: usager fields, RDV fields, waiting room. Anyone
/// working in the territory reads them (forms depend on them).
#[utoipa::path(get, path = "/v1/territories/{id}/settings", tag = "settings", params(("id" = String, Path), MinPosition),
    security(("bearer" = [])), responses((status = 200, body = EspaceSettings), (status = 404, body = crate::error::Problem)))]
pub async fn get_settings(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
) -> Result<Json<EspaceSettings>, ApiError> {
    let territory: TerritoryId = path_id(&id, "territory")?;
    principal.require_territory_visibility(territory, "territory")?;
    principal.require(Permission::ReadTerritoryCatalogue, Place::Territory(territory))?;
    state.load::<Territory>(&id).await?.state()?;
    state.wait_for(configuration::NAME, q.min_position).await?;
    let doc = state
        .store
        .doc(configuration::NAME, configuration::SETTINGS, &id)
        .await?;
    Ok(Json(
        doc.and_then(|d| serde_json::from_value(d).ok()).unwrap_or_default(),
    ))
}

async fn configure(
    state: AppState,
    principal: Principal,
    headers: CommandHeaders,
    id: String,
    (route, hash): (&str, &str),
    setting: EspaceSetting,
) -> Result<CommandReply, ApiError> {
    let command = ConfigureEspace {
        territory_id: path_id(&id, "territory")?,
        setting,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("PUT /v1/territories/{id}/settings/{route}"), hash);
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// Which standard usager fields forms show, and the espace's custom fields.
/// Hiding or removing a field never deletes usagers' stored values.
#[utoipa::path(put, path = "/v1/territories/{id}/settings/usager-fields", tag = "settings", params(("id" = String, Path)),
    request_body = UsagerFieldSettings, security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn put_usager_fields(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<UsagerFieldSettings>,
) -> Result<CommandReply, ApiError> {
    let command = EspaceSetting::UsagerFields(body.value);
    configure(state, principal, headers, id, ("usager-fields", &body.hash), command).await
}

/// Turns the internal "Contexte" field of RDVs on or off (values are kept).
#[utoipa::path(put, path = "/v1/territories/{id}/settings/rdv-fields", tag = "settings", params(("id" = String, Path)),
    request_body = RdvFieldSettings, security(("bearer" = [])), responses((status = 200, body = CommandAnswer)))]
pub async fn put_rdv_fields(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<RdvFieldSettings>,
) -> Result<CommandReply, ApiError> {
    let command = EspaceSetting::RdvFields(body.value);
    configure(state, principal, headers, id, ("rdv-fields", &body.hash), command).await
}

/// How the salle d'attente notifies: a colour on the agenda and/or an e-mail.
#[utoipa::path(put, path = "/v1/territories/{id}/settings/waiting-room", tag = "settings", params(("id" = String, Path)),
    request_body = WaitingRoomSettings, security(("bearer" = [])), responses((status = 200, body = CommandAnswer)))]
pub async fn put_waiting_room(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<WaitingRoomSettings>,
) -> Result<CommandReply, ApiError> {
    let command = EspaceSetting::WaitingRoom(body.value);
    configure(state, principal, headers, id, ("waiting-room", &body.hash), command).await
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct ClosedDaysRequest {
    /// Local days (`YYYY-MM-DD`) the whole espace is closed.
    days: std::collections::BTreeSet<chrono::NaiveDate>,
}

/// The espace's own closed days (a local holiday, a bridge day): no slot is
/// offered on them, as on public holidays.
#[utoipa::path(put, path = "/v1/territories/{id}/settings/closed-days", tag = "settings", params(("id" = String, Path)),
    request_body = ClosedDaysRequest, security(("bearer" = [])), responses((status = 200, body = CommandAnswer)))]
pub async fn put_closed_days(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<ClosedDaysRequest>,
) -> Result<CommandReply, ApiError> {
    let command = EspaceSetting::ClosedDays(body.value.days);
    configure(state, principal, headers, id, ("closed-days", &body.hash), command).await
}

/// Every change of the espace's settings: who, when, which fields.
#[utoipa::path(get, path = "/v1/territories/{id}/settings/history", tag = "settings", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<HistoryEntry>)))]
pub async fn settings_history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let territory: TerritoryId = path_id(&id, "territory")?;
    principal.require_territory_visibility(territory, "territory")?;
    principal.require(Permission::ConfigureTerritory, Place::Territory(territory))?;
    let events = state.store.load_stream("Territory", &id).await?;
    Ok(Json(history::of::<Territory>(&events, |t| {
        t.0.as_ref().map_or(Value::Null, |s| {
            serde_json::to_value(&s.settings).unwrap_or(Value::Null)
        })
    })?))
}
