//! Identifiers as newtypes, so an organisation id cannot be passed where an
//! agent id is expected. New records get UUIDv7 (time-ordered).

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            schemars::JsonSchema, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self(Uuid::nil())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A territory (the "espace", usually a département).
    TerritoryId
);
id_type!(
    /// An organisation inside a territory.
    OrganisationId
);
id_type!(
    /// An agent, who may belong to several organisations.
    AgentId
);
id_type!(
    /// A motif (the reason of an RDV), defined for a territory.
    MotifId
);
id_type!(
    /// A lieu (place) of an organisation.
    LieuId
);
id_type!(
    /// A plage d'ouverture (opening hours of an agent).
    PlageId
);
id_type!(
    /// An agent's absence.
    AbsenceId
);
id_type!(
    /// An usager (a person who takes appointments).
    UsagerId
);
id_type!(
    /// A rendez-vous.
    RdvId
);
id_type!(
    /// A follow-up: one usager in one motif category. Its id derives from
    /// both ([`FollowUpId::of`]), so the first invitation or RDV of a pair
    /// can open it without a lookup and two cannot open twice.
    FollowUpId
);
id_type!(
    /// One invitation (one format, one send).
    InvitationId
);

impl FollowUpId {
    /// The follow-up of an usager in a category (UUIDv5 of both).
    pub fn of(usager: UsagerId, category: &str) -> Self {
        const NAMESPACE: Uuid = Uuid::from_u128(0x6f0c_56b5_1d7e_4c55_9a8e_2b1f_0c3d_5e71);
        Self(Uuid::new_v5(&NAMESPACE, format!("{}|{category}", usager.0).as_bytes()))
    }
}
id_type!(
    /// One usager's participation in one RDV, derived from both
    /// ([`ParticipationId::of`]): the convocation letter is addressed by it.
    ParticipationId
);

impl ParticipationId {
    pub fn of(rdv: RdvId, usager: UsagerId) -> Self {
        const NAMESPACE: Uuid = Uuid::from_u128(0x1b9e_0f4e_77a2_4d0b_8c3e_95d4_62a1_f0c7);
        Self(Uuid::new_v5(&NAMESPACE, format!("{}|{}", rdv.0, usager.0).as_bytes()))
    }
}
