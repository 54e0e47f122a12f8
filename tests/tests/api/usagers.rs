//! Usager updates over HTTP: a JSON merge patch checked field by field,
//! notification preferences that decide the channels, the SI's external id
//! (searchable), and the usager page with its RDVs to come and past.

use crate::{helpers::*, slots::setup};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn patch(app: &TestApp, token: &str, usager: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
    app.request(
        Method::PATCH,
        &format!("/v1/usagers/{usager}"),
        Some(token),
        Some(body),
        headers,
    )
    .await
}

#[tokio::test]
async fn an_usager_is_patched_field_by_field_and_found_by_external_id() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let created = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Léa", "last_name": "Morel",
                   "email": "lea@example.fr", "phone": "06 12 34 56 78"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.id();

    let changed = patch(
        &app,
        &s.token,
        &id,
        json!({"last_name": "Morel-Durand", "email": null, "notifications": {"email": true, "sms": false},
               "external_id": "CAF-0042"}),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let usager = app.get(&format!("/v1/usagers/{id}"), &s.token).await.body;
    assert_eq!(usager["last_name"], "Morel-Durand");
    assert_eq!(usager["first_name"], "Léa", "untouched fields stay");
    assert_eq!(usager["phone"], "+33612345678");
    assert!(usager["email"].is_null(), "null clears a field");
    assert_eq!(usager["notifications"], json!({"email": true, "sms": false}));
    assert_eq!(usager["external_id"], "CAF-0042");

    // The same patch again records nothing; a stale If-Match is 412.
    let same = patch(&app, &s.token, &id, json!({"external_id": "CAF-0042"}), &[]).await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.body);
    assert_eq!(same.body["events"], json!([]));
    let stale = patch(
        &app,
        &s.token,
        &id,
        json!({"first_name": "Lé"}),
        &[("if-match", "\"1\"")],
    )
    .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);

    // Bad values are named; nothing is written.
    let bad = patch(
        &app,
        &s.token,
        &id,
        json!({"email": "nope", "first_name": " ", "organisation_ids": []}),
        &[],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.fields(), ["first_name", "email"]);
    let bad = patch(&app, &s.token, &id, json!({"organisation_ids": []}), &[]).await;
    assert_eq!(bad.fields(), ["organisation_ids"]);
    let history = app.get(&format!("/v1/usagers/{id}/history"), &s.token).await.body;
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");

    // The SI finds its usager by its own id.
    let found = app
        .get(
            &format!(
                "/v1/organisations/{}/usagers?search=caf-0042&min_position={}",
                s.organisation,
                changed.position()
            ),
            &s.token,
        )
        .await;
    assert_eq!(found.body.as_array().unwrap().len(), 1, "{}", found.body);
    assert_eq!(found.body[0]["id"], id.as_str());

    // Another organisation's admin learns nothing.
    let (_, other) = app.territory_and_organisation("Ailleurs").await;
    let (_, stranger) = app.active_agent(&other, "admin@ailleurs.fr", "admin").await;
    let denied = patch(&app, &stranger, &id, json!({"first_name": "X"}), &[]).await;
    assert_eq!(denied.status, StatusCode::NOT_FOUND, "{}", denied.body);
}

#[tokio::test]
async fn preferences_choose_the_channels_and_the_usager_page_lists_rdvs() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Nina", "last_name": "Blanc",
                   "email": "nina@example.fr", "phone": "06 11 22 33 44",
                   "notifications": {"email": false, "sms": true}}),
        )
        .await
        .id();
    let book = |starts_at: &'static str| {
        let (app, s, usager) = (&app, &s, usager.clone());
        async move {
            let reply = app
                .post(
                    "/v1/rdvs",
                    &s.token,
                    json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu,
                           "agent_ids": [s.agent], "usager_ids": [usager], "starts_at": starts_at}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            reply
        }
    };
    let past = book("2026-01-02T10:00:00+01:00").await;
    let next = book("2026-01-20T10:00:00+01:00").await;
    for _ in 0..200 {
        if !app.sms_files().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let sms = app.sms_files();
    assert_eq!(sms.len(), 1, "only the RDV to come is texted: {sms:?}");
    assert!(sms[0].contains("20/01/2026"), "{}", sms[0]);
    assert!(
        app.eml_files().iter().all(|e| !e.contains("nina@example.fr")),
        "e-mails are off"
    );

    app.get(
        &format!(
            "/v1/organisations/{}/rdvs?min_position={}",
            s.organisation,
            next.position()
        ),
        &s.token,
    )
    .await;
    let page = app.get(&format!("/v1/usagers/{usager}"), &s.token).await.body;
    assert_eq!(page["rdvs"]["upcoming"][0]["id"], next.id().as_str(), "{page}");
    assert_eq!(page["rdvs"]["past"][0]["id"], past.id().as_str(), "{page}");
}
