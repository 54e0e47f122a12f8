use super::settings::{RdvFieldSettings, UsagerFieldSettings, WaitingRoomSettings};
use crate::values::{DepartementNumber, ServiceKind, Text, TimeZone};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Commands on a territory (the espace and its settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum TerritoryCommand {
    /// Create the espace with its name, département and time zone.
    CreateTerritory {
        name: Text,
        departement_number: DepartementNumber,
        timezone: TimeZone,
    },
    /// Offer a service of the catalogue in this territory.
    ActivateService {
        service: ServiceKind,
    },
    /// Stop offering a service; existing agents keep it.
    DeactivateService {
        service: ServiceKind,
    },
    ConfigureUsagerFields {
        settings: UsagerFieldSettings,
    },
    ConfigureRdvFields {
        settings: RdvFieldSettings,
    },
    ConfigureWaitingRoom {
        settings: WaitingRoomSettings,
    },
    /// Replaces the espace's closed days (no slot is offered on them).
    ConfigureClosedDays {
        days: BTreeSet<NaiveDate>,
    },
}
