//! Startup: `App::build(config)` is the only way to start the service;
//! `main` and the tests both use it.

use crate::{
    config::Config,
    routes,
    state::{AppState, Inner},
};
use axum::{Json, Router, http::Request, routing::get};
use rdv_app::tokens;
use rdv_domain::{
    Clock, Services,
    platform::{PLATFORM_ID, Platform, PlatformCommand},
};
use rdv_eventstore::{
    CommandContext, CommandService, EventStore, StoreError, StoredResponse,
    sealing::{MasterKey, SealError},
};
use rdv_projections::Projector;
use rdv_webhook_relay::{Mailer, OutboxSender, SmsSender, delivery::WebhookRelay, target::AllowList};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("could not listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("NATS: {0}")]
    Nats(String),
    #[error("mailer: {0}")]
    Mailer(#[from] rdv_webhook_relay::mailer::MailError),
    #[error("{0}")]
    Command(#[from] rdv_eventstore::CommandError),
    #[error("master key: {0}")]
    MasterKey(#[from] SealError),
    #[error("DATABASE_URL: {0}")]
    DatabaseUrl(String),
    #[error("PostgreSQL at {host}: {error}")]
    Postgres { host: String, error: StoreError },
}

/// Where the events live, from `DATABASE_URL`: unset or `sqlite:` for the
/// embedded store under `RDV_DATA_DIR`, `postgres://` or `postgresql://`
/// for PostgreSQL. Anything else is refused before connecting, rather than
/// taken for PostgreSQL.
enum StoreUrl<'a> {
    Sqlite,
    Postgres { url: &'a str, host: String },
}

fn store_url(database_url: Option<&str>) -> Result<StoreUrl<'_>, StartupError> {
    let Some(url) = database_url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(StoreUrl::Sqlite);
    };
    let (scheme, rest) = url.split_once(':').unwrap_or((url, ""));
    match scheme {
        "sqlite" => Ok(StoreUrl::Sqlite),
        "postgres" | "postgresql" => {
            let authority = rest
                .trim_start_matches("//")
                .split(['/', '?'])
                .next()
                .unwrap_or_default();
            let host = authority.rsplit('@').next().unwrap_or_default();
            let host = if host.is_empty() {
                "localhost".to_string()
            } else {
                host.to_string()
            };
            Ok(StoreUrl::Postgres { url, host })
        }
        other => Err(StartupError::DatabaseUrl(format!(
            "the scheme {other}: is not one of sqlite:, postgres:, postgresql:"
        ))),
    }
}

/// Opens the store the configuration names: PostgreSQL when
/// `DATABASE_URL` is set, SQLite under the data directory otherwise; usagers'
/// personal data sealed under the master key.
pub async fn open_store(config: &Config) -> Result<EventStore, StartupError> {
    Ok(open_store_and_key(config).await?.0)
}

/// The store, and its master key for the processes that also open webhook
/// secrets with it (the key is read once).
pub async fn open_store_and_key(config: &Config) -> Result<(EventStore, MasterKey), StartupError> {
    let store = match store_url(config.database_url.as_deref())? {
        StoreUrl::Postgres { url, host } => EventStore::connect_postgres(url, config.db_max_connections)
            .await
            .map_err(|error| StartupError::Postgres { host, error })?,
        StoreUrl::Sqlite => EventStore::open_sqlite(&config.data_dir).await?,
    };
    let key = master_key(config)?;
    Ok((store.with_master_key(key.clone()), key))
}

/// The key sealing secrets and wrapping usagers' data keys at rest: `RDV_MASTER_KEY`, or the data dir's
/// `master.key` (created on first start; with PostgreSQL every process must
/// share one key, so set `RDV_MASTER_KEY` there).
pub fn master_key(config: &Config) -> Result<MasterKey, SealError> {
    match &config.master_key {
        Some(key) => MasterKey::from_base64(key),
        None => {
            if matches!(store_url(config.database_url.as_deref()), Ok(StoreUrl::Postgres { .. })) {
                tracing::warn!("RDV_MASTER_KEY is unset: secrets are sealed with this data dir's master.key");
            }
            MasterKey::load_or_create(&config.data_dir.join("master.key"))
        }
    }
}

/// A connection to `NATS_URL` when it is set, made in the background and
/// kept up (reconnecting): `/ready` tells whether it is up.
pub async fn connect_nats(config: &Config, name: &str) -> Result<Option<async_nats::Client>, StartupError> {
    let Some(url) = &config.nats_url else { return Ok(None) };
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connect(url.as_str())
        .await
        .map(Some)
        .map_err(|e| StartupError::Nats(e.to_string()))
}

/// The webhook delivery worker the configuration describes.
pub fn webhook_relay(config: &Config, commands: CommandService, master_key: MasterKey) -> WebhookRelay {
    WebhookRelay::new(
        commands,
        master_key,
        AllowList::parse(&config.webhook_allow_hosts),
        config.webhook_retry_schedule.clone(),
        (
            config
                .webhook_timeout
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(15)),
            config.webhook_disable_after,
        ),
    )
}

/// A built, not yet running, service.
pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
    projectors: Vec<Projector>,
    outbox: Option<OutboxSender>,
    webhooks: Option<WebhookRelay>,
    scheduler: bool,
    retention: chrono::Duration,
    /// Set when this start created the platform admin token: print it once.
    pub bootstrap_admin_token: Option<String>,
}

impl App {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        // Bound first: a busy port must fail the start before the one-time
        // admin token is made (it would be stored, and never printed again).
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|e| StartupError::Listen(config.listen.clone(), e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| StartupError::Listen(config.listen.clone(), e))?;
        let (store, master_key) = open_store_and_key(&config).await?;
        let commands = CommandService::new(store.clone(), Services::new(clock, config.invitation_ttl));
        let bootstrap_admin_token = match config.admin_token {
            None if store.head().await? == 0 => Some(issue_admin_token(&commands).await?),
            _ => None,
        };
        let projectors: Vec<Projector> = if config.embedded_workers {
            rdv_projections::all()
                .into_iter()
                .map(|p| Projector::new(store.clone(), p))
                .collect()
        } else {
            Vec::new()
        };
        let outbox = if config.embedded_workers {
            let mailer = Mailer::new(config.smtp_url.as_deref(), config.data_dir.join("outbox"))?;
            let sms = SmsSender::new(config.sms_gateway_url.as_deref(), config.data_dir.join("outbox"));
            Some(OutboxSender::new(store.clone(), mailer, sms, config.mail_from.clone()))
        } else {
            None
        };
        let started_at_position = store.head().await?;
        let webhooks = config
            .embedded_workers
            .then(|| webhook_relay(&config, commands.clone(), master_key.clone()));
        let nats = connect_nats(&config, "rdv-serve").await?;
        let state = AppState::new(Inner {
            app: rdv_app::Context {
                commands,
                availability: Arc::default(),
                started_at_position,
                master_key,
                store,
                public_url: config.public_url(bound),
                projectors: projectors.iter().map(|p| (p.name(), p.status())).collect(),
                outbox_dir: config.data_dir.join("outbox"),
                webhook_allow: AllowList::parse(&config.webhook_allow_hosts),
            },
            nats,
            admin_token: config.admin_token.as_deref().map(tokens::hash),
        });
        let rate_limit = crate::hardening::RateLimit::new(config.public_rate_limit);
        let cors_origins: Vec<String> = config
            .cors_origins
            .split(',')
            .filter(|o| !o.trim().is_empty())
            .map(String::from)
            .collect();
        let (api, openapi) = routes::api();
        let openapi = Arc::new(openapi);
        let router = api
            .route(
                "/openapi.json",
                get(move || std::future::ready(Json(openapi.as_ref().clone()))),
            )
            .with_state(state.clone())
            .route_layer(axum::middleware::from_fn(crate::observability::record))
            .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
                // A bug, not bad input: answer 500 rather than drop the connection.
                tracing::error!("a request handler panicked");
                axum::response::IntoResponse::into_response(crate::error::ApiError::internal_error())
            }))
            .layer(axum::middleware::from_fn(crate::hardening::security_headers))
            .layer(axum::middleware::from_fn(move |request, next| {
                crate::hardening::rate_limit(rate_limit.clone(), request, next)
            }))
            .layer(tower::util::option_layer(crate::hardening::cors(&cors_origins)))
            .layer(RequestBodyLimitLayer::new(1024 * 1024))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(30),
            ))
            .layer(axum::middleware::from_fn(crate::hardening::problems_everywhere))
            .layer(PropagateRequestIdLayer::x_request_id())
            // Spans carry the method and path only: query strings may hold
            // personal data (searches), so they are never logged. One line
            // per answered request, with its status and latency.
            .layer(
                TraceLayer::new_for_http()
                    .on_response(
                        tower_http::trace::DefaultOnResponse::new()
                            .level(tracing::Level::INFO)
                            .latency_unit(tower_http::LatencyUnit::Millis),
                    )
                    .make_span_with(|request: &Request<_>| {
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        tracing::info_span!(
                            "http",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id = header("x-request-id"),
                            correlation_id = header(crate::observability::CORRELATION_ID),
                        )
                    }),
            )
            .layer(axum::middleware::from_fn(crate::observability::correlate))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid));
        Ok(Self {
            listener,
            router,
            state,
            projectors,
            outbox,
            webhooks,
            scheduler: config.scheduler,
            retention: config.retention,
            bootstrap_admin_token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `signal` completes, then stops taking requests, lets
    /// in-flight ones finish and stops the background workers.
    pub async fn run(self, signal: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let shutdown = CancellationToken::new();
        let mut workers = JoinSet::new();
        let store = self.state.store.clone();
        let follow = shutdown.clone();
        workers.spawn(async move { store.follow_feed(follow).await });
        let index = self.state.availability.clone();
        workers.spawn(index.follow(self.state.store.clone(), shutdown.clone()));
        for projector in self.projectors {
            workers.spawn(projector.run(shutdown.clone()));
        }
        if let Some(outbox) = self.outbox {
            workers.spawn(outbox.run(shutdown.clone()));
        }
        if let Some(relay) = self.webhooks {
            workers.spawn(relay.run(shutdown.clone()));
        }
        if self.scheduler {
            let every = Duration::from_secs(60);
            workers.spawn(rdv_app::reminders::run(self.state.app.clone(), every, shutdown.clone()));
            workers.spawn(rdv_app::insertion_jobs::run(
                self.state.app.clone(),
                every,
                shutdown.clone(),
            ));
            workers.spawn(rdv_app::retention::run(
                self.state.app.clone(),
                self.retention,
                every,
                shutdown.clone(),
            ));
        }
        let stop = shutdown.clone();
        let served = crate::server::serve(self.listener, self.router, async move {
            signal.await;
            stop.cancel();
        })
        .await;
        shutdown.cancel();
        while workers.join_next().await.is_some() {}
        served
    }
}

/// Creates the first platform admin token of an empty store.
async fn issue_admin_token(commands: &CommandService) -> Result<String, StartupError> {
    let token = tokens::new_admin_token();
    let command = PlatformCommand::IssueAdminToken {
        token_hash: tokens::hash(&token),
    };
    let ctx = CommandContext::new("system");
    commands
        .execute::<Platform, _>(&ctx, PLATFORM_ID, command, Some(0), |_, _| StoredResponse {
            status: 201,
            body: serde_json::Value::Null,
        })
        .await?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_name_their_store_and_host() {
        assert!(matches!(store_url(None), Ok(StoreUrl::Sqlite)));
        assert!(matches!(store_url(Some("sqlite:")), Ok(StoreUrl::Sqlite)));
        let host = |url| match store_url(Some(url)) {
            Ok(StoreUrl::Postgres { host, .. }) => host,
            _ => panic!("{url} is PostgreSQL"),
        };
        assert_eq!(host("postgres://rdv:secret@db.internal:5433/rdv"), "db.internal:5433");
        assert_eq!(host("postgresql://127.0.0.1/rdv?sslmode=disable"), "127.0.0.1");
        assert_eq!(host("postgres:///rdv"), "localhost");
        let refused = store_url(Some("mysql://root@127.0.0.1/rdv")).err().unwrap().to_string();
        assert!(refused.contains("mysql:"), "{refused}");
    }

    #[tokio::test]
    async fn a_closed_postgres_port_is_named() {
        let mut config = Config::embedded(std::env::temp_dir());
        config.database_url = Some("postgres://rdv@127.0.0.1:9/rdv".into());
        let Err(error) = open_store(&config).await else {
            panic!("nothing listens on port 9");
        };
        let error = error.to_string();
        assert!(error.contains("127.0.0.1:9"), "{error}");
    }
}
