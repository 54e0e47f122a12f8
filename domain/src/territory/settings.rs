//! Espace-wide settings: which usager fields the forms show (and custom
//! ones), whether RDVs carry the internal "Contexte" field, and how the
//! salle d'attente notifies. Settings only choose what is shown: stored usager
//! and RDV data is never dropped when a field is hidden or removed.

use crate::{DomainError, FieldError, values::Text};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use utoipa::ToSchema;

/// The standard usager fields a form may show (first and last names always are).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StandardUsagerField {
    BirthName,
    BirthDate,
    Address,
    Phone,
    Email,
    CaisseAffiliation,
    AffiliationNumber,
    FamilySituation,
    NumberOfChildren,
    Notes,
}

impl StandardUsagerField {
    pub const ALL: [StandardUsagerField; 10] = [
        StandardUsagerField::BirthName,
        StandardUsagerField::BirthDate,
        StandardUsagerField::Address,
        StandardUsagerField::Phone,
        StandardUsagerField::Email,
        StandardUsagerField::CaisseAffiliation,
        StandardUsagerField::AffiliationNumber,
        StandardUsagerField::FamilySituation,
        StandardUsagerField::NumberOfChildren,
        StandardUsagerField::Notes,
    ];
}

/// The type of a custom field's values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomFieldKind {
    Text,
    Number,
    Date,
    Choice { options: Vec<String> },
}

/// A field an espace adds to its usager forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct CustomField {
    /// Stable identifier of the stored values: `[a-z0-9_]`, 1–40 characters.
    pub key: String,
    #[schema(value_type = String)]
    pub label: Text,
    pub kind: CustomFieldKind,
    pub required: bool,
    /// Hidden fields keep their values but are not shown in forms.
    #[serde(default)]
    pub hidden: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct UsagerFieldSettings {
    /// Standard fields shown in forms; the others are hidden.
    pub shown: BTreeSet<StandardUsagerField>,
    pub custom: Vec<CustomField>,
}

impl Default for UsagerFieldSettings {
    fn default() -> Self {
        Self {
            shown: StandardUsagerField::ALL.into_iter().collect(),
            custom: Vec::new(),
        }
    }
}

impl UsagerFieldSettings {
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        let mut keys = HashSet::new();
        for (i, field) in self.custom.iter().enumerate() {
            let valid_key = (1..=40).contains(&field.key.len())
                && field
                    .key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid_key {
                errors.push(FieldError::new(
                    format!("custom[{i}].key"),
                    "use 1 to 40 of a-z, 0-9 and _",
                ));
            } else if !keys.insert(field.key.as_str()) {
                errors.push(FieldError::new(
                    format!("custom[{i}].key"),
                    "another custom field has this key",
                ));
            }
            if let CustomFieldKind::Choice { options } = &field.kind {
                let distinct: HashSet<&str> = options.iter().map(|o| o.trim()).collect();
                if options.is_empty() || distinct.len() != options.len() || distinct.contains("") {
                    errors.push(FieldError::new(
                        format!("custom[{i}].kind.options"),
                        "give distinct, non-empty options",
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::invalid_fields(errors))
        }
    }
}

/// RDV fields: "Contexte" is internal (never shown to usagers); turned off,
/// it is hidden everywhere but its values are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct RdvFieldSettings {
    pub context_enabled: bool,
}

/// How the salle d'attente tells agents an usager arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct WaitingRoomSettings {
    /// A colour on the agenda.
    pub visual: bool,
    /// An e-mail to the RDV's agents.
    pub email: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct EspaceSettings {
    pub usager_fields: UsagerFieldSettings,
    pub rdv_fields: RdvFieldSettings,
    pub waiting_room: WaitingRoomSettings,
    /// Days the whole espace is closed, on top of public holidays.
    #[serde(default)]
    pub closed_days: BTreeSet<chrono::NaiveDate>,
}
