//! Load driver: starts the real app in this process (port 0, its own store),
//! prepares a territory and an organisation, then sends commands over HTTP
//! from N concurrent clients and prints throughput and latency. Bounded by
//! `--requests`, loopback only. Scenarios:
//! - `invite` (default): InviteAgent commands;
//! - `book`: usager bookings (`POST /v1/public/rdvs`) of offered slots, over
//!   `--agents` agents with weekday plages, each request a slot the search
//!   offers at that moment (so each one also runs the slot search);
//! - `mix`: the mixed load of [`rdv_tests::mix`] (usagers, invitations,
//!   slot searches, online bookings racing for the same slots,
//!   cancellations, convocations, reads), `--requests` cycles or
//!   `--seconds` of it, with figures per kind of request. With `--targets
//!   URL[,URL…]` it drives running gateways (round robin) instead of an app
//!   of its own; they must share `RDV_ADMIN_TOKEN` with `--admin-token` and
//!   have their clock at `RDV_NOW=2026-01-05T09:00:00Z`.
//!
//! `--rate R` paces `invite` and `book` at R requests a second in all (open
//! loop: request n is due at n/R seconds, whichever client is free takes
//! it, and its latency counts from when it was due, so a server that falls
//! behind shows it in p99 instead of slowing the driver down). Without it,
//! every client sends its next request as soon as the last one answered
//! (closed loop: the highest rate, at saturation).
//!
//! cargo run --release -p rdv-tests --bin rdv-load -- --clients 8 --requests 4000 [--postgres URL] [--scenario book]
//! cargo run --release -p rdv-tests --bin rdv-load -- --scenario mix --clients 8 --seconds 30 [--targets URL,URL]

use rdv_domain::FixedClock;
use rdv_gateway::{App, Config};
use serde_json::{Value, json};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// mimalloc: allocation-heavy JSON and HTTP work runs measurably faster than
/// with the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN_TOKEN: &str = "load-driver-platform-admin";

struct Args {
    clients: usize,
    requests: usize,
    postgres: Option<String>,
    workers: bool,
    scenario: String,
    agents: usize,
    seconds: Option<u64>,
    targets: Vec<String>,
    admin_token: String,
    rate: Option<f64>,
}

fn args() -> Args {
    let mut args = Args {
        clients: 1,
        requests: 2000,
        postgres: None,
        workers: true,
        scenario: "invite".into(),
        agents: 50,
        seconds: None,
        targets: Vec::new(),
        admin_token: ADMIN_TOKEN.into(),
        rate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--clients" => args.clients = value().parse().expect("--clients N"),
            "--requests" => args.requests = value().parse().expect("--requests N"),
            "--postgres" => args.postgres = Some(value()),
            "--no-workers" => args.workers = false,
            "--scenario" => args.scenario = value(),
            "--agents" => args.agents = value().parse().expect("--agents N"),
            "--seconds" => args.seconds = Some(value().parse().expect("--seconds N")),
            "--targets" => args.targets = value().split(',').map(String::from).collect(),
            "--admin-token" => args.admin_token = value(),
            "--rate" => args.rate = Some(value().parse().expect("--rate requests per second")),
            other => panic!(
                "unknown flag {other}; use --clients N --requests N [--postgres URL] [--no-workers] \
                 [--scenario invite|book|mix] [--agents N] [--seconds N] [--targets URL,URL] [--admin-token T] [--rate R]"
            ),
        }
    }
    args
}

/// A setup request: it must succeed.
async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let (ok, body) = send(client, url, token, body).await;
    assert!(ok, "{body}");
    body
}

/// A measured request: success or not, and the answer.
async fn send(client: &reqwest::Client, url: String, token: &str, body: Value) -> (bool, Value) {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let ok = response.status().is_success();
    (ok, response.json().await.unwrap_or(Value::Null))
}

#[tokio::main]
async fn main() {
    let args = args();
    if args.scenario == "mix" {
        return mix(args).await;
    }
    let (base, store, _dir) = start_app(&args).await;
    let admin = ADMIN_TOKEN.to_string();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()
        .unwrap();
    let territory = post(
        &client,
        format!("{base}/v1/territories"),
        &admin,
        json!({"name": "Drôme", "departement_number": "26"}),
    )
    .await;
    let territory = territory["id"].as_str().unwrap().to_string();
    post(
        &client,
        format!("{base}/v1/territories/{territory}/services/service_social/activate"),
        &admin,
        json!({}),
    )
    .await;
    let organisation = post(
        &client,
        format!("{base}/v1/territories/{territory}/organisations"),
        &admin,
        json!({"name": "CMS"}),
    )
    .await;
    let organisation = organisation["id"].as_str().unwrap().to_string();
    let jobs: Arc<dyn Fn(usize) -> (String, Value) + Send + Sync> = match args.scenario.as_str() {
        "invite" => {
            let url = format!("{base}/v1/organisations/{organisation}/agents");
            Arc::new(move |n| {
                let body = json!({"email": format!("agent{n}@cms.fr"), "first_name": "A", "last_name": "B",
                                  "services": ["service_social"], "role": "basic"});
                (url.clone(), body)
            })
        }
        "book" => booking_jobs(&client, &base, &admin, &territory, &organisation, args.agents).await,
        other => panic!("unknown scenario {other}"),
    };

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|_| {
            let (client, admin, next, jobs) = (client.clone(), admin.clone(), next.clone(), jobs.clone());
            let (total, rate) = (args.requests, args.rate);
            tokio::spawn(async move {
                let (mut latencies, mut refused) = (Vec::new(), 0);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return (latencies, refused);
                    }
                    let (url, body) = jobs(n);
                    let t = rdv_tests::paced(started, n, rate).await;
                    let (ok, _) = send(&client, url, &admin, body).await;
                    latencies.push(t.elapsed());
                    refused += usize::from(!ok);
                }
            })
        })
        .collect();
    let (mut latencies, mut refused): (Vec<Duration>, usize) = (Vec::new(), 0);
    for task in tasks {
        let (mine, not_ok) = task.await.unwrap();
        latencies.extend(mine);
        refused += not_ok;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{} store={store} clients={} requests={} refused={refused} workers={}{} rate={:.0}/s p50={:.2}ms p99={:.2}ms",
        args.scenario,
        args.clients,
        latencies.len(),
        args.workers,
        args.rate.map(|r| format!(" paced={r:.0}/s")).unwrap_or_default(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
}

/// Starts the app in this process; returns its address, the store's kind
/// and its data directory (removed when dropped).
async fn start_app(args: &Args) -> (String, &'static str, tempfile::TempDir) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut config = Config::embedded(dir.path().to_path_buf());
    config.embedded_workers = args.workers;
    config.db_max_connections = 32;
    // As in production, the platform admin token comes from configuration.
    config.admin_token = Some(ADMIN_TOKEN.into());
    if let Some(base) = &args.postgres {
        let name = rdv_eventstore::postgres::unique_database_name("rdv_load");
        config.database_url = Some(
            rdv_eventstore::postgres::PostgresBackend::create_database(base, &name)
                .await
                .expect("create database"),
        );
    }
    let clock = FixedClock::at("2026-01-05T09:00:00Z".parse().unwrap());
    let app = App::build(config, Arc::new(clock)).await.expect("app");
    let base = format!("http://{}", app.local_addr());
    let store = if args.postgres.is_some() { "postgres" } else { "sqlite" };
    tokio::spawn(app.run(std::future::pending()));
    (base, store, dir)
}

/// Prepares the booking scenario: a motif bookable by everyone (30 min), a
/// lieu, `agents` intervenants with plages Monday to Friday 09:00–17:00 from
/// 6 January 2026; waits until the slots are offered. Job `n` books the
/// `n`-th start in turn over those days, so concurrent clients book
/// different times of the same days (and agents' days) as usagers would.
async fn booking_jobs(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    territory: &str,
    organisation: &str,
    agents: usize,
) -> Arc<dyn Fn(usize) -> (String, Value) + Send + Sync> {
    let motif = post(
        client,
        format!("{base}/v1/territories/{territory}/motifs"),
        admin,
        json!({
            "informations": {"name": "Accueil", "color": "#123456", "service": "service_social", "default_duration_in_min": 30,
                             "location_type": "public_office", "collective": false, "max_participants": null,
                             "visibility": "visible_and_notified", "follow_up": false, "category": null},
            "booking": {"bookable_by": "everyone", "min_booking_delay_in_min": 30, "max_booking_delay_in_min": 262800,
                        "usager_can_cancel": true, "usager_can_reschedule": true, "sectorisation_level": "departement"},
            "organisation_ids": [organisation],
        }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let lieu = post(
        client,
        format!("{base}/v1/organisations/{organisation}/lieux"),
        admin,
        json!({"name": "Accueil", "address": "1 rue A"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut position = 0;
    for i in 0..agents {
        let agent = post(
            client,
            format!("{base}/v1/organisations/{organisation}/agents"),
            admin,
            json!({"first_name": "Agent", "last_name": format!("N{i}"), "services": ["service_social"], "role": "intervenant"}),
        )
        .await["agent_id"]
            .as_str()
            .unwrap()
            .to_string();
        let plage = post(
            client,
            format!("{base}/v1/agents/{agent}/plages"),
            admin,
            json!({"organisation_id": organisation, "lieu_id": lieu, "motif_ids": [motif],
                   "first_day": "2026-01-06", "start_time": "09:00", "end_time": "17:00",
                   "recurrence": {"every": "week", "interval": 1, "end": {"type": "never"},
                                  "days": ["monday", "tuesday", "wednesday", "thursday", "friday"]}}),
        )
        .await;
        position = position.max(plage["events"][0]["position"].as_i64().unwrap_or(0));
    }
    let offered = client
        .get(format!(
            "{base}/v1/public/slots?organisation_id={organisation}&motif_id={motif}&from=2026-01-06&to=2026-01-06&min_position={position}"
        ))
        .send()
        .await
        .expect("slots");
    assert!(offered.status().is_success(), "{}", offered.status());
    // Weekdays from Tuesday 6 January for eight weeks, every 30 minutes.
    let first: chrono::NaiveDate = "2026-01-06".parse().unwrap();
    let starts: Vec<String> = (0..56)
        .map(|d| first + chrono::Duration::days(d))
        .filter(|day| chrono::Datelike::weekday(day).number_from_monday() <= 5)
        .flat_map(|day| (0..16).map(move |k| format!("{day}T{:02}:{:02}:00+01:00", 9 + k / 2, (k % 2) * 30)))
        .collect();
    let url = format!("{base}/v1/public/rdvs");
    let (organisation, motif) = (organisation.to_string(), motif);
    Arc::new(move |n| {
        let body = json!({"organisation_id": organisation, "motif_id": motif, "starts_at": starts[n % starts.len()],
                          "usager": {"first_name": "Usager", "last_name": format!("N{n}")}});
        (url.clone(), body)
    })
}

/// The mixed load, on an app of its own or on `--targets`.
async fn mix(args: Args) {
    let (bases, store, _dir) = if args.targets.is_empty() {
        let (base, store, dir) = start_app(&args).await;
        (vec![base], store, Some(dir))
    } else {
        (args.targets.clone(), "targets", None)
    };
    let target = rdv_tests::mix::Target::new(bases, args.admin_token.clone(), args.clients);
    let world = rdv_tests::mix::prepare(&target, args.agents, "2026-01-06".parse().unwrap()).await;
    let budget = rdv_tests::mix::Budget {
        cycles: args.seconds.is_none().then_some(args.requests),
        time: args.seconds.map(Duration::from_secs),
    };
    let report = rdv_tests::mix::drive(&target, &world, args.clients, budget).await;
    println!(
        "mix store={store} gateways={} clients={} workers={}\n{}",
        target.bases.len(),
        args.clients,
        args.workers,
        report.table()
    );
    if !report.unexpected.is_empty() {
        println!(
            "{} unexpected answers, first: {}",
            report.unexpected.len(),
            report.unexpected[0]
        );
    }
}
