//! The guard against double booking: one stream per agent and local day,
//! holding the time reserved by RDVs. Booking appends `TimeReserved` here and
//! `RdvBooked` on the RDV in one transaction, each stream at the version it
//! was read at: of two concurrent bookings of the same time, one fails its
//! version check, reads again, sees the time taken and is refused. Short
//! streams (a day) keep that read cheap however long the agent's history.

use crate::{
    DomainError, Services, VersionedAggregate,
    availability::slots::Interval,
    ids::{AgentId, RdvId},
};
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct AgentDay {
    pub reservations: BTreeMap<RdvId, (DateTime<Utc>, DateTime<Utc>)>,
}

impl AgentDay {
    /// The stream of an agent's local day.
    pub fn stream_id(agent: AgentId, day: NaiveDate) -> String {
        format!("{agent}:{day}")
    }

    /// RDVs (other than `rdv`) whose reserved time overlaps `interval`.
    pub fn overlapping(&self, rdv: RdvId, interval: Interval) -> Vec<RdvId> {
        self.reservations
            .iter()
            .filter(|(id, (start, end))| **id != rdv && Interval::new(*start, *end).overlaps(&interval))
            .map(|(id, _)| *id)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgentDayCommand {
    /// `exclusive` refuses an overlap (usager bookings); agents may overlap
    /// with a warning, as in RDV Service Public.
    ReserveTime {
        rdv_id: RdvId,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        exclusive: bool,
    },
    ReleaseTime {
        rdv_id: RdvId,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum AgentDayEvent {
    TimeReserved {
        rdv_id: RdvId,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    TimeReleased {
        rdv_id: RdvId,
    },
}

crate::versioned_events!(AgentDayEvent {
    TimeReserved => "1.0",
    TimeReleased => "1.0",
});

impl Aggregate for AgentDay {
    const TYPE: &'static str = "AgentDay";
    type Command = AgentDayCommand;
    type Event = AgentDayEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: AgentDayCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let event = match command {
            AgentDayCommand::ReserveTime {
                rdv_id,
                starts_at,
                ends_at,
                exclusive,
            } => {
                if exclusive && !self.overlapping(rdv_id, Interval::new(starts_at, ends_at)).is_empty() {
                    return Err(DomainError::conflict("this time is no longer free"));
                }
                AgentDayEvent::TimeReserved {
                    rdv_id,
                    starts_at,
                    ends_at,
                }
            }
            AgentDayCommand::ReleaseTime { rdv_id } => {
                if !self.reservations.contains_key(&rdv_id) {
                    return Ok(());
                }
                AgentDayEvent::TimeReleased { rdv_id }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: AgentDayEvent) {
        match event {
            AgentDayEvent::TimeReserved {
                rdv_id,
                starts_at,
                ends_at,
            } => {
                self.reservations.insert(rdv_id, (starts_at, ends_at));
            }
            AgentDayEvent::TimeReleased { rdv_id } => {
                self.reservations.remove(&rdv_id);
            }
        }
    }
}

impl VersionedAggregate for AgentDay {}

#[cfg(test)]
mod tests {
    use super::*;

    use cqrs_es::test::TestFramework;

    fn services() -> Services {
        Services::at("2026-01-05T09:00:00Z")
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn reserved(rdv_id: RdvId, start: &str, end: &str) -> AgentDayEvent {
        AgentDayEvent::TimeReserved {
            rdv_id,
            starts_at: t(start),
            ends_at: t(end),
        }
    }

    #[tokio::test]
    async fn exclusive_reservations_refuse_overlaps_but_not_back_to_back() {
        let (a, b) = (RdvId::new(), RdvId::new());
        let first = reserved(a, "2026-01-12T09:00:00Z", "2026-01-12T09:30:00Z");
        let reserve = |start: &str, end: &str, exclusive| AgentDayCommand::ReserveTime {
            rdv_id: b,
            starts_at: t(start),
            ends_at: t(end),
            exclusive,
        };
        TestFramework::<AgentDay>::with(services())
            .given(vec![first.clone()])
            .when_async(reserve("2026-01-12T09:15:00Z", "2026-01-12T09:45:00Z", true))
            .await
            .then_expect_error_message("this time is no longer free");
        TestFramework::<AgentDay>::with(services())
            .given(vec![first.clone()])
            .when_async(reserve("2026-01-12T09:30:00Z", "2026-01-12T10:00:00Z", true))
            .await
            .then_expect_events(vec![reserved(b, "2026-01-12T09:30:00Z", "2026-01-12T10:00:00Z")]);
        TestFramework::<AgentDay>::with(services())
            .given(vec![first.clone()])
            .when_async(reserve("2026-01-12T09:00:00Z", "2026-01-12T09:30:00Z", false))
            .await
            .then_expect_events(vec![reserved(b, "2026-01-12T09:00:00Z", "2026-01-12T09:30:00Z")]);
        TestFramework::<AgentDay>::with(services())
            .given(vec![first, AgentDayEvent::TimeReleased { rdv_id: a }])
            .when_async(reserve("2026-01-12T09:00:00Z", "2026-01-12T09:30:00Z", true))
            .await
            .then_expect_events(vec![reserved(b, "2026-01-12T09:00:00Z", "2026-01-12T09:30:00Z")]);
    }
}
