//! Histories written straight to the store by the benchmarks that need more
//! events than the HTTP path makes in reasonable time (the follow-ups list,
//! the projector catch-up): the events the commands would have recorded.

use crate::{encoded, mix::CATEGORY};
use chrono::{DateTime, Duration, Utc};
use rdv_domain::{
    category::InvitationFormat,
    follow_up::{FollowUp, FollowUpEvent, Invitation, InvitationTrigger, TrackedParticipation, sms_and_email},
    ids::{FollowUpId, InvitationId, MotifId, OrganisationId, RdvId, UsagerId},
    rdv::{Actor, RdvStatus},
    usager::{Usager, UsagerEvent},
    values::TokenHash,
};
use rdv_eventstore::{NewEvent, StreamAppend};
use serde_json::{Value, json};

/// A new stream of events (version 1 onwards).
pub fn stream(aggregate_type: &str, id: String, events: Vec<NewEvent>) -> StreamAppend {
    StreamAppend {
        aggregate_type: aggregate_type.into(),
        aggregate_id: id,
        expected_version: 0,
        events,
    }
}

/// Usager `i` of the organisation, with a full profile (the store seals
/// its personal data on append, as for a created usager).
pub fn usager(i: usize, organisation: OrganisationId, at: DateTime<Utc>) -> NewEvent {
    let profile = serde_json::from_value(json!({
        "first_name": "Camille", "last_name": format!("Usager{i}"), "title": "madame",
        "email": format!("usager{i}@exemple.fr"), "phone": "+33612345678",
        "birth_date": "1985-04-12", "address": "1 rue des Lilas, 26000 Valence",
    }))
    .expect("usager profile");
    encoded::<Usager>(
        &UsagerEvent::UsagerCreated {
            organisation_ids: [organisation].into(),
            profile,
        },
        at,
    )
}

/// The events of usager `usager_id`'s follow-up in [`CATEGORY`], the
/// `i`-th of a series: invited `i % 20` days before `now`; every third one
/// booked an RDV two days later, one in four of those a no-show.
pub fn follow_up(
    i: usize,
    organisation: OrganisationId,
    usager_id: UsagerId,
    now: DateTime<Utc>,
) -> (FollowUpId, Vec<NewEvent>) {
    let event = |e: &FollowUpEvent, at| encoded::<FollowUp>(e, at);
    let invited_at = now - Duration::days((i % 20) as i64 + 1) - Duration::minutes(i as i64 % 600);
    let mut events = vec![
        event(
            &FollowUpEvent::FollowUpOpened {
                usager_id,
                category: CATEGORY.into(),
            },
            invited_at,
        ),
        event(
            &FollowUpEvent::UsagerInvited {
                invitation: Invitation {
                    id: InvitationId::new(),
                    code: format!("B{i:07}"),
                    format: InvitationFormat::Sms,
                    trigger: InvitationTrigger::Manual,
                    created_at: invited_at,
                    valid_until: invited_at + Duration::days(10),
                    organisation_ids: [organisation].into(),
                    help_phone: "0475000000".into(),
                    token: TokenHash(format!("{i:064}")),
                    sealed_token: String::new(),
                    clicked: false,
                },
            },
            invited_at,
        ),
    ];
    if i.is_multiple_of(3) {
        let booked_at = invited_at + Duration::days(2);
        let status = match i % 4 {
            0 => RdvStatus::Noshow,
            1 => RdvStatus::Seen,
            _ => RdvStatus::Unknown,
        };
        let participation = TrackedParticipation {
            rdv_id: RdvId::new(),
            organisation_id: organisation,
            motif_id: MotifId::new(),
            lieu_id: None,
            created_at: booked_at,
            created_by: Actor::Usager,
            starts_at: booked_at + Duration::days(3),
            status,
            convocable: false,
            notice_formats: sms_and_email(),
        };
        events.push(event(&FollowUpEvent::ParticipationTracked { participation }, booked_at));
    }
    (FollowUpId::of(usager_id, CATEGORY), events)
}

/// A territory's organisation with [`CATEGORY`] configured, made over HTTP
/// with the platform admin's token (no projection is read: the gateway may
/// run without projectors).
pub async fn rsa_organisation(base: &str, admin: &str) -> OrganisationId {
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: String, body: Value| {
        let request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(admin)
            .json(&body);
        async move {
            let response = request.send().await.expect("request");
            assert!(
                response.status().is_success(),
                "{}",
                response.text().await.unwrap_or_default()
            );
            response.json::<Value>().await.expect("json")
        }
    };
    let post = reqwest::Method::POST;
    let territory = send(
        post.clone(),
        "/v1/territories".into(),
        json!({"name": "Drôme", "departement_number": "26"}),
    )
    .await["id"]
        .as_str()
        .expect("territory id")
        .to_string();
    let organisation: OrganisationId = send(
        post,
        format!("/v1/territories/{territory}/organisations"),
        json!({"name": "CD 26"}),
    )
    .await["id"]
        .as_str()
        .expect("organisation id")
        .parse()
        .expect("organisation uuid");
    send(
        reqwest::Method::PUT,
        format!("/v1/organisations/{organisation}/motif-categories/{CATEGORY}"),
        json!({"name": "RSA orientation"}),
    )
    .await;
    organisation
}
