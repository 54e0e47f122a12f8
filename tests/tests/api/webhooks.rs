//! Webhook endpoints over HTTP: created by the territory's webhook managers
//! with a secret shown once, targets vetted against SSRF, secrets rotated,
//! endpoints disabled, enabled, changed and deleted.

use crate::{helpers::*, slots::setup};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn endpoints_are_managed_with_a_secret_shown_once_and_vetted_targets() {
    let mut app = TestApp::spawn().await;
    app.config.webhook_allow_hosts = "127.0.0.1".into();
    let app = app.restart().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let admin = app.admin_token.clone();
    let url = format!("/v1/organisations/{}/webhook-endpoints", s.organisation);

    for refused in [
        "http://10.0.0.1/hooks",
        "https://169.254.169.254/latest",
        "https://[::ffff:10.0.0.1]/h",
        "ftp://x",
    ] {
        let r = app.post(&url, &admin, json!({"target_url": refused})).await;
        assert_eq!(r.fields(), ["target_url"], "{refused}: {}", r.body);
    }
    let basic = app
        .post(&url, &s.token, json!({"target_url": "http://127.0.0.1:9/hooks"}))
        .await;
    assert_eq!(
        basic.status,
        StatusCode::FORBIDDEN,
        "a basic agent has no webhook right"
    );

    let created = app
        .post(
            &url,
            &admin,
            json!({"target_url": "http://127.0.0.1:9/hooks", "format": "standard-webhooks", "description": "SI du département"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();
    let secret = created.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let events = app.get("/v1/events?after=0&limit=1000", &admin).await;
    assert!(
        !events.body.to_string().contains(&secret),
        "the secret is stored sealed only"
    );

    let listed = app
        .get(&format!("{url}?min_position={}", created.position()), &admin)
        .await;
    assert_eq!(listed.body[0]["id"], id.as_str(), "{}", listed.body);
    assert_eq!(
        listed.body[0]["subscriptions"],
        json!(["rdv", "absence", "plage_ouverture"])
    );
    assert_eq!(listed.body[0]["format"], "standard-webhooks");
    assert!(!listed.body.to_string().contains("whsec_"));

    let rotated = app
        .post(&format!("/v1/webhook-endpoints/{id}/rotate-secret"), &admin, json!({}))
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_ne!(rotated.body["secret"], secret.as_str());

    let endpoint = format!("/v1/webhook-endpoints/{id}");
    let patch = |body| app.patch(&endpoint, &admin, body);
    assert_eq!(
        patch(json!({"target_url": "http://192.168.1.10/h"})).await.fields(),
        ["target_url"]
    );
    let changed = patch(json!({"subscriptions": ["rdv", "user"]})).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let disabled = app
        .post(&format!("/v1/webhook-endpoints/{id}/disable"), &admin, json!({}))
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    let shown = app.get(&format!("/v1/webhook-endpoints/{id}"), &admin).await.body;
    assert_eq!(shown["subscriptions"], json!(["rdv", "user"]));
    assert_eq!(shown["enabled"], false);
    app.post(&format!("/v1/webhook-endpoints/{id}/enable"), &admin, json!({}))
        .await;
    assert_eq!(
        app.get(&format!("/v1/webhook-endpoints/{id}"), &admin).await.body["enabled"],
        true
    );

    let deleted = app
        .request(
            Method::DELETE,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(&admin),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/v1/webhook-endpoints/{id}"), &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let after = app
        .get(&format!("{url}?min_position={}", deleted.position()), &admin)
        .await;
    assert_eq!(after.body, json!([]));
}
