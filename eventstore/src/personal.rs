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
    backend::{Backend, Conn},
    error::StoreError,
    model::{AppendRequest, NewDataKey, StoredEvent},
    readmodel::ProjectionTx,
    sealing::{DataKey, MasterKey},
    sqlite::sqlite_sql,
};
use rdv_domain::usager::personal::{PERSONAL_FIELDS, erase_in, erased_value, sealed_part};
use serde_json::{Map, Value};
use std::{
    borrow::Cow,
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

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
    /// Keys this process sealed with, by subject. Only writes use it: a key
    /// destroyed meanwhile by another process would seal data nobody can
    /// read any more, which is what forgetting wants anyway (and the
    /// forgotten usager's aggregate refuses commands first). Reads always
    /// ask the table, so a destroyed key never opens anything.
    sealing_keys: Arc<Mutex<HashMap<String, DataKey>>>,
}

/// Sealing keys kept; past this the cache starts over.
const SEALING_KEYS_KEPT: usize = 100_000;

/// How a store treats personal data.
#[derive(Debug, Clone, Default)]
pub(crate) enum Sealing {
    /// No master key: personal data is neither written nor read.
    #[default]
    Refused,
    Keys(Keyring),
    /// Stored in clear: only the benchmark measuring what sealing costs
    /// runs this way.
    Clear,
}

/// Stored keys by subject: `Some(wrapped)` when live, `None` once destroyed.
type StoredKeys = HashMap<String, Option<String>>;

impl Keyring {
    pub(crate) fn new(master: MasterKey, keys: Backend) -> Self {
        Self {
            master,
            keys,
            sealing_keys: Arc::default(),
        }
    }

    fn sealing_keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, DataKey>> {
        self.sealing_keys.lock().unwrap_or_else(PoisonError::into_inner)
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

    fn unwrap_key(&self, subject: &str, wrapped: &str) -> Result<DataKey, StoreError> {
        self.master
            .unwrap_data_key(wrapped, subject)
            .map_err(|_| StoreError::Corrupt(format!("the data key of {subject} does not open with this master key")))
    }

    /// The subject's key, and its wrapped form when it is new (stored by
    /// the append that uses it, so a failed append leaves no key behind);
    /// an error once destroyed.
    /// A new stream (`new_stream`) needs a new key: none can exist for a
    /// record that does not (and if one did, storing the new one fails and
    /// the command is retried).
    async fn key_for_writing(&self, subject: &str, new_stream: bool) -> Result<(DataKey, Option<String>), StoreError> {
        if let Some(key) = self.sealing_keys().get(subject) {
            return Ok((key.clone(), None));
        }
        let found = match new_stream {
            true => None,
            false => self.stored(&[subject]).await?.remove(subject),
        };
        match found {
            Some(found) => {
                let key = self.live(subject, found)?;
                self.keep(subject, key.clone());
                Ok((key, None))
            }
            None => {
                let (key, wrapped) = self.master.new_data_key(subject);
                Ok((key, Some(wrapped)))
            }
        }
    }

    fn keep(&self, subject: &str, key: DataKey) {
        let mut kept = self.sealing_keys();
        if kept.len() >= SEALING_KEYS_KEPT {
            kept.clear();
        }
        kept.insert(subject.to_string(), key);
    }

    fn live(&self, subject: &str, found: Option<String>) -> Result<DataKey, StoreError> {
        match found {
            Some(wrapped) => self.unwrap_key(subject, &wrapped),
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
    sealing: &Sealing,
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
    let keyring = match sealing {
        Sealing::Keys(keyring) => keyring,
        Sealing::Clear => return Ok(Cow::Borrowed(request)),
        Sealing::Refused => {
            return Err(StoreError::Corrupt(
                "personal data is stored only with a master key".into(),
            ));
        }
    };
    let mut sealed = request.clone();
    for stream in sealed.streams.iter_mut().filter(|s| personal(s)) {
        let new_stream = stream.expected_version == 0;
        let (key, new) = keyring.key_for_writing(&stream.aggregate_id, new_stream).await?;
        if let Some(wrapped) = new {
            sealed.data_keys.push(NewDataKey {
                subject: stream.aggregate_id.clone(),
                wrapped,
            });
        }
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

/// Keeps the keys an append just stored for the next writes.
pub(crate) fn stored_keys(sealing: &Sealing, appended: &AppendRequest) {
    let Sealing::Keys(keyring) = sealing else { return };
    for new in &appended.data_keys {
        if let Ok(key) = keyring.unwrap_key(&new.subject, &new.wrapped) {
            keyring.keep(&new.subject, key);
        }
    }
}

/// Opens the sealed parts of `events` in place: the fields come back, or
/// read as erased where the usager's key was destroyed.
pub(crate) async fn open(sealing: &Sealing, events: &mut [StoredEvent]) -> Result<(), StoreError> {
    let mut subjects: Vec<&str> = events
        .iter()
        .filter(|e| {
            let sealed = |part: &str| e.payload.pointer(part).and_then(|p| p.get(SEALED)).is_some();
            sealed_part(&e.aggregate_type, &e.event_type).is_some_and(sealed)
        })
        .map(|e| e.aggregate_id.as_str())
        .collect();
    if subjects.is_empty() {
        return Ok(());
    }
    subjects.sort_unstable();
    subjects.dedup();
    let Sealing::Keys(keyring) = sealing else {
        return Err(StoreError::Corrupt(
            "personal data is read only with a master key".into(),
        ));
    };
    let stored = keyring.stored(&subjects).await?;
    let mut keys: HashMap<String, Option<DataKey>> = HashMap::new();
    for (subject, wrapped) in &stored {
        let key = wrapped.as_deref().map(|w| keyring.unwrap_key(subject, w)).transpose()?;
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
        let destroy = "INSERT INTO data_keys (subject, wrapped, created_at, destroyed_at) VALUES ($1, NULL, $2, $2) \
                       ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, \
                       destroyed_at = COALESCE(data_keys.destroyed_at, excluded.destroyed_at)";
        let outbox = "DELETE FROM outbox WHERE subject = $1";
        match self.conn.ready().await? {
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
        // Those queued by this transaction too.
        self.write_deliveries().await?;
        let select = "SELECT id, body FROM webhook_deliveries WHERE body LIKE $1";
        let like = format!("%{subject}%");
        let found: Vec<(String, String)> = match self.conn.ready().await? {
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
            match self.conn.ready().await? {
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
