//! A real app on port 0 with its own store, a frozen clock the test can move,
//! and small HTTP helpers.

use rdv_domain::FixedClock;
use rdv_gateway::{App, Config};
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use std::{path::PathBuf, sync::Arc, time::Duration};
use tempfile::TempDir;
use tokio::{sync::oneshot, task::JoinHandle};

pub const START: &str = "2026-01-05T09:00:00Z";

pub struct TestApp {
    pub address: String,
    pub admin_token: String,
    pub clock: FixedClock,
    pub config: Config,
    pub client: reqwest::Client,
    /// The running app's state, for workers a test drives itself.
    pub state: rdv_gateway::state::AppState,
    _dir: Arc<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {}", self.body))
            .to_string()
    }

    pub fn position(&self) -> i64 {
        self.headers["x-event-position"].to_str().unwrap().parse().unwrap()
    }

    /// The fields named in a problem's `errors[]`.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"].as_array().map_or_else(Vec::new, |errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
    }
}

impl TestApp {
    /// A fresh embedded (SQLite) app.
    pub async fn spawn() -> TestApp {
        let dir = Arc::new(TempDir::new().unwrap());
        Self::spawn_with(
            Config::embedded(dir.path().to_path_buf()),
            dir,
            FixedClock::at(START.parse().unwrap()),
        )
        .await
    }

    /// A fresh embedded app with some settings changed.
    pub async fn spawn_configured(change: impl FnOnce(&mut Config)) -> TestApp {
        let dir = Arc::new(TempDir::new().unwrap());
        let mut config = Config::embedded(dir.path().to_path_buf());
        change(&mut config);
        Self::spawn_with(config, dir, FixedClock::at(START.parse().unwrap())).await
    }

    /// A fresh app on PostgreSQL, when a server is available.
    pub async fn spawn_postgres() -> Option<TestApp> {
        let url = rdv_tests::postgres_database_url("rdv_api").await?;
        let dir = Arc::new(TempDir::new().unwrap());
        let mut config = Config::embedded(dir.path().to_path_buf());
        config.database_url = Some(url);
        Some(Self::spawn_with(config, dir, FixedClock::at(START.parse().unwrap())).await)
    }

    async fn spawn_with(config: Config, dir: Arc<TempDir>, clock: FixedClock) -> TestApp {
        let app = App::build(config.clone(), Arc::new(clock.clone()))
            .await
            .expect("app builds");
        let admin_token = app.bootstrap_admin_token.clone().unwrap_or_default();
        let address = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        TestApp {
            address,
            admin_token,
            clock,
            config,
            client: reqwest::Client::new(),
            state,
            _dir: dir,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and starts a new one on the same store.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let admin_token = self.admin_token.clone();
        let mut app = Self::spawn_with(self.config.clone(), self._dir.clone(), self.clock.clone()).await;
        assert!(
            app.admin_token.is_empty(),
            "no second bootstrap token on a non-empty store"
        );
        app.admin_token = admin_token;
        app
    }

    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply { status, body, headers }
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::POST, path, Some(token), Some(body), &[]).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.request(Method::PATCH, path, Some(token), Some(body), &[]).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn head_position(&self) -> i64 {
        let health = self.request(Method::GET, "/health", None, None, &[]).await;
        health.body["position"].as_i64().unwrap()
    }

    /// Territory (with `service_social` and `pmi` active) and organisation.
    pub async fn territory_and_organisation(&self, name: &str) -> (String, String) {
        let admin = &self.admin_token;
        let territory = self
            .post(
                "/v1/territories",
                admin,
                json!({"name": "Drôme", "departement_number": "26"}),
            )
            .await;
        assert_eq!(territory.status, StatusCode::CREATED, "{}", territory.body);
        let t = territory.id();
        for service in ["service_social", "pmi"] {
            let r = self
                .post(
                    &format!("/v1/territories/{t}/services/{service}/activate"),
                    admin,
                    json!({}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let organisation = self
            .post(
                &format!("/v1/territories/{t}/organisations"),
                admin,
                json!({"name": name}),
            )
            .await;
        assert_eq!(organisation.status, StatusCode::CREATED, "{}", organisation.body);
        (t, organisation.id())
    }

    /// Invites an agent and returns (agent id, invitation token from the e-mail).
    pub async fn invite(&self, token: &str, organisation: &str, email: &str, role: &str) -> (String, String) {
        let before = self.eml_files().len();
        let invited = self
            .post(
                &format!("/v1/organisations/{organisation}/agents"),
                token,
                json!({"email": email, "first_name": "Marie", "last_name": "Curie", "services": ["service_social"], "role": role}),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
        let agent = invited.body["agent_id"].as_str().unwrap().to_string();
        let eml = self.wait_for_eml(before + 1).await;
        (agent, invitation_token(&eml))
    }

    /// Accepts an invitation (no login needed).
    pub async fn accept(&self, token: &str) -> Reply {
        self.request(
            Method::POST,
            "/v1/agents/invitations/accept",
            None,
            Some(json!({"token": token})),
            &[],
        )
        .await
    }

    /// Invites, accepts, and returns (agent id, API token).
    pub async fn active_agent(&self, organisation: &str, email: &str, role: &str) -> (String, String) {
        let (agent, invitation) = self.invite(&self.admin_token, organisation, email, role).await;
        let accepted = self.accept(&invitation).await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
        (agent, accepted.body["api_token"].as_str().unwrap().to_string())
    }

    pub fn eml_files(&self) -> Vec<String> {
        self.outbox_files("eml")
    }

    /// The files the outbox sender wrote with this extension, oldest first
    /// (their names are time-ordered ids).
    fn outbox_files(&self, extension: &str) -> Vec<String> {
        let dir = self.data_dir().join("outbox");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == extension))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().map(|p| std::fs::read_to_string(p).unwrap()).collect()
    }

    /// Waits (bounded) for the outbox sender to have written `count` e-mails
    /// and returns the newest.
    pub async fn wait_for_eml(&self, count: usize) -> String {
        for _ in 0..200 {
            let files = self.eml_files();
            if files.len() >= count {
                return files.last().unwrap().clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the outbox sender wrote no e-mail within 5 s");
    }
}

impl TestApp {
    /// Rebuilds a projection from position 0 in the app's store, as
    /// `rdv project --rebuild NAME` does; returns its new checkpoint.
    pub async fn rebuild(&self, projection: &str) -> i64 {
        let projection = rdv_projections::by_name(projection).expect("a known projection");
        rdv_projections::Projector::new(self.state.store.clone(), projection)
            .rebuild()
            .await
            .unwrap()
    }

    /// The SMS the file sender wrote, oldest first.
    pub fn sms_files(&self) -> Vec<String> {
        self.outbox_files("sms")
    }

    /// Waits (bounded) for an e-mail containing `text`, whatever else the
    /// sender writes meanwhile, and returns it.
    pub async fn wait_for_eml_containing(&self, text: &str) -> String {
        self.wait_for_outbox_containing("eml", text).await
    }

    /// Waits (bounded) for an SMS containing `text`, and returns it.
    pub async fn wait_for_sms_containing(&self, text: &str) -> String {
        self.wait_for_outbox_containing("sms", text).await
    }

    async fn wait_for_outbox_containing(&self, extension: &str, text: &str) -> String {
        for _ in 0..200 {
            if let Some(found) = self.outbox_files(extension).into_iter().find(|e| e.contains(text)) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no .{extension} file containing {text:?} within 5 s");
    }
}

/// The invitation token in an e-mail's link.
pub fn invitation_token(eml: &str) -> String {
    let start = eml.find("token=").expect("a link with a token") + "token=".len();
    eml[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}
