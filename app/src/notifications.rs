//! Messages to people, composed here and queued in the outbox with the
//! events that cause them. Their content (addresses, names, links) lives only
//! in the outbox, never in events or logs.

use chrono::{DateTime, Utc};
use rdv_domain::values::{Email, TimeZone};
use rdv_eventstore::OutboxMessage;
use serde_json::json;

/// The invitation e-mail: the acceptance link and its deadline in the
/// organisation's time zone (RDV Service Public: "valable jusqu'au <date>").
pub fn agent_invitation(
    to: &Email,
    first_name: &str,
    organisation: &str,
    link: &str,
    expires_at: DateTime<Utc>,
    timezone: TimeZone,
) -> OutboxMessage {
    let deadline = expires_at.with_timezone(&timezone.0).format("%d/%m/%Y à %H:%M");
    let text = format!(
        "Bonjour {first_name},\n\n\
         Vous êtes invité(e) à rejoindre l'organisation « {organisation} ».\n\n\
         Pour accepter l'invitation, suivez ce lien :\n{link}\n\n\
         Ce lien est valable jusqu'au {deadline} ({zone}). Passé ce délai, demandez à un administrateur \
         de vous renvoyer une invitation.\n",
        zone = timezone.0.name(),
    );
    OutboxMessage::new(
        "email",
        json!({
            "to": to.as_str(),
            "subject": format!("Invitation à rejoindre {organisation}"),
            "text": text,
        }),
    )
}

/// Which RDV notification to send. Only `Created` carries the usager's
/// link: its token exists in clear only at that moment (the store keeps a
/// digest), so later messages point back to the confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdvNotice {
    Created,
    /// The start (or the lieu) changed.
    Updated,
    Cancelled,
    /// 48 h before.
    Reminder,
}

/// What an RDV e-mail says: when (in the organisation's zone), where, and
/// the usager's link to see or cancel it.
pub struct RdvMessage<'a> {
    pub notice: RdvNotice,
    pub to: &'a Email,
    pub first_name: &'a str,
    pub organisation: &'a str,
    pub motif: &'a str,
    pub starts_at: DateTime<Utc>,
    pub timezone: TimeZone,
    /// Name and address of the lieu, when on site.
    pub place: Option<String>,
    pub link: Option<String>,
    /// The motif's "after booking" instructions.
    pub instructions: Option<&'a str>,
}

/// An RDV e-mail to an usager (RDV Service Public sends created, updated,
/// cancelled and reminders; never once the RDV has started).
pub fn rdv_email(m: RdvMessage<'_>) -> OutboxMessage {
    let when = m.starts_at.with_timezone(&m.timezone.0).format("%d/%m/%Y à %H:%M");
    let place = m.place.map(|p| format!("Lieu : {p}\n")).unwrap_or_default();
    let (subject, intro) = match m.notice {
        RdvNotice::Created => ("Votre rendez-vous est confirmé", "Votre rendez-vous est confirmé."),
        RdvNotice::Cancelled => ("Votre rendez-vous est annulé", "Votre rendez-vous a été annulé."),
        RdvNotice::Updated => ("Votre rendez-vous a été modifié", "Votre rendez-vous a été modifié."),
        RdvNotice::Reminder => ("Rappel de votre rendez-vous", "Nous vous rappelons votre rendez-vous."),
    };
    let mut text = format!(
        "Bonjour {},\n\n{intro}\n\n{} — {}\nLe {when} ({})\n{place}",
        m.first_name,
        m.organisation,
        m.motif,
        m.timezone.0.name(),
    );
    if let (RdvNotice::Created | RdvNotice::Reminder, Some(instructions)) = (m.notice, m.instructions) {
        text.push_str(&format!("\n{instructions}\n"));
    }
    if let (RdvNotice::Created, Some(link)) = (m.notice, &m.link) {
        text.push_str(&format!("\nPour consulter ou annuler votre rendez-vous :\n{link}\n"));
    }
    OutboxMessage::new("email", json!({"to": m.to.as_str(), "subject": subject, "text": text}))
}

/// Salle d'attente in e-mail mode: tells an agent their usager arrived.
pub fn usager_arrived(to: &Email, local_time: &str) -> OutboxMessage {
    OutboxMessage::new(
        "email",
        json!({
            "to": to.as_str(),
            "subject": format!("Salle d'attente : votre usager de {local_time} est arrivé"),
            "text": format!("Bonjour,\n\nL'usager de votre rendez-vous de {local_time} est arrivé en salle d'attente.\n"),
        }),
    )
}

/// The SMS of an RDV notice: short, in GSM-7, so it fits two SMS with its
/// link (see [`rdv_domain::sms::sms_parts`]).
pub fn rdv_sms(
    notice: RdvNotice,
    to: &rdv_domain::phone::PhoneE164,
    organisation: &str,
    starts_at: DateTime<Utc>,
    timezone: TimeZone,
    link: Option<&str>,
) -> OutboxMessage {
    let when = starts_at.with_timezone(&timezone.0).format("%d/%m/%Y à %H:%M");
    let text = match (notice, link) {
        (RdvNotice::Created, Some(link)) => {
            format!("RDV confirmé le {when} - {organisation}. Voir ou annuler : {link}")
        }
        (RdvNotice::Created, None) => format!("RDV confirmé le {when} - {organisation}."),
        (RdvNotice::Cancelled, _) => format!("Votre RDV du {when} - {organisation} est annulé."),
        (RdvNotice::Updated, _) => format!("Votre RDV est déplacé au {when} - {organisation}."),
        (RdvNotice::Reminder, _) => format!("Rappel : RDV le {when} - {organisation}."),
    };
    OutboxMessage::new("sms", json!({"to": to.as_str(), "text": text}))
}

/// The usager's link to an RDV.
pub fn participation_link(public_url: &str, token: &str) -> String {
    format!("{}/rdv?token={token}", public_url.trim_end_matches('/'))
}

/// The link an invited agent follows.
pub fn invitation_link(public_url: &str, token: &str) -> String {
    format!("{}/agents/invitation?token={token}", public_url.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdv_domain::{
        phone::PhoneE164,
        sms::{SmsEncoding, sms_parts},
    };

    #[test]
    fn rdv_sms_fit_two_gsm7_parts_with_their_link() {
        let to = PhoneE164::parse("06 12 34 56 78", "phone").unwrap();
        let token = format!("rdvp_{}_{}", "0".repeat(32), "x".repeat(43));
        let link = participation_link("https://rdv.exemple.gouv.fr", &token);
        let at = "2026-01-12T08:00:00Z".parse().unwrap();
        let sms = rdv_sms(
            RdvNotice::Created,
            &to,
            "Centre médico-social de Valence",
            at,
            TimeZone::PARIS,
            Some(&link),
        );
        let text = sms.payload["text"].as_str().unwrap();
        assert!(text.starts_with("RDV confirmé le 12/01/2026 à 09:00"), "{text}");
        assert_eq!(sms_parts(text), (SmsEncoding::Gsm7, 2), "{text}");
        let cancelled = rdv_sms(RdvNotice::Cancelled, &to, "CMS", at, TimeZone::PARIS, None);
        assert_eq!(
            sms_parts(cancelled.payload["text"].as_str().unwrap()),
            (SmsEncoding::Gsm7, 1)
        );
        assert_eq!(cancelled.kind, "sms");
    }
}
