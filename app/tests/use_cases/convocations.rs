//! Convoquer: given an usager invited and silent past the category's delay
//! (a convocable follow-up), when an agent convokes them, then an RDV of
//! the category's convocation motif (individual) or a seat in its next
//! atelier (collective) is taken in the same commit as the follow-up learns
//! of it; a follow-up that is not convocable is refused.

use crate::{invitations::with_category, world::*};
use chrono::{DateTime, Duration, FixedOffset};
use rdv_app::{
    Error,
    insertion::{ConvocationAnswer, ConvocationMode, Convoquer},
};
use rdv_domain::{
    ErrorKind,
    category::InvitationFormat,
    ids::{FollowUpId, MotifId, UsagerId},
    motif::{Motif, MotifCommand},
    values::{ServiceKind, Text},
};
use rdv_eventstore::{CommandContext, CommitSummary, StoredResponse};
use rdv_projections::{Projector, rdvs};
use serde_json::json;

async fn project(g: &Given, name: &str) {
    let projection = rdv_projections::by_name(name).expect("a projection");
    Projector::new(g.app.store.clone(), projection)
        .catch_up()
        .await
        .unwrap();
}

/// A motif of the category named as rdv-insertion names its convocation
/// motifs, or a collective one (an atelier).
async fn category_motif(g: &Given, name: &str, collective: bool) -> MotifId {
    let motif: Motif = g.app.load(&g.motif.to_string()).await.unwrap();
    let mut config = motif_config(g.organisation, collective);
    config.informations.name = Text::parse(name, "name").unwrap();
    config.informations.category = Some(crate::invitations::CATEGORY.into());
    let id = MotifId::new();
    let configure = MotifCommand::ConfigureMotif {
        territory_id: motif.0.unwrap().territory_id,
        config: Box::new(config),
        active_services: [ServiceKind::ServiceSocial].into(),
    };
    run::<Motif>(&g.app.commands, &id.to_string(), configure).await;
    id
}

/// The usager is invited by e-mail; `then` the category's 10 days pass.
async fn invited(g: &Given) {
    with_category(g).await;
    crate::invitations::invite(g, &[InvitationFormat::Email]).await.unwrap();
}

fn ten_days_pass(g: &Given) {
    g.clock.set(g.app.services().now() + Duration::days(11));
}

async fn convoke(g: &Given, command: Convoquer) -> Result<ConvocationAnswer, Error> {
    let answer = std::sync::Mutex::new(None);
    let respond = |a: &ConvocationAnswer, _: &CommitSummary<'_>| {
        *answer.lock().unwrap() = Some(a.clone());
        StoredResponse {
            status: 201,
            body: json!({}),
        }
    };
    let caller = g.agent_caller().await;
    command
        .run(&g.app, &caller, &CommandContext::new(caller.actor()), respond)
        .await?;
    let answer = answer.lock().unwrap().take().expect("convoked");
    Ok(answer)
}

fn individual(g: &Given, starts_at: &str) -> Convoquer {
    Convoquer {
        follow_up_id: FollowUpId::of(g.usager, crate::invitations::CATEGORY),
        organisation_id: g.organisation,
        mode: ConvocationMode::Individual,
        starts_at: Some(starts_at.parse::<DateTime<FixedOffset>>().unwrap()),
        agent_id: Some(g.agent),
        lieu_id: Some(g.lieu),
        formats: None,
    }
}

#[tokio::test]
async fn an_individual_convocation_books_the_convocation_motif_and_tells_the_follow_up() {
    let g = given().await;
    category_motif(&g, "Convocation RSA", false).await;
    invited(&g).await;
    project(&g, rdv_projections::configuration::NAME).await;
    let early = convoke(&g, individual(&g, "2026-01-20T10:00:00+01:00"))
        .await
        .unwrap_err();
    assert!(
        matches!(&early, Error::Domain(e) if e.kind == ErrorKind::Conflict),
        "not convocable while the invitation runs: {early:?}"
    );
    ten_days_pass(&g);
    let answer = convoke(&g, individual(&g, "2026-01-20T10:00:00+01:00")).await.unwrap();
    assert_eq!(answer.mode, ConvocationMode::Individual);
    assert_eq!(g.event_types("Rdv", &answer.rdv_id.to_string()).await, ["RdvBooked"]);
    let follow_up = FollowUpId::of(g.usager, crate::invitations::CATEGORY).to_string();
    let events = g.event_types("FollowUp", &follow_up).await;
    assert_eq!(
        events,
        ["FollowUpOpened", "UsagerInvited", "ParticipationTracked", "NoticeSent"],
        "the follow-up tracks the convocation and sends its notice in the same commit"
    );
    let day = rdv_domain::agent_day::AgentDay::stream_id(g.agent, "2026-01-20".parse().unwrap());
    assert_eq!(g.event_types("AgentDay", &day).await, ["TimeReserved"]);
}

#[tokio::test]
async fn a_collective_convocation_takes_a_seat_in_the_next_atelier() {
    let g = given().await;
    let atelier_motif = category_motif(&g, "Atelier collectif", true).await;
    invited(&g).await;
    ten_days_pass(&g);
    let other = UsagerId::new();
    let create = rdv_domain::usager::UsagerCommand::CreateUsager {
        organisation_ids: [g.organisation].into(),
        profile: profile("Paul"),
    };
    run::<rdv_domain::usager::Usager>(&g.app.commands, &other.to_string(), create).await;
    let caller = g.agent_caller().await;
    let atelier = rdv_app::booking::BookRdv {
        motif_id: atelier_motif,
        max_participants_count: Some(2),
        name: Some("Atelier CV".into()),
        ..g.booking(other, "2026-01-26T10:00:00+01:00")
    };
    let (atelier, _) = g.book(&caller, atelier).await.unwrap();
    project(&g, rdvs::NAME).await;
    project(&g, rdv_projections::configuration::NAME).await;
    let answer = convoke(
        &g,
        Convoquer {
            mode: ConvocationMode::Collective,
            starts_at: None,
            agent_id: None,
            lieu_id: None,
            ..individual(&g, "2026-01-26T10:00:00+01:00")
        },
    )
    .await
    .unwrap();
    assert_eq!((answer.rdv_id, answer.mode), (atelier, ConvocationMode::Collective));
    let events = g.event_types("Rdv", &atelier.to_string()).await;
    assert_eq!(events, ["RdvBooked", "ParticipantAdded"]);
}
