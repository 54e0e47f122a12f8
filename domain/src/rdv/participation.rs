//! Participations: each usager of an RDV with their own status. RDV Service
//! Public's rules (`concerns/rdv/updatable.rb`, `Rdv#update_rdv_status_from_participation`)
//! tie them to the RDV's status both ways; they live here, pure, so the
//! aggregate's `apply` and its tests share them.

use super::{Actor, RdvStatus};
use crate::values::TokenHash;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One usager's place in an RDV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participation {
    pub status: RdvStatus,
    pub created_by: Actor,
    /// Digest of this usager's magic link, and its deadline.
    pub token: Option<(TokenHash, DateTime<Utc>)>,
}

/// A collective RDV (atelier): its title and its seats (none: unlimited).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
pub struct Atelier {
    pub name: Option<String>,
    pub max_participants: Option<u32>,
}

/// What an RDV status change does to the participations: `unknown` resets
/// them all; `excused` or `revoked` reaches those not already cancelled;
/// `seen` or `noshow` reaches those still unknown.
pub fn propagate<'a>(status: RdvStatus, participations: impl Iterator<Item = &'a mut Participation>) {
    for p in participations {
        let reached = match status {
            RdvStatus::Unknown => true,
            RdvStatus::Excused | RdvStatus::Revoked => !p.status.is_cancelled(),
            RdvStatus::Seen | RdvStatus::Noshow => p.status == RdvStatus::Unknown,
        };
        if reached {
            p.status = status;
        }
    }
}

/// The RDV status its participations lead to: any `seen` makes it seen; a
/// collective RDV that has started with nobody left unknown is revoked
/// (nobody came); an individual one takes the status all its participations
/// share (excused, revoked or noshow), otherwise unknown.
pub fn derived_status(statuses: impl Iterator<Item = RdvStatus> + Clone, collective: bool, started: bool) -> RdvStatus {
    let mut all = statuses.clone();
    if statuses.clone().any(|s| s == RdvStatus::Seen) {
        return RdvStatus::Seen;
    }
    if collective {
        let none_unknown = statuses.clone().all(|s| s != RdvStatus::Unknown);
        let any = statuses.clone().next().is_some();
        return if any && none_unknown && started {
            RdvStatus::Revoked
        } else {
            RdvStatus::Unknown
        };
    }
    match all.next() {
        Some(first @ (RdvStatus::Excused | RdvStatus::Revoked | RdvStatus::Noshow)) if all.all(|s| s == first) => first,
        _ => RdvStatus::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RdvStatus::*;

    #[test]
    fn individual_rdvs_take_the_status_every_participation_shares() {
        let derive = |s: &[RdvStatus]| derived_status(s.iter().copied(), false, true);
        assert_eq!(derive(&[Excused, Excused]), Excused);
        assert_eq!(derive(&[Revoked]), Revoked);
        assert_eq!(derive(&[Noshow, Noshow]), Noshow);
        assert_eq!(derive(&[Noshow, Excused]), Unknown);
        assert_eq!(derive(&[Seen, Noshow]), Seen);
        assert_eq!(derive(&[Unknown, Excused]), Unknown);
    }

    #[test]
    fn a_started_collective_rdv_nobody_attended_is_revoked() {
        assert_eq!(derived_status([Excused, Noshow].into_iter(), true, true), Revoked);
        assert_eq!(derived_status([Excused, Noshow].into_iter(), true, false), Unknown);
        assert_eq!(derived_status([Excused, Unknown].into_iter(), true, true), Unknown);
        assert_eq!(derived_status([Noshow, Seen].into_iter(), true, true), Seen);
        assert_eq!(derived_status(std::iter::empty(), true, true), Unknown);
    }

    #[test]
    fn rdv_statuses_reach_participations_by_rdv_service_publics_rules() {
        let part = |status| Participation {
            status,
            created_by: Actor::Usager,
            token: None,
        };
        let run = |status, from: [RdvStatus; 3]| {
            let mut ps: Vec<Participation> = from.into_iter().map(part).collect();
            propagate(status, ps.iter_mut());
            ps.iter().map(|p| p.status).collect::<Vec<_>>()
        };
        assert_eq!(run(Unknown, [Seen, Excused, Noshow]), [Unknown, Unknown, Unknown]);
        assert_eq!(run(Revoked, [Unknown, Excused, Seen]), [Revoked, Excused, Revoked]);
        assert_eq!(run(Seen, [Unknown, Excused, Noshow]), [Seen, Excused, Noshow]);
        assert_eq!(run(Noshow, [Unknown, Seen, Unknown]), [Noshow, Seen, Noshow]);
    }
}
