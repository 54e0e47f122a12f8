//! Projector catch-up benchmark: how fast each projection rebuilds from
//! position 0 over a large history. Writes `--events` events (1,000,000 by
//! default) straight to the store: usagers with a full profile (personal
//! data sealed with a data key each, as created usagers are) and their RSA
//! follow-ups (invitations, RDVs tracked), as `rdv-followups` does; then
//! rebuilds each projection alone, one after the other, and prints per
//! projection the events of the aggregates it reads, the time and the
//! rates. Loopback only, bounded by its flags.
//!
//! With `--data-dir DIR` (SQLite) the history is written there the first
//! time and read back on later runs, so trying a change on a million events
//! does not cost the three minutes of writing them each time.
//!
//! cargo run --release -p rdv-tests --bin rdv-catchup -- [--postgres URL | --data-dir DIR] [--events 1000000] [--projections usagers,follow_ups]

use chrono::{DateTime, Utc};
use rdv_domain::{FixedClock, ids::UsagerId};
use rdv_eventstore::AppendRequest;
use rdv_gateway::{App, Config};
use rdv_projections::Projector;
use rdv_tests::histories;
use std::{collections::BTreeMap, sync::Arc, time::Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN: &str = "catchup-bench-admin";
const NOW: &str = "2026-03-02T09:00:00Z";
/// Households (an usager and a follow-up) per append.
const PER_APPEND: usize = 250;

struct Args {
    postgres: Option<String>,
    data_dir: Option<std::path::PathBuf>,
    events: usize,
    projections: Option<Vec<String>>,
}

fn args() -> Args {
    let mut a = Args {
        postgres: None,
        data_dir: None,
        events: 1_000_000,
        projections: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--postgres" => a.postgres = Some(value()),
            "--data-dir" => a.data_dir = Some(value().into()),
            "--events" => a.events = value().parse().expect("--events N"),
            "--projections" => a.projections = Some(value().split(',').map(String::from).collect()),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

#[tokio::main]
async fn main() {
    let args = args();
    let temp = tempfile::TempDir::new().expect("temp dir");
    let dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let kept = dir.join("rdv.sqlite3").exists();
    let mut config = Config::embedded(dir);
    config.scheduler = false;
    config.embedded_workers = false;
    config.admin_token = Some(ADMIN.into());
    let mut database = None;
    if let Some(base) = &args.postgres {
        let name = rdv_eventstore::postgres::unique_database_name("rdv_catchup");
        config.database_url = Some(
            rdv_eventstore::postgres::PostgresBackend::create_database(base, &name)
                .await
                .expect("create database"),
        );
        database = Some((base.clone(), name));
    }
    let config_url = config.database_url.clone();
    let now: DateTime<Utc> = NOW.parse().expect("now");
    let app = App::build(config, Arc::new(FixedClock::at(now))).await.expect("app");
    let store = app.state().store.clone();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    let t = Instant::now();
    let mut written = 0;
    let mut request = AppendRequest::default();
    let mut i = 0;
    let organisation = match kept {
        true => None,
        false => Some(histories::rsa_organisation(&base, ADMIN).await),
    };
    while let Some(organisation) = organisation.filter(|_| written < args.events) {
        let usager_id = UsagerId::new();
        let (follow_up, events) = histories::follow_up(i, organisation, usager_id, now);
        written += 1 + events.len();
        request.streams.push(histories::stream(
            "Usager",
            usager_id.to_string(),
            vec![histories::usager(i, organisation, now)],
        ));
        request
            .streams
            .push(histories::stream("FollowUp", follow_up.to_string(), events));
        i += 1;
        if request.streams.len() == 2 * PER_APPEND {
            store.append(&std::mem::take(&mut request), None).await.expect("append");
        }
    }
    if !request.streams.is_empty() {
        store.append(&request, None).await.expect("append");
    }
    let head = store.head().await.expect("head");
    let generated = t.elapsed().as_secs_f64();
    // What autovacuum would do some time after a bulk load, done now: the
    // runs then read tables with statistics and visibility maps alike,
    // instead of racing autovacuum (the feed read took 12 s to 150 s).
    if let Some(url) = &config_url {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query("VACUUM ANALYZE").execute(&mut conn).await.expect("vacuum");
    }
    // The floor under every projection: reading the feed, personal data
    // opened, in the projector's batches. It also counts the events of
    // each aggregate type (PostgreSQL's positions leave gaps).
    let t = Instant::now();
    let (mut after, mut events) = (0, 0);
    let mut written: BTreeMap<String, usize> = BTreeMap::new();
    while after < head {
        let (batch, scanned) = store.read_feed_of(after, 500, &[]).await.expect("feed");
        assert!(
            scanned > after && !batch.is_empty(),
            "the feed stopped at {after} of {head}"
        );
        for event in &batch {
            *written.entry(event.aggregate_type.clone()).or_default() += 1;
        }
        (after, events) = (scanned, events + batch.len());
    }
    let read = t.elapsed().as_secs_f64();
    println!(
        "store={} households={i} events={events} ({}) written_in={generated:.1}s",
        store.kind(),
        written
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    println!("projection           its events   seconds   feed events/s   its events/s");
    println!(
        "(reading the feed)   {events:>10} {read:>9.1} {:>15.0} {:>14.0}",
        events as f64 / read,
        events as f64 / read
    );
    for projection in rdv_projections::all() {
        let name = projection.name();
        if args
            .projections
            .as_ref()
            .is_some_and(|only| !only.iter().any(|p| p == name))
        {
            continue;
        }
        let aggregates = projection.aggregates();
        let its: usize = match aggregates {
            [] => events,
            some => some.iter().filter_map(|a| written.get(*a)).sum(),
        };
        // Forgetting the read model (a kept directory holds the last run's)
        // is not what is measured.
        store.reset_projection(name).await.expect("reset");
        let t = Instant::now();
        let at = Projector::new(store.clone(), projection)
            .catch_up()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let took = t.elapsed().as_secs_f64();
        assert!(at >= head, "{name} stopped at {at} of {head}");
        println!(
            "{name:<20} {its:>10} {took:>9.1} {:>15.0} {:>14.0}",
            events as f64 / took,
            its as f64 / took
        );
    }
    if let Some((base, name)) = database {
        drop(store);
        rdv_tests::drop_database(&base, &name).await.expect("drop database");
    }
}
