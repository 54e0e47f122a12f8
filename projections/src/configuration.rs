//! The espace's configuration as screens show it: motifs (per territory and
//! per organisation), lieux per organisation, and the espace settings.

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use rdv_domain::{
    lieu::{Availability, Lieu, LieuEvent},
    motif::{Motif, MotifConfig, MotifEvent},
    territory::{EspaceSettings, Territory, TerritoryEvent},
};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub const NAME: &str = "configuration";
pub const MOTIFS: &str = "motifs";
pub const ORGANISATION_MOTIFS: &str = "organisation_motifs";
pub const LIEUX: &str = "lieux";
pub const SETTINGS: &str = "settings";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MotifView {
    pub id: Uuid,
    pub territory_id: Uuid,
    pub archived: bool,
    #[serde(flatten)]
    pub config: MotifConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LieuView {
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub name: String,
    pub address: String,
    pub phone: Option<String>,
    pub availability: Availability,
}

/// The configuration projection.
pub struct Configuration;

#[async_trait::async_trait]
impl Projection for Configuration {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        &["Motif", "Lieu", "Territory"]
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        match event.aggregate_type.as_str() {
            "Motif" => motif(&mut docs, Decoder::<Motif>::default().decode(event)?).await,
            "Lieu" => lieu(&mut docs, Decoder::<Lieu>::default().decode(event)?).await,
            "Territory" => settings(&mut docs, Decoder::<Territory>::default().decode(event)?).await,
            _ => Ok(()),
        }
    }
}

async fn motif(docs: &mut Documents<'_>, payload: MotifEvent) -> Result<(), ProjectionError> {
    let id = docs.event.aggregate_id.clone();
    let before: Option<MotifView> = docs.find(MOTIFS, &id).await?;
    let view = match (payload, before.clone()) {
        (MotifEvent::MotifCreated { territory_id, config }, _) => MotifView {
            id: docs.aggregate_uuid()?,
            territory_id: territory_id.0,
            archived: false,
            config,
        },
        (MotifEvent::MotifConfigured { config }, Some(view)) => MotifView { config, ..view },
        (MotifEvent::MotifArchived, Some(view)) => MotifView { archived: true, ..view },
        (MotifEvent::MotifRestored, Some(view)) => MotifView {
            archived: false,
            ..view
        },
        (_, None) => {
            return Err(ProjectionError::event(
                docs.event,
                "motif changed before it was created",
            ));
        }
    };
    let territory = view.territory_id.to_string();
    docs.save(MOTIFS, &id, Some(&territory), &view).await?;
    for organisation in before.iter().flat_map(|b| &b.config.organisation_ids) {
        if !view.config.organisation_ids.contains(organisation) {
            docs.delete(ORGANISATION_MOTIFS, &format!("{organisation}:{id}"))
                .await?;
        }
    }
    for organisation in &view.config.organisation_ids {
        let parent = organisation.to_string();
        docs.save(
            ORGANISATION_MOTIFS,
            &format!("{organisation}:{id}"),
            Some(&parent),
            &view,
        )
        .await?;
    }
    Ok(())
}

async fn lieu(docs: &mut Documents<'_>, payload: LieuEvent) -> Result<(), ProjectionError> {
    let id = docs.event.aggregate_id.clone();
    let view = match payload {
        LieuEvent::LieuCreated {
            organisation_id,
            details,
            availability,
        } => LieuView {
            id: docs.aggregate_uuid()?,
            organisation_id: organisation_id.0,
            name: details.name.to_string(),
            address: details.address.to_string(),
            phone: details.phone,
            availability,
        },
        other => {
            let mut view: LieuView = docs.load(LIEUX, &id).await?;
            match other {
                LieuEvent::LieuCreated { .. } => {}
                LieuEvent::LieuUpdated { changes } => {
                    if let Some(name) = changes.name {
                        view.name = name.to_string();
                    }
                    if let Some(address) = changes.address {
                        view.address = address.to_string();
                    }
                    if let Some(phone) = changes.phone {
                        view.phone = phone;
                    }
                }
                LieuEvent::LieuDisabled => view.availability = Availability::Disabled,
                LieuEvent::LieuEnabled => view.availability = Availability::Enabled,
            }
            view
        }
    };
    let parent = view.organisation_id.to_string();
    docs.save(LIEUX, &id, Some(&parent), &view).await
}

async fn settings(docs: &mut Documents<'_>, payload: TerritoryEvent) -> Result<(), ProjectionError> {
    let id = docs.event.aggregate_id.clone();
    let mut view: EspaceSettings = docs.find(SETTINGS, &id).await?.unwrap_or_default();
    match payload {
        TerritoryEvent::UsagerFieldsConfigured { settings } => view.usager_fields = settings,
        TerritoryEvent::RdvFieldsConfigured { settings } => view.rdv_fields = settings,
        TerritoryEvent::WaitingRoomConfigured { settings } => view.waiting_room = settings,
        TerritoryEvent::ClosedDaysConfigured { days } => view.closed_days = days,
        TerritoryEvent::TerritoryCreated { .. } => {}
        TerritoryEvent::ServiceActivated { .. } | TerritoryEvent::ServiceDeactivated { .. } => return Ok(()),
    }
    docs.save(SETTINGS, &id, None, &view).await
}
