//! Webhook dispatch: each RDV event becomes one delivery per enabled
//! endpoint of the RDV's organisation subscribed to `rdv`, queued in the
//! same transaction as this projector's checkpoint. The body is built here,
//! from the RDV **as of the event** (its state folded by the domain's own
//! `apply`), and stored: every attempt sends the same bytes. A delivery's id
//! (`webhook-id`) comes from the event and the endpoint, so a rebuild from
//! position 0 queues nothing twice.

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use cqrs_es::Aggregate;
use rdv_domain::{
    rdv::{Rdv, RdvEvent, RdvState},
    webhook_endpoint::{WebhookEndpoint, WebhookEndpointEvent, WebhookFormat, WebhookModel},
};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder, deliveries::NewDelivery};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use uuid::Uuid;

pub const NAME: &str = "webhook_dispatch";
const ENDPOINTS: &str = "endpoints";
const RDVS: &str = "rdvs";

/// What dispatch needs of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Target {
    id: Uuid,
    organisation_id: Uuid,
    subscriptions: BTreeSet<WebhookModel>,
    format: WebhookFormat,
    enabled: bool,
}

pub struct WebhookDispatch;

#[async_trait::async_trait]
impl Projection for WebhookDispatch {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        &["WebhookEndpoint", "Rdv"]
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        match event.aggregate_type.as_str() {
            "WebhookEndpoint" => endpoint(&mut docs).await,
            "Rdv" => rdv(&mut docs).await,
            _ => Ok(()),
        }
    }
}

async fn endpoint(docs: &mut Documents<'_>) -> Result<(), ProjectionError> {
    let id = docs.event.aggregate_id.clone();
    let decoded = Decoder::<WebhookEndpoint>::default().decode(docs.event)?;
    let target = match decoded {
        WebhookEndpointEvent::WebhookEndpointCreated {
            organisation_id,
            config,
            ..
        } => Target {
            id: docs.aggregate_uuid()?,
            organisation_id: organisation_id.0,
            subscriptions: config.subscriptions,
            format: config.format,
            enabled: true,
        },
        WebhookEndpointEvent::WebhookEndpointDeleted => return docs.delete(ENDPOINTS, &id).await,
        other => {
            let mut target: Target = docs.load(ENDPOINTS, &id).await?;
            match other {
                WebhookEndpointEvent::WebhookEndpointUpdated { config } => {
                    target.subscriptions = config.subscriptions;
                    target.format = config.format;
                }
                WebhookEndpointEvent::WebhookEndpointEnabled => target.enabled = true,
                WebhookEndpointEvent::WebhookEndpointDisabled { .. } => target.enabled = false,
                _ => {}
            }
            target
        }
    };
    let parent = target.organisation_id.to_string();
    docs.save(ENDPOINTS, &id, Some(&parent), &target).await
}

async fn rdv(docs: &mut Documents<'_>) -> Result<(), ProjectionError> {
    let id = docs.event.aggregate_id.clone();
    let decoded = Decoder::<Rdv>::default().decode(docs.event)?;
    let kind = match &decoded {
        RdvEvent::RdvBooked { .. } => "created",
        RdvEvent::RdvCancelled { .. } => "cancelled",
        RdvEvent::RdvStatusChanged { status, .. } if status.is_cancelled() => "cancelled",
        // The salle d'attente and reminders change nothing an SI sees.
        RdvEvent::UsagerArrived { .. } | RdvEvent::ReminderSent { .. } => return Ok(()),
        _ => "updated",
    };
    let previous: Option<RdvState> = docs.find(RDVS, &id).await?;
    let mut rdv = Rdv(previous);
    rdv.apply(decoded);
    let state = rdv
        .0
        .ok_or_else(|| ProjectionError::event(docs.event, "an RDV event before RdvBooked"))?;
    docs.save(RDVS, &id, None, &state).await?;
    let organisation = state.booking.organisation_id.to_string();
    let targets: Vec<Target> = docs
        .tx
        .list(NAME, ENDPOINTS, &organisation)
        .await?
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .filter(|t: &Target| t.enabled && t.subscriptions.contains(&WebhookModel::Rdv))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let record = record(docs.aggregate_uuid()?, &state);
    let event = docs.event;
    let ordering = json!({"event_id": event.metadata.event_id, "position": event.position, "version": event.sequence});
    let timestamp = event.metadata.occurred_at.to_rfc3339();
    for target in targets {
        let body = match target.format {
            // RDV Service Public sends a cancellation as an update.
            WebhookFormat::RdvServicePublic => json!({
                "data": record,
                "meta": {"model": "Rdv", "event": if kind == "created" { "created" } else { "updated" },
                         "webhook_reason": null, "timestamp": timestamp,
                         "event_id": ordering["event_id"], "position": ordering["position"], "version": ordering["version"]},
            }),
            WebhookFormat::StandardWebhooks => {
                let mut data = record.clone();
                data["ordering"] = ordering.clone();
                json!({"type": format!("rdv.{kind}"), "timestamp": timestamp, "data": data})
            }
        };
        let delivery = NewDelivery {
            id: format!("msg_{}{}", event.metadata.event_id.simple(), target.id.simple()),
            endpoint_id: target.id.to_string(),
            record: format!("Rdv:{id}"),
            position: event.position,
            event_type: format!("rdv.{kind}"),
            body: body.to_string(),
            created_at_ms: event.metadata.occurred_at.timestamp_millis(),
        };
        docs.tx.enqueue_delivery(&delivery).await?;
    }
    Ok(())
}

/// The RDV as RDV Service Public's webhooks show it (ids for the records it
/// refers to; the internal Contexte is never sent).
fn record(id: Uuid, state: &RdvState) -> Value {
    let b = &state.booking;
    json!({
        "id": id,
        "starts_at": b.starts_at,
        "ends_at": b.ends_at,
        "duration_in_min": (b.ends_at - b.starts_at).num_minutes(),
        "status": state.status,
        "cancelled_at": state.cancelled_at,
        "collectif": state.is_collective(),
        "name": b.collective.as_ref().and_then(|a| a.name.clone()),
        "max_participants_count": b.collective.as_ref().and_then(|a| a.max_participants),
        "users_count": state.participations.values().filter(|p| !p.status.is_cancelled()).count(),
        "organisation": {"id": b.organisation_id},
        "motif": {"id": b.motif_id},
        "lieu": b.lieu_id.map(|l| json!({"id": l})),
        "agents": b.agent_ids.iter().map(|a| json!({"id": a})).collect::<Vec<_>>(),
        "users": b.usager_ids.iter().map(|u| json!({"id": u})).collect::<Vec<_>>(),
        "participations": state.participations.iter()
            .map(|(u, p)| json!({"user": {"id": u}, "status": p.status}))
            .collect::<Vec<_>>(),
        "created_by": b.created_by,
    })
}
