//! Webhook endpoints of an organisation, managed by agents with the
//! territory's webhooks right. The secret is generated here, shown once in
//! the creation (or rotation) answer, and stored only sealed.

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
use rdv_domain::rights::Permission;
use rdv_domain::{
    DomainError, FieldError,
    ids::OrganisationId,
    webhook_endpoint::{
        EndpointConfig, SealedSecret, WebhookEndpoint, WebhookEndpointCommand, WebhookFormat, WebhookModel,
    },
};
use rdv_eventstore::deliveries::{AttemptRow, DeliveryRow, DeliveryStatus};
use rdv_projections::webhooks::{self, EndpointView};
use rdv_webhook_relay::{signing::WebhookSecret, target};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
pub struct EndpointRequest {
    /// https, to a public address (see `RDV_WEBHOOK_ALLOW_HOSTS`).
    target_url: String,
    /// Default: `rdv`, `absence`, `plage_ouverture` (as RDV Service Public).
    subscriptions: Option<BTreeSet<WebhookModel>>,
    #[serde(default)]
    format: WebhookFormat,
    description: Option<String>,
    /// Seconds: 0 for the first attempt, then the wait before each retry
    /// (at most 20 entries, each at most 7 days). Absent or null: the
    /// relay's default (`RDV_WEBHOOK_RETRY_SCHEDULE`).
    retry_schedule: Option<Vec<f64>>,
}

/// Checks the target (SSRF guard) and builds the configuration.
async fn config_of(state: &AppState, r: EndpointRequest) -> Result<EndpointConfig, ApiError> {
    let vetted = target::vet(&r.target_url, &state.webhook_allow).await;
    if let Err(error) = vetted {
        return Err(DomainError::invalid_fields(vec![FieldError::new("target_url", error.to_string())]).into());
    }
    Ok(EndpointConfig {
        target_url: r.target_url,
        subscriptions: r
            .subscriptions
            .unwrap_or_else(|| [WebhookModel::Rdv, WebhookModel::Absence, WebhookModel::PlageOuverture].into()),
        format: r.format,
        description: r.description.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()),
        retry_schedule: r.retry_schedule,
    })
}

/// The answer carrying a secret shown this once.
fn with_secret(
    status: StatusCode,
    id: Uuid,
    secret: String,
) -> impl Fn(&(), &rdv_eventstore::CommitSummary<'_>) -> rdv_eventstore::StoredResponse + Send + Sync {
    reply(
        status,
        "WebhookEndpoint",
        move |_| id.to_string(),
        move |_| json!({"secret": secret}),
    )
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
    let (organisation_id, org) = organisation(&state, &id).await?;
    principal.require_territory_visibility(org.territory_id, "organisation")?;
    principal.require(Permission::ManageWebhooks, Place::Territory(org.territory_id))?;
    let config = config_of(&state, body.value).await?;
    let secret = WebhookSecret::generate();
    let command = WebhookEndpointCommand::CreateWebhookEndpoint {
        organisation_id,
        config,
        secret: SealedSecret(state.master_key.seal(secret.as_str())),
    };
    let endpoint_id = Uuid::now_v7();
    let ctx = principal.context(
        &headers,
        &format!("POST /v1/organisations/{id}/webhook-endpoints"),
        &body.hash,
    );
    let respond = with_secret(StatusCode::CREATED, endpoint_id, secret.as_str().to_string());
    let outcome = state
        .commands
        .execute::<WebhookEndpoint, _>(&ctx, &endpoint_id.to_string(), command, None, respond)
        .await?;
    Ok(CommandReply(outcome))
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

/// The endpoint, after checking the caller manages its territory's webhooks.
async fn managed(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<(Uuid, rdv_domain::webhook_endpoint::EndpointState), ApiError> {
    let endpoint_id: Uuid = path_id(id, "webhook endpoint")?;
    let endpoint = state.load::<WebhookEndpoint>(id).await?;
    let endpoint = endpoint
        .state()
        .map_err(|_| ApiError::not_found("webhook endpoint"))?
        .clone();
    let (_, org) = organisation(state, &endpoint.organisation_id.to_string()).await?;
    principal.require_territory_visibility(org.territory_id, "webhook endpoint")?;
    principal.require(Permission::ManageWebhooks, Place::Territory(org.territory_id))?;
    Ok((endpoint_id, endpoint))
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
    let (endpoint_id, endpoint) = managed(&state, &principal, &id).await?;
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
    let (_, endpoint) = managed(&state, &principal, &id).await?;
    let request = JsonBody::<EndpointRequest>::patched(json!(endpoint.config), body.value)?;
    let config = config_of(&state, request).await?;
    let ctx = principal.context(&headers, &format!("PATCH /v1/webhook-endpoints/{id}"), &body.hash);
    let command = WebhookEndpointCommand::UpdateWebhookEndpoint { config };
    state
        .command::<WebhookEndpoint>(&ctx, &id, command, headers.if_match, StatusCode::OK)
        .await
}

/// Runs a body-less command on an endpoint its caller manages.
async fn endpoint_command(
    state: &AppState,
    principal: &Principal,
    headers: &CommandHeaders,
    id: &str,
    method: &str,
    suffix: &str,
    command: WebhookEndpointCommand,
) -> Result<CommandReply, ApiError> {
    managed(state, principal, id).await?;
    let ctx = principal.context(headers, &format!("{method} /v1/webhook-endpoints/{id}{suffix}"), "");
    state
        .command::<WebhookEndpoint>(&ctx, id, command, None, StatusCode::OK)
        .await
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
    let command = WebhookEndpointCommand::DeleteWebhookEndpoint;
    endpoint_command(&state, &principal, &headers, &id, "DELETE", "", command).await
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
    let (endpoint_id, _) = managed(&state, &principal, &id).await?;
    let secret = WebhookSecret::generate();
    let command = WebhookEndpointCommand::RotateWebhookSecret {
        secret: SealedSecret(state.master_key.seal(secret.as_str())),
    };
    let ctx = principal.context(&headers, &format!("POST /v1/webhook-endpoints/{id}/rotate-secret"), "");
    let respond = with_secret(StatusCode::OK, endpoint_id, secret.as_str().to_string());
    let outcome = state
        .commands
        .execute::<WebhookEndpoint, _>(&ctx, &id, command, None, respond)
        .await?;
    Ok(CommandReply(outcome))
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
    let command = WebhookEndpointCommand::EnableWebhookEndpoint;
    endpoint_command(&state, &principal, &headers, &id, "POST", "/enable", command).await
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
    let command = WebhookEndpointCommand::DisableWebhookEndpoint {
        reason: "disabled by an agent".into(),
    };
    endpoint_command(&state, &principal, &headers, &id, "POST", "/disable", command).await
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
    managed(&state, &principal, &id).await?;
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
    managed(state, principal, &delivery.endpoint_id).await?;
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
    managed(&state, &principal, &id).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let until = q.until.map_or(i64::MAX, |u| u.timestamp_millis());
    let count = state.store.replay(&id, q.since.timestamp_millis(), until, now).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"deliveries": count}))))
}
