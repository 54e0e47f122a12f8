//! Motifs over HTTP: configuration (a merge patch on update), archiving,
//! enabling per organisation through [`rdv_app::motifs`]; lists, reads
//! and history.

use super::organisations::organisation;
use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, JsonBody, Query, path_id},
    reply::{CommandAnswer, CommandReply, reply},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use rdv_app::caller::Place;
use rdv_app::history::{self, HistoryEntry};
use rdv_app::motifs::{ConfigureMotif, MotifChanged, SetMotifArchived, SetMotifEnabled, visible_motif};
use rdv_domain::rights::Permission;
use rdv_domain::{
    ids::MotifId,
    motif::{LocationType, Motif, MotifConfig},
    values::ServiceKind,
};
use rdv_eventstore::{CommitSummary, StoredResponse};
use rdv_projections::configuration::{self, MotifView};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

/// The answer of a motif command, with its setup warnings.
fn motif_changed(status: StatusCode) -> impl Fn(&MotifChanged, &CommitSummary<'_>) -> StoredResponse + Send + Sync {
    reply(
        status,
        "Motif",
        |c: &MotifChanged| c.motif_id.to_string(),
        |c| {
            let warnings: Vec<Value> = c
                .setup_warnings
                .iter()
                .map(|(field, message)| json!({"code": "convocation_motif_setup", "field": field, "message": message}))
                .collect();
            json!({"warnings": warnings})
        },
    )
}

/// Creates a motif of the territory (its three tabs and the organisations
/// where it is enabled). Territorial configuration right.
#[utoipa::path(post, path = "/v1/territories/{id}/motifs", tag = "motifs", params(("id" = String, Path)),
    request_body = MotifConfig, security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn create_motif(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<MotifConfig>,
) -> Result<CommandReply, ApiError> {
    let command = ConfigureMotif {
        territory_id: path_id(&id, "territory")?,
        motif_id: None,
        config: body.value,
        if_match: None,
    };
    let ctx = principal.context(&headers, &format!("POST /v1/territories/{id}/motifs"), &body.hash);
    let respond = motif_changed(StatusCode::CREATED);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Changes a motif: the body is a JSON merge patch (RFC 7396) of its
/// configuration, e.g. `{"booking": {"bookable_by": "everyone"}}`.
#[utoipa::path(patch, path = "/v1/motifs/{id}", tag = "motifs", params(("id" = String, Path)),
    request_body(content = Object, description = "JSON merge patch of the motif's configuration"), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 412, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_motif(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<Value>,
) -> Result<CommandReply, ApiError> {
    let motif_id: MotifId = path_id(&id, "motif")?;
    let motif = visible_motif(&state, &principal, motif_id).await?;
    let current = serde_json::to_value(&motif.config).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let command = ConfigureMotif {
        territory_id: motif.territory_id,
        motif_id: Some(motif_id),
        config: JsonBody::<MotifConfig>::patched(current, body.value)?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("PATCH /v1/motifs/{id}"), &body.hash);
    let respond = motif_changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

async fn archive_or_restore(
    state: AppState,
    principal: Principal,
    headers: CommandHeaders,
    id: String,
    archived: bool,
) -> Result<CommandReply, ApiError> {
    let command = SetMotifArchived {
        motif_id: path_id(&id, "motif")?,
        archived,
        if_match: headers.if_match,
    };
    let verb = if archived { "archive" } else { "restore" };
    let ctx = principal.context(&headers, &format!("POST /v1/motifs/{id}/{verb}"), "");
    let respond = motif_changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Archives a motif: no longer offered, kept for history; its name is free again.
#[utoipa::path(post, path = "/v1/motifs/{id}/archive", tag = "motifs", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn archive_motif(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    archive_or_restore(state, principal, headers, id, true).await
}

/// Restores an archived motif (422 if another motif took its name meanwhile).
#[utoipa::path(post, path = "/v1/motifs/{id}/restore", tag = "motifs", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn restore_motif(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    archive_or_restore(state, principal, headers, id, false).await
}

async fn set_enabled(
    state: AppState,
    principal: Principal,
    headers: CommandHeaders,
    (organisation, motif): (String, String),
    enabled: bool,
) -> Result<CommandReply, ApiError> {
    let command = SetMotifEnabled {
        organisation_id: path_id(&organisation, "organisation")?,
        motif_id: path_id(&motif, "motif")?,
        enabled,
        if_match: headers.if_match,
    };
    let verb = if enabled { "enable" } else { "disable" };
    let path = format!("POST /v1/organisations/{organisation}/motifs/{motif}/{verb}");
    let ctx = principal.context(&headers, &path, "");
    let respond = motif_changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Enables a territory motif in this organisation (organisation admin).
#[utoipa::path(post, path = "/v1/organisations/{id}/motifs/{motif_id}/enable", tag = "motifs",
    params(("id" = String, Path), ("motif_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn enable_motif(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(ids): Path<(String, String)>,
) -> Result<CommandReply, ApiError> {
    set_enabled(state, principal, headers, ids, true).await
}

/// Disables a motif in this organisation (organisation admin).
#[utoipa::path(post, path = "/v1/organisations/{id}/motifs/{motif_id}/disable", tag = "motifs",
    params(("id" = String, Path), ("motif_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn disable_motif(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(ids): Path<(String, String)>,
) -> Result<CommandReply, ApiError> {
    set_enabled(state, principal, headers, ids, false).await
}

#[derive(Deserialize, IntoParams)]
pub struct MotifFilters {
    /// `true`: only motifs not archived; `false`: only archived ones.
    active: Option<bool>,
    /// `true`: only motifs usagers may book online (everyone or invited usagers).
    bookable_publicly: Option<bool>,
    service_id: Option<ServiceKind>,
    location_type: Option<LocationType>,
    min_position: Option<i64>,
}

/// The motifs enabled in an organisation, filtered.
#[utoipa::path(get, path = "/v1/organisations/{id}/motifs", tag = "motifs", params(("id" = String, Path), MotifFilters),
    security(("bearer" = [])), responses((status = 200, body = Vec<MotifView>)))]
pub async fn list_motifs(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MotifFilters>,
) -> Result<Json<Vec<MotifView>>, ApiError> {
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require(
        Permission::ReadOrganisationCatalogue,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    state.wait_for(configuration::NAME, q.min_position).await?;
    let docs = state
        .store
        .docs(configuration::NAME, configuration::ORGANISATION_MOTIFS, &id)
        .await?;
    let mut motifs: Vec<MotifView> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect();
    motifs.retain(|m| {
        let info = &m.config.informations;
        q.active.is_none_or(|active| active != m.archived)
            && q.bookable_publicly
                .is_none_or(|public| public == m.config.booking.bookable_by.is_public())
            && q.service_id.is_none_or(|s| s == info.service)
            && q.location_type.is_none_or(|l| l == info.location_type)
    });
    motifs.sort_by(|a, b| {
        a.config
            .informations
            .name
            .cmp(&b.config.informations.name)
            .then(a.id.cmp(&b.id))
    });
    Ok(Json(motifs))
}

/// Query of a motif: read-your-writes, or the motif as of an instant.
#[derive(Deserialize, utoipa::IntoParams)]
pub struct MotifQuery {
    min_position: Option<i64>,
    /// RFC 3339: the motif as it stood then (its events until then).
    as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// A motif with its whole configuration, now or as of an instant.
#[utoipa::path(get, path = "/v1/motifs/{id}", tag = "motifs", params(("id" = String, Path), MotifQuery),
    security(("bearer" = [])), responses((status = 200, body = MotifView), (status = 404, body = crate::error::Problem)))]
pub async fn get_motif(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MotifQuery>,
) -> Result<Json<MotifView>, ApiError> {
    let motif_id: MotifId = path_id(&id, "motif")?;
    visible_motif(&state, &principal, motif_id).await?;
    if q.as_of.is_some() {
        let then = state
            .load_as_of::<Motif>(&id, q.as_of)
            .await?
            .0
            .ok_or_else(|| ApiError::not_found("motif as of this instant"))?;
        return Ok(Json(MotifView {
            id: motif_id.0,
            territory_id: then.territory_id.0,
            archived: then.archived,
            config: then.config,
        }));
    }
    state.wait_for(configuration::NAME, q.min_position).await?;
    let doc = state.store.doc(configuration::NAME, configuration::MOTIFS, &id).await?;
    let doc = doc.ok_or_else(|| ApiError::not_ready("the motif is not projected yet; retry with min_position"))?;
    Ok(Json(
        serde_json::from_value(doc).map_err(|e| ApiError::not_ready(e.to_string()))?,
    ))
}

/// Every change of a motif: who, when, which fields (territorial configuration right).
#[utoipa::path(get, path = "/v1/motifs/{id}/history", tag = "motifs", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = crate::error::Problem)))]
pub async fn motif_history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let motif = visible_motif(&state, &principal, path_id(&id, "motif")?).await?;
    principal.require(Permission::ConfigureTerritory, Place::Territory(motif.territory_id))?;
    let events = state.store.load_stream("Motif", &id).await?;
    Ok(Json(history::of::<Motif>(&events, |m| {
        m.0.as_ref()
            .map_or(Value::Null, |s| json!({"archived": s.archived, "config": s.config}))
    })?))
}
