use crate::{
    ids::TerritoryId,
    values::{Email, Text, TimeZone, present},
};
use serde::{Deserialize, Serialize};

/// The editable fields of an organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrganisationDetails {
    pub name: Text,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub email: Option<Email>,
    pub website: Option<String>,
    /// Free text such as "du lundi au vendredi, 9h-12h".
    pub opening_hours: Option<String>,
}

/// A partial update: `None` leaves a field alone, `Some(None)` clears an
/// optional one. Only the fields that really change become the event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrganisationPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub address: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub phone: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub email: Option<Option<Email>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub website: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub opening_hours: Option<Option<String>>,
}

impl OrganisationPatch {
    /// The subset of this patch that differs from `current`.
    pub fn changes_from(&self, current: &OrganisationDetails) -> OrganisationPatch {
        fn keep<T: PartialEq + Clone>(new: &Option<T>, old: &T) -> Option<T> {
            new.as_ref().filter(|v| *v != old).cloned()
        }
        OrganisationPatch {
            name: keep(&self.name, &current.name),
            address: keep(&self.address, &current.address),
            phone: keep(&self.phone, &current.phone),
            email: keep(&self.email, &current.email),
            website: keep(&self.website, &current.website),
            opening_hours: keep(&self.opening_hours, &current.opening_hours),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == OrganisationPatch::default()
    }

    pub fn apply_to(self, details: &mut OrganisationDetails) {
        fn set<T>(slot: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *slot = v;
            }
        }
        set(&mut details.name, self.name);
        set(&mut details.address, self.address);
        set(&mut details.phone, self.phone);
        set(&mut details.email, self.email);
        set(&mut details.website, self.website);
        set(&mut details.opening_hours, self.opening_hours);
    }
}

/// Commands on an organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum OrganisationCommand {
    /// `timezone` is already resolved: the request's, or the territory's.
    CreateOrganisation {
        territory_id: TerritoryId,
        timezone: TimeZone,
        details: OrganisationDetails,
    },
    UpdateOrganisation {
        patch: OrganisationPatch,
    },
}
