//! A motif: why an usager comes, how long, where, who may book it, and what
//! the usager is told. RDV Service Public's three tabs ("Informations",
//! "Réservation en ligne", "Instructions") are one [`MotifConfig`].
//! A motif belongs to a territory and is enabled in some of its
//! organisations; its name is unique per organisation, service and location
//! type, which [`crate::motif_key`] guards across motifs.

mod config;
#[cfg(test)]
mod tests;

pub use config::*;

use crate::{
    DomainError, Services, VersionedAggregate,
    ids::{OrganisationId, TerritoryId},
    values::ServiceKind,
};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Motif(pub Option<MotifState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotifState {
    pub territory_id: TerritoryId,
    pub config: MotifConfig,
    pub archived: bool,
}

impl MotifState {
    /// The uniqueness keys the motif holds now (none once archived).
    pub fn held_keys(&self) -> BTreeSet<String> {
        if self.archived {
            BTreeSet::new()
        } else {
            self.config.unique_keys()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum MotifCommand {
    /// Creates the motif, or replaces its whole configuration.
    ConfigureMotif {
        territory_id: TerritoryId,
        config: Box<MotifConfig>,
        /// The territory's active services, read by the caller.
        active_services: BTreeSet<ServiceKind>,
    },
    /// Enables or disables the motif in one organisation (an organisation
    /// admin manages its own motif list).
    SetEnabledInOrganisation {
        organisation_id: OrganisationId,
        enabled: bool,
    },
    ArchiveMotif,
    RestoreMotif,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum MotifEvent {
    MotifCreated {
        territory_id: TerritoryId,
        config: MotifConfig,
    },
    /// The whole new configuration; history diffs it with the previous one.
    MotifConfigured {
        config: MotifConfig,
    },
    MotifArchived,
    MotifRestored,
}

crate::versioned_events!(MotifEvent {
    MotifCreated => "1.0",
    MotifConfigured => "1.0",
    MotifArchived => "1.0",
    MotifRestored => "1.0",
});

impl Motif {
    /// The motif after `events` (which its own `handle` produced).
    pub fn after(mut self, events: Vec<MotifEvent>) -> Self {
        for event in events {
            self.apply(event);
        }
        self
    }

    /// The uniqueness keys it holds (none before creation or once archived).
    pub fn held_keys(&self) -> BTreeSet<String> {
        self.0.as_ref().map(MotifState::held_keys).unwrap_or_default()
    }

    pub fn state(&self) -> Result<&MotifState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("motif"))
    }
}

impl Aggregate for Motif {
    const TYPE: &'static str = "Motif";
    type Command = MotifCommand;
    type Event = MotifEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: MotifCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let event = match command {
            MotifCommand::ConfigureMotif {
                territory_id,
                config,
                active_services,
            } => {
                config.validate(&active_services)?;
                let config = *config;
                match &self.0 {
                    None => MotifEvent::MotifCreated { territory_id, config },
                    Some(state) if state.territory_id != territory_id => {
                        return Err(DomainError::not_found("motif"));
                    }
                    Some(state) if state.config == config => return Ok(()),
                    Some(_) => MotifEvent::MotifConfigured { config },
                }
            }
            MotifCommand::SetEnabledInOrganisation {
                organisation_id,
                enabled,
            } => {
                let mut config = self.state()?.config.clone();
                let changed = if enabled {
                    config.organisation_ids.insert(organisation_id)
                } else {
                    config.organisation_ids.remove(&organisation_id)
                };
                if !changed {
                    return Ok(());
                }
                if config.organisation_ids.is_empty() {
                    return Err(DomainError::invalid(
                        "organisation_ids",
                        "a motif stays enabled in at least one organisation; archive it instead",
                    ));
                }
                MotifEvent::MotifConfigured { config }
            }
            MotifCommand::ArchiveMotif => {
                if self.state()?.archived {
                    return Err(DomainError::conflict("the motif is already archived"));
                }
                MotifEvent::MotifArchived
            }
            MotifCommand::RestoreMotif => {
                if !self.state()?.archived {
                    return Err(DomainError::conflict("the motif is not archived"));
                }
                MotifEvent::MotifRestored
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: MotifEvent) {
        match event {
            MotifEvent::MotifCreated { territory_id, config } => {
                self.0 = Some(MotifState {
                    territory_id,
                    config,
                    archived: false,
                });
            }
            MotifEvent::MotifConfigured { config } => {
                if let Some(state) = &mut self.0 {
                    state.config = config;
                }
            }
            MotifEvent::MotifArchived | MotifEvent::MotifRestored => {
                if let Some(state) = &mut self.0 {
                    state.archived = matches!(event, MotifEvent::MotifArchived);
                }
            }
        }
    }
}

impl VersionedAggregate for Motif {}
