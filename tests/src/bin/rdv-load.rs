//! Load driver: starts the real app in this process (port 0, its own store),
//! prepares a territory and an organisation, then sends InviteAgent commands
//! over HTTP from N concurrent clients and prints throughput and latency.
//! Bounded by `--requests`, loopback only.
//!
//! cargo run --release -p rdv-tests --bin rdv-load -- --clients 8 --requests 4000 [--postgres URL]

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
}

fn args() -> Args {
    let mut args = Args {
        clients: 1,
        requests: 2000,
        postgres: None,
        workers: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--clients" => args.clients = value().parse().expect("--clients N"),
            "--requests" => args.requests = value().parse().expect("--requests N"),
            "--postgres" => args.postgres = Some(value()),
            "--no-workers" => args.workers = false,
            other => panic!("unknown flag {other}; use --clients N --requests N [--postgres URL] [--no-workers]"),
        }
    }
    args
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

#[tokio::main]
async fn main() {
    let args = args();
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
    let admin = ADMIN_TOKEN.to_string();
    let base = format!("http://{}", app.local_addr());
    let store = if args.postgres.is_some() { "postgres" } else { "sqlite" };
    tokio::spawn(app.run(std::future::pending()));

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
    let agents_url = format!(
        "{base}/v1/organisations/{}/agents",
        organisation["id"].as_str().unwrap()
    );

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|_| {
            let (client, url, admin, next) = (client.clone(), agents_url.clone(), admin.clone(), next.clone());
            let total = args.requests;
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        return latencies;
                    }
                    let body = json!({"email": format!("agent{n}@cms.fr"), "first_name": "A", "last_name": "B",
                                      "services": ["service_social"], "role": "basic"});
                    let t = Instant::now();
                    post(&client, url.clone(), &admin, body).await;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "invite_agent store={store} clients={} requests={} workers={} rate={:.0}/s p50={:.2}ms p99={:.2}ms",
        args.clients,
        latencies.len(),
        args.workers,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
    );
}
