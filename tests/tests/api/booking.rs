//! Booking over HTTP: usagers book offered slots, never two on one agent's
//! time, even under concurrency; agents book anything with warnings; both
//! cancel by their rules.

use crate::{
    helpers::*,
    slots::{Setup, plage, setup, starts},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SLOT: &str = "2026-01-12T09:00:00+01:00";

async fn with_plage(app: &TestApp) -> (Setup, i64) {
    let s = setup(app, "26", "Europe/Paris").await;
    let created = app
        .post(
            &format!("/v1/agents/{}/plages", s.agent),
            &s.token,
            plage(&s, "2026-01-12", "09:00", "11:00", &["monday"]),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (s, created.position())
}

fn public_booking(s: &Setup, starts_at: &str, name: &str) -> Value {
    json!({"organisation_id": s.organisation, "motif_id": s.motif, "starts_at": starts_at,
           "usager": {"first_name": name, "last_name": "Dupont", "email": "camille@example.fr"}})
}

async fn public_slots(app: &TestApp, s: &Setup, position: i64) -> Vec<String> {
    let url = format!(
        "/v1/public/slots?organisation_id={}&motif_id={}&from=2026-01-12&to=2026-01-12&min_position={position}",
        s.organisation, s.motif
    );
    starts(&app.request(Method::GET, &url, None, None, &[]).await)
}

async fn book_publicly(app: &TestApp, body: Value) -> Reply {
    app.request(Method::POST, "/v1/public/rdvs", None, Some(body), &[])
        .await
}

#[tokio::test]
async fn book_cancel_and_book_again() {
    let app = TestApp::spawn().await;
    let (s, position) = with_plage(&app).await;
    assert_eq!(
        public_slots(&app, &s, position).await,
        [SLOT, "2026-01-12T10:00:00+01:00"]
    );

    let booked = book_publicly(&app, public_booking(&s, SLOT, "Camille")).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    assert_eq!(booked.body["agent_id"], s.agent.as_str());
    let rdv = booked.id();
    let token = booked.body["participation_token"].as_str().unwrap().to_string();
    assert_eq!(
        public_slots(&app, &s, booked.position()).await,
        ["2026-01-12T10:00:00+01:00"],
        "the slot is taken"
    );
    let seen = app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await;
    assert_eq!(seen.body["status"], "unknown");
    assert_eq!(seen.body["duration_in_min"], 60);

    // The usager opens it with the link: no internal data.
    let own = app
        .request(Method::GET, &format!("/v1/public/rdvs?token={token}"), None, None, &[])
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
    assert_eq!(own.body["starts_at"], SLOT);
    assert_eq!(own.body["place"], "Accueil, 1 rue A");
    assert_eq!(own.body["can_cancel"], true);
    assert!(own.body.get("context").is_none() && own.body.get("agent_ids").is_none());
    let wrong = app
        .request(
            Method::GET,
            &format!("/v1/public/rdvs?token=rdvp_{}_forged", rdv.replace('-', "")),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(wrong.fields(), ["token"]);

    // The same slot again: 409 pointing to the next free ones.
    let again = book_publicly(&app, public_booking(&s, SLOT, "Dominique")).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.body["next_slots"][0]["starts_at"], "2026-01-12T10:00:00+01:00");

    // The usager cancels with the link; the slot is offered again.
    let bad = app
        .request(
            Method::POST,
            &format!("/v1/public/rdvs/{rdv}/cancel"),
            None,
            Some(json!({"token": "rdvp_nope"})),
            &[],
        )
        .await;
    assert_eq!(bad.fields(), ["token"]);
    let cancelled = app
        .request(
            Method::POST,
            &format!("/v1/public/rdvs/{rdv}/cancel"),
            None,
            Some(json!({"token": token})),
            &[],
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(
        app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await.body["status"],
        "excused"
    );
    assert_eq!(
        public_slots(&app, &s, cancelled.position()).await,
        [SLOT, "2026-01-12T10:00:00+01:00"]
    );
    let twice = app
        .request(
            Method::POST,
            &format!("/v1/public/rdvs/{rdv}/cancel"),
            None,
            Some(json!({"token": token})),
            &[],
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);

    // Re-booked, then cancelled by the agent (revoked).
    let rebooked = book_publicly(&app, public_booking(&s, SLOT, "Camille")).await;
    assert_eq!(rebooked.status, StatusCode::CREATED, "{}", rebooked.body);
    let revoked = app
        .post(
            &format!("/v1/rdvs/{}/cancel", rebooked.id()),
            &s.token,
            json!({"status": "revoked"}),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let view = app.get(&format!("/v1/rdvs/{}", rebooked.id()), &s.token).await;
    assert_eq!(view.body["status"], "revoked");
    assert_eq!(view.body["cancelled_at"], START);
    // Twelve weeks on, the participation link has expired.
    app.clock.advance(chrono::Duration::weeks(12));
    let expired = app
        .request(Method::GET, &format!("/v1/public/rdvs?token={token}"), None, None, &[])
        .await;
    assert_eq!(expired.status, StatusCode::GONE, "{}", expired.body);
}

#[tokio::test]
async fn agents_may_overlap_with_a_warning_and_usagers_may_not() {
    let app = TestApp::spawn().await;
    let (s, _) = with_plage(&app).await;
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "Camille", "last_name": "Dupont"}),
        )
        .await;
    assert_eq!(usager.status, StatusCode::CREATED, "{}", usager.body);
    let body = |starts_at: &str| {
        json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu, "agent_ids": [s.agent],
               "usager_ids": [usager.id()], "starts_at": starts_at})
    };
    let first = app.post("/v1/rdvs", &s.token, body(SLOT)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["warnings"], json!([]));
    let second = app.post("/v1/rdvs", &s.token, body("2026-01-12T09:30:00+01:00")).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let codes: Vec<_> = second.body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes, ["suspected_duplicate", "overlapping_rdv"]);
    let twin = app.post("/v1/rdvs", &s.token, body(SLOT)).await;
    assert_eq!(
        twin.status,
        StatusCode::CONFLICT,
        "an exact duplicate is refused: {}",
        twin.body
    );
    let later = app.post("/v1/rdvs", &s.token, body("2026-01-12T15:00:00+01:00")).await;
    assert_eq!(later.status, StatusCode::CREATED);
    assert!(
        later.body["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "suspected_duplicate"),
        "{}",
        later.body
    );
    let past = app.post("/v1/rdvs", &s.token, body("2026-01-05T08:00:00+01:00")).await;
    assert_eq!(past.body["warnings"][0]["code"], "start_in_the_past");
    // Usagers see no slot that morning: 10:30–11:00 is too short for 60 minutes.
    assert_eq!(public_slots(&app, &s, second.position()).await, Vec::<String>::new());
}

#[tokio::test]
async fn bad_bookings_are_named_and_write_nothing() {
    let app = TestApp::spawn().await;
    let (s, position) = with_plage(&app).await;
    assert_eq!(public_slots(&app, &s, position).await.len(), 2);
    let head = app.head_position().await;
    let not_offered = book_publicly(&app, public_booking(&s, "2026-01-12T09:10:00+01:00", "Camille")).await;
    assert_eq!(not_offered.status, StatusCode::CONFLICT);
    assert_eq!(not_offered.body["next_slots"][0]["starts_at"], SLOT);
    assert_eq!(
        not_offered.body["next_slots"][2]["starts_at"], "2026-01-19T09:00:00+01:00",
        "the search goes on to the next weeks"
    );
    let unnamed = book_publicly(&app, json!({"organisation_id": s.organisation, "motif_id": s.motif, "starts_at": SLOT, "usager": {"first_name": ""}})).await;
    assert_eq!(unnamed.fields(), ["usager.first_name", "usager.last_name"]);
    let bad_phone = book_publicly(
        &app,
        json!({"organisation_id": s.organisation, "motif_id": s.motif, "starts_at": SLOT,
                                                "usager": {"first_name": "A", "last_name": "B", "phone": "12 34"}}),
    )
    .await;
    assert_eq!(bad_phone.fields(), ["usager.phone"]);
    // An usager of another organisation, a zero duration, a start over five years ahead.
    let (_, elsewhere) = app.territory_and_organisation("Ailleurs").await;
    let stranger = app
        .post(
            "/v1/usagers",
            &app.admin_token,
            json!({"organisation_ids": [elsewhere], "first_name": "A", "last_name": "B"}),
        )
        .await
        .id();
    let head_after_setup = app.head_position().await;
    let agent_booking = |usager: &str, starts_at: &str, minutes: u32| {
        json!({"organisation_id": s.organisation, "motif_id": s.motif, "agent_ids": [s.agent], "usager_ids": [usager],
               "starts_at": starts_at, "duration_in_min": minutes})
    };
    assert_eq!(
        app.post("/v1/rdvs", &s.token, agent_booking(&stranger, SLOT, 30))
            .await
            .fields(),
        ["usager_ids[0]"]
    );
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "C", "last_name": "D"}),
        )
        .await
        .id();
    let head_after_usager = app.head_position().await;
    assert_eq!(
        app.post("/v1/rdvs", &s.token, agent_booking(&usager, SLOT, 0))
            .await
            .fields(),
        ["duration_in_min"]
    );
    assert_eq!(
        app.post(
            "/v1/rdvs",
            &s.token,
            agent_booking(&usager, "2032-01-12T09:00:00+01:00", 30)
        )
        .await
        .fields(),
        ["starts_at"]
    );
    assert!(head < head_after_setup);
    assert_eq!(
        app.head_position().await,
        head_after_usager,
        "nothing written by refused bookings"
    );
}

/// Twenty rounds, each on a fresh slot: 50 usagers at once, one RDV.
async fn fifty_usagers_race_for_one_slot(app: TestApp) {
    let (s, position) = with_plage(&app).await;
    let url = format!(
        "/v1/public/slots?organisation_id={}&motif_id={}&from=2026-01-12&to=2026-06-07&min_position={position}",
        s.organisation, s.motif
    );
    let offered = starts(&app.request(Method::GET, &url, None, None, &[]).await);
    let rounds: Vec<&String> = offered.iter().take(20).collect();
    assert_eq!(rounds.len(), 20);
    for slot in rounds {
        let attempts = (0..50).map(|i| {
            let client = app.client.clone();
            let url = format!("{}/v1/public/rdvs", app.address);
            let body = public_booking(&s, slot, &format!("Usager{i}"));
            async move {
                let response = client.post(url).json(&body).send().await.unwrap();
                (response.status(), response.json::<Value>().await.unwrap())
            }
        });
        let results = futures::future::join_all(attempts).await;
        let created = results
            .iter()
            .filter(|(status, _)| *status == StatusCode::CREATED)
            .count();
        assert_eq!(
            created,
            1,
            "{slot}: exactly one booking wins: {:?}",
            results.iter().map(|r| r.0).collect::<Vec<_>>()
        );
        for (status, body) in results.iter().filter(|(status, _)| *status != StatusCode::CREATED) {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["type"], "/problems/conflict");
            assert!(body["next_slots"].is_array(), "{body}");
        }
    }
    let head = app.head_position().await;
    let left = starts(
        &app.request(
            Method::GET,
            &url.replace(&format!("={position}"), &format!("={head}")),
            None,
            None,
            &[],
        )
        .await,
    );
    assert_eq!(left, offered[20..], "exactly the twenty booked slots are gone");
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_one_slot_make_one_rdv_on_sqlite() {
    fifty_usagers_race_for_one_slot(TestApp::spawn().await).await;
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_one_slot_make_one_rdv_on_postgres() {
    if let Some(app) = TestApp::spawn_postgres().await {
        fifty_usagers_race_for_one_slot(app).await;
    }
}

#[tokio::test]
async fn usagers_are_notified_by_email_unless_the_motif_says_otherwise() {
    let app = TestApp::spawn().await;
    let (s, position) = with_plage(&app).await;
    assert_eq!(public_slots(&app, &s, position).await.len(), 2);
    let before = app.eml_files().len();
    let booked = book_publicly(&app, public_booking(&s, SLOT, "Camille")).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let token = booked.body["participation_token"].as_str().unwrap();
    let confirmation = app.wait_for_eml(before + 1).await;
    assert!(confirmation.contains("To: camille@example.fr"), "{confirmation}");
    assert!(confirmation.contains("Votre rendez-vous est confirm"), "{confirmation}");
    assert!(
        confirmation.contains("Le 12/01/2026 à 09:00 (Europe/Paris)"),
        "{confirmation}"
    );
    assert!(confirmation.contains("Lieu : Accueil, 1 rue A"), "{confirmation}");
    assert!(confirmation.contains(&format!("/rdv?token={token}")), "{confirmation}");

    let cancelled = app
        .request(
            Method::POST,
            &format!("/v1/public/rdvs/{}/cancel", booked.id()),
            None,
            Some(json!({"token": token})),
            &[],
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
    let notice = app.wait_for_eml(before + 2).await;
    assert!(notice.contains("Votre rendez-vous a été annulé"), "{notice}");
    assert!(!notice.contains("token="), "no link to a cancelled RDV");

    // A motif visible but not notified (as convocations are) sends nothing.
    let patched = app
        .patch(
            &format!("/v1/motifs/{}", s.motif),
            &app.admin_token,
            json!({"informations": {"visibility": "visible_and_not_notified"}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let silent = book_publicly(&app, public_booking(&s, "2026-01-12T10:00:00+01:00", "Dominique")).await;
    assert_eq!(silent.status, StatusCode::CREATED, "{}", silent.body);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.eml_files().len(),
        before + 2,
        "no e-mail for a motif that does not notify"
    );
}

#[tokio::test]
async fn statuses_follow_the_agent_menu_and_free_or_take_time() {
    let app = TestApp::spawn().await;
    let (s, position) = with_plage(&app).await;
    assert_eq!(public_slots(&app, &s, position).await.len(), 2);
    let booked = book_publicly(&app, public_booking(&s, SLOT, "Camille")).await;
    let rdv = booked.id();
    let status_url = format!("/v1/rdvs/{rdv}/status");
    let status = |value: &str| app.post(&status_url, &s.token, json!({"status": value}));
    let seen = status("seen").await;
    assert_eq!(seen.fields(), ["status"], "not before the RDV has started");
    let revoked = status("revoked").await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert_eq!(
        public_slots(&app, &s, revoked.position()).await,
        [SLOT, "2026-01-12T10:00:00+01:00"],
        "revoking frees the time"
    );
    let back = status("unknown").await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(
        public_slots(&app, &s, back.position()).await,
        ["2026-01-12T10:00:00+01:00"],
        "back to unknown takes it again"
    );
    let view = app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await;
    assert!(view.body["cancelled_at"].is_null());
    // Once it has started, seen and noshow are offered.
    app.clock.set("2026-01-12T08:30:00Z".parse().unwrap());
    let noshow = status("noshow").await;
    assert_eq!(noshow.status, StatusCode::OK, "{}", noshow.body);
    assert_eq!(
        app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await.body["cancelled_at"],
        "2026-01-12T08:30:00Z"
    );
}

#[tokio::test]
async fn rdvs_are_moved_by_agents_anywhere_and_by_usagers_to_offered_slots() {
    let app = TestApp::spawn().await;
    let (s, position) = with_plage(&app).await;
    assert_eq!(public_slots(&app, &s, position).await.len(), 2);
    let booked = book_publicly(&app, public_booking(&s, "2026-01-19T09:00:00+01:00", "Camille")).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let (rdv, token) = (
        booked.id(),
        booked.body["participation_token"].as_str().unwrap().to_string(),
    );
    let move_url = format!("/v1/public/rdvs/{rdv}/reschedule");
    let move_publicly = |starts_at: &str| {
        app.request(
            Method::POST,
            &move_url,
            None,
            Some(json!({"token": token, "starts_at": starts_at})),
            &[],
        )
    };
    let refused = move_publicly("2026-01-26T09:10:00+01:00").await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    let moved = move_publicly("2026-01-26T09:00:00+01:00").await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let view = app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await;
    assert_eq!(view.body["starts_at"], "2026-01-26T08:00:00Z");
    let url = format!(
        "/v1/public/slots?organisation_id={}&motif_id={}&from=2026-01-19&to=2026-01-26&min_position={}",
        s.organisation,
        s.motif,
        moved.position()
    );
    assert_eq!(
        starts(&app.request(Method::GET, &url, None, None, &[]).await),
        [
            "2026-01-19T09:00:00+01:00",
            "2026-01-19T10:00:00+01:00",
            "2026-01-26T10:00:00+01:00"
        ],
        "the old time is free, the new one taken"
    );
    // An agent moves it anywhere (an overlap would only warn).
    let by_agent = app
        .post(
            &format!("/v1/rdvs/{rdv}/reschedule"),
            &s.token,
            json!({"starts_at": "2026-01-26T14:00:00+01:00"}),
        )
        .await;
    assert_eq!(by_agent.status, StatusCode::OK, "{}", by_agent.body);
    let notice = app.wait_for_eml_containing("Le 26/01/2026 à 14:00").await;
    assert!(notice.contains("Votre rendez-vous a été modifié."), "{notice}");
    assert!(!notice.contains("token="), "the link stays the confirmation's");
    // Two days before, the usager can no longer move it.
    app.clock.set("2026-01-24T14:00:00Z".parse().unwrap());
    let late = move_publicly("2026-01-26T10:00:00+01:00").await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
}

#[tokio::test]
async fn the_waiting_room_records_arrivals_and_emails_agents_in_email_mode() {
    let app = TestApp::spawn().await;
    let (s, position) = with_plage(&app).await;
    assert_eq!(public_slots(&app, &s, position).await.len(), 2);
    let booked = book_publicly(&app, public_booking(&s, SLOT, "Camille")).await;
    let rdv = booked.id();
    let early = app.post(&format!("/v1/rdvs/{rdv}/arrived"), &s.token, json!({})).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "not on another day: {}", early.body);
    let territory = app
        .get(&format!("/v1/organisations/{}", s.organisation), &app.admin_token)
        .await
        .body["territory_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mode = app
        .request(
            Method::PUT,
            &format!("/v1/territories/{territory}/settings/waiting-room"),
            Some(&app.admin_token),
            Some(json!({"visual": true, "email": true})),
            &[],
        )
        .await;
    assert_eq!(mode.status, StatusCode::OK);
    app.clock.set("2026-01-12T07:55:00Z".parse().unwrap());
    let arrived = app.post(&format!("/v1/rdvs/{rdv}/arrived"), &s.token, json!({})).await;
    assert_eq!(arrived.status, StatusCode::OK, "{}", arrived.body);
    assert_eq!(
        app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await.body["arrived_at"],
        "2026-01-12T07:55:00Z"
    );
    let email = app.wait_for_eml_containing("Salle d'attente").await;
    assert!(
        email.contains("To: agent@cms.fr") && email.contains("rendez-vous de 09:00"),
        "{email}"
    );
    assert!(!email.contains("Camille"), "no usager name in the agent e-mail");
    assert_eq!(
        app.post(&format!("/v1/rdvs/{rdv}/arrived"), &s.token, json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn rdv_lists_filter_and_page_and_the_contexte_field_follows_the_settings() {
    let app = TestApp::spawn().await;
    let (s, _) = with_plage(&app).await;
    let usager = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": "C", "last_name": "D"}),
        )
        .await
        .id();
    let mut last = None;
    for (hour, context) in [("09:00", "Suivi RSA"), ("10:00", "Premier contact"), ("14:00", "Bilan")] {
        let booked = app
            .post(
                "/v1/rdvs",
                &s.token,
                json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu, "agent_ids": [s.agent],
                       "usager_ids": [usager], "starts_at": format!("2026-01-12T{hour}:00+01:00"), "context": context}),
            )
            .await;
        assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
        last = Some(booked);
    }
    let last = last.unwrap();
    app.post(
        &format!("/v1/rdvs/{}/cancel", last.id()),
        &s.token,
        json!({"status": "revoked"}),
    )
    .await;
    let head = app.head_position().await;
    let list = |query: String| {
        let url = format!("/v1/organisations/{}/rdvs?min_position={head}&{query}", s.organisation);
        let (app, token) = (&app, s.token.clone());
        async move { app.get(&url, &token).await }
    };
    let page = list("per_page=2".into()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        page.body["meta"],
        json!({"current_page": 1, "next_page": 2, "prev_page": null, "total_pages": 2, "total_count": 3})
    );
    assert_eq!(page.body["rdvs"][0]["starts_at"], "2026-01-12T08:00:00Z");
    let second = list("per_page=2&page=2".into()).await;
    assert_eq!(second.body["rdvs"][0]["id"], last.id().as_str());
    assert_eq!(list("status=revoked".into()).await.body["meta"]["total_count"], 1);
    assert_eq!(
        list("starts_after=2026-01-12T09:30:00%2B01:00".into()).await.body["meta"]["total_count"],
        2
    );
    assert_eq!(
        list(format!("agent_id={}", s.agent)).await.body["meta"]["total_count"],
        3
    );
    assert_eq!(list("per_page=0".into()).await.fields(), ["per_page"]);

    // Contexte is off by default: stored, never shown; on, it shows; off again, hidden; on, back.
    let first_id = page.body["rdvs"][0]["id"].as_str().unwrap().to_string();
    let context = || {
        let (app, url, token) = (&app, format!("/v1/rdvs/{first_id}"), s.token.clone());
        async move { app.get(&url, &token).await.body["context"].clone() }
    };
    assert_eq!(context().await, Value::Null);
    assert!(page.body["rdvs"][0]["context"].is_null());
    let territory = app
        .get(&format!("/v1/organisations/{}", s.organisation), &app.admin_token)
        .await
        .body["territory_id"]
        .as_str()
        .unwrap()
        .to_string();
    let fields = format!("/v1/territories/{territory}/settings/rdv-fields");
    for (enabled, expected) in [
        (true, json!("Suivi RSA")),
        (false, Value::Null),
        (true, json!("Suivi RSA")),
    ] {
        let r = app
            .request(
                Method::PUT,
                &fields,
                Some(&app.admin_token),
                Some(json!({"context_enabled": enabled})),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(context().await, expected);
        assert_eq!(list("per_page=1".into()).await.body["rdvs"][0]["context"], expected);
    }
    // Rebuilt from position 0, the RDV list answers the same.
    let before = list("per_page=10".into()).await.body;
    app.rebuild("rdvs").await;
    assert_eq!(list("per_page=10".into()).await.body, before);
}

#[tokio::test]
async fn usagers_are_found_by_name_email_phone_or_birth_date_whatever_the_accents() {
    let app = TestApp::spawn().await;
    let (s, _) = with_plage(&app).await;
    let create = |first: &str, last: &str, extra: Value| {
        let mut body = json!({"organisation_ids": [s.organisation], "first_name": first, "last_name": last});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (app, token) = (&app, s.token.clone());
        async move { app.post("/v1/usagers", &token, body).await }
    };
    let helene = create(
        "Hélène",
        "Gérard",
        json!({"email": "helene@exemple.fr", "phone": "06 12 34 56 78", "birth_date": "1980-05-17"}),
    )
    .await;
    create("Paul", "Martin", json!({"phone": "0692 11 22 33"})).await;
    let last = create("Anaïs", "Gerard", json!({})).await;
    let search = |q: &str| {
        let url = format!(
            "/v1/organisations/{}/usagers?min_position={}&search={}",
            s.organisation,
            last.position(),
            q.replace(' ', "+")
        );
        let (app, token) = (&app, s.token.clone());
        async move {
            let r = app.get(&url, &token).await;
            r.body
                .as_array()
                .unwrap_or_else(|| panic!("{}", r.body))
                .iter()
                .map(|u| u["first_name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("gerard").await,
        ["Anaïs", "Hélène"],
        "accents and case ignored, sorted by name"
    );
    assert_eq!(search("HELENE gérard").await, ["Hélène"]);
    assert_eq!(search("helene@exemple").await, ["Hélène"]);
    assert_eq!(search("06 12 34").await, ["Hélène"]);
    assert_eq!(search("+262692").await, ["Paul"]);
    assert_eq!(search("17/05/1980").await, ["Hélène"]);
    assert_eq!(search("").await.len(), 3);
    // The usager's history: who created it, when, with which fields.
    let history = app.get(&format!("/v1/usagers/{}/history", helene.id()), &s.token).await;
    assert_eq!(history.body[0]["event_type"], "UsagerCreated");
    assert_eq!(history.body[0]["actor"], format!("agent:{}", s.agent));
    // Another organisation's agents learn nothing.
    let (_, elsewhere) = app.territory_and_organisation("Ailleurs").await;
    let (_, outsider) = app.active_agent(&elsewhere, "x@ailleurs.fr", "admin").await;
    assert_eq!(
        app.get(&format!("/v1/usagers/{}", helene.id()), &outsider).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn relatives_are_booked_for_and_their_responsible_is_notified() {
    let app = TestApp::spawn().await;
    let (s, _) = with_plage(&app).await;
    let usager = |body: Value| {
        let (app, token) = (&app, s.token.clone());
        async move { app.post("/v1/usagers", &token, body).await }
    };
    let parent = usager(json!({"organisation_ids": [s.organisation], "first_name": "Camille", "last_name": "Dupont", "email": "camille@example.fr"})).await;
    let child = usager(json!({"organisation_ids": [s.organisation], "first_name": "Léo", "last_name": "Dupont", "responsible_id": parent.id()})).await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
    let grandchild = usager(json!({"organisation_ids": [s.organisation], "first_name": "X", "last_name": "Y", "responsible_id": child.id()})).await;
    assert_eq!(grandchild.fields(), ["responsible_id"], "one level only");
    let stranger = usager(json!({"organisation_ids": [s.organisation], "first_name": "X", "last_name": "Y", "responsible_id": "01a20838-240c-7182-985a-bdd6106171b2"})).await;
    assert_eq!(stranger.fields(), ["responsible_id"]);
    app.get(
        &format!(
            "/v1/organisations/{}/usagers?min_position={}",
            s.organisation,
            child.position()
        ),
        &s.token,
    )
    .await;
    let page = app.get(&format!("/v1/usagers/{}", parent.id()), &s.token).await;
    assert_eq!(page.body["relatives"], json!([child.id()]));

    let booked = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu, "agent_ids": [s.agent],
                   "usager_ids": [child.id()], "starts_at": SLOT}),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let email = app.wait_for_eml_containing("Votre rendez-vous est confirm").await;
    assert!(
        email.contains("To: camille@example.fr") && email.contains("Bonjour Camille"),
        "{email}"
    );
}

#[tokio::test]
async fn mobiles_get_sms_and_a_cancellation_is_texted_only_when_the_service_cancels() {
    let app = TestApp::spawn().await;
    let (s, position) = with_plage(&app).await;
    assert_eq!(public_slots(&app, &s, position).await.len(), 2);
    let mut body = public_booking(&s, SLOT, "Camille");
    body["usager"]["phone"] = json!("06 12 34 56 78");
    let booked = book_publicly(&app, body).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let token = booked.body["participation_token"].as_str().unwrap().to_string();
    app.wait_for_eml_containing("Votre rendez-vous est confirm").await;
    let sms = app.sms_files();
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(
        sms[0].starts_with("To: +33612345678\n") && sms[0].contains("RDV confirmé le 12/01/2026 à 09:00"),
        "{}",
        sms[0]
    );
    assert!(sms[0].contains(&token));
    // The usager cancels: an e-mail, no SMS.
    app.request(
        Method::POST,
        &format!("/v1/public/rdvs/{}/cancel", booked.id()),
        None,
        Some(json!({"token": token})),
        &[],
    )
    .await;
    app.wait_for_eml_containing("Votre rendez-vous a été annulé").await;
    assert_eq!(app.sms_files().len(), 1);
    // Booked again and revoked by the agent: texted.
    let mut again = public_booking(&s, "2026-01-12T10:00:00+01:00", "Camille");
    again["usager"]["phone"] = json!("0692 12 34 56");
    let rebooked = book_publicly(&app, again).await;
    app.post(
        &format!("/v1/rdvs/{}/cancel", rebooked.id()),
        &s.token,
        json!({"status": "revoked"}),
    )
    .await;
    for _ in 0..200 {
        if app.sms_files().len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let sms = app.sms_files();
    assert_eq!(sms.len(), 3, "{sms:?}");
    assert!(
        sms[2].starts_with("To: +262692123456\n") && sms[2].contains("est annulé"),
        "{}",
        sms[2]
    );
}
