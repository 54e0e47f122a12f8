//! Editing an RDV's agents, lieu and Contexte: time moves between agents'
//! days, a new lieu is told to the usager, the history shows each change.

use crate::{helpers::*, slots::setup};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn agents_lieu_and_contexte_change_with_their_time_and_a_notice() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let (bruno, _) = app.active_agent(&s.organisation, "bruno@cms.fr", "basic").await;
    let annexe = app
        .post(
            &format!("/v1/organisations/{}/lieux", s.organisation),
            &app.admin_token,
            json!({"name": "Annexe", "address": "2 rue B"}),
        )
        .await
        .id();
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Inès", "last_name": "Faure", "email": "ines@example.fr"}),
        )
        .await
        .id();
    let book = |agent: &str| {
        json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu, "agent_ids": [agent],
               "usager_ids": [usager], "starts_at": "2026-01-12T10:00:00+01:00"})
    };
    let rdv = app.post("/v1/rdvs", &s.token, book(&s.agent)).await.id();
    let brunos = app.post("/v1/rdvs", &s.token, book(&bruno)).await;
    assert_eq!(brunos.status, StatusCode::CREATED, "{}", brunos.body);
    let edit = |body: Value| {
        let (app, s, rdv) = (&app, &s, rdv.clone());
        async move { app.patch(&format!("/v1/rdvs/{rdv}"), &s.token, body).await }
    };

    let bad = edit(json!({"agent_ids": [uuid::Uuid::now_v7()], "lieu_id": uuid::Uuid::now_v7()})).await;
    assert_eq!(bad.fields(), ["agent_ids[0]", "lieu_id"], "{}", bad.body);

    let changed = edit(json!({"agent_ids": [bruno], "lieu_id": annexe, "context": "dossier CAF"})).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(
        changed.body["warnings"][0]["code"], "overlapping_rdv",
        "{}",
        changed.body
    );
    let notice = app.wait_for_eml_containing("Annexe, 2 rue B").await;
    assert!(notice.contains("Bonjour In"), "{notice}");

    // The first agent's hour is free again: no overlap warning for them.
    let again = app.post("/v1/rdvs", &s.token, book(&s.agent)).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    let codes: Vec<&Value> = again.body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["code"])
        .collect();
    assert!(!codes.contains(&&json!("overlapping_rdv")), "{}", again.body);

    let shown = app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await.body;
    assert_eq!(shown["agent_ids"], json!([bruno]));
    assert_eq!(shown["lieu_id"], annexe.as_str());
    assert!(shown["context"].is_null(), "the espace has the Contexte field off");
    let history = shown["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{shown}");
    let fields: Vec<&str> = history[1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"agent_ids") && fields.contains(&"lieu_id"),
        "{fields:?}"
    );
    assert!(!fields.contains(&"context"), "hidden in the history too: {fields:?}");
    let unchanged = edit(json!({"context": "dossier CAF"})).await;
    assert_eq!(unchanged.body["events"], json!([]), "{}", unchanged.body);
}
