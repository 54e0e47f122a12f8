//! The global feed on PostgreSQL never lets a tailing reader skip an event,
//! even when writers commit out of position order and hold transactions open.

use chrono::Utc;
use rdv_eventstore::*;
use rdv_tests::postgres_store;
use serde_json::json;
use std::{collections::BTreeSet, time::Duration};
use uuid::Uuid;

const WRITERS: usize = 10;
const APPENDS_PER_WRITER: usize = 25;

fn request(stream: &str, expected_version: i64, events: usize) -> AppendRequest {
    let events = (0..events)
        .map(|i| NewEvent {
            event_type: "Tick".into(),
            event_version: "1.0".into(),
            payload: json!({"i": i}),
            metadata: EventMetadata {
                event_id: Uuid::now_v7(),
                occurred_at: Utc::now(),
                actor: "test".into(),
                correlation_id: Uuid::now_v7(),
                causation_id: None,
                idempotency_key: None,
            },
        })
        .collect();
    AppendRequest {
        streams: vec![StreamAppend {
            aggregate_type: "Writer".into(),
            aggregate_id: stream.into(),
            expected_version,
            events,
        }],
        outbox: vec![],
        data_keys: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tailing_reader_sees_every_event_once_and_in_order() {
    let Some(s) = postgres_store().await else { return };
    let store = s.store.clone();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let pg = store.postgres().expect("postgres").clone();
                let stream = format!("writer-{w}");
                let mut positions = Vec::new();
                let mut version = 0;
                for n in 0..APPENDS_PER_WRITER {
                    let events = 1 + (w + n) % 3;
                    let (tx, committed) = pg.begin_append(&request(&stream, version, events)).await.unwrap();
                    // Half the writers keep their transaction open a while,
                    // so later positions commit before earlier ones.
                    if w % 2 == 0 {
                        tokio::time::sleep(Duration::from_millis(((w * 7 + n * 13) % 25) as u64)).await;
                    }
                    tx.commit().await.unwrap();
                    version += events as i64;
                    positions.extend(committed.iter().map(|e| e.position));
                }
                positions
            })
        })
        .collect();

    // Two tailing readers: the whole feed, and the feed of one aggregate
    // type (which resumes from how far it scanned, not from its last event).
    let readers: Vec<_> = [false, true]
        .into_iter()
        .map(|by_type| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut checkpoint = 0;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                let expected_total: usize = (0..WRITERS)
                    .flat_map(|w| (0..APPENDS_PER_WRITER).map(move |n| 1 + (w + n) % 3))
                    .sum();
                while seen.len() < expected_total && tokio::time::Instant::now() < deadline {
                    let (batch, scanned) = if by_type {
                        store.read_feed_of(checkpoint, 7, &["Writer"]).await.unwrap()
                    } else {
                        let batch = store.read_feed(checkpoint, 7).await.unwrap();
                        let last = batch.last().map_or(checkpoint, |e| e.position);
                        (batch, last)
                    };
                    if batch.is_empty() {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    seen.extend(batch.iter().map(|e| e.position));
                    checkpoint = scanned;
                }
                seen
            })
        })
        .collect();

    let mut committed = BTreeSet::new();
    for writer in writers {
        committed.extend(writer.await.unwrap());
    }
    for reader in readers {
        let seen = reader.await.unwrap();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "the feed is read in strictly increasing order"
        );
        let seen_set: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(seen_set.len(), seen.len(), "no event is read twice");
        assert_eq!(seen_set, committed, "every committed event is read");
    }
}
