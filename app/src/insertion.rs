//! rdv-insertion's use cases on follow-ups. [`Convoquer`]: rdv-insertion
//! sends the agent to RDV Service Public to book; here one command books
//! the RDV (individual: the category's convocation motif at a slot;
//! collective: the next atelier of the category with seats), marks the
//! participation convocable and queues the convocation notices, in one
//! transaction, with the agents' time reserved exclusively (no double
//! booking). [`InviteUsager`]: invitations by SMS, e-mail or letter with
//! their short links. Also the lookups the follow-up routes share.

use crate::{
    Context, Error,
    availability::{self as engine, SlotSearch},
    caller::{Caller, Place},
    follow_ups::help_phone,
    insertion_messages::{InvitationWording, invitation as invitation_message, reachable, short_link},
    rdv_changes::{agent_errors, change_rdv_notifying, lieu_error, requested_start, reserve},
    tokens,
};
use chrono::{DateTime, Duration, FixedOffset, Utc};
use rdv_domain::{
    DomainError, ErrorKind, FieldError,
    availability::slots::Interval,
    category::{CategoryConfiguration, CategoryState, InvitationFormat, is_convocation_motif},
    follow_up::{FollowUp, FollowUpCommand, FollowUpState, InvitationFacts, NewInvitation, sms_and_email},
    ids::{AgentId, FollowUpId, InvitationId, LieuId, MotifId, OrganisationId, ParticipationId, RdvId, UsagerId},
    motif::LocationType,
    organisation::OrganisationState,
    rdv::{Actor, Booking, Rdv, RdvCommand, participation_token_ttl},
    rights::Permission,
    usager::{Usager, UsagerProfile},
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome, CommitSummary, StoredResponse};
use rdv_projections::{
    configuration::{self, MotifView},
    rdvs::{self as rdv_views, AtelierView, RdvDoc},
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;
use uuid::Uuid;

/// The days before action when no organisation of the follow-up configured
/// its category (rdv-insertion's default "Délai d'expiration").
pub const DEFAULT_DAYS: u32 = 10;

/// The follow-up, if the caller may work on it in one of its organisations
/// (404 otherwise, as for an unknown one), now or as of a past instant.
pub async fn visible_follow_up(
    app: &Context,
    caller: &Caller,
    follow_up_id: FollowUpId,
    as_of: Option<DateTime<Utc>>,
) -> Result<(FollowUpState, OrganisationId), Error> {
    let id = follow_up_id.to_string();
    let current = app.load::<FollowUp>(&id).await?;
    let current = current.0.ok_or_else(|| Error::not_found("follow-up"))?;
    let mut visible_in = None;
    for organisation_id in current.organisations() {
        let organisation = app.organisation(organisation_id).await?;
        if caller.may(
            Permission::Insertion,
            Place::Organisation(organisation_id, organisation.territory_id),
        ) {
            visible_in = Some(organisation_id);
            break;
        }
    }
    let organisation_id = visible_in.ok_or_else(|| Error::not_found("follow-up"))?;
    let then = match as_of {
        Some(_) => app.load_as_of::<FollowUp>(&id, as_of).await?.0,
        None => Some(current),
    };
    let then = then.ok_or_else(|| Error::not_found("follow-up as of this instant"))?;
    Ok((then, organisation_id))
}

/// The category's "Délai d'expiration" and `convene_user` in an organisation.
pub async fn category_rules(
    app: &Context,
    organisation_id: OrganisationId,
    category: &str,
) -> Result<(u32, bool), Error> {
    let stream = CategoryConfiguration::stream_id(organisation_id, category);
    let config = app.load::<CategoryConfiguration>(&stream).await?.0;
    Ok(config.map_or((DEFAULT_DAYS, false), |c| {
        (
            c.settings.number_of_days_before_action_required,
            c.settings.convene_user,
        )
    }))
}

/// A category as an organisation configured it (422 naming the field when
/// it has not).
pub async fn configured_category(
    app: &Context,
    organisation_id: OrganisationId,
    short_name: &str,
) -> Result<CategoryState, Error> {
    let stream = CategoryConfiguration::stream_id(organisation_id, short_name);
    app.load::<CategoryConfiguration>(&stream).await?.0.ok_or_else(|| {
        DomainError::invalid(
            "motif_category",
            "this organisation has not configured this motif category",
        )
        .into()
    })
}

/// The motifs of a category enabled in an organisation, not archived.
pub async fn category_motifs(
    app: &Context,
    organisation_id: OrganisationId,
    category: &str,
) -> Result<Vec<MotifView>, Error> {
    let docs = app
        .store
        .docs(
            configuration::NAME,
            configuration::ORGANISATION_MOTIFS,
            &organisation_id.to_string(),
        )
        .await?;
    Ok(docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<MotifView>(d).ok())
        .filter(|m| !m.archived && m.config.informations.category.as_deref() == Some(category))
        .collect())
}

/// An agent invites an usager of the organisation to book an RDV of a
/// category (rdv-insertion's InviteUser), by SMS, e-mail and/or letter.
#[derive(Debug, Clone)]
pub struct InviteUsager {
    pub organisation_id: OrganisationId,
    pub usager_id: UsagerId,
    /// Short name of the category, e.g. `rsa_orientation`.
    pub motif_category: String,
    /// One invitation per format, sent together or not at all.
    pub formats: Vec<InvitationFormat>,
}

/// One invitation as sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: InvitationId,
    pub format: InvitationFormat,
    /// The short link (`/i/{code}`).
    pub link: String,
    pub valid_until: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InviteAnswer {
    pub follow_up_id: FollowUpId,
    pub invitations: Vec<InvitationView>,
}

impl InviteUsager {
    /// rdv-insertion's rules (one per format per 24 h except letters, a
    /// civility and a contact for the format, no RDV to come, a motif of
    /// the category, letters valid over 5 days) are the follow-up's; this
    /// gathers the facts they need, draws the short links, and records the
    /// invitations with their messages in one unit of work. The link is
    /// valid for the category's "Délai d'expiration".
    pub async fn run<R>(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: R,
    ) -> Result<CommandOutcome, Error>
    where
        R: Fn(&InviteAnswer, &CommitSummary<'_>) -> StoredResponse + Send + Sync,
    {
        let organisation_id = self.organisation_id;
        let organisation = app
            .organisation_for(caller, Permission::Insertion, organisation_id)
            .await?;
        let usager_id = self.usager_id;
        let usager = app
            .load::<Usager>(&usager_id.to_string())
            .await?
            .0
            .filter(|u| u.organisation_ids.contains(&organisation_id))
            .ok_or_else(|| Error::not_found("usager"))?;
        if usager.archived_at.is_some() {
            return Err(DomainError::conflict("this usager is archived: unarchive them to invite them").into());
        }
        let category = configured_category(app, organisation_id, self.motif_category.trim()).await?;
        let settings = &category.settings;
        let motifs = category_motifs(app, organisation_id, &category.short_name).await?;
        let facts = InvitationFacts {
            has_title: usager.profile.title.is_some(),
            reachable: reachable(&usager.profile),
            allowed: settings.invitation_formats.clone(),
            motif_exists: !motifs.is_empty(),
            with_referents: settings.rdv_with_referents,
            referent_motif_exists: motifs.iter().any(|m| m.config.informations.follow_up),
        };
        let formats: BTreeSet<InvitationFormat> = self.formats.iter().copied().collect();
        if formats.len() != self.formats.len() {
            return Err(DomainError::invalid("formats", "each format at most once").into());
        }
        let now = app.services().now();
        let valid_until = now + Duration::days(settings.number_of_days_before_action_required.into());
        let follow_up_id = FollowUpId::of(usager_id, &category.short_name);
        let token = tokens::new_follow_up_token(follow_up_id);
        let phone = help_phone(&category, &organisation);
        let mut codes = Vec::new();
        for _ in &formats {
            let code = tokens::unused_short_code(&app.store, &codes, tokens::new_short_code).await?;
            codes.push(code);
        }
        let invitations: Vec<NewInvitation> = formats
            .iter()
            .zip(codes)
            .map(|(format, code)| NewInvitation {
                id: InvitationId::new(),
                code,
                format: *format,
                valid_until,
                organisation_ids: [organisation_id].into(),
                help_phone: phone.clone(),
                token: tokens::hash(&token),
                sealed_token: app.master_key.seal(&token),
            })
            .collect();
        let wording = InvitationWording::of(&category, &organisation, phone.as_deref().unwrap_or_default(), None);
        let messages: Vec<_> = invitations
            .iter()
            .filter_map(|i| {
                let link = short_link(&app.public_url, &i.code);
                invitation_message(i.format, &usager.profile, &wording, &link).map(|m| m.about(usager_id))
            })
            .collect();
        let answer = InviteAnswer {
            follow_up_id,
            invitations: invitations
                .iter()
                .map(|i| InvitationView {
                    id: i.id,
                    format: i.format,
                    link: short_link(&app.public_url, &i.code),
                    valid_until,
                })
                .collect(),
        };
        let invite = FollowUpCommand::InviteUsager {
            usager_id,
            category: category.short_name.clone(),
            invitations,
            facts,
        };
        let stream = follow_up_id.to_string();
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let (invite, messages, stream, answer) =
                        (invite.clone(), messages.clone(), stream.clone(), answer.clone());
                    Box::pin(async move {
                        unit.handle::<FollowUp>(&stream, invite).await?;
                        for message in messages {
                            unit.send(message);
                        }
                        Ok::<_, CommandError>(answer)
                    })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}

/// Individual (the category's convocation motif) or collective (its next
/// atelier with seats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConvocationMode {
    #[default]
    Individual,
    Collective,
}

/// An agent convokes the usager of a convocable follow-up (no-show,
/// excused, or invited past the window) to an RDV of its category.
#[derive(Debug, Clone)]
pub struct Convoquer {
    pub follow_up_id: FollowUpId,
    pub organisation_id: OrganisationId,
    pub mode: ConvocationMode,
    /// Individual: the start chosen by the agent; absent, the next free
    /// slot of the convocation motif.
    pub starts_at: Option<DateTime<FixedOffset>>,
    /// Individual: the agent; absent, one free at that time.
    pub agent_id: Option<AgentId>,
    /// Individual: the lieu (the slot's when computed).
    pub lieu_id: Option<LieuId>,
    /// Channels (default: SMS and e-mail, those the usager can receive).
    pub formats: Option<BTreeSet<InvitationFormat>>,
}

// What a convocation answers (documented in the OpenAPI by its fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConvocationAnswer {
    pub rdv_id: RdvId,
    pub follow_up_id: FollowUpId,
    /// For the convocation letter (`/v1/participations/{id}/convocation.pdf`).
    pub participation_id: ParticipationId,
    pub mode: ConvocationMode,
    pub starts_at: DateTime<Utc>,
}

/// How many of the next free slots a convocation tries, one after the other,
/// when concurrent bookings take them first.
const CANDIDATE_SLOTS: usize = 5;

/// Where and when an individual convocation goes.
struct Plan {
    agent_id: AgentId,
    lieu_id: Option<LieuId>,
    interval: Interval,
}

impl Convoquer {
    /// Checks the caller, the follow-up (convocable now), the category
    /// (configured to convene) and the usager (a civility, a channel that
    /// reaches them), then books and convokes in one unit of work.
    pub async fn run<R>(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: R,
    ) -> Result<CommandOutcome, Error>
    where
        R: Fn(&ConvocationAnswer, &CommitSummary<'_>) -> StoredResponse + Send + Sync,
    {
        let (follow_up, _) = visible_follow_up(app, caller, self.follow_up_id, None).await?;
        let organisation_id = self.organisation_id;
        let organisation = app
            .organisation_for(caller, Permission::Insertion, organisation_id)
            .await?;
        let usager = app
            .load::<Usager>(&follow_up.usager_id.to_string())
            .await?
            .0
            .filter(|u| u.organisation_ids.contains(&organisation_id))
            .ok_or_else(|| DomainError::invalid("organisation_id", "the usager is not in this organisation"))?;
        let category = configured_category(app, organisation_id, &follow_up.category).await?;
        if !category.settings.convene_user {
            return Err(DomainError::invalid("motif_category", "this category does not convene usagers").into());
        }
        if usager.profile.title.is_none() {
            return Err(
                DomainError::invalid("usager.title", "the usager's civility is needed for a convocation").into(),
            );
        }
        let formats = convocation_formats(self.formats.clone(), &usager.profile)?;
        let (days, _) = category_rules(app, organisation_id, &follow_up.category).await?;
        let now = app.services().now();
        if !follow_up.convocable(now, days) {
            return Err(DomainError::conflict(format!(
                "this follow-up is not convocable: its status is {} (convoke after a no-show, an excused RDV or an unanswered invitation)",
                follow_up.status(now).as_str()
            ))
            .into());
        }
        let motifs = category_motifs(app, organisation_id, &category.short_name).await?;
        let agent = caller.agent_id().unwrap_or_default();
        let usager_id = follow_up.usager_id;
        match self.mode {
            ConvocationMode::Individual => {
                let motif = motifs
                    .iter()
                    .filter(|m| {
                        !m.config.informations.collective && is_convocation_motif(m.config.informations.name.as_str())
                    })
                    .min_by(|a, b| a.config.informations.name.cmp(&b.config.informations.name))
                    .ok_or_else(|| {
                        DomainError::invalid(
                            "motif_category",
                            "Aucun motif de convocation n'a été retrouvé pour cette catégorie dans l'organisation",
                        )
                    })?;
                let plans = self.individual_plans(app, MotifId(motif.id)).await?;
                let booking = |plan: &Plan| Booking {
                    organisation_id,
                    motif_id: MotifId(motif.id),
                    lieu_id: plan.lieu_id,
                    agent_ids: [plan.agent_id].into(),
                    usager_ids: [usager_id].into(),
                    starts_at: plan.interval.start,
                    ends_at: plan.interval.end,
                    context: None,
                    created_by: Actor::Agent { agent_id: agent },
                    participation_token: None,
                    collective: None,
                    prescripteur: None,
                };
                let on_site = motif.config.informations.location_type == LocationType::PublicOffice;
                if on_site && plans.iter().any(|p| p.lieu_id.is_none()) {
                    return Err(DomainError::invalid("lieu_id", "a convocation on site needs a lieu").into());
                }
                // A slot another booking took since the search was made is a
                // lost race, not a reason to fail: the next free one is taken.
                let mut outcome = Err(DomainError::conflict("no free slot of the convocation motif").into());
                for plan in &plans {
                    let target = (self.follow_up_id, &organisation);
                    outcome = book_convocation(app, command, booking(plan), target, &formats, &respond).await;
                    let lost_race = matches!(&outcome, Err(Error::Domain(e)) if e.kind == ErrorKind::Conflict)
                        || matches!(&outcome, Err(Error::Command(CommandError::Conflict)));
                    if !lost_race {
                        break;
                    }
                }
                outcome
            }
            ConvocationMode::Collective => {
                let collective: BTreeSet<Uuid> = motifs
                    .iter()
                    .filter(|m| m.config.informations.collective)
                    .map(|m| m.id)
                    .collect();
                let candidates = open_ateliers(app, organisation_id, &collective, usager_id, now).await?;
                let who = (self.follow_up_id, usager_id, agent);
                join_atelier(app, command, candidates, who, &formats, respond).await
            }
        }
    }

    /// The agent's choice (start and agent), or slots the engine offers: at
    /// the given start, or the next ones (up to [`CANDIDATE_SLOTS`], in
    /// order) within eight weeks after the motif's minimum booking delay.
    async fn individual_plans(&self, app: &Context, motif_id: MotifId) -> Result<Vec<Plan>, Error> {
        let organisation_id = self.organisation_id;
        if let Some(error) = lieu_error(app, organisation_id, self.lieu_id).await? {
            return Err(DomainError::invalid_fields(vec![error]).into());
        }
        let mut search = SlotSearch::prepare(app, &organisation_id.to_string(), |_, _| Ok(()), motif_id, None).await?;
        let minutes = search.motif.config.informations.default_duration_in_min;
        if let Some(starts_at) = self.starts_at {
            requested_start(app, starts_at)?;
        }
        if let (Some(starts_at), Some(agent_id)) = (self.starts_at, self.agent_id) {
            if agent_errors(app, organisation_id, &[agent_id].into()).await?.is_empty() {
                let start = starts_at.with_timezone(&Utc);
                return Ok(vec![Plan {
                    agent_id,
                    lieu_id: self.lieu_id,
                    interval: Interval::new(start, start + Duration::minutes(minutes.into())),
                }]);
            }
            return Err(DomainError::invalid("agent_id", "no such agent in this organisation").into());
        }
        search.lieu_id = self.lieu_id;
        search.agent_id = self.agent_id;
        // A computed slot leaves the usager the motif's booking delay to learn
        // of it; the agent's own choice of time is not held to it.
        let min_delay = search.motif.config.booking.min_booking_delay_in_min;
        search.earliest = app.services().now() + Duration::minutes(min_delay.into());
        let wanted = self.starts_at.map(|s| s.with_timezone(&Utc));
        let first_day = match wanted {
            Some(start) => start.with_timezone(&search.zone()).date_naive(),
            None => search.from,
        };
        for week in 0..8 {
            search.from = first_day + Duration::weeks(week);
            search.to = search.from + Duration::days(6);
            let found: Vec<Plan> = engine::search(app, &search)
                .await?
                .into_iter()
                .filter(|s| wanted.is_none_or(|w| s.starts_at == w))
                .take(CANDIDATE_SLOTS)
                .map(|slot| Plan {
                    agent_id: slot.agent,
                    lieu_id: slot.lieu,
                    interval: Interval::new(slot.starts_at, slot.ends_at),
                })
                .collect();
            if !found.is_empty() {
                return Ok(found);
            }
            if wanted.is_some() {
                break;
            }
        }
        Err(DomainError::conflict("no free slot of the convocation motif: give a start and an agent").into())
    }
}

/// The channels of a convocation: those asked for, each reachable (422
/// naming the bad one), or by default the usager's SMS and e-mail.
fn convocation_formats(
    asked: Option<BTreeSet<InvitationFormat>>,
    usager: &UsagerProfile,
) -> Result<BTreeSet<InvitationFormat>, Error> {
    let reachable = reachable(usager);
    let formats = match asked {
        Some(asked) => {
            let mut errors = Vec::new();
            for (i, format) in asked.iter().enumerate() {
                let message = match format {
                    InvitationFormat::Postal => Some("a convocation letter is downloaded, not sent: ask sms or email"),
                    InvitationFormat::Sms if !reachable.contains(format) => {
                        Some("the usager has no mobile phone number for an SMS")
                    }
                    InvitationFormat::Email if !reachable.contains(format) => Some("the usager has no e-mail address"),
                    _ => None,
                };
                if let Some(message) = message {
                    errors.push(FieldError::new(format!("formats[{i}]"), message));
                }
            }
            if !errors.is_empty() {
                return Err(DomainError::invalid_fields(errors).into());
            }
            asked
        }
        None => sms_and_email().intersection(&reachable).copied().collect(),
    };
    if formats.is_empty() {
        return Err(DomainError::invalid(
            "formats",
            "the usager can be reached neither by SMS (a mobile) nor by e-mail",
        )
        .into());
    }
    Ok(formats)
}

async fn book_convocation<R>(
    app: &Context,
    command: &CommandContext,
    booking: Booking,
    (follow_up_id, organisation): (FollowUpId, &OrganisationState),
    formats: &BTreeSet<InvitationFormat>,
    respond: &R,
) -> Result<CommandOutcome, Error>
where
    R: Fn(&ConvocationAnswer, &CommitSummary<'_>) -> StoredResponse + Send + Sync,
{
    let rdv_id = RdvId::new();
    let token = tokens::new_participation_token(rdv_id);
    let booking = Booking {
        participation_token: Some((tokens::hash(&token), app.services().now() + participation_token_ttl())),
        ..booking
    };
    let usager_id = booking.usager_ids.first().copied().unwrap_or_default();
    let answer = ConvocationAnswer {
        rdv_id,
        follow_up_id,
        participation_id: ParticipationId::of(rdv_id, usager_id),
        mode: ConvocationMode::Individual,
        starts_at: booking.starts_at,
    };
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (booking, organisation, formats, answer) =
                    (booking.clone(), organisation.clone(), formats.clone(), answer.clone());
                Box::pin(async move {
                    let interval = Interval::new(booking.starts_at, booking.ends_at);
                    let agents = booking.agent_ids.clone();
                    unit.new_stream::<Rdv>(&rdv_id.to_string());
                    let book = RdvCommand::BookRdv {
                        booking: Box::new(booking),
                    };
                    change_rdv_notifying(unit, rdv_id, book, &formats).await?;
                    reserve(unit, rdv_id, &agents, interval, &organisation, true).await?;
                    Ok::<_, CommandError>(answer)
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

/// The category's ateliers an usager could join, earliest first: to come,
/// not cancelled, with seats by the read model, without the usager.
async fn open_ateliers(
    app: &Context,
    organisation_id: OrganisationId,
    motifs: &BTreeSet<Uuid>,
    usager_id: UsagerId,
    now: DateTime<Utc>,
) -> Result<Vec<RdvId>, Error> {
    let docs = app
        .store
        .docs(rdv_views::NAME, rdv_views::RDVS, &organisation_id.to_string())
        .await?;
    let mut ateliers: Vec<RdvDoc> = docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<RdvDoc>(d).ok())
        .filter(|r| {
            let seats = r.collective.as_ref().map(AtelierView::seats_left);
            motifs.contains(&r.motif_id)
                && r.starts_at > now
                && !r.status.is_cancelled()
                && seats.is_some_and(|left| left.is_none_or(|l| l > 0))
                && !r.usager_ids.contains(&usager_id.0)
        })
        .collect();
    ateliers.sort_by_key(|r| (r.starts_at, r.id));
    if ateliers.is_empty() {
        return Err(DomainError::conflict("Aucun atelier à venir de cette catégorie n'a de place disponible").into());
    }
    Ok(ateliers.into_iter().map(|r| RdvId(r.id)).collect())
}

/// Adds the usager to the first candidate atelier that still has a seat
/// when the transaction reads it.
async fn join_atelier<R>(
    app: &Context,
    command: &CommandContext,
    candidates: Vec<RdvId>,
    (follow_up_id, usager_id, agent_id): (FollowUpId, UsagerId, AgentId),
    formats: &BTreeSet<InvitationFormat>,
    respond: R,
) -> Result<CommandOutcome, Error>
where
    R: Fn(&ConvocationAnswer, &CommitSummary<'_>) -> StoredResponse + Send + Sync,
{
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (candidates, formats) = (candidates.clone(), formats.clone());
                Box::pin(async move {
                    for rdv_id in candidates {
                        let rdv = unit.current::<Rdv>(&rdv_id.to_string()).await?;
                        let Some(rdv) = rdv.0 else { continue };
                        let full = rdv.seats_left().is_some_and(|left| left <= 0);
                        if full || rdv.status.is_cancelled() || rdv.participations.contains_key(&usager_id) {
                            continue;
                        }
                        let token = tokens::new_participation_token(rdv_id);
                        let command = RdvCommand::AddParticipant {
                            usager_id,
                            by: Actor::Agent { agent_id },
                            participation_token: Some((tokens::hash(&token), unit.now() + participation_token_ttl())),
                        };
                        let (_, after) = change_rdv_notifying(unit, rdv_id, command, &formats).await?;
                        return Ok::<_, CommandError>(ConvocationAnswer {
                            rdv_id,
                            follow_up_id,
                            participation_id: ParticipationId::of(rdv_id, usager_id),
                            mode: ConvocationMode::Collective,
                            starts_at: after.booking.starts_at,
                        });
                    }
                    Err(
                        DomainError::conflict("Aucun atelier à venir de cette catégorie n'a de place disponible")
                            .into(),
                    )
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}
