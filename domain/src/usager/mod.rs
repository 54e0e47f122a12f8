//! An usager: the person who takes appointments. This first slice holds the
//! identity and contact an RDV needs; field settings, relatives and the SI's
//! external id come with the booking issue's usager work.

use crate::{
    DomainError, Services, VersionedAggregate,
    ids::OrganisationId,
    values::{Email, Text},
};
use chrono::NaiveDate;
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// What an usager tells about themself. Personal data: never logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct UsagerProfile {
    #[schema(value_type = String)]
    pub first_name: Text,
    #[schema(value_type = String)]
    pub last_name: Text,
    #[schema(value_type = Option<String>)]
    pub email: Option<Email>,
    /// E.164 (`+33612345678`); SMS only when it is a mobile.
    #[schema(value_type = Option<String>)]
    pub phone: Option<crate::phone::PhoneE164>,
    pub birth_date: Option<NaiveDate>,
    /// Values of the espace's custom fields, by key. Kept when a field is
    /// hidden or removed, shown again when it comes back.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: std::collections::BTreeMap<String, serde_json::Value>,
    /// For a relative (a child...): the usager who books and is notified
    /// for them (RDV Service Public's `responsible_id`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub responsible_id: Option<crate::ids::UsagerId>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Usager(pub Option<UsagerState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagerState {
    pub organisation_ids: BTreeSet<OrganisationId>,
    pub profile: UsagerProfile,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum UsagerCommand {
    CreateUsager {
        organisation_ids: BTreeSet<OrganisationId>,
        profile: UsagerProfile,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum UsagerEvent {
    UsagerCreated {
        organisation_ids: BTreeSet<OrganisationId>,
        profile: UsagerProfile,
    },
}

crate::versioned_events!(UsagerEvent { UsagerCreated => "1.0" });

impl Usager {
    pub fn state(&self) -> Result<&UsagerState, DomainError> {
        self.0.as_ref().ok_or_else(|| DomainError::not_found("usager"))
    }
}

impl Aggregate for Usager {
    const TYPE: &'static str = "Usager";
    type Command = UsagerCommand;
    type Event = UsagerEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: UsagerCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let UsagerCommand::CreateUsager {
            organisation_ids,
            profile,
        } = command;
        if self.0.is_some() {
            return Err(DomainError::conflict("usager already exists"));
        }
        if organisation_ids.is_empty() {
            return Err(DomainError::invalid(
                "organisation_ids",
                "an usager belongs to at least one organisation",
            ));
        }
        sink.write(
            UsagerEvent::UsagerCreated {
                organisation_ids,
                profile,
            },
            self,
        )
        .await;
        Ok(())
    }

    fn apply(&mut self, event: UsagerEvent) {
        let UsagerEvent::UsagerCreated {
            organisation_ids,
            profile,
        } = event;
        self.0 = Some(UsagerState {
            organisation_ids,
            profile,
        });
    }
}

impl VersionedAggregate for Usager {}
