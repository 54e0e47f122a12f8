//! A rendez-vous between agents and usagers. RDV Service Public's rules:
//! statuses `unknown`, `seen`, `excused` (cancelled by the usager), `revoked`
//! (cancelled by the service), `noshow`; an usager may cancel more than 4 h
//! ahead and move an RDV more than 2 days ahead when the motif allows it;
//! `cancelled_at` is set for excused, revoked and noshow. Each usager has a
//! participation with its own status ([`participation`]); a collective RDV
//! (atelier) has seats. Reserving the agents' time is [`crate::agent_day`]'s
//! job, in the same transaction.

pub mod participation;
#[cfg(test)]
mod tests;

pub use participation::{Atelier, Participation};

use crate::{
    DomainError, Services, VersionedAggregate,
    ids::{AgentId, LieuId, MotifId, OrganisationId, UsagerId},
    values::{TimeZone, TokenHash},
};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
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

/// The statuses an agent's menu offers (RDV Service Public's
/// `_individual_rdv_status_dropdown` and `_collective_...`). Individual:
/// before its day, excused or revoked; on its day also seen and noshow once
/// it has started; after it, all four. Collective: revoked before its day,
/// seen or revoked from its day on. Any status may go back to unknown.
pub fn status_menu(starts_at: DateTime<Utc>, now: DateTime<Utc>, zone: TimeZone, collective: bool) -> Vec<RdvStatus> {
    let (day, today) = (
        starts_at.with_timezone(&zone.0).date_naive(),
        now.with_timezone(&zone.0).date_naive(),
    );
    if collective {
        let mut menu = vec![RdvStatus::Unknown, RdvStatus::Revoked];
        if day <= today {
            menu.push(RdvStatus::Seen);
        }
        return menu;
    }
    let mut menu = vec![RdvStatus::Unknown, RdvStatus::Excused, RdvStatus::Revoked];
    if day < today || (day == today && starts_at <= now) {
        menu.extend([RdvStatus::Seen, RdvStatus::Noshow]);
    }
    menu
}

/// `cancelled_at` for a status reached now: set for excused, revoked and
/// noshow (RDV Service Public), cleared otherwise.
fn cancelled_at_for(status: RdvStatus, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    matches!(status, RdvStatus::Excused | RdvStatus::Revoked | RdvStatus::Noshow).then_some(now)
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
    /// Set for a collective RDV (atelier). Added after version 1.0 of
    /// `RdvBooked` with a default, so older payloads read as individual RDVs.
    #[serde(default)]
    pub collective: Option<Atelier>,
    /// The professional who booked for the usager through the public pages
    /// (added with a default, as `collective`).
    #[serde(default)]
    pub prescripteur: Option<Prescripteur>,
}

/// RDV Service Public's prescripteur: who booked for the usager.
/// Personal data: never logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Prescripteur {
    pub first_name: crate::values::Text,
    pub last_name: crate::values::Text,
    pub email: crate::values::Email,
    pub phone: Option<crate::phone::PhoneE164>,
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
    /// Each usager's participation; `booking.usager_ids` holds the same keys.
    pub participations: BTreeMap<UsagerId, Participation>,
    /// The start time a 48 h reminder was sent for (none since a move).
    pub reminded_for: Option<DateTime<Utc>>,
}

impl RdvState {
    pub fn is_collective(&self) -> bool {
        self.booking.collective.is_some()
    }

    /// Usagers whose participation still stands (they hear about changes
    /// and hold a seat).
    pub fn active_participants(&self) -> Vec<UsagerId> {
        self.participations
            .iter()
            .filter(|(_, p)| !p.status.is_cancelled())
            .map(|(u, _)| *u)
            .collect()
    }

    /// Seats left in an atelier (`None`: unlimited or individual).
    pub fn seats_left(&self) -> Option<i64> {
        let max = self.booking.collective.as_ref()?.max_participants?;
        Some(i64::from(max) - self.active_participants().len() as i64)
    }

    /// The usager whose participation the token opens.
    pub fn participant_of_token(&self, hash: &TokenHash) -> Option<UsagerId> {
        self.participations
            .iter()
            .find(|(_, p)| p.token.as_ref().is_some_and(|(h, _)| h == hash))
            .map(|(u, _)| *u)
    }
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
    /// An usager joins: an agent adds them (an atelier may be overbooked),
    /// or they sign up to an atelier themself while seats remain.
    AddParticipant {
        usager_id: UsagerId,
        by: Actor,
        participation_token: Option<(TokenHash, DateTime<Utc>)>,
    },
    RemoveParticipant {
        usager_id: UsagerId,
        agent_id: AgentId,
    },
    /// One participation's status. An usager may only excuse themself (the
    /// 4 h rule and the motif's setting, as for a cancellation); an agent
    /// picks from the RDV's status menu.
    ChangeParticipationStatus {
        usager_id: UsagerId,
        by: Actor,
        status: RdvStatus,
        zone: TimeZone,
        usager_may_cancel: bool,
    },
    /// The reminder before an RDV, once per start time.
    SendReminder,
    /// Agents, lieu and the internal Contexte note, as an agent edits them
    /// (the new values, whole; an unchanged RDV records nothing).
    UpdateRdvDetails {
        agent_id: AgentId,
        agent_ids: BTreeSet<AgentId>,
        lieu_id: Option<LieuId>,
        context: Option<String>,
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
    ParticipantAdded {
        usager_id: UsagerId,
        by: Actor,
        status: RdvStatus,
        participation_token: Option<(TokenHash, DateTime<Utc>)>,
    },
    ParticipantRemoved {
        usager_id: UsagerId,
        by: Actor,
    },
    /// A participation's new status and the RDV status it leads to.
    ParticipationStatusChanged {
        usager_id: UsagerId,
        status: RdvStatus,
        by: Actor,
        rdv_status: RdvStatus,
        cancelled_at: Option<DateTime<Utc>>,
    },
    ReminderSent {
        starts_at: DateTime<Utc>,
    },
    RdvDetailsUpdated {
        by: Actor,
        agent_ids: BTreeSet<AgentId>,
        lieu_id: Option<LieuId>,
        context: Option<String>,
    },
}

crate::versioned_events!(RdvEvent {
    RdvBooked => "1.0",
    RdvCancelled => "1.0",
    RdvStatusChanged => "1.0",
    RdvRescheduled => "1.0",
    UsagerArrived => "1.0",
    ParticipantAdded => "1.0",
    ParticipantRemoved => "1.0",
    ParticipationStatusChanged => "1.0",
    ReminderSent => "1.0",
    RdvDetailsUpdated => "1.0",
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
                match &booking.collective {
                    None if booking.usager_ids.is_empty() => {
                        return Err(DomainError::invalid("usager_ids", "an individual RDV needs an usager"));
                    }
                    Some(Atelier {
                        max_participants: Some(0),
                        ..
                    }) => {
                        return Err(DomainError::invalid(
                            "max_participants_count",
                            "an atelier needs at least one seat",
                        ));
                    }
                    _ => {}
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
                    Actor::Usager if state.is_collective() => Err(DomainError::forbidden(
                        "in an atelier, an usager cancels only their own participation",
                    )),
                    Actor::Agent { .. } if state.is_collective() && status != RdvStatus::Revoked => Err(
                        DomainError::invalid("status", "an atelier is cancelled by the service: revoked"),
                    ),
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
                state.check_menu(status, now, zone)?;
                Ok(RdvEvent::RdvStatusChanged {
                    status,
                    by: Actor::Agent { agent_id },
                    cancelled_at: cancelled_at_for(status, now),
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
            RdvCommand::AddParticipant {
                usager_id,
                by,
                participation_token,
            } => {
                let state = self.state()?;
                if state.status.is_cancelled() {
                    return Err(DomainError::conflict("the RDV is cancelled"));
                }
                if state
                    .participations
                    .get(&usager_id)
                    .is_some_and(|p| !p.status.is_cancelled())
                {
                    return Err(DomainError::conflict("the usager already takes part in this RDV"));
                }
                if by == Actor::Usager {
                    if !state.is_collective() {
                        return Err(DomainError::forbidden("usagers sign up only to ateliers"));
                    }
                    if state.booking.starts_at <= now {
                        return Err(DomainError::conflict("this atelier has already started"));
                    }
                    if state.seats_left().is_some_and(|left| left <= 0) {
                        return Err(DomainError::conflict("this atelier is full"));
                    }
                }
                // A new participation copies an individual RDV's status.
                let status = if state.is_collective() {
                    RdvStatus::Unknown
                } else {
                    state.status
                };
                Ok(RdvEvent::ParticipantAdded {
                    usager_id,
                    by,
                    status,
                    participation_token,
                })
            }
            RdvCommand::RemoveParticipant { usager_id, agent_id } => {
                let state = self.state()?;
                if !state.participations.contains_key(&usager_id) {
                    return Err(DomainError::not_found("participant"));
                }
                if !state.is_collective() && state.participations.len() == 1 {
                    return Err(DomainError::invalid(
                        "usager_id",
                        "an individual RDV keeps at least one usager: cancel it instead",
                    ));
                }
                Ok(RdvEvent::ParticipantRemoved {
                    usager_id,
                    by: Actor::Agent { agent_id },
                })
            }
            RdvCommand::ChangeParticipationStatus {
                usager_id,
                by,
                status,
                zone,
                usager_may_cancel,
            } => {
                let state = self.state()?;
                let Some(current) = state.participations.get(&usager_id) else {
                    return Err(DomainError::not_found("participant"));
                };
                if current.status == status {
                    return Err(DomainError::conflict("the participation already has this status"));
                }
                match by {
                    Actor::Usager => {
                        if status != RdvStatus::Excused {
                            return Err(DomainError::forbidden("an usager may only cancel their participation"));
                        }
                        if !usager_may_cancel {
                            return Err(DomainError::forbidden("this motif does not let usagers cancel online"));
                        }
                        if state.booking.starts_at - now <= usager_cancellation_notice() {
                            return Err(DomainError::conflict(
                                "a participation can be cancelled online only more than 4 hours ahead",
                            ));
                        }
                    }
                    Actor::Agent { .. } => {
                        // Participations follow the individual menu, also in ateliers.
                        if !status_menu(state.booking.starts_at, now, zone, false).contains(&status) {
                            return Err(DomainError::invalid(
                                "status",
                                "this status is not possible at this point of the RDV",
                            ));
                        }
                    }
                }
                let mut statuses: BTreeMap<UsagerId, RdvStatus> =
                    state.participations.iter().map(|(u, p)| (*u, p.status)).collect();
                statuses.insert(usager_id, status);
                let rdv_status = participation::derived_status(
                    statuses.values().copied(),
                    state.is_collective(),
                    state.booking.starts_at <= now,
                );
                let cancelled_at = if rdv_status == state.status {
                    state.cancelled_at
                } else {
                    cancelled_at_for(rdv_status, now)
                };
                Ok(RdvEvent::ParticipationStatusChanged {
                    usager_id,
                    status,
                    by,
                    rdv_status,
                    cancelled_at,
                })
            }
            RdvCommand::UpdateRdvDetails {
                agent_id,
                agent_ids,
                lieu_id,
                context,
            } => {
                self.state()?;
                if agent_ids.is_empty() {
                    return Err(DomainError::invalid("agent_ids", "an RDV needs at least one agent"));
                }
                Ok(RdvEvent::RdvDetailsUpdated {
                    by: Actor::Agent { agent_id },
                    agent_ids,
                    lieu_id,
                    context: context.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
                })
            }
            RdvCommand::SendReminder => {
                let state = self.state()?;
                if state.status.is_cancelled() || state.booking.starts_at <= now {
                    return Err(DomainError::conflict("no reminder for a cancelled or started RDV"));
                }
                if state.reminded_for == Some(state.booking.starts_at) {
                    return Err(DomainError::conflict("the reminder was already sent"));
                }
                Ok(RdvEvent::ReminderSent {
                    starts_at: state.booking.starts_at,
                })
            }
        }
    }
}

impl Rdv {
    /// An edit of the details that leaves them as they are records nothing.
    fn changes_nothing(&self, event: &RdvEvent) -> bool {
        let (
            Some(state),
            RdvEvent::RdvDetailsUpdated {
                agent_ids,
                lieu_id,
                context,
                ..
            },
        ) = (&self.0, event)
        else {
            return false;
        };
        let b = &state.booking;
        (&b.agent_ids, b.lieu_id, &b.context) == (agent_ids, *lieu_id, context)
    }
}

impl RdvState {
    /// Refuses a status the agent's menu does not offer now.
    fn check_menu(&self, status: RdvStatus, now: DateTime<Utc>, zone: TimeZone) -> Result<(), DomainError> {
        if status_menu(self.booking.starts_at, now, zone, self.is_collective()).contains(&status) {
            Ok(())
        } else {
            Err(DomainError::invalid(
                "status",
                "this status is not possible at this point of the RDV",
            ))
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
        if !self.changes_nothing(&event) {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: RdvEvent) {
        if let RdvEvent::RdvBooked { booking } = event {
            let participation = Participation {
                status: RdvStatus::Unknown,
                created_by: booking.created_by,
                token: booking.participation_token.clone(),
            };
            self.0 = Some(RdvState {
                participations: booking.usager_ids.iter().map(|u| (*u, participation.clone())).collect(),
                booking: *booking,
                status: RdvStatus::Unknown,
                cancelled_at: None,
                arrived_at: None,
                reminded_for: None,
            });
            return;
        }
        let Some(state) = &mut self.0 else { return };
        match event {
            RdvEvent::RdvBooked { .. } => {}
            RdvEvent::RdvCancelled {
                status, cancelled_at, ..
            } => state.set_status(status, Some(cancelled_at)),
            RdvEvent::RdvStatusChanged {
                status, cancelled_at, ..
            } => state.set_status(status, cancelled_at),
            RdvEvent::RdvRescheduled { starts_at, ends_at, .. } => {
                state.booking.starts_at = starts_at;
                state.booking.ends_at = ends_at;
            }
            RdvEvent::UsagerArrived { at, .. } => state.arrived_at = Some(at),
            RdvEvent::ParticipantAdded {
                usager_id,
                by,
                status,
                participation_token,
            } => {
                state.booking.usager_ids.insert(usager_id);
                state.participations.insert(
                    usager_id,
                    Participation {
                        status,
                        created_by: by,
                        token: participation_token,
                    },
                );
            }
            RdvEvent::ParticipantRemoved { usager_id, .. } => {
                state.booking.usager_ids.remove(&usager_id);
                state.participations.remove(&usager_id);
            }
            RdvEvent::ParticipationStatusChanged {
                usager_id,
                status,
                rdv_status,
                cancelled_at,
                ..
            } => {
                if let Some(p) = state.participations.get_mut(&usager_id) {
                    p.status = status;
                }
                state.status = rdv_status;
                state.cancelled_at = cancelled_at;
            }
            RdvEvent::ReminderSent { starts_at } => state.reminded_for = Some(starts_at),
            RdvEvent::RdvDetailsUpdated {
                agent_ids,
                lieu_id,
                context,
                ..
            } => {
                state.booking.agent_ids = agent_ids;
                state.booking.lieu_id = lieu_id;
                state.booking.context = context;
            }
        }
    }
}

impl RdvState {
    /// An RDV status set by an agent reaches the participations.
    fn set_status(&mut self, status: RdvStatus, cancelled_at: Option<DateTime<Utc>>) {
        self.status = status;
        self.cancelled_at = cancelled_at;
        participation::propagate(status, self.participations.values_mut());
    }
}

impl VersionedAggregate for Rdv {}
