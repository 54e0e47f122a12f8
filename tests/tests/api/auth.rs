//! 401 without a token, 403 without the right, and organisations kept apart.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn no_token_or_a_bad_one_is_401() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    let path = format!("/v1/organisations/{organisation}");
    let none = app.request(Method::GET, &path, None, None, &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers["content-type"], "application/problem+json");
    for bad in [
        "nonsense",
        "rdv_admin_forged",
        "rdv_01a20838240c7182985abdd6106171b2_forged",
    ] {
        assert_eq!(app.get(&path, bad).await.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
}

#[tokio::test]
async fn a_basic_agent_cannot_administer_and_nobody_crosses_organisations() {
    let app = TestApp::spawn().await;
    let (territory, first) = app.territory_and_organisation("CMS Valence").await;
    let second = app
        .post(
            &format!("/v1/territories/{territory}/organisations"),
            &app.admin_token,
            json!({"name": "PMI Romans"}),
        )
        .await
        .id();
    let (_, basic) = app.active_agent(&first, "basic@cms.fr", "basic").await;
    let (_, other_admin) = app.active_agent(&second, "admin@pmi.fr", "admin").await;
    let head = app.head_position().await;

    let invite = json!({"email": "x@cms.fr", "first_name": "X", "last_name": "Y", "services": ["service_social"], "role": "basic"});
    let forbidden = app
        .post(&format!("/v1/organisations/{first}/agents"), &basic, invite.clone())
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "{}", forbidden.body);
    let patch = app
        .patch(&format!("/v1/organisations/{first}"), &basic, json!({"name": "Hacked"}))
        .await;
    assert_eq!(patch.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.post(
            "/v1/territories",
            &basic,
            json!({"name": "T", "departement_number": "26"})
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/v1/events", &basic).await.status, StatusCode::FORBIDDEN);

    // The other organisation's admin can neither read nor change this one.
    assert_eq!(
        app.get(&format!("/v1/organisations/{first}"), &other_admin)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&format!("/v1/organisations/{first}/agents"), &other_admin)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&format!("/v1/organisations/{first}/agents"), &other_admin, invite)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let patch = app
        .patch(
            &format!("/v1/organisations/{first}"),
            &other_admin,
            json!({"name": "Hacked"}),
        )
        .await;
    assert_eq!(patch.status, StatusCode::FORBIDDEN);
    assert_eq!(app.head_position().await, head, "nothing was written");

    // ...but reads its own.
    assert_eq!(
        app.get(&format!("/v1/organisations/{second}"), &other_admin)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/v1/organisations/{first}"), &basic).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn territory_rights_open_the_whole_territory() {
    let app = TestApp::spawn().await;
    let (territory, first) = app.territory_and_organisation("CMS Valence").await;
    let (agent, token) = app.active_agent(&first, "chef@drome.fr", "basic").await;
    let create = json!({"name": "PMI Romans"});
    assert_eq!(
        app.post(
            &format!("/v1/territories/{territory}/organisations"),
            &token,
            create.clone()
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let rights = json!({"admin": true, "manage_configuration": true, "manage_webhooks": false});
    let granted = app
        .request(
            Method::PUT,
            &format!("/v1/territories/{territory}/agents/{agent}/rights"),
            Some(&token),
            Some(rights.clone()),
            &[],
        )
        .await;
    assert_eq!(
        granted.status,
        StatusCode::FORBIDDEN,
        "an agent cannot grant itself rights"
    );
    let granted = app
        .request(
            Method::PUT,
            &format!("/v1/territories/{territory}/agents/{agent}/rights"),
            Some(&app.admin_token),
            Some(rights),
            &[],
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    let created = app
        .post(&format!("/v1/territories/{territory}/organisations"), &token, create)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let listed = app
        .get(
            &format!(
                "/v1/territories/{territory}/organisations?min_position={}",
                created.position()
            ),
            &token,
        )
        .await;
    assert_eq!(listed.body.as_array().unwrap().len(), 2, "{}", listed.body);
}

#[tokio::test]
async fn a_revoked_token_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    let (_, token) = app.active_agent(&organisation, "marie@cms.fr", "admin").await;
    let path = format!("/v1/organisations/{organisation}");
    assert_eq!(app.get(&path, &token).await.status, StatusCode::OK);
    let revoked = app.post("/v1/auth/revoke", &token, json!({})).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(app.get(&path, &token).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn removing_an_agent_and_changing_roles() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("CMS Valence").await;
    let (agent, token) = app.active_agent(&organisation, "marie@cms.fr", "basic").await;
    let path = format!("/v1/organisations/{organisation}/agents/{agent}");
    let promoted = app.patch(&path, &app.admin_token, json!({"role": "admin"})).await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    let listed = app
        .get(
            &format!(
                "/v1/organisations/{organisation}/agents?min_position={}",
                promoted.position()
            ),
            &token,
        )
        .await;
    assert_eq!(listed.body[0]["role"], "admin");
    let removed = app
        .request(Method::DELETE, &path, Some(&app.admin_token), None, &[])
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    assert_eq!(
        app.get(&format!("/v1/organisations/{organisation}"), &token)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let listed = app
        .get(
            &format!(
                "/v1/organisations/{organisation}/agents?min_position={}",
                removed.position()
            ),
            &app.admin_token,
        )
        .await;
    assert_eq!(listed.body, json!([]));
}
