//! Helpers shared by the integration tests: fresh stores on both backends.
//!
//! PostgreSQL tests use the server at `RDV_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and create one database per
//! test. Without a server they skip loudly, unless `RDV_REQUIRE_SERVICES` is
//! set (as CI does), in which case they fail.

pub mod histories;
pub mod mix;

use rdv_eventstore::{EventStore, postgres::PostgresBackend};
use std::sync::Arc;
use tempfile::TempDir;

/// A store and whatever must live as long as it (the SQLite directory).
pub struct TestStore {
    pub name: &'static str,
    pub store: EventStore,
    pub dir: Option<Arc<TempDir>>,
}

pub fn postgres_base_url() -> String {
    std::env::var("RDV_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn services_required() -> bool {
    std::env::var_os("RDV_REQUIRE_SERVICES").is_some_and(|v| !v.is_empty() && v != "0")
}

pub async fn sqlite_store() -> TestStore {
    let dir = TempDir::new().expect("temporary directory");
    let store = EventStore::open_sqlite(dir.path()).await.expect("open SQLite store");
    TestStore {
        name: "sqlite",
        store,
        dir: Some(Arc::new(dir)),
    }
}

/// A fresh database URL on the test server, or `None` (with a loud warning)
/// when no server answers and services are not required.
pub async fn postgres_database_url(prefix: &str) -> Option<String> {
    drop_stale_databases().await;
    let name = rdv_eventstore::postgres::unique_database_name(prefix);
    match PostgresBackend::create_database(&postgres_base_url(), &name).await {
        Ok(url) => Some(url),
        Err(e) if !services_required() => {
            eprintln!(
                "\n!!! SKIPPING PostgreSQL test: no server at {} ({e}). Set RDV_REQUIRE_SERVICES=1 to fail instead.\n",
                postgres_base_url()
            );
            None
        }
        Err(e) => panic!("PostgreSQL is required (RDV_REQUIRE_SERVICES) but unavailable: {e}"),
    }
}

pub async fn postgres_store() -> Option<TestStore> {
    let url = postgres_database_url("rdv_test").await?;
    let store = EventStore::connect_postgres(&url, 20)
        .await
        .expect("connect PostgreSQL store");
    Some(TestStore {
        name: "postgres",
        store,
        dir: None,
    })
}

/// Two handles on one store, as two processes would have: SQLite always,
/// PostgreSQL when available.
pub async fn store_pairs() -> Vec<(TestStore, EventStore)> {
    let sqlite = sqlite_store().await;
    let dir = sqlite.dir.clone().expect("a SQLite store has a directory");
    let second = EventStore::open_sqlite(dir.path()).await.expect("second SQLite handle");
    let mut pairs = vec![(sqlite, second)];
    if let Some(url) = postgres_database_url("rdv_test").await {
        let first = EventStore::connect_postgres(&url, 10)
            .await
            .expect("connect PostgreSQL store");
        let second = EventStore::connect_postgres(&url, 10)
            .await
            .expect("second PostgreSQL handle");
        pairs.push((
            TestStore {
                name: "postgres",
                store: first,
                dir: None,
            },
            second,
        ));
    }
    pairs
}

/// SQLite always, PostgreSQL when available: the shared suite runs on each.
pub async fn all_stores() -> Vec<TestStore> {
    let mut stores = vec![sqlite_store().await];
    stores.extend(postgres_store().await);
    stores
}

/// Test databases are named `<prefix>_<uuid v7>`; those created more than an
/// hour ago belong to finished runs and are dropped, so the server does not
/// fill up across runs.
async fn drop_stale_databases() {
    use sqlx::Connection;
    let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_base_url()).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'rdv\\_%'")
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for name in names {
        let Some(uuid) = name.rsplit('_').next().and_then(|s| uuid::Uuid::parse_str(s).ok()) else {
            continue;
        };
        let created = uuid.get_timestamp().map(|t| {
            let (secs, nanos) = t.to_unix();
            std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos)
        });
        if created.is_some_and(|c| c < hour_ago) {
            let _ = drop_with(&mut admin, &name).await;
        }
    }
}

/// The NATS server at `RDV_TEST_NATS_URL` (default `nats://127.0.0.1:4222`),
/// or `None` (with a loud warning) when none answers and services are not
/// required.
pub async fn nats_url() -> Option<String> {
    let url = std::env::var("RDV_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let address = url.trim_start_matches("nats://").to_string();
    match tokio::net::TcpStream::connect(&address).await {
        Ok(_) => Some(url),
        Err(e) if !services_required() => {
            eprintln!(
                "\n!!! SKIPPING NATS test: no server at {url} ({e}). Set RDV_REQUIRE_SERVICES=1 to fail instead.\n"
            );
            None
        }
        Err(e) => panic!("NATS is required (RDV_REQUIRE_SERVICES) but unavailable at {url}: {e}"),
    }
}

/// The `rdv` binary, built if needed (it belongs to another package, so
/// cargo does not build it for the tests on its own).
pub fn rdv_binary() -> std::path::PathBuf {
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "rdv-gateway", "--bin", "rdv"])
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the rdv binary builds");
    let exe = std::env::current_exe().expect("the test's path");
    // target/debug/deps/<test>-… → target/debug/rdv
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("rdv"))
        .expect("the target directory")
}

/// An event to append straight to a store (tests and benchmarks that write
/// history without running commands), with fresh ids.
pub fn new_event(
    (event_type, event_version, payload): (String, String, serde_json::Value),
    occurred_at: chrono::DateTime<chrono::Utc>,
) -> rdv_eventstore::NewEvent {
    rdv_eventstore::NewEvent {
        event_type,
        event_version,
        payload,
        metadata: rdv_eventstore::EventMetadata {
            event_id: uuid::Uuid::now_v7(),
            occurred_at,
            actor: "test".into(),
            correlation_id: uuid::Uuid::now_v7(),
            causation_id: None,
            idempotency_key: None,
        },
    }
}

/// A domain event of aggregate `A`, encoded as the store keeps it.
pub fn encoded<A: cqrs_es::Aggregate>(
    event: &A::Event,
    occurred_at: chrono::DateTime<chrono::Utc>,
) -> rdv_eventstore::NewEvent {
    new_event(rdv_eventstore::codec::encode::<A>(event).expect("encode"), occurred_at)
}

/// A `Noted` event of a test stream, occurring now.
pub fn noted(payload: serde_json::Value) -> rdv_eventstore::NewEvent {
    new_event(("Noted".into(), "1.0".into(), payload), chrono::Utc::now())
}

/// Drops a database of the server at `base` (a benchmark's own, at its end).
pub async fn drop_database(base: &str, name: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(base).await?;
    drop_with(&mut admin, name).await
}

/// Drops a database through an open admin connection, whoever is still
/// connected to it.
async fn drop_with(admin: &mut sqlx::PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(admin)
        .await?;
    Ok(())
}

/// Open-loop pacing for load drivers: request `n` of a run started at
/// `started` is due at `n / rate` seconds; waits until then and returns
/// that instant (latency counts from it, so a server that falls behind
/// shows it). Without a rate, returns at once with now (closed loop).
pub async fn paced(started: std::time::Instant, n: usize, rate: Option<f64>) -> std::time::Instant {
    match rate {
        Some(rate) => {
            let due = started + std::time::Duration::from_secs_f64(n as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            due
        }
        None => std::time::Instant::now(),
    }
}
