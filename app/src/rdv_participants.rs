//! Participants of an RDV: agents add and remove usagers
//! ([`AddParticipant`], [`RemoveParticipant`]; an atelier may be
//! overbooked, with a warning, as in RDV Service Public) and set one
//! participation's status ([`SetParticipationStatus`]); usagers sign up to
//! ateliers themselves while seats remain ([`SignUpToAtelier`]). Seats are
//! counted on the `Rdv` stream, so of concurrent sign-ups for the last seat
//! one wins and the others find the atelier full.

use crate::{
    Context, Error,
    caller::Caller,
    notifications::RdvNotice,
    rdv_access::{OpenRdv, agent_rdv},
    rdv_changes::{Warning, follow_cancellation, handle_rdv, usager_in},
    rdv_notices::{Recipient, notice_context, queue_notice, recipient},
    respond::Respond,
    tokens,
    usagers::usager_field_settings,
};
use chrono::{DateTime, Duration, Utc};
use rdv_domain::{
    DomainError,
    ids::{RdvId, UsagerId},
    motif::{BookableBy, Motif, MotifConfig, Visibility},
    rdv::{Actor, Rdv, RdvCommand, RdvState, RdvStatus, participation_token_ttl},
    usager::{Usager, UsagerCommand, UsagerProfile},
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome};
use serde::Serialize;
use utoipa::ToSchema;

/// What an usager signing up gets back: their participation and its link.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignUpAnswer {
    pub rdv_id: RdvId,
    pub usager_id: UsagerId,
    pub participation_token: String,
    #[schema(value_type = Vec<serde_json::Value>)]
    pub warnings: Vec<Warning>,
}

/// Who joins an RDV: an existing usager, or one created with the sign-up.
#[derive(Clone)]
enum Joiner {
    Existing(UsagerId),
    New(UsagerId, Box<UsagerProfile>),
}

impl Joiner {
    fn id(&self) -> UsagerId {
        match self {
            Joiner::Existing(id) | Joiner::New(id, _) => *id,
        }
    }
}

/// An agent adds an usager of the organisation to an RDV. An atelier may go
/// over its seats: a `too_many_participants` warning says so. The usager
/// gets their own participation link.
#[derive(Debug, Clone)]
pub struct AddParticipant {
    pub rdv_id: RdvId,
    pub usager_id: UsagerId,
}

impl AddParticipant {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<SignUpAnswer>,
    ) -> Result<CommandOutcome, Error> {
        let open = agent_rdv(app, caller, self.rdv_id).await?;
        if !usager_in(app, self.usager_id, open.rdv.booking.organisation_id).await? {
            return Err(DomainError::invalid("usager_id", "no such usager in this organisation").into());
        }
        let by = Actor::Agent {
            agent_id: caller.agent_id().unwrap_or_default(),
        };
        join(
            app,
            command,
            &open.rdv,
            open.id,
            Joiner::Existing(self.usager_id),
            by,
            respond,
        )
        .await
    }
}

/// An usager signs up to an atelier without login: a collective motif
/// bookable by everyone and visible, an atelier not revoked, starting
/// inside the motif's booking window, with a seat left (409 `this atelier
/// is full` otherwise, also when the last seat went to a concurrent
/// sign-up). The profile is checked against the espace's usager fields.
#[derive(Debug, Clone)]
pub struct SignUpToAtelier {
    pub rdv_id: RdvId,
    pub profile: UsagerProfile,
}

impl SignUpToAtelier {
    /// The events name the new usager as their actor; a sign-up takes no
    /// idempotency key: the seats are the guard.
    pub async fn run(
        self,
        app: &Context,
        mut command: CommandContext,
        respond: impl Respond<SignUpAnswer>,
    ) -> Result<CommandOutcome, Error> {
        let rdv = app
            .load::<Rdv>(&self.rdv_id.to_string())
            .await?
            .0
            .filter(RdvState::is_collective)
            .ok_or_else(|| Error::not_found("atelier"))?;
        let motif = app.load::<Motif>(&rdv.booking.motif_id.to_string()).await?;
        let config = &motif.state()?.config;
        let now = app.services().now();
        // Seats are counted by the aggregate, under concurrency ("this atelier is full").
        if !open_to_usagers(rdv.status, rdv.booking.starts_at, None, config, now) {
            return Err(DomainError::conflict("this atelier is not open to online sign-ups").into());
        }
        usager_field_settings(app, rdv.booking.organisation_id)
            .await?
            .check_values(&self.profile.custom)?;
        let usager_id = UsagerId::new();
        command.actor = format!("usager:{usager_id}");
        command.idempotency = None;
        let joiner = Joiner::New(usager_id, Box::new(self.profile));
        join(app, &command, &rdv, self.rdv_id, joiner, Actor::Usager, respond).await
    }
}

/// Adds the participation (and the usager when new), tells them with their
/// own link, and warns when an atelier is over its seats.
async fn join(
    app: &Context,
    command: &CommandContext,
    rdv: &RdvState,
    rdv_id: RdvId,
    joiner: Joiner,
    by: Actor,
    respond: impl Respond<SignUpAnswer>,
) -> Result<CommandOutcome, Error> {
    let notice = notice_context(app, &rdv.booking).await?;
    let token = tokens::new_participation_token(rdv_id);
    let organisation_id = rdv.booking.organisation_id;
    let usager_id = joiner.id();
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (joiner, notice, token) = (joiner.clone(), notice.clone(), token.clone());
                Box::pin(async move {
                    let to = match &joiner {
                        Joiner::New(id, profile) => {
                            unit.new_stream::<Usager>(&id.to_string());
                            let create = UsagerCommand::CreateUsager {
                                organisation_ids: [organisation_id].into(),
                                profile: (**profile).clone(),
                            };
                            unit.handle::<Usager>(&id.to_string(), create).await?;
                            Some(Recipient {
                                id: *id,
                                profile: (**profile).clone(),
                            })
                        }
                        Joiner::Existing(id) => recipient(unit, *id).await?,
                    };
                    let command = RdvCommand::AddParticipant {
                        usager_id,
                        by,
                        participation_token: Some((tokens::hash(&token), unit.now() + participation_token_ttl())),
                    };
                    let (_, after) = handle_rdv(unit, rdv_id, command).await?;
                    if let Some(to) = to {
                        let start = after.booking.starts_at;
                        queue_notice(unit, &notice, RdvNotice::Created, &to, start, Some(&token), true);
                    }
                    let over = after.seats_left().is_some_and(|left| left < 0);
                    Ok::<_, CommandError>(SignUpAnswer {
                        rdv_id,
                        usager_id,
                        participation_token: token,
                        warnings: over.then_some(Warning::TooManyParticipants).into_iter().collect(),
                    })
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

/// An agent removes an usager from an RDV (an individual RDV keeps at least
/// one: to end it, cancel it). The usager is told, as for a cancellation.
#[derive(Debug, Clone)]
pub struct RemoveParticipant {
    pub rdv_id: RdvId,
    pub usager_id: UsagerId,
}

impl RemoveParticipant {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<()>,
    ) -> Result<CommandOutcome, Error> {
        let open = agent_rdv(app, caller, self.rdv_id).await?;
        let (rdv_id, usager_id) = (open.id, self.usager_id);
        let notice = notice_context(app, &open.rdv.booking).await?;
        let agent_id = caller.agent_id().unwrap_or_default();
        let was_active = open.rdv.active_participants().contains(&usager_id);
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let notice = notice.clone();
                    Box::pin(async move {
                        let command = RdvCommand::RemoveParticipant { usager_id, agent_id };
                        let (_, after) = handle_rdv(unit, rdv_id, command).await?;
                        if let Some(to) = recipient(unit, usager_id).await?.filter(|_| was_active) {
                            let start = after.booking.starts_at;
                            queue_notice(unit, &notice, RdvNotice::Cancelled, &to, start, None, true);
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

/// An agent sets one participation's status from the individual status
/// menu (seen and noshow once the RDV has started).
#[derive(Debug, Clone)]
pub struct SetParticipationStatus {
    pub rdv_id: RdvId,
    pub usager_id: UsagerId,
    pub status: RdvStatus,
}

impl SetParticipationStatus {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Vec<Warning>>,
    ) -> Result<CommandOutcome, Error> {
        let open = agent_rdv(app, caller, self.rdv_id).await?;
        let by = Actor::Agent {
            agent_id: caller.agent_id().unwrap_or_default(),
        };
        change_participation(app, command, &open, self.usager_id, by, self.status, respond).await
    }
}

/// Sets one participation's status and lets the RDV's status follow (RDV
/// Service Public's propagation); when the RDV becomes cancelled its agents'
/// time is freed, and taken again when it no longer is.
pub(crate) async fn change_participation(
    app: &Context,
    command: &CommandContext,
    open: &OpenRdv,
    usager_id: UsagerId,
    by: Actor,
    status: RdvStatus,
    respond: impl Respond<Vec<Warning>>,
) -> Result<CommandOutcome, Error> {
    let rdv_id = open.id;
    let usager_may_cancel = notice_context(app, &open.rdv.booking).await?.usager_may_cancel;
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let organisation = open.organisation.clone();
                Box::pin(async move {
                    let command = RdvCommand::ChangeParticipationStatus {
                        usager_id,
                        by,
                        status,
                        zone: organisation.timezone,
                        usager_may_cancel,
                    };
                    let (before, after) = handle_rdv(unit, rdv_id, command).await?;
                    follow_cancellation(unit, rdv_id, &before, &after, &organisation).await
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

/// An atelier usagers may sign up to now: its motif bookable by everyone
/// and visible, not revoked, starting inside [now + min delay, now + max
/// delay], with a seat left (RDV Service Public lists only those).
pub fn open_to_usagers(
    status: RdvStatus,
    starts_at: DateTime<Utc>,
    seats_left: Option<i64>,
    motif: &MotifConfig,
    now: DateTime<Utc>,
) -> bool {
    let rules = &motif.booking;
    let window = (now + Duration::minutes(rules.min_booking_delay_in_min.into()))
        ..=(now + Duration::minutes(rules.max_booking_delay_in_min.into()));
    rules.bookable_by == BookableBy::Everyone
        && motif.informations.visibility != Visibility::Invisible
        && !status.is_cancelled()
        && window.contains(&starts_at)
        && seats_left.is_none_or(|left| left > 0)
}
