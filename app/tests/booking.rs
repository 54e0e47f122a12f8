//! Booking use cases without HTTP, given/when/then: a store with a
//! territory, an organisation, a motif, a lieu, an agent with a plage and an
//! usager (given, through domain commands), a frozen clock, then BookRdv or
//! BookPublicRdv (when), and the events written or the typed error (then).

use chrono::{DateTime, Duration, FixedOffset, Utc};
use rdv_app::{
    Context, Error,
    booking::{BookPublicRdv, BookRdv, Booked, Booker, PublicBookingAnswer},
    caller::Caller,
    rdv_changes::Warning,
};
use rdv_domain::{
    DomainError, ErrorKind, FixedClock, Services, VersionedAggregate,
    agenda::{AgentAgenda, AgentAgendaCommand, Plage},
    agent::{Agent, AgentCommand, NewAgent},
    ids::{AgentId, LieuId, MotifId, OrganisationId, PlageId, RdvId, TerritoryId, UsagerId},
    lieu::{Lieu, LieuCommand, LieuDetails},
    motif::{Motif, MotifCommand, MotifConfig},
    organisation::{Organisation, OrganisationCommand, OrganisationDetails},
    territory::{Territory, TerritoryCommand},
    usager::{Usager, UsagerCommand, UsagerProfile},
    values::{DepartementNumber, ServiceKind, Text, TimeZone, TokenHash},
};
use rdv_eventstore::{CommandContext, CommandService, CommitSummary, EventStore, StoredResponse};
use serde_json::json;
use std::sync::Arc;
use tempfile::TempDir;

const NOW: &str = "2026-01-05T08:00:00Z";
/// A Monday 10:00 in Paris, inside the agent's plage (9:00–12:00).
const SLOT: &str = "2026-01-12T10:00:00+01:00";

/// The store and the records every scenario starts from.
struct Given {
    app: Context,
    _dir: TempDir,
    organisation: OrganisationId,
    motif: MotifId,
    lieu: LieuId,
    agent: AgentId,
    usager: UsagerId,
}

fn system() -> CommandContext {
    CommandContext::new("system")
}

async fn run<A>(commands: &CommandService, id: &str, command: A::Command)
where
    A: VersionedAggregate<Error = DomainError, Services = Services>,
    A::Command: Clone + Send + Sync + 'static,
{
    let respond = |_: &(), _: &CommitSummary<'_>| StoredResponse {
        status: 200,
        body: json!({}),
    };
    commands
        .execute::<A, _>(&system(), id, command, None, respond)
        .await
        .unwrap_or_else(|e| panic!("given {}: {e}", A::TYPE));
}

fn motif_config(organisation: OrganisationId, collective: bool) -> MotifConfig {
    serde_json::from_value(json!({
        "informations": {"name": if collective { "Atelier" } else { "Accueil" }, "color": "#123456",
                         "service": "service_social", "default_duration_in_min": 60, "location_type": "public_office",
                         "collective": collective, "max_participants": if collective { Some(1) } else { None },
                         "visibility": "visible_and_notified", "follow_up": false, "category": null},
        "booking": {"bookable_by": "everyone", "min_booking_delay_in_min": 60, "max_booking_delay_in_min": 262800,
                    "usager_can_cancel": true, "usager_can_reschedule": true, "sectorisation_level": "departement"},
        "organisation_ids": [organisation],
    }))
    .unwrap()
}

fn profile(first_name: &str) -> UsagerProfile {
    serde_json::from_value(json!({"first_name": first_name, "last_name": "Durand", "email": "durand@example.fr"}))
        .unwrap()
}

async fn given() -> Given {
    let dir = TempDir::new().unwrap();
    let key = rdv_eventstore::sealing::MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
    let store = EventStore::open_sqlite(dir.path()).await.unwrap().with_master_key(key);
    let clock = FixedClock::at(NOW.parse().unwrap());
    let commands = CommandService::new(store.clone(), Services::new(Arc::new(clock), Duration::days(7)));
    let (territory, organisation) = (TerritoryId::new(), OrganisationId::new());
    let create = TerritoryCommand::CreateTerritory {
        name: Text::parse("Drôme", "name").unwrap(),
        departement_number: DepartementNumber::parse("26", "departement_number").unwrap(),
        timezone: TimeZone::PARIS,
    };
    run::<Territory>(&commands, &territory.to_string(), create).await;
    let activate = TerritoryCommand::ActivateService {
        service: ServiceKind::ServiceSocial,
    };
    run::<Territory>(&commands, &territory.to_string(), activate).await;
    let details: OrganisationDetails = serde_json::from_value(json!({"name": "CMS Valence"})).unwrap();
    let create = OrganisationCommand::CreateOrganisation {
        territory_id: territory,
        timezone: TimeZone::PARIS,
        details,
    };
    run::<Organisation>(&commands, &organisation.to_string(), create).await;
    let motif = new_motif(&commands, territory, organisation, false).await;
    let lieu = LieuId::new();
    let details: LieuDetails = serde_json::from_value(json!({"name": "Accueil", "address": "1 rue A"})).unwrap();
    let create = LieuCommand::CreateLieu {
        organisation_id: organisation,
        details,
        single_use: false,
    };
    run::<Lieu>(&commands, &lieu.to_string(), create).await;
    let agent = AgentId::new();
    let invite = AgentCommand::InviteAgent {
        agent: serde_json::from_value::<NewAgent>(json!({"email": "agent@cms.fr", "first_name": "Marie",
            "last_name": "Curie", "services": ["service_social"], "role": "basic"}))
        .unwrap(),
        organisation_id: organisation,
        territory_id: territory,
        invitation_token: TokenHash("inv".into()),
    };
    run::<Agent>(&commands, &agent.to_string(), invite).await;
    let plage: Plage = serde_json::from_value(json!({
        "organisation_id": organisation, "lieu_id": lieu, "motif_ids": [motif], "title": null,
        "first_day": "2026-01-05", "start_time": "09:00", "end_time": "12:00",
        "recurrence": {"every": "week", "interval": 1, "days": ["monday"], "end": {"type": "never"}},
        "timezone": "Europe/Paris",
    }))
    .unwrap();
    let create = AgentAgendaCommand::CreatePlage {
        plage_id: PlageId::new(),
        plage: Box::new(plage),
    };
    run::<AgentAgenda>(&commands, &agent.to_string(), create).await;
    let usager = UsagerId::new();
    let create = UsagerCommand::CreateUsager {
        organisation_ids: [organisation].into(),
        profile: profile("Léa"),
    };
    run::<Usager>(&commands, &usager.to_string(), create).await;
    let app = Context {
        commands,
        store: store.clone(),
        public_url: "http://127.0.0.1:8080".into(),
        projectors: Default::default(),
        availability: Arc::default(),
        started_at_position: store.head().await.unwrap(),
    };
    app.availability.catch_up(&store).await.unwrap();
    Given {
        app,
        _dir: dir,
        organisation,
        motif,
        lieu,
        agent,
        usager,
    }
}

async fn new_motif(
    commands: &CommandService,
    territory: TerritoryId,
    organisation: OrganisationId,
    collective: bool,
) -> MotifId {
    let motif = MotifId::new();
    let configure = MotifCommand::ConfigureMotif {
        territory_id: territory,
        config: Box::new(motif_config(organisation, collective)),
        active_services: [ServiceKind::ServiceSocial].into(),
    };
    run::<Motif>(commands, &motif.to_string(), configure).await;
    motif
}

impl Given {
    /// The agent as a caller, as the gateway reads it from its token.
    async fn agent_caller(&self) -> Caller {
        let agent: Agent = self.app.load(&self.agent.to_string()).await.unwrap();
        Caller::Agent {
            id: self.agent,
            state: Box::new(agent.0.unwrap()),
            token: TokenHash("api".into()),
        }
    }

    fn booking(&self, usager: UsagerId, starts_at: &str) -> BookRdv {
        BookRdv {
            organisation_id: self.organisation,
            motif_id: self.motif,
            lieu_id: Some(self.lieu),
            agent_ids: [self.agent].into(),
            usager_ids: [usager].into(),
            starts_at: starts_at.parse::<DateTime<FixedOffset>>().unwrap(),
            duration_in_min: None,
            context: None,
            name: None,
            max_participants_count: None,
        }
    }

    /// When: an agent books. Then: the warnings, or the typed error.
    async fn book(&self, caller: &Caller, command: BookRdv) -> Result<(RdvId, Vec<Warning>), Error> {
        let booked = std::sync::Mutex::new(None);
        let respond = |b: &Booked, _: &CommitSummary<'_>| {
            *booked.lock().unwrap() = Some((b.rdv_id, b.warnings.clone()));
            StoredResponse {
                status: 201,
                body: json!({}),
            }
        };
        command
            .run(&self.app, caller, &CommandContext::new(caller.actor()), respond)
            .await?;
        let booked = booked.lock().unwrap().take().expect("booked");
        Ok(booked)
    }

    /// When: an usager books online. Then: the answer, or the typed error.
    async fn book_publicly(&self, starts_at: &str, first_name: &str) -> Result<PublicBookingAnswer, Error> {
        let command = BookPublicRdv {
            organisation_id: self.organisation,
            motif_id: self.motif,
            lieu_id: None,
            starts_at: starts_at.parse().unwrap(),
            booker: Booker::New(profile(first_name)),
            prescripteur: None,
        };
        let answer = std::sync::Mutex::new(None);
        let respond = |a: &PublicBookingAnswer, _: &CommitSummary<'_>| {
            *answer.lock().unwrap() = Some(a.clone());
            StoredResponse {
                status: 201,
                body: json!({}),
            }
        };
        command.run(&self.app, CommandContext::new("usager"), respond).await?;
        self.app.availability.catch_up(&self.app.store).await.unwrap();
        let answer = answer.lock().unwrap().take().expect("booked");
        Ok(answer)
    }

    /// The types of the events of a stream, oldest first.
    async fn event_types(&self, aggregate_type: &str, id: &str) -> Vec<String> {
        let events = self.app.store.load_stream(aggregate_type, id).await.unwrap();
        events.iter().map(|e| e.event_type.clone()).collect()
    }
}

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
