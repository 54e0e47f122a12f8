//! Auditors' reads over HTTP: records as they stood at past instants.

use crate::{helpers::*, slots::setup};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_rdv_reads_as_it_stood_at_three_instants_of_its_life() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Ada", "last_name": "Durand"}),
        )
        .await
        .id();
    // Booked on Monday 5 January for the 12th, moved on the 6th, cancelled on the 7th.
    let booked = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu,
                   "agent_ids": [s.agent], "usager_ids": [usager], "starts_at": "2026-01-12T10:00:00+01:00"}),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let rdv = booked.id();
    app.clock.set("2026-01-06T09:00:00Z".parse().unwrap());
    let moved = app
        .post(
            &format!("/v1/rdvs/{rdv}/reschedule"),
            &s.token,
            json!({"starts_at": "2026-01-13T15:00:00+01:00"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    app.clock.set("2026-01-07T09:00:00Z".parse().unwrap());
    let cancelled = app
        .post(
            &format!("/v1/rdvs/{rdv}/cancel"),
            &s.token,
            json!({"status": "revoked"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

    let at = |instant: &'static str| {
        let (app, token, url) = (&app, s.token.clone(), format!("/v1/rdvs/{rdv}?as_of={instant}"));
        async move { app.get(&url, &token).await }
    };
    let first = at("2026-01-05T12:00:00Z").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        (first.body["starts_at"].as_str(), first.body["status"].as_str()),
        (Some("2026-01-12T09:00:00Z"), Some("unknown"))
    );
    assert_eq!(first.body["history"].as_array().unwrap().len(), 1);
    let second = at("2026-01-06T12:00:00Z").await;
    assert_eq!(second.body["starts_at"], "2026-01-13T14:00:00Z");
    assert_eq!(second.body["status"], "unknown");
    let third = at("2026-01-07T12:00:00Z").await;
    assert_eq!(third.body["status"], "revoked");
    assert_eq!(third.body["history"].as_array().unwrap().len(), 3);
    let before = at("2026-01-04T12:00:00Z").await;
    assert_eq!(before.status, StatusCode::NOT_FOUND, "not booked yet");
}

#[tokio::test]
async fn motifs_and_usagers_read_as_they_stood() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Ada", "last_name": "Durand"}),
        )
        .await
        .id();
    app.clock.set("2026-01-06T09:00:00Z".parse().unwrap());
    let renamed = app
        .patch(
            &format!("/v1/usagers/{usager}"),
            &s.token,
            json!({"last_name": "Martin"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let motif = app
        .patch(
            &format!("/v1/motifs/{}", s.motif),
            &app.admin_token,
            json!({"informations": {"name": "Accueil social"}}),
        )
        .await;
    assert_eq!(motif.status, StatusCode::OK, "{}", motif.body);
    let then = "2026-01-05T12:00:00Z";
    let old = app.get(&format!("/v1/usagers/{usager}?as_of={then}"), &s.token).await;
    assert_eq!(old.body["last_name"], "Durand", "{}", old.body);
    let now = app.get(&format!("/v1/usagers/{usager}"), &s.token).await;
    assert_eq!(now.body["last_name"], "Martin");
    let old = app
        .get(&format!("/v1/motifs/{}?as_of={then}", s.motif), &app.admin_token)
        .await;
    assert_eq!(old.body["informations"]["name"], "Accueil", "{}", old.body);
}

#[tokio::test]
async fn auditors_read_every_event_of_their_territorys_records_and_nothing_else() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let organisation = app
        .get(&format!("/v1/organisations/{}", s.organisation), &s.token)
        .await;
    let territory = organisation.body["territory_id"].as_str().unwrap().to_string();
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Ada", "last_name": "Durand"}),
        )
        .await
        .id();
    let booked = app
        .request(
            Method::POST,
            "/v1/rdvs",
            Some(&s.token),
            Some(
                json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu,
                        "agent_ids": [s.agent], "usager_ids": [usager], "starts_at": "2026-01-12T10:00:00+01:00"}),
            ),
            &[("Idempotency-Key", "book-ada-1")],
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let rdv = booked.id();
    let (auditor, auditor_token) = app.active_agent(&s.organisation, "auditrice@cd26.fr", "basic").await;
    let events_url = format!("/v1/audit/Rdv/{rdv}/events");
    let refused = app.get(&events_url, &auditor_token).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "no audit right yet");
    let granted = app
        .request(
            Method::PUT,
            &format!("/v1/territories/{territory}/agents/{auditor}/rights"),
            Some(&app.admin_token),
            Some(json!({"audit": true})),
            &[],
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    let events = app.get(&events_url, &auditor_token).await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.body);
    let first = &events.body[0];
    assert_eq!(first["event_type"], "RdvBooked");
    assert_eq!(first["idempotency_key"], "book-ada-1");
    assert_eq!(first["actor"], format!("agent:{}", s.agent));
    assert!(first["correlation_id"].is_string());

    // Another territory's records stay out of sight.
    let (_, other) = app.territory_and_organisation("Ardèche").await;
    let outside = app
        .get(&format!("/v1/audit/Organisation/{other}/events"), &auditor_token)
        .await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
    let listed = app
        .get(
            &format!("/v1/audit/events?territory_id={territory}&type=OrganisationCreated"),
            &auditor_token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let organisations: Vec<&str> = listed.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["aggregate_id"].as_str().unwrap())
        .collect();
    assert_eq!(organisations, [s.organisation.as_str()], "only the audited territory's");
    let unnamed = app.get("/v1/audit/events", &auditor_token).await;
    assert_eq!(unnamed.fields(), ["territory_id"]);
}

#[tokio::test]
async fn a_territory_export_holds_its_events_and_a_manifest_whose_hash_checks() {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let territory = app
        .get(&format!("/v1/organisations/{}", s.organisation), &s.token)
        .await
        .body["territory_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, other) = app.territory_and_organisation("Ardèche").await;
    let out = tempfile::TempDir::new().unwrap();
    let manifest = rdv_app::audit::export(&app.state.store, territory.parse().unwrap(), (None, None), out.path())
        .await
        .unwrap();
    let bytes = std::fs::read(out.path().join("events.ndjson")).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), manifest.sha256);
    let written: rdv_app::audit::Manifest =
        serde_json::from_slice(&std::fs::read(out.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(written, manifest);
    let lines: Vec<serde_json::Value> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, manifest.events);
    assert!(
        manifest.events >= 6,
        "territory, organisation, motif, lieu, agent...: {}",
        manifest.events
    );
    assert!(lines.iter().any(|e| e["aggregate_id"] == s.organisation.as_str()));
    assert!(
        !lines.iter().any(|e| e["aggregate_id"] == other.as_str()),
        "not the other territory's"
    );
    assert_eq!(lines[0]["position"], manifest.first_position.unwrap());
}

#[tokio::test]
async fn an_agent_reads_as_it_stood_invited_accepted_then_promoted() {
    let app = TestApp::spawn().await;
    let (_, organisation) = app.territory_and_organisation("Drôme").await;
    app.clock.set("2026-01-05T09:00:00Z".parse().unwrap());
    let (agent, invitation) = app
        .invite(&app.admin_token, &organisation, "marie@cms26.fr", "basic")
        .await;
    app.clock.set("2026-01-06T09:00:00Z".parse().unwrap());
    let accepted = app.accept(&invitation).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let own_token = accepted.body["api_token"].as_str().unwrap().to_string();
    app.clock.set("2026-01-07T09:00:00Z".parse().unwrap());
    let promoted = app
        .patch(
            &format!("/v1/organisations/{organisation}/agents/{agent}"),
            &app.admin_token,
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);

    let at = |instant: &str| {
        let url = format!("/v1/agents/{agent}?as_of={instant}");
        let app = &app;
        async move { app.get(&url, &app.admin_token).await }
    };
    let invited = at("2026-01-05T12:00:00Z").await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    assert_eq!(invited.body["status"], "invited");
    assert_eq!(invited.body["roles"][&organisation], "basic");
    assert!(invited.body["invitation_expires_at"].is_string());
    assert!(invited.body.get("api_tokens").is_none(), "tokens never show");
    let active = at("2026-01-06T12:00:00Z").await;
    assert_eq!(active.body["status"], "active", "{}", active.body);
    assert_eq!(active.body["roles"][&organisation], "basic");
    let admin = at("2026-01-07T12:00:00Z").await;
    assert_eq!(admin.body["roles"][&organisation], "admin", "{}", admin.body);
    let before = at("2026-01-04T12:00:00Z").await;
    assert_eq!(before.status, StatusCode::NOT_FOUND, "not invited yet");

    // The agent reads itself now; an agent of another territory learns
    // nothing, the same 404 as for an unknown id.
    let itself = app.get(&format!("/v1/agents/{agent}"), &own_token).await;
    assert_eq!(itself.body["email"], "marie@cms26.fr", "{}", itself.body);
    assert_eq!(itself.body["roles"][&organisation], "admin");
    let (_, elsewhere) = app.territory_and_organisation("Ardèche").await;
    let (_, stranger) = app.active_agent(&elsewhere, "paul@cms07.fr", "admin").await;
    let hidden = app.get(&format!("/v1/agents/{agent}"), &stranger).await;
    let unknown = app
        .get(&format!("/v1/agents/{}", uuid::Uuid::now_v7()), &stranger)
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.body, unknown.body);
    let hidden_then = app
        .get(&format!("/v1/agents/{agent}?as_of=2026-01-06T12:00:00Z"), &stranger)
        .await;
    assert_eq!(hidden_then.body, unknown.body);
}
