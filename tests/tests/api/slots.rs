//! Plages, absences and slot searches over HTTP, in several time zones.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) struct Setup {
    pub territory: String,
    pub organisation: String,
    pub motif: String,
    pub lieu: String,
    pub agent: String,
    pub token: String,
}

/// A territory, an organisation in `zone`, a 60-minute motif bookable by
/// everyone (min delay 60 min), a lieu and an active agent.
pub(crate) async fn setup(app: &TestApp, departement: &str, zone: &str) -> Setup {
    let admin = &app.admin_token;
    let territory = app
        .post(
            "/v1/territories",
            admin,
            json!({"name": "Espace", "departement_number": departement, "timezone": zone}),
        )
        .await
        .id();
    app.post(
        &format!("/v1/territories/{territory}/services/service_social/activate"),
        admin,
        json!({}),
    )
    .await;
    let organisation = app
        .post(
            &format!("/v1/territories/{territory}/organisations"),
            admin,
            json!({"name": "CMS"}),
        )
        .await
        .id();
    let motif = app
        .post(
            &format!("/v1/territories/{territory}/motifs"),
            admin,
            json!({
                "informations": {"name": "Accueil", "color": "#123456", "service": "service_social", "default_duration_in_min": 60,
                                 "location_type": "public_office", "collective": false, "max_participants": null,
                                 "visibility": "visible_and_notified", "follow_up": false, "category": null},
                "booking": {"bookable_by": "everyone", "min_booking_delay_in_min": 60, "max_booking_delay_in_min": 262800,
                            "usager_can_cancel": true, "usager_can_reschedule": true, "sectorisation_level": "departement"},
                "organisation_ids": [organisation],
            }),
        )
        .await;
    assert_eq!(motif.status, StatusCode::CREATED, "{}", motif.body);
    let lieu = app
        .post(
            &format!("/v1/organisations/{organisation}/lieux"),
            admin,
            json!({"name": "Accueil", "address": "1 rue A"}),
        )
        .await
        .id();
    let (agent, token) = app.active_agent(&organisation, "agent@cms.fr", "basic").await;
    Setup {
        territory,
        organisation,
        motif: motif.id(),
        lieu,
        agent,
        token,
    }
}

pub(crate) fn plage(s: &Setup, first_day: &str, start: &str, end: &str, days: &[&str]) -> Value {
    json!({
        "organisation_id": s.organisation, "lieu_id": s.lieu, "motif_ids": [s.motif],
        "first_day": first_day, "start_time": start, "end_time": end,
        "recurrence": {"every": "week", "interval": 1, "days": days, "end": {"type": "never"}},
    })
}

pub(crate) fn starts(reply: &Reply) -> Vec<String> {
    reply
        .body
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.body))
        .iter()
        .map(|s| s["starts_at"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn weekly_plages_minus_absences_and_holidays() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let created = app
        .post(
            &format!("/v1/agents/{}/plages", s.agent),
            &s.token,
            plage(&s, "2026-01-12", "09:00", "11:20", &["monday"]),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["warnings"], json!([]));
    let url = |from: &str, to: &str| {
        format!(
            "/v1/organisations/{}/slots?motif_id={}&from={from}&to={to}",
            s.organisation, s.motif
        )
    };
    let slots = app
        .get(
            &format!(
                "{}&min_position={}",
                url("2026-01-12", "2026-01-25"),
                created.position()
            ),
            &s.token,
        )
        .await;
    assert_eq!(slots.status, StatusCode::OK, "{}", slots.body);
    assert_eq!(
        starts(&slots),
        [
            "2026-01-12T09:00:00+01:00",
            "2026-01-12T10:00:00+01:00",
            "2026-01-19T09:00:00+01:00",
            "2026-01-19T10:00:00+01:00"
        ]
    );
    assert_eq!(slots.body[0]["timezone"], "Europe/Paris");
    assert_eq!(slots.body[0]["agent_id"], s.agent.as_str());
    assert_eq!(slots.body[0]["lieu_id"], s.lieu.as_str());

    // An absence on the 19th from 09:30 takes both slots of that morning... and DST keeps 09:00 local.
    let absence = app
        .post(
            &format!("/v1/agents/{}/absences", s.agent),
            &s.token,
            json!({"title": "Formation", "first_day": "2026-01-19", "start_time": "09:30", "end_time": "12:00"}),
        )
        .await;
    assert_eq!(absence.status, StatusCode::CREATED, "{}", absence.body);
    let slots = app
        .get(
            &format!(
                "{}&min_position={}",
                url("2026-01-12", "2026-01-25"),
                absence.position()
            ),
            &s.token,
        )
        .await;
    assert_eq!(
        starts(&slots),
        ["2026-01-12T09:00:00+01:00", "2026-01-12T10:00:00+01:00"]
    );
    let summer = app.get(&url("2026-04-06", "2026-04-13"), &s.token).await;
    assert_eq!(
        starts(&summer),
        ["2026-04-13T09:00:00+02:00", "2026-04-13T10:00:00+02:00"],
        "Easter Monday 04-06 is a holiday"
    );
    let whit_monday = app.get(&url("2026-05-25", "2026-05-25"), &s.token).await;
    assert_eq!(starts(&whit_monday), Vec::<String>::new());
    // The espace closes a day of its own.
    let territory = app
        .get(&format!("/v1/organisations/{}", s.organisation), &app.admin_token)
        .await
        .body["territory_id"]
        .as_str()
        .unwrap()
        .to_string();
    let closed = app
        .request(
            Method::PUT,
            &format!("/v1/territories/{territory}/settings/closed-days"),
            Some(&app.admin_token),
            Some(json!({"days": ["2026-04-13"]})),
            &[],
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    let summer = app
        .get(
            &format!("{}&min_position={}", url("2026-04-06", "2026-04-20"), closed.position()),
            &s.token,
        )
        .await;
    assert_eq!(
        starts(&summer),
        ["2026-04-20T09:00:00+02:00", "2026-04-20T10:00:00+02:00"],
        "04-13 is closed"
    );

    // Next availability, public slots, agenda and its iCalendar feed.
    let next = app
        .get(
            &format!(
                "/v1/organisations/{}/next-availability?motif_id={}&from=2026-01-13",
                s.organisation, s.motif
            ),
            &s.token,
        )
        .await;
    assert_eq!(next.body["slot"]["starts_at"], "2026-01-26T09:00:00+01:00");
    let public = app
        .request(
            Method::GET,
            &format!(
                "/v1/public/slots?organisation_id={}&motif_id={}&from=2026-01-12&to=2026-01-18",
                s.organisation, s.motif
            ),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(
        starts(&public),
        ["2026-01-12T09:00:00+01:00", "2026-01-12T10:00:00+01:00"]
    );
    let agenda = app
        .get(
            &format!("/v1/agents/{}/agenda?from=2026-01-19&to=2026-01-25", s.agent),
            &s.token,
        )
        .await;
    let kinds: Vec<_> = agenda
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["plage", "absence"]);
    let ics = app
        .client
        .get(format!("{}/v1/agents/{}/agenda.ics", app.address, s.agent))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(ics.headers()["content-type"], "text/calendar; charset=utf-8");
    let text = ics.text().await.unwrap();
    assert!(
        text.starts_with("BEGIN:VCALENDAR\r\n")
            && text.contains("DTSTART:20260119T083000Z")
            && text.ends_with("END:VCALENDAR\r\n"),
        "{text}"
    );

    // Rebuilt from position 0 (the documents by `rdv project --rebuild`, the
    // in-memory index at every start), the availability answers the same.
    let before = app.get(&url("2026-01-12", "2026-02-28"), &s.token).await.body;
    let agenda_before = app
        .get(
            &format!("/v1/agents/{}/agenda?from=2026-01-19&to=2026-01-25", s.agent),
            &s.token,
        )
        .await
        .body;
    app.rebuild("availability").await;
    let app = app.restart().await;
    assert_eq!(app.get(&url("2026-01-12", "2026-02-28"), &s.token).await.body, before);
    let agenda_after = app
        .get(
            &format!("/v1/agents/{}/agenda?from=2026-01-19&to=2026-01-25", s.agent),
            &s.token,
        )
        .await
        .body;
    assert_eq!(agenda_after, agenda_before);
}

#[tokio::test]
async fn overseas_zones_give_local_offsets() {
    for (departement, zone, offset) in [
        ("974", "Indian/Reunion", "+04:00"),
        ("973", "America/Cayenne", "-03:00"),
        ("988", "Pacific/Noumea", "+11:00"),
    ] {
        let app = TestApp::spawn().await;
        let s = setup(&app, departement, zone).await;
        let created = app
            .post(
                &format!("/v1/agents/{}/plages", s.agent),
                &s.token,
                plage(&s, "2026-01-13", "08:00", "10:00", &["tuesday"]),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let slots = app
            .get(
                &format!(
                    "/v1/organisations/{}/slots?motif_id={}&from=2026-01-13&to=2026-01-13&min_position={}",
                    s.organisation,
                    s.motif,
                    created.position()
                ),
                &s.token,
            )
            .await;
        assert_eq!(
            starts(&slots),
            [
                format!("2026-01-13T08:00:00{offset}"),
                format!("2026-01-13T09:00:00{offset}")
            ],
            "{zone}"
        );
        assert_eq!(slots.body[0]["timezone"], zone);
    }
}

#[tokio::test]
async fn overlapping_plages_are_accepted_with_a_warning_and_bad_input_is_named() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let plages = format!("/v1/agents/{}/plages", s.agent);
    app.post(
        &plages,
        &s.token,
        plage(&s, "2026-01-12", "09:00", "12:00", &["monday"]),
    )
    .await;
    let other_lieu = app
        .post(
            &format!("/v1/organisations/{}/lieux", s.organisation),
            &app.admin_token,
            json!({"name": "Annexe", "address": "2 rue B"}),
        )
        .await
        .id();
    let mut second = plage(&s, "2026-01-12", "11:00", "13:00", &["monday"]);
    second["lieu_id"] = json!(other_lieu);
    let r = app.post(&plages, &s.token, second).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["warnings"][0]["code"], "overlapping_plage");

    let head = app.head_position().await;
    let r = app
        .post(
            &plages,
            &s.token,
            plage(&s, "2026-01-12", "12:00", "09:00", &["monday"]),
        )
        .await;
    assert_eq!(r.fields(), ["end_time"]);
    let r = app
        .post(&plages, &s.token, plage(&s, "2026-01-12", "09:00", "10:00", &[]))
        .await;
    assert_eq!(r.fields(), ["recurrence.days"]);
    let mut no_lieu = plage(&s, "2026-01-12", "09:00", "10:00", &["monday"]);
    no_lieu["lieu_id"] = Value::Null;
    assert_eq!(app.post(&plages, &s.token, no_lieu).await.fields(), ["lieu_id"]);
    let r = app
        .post(&plages, &s.token, json!({"organisation_id": s.organisation}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .get(
            &format!(
                "/v1/organisations/{}/slots?motif_id={}&from=2026-01-01&to=2026-12-31",
                s.organisation, s.motif
            ),
            &s.token,
        )
        .await;
    assert_eq!(r.fields(), ["to"], "a range over six months");
    let r = app
        .get(
            &format!(
                "/v1/organisations/{}/slots?motif_id={}&from=2026-02-01&to=2026-01-01",
                s.organisation, s.motif
            ),
            &s.token,
        )
        .await;
    assert_eq!(r.fields(), ["to"]);
    assert_eq!(app.head_position().await, head, "nothing written");

    // Another agent may not touch this agent's plages.
    let (_, other) = app.active_agent(&s.organisation, "other@cms.fr", "basic").await;
    let r = app
        .post(&plages, &other, plage(&s, "2026-01-12", "14:00", "15:00", &["monday"]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn plages_and_absences_are_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let created = app
        .post(
            &format!("/v1/agents/{}/plages", s.agent),
            &s.token,
            plage(&s, "2026-01-12", "09:00", "11:00", &["monday"]),
        )
        .await;
    let plage_id = created.body["plage_id"].as_str().unwrap().to_string();
    let updated = app
        .request(
            Method::PATCH,
            &format!("/v1/plages/{plage_id}"),
            Some(&s.token),
            Some(plage(&s, "2026-01-12", "14:00", "15:00", &["monday"])),
            &[],
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    let url = format!(
        "/v1/organisations/{}/slots?motif_id={}&from=2026-01-12&to=2026-01-12",
        s.organisation, s.motif
    );
    assert_eq!(
        starts(
            &app.get(&format!("{url}&min_position={}", updated.position()), &s.token)
                .await
        ),
        ["2026-01-12T14:00:00+01:00"]
    );
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/v1/plages/{plage_id}"),
            Some(&s.token),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(
        starts(
            &app.get(&format!("{url}&min_position={}", deleted.position()), &s.token)
                .await
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        app.request(
            Method::DELETE,
            &format!("/v1/plages/{plage_id}"),
            Some(&s.token),
            None,
            &[]
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

/// Plages and absences that ended over a year ago leave the agenda's state
/// (so commands load it in the same time whatever its history) and can no
/// longer be edited, but the agenda still shows them.
#[tokio::test]
async fn an_agenda_keeps_showing_what_aged_out_of_its_state() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let absences = format!("/v1/agents/{}/absences", s.agent);
    let old = app
        .post(
            &absences,
            &s.token,
            json!({"title": "Formation", "first_day": "2026-01-19", "start_time": "09:30", "end_time": "12:00"}),
        )
        .await;
    assert_eq!(old.status, StatusCode::CREATED, "{}", old.body);
    let old_id = old.body["absence_id"].as_str().unwrap().to_string();

    app.clock.set("2027-03-01T09:00:00Z".parse().unwrap());
    let later = app
        .post(
            &absences,
            &s.token,
            json!({"title": "Congés", "first_day": "2027-03-08", "start_time": "09:00", "end_time": "18:00"}),
        )
        .await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.body);
    let history = app
        .get(&format!("/v1/audit/AgentAgenda/{}/events", s.agent), &app.admin_token)
        .await;
    assert!(history.body.to_string().contains("HistoryArchived"), "{}", history.body);

    let gone = app
        .request(
            Method::DELETE,
            &format!("/v1/absences/{old_id}"),
            Some(&s.token),
            None,
            &[],
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.body);
    let agenda = app
        .get(
            &format!(
                "/v1/agents/{}/agenda?from=2026-01-19&to=2026-01-19&min_position={}",
                s.agent,
                later.position()
            ),
            &s.token,
        )
        .await;
    assert_eq!(agenda.status, StatusCode::OK, "{}", agenda.body);
    let ids: Vec<&str> = agenda
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, [old_id.as_str()], "{}", agenda.body);
}
