//! RGPD erasure by crypto-shredding, end to end on SQLite and PostgreSQL:
//! an usager with an RDV, notices and webhooks is forgotten; afterwards no
//! table holds their name, e-mail or phone, the history still replays and
//! its chain verifies, and SIs got a `destroyed` webhook for reason `rgpd`.

use crate::{
    helpers::*,
    slots::setup,
    webhook_delivery::{requests, start_receiver},
};
use rdv_domain::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const FIRST_NAME: &str = "Zéphyrine";
const LAST_NAME: &str = "Quasimodo-Xylander";
const EMAIL: &str = "zephyrine.xylander@example.fr";
const PHONE: &str = "+33698765432";

/// Every table of the app's database, each row as one text.
async fn table_rows(app: &TestApp) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    match &app.config.database_url {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            for table in tables {
                let texts: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                rows.extend(texts.into_iter().map(|t| (table.clone(), t)));
            }
            pool.close().await;
        }
        None => {
            let path = app.data_dir().join("rdv.sqlite3");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&pool)
                .await
                .unwrap();
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                let row = columns
                    .iter()
                    .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
                    .collect::<Vec<_>>()
                    .join(" || '|' || ");
                let texts: Vec<Vec<u8>> = sqlx::query_scalar(&format!("SELECT CAST({row} AS BLOB) FROM \"{table}\""))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                rows.extend(
                    texts
                        .into_iter()
                        .map(|t| (table.clone(), String::from_utf8_lossy(&t).into_owned())),
                );
            }
            pool.close().await;
        }
    }
    rows
}

/// The tables whose rows hold any of the usager's personal data.
async fn tables_holding_personal_data(app: &TestApp) -> Vec<String> {
    let mut found: Vec<String> = table_rows(app)
        .await
        .into_iter()
        .filter(|(_, row)| [FIRST_NAME, LAST_NAME, EMAIL, PHONE].iter().any(|n| row.contains(n)))
        .map(|(table, _)| table)
        .collect();
    found.dedup();
    found
}

async fn forget_scenario(mut app: TestApp) {
    app.config.webhook_allow_hosts = "127.0.0.1".into();
    let app = app.restart().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let (receiver, hook_url) = start_receiver(Vec::new()).await;
    let endpoint = app
        .post(
            &format!("/v1/organisations/{}/webhook-endpoints", s.organisation),
            &app.admin_token,
            json!({"target_url": hook_url, "subscriptions": ["rdv", "user"]}),
        )
        .await;
    assert_eq!(endpoint.status, StatusCode::CREATED, "{}", endpoint.body);

    let created = app
        .request(
            Method::POST,
            "/v1/usagers",
            Some(&s.token),
            Some(
                json!({"organisation_ids": [s.organisation], "first_name": FIRST_NAME, "last_name": LAST_NAME,
                        "email": EMAIL, "phone": "06 98 76 54 32", "birth_date": "1990-04-02"}),
            ),
            &[("Idempotency-Key", "create-zephyrine")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let usager = created.id();
    let booked = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu, "agent_ids": [s.agent],
                   "usager_ids": [usager], "starts_at": "2026-01-12T10:00:00+01:00"}),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    // The user webhook and the RDV webhook, both naming her.
    let seen = requests(&receiver, 2).await;
    assert!(seen.iter().all(|(_, body)| body.contains(LAST_NAME)), "{seen:?}");
    let before = tables_holding_personal_data(&app).await;
    assert!(
        !before.contains(&"events".to_string()),
        "events hold personal data only sealed: {before:?}"
    );
    assert!(before.contains(&"read_models".to_string()), "{before:?}");
    assert!(before.contains(&"webhook_deliveries".to_string()), "{before:?}");
    assert!(before.contains(&"outbox".to_string()), "{before:?}");

    let by_a_basic_agent = app
        .post(&format!("/v1/usagers/{usager}/forget"), &s.token, json!({}))
        .await;
    assert_eq!(
        by_a_basic_agent.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_a_basic_agent.body
    );
    let forgotten = app
        .post(&format!("/v1/usagers/{usager}/forget"), &app.admin_token, json!({}))
        .await;
    assert_eq!(forgotten.status, StatusCode::OK, "{}", forgotten.body);

    // SIs hear of it.
    let seen = requests(&receiver, 3).await;
    let destroyed: Value = serde_json::from_str(&seen[2].1).unwrap();
    assert_eq!(destroyed["meta"]["event"], "destroyed");
    assert_eq!(destroyed["meta"]["model"], "User");
    assert_eq!(destroyed["meta"]["webhook_reason"], "rgpd");
    assert_eq!(destroyed["data"], json!({"id": usager}));

    let head = app.head_position().await;
    for projection in rdv_projections::all() {
        app.state.wait_for(projection.name(), Some(head)).await.unwrap();
    }
    let deliveries = format!("/v1/webhook-endpoints/{}/deliveries?status=delivered", endpoint.id());
    for _ in 0..100 {
        let listed = app.get(&deliveries, &app.admin_token).await;
        if listed.body.as_array().is_some_and(|d| d.len() == 3) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        tables_holding_personal_data(&app).await,
        Vec::<String>::new(),
        "no table keeps the forgotten usager's name, e-mail or phone"
    );

    // What is left: the history, with the fields erased.
    let history = app
        .get(&format!("/v1/audit/Usager/{usager}/events"), &app.admin_token)
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let profile = &history.body[0]["payload"]["UsagerCreated"]["profile"];
    assert_eq!(profile["first_name"], "[effacé]", "{profile}");
    assert_eq!(profile["email"], Value::Null);
    assert_eq!(profile["erased"], true);
    assert_eq!(
        app.get(&format!("/v1/usagers/{usager}"), &s.token).await.status,
        StatusCode::GONE
    );
    let rdv = app.get(&format!("/v1/rdvs/{}", booked.id()), &s.token).await;
    assert_eq!(rdv.status, StatusCode::OK, "the RDV stays: {}", rdv.body);

    // The chain still verifies and every read model equals a replay.
    let store = &app.state.store;
    let report = rdv_projections::chain::verify(store).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    let scratch_dir = tempfile::TempDir::new().unwrap();
    let scratch = rdv_eventstore::EventStore::open_sqlite(scratch_dir.path())
        .await
        .unwrap();
    let differences = rdv_projections::replay::verify(store, &scratch).await.unwrap();
    assert!(differences.is_empty(), "{differences:#?}");

    // Nothing more can be written about her.
    let again = app
        .patch(
            &format!("/v1/usagers/{usager}"),
            &s.token,
            json!({"first_name": FIRST_NAME}),
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE, "{}", again.body);
    assert_eq!(tables_holding_personal_data(&app).await, Vec::<String>::new());
    assert_eq!(raw_files_holding_personal_data(&app), Vec::<String>::new());
}

/// The raw files that still hold the usager's last name or e-mail: the
/// SQLite database and its write-ahead log byte for byte (freed pages
/// included), or a `pg_dump` of the PostgreSQL database, and the
/// development outbox's `.eml` and `.sms` files.
fn raw_files_holding_personal_data(app: &TestApp) -> Vec<String> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    match &app.config.database_url {
        Some(url) => {
            let dump = std::process::Command::new("pg_dump")
                .arg(url)
                .output()
                .expect("pg_dump runs (PostgreSQL's client tools)");
            assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
            files.push(("pg_dump".into(), dump.stdout));
        }
        None => {
            for name in ["rdv.sqlite3", "rdv.sqlite3-wal"] {
                let path = app.data_dir().join(name);
                files.push((name.into(), std::fs::read(path).unwrap_or_default()));
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(app.data_dir().join("outbox")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.push((name, std::fs::read(entry.path()).unwrap_or_default()));
        }
    }
    let found = |bytes: &[u8], needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    files
        .into_iter()
        .filter(|(_, bytes)| [LAST_NAME, EMAIL].iter().any(|n| found(bytes, n)))
        .map(|(name, _)| name)
        .collect()
}

#[tokio::test]
async fn a_forgotten_usager_leaves_no_personal_data_on_sqlite() {
    forget_scenario(TestApp::spawn().await).await;
}

#[tokio::test]
async fn a_forgotten_usager_leaves_no_personal_data_on_postgres() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    forget_scenario(app).await;
}

/// Waits until the rgpd projection has seen everything written so far.
async fn rgpd_caught_up(app: &TestApp) {
    let head = app.head_position().await;
    app.state
        .wait_for(rdv_projections::rgpd::NAME, Some(head))
        .await
        .unwrap();
}

#[tokio::test]
async fn usagers_inactive_for_the_retention_period_are_forgotten_once() {
    let app = TestApp::spawn().await;
    let s = setup(&app, "26", "Europe/Paris").await;
    let create = |first_name: &'static str| {
        app.post(
            "/v1/usagers",
            &s.token,
            json!({"organisation_ids": [s.organisation], "first_name": first_name, "last_name": "Martin"}),
        )
    };
    let idle = create("Idle").await.id();
    let waiting = create("Waiting").await.id();
    // An RDV booked a year ahead keeps its usager until two years after it.
    let booked = app
        .post(
            "/v1/rdvs",
            &s.token,
            json!({"organisation_id": s.organisation, "motif_id": s.motif, "lieu_id": s.lieu, "agent_ids": [s.agent],
                   "usager_ids": [waiting], "starts_at": "2027-01-12T10:00:00+01:00"}),
        )
        .await;
    assert_eq!(booked.status, StatusCode::CREATED, "{}", booked.body);
    rgpd_caught_up(&app).await;
    let retention = chrono::Duration::days(730);
    let status = |id: String| {
        let app = &app;
        async move { app.get(&format!("/v1/usagers/{id}"), &app.admin_token).await.status }
    };

    app.clock.set(app.clock.now() + chrono::Duration::days(729));
    let forgotten = rdv_app::retention::forget_inactive(&app.state, retention)
        .await
        .unwrap();
    assert_eq!(forgotten, 0, "nobody is past the limit yet");

    app.clock.set(app.clock.now() + chrono::Duration::days(2));
    let forgotten = rdv_app::retention::forget_inactive(&app.state, retention)
        .await
        .unwrap();
    assert_eq!(forgotten, 1);
    assert_eq!(status(idle.clone()).await, StatusCode::GONE);
    assert_eq!(status(waiting.clone()).await, StatusCode::OK);
    // Run again before the projection caught up, as after a crash: nothing more.
    let again = rdv_app::retention::forget_inactive(&app.state, retention)
        .await
        .unwrap();
    assert_eq!(again, 0);
    rgpd_caught_up(&app).await;
    let history = app
        .get(&format!("/v1/audit/Usager/{idle}/events"), &app.admin_token)
        .await;
    let forgets: Vec<&Value> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "UsagerForgotten")
        .collect();
    assert_eq!(forgets.len(), 1, "{}", history.body);
    assert_eq!(forgets[0]["payload"]["UsagerForgotten"]["reason"], "retention");
    assert_eq!(forgets[0]["actor"], "system:retention");

    app.clock.set("2029-01-13T10:00:00Z".parse().unwrap());
    let forgotten = rdv_app::retention::forget_inactive(&app.state, retention)
        .await
        .unwrap();
    assert_eq!(forgotten, 1, "two years after the RDV");
    assert_eq!(status(waiting).await, StatusCode::GONE);
}
