//! The availability index: every plage, absence and reserved time in memory,
//! kept up to date from the global feed by each process that searches slots.
//! A search then reads no document and touches only the agents and days it
//! covers: plages by organisation, absences by agent, reserved time by agent
//! in start order (a range scan). It holds what the `availability` documents
//! hold and is folded by the same [`AvailabilityChange`], from position 0 at
//! start, so it answers the same after any restart or rebuild.

use crate::{
    ProjectionError,
    availability::{AbsenceView, AvailabilityChange, PlageView},
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rdv_domain::availability::slots::Interval;
use rdv_eventstore::EventStore;
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, RwLock},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Reserved time starting this long before a range may still overlap it (an
/// RDV longer than this is clipped from searches that begin inside it).
const LONGEST_RDV: Duration = Duration::days(1);

/// One agent's reserved time: (start, rdv) → end, in start order.
type Reservations = BTreeMap<(DateTime<Utc>, Uuid), DateTime<Utc>>;

/// The calendars, as the last applied event left them.
#[derive(Default)]
pub struct Calendars {
    /// Plages by organisation, then id.
    plages: HashMap<Uuid, BTreeMap<Uuid, PlageView>>,
    /// The organisation of each plage (a plage may move).
    plage_organisation: HashMap<Uuid, Uuid>,
    /// Absences by agent, then id.
    absences: HashMap<Uuid, BTreeMap<Uuid, AbsenceView>>,
    absence_agent: HashMap<Uuid, Uuid>,
    /// Reserved time by agent: (start, rdv) → end.
    reserved: HashMap<Uuid, Reservations>,
    /// The start of each reservation, by (rdv, agent), to release it.
    reservation_start: HashMap<(Uuid, Uuid), DateTime<Utc>>,
}

impl Calendars {
    pub fn apply(&mut self, change: AvailabilityChange) {
        match change {
            AvailabilityChange::PlageSaved(view) => {
                let organisation = view.plage.organisation_id.0;
                self.remove_plage(view.id);
                self.plage_organisation.insert(view.id, organisation);
                self.plages.entry(organisation).or_default().insert(view.id, view);
            }
            AvailabilityChange::PlageDeleted(id) => self.remove_plage(id),
            AvailabilityChange::AbsenceSaved(view) => {
                self.absence_agent.insert(view.id, view.agent_id);
                self.absences.entry(view.agent_id).or_default().insert(view.id, view);
            }
            AvailabilityChange::AbsenceDeleted(id) => {
                if let Some(agent) = self.absence_agent.remove(&id) {
                    self.absences.entry(agent).or_default().remove(&id);
                }
            }
            AvailabilityChange::TimeReserved { agent_id, busy } => {
                self.release(agent_id, busy.rdv_id);
                self.reservation_start.insert((busy.rdv_id, agent_id), busy.starts_at);
                self.reserved
                    .entry(agent_id)
                    .or_default()
                    .insert((busy.starts_at, busy.rdv_id), busy.ends_at);
            }
            AvailabilityChange::TimeReleased { agent_id, rdv_id } => self.release(agent_id, rdv_id),
        }
    }

    fn remove_plage(&mut self, id: Uuid) {
        if let Some(organisation) = self.plage_organisation.remove(&id) {
            self.plages.entry(organisation).or_default().remove(&id);
        }
    }

    fn release(&mut self, agent: Uuid, rdv: Uuid) {
        if let Some(start) = self.reservation_start.remove(&(rdv, agent)) {
            self.reserved.entry(agent).or_default().remove(&(start, rdv));
        }
    }

    /// The plages of an organisation.
    pub fn plages(&self, organisation: Uuid) -> impl Iterator<Item = &PlageView> {
        self.plages.get(&organisation).into_iter().flat_map(|p| p.values())
    }

    /// The occurrences over local days `from..=to` of the agent's absences
    /// that block this organisation's plages.
    pub fn absences(
        &self,
        agent: Uuid,
        organisation: Uuid,
        from: NaiveDate,
        to: NaiveDate,
    ) -> impl Iterator<Item = Interval> + '_ {
        self.absences
            .get(&agent)
            .into_iter()
            .flat_map(|a| a.values())
            .filter(move |a| a.absence.blocks(rdv_domain::ids::OrganisationId(organisation)))
            .flat_map(move |a| a.absence.occurrences(from, to))
    }

    /// The agent's reserved time overlapping `[from, to)`.
    pub fn reserved(&self, agent: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = Interval> + '_ {
        self.reserved
            .get(&agent)
            .into_iter()
            .flat_map(move |r| r.range((from - LONGEST_RDV, Uuid::nil())..(to, Uuid::nil())))
            .map(|((start, _), end)| Interval::new(*start, *end))
            .filter(move |i| i.end > from)
    }

    /// How many reservations the agent has starting in `[from, to)`.
    pub fn reservations_between(&self, agent: Uuid, from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
        self.reserved
            .get(&agent)
            .map_or(0, |r| r.range((from, Uuid::nil())..(to, Uuid::nil())).count())
    }
}

/// The index and the feed position it has applied.
pub struct AvailabilityIndex {
    calendars: RwLock<Calendars>,
    position: watch::Sender<i64>,
    /// Set when applying an event failed: the index stops there.
    failed: watch::Sender<Option<String>>,
    /// Asks the follower to read the feed now (a reader waits for a position).
    wanted: tokio::sync::Notify,
}

impl Default for AvailabilityIndex {
    fn default() -> Self {
        Self {
            calendars: RwLock::default(),
            position: watch::Sender::new(0),
            failed: watch::Sender::new(None),
            wanted: tokio::sync::Notify::new(),
        }
    }
}

impl AvailabilityIndex {
    /// Reads the calendars (under a read lock: keep `f` short and sync).
    pub fn read<R>(&self, f: impl FnOnce(&Calendars) -> R) -> R {
        f(&self.calendars.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The position applied so far.
    pub fn position(&self) -> watch::Receiver<i64> {
        self.position.subscribe()
    }

    /// Asks the follower for a catch-up now rather than at its next poll:
    /// what a reader waiting for its own write does.
    pub fn hurry(&self) {
        self.wanted.notify_one();
    }

    /// Why the index stopped, if it did.
    pub fn failure(&self) -> Option<String> {
        self.failed.borrow().clone()
    }

    /// Applies the feed after the current position; returns the new one.
    /// Only plage, absence and reservation streams are read.
    pub async fn catch_up(&self, store: &EventStore) -> Result<i64, ProjectionError> {
        let mut position = *self.position.borrow();
        loop {
            let (events, scanned) = store
                .read_feed_of(position, 2000, AvailabilityChange::AGGREGATES)
                .await?;
            if scanned == position {
                return Ok(position);
            }
            let mut changes = Vec::new();
            for event in &events {
                changes.extend(AvailabilityChange::of(event)?);
            }
            let mut calendars = self.calendars.write().unwrap_or_else(|e| e.into_inner());
            changes.into_iter().for_each(|c| calendars.apply(c));
            drop(calendars);
            position = scanned;
            self.position.send_replace(position);
        }
    }

    /// Follows the feed until `shutdown`: shortly after this process's
    /// appends (gathering a burst into one read), every [`POLL`] for other
    /// processes', and at once when a reader waits for a position
    /// ([`Self::hurry`]). An index a few milliseconds behind only offers a
    /// slot that was just taken, which the booking's own check then refuses.
    /// An event it cannot read stops it (the failure is reported; searches
    /// waiting for it then answer 503).
    pub async fn follow(self: Arc<Self>, store: EventStore, shutdown: CancellationToken) {
        let mut appended = store.subscribe();
        loop {
            if let Err(error) = self.catch_up(&store).await {
                if matches!(error, ProjectionError::Store(_)) {
                    tracing::warn!(%error, "availability index could not read the feed");
                } else {
                    tracing::error!(%error, "availability index stopped");
                    self.failed.send_replace(Some(error.to_string()));
                    return;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wanted.notified() => {}
                // This process's appends: read them soon, a burst at a time.
                _ = appended.changed() => tokio::time::sleep(GATHER).await,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// How often the follower reads the feed for other processes' appends.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// After an append of this process, how long the follower lets others gather
/// before reading them in one go.
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(rdv: Uuid, start: &str, minutes: i64) -> AvailabilityChange {
        let starts_at: DateTime<Utc> = start.parse().unwrap();
        AvailabilityChange::TimeReserved {
            agent_id: Uuid::nil(),
            busy: crate::availability::BusyView {
                rdv_id: rdv,
                starts_at,
                ends_at: starts_at + Duration::minutes(minutes),
            },
        }
    }

    #[test]
    fn reserved_time_is_found_by_range_and_released() {
        let mut c = Calendars::default();
        let (a, b, d) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        c.apply(busy(a, "2026-01-12T08:30:00Z", 60));
        c.apply(busy(b, "2026-01-12T10:00:00Z", 30));
        c.apply(busy(d, "2026-01-13T10:00:00Z", 30));
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let found: Vec<_> = c
            .reserved(Uuid::nil(), t("2026-01-12T09:00:00Z"), t("2026-01-13T00:00:00Z"))
            .map(|i| i.start)
            .collect();
        assert_eq!(found, [t("2026-01-12T08:30:00Z"), t("2026-01-12T10:00:00Z")]);
        assert_eq!(
            c.reservations_between(Uuid::nil(), t("2026-01-12T00:00:00Z"), t("2026-01-13T00:00:00Z")),
            2
        );
        // A moved reservation replaces the old one; a released one is gone.
        c.apply(busy(a, "2026-01-12T14:00:00Z", 60));
        c.apply(AvailabilityChange::TimeReleased {
            agent_id: Uuid::nil(),
            rdv_id: b,
        });
        let found: Vec<_> = c
            .reserved(Uuid::nil(), t("2026-01-12T00:00:00Z"), t("2026-01-13T00:00:00Z"))
            .map(|i| i.start)
            .collect();
        assert_eq!(found, [t("2026-01-12T14:00:00Z")]);
    }
}
