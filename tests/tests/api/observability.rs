//! What operators watch: `/metrics` and correlation ids.

use crate::helpers::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The value of the first sample whose line starts with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

#[tokio::test]
async fn metrics_count_commands_by_route_and_outcome_and_report_positions() {
    let app = TestApp::spawn().await;
    let (territory, _) = app.territory_and_organisation("CMS Die").await;
    let refused = app.post("/v1/territories", &app.admin_token, json!({"name": ""})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let position = app.head_position().await;
    let seen = app
        .get(
            &format!("/v1/territories/{territory}?min_position={position}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);

    let response = reqwest::get(format!("{}/metrics", app.address)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.unwrap();
    // Counters are per process and tests share it: at least this test's.
    let created = sample(
        &text,
        r#"rdv_commands_total{command="POST /v1/territories",outcome="ok"}"#,
    );
    assert!(created >= Some(1.0), "{text}");
    let rejected = sample(
        &text,
        r#"rdv_commands_total{command="POST /v1/territories",outcome="rejected"}"#,
    );
    assert!(rejected >= Some(1.0), "{text}");
    assert!(
        sample(
            &text,
            r#"rdv_queries_total{query="GET /v1/territories/{id}",outcome="ok"}"#
        ) >= Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            r#"rdv_command_duration_seconds_count{command="POST /v1/territories"}"#
        ) >= Some(2.0),
        "{text}"
    );
    assert!(text.contains("# TYPE rdv_command_duration_seconds histogram"), "{text}");
    // Gauges read from the store: this app's own.
    assert_eq!(
        sample(&text, "rdv_store_head_position"),
        Some(position as f64),
        "{text}"
    );
    for projection in rdv_projections::all() {
        let name = projection.name();
        let at = sample(&text, &format!("rdv_projector_position{{projection=\"{name}\"}}"));
        let lag = sample(&text, &format!("rdv_projector_lag_events{{projection=\"{name}\"}}"));
        assert!(at.is_some() && lag.is_some(), "{name} missing from {text}");
        // Positions are contiguous on SQLite: the lag counts the rest.
        assert!(lag.unwrap() >= 0.0, "{name}: {text}");
        assert_eq!(at.unwrap() + lag.unwrap(), position as f64, "{name}: {text}");
    }
    // The territory was read from the directory at `position`.
    let directory = sample(&text, r#"rdv_projector_position{projection="directory"}"#);
    assert!(directory >= Some(position as f64), "{text}");
    assert_eq!(sample(&text, "rdv_webhook_queue_depth"), Some(0.0), "{text}");
    assert!(
        sample(&text, r#"rdv_db_connections{state="open"}"#) >= Some(1.0),
        "{text}"
    );
    // No path with ids, no query string: route templates only.
    assert!(!text.contains(&territory), "{text}");
}

#[tokio::test]
async fn a_request_correlation_id_is_echoed_and_recorded_in_its_events() {
    let app = TestApp::spawn().await;
    let given = uuid::Uuid::now_v7().to_string();
    let created = app
        .request(
            Method::POST,
            "/v1/territories",
            Some(&app.admin_token),
            Some(json!({"name": "Ardèche", "departement_number": "07"})),
            &[("x-correlation-id", &given)],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.headers["x-correlation-id"], given.as_str());
    // Without one, the answer names the id the request was given.
    let unnamed = app
        .post(
            "/v1/territories",
            &app.admin_token,
            json!({"name": "Isère", "departement_number": "38"}),
        )
        .await;
    assert_eq!(unnamed.status, StatusCode::CREATED, "{}", unnamed.body);
    let generated = unnamed.headers["x-correlation-id"].to_str().unwrap().to_string();
    assert_ne!(generated, given);
    let feed = app.get("/v1/events?after=0&limit=100", &app.admin_token).await;
    let correlation_of = |id: &str| {
        feed.body
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["aggregate_id"] == id)
            .map(|e| e["correlation_id"].as_str().unwrap().to_string())
    };
    assert_eq!(correlation_of(&created.id()), Some(given));
    assert_eq!(correlation_of(&unnamed.id()), Some(generated));
}
