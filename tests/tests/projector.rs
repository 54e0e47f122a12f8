//! The projector working off a backlog larger than a batch: a projection
//! that joins batches (the follow-ups) spans several in one transaction,
//! commits when a writer waits, and ends with every event applied once.

use chrono::{DateTime, Utc};
use rdv_domain::ids::{OrganisationId, UsagerId};
use rdv_eventstore::{AppendRequest, EventStore};
use rdv_projections::{
    Projector,
    follow_ups::{self, FollowUps, LISTED, Listing},
};
use rdv_tests::{all_stores, histories, mix::CATEGORY};
use std::{collections::BTreeMap, sync::Arc, time::Duration};

/// Follow-ups written: about 2.3 events each, so more than two batches of
/// the projector's 10,000 events.
const FOLLOW_UPS: usize = 9_000;

/// Appends `count` follow-ups from the `first`-th, 500 a unit; their ids
/// by usager.
async fn write_follow_ups(
    store: &EventStore,
    organisation: OrganisationId,
    (first, count): (usize, usize),
    now: DateTime<Utc>,
) -> BTreeMap<String, UsagerId> {
    let mut written = BTreeMap::new();
    let mut request = AppendRequest::default();
    for i in first..first + count {
        let usager_id = UsagerId::new();
        let (id, events) = histories::follow_up(i, organisation, usager_id, now);
        written.insert(id.to_string(), usager_id);
        request
            .streams
            .push(histories::stream("FollowUp", id.to_string(), events));
        if request.streams.len() == 500 {
            store.append(&std::mem::take(&mut request), None).await.unwrap();
        }
    }
    if !request.streams.is_empty() {
        store.append(&request, None).await.unwrap();
    }
    written
}

/// The organisation's follow-ups in [`CATEGORY`]: its listing and entries.
async fn listed_in(store: &EventStore, organisation: OrganisationId) -> (Listing, Vec<(String, serde_json::Value)>) {
    let listing = Listing::of(organisation, CATEGORY);
    let (from, to) = listing.range(None, None);
    let page = store
        .docs_between(follow_ups::NAME, LISTED, (&from, &to), i64::MAX)
        .await
        .unwrap();
    (listing, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_spanning_batches_is_applied_once_even_when_writers_wait() {
    for s in all_stores().await {
        let store = s.store.clone();
        let organisation = OrganisationId::new();
        let now: DateTime<Utc> = "2026-03-02T09:00:00Z".parse().unwrap();
        let mut written = write_follow_ups(&store, organisation, (0, FOLLOW_UPS), now).await;
        let projector = Projector::new(store.clone(), Arc::new(FollowUps));
        // Appends while the backlog is worked off: on SQLite they wait for
        // the projector's transaction, which commits after its batch.
        let appender = {
            let store = store.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                write_follow_ups(&store, organisation, (FOLLOW_UPS, 10), now).await
            })
        };
        let reached = tokio::time::timeout(Duration::from_secs(300), projector.catch_up())
            .await
            .expect("the backlog worked off in time")
            .unwrap();
        written.extend(appender.await.unwrap());
        let reached = reached.max(projector.catch_up().await.unwrap());
        let head = store.head().await.unwrap();
        assert!(reached >= head, "{}: {reached} short of the head {head}", s.name);
        assert_eq!(store.checkpoint(follow_ups::NAME).await.unwrap().1, None);

        let (listing, page) = listed_in(&store, organisation).await;
        let listed = follow_ups::with_state(&store, &listing, organisation, &page)
            .await
            .unwrap();
        let usagers: BTreeMap<String, UsagerId> = listed
            .iter()
            .map(|(entry, doc)| (entry.clone(), doc.state.usager_id))
            .collect();
        assert_eq!(usagers, written, "{}: one entry per follow-up, with its state", s.name);
        let twice = listed
            .iter()
            .filter(|(_, doc)| doc.state.invitations.len() != 1)
            .count();
        assert_eq!(twice, 0, "{}: each event applied once", s.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_waits_out_lost_connections_instead_of_stopping() {
    use rdv_projections::ProjectorStatus;
    use sqlx::Connection;
    let Some(url) = rdv_tests::postgres_database_url("rdv_test").await else {
        return;
    };
    let store = EventStore::connect_postgres(&url, 4).await.unwrap();
    let organisation = OrganisationId::new();
    let now: DateTime<Utc> = "2026-03-02T09:00:00Z".parse().unwrap();
    let mut written = write_follow_ups(&store, organisation, (0, 20), now).await;
    let projector = Projector::new(store.clone(), Arc::new(FollowUps)).polling_every(Duration::from_millis(50));
    let mut status = projector.status();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(projector.run(shutdown.clone()));
    let reaches =
        |head: i64| move |s: &ProjectorStatus| s.position() >= head || matches!(s, ProjectorStatus::Failed(..));
    let head = store.head().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), status.wait_for(reaches(head)))
        .await
        .expect("caught up")
        .unwrap();

    // Every connection of the projector's pool is cut, as a PostgreSQL
    // restart would; events keep coming through another handle.
    let (base, name) = url.rsplit_once('/').unwrap();
    let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres")).await.unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .execute(&mut admin)
    .await
    .unwrap();
    let other = EventStore::connect_postgres(&url, 2).await.unwrap();
    written.extend(write_follow_ups(&other, organisation, (20, 20), now).await);
    let head = other.head().await.unwrap();
    let reached = tokio::time::timeout(Duration::from_secs(60), status.wait_for(reaches(head)))
        .await
        .expect("the projector went on once connections came back")
        .unwrap()
        .clone();
    assert_eq!(reached, ProjectorStatus::Running(reached.position()), "not stopped");
    shutdown.cancel();
    running.await.unwrap();
    let (_, listed) = listed_in(&other, organisation).await;
    assert_eq!(listed.len(), written.len());
}
