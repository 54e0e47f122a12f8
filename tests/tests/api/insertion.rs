//! Invitations and convocations over HTTP (rdv-insertion in one store):
//! configure a category and its convocation motif, invite by SMS and
//! e-mail, let the window pass, find the follow-up in "Une intervention est
//! nécessaire", convoke to a slot and to the next atelier with seats, and
//! the bad inputs that must write nothing.

use crate::{
    helpers::*,
    slots::{Setup, setup},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) const CATEGORY: &str = "rsa_orientation";

pub(crate) struct Insertion {
    pub s: Setup,
    pub territory_motifs: String,
    pub convocation_motif: String,
    pub atelier_motif: String,
}

/// A motif of the category, bookable by agents only and not notified (as
/// convocation motifs should be).
fn motif_body(s: &Setup, name: &str, collective: bool) -> Value {
    json!({
        "informations": {"name": name, "color": "#123456", "service": "service_social", "default_duration_in_min": 30,
                         "location_type": "public_office", "collective": collective,
                         "max_participants": if collective { json!(1) } else { Value::Null },
                         "visibility": "visible_and_not_notified", "follow_up": false, "category": CATEGORY},
        "booking": {"bookable_by": "agents", "min_booking_delay_in_min": 2880, "max_booking_delay_in_min": 262800,
                    "usager_can_cancel": true, "usager_can_reschedule": false, "sectorisation_level": "departement"},
        "organisation_ids": [s.organisation],
    })
}

pub(crate) async fn insertion_setup(app: &TestApp) -> Insertion {
    let s = setup(app, "26", "Europe/Paris").await;
    let territory_motifs = format!("/v1/territories/{}/motifs", s.territory);
    let mut ids = Vec::new();
    for (name, collective) in [("Convocation RSA orientation", false), ("Atelier RSA", true)] {
        let created = app
            .post(&territory_motifs, &app.admin_token, motif_body(&s, name, collective))
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["warnings"], json!([]), "a well set up convocation motif");
        ids.push(created.id());
    }
    let configured = app
        .request(
            Method::PUT,
            &format!("/v1/organisations/{}/motif-categories/{CATEGORY}", s.organisation),
            Some(&app.admin_token),
            Some(json!({"name": "RSA orientation", "phone_number": "04 75 11 22 33"})),
            &[],
        )
        .await;
    assert_eq!(configured.status, StatusCode::OK, "{}", configured.body);
    let plage = json!({
        "organisation_id": s.organisation, "lieu_id": s.lieu, "motif_ids": [ids[0]],
        "first_day": "2026-01-05", "start_time": "09:00", "end_time": "12:00",
        "recurrence": {"every": "week", "interval": 1, "days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                       "end": {"type": "never"}},
    });
    let created = app
        .post(&format!("/v1/agents/{}/plages", s.agent), &s.token, plage)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    Insertion {
        s,
        territory_motifs,
        convocation_motif: ids.remove(0),
        atelier_motif: ids.remove(0),
    }
}

async fn usager(app: &TestApp, s: &Setup, first_name: &str, phone: Option<&str>) -> String {
    let created = app
        .post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": first_name, "last_name": "Durand",
                   "title": "madame", "email": format!("{}@exemple.fr", first_name.to_lowercase()), "phone": phone}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.id()
}

/// Invites as a front app that has seen every write so far: the category's
/// configuration is read from its projection, at least up to there.
pub(crate) async fn invite(app: &TestApp, s: &Setup, usager: &str, formats: Value) -> Reply {
    let seen = app.head_position().await;
    app.post(
        &format!(
            "/v1/organisations/{}/usagers/{usager}/invitations?min_position={seen}",
            s.organisation
        ),
        &s.token,
        json!({"motif_category": CATEGORY, "formats": formats}),
    )
    .await
}

async fn follow_up(app: &TestApp, s: &Setup, id: &str) -> Value {
    let reply = app.get(&format!("/v1/follow-ups/{id}"), &s.token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn action_required(app: &TestApp, s: &Setup, position: i64) -> Vec<Value> {
    let url = format!(
        "/v1/organisations/{}/follow-ups?motif_category={CATEGORY}&action_required=true&min_position={position}",
        s.organisation
    );
    let reply = app.get(&url, &s.token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"].as_array().unwrap().clone()
}

/// The follow-up an invitation answer names.
pub(crate) fn follow_up_of(invited: &Reply) -> String {
    invited.body["follow_up_id"].as_str().unwrap().to_string()
}

/// The short-link code of an invitation answer's first invitation.
fn code_of(invited: &Reply) -> String {
    let link = invited.body["invitations"][0]["link"].as_str().unwrap();
    link.rsplit('/').next().unwrap().to_string()
}

/// Convokes a follow-up once the read models have caught up with every
/// write so far.
async fn convoke(app: &TestApp, s: &Setup, follow_up_id: &str, body: Value) -> Reply {
    let position = app.head_position().await;
    app.post(
        &format!("/v1/follow-ups/{follow_up_id}/convocations?min_position={position}"),
        &s.token,
        body,
    )
    .await
}

/// A client that shows redirects instead of following them.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn invite_wait_convoke_to_a_slot_then_to_the_next_atelier_with_seats() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let ada = usager(&app, s, "Ada", Some("06 12 34 56 78")).await;

    let invited = invite(&app, s, &ada, json!(["sms", "email"])).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let follow_up_id = follow_up_of(&invited);
    let invitations = invited.body["invitations"].as_array().unwrap();
    assert_eq!(invitations.len(), 2);
    assert_eq!(invitations[0]["valid_until"], "2026-01-15T09:00:00Z", "10 days");
    let link = invitations[0]["link"].as_str().unwrap();
    let code = link.rsplit('/').next().unwrap();
    let sms = app.wait_for_sms_containing(link).await;
    assert!(
        sms.contains("Madame Ada DURAND,\nVous êtes bénéficiaire du RSA"),
        "{sms}"
    );
    app.wait_for_eml_containing("rendez-vous d'orientation").await;
    assert_eq!(follow_up(&app, s, &follow_up_id).await["status"], "invitation_pending");

    let clicked = no_redirects()
        .get(format!("{}/i/{code}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(clicked.status(), StatusCode::FOUND);
    let target = clicked.headers()["location"].to_str().unwrap();
    assert!(
        target.contains("/prendre_rdv?motif_category_short_name=rsa_orientation"),
        "{target}"
    );
    assert!(target.contains("invitation_token=rdvi_"), "{target}");

    // Not yet past the window: nothing to do, and not convocable.
    let position = app.head_position().await;
    assert!(action_required(&app, s, position).await.is_empty());
    let early = convoke(&app, s, &follow_up_id, json!({"organisation_id": s.organisation})).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.body);

    app.clock.advance(chrono::Duration::days(11));
    let listed = action_required(&app, s, position).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], follow_up_id.as_str());
    assert_eq!(listed[0]["action_required"], "invitation_window_exceeded");
    assert_eq!(listed[0]["convocable"], true);
    assert_eq!(listed[0]["action_required_since"], "2026-01-15T09:00:00Z");

    let convoked = convoke(
        &app,
        s,
        &follow_up_id,
        json!({"organisation_id": s.organisation, "formats": ["sms", "email"]}),
    )
    .await;
    assert_eq!(convoked.status, StatusCode::CREATED, "{}", convoked.body);
    // Friday 10:00 in Paris + 2 days of booking delay: Monday 2026-01-19,
    // 09:00, the first free slot of the motif.
    assert_eq!(convoked.body["starts_at"], "2026-01-19T08:00:00Z");
    let rdv = convoked.body["rdv_id"].as_str().unwrap().to_string();
    let now_follow_up = follow_up(&app, s, &follow_up_id).await;
    assert_eq!(now_follow_up["status"], "rdv_pending");
    assert_eq!(now_follow_up["participations"][0]["convocable"], true);
    let notices: Vec<&str> = now_follow_up["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["format"].as_str().unwrap())
        .collect();
    assert_eq!(notices, ["sms", "email"]);
    let convocation = app.wait_for_sms_containing("convoqué(e)").await;
    assert!(convocation.contains("Madame Ada DURAND"), "{convocation}");
    assert!(convocation.contains("le 19/01/2026 à 09:00"), "{convocation}");
    assert!(convocation.contains("Accueil - 1 rue A"), "{convocation}");
    assert!(convocation.contains("04 75 11 22 33"), "{convocation}");
    let email = app
        .wait_for_eml_containing("et êtes convoqué(e) à un rendez-vous d'orientation")
        .await;
    assert!(email.contains("Ce rendez-vous est obligatoire"), "{email}");
    let participation = convoked.body["participation_id"].as_str().unwrap();
    let (name, text) = convocation_letter(&app, s, participation).await;
    assert_eq!(
        name,
        "attachment; filename=\"Convocation_de_ada_durand_le_19-01-2026.pdf\""
    );
    for expected in [
        "Objet : Convocation à un rendez-vous d'orientation dans le cadre de votre RSA",
        "Madame Ada DURAND",
        "Vous êtes bénéficiaire du RSA et vous êtes convoqué(e)",
        "lundi 19 janvier 2026 à 09h00",
        "Accueil - 1 rue A",
        "Ce rendez-vous est obligatoire.",
        "En cas d'absence, votre RSA pourra être suspendu ou réduit.",
        "04 75 11 22 33",
    ] {
        assert!(text.contains(expected), "{expected:?} not in {text}");
    }
    let notices = follow_up(&app, s, &follow_up_id).await["notices"].clone();
    assert_eq!(notices[2]["format"], "postal", "the download is recorded: {notices}");
    let booked = app.get(&format!("/v1/rdvs/{rdv}"), &s.token).await;
    assert_eq!(booked.body["motif_id"], i.convocation_motif.as_str());

    // Collective: the first atelier is full, the usager lands on the next.
    let full = atelier(&app, &i, "2026-02-03T14:00:00+01:00").await;
    let open = atelier(&app, &i, "2026-02-05T14:00:00+01:00").await;
    let other = usager(&app, s, "Zoé", None).await;
    let joined = app
        .post(
            &format!("/v1/rdvs/{full}/participants"),
            &s.token,
            json!({"usager_id": other}),
        )
        .await;
    assert_eq!(joined.status, StatusCode::CREATED, "{}", joined.body);
    let ben = usager(&app, s, "Ben", Some("07 98 76 54 32")).await;
    let invited = invite(&app, s, &ben, json!(["sms"])).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let ben_follow_up = follow_up_of(&invited);
    app.clock.advance(chrono::Duration::days(11));
    let collective = convoke(
        &app,
        s,
        &ben_follow_up,
        json!({"organisation_id": s.organisation, "mode": "collective", "formats": ["sms"]}),
    )
    .await;
    assert_eq!(collective.status, StatusCode::CREATED, "{}", collective.body);
    assert_eq!(collective.body["rdv_id"], open.as_str(), "the full atelier is skipped");
    let ben_status = follow_up(&app, s, &ben_follow_up).await;
    assert_eq!(ben_status["status"], "rdv_pending");
    assert_eq!(
        ben_status["participations"][0]["convocable"], true,
        "collective, added by an agent"
    );
    let sms = app
        .wait_for_sms_containing("Madame Ben DURAND,\nVous êtes bénéficiaire du RSA et êtes convoqué(e)")
        .await;
    assert!(sms.contains("le 05/02/2026 à 14:00"), "{sms}");
}

/// Downloads a convocation letter: its Content-Disposition and its text,
/// read back from the PDF.
async fn convocation_letter(app: &TestApp, s: &Setup, participation: &str) -> (String, String) {
    let response = app
        .client
        .get(format!(
            "{}/v1/participations/{participation}/convocation.pdf",
            app.address
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let name = response.headers()["content-disposition"].to_str().unwrap().to_string();
    let bytes = response.bytes().await.unwrap();
    let document = lopdf::Document::load_mem(&bytes).expect("a PDF document");
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    let text = document.extract_text(&pages).expect("its text");
    (name, text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// An atelier of one seat of the category's collective motif.
async fn atelier(app: &TestApp, i: &Insertion, starts_at: &str) -> String {
    let s = &i.s;
    let created = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": i.atelier_motif, "lieu_id": s.lieu,
                   "agent_ids": [s.agent], "usager_ids": [], "starts_at": starts_at, "name": "Atelier RSA"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.id()
}

#[tokio::test]
async fn bad_convocations_and_expired_links_are_refused_and_write_nothing() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let no_phone = usager(&app, s, "Eve", None).await;
    let invited = invite(&app, s, &no_phone, json!(["email"])).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let follow_up_id = follow_up_of(&invited);
    let code = code_of(&invited);
    let again = invite(&app, s, &no_phone, json!(["email"])).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", again.body);
    assert_eq!(
        again.body["errors"][0]["message"],
        "Une invitation email a déjà été envoyée aujourd'hui à cet usager"
    );
    let sms_without_phone = invite(&app, s, &no_phone, json!(["sms"])).await;
    assert_eq!(sms_without_phone.fields(), ["formats[0]"]);

    app.clock.advance(chrono::Duration::days(11));
    let head = app.head_position().await;
    let expired = no_redirects()
        .get(format!("{}/i/{code}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::GONE);
    let page = expired.text().await.unwrap();
    assert!(page.contains("Désolé, votre invitation n'est plus valide !"), "{page}");
    assert!(page.contains("04 75 11 22 33"), "the help phone: {page}");

    let convoke = |body: Value, position: i64| {
        let url = format!("/v1/follow-ups/{follow_up_id}/convocations?min_position={position}");
        let token = s.token.clone();
        let app = &app;
        async move { app.post(&url, &token, body).await }
    };
    let by_sms = convoke(json!({"organisation_id": s.organisation, "formats": ["sms"]}), head).await;
    assert_eq!(by_sms.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", by_sms.body);
    assert_eq!(by_sms.fields(), ["formats[0]"]);

    // Without its convocation motif the category cannot convoke.
    let archived = app
        .post(
            &format!("/v1/motifs/{}/archive", i.convocation_motif),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    let no_motif = convoke(json!({"organisation_id": s.organisation}), archived.position()).await;
    assert_eq!(no_motif.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_motif.body);
    assert!(
        no_motif.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Aucun motif de convocation")
    );
    let no_atelier = convoke(json!({"organisation_id": s.organisation, "mode": "collective"}), head).await;
    assert_eq!(no_atelier.status, StatusCode::CONFLICT, "{}", no_atelier.body);
    assert_eq!(
        app.head_position().await,
        archived.position(),
        "the refused link and convocations wrote nothing (head was {head} before the archive)"
    );
    let status = follow_up(&app, s, &follow_up_id).await;
    assert_eq!(status["invitations"][0]["clicked"], false);
}

/// Runs the daily jobs once the follow-ups read model has caught up.
async fn run_daily_jobs(app: &TestApp) -> usize {
    let head = app.head_position().await;
    app.state.wait_for("follow_ups", Some(head)).await.unwrap();
    rdv_app::insertion_jobs::run_due(&app.state).await.unwrap()
}

fn at(instant: &str) -> chrono::DateTime<chrono::Utc> {
    instant.parse().unwrap()
}

#[tokio::test]
async fn daily_jobs_remind_invitations_after_three_days_and_convocations_two_days_ahead_once() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let ada = usager(&app, s, "Ada", Some("06 12 34 56 78")).await;
    let invited = invite(&app, s, &ada, json!(["sms", "email"])).await;
    let follow_up_id = follow_up_of(&invited);

    // Thursday 11:30 in Paris, three days after Monday's invitation.
    app.clock.set(at("2026-01-08T10:30:00Z"));
    assert_eq!(run_daily_jobs(&app).await, 1);
    assert_eq!(run_daily_jobs(&app).await, 0, "once a day");
    let reminder = app.wait_for_sms_containing("RAPPEL : Madame Ada DURAND").await;
    assert!(reminder.contains("Ce lien expire dans 6 jours."), "{reminder}");
    let invitations = follow_up(&app, s, &follow_up_id).await["invitations"].clone();
    let triggers: Vec<&str> = invitations
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, ["manual", "manual", "reminder", "reminder"]);
    assert_eq!(
        invitations[2]["valid_until"], invitations[0]["valid_until"],
        "the same deadline"
    );

    // Convoked on Friday the 16th for Monday the 19th: reminded on Saturday.
    app.clock.set(at("2026-01-16T09:00:00Z"));
    let convoked = convoke(
        &app,
        s,
        &follow_up_id,
        json!({"organisation_id": s.organisation, "formats": ["sms"]}),
    )
    .await;
    assert_eq!(convoked.status, StatusCode::CREATED, "{}", convoked.body);
    assert_eq!(run_daily_jobs(&app).await, 0, "Sunday is not two days before Monday");
    app.clock.set(at("2026-01-17T10:30:00Z"));
    assert_eq!(run_daily_jobs(&app).await, 1);
    app.clock.set(at("2026-01-17T15:30:00Z"));
    assert_eq!(run_daily_jobs(&app).await, 0);
    let reminder = app.wait_for_sms_containing("RAPPEL: Madame Ada DURAND").await;
    assert!(reminder.contains("le 19/01/2026 à 09:00"), "{reminder}");
    let notices = follow_up(&app, s, &follow_up_id).await["notices"].clone();
    let events: Vec<&str> = notices
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["participation_created", "participation_reminder"],
        "SMS only, as asked"
    );
}

/// The list pages through an organisation's follow-ups in id order with
/// the cursor it hands out, each once, and the statistics count them all.
#[tokio::test]
async fn follow_ups_are_listed_page_by_page_and_counted() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let mut invited = Vec::new();
    for name in ["Ada", "Bea", "Cid"] {
        let id = usager(&app, s, name, Some("06 12 34 56 78")).await;
        let reply = invite(&app, s, &id, json!(["sms"])).await;
        assert!(reply.status.is_success(), "{}", reply.body);
        invited.push(follow_up_of(&reply));
    }
    invited.sort();
    let position = app.head_position().await;
    let list = format!(
        "/v1/organisations/{}/follow-ups?motif_category={CATEGORY}&limit=2&min_position={position}",
        s.organisation
    );
    let first = app.get(&list, &s.token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let next = first.body["next"].as_str().expect("a next page").to_string();
    let second = app.get(&format!("{list}&after={next}"), &s.token).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert!(second.body["next"].is_null(), "{}", second.body);
    let listed: Vec<&str> = [&first.body, &second.body]
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap())
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, invited);
    let stats = app
        .get(
            &format!("/v1/organisations/{}/stats?motif_category={CATEGORY}", s.organisation),
            &s.token,
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.body["follow_ups"], 3, "{}", stats.body);
    assert_eq!(stats.body["usagers_invited"], 3, "{}", stats.body);
}

#[tokio::test]
async fn archiving_an_usager_ends_their_invitations_and_stops_new_ones() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let ada = usager(&app, s, "Ada", Some("06 12 34 56 78")).await;
    let invited = invite(&app, s, &ada, json!(["sms"])).await;
    let code = code_of(&invited);
    let archived = app
        .post(
            &format!("/v1/usagers/{ada}/archive"),
            &s.token,
            json!({"reason": "déménagement"}),
        )
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    let link = no_redirects()
        .get(format!("{}/i/{code}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), StatusCode::GONE, "the invitation ended with the archive");
    let again = invite(&app, s, &ada, json!(["email"])).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    app.clock.set(at("2026-01-08T10:30:00Z"));
    assert_eq!(run_daily_jobs(&app).await, 0, "no reminder for an archived usager");
    let back = app
        .post(&format!("/v1/usagers/{ada}/unarchive"), &s.token, json!({}))
        .await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(
        invite(&app, s, &ada, json!(["email"])).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_follow_up_reads_as_it_stood_at_any_past_instant() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let ada = usager(&app, s, "Ada", Some("06 12 34 56 78")).await;
    let invited = invite(&app, s, &ada, json!(["sms"])).await;
    let id = follow_up_of(&invited);
    app.clock.set(at("2026-01-16T09:00:00Z"));
    let convoked = convoke(&app, s, &id, json!({"organisation_id": s.organisation})).await;
    assert_eq!(convoked.status, StatusCode::CREATED, "{}", convoked.body);
    let rdv = convoked.body["rdv_id"].as_str().unwrap().to_string();
    app.clock.set(at("2026-01-20T09:00:00Z"));
    let noshow = app
        .post(&format!("/v1/rdvs/{rdv}/status"), &s.token, json!({"status": "noshow"}))
        .await;
    assert_eq!(noshow.status, StatusCode::OK, "{}", noshow.body);
    let before = app
        .get(&format!("/v1/follow-ups/{id}?as_of=2026-01-04T09:00:00Z"), &s.token)
        .await;
    assert_eq!(before.status, StatusCode::NOT_FOUND, "not opened yet");
    for (instant, status, action) in [
        ("2026-01-06T00:00:00Z", "invitation_pending", Value::Null),
        (
            "2026-01-15T10:00:00Z",
            "invitation_pending",
            json!("invitation_window_exceeded"),
        ),
        ("2026-01-17T00:00:00Z", "rdv_pending", Value::Null),
        (
            "2026-01-19T12:00:00Z",
            "rdv_needs_status_update",
            json!("rdv_outcome_missing"),
        ),
        ("2026-01-20T10:00:00Z", "rdv_noshow", json!("rdv_cancelled_or_noshow")),
    ] {
        let reply = app.get(&format!("/v1/follow-ups/{id}?as_of={instant}"), &s.token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["status"], status, "at {instant}");
        assert_eq!(reply.body["action_required"], action, "at {instant}");
    }
    let stats_url = format!(
        "/v1/organisations/{}/stats?motif_category={CATEGORY}&min_position={}",
        s.organisation,
        noshow.position()
    );
    let stats = app.get(&stats_url, &s.token).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.body["usagers_invited"], 1);
    assert_eq!(stats.body["noshow_rate_convened"], 100.0);
    assert_eq!(stats.body["noshow_rate_invited"], Value::Null);
    assert_eq!(
        stats.body["average_days_to_first_rdv"], 11.0,
        "invited on the 5th, convoked on the 16th"
    );
    app.rebuild("follow_ups").await;
    let rebuilt = app.get(&stats_url, &s.token).await;
    assert_eq!(
        rebuilt.body, stats.body,
        "the same figures after a rebuild from position 0"
    );
}

#[tokio::test]
async fn an_invited_usager_books_the_categorys_motif_with_the_token_of_the_link() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let mut body = motif_body(s, "RSA orientation", false);
    body["booking"]["bookable_by"] = json!("agents_and_prescripteurs_and_invited_users");
    body["booking"]["min_booking_delay_in_min"] = json!(60);
    body["informations"]["visibility"] = json!("visible_and_notified");
    let motif = app.post(&i.territory_motifs, &app.admin_token, body).await.id();
    let plage = json!({
        "organisation_id": s.organisation, "lieu_id": s.lieu, "motif_ids": [motif],
        "first_day": "2026-01-05", "start_time": "14:00", "end_time": "16:00",
        "recurrence": {"every": "week", "interval": 1, "days": ["tuesday"], "end": {"type": "never"}},
    });
    let plage = app
        .post(&format!("/v1/agents/{}/plages", s.agent), &s.token, plage)
        .await;
    assert_eq!(plage.status, StatusCode::CREATED, "{}", plage.body);
    let ada = usager(&app, s, "Ada", Some("06 12 34 56 78")).await;
    let invited = invite(&app, s, &ada, json!(["sms"])).await;
    let follow_up_id = follow_up_of(&invited);
    let link = invited.body["invitations"][0]["link"].as_str().unwrap().to_string();
    let code = link.rsplit('/').next().unwrap();
    let clicked = no_redirects()
        .get(format!("{}/i/{code}", app.address))
        .send()
        .await
        .unwrap();
    let target = clicked.headers()["location"].to_str().unwrap().to_string();
    let token = target.split("invitation_token=").nth(1).unwrap().to_string();

    let slots = |token: Option<&str>| {
        let mut url = format!(
            "/v1/public/slots?organisation_id={}&motif_id={motif}&from=2026-01-06&to=2026-01-06&min_position={}",
            s.organisation,
            plage.position()
        );
        if let Some(token) = token {
            url.push_str(&format!("&invitation_token={token}"));
        }
        let app = &app;
        async move { app.request(Method::GET, &url, None, None, &[]).await }
    };
    let anonymous = slots(None).await;
    assert_eq!(anonymous.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", anonymous.body);
    let offered = slots(Some(&token)).await;
    assert_eq!(offered.status, StatusCode::OK, "{}", offered.body);
    assert_eq!(offered.body[0]["starts_at"], "2026-01-06T14:00:00+01:00");
    let forged = slots(Some(&format!("{token}x"))).await;
    assert_eq!(forged.fields(), ["invitation_token"]);

    let booked = app
        .request(
            Method::POST,
            "/v1/public/rdvs",
            None,
            Some(
                json!({"organisation_id": s.organisation, "motif_id": motif, "starts_at": "2026-01-06T14:00:00+01:00",
                        "invitation_token": token}),
            ),
            &[],
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    assert_eq!(
        booked.body["usager_id"],
        ada.as_str(),
        "the invited usager, not a new one"
    );
    let status = follow_up(&app, s, &follow_up_id).await;
    assert_eq!(status["status"], "rdv_pending");
    assert_eq!(status["participations"][0]["convocable"], false, "booked by the usager");
    let used = no_redirects()
        .get(format!("{}/i/{code}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        used.status(),
        StatusCode::GONE,
        "booking ends the invitations of the category"
    );
}

#[tokio::test]
async fn case_6_the_invitation_lasts_the_categorys_delay_and_falls_back_on_the_organisations_phone() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let patched = app
        .patch(
            &format!("/v1/organisations/{}", s.organisation),
            &app.admin_token,
            json!({"phone": "01 47 20 00 01"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let configured = app
        .request(
            Method::PUT,
            &format!("/v1/organisations/{}/motif-categories/{CATEGORY}", s.organisation),
            Some(&app.admin_token),
            Some(json!({"name": "RSA orientation", "number_of_days_before_action_required": 5})),
            &[],
        )
        .await;
    assert_eq!(configured.status, StatusCode::OK, "{}", configured.body);
    let ada = usager(&app, s, "Ada", Some("06 12 34 56 78")).await;
    let invited = invite(&app, s, &ada, json!(["sms"])).await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.body["invitations"][0]["valid_until"], "2026-01-10T09:00:00Z");
    let sms = app.wait_for_sms_containing("Madame Ada DURAND").await;
    assert!(
        sms.contains("En cas de problème, contactez le 01 47 20 00 01."),
        "{sms}"
    );
    let too_short = app
        .request(
            Method::PUT,
            &format!("/v1/organisations/{}/motif-categories/{CATEGORY}", s.organisation),
            Some(&app.admin_token),
            Some(json!({"name": "RSA orientation", "number_of_days_before_action_required": 3})),
            &[],
        )
        .await;
    assert_eq!(too_short.fields(), ["number_of_days_before_action_required"]);
}

#[tokio::test]
async fn every_live_read_model_equals_a_replay_until_one_is_edited_in_sql() {
    let app = TestApp::spawn().await;
    let i = insertion_setup(&app).await;
    let s = &i.s;
    let ada = usager(&app, s, "Ada", Some("06 12 34 56 78")).await;
    let invited = invite(&app, s, &ada, json!(["sms", "email"])).await;
    let follow_up_id = follow_up_of(&invited);
    app.clock.set(at("2026-01-16T09:00:00Z"));
    let convoked = convoke(&app, s, &follow_up_id, json!({"organisation_id": s.organisation})).await;
    assert_eq!(convoked.status, StatusCode::CREATED, "{}", convoked.body);
    let head = app.head_position().await;
    for projection in rdv_projections::all() {
        app.state.wait_for(projection.name(), Some(head)).await.unwrap();
    }
    let live = &app.state.store;
    let scratch_dir = tempfile::TempDir::new().unwrap();
    let scratch = rdv_eventstore::EventStore::open_sqlite(scratch_dir.path())
        .await
        .unwrap();
    let differences = rdv_projections::replay::verify(live, &scratch).await.unwrap();
    assert!(differences.is_empty(), "{differences:#?}");

    let replayed_dir = tempfile::TempDir::new().unwrap();
    let replayed = rdv_eventstore::EventStore::open_sqlite(replayed_dir.path())
        .await
        .unwrap();
    let events = rdv_projections::replay::replay(live, &replayed).await.unwrap();
    assert!(events > 20, "{events} events replayed");
    let copy = replayed
        .doc("follow_ups", "by_id", &follow_up_id)
        .await
        .unwrap()
        .expect("the follow-up in the replay");
    assert_eq!(copy["state"]["usager_id"], ada.as_str());

    let sql = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.data_dir().join("rdv.sqlite3").display()))
        .await
        .unwrap();
    sqlx::query("UPDATE read_models SET doc = json_set(doc, '$.search', 'tampered') WHERE projection = 'usagers' AND collection = 'by_id' AND id = ?")
        .bind(&ada)
        .execute(&sql)
        .await
        .unwrap();
    let fresh = tempfile::TempDir::new().unwrap();
    let scratch = rdv_eventstore::EventStore::open_sqlite(fresh.path()).await.unwrap();
    let differences = rdv_projections::replay::verify(live, &scratch).await.unwrap();
    let named: Vec<(&str, &str, &str)> = differences
        .iter()
        .map(|d| (d.projection, d.collection.as_str(), d.id.as_str()))
        .collect();
    assert_eq!(named, [("usagers", "by_id", ada.as_str())]);
}
