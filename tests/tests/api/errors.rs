//! Bad input: the right status, a problem body naming the field, nothing written.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    let head = app.head_position().await;
    let response = app
        .client
        .post(format!("{}/v1/territories", app.address))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 400);
    assert_eq!(body["type"], "/problems/malformed-request");
    assert_eq!(app.head_position().await, head);
}

#[tokio::test]
async fn missing_and_invalid_fields_are_422_each_named() {
    let app = TestApp::spawn().await;
    let (territory, organisation) = app.territory_and_organisation("CMS Valence").await;
    let head = app.head_position().await;

    let r = app
        .post(
            "/v1/territories",
            &app.admin_token,
            json!({"timezone": "Europe/Atlantis"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), vec!["name", "departement_number", "timezone"]);

    let r = app
        .post(
            "/v1/territories",
            &app.admin_token,
            json!({"name": 42, "departement_number": "26"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.fields(), vec!["name"]);

    let r = app
        .post(
            &format!("/v1/territories/{territory}/organisations"),
            &app.admin_token,
            json!({"name": "X", "email": "no-at-sign"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), vec!["email"]);

    let agents = format!("/v1/organisations/{organisation}/agents");
    let invite = |body| app.post(&agents, &app.admin_token, body);
    let r = invite(json!({"email": "marie.cms.fr", "first_name": "", "services": ["cuisine", "rsa"], "role": "admin"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), vec!["email", "first_name", "last_name", "services[0]"]);
    let r =
        invite(json!({"email": "m@cms.fr", "first_name": "M", "last_name": "C", "services": ["rsa"], "role": "admin"}))
            .await;
    assert_eq!(r.fields(), vec!["services[0]"], "rsa is not active in this territory");
    let r = invite(
        json!({"email": "m@cms.fr", "first_name": "M", "last_name": "C", "services": ["pmi"], "role": "superuser"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), vec!["role"]);
    let r = invite(json!({"first_name": "M", "last_name": "C", "services": ["pmi"], "role": "basic"})).await;
    assert_eq!(r.fields(), vec!["email"], "only an intervenant has no e-mail");

    let r = app
        .request(
            Method::POST,
            "/v1/agents/invitations/accept",
            None,
            Some(json!({"token": "inv_nope"})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.fields(), vec!["token"]);

    assert_eq!(app.head_position().await, head, "nothing was written");
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let app = TestApp::spawn().await;
    let unknown = "01a20838-240c-7182-985a-bdd6106171b2";
    for path in [
        format!("/v1/organisations/{unknown}"),
        format!("/v1/organisations/{unknown}/agents"),
        "/v1/organisations/not-a-uuid".to_string(),
    ] {
        let r = app.get(&path, &app.admin_token).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body["status"], 404);
    }
    let r = app
        .post(
            &format!("/v1/territories/{unknown}/organisations"),
            &app.admin_token,
            json!({"name": "X"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            &format!("/v1/territories/{unknown}/services/pmi/activate"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn state_conflicts_are_409() {
    let app = TestApp::spawn().await;
    let (territory, _) = app.territory_and_organisation("CMS Valence").await;
    let r = app
        .post(
            &format!("/v1/territories/{territory}/services/pmi/activate"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["type"], "/problems/conflict");
}

#[tokio::test]
async fn a_query_waits_for_its_position_then_gives_up_with_503() {
    // No projector runs in this process or elsewhere: a written position is
    // never projected, so the wait ends in 503.
    let app = TestApp::spawn_configured(|c| c.embedded_workers = false).await;
    let created = app
        .post(
            "/v1/territories",
            &app.admin_token,
            json!({"name": "Drôme", "departement_number": "26"}),
        )
        .await;
    let r = app
        .get(
            &format!("/v1/territories/{}?min_position={}", created.id(), created.position()),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.body["type"], "/problems/not-ready");
}
