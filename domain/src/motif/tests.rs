use super::*;
use crate::{ErrorKind, values::Text};
use cqrs_es::test::TestFramework;

fn services() -> Services {
    Services::at("2026-01-05T09:00:00Z")
}

fn org() -> OrganisationId {
    OrganisationId("0190a000-0000-7000-8000-000000000001".parse().unwrap())
}

fn active() -> BTreeSet<ServiceKind> {
    [ServiceKind::ServiceSocial, ServiceKind::Secretariat].into()
}

fn config() -> MotifConfig {
    MotifConfig {
        informations: MotifInformations {
            name: Text::parse("Premier accueil", "name").unwrap(),
            color: "#1a2b3c".into(),
            service: ServiceKind::ServiceSocial,
            default_duration_in_min: 30,
            location_type: LocationType::PublicOffice,
            collective: false,
            max_participants: None,
            visibility: Visibility::VisibleAndNotified,
            follow_up: false,
            category: None,
        },
        booking: MotifBooking::default(),
        instructions: MotifInstructions::default(),
        organisation_ids: [org()].into(),
    }
}

fn configure(config: MotifConfig) -> MotifCommand {
    MotifCommand::ConfigureMotif {
        territory_id: TerritoryId::default(),
        config: Box::new(config),
        active_services: active(),
    }
}

fn created() -> MotifEvent {
    MotifEvent::MotifCreated {
        territory_id: TerritoryId::default(),
        config: config(),
    }
}

async fn invalid_fields(config: MotifConfig) -> Vec<String> {
    let err = TestFramework::<Motif>::with(services())
        .given_no_previous_events()
        .when_async(configure(config))
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    err.errors.into_iter().map(|e| e.field).collect()
}

#[tokio::test]
async fn creates_then_reconfigures_and_ignores_a_no_op() {
    TestFramework::<Motif>::with(services())
        .given_no_previous_events()
        .when_async(configure(config()))
        .await
        .then_expect_events(vec![created()]);
    let mut longer = config();
    longer.informations.default_duration_in_min = 45;
    TestFramework::<Motif>::with(services())
        .given(vec![created()])
        .when_async(configure(longer.clone()))
        .await
        .then_expect_events(vec![MotifEvent::MotifConfigured { config: longer }]);
    TestFramework::<Motif>::with(services())
        .given(vec![created()])
        .when_async(configure(config()))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn each_bad_field_is_named() {
    let mut c = config();
    c.informations.default_duration_in_min = 0;
    assert_eq!(invalid_fields(c).await, ["informations.default_duration_in_min"]);
    let mut c = config();
    c.informations.default_duration_in_min = 24 * 60 + 1;
    assert_eq!(invalid_fields(c).await, ["informations.default_duration_in_min"]);
    let mut c = config();
    c.booking.min_booking_delay_in_min = c.booking.max_booking_delay_in_min;
    assert_eq!(invalid_fields(c).await, ["booking.min_booking_delay_in_min"]);
    let mut c = config();
    c.informations.service = ServiceKind::Pmi;
    assert_eq!(
        invalid_fields(c).await,
        ["informations.service"],
        "not active in the territory"
    );
    let mut c = config();
    c.informations.service = ServiceKind::Secretariat;
    assert_eq!(invalid_fields(c).await, ["informations.service"]);
    let mut c = config();
    c.informations.collective = true;
    c.informations.location_type = LocationType::Home;
    assert_eq!(invalid_fields(c).await, ["informations.location_type"]);
    let mut c = config();
    c.informations.max_participants = Some(12);
    assert_eq!(
        invalid_fields(c).await,
        ["informations.max_participants"],
        "seats only for collective motifs"
    );
    let mut c = config();
    c.informations.color = "blue".into();
    c.organisation_ids.clear();
    assert_eq!(invalid_fields(c).await, ["informations.color", "organisation_ids"]);
}

#[tokio::test]
async fn a_collective_motif_in_a_lieu_may_have_seats() {
    let mut c = config();
    c.informations.collective = true;
    c.informations.max_participants = Some(12);
    TestFramework::<Motif>::with(services())
        .given_no_previous_events()
        .when_async(configure(c.clone()))
        .await
        .then_expect_events(vec![MotifEvent::MotifCreated {
            territory_id: TerritoryId::default(),
            config: c,
        }]);
}

#[tokio::test]
async fn archive_restore_and_organisation_list() {
    TestFramework::<Motif>::with(services())
        .given(vec![created()])
        .when_async(MotifCommand::ArchiveMotif)
        .await
        .then_expect_events(vec![MotifEvent::MotifArchived]);
    TestFramework::<Motif>::with(services())
        .given(vec![created(), MotifEvent::MotifArchived])
        .when_async(MotifCommand::ArchiveMotif)
        .await
        .then_expect_error_message("the motif is already archived");
    TestFramework::<Motif>::with(services())
        .given(vec![created(), MotifEvent::MotifArchived])
        .when_async(MotifCommand::RestoreMotif)
        .await
        .then_expect_events(vec![MotifEvent::MotifRestored]);
    TestFramework::<Motif>::with(services())
        .given(vec![created()])
        .when_async(MotifCommand::RestoreMotif)
        .await
        .then_expect_error_message("the motif is not archived");
    let other = OrganisationId::new();
    let mut both = config();
    both.organisation_ids.insert(other);
    TestFramework::<Motif>::with(services())
        .given(vec![created()])
        .when_async(MotifCommand::SetEnabledInOrganisation {
            organisation_id: other,
            enabled: true,
        })
        .await
        .then_expect_events(vec![MotifEvent::MotifConfigured { config: both }]);
    TestFramework::<Motif>::with(services())
        .given(vec![created()])
        .when_async(MotifCommand::SetEnabledInOrganisation {
            organisation_id: org(),
            enabled: false,
        })
        .await
        .then_expect_error_message("a motif stays enabled in at least one organisation; archive it instead");
}

#[test]
fn unique_keys_ignore_case_and_follow_organisations() {
    let mut c = config();
    let keys = c.unique_keys();
    c.informations.name = Text::parse("PREMIER ACCUEIL", "name").unwrap();
    assert_eq!(c.unique_keys(), keys);
    c.informations.location_type = LocationType::Phone;
    assert_ne!(c.unique_keys(), keys);
    c.organisation_ids.insert(OrganisationId::new());
    assert_eq!(c.unique_keys().len(), 2);
}
