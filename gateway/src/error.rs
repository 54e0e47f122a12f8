//! One error type for every handler, rendered as RFC 9457 problem+json.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use rdv_domain::{DomainError, ErrorKind, FieldError};
use rdv_eventstore::{CommandError, StoreError};
use rdv_projections::ProjectionError;
use serde::Serialize;
use utoipa::ToSchema;

/// A problem+json body (RFC 9457), with `errors[]` naming each bad field.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A relative URI naming the kind of problem, e.g. `/problems/validation`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
    /// Extension members (RFC 9457 §3.2), e.g. `next_slots` on a taken slot.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

/// Every way a request can fail.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    extensions: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            slug,
            detail: detail.into(),
            errors: Vec::new(),
            extensions: Default::default(),
        }
    }

    /// Adds an extension member to the problem body.
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(key.into(), value);
        self
    }

    /// The body is not JSON at all (400).
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed-request", detail)
    }

    /// A header or query parameter that cannot be read (400).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// One or more fields are wrong (422).
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            errors,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail)
        }
    }

    /// The body is over the size limit (413).
    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", format!("{what} not found"))
    }

    /// A read model did not reach the requested position in time (503).
    /// A 409: the state moved on under the request (a lost race).
    pub fn is_conflict(&self) -> bool {
        self.status == StatusCode::CONFLICT
    }

    pub fn not_ready(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", detail)
    }

    /// A failure of ours, without details for the caller.
    pub fn internal_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred",
        )
    }

    /// A failure of ours: logged with `detail`, which the caller never sees.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred",
        )
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let (status, slug) = match e.kind {
            ErrorKind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "validation"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not-found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::Gone => (StatusCode::GONE, "gone"),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        };
        Self {
            errors: e.errors,
            ..Self::new(status, slug, e.message)
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(sqlx::Error::PoolTimedOut) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unavailable",
                "the event store is overloaded",
            ),
            StoreError::Erased(_) => Self::new(
                StatusCode::GONE,
                "gone",
                "this usager's personal data was erased (RGPD)",
            ),
            other => Self::internal(other),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Domain(d) => d.into(),
            CommandError::PreconditionFailed { .. } => {
                Self::new(StatusCode::PRECONDITION_FAILED, "precondition-failed", e.to_string())
            }
            CommandError::Conflict => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            CommandError::IdempotencyMismatch => Self {
                errors: vec![FieldError::new("Idempotency-Key", e.to_string())],
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency-key-reused",
                    e.to_string(),
                )
            },
            CommandError::Store(s) => s.into(),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        Self::internal(e)
    }
}

impl From<rdv_app::Error> for ApiError {
    fn from(e: rdv_app::Error) -> Self {
        match e {
            rdv_app::Error::Domain(e) => e.into(),
            rdv_app::Error::Command(e) => e.into(),
            rdv_app::Error::Store(e) => e.into(),
            rdv_app::Error::Projection(e) => e.into(),
            rdv_app::Error::SlotTaken { message, next_slots } => {
                Self::from(DomainError::conflict(message)).with("next_slots", serde_json::json!(next_slots))
            }
            rdv_app::Error::NotReady(detail) => Self::not_ready(detail),
            rdv_app::Error::Internal(_) => Self::internal_error(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("/problems/{}", self.slug),
            title: self.title().into(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self
                .errors
                .into_iter()
                .map(|e| ProblemField {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
            extensions: self.extensions,
        };
        let mut response = (self.status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
