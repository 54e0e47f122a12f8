use super::settings::{RdvFieldSettings, UsagerFieldSettings, WaitingRoomSettings};
use crate::values::{DepartementNumber, ServiceKind, Text, TimeZone};
use chrono::NaiveDate;
use cqrs_es::persist::SemanticVersionEventUpcaster;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// Events of a territory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum TerritoryEvent {
    /// v2 added the time zone and renamed `departement` to `departement_number`.
    TerritoryCreated {
        name: Text,
        departement_number: DepartementNumber,
        timezone: TimeZone,
    },
    ServiceActivated {
        service: ServiceKind,
    },
    ServiceDeactivated {
        service: ServiceKind,
    },
    UsagerFieldsConfigured {
        settings: UsagerFieldSettings,
    },
    RdvFieldsConfigured {
        settings: RdvFieldSettings,
    },
    WaitingRoomConfigured {
        settings: WaitingRoomSettings,
    },
    /// The espace's own closed days, on top of public holidays.
    ClosedDaysConfigured {
        days: BTreeSet<NaiveDate>,
    },
}

crate::versioned_events!(TerritoryEvent {
    TerritoryCreated => "2.0",
    ServiceActivated => "1.0",
    ServiceDeactivated => "1.0",
    UsagerFieldsConfigured => "1.0",
    RdvFieldsConfigured => "1.0",
    WaitingRoomConfigured => "1.0",
    ClosedDaysConfigured => "1.0",
});

/// `TerritoryCreated` 1.0 stored `departement` and no time zone; every
/// territory created then was in metropolitan France, hence `Europe/Paris`.
pub(super) fn territory_created_v2_upcaster() -> SemanticVersionEventUpcaster {
    SemanticVersionEventUpcaster::new(
        "TerritoryCreated",
        "2.0",
        Box::new(|mut payload: Value| {
            if let Some(body) = payload.get_mut("TerritoryCreated").and_then(Value::as_object_mut) {
                if let Some(departement) = body.remove("departement") {
                    body.insert("departement_number".into(), departement);
                }
                body.entry("timezone")
                    .or_insert_with(|| Value::String("Europe/Paris".into()));
            }
            payload
        }),
    )
}
