//! Follow-ups benchmark: one organisation and category with (by default)
//! 100,000 usagers' follow-ups written straight to the store (invited over
//! the last 20 days, a third with an RDV, some of them no-shows), the
//! projector catching up in the real app in this process, then over HTTP:
//! "Une intervention est nécessaire" (first page, and 20 pages deep),
//! the list filtered by status, and the category's statistics. Prints the
//! catch-up time and latencies. Loopback only, bounded by its flags.
//!
//! cargo run --release -p rdv-tests --bin rdv-followups -- [--postgres URL] [--follow-ups 100000] [--queries 200]

use chrono::{DateTime, Utc};
use rdv_domain::{FixedClock, ids::UsagerId};
use rdv_eventstore::AppendRequest;
use rdv_gateway::{App, Config};
use rdv_tests::histories;
use serde_json::Value;
use std::{sync::Arc, time::Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN: &str = "followups-bench-admin";
use rdv_tests::mix::CATEGORY;
const NOW: &str = "2026-03-02T09:00:00Z";

struct Args {
    postgres: Option<String>,
    follow_ups: usize,
    queries: usize,
}

fn args() -> Args {
    let mut a = Args {
        postgres: None,
        follow_ups: 100_000,
        queries: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--postgres" => a.postgres = Some(value()),
            "--follow-ups" => a.follow_ups = value().parse().expect("--follow-ups N"),
            "--queries" => a.queries = value().parse().expect("--queries N"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn percentiles(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    format!("p50={:.2}ms p99={:.2}ms max={:.2}ms", at(0.5), at(0.99), at(1.0))
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn send(&self, request: reqwest::RequestBuilder) -> (f64, Value) {
        let t = Instant::now();
        let response = request.bearer_auth(ADMIN).send().await.expect("request");
        let ok = response.status().is_success();
        let body: Value = response.json().await.expect("json");
        assert!(ok, "{body}");
        (t.elapsed().as_secs_f64() * 1000.0, body)
    }

    async fn get(&self, path: &str) -> (f64, Value) {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut config = Config::embedded(dir.path().to_path_buf());
    config.scheduler = false;
    config.admin_token = Some(ADMIN.into());
    if let Some(base) = &args.postgres {
        let name = rdv_eventstore::postgres::unique_database_name("rdv_followups");
        config.database_url = Some(
            rdv_eventstore::postgres::PostgresBackend::create_database(base, &name)
                .await
                .expect("create database"),
        );
    }
    let now: DateTime<Utc> = NOW.parse().unwrap();
    let app = App::build(config, Arc::new(FixedClock::at(now))).await.expect("app");
    let state = app.state().clone();
    let client = Client {
        http: reqwest::Client::new(),
        base: format!("http://{}", app.local_addr()),
    };
    tokio::spawn(app.run(std::future::pending()));
    let organisation = histories::rsa_organisation(&client.base, ADMIN).await;

    let t = Instant::now();
    let mut request = AppendRequest::default();
    let (mut events_written, mut last) = (0, 0);
    for i in 0..args.follow_ups {
        let (id, events) = histories::follow_up(i, organisation, UsagerId::new(), now);
        events_written += events.len();
        request
            .streams
            .push(histories::stream("FollowUp", id.to_string(), events));
        if request.streams.len() == 500 || i + 1 == args.follow_ups {
            let committed = state
                .store
                .append(&std::mem::take(&mut request), None)
                .await
                .expect("append");
            last = committed.last().map_or(last, |e| e.position);
        }
    }
    let written = t.elapsed();
    let t = Instant::now();
    // The last appended position, not the head: on PostgreSQL the head
    // stays below transactions still open, the projector's among them.
    while state.store.checkpoint("follow_ups").await.expect("checkpoint").0 < last {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let caught_up = t.elapsed();
    println!(
        "store={} follow_ups={} events={events_written} written_in={:.1}s projected_in={:.1}s ({:.0} events/s)",
        state.store.kind(),
        args.follow_ups,
        written.as_secs_f64(),
        caught_up.as_secs_f64(),
        events_written as f64 / caught_up.as_secs_f64()
    );

    let list = format!("/v1/organisations/{organisation}/follow-ups?motif_category={CATEGORY}");
    let mut first_page = Vec::new();
    let mut total = 0;
    for _ in 0..args.queries {
        let (ms, body) = client.get(&format!("{list}&action_required=true")).await;
        total = body["items"].as_array().map_or(0, Vec::len);
        first_page.push(ms);
    }
    println!("action required, first page of {total}: {}", percentiles(first_page));
    let mut deep = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..20 {
        let cursor = after.as_ref().map(|a| format!("&after={a}")).unwrap_or_default();
        let (ms, body) = client.get(&format!("{list}&action_required=true{cursor}")).await;
        deep.push(ms);
        after = body["next"].as_str().map(String::from);
    }
    println!("action required, 20 pages in a row: {}", percentiles(deep));
    let mut by_status = Vec::new();
    for _ in 0..args.queries.min(50) {
        by_status.push(client.get(&format!("{list}&status=rdv_noshow")).await.0);
    }
    println!(
        "filtered by status (rdv_noshow), first page: {}",
        percentiles(by_status)
    );
    let mut stats = Vec::new();
    let mut last = Value::Null;
    for _ in 0..5 {
        let (ms, body) = client
            .get(&format!(
                "/v1/organisations/{organisation}/stats?motif_category={CATEGORY}"
            ))
            .await;
        stats.push(ms);
        last = body;
    }
    println!("stats over every follow-up: {} {last}", percentiles(stats));
}
