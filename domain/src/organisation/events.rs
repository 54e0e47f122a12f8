use super::{OrganisationDetails, OrganisationPatch};
use crate::{ids::TerritoryId, values::TimeZone};
use serde::{Deserialize, Serialize};

/// Events of an organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum OrganisationEvent {
    OrganisationCreated {
        territory_id: TerritoryId,
        timezone: TimeZone,
        details: OrganisationDetails,
    },
    /// Holds only the fields that changed, so history shows a real diff.
    OrganisationUpdated { changes: OrganisationPatch },
}

crate::versioned_events!(OrganisationEvent {
    OrganisationCreated => "1.0",
    OrganisationUpdated => "1.0",
});
