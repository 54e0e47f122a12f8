//! Crypto-shredding of usagers' personal data (RGPD).
//!
//! Before an append, the personal fields of each event that has some (the
//! domain names them: [`rdv_domain::usager::personal`]) are replaced by one
//! `sealed` string, encrypted with the usager's own data key; the keys live
//! in `data_keys`, wrapped by the master key. Every read of events opens
//! them again, so aggregates, projectors, the relay and auditors see plain
//! events. Forgetting the usager destroys the key (a tombstone row stays, so
//! no key is ever made for them again): from then on the same events read
//! with the fields erased, and the stored bytes, which the hash chain
//! covers, never change.

use crate::{
    error::StoreError,
    model::{AppendRequest, StoredEvent},
    readmodel::{Conn, ProjectionTx},
    sealing::{DataKey, MasterKey},
    sqlite::sqlite_sql,
    store::Backend,
};
use rdv_domain::usager::personal::{PERSONAL_FIELDS, erase_in, erased_value, sealed_part};
use serde_json::{Map, Value};
use std::{borrow::Cow, collections::HashMap};

/// The key of the sealed personal fields inside an event's sealed part.
const SEALED: &str = "sealed";
/// Set beside the erased fields once the key is gone, for readers of raw events.
const ERASED: &str = "erased";

/// The master key, and the store whose `data_keys` table holds the wrapped
/// data keys (a replay into a scratch store reads its source's keys).
#[derive(Debug, Clone)]
pub(crate) struct Keyring {
    master: MasterKey,
    keys: Backend,
}

/// Stored keys by subject: `Some(wrapped)` when live, `None` once destroyed.
type StoredKeys = HashMap<String, Option<String>>;

impl Keyring {
    pub(crate) fn new(master: MasterKey, keys: Backend) -> Self {
        Self { master, keys }
    }

    async fn stored(&self, subjects: &[&str]) -> Result<StoredKeys, StoreError> {
        let rows: Vec<(String, Option<String>)> = match &self.keys {
            Backend::Sqlite(b) => {
                let list = serde_json::to_string(subjects).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query_as(
                    "SELECT subject, wrapped FROM data_keys WHERE subject IN (SELECT value FROM json_each(?1))",
                )
                .bind(list)
                .fetch_all(&b.reader)
                .await?
            }
            Backend::Postgres(b) => {
                sqlx::query_as("SELECT subject, wrapped FROM data_keys WHERE subject = ANY($1)")
                    .bind(subjects)
                    .fetch_all(&b.pool)
                    .await?
            }
        };
        Ok(rows.into_iter().collect())
    }

    fn unwrap(&self, subject: &str, wrapped: &str) -> Result<DataKey, StoreError> {
        self.master
            .unwrap_data_key(wrapped, subject)
            .map_err(|_| StoreError::Corrupt(format!("the data key of {subject} does not open with this master key")))
    }

    /// The subject's key, made on first use; an error once destroyed.
    async fn key_for_writing(&self, subject: &str) -> Result<DataKey, StoreError> {
        if let Some(found) = self.stored(&[subject]).await?.remove(subject) {
            return self.live(subject, found);
        }
        let (_, wrapped) = self.master.new_data_key(subject);
        let sql =
            "INSERT INTO data_keys (subject, wrapped, created_at) VALUES ($1, $2, $3) ON CONFLICT (subject) DO NOTHING";
        let now = chrono::Utc::now().timestamp_millis();
        match &self.keys {
            Backend::Sqlite(b) => {
                sqlx::query(&sqlite_sql(sql))
                    .bind(subject)
                    .bind(&wrapped)
                    .bind(now)
                    .execute(&b.writer)
                    .await?;
            }
            Backend::Postgres(b) => {
                sqlx::query(sql)
                    .bind(subject)
                    .bind(&wrapped)
                    .bind(now)
                    .execute(&b.pool)
                    .await?;
            }
        }
        // Another writer may have made the key first: use the stored one.
        match self.stored(&[subject]).await?.remove(subject) {
            Some(found) => self.live(subject, found),
            None => Err(StoreError::Corrupt(format!("the data key of {subject} was not kept"))),
        }
    }

    fn live(&self, subject: &str, found: Option<String>) -> Result<DataKey, StoreError> {
        match found {
            Some(wrapped) => self.unwrap(subject, &wrapped),
            None => Err(StoreError::Erased(subject.to_string())),
        }
    }
}

/// The sealed part of an event, if it has one, as a mutable object.
fn part<'a>(aggregate_type: &str, event_type: &str, payload: &'a mut Value) -> Option<&'a mut Map<String, Value>> {
    payload
        .pointer_mut(sealed_part(aggregate_type, event_type)?)?
        .as_object_mut()
}

/// The request with its personal fields sealed; the request itself when no
/// event has any.
pub(crate) async fn seal<'a>(
    keyring: Option<&Keyring>,
    request: &'a AppendRequest,
) -> Result<Cow<'a, AppendRequest>, StoreError> {
    let personal = |s: &crate::model::StreamAppend| {
        s.events
            .iter()
            .any(|e| sealed_part(&s.aggregate_type, &e.event_type).is_some())
    };
    if !request.streams.iter().any(personal) {
        return Ok(Cow::Borrowed(request));
    }
    let keyring =
        keyring.ok_or_else(|| StoreError::Corrupt("personal data is stored only with a master key".into()))?;
    let mut sealed = request.clone();
    for stream in sealed.streams.iter_mut().filter(|s| personal(s)) {
        let key = keyring.key_for_writing(&stream.aggregate_id).await?;
        for event in &mut stream.events {
            let Some(part) = part(&stream.aggregate_type, &event.event_type, &mut event.payload) else {
                continue;
            };
            let fields: Map<String, Value> = PERSONAL_FIELDS
                .iter()
                .filter_map(|f| part.remove(*f).map(|v| (f.to_string(), v)))
                .collect();
            let plain = serde_json::to_vec(&fields).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            part.insert(SEALED.into(), Value::String(key.seal(&plain, &stream.aggregate_id)));
        }
    }
    Ok(Cow::Owned(sealed))
}

/// Opens the sealed parts of `events` in place: the fields come back, or
/// read as erased where the usager's key was destroyed.
pub(crate) async fn open(keyring: Option<&Keyring>, events: &mut [StoredEvent]) -> Result<(), StoreError> {
    let mut subjects: Vec<&str> = events
        .iter()
        .filter(|e| sealed_part(&e.aggregate_type, &e.event_type).is_some())
        .map(|e| e.aggregate_id.as_str())
        .collect();
    if subjects.is_empty() {
        return Ok(());
    }
    subjects.sort_unstable();
    subjects.dedup();
    let keyring = keyring.ok_or_else(|| StoreError::Corrupt("personal data is read only with a master key".into()))?;
    let stored = keyring.stored(&subjects).await?;
    let mut keys: HashMap<String, Option<DataKey>> = HashMap::new();
    for (subject, wrapped) in &stored {
        let key = wrapped.as_deref().map(|w| keyring.unwrap(subject, w)).transpose()?;
        keys.insert(subject.clone(), key);
    }
    for event in events.iter_mut() {
        let subject = event.aggregate_id.clone();
        let position = event.position;
        let Some(part) = part(&event.aggregate_type, &event.event_type, &mut event.payload) else {
            continue;
        };
        // Events written before sealing existed hold their fields in clear.
        let Some(Value::String(sealed)) = part.remove(SEALED) else {
            continue;
        };
        match keys.get(&subject) {
            Some(Some(key)) => {
                let plain = key.open(&sealed, &subject).map_err(|_| {
                    StoreError::Corrupt(format!("the personal data at position {position} does not open"))
                })?;
                let fields: Map<String, Value> =
                    serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                part.extend(fields);
            }
            Some(None) => {
                part.extend(PERSONAL_FIELDS.iter().map(|f| (f.to_string(), erased_value(f))));
                part.insert(ERASED.into(), Value::Bool(true));
            }
            None => {
                return Err(StoreError::Corrupt(format!(
                    "no data key for the personal data at position {position}"
                )));
            }
        }
    }
    Ok(())
}

impl ProjectionTx {
    /// Destroys a subject's data key for good (a tombstone stays so none is
    /// made again) and deletes the messages sent to them. (Saved idempotent
    /// answers hold ids only, never a profile.)
    pub async fn forget_subject(&mut self, subject: &str, now_ms: i64) -> Result<(), StoreError> {
        self.flush().await?;
        let destroy = "INSERT INTO data_keys (subject, wrapped, created_at, destroyed_at) VALUES ($1, NULL, $2, $2) \
                       ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, \
                       destroyed_at = COALESCE(data_keys.destroyed_at, excluded.destroyed_at)";
        let outbox = "DELETE FROM outbox WHERE subject = $1";
        match &mut self.conn {
            Conn::Sqlite(tx) => {
                sqlx::query(&sqlite_sql(destroy))
                    .bind(subject)
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(&sqlite_sql(outbox))
                    .bind(subject)
                    .execute(&mut **tx)
                    .await?;
            }
            Conn::Postgres(tx) => {
                sqlx::query(destroy)
                    .bind(subject)
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(outbox).bind(subject).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Erases a forgotten usager's personal fields from webhook bodies
    /// (delivered or not): the dispatch projector does it in feed order, so
    /// no body it writes later can bring them back.
    pub async fn erase_from_deliveries(&mut self, subject: &str) -> Result<(), StoreError> {
        self.flush().await?;
        let select = "SELECT id, body FROM webhook_deliveries WHERE body LIKE $1";
        let like = format!("%{subject}%");
        let found: Vec<(String, String)> = match &mut self.conn {
            Conn::Sqlite(tx) => {
                sqlx::query_as(&sqlite_sql(select))
                    .bind(&like)
                    .fetch_all(&mut **tx)
                    .await?
            }
            Conn::Postgres(tx) => sqlx::query_as(select).bind(&like).fetch_all(&mut **tx).await?,
        };
        let update = "UPDATE webhook_deliveries SET body = $1 WHERE id = $2";
        for (id, body) in found {
            let mut value: Value = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if !erase_in(&mut value, subject) {
                continue;
            }
            match &mut self.conn {
                Conn::Sqlite(tx) => {
                    sqlx::query(&sqlite_sql(update))
                        .bind(value.to_string())
                        .bind(&id)
                        .execute(&mut **tx)
                        .await?;
                }
                Conn::Postgres(tx) => {
                    sqlx::query(update)
                        .bind(value.to_string())
                        .bind(&id)
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
        Ok(())
    }
}
