//! Statistics of an organisation's follow-ups in one category
//! (rdv-insertion's `Stat`): computed from the follow-ups read model, so a
//! rebuild from position 0 gives the same figures.

use chrono::{DateTime, Duration, Utc};
use rdv_domain::{follow_up::FollowUpState, rdv::RdvStatus};
use serde::Serialize;
use utoipa::ToSchema;

/// The window of "oriented within N days".
const ORIENTATION_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CategoryStats {
    /// Follow-ups of the category listed in the organisation.
    pub follow_ups: usize,
    /// Usagers invited at least once.
    pub usagers_invited: usize,
    pub invitations_sent: usize,
    /// Usagers with an RDV seen or to come.
    pub usagers_with_rdv: usize,
    pub participations: usize,
    /// No-shows among seen or no-show participations the usager booked
    /// after an invitation, in percent.
    pub noshow_rate_invited: Option<f64>,
    /// The same among convocations.
    pub noshow_rate_convened: Option<f64>,
    /// Days from the first invitation to the first RDV taken after it.
    pub average_days_to_first_rdv: Option<f64>,
    /// Among follow-ups opened more than 30 days ago, those whose first seen
    /// RDV started within 30 days of the opening, in percent.
    pub rate_oriented_within_30_days: Option<f64>,
}

fn percent(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// When a follow-up began: its first invitation or participation.
fn opened_at(state: &FollowUpState) -> Option<DateTime<Utc>> {
    let invited = state.invitations.iter().map(|i| i.created_at);
    let booked = state.participations.values().map(|p| p.created_at);
    invited.chain(booked).min()
}

/// The figures at `now` over the given follow-ups.
pub fn compute<'a>(states: impl Iterator<Item = &'a FollowUpState>, now: DateTime<Utc>) -> CategoryStats {
    let (mut follow_ups, mut invited, mut invitations, mut with_rdv, mut participations) = (0, 0, 0, 0, 0);
    let (mut noshow_invited, mut resolved_invited, mut noshow_convened, mut resolved_convened) = (0, 0, 0, 0);
    let mut delays = Vec::new();
    let (mut oriented, mut orientable) = (0, 0);
    for state in states {
        follow_ups += 1;
        invitations += state.invitations.len();
        let first_invitation = state.invitations.iter().map(|i| i.created_at).min();
        invited += usize::from(first_invitation.is_some());
        participations += state.participations.len();
        let taken = |p: &&rdv_domain::follow_up::TrackedParticipation| p.status == RdvStatus::Seen || p.is_pending(now);
        with_rdv += usize::from(state.participations.values().any(|p| taken(&p)));
        for p in state.participations.values() {
            let (noshow, resolved) = if p.convocable {
                (&mut noshow_convened, &mut resolved_convened)
            } else {
                (&mut noshow_invited, &mut resolved_invited)
            };
            if matches!(p.status, RdvStatus::Seen | RdvStatus::Noshow) {
                *resolved += 1;
                *noshow += usize::from(p.status == RdvStatus::Noshow);
            }
        }
        if let Some(first) = first_invitation {
            let first_rdv = state
                .participations
                .values()
                .map(|p| p.created_at)
                .filter(|at| *at >= first)
                .min();
            if let Some(rdv) = first_rdv {
                delays.push((rdv - first).num_seconds() as f64 / 86_400.0);
            }
        }
        if let Some(opened) = opened_at(state).filter(|at| *at < now - Duration::days(ORIENTATION_DAYS)) {
            orientable += 1;
            let first_seen = state
                .participations
                .values()
                .filter(|p| p.status == RdvStatus::Seen)
                .map(|p| p.starts_at)
                .min();
            oriented += usize::from(first_seen.is_some_and(|at| at < opened + Duration::days(ORIENTATION_DAYS)));
        }
    }
    CategoryStats {
        follow_ups,
        usagers_invited: invited,
        invitations_sent: invitations,
        usagers_with_rdv: with_rdv,
        participations,
        noshow_rate_invited: percent(noshow_invited, resolved_invited),
        noshow_rate_convened: percent(noshow_convened, resolved_convened),
        average_days_to_first_rdv: (!delays.is_empty())
            .then(|| (delays.iter().sum::<f64>() / delays.len() as f64 * 10.0).round() / 10.0),
        rate_oriented_within_30_days: percent(oriented, orientable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdv_domain::{
        category::InvitationFormat,
        follow_up::{Invitation, InvitationTrigger, TrackedParticipation, sms_and_email},
        ids::{InvitationId, MotifId, OrganisationId, RdvId, UsagerId},
        rdv::Actor,
        values::TokenHash,
    };
    use std::collections::{BTreeMap, BTreeSet};

    fn day(n: i64) -> DateTime<Utc> {
        "2026-01-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::days(n)
    }

    fn follow_up(invited_on: Option<i64>, rdvs: &[(i64, i64, RdvStatus, bool)]) -> FollowUpState {
        FollowUpState {
            usager_id: UsagerId::new(),
            category: "rsa_orientation".into(),
            closed_at: None,
            invitations: invited_on
                .map(|d| Invitation {
                    id: InvitationId::new(),
                    code: "ABCD1234".into(),
                    format: InvitationFormat::Sms,
                    trigger: InvitationTrigger::Manual,
                    created_at: day(d),
                    valid_until: day(d + 10),
                    organisation_ids: BTreeSet::new(),
                    help_phone: String::new(),
                    token: TokenHash(String::new()),
                    sealed_token: String::new(),
                    clicked: false,
                })
                .into_iter()
                .collect(),
            participations: rdvs
                .iter()
                .map(|(created, starts, status, convocable)| {
                    let p = TrackedParticipation {
                        rdv_id: RdvId::new(),
                        organisation_id: OrganisationId::new(),
                        motif_id: MotifId::new(),
                        lieu_id: None,
                        created_at: day(*created),
                        created_by: Actor::Usager,
                        starts_at: day(*starts),
                        status: *status,
                        convocable: *convocable,
                        notice_formats: sms_and_email(),
                    };
                    (p.rdv_id, p)
                })
                .collect::<BTreeMap<_, _>>(),
            notices: Vec::new(),
            referents: BTreeSet::new(),
        }
    }

    #[test]
    fn rates_split_invited_and_convened_participations() {
        use RdvStatus::*;
        let all = [
            follow_up(Some(0), &[(2, 5, Seen, false)]),
            follow_up(Some(0), &[(4, 8, Noshow, false), (20, 25, Seen, true)]),
            follow_up(Some(0), &[(12, 15, Noshow, true)]),
            follow_up(Some(10), &[]),
            follow_up(None, &[(50, 70, Unknown, false)]),
        ];
        let stats = compute(all.iter(), day(60));
        assert_eq!(stats.follow_ups, 5);
        assert_eq!(stats.usagers_invited, 4);
        assert_eq!(stats.usagers_with_rdv, 3, "two seen, one to come");
        assert_eq!(stats.participations, 5);
        assert_eq!(stats.noshow_rate_invited, Some(50.0));
        assert_eq!(stats.noshow_rate_convened, Some(50.0));
        assert_eq!(stats.average_days_to_first_rdv, Some(6.0), "(2 + 4 + 12) / 3");
        // Opened more than 30 days before day 60: the four invited ones; seen
        // within 30 days of opening: the first two.
        assert_eq!(stats.rate_oriented_within_30_days, Some(50.0));
        assert_eq!(compute(std::iter::empty(), day(0)).noshow_rate_invited, None);
    }
}
