//! Webhook deliveries to a real local receiver: signed (checked here with
//! an HMAC computed independently of our signing code), retried on a 500
//! with the same `webhook-id`, and in version order per RDV.

use crate::{
    helpers::*,
    slots::{Setup, plage, setup},
};
use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode as AxumStatus, routing::post};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(crate) struct Receiver {
    /// (headers, body) of every request, in arrival order.
    seen: Mutex<Vec<(HeaderMap, String)>>,
    /// Statuses to answer, first to last; then 200. `0` hangs for 3 s, then
    /// answers 200 (too late for a 1 s timeout).
    script: Mutex<Vec<u16>>,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    r.seen
        .lock()
        .unwrap()
        .push((headers, String::from_utf8_lossy(&body).to_string()));
    let mut next = {
        let mut script = r.script.lock().unwrap();
        if script.is_empty() { 200 } else { script.remove(0) }
    };
    if next == 0 {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        next = 200;
    }
    let mut response = axum::response::Response::new(axum::body::Body::empty());
    *response.status_mut() = AxumStatus::from_u16(next).unwrap();
    if next == 429 {
        // Asks the sender to wait a second.
        let wait = axum::http::HeaderValue::from_static("1");
        response.headers_mut().insert("retry-after", wait);
    }
    if next == 302 {
        // A redirect to a private address: never followed.
        let to = axum::http::HeaderValue::from_static("http://10.0.0.1/steal");
        response.headers_mut().insert("location", to);
    }
    response
}

pub(crate) async fn start_receiver(script: Vec<u16>) -> (Arc<Receiver>, String) {
    let receiver = Arc::new(Receiver {
        script: Mutex::new(script),
        ..Default::default()
    });
    let app = Router::new()
        .route("/hooks", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, url)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// An app delivering to a fresh receiver (answering `script` first), with
/// the retry schedule compressed, and an endpoint subscribed to RDVs.
async fn app_with_endpoint(script: Vec<u16>, schedule: &str) -> (TestApp, Setup, Arc<Receiver>, String, String) {
    let (receiver, hook_url) = start_receiver(script).await;
    let (app, s, endpoint, secret) = app_with_endpoint_to(&hook_url, schedule).await;
    (app, s, receiver, endpoint, secret)
}

/// An app allowed to deliver to loopback, with the retry schedule
/// compressed, and an endpoint of `url` subscribed to RDVs; returns the
/// endpoint's id and secret.
async fn app_with_endpoint_to(url: &str, schedule: &str) -> (TestApp, Setup, String, String) {
    let mut app = TestApp::spawn().await;
    app.config.webhook_allow_hosts = "127.0.0.1".into();
    app.config.webhook_retry_schedule = schedule.parse().unwrap();
    app.config.webhook_timeout = chrono::Duration::seconds(1);
    let app = app.restart().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let created = app
        .post(
            &format!("/v1/organisations/{}/webhook-endpoints", s.organisation),
            &app.admin_token,
            json!({"target_url": url, "subscriptions": ["rdv"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    (app, s, created.id(), secret)
}

/// Waits (bounded) until the receiver has seen `count` requests.
pub(crate) async fn requests(receiver: &Receiver, count: usize) -> Vec<(HeaderMap, String)> {
    for _ in 0..200 {
        let seen = receiver.seen.lock().unwrap().clone();
        if seen.len() >= count {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the receiver saw fewer than {count} requests");
}

/// Books an RDV as the setup's agent for a new usager.
async fn book_as_agent(app: &TestApp, s: &Setup) {
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Paul", "last_name": "Vidal"}),
        )
        .await
        .id();
    let booked = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu, "agent_ids": [s.agent],
                   "usager_ids": [usager], "starts_at": "2026-01-12T10:00:00+01:00"}),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
}

/// Waits (bounded) for a delivery of the endpoint in this status and
/// returns it with its attempts.
async fn delivery_in(app: &TestApp, endpoint: &str, status: &str) -> Value {
    let list = format!("/v1/webhook-endpoints/{endpoint}/deliveries?status={status}");
    for _ in 0..100 {
        let found = app.get(&list, &app.admin_token).await.body;
        if let Some(id) = found.get(0).and_then(|d| d["id"].as_str()) {
            return app.get(&format!("/v1/deliveries/{id}"), &app.admin_token).await.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no {status} delivery");
}

#[tokio::test]
async fn rdv_changes_reach_the_receiver_signed_retried_and_in_order() {
    let (app, s, receiver, _, secret) = app_with_endpoint(vec![500], "0,0.2,0.2,0.2").await;
    let plage = app
        .post(
            &format!("/v1/agents/{}/plages", s.agent),
            &s.token,
            plage(&s, "2026-01-12", "09:00", "11:00", &["monday"]),
        )
        .await;
    let slots = format!(
        "/v1/public/slots?organisation_id={}&motif_id={}&min_position={}",
        s.organisation,
        s.motif,
        plage.position()
    );
    app.request(Method::GET, &slots, None, None, &[]).await;
    let booked = app
        .request(
            Method::POST,
            "/v1/public/rdvs",
            None,
            Some(
                json!({"organisation_id": s.organisation, "motif_id": s.motif, "starts_at": "2026-01-12T09:00:00+01:00",
                        "usager": {"first_name": "Zoé", "last_name": "Leroy"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let rdv = booked.id();
    let cancelled = app
        .post(
            &format!("/v1/rdvs/{rdv}/cancel"),
            &s.token,
            json!({"status": "revoked"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

    // The first attempt gets a 500; the retry and the next delivery succeed.
    let seen = requests(&receiver, 3).await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    let id = |h: &HeaderMap| h["webhook-id"].to_str().unwrap().to_string();
    assert_eq!(id(&seen[0].0), id(&seen[1].0), "a retry keeps its webhook-id");
    assert_ne!(id(&seen[1].0), id(&seen[2].0));
    let bodies: Vec<Value> = seen.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(bodies[1]["meta"]["event"], "created");
    assert_eq!(
        bodies[2]["meta"]["event"], "updated",
        "RDV Service Public sends a cancellation as an update"
    );
    assert_eq!(bodies[1]["data"]["id"], rdv.as_str());
    assert_eq!(bodies[1]["data"]["status"], "unknown", "the record as of its event");
    assert_eq!(bodies[2]["data"]["status"], "revoked");
    assert!(bodies[1]["meta"]["version"].as_i64() < bodies[2]["meta"]["version"].as_i64());
    // As RDV Service Public sends it: the records it refers to, by name.
    assert_eq!(bodies[1]["data"]["users"][0]["first_name"], "Zoé");
    assert_eq!(bodies[1]["data"]["motif"]["name"], "Accueil");
    assert_eq!(bodies[1]["data"]["organisation"]["name"], "CMS");
    assert_eq!(bodies[1]["data"]["agents"][0]["email"], "agent@cms.fr");
    assert_eq!(bodies[1]["data"]["lieu"]["address"], "1 rue A");

    // Signatures, computed here with HMAC-SHA256 directly.
    let key = STANDARD.decode(secret.trim_start_matches("whsec_")).unwrap();
    for (headers, body) in &seen {
        let lapin = hex::encode(hmac(secret.as_bytes(), body.as_bytes()));
        assert_eq!(headers["x-lapin-signature"], lapin.as_str());
        let signed = format!(
            "{}.{}.{body}",
            id(headers),
            headers["webhook-timestamp"].to_str().unwrap()
        );
        let expected = format!("v1,{}", STANDARD.encode(hmac(&key, signed.as_bytes())));
        assert_eq!(headers["webhook-signature"], expected.as_str());
    }
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_a_redelivery_sends_the_same_message() {
    let (app, s, receiver, endpoint, _) = app_with_endpoint(vec![410], "0,0.1").await;
    let admin = app.admin_token.clone();
    book_as_agent(&app, &s).await;
    let first = requests(&receiver, 1).await;
    let detail = delivery_in(&app, &endpoint, "dead").await;
    assert_eq!(detail["attempts"][0]["status_code"], 410, "{detail}");
    let delivery = detail["id"].as_str().unwrap().to_string();
    let mut shown = Value::Null;
    for _ in 0..100 {
        shown = app.get(&format!("/v1/webhook-endpoints/{endpoint}"), &admin).await.body;
        if shown["enabled"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(shown["enabled"], false, "{shown}");
    assert_eq!(shown["disabled_reason"], "the endpoint answered 410 Gone");
    let bad = app
        .get(
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries?status=lost"),
            &admin,
        )
        .await;
    assert_eq!(bad.fields(), ["status"]);

    // Back on, the delivery is sent again: same webhook-id, same body.
    app.post(&format!("/v1/webhook-endpoints/{endpoint}/enable"), &admin, json!({}))
        .await;
    let again = app
        .post(&format!("/v1/deliveries/{delivery}/redeliver"), &admin, json!({}))
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    let seen = requests(&receiver, 2).await;
    assert_eq!(seen[1].0["webhook-id"], first[0].0["webhook-id"]);
    assert_eq!(seen[1].1, first[0].1, "the stored bytes are sent again");
    let succeeded = delivery_in(&app, &endpoint, "succeeded").await;
    assert_eq!(succeeded["id"], delivery.as_str());
}

#[tokio::test]
async fn usagers_plages_and_absences_reach_their_subscribers_in_standard_webhooks_form() {
    let (receiver, hook_url) = start_receiver(Vec::new()).await;
    let mut app = TestApp::spawn().await;
    app.config.webhook_allow_hosts = "127.0.0.1".into();
    let app = app.restart().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let created = app
        .post(
            &format!("/v1/organisations/{}/webhook-endpoints", s.organisation),
            &app.admin_token,
            json!({"target_url": hook_url, "format": "standard-webhooks", "subscriptions": ["user", "plage_ouverture", "absence"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    app.post(
        "/v1/usagers",
        &s.token,
        json!({"organisation_ids": [s.organisation], "first_name": "Inès", "last_name": "Roy", "external_id": "SI-7"}),
    )
    .await;
    app.post(
        &format!("/v1/agents/{}/plages", s.agent),
        &s.token,
        plage(&s, "2026-01-12", "09:00", "11:00", &["monday"]),
    )
    .await;
    app.post(
        &format!("/v1/agents/{}/absences", s.agent),
        &s.token,
        json!({"title": "Formation", "first_day": "2026-01-19", "start_time": "09:30", "end_time": "12:00"}),
    )
    .await;
    let seen = requests(&receiver, 3).await;
    // Different records go in parallel: sort them by type.
    let mut bodies: Vec<Value> = seen.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    bodies.sort_by_key(|b| b["type"].as_str().unwrap().to_string());
    let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["absence.created", "plage_ouverture.created", "user.created"]);
    assert_eq!(bodies[2]["data"]["external_id"], "SI-7");
    assert!(bodies[1]["data"]["ordering"]["position"].as_i64().unwrap() > 0);
    assert!(
        seen.iter().all(|(h, _)| h.get("x-lapin-signature").is_none()),
        "standard-webhooks only"
    );
}

#[tokio::test]
async fn a_429_waits_for_retry_after_and_the_last_failure_is_dead_lettered() {
    // Retry-After: 1 s pushes the second attempt back beyond the 0.05 s schedule.
    let (app, s, receiver, endpoint, _) = app_with_endpoint(vec![429, 500], "0,0.05").await;
    book_as_agent(&app, &s).await;
    let detail = delivery_in(&app, &endpoint, "dead").await;
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{detail}");
    assert_eq!(
        (attempts[0]["status_code"].as_i64(), attempts[1]["status_code"].as_i64()),
        (Some(429), Some(500))
    );
    let gap = attempts[1]["at"].as_i64().unwrap() - attempts[0]["at"].as_i64().unwrap();
    assert!(gap >= 1000, "Retry-After was honoured: {gap} ms");
    assert_eq!(receiver.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_endpoint_may_have_its_own_retry_schedule() {
    // The relay's schedule retries after a minute; the second endpoint's
    // own retries after 0.1 s, once.
    let (app, s, _, relay_default, _) = app_with_endpoint(vec![500; 4], "0,60").await;
    let (receiver, url) = start_receiver(vec![500; 4]).await;
    let endpoints = format!("/v1/organisations/{}/webhook-endpoints", s.organisation);
    let admin = app.admin_token.clone();
    let refused = app
        .post(
            &endpoints,
            &admin,
            json!({"target_url": url, "retry_schedule": [5, 10]}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.fields(), ["retry_schedule"]);
    let own = app
        .post(&endpoints, &admin, json!({"target_url": url, "subscriptions": ["rdv"]}))
        .await
        .id();
    let patch = |schedule: Value| {
        let path = format!("/v1/webhook-endpoints/{own}");
        let body = json!({ "retry_schedule": schedule });
        let app = &app;
        let admin = &admin;
        async move { app.patch(&path, admin, body).await }
    };
    assert_eq!(patch(json!([0, -1])).await.fields(), ["retry_schedule"]);
    let patched = patch(json!([0, 0.1])).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let shown = app.get(&format!("/v1/webhook-endpoints/{own}"), &admin).await;
    assert_eq!(shown.body["retry_schedule"], json!([0.0, 0.1]), "{}", shown.body);

    book_as_agent(&app, &s).await;
    let dead = delivery_in(&app, &own, "dead").await;
    assert_eq!(dead["attempts"].as_array().unwrap().len(), 2, "{dead}");
    assert_eq!(receiver.seen.lock().unwrap().len(), 2);
    let waiting = delivery_in(&app, &relay_default, "failed").await;
    assert_eq!(waiting["attempts"].as_array().unwrap().len(), 1, "{waiting}");
    let wait = waiting["next_attempt_at"].as_i64().unwrap() - waiting["attempts"][0]["at"].as_i64().unwrap();
    assert!(
        wait >= 48_000,
        "the relay's schedule (60 s ± 20 %) for the other: {wait} ms"
    );
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_never_followed() {
    let (app, s, receiver, endpoint, _) = app_with_endpoint(vec![302], "0").await;
    book_as_agent(&app, &s).await;
    let detail = delivery_in(&app, &endpoint, "dead").await;
    assert_eq!(detail["attempts"][0]["status_code"], 302, "{detail}");
    assert_eq!(receiver.seen.lock().unwrap().len(), 1, "the redirect was not followed");
}

#[tokio::test]
async fn a_refused_connection_is_retried_later() {
    // A port nobody listens on: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", closed.local_addr().unwrap());
    drop(closed);
    let (app, s, endpoint, _) = app_with_endpoint_to(&url, "0,60").await;
    book_as_agent(&app, &s).await;
    let detail = delivery_in(&app, &endpoint, "failed").await;
    assert_eq!(detail["attempts"][0]["error"], "connection failed", "{detail}");
    assert_eq!(detail["status"], "failed", "to be tried again");
}

#[tokio::test]
async fn each_attempt_vets_the_target_again() {
    // Saved while loopback was allowed; the operator then removes it: the
    // next attempt is refused without connecting.
    let (receiver, endpoint_url) = start_receiver(Vec::new()).await;
    let (app, s, endpoint, _) = app_with_endpoint_to(&endpoint_url, "0,60").await;
    let mut app = app;
    app.config.webhook_allow_hosts = String::new();
    let app = app.restart().await;
    book_as_agent(&app, &s).await;
    let detail = delivery_in(&app, &endpoint, "failed").await;
    let error = detail["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("target refused"), "{detail}");
    assert!(receiver.seen.lock().unwrap().is_empty(), "no connection was made");
}

#[tokio::test]
async fn the_contexte_goes_out_only_while_the_espace_shows_it() {
    let (app, s, receiver, _, _) = app_with_endpoint(Vec::new(), "0").await;
    let territory = app
        .get(&format!("/v1/organisations/{}", s.organisation), &app.admin_token)
        .await
        .body["territory_id"]
        .as_str()
        .unwrap()
        .to_string();
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Rose", "last_name": "Petit"}),
        )
        .await
        .id();
    let book = |starts_at: &'static str| {
        app.post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu, "agent_ids": [s.agent],
                   "usager_ids": [usager], "starts_at": starts_at, "context": "Suivi RSA"}),
        )
    };
    book("2026-01-12T10:00:00+01:00").await;
    let shown = app
        .request(
            Method::PUT,
            &format!("/v1/territories/{territory}/settings/rdv-fields"),
            Some(&app.admin_token),
            Some(json!({"context_enabled": true})),
            &[],
        )
        .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    book("2026-01-13T10:00:00+01:00").await;
    let seen = requests(&receiver, 2).await;
    let mut contexts: Vec<Value> = seen
        .iter()
        .map(|(_, b)| serde_json::from_str::<Value>(b).unwrap())
        .map(|b| {
            (
                b["data"]["starts_at"].as_str().unwrap().to_string(),
                b["data"]["context"].clone(),
            )
        })
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect();
    assert_eq!(contexts.remove(0), Value::Null, "hidden while the field is off");
    assert_eq!(contexts.remove(0), "Suivi RSA");
}

#[tokio::test]
async fn an_attempt_past_the_timeout_fails_and_is_retried() {
    let (app, s, receiver, endpoint, _) = app_with_endpoint(vec![0], "0,0.05").await;
    book_as_agent(&app, &s).await;
    let detail = delivery_in(&app, &endpoint, "succeeded").await;
    let attempts = detail["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{detail}");
    assert_eq!(attempts[0]["error"], "timeout", "{detail}");
    assert_eq!(attempts[0]["status_code"], serde_json::Value::Null);
    assert_eq!(attempts[1]["status_code"], 200);
    assert!(
        attempts[0]["duration_ms"].as_i64().unwrap() < 2_500,
        "given up after the 1 s timeout: {detail}"
    );
    assert_eq!(requests(&receiver, 2).await.len(), 2);
}

#[tokio::test]
async fn an_endpoint_failing_past_the_limit_is_disabled_and_its_admins_emailed() {
    let (receiver, hook_url) = start_receiver(vec![500; 50]).await;
    let mut app = TestApp::spawn().await;
    app.config.webhook_allow_hosts = "127.0.0.1".into();
    app.config.webhook_retry_schedule = "0,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3,0.3".parse().unwrap();
    // Five days in production; under a second here.
    app.config.webhook_disable_after = chrono::Duration::milliseconds(800);
    let app = app.restart().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    app.active_agent(&s.organisation, "admin@cms.fr", "admin").await;
    let created = app
        .post(
            &format!("/v1/organisations/{}/webhook-endpoints", s.organisation),
            &app.admin_token,
            json!({"target_url": hook_url, "subscriptions": ["rdv"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let endpoint = created.id();
    book_as_agent(&app, &s).await;
    let mut disabled = Value::Null;
    for _ in 0..100 {
        disabled = app
            .get(&format!("/v1/webhook-endpoints/{endpoint}"), &app.admin_token)
            .await
            .body;
        if disabled["enabled"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(disabled["enabled"], false, "{disabled}");
    let email = app.wait_for_eml_containing("a été désactivé").await;
    assert!(email.contains("admin@cms.fr"), "{email}");
    assert!(email.contains(&hook_url), "{email}");
    assert!(
        receiver.seen.lock().unwrap().len() >= 2,
        "it failed more than once first"
    );
}
