//! The foundation's whole flow over HTTP: bootstrap → territory →
//! organisation → invitation e-mail → acceptance → active agent → restart.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The feed's events up to `head`, as the platform admin reads them.
async fn feed_until(app: &TestApp, head: i64) -> Vec<serde_json::Value> {
    let events = app.get("/v1/events?after=0&limit=1000", &app.admin_token).await;
    let events = events.body.as_array().cloned().unwrap_or_default();
    events
        .into_iter()
        .filter(|e| e["position"].as_i64() <= Some(head))
        .collect()
}

async fn whole_flow(app: TestApp) {
    assert!(
        app.admin_token.starts_with("rdv_admin_"),
        "a bootstrap token is printed on an empty store"
    );
    let health = app.request(Method::GET, "/health", None, None, &[]).await;
    assert_eq!(health.body["status"], "ok");

    let (territory, organisation) = app.territory_and_organisation("CMS Valence").await;
    let (agent, invitation) = app
        .invite(&app.admin_token, &organisation, "marie@cms.fr", "admin")
        .await;
    let eml = app.eml_files().pop().unwrap();
    assert!(eml.contains("To: marie@cms.fr"), "{eml}");
    assert!(eml.contains(&format!("/agents/invitation?token={invitation}")), "{eml}");
    assert!(
        eml.contains("valable jusqu'au 12/01/2026 à 10:00 (Europe/Paris)"),
        "deadline in the organisation's zone: {eml}"
    );

    // Queries read projections: read-your-writes is asked with min_position.
    let position = app.head_position().await;
    let listed = app
        .get(
            &format!("/v1/organisations/{organisation}/agents?min_position={position}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(listed.body[0]["status"], "invited", "{}", listed.body);

    let accepted = app.accept(&invitation).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["agent_id"], agent.as_str());
    let api_token = accepted.body["api_token"].as_str().unwrap().to_string();
    let position = accepted.position();

    let listed = app
        .get(
            &format!("/v1/organisations/{organisation}/agents?min_position={position}"),
            &api_token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["status"], "active");
    assert_eq!(listed.body[0]["role"], "admin");
    assert_eq!(listed.body[0]["email"], "marie@cms.fr");

    // The token works; the same invitation cannot be used twice.
    let own = app.get(&format!("/v1/organisations/{organisation}"), &api_token).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["name"], "CMS Valence");
    assert_eq!(own.body["territory_id"], territory.as_str());
    let reused = app.accept(&invitation).await;
    assert_eq!(reused.status, StatusCode::GONE, "{}", reused.body);

    // The new admin invites a colleague, whose invitation expires.
    let (_, late) = app.invite(&api_token, &organisation, "paul@cms.fr", "basic").await;
    app.clock.advance(chrono::Duration::days(7));
    let expired = app.accept(&late).await;
    assert_eq!(expired.status, StatusCode::GONE, "{}", expired.body);
    assert_eq!(expired.headers["content-type"], "application/problem+json");
    assert!(expired.body["detail"].as_str().unwrap().contains("expired"));

    // Everything survives a restart: the feed as it stood reads the same
    // after it (the restarted scheduler may add the day's DailyRun after).
    let head = app.head_position().await;
    let before = feed_until(&app, head).await;
    assert!(!before.is_empty(), "the flow wrote events");
    let app = app.restart().await;
    assert!(app.head_position().await >= head);
    assert_eq!(
        feed_until(&app, head).await,
        before,
        "the events up to the head before the restart"
    );
    let listed = app
        .get(
            &format!("/v1/organisations/{organisation}/agents?min_position={head}"),
            &api_token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let statuses: Vec<_> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses.len(), 2);
    assert!(statuses.contains(&"active".to_string()) && statuses.contains(&"invited".to_string()));
}

#[tokio::test]
async fn the_whole_flow_on_sqlite() {
    whole_flow(TestApp::spawn().await).await;
}

#[tokio::test]
async fn the_whole_flow_on_postgres() {
    if let Some(app) = TestApp::spawn_postgres().await {
        whole_flow(app).await;
    }
}

#[tokio::test]
async fn a_known_email_gets_the_new_role_without_a_second_invitation() {
    let app = TestApp::spawn().await;
    let (territory, first) = app.territory_and_organisation("CMS Valence").await;
    let second = app
        .post(
            &format!("/v1/territories/{territory}/organisations"),
            &app.admin_token,
            json!({"name": "PMI Romans"}),
        )
        .await;
    let second = second.id();
    let (agent, _) = app.invite(&app.admin_token, &first, "marie@cms.fr", "basic").await;
    let emails = app.eml_files().len();
    let again = app
        .post(
            &format!("/v1/organisations/{second}/agents"),
            &app.admin_token,
            json!({"email": "MARIE@cms.fr", "first_name": "Marie", "last_name": "Curie", "services": ["pmi"], "role": "admin"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["agent_id"], agent.as_str());
    assert_eq!(again.body["status"], "invited");
    let position = again.position();
    let listed = app
        .get(
            &format!("/v1/organisations/{second}/agents?min_position={position}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(listed.body[0]["agent_id"], agent.as_str());
    assert_eq!(listed.body[0]["role"], "admin");
    // Give the sender a moment: it must not write a second e-mail.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.eml_files().len(), emails, "no second invitation e-mail");
}

#[tokio::test]
async fn an_intervenant_has_no_email_and_is_listed_active() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    let created = app
        .post(
            &format!("/v1/organisations/{organisation}/agents"),
            &app.admin_token,
            json!({"first_name": "Jean", "last_name": "Valjean", "services": ["service_social"], "role": "intervenant"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["status"], "active");
    assert!(created.body["invitation_expires_at"].is_null());
}

#[tokio::test]
async fn reinviting_sends_a_new_link_and_the_old_one_stops_working() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    let (agent, first) = app
        .invite(&app.admin_token, &organisation, "marie@cms.fr", "basic")
        .await;
    app.clock.advance(chrono::Duration::days(10));
    let reinvited = app
        .post(
            &format!("/v1/organisations/{organisation}/agents/{agent}/reinvite"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(reinvited.status, StatusCode::OK, "{}", reinvited.body);
    assert_eq!(reinvited.body["invitation_expires_at"], "2026-01-22T09:00:00Z");
    let second = invitation_token(&app.wait_for_eml(2).await);
    assert_ne!(first, second);
    let old = app.accept(&first).await;
    assert_eq!(old.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", old.body);
    assert_eq!(old.fields(), vec!["token"]);
    let new = app.accept(&second).await;
    assert_eq!(new.status, StatusCode::OK, "{}", new.body);
}

/// A start that fails (its port is taken) makes no admin token: the next
/// start on the same empty store still prints one. Links in messages point
/// at the address the API is bound to unless `RDV_PUBLIC_URL` says
/// otherwise.
#[tokio::test]
async fn a_failed_start_keeps_the_one_time_admin_token() {
    use rdv_gateway::{App, Config};
    let dir = tempfile::TempDir::new().unwrap();
    let clock = std::sync::Arc::new(rdv_domain::FixedClock::at(START.parse().unwrap()));
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = Config::embedded(dir.path().to_path_buf());
    config.listen = busy.local_addr().unwrap().to_string();
    assert!(
        App::build(config.clone(), clock.clone()).await.is_err(),
        "the port is taken"
    );

    config.listen = "127.0.0.1:0".into();
    let app = App::build(config.clone(), clock.clone()).await.unwrap();
    let token = app.bootstrap_admin_token.clone();
    assert!(
        token.is_some_and(|t| t.starts_with("rdv_admin_")),
        "the token is still to print"
    );
    assert_eq!(app.state().public_url, format!("http://{}", app.local_addr()));
    drop(app);

    config.public_url = Some("https://rdv.example.fr/".into());
    let app = App::build(config, clock).await.unwrap();
    assert!(app.bootstrap_admin_token.is_none(), "printed once only");
    assert_eq!(app.state().public_url, "https://rdv.example.fr");
}
