//! Publisher benchmark: `--events` events (300-byte payloads) written to a
//! fresh store, then published into a fresh JetStream stream on the local
//! NATS by the real publisher, every message acknowledged before its
//! checkpoint moves. Prints the throughput; removes its stream (and its
//! PostgreSQL database) afterwards. Loopback only, bounded by its flags.
//!
//! cargo run --release -p rdv-tests --bin rdv-publisher -- [--events 100000] [--postgres URL] [--nats URL]

use rdv_app::publisher::{Destination, Publisher};
use rdv_eventstore::{AppendRequest, EventStore, StreamAppend};
use serde_json::json;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let (mut events, mut postgres, mut nats) = (100_000usize, None, "nats://127.0.0.1:4222".to_string());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--events" => events = value().parse().expect("--events N"),
            "--postgres" => postgres = Some(value()),
            "--nats" => nats = value(),
            other => panic!("unknown flag {other}; use [--events N] [--postgres URL] [--nats URL]"),
        }
    }
    let dir = tempfile::TempDir::new().expect("temp dir");
    let (store, database) = match &postgres {
        Some(base) => {
            let name = rdv_eventstore::postgres::unique_database_name("rdv_publisher_bench");
            let url = rdv_eventstore::postgres::PostgresBackend::create_database(base, &name)
                .await
                .expect("create database");
            (
                EventStore::connect_postgres(&url, 8).await.expect("connect"),
                Some(name),
            )
        }
        None => (EventStore::open_sqlite(dir.path()).await.expect("open"), None),
    };
    let padding = "x".repeat(240);
    for (n, chunk) in (0..events).collect::<Vec<_>>().chunks(1000).enumerate() {
        let request = AppendRequest {
            streams: vec![StreamAppend {
                aggregate_type: "Note".into(),
                aggregate_id: format!("note-{n}"),
                expected_version: 0,
                events: chunk
                    .iter()
                    .map(|i| rdv_tests::noted(json!({"n": i, "text": padding})))
                    .collect(),
            }],
            outbox: Vec::new(),
            data_keys: Vec::new(),
        };
        store.append(&request, None).await.expect("append");
    }
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let destination = Destination {
        stream: format!("RDV_BENCH_{tag}"),
        prefix: format!("bench.{tag}.events"),
    };
    let publisher = Publisher::connect(store.clone(), &nats, destination.clone())
        .await
        .expect("NATS");
    let started = Instant::now();
    publisher.catch_up().await.expect("publish");
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "publisher store={} events={events} elapsed={elapsed:.2}s rate={:.0} events/s",
        store.kind(),
        events as f64 / elapsed
    );
    let _ = async_nats::jetstream::new(publisher.client().clone())
        .delete_stream(&destination.stream)
        .await;
    if let (Some(base), Some(name)) = (&postgres, database) {
        drop(publisher);
        drop(store);
        let _ = rdv_tests::drop_database(base, &name).await;
    }
}
