//! Prescripteurs: professionals booking for an usager through the public
//! pages, for motifs bookable by prescripteurs (RDV Service Public's
//! `agents_and_prescripteurs`), which usagers alone cannot book.

use crate::{
    helpers::*,
    slots::{plage, setup, starts},
};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn prescripteurs_book_motifs_reserved_to_them_and_name_themselves() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let patched = app
        .patch(
            &format!("/v1/motifs/{}", s.motif),
            &app.admin_token,
            json!({"booking": {"bookable_by": "agents_and_prescripteurs"}}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let created = app
        .post(
            &format!("/v1/agents/{}/plages", s.agent),
            &s.token,
            plage(&s, "2026-01-12", "09:00", "11:00", &["monday"]),
        )
        .await;
    let slots = |prescripteur: bool| {
        format!(
            "/v1/public/slots?organisation_id={}&motif_id={}&from=2026-01-12&to=2026-01-12&min_position={}&prescripteur={prescripteur}",
            s.organisation,
            s.motif,
            created.position()
        )
    };
    let as_usager = app.request(Method::GET, &slots(false), None, None, &[]).await;
    assert_eq!(as_usager.fields(), ["motif_id"], "{}", as_usager.body);
    let as_prescripteur = app.request(Method::GET, &slots(true), None, None, &[]).await;
    assert_eq!(
        starts(&as_prescripteur),
        ["2026-01-12T09:00:00+01:00", "2026-01-12T10:00:00+01:00"]
    );

    let book = |prescripteur: serde_json::Value| {
        let body = json!({"organisation_id": s.organisation, "motif_id": s.motif, "starts_at": "2026-01-12T09:00:00+01:00",
                          "usager": {"first_name": "Noé", "last_name": "Garnier"}, "prescripteur": prescripteur});
        app.request(Method::POST, "/v1/public/rdvs", None, Some(body), &[])
    };
    let alone = book(serde_json::Value::Null).await;
    assert_eq!(alone.fields(), ["motif_id"], "an usager alone cannot book it");
    let unnamed = book(json!({"first_name": "Aline", "last_name": "Caron"})).await;
    assert_eq!(unnamed.fields(), ["prescripteur.email"]);
    let booked =
        book(json!({"first_name": "Aline", "last_name": "Caron", "email": "aline.caron@mission-locale.fr"})).await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let events = app.get("/v1/events?after=0&limit=1000", &app.admin_token).await.body;
    let rdv_booked = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "RdvBooked")
        .unwrap();
    let prescripteur = &rdv_booked["payload"]["RdvBooked"]["booking"]["prescripteur"];
    assert_eq!(prescripteur["email"], "aline.caron@mission-locale.fr", "{rdv_booked}");
}
