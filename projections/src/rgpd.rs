//! Data protection (RGPD): erasing what a forgotten usager leaves outside
//! the events, and the retention queue of usagers by last activity.
//!
//! On `UsagerForgotten` this projector destroys the usager's data key and
//! removes the messages sent to them and their fields in saved answers
//! ([`ProjectionTx::forget_subject`]), in the transaction of its checkpoint:
//! a crash before the commit leaves the work to the restart, so the key is
//! always destroyed in the end. (Webhook bodies are the dispatch
//! projector's, read models each projection's own.)
//!
//! An usager's activity is anything about them: their own record, an RDV
//! they take part in (its start counts too, so an RDV booked far ahead
//! keeps them), their follow-ups. The queue orders usagers by the last of
//! it, so the retention job reads only those past the limit.

use crate::{
    documents::{Documents, ids_of},
    projector::{Projection, ProjectionError},
};
use chrono::{DateTime, SecondsFormat, Utc};
use rdv_domain::{
    follow_up::{FollowUp, FollowUpEvent},
    ids::UsagerId,
    rdv::{Rdv, RdvEvent},
    usager::{Usager, UsagerEvent},
};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub const NAME: &str = "rgpd";
/// Usagers by last activity: ids `{instant}:{usager id}`, so those
/// inactive since an instant are the range of ids below it. No parent:
/// the range is read on the key's index, and a parent cost each entry a
/// second index entry (one per usager activity over a rebuild).
pub const RETENTION_QUEUE: &str = "retention_queue";
/// Each usager's last activity, by usager id.
const ACTIVITY: &str = "activity";
/// The usagers of each RDV and its start, by RDV id.
const RDV_USAGERS: &str = "rdv_usagers";
/// The usager of each follow-up, by follow-up id.
const FOLLOW_UP_USAGER: &str = "follow_up_usager";

/// An entry of the retention queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inactive {
    pub usager_id: UsagerId,
    pub last_activity_at: DateTime<Utc>,
}

/// An usager's last activity; once forgotten, nothing brings them back
/// into the queue.
#[derive(Debug, Serialize, Deserialize)]
struct Activity {
    last_activity_at: DateTime<Utc>,
    forgotten: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RdvUsagers {
    usager_ids: BTreeSet<UsagerId>,
    starts_at: Option<DateTime<Utc>>,
}

/// An instant as queue ids begin with it: fixed width, so ids sort as text
/// in time order and every id of an earlier instant sorts below it.
pub fn queue_instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The queue id of an usager active last at `at`.
pub fn queue_id(at: DateTime<Utc>, usager_id: UsagerId) -> String {
    format!("{}:{usager_id}", queue_instant(at))
}

pub struct Rgpd;

#[async_trait::async_trait]
impl Projection for Rgpd {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        &["Usager", "Rdv", "FollowUp"]
    }

    /// Two rounds: the RDVs' and follow-ups' usagers, then every usager's
    /// activity.
    async fn prefetch(&self, tx: &mut ProjectionTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        tx.prefetch(NAME, RDV_USAGERS, ids_of(events, "Rdv")).await?;
        tx.prefetch(NAME, FOLLOW_UP_USAGER, ids_of(events, "FollowUp")).await?;
        let mut usagers: Vec<String> = ids_of(events, "Usager").collect();
        for event in events {
            match (event.aggregate_type.as_str(), event.event_type.as_str()) {
                ("FollowUp", "FollowUpOpened") => {
                    if let FollowUpEvent::FollowUpOpened { usager_id, .. } =
                        Decoder::<FollowUp>::default().decode(event)?
                    {
                        usagers.push(usager_id.to_string());
                    }
                }
                ("FollowUp", _) => {
                    if let Some(usager_id) = tx.get::<String>(NAME, FOLLOW_UP_USAGER, &event.aggregate_id).await? {
                        usagers.push(usager_id);
                    }
                }
                ("Rdv", "RdvBooked") => {
                    if let RdvEvent::RdvBooked { booking } = Decoder::<Rdv>::default().decode(event)? {
                        usagers.extend(booking.usager_ids.iter().map(|u| u.to_string()));
                    }
                }
                ("Rdv", _) => {
                    if let Some(rdv) = tx.get::<RdvUsagers>(NAME, RDV_USAGERS, &event.aggregate_id).await? {
                        usagers.extend(rdv.usager_ids.iter().map(|u| u.to_string()));
                    }
                }
                _ => {}
            }
        }
        Ok(tx.prefetch(NAME, ACTIVITY, usagers).await?)
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        let at = event.metadata.occurred_at;
        match event.aggregate_type.as_str() {
            "Usager" => {
                let usager_id = UsagerId(docs.aggregate_uuid()?);
                match Decoder::<Usager>::default().decode(event)? {
                    UsagerEvent::UsagerForgotten { at, .. } => {
                        let key = usager_id.to_string();
                        let last = docs.find::<Activity>(ACTIVITY, &key).await?;
                        if let Some(last) = &last {
                            docs.delete(RETENTION_QUEUE, &queue_id(last.last_activity_at, usager_id))
                                .await?;
                        }
                        let forgotten = Activity {
                            last_activity_at: last.map_or(at, |l| l.last_activity_at),
                            forgotten: true,
                        };
                        docs.save(ACTIVITY, &key, None, &forgotten).await?;
                        docs.tx
                            .forget_subject(&event.aggregate_id, at.timestamp_millis())
                            .await?;
                    }
                    _ => touch(&mut docs, usager_id, at).await?,
                }
            }
            "Rdv" => {
                let id = event.aggregate_id.clone();
                let mut rdv: RdvUsagers = docs.find(RDV_USAGERS, &id).await?.unwrap_or_default();
                match Decoder::<Rdv>::default().decode(event)? {
                    RdvEvent::RdvBooked { booking } => {
                        rdv.usager_ids = booking.usager_ids.iter().copied().collect();
                        rdv.starts_at = Some(booking.starts_at);
                    }
                    RdvEvent::RdvRescheduled { starts_at, .. } => rdv.starts_at = Some(starts_at),
                    RdvEvent::ParticipantAdded { usager_id, .. } => {
                        rdv.usager_ids.insert(usager_id);
                    }
                    _ => {}
                }
                let last = rdv.starts_at.map_or(at, |start| start.max(at));
                for usager_id in &rdv.usager_ids {
                    touch(&mut docs, *usager_id, last).await?;
                }
                docs.save(RDV_USAGERS, &id, None, &rdv).await?;
            }
            "FollowUp" => {
                let id = event.aggregate_id.clone();
                let usager_id = match Decoder::<FollowUp>::default().decode(event)? {
                    FollowUpEvent::FollowUpOpened { usager_id, .. } => {
                        docs.save(FOLLOW_UP_USAGER, &id, None, &usager_id).await?;
                        usager_id
                    }
                    _ => docs.load(FOLLOW_UP_USAGER, &id).await?,
                };
                touch(&mut docs, usager_id, at).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Moves the usager's place in the queue to `at` when it is later than
/// their last activity; a forgotten usager stays out of it.
async fn touch(docs: &mut Documents<'_>, usager_id: UsagerId, at: DateTime<Utc>) -> Result<(), ProjectionError> {
    let key = usager_id.to_string();
    if let Some(previous) = docs.find::<Activity>(ACTIVITY, &key).await? {
        if previous.forgotten || previous.last_activity_at >= at {
            return Ok(());
        }
        docs.delete(RETENTION_QUEUE, &queue_id(previous.last_activity_at, usager_id))
            .await?;
    }
    let activity = Activity {
        last_activity_at: at,
        forgotten: false,
    };
    docs.save(ACTIVITY, &key, None, &activity).await?;
    let entry = Inactive {
        usager_id,
        last_activity_at: at,
    };
    docs.save(RETENTION_QUEUE, &queue_id(at, usager_id), None, &entry).await
}
