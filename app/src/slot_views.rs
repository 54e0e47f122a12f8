//! How a slot reads to its callers: in the organisation's zone, with the
//! atelier to sign up to for a collective motif. Searches
//! ([`crate::availability`]) make them; [`crate::Error::SlotTaken`] carries
//! them.

use chrono_tz::Tz;
use rdv_domain::availability::slots::Slot;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A bookable slot, in the organisation's zone.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotView {
    /// RFC 3339 with the local offset, e.g. `2026-01-05T09:00:00+01:00`.
    pub starts_at: String,
    pub ends_at: String,
    /// IANA zone of the offsets.
    pub timezone: String,
    pub agent_id: Uuid,
    pub lieu_id: Option<Uuid>,
    /// For a collective motif, the atelier to sign up to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub atelier: Option<AtelierSlot>,
}

/// An open atelier as a slot: sign up with
/// `POST /v1/public/rdvs/{rdv_id}/participants`.
#[derive(Debug, Serialize, ToSchema)]
pub struct AtelierSlot {
    pub rdv_id: Uuid,
    pub name: Option<String>,
    /// None: unlimited.
    pub seats_left: Option<i64>,
}

impl SlotView {
    pub fn new(slot: &Slot, zone: Tz) -> Self {
        Self {
            starts_at: slot.starts_at.with_timezone(&zone).to_rfc3339(),
            ends_at: slot.ends_at.with_timezone(&zone).to_rfc3339(),
            timezone: zone.name().to_string(),
            agent_id: slot.agent.0,
            lieu_id: slot.lieu.map(|l| l.0),
            atelier: None,
        }
    }
}
