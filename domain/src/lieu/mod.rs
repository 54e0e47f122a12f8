//! A lieu: where an organisation receives usagers. RDV Service Public: a lieu
//! is enabled, disabled (kept for history) or single-use (an ad-hoc place for
//! one RDV), and cannot switch from or to single-use.

use crate::{
    DomainError, Services, VersionedAggregate,
    ids::OrganisationId,
    values::{Text, present},
};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Enabled,
    Disabled,
    SingleUse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LieuDetails {
    pub name: Text,
    pub address: Text,
    pub phone: Option<String>,
}

/// A partial change: `None` leaves a field, `Some(None)` clears the phone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LieuPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub phone: Option<Option<String>>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Lieu(pub Option<LieuState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LieuState {
    pub organisation_id: OrganisationId,
    pub details: LieuDetails,
    pub availability: Availability,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum LieuCommand {
    CreateLieu {
        organisation_id: OrganisationId,
        details: LieuDetails,
        single_use: bool,
    },
    UpdateLieu {
        patch: LieuPatch,
    },
    DisableLieu,
    EnableLieu,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum LieuEvent {
    LieuCreated {
        organisation_id: OrganisationId,
        details: LieuDetails,
        availability: Availability,
    },
    LieuUpdated {
        changes: LieuPatch,
    },
    LieuDisabled,
    LieuEnabled,
}

crate::versioned_events!(LieuEvent {
    LieuCreated => "1.0",
    LieuUpdated => "1.0",
    LieuDisabled => "1.0",
    LieuEnabled => "1.0",
});

impl Lieu {
    pub fn state(&self) -> Result<&LieuState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("lieu"))
    }
}

impl Aggregate for Lieu {
    const TYPE: &'static str = "Lieu";
    type Command = LieuCommand;
    type Event = LieuEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: LieuCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let event = match command {
            LieuCommand::CreateLieu {
                organisation_id,
                details,
                single_use,
            } => {
                if self.0.is_some() {
                    return Err(DomainError::conflict("lieu already exists"));
                }
                let availability = if single_use {
                    Availability::SingleUse
                } else {
                    Availability::Enabled
                };
                LieuEvent::LieuCreated {
                    organisation_id,
                    details,
                    availability,
                }
            }
            LieuCommand::UpdateLieu { patch } => {
                let current = &self.state()?.details;
                let changes = LieuPatch {
                    name: patch.name.filter(|n| *n != current.name),
                    address: patch.address.filter(|a| *a != current.address),
                    phone: patch.phone.filter(|p| *p != current.phone),
                };
                if changes == LieuPatch::default() {
                    return Ok(());
                }
                LieuEvent::LieuUpdated { changes }
            }
            LieuCommand::DisableLieu => match self.state()?.availability {
                Availability::Enabled => LieuEvent::LieuDisabled,
                Availability::Disabled => return Err(DomainError::conflict("the lieu is already disabled")),
                Availability::SingleUse => {
                    return Err(DomainError::conflict("a single-use lieu cannot change availability"));
                }
            },
            LieuCommand::EnableLieu => match self.state()?.availability {
                Availability::Disabled => LieuEvent::LieuEnabled,
                Availability::Enabled => return Err(DomainError::conflict("the lieu is already enabled")),
                Availability::SingleUse => {
                    return Err(DomainError::conflict("a single-use lieu cannot change availability"));
                }
            },
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: LieuEvent) {
        if let LieuEvent::LieuCreated {
            organisation_id,
            details,
            availability,
        } = event
        {
            self.0 = Some(LieuState {
                organisation_id,
                details,
                availability,
            });
            return;
        }
        let Some(state) = &mut self.0 else { return };
        match event {
            LieuEvent::LieuCreated { .. } => {}
            LieuEvent::LieuUpdated { changes } => {
                if let Some(name) = changes.name {
                    state.details.name = name;
                }
                if let Some(address) = changes.address {
                    state.details.address = address;
                }
                if let Some(phone) = changes.phone {
                    state.details.phone = phone;
                }
            }
            LieuEvent::LieuDisabled => state.availability = Availability::Disabled,
            LieuEvent::LieuEnabled => state.availability = Availability::Enabled,
        }
    }
}

impl VersionedAggregate for Lieu {}

#[cfg(test)]
mod tests {
    use super::*;

    use cqrs_es::test::TestFramework;

    fn services() -> Services {
        Services::at("2026-01-05T09:00:00Z")
    }

    fn details() -> LieuDetails {
        LieuDetails {
            name: Text::parse("CMS Valence", "name").unwrap(),
            address: Text::parse("1 rue de la Paix, 26000 Valence", "address").unwrap(),
            phone: None,
        }
    }

    fn created(availability: Availability) -> LieuEvent {
        LieuEvent::LieuCreated {
            organisation_id: OrganisationId::default(),
            details: details(),
            availability,
        }
    }

    #[tokio::test]
    async fn creates_updates_disables_and_enables() {
        TestFramework::<Lieu>::with(services())
            .given_no_previous_events()
            .when_async(LieuCommand::CreateLieu {
                organisation_id: OrganisationId::default(),
                details: details(),
                single_use: true,
            })
            .await
            .then_expect_events(vec![created(Availability::SingleUse)]);
        let patch = LieuPatch {
            name: Some(details().name),
            phone: Some(Some("04".into())),
            ..Default::default()
        };
        TestFramework::<Lieu>::with(services())
            .given(vec![created(Availability::Enabled)])
            .when_async(LieuCommand::UpdateLieu { patch })
            .await
            .then_expect_events(vec![LieuEvent::LieuUpdated {
                changes: LieuPatch {
                    phone: Some(Some("04".into())),
                    ..Default::default()
                },
            }]);
        TestFramework::<Lieu>::with(services())
            .given(vec![created(Availability::Enabled)])
            .when_async(LieuCommand::DisableLieu)
            .await
            .then_expect_events(vec![LieuEvent::LieuDisabled]);
        TestFramework::<Lieu>::with(services())
            .given(vec![created(Availability::Enabled), LieuEvent::LieuDisabled])
            .when_async(LieuCommand::EnableLieu)
            .await
            .then_expect_events(vec![LieuEvent::LieuEnabled]);
    }

    #[tokio::test]
    async fn a_single_use_lieu_keeps_its_availability() {
        TestFramework::<Lieu>::with(services())
            .given(vec![created(Availability::SingleUse)])
            .when_async(LieuCommand::DisableLieu)
            .await
            .then_expect_error_message("a single-use lieu cannot change availability");
        TestFramework::<Lieu>::with(services())
            .given(vec![created(Availability::Enabled), LieuEvent::LieuDisabled])
            .when_async(LieuCommand::DisableLieu)
            .await
            .then_expect_error_message("the lieu is already disabled");
    }
}
