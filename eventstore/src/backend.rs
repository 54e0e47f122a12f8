//! The two databases a store can run on, in one type: the store works on
//! either through it, and so does the keyring of usagers' personal data,
//! whose keys live in the same database.

use crate::{postgres::PostgresBackend, sqlite::SqliteBackend};

/// A store's database: SQLite (embedded) or PostgreSQL (distributed).
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite(SqliteBackend),
    Postgres(PostgresBackend),
}
