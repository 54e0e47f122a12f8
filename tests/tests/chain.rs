//! Tamper evidence: the hash chain behind the feed catches an event edited,
//! deleted or inserted directly in SQL, and names the first bad position.

use rdv_eventstore::{AppendRequest, EventStore, NewEvent, StreamAppend};
use rdv_projections::{
    Projector,
    chain::{self, Chain, ChainBreak},
};
use rdv_tests::noted;
use serde_json::json;
use std::sync::Arc;

/// Appends 30 events, three per transaction, and chains them; returns
/// their positions.
async fn chained_history(store: &EventStore) -> Vec<i64> {
    let mut positions = Vec::new();
    for stream in 0..10 {
        let events = (0..3)
            .map(|n| noted(json!({"n": n, "text": "é", "nested": {"b": 1, "a": 2}})))
            .collect();
        let request = AppendRequest {
            streams: vec![StreamAppend {
                aggregate_type: "Note".into(),
                aggregate_id: format!("note-{stream}"),
                expected_version: 0,
                events,
            }],
            outbox: Vec::new(),
            data_keys: Vec::new(),
        };
        positions.extend(store.append(&request, None).await.unwrap().iter().map(|e| e.position));
    }
    Projector::new(store.clone(), Arc::new(Chain::default()))
        .catch_up()
        .await
        .unwrap();
    let report = chain::verify(store).await.unwrap().expect("a sound chain");
    assert_eq!(report.events, 30);
    assert_eq!(report.head.unwrap().position, positions[29]);
    positions
}

async fn verdict(store: &EventStore) -> Result<chain::ChainReport, ChainBreak> {
    chain::verify(store).await.unwrap()
}

#[tokio::test]
async fn the_chain_catches_edits_and_deletions_on_sqlite() {
    let t = rdv_tests::sqlite_store().await;
    let positions = chained_history(&t.store).await;
    let dir = t.dir.as_ref().unwrap().path().join("rdv.sqlite3");
    let sql = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.display()))
        .await
        .unwrap();
    let run = |q: &'static str, p: i64| {
        let sql = sql.clone();
        async move { sqlx::query(q).bind(p).execute(&sql).await.unwrap() }
    };
    run(
        "UPDATE events SET payload = json_set(payload, '$.n', 99) WHERE global_position = ?",
        positions[9],
    )
    .await;
    assert_eq!(verdict(&t.store).await, Err(ChainBreak::Edited(positions[9])));
    run(
        "UPDATE events SET payload = json_set(payload, '$.n', 0) WHERE global_position = ?",
        positions[9],
    )
    .await;
    assert!(verdict(&t.store).await.is_ok(), "restored, the chain holds again");
    run("DELETE FROM events WHERE global_position = ?", positions[20]).await;
    assert_eq!(verdict(&t.store).await, Err(ChainBreak::Deleted(positions[20])));
}

#[tokio::test]
async fn the_chain_catches_edits_deletions_and_insertions_on_postgres() {
    let Some(url) = rdv_tests::postgres_database_url("rdv_chain").await else {
        return;
    };
    let store = EventStore::connect_postgres(&url, 5).await.unwrap();
    let positions = chained_history(&store).await;
    let sql = sqlx::PgPool::connect(&url).await.unwrap();
    let run = |q: &'static str, p: i64| {
        let sql = sql.clone();
        async move { sqlx::query(q).bind(p).execute(&sql).await.unwrap() }
    };
    run(
        "UPDATE events SET metadata = jsonb_set(metadata::jsonb, '{actor}', '\"mallory\"')::json WHERE global_position = $1",
        positions[4],
    )
    .await;
    assert_eq!(verdict(&store).await, Err(ChainBreak::Edited(positions[4])));
    run(
        "UPDATE events SET metadata = jsonb_set(metadata::jsonb, '{actor}', '\"test\"')::json WHERE global_position = $1",
        positions[4],
    )
    .await;
    assert!(verdict(&store).await.is_ok());
    // Positions are sparse on PostgreSQL: a forged event fits in a gap.
    let forged = positions[13] + 100;
    run(
        "INSERT INTO events (global_position, aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata, event_id, occurred_at) \
         SELECT $1, aggregate_type, 'forged', 1, event_type, event_version, payload, metadata, gen_random_uuid(), occurred_at \
         FROM events ORDER BY global_position LIMIT 1",
        forged,
    )
    .await;
    assert_eq!(verdict(&store).await, Err(ChainBreak::Inserted(forged)));
    run("DELETE FROM events WHERE global_position = $1", forged).await;
    run("DELETE FROM events WHERE global_position = $1", positions[27]).await;
    assert_eq!(verdict(&store).await, Err(ChainBreak::Deleted(positions[27])));
}

#[tokio::test]
async fn anchors_are_taken_every_thousand_events() {
    let t = rdv_tests::sqlite_store().await;
    let events: Vec<NewEvent> = (0..2_500).map(|n| noted(json!({"n": n}))).collect();
    let request = AppendRequest {
        streams: vec![StreamAppend {
            aggregate_type: "Note".into(),
            aggregate_id: "long".into(),
            expected_version: 0,
            events,
        }],
        outbox: Vec::new(),
        data_keys: Vec::new(),
    };
    t.store.append(&request, None).await.unwrap();
    Projector::new(t.store.clone(), Arc::new(Chain::default()))
        .catch_up()
        .await
        .unwrap();
    let anchors = chain::anchors(&t.store).await.unwrap();
    let counts: Vec<u64> = anchors.iter().map(|a| a.count).collect();
    assert_eq!(counts, [1_000, 2_000]);
    let report = verdict(&t.store).await.unwrap();
    assert_eq!(report.events, 2_500);
}
