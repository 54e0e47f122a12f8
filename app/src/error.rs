//! What a use case can fail with, typed: the gateway maps each kind to its
//! HTTP status and problem body, another entry point to its own words.

use rdv_domain::DomainError;
use rdv_eventstore::{CommandError, StoreError};
use rdv_projections::ProjectionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule of the domain refused (invalid field, not found, conflict,
    /// gone, forbidden).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The command service refused (stale version, idempotency key reused,
    /// lost races) or its store failed.
    #[error(transparent)]
    Command(CommandError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    /// The slot an usager asked for is not offered, or was taken meanwhile:
    /// here are the next ones they could book instead.
    #[error("{message}")]
    SlotTaken {
        message: String,
        next_slots: Vec<crate::slot_views::SlotView>,
    },
    /// A read model is behind or stopped: try again shortly.
    #[error("{0}")]
    NotReady(String),
    /// A failure of ours (a record that cannot be read back, say).
    #[error("{0}")]
    Internal(String),
}

impl From<CommandError> for Error {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Domain(d) => Error::Domain(d),
            other => Error::Command(other),
        }
    }
}

impl Error {
    pub fn not_found(what: &str) -> Self {
        Error::Domain(DomainError::not_found(what))
    }
}

impl Error {
    /// A failure of ours; logged here, since the caller gets no details.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Error::Internal(detail.to_string())
    }
}
