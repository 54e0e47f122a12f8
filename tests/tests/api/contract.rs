//! The published contract: openapi.json, the checked-in schemas, the feed,
//! and read models that survive a rebuild.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use std::path::Path;

#[tokio::test]
async fn openapi_lists_every_route() {
    let app = TestApp::spawn().await;
    let doc = app.request(Method::GET, "/openapi.json", None, None, &[]).await;
    assert_eq!(doc.status, StatusCode::OK);
    let paths = doc.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health", "get"),
        ("/v1/territories", "post"),
        ("/v1/territories/{id}/organisations", "post"),
        ("/v1/organisations/{id}", "get"),
        ("/v1/organisations/{id}", "patch"),
        ("/v1/organisations/{id}/agents", "post"),
        ("/v1/organisations/{id}/agents", "get"),
        ("/v1/agents/invitations/accept", "post"),
        ("/v1/events", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from openapi.json"
        );
    }
}

#[tokio::test]
async fn every_failure_is_documented_as_problem_json() {
    let app = TestApp::spawn().await;
    let doc = app.request(Method::GET, "/openapi.json", None, None, &[]).await;
    let mut operations = 0;
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = operation["responses"].as_object().unwrap();
            for status in ["401", "404", "422", "429", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
            for (status, response) in responses.iter().filter(|(s, _)| s.as_str() >= "400") {
                let types: Vec<&String> = response["content"].as_object().unwrap().keys().collect();
                assert_eq!(types, ["application/problem+json"], "{method} {path} {status}");
            }
        }
    }
    assert!(operations > 100, "{operations} operations");
    // And the answers are what the document says.
    let missing = app
        .get(
            "/v1/organisations/00000000-0000-7000-8000-000000000000",
            &app.admin_token,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.headers["content-type"], "application/problem+json");
}

#[test]
fn checked_in_schemas_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let stale = rdv_gateway::schemas::stale(&dir);
    assert!(
        stale.is_empty(),
        "stale files under schemas/: {stale:?}; run `cargo run --bin rdv -- schemas`"
    );
}

#[tokio::test]
async fn the_feed_lists_events_with_metadata_for_the_platform_admin() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    let feed = app.get("/v1/events?after=0&limit=100", &app.admin_token).await;
    assert_eq!(feed.status, StatusCode::OK);
    let events = feed.body.as_array().unwrap();
    let types: Vec<_> = events.iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "AdminTokenIssued",
            "TerritoryCreated",
            "ServiceActivated",
            "ServiceActivated",
            "OrganisationCreated"
        ]
    );
    let created = &events[4];
    assert_eq!(created["aggregate_id"], organisation.as_str());
    assert_eq!(created["actor"], "platform-admin");
    assert_eq!(created["occurred_at"], START);
    assert_eq!(created["sequence"], 1);
    assert_eq!(created["event_version"], "1.0");
    let after = events[2]["position"].as_i64().unwrap();
    let rest = app
        .get(&format!("/v1/events?after={after}&limit=1"), &app.admin_token)
        .await;
    assert_eq!(rest.body.as_array().unwrap().len(), 1);
    assert_eq!(rest.body[0]["position"], events[3]["position"]);
    assert_eq!(
        app.get("/v1/events?limit=0", &app.admin_token).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn the_directory_rebuilt_from_position_zero_answers_the_same() {
    let app = TestApp::spawn().await;
    let (territory, organisation) = app.territory_and_organisation("CMS Valence").await;
    let (_, token) = app.active_agent(&organisation, "marie@cms.fr", "admin").await;
    app.invite(&token, &organisation, "paul@cms.fr", "basic").await;
    let head = app.head_position().await;
    let queries = [
        format!("/v1/organisations/{organisation}/agents?min_position={head}"),
        format!("/v1/organisations/{organisation}?min_position={head}"),
        format!("/v1/territories/{territory}/organisations?min_position={head}"),
        format!("/v1/territories/{territory}?min_position={head}"),
    ];
    let mut before = Vec::new();
    for q in &queries {
        before.push(app.get(q, &app.admin_token).await.body);
    }
    assert_eq!(app.rebuild("directory").await, head);
    for (q, expected) in queries.iter().zip(before) {
        assert_eq!(app.get(q, &app.admin_token).await.body, expected, "{q}");
    }
}

#[tokio::test]
async fn a_projector_stops_on_an_event_it_cannot_apply_and_says_so() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    // An update for an organisation the directory never saw: written behind
    // the command service's back, as a corrupted or foreign store would hold.
    let store = rdv_eventstore::EventStore::open_sqlite(&app.data_dir()).await.unwrap();
    let orphan = uuid::Uuid::now_v7().to_string();
    let request = rdv_eventstore::AppendRequest {
        streams: vec![rdv_eventstore::StreamAppend {
            aggregate_type: "Organisation".into(),
            aggregate_id: orphan,
            expected_version: 0,
            events: vec![rdv_eventstore::NewEvent {
                event_type: "OrganisationUpdated".into(),
                event_version: "1.0".into(),
                payload: serde_json::json!({"OrganisationUpdated": {"changes": {"phone": "04"}}}),
                metadata: rdv_eventstore::EventMetadata {
                    event_id: uuid::Uuid::now_v7(),
                    occurred_at: chrono::Utc::now(),
                    actor: "test".into(),
                    correlation_id: uuid::Uuid::now_v7(),
                    causation_id: None,
                    idempotency_key: None,
                },
            }],
        }],
        outbox: vec![],
        data_keys: vec![],
    };
    let position = store.append(&request, None).await.unwrap()[0].position;
    // The running projector is woken by its poll; the query waits, then reports it stopped.
    let r = app
        .get(
            &format!("/v1/organisations/{organisation}?min_position={position}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("stopped"), "{}", r.body);
    let (checkpoint, error) = store.checkpoint("directory").await.unwrap();
    assert!(checkpoint < position, "the bad event was not skipped");
    assert!(error.unwrap().contains("OrganisationUpdated"));
    let health = app.request(Method::GET, "/health", None, None, &[]).await;
    assert_eq!(
        health.body["projections"]["directory"]["error"]
            .as_str()
            .map(|e| e.contains("no organisations document")),
        Some(true),
        "{}",
        health.body
    );
}

#[tokio::test]
async fn ready_only_while_the_store_and_nats_answer() {
    let ready = |app: &TestApp| {
        let app = app.address.clone();
        async move {
            let response = reqwest::get(format!("{app}/ready")).await.unwrap();
            let status = response.status();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let embedded = TestApp::spawn().await;
    let (status, body) = ready(&embedded).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["nats"], "not configured");

    // NATS configured but nobody listening: not ready.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let away = TestApp::spawn_configured(|c| c.nats_url = Some(format!("nats://127.0.0.1:{closed}"))).await;
    let (status, body) = ready(&away).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], 503);

    let Some(url) = rdv_tests::nats_url().await else { return };
    let connected = TestApp::spawn_configured(|c| c.nats_url = Some(url)).await;
    let mut answer = ready(&connected).await;
    for _ in 0..50 {
        if answer.0 == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = ready(&connected).await;
    }
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    assert_eq!(answer.1["nats"], "ok");
}

/// The README prints the rights matrix as the code holds it: the table is
/// generated from `rdv_domain::rights`, the only source of decisions.
#[test]
fn the_readme_prints_the_rights_matrix() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let table = rdv_domain::rights::Permission::markdown_table();
    assert!(
        readme.contains(&table),
        "the README's rights table is stale; paste this under \"## Rights\":\n{table}"
    );
}
