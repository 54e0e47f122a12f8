//! Booking an RDV: [`BookRdv`] by an agent (any time, any agent of the
//! organisation; overlaps, duplicates and a start in the past are
//! warnings, as in RDV Service Public) and [`BookPublicRdv`] by an usager
//! (offered slots only, never two RDVs on one agent's time: the agent's day
//! is reserved in the same transaction as the RDV is created).

use crate::{
    Context, Error,
    availability::{self as engine, PublicCaller, SlotSearch},
    caller::{Caller, Place},
    notifications::RdvNotice,
    rdv_changes::{
        Warning, agent_errors, change_rdv, lieu_error, next_slots, requested_duration, requested_start, reserve,
        usager_in,
    },
    rdv_notices::{Recipient, notice_context, notice_context_of, notify_all, queue_notice},
    tokens,
    usagers::usager_field_settings,
};
use chrono::{DateTime, Duration, FixedOffset};
use rdv_domain::{
    DomainError, ErrorKind, FieldError,
    agent_day::AgentDay,
    availability::slots::{Interval, Slot},
    follow_up::{FollowUp, FollowUpState},
    ids::{AgentId, LieuId, MotifId, OrganisationId, RdvId, UsagerId},
    organisation::OrganisationState,
    rdv::{Actor, Atelier, Booking, Prescripteur, Rdv, RdvCommand, participation_token_ttl},
    rights::Permission,
    usager::{Usager, UsagerCommand, UsagerProfile},
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome, CommitSummary, StoredResponse, UnitOfWork};
use serde::Serialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// An agent books an RDV (`POST /v1/rdvs`).
#[derive(Debug, Clone)]
pub struct BookRdv {
    pub organisation_id: OrganisationId,
    pub motif_id: MotifId,
    pub lieu_id: Option<LieuId>,
    pub agent_ids: BTreeSet<AgentId>,
    pub usager_ids: BTreeSet<UsagerId>,
    pub starts_at: DateTime<FixedOffset>,
    /// Defaults to the motif's duration.
    pub duration_in_min: Option<u32>,
    /// The internal "Contexte" note.
    pub context: Option<String>,
    /// Collective motifs only: the atelier's title.
    pub name: Option<String>,
    /// Collective motifs only: seats (default: the motif's).
    pub max_participants_count: Option<u32>,
}

/// What booking answers: the new RDV and what the agent should know.
#[derive(Debug, Clone)]
pub struct Booked {
    pub rdv_id: RdvId,
    pub warnings: Vec<Warning>,
}

/// An atelier title longer than this is a warning.
const LONG_ATELIER_NAME: usize = 50;

impl BookRdv {
    /// Checks who may book and what the request names, then books in one
    /// unit of work: the RDV, the agents' time, the follow-ups of its
    /// usagers and their notices. `respond` shapes the stored answer.
    pub async fn run<R>(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: R,
    ) -> Result<CommandOutcome, Error>
    where
        R: Fn(&Booked, &CommitSummary<'_>) -> StoredResponse + Send + Sync,
    {
        let organisation_path = self.organisation_id.to_string();
        let authorize =
            |o, org: &OrganisationState| caller.require(Permission::Rdvs, Place::Organisation(o, org.territory_id));
        let search = SlotSearch::prepare(app, &organisation_path, authorize, self.motif_id, None).await?;
        let mut errors = agent_errors(app, self.organisation_id, &self.agent_ids).await?;
        errors.extend(lieu_error(app, self.organisation_id, self.lieu_id).await?);
        for (i, usager) in self.usager_ids.iter().enumerate() {
            if !usager_in(app, *usager, self.organisation_id).await? {
                errors.push(FieldError::new(
                    format!("usager_ids[{i}]"),
                    "no such usager in this organisation",
                ));
            }
        }
        let informations = &search.motif.config.informations;
        let collective = if informations.collective {
            Some(Atelier {
                name: self.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                max_participants: self.max_participants_count.or(informations.max_participants),
            })
        } else {
            for (field, given) in [
                ("name", self.name.is_some()),
                ("max_participants_count", self.max_participants_count.is_some()),
            ] {
                if given {
                    errors.push(FieldError::new(field, "only for a collective motif"));
                }
            }
            None
        };
        if !errors.is_empty() {
            return Err(DomainError::invalid_fields(errors).into());
        }
        let mut atelier_warnings = Vec::new();
        if let Some(atelier) = &collective {
            if atelier
                .name
                .as_ref()
                .is_some_and(|n| n.chars().count() > LONG_ATELIER_NAME)
            {
                atelier_warnings.push(Warning::LongName);
            }
            if atelier
                .max_participants
                .is_some_and(|max| self.usager_ids.len() > max as usize)
            {
                atelier_warnings.push(Warning::TooManyParticipants);
            }
        }
        let starts_at = requested_start(app, self.starts_at)?;
        let default = Duration::minutes(informations.default_duration_in_min.into());
        let interval = Interval::new(
            starts_at,
            starts_at + requested_duration(self.duration_in_min, default)?,
        );
        let rdv_id = RdvId::new();
        let token = tokens::new_participation_token(rdv_id);
        let booking = Booking {
            organisation_id: self.organisation_id,
            motif_id: self.motif_id,
            lieu_id: self.lieu_id,
            agent_ids: self.agent_ids,
            usager_ids: self.usager_ids,
            starts_at: interval.start,
            ends_at: interval.end,
            context: self.context.map(|c| c.trim().to_string()).filter(|c| !c.is_empty()),
            created_by: Actor::Agent {
                agent_id: caller.agent_id().unwrap_or_default(),
            },
            participation_token: Some((tokens::hash(&token), app.services().now() + participation_token_ttl())),
            collective,
            prescripteur: None,
        };
        let notice = notice_context(app, &booking).await?;
        let organisation = search.organisation;
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let (booking, organisation, notice, token, mut warnings) = (
                        booking.clone(),
                        organisation.clone(),
                        notice.clone(),
                        token.clone(),
                        atelier_warnings.clone(),
                    );
                    Box::pin(async move {
                        unit.new_stream::<Rdv>(&rdv_id.to_string());
                        let usagers = booking.usager_ids.iter().copied();
                        let start = booking.starts_at;
                        notify_all(unit, &notice, RdvNotice::Created, usagers, start, Some(&token), true).await?;
                        let agents = booking.agent_ids.clone();
                        warnings.extend(duplicates(unit, &booking, &organisation).await?);
                        let book = RdvCommand::BookRdv {
                            booking: Box::new(booking),
                        };
                        change_rdv(unit, rdv_id, book).await?;
                        warnings.extend(reserve(unit, rdv_id, &agents, interval, &organisation, false).await?);
                        if interval.start < unit.now() {
                            warnings.push(Warning::StartInThePast);
                        }
                        Ok::<_, CommandError>(Booked { rdv_id, warnings })
                    })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}

/// RDV Service Public's duplicate rules, among the RDVs already on the
/// agents' day: an identical RDV (organisation, lieu, motif, times, usagers
/// and agents, not cancelled) is refused; one with the same usager and motif
/// that day is a "suspected duplicate" warning.
async fn duplicates(
    unit: &mut UnitOfWork<'_>,
    booking: &Booking,
    organisation: &OrganisationState,
) -> Result<Vec<Warning>, CommandError> {
    let day = booking.starts_at.with_timezone(&organisation.timezone.0).date_naive();
    let mut seen = BTreeSet::new();
    let mut warnings = Vec::new();
    for agent in &booking.agent_ids {
        let (agent_day, _) = unit.load::<AgentDay>(&AgentDay::stream_id(*agent, day)).await?;
        for other_id in agent_day.reservations.keys().filter(|id| seen.insert(**id)) {
            let (other, _) = unit.load::<Rdv>(&other_id.to_string()).await?;
            let Some(other) = other.0.filter(|o| !o.status.is_cancelled()) else {
                continue;
            };
            let b = &other.booking;
            let identical = (b.organisation_id, b.lieu_id, b.motif_id, b.starts_at, b.ends_at)
                == (
                    booking.organisation_id,
                    booking.lieu_id,
                    booking.motif_id,
                    booking.starts_at,
                    booking.ends_at,
                )
                && b.usager_ids == booking.usager_ids
                && b.agent_ids == booking.agent_ids;
            if identical {
                return Err(DomainError::conflict("an identical RDV already exists").into());
            }
            if b.motif_id == booking.motif_id && !b.usager_ids.is_disjoint(&booking.usager_ids) {
                warnings.push(Warning::SuspectedDuplicate { rdv_id: *other_id });
            }
        }
    }
    Ok(warnings)
}

/// Who books online.
#[derive(Debug, Clone)]
pub enum Booker {
    /// An usager (or a prescripteur for them) who is not known yet: the
    /// profile as typed, checked against the espace's usager fields.
    New(UsagerProfile),
    /// The usager an invitation's token opens.
    Invited { token: String },
}

/// An usager books an offered slot (`POST /v1/public/rdvs`), without login.
#[derive(Debug, Clone)]
pub struct BookPublicRdv {
    pub organisation_id: OrganisationId,
    pub motif_id: MotifId,
    pub lieu_id: Option<LieuId>,
    /// Must be a slot the search offers now.
    pub starts_at: DateTime<FixedOffset>,
    pub booker: Booker,
    /// A professional booking for the usager (RDV Service Public's
    /// prescripteur), allowed for motifs naming prescripteurs too.
    pub prescripteur: Option<Prescripteur>,
}

/// What an usager gets back: the RDV and its magic link token (12 weeks).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicBookingAnswer {
    pub rdv_id: RdvId,
    pub usager_id: UsagerId,
    pub agent_id: AgentId,
    pub participation_token: String,
}

impl BookPublicRdv {
    /// Books the slot with a free agent among those offering it, chosen by
    /// [`agent_preference`]. A slot not offered, or taken meanwhile, is
    /// [`Error::SlotTaken`] with the next slots the usager could book. The
    /// events name the usager as their actor (`usager:<id>`), and an online
    /// booking takes no idempotency key: the slot itself is the guard.
    pub async fn run<R>(self, app: &Context, mut command: CommandContext, respond: R) -> Result<CommandOutcome, Error>
    where
        R: Fn(&PublicBookingAnswer, &CommitSummary<'_>) -> StoredResponse + Send + Sync,
    {
        let (profile, existing, caller) = match self.booker {
            Booker::Invited { token } => {
                let follow_up = invited_follow_up(app, &token, self.organisation_id).await?;
                let usager = app.load::<Usager>(&follow_up.usager_id.to_string()).await?;
                let profile = usager.state()?.profile.clone();
                let caller = PublicCaller::Invited {
                    category: follow_up.category,
                };
                (profile, Some(follow_up.usager_id), caller)
            }
            Booker::New(profile) => {
                usager_field_settings(app, self.organisation_id)
                    .await?
                    .check_values(&profile.custom)?;
                let caller = match self.prescripteur {
                    Some(_) => PublicCaller::Prescripteur,
                    None => PublicCaller::Usager,
                };
                (profile, None, caller)
            }
        };
        let organisation_path = self.organisation_id.to_string();
        let mut search = SlotSearch::prepare(app, &organisation_path, |_, _| Ok(()), self.motif_id, None).await?;
        search.check_public(&caller)?;
        if let Some(error) = lieu_error(app, self.organisation_id, self.lieu_id).await? {
            return Err(DomainError::invalid_fields(vec![error]).into());
        }
        if search.motif.config.informations.collective {
            return Err(DomainError::invalid(
                "motif_id",
                "a collective motif: sign up to one of its ateliers (POST /v1/public/rdvs/{id}/participants)",
            )
            .into());
        }
        search.lieu_id = self.lieu_id;
        search.public_window(app.services().now());
        let starts_at = requested_start(app, self.starts_at)?;
        let day = starts_at.with_timezone(&search.zone()).date_naive();
        search.from = day;
        search.to = day;
        let offered: Vec<Slot> = engine::search(app, &search)
            .await?
            .into_iter()
            .filter(|s| s.starts_at == starts_at)
            .collect();
        let Some(first) = offered.first().copied() else {
            let next_slots = next_slots(app, &mut search, day).await?;
            return Err(Error::SlotTaken {
                message: "this slot is not offered".into(),
                next_slots,
            });
        };
        let (day_start, day_end) = search.day_bounds(day);
        let counts = app.availability.read(|c| {
            offered
                .iter()
                .map(|s| (c.reservations_between(s.agent.0, day_start, day_end), s.agent))
                .collect()
        });
        let interval = Interval::new(first.starts_at, first.ends_at);
        let (rdv_id, usager_id) = (RdvId::new(), existing.unwrap_or_else(UsagerId::new));
        command.actor = format!("usager:{usager_id}");
        command.idempotency = None;
        let candidates = agent_preference(counts, rdv_id);
        let token = tokens::new_participation_token(rdv_id);
        let token_hash = tokens::hash(&token);
        let organisation = search.organisation.clone();
        let notice = notice_context_of(app, self.organisation_id, self.motif_id, first.lieu).await?;
        let prescripteur = self.prescripteur;
        let (motif_id, lieu_id, organisation_id) = (self.motif_id, first.lieu, self.organisation_id);
        let outcome = app
            .commands
            .run(
                &command,
                |unit| {
                    let (candidates, organisation, profile, token, token_hash, notice, prescripteur) = (
                        candidates.clone(),
                        organisation.clone(),
                        profile.clone(),
                        token.clone(),
                        token_hash.clone(),
                        notice.clone(),
                        prescripteur.clone(),
                    );
                    Box::pin(async move {
                        let day = interval.start.with_timezone(&organisation.timezone.0).date_naive();
                        let mut chosen = None;
                        for agent in candidates {
                            let (agent_day, _) = unit.load::<AgentDay>(&AgentDay::stream_id(agent, day)).await?;
                            if agent_day.overlapping(rdv_id, interval).is_empty() {
                                chosen = Some(agent);
                                break;
                            }
                        }
                        let Some(agent) = chosen else {
                            return Err(DomainError::conflict("this slot was just taken").into());
                        };
                        if existing.is_none() {
                            unit.new_stream::<Usager>(&usager_id.to_string());
                            let create = UsagerCommand::CreateUsager {
                                organisation_ids: [organisation_id].into(),
                                profile: profile.clone(),
                            };
                            unit.handle::<Usager>(&usager_id.to_string(), create).await?;
                        }
                        let booking = Booking {
                            organisation_id,
                            motif_id,
                            lieu_id,
                            agent_ids: [agent].into(),
                            usager_ids: [usager_id].into(),
                            starts_at: interval.start,
                            ends_at: interval.end,
                            context: None,
                            created_by: Actor::Usager,
                            participation_token: Some((token_hash, unit.now() + participation_token_ttl())),
                            collective: None,
                            prescripteur,
                        };
                        unit.new_stream::<Rdv>(&rdv_id.to_string());
                        let book = RdvCommand::BookRdv {
                            booking: Box::new(booking),
                        };
                        change_rdv(unit, rdv_id, book).await?;
                        reserve(unit, rdv_id, &[agent].into(), interval, &organisation, true).await?;
                        let recipient = Recipient {
                            id: usager_id,
                            profile: profile.clone(),
                        };
                        let start = interval.start;
                        queue_notice(unit, &notice, RdvNotice::Created, &recipient, start, Some(&token), true);
                        Ok::<_, CommandError>(PublicBookingAnswer {
                            rdv_id,
                            usager_id,
                            agent_id: agent,
                            participation_token: token,
                        })
                    })
                },
                respond,
            )
            .await;
        match outcome {
            Ok(outcome) => Ok(outcome),
            Err(CommandError::Domain(e)) if e.kind == ErrorKind::Conflict => Err(Error::SlotTaken {
                message: e.message,
                next_slots: next_slots(app, &mut search, day).await?,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// The order in which an usager's booking tries the agents offering the
/// slot: the least busy that day first (spreading the work), agents within
/// [`LOAD_STEP`] RDVs of each other drawn at random (as RDV Service
/// Public's `.sample`) so that concurrent bookings of one time rarely race
/// for the same agent's day. The draw comes from the new RDV's id; the
/// counts from the availability index.
fn agent_preference(mut candidates: Vec<(usize, AgentId)>, rdv_id: RdvId) -> Vec<AgentId> {
    let seed = rdv_id.0.as_u128() as u64;
    candidates.sort_by_key(|(count, agent)| (*count / LOAD_STEP, mix(seed ^ agent.0.as_u128() as u64)));
    candidates.into_iter().map(|(_, agent)| agent).collect()
}

/// Day loads this close count as equal when choosing an agent: with exact
/// counts, every booking running at once would pick the one least busy
/// agent and all but one would retry.
const LOAD_STEP: usize = 4;

/// SplitMix64's finaliser: a well-spread hash of a 64-bit value.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The follow-up an invitation token opens, when one of its invitations
/// with that token is valid now for this organisation (422 naming
/// `invitation_token` otherwise, whatever the reason).
pub async fn invited_follow_up(
    app: &Context,
    token: &str,
    organisation_id: OrganisationId,
) -> Result<FollowUpState, Error> {
    let invalid = || {
        Error::from(DomainError::invalid(
            "invitation_token",
            "this invitation is not valid (expired, or for another organisation)",
        ))
    };
    let token = token.trim();
    let follow_up_id = tokens::follow_up_of_token(token).ok_or_else(invalid)?;
    let follow_up = app
        .load::<FollowUp>(&follow_up_id.to_string())
        .await?
        .0
        .ok_or_else(invalid)?;
    let (hash, now) = (tokens::hash(token), app.services().now());
    let valid = follow_up
        .invitations
        .iter()
        .any(|i| i.token == hash && i.is_valid(now) && i.organisation_ids.contains(&organisation_id));
    if valid { Ok(follow_up) } else { Err(invalid()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_busy_agent_comes_first_and_ties_are_drawn() {
        let (a, b, c) = (AgentId::new(), AgentId::new(), AgentId::new());
        assert_eq!(agent_preference(vec![(9, a), (1, b), (5, c)], RdvId::new()), [b, c, a]);
        let firsts: BTreeSet<AgentId> = (0..64)
            .map(|_| agent_preference(vec![(1, a), (2, b), (5, c)], RdvId::new())[0])
            .collect();
        assert_eq!(
            firsts,
            [a, b].into(),
            "agents within LOAD_STEP RDVs are drawn first, never the busier one"
        );
    }
}
