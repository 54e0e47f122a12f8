//! The world the use-case tests start from: a store with a territory, an
//! organisation, a motif, a lieu, an agent with a plage and an usager
//! (given, through domain commands) and a frozen clock, and the calls of
//! the use cases (when) with what they return (then).

use chrono::{DateTime, Duration, FixedOffset};
use rdv_app::{
    Context, Error,
    booking::{BookPublicRdv, BookRdv, Booked, Booker, PublicBookingAnswer},
    caller::Caller,
    rdv_changes::Warning,
};
use rdv_domain::{
    DomainError, FixedClock, Services, VersionedAggregate,
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

pub const NOW: &str = "2026-01-05T08:00:00Z";
/// A Monday 10:00 in Paris, inside the agent's plage (9:00–12:00).
pub const SLOT: &str = "2026-01-12T10:00:00+01:00";

/// The store and the records every scenario starts from.
pub struct Given {
    pub app: Context,
    _dir: TempDir,
    pub clock: FixedClock,
    pub organisation: OrganisationId,
    pub motif: MotifId,
    pub lieu: LieuId,
    pub agent: AgentId,
    pub usager: UsagerId,
}

pub fn system() -> CommandContext {
    CommandContext::new("system")
}

pub async fn run<A>(commands: &CommandService, id: &str, command: A::Command)
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

pub fn motif_config(organisation: OrganisationId, collective: bool) -> MotifConfig {
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

pub fn profile(first_name: &str) -> UsagerProfile {
    serde_json::from_value(json!({"first_name": first_name, "last_name": "Durand", "email": "durand@example.fr"}))
        .unwrap()
}

pub async fn given() -> Given {
    let dir = TempDir::new().unwrap();
    let key = rdv_eventstore::sealing::MasterKey::load_or_create(&dir.path().join("master.key")).unwrap();
    let store = EventStore::open_sqlite(dir.path())
        .await
        .unwrap()
        .with_master_key(key.clone());
    let clock = FixedClock::at(NOW.parse().unwrap());
    let commands = CommandService::new(store.clone(), Services::new(Arc::new(clock.clone()), Duration::days(7)));
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
        master_key: key,
        started_at_position: store.head().await.unwrap(),
        outbox_dir: dir.path().join("outbox"),
        webhook_allow: Default::default(),
    };
    app.availability.catch_up(&store).await.unwrap();
    Given {
        app,
        _dir: dir,
        clock,
        organisation,
        motif,
        lieu,
        agent,
        usager,
    }
}

pub async fn new_motif(
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
    pub async fn agent_caller(&self) -> Caller {
        let agent: Agent = self.app.load(&self.agent.to_string()).await.unwrap();
        Caller::Agent {
            id: self.agent,
            state: Box::new(agent.0.unwrap()),
            token: TokenHash("api".into()),
        }
    }

    pub fn booking(&self, usager: UsagerId, starts_at: &str) -> BookRdv {
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
    pub async fn book(&self, caller: &Caller, command: BookRdv) -> Result<(RdvId, Vec<Warning>), Error> {
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
    pub async fn book_publicly(&self, starts_at: &str, first_name: &str) -> Result<PublicBookingAnswer, Error> {
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
    pub async fn event_types(&self, aggregate_type: &str, id: &str) -> Vec<String> {
        let events = self.app.store.load_stream(aggregate_type, id).await.unwrap();
        events.iter().map(|e| e.event_type.clone()).collect()
    }
}
