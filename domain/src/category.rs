//! Motif categories (`rsa_orientation`, `rsa_accompagnement`...) and how an
//! organisation works with one: rdv-insertion's MotifCategory, its Template
//! (the texts of invitations and convocations) and its CategoryConfiguration
//! (formats, convocation, the "Délai d'expiration"...), as one aggregate per
//! organisation and category.

use crate::{
    DomainError, FieldError, Services, VersionedAggregate, ids::OrganisationId, phone::PhoneE164, values::Text,
};
use cqrs_es::{Aggregate, event_sink::EventSink};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// How an usager is invited or convoked.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InvitationFormat {
    Sms,
    Email,
    /// A letter the agent prints.
    Postal,
}

impl InvitationFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationFormat::Sms => "sms",
            InvitationFormat::Email => "email",
            InvitationFormat::Postal => "postal",
        }
    }
}

/// rdv-insertion's template models: which wording the messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplateModel {
    Standard,
    Atelier,
    PhonePlatform,
    Short,
    AtelierEnfantsAdos,
}

/// The words of invitations, convocations and letters (rdv-insertion's
/// Template, overridable per organisation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct CategoryTexts {
    /// "rendez-vous d'orientation"
    pub rdv_title: String,
    /// "rendez-vous d'orientation téléphonique"
    pub rdv_title_by_phone: String,
    /// "démarrer un parcours d'accompagnement"
    pub rdv_purpose: String,
    /// "bénéficiaire du RSA"
    pub user_designation: String,
    /// "RSA"
    pub rdv_subject: String,
    pub custom_sentence: Option<String>,
    /// Adds "Ce rendez-vous est obligatoire."
    pub display_mandatory_warning: bool,
    /// "votre RSA pourra être suspendu ou réduit"; none: no warning.
    pub punishable_warning: Option<String>,
}

impl Default for CategoryTexts {
    /// The `standard` model's words (an RSA orientation).
    fn default() -> Self {
        Self {
            rdv_title: "rendez-vous d'orientation".into(),
            rdv_title_by_phone: "rendez-vous d'orientation téléphonique".into(),
            rdv_purpose: "démarrer un parcours d'accompagnement".into(),
            user_designation: "bénéficiaire du RSA".into(),
            rdv_subject: "RSA".into(),
            custom_sentence: None,
            display_mandatory_warning: true,
            punishable_warning: Some("votre RSA pourra être suspendu ou réduit".into()),
        }
    }
}

impl CategoryTexts {
    /// The words each template model starts from (rdv-insertion's
    /// templates, paraphrased); every field can be overridden.
    pub fn of_model(model: TemplateModel) -> Self {
        let standard = Self::default();
        match model {
            TemplateModel::Standard | TemplateModel::Short => standard,
            TemplateModel::Atelier => Self {
                rdv_title: "atelier".into(),
                rdv_title_by_phone: "atelier téléphonique".into(),
                rdv_purpose: "vous accompagner dans votre parcours".into(),
                display_mandatory_warning: false,
                punishable_warning: None,
                ..standard
            },
            TemplateModel::AtelierEnfantsAdos => Self {
                rdv_title: "atelier".into(),
                rdv_title_by_phone: "atelier téléphonique".into(),
                rdv_purpose: "découvrir des activités près de chez vous".into(),
                user_designation: "jeune".into(),
                rdv_subject: "atelier jeunesse".into(),
                display_mandatory_warning: false,
                punishable_warning: None,
                ..standard
            },
            TemplateModel::PhonePlatform => Self {
                rdv_title: "rendez-vous téléphonique".into(),
                rdv_title_by_phone: "rendez-vous téléphonique".into(),
                ..standard
            },
        }
    }
}

/// The shortest "Délai d'expiration" rdv-insertion accepts is 4 days.
pub const MIN_DAYS_BEFORE_ACTION_REQUIRED: u32 = 4;
/// Periodic invites come at least two weeks apart.
pub const MIN_DAYS_BETWEEN_PERIODIC_INVITES: u32 = 14;

/// One organisation's settings for one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct CategorySettings {
    /// The category's name ("RSA orientation").
    #[schema(value_type = String)]
    pub name: Text,
    pub model: TemplateModel,
    /// The RDV is optional for the usager: no reminders, invitations stay
    /// valid after booking, no "within 3 days" wording.
    pub optional_rdv_subscription: bool,
    pub invitation_formats: BTreeSet<InvitationFormat>,
    /// Whether agents convoke usagers of this category.
    pub convene_user: bool,
    /// Days an invitation stays valid, after which the follow-up needs
    /// action ("Délai d'expiration", default 10, over 3).
    pub number_of_days_before_action_required: u32,
    /// Invitations name only the organisations the usager belongs to.
    pub invite_to_user_organisations_only: bool,
    /// Invitations offer RDVs with the usager's referents only.
    pub rdv_with_referents: bool,
    pub number_of_days_between_periodic_invites: Option<u32>,
    /// 1 to 28.
    pub day_of_the_month_periodic_invites: Option<u32>,
    /// The help phone of messages; the organisation's when none.
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<PhoneE164>,
    pub texts: CategoryTexts,
}

impl CategorySettings {
    fn validate(&self) -> Result<(), DomainError> {
        let mut errors = Vec::new();
        if self.number_of_days_before_action_required < MIN_DAYS_BEFORE_ACTION_REQUIRED {
            errors.push(FieldError::new(
                "number_of_days_before_action_required",
                "must be more than 3 days",
            ));
        }
        if self
            .number_of_days_between_periodic_invites
            .is_some_and(|d| d < MIN_DAYS_BETWEEN_PERIODIC_INVITES)
        {
            errors.push(FieldError::new(
                "number_of_days_between_periodic_invites",
                "must be more than 13 days",
            ));
        }
        if self
            .day_of_the_month_periodic_invites
            .is_some_and(|d| !(1..=28).contains(&d))
        {
            errors.push(FieldError::new(
                "day_of_the_month_periodic_invites",
                "must be between 1 and 28",
            ));
        }
        if self.invitation_formats.is_empty() {
            errors.push(FieldError::new("invitation_formats", "give at least one format"));
        }
        for (field, text) in [
            ("texts.rdv_title", &self.texts.rdv_title),
            ("texts.rdv_title_by_phone", &self.texts.rdv_title_by_phone),
            ("texts.user_designation", &self.texts.user_designation),
            ("texts.rdv_subject", &self.texts.rdv_subject),
        ] {
            if text.trim().is_empty() {
                errors.push(FieldError::new(field, "must not be empty"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DomainError::invalid_fields(errors))
        }
    }
}

/// Checks a category short name: lower-case letters, digits and `_`.
pub fn parse_short_name(raw: &str, field: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(name.to_string())
    } else {
        Err(DomainError::invalid(
            field,
            "must be a short name such as rsa_orientation (a-z, 0-9, _)",
        ))
    }
}

/// rdv-insertion's `Motif#convocation?`: the name says "convocation".
pub fn is_convocation_motif(name: &str) -> bool {
    name.to_lowercase().contains("convocation")
}

/// What is off in a convocation motif's setup (rdv-insertion expects it
/// bookable by the organisation's agents only and `visible_and_not_notified`,
/// since convocation notices come from the follow-up): `(field, message)`.
pub fn convocation_setup_warnings(config: &crate::motif::MotifConfig) -> Vec<(&'static str, &'static str)> {
    if !is_convocation_motif(config.informations.name.as_str()) {
        return Vec::new();
    }
    let mut warnings = Vec::new();
    if config.booking.bookable_by != crate::motif::BookableBy::Agents {
        warnings.push((
            "booking.bookable_by",
            "a convocation motif should be bookable by the organisation's agents only",
        ));
    }
    if config.informations.visibility != crate::motif::Visibility::VisibleAndNotNotified {
        warnings.push((
            "informations.visibility",
            "a convocation motif should be visible_and_not_notified: convocations send their own notices",
        ));
    }
    if config.informations.category.is_none() {
        warnings.push((
            "informations.category",
            "a convocation motif belongs to a motif category",
        ));
    }
    warnings
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct CategoryConfiguration(pub Option<CategoryState>);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CategoryState {
    pub organisation_id: OrganisationId,
    pub short_name: String,
    pub settings: CategorySettings,
}

impl CategoryConfiguration {
    /// One stream per organisation and category.
    pub fn stream_id(organisation_id: OrganisationId, short_name: &str) -> String {
        format!("{organisation_id}:{short_name}")
    }

    pub fn state(&self) -> Result<&CategoryState, DomainError> {
        self.0
            .as_ref()
            .ok_or_else(|| DomainError::not_found("motif category configuration"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum CategoryCommand {
    /// Sets (or replaces) how the organisation works with the category.
    ConfigureCategory {
        organisation_id: OrganisationId,
        short_name: String,
        settings: Box<CategorySettings>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum CategoryEvent {
    CategoryConfigured {
        organisation_id: OrganisationId,
        short_name: String,
        settings: CategorySettings,
    },
}

crate::versioned_events!(CategoryEvent {
    CategoryConfigured => "1.0",
});

impl Aggregate for CategoryConfiguration {
    const TYPE: &'static str = "CategoryConfiguration";
    type Command = CategoryCommand;
    type Event = CategoryEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: CategoryCommand,
        _svc: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let CategoryCommand::ConfigureCategory {
            organisation_id,
            short_name,
            settings,
        } = command;
        settings.validate()?;
        let short_name = parse_short_name(&short_name, "short_name")?;
        if self.0.as_ref().is_some_and(|s| s.settings == *settings) {
            return Ok(());
        }
        let event = CategoryEvent::CategoryConfigured {
            organisation_id,
            short_name,
            settings: *settings,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: CategoryEvent) {
        let CategoryEvent::CategoryConfigured {
            organisation_id,
            short_name,
            settings,
        } = event;
        self.0 = Some(CategoryState {
            organisation_id,
            short_name,
            settings,
        });
    }
}

impl VersionedAggregate for CategoryConfiguration {}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CategorySettings {
        CategorySettings {
            name: Text::parse("RSA orientation", "name").unwrap(),
            model: TemplateModel::Standard,
            optional_rdv_subscription: false,
            invitation_formats: [InvitationFormat::Sms, InvitationFormat::Email].into(),
            convene_user: true,
            number_of_days_before_action_required: 10,
            invite_to_user_organisations_only: true,
            rdv_with_referents: false,
            number_of_days_between_periodic_invites: None,
            day_of_the_month_periodic_invites: None,
            phone_number: None,
            texts: CategoryTexts::default(),
        }
    }

    async fn configure(settings: CategorySettings) -> Result<Vec<CategoryEvent>, DomainError> {
        let mut aggregate = CategoryConfiguration::default();
        let sink = EventSink::default();
        aggregate
            .handle(
                CategoryCommand::ConfigureCategory {
                    organisation_id: OrganisationId::new(),
                    short_name: "rsa_orientation".into(),
                    settings: Box::new(settings),
                },
                &Services::at("2026-01-05T09:00:00Z"),
                &sink,
            )
            .await?;
        Ok(sink.collect().await)
    }

    #[tokio::test]
    async fn the_delay_before_action_is_over_three_days() {
        let three = CategorySettings {
            number_of_days_before_action_required: 3,
            ..settings()
        };
        let err = configure(three).await.unwrap_err();
        assert_eq!(err.errors[0].field, "number_of_days_before_action_required");
        let four = CategorySettings {
            number_of_days_before_action_required: 4,
            ..settings()
        };
        assert_eq!(configure(four).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn periodic_invites_are_two_weeks_apart_at_least() {
        let err = configure(CategorySettings {
            number_of_days_between_periodic_invites: Some(13),
            day_of_the_month_periodic_invites: Some(29),
            invitation_formats: BTreeSet::new(),
            ..settings()
        })
        .await
        .unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "number_of_days_between_periodic_invites",
                "day_of_the_month_periodic_invites",
                "invitation_formats"
            ]
        );
    }

    #[test]
    fn a_convocation_motif_set_up_otherwise_is_warned_about() {
        let config = |bookable_by, visibility| crate::motif::MotifConfig {
            informations: crate::motif::MotifInformations {
                name: Text::parse("Convocation RSA", "n").unwrap(),
                color: "#123456".into(),
                service: crate::values::ServiceKind::ServiceSocial,
                default_duration_in_min: 30,
                location_type: crate::motif::LocationType::PublicOffice,
                collective: false,
                max_participants: None,
                visibility,
                follow_up: false,
                category: Some("rsa_orientation".into()),
            },
            booking: crate::motif::MotifBooking {
                bookable_by,
                ..Default::default()
            },
            instructions: Default::default(),
            organisation_ids: [OrganisationId::new()].into(),
        };
        use crate::motif::{BookableBy, Visibility};
        let fields = |c| {
            convocation_setup_warnings(&c)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
        };
        assert!(fields(config(BookableBy::Agents, Visibility::VisibleAndNotNotified)).is_empty());
        assert_eq!(
            fields(config(BookableBy::Everyone, Visibility::VisibleAndNotified)),
            ["booking.bookable_by", "informations.visibility"]
        );
    }

    #[test]
    fn a_convocation_motif_says_so_in_its_name() {
        assert!(is_convocation_motif("Convocation RSA - orientation"));
        assert!(is_convocation_motif("RDV de CONVOCATION"));
        assert!(!is_convocation_motif("Orientation RSA"));
    }

    #[test]
    fn short_names_are_lower_snake_case() {
        assert_eq!(parse_short_name(" rsa_orientation ", "f").unwrap(), "rsa_orientation");
        assert!(parse_short_name("RSA orientation", "f").is_err());
        assert!(parse_short_name("", "f").is_err());
    }
}
