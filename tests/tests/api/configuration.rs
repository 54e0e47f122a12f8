//! Configuring an espace over HTTP: motifs in three tabs, lieux, settings,
//! history, rights, and projections that survive a rebuild.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn motif(name: &str, organisations: &[&str]) -> Value {
    json!({
        "informations": {
            "name": name, "color": "#1a2b3c", "service": "service_social", "default_duration_in_min": 45,
            "location_type": "public_office", "collective": false, "max_participants": null,
            "visibility": "visible_and_notified", "follow_up": false, "category": "rsa_orientation"
        },
        "booking": {
            "bookable_by": "everyone", "min_booking_delay_in_min": 60, "max_booking_delay_in_min": 43200,
            "usager_can_cancel": true, "usager_can_reschedule": false, "sectorisation_level": "departement"
        },
        "instructions": {
            "before_booking": "Munissez-vous de votre attestation CAF.",
            "after_booking": "Présentez-vous à l'accueil 5 minutes avant.",
            "cancellation_warning": "Annulez au plus tard la veille."
        },
        "organisation_ids": organisations,
    })
}

struct Espace {
    territory: String,
    first: String,
    second: String,
}

async fn espace(app: &TestApp) -> Espace {
    let (territory, first) = app.territory_and_organisation("CMS Valence").await;
    let second = app
        .post(
            &format!("/v1/territories/{territory}/organisations"),
            &app.admin_token,
            json!({"name": "CMS Romans"}),
        )
        .await;
    Espace {
        territory,
        first,
        second: second.id(),
    }
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    app.request(Method::PUT, path, Some(token), Some(body), &[]).await
}

#[tokio::test]
async fn an_espace_configured_end_to_end() {
    let app = TestApp::spawn().await;
    let Espace {
        territory,
        first,
        second,
    } = espace(&app).await;
    // A territorial admin does the configuration.
    let (admin_id, admin) = app.active_agent(&first, "chef@drome.fr", "admin").await;
    let rights = json!({"admin": true, "manage_configuration": true, "manage_webhooks": false});
    let granted = put(
        &app,
        &format!("/v1/territories/{territory}/agents/{admin_id}/rights"),
        &app.admin_token,
        rights,
    )
    .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);

    let created = app
        .post(
            &format!("/v1/territories/{territory}/motifs"),
            &admin,
            motif("Premier accueil", &[&first, &second]),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let motif_id = created.id();
    let lieu = app
        .post(
            &format!("/v1/organisations/{first}/lieux"),
            &admin,
            json!({"name": "CMS Valence", "address": "1 rue de la Paix, 26000 Valence", "phone": "04 75 00 00 00"}),
        )
        .await;
    assert_eq!(lieu.status, StatusCode::CREATED, "{}", lieu.body);
    let fields = json!({
        "shown": ["birth_date", "phone", "email", "address"],
        "custom": [
            {"key": "numero_dossier", "label": "N° de dossier", "kind": {"type": "text"}, "required": true},
            {"key": "situation", "label": "Situation", "kind": {"type": "choice", "options": ["RSA", "ASS"]}, "required": false}
        ]
    });
    let r = put(
        &app,
        &format!("/v1/territories/{territory}/settings/usager-fields"),
        &admin,
        fields.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    put(
        &app,
        &format!("/v1/territories/{territory}/settings/rdv-fields"),
        &admin,
        json!({"context_enabled": true}),
    )
    .await;
    put(
        &app,
        &format!("/v1/territories/{territory}/settings/rdv-fields"),
        &admin,
        json!({"context_enabled": false}),
    )
    .await;
    let r = put(
        &app,
        &format!("/v1/territories/{territory}/settings/waiting-room"),
        &admin,
        json!({"visual": true, "email": false}),
    )
    .await;
    let head = r.position();

    // Both organisations list the motif, with all three tabs.
    for organisation in [&first, &second] {
        let listed = app
            .get(
                &format!("/v1/organisations/{organisation}/motifs?min_position={head}"),
                &admin,
            )
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body.as_array().unwrap().len(), 1);
        let m = &listed.body[0];
        assert_eq!(m["id"], motif_id.as_str());
        assert_eq!(m["informations"]["default_duration_in_min"], 45);
        assert_eq!(m["booking"]["bookable_by"], "everyone");
        assert_eq!(
            m["instructions"]["before_booking"],
            "Munissez-vous de votre attestation CAF."
        );
    }
    let filtered = app
        .get(
            &format!("/v1/organisations/{first}/motifs?bookable_publicly=false"),
            &admin,
        )
        .await;
    assert_eq!(filtered.body, json!([]));
    let filtered = app
        .get(
            &format!(
                "/v1/organisations/{first}/motifs?active=true&location_type=public_office&service_id=service_social"
            ),
            &admin,
        )
        .await;
    assert_eq!(filtered.body.as_array().unwrap().len(), 1);
    let lieux = app.get(&format!("/v1/organisations/{first}/lieux"), &admin).await;
    assert_eq!(lieux.body[0]["name"], "CMS Valence");
    assert_eq!(lieux.body[0]["availability"], "enabled");
    let settings = app.get(&format!("/v1/territories/{territory}/settings"), &admin).await;
    assert_eq!(settings.body["usager_fields"]["custom"][0]["key"], "numero_dossier");
    assert_eq!(
        settings.body["usager_fields"]["custom"][1]["kind"]["options"],
        json!(["RSA", "ASS"])
    );
    assert_eq!(settings.body["rdv_fields"]["context_enabled"], false);
    assert_eq!(settings.body["waiting_room"], json!({"visual": true, "email": false}));

    // A change through a merge patch, then the history with its author.
    let patched = app
        .request(
            Method::PATCH,
            &format!("/v1/motifs/{motif_id}"),
            Some(&admin),
            Some(json!({"informations": {"default_duration_in_min": 30}})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let history = app.get(&format!("/v1/motifs/{motif_id}/history"), &admin).await;
    let entries = history.body.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", history.body);
    assert_eq!(entries[0]["event_type"], "MotifCreated");
    assert_eq!(entries[1]["actor"], format!("agent:{admin_id}"));
    assert_eq!(
        entries[1]["changes"],
        json!([{"field": "config.informations.default_duration_in_min", "before": 45, "after": 30}])
    );
    let history = app
        .get(&format!("/v1/territories/{territory}/settings/history"), &admin)
        .await;
    let changed: Vec<_> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        changed,
        [
            "TerritoryCreated",
            "UsagerFieldsConfigured",
            "RdvFieldsConfigured",
            "RdvFieldsConfigured",
            "WaitingRoomConfigured"
        ]
    );
    let lieu_history = app.get(&format!("/v1/lieux/{}/history", lieu.id()), &admin).await;
    assert_eq!(
        lieu_history.body[0]["changes"].as_array().unwrap().len(),
        4,
        "{}",
        lieu_history.body
    );

    // Rebuilt from position 0, the configuration answers the same.
    let queries = [
        format!("/v1/organisations/{first}/motifs?min_position={}", patched.position()),
        format!("/v1/organisations/{second}/motifs"),
        format!("/v1/motifs/{motif_id}"),
        format!("/v1/organisations/{first}/lieux"),
        format!("/v1/territories/{territory}/settings"),
    ];
    let mut before = Vec::new();
    for q in &queries {
        before.push(app.get(q, &admin).await.body);
    }
    app.rebuild("configuration").await;
    for (q, expected) in queries.iter().zip(before) {
        assert_eq!(app.get(q, &admin).await.body, expected, "{q}");
    }
}

#[tokio::test]
async fn motif_names_are_unique_per_organisation_service_and_location() {
    let app = TestApp::spawn().await;
    let Espace {
        territory,
        first,
        second,
    } = espace(&app).await;
    let admin = &app.admin_token;
    let motifs = format!("/v1/territories/{territory}/motifs");
    let a = app.post(&motifs, admin, motif("Premier accueil", &[&first])).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let head = app.head_position().await;
    let dup = app
        .post(&motifs, admin, motif("PREMIER ACCUEIL", &[&second, &first]))
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", dup.body);
    assert_eq!(dup.fields(), ["informations.name"]);
    assert_eq!(app.head_position().await, head, "nothing written");
    // Another organisation, or another location type, is fine.
    assert_eq!(
        app.post(&motifs, admin, motif("Premier accueil", &[&second]))
            .await
            .status,
        StatusCode::CREATED
    );
    let mut by_phone = motif("Premier accueil", &[&first]);
    by_phone["informations"]["location_type"] = json!("phone");
    let phone = app.post(&motifs, admin, by_phone).await;
    assert_eq!(phone.status, StatusCode::CREATED);
    // Enabling a motif where its name is taken is refused too.
    let enable = app
        .post(
            &format!("/v1/organisations/{second}/motifs/{}/enable", a.id()),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(enable.fields(), ["informations.name"]);
    // Archiving frees the name; restoring fails while it is taken.
    let archived = app
        .post(&format!("/v1/motifs/{}/archive", a.id()), admin, json!({}))
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    let again = app.post(&motifs, admin, motif("Premier accueil", &[&first])).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    let restored = app
        .post(&format!("/v1/motifs/{}/restore", a.id()), admin, json!({}))
        .await;
    assert_eq!(restored.status, StatusCode::UNPROCESSABLE_ENTITY);
    let archived_list = app
        .get(
            &format!(
                "/v1/organisations/{first}/motifs?active=false&min_position={}",
                again.position()
            ),
            admin,
        )
        .await;
    assert_eq!(archived_list.body.as_array().unwrap().len(), 1);
    assert_eq!(archived_list.body[0]["id"], a.id().as_str());
}

#[tokio::test]
async fn bad_motifs_name_each_field() {
    let app = TestApp::spawn().await;
    let Espace { territory, first, .. } = espace(&app).await;
    let motifs = format!("/v1/territories/{territory}/motifs");
    let mut bad = motif("", &[&first]);
    let r = app.post(&motifs, &app.admin_token, bad.clone()).await;
    assert_eq!(r.fields(), ["informations.name"]);
    bad["informations"]["name"] = json!("Atelier");
    bad["informations"]["default_duration_in_min"] = json!(0);
    bad["informations"]["service"] = json!("rsa");
    bad["booking"]["min_booking_delay_in_min"] = json!(50000);
    bad["informations"]["collective"] = json!(true);
    bad["informations"]["location_type"] = json!("home");
    let r = app.post(&motifs, &app.admin_token, bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.fields(),
        [
            "informations.default_duration_in_min",
            "informations.service",
            "informations.location_type",
            "booking.min_booking_delay_in_min"
        ]
    );
    let r = app
        .post(
            &motifs,
            &app.admin_token,
            motif("Atelier", &["01a20838-240c-7182-985a-bdd6106171b2"]),
        )
        .await;
    assert_eq!(r.fields(), ["organisation_ids[0]"]);
    let mut missing = motif("Atelier", &[&first]);
    missing["informations"].as_object_mut().unwrap().remove("color");
    assert_eq!(
        app.post(&motifs, &app.admin_token, missing).await.fields(),
        ["informations.color"]
    );
}

#[tokio::test]
async fn basic_agents_and_outsiders_cannot_configure() {
    let app = TestApp::spawn().await;
    let Espace { territory, first, .. } = espace(&app).await;
    let created = app
        .post(
            &format!("/v1/territories/{territory}/motifs"),
            &app.admin_token,
            motif("Premier accueil", &[&first]),
        )
        .await;
    let motif_id = created.id();
    let lieu = app
        .post(
            &format!("/v1/organisations/{first}/lieux"),
            &app.admin_token,
            json!({"name": "L", "address": "A"}),
        )
        .await
        .id();
    let (_, basic) = app.active_agent(&first, "basic@cms.fr", "basic").await;
    // An admin of an organisation in another territory.
    let (_, elsewhere) = app.territory_and_organisation("CMS Ailleurs").await;
    let (_, outsider) = app.active_agent(&elsewhere, "admin@ailleurs.fr", "admin").await;
    let head = app.head_position().await;

    let commands: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            format!("/v1/territories/{territory}/motifs"),
            motif("Autre", &[&first]),
        ),
        (
            Method::PATCH,
            format!("/v1/motifs/{motif_id}"),
            json!({"informations": {"color": "#000000"}}),
        ),
        (Method::POST, format!("/v1/motifs/{motif_id}/archive"), json!({})),
        (
            Method::POST,
            format!("/v1/organisations/{first}/motifs/{motif_id}/disable"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v1/organisations/{first}/lieux"),
            json!({"name": "X", "address": "Y"}),
        ),
        (Method::PATCH, format!("/v1/lieux/{lieu}"), json!({"name": "Z"})),
        (Method::POST, format!("/v1/lieux/{lieu}/disable"), json!({})),
        (
            Method::PUT,
            format!("/v1/territories/{territory}/settings/usager-fields"),
            json!({"shown": [], "custom": []}),
        ),
        (
            Method::PUT,
            format!("/v1/territories/{territory}/settings/rdv-fields"),
            json!({"context_enabled": true}),
        ),
        (
            Method::PUT,
            format!("/v1/territories/{territory}/settings/waiting-room"),
            json!({"visual": true, "email": true}),
        ),
        (
            Method::POST,
            format!("/v1/territories/{territory}/services/rsa/activate"),
            json!({}),
        ),
    ];
    for (method, path, body) in &commands {
        let r = app
            .request(method.clone(), path, Some(&basic), Some(body.clone()), &[])
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "basic agent: {method} {path}: {}",
            r.body
        );
        let r = app
            .request(method.clone(), path, Some(&outsider), Some(body.clone()), &[])
            .await;
        assert!(
            matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "outsider: {method} {path}: {}",
            r.status
        );
        assert!(
            !r.body.to_string().contains("Premier accueil"),
            "the outsider learns nothing"
        );
    }
    assert_eq!(app.head_position().await, head, "nothing was written");
    for path in [
        format!("/v1/motifs/{motif_id}"),
        format!("/v1/motifs/{motif_id}/history"),
    ] {
        let r = app.get(&path, &outsider).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!r.body.to_string().contains("Premier accueil"));
    }
    // The basic agent may read its organisation's motifs.
    assert_eq!(
        app.get(&format!("/v1/organisations/{first}/motifs"), &basic)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn usager_data_survives_hidden_and_removed_fields() {
    let app = TestApp::spawn().await;
    let Espace { territory, first, .. } = espace(&app).await;
    let admin = &app.admin_token;
    let fields_url = format!("/v1/territories/{territory}/settings/usager-fields");
    let dossier =
        json!({"key": "numero_dossier", "label": "N° de dossier", "kind": {"type": "text"}, "required": true});
    let situation = json!({"key": "situation", "label": "Situation", "kind": {"type": "choice", "options": ["RSA", "ASS"]}, "required": false});
    let all_shown = json!(["birth_date", "phone", "email", "address"]);
    put(
        &app,
        &fields_url,
        admin,
        json!({"shown": all_shown, "custom": [dossier, situation]}),
    )
    .await;

    let create = |custom: Value| {
        let body = json!({"organisation_ids": [first], "first_name": "Camille", "last_name": "Dupont", "phone": "06 12 34 56 78", "custom_fields": custom});
        let app = &app;
        async move { app.post("/v1/usagers", &app.admin_token, body).await }
    };
    assert_eq!(
        create(json!({"situation": "RSA"})).await.fields(),
        ["custom_fields.numero_dossier"]
    );
    assert_eq!(
        create(json!({"numero_dossier": "D-1", "situation": "Autre"}))
            .await
            .fields(),
        ["custom_fields.situation"]
    );
    assert_eq!(
        create(json!({"numero_dossier": "D-1", "pointure": 42})).await.fields(),
        ["custom_fields.pointure"]
    );
    let created = create(json!({"numero_dossier": "D-1", "situation": "RSA"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let usager = format!("/v1/usagers/{}", created.id());
    let shown = app.get(&usager, admin).await;
    assert_eq!(
        shown.body["custom"],
        json!({"numero_dossier": "D-1", "situation": "RSA"})
    );
    assert_eq!(shown.body["phone"], "+33612345678", "normalised to E.164");

    // The field is removed and the phone hidden: neither shows, nothing is lost.
    put(
        &app,
        &fields_url,
        admin,
        json!({"shown": ["email"], "custom": [dossier]}),
    )
    .await;
    let hidden = app.get(&usager, admin).await;
    assert_eq!(hidden.body["custom"], json!({"numero_dossier": "D-1"}));
    assert!(hidden.body["phone"].is_null());
    // Back again: the stored values show again.
    put(
        &app,
        &fields_url,
        admin,
        json!({"shown": all_shown, "custom": [dossier, situation]}),
    )
    .await;
    let back = app.get(&usager, admin).await;
    assert_eq!(
        back.body["custom"],
        json!({"numero_dossier": "D-1", "situation": "RSA"})
    );
    assert_eq!(back.body["phone"], "+33612345678");
}
