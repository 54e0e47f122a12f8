//! The territory ("espace"): its identity, time zone, the services it
//! offers and its settings. RDV Service Public: a territory is usually a
//! département and holds organisations, services and settings.

mod commands;
mod events;
mod settings;
#[cfg(test)]
mod tests;

pub use commands::TerritoryCommand;
pub use events::TerritoryEvent;
pub use settings::*;

use crate::{
    DomainError, Services, VersionedAggregate,
    values::{DepartementNumber, ServiceKind, Text, TimeZone},
};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// State of one territory; `None` until it is created (cqrs-es loads an
/// unknown id as `Default`, so existence is explicit).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Territory(pub Option<TerritoryState>);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TerritoryState {
    pub name: Text,
    pub departement_number: DepartementNumber,
    pub timezone: TimeZone,
    pub services: BTreeSet<ServiceKind>,
    pub settings: EspaceSettings,
}

impl Territory {
    pub fn state(&self) -> Result<&TerritoryState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("territory"))
    }

    /// The event a settings change makes, or none when nothing changes.
    fn settings_change<T: PartialEq>(
        &self,
        current: impl Fn(&EspaceSettings) -> &T,
        new: T,
        event: impl Fn(T) -> TerritoryEvent,
    ) -> Result<Option<TerritoryEvent>, DomainError> {
        Ok((*current(&self.state()?.settings) != new).then(|| event(new)))
    }
}

impl Aggregate for Territory {
    const TYPE: &'static str = "Territory";
    type Command = TerritoryCommand;
    type Event = TerritoryEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: TerritoryCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let event = match command {
            TerritoryCommand::CreateTerritory {
                name,
                departement_number,
                timezone,
            } => {
                if self.0.is_some() {
                    return Err(DomainError::conflict("territory already exists"));
                }
                Some(TerritoryEvent::TerritoryCreated {
                    name,
                    departement_number,
                    timezone,
                })
            }
            TerritoryCommand::ActivateService { service } => {
                if self.state()?.services.contains(&service) {
                    return Err(DomainError::conflict(format!(
                        "service {} is already active",
                        service.slug()
                    )));
                }
                Some(TerritoryEvent::ServiceActivated { service })
            }
            TerritoryCommand::DeactivateService { service } => {
                if !self.state()?.services.contains(&service) {
                    return Err(DomainError::conflict(format!(
                        "service {} is not active",
                        service.slug()
                    )));
                }
                Some(TerritoryEvent::ServiceDeactivated { service })
            }
            TerritoryCommand::ConfigureUsagerFields { settings } => {
                settings.validate()?;
                self.settings_change(
                    |s| &s.usager_fields,
                    settings,
                    |settings| TerritoryEvent::UsagerFieldsConfigured { settings },
                )?
            }
            TerritoryCommand::ConfigureRdvFields { settings } => self.settings_change(
                |s| &s.rdv_fields,
                settings,
                |settings| TerritoryEvent::RdvFieldsConfigured { settings },
            )?,
            TerritoryCommand::ConfigureWaitingRoom { settings } => self.settings_change(
                |s| &s.waiting_room,
                settings,
                |settings| TerritoryEvent::WaitingRoomConfigured { settings },
            )?,
            TerritoryCommand::ConfigureClosedDays { days } => self.settings_change(
                |s| &s.closed_days,
                days,
                |days| TerritoryEvent::ClosedDaysConfigured { days },
            )?,
        };
        if let Some(event) = event {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: TerritoryEvent) {
        if let TerritoryEvent::TerritoryCreated {
            name,
            departement_number,
            timezone,
        } = event
        {
            self.0 = Some(TerritoryState {
                name,
                departement_number,
                timezone,
                services: BTreeSet::new(),
                settings: EspaceSettings::default(),
            });
            return;
        }
        let Some(state) = &mut self.0 else { return };
        match event {
            TerritoryEvent::TerritoryCreated { .. } => {}
            TerritoryEvent::ServiceActivated { service } => {
                state.services.insert(service);
            }
            TerritoryEvent::ServiceDeactivated { service } => {
                state.services.remove(&service);
            }
            TerritoryEvent::UsagerFieldsConfigured { settings } => state.settings.usager_fields = settings,
            TerritoryEvent::RdvFieldsConfigured { settings } => state.settings.rdv_fields = settings,
            TerritoryEvent::WaitingRoomConfigured { settings } => state.settings.waiting_room = settings,
            TerritoryEvent::ClosedDaysConfigured { days } => state.settings.closed_days = days,
        }
    }
}

impl VersionedAggregate for Territory {
    fn upcasters() -> Vec<Box<dyn cqrs_es::persist::EventUpcaster>> {
        vec![Box::new(events::territory_created_v2_upcaster())]
    }
}
