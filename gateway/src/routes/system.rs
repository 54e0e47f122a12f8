use crate::{error::ApiError, state::AppState};
use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`
    status: &'static str,
    /// `sqlite` or `postgres`.
    store: &'static str,
    /// Position of the last readable event.
    position: i64,
}

/// Liveness and the store's head position.
#[utoipa::path(get, path = "/health", tag = "system", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let position = state.store.head().await?;
    Ok(Json(Health {
        status: "ok",
        store: state.store.kind(),
        position,
    }))
}
