//! The public surface's defences: security headers, CORS for configured
//! front apps, and the per-address rate limit on anonymous endpoints.

use crate::helpers::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn anonymous_endpoints_are_rate_limited_per_address_with_retry_after() {
    let app = TestApp::spawn_configured(|c| c.public_rate_limit = 5).await;
    for _ in 0..5 {
        let reply = app.request(Method::GET, "/i/ABCD1234", None, None, &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    let limited = app.request(Method::GET, "/i/ABCD1234", None, None, &[]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{}", limited.body);
    assert_eq!(limited.headers["content-type"], "application/problem+json");
    let retry: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "{retry}");
    let health = app.request(Method::GET, "/health", None, None, &[]).await;
    assert_eq!(
        health.status,
        StatusCode::OK,
        "authenticated and system routes are not limited"
    );
}

#[tokio::test]
async fn answers_carry_security_headers_and_cors_only_for_listed_origins() {
    let app = TestApp::spawn_configured(|c| c.cors_origins = "https://rdv.exemple.gouv.fr".into()).await;
    let reply = app.request(Method::GET, "/health", None, None, &[]).await;
    assert_eq!(reply.headers["x-content-type-options"], "nosniff");
    assert_eq!(reply.headers["x-frame-options"], "DENY");
    assert!(
        reply.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let preflight = |origin: &'static str| {
        let app = &app;
        async move {
            app.client
                .request(Method::OPTIONS, format!("{}/v1/rdvs", app.address))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "authorization, idempotency-key")
                .send()
                .await
                .unwrap()
        }
    };
    let allowed = preflight("https://rdv.exemple.gouv.fr").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://rdv.exemple.gouv.fr"
    );
    let other = preflight("https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn bodies_too_deep_or_with_a_huge_string_are_refused_naming_the_place() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("Drôme").await;
    let long = "a".repeat(10_001);
    let reply = app
        .post(
            "/v1/usagers",
            &app.admin_token,
            serde_json::json!({"organisation_ids": [organisation], "first_name": "Ada", "last_name": "Durand",
                               "address": long}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(reply.fields(), ["address"]);
    assert_eq!(reply.body["errors"][0]["message"], "at most 10000 characters");
    let mut deep = serde_json::json!(1);
    for _ in 0..20 {
        deep = serde_json::json!({"x": deep});
    }
    let reply = app
        .post(
            "/v1/usagers",
            &app.admin_token,
            serde_json::json!({"organisation_ids": [organisation], "custom_fields": deep}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert!(
        reply.fields()[0].starts_with("custom_fields.x.x"),
        "{:?}",
        reply.fields()
    );
}

#[tokio::test]
async fn a_min_position_no_event_holds_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let (territory, _) = app.territory_and_organisation("Drôme").await;
    let head = app.head_position().await;
    let started = std::time::Instant::now();
    let beyond = app
        .get(
            &format!("/v1/territories/{territory}?min_position={}", head + 1_000),
            &app.admin_token,
        )
        .await;
    assert_eq!(beyond.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", beyond.body);
    assert_eq!(beyond.fields(), ["min_position"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "no 5 s wait");
    let reached = app
        .get(
            &format!("/v1/territories/{territory}?min_position={head}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(reached.status, StatusCode::OK, "{}", reached.body);
}
