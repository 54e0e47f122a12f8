//! BookRdv and BookPublicRdv: given the world, when an agent or an usager
//! books, then the events written, the warnings, or the typed error.

use crate::world::*;
use chrono::{DateTime, FixedOffset, Utc};
use rdv_app::{Error, booking::BookRdv, caller::Caller, rdv_changes::Warning};
use rdv_domain::{
    ErrorKind,
    agent::Agent,
    ids::{AgentId, LieuId, UsagerId},
    usager::{Usager, UsagerCommand},
    values::TokenHash,
};
use serde_json::json;

fn conflict(error: Error) -> String {
    match error {
        Error::Domain(e) if e.kind == ErrorKind::Conflict => e.message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[tokio::test]
async fn an_agent_books_and_its_day_is_reserved_in_the_same_commit() {
    let g = given().await;
    let caller = g.agent_caller().await;
    let (rdv, warnings) = g.book(&caller, g.booking(g.usager, SLOT)).await.unwrap();
    assert_eq!(warnings, []);
    assert_eq!(g.event_types("Rdv", &rdv.to_string()).await, ["RdvBooked"]);
    let day = rdv_domain::agent_day::AgentDay::stream_id(g.agent, "2026-01-12".parse().unwrap());
    assert_eq!(g.event_types("AgentDay", &day).await, ["TimeReserved"]);
    let usager = g.event_types("Usager", &g.usager.to_string()).await;
    assert_eq!(usager, ["UsagerCreated"], "booking changes nothing of the usager");
}

#[tokio::test]
async fn an_identical_rdv_is_refused_and_a_same_day_one_is_a_suspected_duplicate() {
    let g = given().await;
    let caller = g.agent_caller().await;
    let (first, _) = g.book(&caller, g.booking(g.usager, SLOT)).await.unwrap();
    let again = g.book(&caller, g.booking(g.usager, SLOT)).await.unwrap_err();
    assert_eq!(conflict(again), "an identical RDV already exists");
    let (_, warnings) = g
        .book(&caller, g.booking(g.usager, "2026-01-12T14:00:00+01:00"))
        .await
        .unwrap();
    assert_eq!(warnings, [Warning::SuspectedDuplicate { rdv_id: first }]);
}

#[tokio::test]
async fn an_agent_may_double_book_with_a_warning_and_a_past_start_is_one_too() {
    let g = given().await;
    let caller = g.agent_caller().await;
    let (first, _) = g.book(&caller, g.booking(g.usager, SLOT)).await.unwrap();
    let other = UsagerId::new();
    let create = UsagerCommand::CreateUsager {
        organisation_ids: [g.organisation].into(),
        profile: profile("Paul"),
    };
    run::<Usager>(&g.app.commands, &other.to_string(), create).await;
    let (_, warnings) = g.book(&caller, g.booking(other, SLOT)).await.unwrap();
    assert_eq!(
        warnings,
        [Warning::OverlappingRdv {
            agent_id: g.agent,
            rdv_id: first
        }]
    );
    let (_, warnings) = g
        .book(&caller, g.booking(other, "2026-01-05T08:30:00+01:00"))
        .await
        .unwrap();
    assert_eq!(warnings, [Warning::StartInThePast]);
}

#[tokio::test]
async fn an_atelier_over_its_seats_is_a_warning() {
    let mut g = given().await;
    let agent: Agent = g.app.load(&g.agent.to_string()).await.unwrap();
    let territory = agent.0.unwrap().memberships[&g.organisation].territory_id;
    g.motif = new_motif(&g.app.commands, territory, g.organisation, true).await;
    let other = UsagerId::new();
    let create = UsagerCommand::CreateUsager {
        organisation_ids: [g.organisation].into(),
        profile: profile("Paul"),
    };
    run::<Usager>(&g.app.commands, &other.to_string(), create).await;
    let caller = g.agent_caller().await;
    let mut atelier = g.booking(g.usager, SLOT);
    atelier.usager_ids.insert(other);
    atelier.name = Some("Atelier CV".into());
    let (_, warnings) = g.book(&caller, atelier).await.unwrap();
    assert_eq!(warnings, [Warning::TooManyParticipants]);
}

#[tokio::test]
async fn only_the_organisations_agents_book_there() {
    let g = given().await;
    let stranger = Caller::Agent {
        id: AgentId::new(),
        state: Box::new(
            serde_json::from_value(json!({
                "email": null, "first_name": "X", "last_name": "Y", "services": [], "status": "Active",
                "memberships": {}, "territory_rights": {}, "api_tokens": []
            }))
            .unwrap(),
        ),
        token: TokenHash("x".into()),
    };
    let refused = g.book(&stranger, g.booking(g.usager, SLOT)).await.unwrap_err();
    assert!(
        matches!(&refused, Error::Domain(e) if e.kind == ErrorKind::Forbidden),
        "{refused:?}"
    );
    let foreign_lieu = BookRdv {
        lieu_id: Some(LieuId::new()),
        ..g.booking(g.usager, SLOT)
    };
    let refused = g.book(&g.agent_caller().await, foreign_lieu).await.unwrap_err();
    assert!(
        matches!(&refused, Error::Domain(e) if e.errors[0].field == "lieu_id"),
        "{refused:?}"
    );
    let day = rdv_domain::agent_day::AgentDay::stream_id(g.agent, "2026-01-12".parse().unwrap());
    assert_eq!(
        g.event_types("AgentDay", &day).await,
        Vec::<String>::new(),
        "no time reserved"
    );
}

#[tokio::test]
async fn an_usager_books_an_offered_slot_once_and_is_offered_the_next_ones() {
    let g = given().await;
    let booked = g.book_publicly(SLOT, "Léa").await.unwrap();
    assert_eq!(booked.agent_id, g.agent);
    assert_eq!(
        g.event_types("Usager", &booked.usager_id.to_string()).await,
        ["UsagerCreated"]
    );
    assert_eq!(g.event_types("Rdv", &booked.rdv_id.to_string()).await, ["RdvBooked"]);

    let Err(Error::SlotTaken { message, next_slots }) = g.book_publicly(SLOT, "Paul").await else {
        panic!("the slot is taken");
    };
    assert_eq!(message, "this slot is not offered");
    let next: Vec<DateTime<Utc>> = next_slots.iter().map(|s| s.starts_at.parse().unwrap()).collect();
    assert!(!next.is_empty());
    let taken: DateTime<Utc> = SLOT.parse::<DateTime<FixedOffset>>().unwrap().with_timezone(&Utc);
    assert!(!next.contains(&taken), "{next:?}");

    let Err(Error::SlotTaken { .. }) = g.book_publicly("2026-01-12T15:00:00+01:00", "Paul").await else {
        panic!("outside the plage, nothing is offered");
    };
    let second = g.book_publicly(&next_slots[0].starts_at, "Paul").await.unwrap();
    assert_ne!(second.rdv_id, booked.rdv_id);
}
