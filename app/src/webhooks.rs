//! The webhook endpoints of an organisation, managed by agents with the
//! territory's webhooks right: [`CreateWebhookEndpoint`],
//! [`UpdateWebhookEndpoint`], [`RotateWebhookSecret`] and
//! [`SwitchWebhookEndpoint`] (enable, disable, delete). Targets pass the
//! SSRF guard ([`rdv_webhook_relay::target`]); a secret is generated here,
//! given back once, and stored only sealed.

use crate::{
    Context, Error,
    caller::{Caller, Place},
    respond::{Respond, change_one},
};
use rdv_domain::{
    DomainError, FieldError,
    ids::OrganisationId,
    rights::Permission,
    webhook_endpoint::{
        EndpointConfig, EndpointState, SealedSecret, WebhookEndpoint, WebhookEndpointCommand, WebhookFormat,
        WebhookModel,
    },
};
use rdv_eventstore::{CommandContext, CommandOutcome};
use rdv_webhook_relay::{signing::WebhookSecret, target};
use serde::Deserialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct EndpointRequest {
    /// https, to a public address (see `RDV_WEBHOOK_ALLOW_HOSTS`).
    pub target_url: String,
    /// Default: `rdv`, `absence`, `plage_ouverture` (as RDV Service Public).
    pub subscriptions: Option<BTreeSet<WebhookModel>>,
    #[serde(default)]
    pub format: WebhookFormat,
    pub description: Option<String>,
    /// Seconds: 0 for the first attempt, then the wait before each retry
    /// (at most 20 entries, each at most 7 days). Absent or null: the
    /// relay's default (`RDV_WEBHOOK_RETRY_SCHEDULE`).
    pub retry_schedule: Option<Vec<f64>>,
}

/// Which endpoint a command changed, and its secret when one was made.
#[derive(Debug, Clone)]
pub struct EndpointChanged {
    pub endpoint_id: Uuid,
    /// Shown this once: only its sealed form is kept.
    pub secret: Option<String>,
}

/// Checks the caller manages webhooks in the organisation's territory.
async fn require_webhooks_right(
    app: &Context,
    caller: &Caller,
    organisation_id: OrganisationId,
    what: &str,
) -> Result<(), Error> {
    let organisation = app.organisation(organisation_id).await?;
    caller.require_territory_visibility(organisation.territory_id, what)?;
    caller.require(Permission::ManageWebhooks, Place::Territory(organisation.territory_id))
}

/// The endpoint, if the caller manages its territory's webhooks (404 for
/// an unknown one or one of a territory the caller has no footing in).
pub async fn managed_endpoint(app: &Context, caller: &Caller, endpoint_id: Uuid) -> Result<EndpointState, Error> {
    let endpoint = app.load::<WebhookEndpoint>(&endpoint_id.to_string()).await?;
    let endpoint = endpoint
        .state()
        .map_err(|_| Error::not_found("webhook endpoint"))?
        .clone();
    require_webhooks_right(app, caller, endpoint.organisation_id, "webhook endpoint").await?;
    Ok(endpoint)
}

/// Checks the target (SSRF guard) and builds the configuration.
async fn config_of(app: &Context, r: EndpointRequest) -> Result<EndpointConfig, Error> {
    if let Err(error) = target::vet(&r.target_url, &app.webhook_allow).await {
        return Err(DomainError::invalid_fields(vec![FieldError::new("target_url", error.to_string())]).into());
    }
    let all = [WebhookModel::Rdv, WebhookModel::Absence, WebhookModel::PlageOuverture];
    Ok(EndpointConfig {
        target_url: r.target_url,
        subscriptions: r.subscriptions.unwrap_or_else(|| all.into()),
        format: r.format,
        description: r.description.map(|d| d.trim().to_string()).filter(|d| !d.is_empty()),
        retry_schedule: r.retry_schedule,
    })
}

/// Runs one command on the endpoint's stream.
async fn change_endpoint(
    app: &Context,
    command: &CommandContext,
    changed: EndpointChanged,
    change: WebhookEndpointCommand,
    if_match: Option<i64>,
    respond: impl Respond<EndpointChanged>,
) -> Result<CommandOutcome, Error> {
    let stream = changed.endpoint_id.to_string();
    change_one::<WebhookEndpoint, _>(app, command, &stream, change, if_match, changed, respond).await
}

/// A fresh secret, and its sealed form to store.
fn new_secret(app: &Context) -> (String, SealedSecret) {
    let secret = WebhookSecret::generate();
    let sealed = SealedSecret(app.master_key.seal(secret.as_str()));
    (secret.as_str().to_string(), sealed)
}

/// Creates a webhook endpoint for an organisation; the answer holds its
/// secret (`whsec_…`), given only this once.
#[derive(Debug, Clone)]
pub struct CreateWebhookEndpoint {
    pub organisation_id: OrganisationId,
    pub endpoint: EndpointRequest,
}

impl CreateWebhookEndpoint {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<EndpointChanged>,
    ) -> Result<CommandOutcome, Error> {
        let organisation_id = self.organisation_id;
        require_webhooks_right(app, caller, organisation_id, "organisation").await?;
        let config = config_of(app, self.endpoint).await?;
        let (secret, sealed) = new_secret(app);
        let create = WebhookEndpointCommand::CreateWebhookEndpoint {
            organisation_id,
            config,
            secret: sealed,
        };
        let changed = EndpointChanged {
            endpoint_id: Uuid::now_v7(),
            secret: Some(secret),
        };
        change_endpoint(app, command, changed, create, None, respond).await
    }
}

/// Replaces an endpoint's configuration; the target is checked again.
#[derive(Debug, Clone)]
pub struct UpdateWebhookEndpoint {
    pub endpoint_id: Uuid,
    pub endpoint: EndpointRequest,
    pub if_match: Option<i64>,
}

impl UpdateWebhookEndpoint {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<EndpointChanged>,
    ) -> Result<CommandOutcome, Error> {
        managed_endpoint(app, caller, self.endpoint_id).await?;
        let config = config_of(app, self.endpoint).await?;
        let update = WebhookEndpointCommand::UpdateWebhookEndpoint { config };
        let changed = EndpointChanged {
            endpoint_id: self.endpoint_id,
            secret: None,
        };
        change_endpoint(app, command, changed, update, self.if_match, respond).await
    }
}

/// A new secret, given back once; the previous one still signs for 24
/// hours, while the SI switches.
#[derive(Debug, Clone)]
pub struct RotateWebhookSecret {
    pub endpoint_id: Uuid,
}

impl RotateWebhookSecret {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<EndpointChanged>,
    ) -> Result<CommandOutcome, Error> {
        managed_endpoint(app, caller, self.endpoint_id).await?;
        let (secret, sealed) = new_secret(app);
        let rotate = WebhookEndpointCommand::RotateWebhookSecret { secret: sealed };
        let changed = EndpointChanged {
            endpoint_id: self.endpoint_id,
            secret: Some(secret),
        };
        change_endpoint(app, command, changed, rotate, None, respond).await
    }
}

/// What an agent does to an endpoint without a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Switch {
    /// Turns deliveries back on.
    Enable,
    /// Stops deliveries until enabled again.
    Disable,
    /// Nothing more is sent to it.
    Delete,
}

/// Enables, disables or deletes an endpoint.
#[derive(Debug, Clone)]
pub struct SwitchWebhookEndpoint {
    pub endpoint_id: Uuid,
    pub switch: Switch,
}

impl SwitchWebhookEndpoint {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<EndpointChanged>,
    ) -> Result<CommandOutcome, Error> {
        managed_endpoint(app, caller, self.endpoint_id).await?;
        let change = match self.switch {
            Switch::Enable => WebhookEndpointCommand::EnableWebhookEndpoint,
            Switch::Disable => WebhookEndpointCommand::DisableWebhookEndpoint {
                reason: "disabled by an agent".into(),
            },
            Switch::Delete => WebhookEndpointCommand::DeleteWebhookEndpoint,
        };
        let changed = EndpointChanged {
            endpoint_id: self.endpoint_id,
            secret: None,
        };
        change_endpoint(app, command, changed, change, None, respond).await
    }
}
