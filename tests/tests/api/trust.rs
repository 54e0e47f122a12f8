//! Trust boundaries, tried as an agent of another territory would, on both
//! stores: a territory right grants only its row of the rights matrix, a
//! known agent joins another territory's organisation only once it accepts,
//! ids inside bodies must be the caller's, and hostile strings are refused
//! at the door instead of reaching PostgreSQL.

use crate::{
    helpers::*,
    slots::{Setup, plage, setup},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) const USAGER_NAME: &str = "Philomène";

/// A's public slots on Monday 12 January, once the index has `position`.
async fn public_slots(app: &TestApp, a: &Setup, position: i64) -> Reply {
    let path = format!(
        "/v1/public/slots?organisation_id={}&motif_id={}&from=2026-01-12&to=2026-01-12&min_position={position}",
        a.organisation, a.motif
    );
    app.request(Method::GET, &path, None, None, &[]).await
}

/// A second territory (Ardèche) with an organisation and its admin agent.
pub(crate) async fn other_territory(app: &TestApp) -> (String, String, String, String) {
    let admin = &app.admin_token;
    let territory = app
        .post(
            "/v1/territories",
            admin,
            json!({"name": "Ardèche", "departement_number": "07"}),
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
            json!({"name": "CMS Privas"}),
        )
        .await
        .id();
    let (agent, token) = app.active_agent(&organisation, "chef@privas.fr", "admin").await;
    (territory, organisation, agent, token)
}

/// The types of the events written after `position`.
async fn written_since(app: &TestApp, position: i64) -> Vec<String> {
    let feed = app
        .get(&format!("/v1/events?after={position}&limit=100"), &app.admin_token)
        .await;
    let events = feed.body.as_array().cloned().unwrap_or_default();
    events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub(crate) async fn territory_of(app: &TestApp, organisation: &str) -> String {
    let read = app
        .get(&format!("/v1/organisations/{organisation}"), &app.admin_token)
        .await;
    read.body["territory_id"].as_str().unwrap().to_string()
}

/// A's usager with an RDV, and A's plage for the next weeks.
pub(crate) async fn usager_with_rdv(app: &TestApp, a: &Setup) -> (String, String) {
    let plage = app
        .post(
            &format!("/v1/agents/{}/plages", a.agent),
            &a.token,
            plage(a, "2026-01-05", "09:00", "12:00", &["monday", "tuesday"]),
        )
        .await;
    assert_eq!(plage.status, StatusCode::CREATED, "{}", plage.body);
    let usager = app
        .post(
            "/v1/usagers",
            &a.token,
            json!({"organisation_ids": [a.organisation], "first_name": USAGER_NAME, "last_name": "Durand",
                   "phone": "06 11 22 33 44"}),
        )
        .await;
    assert_eq!(usager.status, StatusCode::CREATED, "{}", usager.body);
    let rdv = app
        .post(
            "/v1/rdvs",
            &a.token,
            json!({"organisation_id": a.organisation, "motif_id": a.motif, "lieu_id": a.lieu, "agent_ids": [a.agent],
                   "usager_ids": [usager.id()], "starts_at": "2026-01-12T10:00:00+01:00"}),
        )
        .await;
    assert_eq!(rdv.status, StatusCode::CREATED, "{}", rdv.body);
    (usager.id(), rdv.id())
}

async fn an_audit_right_is_no_membership(app: TestApp) {
    let a = setup(&app, "26", "Europe/Paris").await;
    let a_territory = territory_of(&app, &a.organisation).await;
    let (_, _, b_agent, b_token) = other_territory(&app).await;
    let (usager, rdv) = usager_with_rdv(&app, &a).await;
    let granted = app
        .request(
            Method::PUT,
            &format!("/v1/territories/{a_territory}/agents/{b_agent}/rights"),
            Some(&app.admin_token),
            Some(json!({"audit": true})),
            &[],
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    // The last write's own position: the feed's head may not show it yet
    // on PostgreSQL while other transactions are open.
    let head = granted.position();

    let audit = app.get(&format!("/v1/audit/Usager/{usager}/events"), &b_token).await;
    assert_eq!(audit.status, StatusCode::OK, "the audit right audits: {}", audit.body);

    let o = &a.organisation;
    let reads = [
        format!("/v1/usagers/{usager}"),
        format!("/v1/rdvs/{rdv}"),
        format!("/v1/organisations/{o}/usagers?search=Durand"),
        format!("/v1/organisations/{o}/rdvs"),
        format!("/v1/organisations/{o}/follow-ups?motif_category=rsa_orientation"),
        format!("/v1/organisations/{o}/agents"),
        format!("/v1/agents/{}/agenda?from=2026-01-12&to=2026-01-12", a.agent),
    ];
    for path in reads {
        let refused = app.get(&path, &b_token).await;
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&refused.status),
            "{path}: {} {}",
            refused.status,
            refused.body
        );
        assert!(
            !refused.body.to_string().contains(USAGER_NAME),
            "{path}: {}",
            refused.body
        );
    }
    let writes = [
        (
            Method::POST,
            "/v1/usagers".to_string(),
            json!({"organisation_ids": [o], "first_name": "Intrus", "last_name": "B"}),
        ),
        (
            Method::PATCH,
            format!("/v1/usagers/{usager}"),
            json!({"first_name": "Changé"}),
        ),
        (
            Method::POST,
            "/v1/rdvs".to_string(),
            json!({"organisation_id": o, "motif_id": a.motif, "lieu_id": a.lieu, "agent_ids": [a.agent],
                   "usager_ids": [usager], "starts_at": "2026-01-13T10:00:00+01:00"}),
        ),
        (
            Method::POST,
            format!("/v1/rdvs/{rdv}/cancel"),
            json!({"status": "excused"}),
        ),
        (
            Method::POST,
            format!("/v1/agents/{}/absences", a.agent),
            json!({"title": "Off", "first_day": "2026-01-13", "start_time": "08:00", "end_time": "18:00"}),
        ),
    ];
    for (method, path, body) in writes {
        let refused = app.request(method, &path, Some(&b_token), Some(body), &[]).await;
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&refused.status),
            "{path}: {} {}",
            refused.status,
            refused.body
        );
        assert!(
            !refused.body.to_string().contains(USAGER_NAME),
            "{path}: {}",
            refused.body
        );
    }
    assert_eq!(written_since(&app, head).await, Vec::<String>::new(), "nothing written");
}

#[tokio::test]
async fn an_audit_right_is_no_membership_on_sqlite() {
    an_audit_right_is_no_membership(TestApp::spawn().await).await;
}

#[tokio::test]
async fn an_audit_right_is_no_membership_on_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    an_audit_right_is_no_membership(app).await;
}

async fn another_territory_cannot_annex_an_agent(app: TestApp) {
    let a = setup(&app, "26", "Europe/Paris").await;
    let (_, b_organisation, _, b_token) = other_territory(&app).await;
    usager_with_rdv(&app, &a).await;
    let before = app.eml_files().len();
    let proposed = app
        .post(
            &format!("/v1/organisations/{b_organisation}/agents"),
            &b_token,
            json!({"email": "agent@cms.fr", "first_name": "Typed", "last_name": "ByB", "services": ["service_social"],
                   "role": "basic"}),
        )
        .await;
    assert_eq!(proposed.status, StatusCode::CREATED, "{}", proposed.body);
    assert_eq!(proposed.body["agent_id"], a.agent.as_str());
    assert_eq!(proposed.body["status"], "invited", "{}", proposed.body);

    // Until the agent accepts, B sees what it typed and nothing of A's.
    let listed = app
        .get(
            &format!(
                "/v1/organisations/{b_organisation}/agents?min_position={}",
                proposed.position()
            ),
            &b_token,
        )
        .await;
    let listed = listed.body.as_array().unwrap().clone();
    let entry = listed.iter().find(|e| e["agent_id"] == a.agent.as_str()).unwrap();
    assert_eq!(entry["first_name"], "Typed");
    assert_eq!(entry["status"], "invited");
    for path in [
        format!("/v1/agents/{}", a.agent),
        format!("/v1/agents/{}/agenda?from=2026-01-12&to=2026-01-12", a.agent),
        format!("/v1/agents/{}/agenda.ics", a.agent),
    ] {
        let refused = app.get(&path, &b_token).await;
        assert!(
            [StatusCode::FORBIDDEN, StatusCode::NOT_FOUND].contains(&refused.status),
            "{path}: {} {}",
            refused.status,
            refused.body
        );
        assert!(!refused.body.to_string().contains(&a.lieu), "{path}");
    }
    let absence = app
        .post(
            &format!("/v1/agents/{}/absences", a.agent),
            &b_token,
            json!({"title": "Off", "first_day": "2026-01-12", "start_time": "08:00", "end_time": "18:00"}),
        )
        .await;
    assert_eq!(absence.status, StatusCode::FORBIDDEN, "{}", absence.body);

    // The agent accepts through the e-mailed link: it joins B.
    let eml = app.wait_for_eml(before + 1).await;
    assert!(eml.contains("CMS Privas"), "{eml}");
    let accepted = app.accept(&invitation_token(&eml)).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let read = app
        .get(
            &format!("/v1/agents/{}?min_position={}", a.agent, accepted.position()),
            &b_token,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let again = app.accept(&invitation_token(&eml)).await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.body);

    // Shared now, B's absence for the agent blocks B's plages, not A's offer.
    let before = public_slots(&app, &a, accepted.position()).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    let offered = before.body.as_array().unwrap().len();
    assert!(offered > 0, "{}", before.body);
    let absence = app
        .post(
            &format!("/v1/agents/{}/absences", a.agent),
            &b_token,
            json!({"title": "Formation", "first_day": "2026-01-12", "start_time": "08:00", "end_time": "18:00"}),
        )
        .await;
    assert_eq!(absence.status, StatusCode::CREATED, "{}", absence.body);
    let after = public_slots(&app, &a, absence.position()).await;
    assert_eq!(after.body.as_array().unwrap().len(), offered, "{}", after.body);
    // B cannot remove an absence the agent recorded for all organisations.
    let own = app
        .post(
            &format!("/v1/agents/{}/absences", a.agent),
            &a.token,
            json!({"title": "Congé", "first_day": "2026-01-12", "start_time": "08:00", "end_time": "18:00"}),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    let blocked = public_slots(&app, &a, own.position()).await;
    assert_eq!(
        blocked.body.as_array().unwrap().len(),
        0,
        "the agent's own absence blocks A: {}",
        blocked.body
    );
    let own_id = own.body["absence_id"].as_str().unwrap();
    let removed = app
        .request(
            Method::DELETE,
            &format!("/v1/absences/{own_id}"),
            Some(&b_token),
            None,
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::FORBIDDEN, "{}", removed.body);

    // B reads A's plage and RDV as busy times, without ids or places.
    let agenda = app
        .get(
            &format!("/v1/agents/{}/agenda?from=2026-01-12&to=2026-01-12", a.agent),
            &b_token,
        )
        .await;
    assert_eq!(agenda.status, StatusCode::OK, "{}", agenda.body);
    let kinds: Vec<&str> = agenda
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "busy").count(),
        2,
        "A's plage and RDV: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "absence").count(),
        2,
        "B's and the agent's own: {kinds:?}"
    );
    let text = agenda.body.to_string();
    assert!(!text.contains(&a.lieu) && !text.contains(&a.organisation), "{text}");
    let own_view = app
        .get(
            &format!("/v1/agents/{}/agenda?from=2026-01-12&to=2026-01-12", a.agent),
            &a.token,
        )
        .await;
    assert!(own_view.body.to_string().contains(&a.lieu), "the agent sees everything");
}

#[tokio::test]
async fn another_territory_cannot_annex_an_agent_on_sqlite() {
    another_territory_cannot_annex_an_agent(TestApp::spawn().await).await;
}

#[tokio::test]
async fn another_territory_cannot_annex_an_agent_on_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    another_territory_cannot_annex_an_agent(app).await;
}

/// Strings a client may send by mistake or by malice.
const HOSTILE: [&str; 5] = ["Ma\u{0}rie", "Ma\u{1b}[31mrie", "Ma\u{85}rie", "Ma\rrie", "Ma\nrie"];

async fn hostile_input_is_refused_at_the_door(app: TestApp) {
    let a = setup(&app, "26", "Europe/Paris").await;
    let (_, b_organisation, _, b_token) = other_territory(&app).await;
    let plage = app
        .post(
            &format!("/v1/agents/{}/plages", a.agent),
            &a.token,
            plage(&a, "2026-01-05", "09:00", "12:00", &["monday", "tuesday"]),
        )
        .await;
    let head = plage.position();
    let admin = app.admin_token.clone();
    let o = a.organisation.clone();
    for hostile in HOSTILE {
        let cases: Vec<(Method, String, &str, Value, &str)> = vec![
            (
                Method::POST,
                format!("/v1/organisations/{o}/agents"),
                &admin,
                json!({"email": "x@cms.fr", "first_name": hostile, "last_name": "Y", "services": ["service_social"],
                       "role": "basic"}),
                "first_name",
            ),
            (
                Method::PATCH,
                format!("/v1/motifs/{}", a.motif),
                &admin,
                json!({"informations": {"name": hostile}}),
                "informations.name",
            ),
            (
                Method::POST,
                "/v1/usagers".into(),
                &a.token,
                json!({"organisation_ids": [o], "first_name": "A", "last_name": hostile}),
                "last_name",
            ),
            (
                Method::POST,
                "/v1/public/rdvs".into(),
                "",
                json!({"organisation_id": o, "motif_id": a.motif, "starts_at": "2026-01-12T09:00:00+01:00",
                       "usager": {"first_name": hostile, "last_name": "B", "email": "b@example.fr"}}),
                "usager.first_name",
            ),
            (
                Method::POST,
                format!("/v1/organisations/{o}/lieux"),
                &admin,
                json!({"name": "Lieu", "address": hostile}),
                "address",
            ),
            (
                Method::POST,
                format!("/v1/organisations/{o}/webhook-endpoints"),
                &admin,
                json!({"target_url": format!("https://si.example.fr/{hostile}"), "subscriptions": ["rdv"]}),
                "target_url",
            ),
        ];
        for (method, path, token, body, field) in cases {
            let token = (!token.is_empty()).then_some(token);
            let refused = app.request(method, &path, token, Some(body), &[]).await;
            assert_eq!(
                refused.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {hostile:?}: {}",
                refused.body
            );
            assert_eq!(refused.fields(), [field], "{path} {hostile:?}");
        }
    }
    assert_eq!(written_since(&app, head).await, Vec::<String>::new(), "nothing written");
    // A lieu of another territory's organisation is no better than none.
    let foreign_lieu = app
        .post(
            &format!("/v1/organisations/{b_organisation}/lieux"),
            &b_token,
            json!({"name": "Privas", "address": "2 rue B"}),
        )
        .await
        .id();
    let usager = app
        .post(
            "/v1/usagers",
            &a.token,
            json!({"organisation_ids": [o], "first_name": "A", "last_name": "B"}),
        )
        .await;
    let head = usager.position();
    let usager = usager.id();
    let cases: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::PUT,
            format!(
                "/v1/territories/{}/agents/{}/rights",
                territory_of(&app, &o).await,
                a.agent
            ),
            json!([]),
            "body",
        ),
        (
            Method::PATCH,
            format!("/v1/organisations/{o}"),
            json!({"phone": "12"}),
            "phone",
        ),
        (
            Method::POST,
            format!("/v1/organisations/{o}/lieux"),
            json!({"name": "L", "address": "1 rue A", "phone": "12"}),
            "phone",
        ),
        (
            Method::POST,
            "/v1/usagers".into(),
            json!({"organisation_ids": [o], "first_name": "A", "last_name": "B", "birth_date": "0001-01-01"}),
            "birth_date",
        ),
        (
            Method::POST,
            "/v1/usagers".into(),
            json!({"organisation_ids": [o], "first_name": 12, "last_name": "B"}),
            "first_name",
        ),
        (
            Method::PATCH,
            format!("/v1/usagers/{usager}"),
            json!({"phone": ["06"]}),
            "phone",
        ),
        (
            Method::POST,
            "/v1/usagers".into(),
            json!({"organisation_ids": [o], "first_name": "A", "last_name": "B", "birth_date": "9999-01-01"}),
            "birth_date",
        ),
        (
            Method::POST,
            "/v1/rdvs".into(),
            json!({"organisation_id": o, "motif_id": a.motif, "lieu_id": a.lieu, "agent_ids": [a.agent],
                   "usager_ids": [usager], "starts_at": "0000-01-12T10:00:00+01:00"}),
            "starts_at",
        ),
        (
            Method::POST,
            format!("/v1/agents/{}/absences", a.agent),
            json!({"title": "Off", "first_day": "2026-01-13", "end_day": "9999-01-13", "start_time": "08:00",
                   "end_time": "18:00"}),
            "end_day",
        ),
        (
            Method::POST,
            "/v1/rdvs".into(),
            json!({"organisation_id": o, "motif_id": a.motif, "lieu_id": uuid::Uuid::now_v7(), "agent_ids": [a.agent],
                   "usager_ids": [usager], "starts_at": "2026-01-12T10:00:00+01:00"}),
            "lieu_id",
        ),
    ];
    for (method, path, body, field) in cases {
        let refused = app.request(method, &path, Some(&admin), Some(body.clone()), &[]).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {}",
            refused.body
        );
        assert_eq!(refused.fields(), [field], "{path} {body}");
    }
    let foreign = app
        .post(
            "/v1/rdvs",
            &a.token,
            json!({"organisation_id": o, "motif_id": a.motif, "lieu_id": foreign_lieu, "agent_ids": [a.agent],
                   "usager_ids": [usager], "starts_at": "2026-01-12T10:00:00+01:00"}),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", foreign.body);
    assert_eq!(foreign.fields(), ["lieu_id"]);
    let search = app
        .get(&format!("/v1/organisations/{o}/usagers?search=A%00B"), &a.token)
        .await;
    assert_eq!(search.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", search.body);
    assert_eq!(search.fields(), ["search"]);
    assert_eq!(written_since(&app, head).await, Vec::<String>::new(), "nothing written");

    // The motif still books, and a Contexte may hold several lines.
    let booked = app
        .post(
            "/v1/rdvs",
            &a.token,
            json!({"organisation_id": o, "motif_id": a.motif, "lieu_id": a.lieu, "agent_ids": [a.agent],
                   "usager_ids": [usager], "starts_at": "2026-01-12T10:00:00+01:00",
                   "context": "Première ligne\r\nSeconde\tligne"}),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    let public = app
        .request(
            Method::POST,
            "/v1/public/rdvs",
            None,
            Some(
                json!({"organisation_id": o, "motif_id": a.motif, "starts_at": "2026-01-13T09:00:00+01:00",
                        "usager": {"first_name": "Léa", "last_name": "B", "email": "lea@example.fr"}}),
            ),
            &[],
        )
        .await;
    assert_eq!(public.status, StatusCode::CREATED, "{}", public.body);
}

#[tokio::test]
async fn hostile_input_is_refused_at_the_door_on_sqlite() {
    hostile_input_is_refused_at_the_door(TestApp::spawn().await).await;
}

#[tokio::test]
async fn hostile_input_is_refused_at_the_door_on_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    hostile_input_is_refused_at_the_door(app).await;
}

/// Sends a body in chunks, without a length: the limit still answers 413.
#[tokio::test]
async fn an_oversized_body_is_a_413_problem_chunked_or_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let big = json!({"organisation_ids": [], "first_name": "A".repeat(2 * 1024 * 1024)});
    let sized = app
        .request(Method::POST, "/v1/usagers", Some(&app.admin_token), Some(big), &[])
        .await;
    assert_eq!(sized.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(sized.headers["content-type"], "application/problem+json");

    let address = app.address.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/usagers HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
        app.admin_token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..32 {
        let sent = async {
            stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
            stream.write_all(&chunk).await?;
            stream.write_all(b"\r\n").await
        };
        if sent.await.is_err() {
            break; // the server answered and closed
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
}

/// A client that never finishes its headers is cut off (after the server's
/// 10 s header timeout) instead of holding its connection; headers over
/// 64 KB are refused. Both are bounded here so the test stops by itself.
#[tokio::test]
async fn slow_or_huge_headers_do_not_hold_a_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let address = app.address.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n").await.unwrap();
    let mut answer = Vec::new();
    let cut = tokio::time::timeout(std::time::Duration::from_secs(20), slow.read_to_end(&mut answer)).await;
    assert!(cut.is_ok(), "the connection is still open after 20 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("content-type: application/problem+json"), "{answer}");
    let (_, body) = answer.split_once("\r\n\r\n").unwrap();
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["status"], 408, "{problem}");

    let mut huge = tokio::net::TcpStream::connect(&address).await.unwrap();
    let header = format!(
        "GET /health HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let _ = huge.write_all(header.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), huge.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert!(answer.contains("content-type: application/problem+json"), "{answer}");
}
