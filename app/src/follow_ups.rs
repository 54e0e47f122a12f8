//! RDVs meet follow-ups here. Every change to an RDV whose motif belongs to
//! a category the organisation has configured is recorded on each usager's
//! follow-up in the same unit of work (rdv-insertion learns it from
//! webhooks, late and out of order; here it commits with the RDV or not at
//! all), and a convocable participation gets its convocation notices.

use crate::insertion_messages::{self, ConvocationWording};
use chrono::{DateTime, Utc};
use rdv_domain::{
    category::{CategoryConfiguration, CategoryState, InvitationFormat, is_convocation_motif},
    follow_up::{FollowUp, FollowUpCommand, FollowUpEvent, NoticeEvent, TrackedParticipation, notice_for},
    ids::{FollowUpId, OrganisationId, RdvId, UsagerId},
    lieu::Lieu,
    motif::{LocationType, Motif, MotifState},
    organisation::{Organisation, OrganisationState},
    rdv::{Actor, RdvState},
};
use rdv_eventstore::{CommandError, UnitOfWork};
use std::collections::BTreeSet;

/// The category of an RDV's motif as its organisation configured it; none
/// when the motif has no category or the organisation has not configured
/// it (rdv-insertion ignores those RDVs).
pub async fn category_of(
    unit: &mut UnitOfWork<'_>,
    organisation_id: OrganisationId,
    motif: &MotifState,
) -> Result<Option<CategoryState>, CommandError> {
    let Some(short_name) = &motif.config.informations.category else {
        return Ok(None);
    };
    let id = CategoryConfiguration::stream_id(organisation_id, short_name);
    Ok(unit.load::<CategoryConfiguration>(&id).await?.0.0)
}

/// Records an RDV change on its usagers' follow-ups and sends the
/// convocation notices it calls for. `before` is the RDV before the
/// change (none for a new RDV); usagers who left it are untracked. New
/// participations send their notices by `formats`.
pub async fn track(
    unit: &mut UnitOfWork<'_>,
    (before, after): (Option<&RdvState>, &RdvState),
    rdv_id: RdvId,
    formats: &BTreeSet<InvitationFormat>,
) -> Result<(), CommandError> {
    let booking = &after.booking;
    let (motif, _) = unit.load::<Motif>(&booking.motif_id.to_string()).await?;
    let motif = motif.state()?.clone();
    let Some(category) = category_of(unit, booking.organisation_id, &motif).await? else {
        return Ok(());
    };
    let info = &motif.config.informations;
    let convocation_motif = is_convocation_motif(info.name.as_str());
    for (usager_id, participation) in &after.participations {
        let by_agent = matches!(participation.created_by, Actor::Agent { .. });
        let tracked = TrackedParticipation {
            rdv_id,
            organisation_id: booking.organisation_id,
            motif_id: booking.motif_id,
            lieu_id: booking.lieu_id,
            created_at: unit.now(),
            created_by: participation.created_by,
            starts_at: booking.starts_at,
            status: participation.status,
            convocable: category.settings.convene_user && (convocation_motif || (info.collective && by_agent)),
            notice_formats: formats.clone(),
        };
        let id = FollowUpId::of(*usager_id, &category.short_name).to_string();
        let known = unit
            .current::<FollowUp>(&id)
            .await?
            .0
            .and_then(|f| f.participations.get(&rdv_id).cloned());
        let command = FollowUpCommand::TrackParticipation {
            usager_id: *usager_id,
            category: category.short_name.clone(),
            participation: Box::new(tracked),
            optional: category.settings.optional_rdv_subscription,
        };
        for event in unit.handle::<FollowUp>(&id, command).await? {
            if let FollowUpEvent::ParticipationTracked { participation } = event
                && let Some(notice) = notice_for(known.as_ref(), &participation, unit.now())
            {
                send_notice(unit, &category, &motif, (rdv_id, after), *usager_id, notice).await?;
            }
        }
    }
    let left = before
        .into_iter()
        .flat_map(|b| b.participations.keys())
        .filter(|u| !after.participations.contains_key(u));
    for usager_id in left {
        let id = FollowUpId::of(*usager_id, &category.short_name).to_string();
        unit.handle::<FollowUp>(&id, FollowUpCommand::UntrackParticipation { rdv_id })
            .await?;
    }
    Ok(())
}

/// What a convocation says about its RDV, read within the unit.
pub struct ConvocationFacts {
    pub organisation: OrganisationState,
    pub help_phone: String,
    pub place: Option<String>,
    pub instructions: Option<String>,
}

impl ConvocationFacts {
    pub async fn read(
        unit: &mut UnitOfWork<'_>,
        category: &CategoryState,
        motif: &MotifState,
        rdv: &RdvState,
    ) -> Result<Self, CommandError> {
        let booking = &rdv.booking;
        let (organisation, _) = unit.load::<Organisation>(&booking.organisation_id.to_string()).await?;
        let organisation = organisation.state()?.clone();
        let place = match (motif.config.informations.location_type, booking.lieu_id) {
            (LocationType::Phone, _) | (_, None) => None,
            (_, Some(lieu)) => unit
                .load::<Lieu>(&lieu.to_string())
                .await?
                .0
                .0
                .map(|l| format!("{} - {}", l.details.name, l.details.address)),
        };
        let help_phone = help_phone(category, &organisation).unwrap_or_default();
        Ok(Self {
            organisation,
            help_phone,
            place,
            instructions: motif.config.instructions.after_booking.clone(),
        })
    }

    pub fn wording<'a>(&'a self, category: &'a CategoryState, starts_at: DateTime<Utc>) -> ConvocationWording<'a> {
        ConvocationWording {
            texts: &category.settings.texts,
            organisation: self.organisation.details.name.as_str(),
            help_phone: &self.help_phone,
            zone: self.organisation.timezone,
            starts_at,
            place: self.place.clone(),
            instructions: self.instructions.as_deref(),
        }
    }
}

/// The phone usagers call: the category's, else the organisation's.
pub fn help_phone(category: &CategoryState, organisation: &OrganisationState) -> Option<String> {
    category
        .settings
        .phone_number
        .as_ref()
        .map(|p| p.national())
        .or_else(|| organisation.details.phone.clone())
}

/// Queues a convocation notice to an usager by SMS and e-mail (each only
/// when reachable and not a duplicate) and records each on the follow-up.
pub async fn send_notice(
    unit: &mut UnitOfWork<'_>,
    category: &CategoryState,
    motif: &MotifState,
    (rdv_id, rdv): (RdvId, &RdvState),
    usager_id: UsagerId,
    event: NoticeEvent,
) -> Result<(), CommandError> {
    let facts = ConvocationFacts::read(unit, category, motif, rdv).await?;
    let usager = unit
        .current::<rdv_domain::usager::Usager>(&usager_id.to_string())
        .await?;
    let usager = usager.state()?.profile.clone();
    let id = FollowUpId::of(usager_id, &category.short_name).to_string();
    let formats = unit
        .current::<FollowUp>(&id)
        .await?
        .state()?
        .participations
        .get(&rdv_id)
        .map(|p| p.notice_formats.clone())
        .unwrap_or_default();
    for format in formats {
        let follow_up = unit.current::<FollowUp>(&id).await?;
        let may = follow_up.state()?.may_notify(rdv_id, event, format, unit.now());
        let wording = facts.wording(category, rdv.booking.starts_at);
        let Some(message) = insertion_messages::convocation(event, format, &usager, &wording).filter(|_| may) else {
            continue;
        };
        unit.send(message.about(usager_id));
        unit.handle::<FollowUp>(&id, FollowUpCommand::RecordNotice { rdv_id, event, format })
            .await?;
    }
    Ok(())
}
