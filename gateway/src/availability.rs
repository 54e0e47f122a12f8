//! Slot search over the availability projection: the openings of an
//! organisation's plages for a motif, minus each agent's absences (in every
//! organisation) and the territory's public holidays, cut by the engine.

use crate::{error::ApiError, state::AppState};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use rdv_domain::{
    DomainError, FieldError,
    availability::{
        holidays::is_public_holiday,
        recurrence::local_instant,
        slots::{self, Interval, Opening, Slot},
    },
    ids::{AgentId, LieuId, MotifId},
    motif::MotifState,
    organisation::OrganisationState,
    values::TimeZone,
};
use rdv_projections::availability::{self, AbsenceView, PlageView};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

/// The longest range one search may cover (about six months).
pub const MAX_RANGE_DAYS: i64 = 183;

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
}

impl SlotView {
    pub fn new(slot: &Slot, zone: Tz) -> Self {
        Self {
            starts_at: slot.starts_at.with_timezone(&zone).to_rfc3339(),
            ends_at: slot.ends_at.with_timezone(&zone).to_rfc3339(),
            timezone: zone.name().to_string(),
            agent_id: slot.agent.0,
            lieu_id: slot.lieu.map(|l| l.0),
        }
    }
}

/// Checks a range of local days: `from ≤ to`, at most [`MAX_RANGE_DAYS`].
pub fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), ApiError> {
    if to < from {
        return Err(DomainError::invalid("to", "must not be before from").into());
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(
            DomainError::invalid_fields(vec![FieldError::new("to", "a search covers at most six months")]).into(),
        );
    }
    Ok(())
}

/// What one search looks for.
pub struct SlotSearch<'a> {
    pub organisation_id: &'a str,
    pub organisation: &'a OrganisationState,
    pub departement: &'a str,
    pub motif_id: MotifId,
    pub motif: &'a MotifState,
    pub lieu_id: Option<LieuId>,
    pub agent_id: Option<AgentId>,
    /// Local days, inclusive.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Starts before this instant are not offered (now, or now + min delay).
    pub earliest: DateTime<Utc>,
    /// Starts after this instant are not offered (the max delay).
    pub latest: Option<DateTime<Utc>>,
}

fn midnight(zone: TimeZone, day: NaiveDate) -> DateTime<Utc> {
    local_instant(zone, day, NaiveTime::MIN)
}

/// The slots of a search, sorted, one per (start, agent).
pub async fn search(state: &AppState, q: &SlotSearch<'_>, now: DateTime<Utc>) -> Result<Vec<Slot>, ApiError> {
    let zone = q.organisation.timezone;
    let docs = state
        .store
        .docs(availability::NAME, availability::PLAGES, q.organisation_id)
        .await?;
    let plages: Vec<PlageView> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value(d).ok())
        .collect();
    let mut openings = Vec::new();
    let mut agents = BTreeSet::new();
    for view in &plages {
        let agent = AgentId(view.agent_id);
        if !view.plage.motif_ids.contains(&q.motif_id)
            || q.lieu_id.is_some_and(|l| view.plage.lieu_id != Some(l))
            || q.agent_id.is_some_and(|a| a != agent)
        {
            continue;
        }
        agents.insert(agent);
        for interval in view.plage.occurrences(q.from, q.to) {
            openings.push(Opening {
                agent,
                lieu: view.plage.lieu_id,
                interval,
            });
        }
    }
    let holidays: Vec<Interval> = q
        .from
        .iter_days()
        .take_while(|d| *d <= q.to)
        .filter(|d| is_public_holiday(*d, q.departement))
        .map(|d| Interval::new(midnight(zone, d), midnight(zone, d + Duration::days(1))))
        .collect();
    let mut busy: HashMap<AgentId, Vec<Interval>> = HashMap::new();
    for agent in agents {
        let docs = state
            .store
            .docs(availability::NAME, availability::ABSENCES, &agent.to_string())
            .await?;
        let mut times = holidays.clone();
        for absence in docs
            .into_iter()
            .filter_map(|d| serde_json::from_value::<AbsenceView>(d).ok())
        {
            times.extend(absence.absence.occurrences(q.from, q.to));
        }
        busy.insert(agent, times);
    }
    let duration = Duration::minutes(q.motif.config.informations.default_duration_in_min.into());
    let from = midnight(zone, q.from).max(q.earliest);
    let mut to = midnight(zone, q.to + Duration::days(1));
    if let Some(latest) = q.latest {
        to = to.min(latest + Duration::seconds(1));
    }
    Ok(slots::search(&openings, &busy, duration, now, from, to))
}
