//! What auditors read: events in their feed form, the territories a record
//! belongs to, and exports of a territory's history with a manifest.

use chrono::{DateTime, Utc};
use rdv_domain::{
    agent::Agent,
    category::CategoryConfiguration,
    follow_up::FollowUp,
    ids::{OrganisationId, TerritoryId, UsagerId},
    lieu::Lieu,
    motif::Motif,
    organisation::Organisation,
    rdv::Rdv,
    usager::Usager,
    webhook_endpoint::WebhookEndpoint,
};
use rdv_eventstore::{EventStore, StoreError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// One event of the global feed, as auditors and consumers read it.
#[derive(Serialize, ToSchema)]
pub struct FeedEvent {
    position: i64,
    event_id: Uuid,
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    occurred_at: DateTime<Utc>,
    actor: String,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    /// The `Idempotency-Key` of the request that caused it, if any.
    idempotency_key: Option<String>,
    payload: Value,
}

impl From<rdv_eventstore::StoredEvent> for FeedEvent {
    fn from(e: rdv_eventstore::StoredEvent) -> Self {
        FeedEvent {
            position: e.position,
            event_id: e.metadata.event_id,
            aggregate_type: e.aggregate_type,
            aggregate_id: e.aggregate_id,
            sequence: e.sequence,
            event_type: e.event_type,
            event_version: e.event_version,
            occurred_at: e.metadata.occurred_at,
            actor: e.metadata.actor,
            correlation_id: e.metadata.correlation_id,
            causation_id: e.metadata.causation_id,
            idempotency_key: e.metadata.idempotency_key,
            payload: e.payload,
        }
    }
}

async fn organisation_territory(
    store: &EventStore,
    organisation: OrganisationId,
) -> Result<Vec<TerritoryId>, StoreError> {
    let organisation = store.load_aggregate::<Organisation>(&organisation.to_string()).await?;
    Ok(organisation.0.map(|o| o.territory_id).into_iter().collect())
}

async fn usager_territories(store: &EventStore, usager: UsagerId) -> Result<Vec<TerritoryId>, StoreError> {
    let mut territories = Vec::new();
    if let Some(usager) = store.load_aggregate::<Usager>(&usager.to_string()).await?.0 {
        for organisation in usager.organisation_ids {
            territories.extend(organisation_territory(store, organisation).await?);
        }
    }
    Ok(territories)
}

async fn agent_territories(store: &EventStore, agent: &str) -> Result<Vec<TerritoryId>, StoreError> {
    let mut territories = Vec::new();
    if let Some(agent) = store.load_aggregate::<Agent>(agent).await?.0 {
        territories.extend(agent.territory_rights.keys().copied());
        for organisation in agent.memberships.keys() {
            territories.extend(organisation_territory(store, *organisation).await?);
        }
    }
    Ok(territories)
}

/// The territories a record belongs to, from its current state (none for
/// records of no territory, which only the platform admin audits).
pub async fn territories_of(
    store: &EventStore,
    aggregate_type: &str,
    id: &str,
) -> Result<Vec<TerritoryId>, StoreError> {
    Ok(match aggregate_type {
        "Territory" => id.parse().map(TerritoryId).into_iter().collect(),
        "Organisation" => match id.parse() {
            Ok(o) => organisation_territory(store, OrganisationId(o)).await?,
            Err(_) => Vec::new(),
        },
        "Motif" => store
            .load_aggregate::<Motif>(id)
            .await?
            .0
            .map(|m| m.territory_id)
            .into_iter()
            .collect(),
        "Lieu" => match store.load_aggregate::<Lieu>(id).await?.0 {
            Some(lieu) => organisation_territory(store, lieu.organisation_id).await?,
            None => Vec::new(),
        },
        "Rdv" => match store.load_aggregate::<Rdv>(id).await?.0 {
            Some(rdv) => organisation_territory(store, rdv.booking.organisation_id).await?,
            None => Vec::new(),
        },
        "Usager" => match id.parse() {
            Ok(u) => usager_territories(store, UsagerId(u)).await?,
            Err(_) => Vec::new(),
        },
        "FollowUp" => match store.load_aggregate::<FollowUp>(id).await?.0 {
            Some(follow_up) => usager_territories(store, follow_up.usager_id).await?,
            None => Vec::new(),
        },
        "WebhookEndpoint" => match store.load_aggregate::<WebhookEndpoint>(id).await?.0 {
            Some(endpoint) => organisation_territory(store, endpoint.organisation_id).await?,
            None => Vec::new(),
        },
        "CategoryConfiguration" => match store.load_aggregate::<CategoryConfiguration>(id).await?.0 {
            Some(config) => organisation_territory(store, config.organisation_id).await?,
            None => Vec::new(),
        },
        // An agent's agenda is its id; an agent's day is `{agent}:{day}`.
        "Agent" | "AgentAgenda" | "AgentDay" => {
            agent_territories(store, id.split(':').next().unwrap_or_default()).await?
        }
        _ => Vec::new(),
    })
}

/// What an export holds, for an auditor to check it later.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Manifest {
    pub territory_id: TerritoryId,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub events: u64,
    pub first_position: Option<i64>,
    pub last_position: Option<i64>,
    /// SHA-256 of `events.ndjson`, hex.
    pub sha256: String,
    /// The hash chain's latest anchor when the export was made.
    pub anchor: Option<rdv_projections::chain::Anchor>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("encoding an event: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes the events of a territory's records that occurred in [from, to)
/// as `events.ndjson` (one event per line, as `GET /v1/events` shows it)
/// and `manifest.json` (counts, first and last position, the file's
/// SHA-256, the chain's latest anchor) into `out`.
pub async fn export(
    store: &EventStore,
    territory: TerritoryId,
    (from, to): (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    out: &std::path::Path,
) -> Result<Manifest, ExportError> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    std::fs::create_dir_all(out)?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out.join("events.ndjson"))?);
    let (mut hasher, mut inside) = (Sha256::new(), std::collections::HashMap::new());
    let mut manifest = Manifest {
        territory_id: territory,
        from,
        to,
        events: 0,
        first_position: None,
        last_position: None,
        sha256: String::new(),
        anchor: rdv_projections::chain::anchors(store).await?.pop(),
    };
    let mut after = 0;
    loop {
        let page = store.read_feed(after, 1_000).await?;
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        for event in page {
            let at = event.metadata.occurred_at;
            if from.is_some_and(|f| at < f) || to.is_some_and(|t| at >= t) {
                continue;
            }
            let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
            let belongs = match inside.get(&key) {
                Some(belongs) => *belongs,
                None => {
                    let belongs = territories_of(store, &key.0, &key.1).await?.contains(&territory);
                    *inside.entry(key).or_insert(belongs)
                }
            };
            if !belongs {
                continue;
            }
            let position = event.position;
            let mut line = serde_json::to_vec(&FeedEvent::from(event))?;
            line.push(b'\n');
            hasher.update(&line);
            file.write_all(&line)?;
            manifest.events += 1;
            manifest.first_position.get_or_insert(position);
            manifest.last_position = Some(position);
        }
        after = last;
    }
    file.flush()?;
    manifest.sha256 = hex::encode(hasher.finalize());
    std::fs::write(out.join("manifest.json"), serde_json::to_vec_pretty(&manifest)?)?;
    Ok(manifest)
}
