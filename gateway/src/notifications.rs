//! Messages to people, composed here and queued in the outbox with the
//! events that cause them. Their content (addresses, names, links) lives only
//! in the outbox, never in events or logs.

use chrono::{DateTime, Utc};
use rdv_domain::values::{Email, TimeZone};
use rdv_eventstore::OutboxMessage;
use serde_json::json;
use uuid::Uuid;

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
    OutboxMessage {
        id: Uuid::now_v7(),
        kind: "email".into(),
        payload: json!({
            "to": to.as_str(),
            "subject": format!("Invitation à rejoindre {organisation}"),
            "text": text,
        }),
    }
}

/// The link an invited agent follows.
pub fn invitation_link(public_url: &str, token: &str) -> String {
    format!("{}/agents/invitation?token={token}", public_url.trim_end_matches('/'))
}
