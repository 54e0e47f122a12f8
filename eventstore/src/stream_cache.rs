//! Recently read streams, so a command does not read again what it read a
//! moment ago (an organisation, a territory, the caller's agent).
//!
//! The cache is kept in step with this process's appends (write-through) and
//! with the feed (other processes' appends evict what they touched), so a
//! read is at most one feed poll behind another gateway's write. Writes stay
//! safe whatever the cache holds: an append is checked against the stored
//! version, and a conflict evicts the streams so the retry reads afresh.

use crate::model::{AppendRequest, CommittedEvent, StoredEvent};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

/// Streams kept; past this the cache starts over (a crude but bounded policy).
const CAPACITY: usize = 50_000;

type Key = (String, String);

/// Where a stream stood at a feed position: what the cache follower reads
/// (no payloads).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StreamVersionAt {
    #[sqlx(rename = "global_position")]
    pub(crate) position: i64,
    pub(crate) aggregate_type: String,
    pub(crate) aggregate_id: String,
    pub(crate) sequence: i64,
}

/// Off until something follows the feed for it ([`crate::EventStore::follow_feed`]):
/// a store used without a follower never serves a stale stream.
#[derive(Debug, Default)]
pub(crate) struct StreamCache {
    enabled: AtomicBool,
    streams: Mutex<HashMap<Key, Arc<Vec<StoredEvent>>>>,
}

fn key(aggregate_type: &str, aggregate_id: &str) -> Key {
    (aggregate_type.to_string(), aggregate_id.to_string())
}

fn version(events: &[StoredEvent]) -> i64 {
    events.last().map_or(0, |e| e.sequence)
}

impl StreamCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Vec<StoredEvent>>>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn enable(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }

    pub(crate) fn disable(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        self.lock().clear();
    }

    pub(crate) fn get(&self, aggregate_type: &str, aggregate_id: &str) -> Option<Arc<Vec<StoredEvent>>> {
        if !self.enabled.load(Ordering::SeqCst) {
            return None;
        }
        self.lock().get(&key(aggregate_type, aggregate_id)).cloned()
    }

    /// Keeps a stream just read, unless a newer version is already cached.
    pub(crate) fn offer(&self, aggregate_type: &str, aggregate_id: &str, events: Arc<Vec<StoredEvent>>) {
        if !self.enabled.load(Ordering::SeqCst) {
            return;
        }
        let mut streams = self.lock();
        if streams.len() >= CAPACITY {
            streams.clear();
        }
        let entry = streams
            .entry(key(aggregate_type, aggregate_id))
            .or_insert_with(|| events.clone());
        if version(entry) < version(&events) {
            *entry = events;
        }
    }

    /// Extends the cached streams an append wrote to.
    pub(crate) fn appended(&self, request: &AppendRequest, committed: &[CommittedEvent]) {
        let mut streams = self.lock();
        for stream in &request.streams {
            let k = key(&stream.aggregate_type, &stream.aggregate_id);
            let Some(cached) = streams.get(&k) else { continue };
            if version(cached) != stream.expected_version {
                streams.remove(&k);
                continue;
            }
            let mut events = cached.as_ref().clone();
            for (new, done) in stream.events.iter().zip(
                committed
                    .iter()
                    .filter(|c| c.aggregate_type == stream.aggregate_type && c.aggregate_id == stream.aggregate_id),
            ) {
                events.push(StoredEvent {
                    position: done.position,
                    aggregate_type: stream.aggregate_type.clone(),
                    aggregate_id: stream.aggregate_id.clone(),
                    sequence: done.sequence,
                    event_type: new.event_type.clone(),
                    event_version: new.event_version.clone(),
                    payload: new.payload.clone(),
                    metadata: new.metadata.clone(),
                });
            }
            streams.insert(k, Arc::new(events));
        }
    }

    /// Forgets the streams of a failed append, so a retry reads them afresh.
    pub(crate) fn evict_all(&self, request: &AppendRequest) {
        let mut streams = self.lock();
        for stream in &request.streams {
            streams.remove(&key(&stream.aggregate_type, &stream.aggregate_id));
        }
    }

    /// Evicts streams the feed shows to have moved past what is cached.
    pub(crate) fn observe(&self, events: &[StreamVersionAt]) {
        let mut streams = self.lock();
        for event in events {
            let k = key(&event.aggregate_type, &event.aggregate_id);
            if streams.get(&k).is_some_and(|cached| version(cached) < event.sequence) {
                streams.remove(&k);
            }
        }
    }
}
