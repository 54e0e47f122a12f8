//! RDV notices to usagers: what they say (the organisation, motif, lieu and
//! time in its zone), who gets them (the usager, or the responsible of a
//! relative, by their preferences) and when (never once the RDV started, never
//! for a motif that does not notify). Queued in the unit of work, so a notice
//! leaves only if its events commit.

use crate::{
    context::Context,
    error::Error,
    notifications::{self, RdvMessage, RdvNotice},
};
use chrono::{DateTime, Utc};
use rdv_domain::{
    ids::{LieuId, MotifId, OrganisationId, UsagerId},
    motif::Visibility,
    rdv::Booking,
    usager::{Usager, UsagerProfile},
};
use rdv_eventstore::{CommandError, UnitOfWork};

/// What RDV e-mails need to know beyond the RDV itself.
#[derive(Clone)]
pub struct NoticeContext {
    pub organisation: String,
    pub zone: rdv_domain::values::TimeZone,
    pub motif: String,
    pub instructions: Option<String>,
    pub place: Option<String>,
    /// Only motifs `visible_and_notified` notify usagers (RDV Service Public).
    pub notify: bool,
    /// The motif lets usagers cancel online.
    pub usager_may_cancel: bool,
    pub public_url: String,
}

pub async fn notice_context(state: &Context, booking: &Booking) -> Result<NoticeContext, Error> {
    notice_context_of(state, booking.organisation_id, booking.motif_id, booking.lieu_id).await
}

pub async fn notice_context_of(
    state: &Context,
    organisation_id: OrganisationId,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
) -> Result<NoticeContext, Error> {
    let organisation = state
        .load::<rdv_domain::organisation::Organisation>(&organisation_id.to_string())
        .await?;
    let organisation = organisation.state()?;
    let motif = state.load::<rdv_domain::motif::Motif>(&motif_id.to_string()).await?;
    let motif = motif.state()?;
    let place = match lieu_id {
        Some(lieu) => state
            .load::<rdv_domain::lieu::Lieu>(&lieu.to_string())
            .await?
            .0
            .map(|l| format!("{}, {}", l.details.name, l.details.address)),
        None => None,
    };
    Ok(NoticeContext {
        organisation: organisation.details.name.to_string(),
        zone: organisation.timezone,
        motif: motif.config.informations.name.to_string(),
        instructions: motif.config.instructions.after_booking.clone(),
        place,
        notify: motif.config.informations.visibility == Visibility::VisibleAndNotified,
        usager_may_cancel: motif.config.booking.usager_can_cancel,
        public_url: state.public_url.clone(),
    })
}

/// Who an RDV notice goes to; the messages are marked as theirs, so
/// forgetting them (RGPD) deletes them.
pub struct Recipient {
    pub id: UsagerId,
    pub profile: UsagerProfile,
}

/// Who hears about an usager's RDVs: the usager, or their responsible for
/// a relative (RDV Service Public).
pub async fn recipient(unit: &mut UnitOfWork<'_>, usager_id: UsagerId) -> Result<Option<Recipient>, CommandError> {
    let (usager, _) = unit.load::<Usager>(&usager_id.to_string()).await?;
    let Some(usager) = usager.0 else { return Ok(None) };
    match usager.profile.responsible_id {
        Some(responsible) => Ok(unit
            .load::<Usager>(&responsible.to_string())
            .await?
            .0
            .0
            .map(|r| Recipient {
                id: responsible,
                profile: r.profile,
            })),
        None => Ok(Some(Recipient {
            id: usager_id,
            profile: usager.profile,
        })),
    }
}

/// Queues a notice for each usager (to their responsible for a relative).
pub async fn notify_all(
    unit: &mut UnitOfWork<'_>,
    ctx: &NoticeContext,
    notice: RdvNotice,
    usagers: impl IntoIterator<Item = UsagerId>,
    starts_at: DateTime<Utc>,
    token: Option<&str>,
    sms: bool,
) -> Result<(), CommandError> {
    for usager_id in usagers {
        if let Some(to) = recipient(unit, usager_id).await? {
            queue_notice(unit, ctx, notice, &to, starts_at, token, sms);
        }
    }
    Ok(())
}

/// Queues the e-mail of an RDV notice to an usager, unless the motif does
/// not notify, the usager has no e-mail, or the RDV has already started.
pub fn queue_notice(
    unit: &mut UnitOfWork<'_>,
    ctx: &NoticeContext,
    notice: RdvNotice,
    to: &Recipient,
    starts_at: DateTime<Utc>,
    token: Option<&str>,
    sms: bool,
) {
    let usager = &to.profile;
    if !ctx.notify || starts_at <= unit.now() {
        return;
    }
    let link = token.map(|t| notifications::participation_link(&ctx.public_url, t));
    let wants = usager.notifications;
    if let Some(phone) = usager.phone.as_ref().filter(|p| sms && wants.sms && p.is_mobile()) {
        unit.send(
            notifications::rdv_sms(notice, phone, &ctx.organisation, starts_at, ctx.zone, link.as_deref()).about(to.id),
        );
    }
    let Some(email) = usager.email.as_ref().filter(|_| wants.email) else {
        return;
    };
    unit.send(
        notifications::rdv_email(RdvMessage {
            notice,
            to: email,
            first_name: usager.first_name.as_str(),
            organisation: &ctx.organisation,
            motif: &ctx.motif,
            starts_at,
            timezone: ctx.zone,
            place: ctx.place.clone(),
            link,
            instructions: ctx.instructions.as_deref(),
        })
        .about(to.id),
    );
}
