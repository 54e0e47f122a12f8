//! A webhook endpoint: where an organisation's information system receives
//! its records' changes (RDV Service Public's `WebhookEndpoint`). The
//! signing secret lives here only sealed (encrypted by the gateway with the
//! platform's master key); after a rotation the previous one stays valid
//! for 24 hours, and deliveries carry both signatures meanwhile.

use crate::{DomainError, Services, VersionedAggregate, ids::OrganisationId};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// How long a replaced secret still signs deliveries.
pub fn rotation_overlap() -> Duration {
    Duration::hours(24)
}

/// The models an endpoint subscribes to, named as RDV Service Public names
/// them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WebhookModel {
    Rdv,
    User,
    UserProfile,
    Absence,
    PlageOuverture,
    Organisation,
    Motif,
    Lieu,
    Agent,
    AgentRole,
    ReferentAssignation,
}

/// The body shape an endpoint receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    /// `{"data": …, "meta": {"model", "event", "webhook_reason", "timestamp"}}` and `X-Lapin-Signature`.
    #[default]
    RdvServicePublic,
    /// `{"type": "rdv.created", "timestamp", "data"}`.
    StandardWebhooks,
}

/// What an endpoint's owner configures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct EndpointConfig {
    /// Checked by the gateway (https, a public address) before it gets here.
    pub target_url: String,
    pub subscriptions: BTreeSet<WebhookModel>,
    pub format: WebhookFormat,
    pub description: Option<String>,
    /// This endpoint's retry schedule in seconds, in the form of
    /// `RDV_WEBHOOK_RETRY_SCHEDULE`: the first attempt (always 0: it goes at
    /// once), then the delay before each retry. `None`: the relay's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Vec<f64>>,
}

/// Retries an endpoint may ask for at most, and the longest wait between two.
const MAX_ATTEMPTS: usize = 20;
const MAX_RETRY_DELAY_S: f64 = 7.0 * 86_400.0;

/// A secret encrypted with the platform's master key (base64), never the
/// secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SealedSecret(pub String);

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct WebhookEndpoint(pub Option<EndpointState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointState {
    pub organisation_id: OrganisationId,
    pub config: EndpointConfig,
    pub secret: SealedSecret,
    /// The secret before the last rotation, and until when it still signs.
    pub previous_secret: Option<(SealedSecret, DateTime<Utc>)>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub deleted: bool,
}

impl EndpointState {
    /// The secrets that sign a delivery now: the current one, and the
    /// previous one during the rotation overlap.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&SealedSecret> {
        let mut secrets = vec![&self.secret];
        if let Some((previous, until)) = &self.previous_secret
            && *until > now
        {
            secrets.push(previous);
        }
        secrets
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum WebhookEndpointCommand {
    CreateWebhookEndpoint {
        organisation_id: OrganisationId,
        config: EndpointConfig,
        secret: SealedSecret,
    },
    UpdateWebhookEndpoint {
        config: EndpointConfig,
    },
    RotateWebhookSecret {
        secret: SealedSecret,
    },
    EnableWebhookEndpoint,
    /// By its owner, or by the relay (a 410, five days of failures).
    DisableWebhookEndpoint {
        reason: String,
    },
    DeleteWebhookEndpoint,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum WebhookEndpointEvent {
    WebhookEndpointCreated {
        organisation_id: OrganisationId,
        config: EndpointConfig,
        secret: SealedSecret,
    },
    WebhookEndpointUpdated {
        config: EndpointConfig,
    },
    WebhookSecretRotated {
        secret: SealedSecret,
        previous_valid_until: DateTime<Utc>,
    },
    WebhookEndpointEnabled,
    WebhookEndpointDisabled {
        reason: String,
    },
    WebhookEndpointDeleted,
}

crate::versioned_events!(WebhookEndpointEvent {
    WebhookEndpointCreated => "1.0",
    WebhookEndpointUpdated => "1.0",
    WebhookSecretRotated => "1.0",
    WebhookEndpointEnabled => "1.0",
    WebhookEndpointDisabled => "1.0",
    WebhookEndpointDeleted => "1.0",
});

impl WebhookEndpoint {
    /// The endpoint, unless it never existed or was deleted.
    pub fn state(&self) -> Result<&EndpointState, DomainError> {
        self.0
            .as_ref()
            .filter(|s| !s.deleted)
            .ok_or_else(|| DomainError::not_found("webhook endpoint"))
    }

    fn decide(
        &self,
        command: WebhookEndpointCommand,
        now: DateTime<Utc>,
    ) -> Result<Vec<WebhookEndpointEvent>, DomainError> {
        use WebhookEndpointCommand as C;
        use WebhookEndpointEvent as E;
        if let C::CreateWebhookEndpoint {
            organisation_id,
            config,
            secret,
        } = command
        {
            if self.0.is_some() {
                return Err(DomainError::conflict("webhook endpoint already exists"));
            }
            check(&config)?;
            return Ok(vec![E::WebhookEndpointCreated {
                organisation_id,
                config,
                secret,
            }]);
        }
        let state = self.state()?;
        Ok(match command {
            C::CreateWebhookEndpoint { .. } => Vec::new(),
            C::UpdateWebhookEndpoint { config } => {
                check(&config)?;
                if config == state.config {
                    Vec::new()
                } else {
                    vec![E::WebhookEndpointUpdated { config }]
                }
            }
            C::RotateWebhookSecret { secret } => vec![E::WebhookSecretRotated {
                secret,
                previous_valid_until: now + rotation_overlap(),
            }],
            C::EnableWebhookEndpoint if state.enabled => Vec::new(),
            C::EnableWebhookEndpoint => vec![E::WebhookEndpointEnabled],
            C::DisableWebhookEndpoint { .. } if !state.enabled => Vec::new(),
            C::DisableWebhookEndpoint { reason } => vec![E::WebhookEndpointDisabled { reason }],
            C::DeleteWebhookEndpoint => vec![E::WebhookEndpointDeleted],
        })
    }
}

fn check(config: &EndpointConfig) -> Result<(), DomainError> {
    if config.subscriptions.is_empty() {
        return Err(DomainError::invalid("subscriptions", "subscribe to at least one model"));
    }
    if config.description.as_ref().is_some_and(|d| d.chars().count() > 500) {
        return Err(DomainError::invalid("description", "at most 500 characters"));
    }
    if let Some(schedule) = &config.retry_schedule {
        let delays_ok = schedule
            .iter()
            .all(|d| d.is_finite() && (0.0..=MAX_RETRY_DELAY_S).contains(d));
        if schedule.first() != Some(&0.0) || schedule.len() > MAX_ATTEMPTS || !delays_ok {
            return Err(DomainError::invalid(
                "retry_schedule",
                "1 to 20 delays in seconds: 0 for the first attempt, then each retry's wait, at most 7 days",
            ));
        }
    }
    Ok(())
}

impl Aggregate for WebhookEndpoint {
    const TYPE: &'static str = "WebhookEndpoint";
    type Command = WebhookEndpointCommand;
    type Event = WebhookEndpointEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: WebhookEndpointCommand,
        svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        for event in self.decide(command, svc.now())? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: WebhookEndpointEvent) {
        use WebhookEndpointEvent as E;
        if let E::WebhookEndpointCreated {
            organisation_id,
            config,
            secret,
        } = event
        {
            self.0 = Some(EndpointState {
                organisation_id,
                config,
                secret,
                previous_secret: None,
                enabled: true,
                disabled_reason: None,
                deleted: false,
            });
            return;
        }
        let Some(state) = &mut self.0 else { return };
        match event {
            E::WebhookEndpointCreated { .. } => {}
            E::WebhookEndpointUpdated { config } => state.config = config,
            E::WebhookSecretRotated {
                secret,
                previous_valid_until,
            } => {
                let previous = std::mem::replace(&mut state.secret, secret);
                state.previous_secret = Some((previous, previous_valid_until));
            }
            E::WebhookEndpointEnabled => {
                state.enabled = true;
                state.disabled_reason = None;
            }
            E::WebhookEndpointDisabled { reason } => {
                state.enabled = false;
                state.disabled_reason = Some(reason);
            }
            E::WebhookEndpointDeleted => state.deleted = true,
        }
    }
}

impl VersionedAggregate for WebhookEndpoint {}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn config() -> EndpointConfig {
        EndpointConfig {
            target_url: "https://si.example.fr/hooks".into(),
            subscriptions: [WebhookModel::Rdv].into(),
            format: WebhookFormat::RdvServicePublic,
            description: None,
            retry_schedule: None,
        }
    }

    fn created() -> WebhookEndpointEvent {
        WebhookEndpointEvent::WebhookEndpointCreated {
            organisation_id: OrganisationId::default(),
            config: config(),
            secret: SealedSecret("old".into()),
        }
    }

    #[tokio::test]
    async fn a_rotation_keeps_the_previous_secret_for_a_day() {
        let rotated = WebhookEndpointEvent::WebhookSecretRotated {
            secret: SealedSecret("new".into()),
            previous_valid_until: "2026-01-13T08:00:00Z".parse().unwrap(),
        };
        TestFramework::<WebhookEndpoint>::with(Services::at("2026-01-12T08:00:00Z"))
            .given(vec![created()])
            .when_async(WebhookEndpointCommand::RotateWebhookSecret {
                secret: SealedSecret("new".into()),
            })
            .await
            .then_expect_events(vec![rotated.clone()]);
        let mut endpoint = WebhookEndpoint::default();
        endpoint.apply(created());
        endpoint.apply(rotated);
        let state = endpoint.state().unwrap();
        let during = state.signing_secrets("2026-01-12T20:00:00Z".parse().unwrap());
        assert_eq!(during, [&SealedSecret("new".into()), &SealedSecret("old".into())]);
        let after = state.signing_secrets("2026-01-13T08:00:00Z".parse().unwrap());
        assert_eq!(after, [&SealedSecret("new".into())]);
    }

    #[tokio::test]
    async fn an_endpoint_retry_schedule_starts_at_once_and_waits_at_most_a_week() {
        let update = |schedule: Vec<f64>| WebhookEndpointCommand::UpdateWebhookEndpoint {
            config: EndpointConfig {
                retry_schedule: Some(schedule),
                ..config()
            },
        };
        let refused = [
            vec![],
            vec![5.0, 10.0],
            vec![0.0, -1.0],
            vec![0.0, 8.0 * 86_400.0],
            vec![0.0; 21],
        ];
        for schedule in refused {
            let err = TestFramework::<WebhookEndpoint>::with(Services::at("2026-01-12T08:00:00Z"))
                .given(vec![created()])
                .when_async(update(schedule.clone()))
                .await
                .inspect_result()
                .unwrap_err();
            assert_eq!(err.errors[0].field, "retry_schedule", "{schedule:?}");
        }
        let accepted = update(vec![0.0, 1.0, 60.0]);
        let WebhookEndpointCommand::UpdateWebhookEndpoint { config } = accepted.clone() else {
            unreachable!()
        };
        TestFramework::<WebhookEndpoint>::with(Services::at("2026-01-12T08:00:00Z"))
            .given(vec![created()])
            .when_async(accepted)
            .await
            .then_expect_events(vec![WebhookEndpointEvent::WebhookEndpointUpdated { config }]);
    }

    #[tokio::test]
    async fn an_endpoint_subscribes_to_something_and_is_gone_once_deleted() {
        let mut empty = config();
        empty.subscriptions.clear();
        let err = TestFramework::<WebhookEndpoint>::with(Services::at("2026-01-12T08:00:00Z"))
            .given_no_previous_events()
            .when_async(WebhookEndpointCommand::CreateWebhookEndpoint {
                organisation_id: OrganisationId::default(),
                config: empty,
                secret: SealedSecret("s".into()),
            })
            .await
            .inspect_result()
            .unwrap_err();
        assert_eq!(err.errors[0].field, "subscriptions");
        TestFramework::<WebhookEndpoint>::with(Services::at("2026-01-12T08:00:00Z"))
            .given(vec![created(), WebhookEndpointEvent::WebhookEndpointDeleted])
            .when_async(WebhookEndpointCommand::EnableWebhookEndpoint)
            .await
            .then_expect_error(DomainError::not_found("webhook endpoint"));
        TestFramework::<WebhookEndpoint>::with(Services::at("2026-01-12T08:00:00Z"))
            .given(vec![created()])
            .when_async(WebhookEndpointCommand::EnableWebhookEndpoint)
            .await
            .then_expect_events(vec![]);
    }
}
