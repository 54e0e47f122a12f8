//! Webhook endpoints by organisation, for their owners' lists and for the
//! relay's dispatch. Secrets stay out: only the endpoint's configuration and
//! whether it is enabled.

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use rdv_domain::webhook_endpoint::{EndpointConfig, WebhookEndpoint, WebhookEndpointEvent};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const NAME: &str = "webhooks";
pub const ENDPOINTS: &str = "endpoints";

/// An endpoint as its owners see it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EndpointView {
    pub id: Uuid,
    pub organisation_id: Uuid,
    #[serde(flatten)]
    pub config: EndpointConfig,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
}

pub struct Webhooks;

#[async_trait::async_trait]
impl Projection for Webhooks {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        &["WebhookEndpoint"]
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        let id = event.aggregate_id.clone();
        let decoded = Decoder::<WebhookEndpoint>::default().decode(event)?;
        if let WebhookEndpointEvent::WebhookEndpointCreated {
            organisation_id,
            config,
            ..
        } = decoded
        {
            let view = EndpointView {
                id: docs.aggregate_uuid()?,
                organisation_id: organisation_id.0,
                config,
                enabled: true,
                disabled_reason: None,
            };
            let parent = organisation_id.to_string();
            return docs.save(ENDPOINTS, &id, Some(&parent), &view).await;
        }
        let mut view: EndpointView = docs.load(ENDPOINTS, &id).await?;
        match decoded {
            WebhookEndpointEvent::WebhookEndpointDeleted => return docs.delete(ENDPOINTS, &id).await,
            WebhookEndpointEvent::WebhookEndpointUpdated { config } => view.config = config,
            WebhookEndpointEvent::WebhookEndpointEnabled => {
                view.enabled = true;
                view.disabled_reason = None;
            }
            WebhookEndpointEvent::WebhookEndpointDisabled { reason } => {
                view.enabled = false;
                view.disabled_reason = Some(reason);
            }
            WebhookEndpointEvent::WebhookEndpointCreated { .. } | WebhookEndpointEvent::WebhookSecretRotated { .. } => {
            }
        }
        let parent = view.organisation_id.to_string();
        docs.save(ENDPOINTS, &id, Some(&parent), &view).await
    }
}
