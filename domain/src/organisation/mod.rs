//! An organisation of a territory (a CMS, a PMI centre, an RSA service...).
//! Its time zone defaults to its territory's and drives every local time
//! shown to its agents and usagers.

mod commands;
mod events;
#[cfg(test)]
mod tests;

pub use commands::{OrganisationCommand, OrganisationDetails, OrganisationPatch};
pub use events::OrganisationEvent;

use crate::{DomainError, Services, VersionedAggregate, ids::TerritoryId, values::TimeZone};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Organisation(pub Option<OrganisationState>);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrganisationState {
    pub territory_id: TerritoryId,
    pub timezone: TimeZone,
    pub details: OrganisationDetails,
}

impl Organisation {
    pub fn state(&self) -> Result<&OrganisationState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("organisation"))
    }
}

impl Aggregate for Organisation {
    const TYPE: &'static str = "Organisation";
    type Command = OrganisationCommand;
    type Event = OrganisationEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: OrganisationCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let event = match command {
            OrganisationCommand::CreateOrganisation {
                territory_id,
                timezone,
                details,
            } => {
                if self.0.is_some() {
                    return Err(DomainError::conflict("organisation already exists"));
                }
                OrganisationEvent::OrganisationCreated {
                    territory_id,
                    timezone,
                    details,
                }
            }
            OrganisationCommand::UpdateOrganisation { patch } => {
                let current = &self.state()?.details;
                let changed = patch.changes_from(current);
                if changed.is_empty() {
                    return Ok(());
                }
                OrganisationEvent::OrganisationUpdated { changes: changed }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: OrganisationEvent) {
        match event {
            OrganisationEvent::OrganisationCreated {
                territory_id,
                timezone,
                details,
            } => {
                self.0 = Some(OrganisationState {
                    territory_id,
                    timezone,
                    details,
                });
            }
            OrganisationEvent::OrganisationUpdated { changes } => {
                if let Some(state) = &mut self.0 {
                    changes.apply_to(&mut state.details);
                }
            }
        }
    }
}

impl VersionedAggregate for Organisation {}
