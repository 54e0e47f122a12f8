//! Tamper evidence: every event, in global order, gets a SHA-256 hash
//! chained to the previous event's (over its id, stream, sequence, type,
//! version, payload and metadata, in a canonical JSON form). The chain is
//! written by this projector right behind the feed, so appends pay nothing
//! for it; [`verify`] recomputes it from the events and names the first
//! position where an event was edited, deleted or inserted. Every
//! [`ANCHOR_EVERY`] events the head hash is kept as an anchor an auditor can
//! export and store elsewhere: a chain rebuilt over tampered events no
//! longer matches the anchors taken before.

use crate::projector::{Projection, ProjectionError};
use rdv_eventstore::{EventStore, ProjectionTx, StoreError, StoredEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const NAME: &str = "chain";
/// Links by the zero-padded position of their first event, one document
/// per projected batch.
pub const LINKS: &str = "links";
pub const ANCHORS: &str = "anchors";
const HEAD: &str = "head";
const ALL: &str = "all";
/// An anchor every this many events.
pub const ANCHOR_EVERY: u64 = 1000;

/// The chain's end: the last chained position, its hash, and how many
/// events are chained.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    position: i64,
    hash: String,
    count: u64,
}

/// The links of a batch: (position, hash) in feed order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Links {
    links: Vec<(i64, String)>,
}

/// The head hash at one point of the chain, to keep elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub position: i64,
    /// Events chained up to and including `position`.
    pub count: u64,
    pub hash: String,
}

/// Writes `value` as compact JSON with object keys sorted at every level,
/// so a hash does not depend on how a backend stores keys; straight into
/// the hasher, without building the text.
fn write_canonical(out: &mut impl std::io::Write, value: &Value) -> std::io::Result<()> {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.write_all(b"{")?;
            for (i, (key, field)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, key)?;
                out.write_all(b":")?;
                write_canonical(out, field)?;
            }
            out.write_all(b"}")
        }
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_canonical(out, item)?;
            }
            out.write_all(b"]")
        }
        other => Ok(serde_json::to_writer(out, other)?),
    }
}

/// What the chain hashes of an event: its type, stream, version, payload
/// and metadata as one canonical JSON object, written field by field in key
/// order (the payload is not copied).
fn write_linked(out: &mut impl std::io::Write, event: &StoredEvent) -> std::io::Result<()> {
    let metadata = serde_json::to_value(&event.metadata)?;
    out.write_all(b"{\"aggregate_id\":")?;
    serde_json::to_writer(&mut *out, &event.aggregate_id)?;
    out.write_all(b",\"aggregate_type\":")?;
    serde_json::to_writer(&mut *out, &event.aggregate_type)?;
    out.write_all(b",\"event_type\":")?;
    serde_json::to_writer(&mut *out, &event.event_type)?;
    out.write_all(b",\"event_version\":")?;
    serde_json::to_writer(&mut *out, &event.event_version)?;
    out.write_all(b",\"metadata\":")?;
    write_canonical(out, &metadata)?;
    out.write_all(b",\"payload\":")?;
    write_canonical(out, &event.payload)?;
    write!(out, ",\"sequence\":{}}}", event.sequence)
}

/// The hash of an event chained to the previous hash.
pub fn link_hash(previous: &str, event: &StoredEvent) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    write_linked(&mut hasher, event).expect("hashing writes to memory");
    hex::encode(hasher.finalize())
}

fn padded(position: i64) -> String {
    format!("{position:020}")
}

/// The chain projection. It hashes a batch before the projector opens its
/// write transaction ([`Projection::prepare`]), from the head as last
/// committed; in the transaction it uses those links only if the head read
/// there is the one they start from (so a concurrent or failed run can
/// never chain from the wrong hash).
#[derive(Default)]
pub struct Chain {
    prepared: std::sync::Mutex<Option<Extension>>,
}

/// A batch's links and anchors, and the heads before and after it.
struct Extension {
    from: Head,
    links: Vec<(i64, String)>,
    anchors: Vec<Anchor>,
    head: Head,
}

impl Extension {
    /// Chains `events` (not empty) after `from`.
    fn of(from: Head, events: &[StoredEvent]) -> Self {
        let mut head = from.clone();
        let mut links = Vec::with_capacity(events.len());
        let mut anchors = Vec::new();
        for event in events {
            head.hash = link_hash(&head.hash, event);
            head.position = event.position;
            head.count += 1;
            links.push((event.position, head.hash.clone()));
            if head.count.is_multiple_of(ANCHOR_EVERY) {
                anchors.push(Anchor {
                    position: head.position,
                    count: head.count,
                    hash: head.hash.clone(),
                });
            }
        }
        Self {
            from,
            links,
            anchors,
            head,
        }
    }

    /// Whether these are the links of `events` chained after `from`.
    fn extends(&self, from: &Head, events: &[StoredEvent]) -> bool {
        self.from == *from && self.links.iter().map(|l| l.0).eq(events.iter().map(|e| e.position))
    }
}

fn head_of(doc: Option<Value>, event: &StoredEvent) -> Result<Head, ProjectionError> {
    match doc {
        Some(doc) => serde_json::from_value(doc).map_err(|e| ProjectionError::event(event, e)),
        None => Ok(Head::default()),
    }
}

#[async_trait::async_trait]
impl Projection for Chain {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Every event.
    fn aggregates(&self) -> &'static [&'static str] {
        &[]
    }

    /// The chain covers the stored bytes: forgetting an usager changes no hash.
    fn reads_stored_events(&self) -> bool {
        true
    }

    /// Nobody waits on the chain: a catch-up a second at most.
    fn pace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        self.apply_batch(tx, std::slice::from_ref(event)).await
    }

    /// Hashes the batch outside the write transaction, from the head as
    /// last committed (a read that takes no write lock).
    async fn prepare(&self, store: &EventStore, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        let Some(first) = events.first() else { return Ok(()) };
        let from = head_of(store.doc(NAME, HEAD, HEAD).await?, first)?;
        let extension = Extension::of(from, events);
        *self.prepared.lock().unwrap_or_else(|e| e.into_inner()) = Some(extension);
        Ok(())
    }

    /// One read of the head and one document of links per batch.
    async fn apply_batch(&self, tx: &mut ProjectionTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        let Some(first) = events.first() else { return Ok(()) };
        let from = head_of(tx.get(NAME, HEAD, HEAD).await?, first)?;
        let prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner()).take();
        let extension = match prepared {
            Some(prepared) if prepared.extends(&from, events) => prepared,
            _ => Extension::of(from, events),
        };
        for anchor in &extension.anchors {
            tx.put(NAME, ANCHORS, &padded(anchor.position), Some(ALL), anchor)
                .await?;
        }
        let links = Links { links: extension.links };
        tx.put(NAME, LINKS, &padded(first.position), Some(ALL), &links).await?;
        tx.put(NAME, HEAD, HEAD, None, &extension.head).await?;
        Ok(())
    }
}

/// Where the chain and the events part ways.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("the event at position {0} was changed after it was chained")]
    Edited(i64),
    #[error("the event at position {0} was chained and is gone")]
    Deleted(i64),
    #[error("the event at position {0} was never chained: it was inserted")]
    Inserted(i64),
}

impl ChainBreak {
    pub fn position(&self) -> i64 {
        match self {
            ChainBreak::Edited(p) | ChainBreak::Deleted(p) | ChainBreak::Inserted(p) => *p,
        }
    }
}

/// What a sound chain covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub events: u64,
    pub head: Option<Anchor>,
}

/// The anchors taken so far, oldest first.
pub async fn anchors(store: &EventStore) -> Result<Vec<Anchor>, StoreError> {
    Ok(store
        .docs(NAME, ANCHORS, ALL)
        .await?
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect())
}

/// Recomputes the chain from the events and compares it with the stored
/// links: the first position where they disagree names the break (an
/// edited event hashes differently, a deleted one leaves a link without
/// its event, an inserted one has no link though the chain went past it).
/// Events after the chain's head (not projected yet) are not judged.
pub async fn verify(store: &EventStore) -> Result<Result<ChainReport, ChainBreak>, StoreError> {
    let mut stored: BTreeMap<i64, String> = BTreeMap::new();
    for doc in store.docs(NAME, LINKS, ALL).await? {
        if let Ok(links) = serde_json::from_value::<Links>(doc) {
            stored.extend(links.links);
        }
    }
    let chained_to = stored.keys().next_back().copied().unwrap_or(0);
    let (mut previous, mut after, mut count) = (String::new(), 0, 0u64);
    let mut expected = stored.iter().peekable();
    loop {
        let (events, _) = store.stored_feed_of(after, 1000, &[]).await?;
        if events.is_empty() {
            break;
        }
        for event in events.iter().filter(|e| e.position <= chained_to) {
            if let Some(&(&position, _)) = expected.peek()
                && position < event.position
            {
                return Ok(Err(ChainBreak::Deleted(position)));
            }
            let Some((&position, hash)) = expected.next().filter(|(p, _)| **p == event.position) else {
                return Ok(Err(ChainBreak::Inserted(event.position)));
            };
            previous = link_hash(&previous, event);
            if &previous != hash {
                return Ok(Err(ChainBreak::Edited(position)));
            }
            count += 1;
        }
        after = events.last().map_or(after, |e| e.position);
    }
    if let Some((&position, _)) = expected.next() {
        return Ok(Err(ChainBreak::Deleted(position)));
    }
    let head = stored.iter().next_back().map(|(position, hash)| Anchor {
        position: *position,
        count,
        hash: hash.clone(),
    });
    Ok(Ok(ChainReport { events: count, head }))
}

#[cfg(test)]
mod tests {
    use super::{Extension, Head, write_canonical, write_linked};
    use serde_json::json;

    fn events(count: i64) -> Vec<rdv_eventstore::StoredEvent> {
        (1..=count)
            .map(|n| {
                serde_json::from_value(json!({
                    "position": n * 10, "aggregate_type": "Note", "aggregate_id": "n1", "sequence": n,
                    "event_type": "Noted", "event_version": "1.0", "payload": {"Noted": {"n": n}},
                    "metadata": {"event_id": format!("0190a6f2-7c1e-7000-8000-00000000000{n}"),
                                 "occurred_at": "2026-01-05T09:00:00Z", "actor": "system",
                                 "correlation_id": "0190a6f2-7c1e-7000-8000-000000000000", "causation_id": null},
                }))
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_batch_hashed_ahead_is_used_only_from_the_head_it_started_at() {
        let events = events(3);
        let start = Head::default();
        let ahead = Extension::of(start.clone(), &events);
        assert!(ahead.extends(&start, &events));
        // Another run chained the first event meanwhile: the head moved.
        let moved = Extension::of(start.clone(), &events[..1]).head;
        assert!(!ahead.extends(&moved, &events), "a stale preparation");
        assert!(!ahead.extends(&start, &events[..2]), "another batch");
        // Chaining in two steps gives the same links as in one.
        let rest = Extension::of(moved, &events[1..]);
        assert_eq!(rest.links, ahead.links[1..]);
        assert_eq!(rest.head, ahead.head);
    }

    #[test]
    fn an_event_is_hashed_as_the_canonical_json_of_its_fields() {
        let event: rdv_eventstore::StoredEvent = serde_json::from_value(json!({
            "position": 7, "aggregate_type": "Rdv", "aggregate_id": "r1", "sequence": 2,
            "event_type": "RdvCancelled", "event_version": "1.0",
            "payload": {"RdvCancelled": {"status": "excused", "by": {"Agent": "a1"}}},
            "metadata": {"event_id": "0190a6f2-7c1e-7000-8000-000000000001", "occurred_at": "2026-01-05T09:00:00Z",
                         "actor": "agent:a1", "correlation_id": "0190a6f2-7c1e-7000-8000-000000000002",
                         "causation_id": null},
        }))
        .unwrap();
        let whole = json!({
            "aggregate_type": event.aggregate_type, "aggregate_id": event.aggregate_id,
            "sequence": event.sequence, "event_type": event.event_type, "event_version": event.event_version,
            "payload": event.payload, "metadata": serde_json::to_value(&event.metadata).unwrap(),
        });
        let (mut linked, mut canonical) = (Vec::new(), Vec::new());
        write_linked(&mut linked, &event).unwrap();
        write_canonical(&mut canonical, &whole).unwrap();
        assert_eq!(
            String::from_utf8(linked).unwrap(),
            String::from_utf8(canonical).unwrap()
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let a = json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "é"}], "c": null}});
        let mut out = Vec::new();
        write_canonical(&mut out, &a).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":null,"d":[1,{"y":"é","z":0}]},"b":1}"#
        );
    }
}
