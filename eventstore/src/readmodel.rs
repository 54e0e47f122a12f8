//! The transaction a projector works in: read-model documents and the
//! projector's checkpoint change together or not at all.
//!
//! Documents read or written in the transaction are kept in memory and the
//! written ones are flushed together (before a listing, the checkpoint and
//! the commit): a batch of events that touches the same documents again
//! and again costs one read per document and a few statements in all,
//! instead of a round trip per read and per write. A projection that knows
//! which documents a batch reads fetches them all in one statement first
//! ([`ProjectionTx::prefetch`]), and listings stay cached until a write
//! touches their collection.
//!
//! Documents are kept as JSON text, typed at the edges: a projection reads
//! its own type straight from the text and writes its type straight to
//! text, with no JSON tree built, cloned and dropped in between (that was
//! a fifth of a rebuild's time).
//!
//! Webhook deliveries a projector queues ([`ProjectionTx::enqueue_delivery`])
//! are written in the same transaction, with the documents.

use crate::{
    backend::Conn,
    delivery_queue::{self, NewDelivery, insert_deliveries},
    error::StoreError,
    rows::timestamp,
    sqlite::sqlite_sql,
};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{Postgres, Transaction};
use std::{
    collections::{BTreeMap, HashMap, hash_map::Entry},
    sync::Arc,
};
use tokio::task::JoinHandle;

/// A document as this transaction sees it (JSON text); `doc: None` is
/// absent or deleted.
struct Cached {
    doc: Option<String>,
    parent: Option<String>,
    dirty: bool,
    stored: Stored,
}

/// Whether the store holds a cached document's row, as of the last write:
/// known from a read, from the projection ([`ProjectionTx::put_new`]) or
/// from a write. A row known absent is written with a plain insert, which
/// costs PostgreSQL a quarter less than an upsert (no search for a
/// conflicting row before the insert), and a row known absent that is
/// deleted is not written at all. Only the projector writes its read
/// model, under its lock, so what it read stays true until it writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stored {
    Yes,
    No,
    Unknown,
}

impl Stored {
    fn from_read(doc: &Option<String>) -> Self {
        match doc {
            Some(_) => Self::Yes,
            None => Self::No,
        }
    }
}

type Key = (String, String, String);

/// Rows per statement when SQLite writes documents (5 parameters a row,
/// well under its 32,766).
const SQLITE_ROWS: usize = 500;

/// PostgreSQL: the documents of a collection (`$1`, `$2`) with the ids
/// `$3`, as (id, text), one index lookup per id. The plain form
/// (`id = ANY($3)`) let the generic plan of a prepared statement, costed
/// on statistics taken when the collection was small, scan the whole
/// collection and filter it: during a rebuild each batch's read grew with
/// the read model (2 s a batch at 200,000 follow-ups). `LIMIT 1` keeps
/// the subquery from being flattened into a join the planner could hash.
pub(crate) const PG_DOCS_WITH_IDS: &str = "SELECT w.id, r.doc::text FROM UNNEST($3::text[]) AS w(id) \
     CROSS JOIN LATERAL (SELECT doc FROM read_models \
     WHERE projection = $1 AND collection = $2 AND id = w.id LIMIT 1) r";

/// The transaction's connection, lent to a task while a flush is written
/// behind ([`ProjectionTx::flush_behind`]): whatever needs it next waits
/// for that write, so statements keep their order.
pub(crate) struct Connection {
    idle: Option<Conn>,
    writing: Option<JoinHandle<(Conn, Result<(), StoreError>)>>,
}

impl Connection {
    /// The connection, once the write behind (if any) is done; its error,
    /// if it failed (the transaction is then lost).
    pub(crate) async fn ready(&mut self) -> Result<&mut Conn, StoreError> {
        if let Some(writing) = self.writing.take() {
            let (conn, written) = writing.await.map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.idle = Some(conn);
            written?;
        }
        self.idle.as_mut().ok_or_else(lost_connection)
    }

    /// The connection, taken once it is ready (to write behind, or to end
    /// the transaction).
    async fn take(&mut self) -> Result<Conn, StoreError> {
        self.ready().await?;
        self.idle.take().ok_or_else(lost_connection)
    }

    /// Writes in a task of its own, on the connection once it is ready.
    async fn write_behind(&mut self, writes: Writes) -> Result<(), StoreError> {
        let mut conn = self.take().await?;
        self.writing = Some(tokio::spawn(async move {
            let written = writes.run(&mut conn).await;
            (conn, written)
        }));
        Ok(())
    }
}

/// A write behind that panicked took the transaction's connection with it.
fn lost_connection() -> StoreError {
    StoreError::Corrupt("the projection transaction lost its connection".into())
}

/// A document row to write: key, parent, JSON text.
type Row = (Key, Option<String>, String);

/// What a flush writes, owned (so that it can be written behind).
#[derive(Default)]
struct Writes {
    /// Rows known absent from the store.
    inserts: Vec<Row>,
    upserts: Vec<Row>,
    deletes: Vec<Key>,
    deliveries: Vec<NewDelivery>,
}

/// PostgreSQL: rows from one array per column.
const PG_INSERT: &str = "INSERT INTO read_models (projection, collection, id, parent, doc) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]::json[])";

impl Writes {
    fn is_empty(&self) -> bool {
        self.inserts.is_empty() && self.upserts.is_empty() && self.deletes.is_empty() && self.deliveries.is_empty()
    }

    /// Files a changed document by what the store holds of it.
    fn add(&mut self, key: Key, doc: Option<String>, parent: Option<String>, stored: Stored) {
        match (doc, stored) {
            (Some(doc), Stored::No) => self.inserts.push((key, parent, doc)),
            (Some(doc), _) => self.upserts.push((key, parent, doc)),
            (None, Stored::No) => {}
            (None, _) => self.deletes.push(key),
        }
    }

    /// On PostgreSQL one statement for the inserts, one for the upserts and
    /// one for the deletions; on SQLite (where an upsert costs what an
    /// insert does) one statement per [`SQLITE_ROWS`] rows (each statement
    /// is a hop to its worker thread). Deliveries first.
    async fn run(mut self, conn: &mut Conn) -> Result<(), StoreError> {
        insert_deliveries(conn, &self.deliveries).await?;
        let (inserts, upserts, deletes) = (&mut self.inserts, &mut self.upserts, &mut self.deletes);
        if matches!(conn, Conn::Sqlite(_)) {
            upserts.append(inserts);
        }
        // Keys in order: each statement visits the index pages once, in
        // order, and upserts lock existing rows in key order.
        inserts.sort_by(|a, b| a.0.cmp(&b.0));
        upserts.sort_by(|a, b| a.0.cmp(&b.0));
        deletes.sort();
        match conn {
            Conn::Sqlite(tx) => {
                for rows in upserts.chunks(SQLITE_ROWS) {
                    let sql = format!(
                        "INSERT INTO read_models (projection, collection, id, parent, doc) VALUES {} \
                         ON CONFLICT (projection, collection, id) DO UPDATE SET parent = excluded.parent, doc = excluded.doc",
                        vec!["(?, ?, ?, ?, ?)"; rows.len()].join(", ")
                    );
                    let mut query = sqlx::query(&sql);
                    for ((projection, collection, id), parent, doc) in rows {
                        query = query.bind(projection).bind(collection).bind(id).bind(parent).bind(doc);
                    }
                    query.execute(&mut **tx).await?;
                }
                // Grouped by collection, so each statement searches the key's index.
                let mut by_collection: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
                for (projection, collection, id) in deletes.iter() {
                    by_collection.entry((projection, collection)).or_default().push(id);
                }
                for ((projection, collection), ids) in by_collection {
                    let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    sqlx::query(
                        "DELETE FROM read_models WHERE projection = ?1 AND collection = ?2 \
                         AND id IN (SELECT value FROM json_each(?3))",
                    )
                    .bind(projection)
                    .bind(collection)
                    .bind(ids)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Conn::Postgres(tx) => {
                pg_write_rows(tx, inserts, PG_INSERT).await?;
                let upsert = format!(
                    "{PG_INSERT} ON CONFLICT (projection, collection, id) DO UPDATE SET parent = excluded.parent, doc = excluded.doc"
                );
                pg_write_rows(tx, upserts, &upsert).await?;
                if !deletes.is_empty() {
                    let column = |f: fn(&Key) -> &str| deletes.iter().map(f).collect::<Vec<_>>();
                    let (projections, collections, ids) = (column(|k| &k.0), column(|k| &k.1), column(|k| &k.2));
                    sqlx::query(
                        "DELETE FROM read_models r USING UNNEST($1::text[], $2::text[], $3::text[]) AS d(p, c, i) \
                         WHERE r.projection = d.p AND r.collection = d.c AND r.id = d.i",
                    )
                    .bind(&projections)
                    .bind(&collections)
                    .bind(&ids)
                    .execute(&mut **tx)
                    .await?;
                }
            }
        }
        Ok(())
    }
}

/// Writes rows with `sql` ([`PG_INSERT`], with or without a conflict clause).
async fn pg_write_rows(tx: &mut Transaction<'static, Postgres>, rows: &[Row], sql: &str) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Row) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    let parents: Vec<Option<&str>> = rows.iter().map(|r| r.1.as_deref()).collect();
    sqlx::query(sql)
        .bind(column(|r| &r.0.0))
        .bind(column(|r| &r.0.1))
        .bind(column(|r| &r.0.2))
        .bind(&parents)
        .bind(column(|r| &r.2))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// PostgreSQL: the documents of a collection with these ids, as (id, text).
async fn pg_documents(
    tx: &mut Transaction<'static, Postgres>,
    (projection, collection): (&str, &str),
    ids: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(sqlx::query_as(PG_DOCS_WITH_IDS)
        .bind(projection)
        .bind(collection)
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?)
}

/// An open projection transaction with its document and listing caches.
pub struct ProjectionTx {
    pub(crate) conn: Connection,
    /// PostgreSQL: where a transaction beside this one is opened when the
    /// projection [holds its documents](Self::hold_documents)...
    pool: Option<sqlx::PgPool>,
    /// ... to read the documents not cached.
    beside: Option<Transaction<'static, Postgres>>,
    cache: HashMap<Key, Cached>,
    /// Listings by (projection, collection, parent), as of the last write
    /// to their collection.
    lists: HashMap<Key, Vec<String>>,
    /// Whether webhook deliveries were queued, and whom to tell once they
    /// are committed.
    queued_deliveries: bool,
    /// Deliveries queued and not yet written ([`Self::write_deliveries`]).
    pending_deliveries: Vec<NewDelivery>,
    deliveries: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Runs one SQL text (with `$N` parameters) on either backend's transaction.
macro_rules! run {
    ($conn:expr, $sql:expr, [$($arg:expr),*], $method:ident) => {
        match $conn {
            Conn::Sqlite(tx) => {
                let sql = sqlite_sql($sql);
                sqlx::query(&sql)$(.bind($arg))*.$method(&mut **tx).await.map(|_| ())
            }
            Conn::Postgres(tx) => sqlx::query($sql)$(.bind($arg))*.$method(&mut **tx).await.map(|_| ()),
        }
    };
}

/// Fetches with one SQL text on either backend's transaction, through
/// `query_scalar` (one column) or `query_as` (a tuple of columns).
macro_rules! fetch {
    ($query:ident, $conn:expr, $sql:expr, [$($arg:expr),*], $method:ident) => {
        match $conn {
            Conn::Sqlite(tx) => {
                let sql = sqlite_sql($sql);
                sqlx::$query(&sql)$(.bind($arg))*.$method(&mut **tx).await
            }
            Conn::Postgres(tx) => sqlx::$query($sql)$(.bind($arg))*.$method(&mut **tx).await,
        }
    };
}

impl ProjectionTx {
    /// `deliveries` is told when this transaction commits deliveries.
    pub(crate) fn new(
        conn: Conn,
        pool: Option<sqlx::PgPool>,
        deliveries: Arc<tokio::sync::watch::Sender<u64>>,
    ) -> Self {
        Self {
            conn: Connection {
                idle: Some(conn),
                writing: None,
            },
            pool,
            beside: None,
            cache: HashMap::new(),
            lists: HashMap::new(),
            queued_deliveries: false,
            pending_deliveries: Vec::new(),
            deliveries,
        }
    }

    /// Documents this transaction holds in memory (read or written): what
    /// a projector bounds a transaction spanning several batches by.
    pub fn documents(&self) -> usize {
        self.cache.len()
    }

    pub(crate) async fn execute(&mut self, sql: &str, name: &str) -> Result<(), StoreError> {
        self.flush().await?;
        run!(self.conn.ready().await?, sql, [name], execute)?;
        self.cache.clear();
        self.lists.clear();
        // What it wrote is no longer held: read in the transaction.
        self.beside = None;
        Ok(())
    }

    fn key(projection: &str, collection: &str, id: &str) -> Key {
        (projection.to_string(), collection.to_string(), id.to_string())
    }

    /// A document as this transaction sees it, read as `T`.
    pub async fn get<T: DeserializeOwned>(
        &mut self,
        projection: &str,
        collection: &str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let key = Self::key(projection, collection, id);
        if !self.cache.contains_key(&key) {
            self.prefetch(projection, collection, [id.to_string()]).await?;
        }
        match self.cache.get(&key).and_then(|cached| cached.doc.as_ref()) {
            Some(text) => parsed(text, (projection, collection, id)).map(Some),
            None => Ok(None),
        }
    }

    /// Reads in one statement those of a collection's documents not in the
    /// cache yet, so that the `get`s of a batch find them there (absent
    /// ones included).
    pub async fn prefetch(
        &mut self,
        projection: &str,
        collection: &str,
        ids: impl IntoIterator<Item = String>,
    ) -> Result<(), StoreError> {
        let mut wanted: Vec<String> = ids
            .into_iter()
            .filter(|id| !self.cache.contains_key(&Self::key(projection, collection, id)))
            .collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let found = self.read_documents(projection, collection, &wanted).await?;
        let mut found: HashMap<String, String> = found.into_iter().collect();
        for id in wanted {
            let doc = found.remove(&id);
            let cached = Cached {
                stored: Stored::from_read(&doc),
                doc,
                parent: None,
                dirty: false,
            };
            self.cache.insert(Self::key(projection, collection, &id), cached);
        }
        Ok(())
    }

    /// Documents of a collection by ids, as (id, text): read beside the
    /// transaction when it [holds its documents](Self::hold_documents), in
    /// it otherwise.
    async fn read_documents(
        &mut self,
        projection: &str,
        collection: &str,
        wanted: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if let Some(beside) = &mut self.beside {
            return pg_documents(beside, (projection, collection), wanted).await;
        }
        Ok(match self.conn.ready().await? {
            Conn::Sqlite(tx) => {
                let list = serde_json::to_string(&wanted).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query_as(
                    "SELECT id, doc FROM read_models WHERE projection = ?1 AND collection = ?2 \
                     AND id IN (SELECT value FROM json_each(?3))",
                )
                .bind(projection)
                .bind(collection)
                .bind(list)
                .fetch_all(&mut **tx)
                .await?
            }
            Conn::Postgres(tx) => pg_documents(tx, (projection, collection), wanted).await?,
        })
    }

    /// A write to a collection makes its cached listings stale.
    fn forget_lists(&mut self, projection: &str, collection: &str) {
        if !self.lists.is_empty() {
            self.lists.retain(|k, _| k.0 != projection || k.1 != collection);
        }
    }

    /// Inserts or replaces a document; `parent` groups documents for listing.
    pub async fn put<T: Serialize + ?Sized>(
        &mut self,
        projection: &str,
        collection: &str,
        id: &str,
        parent: Option<&str>,
        doc: &T,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = Self::key(projection, collection, id);
        self.write(key, Some(text), parent.map(String::from), Stored::Unknown);
        Ok(())
    }

    /// Inserts a document the projection knows the store does not hold
    /// (its key is new, derived from what only this event brings): written
    /// with a plain insert on PostgreSQL, and not at all if deleted before
    /// it is written. Were the projection wrong, the write would fail there
    /// on the key's uniqueness, and the transaction with it (SQLite, which
    /// upserts every row, would replace the row), or a deletion of the key
    /// before the write would leave the stored row in place.
    pub async fn put_new<T: Serialize + ?Sized>(
        &mut self,
        projection: &str,
        collection: &str,
        id: &str,
        doc: &T,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(Self::key(projection, collection, id), Some(text), None, Stored::No);
        Ok(())
    }

    pub async fn delete(&mut self, projection: &str, collection: &str, id: &str) -> Result<(), StoreError> {
        self.write(Self::key(projection, collection, id), None, None, Stored::Unknown);
        Ok(())
    }

    /// Changes a cached document; `stored` is what the store holds of a
    /// document not cached yet (a cached one's is known already).
    fn write(&mut self, key: Key, doc: Option<String>, parent: Option<String>, stored: Stored) {
        self.forget_lists(&key.0, &key.1);
        match self.cache.entry(key) {
            Entry::Occupied(cached) => {
                let cached = cached.into_mut();
                (cached.doc, cached.parent, cached.dirty) = (doc, parent, true);
            }
            Entry::Vacant(absent) => {
                absent.insert(Cached {
                    doc,
                    parent,
                    dirty: true,
                    stored,
                });
            }
        }
    }

    /// Documents of a collection under one parent, in id order, read as `T`.
    pub async fn list<T: DeserializeOwned>(
        &mut self,
        projection: &str,
        collection: &str,
        parent: &str,
    ) -> Result<Vec<T>, StoreError> {
        let key = Self::key(projection, collection, parent);
        if !self.lists.contains_key(&key) {
            self.flush().await?;
            let sql = "SELECT CAST(doc AS TEXT) FROM read_models \
                       WHERE projection = $1 AND collection = $2 AND parent = $3 ORDER BY id";
            let docs: Vec<String> = fetch!(
                query_scalar,
                self.conn.ready().await?,
                sql,
                [projection, collection, parent],
                fetch_all
            )?;
            self.lists.insert(key.clone(), docs);
        }
        let texts = &self.lists[&key];
        texts
            .iter()
            .map(|text| parsed(text, (projection, collection, parent)))
            .collect()
    }

    /// Documents of a collection with ids strictly between `from` and `to`,
    /// in id order, read as `T` (see [`crate::EventStore::docs_between`]).
    pub async fn list_between<T: DeserializeOwned>(
        &mut self,
        projection: &str,
        collection: &str,
        (from, to): (&str, &str),
    ) -> Result<Vec<T>, StoreError> {
        self.flush().await?;
        let sql = "SELECT id, CAST(doc AS TEXT) FROM read_models \
                   WHERE projection = $1 AND collection = $2 AND id > $3 AND id < $4 ORDER BY id";
        let rows: Vec<(String, String)> = fetch!(
            query_as,
            self.conn.ready().await?,
            sql,
            [projection, collection, from, to],
            fetch_all
        )?;
        rows.iter()
            .map(|(id, text)| parsed(text, (projection, collection, id)))
            .collect()
    }

    /// Writes every changed document (and the deliveries queued) before
    /// whatever comes next on the connection.
    async fn flush(&mut self) -> Result<(), StoreError> {
        let writes = self.take_writes();
        writes.run(self.conn.ready().await?).await
    }

    /// Starts writing every changed document in a task of its own and
    /// returns: a projector applies its next batch meanwhile, instead of
    /// waiting for the database's work on this one (on PostgreSQL most of
    /// a rebuild's time). The next statement on the connection waits for
    /// the write, and reports its error.
    pub async fn flush_behind(&mut self) -> Result<(), StoreError> {
        let writes = self.take_writes();
        if writes.is_empty() {
            return Ok(());
        }
        self.conn.write_behind(writes).await
    }

    /// The projection keeps every document this transaction reads or writes
    /// in memory until the commit (it never [forgets](Self::forget_unchanged)
    /// them): a document not cached is then one this transaction has not
    /// written, and on PostgreSQL it is read beside the transaction, in a
    /// read-only transaction of its own, as committed (the projector is its
    /// read model's only writer: a second projector process and a reset
    /// wait for its lock). Reads then no longer wait for the documents
    /// written behind on the transaction's connection. Returns whether
    /// they do so (not on SQLite, whose reads and writes share a thread).
    pub async fn hold_documents(&mut self) -> Result<bool, StoreError> {
        let Some(pool) = &self.pool else {
            return Ok(false);
        };
        let mut beside = pool.begin().await?;
        // Keyed reads stay on the index, as in the transaction.
        sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *beside).await?;
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *beside)
            .await?;
        self.beside = Some(beside);
        Ok(true)
    }

    /// Changed documents not written yet.
    pub fn unwritten(&self) -> usize {
        self.cache.values().filter(|c| c.dirty).count()
    }

    /// Forgets the documents read or written but not changed since the last
    /// flush, keeping the transaction's memory to what a batch touches; a
    /// document forgotten is read again (after any write behind) if needed.
    pub fn forget_unchanged(&mut self) {
        debug_assert!(
            self.beside.is_none(),
            "a transaction holding its documents forgets none"
        );
        self.cache.retain(|_, cached| cached.dirty);
    }

    /// Queues a delivery with the projector's checkpoint. It is written with
    /// the transaction's other deliveries (one statement on PostgreSQL)
    /// before the checkpoint moves.
    pub async fn enqueue_delivery(&mut self, d: &NewDelivery) -> Result<(), StoreError> {
        self.pending_deliveries.push(d.clone());
        self.queued_deliveries = true;
        Ok(())
    }

    /// Writes the deliveries queued so far.
    pub(crate) async fn write_deliveries(&mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending_deliveries);
        insert_deliveries(self.conn.ready().await?, &pending).await
    }

    /// The changed documents and queued deliveries, taken to be written
    /// (the documents stay cached, unchanged from then on).
    fn take_writes(&mut self) -> Writes {
        let mut writes = Writes {
            deliveries: std::mem::take(&mut self.pending_deliveries),
            ..Writes::default()
        };
        for (key, cached) in self.cache.iter_mut().filter(|(_, c)| c.dirty) {
            writes.add(key.clone(), cached.doc.clone(), cached.parent.clone(), cached.stored);
            cached.dirty = false;
            cached.stored = Stored::from_read(&cached.doc);
        }
        writes
    }

    /// The same, the last time: the documents move out of the cache.
    fn take_last_writes(&mut self) -> Writes {
        let mut writes = Writes {
            deliveries: std::mem::take(&mut self.pending_deliveries),
            ..Writes::default()
        };
        for (key, cached) in std::mem::take(&mut self.cache) {
            if cached.dirty {
                writes.add(key, cached.doc, cached.parent, cached.stored);
            }
        }
        writes
    }

    /// Takes the projector's lock for this transaction and returns its
    /// checkpoint. Two processes running the same projector then take turns
    /// instead of applying a batch twice or moving the checkpoint backwards.
    /// (SQLite has a single writer: the transaction is the lock.)
    pub async fn lock_checkpoint(&mut self, name: &str) -> Result<i64, StoreError> {
        if let Conn::Postgres(tx) = self.conn.ready().await? {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('projector:' || $1, 0))")
                .bind(name)
                .execute(&mut **tx)
                .await?;
        }
        let sql = "SELECT position FROM projection_checkpoints WHERE name = $1";
        let position: Option<i64> = fetch!(query_scalar, self.conn.ready().await?, sql, [name], fetch_optional)?;
        Ok(position.unwrap_or(0))
    }

    /// Moves the projector's checkpoint and clears any previous error (the
    /// documents not written yet go with the commit).
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
        match self.conn.ready().await? {
            Conn::Sqlite(tx) => {
                let sql = sqlite_sql(sql);
                let q = sqlx::query(&sql).bind(name);
                let q = match (position, error) {
                    (Some(p), _) => q.bind(p),
                    (None, e) => q.bind(e),
                };
                q.bind(timestamp(now)).execute(&mut **tx).await?;
            }
            Conn::Postgres(tx) => {
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

    pub async fn commit(mut self) -> Result<(), StoreError> {
        let writes = self.take_last_writes();
        writes.run(self.conn.ready().await?).await?;
        match self.conn.take().await? {
            Conn::Sqlite(tx) => tx.commit().await?,
            Conn::Postgres(mut tx) => {
                if self.queued_deliveries {
                    // Relays in other processes listen (delivered at commit).
                    sqlx::query(delivery_queue::NOTIFY).execute(&mut *tx).await?;
                }
                tx.commit().await?
            }
        }
        if self.queued_deliveries {
            self.deliveries.send_modify(|n| *n += 1);
        }
        Ok(())
    }
}

/// A cached document's text read as `T`; a document that does not read is
/// named in the error.
fn parsed<T: DeserializeOwned>(text: &str, (projection, collection, id): (&str, &str, &str)) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{projection} {collection} {id}: {e}")))
}
