//! Webhook endpoints of an organisation and their deliveries, managed by
//! agents with the territory's webhooks right ([`rdv_app::webhooks`]).

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
use rdv_app::webhooks::{
    CreateWebhookEndpoint, EndpointChanged, EndpointRequest, RotateWebhookSecret, Switch, SwitchWebhookEndpoint,
    UpdateWebhookEndpoint, managed_endpoint,
};
use rdv_domain::rights::Permission;
use rdv_domain::{DomainError, ids::OrganisationId};
use rdv_eventstore::deliveries::{AttemptRow, DeliveryRow, DeliveryStatus};
use rdv_eventstore::{CommitSummary, StoredResponse};
use rdv_projections::webhooks::{self, EndpointView};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

/// The answer of an endpoint command, with its secret when one was made
/// (shown this once).
fn endpoint_changed(
    status: StatusCode,
) -> impl Fn(&EndpointChanged, &CommitSummary<'_>) -> StoredResponse + Send + Sync {
    reply(
        status,
        "WebhookEndpoint",
        |c: &EndpointChanged| c.endpoint_id.to_string(),
        |c| match &c.secret {
            Some(secret) => json!({"secret": secret}),
            None => json!({}),
        },
    )
}

/// An endpoint id of the path.
fn endpoint_id(id: &str) -> Result<Uuid, ApiError> {
    path_id(id, "webhook endpoint")
}

/// Creates a webhook endpoint; the answer holds its secret (`whsec_…`),
/// shown only this once.
#[utoipa::path(post, path = "/v1/organisations/{id}/webhook-endpoints", tag = "webhooks", params(("id" = String, Path)),
    request_body = EndpointRequest, security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer, description = "with `secret`"), (status = 403, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn create_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<EndpointRequest>,
) -> Result<CommandReply, ApiError> {
    let command = CreateWebhookEndpoint {
        organisation_id: path_id(&id, "organisation")?,
        endpoint: body.value,
    };
    let path = format!("POST /v1/organisations/{id}/webhook-endpoints");
    let ctx = principal.context(&headers, &path, &body.hash);
    let respond = endpoint_changed(StatusCode::CREATED);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// The webhook endpoints of an organisation (never their secrets).
#[utoipa::path(get, path = "/v1/organisations/{id}/webhook-endpoints", tag = "webhooks",
    params(("id" = String, Path), super::territories::MinPosition), security(("bearer" = [])),
    responses((status = 200, body = Vec<EndpointView>)))]
pub async fn list_endpoints(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<super::territories::MinPosition>,
) -> Result<Json<Vec<EndpointView>>, ApiError> {
    let (_, org) = organisation(&state, &id).await?;
    principal.require_territory_visibility(org.territory_id, "organisation")?;
    principal.require(Permission::ManageWebhooks, Place::Territory(org.territory_id))?;
    state.wait_for(webhooks::NAME, q.min_position).await?;
    let docs = state.store.docs(webhooks::NAME, webhooks::ENDPOINTS, &id).await?;
    Ok(Json(
        docs.into_iter()
            .filter_map(|d| serde_json::from_value(d).ok())
            .collect(),
    ))
}

fn view(id: Uuid, organisation_id: OrganisationId, e: &rdv_domain::webhook_endpoint::EndpointState) -> EndpointView {
    EndpointView {
        id,
        organisation_id: organisation_id.0,
        config: e.config.clone(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
    }
}

/// A webhook endpoint (never its secret).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = EndpointView), (status = 404, body = crate::error::Problem)))]
pub async fn get_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let endpoint_id = endpoint_id(&id)?;
    let endpoint = managed_endpoint(&state, &principal, endpoint_id).await?;
    Ok(Json(view(endpoint_id, endpoint.organisation_id, &endpoint)))
}

/// Changes an endpoint: a JSON merge patch of `{target_url, subscriptions,
/// format, description, retry_schedule}`; the target is checked again.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", params(("id" = String, Path)),
    request_body(content = Object, description = "JSON merge patch"), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn update_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<Value>,
) -> Result<CommandReply, ApiError> {
    let endpoint_id = endpoint_id(&id)?;
    let endpoint = managed_endpoint(&state, &principal, endpoint_id).await?;
    let command = UpdateWebhookEndpoint {
        endpoint_id,
        endpoint: JsonBody::<EndpointRequest>::patched(json!(endpoint.config), body.value)?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("PATCH /v1/webhook-endpoints/{id}"), &body.hash);
    let respond = endpoint_changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Enables, disables or deletes an endpoint its caller manages.
async fn switch(
    state: &AppState,
    principal: &Principal,
    headers: &CommandHeaders,
    (method, id, suffix): (&str, &str, &str),
    switch: Switch,
) -> Result<CommandReply, ApiError> {
    let command = SwitchWebhookEndpoint {
        endpoint_id: endpoint_id(id)?,
        switch,
    };
    let ctx = principal.context(headers, &format!("{method} /v1/webhook-endpoints/{id}{suffix}"), "");
    let respond = endpoint_changed(StatusCode::OK);
    Ok(CommandReply(command.run(state, principal, &ctx, respond).await?))
}

/// Deletes an endpoint: nothing more is sent to it.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    switch(&state, &principal, &headers, ("DELETE", &id, ""), Switch::Delete).await
}

/// A new secret, shown once; the previous one still signs for 24 hours.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer, description = "with `secret`")))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let command = RotateWebhookSecret {
        endpoint_id: endpoint_id(&id)?,
    };
    let ctx = principal.context(&headers, &format!("POST /v1/webhook-endpoints/{id}/rotate-secret"), "");
    let respond = endpoint_changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Turns deliveries back on.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/enable", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer)))]
pub async fn enable_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    switch(&state, &principal, &headers, ("POST", &id, "/enable"), Switch::Enable).await
}

/// Stops deliveries until enabled again.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/disable", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = CommandAnswer)))]
pub async fn disable_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    switch(&state, &principal, &headers, ("POST", &id, "/disable"), Switch::Disable).await
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct DeliveryFilter {
    /// `pending`, `succeeded`, `failed` (to be retried) or `dead`.
    status: Option<String>,
}

/// An endpoint's deliveries, oldest first (at most 500).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), DeliveryFilter), security(("bearer" = [])),
    responses((status = 200, body = Vec<DeliveryRow>), (status = 422, body = crate::error::Problem)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<DeliveryFilter>,
) -> Result<Json<Vec<DeliveryRow>>, ApiError> {
    managed_endpoint(&state, &principal, endpoint_id(&id)?).await?;
    let status = match q.status.as_deref() {
        None => None,
        Some("pending") => Some(DeliveryStatus::Pending),
        Some("succeeded") => Some(DeliveryStatus::Succeeded),
        Some("failed") => Some(DeliveryStatus::Failed),
        Some("dead") => Some(DeliveryStatus::Dead),
        Some(_) => {
            return Err(DomainError::invalid("status", "one of pending, succeeded, failed, dead").into());
        }
    };
    Ok(Json(state.store.deliveries_of(&id, status, 500).await?))
}

/// A delivery with each of its attempts.
#[derive(serde::Serialize, ToSchema)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    delivery: DeliveryRow,
    attempts: Vec<AttemptRow>,
}

/// The delivery, after checking the caller manages its endpoint.
async fn managed_delivery(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(DeliveryRow, Vec<AttemptRow>), ApiError> {
    let (delivery, attempts) = state
        .store
        .delivery(id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    managed_endpoint(state, principal, endpoint_id(&delivery.endpoint_id)?).await?;
    Ok((delivery, attempts))
}

/// A delivery and its attempts (time, status code, duration, error, the
/// response body up to 4 KB).
#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 200, body = DeliveryDetail), (status = 404, body = crate::error::Problem)))]
pub async fn get_delivery(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let (delivery, attempts) = managed_delivery(&state, &principal, &id).await?;
    Ok(Json(DeliveryDetail { delivery, attempts }))
}

/// Sends a delivery again now, with the same body and `webhook-id`.
#[utoipa::path(post, path = "/v1/deliveries/{id}/redeliver", tag = "webhooks", params(("id" = String, Path)),
    security(("bearer" = [])), responses((status = 202), (status = 404, body = crate::error::Problem)))]
pub async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    managed_delivery(&state, &principal, &id).await?;
    state
        .store
        .redeliver(&id, chrono::Utc::now().timestamp_millis())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ReplayRange {
    /// RFC 3339; deliveries of events that occurred from this instant...
    #[param(value_type = String)]
    since: chrono::DateTime<chrono::FixedOffset>,
    /// ...until this one (excluded; default: now).
    #[param(value_type = Option<String>)]
    until: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// Sends a time range again: every delivery of the endpoint for events in
/// `[since, until)`, with their original `webhook-id`s and bodies (a
/// consumer that kept them drops the duplicates).
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/replay", tag = "webhooks", params(("id" = String, Path), ReplayRange),
    security(("bearer" = [])), responses((status = 202, description = "`{\"deliveries\": N}`")))]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<ReplayRange>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    managed_endpoint(&state, &principal, endpoint_id(&id)?).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let until = q.until.map_or(i64::MAX, |u| u.timestamp_millis());
    let count = state.store.replay(&id, q.since.timestamp_millis(), until, now).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"deliveries": count}))))
}
