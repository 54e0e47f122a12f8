//! Fault test of webhook delivery across processes on PostgreSQL: the
//! gateway in this process, `rdv project` and `rdv relay` as child
//! processes. While bookings and cancellations stream in, the receiver is
//! down for a while and the relay is killed (SIGKILL) and restarted twice.
//! In the end every RDV event reached the receiver at least once, and each
//! RDV's deliveries arrived in version order (a repeat carries the same
//! `webhook-id`).

use crate::{helpers::*, slots::setup};
use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

/// A child `rdv` process sharing the test app's store and master key.
fn spawn(binary: &PathBuf, command: &str, app: &TestApp) -> Child {
    Command::new(binary)
        .arg(command)
        .env("DATABASE_URL", app.config.database_url.as_deref().unwrap())
        .env("RDV_DATA_DIR", app.data_dir())
        .env("RDV_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
        .env("RDV_WEBHOOK_TIMEOUT", "2")
        .env("RDV_WEBHOOK_RETRY_SCHEDULE", format!("0{}", ",1".repeat(60)))
        .env("RDV_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("an rdv process starts")
}

/// What the receiver saw: (RDV id, version, webhook-id) in arrival order.
type Seen = Arc<Mutex<Vec<(String, i64, String)>>>;

async fn receive(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> &'static str {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if let (Some(rdv), Some(version)) = (body["data"]["id"].as_str(), body["meta"]["version"].as_i64()) {
        seen.lock().unwrap().push((rdv.to_string(), version, id));
    }
    "ok"
}

/// Starts the receiver on `port` (it was down until now).
async fn receiver_up(port: u16, seen: Seen) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let app = Router::new().route("/hooks", post(receive)).with_state(seen);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

#[tokio::test]
async fn webhooks_survive_a_receiver_outage_and_relay_kills() {
    let Some(mut app) = TestApp::spawn_postgres().await else {
        return;
    };
    let binary = rdv_tests::rdv_binary();
    app.config.embedded_workers = false;
    app.config.scheduler = false;
    app.config.webhook_allow_hosts = "127.0.0.1".into();
    let app = app.restart().await;
    let mut projector = spawn(&binary, "project", &app);
    let mut relay = spawn(&binary, "relay", &app);

    let s = setup(&app, "26", "Europe/Paris").await;
    // A port with nobody listening yet: the receiver is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = app
        .post(
            &format!("/v1/organisations/{}/webhook-endpoints", s.organisation),
            &app.admin_token,
            json!({"target_url": format!("http://127.0.0.1:{port}/hooks"), "subscriptions": ["rdv"]}),
        )
        .await;
    assert_eq!(endpoint.status, StatusCode::CREATED, "{}", endpoint.body);
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Paul", "last_name": "Vidal"}),
        )
        .await
        .id();

    // Three clients book (and cancel every third RDV) while the faults happen.
    let expected: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let clients: Vec<_> = (0..3)
        .map(|client| {
            let (address, token, expected) = (app.address.clone(), s.token.clone(), expected.clone());
            let (organisation, motif, lieu, agent, usager) = (
                s.organisation.clone(),
                s.motif.clone(),
                s.lieu.clone(),
                s.agent.clone(),
                usager.clone(),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for i in 0..30 {
                    let day = 1 + (client * 30 + i) / 8;
                    let starts_at = format!("2026-03-{:02}T{:02}:00:00+01:00", day, 8 + (client * 30 + i) % 8);
                    let booked: Value = http
                        .post(format!("{address}/v1/rdvs"))
                        .bearer_auth(&token)
                        .json(
                            &json!({"organisation_id": organisation, "motif_id": motif, "lieu_id": lieu,
                                      "agent_ids": [agent], "usager_ids": [usager], "starts_at": starts_at}),
                        )
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let rdv = booked["id"].as_str().unwrap_or_else(|| panic!("{booked}")).to_string();
                    let mut version = 1;
                    if i % 3 == 0 {
                        let cancelled = http
                            .post(format!("{address}/v1/rdvs/{rdv}/cancel"))
                            .bearer_auth(&token)
                            .json(&json!({"status": "excused"}))
                            .send()
                            .await
                            .unwrap();
                        assert!(cancelled.status().is_success(), "{}", cancelled.text().await.unwrap());
                        version = 2;
                    }
                    expected.lock().unwrap().insert(rdv, version);
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            })
        })
        .collect();

    let seen: Seen = Arc::default();
    tokio::time::sleep(Duration::from_millis(800)).await;
    relay.kill().unwrap();
    relay.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay = spawn(&binary, "relay", &app);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    receiver_up(port, seen.clone()).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    relay.kill().unwrap();
    relay.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay = spawn(&binary, "relay", &app);
    for client in clients {
        client.await.unwrap();
    }

    // Claims of a killed relay wait out their lease (a minute) before
    // another worker takes them: allow for two of them.
    let expected = expected.lock().unwrap().clone();
    let all_arrived = || {
        let got: BTreeSet<(String, i64)> = seen.lock().unwrap().iter().map(|(r, v, _)| (r.clone(), *v)).collect();
        expected
            .iter()
            .all(|(rdv, last)| (1..=*last).all(|v| got.contains(&(rdv.clone(), v))))
    };
    for _ in 0..1800 {
        if all_arrived() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    relay.kill().unwrap();
    projector.kill().unwrap();
    let _ = (relay.wait(), projector.wait());
    assert_eq!(expected.len(), 90);
    assert!(all_arrived(), "some RDV events never reached the receiver");

    let seen = seen.lock().unwrap().clone();
    let mut last_version: BTreeMap<&str, i64> = BTreeMap::new();
    let mut webhook_ids: BTreeMap<(&str, i64), &str> = BTreeMap::new();
    for (rdv, version, id) in &seen {
        let previous = last_version.insert(rdv, *version).unwrap_or(0);
        assert!(
            *version >= previous,
            "RDV {rdv}: version {version} arrived after {previous}"
        );
        let first_id = *webhook_ids.entry((rdv, *version)).or_insert(id);
        assert_eq!(
            first_id, id,
            "a repeat of RDV {rdv} v{version} carries the same webhook-id"
        );
    }
}
