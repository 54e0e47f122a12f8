//! A rendez-vous between agents and usagers. RDV Service Public's rules:
//! statuses `unknown`, `seen`, `excused` (cancelled by the usager), `revoked`
//! (cancelled by the service), `noshow`; an usager may cancel more than 4 h
//! ahead and move an RDV more than 2 days ahead when the motif allows it;
//! `cancelled_at` is set for excused, revoked and noshow. Reserving the
//! agents' time is [`crate::agent_day`]'s job, in the same transaction.

#[cfg(test)]
mod tests;

use crate::{
    DomainError, Services, VersionedAggregate,
    ids::{AgentId, LieuId, MotifId, OrganisationId, UsagerId},
    values::{TimeZone, TokenHash},
};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// How long the usager's participation link stays valid (12 weeks, as RDV
/// Service Public's participation tokens).
pub fn participation_token_ttl() -> Duration {
    Duration::weeks(12)
}

/// An usager may cancel only this long before the start.
pub fn usager_cancellation_notice() -> Duration {
    Duration::hours(4)
}

/// An usager may move an RDV only this long before the start.
pub fn usager_reschedule_notice() -> Duration {
    Duration::days(2)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RdvStatus {
    Unknown,
    Seen,
    Excused,
    Revoked,
    Noshow,
}

impl RdvStatus {
    /// Excused and revoked RDVs free the agents' time.
    pub fn is_cancelled(self) -> bool {
        matches!(self, RdvStatus::Excused | RdvStatus::Revoked)
    }
}

/// The statuses an agent's menu offers for an individual RDV (RDV Service
/// Public's `_individual_rdv_status_dropdown`): before its day, excused or
/// revoked; on its day also seen and noshow once it has started; after it,
/// all four. Any status may go back to unknown.
pub fn status_menu(starts_at: DateTime<Utc>, now: DateTime<Utc>, zone: TimeZone) -> Vec<RdvStatus> {
    let (day, today) = (
        starts_at.with_timezone(&zone.0).date_naive(),
        now.with_timezone(&zone.0).date_naive(),
    );
    let mut menu = vec![RdvStatus::Unknown, RdvStatus::Excused, RdvStatus::Revoked];
    if day < today || (day == today && starts_at <= now) {
        menu.extend([RdvStatus::Seen, RdvStatus::Noshow]);
    }
    menu
}

/// Who booked, moved or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    Agent { agent_id: AgentId },
    Usager,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Booking {
    pub organisation_id: OrganisationId,
    pub motif_id: MotifId,
    pub lieu_id: Option<LieuId>,
    pub agent_ids: BTreeSet<AgentId>,
    pub usager_ids: BTreeSet<UsagerId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Internal "Contexte" note; never shown to usagers.
    pub context: Option<String>,
    pub created_by: Actor,
    /// Digest of the usager's magic link, and its deadline.
    pub participation_token: Option<(TokenHash, DateTime<Utc>)>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Rdv(pub Option<RdvState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RdvState {
    pub booking: Booking,
    pub status: RdvStatus,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// When the usager was marked arrived in the salle d'attente.
    pub arrived_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum RdvCommand {
    BookRdv {
        booking: Box<Booking>,
    },
    /// `usager_may_cancel` is the motif's setting, read by the caller.
    CancelRdv {
        by: Actor,
        status: RdvStatus,
        usager_may_cancel: bool,
    },
    /// The agent's status menu; `zone` tells which local day is "today".
    ChangeRdvStatus {
        agent_id: AgentId,
        status: RdvStatus,
        zone: TimeZone,
    },
    /// A new time. For an usager, `usager_may_reschedule` is the motif's
    /// setting (editable by usagers and bookable by them), read by the caller.
    RescheduleRdv {
        by: Actor,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        usager_may_reschedule: bool,
    },
    /// Salle d'attente: the usager of an RDV of today has arrived.
    MarkUsagerArrived {
        agent_id: AgentId,
        zone: TimeZone,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum RdvEvent {
    RdvBooked {
        booking: Box<Booking>,
    },
    RdvCancelled {
        status: RdvStatus,
        by: Actor,
        cancelled_at: DateTime<Utc>,
    },
    /// `cancelled_at` is set for excused, revoked and noshow, cleared otherwise.
    RdvStatusChanged {
        status: RdvStatus,
        by: Actor,
        cancelled_at: Option<DateTime<Utc>>,
    },
    RdvRescheduled {
        by: Actor,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    },
    /// Recorded as an event, unlike RDV Service Public's volatile Redis set.
    UsagerArrived {
        by: Actor,
        at: DateTime<Utc>,
    },
}

crate::versioned_events!(RdvEvent {
    RdvBooked => "1.0",
    RdvCancelled => "1.0",
    RdvStatusChanged => "1.0",
    RdvRescheduled => "1.0",
    UsagerArrived => "1.0",
});

impl Rdv {
    pub fn state(&self) -> Result<&RdvState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("rdv"))
    }

    fn decide(&self, command: RdvCommand, now: DateTime<Utc>) -> Result<RdvEvent, DomainError> {
        match command {
            RdvCommand::BookRdv { booking } => {
                if self.0.is_some() {
                    return Err(DomainError::conflict("rdv already exists"));
                }
                if booking.ends_at <= booking.starts_at {
                    return Err(DomainError::invalid("ends_at", "the RDV must end after it starts"));
                }
                if booking.starts_at > now + Duration::days(5 * 366) {
                    return Err(DomainError::invalid("starts_at", "must be less than five years ahead"));
                }
                if booking.agent_ids.is_empty() {
                    return Err(DomainError::invalid("agent_ids", "an RDV needs at least one agent"));
                }
                if booking.usager_ids.is_empty() {
                    return Err(DomainError::invalid("usager_ids", "an individual RDV needs an usager"));
                }
                Ok(RdvEvent::RdvBooked { booking })
            }
            RdvCommand::CancelRdv {
                by,
                status,
                usager_may_cancel,
            } => {
                let state = self.state()?;
                if state.status.is_cancelled() {
                    return Err(DomainError::conflict("the RDV is already cancelled"));
                }
                match by {
                    Actor::Usager => {
                        if !usager_may_cancel {
                            return Err(DomainError::forbidden("this motif does not let usagers cancel online"));
                        }
                        if state.booking.starts_at - now <= usager_cancellation_notice() {
                            return Err(DomainError::conflict(
                                "an RDV can be cancelled online only more than 4 hours ahead",
                            ));
                        }
                        Ok(RdvEvent::RdvCancelled {
                            status: RdvStatus::Excused,
                            by,
                            cancelled_at: now,
                        })
                    }
                    Actor::Agent { .. } if status.is_cancelled() => Ok(RdvEvent::RdvCancelled {
                        status,
                        by,
                        cancelled_at: now,
                    }),
                    Actor::Agent { .. } => Err(DomainError::invalid("status", "a cancellation is excused or revoked")),
                }
            }
            RdvCommand::ChangeRdvStatus { agent_id, status, zone } => {
                let state = self.state()?;
                if status == state.status {
                    return Err(DomainError::conflict("the RDV already has this status"));
                }
                if !status_menu(state.booking.starts_at, now, zone).contains(&status) {
                    return Err(DomainError::invalid(
                        "status",
                        "this status is not possible at this point of the RDV",
                    ));
                }
                let cancelled_at =
                    matches!(status, RdvStatus::Excused | RdvStatus::Revoked | RdvStatus::Noshow).then_some(now);
                Ok(RdvEvent::RdvStatusChanged {
                    status,
                    by: Actor::Agent { agent_id },
                    cancelled_at,
                })
            }
            RdvCommand::RescheduleRdv {
                by,
                starts_at,
                ends_at,
                usager_may_reschedule,
            } => {
                let state = self.state()?;
                if state.status.is_cancelled() {
                    return Err(DomainError::conflict("a cancelled RDV cannot be moved"));
                }
                if ends_at <= starts_at {
                    return Err(DomainError::invalid("ends_at", "the RDV must end after it starts"));
                }
                if by == Actor::Usager {
                    if !usager_may_reschedule || matches!(state.booking.created_by, Actor::Agent { .. }) {
                        return Err(DomainError::forbidden("this RDV cannot be moved online"));
                    }
                    if state.booking.starts_at - now <= usager_reschedule_notice() {
                        return Err(DomainError::conflict(
                            "an RDV can be moved online only more than 2 days ahead",
                        ));
                    }
                }
                Ok(RdvEvent::RdvRescheduled { by, starts_at, ends_at })
            }
            RdvCommand::MarkUsagerArrived { agent_id, zone } => {
                let state = self.state()?;
                let today = now.with_timezone(&zone.0).date_naive();
                if state.booking.starts_at.with_timezone(&zone.0).date_naive() != today
                    || state.status != RdvStatus::Unknown
                {
                    return Err(DomainError::conflict(
                        "only an RDV of today, not yet closed, has a waiting room",
                    ));
                }
                if state.arrived_at.is_some() {
                    return Err(DomainError::conflict("the usager is already marked arrived"));
                }
                Ok(RdvEvent::UsagerArrived {
                    by: Actor::Agent { agent_id },
                    at: now,
                })
            }
        }
    }
}

impl Aggregate for Rdv {
    const TYPE: &'static str = "Rdv";
    type Command = RdvCommand;
    type Event = RdvEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(&mut self, command: RdvCommand, svc: &Services, sink: &EventSink<Self>) -> Result<(), DomainError> {
        let event = self.decide(command, svc.now())?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: RdvEvent) {
        if let RdvEvent::RdvBooked { booking } = event {
            self.0 = Some(RdvState {
                booking: *booking,
                status: RdvStatus::Unknown,
                cancelled_at: None,
                arrived_at: None,
            });
            return;
        }
        let Some(state) = &mut self.0 else { return };
        match event {
            RdvEvent::RdvBooked { .. } => {}
            RdvEvent::RdvCancelled {
                status, cancelled_at, ..
            } => {
                state.status = status;
                state.cancelled_at = Some(cancelled_at);
            }
            RdvEvent::RdvStatusChanged {
                status, cancelled_at, ..
            } => {
                state.status = status;
                state.cancelled_at = cancelled_at;
            }
            RdvEvent::RdvRescheduled { starts_at, ends_at, .. } => {
                state.booking.starts_at = starts_at;
                state.booking.ends_at = ends_at;
            }
            RdvEvent::UsagerArrived { at, .. } => state.arrived_at = Some(at),
        }
    }
}

impl VersionedAggregate for Rdv {}
