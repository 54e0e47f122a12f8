//! The transaction a projector works in: read-model documents and the
//! projector's checkpoint change together or not at all.

use crate::{error::StoreError, rows::timestamp, sqlite::sqlite_sql};
use serde_json::Value;
use sqlx::{Postgres, Sqlite, Transaction, types::Json};

/// An open projection transaction on either backend.
pub enum ProjectionTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs one SQL text (with `$N` parameters) on either backend's transaction.
macro_rules! run {
    ($tx:expr, $sql:expr, [$($arg:expr),*], $method:ident) => {
        match $tx {
            ProjectionTx::Sqlite(tx) => {
                let sql = sqlite_sql($sql);
                sqlx::query(&sql)$(.bind($arg))*.$method(&mut **tx).await.map(|_| ())
            }
            ProjectionTx::Postgres(tx) => sqlx::query($sql)$(.bind($arg))*.$method(&mut **tx).await.map(|_| ()),
        }
    };
}

macro_rules! scalar {
    ($tx:expr, $sql:expr, [$($arg:expr),*], $method:ident) => {
        match $tx {
            ProjectionTx::Sqlite(tx) => {
                let sql = sqlite_sql($sql);
                sqlx::query_scalar(&sql)$(.bind($arg))*.$method(&mut **tx).await
            }
            ProjectionTx::Postgres(tx) => sqlx::query_scalar($sql)$(.bind($arg))*.$method(&mut **tx).await,
        }
    };
}

impl ProjectionTx {
    pub(crate) async fn execute(&mut self, sql: &str, name: &str) -> Result<(), StoreError> {
        run!(self, sql, [name], execute)?;
        Ok(())
    }

    pub async fn get(&mut self, projection: &str, collection: &str, id: &str) -> Result<Option<Value>, StoreError> {
        let sql = "SELECT doc FROM read_models WHERE projection = $1 AND collection = $2 AND id = $3";
        let doc: Option<Json<Value>> = scalar!(self, sql, [projection, collection, id], fetch_optional)?;
        Ok(doc.map(|Json(v)| v))
    }

    /// Inserts or replaces a document; `parent` groups documents for listing.
    pub async fn put(
        &mut self,
        projection: &str,
        collection: &str,
        id: &str,
        parent: Option<&str>,
        doc: &Value,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO read_models (projection, collection, id, parent, doc) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (projection, collection, id) DO UPDATE SET parent = excluded.parent, doc = excluded.doc";
        run!(self, sql, [projection, collection, id, parent, Json(doc)], execute)?;
        Ok(())
    }

    pub async fn delete(&mut self, projection: &str, collection: &str, id: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM read_models WHERE projection = $1 AND collection = $2 AND id = $3";
        run!(self, sql, [projection, collection, id], execute)?;
        Ok(())
    }

    /// Documents of a collection under one parent, in id order.
    pub async fn list(&mut self, projection: &str, collection: &str, parent: &str) -> Result<Vec<Value>, StoreError> {
        let sql = "SELECT doc FROM read_models WHERE projection = $1 AND collection = $2 AND parent = $3 ORDER BY id";
        let docs: Vec<Json<Value>> = scalar!(self, sql, [projection, collection, parent], fetch_all)?;
        Ok(docs.into_iter().map(|Json(v)| v).collect())
    }

    /// Takes the projector's lock for this transaction and returns its
    /// checkpoint. Two processes running the same projector then take turns
    /// instead of applying a batch twice or moving the checkpoint backwards.
    /// (SQLite has a single writer: the transaction is the lock.)
    pub async fn lock_checkpoint(&mut self, name: &str) -> Result<i64, StoreError> {
        if let ProjectionTx::Postgres(tx) = self {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('projector:' || $1, 0))")
                .bind(name)
                .execute(&mut **tx)
                .await?;
        }
        let sql = "SELECT position FROM projection_checkpoints WHERE name = $1";
        let position: Option<i64> = scalar!(self, sql, [name], fetch_optional)?;
        Ok(position.unwrap_or(0))
    }

    /// Moves the projector's checkpoint and clears any previous error.
    pub async fn set_checkpoint(&mut self, name: &str, position: i64) -> Result<(), StoreError> {
        let sql = "INSERT INTO projection_checkpoints (name, position, error, updated_at) VALUES ($1, $2, NULL, $3) \
                   ON CONFLICT (name) DO UPDATE SET position = excluded.position, error = NULL, updated_at = excluded.updated_at";
        self.upsert_checkpoint(sql, name, Some(position), None).await
    }

    pub(crate) async fn record_error(&mut self, name: &str, error: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO projection_checkpoints (name, position, error, updated_at) VALUES ($1, 0, $2, $3) \
                   ON CONFLICT (name) DO UPDATE SET error = excluded.error, updated_at = excluded.updated_at";
        self.upsert_checkpoint(sql, name, None, Some(error)).await
    }

    async fn upsert_checkpoint(
        &mut self,
        sql: &str,
        name: &str,
        position: Option<i64>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = chrono::Utc::now();
        match self {
            ProjectionTx::Sqlite(tx) => {
                let sql = sqlite_sql(sql);
                let q = sqlx::query(&sql).bind(name);
                let q = match (position, error) {
                    (Some(p), _) => q.bind(p),
                    (None, e) => q.bind(e),
                };
                q.bind(timestamp(now)).execute(&mut **tx).await?;
            }
            ProjectionTx::Postgres(tx) => {
                let q = sqlx::query(sql).bind(name);
                let q = match (position, error) {
                    (Some(p), _) => q.bind(p),
                    (None, e) => q.bind(e),
                };
                q.bind(now).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            ProjectionTx::Sqlite(tx) => tx.commit().await?,
            ProjectionTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
