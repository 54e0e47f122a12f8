//! Espace-wide settings: which usager fields the forms show (and custom
//! ones), whether RDVs carry the internal "Contexte" field, and how the
//! salle d'attente notifies. Settings only choose what is shown: stored usager
//! and RDV data is never dropped when a field is hidden or removed.

use crate::{DomainError, FieldError, usager::UsagerProfile, values::Text};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
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
    /// Checks an usager's custom values against the fields: known keys,
    /// values of the field's type, required (visible) fields present.
    pub fn check_values(&self, values: &BTreeMap<String, Value>) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        for (key, value) in values {
            let field = format!("custom_fields.{key}");
            let Some(definition) = self.custom.iter().find(|f| f.key == *key) else {
                errors.push(FieldError::new(field, "no such field in this espace"));
                continue;
            };
            let valid = match &definition.kind {
                CustomFieldKind::Text => value.is_string(),
                CustomFieldKind::Number => value.is_number(),
                CustomFieldKind::Date => value.as_str().is_some_and(|s| s.parse::<chrono::NaiveDate>().is_ok()),
                CustomFieldKind::Choice { options } => value.as_str().is_some_and(|s| options.iter().any(|o| o == s)),
            };
            if !valid && !value.is_null() {
                errors.push(FieldError::new(field, "does not fit the field's type"));
            }
        }
        for definition in self.custom.iter().filter(|f| f.required && !f.hidden) {
            if values.get(&definition.key).is_none_or(Value::is_null) {
                errors.push(FieldError::new(
                    format!("custom_fields.{}", definition.key),
                    "is required",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::invalid_fields(errors))
        }
    }

    /// An usager's profile as forms show it now: hidden standard fields and
    /// custom fields hidden or removed are left out (their values are kept).
    pub fn shown(&self, profile: &UsagerProfile) -> UsagerProfile {
        let mut shown = profile.clone();
        if !self.shown.contains(&StandardUsagerField::Email) {
            shown.email = None;
        }
        if !self.shown.contains(&StandardUsagerField::Phone) {
            shown.phone = None;
        }
        if !self.shown.contains(&StandardUsagerField::BirthDate) {
            shown.birth_date = None;
        }
        if !self.shown.contains(&StandardUsagerField::Address) {
            shown.address = None;
        }
        if !self.shown.contains(&StandardUsagerField::AffiliationNumber) {
            shown.affiliation_number = None;
        }
        shown
            .custom
            .retain(|key, _| self.custom.iter().any(|f| f.key == *key && !f.hidden));
        shown
    }

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
