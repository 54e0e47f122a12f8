//! Webhook dispatch: each change of a record an SI may subscribe to (RDVs,
//! usagers, plages d'ouverture, absences, motifs, lieux, agents) becomes one
//! delivery per enabled endpoint of the record's organisations subscribed to
//! its model, queued in the same transaction as this projector's checkpoint.
//! The body is built here from the record **as of the event** (its state
//! folded by the domain's own `apply` and kept by this projector) and
//! stored: every attempt sends the same bytes. A delivery's id
//! (`webhook-id`) comes from the event and the endpoint, so a rebuild from
//! position 0 queues nothing twice.

use crate::{
    documents::{Documents, ids_of},
    projector::{Projection, ProjectionError},
};
use rdv_domain::{
    VersionedAggregate,
    agenda::{AgentAgenda, AgentAgendaEvent},
    agent::Agent,
    lieu::Lieu,
    motif::Motif,
    organisation::Organisation,
    rdv::{Rdv, RdvEvent, RdvState},
    territory::Territory,
    usager::{Usager, UsagerEvent},
    webhook_endpoint::{WebhookEndpoint, WebhookEndpointEvent, WebhookFormat, WebhookModel},
};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder, deliveries::NewDelivery};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use uuid::Uuid;

pub const NAME: &str = "webhook_dispatch";
const ENDPOINTS: &str = "endpoints";
/// Records as of the last event, by `{aggregate type}:{id}`.
const STATES: &str = "states";

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
        &[
            "WebhookEndpoint",
            "Rdv",
            "Usager",
            "AgentAgenda",
            "Motif",
            "Lieu",
            "Agent",
            "Organisation",
            "Territory",
        ]
    }

    /// The records' states as of the batch (an agenda's agent is read when
    /// needed) and the endpoints it changes.
    async fn prefetch(&self, tx: &mut ProjectionTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        tx.prefetch(NAME, ENDPOINTS, ids_of(events, "WebhookEndpoint")).await?;
        let states = events
            .iter()
            .filter(|e| e.aggregate_type != "WebhookEndpoint")
            .map(|e| format!("{}:{}", e.aggregate_type, e.aggregate_id));
        Ok(tx.prefetch(NAME, STATES, states).await?)
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        let change = match event.aggregate_type.as_str() {
            "WebhookEndpoint" => return endpoint(&mut docs).await,
            "Rdv" => rdv(&mut docs).await?,
            "Usager" => usager(&mut docs).await?,
            "AgentAgenda" => agenda(&mut docs).await?,
            "Motif" => motif(&mut docs).await?,
            "Lieu" => lieu(&mut docs).await?,
            "Agent" => agent(&mut docs).await?,
            // Kept only for the names RDV payloads show.
            "Organisation" => fold::<Organisation>(&mut docs).await.map(|_| None)?,
            "Territory" => fold::<Territory>(&mut docs).await.map(|_| None)?,
            _ => None,
        };
        match change {
            Some(change) => announce(&mut docs, change).await,
            None => Ok(()),
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

/// A record change to announce: its model, what happened, the record as of
/// the event, and the organisations whose endpoints hear of it.
struct Change {
    model: WebhookModel,
    /// `Rdv`, `User`…: RDV Service Public's `meta.model`.
    model_name: &'static str,
    /// `created`, `updated`, `cancelled` (RDVs) or `destroyed`.
    kind: &'static str,
    record_key: String,
    record: Value,
    organisations: BTreeSet<Uuid>,
    /// RDV Service Public's `meta.webhook_reason`: `rgpd` when an usager
    /// is forgotten.
    reason: Option<&'static str>,
}

/// The aggregate before and after the event (the latter kept for the next),
/// and the event, decoded once.
async fn fold<A>(docs: &mut Documents<'_>) -> Result<(A, A, A::Event), ProjectionError>
where
    A: VersionedAggregate + Clone + Serialize + DeserializeOwned,
{
    let key = format!("{}:{}", A::TYPE, docs.event.aggregate_id);
    let event = Decoder::<A>::default().decode(docs.event)?;
    let before: A = docs.find(STATES, &key).await?.unwrap_or_default();
    let mut after = before.clone();
    after.apply(event.clone());
    docs.save(STATES, &key, None, &after).await?;
    Ok((before, after, event))
}

fn kind_of(created: bool) -> &'static str {
    if created { "created" } else { "updated" }
}

async fn rdv(docs: &mut Documents<'_>) -> Result<Option<Change>, ProjectionError> {
    let (_, after, event) = fold::<Rdv>(docs).await?;
    let kind = match event {
        RdvEvent::RdvBooked { .. } => "created",
        RdvEvent::RdvCancelled { .. } => "cancelled",
        RdvEvent::RdvStatusChanged { status, .. } if status.is_cancelled() => "cancelled",
        // The salle d'attente and reminders change nothing an SI sees.
        RdvEvent::UsagerArrived { .. } | RdvEvent::ReminderSent { .. } => return Ok(None),
        _ => "updated",
    };
    let state = after
        .0
        .ok_or_else(|| ProjectionError::event(docs.event, "an RDV event before RdvBooked"))?;
    Ok(Some(Change {
        model: WebhookModel::Rdv,
        model_name: "Rdv",
        kind,
        record_key: format!("Rdv:{}", docs.event.aggregate_id),
        record: rdv_record(docs, docs.aggregate_uuid()?, &state).await?,
        organisations: [state.booking.organisation_id.0].into(),
        reason: None,
    }))
}

async fn usager(docs: &mut Documents<'_>) -> Result<Option<Change>, ProjectionError> {
    let (before, after, event) = fold::<Usager>(docs).await?;
    let Some(u) = after.0 else { return Ok(None) };
    if let UsagerEvent::UsagerForgotten { .. } = event {
        // Bodies already queued or delivered lose the usager's fields here,
        // in feed order, before any later body could be written.
        docs.tx.erase_from_deliveries(&docs.event.aggregate_id).await?;
        return Ok(Some(Change {
            model: WebhookModel::User,
            model_name: "User",
            kind: "destroyed",
            record_key: format!("User:{}", docs.event.aggregate_id),
            record: json!({"id": docs.aggregate_uuid()?}),
            organisations: u.organisation_ids.iter().map(|o| o.0).collect(),
            reason: Some("rgpd"),
        }));
    }
    let p = &u.profile;
    Ok(Some(Change {
        model: WebhookModel::User,
        model_name: "User",
        kind: kind_of(before.0.is_none()),
        record_key: format!("User:{}", docs.event.aggregate_id),
        record: json!({
            "id": docs.aggregate_uuid()?, "first_name": p.first_name, "last_name": p.last_name, "email": p.email,
            "phone_number": p.phone, "birth_date": p.birth_date, "external_id": p.external_id,
            "notify_by_email": p.notifications.email, "notify_by_sms": p.notifications.sms,
            "responsible_id": p.responsible_id,
            "organisation_ids": u.organisation_ids,
        }),
        organisations: u.organisation_ids.iter().map(|o| o.0).collect(),
        reason: None,
    }))
}

async fn agenda(docs: &mut Documents<'_>) -> Result<Option<Change>, ProjectionError> {
    let (before, after, event) = fold::<AgentAgenda>(docs).await?;
    let agent_id = docs.aggregate_uuid()?;
    // Absences apply in every organisation of the agent.
    let agent: Agent = docs
        .find(STATES, &format!("Agent:{agent_id}"))
        .await?
        .unwrap_or_default();
    let agent_organisations: BTreeSet<Uuid> = agent.0.iter().flat_map(|a| a.memberships.keys().map(|o| o.0)).collect();
    let (model, model_name, kind, id, record, organisations) = match event {
        AgentAgendaEvent::PlageCreated { plage_id, .. }
        | AgentAgendaEvent::PlageUpdated { plage_id, .. }
        | AgentAgendaEvent::PlageDeleted { plage_id } => {
            let gone = !after.plages.contains_key(&plage_id);
            let Some(plage) = after.plages.get(&plage_id).or(before.plages.get(&plage_id)) else {
                return Ok(None);
            };
            let kind = if gone {
                "destroyed"
            } else {
                kind_of(!before.plages.contains_key(&plage_id))
            };
            let record = json!({"id": plage_id, "agent": {"id": agent_id}, "plage": plage});
            (
                WebhookModel::PlageOuverture,
                "PlageOuverture",
                kind,
                plage_id.0,
                record,
                [plage.organisation_id.0].into(),
            )
        }
        AgentAgendaEvent::AbsenceCreated { absence_id, .. }
        | AgentAgendaEvent::AbsenceUpdated { absence_id, .. }
        | AgentAgendaEvent::AbsenceDeleted { absence_id } => {
            let gone = !after.absences.contains_key(&absence_id);
            let Some(absence) = after.absences.get(&absence_id).or(before.absences.get(&absence_id)) else {
                return Ok(None);
            };
            let kind = if gone {
                "destroyed"
            } else {
                kind_of(!before.absences.contains_key(&absence_id))
            };
            let record = json!({"id": absence_id, "agent": {"id": agent_id}, "absence": absence});
            (
                WebhookModel::Absence,
                "Absence",
                kind,
                absence_id.0,
                record,
                agent_organisations,
            )
        }
        // Nothing changed for an SI: the plages and absences live on in history.
        AgentAgendaEvent::HistoryArchived { .. } => return Ok(None),
    };
    Ok(Some(Change {
        model,
        model_name,
        kind,
        record_key: format!("{model_name}:{id}"),
        record,
        organisations,
        reason: None,
    }))
}

async fn motif(docs: &mut Documents<'_>) -> Result<Option<Change>, ProjectionError> {
    let (before, after, _) = fold::<Motif>(docs).await?;
    let Some(m) = after.0 else { return Ok(None) };
    // Organisations where it was or is enabled hear of the change.
    let mut organisations: BTreeSet<Uuid> = m.config.organisation_ids.iter().map(|o| o.0).collect();
    organisations.extend(
        before
            .0
            .iter()
            .flat_map(|b| b.config.organisation_ids.iter().map(|o| o.0)),
    );
    Ok(Some(Change {
        model: WebhookModel::Motif,
        model_name: "Motif",
        kind: kind_of(before.0.is_none()),
        record_key: format!("Motif:{}", docs.event.aggregate_id),
        record: json!({"id": docs.aggregate_uuid()?, "archived": m.archived, "informations": m.config.informations,
                       "booking": m.config.booking, "organisation_ids": m.config.organisation_ids}),
        organisations,
        reason: None,
    }))
}

async fn lieu(docs: &mut Documents<'_>) -> Result<Option<Change>, ProjectionError> {
    let (before, after, _) = fold::<Lieu>(docs).await?;
    let Some(l) = after.0 else { return Ok(None) };
    Ok(Some(Change {
        model: WebhookModel::Lieu,
        model_name: "Lieu",
        kind: kind_of(before.0.is_none()),
        record_key: format!("Lieu:{}", docs.event.aggregate_id),
        record: json!({"id": docs.aggregate_uuid()?, "name": l.details.name, "address": l.details.address,
                       "phone_number": l.details.phone, "availability": l.availability,
                       "organisation": {"id": l.organisation_id}}),
        organisations: [l.organisation_id.0].into(),
        reason: None,
    }))
}

async fn agent(docs: &mut Documents<'_>) -> Result<Option<Change>, ProjectionError> {
    let (before, after, _) = fold::<Agent>(docs).await?;
    let Some(a) = after.0 else { return Ok(None) };
    let mut organisations: BTreeSet<Uuid> = a.memberships.keys().map(|o| o.0).collect();
    organisations.extend(before.0.iter().flat_map(|b| b.memberships.keys().map(|o| o.0)));
    Ok(Some(Change {
        model: WebhookModel::Agent,
        model_name: "Agent",
        kind: kind_of(before.0.is_none()),
        record_key: format!("Agent:{}", docs.event.aggregate_id),
        // Never its tokens.
        record: json!({"id": docs.aggregate_uuid()?, "email": a.email, "first_name": a.first_name,
                       "last_name": a.last_name, "services": a.services,
                       "roles": a.memberships.iter().map(|(o, m)| json!({"organisation": {"id": o}, "access_level": m.role}))
                           .collect::<Vec<_>>()}),
        organisations,
        reason: None,
    }))
}

/// Queues the change for every enabled endpoint of its organisations
/// subscribed to its model.
async fn announce(docs: &mut Documents<'_>, change: Change) -> Result<(), ProjectionError> {
    let mut targets: Vec<Target> = Vec::new();
    for organisation in &change.organisations {
        let found = docs
            .tx
            .list::<Value>(NAME, ENDPOINTS, &organisation.to_string())
            .await?;
        targets.extend(
            found
                .into_iter()
                .filter_map(|d| serde_json::from_value::<Target>(d).ok())
                .filter(|t| t.enabled && t.subscriptions.contains(&change.model)),
        );
    }
    if targets.is_empty() {
        return Ok(());
    }
    let event = docs.event;
    let ordering = json!({"event_id": event.metadata.event_id, "position": event.position, "version": event.sequence});
    let timestamp = event.metadata.occurred_at.to_rfc3339();
    let model = serde_json::to_value(change.model)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    for target in targets {
        let body = match target.format {
            // RDV Service Public sends a cancellation as an update.
            WebhookFormat::RdvServicePublic => json!({
                "data": change.record,
                "meta": {"model": change.model_name, "event": if change.kind == "cancelled" { "updated" } else { change.kind },
                         "webhook_reason": change.reason, "timestamp": timestamp,
                         "event_id": ordering["event_id"], "position": ordering["position"], "version": ordering["version"]},
            }),
            WebhookFormat::StandardWebhooks => {
                let mut data = change.record.clone();
                data["ordering"] = ordering.clone();
                if let Some(reason) = change.reason {
                    data["webhook_reason"] = json!(reason);
                }
                json!({"type": format!("{model}.{}", change.kind), "timestamp": timestamp, "data": data})
            }
        };
        let delivery = NewDelivery {
            id: format!("msg_{}{}", event.metadata.event_id.simple(), target.id.simple()),
            endpoint_id: target.id.to_string(),
            record: change.record_key.clone(),
            position: event.position,
            event_type: format!("{model}.{}", change.kind),
            body: body.to_string(),
            created_at_ms: event.metadata.occurred_at.timestamp_millis(),
        };
        docs.tx.enqueue_delivery(&delivery).await?;
    }
    Ok(())
}

/// A record this projector keeps, as of the event being dispatched.
async fn kept<A: DeserializeOwned + Default>(
    docs: &mut Documents<'_>,
    aggregate_type: &str,
    id: impl std::fmt::Display,
) -> Result<A, ProjectionError> {
    Ok(docs
        .find(STATES, &format!("{aggregate_type}:{id}"))
        .await?
        .unwrap_or_default())
}

/// The RDV as RDV Service Public's webhooks show it, with the organisation,
/// motif, lieu, agents and usagers it refers to as they stood at the event;
/// the internal Contexte only while the espace shows that field.
async fn rdv_record(docs: &mut Documents<'_>, id: Uuid, state: &RdvState) -> Result<Value, ProjectionError> {
    let b = &state.booking;
    let organisation: Organisation = kept(docs, "Organisation", b.organisation_id).await?;
    let context_shown = match &organisation.0 {
        Some(o) => kept::<Territory>(docs, "Territory", o.territory_id)
            .await?
            .0
            .is_some_and(|t| t.settings.rdv_fields.context_enabled),
        None => false,
    };
    let motif: Motif = kept(docs, "Motif", b.motif_id).await?;
    let lieu = match b.lieu_id {
        Some(lieu_id) => kept::<Lieu>(docs, "Lieu", lieu_id).await?.0.map(|l| {
            json!({"id": lieu_id, "name": l.details.name, "address": l.details.address, "phone_number": l.details.phone})
        }),
        None => None,
    };
    let mut agents = Vec::new();
    for agent_id in &b.agent_ids {
        let agent: Agent = kept(docs, "Agent", agent_id).await?;
        agents.push(agent.0.map_or(
            json!({"id": agent_id}),
            |a| json!({"id": agent_id, "first_name": a.first_name, "last_name": a.last_name, "email": a.email}),
        ));
    }
    let mut users = Vec::new();
    for usager_id in &b.usager_ids {
        let usager: Usager = kept(docs, "Usager", usager_id).await?;
        users.push(usager.0.map_or(json!({"id": usager_id}), |u| {
            let p = u.profile;
            json!({"id": usager_id, "first_name": p.first_name, "last_name": p.last_name, "email": p.email,
                   "phone_number": p.phone, "birth_date": p.birth_date, "external_id": p.external_id})
        }));
    }
    Ok(json!({
        "id": id,
        "starts_at": b.starts_at,
        "ends_at": b.ends_at,
        "duration_in_min": (b.ends_at - b.starts_at).num_minutes(),
        "status": state.status,
        "cancelled_at": state.cancelled_at,
        "collectif": state.is_collective(),
        "name": b.collective.as_ref().and_then(|a| a.name.clone()),
        "max_participants_count": b.collective.as_ref().and_then(|a| a.max_participants),
        "users_count": state.active_participants().len(),
        "organisation": organisation.0.map_or(json!({"id": b.organisation_id}), |o| {
            json!({"id": b.organisation_id, "name": o.details.name, "phone_number": o.details.phone,
                   "email": o.details.email})
        }),
        "motif": motif.0.map_or(json!({"id": b.motif_id}), |m| {
            let i = m.config.informations;
            json!({"id": b.motif_id, "name": i.name, "location_type": i.location_type, "collectif": i.collective,
                   "service": i.service, "default_duration_in_min": i.default_duration_in_min})
        }),
        "lieu": lieu,
        "agents": agents,
        "users": users,
        "participations": state.participations.iter()
            .map(|(u, p)| json!({"user": {"id": u}, "status": p.status}))
            .collect::<Vec<_>>(),
        "created_by": b.created_by,
        "context": b.context.as_ref().filter(|_| context_shown),
    }))
}
