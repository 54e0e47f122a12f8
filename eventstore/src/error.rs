//! What the store can fail with, and which failures are worth a retry.

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

    /// Whether the database was out of reach rather than refusing: a
    /// connection failed or was lost, the pool had none to give in time,
    /// the server was shutting down, starting or full, or it chose the
    /// transaction as a deadlock's victim. The same work may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => true,
            StoreError::Database(sqlx::Error::Database(db)) => db.code().is_some_and(|code| {
                // PostgreSQL: connection exceptions (class 08), shutdowns
                // and start-up (57P01–57P03), too many connections,
                // serialization failures and deadlocks; SQLite: busy.
                code.starts_with("08")
                    || matches!(
                        code.as_ref(),
                        "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" | "5"
                    )
            }),
            _ => false,
        }
    }
}

/// SQLite 1555/2067 and PostgreSQL 23505: a unique constraint said no.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("1555" | "2067" | "23505")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_transient_and_bad_data_is_not() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(StoreError::Database(sqlx::Error::Io(io)).is_transient());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_transient());
        assert!(!StoreError::Corrupt("bad".into()).is_transient());
        assert!(!StoreError::Erased("usager".into()).is_transient());
    }
}
