//! The letters an agent prints ([`letters`] renders them):
//! [`PrintConvocation`], whose download is recorded as a postal notice of
//! the follow-up in the same transaction that reads what it prints, and
//! [`PrintInvitation`], the letter of a postal invitation.

use crate::{
    Context, Error,
    caller::Caller,
    follow_ups::{ConvocationFacts, category_of, help_phone},
    insertion::visible_follow_up,
    insertion_messages::short_link,
    letters::{self, LetterContext},
};
use rdv_domain::{
    DomainError,
    category::{CategoryConfiguration, InvitationFormat},
    follow_up::{FollowUp, FollowUpCommand, NoticeEvent},
    ids::{FollowUpId, InvitationId, ParticipationId},
    motif::Motif,
    rdv::{Rdv, RdvStatus},
    usager::Usager,
};
use rdv_eventstore::{CommandContext, CommandError, StoredResponse, UnitOfWork};
use rdv_projections::follow_ups::{self, PARTICIPATIONS, ParticipationRef};
use std::sync::Mutex;

/// A rendered letter and the file name to download it under.
#[derive(Debug, Clone)]
pub struct PrintedLetter {
    pub pdf: Vec<u8>,
    pub file_name: String,
}

/// The convocation letter of a convocable participation (its cancellation
/// once revoked), named `Convocation_de_{first}_{last}_le_{dd-mm-yyyy}.pdf`.
#[derive(Debug, Clone)]
pub struct PrintConvocation {
    pub participation_id: ParticipationId,
}

impl PrintConvocation {
    pub async fn run(self, app: &Context, caller: &Caller, command: &CommandContext) -> Result<PrintedLetter, Error> {
        let id = self.participation_id.to_string();
        let reference: ParticipationRef = app
            .recent_doc(follow_ups::NAME, PARTICIPATIONS, &id)
            .await?
            .and_then(|d| serde_json::from_value(d).ok())
            .ok_or_else(|| Error::not_found("participation"))?;
        visible_follow_up(app, caller, reference.follow_up_id, None).await?;
        let letter: Mutex<Option<PrintedLetter>> = Mutex::new(None);
        let keep = |printed: &PrintedLetter, _: &rdv_eventstore::CommitSummary<'_>| {
            *letter.lock().unwrap_or_else(|e| e.into_inner()) = Some(printed.clone());
            StoredResponse {
                status: 200,
                body: serde_json::json!({}),
            }
        };
        app.commands
            .run(
                command,
                |unit| {
                    let reference = reference.clone();
                    Box::pin(async move { print_convocation(unit, &reference).await })
                },
                keep,
            )
            .await?;
        let printed = letter.into_inner().unwrap_or_else(|e| e.into_inner());
        printed.ok_or_else(|| Error::internal("the letter was not rendered"))
    }
}

/// Renders the convocation from the RDV, the follow-up and the usager as
/// the unit reads them, and records the postal notice.
async fn print_convocation(
    unit: &mut UnitOfWork<'_>,
    reference: &ParticipationRef,
) -> Result<PrintedLetter, CommandError> {
    let rdv = unit.current::<Rdv>(&reference.rdv_id.to_string()).await?;
    let rdv = rdv.state()?.clone();
    let tracked = rdv
        .participations
        .get(&reference.usager_id)
        .ok_or_else(|| DomainError::not_found("participation"))?;
    let (motif, _) = unit.load::<Motif>(&rdv.booking.motif_id.to_string()).await?;
    let motif = motif.state()?.clone();
    let category = category_of(unit, rdv.booking.organisation_id, &motif)
        .await?
        .ok_or_else(|| DomainError::not_found("motif category"))?;
    let stream = reference.follow_up_id.to_string();
    let follow_up = unit.current::<FollowUp>(&stream).await?;
    let convocable = follow_up
        .state()?
        .participations
        .get(&reference.rdv_id)
        .is_some_and(|p| p.convocable);
    if !convocable {
        return Err(DomainError::conflict("this participation is not a convocation").into());
    }
    let cancelled = tracked.status == RdvStatus::Revoked;
    let facts = ConvocationFacts::read(unit, &category, &motif, &rdv).await?;
    let usager = unit.current::<Usager>(&reference.usager_id.to_string()).await?;
    let usager = usager.state()?.profile.clone();
    let zone = facts.organisation.timezone;
    let context = LetterContext {
        texts: &category.settings.texts,
        organisation: &facts.organisation,
        help_phone: &facts.help_phone,
        zone,
        today: unit.now().with_timezone(&zone.0).date_naive(),
    };
    let (place, instructions) = (facts.place.as_deref(), facts.instructions.as_deref());
    let starts_at = rdv.booking.starts_at;
    let letter = letters::convocation_letter(&context, &usager, starts_at, place, instructions, cancelled);
    let event = if cancelled {
        NoticeEvent::ParticipationCancelled
    } else {
        NoticeEvent::ParticipationCreated
    };
    let record = FollowUpCommand::RecordNotice {
        rdv_id: reference.rdv_id,
        event,
        format: InvitationFormat::Postal,
    };
    unit.handle::<FollowUp>(&stream, record).await?;
    let file_name = format!(
        "Convocation_de_{}_{}_le_{}.pdf",
        letters::file_name_part(usager.first_name.as_str()),
        letters::file_name_part(usager.last_name.as_str()),
        starts_at.with_timezone(&zone.0).format("%d-%m-%Y")
    );
    Ok(PrintedLetter {
        pdf: letter.render(),
        file_name,
    })
}

/// The letter of a postal invitation, with its short link, dated the day
/// the invitation was made.
#[derive(Debug, Clone)]
pub struct PrintInvitation {
    pub follow_up_id: FollowUpId,
    pub invitation_id: InvitationId,
}

impl PrintInvitation {
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<PrintedLetter, Error> {
        let (follow_up, _) = visible_follow_up(app, caller, self.follow_up_id, None).await?;
        let invitation = follow_up
            .invitations
            .iter()
            .find(|i| i.id == self.invitation_id)
            .ok_or_else(|| Error::not_found("invitation"))?;
        if invitation.format != InvitationFormat::Postal {
            return Err(DomainError::invalid("invitation_id", "only a postal invitation has a letter").into());
        }
        let organisation_id = *invitation
            .organisation_ids
            .first()
            .ok_or_else(|| Error::not_found("invitation"))?;
        let organisation = app.organisation(organisation_id).await?;
        let stream = CategoryConfiguration::stream_id(organisation_id, &follow_up.category);
        let category = app
            .load::<CategoryConfiguration>(&stream)
            .await?
            .0
            .ok_or_else(|| Error::not_found("motif category"))?;
        let usager = app.load::<Usager>(&follow_up.usager_id.to_string()).await?;
        let usager = usager.state()?.profile.clone();
        let phone = help_phone(&category, &organisation).unwrap_or_default();
        let zone = organisation.timezone;
        let context = LetterContext {
            texts: &category.settings.texts,
            organisation: &organisation,
            help_phone: &phone,
            zone,
            today: invitation.created_at.with_timezone(&zone.0).date_naive(),
        };
        let link = short_link(&app.public_url, &invitation.code);
        let mandatory = !category.settings.optional_rdv_subscription;
        let letter = letters::invitation_letter(&context, &usager, &link, mandatory);
        let file_name = format!(
            "Invitation_de_{}_{}.pdf",
            letters::file_name_part(usager.first_name.as_str()),
            letters::file_name_part(usager.last_name.as_str()),
        );
        Ok(PrintedLetter {
            pdf: letter.render(),
            file_name,
        })
    }
}
