//! The 48 h reminder: sent once when due, never twice (not after a retry,
//! a restart, nor by a second worker), none for an RDV booked less than 48 h
//! ahead, a cancelled one, or an usager who turned e-mails off; a moved RDV
//! is reminded again for its new time.

use crate::{
    helpers::*,
    slots::{plage, setup},
};
use chrono::{DateTime, Utc};
use rdv_app::reminders::send_due;
use reqwest::{Method, StatusCode};
use serde_json::json;

fn reminders(app: &TestApp) -> Vec<String> {
    app.eml_files().into_iter().filter(|e| e.contains("Rappel")).collect()
}

fn at(instant: &str) -> DateTime<Utc> {
    instant.parse().unwrap()
}

#[tokio::test]
async fn reminders_go_once_48_hours_ahead_and_survive_a_restart() {
    let mut app = TestApp::spawn().await;
    app.config.scheduler = false;
    let app = app.restart().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let plage = app
        .post(
            &format!("/v1/agents/{}/plages", s.agent),
            &s.token,
            plage(
                &s,
                "2026-01-05",
                "09:00",
                "17:00",
                &["monday", "tuesday", "wednesday", "thursday", "friday"],
            ),
        )
        .await;
    assert_eq!(plage.status, StatusCode::CREATED, "{}", plage.body);
    let seen = format!(
        "/v1/public/slots?organisation_id={}&motif_id={}&min_position={}",
        s.organisation,
        s.motif,
        plage.position()
    );
    assert_eq!(
        app.request(Method::GET, &seen, None, None, &[]).await.status,
        StatusCode::OK
    );
    let book = |starts_at: &'static str, name: &'static str, email: bool| {
        let (app, s) = (&app, &s);
        async move {
            let reply = app
                .request(
                    Method::POST,
                    "/v1/public/rdvs",
                    None,
                    Some(json!({"organisation_id": s.organisation, "motif_id": s.motif, "starts_at": starts_at,
                                "usager": {"first_name": name, "last_name": "Petit", "email": format!("{name}@example.fr"),
                                           "notifications": {"email": email, "sms": true}}})),
                    &[],
                )
                .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            reply
        }
    };
    // Booked at Monday 10:00 (Paris): Wednesday 14:00 is 52 h ahead, Tuesday 15:00 only 29 h.
    let wednesday = book("2026-01-07T14:00:00+01:00", "Wanda", true).await;
    book("2026-01-06T15:00:00+01:00", "Tom", true).await;
    book("2026-01-07T15:00:00+01:00", "Quiet", false).await;
    let cancelled = book("2026-01-07T16:00:00+01:00", "Carl", true).await;
    let cancel = app
        .post(
            &format!("/v1/rdvs/{}/cancel", cancelled.id()),
            &s.token,
            json!({"status": "revoked"}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    let position = cancel.position();
    app.get(
        &format!("/v1/organisations/{}/rdvs?min_position={position}", s.organisation),
        &s.token,
    )
    .await;

    // Not yet due (Monday 12:59 UTC is 49 h before Wanda's RDV).
    app.clock.set(at("2026-01-05T12:59:00Z"));
    assert_eq!(send_due(&app.state).await.unwrap(), 0);
    // Due: Wanda's and Quiet's (Quiet gets no e-mail: turned off); Tom
    // booked too late for one, Carl's RDV is cancelled.
    app.clock.set(at("2026-01-05T14:30:00Z"));
    assert_eq!(
        send_due(&app.state).await.unwrap(),
        2,
        "Wanda's and Quiet's RDVs are reminded"
    );
    let email = app.wait_for_eml_containing("Rappel").await;
    assert!(
        email.contains("Bonjour Wanda") && email.contains("07/01/2026 à 14:00"),
        "{email}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(reminders(&app).len(), 1, "Quiet turned e-mails off");
    assert_eq!(send_due(&app.state).await.unwrap(), 0, "a reminder goes once");

    // After a restart, still once.
    let app = app.restart().await;
    assert_eq!(send_due(&app.state).await.unwrap(), 0);

    // Moved to Friday: reminded again for the new time, when that one is due.
    let moved = app
        .post(
            &format!("/v1/rdvs/{}/reschedule", wednesday.id()),
            &s.token,
            json!({"starts_at": "2026-01-09T10:00:00+01:00"}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    app.get(
        &format!(
            "/v1/organisations/{}/rdvs?min_position={}",
            s.organisation,
            moved.position()
        ),
        &s.token,
    )
    .await;
    assert_eq!(send_due(&app.state).await.unwrap(), 0);
    app.clock.set(at("2026-01-07T09:00:00Z"));
    assert_eq!(send_due(&app.state).await.unwrap(), 1);
    for _ in 0..200 {
        if reminders(&app).len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let last = reminders(&app).pop().unwrap();
    assert!(last.contains("09/01/2026 à 10:00"), "{last}");
}
