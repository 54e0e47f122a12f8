//! The words of invitations and convocations (rdv-insertion's SMS and mail
//! contents, reference §3 and §4), composed from a category's texts. Like
//! every message they go to the outbox only, never to events or logs.

use chrono::{DateTime, Utc};
use rdv_domain::{
    category::{CategoryTexts, InvitationFormat},
    follow_up::NoticeEvent,
    usager::UsagerProfile,
    values::TimeZone,
};
use rdv_eventstore::OutboxMessage;
use serde_json::json;

/// "Madame Ada LOVELACE" (rdv-insertion writes last names in capitals).
pub fn addressee(usager: &UsagerProfile) -> String {
    let title = usager.title.map(|t| format!("{} ", t.label())).unwrap_or_default();
    format!(
        "{title}{} {}",
        usager.first_name.as_str(),
        usager.last_name.as_str().to_uppercase()
    )
}

/// An invitation's short link (`/i/{code}`).
pub fn short_link(public_url: &str, code: &str) -> String {
    format!("{}/i/{code}", public_url.trim_end_matches('/'))
}

/// What an invitation says besides its link.
pub struct InvitationWording<'a> {
    pub texts: &'a CategoryTexts,
    pub organisation: &'a str,
    pub help_phone: &'a str,
    /// Non-optional categories ask for an answer "dans les 3 jours".
    pub within_three_days: bool,
    /// A reminder says how many days are left.
    pub days_left: Option<i64>,
}

impl<'a> InvitationWording<'a> {
    /// The words of an invitation of a category in an organisation.
    pub fn of(
        category: &'a rdv_domain::category::CategoryState,
        organisation: &'a rdv_domain::organisation::OrganisationState,
        help_phone: &'a str,
        days_left: Option<i64>,
    ) -> Self {
        Self {
            texts: &category.settings.texts,
            organisation: organisation.details.name.as_str(),
            help_phone,
            within_three_days: !category.settings.optional_rdv_subscription,
            days_left,
        }
    }
}

/// The body of an invitation, the same for SMS and e-mail.
pub fn invitation_text(usager: &UsagerProfile, w: &InvitationWording<'_>, link: &str) -> String {
    let deadline = match (w.days_left, w.within_three_days) {
        (Some(days), _) => format!(" Ce lien expire dans {days} jours."),
        (None, true) => " dans les 3 jours".to_string(),
        (None, false) => String::new(),
    };
    let choose = if w.days_left.is_some() {
        format!("Pour choisir la date et l'horaire du rendez-vous, cliquez sur le lien suivant : {link}.{deadline}")
    } else {
        format!("Pour choisir la date et l'horaire du rendez-vous, cliquez sur le lien suivant{deadline} : {link}")
    };
    let reminder = if w.days_left.is_some() { "RAPPEL : " } else { "" };
    format!(
        "{reminder}{},\nVous êtes {} et vous devez prendre un {} afin de {}. {choose}\n\
         En cas de problème, contactez le {}.",
        addressee(usager),
        w.texts.user_designation,
        w.texts.rdv_title,
        w.texts.rdv_purpose,
        w.help_phone,
    )
}

/// One invitation message for a format (postal invitations are letters).
pub fn invitation(
    format: InvitationFormat,
    usager: &UsagerProfile,
    w: &InvitationWording<'_>,
    link: &str,
) -> Option<OutboxMessage> {
    let text = invitation_text(usager, w, link);
    let subject = format!("[{}] Votre {}", w.texts.rdv_subject, w.texts.rdv_title);
    message(format, usager, &subject, text, w.organisation)
}

/// Where and how a convocation takes place.
pub struct ConvocationWording<'a> {
    pub texts: &'a CategoryTexts,
    pub organisation: &'a str,
    pub help_phone: &'a str,
    pub zone: TimeZone,
    pub starts_at: DateTime<Utc>,
    /// "name - address" of the lieu; none for an RDV by phone.
    pub place: Option<String>,
    /// The motif's instructions for the RDV.
    pub instructions: Option<&'a str>,
}

impl ConvocationWording<'_> {
    /// "dd/mm/yyyy à HH:MM" in the organisation's zone.
    pub fn when(&self) -> String {
        self.starts_at
            .with_timezone(&self.zone.0)
            .format("%d/%m/%Y à %H:%M")
            .to_string()
    }

    fn warnings(&self) -> String {
        let mut text = String::new();
        if self.texts.display_mandatory_warning {
            text.push_str(" Ce rendez-vous est obligatoire.");
        }
        if let Some(warning) = &self.texts.punishable_warning {
            text.push_str(&format!(" En cas d'absence, {warning}."));
        }
        text
    }
}

/// The text of a convocation notice (rdv-insertion's
/// `Notifications::SmsContent`): created, updated and reminders (prefixed
/// "RAPPEL:") tell where and when; cancelled says it is off.
pub fn convocation_text(event: NoticeEvent, usager: &UsagerProfile, w: &ConvocationWording<'_>) -> String {
    let who = addressee(usager);
    let when = w.when();
    let (title, where_) = match &w.place {
        Some(place) => (
            &w.texts.rdv_title,
            format!("Vous êtes attendu(e) le {when} à l'adresse suivante : {place}."),
        ),
        None => (
            &w.texts.rdv_title_by_phone,
            format!("Un travailleur social vous appellera le {when} sur ce numéro."),
        ),
    };
    let phone = format!(
        "En cas d'empêchement, appelez rapidement le {} pour prévenir.",
        w.help_phone
    );
    match event {
        NoticeEvent::ParticipationCancelled => format!(
            "{who},\nVotre {title} du {when} dans le cadre de votre {} a été annulé. \
             Pour plus d'informations, contactez le {}.",
            w.texts.rdv_subject, w.help_phone
        ),
        NoticeEvent::ParticipationUpdated => format!(
            "{who},\nVotre {title} dans le cadre de votre {} a été modifié. {where_}{} {phone}",
            w.texts.rdv_subject,
            w.warnings()
        ),
        NoticeEvent::ParticipationCreated | NoticeEvent::ParticipationReminder => {
            let reminder = if event == NoticeEvent::ParticipationReminder {
                "RAPPEL: "
            } else {
                ""
            };
            let instructions = w.instructions.map(|i| format!(" {i}")).unwrap_or_default();
            format!(
                "{reminder}{who},\nVous êtes {} et êtes convoqué(e) à un {title} afin de {}. {where_}{instructions}{} {phone}",
                w.texts.user_designation,
                w.texts.rdv_purpose,
                w.warnings()
            )
        }
    }
}

/// One convocation notice for a format (postal ones are the letter).
pub fn convocation(
    event: NoticeEvent,
    format: InvitationFormat,
    usager: &UsagerProfile,
    w: &ConvocationWording<'_>,
) -> Option<OutboxMessage> {
    let subject = match event {
        NoticeEvent::ParticipationCancelled => {
            format!("[{}] Votre {} a été annulé", w.texts.rdv_subject, w.texts.rdv_title)
        }
        _ => format!(
            "[Important - {}] Vous êtes convoqué(e) à un {}",
            w.texts.rdv_subject, w.texts.rdv_title
        ),
    };
    message(
        format,
        usager,
        &subject,
        convocation_text(event, usager, w),
        w.organisation,
    )
}

/// The outbox message of a text: an SMS to a mobile, an e-mail to an
/// address; none when the usager cannot receive that format.
fn message(
    format: InvitationFormat,
    usager: &UsagerProfile,
    subject: &str,
    text: String,
    organisation: &str,
) -> Option<OutboxMessage> {
    let payload = match format {
        InvitationFormat::Sms => {
            let phone = usager.phone.as_ref().filter(|p| p.is_mobile())?;
            json!({"to": phone.as_str(), "text": text})
        }
        InvitationFormat::Email => {
            let email = usager.email.as_ref()?;
            json!({"to": email.as_str(), "subject": subject, "text": format!("{text}\n\n{organisation}\n")})
        }
        InvitationFormat::Postal => return None,
    };
    Some(OutboxMessage::new(format.as_str(), payload))
}

/// The formats an usager can be reached by.
pub fn reachable(usager: &UsagerProfile) -> std::collections::BTreeSet<InvitationFormat> {
    let mut formats = std::collections::BTreeSet::new();
    if usager.phone.as_ref().is_some_and(|p| p.is_mobile()) {
        formats.insert(InvitationFormat::Sms);
    }
    if usager.email.is_some() {
        formats.insert(InvitationFormat::Email);
    }
    if usager.address.is_some() {
        formats.insert(InvitationFormat::Postal);
    }
    formats
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdv_domain::{phone::PhoneE164, usager::Civility, values::Text};

    fn usager() -> UsagerProfile {
        UsagerProfile {
            first_name: Text::parse("Ada", "f").unwrap(),
            last_name: Text::parse("Lovelace", "l").unwrap(),
            email: None,
            phone: Some(PhoneE164::parse("0612345678", "p").unwrap()),
            birth_date: None,
            custom: Default::default(),
            responsible_id: None,
            notifications: Default::default(),
            external_id: None,
            title: Some(Civility::Madame),
            address: None,
            affiliation_number: None,
        }
    }

    #[test]
    fn a_convocation_names_the_designation_the_local_time_the_place_and_the_warnings() {
        let texts = CategoryTexts::default();
        let w = ConvocationWording {
            texts: &texts,
            organisation: "CD 26",
            help_phone: "04 75 00 00 00",
            zone: TimeZone::PARIS,
            starts_at: "2026-03-12T08:30:00Z".parse().unwrap(),
            place: Some("MDS Valence - 1 rue Sadi Carnot, 26000 Valence".into()),
            instructions: None,
        };
        let text = convocation_text(NoticeEvent::ParticipationCreated, &usager(), &w);
        assert!(
            text.starts_with(
                "Madame Ada LOVELACE,\nVous êtes bénéficiaire du RSA et êtes convoqué(e) à un rendez-vous d'orientation"
            ),
            "{text}"
        );
        assert!(
            text.contains("le 12/03/2026 à 09:30 à l'adresse suivante : MDS Valence"),
            "{text}"
        );
        assert!(
            text.contains(
                "Ce rendez-vous est obligatoire. En cas d'absence, votre RSA pourra être suspendu ou réduit."
            )
        );
        assert!(text.contains("appelez rapidement le 04 75 00 00 00"));
        let reminder = convocation_text(NoticeEvent::ParticipationReminder, &usager(), &w);
        assert!(reminder.starts_with("RAPPEL: Madame Ada LOVELACE"));
        let by_phone = ConvocationWording { place: None, ..w };
        let text = convocation_text(NoticeEvent::ParticipationCreated, &usager(), &by_phone);
        assert!(text.contains("rendez-vous d'orientation téléphonique"));
        assert!(
            text.contains("Un travailleur social vous appellera le 12/03/2026 à 09:30"),
            "{text}"
        );
    }

    #[test]
    fn an_sms_needs_a_mobile_and_an_email_an_address() {
        let texts = CategoryTexts::default();
        let w = InvitationWording {
            texts: &texts,
            organisation: "CD 26",
            help_phone: "0475000000",
            within_three_days: true,
            days_left: None,
        };
        let sms = invitation(InvitationFormat::Sms, &usager(), &w, "https://x/i/ABCD1234").unwrap();
        assert_eq!(sms.kind, "sms");
        assert!(
            sms.payload["text"]
                .as_str()
                .unwrap()
                .contains("dans les 3 jours : https://x/i/ABCD1234")
        );
        assert!(invitation(InvitationFormat::Email, &usager(), &w, "l").is_none());
        assert_eq!(reachable(&usager()), [InvitationFormat::Sms].into());
    }
}
