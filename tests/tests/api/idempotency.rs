//! `Idempotency-Key` and `If-Match` over HTTP.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn the_same_key_and_body_replays_the_first_answer_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Drôme", "departement_number": "26"});
    let key = [("Idempotency-Key", "create-drome-1")];
    let token = Some(app.admin_token.as_str());
    let first = app
        .request(Method::POST, "/v1/territories", token, Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let head = app.head_position().await;
    let again = app
        .request(Method::POST, "/v1/territories", token, Some(body.clone()), &key)
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.position(), first.position());
    assert_eq!(app.head_position().await, head, "nothing written");

    let other = app
        .request(
            Method::POST,
            "/v1/territories",
            token,
            Some(json!({"name": "Ardèche", "departement_number": "07"})),
            &key,
        )
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.fields(), vec!["Idempotency-Key"]);
    assert_eq!(app.head_position().await, head);
}

#[tokio::test]
async fn if_match_guards_against_lost_updates() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    let path = format!("/v1/organisations/{organisation}");
    let token = Some(app.admin_token.as_str());
    let first = app
        .request(
            Method::PATCH,
            &path,
            token,
            Some(json!({"phone": "04 75 00 00 00"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["version"], 2);
    let stale = app
        .request(
            Method::PATCH,
            &path,
            token,
            Some(json!({"phone": "04 75 11 11 11"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["type"], "/problems/precondition-failed");
    let read = app
        .get(&format!("{path}?min_position={}", first.position()), &app.admin_token)
        .await;
    assert_eq!(read.body["phone"], "04 75 00 00 00");
    let bad = app
        .request(
            Method::PATCH,
            &path,
            token,
            Some(json!({"phone": "x"})),
            &[("If-Match", "soon")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_patch_can_clear_a_field_and_keeps_the_others() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    let path = format!("/v1/organisations/{organisation}");
    let token = Some(app.admin_token.as_str());
    app.request(
        Method::PATCH,
        &path,
        token,
        Some(json!({"phone": "04 75 00 00 00", "website": "https://cms.fr"})),
        &[],
    )
    .await;
    let cleared = app
        .request(Method::PATCH, &path, token, Some(json!({"phone": null})), &[])
        .await;
    let read = app
        .get(&format!("{path}?min_position={}", cleared.position()), &app.admin_token)
        .await;
    assert!(read.body["phone"].is_null());
    assert_eq!(read.body["website"], "https://cms.fr");
    assert_eq!(read.body["name"], "CMS Valence");
}
