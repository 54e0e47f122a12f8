//! `/health`, `/ready` and `/metrics`: what operators and orchestrators
//! ask a process.

use crate::{error::ApiError, state::AppState};
use axum::{Json, extract::State};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Where one projection stands.
#[derive(Serialize, ToSchema)]
pub struct ProjectionHealth {
    position: i64,
    /// Why the projector stopped, if it did.
    error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    status: &'static str,
    /// `sqlite` or `postgres`.
    store: &'static str,
    /// Position of the last readable event.
    position: i64,
    /// Each projection's checkpoint, and its error if its projector stopped.
    projections: BTreeMap<&'static str, ProjectionHealth>,
}

/// Liveness, the store's head position and each projection's progress.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let position = state.store.head().await?;
    let mut projections = BTreeMap::new();
    for projection in rdv_projections::all() {
        let (position, error) = state.store.checkpoint(projection.name()).await?;
        projections.insert(projection.name(), ProjectionHealth { position, error });
    }
    Ok(Json(Health {
        status: "ok",
        store: state.store.kind(),
        position,
        projections,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Ready {
    /// `ready`
    status: &'static str,
    /// `ok`
    store: &'static str,
    /// `ok`, or `not configured` without `NATS_URL`.
    nats: &'static str,
}

/// Readiness, distinct from liveness: 200 only while the store answers and,
/// when `NATS_URL` is set, NATS is connected; 503 otherwise (a load
/// balancer sends nothing to this process meanwhile).
#[utoipa::path(get, path = "/ready", tag = "system", responses((status = 200, body = Ready)))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let nats = crate::observability::readiness(&state.store, state.nats.as_ref())
        .await
        .map_err(ApiError::not_ready)?;
    Ok(Json(Ready {
        status: "ready",
        store: "ok",
        nats,
    }))
}

/// This process's counters and histograms and the deployment's gauges, in
/// the Prometheus text format: commands and queries by route and outcome
/// with their latency, each projection's position and lag, the publisher's
/// lag, webhook deliveries by outcome and the relay's queue depth, database
/// connections. Labels never hold personal data.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    crate::observability::metrics_response(&state.store, state.nats.as_ref()).await
}
