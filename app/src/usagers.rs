//! Usagers as agents manage them: [`CreateUsager`] (or a relative of an
//! usager), [`UpdateUsager`], [`ArchiveUsager`] and [`UnarchiveUsager`],
//! each in organisations the caller works in, with the espace's usager
//! field settings. Erasure is [`crate::rgpd`]'s.

use crate::{
    Context, Error,
    caller::{Caller, Place},
    respond::{Changed, Respond, change_record},
};
use rdv_domain::{
    DomainError,
    follow_up::{FollowUp, FollowUpCommand},
    ids::{OrganisationId, UsagerId},
    rights::Permission,
    territory::{Territory, UsagerFieldSettings},
    usager::{Usager, UsagerCommand, UsagerProfile, UsagerState},
};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome};
use std::collections::BTreeSet;

/// The usager field settings of an organisation's espace.
pub async fn usager_field_settings(app: &Context, organisation: OrganisationId) -> Result<UsagerFieldSettings, Error> {
    let organisation = app.organisation(organisation).await?;
    let territory = app.load::<Territory>(&organisation.territory_id.to_string()).await?;
    Ok(territory.state()?.settings.usager_fields.clone())
}

/// The usager and one of its organisations the caller works in (404 when
/// there is none: the caller learns nothing of usagers elsewhere).
pub async fn visible_usager(
    app: &Context,
    caller: &Caller,
    usager_id: UsagerId,
) -> Result<(UsagerState, OrganisationId), Error> {
    let usager = app
        .load::<Usager>(&usager_id.to_string())
        .await?
        .0
        .ok_or_else(|| Error::not_found("usager"))?;
    for organisation_id in &usager.organisation_ids {
        let organisation = app.organisation(*organisation_id).await?;
        if caller.may(
            Permission::Usagers,
            Place::Organisation(*organisation_id, organisation.territory_id),
        ) {
            let organisation_id = *organisation_id;
            return Ok((usager, organisation_id));
        }
    }
    Err(Error::not_found("usager"))
}

/// An agent creates an usager in organisations it works in, or a relative
/// of an usager (`responsible_id`), who joins the responsible's
/// organisations and is booked and notified through them.
#[derive(Debug, Clone)]
pub struct CreateUsager {
    pub organisation_ids: BTreeSet<OrganisationId>,
    pub responsible_id: Option<UsagerId>,
    pub profile: UsagerProfile,
}

impl CreateUsager {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        for organisation_id in &self.organisation_ids {
            app.organisation_for(caller, Permission::Usagers, *organisation_id)
                .await?;
        }
        let (mut profile, mut organisation_ids) = (self.profile, self.organisation_ids.clone());
        if let Some(responsible_id) = self.responsible_id {
            let responsible = app.load::<Usager>(&responsible_id.to_string()).await?.0;
            let responsible = responsible
                .filter(|u| !u.organisation_ids.is_disjoint(&self.organisation_ids))
                .ok_or_else(|| DomainError::invalid("responsible_id", "no such usager in these organisations"))?;
            if responsible.profile.responsible_id.is_some() {
                let message = "a relative cannot be responsible for another";
                return Err(DomainError::invalid("responsible_id", message).into());
            }
            organisation_ids.extend(responsible.organisation_ids);
            profile.responsible_id = Some(responsible_id);
        }
        let first = self
            .organisation_ids
            .first()
            .copied()
            .ok_or_else(|| DomainError::invalid("organisation_ids", "give at least one"))?;
        usager_field_settings(app, first).await?.check_values(&profile.custom)?;
        let create = UsagerCommand::CreateUsager {
            organisation_ids,
            profile,
        };
        change_record::<Usager>(app, command, UsagerId::new(), create, None, respond).await
    }
}

/// An agent changes an usager's organisations and fields (its responsible
/// stays). Required and custom fields are checked against the espace's
/// settings; the caller must work in every organisation it adds or removes.
#[derive(Debug, Clone)]
pub struct UpdateUsager {
    pub usager_id: UsagerId,
    pub organisation_ids: BTreeSet<OrganisationId>,
    pub profile: UsagerProfile,
    pub if_match: Option<i64>,
}

impl UpdateUsager {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let (usager, organisation) = visible_usager(app, caller, self.usager_id).await?;
        for changed in self.organisation_ids.symmetric_difference(&usager.organisation_ids) {
            let territory = app.organisation(*changed).await?.territory_id;
            if !caller.may(Permission::Usagers, Place::Organisation(*changed, territory)) {
                let message = "only organisations you work in can be added or removed";
                return Err(DomainError::invalid("organisation_ids", message).into());
            }
        }
        let mut profile = self.profile;
        profile.responsible_id = usager.profile.responsible_id;
        usager_field_settings(app, organisation)
            .await?
            .check_values(&profile.custom)?;
        let update = UsagerCommand::UpdateUsager {
            organisation_ids: self.organisation_ids,
            profile,
        };
        change_record::<Usager>(app, command, self.usager_id, update, self.if_match, respond).await
    }
}

/// An agent archives an usager: no more invitations or reminders, and
/// every invitation still valid ends now (rdv-insertion's archives), in one
/// transaction.
#[derive(Debug, Clone)]
pub struct ArchiveUsager {
    pub usager_id: UsagerId,
    /// Internal reason ("déménagement"...).
    pub reason: Option<String>,
}

impl ArchiveUsager {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let usager_id = self.usager_id;
        visible_usager(app, caller, usager_id).await?;
        let projection = rdv_projections::follow_ups::NAME;
        app.wait_for(projection, Some(app.store.head().await?)).await?;
        let follow_ups: Vec<String> = rdv_projections::follow_ups::of_usager(&app.store, usager_id)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        let archive = UsagerCommand::ArchiveUsager { reason: self.reason };
        let outcome = app
            .commands
            .run(
                command,
                |unit| {
                    let (archive, follow_ups) = (archive.clone(), follow_ups.clone());
                    Box::pin(async move {
                        unit.handle::<Usager>(&usager_id.to_string(), archive).await?;
                        for follow_up in follow_ups {
                            let invalidate = FollowUpCommand::InvalidateInvitations;
                            unit.handle::<FollowUp>(&follow_up, invalidate).await?;
                        }
                        Ok::<_, CommandError>(Changed::of::<Usager>(usager_id))
                    })
                },
                respond,
            )
            .await?;
        Ok(outcome)
    }
}

/// An agent brings an archived usager back (invitations may be sent again).
#[derive(Debug, Clone)]
pub struct UnarchiveUsager {
    pub usager_id: UsagerId,
    pub if_match: Option<i64>,
}

impl UnarchiveUsager {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        visible_usager(app, caller, self.usager_id).await?;
        let unarchive = UsagerCommand::UnarchiveUsager;
        change_record::<Usager>(app, command, self.usager_id, unarchive, self.if_match, respond).await
    }
}
