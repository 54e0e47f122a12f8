//! A follow-up (rdv-insertion's FollowUp, formerly RdvContext): one usager
//! in one motif category, with its invitations, the participations of its
//! RDVs, the convocation notices sent and its closing. Its status is a pure
//! function of this history and the instant ([`status`]).
//!
//! Participations reach it in the same unit of work as the RDV change that
//! causes them, so the follow-up never lags behind its RDVs.

pub mod daily;
pub mod status;
#[cfg(test)]
mod tests;

pub use status::{ActionReason, FollowUpStatus};

use crate::{
    DomainError, FieldError, Services, VersionedAggregate,
    category::InvitationFormat,
    ids::{AgentId, FollowUpId, InvitationId, LieuId, MotifId, OrganisationId, RdvId, UsagerId},
    rdv::{Actor, RdvStatus},
    values::TokenHash,
};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

/// What sent an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationTrigger {
    /// An agent.
    Manual,
    /// The reminder 3 days after the first invitation.
    Reminder,
    Periodic,
}

/// One invitation as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Invitation {
    pub id: InvitationId,
    /// The short link's code (`/i/{code}`): 8 characters `A-Z0-9`.
    pub code: String,
    pub format: InvitationFormat,
    pub trigger: InvitationTrigger,
    pub created_at: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    pub organisation_ids: BTreeSet<OrganisationId>,
    pub help_phone: String,
    /// Digest of the booking token the link carries (shared by the
    /// reminders of one invitation).
    pub token: TokenHash,
    /// The same token sealed with the master key: the short link opens it
    /// to redirect with it. Never in clear in the store.
    pub sealed_token: String,
    pub clicked: bool,
}

impl Invitation {
    pub fn is_valid(&self, now: DateTime<Utc>) -> bool {
        self.valid_until > now
    }

    /// A new invitation carrying this one's token and organisations (a
    /// reminder keeps its code and deadline; a periodic invite gets new ones).
    pub fn copy(&self, format: InvitationFormat, code: String, valid_until: DateTime<Utc>) -> NewInvitation {
        NewInvitation {
            id: InvitationId::new(),
            code,
            format,
            valid_until,
            organisation_ids: self.organisation_ids.clone(),
            help_phone: Some(self.help_phone.clone()),
            token: self.token.clone(),
            sealed_token: self.sealed_token.clone(),
        }
    }
}

/// An RDV participation as the follow-up knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct TrackedParticipation {
    pub rdv_id: RdvId,
    pub organisation_id: OrganisationId,
    pub motif_id: MotifId,
    pub lieu_id: Option<LieuId>,
    /// When the participation was first seen: the RDV's booking or the
    /// usager's joining.
    pub created_at: DateTime<Utc>,
    pub created_by: Actor,
    pub starts_at: DateTime<Utc>,
    pub status: RdvStatus,
    /// Set once, when the participation is created (rdv-insertion): the
    /// usager was convoked, so notices come from the follow-up.
    pub convocable: bool,
    /// The channels its convocation notices use, chosen at creation (SMS
    /// and e-mail unless a convocation asked for fewer).
    #[serde(default = "sms_and_email")]
    pub notice_formats: BTreeSet<InvitationFormat>,
}

/// Convocation notices go by SMS and e-mail (letters are downloaded).
pub fn sms_and_email() -> BTreeSet<InvitationFormat> {
    [InvitationFormat::Sms, InvitationFormat::Email].into()
}

/// A convocation notice (rdv-insertion's Notification events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeEvent {
    ParticipationCreated,
    ParticipationUpdated,
    ParticipationCancelled,
    ParticipationReminder,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct SentNotice {
    pub rdv_id: RdvId,
    pub event: NoticeEvent,
    pub format: InvitationFormat,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FollowUp(pub Option<FollowUpState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpState {
    pub usager_id: UsagerId,
    pub category: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub invitations: Vec<Invitation>,
    pub participations: BTreeMap<RdvId, TrackedParticipation>,
    pub notices: Vec<SentNotice>,
    pub referents: BTreeSet<AgentId>,
}

/// What the caller read about the usager and the category before inviting
/// (the aggregate cannot load them); the aggregate turns them into
/// rdv-insertion's validation messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InvitationFacts {
    /// The usager's civility is known (messages address them by it).
    pub has_title: bool,
    /// The formats the usager can be reached by: a mobile for sms, an
    /// e-mail, a postal address.
    pub reachable: BTreeSet<InvitationFormat>,
    /// The formats the category configuration allows.
    pub allowed: BTreeSet<InvitationFormat>,
    /// A motif of the category is enabled in an organisation invited to.
    pub motif_exists: bool,
    /// The configuration asks for RDVs with referents.
    pub with_referents: bool,
    /// A `follow_up` motif exists in the category (for referent RDVs).
    pub referent_motif_exists: bool,
}

/// One invitation to send, prepared by the caller (its code and token are
/// random, so they come from outside the aggregate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewInvitation {
    pub id: InvitationId,
    pub code: String,
    pub format: InvitationFormat,
    pub valid_until: DateTime<Utc>,
    pub organisation_ids: BTreeSet<OrganisationId>,
    /// None when neither the category nor the organisation has a phone.
    pub help_phone: Option<String>,
    pub token: TokenHash,
    pub sealed_token: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum FollowUpCommand {
    /// An agent invites the usager (one invitation per format, all or none).
    InviteUsager {
        usager_id: UsagerId,
        category: String,
        invitations: Vec<NewInvitation>,
        facts: InvitationFacts,
    },
    /// The scheduler's reminder or periodic invite: copies of an earlier
    /// invitation under a new id.
    SendFollowUpInvitation {
        invitations: Vec<NewInvitation>,
        trigger: InvitationTrigger,
    },
    /// The usager followed an invitation link.
    RecordClick {
        invitation_id: InvitationId,
    },
    /// An RDV of the category was booked or changed; `optional` is the
    /// category's `optional_rdv_subscription`, `convocable` what the
    /// participation is if it is new.
    TrackParticipation {
        usager_id: UsagerId,
        category: String,
        participation: Box<TrackedParticipation>,
        optional: bool,
    },
    /// The usager left the RDV.
    UntrackParticipation {
        rdv_id: RdvId,
    },
    /// A convocation notice went out (or its letter was downloaded).
    RecordNotice {
        rdv_id: RdvId,
        event: NoticeEvent,
        format: InvitationFormat,
    },
    CloseFollowUp,
    ReopenFollowUp,
    /// The usager's referents in this follow-up (RDVs "avec référents").
    SetReferents {
        agent_ids: BTreeSet<AgentId>,
    },
    /// Ends every valid invitation now (the usager was archived).
    InvalidateInvitations,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum FollowUpEvent {
    FollowUpOpened {
        usager_id: UsagerId,
        category: String,
    },
    UsagerInvited {
        invitation: Invitation,
    },
    InvitationClicked {
        invitation_id: InvitationId,
    },
    /// `valid_until` set to `at` (rdv-insertion's InvalidateLink).
    InvitationsInvalidated {
        invitation_ids: Vec<InvitationId>,
        at: DateTime<Utc>,
    },
    ParticipationTracked {
        participation: TrackedParticipation,
    },
    ParticipationUntracked {
        rdv_id: RdvId,
    },
    NoticeSent {
        notice: SentNotice,
    },
    FollowUpClosed {
        at: DateTime<Utc>,
    },
    FollowUpReopened,
    ReferentsSet {
        agent_ids: BTreeSet<AgentId>,
    },
}

crate::versioned_events!(FollowUpEvent {
    FollowUpOpened => "1.0",
    UsagerInvited => "1.0",
    InvitationClicked => "1.0",
    InvitationsInvalidated => "1.0",
    ParticipationTracked => "1.0",
    ParticipationUntracked => "1.0",
    NoticeSent => "1.0",
    FollowUpClosed => "1.0",
    FollowUpReopened => "1.0",
    ReferentsSet => "1.0",
});

/// A postal invitation must stay valid more than this long (time to post).
pub fn postal_validity_minimum() -> Duration {
    Duration::days(5)
}

impl FollowUp {
    pub fn state(&self) -> Result<&FollowUpState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("follow-up"))
    }

    /// The follow-up's id, once opened.
    pub fn id(&self) -> Option<FollowUpId> {
        self.0.as_ref().map(|s| FollowUpId::of(s.usager_id, &s.category))
    }

    /// The event opening the follow-up when it does not exist yet.
    fn open(&self, usager_id: UsagerId, category: &str) -> Option<FollowUpEvent> {
        self.0.is_none().then(|| FollowUpEvent::FollowUpOpened {
            usager_id,
            category: category.to_string(),
        })
    }

    fn valid_invitations(&self, now: DateTime<Utc>) -> Vec<InvitationId> {
        self.0
            .iter()
            .flat_map(|s| &s.invitations)
            .filter(|i| i.is_valid(now))
            .map(|i| i.id)
            .collect()
    }
}

impl FollowUpState {
    /// A follow-up just opened: nothing sent, nothing booked.
    pub fn new(usager_id: UsagerId, category: String) -> Self {
        Self {
            usager_id,
            category,
            closed_at: None,
            invitations: Vec::new(),
            participations: BTreeMap::new(),
            notices: Vec::new(),
            referents: BTreeSet::new(),
        }
    }

    /// The organisations the follow-up touches: those its invitations name
    /// and those of its RDVs (where it is listed, and who may see it).
    pub fn organisations(&self) -> BTreeSet<OrganisationId> {
        self.invitations
            .iter()
            .flat_map(|i| i.organisation_ids.iter().copied())
            .chain(self.participations.values().map(|p| p.organisation_id))
            .collect()
    }

    /// rdv-insertion's `Invitations::Validate`, on the facts the caller read.
    fn check_invitations(
        &self,
        invitations: &[NewInvitation],
        facts: &InvitationFacts,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        let mut bad = |field: String, message: String| errors.push(FieldError::new(field, message));
        if self.closed_at.is_some() {
            return Err(DomainError::conflict(
                "ce suivi est clôturé : rouvrez-le avant d'inviter",
            ));
        }
        if self.has_pending_rdv(now) {
            return Err(DomainError::conflict(
                "Cet usager a déjà un rendez-vous à venir pour ce motif",
            ));
        }
        if !facts.has_title {
            bad(
                "usager.title".into(),
                "La civilité de l'usager doit être renseignée pour l'inviter".into(),
            );
        }
        if !facts.motif_exists {
            bad(
                "motif_category".into(),
                "Aucun motif de cette catégorie n'est ouvert dans les organisations de l'invitation".into(),
            );
        }
        if facts.with_referents && (self.referents.is_empty() || !facts.referent_motif_exists) {
            bad(
                "referents".into(),
                "Un référent doit être assigné à l'usager et un motif de suivi ouvert pour les rendez-vous avec référents"
                    .into(),
            );
        }
        for (i, invitation) in invitations.iter().enumerate() {
            let field = format!("formats[{i}]");
            let format = invitation.format;
            if !facts.allowed.contains(&format) {
                bad(
                    field.clone(),
                    format!("le format {} n'est pas ouvert pour cette catégorie", format.as_str()),
                );
            }
            if !facts.reachable.contains(&format) {
                let message = match format {
                    InvitationFormat::Sms => {
                        "Le téléphone de l'usager doit être un numéro de portable pour l'inviter par sms"
                    }
                    InvitationFormat::Email => {
                        "L'adresse email de l'usager doit être renseignée pour l'inviter par email"
                    }
                    InvitationFormat::Postal => {
                        "L'adresse de l'usager doit être renseignée pour l'inviter par courrier"
                    }
                };
                bad(field.clone(), message.into());
            }
            let sent_today = self
                .invitations
                .iter()
                .any(|i| i.format == format && i.created_at > now - Duration::hours(24));
            if format != InvitationFormat::Postal && sent_today {
                bad(
                    field.clone(),
                    format!(
                        "Une invitation {} a déjà été envoyée aujourd'hui à cet usager",
                        format.as_str()
                    ),
                );
            }
            if format == InvitationFormat::Postal && invitation.valid_until <= now + postal_validity_minimum() {
                bad(
                    field.clone(),
                    "La durée de validité de l'invitation pour un courrier doit être supérieure à 5 jours".into(),
                );
            }
            if invitation.help_phone.is_none() {
                bad(
                    "help_phone".into(),
                    "Le téléphone de contact de l'organisation doit être renseigné".into(),
                );
            }
        }
        if invitations.is_empty() {
            bad("formats".into(), "give at least one format".into());
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::invalid_fields(errors))
        }
    }
}

fn sent(invitation: NewInvitation, trigger: InvitationTrigger, now: DateTime<Utc>) -> FollowUpEvent {
    FollowUpEvent::UsagerInvited {
        invitation: Invitation {
            id: invitation.id,
            code: invitation.code,
            format: invitation.format,
            trigger,
            created_at: now,
            valid_until: invitation.valid_until,
            organisation_ids: invitation.organisation_ids,
            help_phone: invitation.help_phone.unwrap_or_default(),
            token: invitation.token,
            sealed_token: invitation.sealed_token,
            clicked: false,
        },
    }
}

impl Aggregate for FollowUp {
    const TYPE: &'static str = "FollowUp";
    type Command = FollowUpCommand;
    type Event = FollowUpEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: FollowUpCommand,
        svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let now = svc.now();
        let mut events = Vec::new();
        match command {
            FollowUpCommand::InviteUsager {
                usager_id,
                category,
                invitations,
                facts,
            } => {
                events.extend(self.open(usager_id, &category));
                let empty = FollowUpState::new(usager_id, category);
                self.0
                    .as_ref()
                    .unwrap_or(&empty)
                    .check_invitations(&invitations, &facts, now)?;
                events.extend(invitations.into_iter().map(|i| sent(i, InvitationTrigger::Manual, now)));
            }
            FollowUpCommand::SendFollowUpInvitation { invitations, trigger } => {
                let state = self.state()?;
                if state.closed_at.is_some() {
                    return Err(DomainError::conflict("the follow-up is closed"));
                }
                let recent = |f| {
                    state
                        .invitations
                        .iter()
                        .any(|i| i.format == f && i.created_at > now - Duration::hours(24))
                };
                events.extend(
                    invitations
                        .into_iter()
                        .filter(|i| !recent(i.format))
                        .map(|i| sent(i, trigger, now)),
                );
            }
            FollowUpCommand::RecordClick { invitation_id } => {
                let state = self.state()?;
                let invitation = state
                    .invitations
                    .iter()
                    .find(|i| i.id == invitation_id)
                    .ok_or_else(|| DomainError::not_found("invitation"))?;
                if !invitation.clicked {
                    events.push(FollowUpEvent::InvitationClicked { invitation_id });
                }
            }
            FollowUpCommand::TrackParticipation {
                usager_id,
                category,
                participation,
                optional,
            } => {
                events.extend(self.open(usager_id, &category));
                let known = self
                    .0
                    .as_ref()
                    .and_then(|s| s.participations.get(&participation.rdv_id));
                let tracked = match known {
                    // Creation facts stay as first seen.
                    Some(known) => TrackedParticipation {
                        created_at: known.created_at,
                        created_by: known.created_by,
                        convocable: known.convocable,
                        notice_formats: known.notice_formats.clone(),
                        ..*participation
                    },
                    None => TrackedParticipation {
                        created_at: now,
                        ..*participation
                    },
                };
                if known != Some(&tracked) {
                    let valid = self.valid_invitations(now);
                    if known.is_none() && !optional && !valid.is_empty() {
                        events.push(FollowUpEvent::InvitationsInvalidated {
                            invitation_ids: valid,
                            at: now,
                        });
                    }
                    events.push(FollowUpEvent::ParticipationTracked { participation: tracked });
                }
            }
            FollowUpCommand::UntrackParticipation { rdv_id } => {
                if self.0.as_ref().is_some_and(|s| s.participations.contains_key(&rdv_id)) {
                    events.push(FollowUpEvent::ParticipationUntracked { rdv_id });
                }
            }
            FollowUpCommand::RecordNotice { rdv_id, event, format } => {
                self.state()?;
                events.push(FollowUpEvent::NoticeSent {
                    notice: SentNotice {
                        rdv_id,
                        event,
                        format,
                        at: now,
                    },
                });
            }
            FollowUpCommand::CloseFollowUp => {
                if self.state()?.closed_at.is_some() {
                    return Err(DomainError::conflict("the follow-up is already closed"));
                }
                let valid = self.valid_invitations(now);
                if !valid.is_empty() {
                    events.push(FollowUpEvent::InvitationsInvalidated {
                        invitation_ids: valid,
                        at: now,
                    });
                }
                events.push(FollowUpEvent::FollowUpClosed { at: now });
            }
            FollowUpCommand::ReopenFollowUp => {
                if self.state()?.closed_at.is_none() {
                    return Err(DomainError::conflict("the follow-up is not closed"));
                }
                events.push(FollowUpEvent::FollowUpReopened);
            }
            FollowUpCommand::InvalidateInvitations => {
                let valid = self.valid_invitations(now);
                if !valid.is_empty() {
                    events.push(FollowUpEvent::InvitationsInvalidated {
                        invitation_ids: valid,
                        at: now,
                    });
                }
            }
            FollowUpCommand::SetReferents { agent_ids } => {
                if self.state()?.referents != agent_ids {
                    events.push(FollowUpEvent::ReferentsSet { agent_ids });
                }
            }
        }
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: FollowUpEvent) {
        if let FollowUpEvent::FollowUpOpened { usager_id, category } = event {
            self.0 = Some(FollowUpState::new(usager_id, category));
            return;
        }
        let Some(state) = &mut self.0 else { return };
        match event {
            FollowUpEvent::FollowUpOpened { .. } => {}
            FollowUpEvent::UsagerInvited { invitation } => state.invitations.push(invitation),
            FollowUpEvent::InvitationClicked { invitation_id } => {
                for invitation in state.invitations.iter_mut().filter(|i| i.id == invitation_id) {
                    invitation.clicked = true;
                }
            }
            FollowUpEvent::InvitationsInvalidated { invitation_ids, at } => {
                for invitation in state.invitations.iter_mut().filter(|i| invitation_ids.contains(&i.id)) {
                    invitation.valid_until = at;
                }
            }
            FollowUpEvent::ParticipationTracked { participation } => {
                state.participations.insert(participation.rdv_id, participation);
            }
            FollowUpEvent::ParticipationUntracked { rdv_id } => {
                state.participations.remove(&rdv_id);
            }
            FollowUpEvent::NoticeSent { notice } => state.notices.push(notice),
            FollowUpEvent::FollowUpClosed { at } => state.closed_at = Some(at),
            FollowUpEvent::FollowUpReopened => state.closed_at = None,
            FollowUpEvent::ReferentsSet { agent_ids } => state.referents = agent_ids,
        }
    }
}

impl VersionedAggregate for FollowUp {}

/// The convocation notice a participation change calls for (rdv-insertion's
/// `Participation#notify_users`): only for a convocable participation still
/// to come whose status is unknown or revoked. `created` for a new one or
/// one back from cancelled, `cancelled` on newly entering revoked,
/// `updated` when its start or lieu moved. Excused and no-show say nothing.
pub fn notice_for(
    before: Option<&TrackedParticipation>,
    after: &TrackedParticipation,
    now: DateTime<Utc>,
) -> Option<NoticeEvent> {
    let notifiable =
        after.convocable && after.starts_at > now && matches!(after.status, RdvStatus::Unknown | RdvStatus::Revoked);
    if !notifiable {
        return None;
    }
    let Some(before) = before else {
        return (after.status == RdvStatus::Unknown).then_some(NoticeEvent::ParticipationCreated);
    };
    let was_cancelled = matches!(
        before.status,
        RdvStatus::Excused | RdvStatus::Revoked | RdvStatus::Noshow
    );
    match after.status {
        RdvStatus::Unknown if was_cancelled => Some(NoticeEvent::ParticipationCreated),
        RdvStatus::Unknown if before.starts_at != after.starts_at || before.lieu_id != after.lieu_id => {
            Some(NoticeEvent::ParticipationUpdated)
        }
        RdvStatus::Revoked if before.status != RdvStatus::Revoked => Some(NoticeEvent::ParticipationCancelled),
        _ => None,
    }
}

impl FollowUpState {
    /// Whether a notice may go (rdv-insertion's de-duplication): never the
    /// same event and format twice for one RDV, except `updated`, of which
    /// at most two an hour. Postal letters are downloaded at will.
    pub fn may_notify(&self, rdv_id: RdvId, event: NoticeEvent, format: InvitationFormat, now: DateTime<Utc>) -> bool {
        if format == InvitationFormat::Postal {
            return true;
        }
        let mut same = self
            .notices
            .iter()
            .filter(|n| n.rdv_id == rdv_id && n.event == event && n.format == format);
        match event {
            NoticeEvent::ParticipationUpdated => same.filter(|n| n.at > now - Duration::hours(1)).count() < 2,
            _ => same.next().is_none(),
        }
    }
}
