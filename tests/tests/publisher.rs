//! The publisher against the real NATS JetStream, on both stores: every
//! event reaches the stream once and in feed order, a crash before the
//! checkpoint moved republishes nothing twice (the stream deduplicates by
//! event id), and events the stream lost are published again from the
//! store after reconciliation.

use rdv_app::publisher::{Destination, Publisher};
use rdv_eventstore::{AppendRequest, EventStore, StreamAppend};
use serde_json::json;
use uuid::Uuid;

/// Appends `count` events on stream `id`; returns (position, event id)s.
async fn append(store: &EventStore, id: &str, count: usize) -> Vec<(i64, String)> {
    let events = (0..count).map(|n| rdv_tests::noted(json!({"n": n}))).collect();
    let request = AppendRequest {
        streams: vec![StreamAppend {
            aggregate_type: "Note".into(),
            aggregate_id: id.into(),
            expected_version: 0,
            events,
        }],
        outbox: Vec::new(),
        data_keys: Vec::new(),
    };
    let committed = store.append(&request, None).await.unwrap();
    committed.iter().map(|e| (e.position, e.event_id.to_string())).collect()
}

/// Every message of the stream as (Rdv-Position, Nats-Msg-Id, subject).
async fn stream_contents(jetstream: &async_nats::jetstream::Context, name: &str) -> Vec<(i64, String, String)> {
    let mut stream = jetstream.get_stream(name).await.unwrap();
    let info = stream.info().await.unwrap().state.clone();
    let mut contents = Vec::new();
    for sequence in info.first_sequence..=info.last_sequence {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|v| v.as_str().to_string())
                .unwrap_or_default()
        };
        contents.push((
            header("Rdv-Position").parse().unwrap(),
            header("Nats-Msg-Id"),
            message.subject.to_string(),
        ));
    }
    contents
}

/// Publishes until the last of `expected` is out. On PostgreSQL a
/// transaction of another test (the xid horizon is the server's) may keep
/// fresh events unreadable for a moment: catching up then finds nothing yet.
async fn publish_up_to(publisher: &Publisher, expected: &[(i64, String)]) {
    let last = expected.last().map_or(0, |e| e.0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while publisher.catch_up().await.unwrap() < last {
        assert!(
            std::time::Instant::now() < deadline,
            "position {last} never became readable"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_event_reaches_jetstream_once_in_order_even_after_a_crash_or_a_loss() {
    let Some(url) = rdv_tests::nats_url().await else { return };
    let jetstream = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    for s in rdv_tests::all_stores().await {
        let tag = Uuid::now_v7().simple().to_string();
        let destination = Destination {
            stream: format!("RDV_TEST_{tag}"),
            prefix: format!("test.{tag}.events"),
        };
        let mut expected = append(&s.store, "note-1", 20).await;
        expected.extend(append(&s.store, "note-2", 10).await);
        let publisher = Publisher::connect(s.store.clone(), &url, destination.clone())
            .await
            .unwrap();
        publish_up_to(&publisher, &expected).await;
        let published = |contents: Vec<(i64, String, String)>| {
            contents
                .into_iter()
                .map(|(position, id, _)| (position, id))
                .collect::<Vec<_>>()
        };
        let contents = stream_contents(&jetstream, &destination.stream).await;
        assert_eq!(
            contents[0].2,
            format!("{}.Note.Noted", destination.prefix),
            "{}",
            s.name
        );
        assert_eq!(
            published(contents),
            expected,
            "{}: each event once, in feed order",
            s.name
        );

        // A crash after publishing, before the checkpoint moved: published again, stored once.
        let name = format!("publisher:{}", destination.stream);
        let mut tx = s.store.begin_projection().await.unwrap();
        tx.lock_checkpoint(&name).await.unwrap();
        tx.set_checkpoint(&name, expected[9].0).await.unwrap();
        tx.commit().await.unwrap();
        publish_up_to(&publisher, &expected).await;
        let contents = stream_contents(&jetstream, &destination.stream).await;
        assert_eq!(published(contents), expected, "{}: no duplicate", s.name);

        // JetStream loses what it acknowledged (the stream and its volume):
        // the store has it all.
        jetstream.delete_stream(&destination.stream).await.unwrap();
        assert_eq!(publisher.reconcile().await.unwrap(), 0, "{}", s.name);
        expected.extend(append(&s.store, "note-3", 5).await);
        publish_up_to(&publisher, &expected).await;
        let contents = stream_contents(&jetstream, &destination.stream).await;
        assert_eq!(published(contents), expected, "{}: republished from the store", s.name);
        jetstream.delete_stream(&destination.stream).await.unwrap();
    }
}

/// A projector in another process polls the store only every minute here:
/// reaching the head within seconds shows JetStream woke it.
#[tokio::test]
async fn projectors_of_another_process_are_woken_by_jetstream() {
    let Some(url) = rdv_tests::nats_url().await else { return };
    for (s, elsewhere) in rdv_tests::store_pairs().await {
        let tag = Uuid::now_v7().simple().to_string();
        let destination = Destination {
            stream: format!("RDV_TEST_{tag}"),
            prefix: format!("test.{tag}.events"),
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        let publisher = Publisher::connect(s.store.clone(), &url, destination.clone())
            .await
            .unwrap();
        let client = publisher.client().clone();
        tokio::spawn(publisher.run(shutdown.clone()));
        tokio::spawn(rdv_app::publisher::wake_on_published(
            client.clone(),
            elsewhere.clone(),
            destination.prefix.clone(),
            shutdown.clone(),
        ));
        let projection = rdv_projections::by_name("directory").unwrap();
        let projector = rdv_projections::Projector::new(elsewhere.clone(), projection)
            .polling_every(std::time::Duration::from_secs(60));
        let mut status = projector.status();
        tokio::spawn(projector.run(shutdown.clone()));
        // The projector's first catch-up is at start; what comes next only
        // JetStream can announce before a minute has passed.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let last = append(&s.store, "note-w", 3).await.last().unwrap().0;
        let reached = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            status.wait_for(|st| st.position() >= last),
        )
        .await
        // The borrowed status is released at once: the projector writes it.
        .is_ok_and(|r| r.is_ok());
        shutdown.cancel();
        assert!(reached, "{}: the projector was not woken", s.name);
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&destination.stream)
            .await;
    }
}
