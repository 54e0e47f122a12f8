//! Value types parsed once at the edge ("parse, don't validate"): once a
//! command holds an [`Email`] or a [`TimeZone`], nothing re-checks it.

use crate::error::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An e-mail address, trimmed and lower-cased: `local@domain.tld`.
/// Deserializing parses too, so no JSON can smuggle in a bad one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Email::parse(&raw, "email").map_err(|e| e.message)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl Email {
    /// Parses an address; `field` names the input in the error.
    pub fn parse(raw: &str, field: &str) -> Result<Self, DomainError> {
        let value = raw.trim().to_lowercase();
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && value.len() <= 254
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if valid {
            Ok(Self(value))
        } else {
            Err(DomainError::invalid(
                field,
                "must be an e-mail address such as agent@example.fr",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Required free text (names, titles): trimmed, not empty, at most 200 chars.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl TryFrom<String> for Text {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Text::parse(&raw, "text").map_err(|e| e.message)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> String {
        text.0
    }
}

impl Text {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str, field: &str) -> Result<Self, DomainError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                field,
                format!("must be at most {} characters", Self::MAX_LEN),
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone such as `Europe/Paris` or `Indian/Reunion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct TimeZone(#[schemars(with = "String")] pub chrono_tz::Tz);

impl TimeZone {
    /// The default of RDV Service Public (`config.time_zone = "Paris"`).
    pub const PARIS: TimeZone = TimeZone(chrono_tz::Europe::Paris);

    pub fn parse(raw: &str, field: &str) -> Result<Self, DomainError> {
        raw.trim()
            .parse::<chrono_tz::Tz>()
            .map(Self)
            .map_err(|_| DomainError::invalid(field, format!("unknown IANA time zone '{}'", raw.trim())))
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self::PARIS
    }
}

/// A French département number: 1–3 characters, digits or `2A`/`2B`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct DepartementNumber(String);

impl DepartementNumber {
    pub fn parse(raw: &str, field: &str) -> Result<Self, DomainError> {
        let value = raw.trim().to_uppercase();
        let ok = matches!(value.len(), 1..=3)
            && (value.chars().all(|c| c.is_ascii_digit()) || value == "2A" || value == "2B");
        if ok {
            Ok(Self(value))
        } else {
            Err(DomainError::invalid(
                field,
                "must be a département number such as 26, 974 or 2A",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Deserializes a field that may be absent (`None`: leave it), `null`
/// (`Some(None)`: clear it) or a value, which plain serde cannot tell apart.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A SHA-256 digest (hex) of a secret token; the secret itself is never stored.
/// Equality runs in constant time, so comparing a presented token's digest
/// with a stored one tells nothing by its timing.
#[derive(Debug, Clone, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct TokenHash(pub String);

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
    }
}

/// Hashes as the digest text it compares equal by.
impl std::hash::Hash for TokenHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// An agent's access level in one organisation (RDV Service Public's
/// `AgentRole.access_level`). An intervenant has no e-mail and cannot log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Basic,
    Admin,
    Intervenant,
}

/// What an agent may do across a whole territory, beyond its organisations.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, utoipa::ToSchema,
)]
pub struct TerritoryRights {
    /// Territorial admin: every organisation of the territory, and granting rights.
    #[serde(default)]
    pub admin: bool,
    /// May change espace settings, services, motifs and organisations.
    #[serde(default)]
    pub manage_configuration: bool,
    /// May manage webhook endpoints.
    #[serde(default)]
    pub manage_webhooks: bool,
    /// Auditor: reads the full history of the territory's records, read-only.
    #[serde(default)]
    pub audit: bool,
}

impl TerritoryRights {
    pub fn is_empty(&self) -> bool {
        !(self.admin || self.manage_configuration || self.manage_webhooks || self.audit)
    }
}

/// The services of the catalogue, after RDV Service Public's list. Agents
/// belong to services; a territory activates those it offers.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    ServiceSocial,
    Pmi,
    Secretariat,
    MedicoSocial,
    Rsa,
    ConseillerNumerique,
    Mairie,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 7] = [
        ServiceKind::ServiceSocial,
        ServiceKind::Pmi,
        ServiceKind::Secretariat,
        ServiceKind::MedicoSocial,
        ServiceKind::Rsa,
        ServiceKind::ConseillerNumerique,
        ServiceKind::Mairie,
    ];

    /// The slug used in paths (`/services/{service}/activate`).
    pub fn slug(self) -> &'static str {
        match self {
            ServiceKind::ServiceSocial => "service_social",
            ServiceKind::Pmi => "pmi",
            ServiceKind::Secretariat => "secretariat",
            ServiceKind::MedicoSocial => "medico_social",
            ServiceKind::Rsa => "rsa",
            ServiceKind::ConseillerNumerique => "conseiller_numerique",
            ServiceKind::Mairie => "mairie",
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            ServiceKind::ServiceSocial => "Service social",
            ServiceKind::Pmi => "PMI (Protection Maternelle Infantile)",
            ServiceKind::Secretariat => "Secrétariat",
            ServiceKind::MedicoSocial => "Médico-social",
            ServiceKind::Rsa => "RSA",
            ServiceKind::ConseillerNumerique => "Conseiller numérique",
            ServiceKind::Mairie => "Mairie",
        }
    }

    pub fn parse(raw: &str, field: &str) -> Result<Self, DomainError> {
        Self::ALL.into_iter().find(|s| s.slug() == raw).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|s| s.slug()).collect();
            DomainError::invalid(field, format!("unknown service '{raw}'; known: {}", known.join(", ")))
        })
    }
}

#[cfg(test)]
mod token_hash_tests {
    use super::TokenHash;

    #[test]
    fn digests_are_equal_only_byte_for_byte() {
        let a = TokenHash("ab12".into());
        assert_eq!(a, TokenHash("ab12".into()));
        assert_ne!(a, TokenHash("ab13".into()));
        assert_ne!(a, TokenHash("ab1".into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Agent@Example.FR ", "email").unwrap().as_str(),
            "agent@example.fr"
        );
        for bad in [
            "agent",
            "@example.fr",
            "agent@",
            "agent@example",
            "a b@example.fr",
            "agent@.fr",
        ] {
            let err = Email::parse(bad, "email").unwrap_err();
            assert_eq!(err.errors[0].field, "email", "{bad}");
        }
    }

    #[test]
    fn time_zones_of_overseas_territories_parse() {
        for tz in ["Europe/Paris", "America/Cayenne", "Indian/Reunion", "Pacific/Noumea"] {
            assert_eq!(TimeZone::parse(tz, "timezone").unwrap().0.name(), tz);
        }
        assert_eq!(
            TimeZone::parse("Mars/Olympus", "timezone").unwrap_err().errors[0].field,
            "timezone"
        );
    }

    #[test]
    fn departement_numbers() {
        for ok in ["26", "974", "2a", "1"] {
            assert!(DepartementNumber::parse(ok, "d").is_ok(), "{ok}");
        }
        for bad in ["", "1234", "2C", "ab"] {
            assert!(DepartementNumber::parse(bad, "d").is_err(), "{bad}");
        }
    }

    #[test]
    fn text_rejects_blank_and_long() {
        assert!(Text::parse("   ", "name").is_err());
        assert!(Text::parse(&"x".repeat(201), "name").is_err());
        assert_eq!(Text::parse(" Drôme ", "name").unwrap().as_str(), "Drôme");
    }

    #[test]
    fn services_round_trip_through_slugs() {
        for s in ServiceKind::ALL {
            assert_eq!(ServiceKind::parse(s.slug(), "service").unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.slug()));
        }
        assert!(ServiceKind::parse("cuisine", "service").is_err());
    }
}

/// The platform's horizon for RDVs, plages and absences: from 1 January 2018
/// to [`HORIZON_YEARS_AHEAD`] years after today (RDV Service Public's
/// `RealisticDateValidator`). A date outside is a typo
/// (year 0, year 9999) that would otherwise reach the calendars, the slot
/// searches and the stores; it is refused naming the field.
pub fn check_horizon(day: chrono::NaiveDate, today: chrono::NaiveDate, field: &str) -> Result<(), DomainError> {
    let first = chrono::NaiveDate::from_ymd_opt(2018, 1, 1).unwrap_or_default();
    let last = today
        .checked_add_months(chrono::Months::new(12 * HORIZON_YEARS_AHEAD))
        .unwrap_or(today);
    if (first..=last).contains(&day) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be between {first} and {last} (the platform's horizon)"),
        ))
    }
}

/// How far ahead RDVs, plages and absences may be set.
pub const HORIZON_YEARS_AHEAD: u32 = 5;

/// A birth date is between 1 January 1900 and today.
pub fn check_birth_date(day: chrono::NaiveDate, today: chrono::NaiveDate, field: &str) -> Result<(), DomainError> {
    let first = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
    if (first..=today).contains(&day) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("must be between {first} and today"),
        ))
    }
}

#[cfg(test)]
mod horizon_tests {
    use super::*;
    use chrono::NaiveDate;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn dates_outside_the_horizon_are_refused_naming_the_field() {
        let today = day(2026, 12, 2);
        assert!(check_horizon(day(2026, 12, 3), today, "starts_at").is_ok());
        assert!(check_horizon(day(2031, 12, 2), today, "starts_at").is_ok());
        let error = check_horizon(day(2031, 12, 3), today, "starts_at").unwrap_err();
        assert_eq!(error.errors[0].field, "starts_at");
        assert!(check_horizon(day(2017, 12, 31), today, "first_day").is_err());
        assert!(check_birth_date(day(1899, 12, 31), today, "birth_date").is_err());
        assert!(check_birth_date(day(2026, 12, 3), today, "birth_date").is_err());
        assert!(check_birth_date(day(1950, 6, 1), today, "birth_date").is_ok());
    }
}
