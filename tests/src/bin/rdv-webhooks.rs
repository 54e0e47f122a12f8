//! Webhook delivery benchmark: the real app in this process (embedded mode:
//! the dispatch projector and the relay run in it), an endpoint subscribed to
//! RDVs, a minimal local HTTP receiver, and agents booking RDVs from N
//! clients. Prints the delivery rate at the receiver and the delay from each
//! booking's answer (its commit) to its webhook's arrival. Loopback only,
//! bounded by `--rdvs`.
//!
//! `--drain` measures the relay alone: the app runs without its workers,
//! `--endpoints E` endpoints of the organisation subscribe to RDVs, the
//! bookings are made, the dispatch projection turns them into `rdvs × E`
//! deliveries, and only then `--relays W` relay workers start (each with
//! its own pool, as separate `rdv relay` processes would): the rate is the
//! deliveries arrived over the time from their start to the last arrival.
//!
//! `--rate R` paces the bookings at R a second in all (open loop), for the
//! delay at a given load rather than at saturation.
//!
//! cargo run --release -p rdv-tests --bin rdv-webhooks -- [--rdvs 2000] [--clients 8] [--rate 500] [--postgres URL]
//! cargo run --release -p rdv-tests --bin rdv-webhooks -- --drain [--endpoints 4] [--relays 2] [--postgres URL]

use rdv_domain::FixedClock;
use rdv_gateway::{App, Config};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN: &str = "webhooks-bench-admin";

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// Every delivery the receiver took, by `webhook-id` (a repeat shows as
/// fewer ids than deliveries), and when the last one arrived.
#[derive(Default)]
struct Received {
    ids: std::collections::HashSet<String>,
    deliveries: usize,
    last: Option<Instant>,
}

/// A keep-alive HTTP/1.1 receiver answering 200 to every POST and noting
/// when each RDV's first delivery arrived.
async fn receiver(arrivals: Arrivals, received: Arc<Mutex<Received>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let (arrivals, received) = (arrivals.clone(), received.clone());
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut read = BufReader::new(read);
                loop {
                    let mut length = 0usize;
                    let mut webhook_id = String::new();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        } else if let Some(v) = lower.strip_prefix("webhook-id:") {
                            webhook_id = v.trim().to_string();
                        }
                    }
                    let mut body = vec![0; length];
                    if read.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    {
                        let mut received = received.lock().unwrap();
                        received.ids.insert(webhook_id);
                        received.deliveries += 1;
                        received.last = Some(Instant::now());
                    }
                    if let Ok(payload) = serde_json::from_slice::<Value>(&body)
                        && let Some(id) = payload["data"]["id"].as_str()
                    {
                        arrivals
                            .lock()
                            .unwrap()
                            .entry(id.to_string())
                            .or_insert_with(Instant::now);
                    }
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if write.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

async fn post(client: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let ok = response.status().is_success();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(ok, "{body}");
    body
}

#[tokio::main]
async fn main() {
    let mut rdvs = 2000usize;
    let mut clients = 8usize;
    let mut postgres = None;
    let (mut drain, mut endpoints, mut relays) = (false, 1usize, 1usize);
    let mut rate: Option<f64> = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--drain" {
            drain = true;
            continue;
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--rdvs" => rdvs = value.parse().expect("--rdvs N"),
            "--clients" => clients = value.parse().expect("--clients N"),
            "--postgres" => postgres = Some(value),
            "--endpoints" => endpoints = value.parse().expect("--endpoints N"),
            "--relays" => relays = value.parse().expect("--relays N"),
            "--rate" => rate = Some(value.parse().expect("--rate bookings per second")),
            other => panic!("unknown flag {other}"),
        }
    }
    let arrivals: Arrivals = Arc::default();
    let received: Arc<Mutex<Received>> = Arc::default();
    let hook_url = receiver(arrivals.clone(), received.clone()).await;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut config = Config::embedded(dir.path().to_path_buf());
    config.admin_token = Some(ADMIN.into());
    config.scheduler = false;
    config.embedded_workers = !drain;
    config.webhook_allow_hosts = "127.0.0.1".into();
    config.db_max_connections = 32;
    if let Some(base) = &postgres {
        let name = rdv_eventstore::postgres::unique_database_name("rdv_webhooks");
        config.database_url = Some(
            rdv_eventstore::postgres::PostgresBackend::create_database(base, &name)
                .await
                .expect("create database"),
        );
    }
    let clock: Arc<dyn rdv_domain::Clock> = Arc::new(FixedClock::at("2026-01-05T08:00:00Z".parse().unwrap()));
    let app = App::build(config.clone(), clock.clone()).await.expect("app");
    let keyed_store = app.state().store.clone();
    let store = keyed_store.kind();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run(std::future::pending()));
    let http = reqwest::Client::new();

    let territory = post(
        &http,
        format!("{base}/v1/territories"),
        ADMIN,
        json!({"name": "D", "departement_number": "26"}),
    )
    .await;
    let territory = territory["id"].as_str().unwrap().to_string();
    post(
        &http,
        format!("{base}/v1/territories/{territory}/services/service_social/activate"),
        ADMIN,
        json!({}),
    )
    .await;
    let organisation = post(
        &http,
        format!("{base}/v1/territories/{territory}/organisations"),
        ADMIN,
        json!({"name": "CMS"}),
    )
    .await;
    let organisation = organisation["id"].as_str().unwrap().to_string();
    let motif = post(
        &http,
        format!("{base}/v1/territories/{territory}/motifs"),
        ADMIN,
        json!({
            "informations": {"name": "Accueil", "color": "#123456", "service": "service_social", "default_duration_in_min": 30,
                             "location_type": "phone", "collective": false, "max_participants": null,
                             "visibility": "visible_and_notified", "follow_up": false, "category": null},
            "organisation_ids": [organisation],
        }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let agent = post(
        &http,
        format!("{base}/v1/organisations/{organisation}/agents"),
        ADMIN,
        json!({"first_name": "A", "last_name": "B", "services": ["service_social"], "role": "intervenant"}),
    )
    .await["agent_id"]
        .as_str()
        .unwrap()
        .to_string();
    let usager = post(
        &http,
        format!("{base}/v1/usagers"),
        ADMIN,
        json!({"organisation_ids": [organisation], "first_name": "U", "last_name": "V"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..endpoints {
        post(
            &http,
            format!("{base}/v1/organisations/{organisation}/webhook-endpoints"),
            ADMIN,
            json!({"target_url": hook_url, "subscriptions": ["rdv"]}),
        )
        .await;
    }

    // Agents' bookings (overlaps are only warnings), each a distinct RDV.
    let committed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base, committed, next) = (http.clone(), base.clone(), committed.clone(), next.clone());
            let (organisation, motif, agent, usager) =
                (organisation.clone(), motif.clone(), agent.clone(), usager.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= rdvs {
                        return;
                    }
                    rdv_tests::paced(started, n, rate).await;
                    // Concurrent bookings on different days: no agent-day contention.
                    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 6).unwrap()
                        + chrono::Duration::days((n % 1000) as i64);
                    let starts_at = format!("{day}T{:02}:00:00+01:00", 9 + n / 1000);
                    let body = json!({"organisation_id": organisation, "motif_id": motif, "agent_ids": [agent],
                                      "usager_ids": [usager], "starts_at": starts_at});
                    let answer = post(&http, format!("{base}/v1/rdvs"), ADMIN, body).await;
                    committed
                        .lock()
                        .unwrap()
                        .insert(answer["id"].as_str().unwrap().to_string(), Instant::now());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let booked_in = started.elapsed();
    if drain {
        return drain_with((config, clock), keyed_store, relays, rdvs * endpoints, received).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while arrivals.lock().unwrap().len() < rdvs && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = arrivals.lock().unwrap().clone();
    let committed = committed.lock().unwrap().clone();
    let mut delays: Vec<f64> = committed
        .iter()
        .filter_map(|(id, at)| {
            arrivals
                .get(id)
                .map(|a| a.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let first = arrivals.values().min().copied().unwrap_or(started);
    let last = arrivals.values().max().copied().unwrap_or(started);
    let pct = |p: f64| delays[((delays.len() as f64 * p) as usize).min(delays.len().saturating_sub(1))];
    println!(
        "webhooks store={store} clients={clients}{} rdvs={rdvs} delivered={} booking_rate={:.0}/s delivery_rate={:.0}/s \
         commit_to_arrival p50={:.1}ms p99={:.1}ms",
        rate.map(|r| format!(" paced={r:.0}/s")).unwrap_or_default(),
        arrivals.len(),
        rdvs as f64 / booked_in.as_secs_f64(),
        arrivals.len() as f64 / last.duration_since(first).as_secs_f64().max(0.001),
        pct(0.5),
        pct(0.99),
    );
}

/// The `--drain` measure: the dispatch projection makes every delivery, then
/// `relays` workers deliver them; prints their rate.
async fn drain_with(
    (config, clock): (Config, Arc<dyn rdv_domain::Clock>),
    store: rdv_eventstore::EventStore,
    relays: usize,
    expected: usize,
    received: Arc<Mutex<Received>>,
) {
    let dispatch = rdv_projections::all()
        .into_iter()
        .find(|p| p.name() == "webhook_dispatch")
        .expect("the dispatch projection");
    let kind = store.kind();
    rdv_projections::Projector::new(store, dispatch)
        .catch_up()
        .await
        .expect("dispatch");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let started = Instant::now();
    for _ in 0..relays {
        let (store, key) = rdv_gateway::app::open_store_and_key(&config)
            .await
            .expect("relay store");
        let commands =
            rdv_eventstore::CommandService::new(store, rdv_domain::Services::new(clock.clone(), config.invitation_ttl));
        tokio::spawn(rdv_gateway::app::webhook_relay(&config, commands, key).run(shutdown.clone()));
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    while received.lock().unwrap().deliveries < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.cancel();
    let received = received.lock().unwrap();
    let took = received.last.map_or(started.elapsed(), |l| l.duration_since(started));
    println!(
        "webhooks_drain store={kind} relays={relays} deliveries={} distinct={} expected={expected} rate={:.0}/s",
        received.deliveries,
        received.ids.len(),
        received.deliveries as f64 / took.as_secs_f64().max(0.001),
    );
}
