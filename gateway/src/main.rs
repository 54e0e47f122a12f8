//! `rdv`: the rdv-events service and its tools.

use clap::{Parser, Subcommand};
use rdv_app::publisher::wake_on_published;
use rdv_gateway::{App, Config, app::open_store, clock, schemas};
use rdv_projections::Projector;
use rdv_webhook_relay::{Mailer, OutboxSender, SmsSender};
use std::{path::PathBuf, process::ExitCode};
use tokio_util::sync::CancellationToken;

/// mimalloc: allocation-heavy JSON and HTTP work runs measurably faster than
/// with the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rdv",
    version,
    about = "Event-sourced booking backend for French public services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (with projectors and senders in embedded mode).
    Serve(Config),
    /// Run the projectors, or rebuild one view from position 0.
    Project {
        #[command(flatten)]
        config: Config,
        /// Rebuild this projection from position 0, then exit.
        #[arg(long, value_name = "NAME")]
        rebuild: Option<String>,
    },
    /// Send what the outbox holds (e-mails now, webhooks next).
    Relay(Config),
    /// Publish the events to NATS JetStream (`NATS_URL`): stream
    /// `RDV_EVENTS`, subjects `rdv.events.<aggregate_type>.<event_type>`.
    Publish(Config),
    /// Bring the store's schema up to date, then exit: the one-off step
    /// of a deployment (every process also migrates when it starts).
    Migrate(Config),
    /// Copy every event into a fresh data directory and build every read
    /// model there from position 0.
    Replay {
        #[command(flatten)]
        config: Config,
        /// The fresh (empty) data directory to replay into.
        #[arg(long, value_name = "DIR")]
        into: PathBuf,
    },
    /// Rebuild every read model from the events in a scratch directory and
    /// compare it with the live one; exits non-zero on any difference.
    Verify(Config),
    /// Auditors' tools over the store.
    Audit {
        #[command(subcommand)]
        action: Audit,
    },
    /// Write the JSON Schemas and openapi.json (or check they are current).
    Schemas {
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
        /// Fail if the files on disk differ from the code.
        #[arg(long)]
        check: bool,
    },
}

#[derive(Subcommand)]
enum Audit {
    /// Recompute the hash chain from the events and compare it with the
    /// stored one; exits non-zero naming the first edited, deleted or
    /// inserted event.
    VerifyChain(Config),
    /// Print the chain's anchors (the head hash every 1,000 events) as JSON
    /// lines, to keep outside the system.
    Anchors(Config),
    /// Write a territory's events (NDJSON) and a manifest (counts, first
    /// and last position, SHA-256, the chain's latest anchor) to a directory.
    Export {
        #[command(flatten)]
        config: Config,
        #[arg(long)]
        territory: rdv_domain::ids::TerritoryId,
        /// Events that occurred at or after this RFC 3339 instant.
        #[arg(long)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Events that occurred before this RFC 3339 instant.
        #[arg(long)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RDV_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colours only for a person at a terminal, never in a file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("RDV_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

fn warn_if_frozen(config: &Config) {
    if let Some(now) = config.now {
        tracing::warn!(%now, "RDV_NOW is set: the clock is FROZEN at this instant; do not use in production");
    }
}

async fn serve(config: Config) -> Result<(), String> {
    warn_if_frozen(&config);
    let app = App::build(config.clone(), clock::from_config(config.now))
        .await
        .map_err(|e| e.to_string())?;
    if let Some(token) = &app.bootstrap_admin_token {
        println!("Platform admin token (shown once, keep it safe): {token}");
    }
    tracing::info!(address = %app.local_addr(), store = app.state().store.kind(), "rdv serving");
    app.run(shutdown_signal()).await.map_err(|e| e.to_string())
}

async fn project(config: Config, rebuild: Option<String>) -> Result<(), String> {
    let store = open_store(&config).await.map_err(|e| e.to_string())?;
    if let Some(name) = rebuild {
        let projection = rdv_projections::by_name(&name).ok_or_else(|| {
            let known: Vec<_> = rdv_projections::all().iter().map(|p| p.name()).collect();
            format!("unknown projection '{name}'; known: {}", known.join(", "))
        })?;
        let position = Projector::new(store, projection)
            .rebuild()
            .await
            .map_err(|e| e.to_string())?;
        println!("rebuilt {name} up to position {position}");
        return Ok(());
    }
    let shutdown = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    let nats = connect_nats(&config, "rdv-project").await?;
    if let Some(client) = &nats {
        let prefix = config.destination().prefix;
        workers.spawn(wake_on_published(
            client.clone(),
            store.clone(),
            prefix,
            shutdown.clone(),
        ));
    }
    serve_metrics(&config, &store, nats.clone(), &shutdown, &mut workers);
    for projection in rdv_projections::all() {
        let projector = Projector::new(store.clone(), projection);
        let projector = match (&nats, config.project_poll.to_std()) {
            (Some(_), Ok(poll)) => projector.polling_every(poll),
            _ => projector,
        };
        workers.spawn(projector.run(shutdown.clone()));
    }
    shutdown_signal().await;
    shutdown.cancel();
    while workers.join_next().await.is_some() {}
    Ok(())
}

async fn relay(config: Config) -> Result<(), String> {
    let (store, master_key) = rdv_gateway::app::open_store_and_key(&config)
        .await
        .map_err(|e| e.to_string())?;
    let mailer = Mailer::new(config.smtp_url.as_deref(), config.data_dir.join("outbox")).map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let sms = SmsSender::new(config.sms_gateway_url.as_deref(), config.data_dir.join("outbox"));
    let commands = rdv_eventstore::CommandService::new(
        store.clone(),
        rdv_domain::Services::new(clock::from_config(config.now), config.invitation_ttl),
    );
    let webhooks = rdv_gateway::app::webhook_relay(&config, commands, master_key);
    let mut workers = tokio::task::JoinSet::new();
    let nats = connect_nats(&config, "rdv-relay").await?;
    serve_metrics(&config, &store, nats, &shutdown, &mut workers);
    workers.spawn(webhooks.run(shutdown.clone()));
    workers.spawn(OutboxSender::new(store, mailer, sms, config.mail_from).run(shutdown.clone()));
    shutdown_signal().await;
    shutdown.cancel();
    while workers.join_next().await.is_some() {}
    Ok(())
}

async fn publish(config: Config) -> Result<(), String> {
    let url = config
        .nats_url
        .clone()
        .ok_or("rdv publish needs NATS_URL (or --nats-url)")?;
    let store = open_store(&config).await.map_err(|e| e.to_string())?;
    let publisher = rdv_app::publisher::Publisher::connect(store.clone(), &url, config.destination())
        .await
        .map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    serve_metrics(
        &config,
        &store,
        Some(publisher.client().clone()),
        &shutdown,
        &mut workers,
    );
    workers.spawn(publisher.run(shutdown.clone()));
    shutdown_signal().await;
    shutdown.cancel();
    while workers.join_next().await.is_some() {}
    Ok(())
}

/// Serves `/metrics`, `/health` and `/ready` on `RDV_METRICS_LISTEN` when set.
fn serve_metrics(
    config: &Config,
    store: &rdv_eventstore::EventStore,
    nats: Option<async_nats::Client>,
    shutdown: &CancellationToken,
    workers: &mut tokio::task::JoinSet<()>,
) {
    let Some(listen) = config.metrics_listen.clone() else {
        return;
    };
    let (store, shutdown) = (store.clone(), shutdown.clone());
    workers.spawn(async move {
        if let Err(error) = rdv_gateway::observability::serve(&listen, store, nats, shutdown).await {
            tracing::error!(%error, %listen, "cannot serve /metrics");
        }
    });
}

async fn connect_nats(config: &Config, name: &str) -> Result<Option<async_nats::Client>, String> {
    rdv_gateway::app::connect_nats(config, name)
        .await
        .map_err(|e| e.to_string())
}

async fn migrate(config: Config) -> Result<(), String> {
    let store = open_store(&config).await.map_err(|e| e.to_string())?;
    println!("the {} store is up to date", store.kind());
    Ok(())
}

async fn replay(config: Config, into: PathBuf) -> Result<(), String> {
    let source = open_store(&config).await.map_err(|e| e.to_string())?;
    let target = rdv_eventstore::EventStore::open_sqlite(&into)
        .await
        .map_err(|e| e.to_string())?;
    let events = rdv_projections::replay::replay(&source, &target)
        .await
        .map_err(|e| e.to_string())?;
    println!("replayed {events} events into {}", into.display());
    Ok(())
}

async fn verify(config: Config) -> Result<(), String> {
    let live = open_store(&config).await.map_err(|e| e.to_string())?;
    let scratch_dir = tempfile::TempDir::new().map_err(|e| e.to_string())?;
    let scratch = rdv_eventstore::EventStore::open_sqlite(scratch_dir.path())
        .await
        .map_err(|e| e.to_string())?;
    let differences = rdv_projections::replay::verify(&live, &scratch)
        .await
        .map_err(|e| e.to_string())?;
    for d in &differences {
        let side = |s: &Option<(Option<String>, serde_json::Value)>| {
            s.as_ref().map_or("(missing)".to_string(), |(_, doc)| doc.to_string())
        };
        println!(
            "{}/{}/{}
  live:     {}
  replayed: {}",
            d.projection,
            d.collection,
            d.id,
            side(&d.live),
            side(&d.replayed)
        );
    }
    match differences.len() {
        0 => {
            println!("every read model equals a replay of the events");
            Ok(())
        }
        n => Err(format!("{n} documents differ from a replay of the events")),
    }
}

async fn audit(action: Audit) -> Result<(), String> {
    match action {
        Audit::VerifyChain(config) => {
            let store = open_store(&config).await.map_err(|e| e.to_string())?;
            match rdv_projections::chain::verify(&store)
                .await
                .map_err(|e| e.to_string())?
            {
                Ok(report) => {
                    let head = report
                        .head
                        .map(|h| format!(" up to position {} ({})", h.position, h.hash));
                    println!("chain sound: {} events{}", report.events, head.unwrap_or_default());
                    Ok(())
                }
                Err(broken) => Err(format!("chain broken at position {}: {broken}", broken.position())),
            }
        }
        Audit::Export {
            config,
            territory,
            from,
            to,
            out,
        } => {
            let store = open_store(&config).await.map_err(|e| e.to_string())?;
            let manifest = rdv_app::audit::export(&store, territory, (from, to), &out)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "exported {} events to {} (sha256 {})",
                manifest.events,
                out.display(),
                manifest.sha256
            );
            Ok(())
        }
        Audit::Anchors(config) => {
            let store = open_store(&config).await.map_err(|e| e.to_string())?;
            for anchor in rdv_projections::chain::anchors(&store)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("{}", serde_json::json!(anchor));
            }
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let result = match Cli::parse().command {
        Command::Serve(config) => serve(config).await,
        Command::Project { config, rebuild } => project(config, rebuild).await,
        Command::Relay(config) => relay(config).await,
        Command::Publish(config) => publish(config).await,
        Command::Audit { action } => audit(action).await,
        Command::Replay { config, into } => replay(config, into).await,
        Command::Verify(config) => verify(config).await,
        Command::Migrate(config) => migrate(config).await,
        Command::Schemas { dir, check: false } => schemas::write(&dir).map_err(|e| e.to_string()),
        Command::Schemas { dir, check: true } => match schemas::stale(&dir).as_slice() {
            [] => Ok(()),
            stale => Err(format!("stale schemas (run `rdv schemas`): {stale:?}")),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "rdv failed");
            eprintln!("rdv: {error}");
            ExitCode::FAILURE
        }
    }
}
