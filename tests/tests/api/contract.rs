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
    let store = rdv_eventstore::EventStore::open_sqlite(&app.data_dir()).await.unwrap();
    let projector = rdv_projections::Projector::new(store, rdv_projections::by_name("directory").unwrap());
    assert_eq!(projector.rebuild().await.unwrap(), head);
    for (q, expected) in queries.iter().zip(before) {
        assert_eq!(app.get(q, &app.admin_token).await.body, expected, "{q}");
    }
}
