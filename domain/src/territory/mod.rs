//! The territory ("espace"): its identity, time zone and the services it
//! offers. RDV Service Public: a territory is usually a département and holds
//! organisations, services and settings.

mod commands;
mod events;
#[cfg(test)]
mod tests;

pub use commands::TerritoryCommand;
pub use events::TerritoryEvent;

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
}

impl Territory {
    pub fn state(&self) -> Result<&TerritoryState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("territory"))
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
                TerritoryEvent::TerritoryCreated {
                    name,
                    departement_number,
                    timezone,
                }
            }
            TerritoryCommand::ActivateService { service } => {
                if self.state()?.services.contains(&service) {
                    return Err(DomainError::conflict(format!(
                        "service {} is already active",
                        service.slug()
                    )));
                }
                TerritoryEvent::ServiceActivated { service }
            }
            TerritoryCommand::DeactivateService { service } => {
                if !self.state()?.services.contains(&service) {
                    return Err(DomainError::conflict(format!(
                        "service {} is not active",
                        service.slug()
                    )));
                }
                TerritoryEvent::ServiceDeactivated { service }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: TerritoryEvent) {
        match event {
            TerritoryEvent::TerritoryCreated {
                name,
                departement_number,
                timezone,
            } => {
                self.0 = Some(TerritoryState {
                    name,
                    departement_number,
                    timezone,
                    services: BTreeSet::new(),
                });
            }
            TerritoryEvent::ServiceActivated { service } => {
                if let Some(s) = &mut self.0 {
                    s.services.insert(service);
                }
            }
            TerritoryEvent::ServiceDeactivated { service } => {
                if let Some(s) = &mut self.0 {
                    s.services.remove(&service);
                }
            }
        }
    }
}

impl VersionedAggregate for Territory {
    fn upcasters() -> Vec<Box<dyn cqrs_es::persist::EventUpcaster>> {
        vec![Box::new(events::territory_created_v2_upcaster())]
    }
}
