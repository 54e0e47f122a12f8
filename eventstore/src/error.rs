use thiserror::Error;

/// Failures of the store itself (not of the domain).
#[derive(Debug, Error)]
pub enum StoreError {
    /// Another writer moved one of the streams on since it was loaded.
    #[error("concurrent modification of {aggregate_type} {aggregate_id}")]
    Conflict {
        aggregate_type: String,
        aggregate_id: String,
    },
    /// The same idempotency key was claimed by a concurrent request.
    #[error("idempotency key already used by a concurrent request")]
    IdempotencyRace,
    #[error("stored data could not be decoded: {0}")]
    Corrupt(String),
    /// Personal data of a forgotten usager cannot be written again.
    #[error("the personal data of {0} was erased")]
    Erased(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether a retry with freshly loaded state may succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. } | StoreError::IdempotencyRace)
    }
}

/// SQLite 1555/2067 and PostgreSQL 23505: a unique constraint said no.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("1555" | "2067" | "23505")),
        _ => false,
    }
}
