//! Availability benchmark: a generated territory (by default 300 agents with
//! 5 weekly plages each, 10,000 absences and 100,000 RDVs over 2026), then
//! 7-day usager slot searches and next-availability searches over HTTP
//! against the real app in this process, next to the same 7-day search done
//! by a naive rescan of the events (read the whole feed, fold the calendars,
//! search), measured in the same run. Prints latencies and the process's
//! resident memory. Loopback only, bounded by its flags.
//!
//! cargo run --release -p rdv-tests --bin rdv-availability -- [--postgres URL] [--agents 300]
//!     [--rdvs 100000] [--absences 10000] [--searches 300] [--rescans 5]

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rdv_app::availability as engine;
use rdv_domain::{
    FixedClock,
    agent_day::{AgentDay, AgentDayEvent},
    ids::{AgentId, LieuId, MotifId, OrganisationId, RdvId, UsagerId},
    rdv::{Actor, Booking, Rdv, RdvEvent},
};
use rdv_eventstore::{AppendRequest, EventMetadata, EventStore, NewEvent, StreamAppend, codec};
use rdv_gateway::{App, Config};
use rdv_projections::{availability::AvailabilityChange, availability_index::Calendars};
use serde_json::{Value, json};
use std::{collections::HashMap, sync::Arc, time::Instant};
use uuid::Uuid;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN: &str = "availability-bench-admin";
const NOW: &str = "2026-01-05T07:00:00Z";

struct Args {
    postgres: Option<String>,
    agents: usize,
    rdvs: usize,
    absences: usize,
    searches: usize,
    rescans: usize,
}

fn args() -> Args {
    let mut a = Args {
        postgres: None,
        agents: 300,
        rdvs: 100_000,
        absences: 10_000,
        searches: 300,
        rescans: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--postgres" => a.postgres = Some(value()),
            "--agents" => a.agents = value().parse().expect("--agents N"),
            "--rdvs" => a.rdvs = value().parse().expect("--rdvs N"),
            "--absences" => a.absences = value().parse().expect("--absences N"),
            "--searches" => a.searches = value().parse().expect("--searches N"),
            "--rescans" => a.rescans = value().parse().expect("--rescans N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .expect("request");
        let ok = response.status().is_success();
        let body: Value = response.json().await.expect("json");
        assert!(ok, "{path}: {body}");
        body
    }

    /// Milliseconds a GET took; the answer must be a success.
    async fn timed_get(&self, path: &str) -> f64 {
        let t = Instant::now();
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("request");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.bytes().await.expect("body");
        t.elapsed().as_secs_f64() * 1000.0
    }
}

fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    format!("p50={:.2}ms p99={:.2}ms max={:.2}ms", at(0.5), at(0.99), at(1.0))
}

fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn metadata(at: DateTime<Utc>) -> EventMetadata {
    EventMetadata {
        event_id: Uuid::now_v7(),
        occurred_at: at,
        actor: "bench".into(),
        correlation_id: Uuid::now_v7(),
        causation_id: None,
        idempotency_key: None,
    }
}

fn new_event<A: cqrs_es::Aggregate>(event: &A::Event, at: DateTime<Utc>) -> NewEvent {
    let (event_type, event_version, payload) = codec::encode::<A>(event).expect("encode");
    NewEvent {
        event_type,
        event_version,
        payload,
        metadata: metadata(at),
    }
}

/// The working days of 2026 from 6 January.
fn working_days() -> Vec<NaiveDate> {
    let first: NaiveDate = "2026-01-06".parse().unwrap();
    (0..360)
        .map(|d| first + Duration::days(d))
        .filter(|d| d.weekday().number_from_monday() <= 5)
        .collect()
}

/// Appends `count` RDVs (each `RdvBooked` and its agent's `TimeReserved`)
/// straight to the store, in batches: 30 minutes, spread over the agents'
/// working days, never two on one agent's time.
async fn generate_rdvs(store: &EventStore, ids: &Ids, agents: &[AgentId], count: usize) {
    let days = working_days();
    let at: DateTime<Utc> = NOW.parse().unwrap();
    let mut versions: HashMap<String, i64> = HashMap::new();
    let mut request = AppendRequest::default();
    for i in 0..count {
        let agent = agents[i % agents.len()];
        let round = i / agents.len();
        let day = days[round % days.len()];
        let slot = (round / days.len() * 5 + i % 7) % 16;
        // 09:00 local (+01:00 in winter, +02:00 in summer is close enough for load).
        let starts_at = day.and_hms_opt(8, 0, 0).unwrap().and_utc() + Duration::minutes(30 * slot as i64);
        let ends_at = starts_at + Duration::minutes(30);
        let rdv_id = RdvId::new();
        let booking = Booking {
            organisation_id: ids.organisation,
            motif_id: ids.motif,
            lieu_id: Some(ids.lieu),
            agent_ids: [agent].into(),
            usager_ids: [UsagerId::new()].into(),
            starts_at,
            ends_at,
            context: None,
            created_by: Actor::Agent { agent_id: agent },
            participation_token: None,
            collective: None,
            prescripteur: None,
        };
        let booked = RdvEvent::RdvBooked {
            booking: Box::new(booking),
        };
        request.streams.push(StreamAppend {
            aggregate_type: "Rdv".into(),
            aggregate_id: rdv_id.to_string(),
            expected_version: 0,
            events: vec![new_event::<Rdv>(&booked, at)],
        });
        let stream = AgentDay::stream_id(agent, day);
        let version = versions.entry(stream.clone()).or_insert(0);
        let reserved = AgentDayEvent::TimeReserved {
            rdv_id,
            starts_at,
            ends_at,
        };
        request.streams.push(StreamAppend {
            aggregate_type: "AgentDay".into(),
            aggregate_id: stream,
            expected_version: *version,
            events: vec![new_event::<AgentDay>(&reserved, at)],
        });
        *version += 1;
        if request.streams.len() >= 2000 {
            store.append(&std::mem::take(&mut request), None).await.expect("append");
        }
    }
    if !request.streams.is_empty() {
        store.append(&request, None).await.expect("append");
    }
}

struct Ids {
    territory: String,
    organisation: OrganisationId,
    motif: MotifId,
    lieu: LieuId,
}

async fn setup(client: &Client) -> Ids {
    let territory = client
        .post("/v1/territories", json!({"name": "Drôme", "departement_number": "26"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    client
        .post(
            &format!("/v1/territories/{territory}/services/service_social/activate"),
            json!({}),
        )
        .await;
    let organisation: OrganisationId = client
        .post(
            &format!("/v1/territories/{territory}/organisations"),
            json!({"name": "CMS"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let motif = client
        .post(
            &format!("/v1/territories/{territory}/motifs"),
            json!({
                "informations": {"name": "Accueil", "color": "#123456", "service": "service_social", "default_duration_in_min": 30,
                                 "location_type": "public_office", "collective": false, "max_participants": null,
                                 "visibility": "visible_and_notified", "follow_up": false, "category": null},
                "booking": {"bookable_by": "everyone", "min_booking_delay_in_min": 30, "max_booking_delay_in_min": 525600,
                            "usager_can_cancel": true, "usager_can_reschedule": true, "sectorisation_level": "departement"},
                "organisation_ids": [organisation],
            }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let lieu = client
        .post(
            &format!("/v1/organisations/{organisation}/lieux"),
            json!({"name": "Accueil", "address": "1 rue A"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    Ids {
        territory,
        organisation,
        motif,
        lieu,
    }
}

/// Runs `jobs` POSTs eight at a time.
async fn post_all(client: &Arc<Client>, jobs: Vec<(String, Value)>) -> Vec<Value> {
    let jobs = Arc::new(std::sync::Mutex::new(jobs.into_iter().enumerate().collect::<Vec<_>>()));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, jobs) = (client.clone(), jobs.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let Some((i, (path, body))) = jobs.lock().unwrap().pop() else {
                        return done;
                    };
                    done.push((i, client.post(&path, body).await));
                }
            })
        })
        .collect();
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.unwrap());
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, v)| v).collect()
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut config = Config::embedded(dir.path().to_path_buf());
    // Projectors off: searches read the in-memory index, which every
    // gateway keeps; the documents are not what is measured.
    config.embedded_workers = false;
    config.scheduler = false;
    config.admin_token = Some(ADMIN.into());
    if let Some(base) = &args.postgres {
        let name = rdv_eventstore::postgres::unique_database_name("rdv_availability");
        config.database_url = Some(
            rdv_eventstore::postgres::PostgresBackend::create_database(base, &name)
                .await
                .expect("create database"),
        );
    }
    let app = App::build(config, Arc::new(FixedClock::at(NOW.parse().unwrap())))
        .await
        .expect("app");
    let state = app.state().clone();
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        base: format!("http://{}", app.local_addr()),
    });
    tokio::spawn(app.run(std::future::pending()));
    let store_kind = state.store.kind();

    let started = Instant::now();
    let ids = setup(&client).await;
    let invite = |i: usize| {
        (
            format!("/v1/organisations/{}/agents", ids.organisation),
            json!({"first_name": "Agent", "last_name": format!("N{i}"), "services": ["service_social"], "role": "intervenant"}),
        )
    };
    let agents: Vec<AgentId> = post_all(&client, (0..args.agents).map(invite).collect())
        .await
        .iter()
        .map(|a| a["agent_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday"];
    let plages = agents.iter().flat_map(|agent| {
        weekdays.iter().map(move |day| {
            (
                format!("/v1/agents/{agent}/plages"),
                json!({"organisation_id": ids.organisation, "lieu_id": ids.lieu, "motif_ids": [ids.motif],
                       "first_day": "2026-01-05", "start_time": "09:00", "end_time": "17:00",
                       "recurrence": {"every": "week", "interval": 1, "days": [day], "end": {"type": "never"}}}),
            )
        })
    });
    post_all(&client, plages.collect()).await;
    let days = working_days();
    let absences = (0..args.absences).map(|i| {
        let day = days[(i * 7) % days.len()];
        (
            format!("/v1/agents/{}/absences", agents[i % agents.len()]),
            json!({"title": "Formation", "first_day": day, "start_time": "14:00", "end_time": "16:00"}),
        )
    });
    post_all(&client, absences.collect()).await;
    generate_rdvs(&state.store, &ids, &agents, args.rdvs).await;
    let head = state.store.head().await.expect("head");
    state.wait_for_availability(Some(head)).await.expect("index caught up");
    println!(
        "generated store={store_kind} agents={} plages={} absences={} rdvs={} events_head={head} in {:.1}s",
        agents.len(),
        agents.len() * 5,
        args.absences,
        args.rdvs,
        started.elapsed().as_secs_f64()
    );

    // 7-day usager searches over HTTP, week after week.
    let week = |i: usize| NaiveDate::from_ymd_opt(2026, 1, 5).unwrap() + Duration::weeks((i % 50) as i64);
    let mut searches = Vec::new();
    for i in 0..args.searches {
        let (from, to) = (week(i), week(i) + Duration::days(6));
        let path = format!(
            "/v1/public/slots?organisation_id={}&motif_id={}&from={from}&to={to}",
            ids.organisation, ids.motif
        );
        searches.push(client.timed_get(&path).await);
    }
    println!("usager_search_7_days store={store_kind} http {}", percentiles(searches));
    let mut next = Vec::new();
    for i in 0..args.searches {
        let path = format!(
            "/v1/organisations/{}/next-availability?motif_id={}&from={}",
            ids.organisation,
            ids.motif,
            week(i)
        );
        next.push(client.timed_get(&path).await);
    }
    println!("next_availability store={store_kind} http {}", percentiles(next));
    println!(
        "resident_memory store={store_kind} {:.0} MB (driver and server together)",
        resident_mb()
    );

    // The same 7-day search by a naive rescan of the events.
    let organisation = ids.organisation.to_string();
    let search = engine::SlotSearch::prepare(&state, &organisation, |_, _| Ok(()), ids.motif, None)
        .await
        .expect("search");
    let mut search = search
        .days(Some(week(3)), Some(week(3) + Duration::days(6)))
        .expect("days");
    search.earliest = state.services().now() + Duration::minutes(30);
    let indexed = state
        .availability
        .read(|c| engine::search_in(c, &search, state.services().now()));
    let mut rescans = Vec::new();
    for _ in 0..args.rescans {
        let t = Instant::now();
        let mut calendars = Calendars::default();
        let mut position = 0;
        loop {
            let events = state.store.read_feed(position, 5000).await.expect("feed");
            let Some(last) = events.last() else { break };
            position = last.position;
            for event in &events {
                if let Some(change) = AvailabilityChange::of(event).expect("change") {
                    calendars.apply(change);
                }
            }
        }
        let slots = engine::search_in(&calendars, &search, state.services().now());
        rescans.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(slots, indexed, "the rescan and the index agree");
    }
    println!(
        "usager_search_7_days_naive_rescan store={store_kind} in-process {} ({} slots)",
        percentiles(rescans),
        indexed.len()
    );
    let _ = ids.territory;
}
