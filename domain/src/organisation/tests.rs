use super::*;
use crate::values::*;
use cqrs_es::test::TestFramework;

fn services() -> Services {
    Services::at("2026-01-05T09:00:00Z")
}

fn details() -> OrganisationDetails {
    OrganisationDetails {
        name: Text::parse("CMS Valence", "name").unwrap(),
        address: Some("1 rue de la Paix, 26000 Valence".into()),
        phone: None,
        email: None,
        website: None,
        opening_hours: None,
    }
}

fn created() -> OrganisationEvent {
    OrganisationEvent::OrganisationCreated {
        territory_id: TerritoryId::default(),
        timezone: TimeZone::PARIS,
        details: details(),
    }
}

#[tokio::test]
async fn creates_an_organisation_once() {
    let create = OrganisationCommand::CreateOrganisation {
        territory_id: TerritoryId::default(),
        timezone: TimeZone::PARIS,
        details: details(),
    };
    TestFramework::<Organisation>::with(services())
        .given_no_previous_events()
        .when_async(create.clone())
        .await
        .then_expect_events(vec![created()]);
    TestFramework::<Organisation>::with(services())
        .given(vec![created()])
        .when_async(create)
        .await
        .then_expect_error_message("organisation already exists");
}

#[tokio::test]
async fn an_update_records_only_what_changed() {
    let patch = OrganisationPatch {
        name: Some(Text::parse("CMS Valence", "name").unwrap()),
        phone: Some(Some("04 75 00 00 00".into())),
        ..Default::default()
    };
    TestFramework::<Organisation>::with(services())
        .given(vec![created()])
        .when_async(OrganisationCommand::UpdateOrganisation { patch })
        .await
        .then_expect_events(vec![OrganisationEvent::OrganisationUpdated {
            changes: OrganisationPatch {
                phone: Some(Some("04 75 00 00 00".into())),
                ..Default::default()
            },
        }]);
}

#[tokio::test]
async fn an_update_that_changes_nothing_writes_nothing() {
    TestFramework::<Organisation>::with(services())
        .given(vec![created()])
        .when_async(OrganisationCommand::UpdateOrganisation {
            patch: OrganisationPatch {
                address: Some(details().address),
                ..Default::default()
            },
        })
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn updating_a_missing_organisation_is_not_found() {
    TestFramework::<Organisation>::with(services())
        .given_no_previous_events()
        .when_async(OrganisationCommand::UpdateOrganisation {
            patch: OrganisationPatch::default(),
        })
        .await
        .then_expect_error(DomainError::not_found("organisation"));
}

#[test]
fn a_cleared_field_survives_the_round_trip_through_json() {
    let event = OrganisationEvent::OrganisationUpdated {
        changes: OrganisationPatch {
            phone: Some(None),
            ..Default::default()
        },
    };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"OrganisationUpdated": {"changes": {"phone": null}}})
    );
    assert_eq!(serde_json::from_value::<OrganisationEvent>(json).unwrap(), event);
}
