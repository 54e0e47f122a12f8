//! The two databases a store can run on, each in one type: the store and
//! the keyring of usagers' personal data (whose keys live in the same
//! database) work on either through [`Backend`], and what writes in a
//! projection's transaction (documents, checkpoints, webhook deliveries)
//! through [`Conn`].

use crate::{postgres::PostgresBackend, sqlite::SqliteBackend};
use sqlx::{Postgres, Sqlite, Transaction};

/// A store's database: SQLite (embedded) or PostgreSQL (distributed).
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite(SqliteBackend),
    Postgres(PostgresBackend),
}

/// An open transaction on either backend.
pub(crate) enum Conn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}
