//! An agent's agenda: plages d'ouverture (when and where the agent receives,
//! for which motifs) and absences (which apply in all the agent's
//! organisations). Times are local wall-clock times in the organisation's
//! zone; see [`crate::availability::recurrence`] for the DST rule.

#[cfg(test)]
mod tests;

use crate::{
    DomainError, FieldError, Services, VersionedAggregate,
    availability::{
        recurrence::{Recurrence, local_instant},
        slots::Interval,
    },
    ids::{AbsenceId, LieuId, MotifId, OrganisationId, PlageId},
    values::{TimeZone, check_horizon},
};
use chrono::{Duration, NaiveDate, NaiveTime};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// The checks plages and absences share (a realistic first day, a valid
/// recurrence), added to their own `errors`; every bad field is named.
fn finish_validation(
    mut errors: Vec<FieldError>,
    first_day: NaiveDate,
    recurrence: &Recurrence,
    today: NaiveDate,
) -> Result<(), DomainError> {
    for (day, field) in [
        (Some(first_day), "first_day"),
        (recurrence.until(), "recurrence.end.date"),
    ] {
        if let Some(Err(e)) = day.map(|day| check_horizon(day, today, field)) {
            errors.extend(e.errors);
        }
    }
    if let Err(e) = recurrence.validate(first_day) {
        errors.extend(e.errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DomainError::invalid_fields(errors))
    }
}

/// Opening hours of an agent in a lieu for some motifs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct Plage {
    pub organisation_id: OrganisationId,
    /// Required when any motif takes place in a lieu.
    pub lieu_id: Option<LieuId>,
    pub motif_ids: BTreeSet<MotifId>,
    pub title: Option<String>,
    pub first_day: NaiveDate,
    #[schema(value_type = String, example = "09:00")]
    pub start_time: NaiveTime,
    #[schema(value_type = String, example = "12:00")]
    pub end_time: NaiveTime,
    pub recurrence: Recurrence,
    /// The organisation's zone, fixed when the plage is saved.
    #[schema(value_type = String)]
    pub timezone: TimeZone,
}

impl Plage {
    pub fn validate(&self, today: NaiveDate) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        if self.end_time <= self.start_time {
            errors.push(FieldError::new(
                "end_time",
                "must be after the start time, on the same day",
            ));
        }
        if self.motif_ids.is_empty() {
            errors.push(FieldError::new("motif_ids", "choose at least one motif"));
        }
        finish_validation(errors, self.first_day, &self.recurrence, today)
    }

    /// The occurrences overlapping the days `[from, to]`, as instants.
    pub fn occurrences(&self, from: NaiveDate, to: NaiveDate) -> Vec<Interval> {
        self.recurrence
            .days_between(self.first_day, from, to)
            .into_iter()
            .map(|day| {
                Interval::new(
                    local_instant(self.timezone, day, self.start_time),
                    local_instant(self.timezone, day, self.end_time),
                )
            })
            .collect()
    }

    /// The day its last occurrence ends; none while it recurs endlessly.
    pub fn last_day(&self) -> Option<NaiveDate> {
        self.recurrence.last_day(self.first_day)
    }

    /// Whether two plages share some time in the year from `today`.
    pub fn overlaps(&self, other: &Plage, today: NaiveDate) -> bool {
        let until = today + Duration::days(366);
        let theirs = other.occurrences(today, until);
        self.occurrences(today, until)
            .iter()
            .any(|mine| theirs.iter().any(|t| t.overlaps(mine)))
    }
}

/// An absence: from a day and time to a day and time, possibly recurring
/// (a multi-day absence cannot recur, as in RDV Service Public).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct Absence {
    /// Set when an admin of one of the agent's organisations records the
    /// absence for the agent: it blocks only that organisation's plages, so
    /// an organisation sharing the agent cannot empty another's offer.
    /// None (the agent's own absence) blocks every organisation's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub organisation_id: Option<OrganisationId>,
    pub title: String,
    pub first_day: NaiveDate,
    #[schema(value_type = String, example = "14:00")]
    pub start_time: NaiveTime,
    pub end_day: NaiveDate,
    #[schema(value_type = String, example = "18:00")]
    pub end_time: NaiveTime,
    pub recurrence: Recurrence,
    #[schema(value_type = String)]
    pub timezone: TimeZone,
}

impl Absence {
    pub fn validate(&self, today: NaiveDate) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        if self.end_day < self.first_day {
            errors.push(FieldError::new("end_day", "must not be before the first day"));
        } else if (self.end_day, self.end_time) <= (self.first_day, self.start_time) {
            errors.push(FieldError::new("end_time", "the absence must end after it starts"));
        }
        if let Err(e) = check_horizon(self.end_day, today, "end_day") {
            errors.extend(e.errors);
        }
        if self.end_day != self.first_day && self.recurrence != Recurrence::Once {
            errors.push(FieldError::new(
                "recurrence",
                "an absence over several days cannot recur",
            ));
        }
        finish_validation(errors, self.first_day, &self.recurrence, today)
    }

    /// Whether the absence takes time from this organisation's plages.
    pub fn blocks(&self, organisation: OrganisationId) -> bool {
        self.organisation_id.is_none_or(|o| o == organisation)
    }

    /// The day its last occurrence ends; none while it recurs endlessly.
    pub fn last_day(&self) -> Option<NaiveDate> {
        let span = self.end_day - self.first_day;
        self.recurrence.last_day(self.first_day).map(|day| day + span)
    }

    /// The occurrences overlapping the days `[from, to]`, as instants.
    pub fn occurrences(&self, from: NaiveDate, to: NaiveDate) -> Vec<Interval> {
        let span = self.end_day - self.first_day;
        self.recurrence
            .days_between(self.first_day, from - span, to)
            .into_iter()
            .map(|day| {
                Interval::new(
                    local_instant(self.timezone, day, self.start_time),
                    local_instant(self.timezone, day + span, self.end_time),
                )
            })
            .collect()
    }
}

/// How long plages and absences stay in the agenda's state after their
/// last occurrence. Older ones are history: the events keep them, the
/// availability projection and the agenda query still show them, but
/// commands no longer load them (so an agent's agenda loads in the same
/// time after ten years as after one) and they can no longer be edited.
pub const KEPT_AFTER_THEIR_END: Duration = Duration::days(365);

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AgentAgenda {
    pub plages: BTreeMap<PlageId, Plage>,
    pub absences: BTreeMap<AbsenceId, Absence>,
    /// Plages and absences whose last day is before this one were left out
    /// of the state ([`AgentAgendaEvent::HistoryArchived`]).
    #[serde(default)]
    pub archived_before: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgentAgendaCommand {
    CreatePlage { plage_id: PlageId, plage: Box<Plage> },
    UpdatePlage { plage_id: PlageId, plage: Box<Plage> },
    DeletePlage { plage_id: PlageId },
    CreateAbsence { absence_id: AbsenceId, absence: Absence },
    UpdateAbsence { absence_id: AbsenceId, absence: Absence },
    DeleteAbsence { absence_id: AbsenceId },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgentAgendaEvent {
    PlageCreated {
        plage_id: PlageId,
        plage: Box<Plage>,
    },
    PlageUpdated {
        plage_id: PlageId,
        plage: Box<Plage>,
    },
    PlageDeleted {
        plage_id: PlageId,
    },
    AbsenceCreated {
        absence_id: AbsenceId,
        absence: Absence,
    },
    AbsenceUpdated {
        absence_id: AbsenceId,
        absence: Absence,
    },
    AbsenceDeleted {
        absence_id: AbsenceId,
    },
    /// Plages and absences whose last day is before `ended_before` leave
    /// the state (see [`KEPT_AFTER_THEIR_END`]); recorded by the first
    /// command after they aged out, so replays see the same state.
    HistoryArchived {
        ended_before: NaiveDate,
    },
}

crate::versioned_events!(AgentAgendaEvent {
    PlageCreated => "1.0",
    PlageUpdated => "1.0",
    PlageDeleted => "1.0",
    AbsenceCreated => "1.0",
    AbsenceUpdated => "1.0",
    AbsenceDeleted => "1.0",
    HistoryArchived => "1.0",
});

impl AgentAgenda {
    /// The agent's other plages sharing time with `plage` in the coming
    /// year: accepted, but worth a warning (RDV Service Public).
    pub fn overlapping_plages(&self, plage_id: PlageId, plage: &Plage, today: NaiveDate) -> Vec<PlageId> {
        self.plages
            .iter()
            .filter(|(id, other)| **id != plage_id && plage.overlaps(other, today))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The archive an agenda command records with its event, when some
    /// plage or absence ended more than [`KEPT_AFTER_THEIR_END`] ago.
    pub fn archive_due(&self, today: NaiveDate) -> Option<AgentAgendaEvent> {
        let ended_before = today - KEPT_AFTER_THEIR_END;
        let aged = |last: Option<NaiveDate>| last.is_some_and(|day| day < ended_before);
        let any =
            self.plages.values().any(|p| aged(p.last_day())) || self.absences.values().any(|a| aged(a.last_day()));
        any.then_some(AgentAgendaEvent::HistoryArchived { ended_before })
    }

    fn decide(&self, command: AgentAgendaCommand, today: NaiveDate) -> Result<AgentAgendaEvent, DomainError> {
        let missing = |what| Err(DomainError::not_found(what));
        Ok(match command {
            AgentAgendaCommand::CreatePlage { plage_id, plage } => {
                plage.validate(today)?;
                if self.plages.contains_key(&plage_id) {
                    return Err(DomainError::conflict("plage already exists"));
                }
                AgentAgendaEvent::PlageCreated { plage_id, plage }
            }
            AgentAgendaCommand::UpdatePlage { plage_id, plage } => {
                let Some(current) = self.plages.get(&plage_id) else {
                    return missing("plage");
                };
                plage.validate(today)?;
                if current.organisation_id != plage.organisation_id {
                    return Err(DomainError::invalid(
                        "organisation_id",
                        "a plage stays in its organisation",
                    ));
                }
                AgentAgendaEvent::PlageUpdated { plage_id, plage }
            }
            AgentAgendaCommand::DeletePlage { plage_id } => {
                if !self.plages.contains_key(&plage_id) {
                    return missing("plage");
                }
                AgentAgendaEvent::PlageDeleted { plage_id }
            }
            AgentAgendaCommand::CreateAbsence { absence_id, absence } => {
                absence.validate(today)?;
                if self.absences.contains_key(&absence_id) {
                    return Err(DomainError::conflict("absence already exists"));
                }
                AgentAgendaEvent::AbsenceCreated { absence_id, absence }
            }
            AgentAgendaCommand::UpdateAbsence { absence_id, absence } => {
                if !self.absences.contains_key(&absence_id) {
                    return missing("absence");
                }
                absence.validate(today)?;
                AgentAgendaEvent::AbsenceUpdated { absence_id, absence }
            }
            AgentAgendaCommand::DeleteAbsence { absence_id } => {
                if !self.absences.contains_key(&absence_id) {
                    return missing("absence");
                }
                AgentAgendaEvent::AbsenceDeleted { absence_id }
            }
        })
    }
}

impl Aggregate for AgentAgenda {
    const TYPE: &'static str = "AgentAgenda";
    type Command = AgentAgendaCommand;
    type Event = AgentAgendaEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: AgentAgendaCommand,
        svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let today = svc.now().date_naive();
        let event = self.decide(command, today)?;
        sink.write(event, self).await;
        if let Some(archive) = self.archive_due(today) {
            sink.write(archive, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AgentAgendaEvent) {
        match event {
            AgentAgendaEvent::PlageCreated { plage_id, plage } | AgentAgendaEvent::PlageUpdated { plage_id, plage } => {
                self.plages.insert(plage_id, *plage);
            }
            AgentAgendaEvent::PlageDeleted { plage_id } => {
                self.plages.remove(&plage_id);
            }
            AgentAgendaEvent::AbsenceCreated { absence_id, absence }
            | AgentAgendaEvent::AbsenceUpdated { absence_id, absence } => {
                self.absences.insert(absence_id, absence);
            }
            AgentAgendaEvent::AbsenceDeleted { absence_id } => {
                self.absences.remove(&absence_id);
            }
            AgentAgendaEvent::HistoryArchived { ended_before } => {
                let kept = |last: Option<NaiveDate>| last.is_none_or(|day| day >= ended_before);
                self.plages.retain(|_, p| kept(p.last_day()));
                self.absences.retain(|_, a| kept(a.last_day()));
                self.archived_before = self.archived_before.max(Some(ended_before));
            }
        }
    }
}

/// An agent's plages and absences accumulate over the years: loads read a
/// snapshot and at most a few dozen events after it.
impl VersionedAggregate for AgentAgenda {
    fn snapshot_every() -> Option<i64> {
        Some(32)
    }
}
