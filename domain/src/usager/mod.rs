//! An usager: the person who takes appointments: identity, contact, the
//! espace's custom fields, notification preferences, the SI's external id,
//! and for a relative the responsible usager who books for them.

use crate::{
    DomainError, Services, VersionedAggregate,
    ids::OrganisationId,
    values::{Email, Text},
};
use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

pub mod personal;

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
    /// How the usager wants to hear about RDVs (both on by default, as in
    /// RDV Service Public). Added after version 1.0 with defaults.
    #[serde(default)]
    pub notifications: NotificationPreferences,
    /// The organisation's information system's own identifier.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Civility: invitations and convocations address the usager by it
    /// (rdv-insertion notifies only usagers whose title is known). Added
    /// after version 1.0, as the fields below, with defaults.
    #[serde(default)]
    pub title: Option<Civility>,
    /// Postal address (one line: street, postcode and city), for letters.
    #[serde(default)]
    pub address: Option<String>,
    /// CAF or MSA number, printed on letters.
    #[serde(default)]
    pub affiliation_number: Option<String>,
}

/// How letters and messages address the usager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Civility {
    Monsieur,
    Madame,
}

impl Civility {
    /// "Monsieur" or "Madame".
    pub fn label(self) -> &'static str {
        match self {
            Civility::Monsieur => "Monsieur",
            Civility::Madame => "Madame",
        }
    }
}

/// RDV Service Public's `notify_by_email` / `notify_by_sms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct NotificationPreferences {
    pub email: bool,
    /// SMS go only to a mobile number, whatever this says.
    pub sms: bool,
}

impl UsagerProfile {
    /// The profile once its personal fields are erased (RGPD): what a
    /// replay reads after the usager's data key was destroyed, and what the
    /// aggregate keeps after `UsagerForgotten`. The link to a responsible
    /// usager stays (it is not personal data); notifications stop.
    pub fn erased(&self) -> UsagerProfile {
        let erased = |field: &str| serde_json::from_value(personal::erased_value(field));
        UsagerProfile {
            first_name: erased("first_name").expect("the erased name is a valid text"),
            last_name: erased("last_name").expect("the erased name is a valid text"),
            email: None,
            phone: None,
            birth_date: None,
            custom: Default::default(),
            responsible_id: self.responsible_id,
            notifications: NotificationPreferences {
                email: false,
                sms: false,
            },
            external_id: None,
            title: None,
            address: None,
            affiliation_number: None,
        }
    }
}

/// Why an usager's personal data was erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForgetReason {
    /// The usager (or an agent for them) asked for it.
    Request,
    /// No activity for the retention period (two years by default).
    Retention,
}

impl Default for NotificationPreferences {
    fn default() -> Self {
        Self { email: true, sms: true }
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Usager(pub Option<UsagerState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagerState {
    pub organisation_ids: BTreeSet<OrganisationId>,
    pub profile: UsagerProfile,
    /// Archived usagers are not invited nor reminded (rdv-insertion's
    /// archives); their invitations stopped being valid then.
    #[serde(default)]
    pub archived_at: Option<DateTime<Utc>>,
    /// Set once the usager's personal data was erased (RGPD): nothing can
    /// be done for them any more.
    #[serde(default)]
    pub forgotten_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum UsagerCommand {
    CreateUsager {
        organisation_ids: BTreeSet<OrganisationId>,
        profile: UsagerProfile,
    },
    /// Replaces the profile and organisations (the gateway applies a merge
    /// patch to the current ones); an unchanged usager records nothing.
    UpdateUsager {
        organisation_ids: BTreeSet<OrganisationId>,
        profile: UsagerProfile,
    },
    /// Takes the usager out of invitations and reminders (the reason is
    /// internal: "déménagement", "sortie du dispositif"...).
    ArchiveUsager {
        reason: Option<String>,
    },
    UnarchiveUsager,
    /// Erases the usager's personal data for good (RGPD): the store destroys
    /// their data key. Forgetting a forgotten usager records nothing.
    ForgetUsager {
        reason: ForgetReason,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum UsagerEvent {
    UsagerCreated {
        organisation_ids: BTreeSet<OrganisationId>,
        profile: UsagerProfile,
    },
    UsagerUpdated {
        organisation_ids: BTreeSet<OrganisationId>,
        profile: UsagerProfile,
    },
    UsagerArchived {
        reason: Option<String>,
        at: DateTime<Utc>,
    },
    UsagerUnarchived,
    UsagerForgotten {
        reason: ForgetReason,
        at: DateTime<Utc>,
    },
}

crate::versioned_events!(UsagerEvent {
    UsagerCreated => "1.0",
    UsagerUpdated => "1.0",
    UsagerArchived => "1.0",
    UsagerUnarchived => "1.0",
    UsagerForgotten => "1.0",
});

impl Usager {
    /// The usager, unless unknown (404) or forgotten (410).
    pub fn state(&self) -> Result<&UsagerState, DomainError> {
        let state = self.0.as_ref().ok_or_else(|| DomainError::not_found("usager"))?;
        if state.forgotten_at.is_some() {
            return Err(DomainError::gone("this usager's personal data was erased (RGPD)"));
        }
        Ok(state)
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
        svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let event = match command {
            UsagerCommand::ForgetUsager { reason } => {
                let known = self.0.as_ref().ok_or_else(|| DomainError::not_found("usager"))?;
                if known.forgotten_at.is_none() {
                    sink.write(UsagerEvent::UsagerForgotten { reason, at: svc.now() }, self)
                        .await;
                }
                return Ok(());
            }
            UsagerCommand::ArchiveUsager { reason } => {
                if self.state()?.archived_at.is_some() {
                    return Err(DomainError::conflict("the usager is already archived"));
                }
                let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
                sink.write(UsagerEvent::UsagerArchived { reason, at: svc.now() }, self)
                    .await;
                return Ok(());
            }
            UsagerCommand::UnarchiveUsager => {
                if self.state()?.archived_at.is_none() {
                    return Err(DomainError::conflict("the usager is not archived"));
                }
                sink.write(UsagerEvent::UsagerUnarchived, self).await;
                return Ok(());
            }
            UsagerCommand::CreateUsager {
                organisation_ids,
                profile,
            } => {
                if self.0.is_some() {
                    return Err(DomainError::conflict("usager already exists"));
                }
                UsagerEvent::UsagerCreated {
                    organisation_ids,
                    profile,
                }
            }
            UsagerCommand::UpdateUsager {
                organisation_ids,
                profile,
            } => {
                let state = self.state()?;
                if state.organisation_ids == organisation_ids && state.profile == profile {
                    return Ok(());
                }
                UsagerEvent::UsagerUpdated {
                    organisation_ids,
                    profile,
                }
            }
        };
        let (UsagerEvent::UsagerCreated {
            organisation_ids,
            profile,
        }
        | UsagerEvent::UsagerUpdated {
            organisation_ids,
            profile,
        }) = &event
        else {
            return Ok(());
        };
        if organisation_ids.is_empty() {
            return Err(DomainError::invalid(
                "organisation_ids",
                "an usager belongs to at least one organisation",
            ));
        }
        if profile
            .external_id
            .as_ref()
            .is_some_and(|id| id.trim().is_empty() || id.len() > 255)
        {
            return Err(DomainError::invalid("external_id", "between 1 and 255 characters"));
        }
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: UsagerEvent) {
        match event {
            UsagerEvent::UsagerCreated {
                organisation_ids,
                profile,
            } => {
                self.0 = Some(UsagerState {
                    organisation_ids,
                    profile,
                    archived_at: None,
                    forgotten_at: None,
                });
            }
            UsagerEvent::UsagerUpdated {
                organisation_ids,
                profile,
            } => {
                if let Some(state) = &mut self.0 {
                    state.organisation_ids = organisation_ids;
                    state.profile = profile;
                }
            }
            UsagerEvent::UsagerArchived { at, .. } => {
                if let Some(state) = &mut self.0 {
                    state.archived_at = Some(at);
                }
            }
            UsagerEvent::UsagerUnarchived => {
                if let Some(state) = &mut self.0 {
                    state.archived_at = None;
                }
            }
            UsagerEvent::UsagerForgotten { at, .. } => {
                if let Some(state) = &mut self.0 {
                    state.profile = state.profile.erased();
                    state.forgotten_at = Some(at);
                }
            }
        }
    }
}

impl VersionedAggregate for Usager {}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn profile() -> UsagerProfile {
        UsagerProfile {
            first_name: Text::parse("Ada", "first_name").unwrap(),
            last_name: Text::parse("Lovelace", "last_name").unwrap(),
            email: None,
            phone: None,
            birth_date: None,
            custom: Default::default(),
            responsible_id: None,
            notifications: NotificationPreferences::default(),
            external_id: None,
            title: None,
            address: None,
            affiliation_number: None,
        }
    }

    fn created() -> UsagerEvent {
        UsagerEvent::UsagerCreated {
            organisation_ids: [OrganisationId::default()].into(),
            profile: profile(),
        }
    }

    #[tokio::test]
    async fn an_update_replaces_the_profile_and_records_nothing_when_unchanged() {
        let mut changed = profile();
        changed.notifications.sms = false;
        changed.external_id = Some("SI-42".into());
        TestFramework::<Usager>::with(Services::at("2026-01-12T08:00:00Z"))
            .given(vec![created()])
            .when_async(UsagerCommand::UpdateUsager {
                organisation_ids: [OrganisationId::default()].into(),
                profile: changed.clone(),
            })
            .await
            .then_expect_events(vec![UsagerEvent::UsagerUpdated {
                organisation_ids: [OrganisationId::default()].into(),
                profile: changed,
            }]);
        TestFramework::<Usager>::with(Services::at("2026-01-12T08:00:00Z"))
            .given(vec![created()])
            .when_async(UsagerCommand::UpdateUsager {
                organisation_ids: [OrganisationId::default()].into(),
                profile: profile(),
            })
            .await
            .then_expect_events(vec![]);
    }

    #[tokio::test]
    async fn an_usager_keeps_an_organisation_and_a_sensible_external_id() {
        let err = TestFramework::<Usager>::with(Services::at("2026-01-12T08:00:00Z"))
            .given(vec![created()])
            .when_async(UsagerCommand::UpdateUsager {
                organisation_ids: BTreeSet::new(),
                profile: profile(),
            })
            .await
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.errors[0].field, "organisation_ids");
        let mut blank = profile();
        blank.external_id = Some("  ".into());
        let err = TestFramework::<Usager>::with(Services::at("2026-01-12T08:00:00Z"))
            .given_no_previous_events()
            .when_async(UsagerCommand::CreateUsager {
                organisation_ids: [OrganisationId::default()].into(),
                profile: blank,
            })
            .await
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.errors[0].field, "external_id");
    }

    #[tokio::test]
    async fn a_forgotten_usager_keeps_no_personal_data_and_accepts_nothing_more() {
        let at = "2026-01-12T08:00:00Z".parse().unwrap();
        let forgotten = UsagerEvent::UsagerForgotten {
            reason: ForgetReason::Request,
            at,
        };
        TestFramework::<Usager>::with(Services::at("2026-01-12T08:00:00Z"))
            .given(vec![created()])
            .when_async(UsagerCommand::ForgetUsager {
                reason: ForgetReason::Request,
            })
            .await
            .then_expect_events(vec![forgotten.clone()]);
        TestFramework::<Usager>::with(Services::at("2026-01-12T09:00:00Z"))
            .given(vec![created(), forgotten.clone()])
            .when_async(UsagerCommand::ForgetUsager {
                reason: ForgetReason::Retention,
            })
            .await
            .then_expect_events(vec![]);
        let err = TestFramework::<Usager>::with(Services::at("2026-01-12T09:00:00Z"))
            .given(vec![created(), forgotten.clone()])
            .when_async(UsagerCommand::ArchiveUsager { reason: None })
            .await
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Gone);
        let mut usager = Usager::default();
        usager.apply(created());
        usager.apply(forgotten);
        let state = usager.0.as_ref().unwrap();
        assert_eq!(state.profile.first_name.as_str(), personal::ERASED);
        assert_eq!(state.profile, profile().erased());
        assert_eq!(state.forgotten_at, Some(at));
    }

    #[test]
    fn a_version_1_0_profile_reads_with_default_preferences() {
        let stored = serde_json::json!({"first_name": "Ada", "last_name": "Lovelace", "email": null,
                                        "phone": null, "birth_date": null});
        let profile: UsagerProfile = serde_json::from_value(stored).unwrap();
        assert_eq!(
            profile.notifications,
            NotificationPreferences { email: true, sms: true }
        );
        assert_eq!(profile.external_id, None);
    }
}
