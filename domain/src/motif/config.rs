//! A motif's configuration: the three tabs of RDV Service Public's form.

use crate::{
    DomainError, FieldError,
    ids::OrganisationId,
    values::{ServiceKind, Text},
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Where the RDV takes place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationType {
    /// Sur place, in a lieu.
    PublicOffice,
    Phone,
    Visio,
    /// À domicile.
    Home,
}

/// Whether usagers see the RDV and are notified (RDV Service Public's
/// `visibility_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    VisibleAndNotified,
    VisibleAndNotNotified,
    Invisible,
}

/// Who may book online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookableBy {
    Agents,
    AgentsAndPrescripteurs,
    AgentsAndPrescripteursAndInvitedUsers,
    Everyone,
}

impl BookableBy {
    /// Whether a prescripteur (a professional booking for an usager through
    /// the public pages) may book it: every setting naming prescripteurs,
    /// and `everyone`.
    pub fn by_prescripteurs(self) -> bool {
        !matches!(self, BookableBy::Agents)
    }

    /// RDV Service Public's `bookable_publicly`: everyone or invited usagers.
    pub fn is_public(self) -> bool {
        matches!(
            self,
            BookableBy::Everyone | BookableBy::AgentsAndPrescripteursAndInvitedUsers
        )
    }
}

/// How far online booking is restricted geographically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SectorisationLevel {
    Agent,
    Organisation,
    /// Unrestricted within the département (the default).
    Departement,
}

/// Tab "Informations".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct MotifInformations {
    #[schema(value_type = String)]
    pub name: Text,
    /// `#rrggbb`
    pub color: String,
    pub service: ServiceKind,
    pub default_duration_in_min: u32,
    pub location_type: LocationType,
    pub collective: bool,
    /// Seats of a collective RDV; none means unlimited.
    pub max_participants: Option<u32>,
    pub visibility: Visibility,
    /// Booking only with the usager's referent agents.
    pub follow_up: bool,
    /// Short name of a motif category (`rsa_orientation`...), for invitations.
    pub category: Option<String>,
}

/// Tab "Réservation en ligne".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct MotifBooking {
    pub bookable_by: BookableBy,
    /// Minutes between now and the earliest bookable start.
    pub min_booking_delay_in_min: u32,
    /// Minutes between now and the latest bookable start.
    pub max_booking_delay_in_min: u32,
    pub usager_can_cancel: bool,
    pub usager_can_reschedule: bool,
    pub sectorisation_level: SectorisationLevel,
}

impl Default for MotifBooking {
    /// RDV Service Public's defaults: agents only, 30 min to ~3 months.
    fn default() -> Self {
        Self {
            bookable_by: BookableBy::Agents,
            min_booking_delay_in_min: 30,
            max_booking_delay_in_min: 131_487,
            usager_can_cancel: true,
            usager_can_reschedule: true,
            sectorisation_level: SectorisationLevel::Departement,
        }
    }
}

/// Tab "Instructions".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct MotifInstructions {
    /// Shown (and to be accepted) before booking.
    pub before_booking: Option<String>,
    /// Sent with the confirmation, after booking.
    pub after_booking: Option<String>,
    /// Warning shown when the usager cancels.
    pub cancellation_warning: Option<String>,
}

/// The whole configuration of a motif.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct MotifConfig {
    pub informations: MotifInformations,
    #[serde(default)]
    pub booking: MotifBooking,
    #[serde(default)]
    pub instructions: MotifInstructions,
    /// Organisations of the territory where the motif is enabled.
    pub organisation_ids: BTreeSet<OrganisationId>,
}

/// The longest RDV a motif may last: 24 hours.
pub const MAX_DURATION_IN_MIN: u32 = 24 * 60;

impl MotifConfig {
    /// Checks the rules that need nothing but the configuration itself, and
    /// names every bad field.
    pub fn validate(&self, active_services: &BTreeSet<ServiceKind>) -> Result<(), DomainError> {
        let info = &self.informations;
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: &str| errors.push(FieldError::new(field, message));
        if !is_hex_color(&info.color) {
            bad("informations.color", "must be a colour such as #1a2b3c");
        }
        if info.default_duration_in_min == 0 || info.default_duration_in_min > MAX_DURATION_IN_MIN {
            bad(
                "informations.default_duration_in_min",
                "must be between 1 and 1440 minutes (24 h)",
            );
        }
        if !active_services.contains(&info.service) {
            bad("informations.service", "this service is not active in the territory");
        }
        if info.service == ServiceKind::Secretariat {
            bad("informations.service", "no motif may belong to the Secrétariat");
        }
        if info.collective && info.location_type == LocationType::Home {
            bad(
                "informations.location_type",
                "a collective motif cannot take place at home",
            );
        }
        if !info.collective && info.max_participants.is_some() {
            bad(
                "informations.max_participants",
                "only a collective motif has a number of seats",
            );
        }
        if info.max_participants == Some(0) {
            bad("informations.max_participants", "must be at least 1");
        }
        if info.category.as_deref().is_some_and(|c| c.trim().is_empty()) {
            bad("informations.category", "must not be empty when given");
        }
        if self.booking.min_booking_delay_in_min >= self.booking.max_booking_delay_in_min {
            bad(
                "booking.min_booking_delay_in_min",
                "must be less than the maximum booking delay",
            );
        }
        if self.organisation_ids.is_empty() {
            bad("organisation_ids", "enable the motif in at least one organisation");
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::invalid_fields(errors))
        }
    }

    /// The keys a motif must hold alone: one per organisation it is enabled
    /// in (RDV Service Public: a name is unique per organisation, location
    /// type and service).
    pub fn unique_keys(&self) -> BTreeSet<String> {
        let info = &self.informations;
        self.organisation_ids
            .iter()
            .map(|org| {
                format!(
                    "{org}|{}|{}|{}",
                    info.name.as_str().to_lowercase(),
                    serde_json::to_value(info.service)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    serde_json::to_value(info.location_type)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                )
            })
            .collect()
    }
}

fn is_hex_color(raw: &str) -> bool {
    raw.len() == 7 && raw.starts_with('#') && raw[1..].chars().all(|c| c.is_ascii_hexdigit())
}
