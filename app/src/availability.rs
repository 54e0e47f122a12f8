//! Slot search over the availability projection: the openings of an
//! organisation's plages for a motif, minus each agent's absences (in every
//! organisation) and the territory's public holidays, cut by the engine.

use crate::{context::Context, error::Error};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use rdv_domain::{
    DomainError, FieldError,
    availability::{
        holidays::is_public_holiday,
        recurrence::local_instant,
        slots::{self, Interval, Opening, Slot},
    },
    ids::{AgentId, LieuId, MotifId, OrganisationId},
    motif::{BookableBy, Motif, MotifState, Visibility},
    organisation::{Organisation, OrganisationState},
    territory::Territory,
    values::TimeZone,
};
use rdv_projections::availability_index::Calendars;
use std::collections::HashMap;

/// The longest range one search may cover (about six months).
pub const MAX_RANGE_DAYS: i64 = 183;

/// Checks a range of local days: `from ≤ to`, at most [`MAX_RANGE_DAYS`].
pub fn check_range(from: NaiveDate, to: NaiveDate) -> Result<(), Error> {
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

/// What one search looks for: an organisation's motif, over local days.
/// Who searches or books through the public pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicCaller {
    Usager,
    /// A professional booking for an usager.
    Prescripteur,
    /// An usager holding a valid invitation of this category.
    Invited {
        category: String,
    },
}

pub struct SlotSearch {
    pub organisation_id: OrganisationId,
    pub organisation: OrganisationState,
    departement: String,
    /// The espace's own closed days.
    closed_days: std::collections::BTreeSet<NaiveDate>,
    pub motif_id: MotifId,
    pub motif: MotifState,
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

impl SlotSearch {
    /// Loads the organisation (404), lets `authorize` check the caller, loads
    /// the motif (422 unless enabled there and not archived) and waits for
    /// the availability projection to reach `min_position`. The range starts
    /// today (local) for a week; callers narrow it.
    pub async fn prepare(
        state: &Context,
        organisation_path: &str,
        authorize: impl FnOnce(OrganisationId, &OrganisationState) -> Result<(), Error>,
        motif_id: MotifId,
        min_position: Option<i64>,
    ) -> Result<Self, Error> {
        let organisation_id: OrganisationId = organisation_path
            .parse()
            .map_err(|_| Error::not_found("organisation"))?;
        let organisation = state
            .load::<Organisation>(organisation_path)
            .await?
            .0
            .ok_or_else(|| Error::not_found("organisation"))?;
        authorize(organisation_id, &organisation)?;
        let motif = match state.load::<Motif>(&motif_id.to_string()).await?.0 {
            Some(m) if !m.archived && m.config.organisation_ids.contains(&organisation_id) => m,
            _ => return Err(DomainError::invalid("motif_id", "no such motif enabled in this organisation").into()),
        };
        let territory = state.load::<Territory>(&organisation.territory_id.to_string()).await?;
        let departement = territory.state()?.departement_number.as_str().to_string();
        let closed_days = territory.state()?.settings.closed_days.clone();
        state.wait_for_availability(min_position).await?;
        let now = state.services().now();
        let today = now.with_timezone(&organisation.timezone.0).date_naive();
        Ok(Self {
            organisation_id,
            organisation,
            departement,
            closed_days,
            motif_id,
            motif,
            lieu_id: None,
            agent_id: None,
            from: today,
            to: today + Duration::days(6),
            earliest: now,
            latest: None,
        })
    }

    /// Sets the local days searched (defaults: from as it is, to six days
    /// later), checking the range.
    pub fn days(mut self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Self, Error> {
        self.from = from.unwrap_or(self.from);
        self.to = to.unwrap_or(self.from + Duration::days(6));
        check_range(self.from, self.to)?;
        Ok(self)
    }

    pub fn zone(&self) -> Tz {
        self.organisation.timezone.0
    }

    /// Refuses a motif this public caller may not book online: usagers
    /// without an invitation book only `everyone` motifs, prescripteurs also
    /// those naming prescripteurs, invited usagers also those open to invited
    /// usagers in their invitation's category; invisible motifs never (RDV
    /// Service Public's `bookable_by` and visibility).
    pub fn check_public(&self, caller: &PublicCaller) -> Result<(), Error> {
        let (bookable_by, info) = (self.motif.config.booking.bookable_by, &self.motif.config.informations);
        let allowed = match caller {
            PublicCaller::Usager => bookable_by == BookableBy::Everyone,
            PublicCaller::Prescripteur => bookable_by.by_prescripteurs(),
            PublicCaller::Invited { category } => {
                bookable_by == BookableBy::Everyone
                    || (bookable_by.is_public() && info.category.as_deref() == Some(category.as_str()))
            }
        };
        if !allowed || info.visibility == Visibility::Invisible {
            let who = match caller {
                PublicCaller::Usager => "online without an invitation",
                PublicCaller::Prescripteur => "by prescripteurs",
                PublicCaller::Invited { .. } => "with this invitation",
            };
            return Err(DomainError::invalid("motif_id", format!("this motif is not bookable {who}")).into());
        }
        Ok(())
    }

    /// Narrows the search to the motif's booking window from `now`: starts
    /// in [now + min delay, now + max delay].
    pub fn public_window(&mut self, now: DateTime<Utc>) {
        let rules = &self.motif.config.booking;
        self.earliest = now + Duration::minutes(rules.min_booking_delay_in_min.into());
        self.latest = Some(now + Duration::minutes(rules.max_booking_delay_in_min.into()));
    }

    /// A local day as instants: its midnight and the next.
    pub fn day_bounds(&self, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let zone = self.organisation.timezone;
        (midnight(zone, day), midnight(zone, day + Duration::days(1)))
    }
}

fn midnight(zone: TimeZone, day: NaiveDate) -> DateTime<Utc> {
    local_instant(zone, day, NaiveTime::MIN)
}

/// The slots of a search, sorted, one per (start, agent), from the
/// in-memory availability index.
pub async fn search(state: &Context, q: &SlotSearch) -> Result<Vec<Slot>, Error> {
    let now = state.services().now();
    Ok(state.availability.read(|calendars| search_in(calendars, q, now)))
}

/// The slots of a search in given calendars (the index's, or calendars
/// folded from the feed by a benchmark's naive rescan).
pub fn search_in(calendars: &Calendars, q: &SlotSearch, now: DateTime<Utc>) -> Vec<Slot> {
    let zone = q.organisation.timezone;
    let holidays: Vec<Interval> = q
        .from
        .iter_days()
        .take_while(|d| *d <= q.to)
        .filter(|d| is_public_holiday(*d, &q.departement) || q.closed_days.contains(d))
        .map(|d| Interval::new(midnight(zone, d), midnight(zone, d + Duration::days(1))))
        .collect();
    let (range_start, range_end) = (midnight(zone, q.from), midnight(zone, q.to + Duration::days(1)));
    let (openings, busy) = {
        let mut openings = Vec::new();
        let mut busy: HashMap<AgentId, Vec<Interval>> = HashMap::new();
        for view in calendars.plages(q.organisation_id.0) {
            let agent = AgentId(view.agent_id);
            if !view.plage.motif_ids.contains(&q.motif_id)
                || q.lieu_id.is_some_and(|l| view.plage.lieu_id != Some(l))
                || q.agent_id.is_some_and(|a| a != agent)
            {
                continue;
            }
            for interval in view.plage.occurrences(q.from, q.to) {
                openings.push(Opening {
                    agent,
                    lieu: view.plage.lieu_id,
                    interval,
                });
            }
            busy.entry(agent).or_insert_with(|| {
                let mut times = holidays.clone();
                times.extend(calendars.absences(agent.0, q.organisation_id.0, q.from, q.to));
                times.extend(calendars.reserved(agent.0, range_start, range_end));
                times
            });
        }
        (openings, busy)
    };
    let duration = Duration::minutes(q.motif.config.informations.default_duration_in_min.into());
    let from = midnight(zone, q.from).max(q.earliest);
    let mut to = midnight(zone, q.to + Duration::days(1));
    if let Some(latest) = q.latest {
        to = to.min(latest + Duration::seconds(1));
    }
    slots::search(&openings, &busy, duration, now, from, to)
}
