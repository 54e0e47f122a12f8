//! What data protection costs, as ratios to the same run without it:
//!
//! 1. sealing usagers' personal data: concurrent usager commands (a
//!    creation, then updates), each loading the usager and appending,
//!    through the command service on a store that seals with per-usager
//!    data keys, then on one storing the same data in clear;
//! 2. the hash chain: the same commands (in clear) with the chain
//!    projector following the feed in this process, then without it; and
//!    the chain's catch-up speed over everything written.
//!
//! The three runs take turns, `--rounds` times, each on a fresh store; the
//! ratios compare the medians. Prints commands/s and latencies per run.
//! Loopback only, bounded by its flags.
//!
//! cargo run --release -p rdv-tests --bin rdv-protection -- [--postgres URL] [--usagers 10000] [--updates 3] [--clients 8] [--rounds 3]

use rdv_domain::{
    FixedClock, Services,
    ids::OrganisationId,
    phone::PhoneE164,
    usager::{NotificationPreferences, Usager, UsagerCommand, UsagerProfile},
    values::{Email, Text},
};
use rdv_eventstore::{CommandContext, CommandService, EventStore, StoredResponse, postgres::PostgresBackend};
use rdv_projections::{Projector, chain::Chain};
use std::{sync::Arc, time::Instant};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    postgres: Option<String>,
    usagers: usize,
    updates: usize,
    clients: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        postgres: None,
        // 40,000 commands a run: seconds long, so the chain projector (one
        // batch a second) works during the run rather than after it.
        usagers: 10_000,
        updates: 3,
        clients: 8,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--postgres" => a.postgres = Some(value()),
            "--usagers" => a.usagers = value().parse().expect("--usagers N"),
            "--updates" => a.updates = value().parse().expect("--updates N"),
            "--clients" => a.clients = value().parse().expect("--clients N"),
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Where the runs' stores live, removed at the end.
#[derive(Default)]
struct Scratch {
    dirs: Vec<tempfile::TempDir>,
    databases: Vec<String>,
}

impl Scratch {
    async fn remove(self, args: &Args) {
        let Some(base) = &args.postgres else { return };
        for name in self.databases {
            rdv_tests::drop_database(base, &name)
                .await
                .expect("drop the bench database");
        }
    }
}

/// A fresh store: a new SQLite directory, or a new PostgreSQL database.
async fn fresh_store(args: &Args, scratch: &mut Scratch) -> EventStore {
    match &args.postgres {
        Some(base) => {
            let name = rdv_eventstore::postgres::unique_database_name("rdv_protection");
            let url = PostgresBackend::create_database(base, &name).await.expect("database");
            scratch.databases.push(name);
            EventStore::connect_postgres(&url, 16).await.expect("PostgreSQL")
        }
        None => {
            let dir = tempfile::TempDir::new().expect("temp dir");
            let store = EventStore::open_sqlite(dir.path()).await.expect("SQLite");
            scratch.dirs.push(dir);
            store
        }
    }
}

fn profile(i: usize, update: usize) -> UsagerProfile {
    UsagerProfile {
        first_name: Text::parse(&format!("Camille{update}"), "first_name").unwrap(),
        last_name: Text::parse(&format!("Usager{i}"), "last_name").unwrap(),
        email: Some(Email::parse(&format!("usager{i}@example.fr"), "email").unwrap()),
        phone: Some(PhoneE164::parse(&format!("06{:08}", i % 100_000_000), "phone").unwrap()),
        birth_date: "1990-04-02".parse().ok(),
        custom: Default::default(),
        responsible_id: None,
        notifications: NotificationPreferences::default(),
        external_id: Some(format!("SI-{i}")),
        title: None,
        address: Some(format!("{i} rue de la République, 26000 Valence")),
        affiliation_number: Some(format!("{i:07}")),
    }
}

/// Runs the usager commands from `clients` tasks, with the stream cache on
/// as in `rdv serve`; returns (commands/s, latencies in ms).
async fn usager_commands(store: &EventStore, args: &Args) -> (f64, Vec<f64>) {
    let stop_cache = CancellationToken::new();
    let cache = tokio::spawn({
        let (store, stop) = (store.clone(), stop_cache.clone());
        async move { store.follow_feed(stop).await }
    });
    let clock = Arc::new(FixedClock::at("2026-03-02T09:00:00Z".parse().unwrap()));
    let commands = CommandService::new(store.clone(), Services::new(clock, chrono::Duration::days(7)));
    let organisation = OrganisationId::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        let (commands, updates) = (commands.clone(), args.updates);
        let mine: Vec<usize> = (client..args.usagers).step_by(args.clients).collect();
        tasks.push(tokio::spawn(async move {
            let ctx = CommandContext::new("bench");
            let mut latencies = Vec::new();
            for i in mine {
                let id = rdv_domain::ids::UsagerId::new().to_string();
                for update in 0..=updates {
                    let command = if update == 0 {
                        UsagerCommand::CreateUsager {
                            organisation_ids: [organisation].into(),
                            profile: profile(i, update),
                        }
                    } else {
                        UsagerCommand::UpdateUsager {
                            organisation_ids: [organisation].into(),
                            profile: profile(i, update),
                        }
                    };
                    let at = Instant::now();
                    commands
                        .execute::<Usager, _>(&ctx, &id, command, None, |_, _| StoredResponse {
                            status: 200,
                            body: serde_json::Value::Null,
                        })
                        .await
                        .expect("usager command");
                    latencies.push(at.elapsed().as_secs_f64() * 1000.0);
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let per_second = latencies.len() as f64 / started.elapsed().as_secs_f64();
    stop_cache.cancel();
    cache.await.expect("stream cache follower");
    (per_second, latencies)
}

fn report(label: &str, (per_second, mut ms): (f64, Vec<f64>)) -> f64 {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    println!(
        "{label:<44} {per_second:>8.0} commands/s  p50={:.2}ms p99={:.2}ms",
        at(0.5),
        at(0.99)
    );
    per_second
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn cost(with: &[f64], without: &[f64]) -> String {
    let (with, without) = (median(with.to_vec()), median(without.to_vec()));
    format!(
        "{:+.1} % time per command (medians {with:.0} vs {without:.0} commands/s)",
        (without / with - 1.0) * 100.0
    )
}

#[tokio::main]
async fn main() {
    let args = args();
    let mut scratch = Scratch::default();
    let backend = if args.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "{backend}: {} usagers x {} commands, {} clients, {} rounds",
        args.usagers,
        args.updates + 1,
        args.clients,
        args.rounds
    );
    let master = rdv_eventstore::sealing::MasterKey::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
        .expect("a 32-byte key");

    // Warm-up, so the first measured run does not pay for cold caches.
    let warm = fresh_store(&args, &mut scratch).await.with_personal_data_in_clear();
    usager_commands(&warm, &args).await;

    let (mut in_clear, mut sealed, mut chained) = (Vec::new(), Vec::new(), Vec::new());
    let mut last_clear = None;
    for _ in 0..args.rounds {
        let clear = fresh_store(&args, &mut scratch).await.with_personal_data_in_clear();
        in_clear.push(report("personal data in clear", usager_commands(&clear, &args).await));
        last_clear = Some(clear);
        let keys = fresh_store(&args, &mut scratch).await.with_master_key(master.clone());
        sealed.push(report(
            "sealed with per-usager data keys",
            usager_commands(&keys, &args).await,
        ));
        let following = fresh_store(&args, &mut scratch).await.with_personal_data_in_clear();
        let shutdown = CancellationToken::new();
        let follower =
            tokio::spawn(Projector::new(following.clone(), Arc::new(Chain::default())).run(shutdown.clone()));
        chained.push(report(
            "in clear, chain projector following",
            usager_commands(&following, &args).await,
        ));
        shutdown.cancel();
        follower.await.expect("chain projector");
    }
    println!("sealing: {}", cost(&sealed, &in_clear));
    println!("chained hashing: {}", cost(&chained, &in_clear));

    let clear = last_clear.expect("at least one round");
    let events = (args.usagers * (args.updates + 1)) as f64;
    let started = Instant::now();
    Projector::new(clear.clone(), Arc::new(Chain::default()))
        .catch_up()
        .await
        .expect("chain");
    println!(
        "chain catch-up: {events} events in {:.2}s ({:.0} events/s)",
        started.elapsed().as_secs_f64(),
        events / started.elapsed().as_secs_f64()
    );
    drop(clear);
    scratch.remove(&args).await;
}
