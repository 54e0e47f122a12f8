//! End-to-end suite of the distributed mode, on the real PostgreSQL and
//! NATS: two gateways, one projector, one publisher and two relays run as
//! child `rdv` processes on loopback while several clients drive the mixed
//! load ([`rdv_tests::mix`]) through both gateways. Meanwhile the projector,
//! a relay and the publisher are SIGKILLed and restarted, and an SI's
//! durable JetStream consumer is deleted and created again. In the end:
//! every read model equals a rebuild from position 0 (`rdv verify`), every
//! webhook was delivered, JetStream holds every event once, and no agent's
//! time was booked twice.

use async_nats::jetstream::{self, consumer::pull};
use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use futures::StreamExt;
use rdv_eventstore::EventStore;
use rdv_tests::mix::{self, Budget, Target};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

const ADMIN: &str = "e2e-platform-admin-token";

/// The `rdv` processes of the deployment, killed when the test ends however
/// it ends.
struct Deployment {
    binary: PathBuf,
    env: Vec<(&'static str, String)>,
    children: BTreeMap<&'static str, Child>,
    gateways: Vec<String>,
    projector_metrics: String,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Deployment {
    /// Starts (or restarts) the process `name` runs as.
    fn start(&mut self, name: &'static str) {
        let (command, extra): (&str, Vec<(&str, String)>) = match name {
            "gateway-1" => ("serve", vec![("RDV_LISTEN", self.gateways[0].replace("http://", ""))]),
            "gateway-2" => ("serve", vec![("RDV_LISTEN", self.gateways[1].replace("http://", ""))]),
            "projector" => (
                "project",
                vec![("RDV_METRICS_LISTEN", self.projector_metrics.replace("http://", ""))],
            ),
            "publisher" => ("publish", vec![]),
            "relay-1" | "relay-2" => ("relay", vec![]),
            other => panic!("no process {other}"),
        };
        let child = Command::new(&self.binary)
            .arg(command)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .envs(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("an rdv process starts");
        self.children.insert(name, child);
    }

    fn kill(&mut self, name: &'static str) {
        let mut child = self.children.remove(name).expect("a running process");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Waits (bounded) until `url` answers 200.
async fn until_ready(url: &str) {
    for _ in 0..300 {
        if reqwest::get(url).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered 200");
}

/// Every webhook-id the receiver accepted.
type Received = Arc<Mutex<BTreeSet<String>>>;

async fn receive(State(seen): State<Received>, headers: HeaderMap, _body: Bytes) -> &'static str {
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        seen.lock().unwrap().insert(id.to_string());
    }
    "ok"
}

/// The SI's durable consumer: every event id it was handed, acknowledged.
async fn consume(stream: jetstream::stream::Stream, name: String, seen: Arc<Mutex<BTreeSet<String>>>) {
    let Ok(consumer) = stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await
    else {
        return;
    };
    let Ok(mut messages) = consumer.messages().await else {
        return;
    };
    while let Some(Ok(message)) = messages.next().await {
        if let Some(id) = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")) {
            seen.lock().unwrap().insert(id.to_string());
        }
        if message.ack().await.is_err() {
            return;
        }
    }
}

/// Waits (bounded, `what` names it) until `check` holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, seconds: u64, mut check: impl FnMut() -> F) {
    for _ in 0..seconds * 10 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {seconds} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributed_deployment_survives_kills_and_ends_consistent() {
    let (Some(database_url), Some(nats_url)) = (
        rdv_tests::postgres_database_url("rdv_e2e").await,
        rdv_tests::nats_url().await,
    ) else {
        return;
    };
    let binary = rdv_tests::rdv_binary();
    let data = tempfile::TempDir::new().unwrap();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let (stream_name, prefix) = (format!("RDV_E2E_{run}"), format!("rdv.e2e{run}"));
    let master_key = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    };
    let mut deployment = Deployment {
        binary,
        env: vec![
            ("DATABASE_URL", database_url.clone()),
            ("NATS_URL", nats_url.clone()),
            ("RDV_NATS_STREAM", stream_name.clone()),
            ("RDV_NATS_PREFIX", prefix.clone()),
            ("RDV_MASTER_KEY", master_key),
            ("RDV_ADMIN_TOKEN", ADMIN.into()),
            ("RDV_NOW", "2026-01-05T09:00:00Z".into()),
            ("RDV_EMBEDDED_WORKERS", "false".into()),
            ("RDV_SCHEDULER", "false".into()),
            // The clients share one address: no per-address limit.
            ("RDV_PUBLIC_RATE_LIMIT", "0".into()),
            ("RDV_DATA_DIR", data.path().display().to_string()),
            ("RDV_WEBHOOK_ALLOW_HOSTS", "127.0.0.1".into()),
            ("RDV_WEBHOOK_TIMEOUT", "2".into()),
            ("RDV_WEBHOOK_RETRY_SCHEDULE", format!("0{}", ",1".repeat(60))),
            ("RDV_DB_MAX_CONNECTIONS", "8".into()),
            ("RDV_LOG", "error".into()),
        ],
        children: BTreeMap::new(),
        gateways: (0..2).map(|_| format!("http://127.0.0.1:{}", free_port())).collect(),
        projector_metrics: format!("http://127.0.0.1:{}", free_port()),
    };
    for name in ["gateway-1", "gateway-2", "projector", "publisher", "relay-1", "relay-2"] {
        deployment.start(name);
    }
    for gateway in deployment.gateways.clone() {
        until_ready(&format!("{gateway}/ready")).await;
    }
    until_ready(&format!("{}/ready", deployment.projector_metrics)).await;

    // The SI's webhook receiver, subscribed to RDVs.
    let received: Received = Arc::default();
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let receiver = Router::new()
        .route("/hooks", post(receive))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let clients = 4;
    let target = Target::new(deployment.gateways.clone(), ADMIN, clients);
    let world = mix::prepare(&target, 3, "2026-01-06".parse().unwrap()).await;
    let endpoint = target
        .call(
            0,
            reqwest::Method::POST,
            &format!("/v1/organisations/{}/webhook-endpoints", world.organisation),
            Some(json!({"target_url": format!("http://127.0.0.1:{port}/hooks"), "subscriptions": ["rdv", "user"]})),
        )
        .await;
    assert!(endpoint.status.is_success(), "{}", endpoint.body);

    // The SI's durable consumer on the stream the publisher made.
    let jetstream = jetstream::new(async_nats::connect(&nats_url).await.unwrap());
    let mut stream = None;
    for _ in 0..100 {
        if let Ok(s) = jetstream.get_stream(&stream_name).await {
            stream = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stream = stream.expect("the publisher created the stream");
    let consumed: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let durable = "si-e2e".to_string();
    let mut si = tokio::spawn(consume(stream.clone(), durable.clone(), consumed.clone()));

    // The load, and the faults while it runs.
    let load = {
        let (target, world) = (target.clone(), world.clone());
        tokio::spawn(async move {
            mix::drive(
                &target,
                &world,
                clients,
                Budget {
                    cycles: Some(200),
                    time: Some(Duration::from_secs(120)),
                },
            )
            .await
        })
    };
    let pause = |ms| tokio::time::sleep(Duration::from_millis(ms));
    pause(1500).await;
    deployment.kill("projector");
    pause(500).await;
    deployment.start("projector");
    pause(1000).await;
    deployment.kill("relay-1");
    pause(300).await;
    deployment.start("relay-1");
    pause(1000).await;
    deployment.kill("publisher");
    pause(500).await;
    deployment.start("publisher");
    pause(500).await;
    // The SI's side of NATS restarts: its consumer is deleted, then made
    // again (from the stream's start) by the SI coming back.
    si.abort();
    let _ = si.await;
    stream.delete_consumer(&durable).await.unwrap();
    consumed.lock().unwrap().clear();
    si = tokio::spawn(consume(stream.clone(), durable.clone(), consumed.clone()));

    let report = load.await.unwrap();
    println!("{}", report.table());
    assert!(
        report.unexpected.is_empty(),
        "{} unexpected answers, the first: {:#?}",
        report.unexpected.len(),
        &report.unexpected[..report.unexpected.len().min(5)]
    );
    assert!(report.cycles >= 40, "the load ran ({} cycles)", report.cycles);
    assert!(!report.booked.is_empty() && !report.cancelled.is_empty() && !report.convoked.is_empty());

    let store = EventStore::connect_postgres(&database_url, 4).await.unwrap();
    // Every request was answered, so every event is committed; the readable
    // head may still lag behind while another test (the server's xid
    // horizon is shared) holds a transaction open: take the last written.
    let head = store.last_written().await.unwrap();
    // Every projection and the publisher catch up with the store.
    let publisher_checkpoint = format!("publisher:{stream_name}");
    eventually("projectors and publisher at the head", 60, || {
        let (store, publisher_checkpoint) = (store.clone(), publisher_checkpoint.clone());
        async move {
            let checkpoints: BTreeMap<String, i64> = store.checkpoints().await.unwrap().into_iter().collect();
            let publisher = checkpoints.get(&publisher_checkpoint) >= Some(&head);
            publisher
                && rdv_projections::all()
                    .iter()
                    .all(|p| checkpoints.get(p.name()) >= Some(&head))
        }
    })
    .await;

    // JetStream holds every event of the store exactly once, and the SI's
    // consumer, made again, was handed each of them.
    let (ids, last) = event_ids(&store).await;
    assert_eq!(last, head, "the feed reads up to the head");
    let info = stream.clone().info().await.unwrap().state.clone();
    assert_eq!(
        info.messages,
        ids.len() as u64,
        "one message per event in {stream_name}"
    );
    eventually("the SI consumer read every event", 30, || {
        let (consumed, ids) = (consumed.clone(), ids.clone());
        async move { ids.is_subset(&consumed.lock().unwrap()) }
    })
    .await;
    si.abort();

    // Every webhook was delivered (a delivery a killed relay held waits
    // out its lease first).
    let pending = || {
        let store = store.clone();
        async move { store.delivery_queue_depth().await.unwrap() }
    };
    eventually("every webhook delivered", 150, || async { pending().await == 0 }).await;
    let deliveries: Vec<(String, String)> = sqlx::query_as("SELECT id, status FROM webhook_deliveries")
        .fetch_all(&sqlx::PgPool::connect(&database_url).await.unwrap())
        .await
        .unwrap();
    assert!(
        deliveries.len() >= report.booked.len(),
        "a delivery per booking at least"
    );
    let received = received.lock().unwrap().clone();
    for (id, status) in &deliveries {
        assert_eq!(status, "succeeded", "delivery {id}");
        assert!(received.contains(id), "delivery {id} reached the receiver");
    }

    // Nobody's time was booked twice: the live RDVs of each agent do not
    // overlap.
    let rdvs = store.dump_projection(rdv_projections::rdvs::NAME).await.unwrap();
    let mut by_agent: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (collection, _, _, doc) in &rdvs {
        if collection != rdv_projections::rdvs::RDVS || is_cancelled(doc) {
            continue;
        }
        for agent in doc["agent_ids"].as_array().unwrap() {
            by_agent.entry(agent.as_str().unwrap().to_string()).or_default().push((
                doc["starts_at"].as_str().unwrap().to_string(),
                doc["ends_at"].as_str().unwrap().to_string(),
            ));
        }
    }
    let live: usize = by_agent.values().map(Vec::len).sum();
    assert!(live > 0, "live RDVs remain");
    for (agent, mut times) in by_agent {
        times.sort();
        for pair in times.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "agent {agent} booked twice: {pair:?}");
        }
    }

    // The whole history replays into a fresh embedded data dir, every
    // event of it, and every read model equals a rebuild from position 0.
    let (binary, env) = (deployment.binary.clone(), deployment.env.clone());
    drop(deployment);
    let fresh = tempfile::TempDir::new().unwrap();
    let replayed = Command::new(&binary)
        .arg("replay")
        .arg("--into")
        .arg(fresh.path())
        .envs(env.clone())
        .output()
        .expect("rdv replay runs");
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let (ids, _) = event_ids(&store).await;
    assert!(
        String::from_utf8_lossy(&replayed.stdout).starts_with(&format!("replayed {} events", ids.len())),
        "{}",
        String::from_utf8_lossy(&replayed.stdout)
    );
    let verified = Command::new(binary)
        .arg("verify")
        .envs(env)
        .status()
        .expect("rdv verify runs")
        .success();
    assert!(verified, "rdv verify found read models differing from a replay");
    let _ = jetstream.delete_stream(&stream_name).await;
}

/// The id of every event in the store, and the last position read.
async fn event_ids(store: &EventStore) -> (BTreeSet<String>, i64) {
    let mut ids = BTreeSet::new();
    let mut after = 0;
    loop {
        let (page, _) = store.stored_feed_of(after, 1000, &[]).await.unwrap();
        let Some(last) = page.last() else { return (ids, after) };
        after = last.position;
        ids.extend(page.iter().map(|e| e.metadata.event_id.to_string()));
    }
}

fn is_cancelled(doc: &Value) -> bool {
    matches!(doc["status"].as_str(), Some("excused" | "revoked"))
}
