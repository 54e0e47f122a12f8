use super::*;
use crate::values::*;
use cqrs_es::test::TestFramework;

fn services() -> Services {
    Services::at("2026-01-05T09:00:00Z")
}

fn created() -> TerritoryEvent {
    TerritoryEvent::TerritoryCreated {
        name: Text::parse("Drôme", "name").unwrap(),
        departement_number: DepartementNumber::parse("26", "d").unwrap(),
        timezone: TimeZone::parse("Europe/Paris", "timezone").unwrap(),
    }
}

fn create_command() -> TerritoryCommand {
    match created() {
        TerritoryEvent::TerritoryCreated {
            name,
            departement_number,
            timezone,
        } => TerritoryCommand::CreateTerritory {
            name,
            departement_number,
            timezone,
        },
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn creates_a_territory_once() {
    TestFramework::<Territory>::with(services())
        .given_no_previous_events()
        .when_async(create_command())
        .await
        .then_expect_events(vec![created()]);
    TestFramework::<Territory>::with(services())
        .given(vec![created()])
        .when_async(create_command())
        .await
        .then_expect_error(DomainError::conflict("territory already exists"));
}

#[tokio::test]
async fn activates_and_deactivates_services() {
    TestFramework::<Territory>::with(services())
        .given(vec![created()])
        .when_async(TerritoryCommand::ActivateService {
            service: ServiceKind::Pmi,
        })
        .await
        .then_expect_events(vec![TerritoryEvent::ServiceActivated {
            service: ServiceKind::Pmi,
        }]);
    TestFramework::<Territory>::with(services())
        .given(vec![
            created(),
            TerritoryEvent::ServiceActivated {
                service: ServiceKind::Pmi,
            },
        ])
        .when_async(TerritoryCommand::ActivateService {
            service: ServiceKind::Pmi,
        })
        .await
        .then_expect_error_message("service pmi is already active");
    TestFramework::<Territory>::with(services())
        .given(vec![created()])
        .when_async(TerritoryCommand::DeactivateService {
            service: ServiceKind::Rsa,
        })
        .await
        .then_expect_error_message("service rsa is not active");
}

#[tokio::test]
async fn commands_on_a_missing_territory_are_not_found() {
    TestFramework::<Territory>::with(services())
        .given_no_previous_events()
        .when_async(TerritoryCommand::ActivateService {
            service: ServiceKind::Pmi,
        })
        .await
        .then_expect_error(DomainError::not_found("territory"));
}

fn custom(key: &str, kind: CustomFieldKind) -> CustomField {
    CustomField {
        key: key.into(),
        label: Text::parse("Label", "label").unwrap(),
        kind,
        required: false,
        hidden: false,
    }
}

#[tokio::test]
async fn usager_field_settings_are_validated_and_recorded() {
    let settings = UsagerFieldSettings {
        shown: [StandardUsagerField::Phone, StandardUsagerField::Email].into(),
        custom: vec![custom("numero_dossier", CustomFieldKind::Text)],
    };
    TestFramework::<Territory>::with(services())
        .given(vec![created()])
        .when_async(TerritoryCommand::ConfigureUsagerFields {
            settings: settings.clone(),
        })
        .await
        .then_expect_events(vec![TerritoryEvent::UsagerFieldsConfigured { settings }]);
    let bad = UsagerFieldSettings {
        shown: Default::default(),
        custom: vec![
            custom("Dossier N°", CustomFieldKind::Text),
            custom("statut", CustomFieldKind::Choice { options: vec![] }),
            custom("statut", CustomFieldKind::Number),
        ],
    };
    let err = TestFramework::<Territory>::with(services())
        .given(vec![created()])
        .when_async(TerritoryCommand::ConfigureUsagerFields { settings: bad })
        .await
        .inspect_result()
        .unwrap_err();
    let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["custom[0].key", "custom[1].kind.options", "custom[2].key"]);
}

#[tokio::test]
async fn rdv_fields_and_waiting_room_change_only_when_different() {
    TestFramework::<Territory>::with(services())
        .given(vec![created()])
        .when_async(TerritoryCommand::ConfigureRdvFields {
            settings: RdvFieldSettings { context_enabled: false },
        })
        .await
        .then_expect_events(vec![]);
    let on = RdvFieldSettings { context_enabled: true };
    TestFramework::<Territory>::with(services())
        .given(vec![created()])
        .when_async(TerritoryCommand::ConfigureRdvFields { settings: on })
        .await
        .then_expect_events(vec![TerritoryEvent::RdvFieldsConfigured { settings: on }]);
    let room = WaitingRoomSettings {
        visual: true,
        email: true,
    };
    TestFramework::<Territory>::with(services())
        .given(vec![created()])
        .when_async(TerritoryCommand::ConfigureWaitingRoom { settings: room })
        .await
        .then_expect_events(vec![TerritoryEvent::WaitingRoomConfigured { settings: room }]);
}
