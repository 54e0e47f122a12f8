//! Participants over HTTP: ateliers with seats (usagers sign up, agents may
//! overbook, an excused participation frees its seat, concurrent sign-ups
//! for the last seat leave one winner), and participation statuses leading
//! the RDV's status.

use crate::{
    helpers::*,
    slots::{Setup, setup},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ATELIER_START: &str = "2026-01-12T14:00:00+01:00";

/// The setup's motif made collective.
async fn collective_setup(app: &TestApp) -> Setup {
    let s = setup(app, "26", "Europe/Paris").await;
    let patched = app
        .patch(
            &format!("/v1/motifs/{}", s.motif),
            &app.admin_token,
            json!({"informations": {"collective": true, "max_participants": 10}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    s
}

/// An atelier of `seats` created by the agent at `starts_at`.
async fn create_atelier(app: &TestApp, s: &Setup, seats: u32, starts_at: &str) -> String {
    let created = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu,
                   "agent_ids": [s.agent], "usager_ids": [], "starts_at": starts_at,
                   "duration_in_min": 120, "name": "Atelier CV", "max_participants_count": seats}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.id()
}

async fn atelier(app: &TestApp, seats: u32) -> (Setup, String) {
    let s = collective_setup(app).await;
    let rdv = create_atelier(app, &s, seats, ATELIER_START).await;
    (s, rdv)
}

async fn sign_up(app: &TestApp, rdv: &str, first_name: &str) -> Reply {
    app.request(
        Method::POST,
        &format!("/v1/public/rdvs/{rdv}/participants"),
        None,
        Some(json!({"usager": {"first_name": first_name, "last_name": "Martin", "email": format!("{first_name}@example.fr")}})),
        &[],
    )
    .await
}

async fn public_ateliers(app: &TestApp, s: &Setup, position: i64) -> Vec<Value> {
    let url = format!(
        "/v1/public/slots?organisation_id={}&motif_id={}&from=2026-01-12&to=2026-01-12&min_position={position}",
        s.organisation, s.motif
    );
    let reply = app.request(Method::GET, &url, None, None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().unwrap().clone()
}

async fn create_usager(app: &TestApp, s: &Setup, first_name: &str) -> String {
    let created = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": first_name, "last_name": "Roux"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.id()
}

async fn rdv_body(app: &TestApp, s: &Setup, rdv: &str) -> Value {
    app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await.body
}

async fn set_participation(app: &TestApp, s: &Setup, rdv: &str, usager: &str, status: &str) -> Reply {
    app.post(
        &format!("/v1/rdvs/{rdv}/participants/{usager}/status"),
        &s.token,
        json!({"status": status}),
    )
    .await
}

#[tokio::test]
async fn an_atelier_fills_up_frees_an_excused_seat_and_agents_may_overbook() {
    let app = TestApp::spawn().await;
    let (s, rdv) = atelier(&app, 2).await;

    let listed = public_ateliers(&app, &s, app.head_position().await).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["starts_at"], ATELIER_START);
    assert_eq!(listed[0]["atelier"]["rdv_id"], rdv.as_str());
    assert_eq!(listed[0]["atelier"]["seats_left"], 2);
    assert_eq!(listed[0]["atelier"]["name"], "Atelier CV");

    let alice = sign_up(&app, &rdv, "Alice").await;
    assert_eq!(alice.status, StatusCode::CREATED, "{}", alice.body);
    let alice_token = alice.body["participation_token"].as_str().unwrap().to_string();
    assert!(
        app.wait_for_eml_containing("Bonjour Alice")
            .await
            .contains(&alice_token)
    );
    let bob = sign_up(&app, &rdv, "Bob").await;
    assert_eq!(bob.status, StatusCode::CREATED, "{}", bob.body);
    let carol = sign_up(&app, &rdv, "Carol").await;
    assert_eq!(carol.status, StatusCode::CONFLICT, "{}", carol.body);
    assert_eq!(carol.body["detail"], "this atelier is full");
    assert!(
        public_ateliers(&app, &s, bob.position()).await.is_empty(),
        "a full atelier is not offered"
    );

    // Alice excuses herself with her link: the atelier stands, her seat is free.
    let excused = app
        .request(
            Method::POST,
            &format!("/v1/public/rdvs/{rdv}/cancel"),
            None,
            Some(json!({"token": alice_token})),
            &[],
        )
        .await;
    assert_eq!(excused.status, StatusCode::OK, "{}", excused.body);
    let seen = app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await;
    assert_eq!(seen.body["status"], "unknown");
    assert_eq!(
        seen.body["participations"][alice.body["usager_id"].as_str().unwrap()],
        "excused"
    );
    assert_eq!(seen.body["collective"]["users_count"], 1);
    let own = app
        .request(
            Method::GET,
            &format!("/v1/public/rdvs?token={alice_token}"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(own.body["status"], "excused");
    assert_eq!(own.body["can_cancel"], false);
    let carol = sign_up(&app, &rdv, "Carol").await;
    assert_eq!(carol.status, StatusCode::CREATED, "{}", carol.body);

    // An agent may add a third one over the seats, with a warning, and remove them.
    let dan = create_usager(&app, &s, "Dan").await;
    let added = app
        .post(
            &format!("/v1/rdvs/{rdv}/participants"),
            &s.token,
            json!({"usager_id": dan}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.body["warnings"][0]["code"], "too_many_participants");
    let twice = app
        .post(
            &format!("/v1/rdvs/{rdv}/participants"),
            &s.token,
            json!({"usager_id": dan}),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);
    let removed = app
        .request(
            Method::DELETE,
            &format!("/v1/rdvs/{rdv}/participants/{dan}"),
            Some(&s.token),
            None,
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    let listed = app
        .get(
            &format!(
                "/v1/organisations/{}/rdvs?min_position={}",
                s.organisation,
                removed.position()
            ),
            &s.token,
        )
        .await;
    let doc = &listed.body["rdvs"][0];
    assert_eq!(doc["collective"]["users_count"], 2, "{doc}");
    assert!(doc["usager_ids"].as_array().unwrap().iter().all(|u| u != dan.as_str()));

    // An individual motif's booking route refuses a collective motif.
    let individual = app
        .request(
            Method::POST,
            "/v1/public/rdvs",
            None,
            Some(
                json!({"organisation_id": s.organisation, "motif_id": s.motif, "starts_at": ATELIER_START,
                        "usager": {"first_name": "Eve", "last_name": "Martin"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(individual.fields(), ["motif_id"]);
}

/// Twenty rounds: twenty usagers race for the last seat of an atelier,
/// exactly one gets it, the others find it full.
async fn twenty_usagers_race_for_the_last_seat(app: TestApp) {
    let s = collective_setup(&app).await;
    for round in 0..20 {
        let rdv = create_atelier(&app, &s, 2, &format!("2026-01-{:02}T14:00:00+01:00", 12 + round % 15)).await;
        assert_eq!(sign_up(&app, &rdv, "First").await.status, StatusCode::CREATED);
        let racers = (0..20).map(|i| {
            let (app, rdv) = (&app, rdv.clone());
            async move { sign_up(app, &rdv, &format!("Racer{i}")).await }
        });
        let replies = futures::future::join_all(racers).await;
        let won = replies.iter().filter(|r| r.status == StatusCode::CREATED).count();
        let full = replies
            .iter()
            .filter(|r| r.status == StatusCode::CONFLICT && r.body["detail"] == "this atelier is full")
            .count();
        assert_eq!(
            (won, full),
            (1, 19),
            "round {round}: {:?}",
            replies.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
    }
}

#[tokio::test]
async fn the_last_seat_of_an_atelier_goes_to_one_of_twenty_on_sqlite() {
    twenty_usagers_race_for_the_last_seat(TestApp::spawn().await).await;
}

#[tokio::test]
async fn the_last_seat_of_an_atelier_goes_to_one_of_twenty_on_postgres() {
    if let Some(app) = TestApp::spawn_postgres().await {
        twenty_usagers_race_for_the_last_seat(app).await;
    }
}

#[tokio::test]
async fn participation_statuses_lead_the_rdv_and_free_the_agents_time() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let (ana, ben) = (
        create_usager(&app, &s, "Ana").await,
        create_usager(&app, &s, "Ben").await,
    );
    let booked = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu,
                   "agent_ids": [s.agent], "usager_ids": [ana, ben], "starts_at": "2026-01-05T11:00:00+01:00"}),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let rdv = booked.id();
    // Not started yet: noshow is not on the menu.
    assert_eq!(
        set_participation(&app, &s, &rdv, &ana, "noshow").await.fields(),
        ["status"]
    );
    app.clock.advance(chrono::Duration::hours(3));
    assert_eq!(
        set_participation(&app, &s, &rdv, &ana, "noshow").await.status,
        StatusCode::OK
    );
    assert_eq!(rdv_body(&app, &s, &rdv).await["status"], "unknown");
    assert_eq!(
        set_participation(&app, &s, &rdv, &ben, "noshow").await.status,
        StatusCode::OK
    );
    let body = rdv_body(&app, &s, &rdv).await;
    assert_eq!(body["status"], "noshow");
    assert!(body["cancelled_at"].is_string());
    assert_eq!(
        set_participation(&app, &s, &rdv, &ben, "seen").await.status,
        StatusCode::OK
    );
    assert_eq!(rdv_body(&app, &s, &rdv).await["status"], "seen");

    // Both excused: the RDV is excused and the agent's hour is free again.
    for usager in [&ana, &ben] {
        let reply = set_participation(&app, &s, &rdv, usager, "excused").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    assert_eq!(rdv_body(&app, &s, &rdv).await["status"], "excused");
    let overlapping = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu,
                   "agent_ids": [s.agent], "usager_ids": [ana], "starts_at": "2026-01-05T11:30:00+01:00"}),
        )
        .await;
    assert_eq!(overlapping.status, StatusCode::CREATED, "{}", overlapping.body);
    let codes: Vec<&Value> = overlapping.body["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["code"])
        .collect();
    assert_eq!(
        codes,
        [&json!("start_in_the_past")],
        "the excused RDV's time was released"
    );
}
