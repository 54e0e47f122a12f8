//! An RDV's life after booking, by its agents ([`CancelRdv`],
//! [`ChangeRdvStatus`], [`RescheduleRdv`], [`UpdateRdvDetails`],
//! [`MarkUsagerArrived`]) and by its usager with the participation token
//! ([`CancelOwnRdv`], [`RescheduleOwnRdv`]). Each runs in one unit of work:
//! the RDV, its agents' reserved time and its usagers' notices move
//! together. Also who may open an RDV ([`agent_rdv`], [`usager_rdv`]).

use crate::{
    Context, Error,
    availability::{self as engine, SlotSearch},
    caller::Caller,
    notifications::{self, RdvNotice},
    rdv_access::{OpenRdv, agent_rdv, usager_rdv},
    rdv_changes::{
        Warning, agent_errors, change_rdv, follow_cancellation, handle_rdv, lieu_error, next_slots, release,
        requested_duration, requested_start, reserve,
    },
    rdv_notices::{notice_context, notice_context_of, notify_all},
    rdv_participants::change_participation,
    respond::Respond,
};
use chrono::{DateTime, FixedOffset};
use rdv_domain::{
    DomainError,
    agent::Agent,
    availability::slots::Interval,
    ids::{AgentId, LieuId, RdvId},
    rdv::{Actor, Rdv, RdvCommand, RdvStatus},
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome, CommitSummary};
use std::collections::BTreeSet;

/// The agent acting, as events record it.
fn agent_actor(caller: &Caller) -> Actor {
    Actor::Agent {
        agent_id: caller.agent_id().unwrap_or_default(),
    }
}

/// An agent cancels an RDV: `excused` (the usager's reason) or `revoked`
/// (the service's). Its agents' time is freed and its usagers told.
#[derive(Debug, Clone)]
pub struct CancelRdv {
    pub rdv_id: RdvId,
    pub status: RdvStatus,
}

impl CancelRdv {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<()>,
    ) -> Result<CommandOutcome, Error> {
        let open = agent_rdv(app, caller, self.rdv_id).await?;
        cancel(app, command, &open, agent_actor(caller), self.status, respond).await
    }
}

/// An usager cancels their RDV with its participation token: more than 4 h
/// ahead and when the motif allows it; the status becomes `excused`. In an
/// atelier only their own participation is cancelled.
#[derive(Debug, Clone)]
pub struct CancelOwnRdv {
    pub rdv_id: RdvId,
    pub token: String,
}

impl CancelOwnRdv {
    /// The events name the usager as their actor (`usager:<id>`). An
    /// atelier's answer carries the warnings of a participation change.
    pub async fn run(
        self,
        app: &Context,
        mut command: CommandContext,
        respond: impl Respond<Vec<Warning>>,
    ) -> Result<CommandOutcome, Error> {
        let (open, usager) = usager_rdv(app, self.rdv_id, &self.token).await?;
        command.actor = format!("usager:{usager}");
        let status = RdvStatus::Excused;
        if open.rdv.is_collective() {
            return change_participation(app, &command, &open, usager, Actor::Usager, status, respond).await;
        }
        let respond = move |_: &(), summary: &CommitSummary<'_>| respond(&Vec::new(), summary);
        cancel(app, &command, &open, Actor::Usager, status, respond).await
    }
}

/// Cancels the RDV and frees its agents' time, in one transaction.
/// RDV Service Public texts a cancellation only when the service cancelled.
async fn cancel(
    app: &Context,
    command: &CommandContext,
    open: &OpenRdv,
    by: Actor,
    status: RdvStatus,
    respond: impl Respond<()>,
) -> Result<CommandOutcome, Error> {
    let rdv_id = open.id;
    let booking = &open.rdv.booking;
    let notice = notice_context(app, booking).await?;
    let usager_may_cancel = notice.usager_may_cancel;
    let interval = Interval::new(booking.starts_at, booking.ends_at);
    let (agents, usagers, starts_at) = (&booking.agent_ids, open.rdv.active_participants(), booking.starts_at);
    let agent_cancelled = matches!(by, Actor::Agent { .. });
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (agents, usagers, notice, organisation) = (
                    agents.clone(),
                    usagers.clone(),
                    notice.clone(),
                    open.organisation.clone(),
                );
                Box::pin(async move {
                    let cancel = RdvCommand::CancelRdv {
                        by,
                        status,
                        usager_may_cancel,
                    };
                    change_rdv(unit, rdv_id, cancel).await?;
                    let cancelled = RdvNotice::Cancelled;
                    notify_all(unit, &notice, cancelled, usagers, starts_at, None, agent_cancelled).await?;
                    release(unit, rdv_id, &agents, interval, &organisation).await
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

/// An agent changes an RDV's status from its menu (before its day:
/// excused, revoked; on its day, once started, and after it: also seen,
/// noshow; any status back to unknown). Cancelling frees the agents' time;
/// going back from a cancellation takes it again (overlaps are warnings).
#[derive(Debug, Clone)]
pub struct ChangeRdvStatus {
    pub rdv_id: RdvId,
    pub status: RdvStatus,
}

impl ChangeRdvStatus {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Vec<Warning>>,
    ) -> Result<CommandOutcome, Error> {
        let open = agent_rdv(app, caller, self.rdv_id).await?;
        let (rdv_id, status) = (open.id, self.status);
        let agent_id = caller.agent_id().unwrap_or_default();
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let organisation = open.organisation.clone();
                    Box::pin(async move {
                        let zone = organisation.timezone;
                        let command = RdvCommand::ChangeRdvStatus { agent_id, status, zone };
                        let (before, after) = handle_rdv(unit, rdv_id, command).await?;
                        follow_cancellation(unit, rdv_id, &before, &after, &organisation).await
                    })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}

/// An agent moves an RDV: any time, overlaps are warnings.
#[derive(Debug, Clone)]
pub struct RescheduleRdv {
    pub rdv_id: RdvId,
    pub starts_at: DateTime<FixedOffset>,
    /// Defaults to the RDV's current duration.
    pub duration_in_min: Option<u32>,
}

impl RescheduleRdv {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Vec<Warning>>,
    ) -> Result<CommandOutcome, Error> {
        let open = agent_rdv(app, caller, self.rdv_id).await?;
        let booking = &open.rdv.booking;
        let start = requested_start(app, self.starts_at)?;
        let minutes = requested_duration(self.duration_in_min, booking.ends_at - booking.starts_at)?;
        let to = Interval::new(start, start + minutes);
        move_rdv(app, command, &open, agent_actor(caller), to, false, respond).await
    }
}

/// An usager moves their RDV with its participation token: more than 2
/// days ahead, when the motif lets usagers edit and book it, never an RDV
/// an agent created, and only to a slot offered now with the same agent
/// ([`Error::SlotTaken`] with the next slots otherwise).
#[derive(Debug, Clone)]
pub struct RescheduleOwnRdv {
    pub rdv_id: RdvId,
    pub token: String,
    pub starts_at: DateTime<FixedOffset>,
}

impl RescheduleOwnRdv {
    /// The events name the usager as their actor (`usager:<id>`).
    pub async fn run(
        self,
        app: &Context,
        mut command: CommandContext,
        respond: impl Respond<Vec<Warning>>,
    ) -> Result<CommandOutcome, Error> {
        let (open, usager) = usager_rdv(app, self.rdv_id, &self.token).await?;
        let booking = &open.rdv.booking;
        let organisation = booking.organisation_id.to_string();
        let mut search = SlotSearch::prepare(app, &organisation, |_, _| Ok(()), booking.motif_id, None).await?;
        let rules = search.motif.config.booking.clone();
        let usager_may_reschedule = rules.usager_can_reschedule && rules.bookable_by.is_public();
        search.public_window(app.services().now());
        search.agent_id = booking.agent_ids.first().copied();
        let start = requested_start(app, self.starts_at)?;
        let day = start.with_timezone(&search.zone()).date_naive();
        search.from = day;
        search.to = day;
        let offered = engine::search(app, &search).await?;
        let Some(slot) = offered.into_iter().find(|s| s.starts_at == start) else {
            let next_slots = next_slots(app, &mut search, day).await?;
            let message = "this slot is not offered".into();
            return Err(Error::SlotTaken { message, next_slots });
        };
        command.actor = format!("usager:{usager}");
        let to = Interval::new(slot.starts_at, slot.ends_at);
        move_rdv(app, &command, &open, Actor::Usager, to, usager_may_reschedule, respond).await
    }
}

/// Moves an RDV and its agents' reservations in one transaction, and tells
/// its usagers the new time. An usager's move reserves exclusively.
async fn move_rdv(
    app: &Context,
    command: &CommandContext,
    open: &OpenRdv,
    by: Actor,
    to: Interval,
    usager_may_reschedule: bool,
    respond: impl Respond<Vec<Warning>>,
) -> Result<CommandOutcome, Error> {
    let (rdv_id, booking) = (open.id, &open.rdv.booking);
    let notice = notice_context(app, booking).await?;
    let from = Interval::new(booking.starts_at, booking.ends_at);
    let (agents, usagers) = (&booking.agent_ids, open.rdv.active_participants());
    let exclusive = by == Actor::Usager;
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (agents, usagers, organisation, notice) = (
                    agents.clone(),
                    usagers.clone(),
                    open.organisation.clone(),
                    notice.clone(),
                );
                Box::pin(async move {
                    let command = RdvCommand::RescheduleRdv {
                        by,
                        starts_at: to.start,
                        ends_at: to.end,
                        usager_may_reschedule,
                    };
                    change_rdv(unit, rdv_id, command).await?;
                    release(unit, rdv_id, &agents, from, &organisation).await?;
                    if to.start != from.start {
                        notify_all(unit, &notice, RdvNotice::Updated, usagers, to.start, None, true).await?;
                    }
                    reserve(unit, rdv_id, &agents, to, &organisation, exclusive).await
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

/// Salle d'attente: an agent marks the usager of an RDV of today as
/// arrived. In the espace's e-mail mode, each agent of the RDV gets an
/// e-mail (without the usager's name); in visual mode, agendas show
/// `arrived_at`.
#[derive(Debug, Clone)]
pub struct MarkUsagerArrived {
    pub rdv_id: RdvId,
}

impl MarkUsagerArrived {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<()>,
    ) -> Result<CommandOutcome, Error> {
        let open = agent_rdv(app, caller, self.rdv_id).await?;
        let organisation = &open.organisation;
        let territory = app
            .load::<rdv_domain::territory::Territory>(&organisation.territory_id.to_string())
            .await?;
        let email_mode = territory.state()?.settings.waiting_room.email;
        let agent_id = caller.agent_id().unwrap_or_default();
        let zone = organisation.timezone;
        let when = open
            .rdv
            .booking
            .starts_at
            .with_timezone(&zone.0)
            .format("%H:%M")
            .to_string();
        let (id, agents) = (open.id.to_string(), &open.rdv.booking.agent_ids);
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let (id, agents, when) = (id.clone(), agents.clone(), when.clone());
                    Box::pin(async move {
                        unit.handle::<Rdv>(&id, RdvCommand::MarkUsagerArrived { agent_id, zone })
                            .await?;
                        for agent in agents.iter().filter(|_| email_mode) {
                            let (agent, _) = unit.load::<Agent>(&agent.to_string()).await?;
                            if let Some(email) = agent.0.and_then(|a| a.email) {
                                unit.send(notifications::usager_arrived(&email, &when));
                            }
                        }
                        Ok::<_, CommandError>(())
                    })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}

/// An agent changes an RDV's agents, lieu or internal Contexte note. New
/// agents' time is reserved (overlaps are warnings), removed agents' time
/// is freed; a new lieu is told to the usagers (RDV Service Public notifies
/// an update when the start or the lieu changes).
#[derive(Debug, Clone)]
pub struct UpdateRdvDetails {
    pub rdv_id: RdvId,
    pub agent_ids: BTreeSet<AgentId>,
    pub lieu_id: Option<LieuId>,
    pub context: Option<String>,
}

impl UpdateRdvDetails {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Vec<Warning>>,
    ) -> Result<CommandOutcome, Error> {
        let open = agent_rdv(app, caller, self.rdv_id).await?;
        let (rdv_id, b) = (open.id, &open.rdv.booking);
        let mut errors = agent_errors(app, b.organisation_id, &self.agent_ids).await?;
        let changed_lieu = self.lieu_id.filter(|l| Some(*l) != b.lieu_id);
        errors.extend(lieu_error(app, b.organisation_id, changed_lieu).await?);
        if !errors.is_empty() {
            return Err(DomainError::invalid_fields(errors).into());
        }
        let notice = notice_context_of(app, b.organisation_id, b.motif_id, self.lieu_id).await?;
        let usagers = open.rdv.active_participants();
        let agent_id = caller.agent_id().unwrap_or_default();
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let (organisation, notice, usagers) = (open.organisation.clone(), notice.clone(), usagers.clone());
                    let command = RdvCommand::UpdateRdvDetails {
                        agent_id,
                        agent_ids: self.agent_ids.clone(),
                        lieu_id: self.lieu_id,
                        context: self.context.clone(),
                    };
                    Box::pin(async move {
                        let (before, after) = handle_rdv(unit, rdv_id, command).await?;
                        if after.status.is_cancelled() {
                            return Ok(Vec::new());
                        }
                        let (old, new) = (&before.booking.agent_ids, &after.booking.agent_ids);
                        let interval = Interval::new(after.booking.starts_at, after.booking.ends_at);
                        let gone = old.difference(new).copied().collect();
                        release(unit, rdv_id, &gone, interval, &organisation).await?;
                        let added = new.difference(old).copied().collect();
                        let warnings = reserve(unit, rdv_id, &added, interval, &organisation, false).await?;
                        if before.booking.lieu_id != after.booking.lieu_id {
                            let start = interval.start;
                            notify_all(unit, &notice, RdvNotice::Updated, usagers, start, None, true).await?;
                        }
                        Ok(warnings)
                    })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}
