//! The follow-up status, recomputed from the whole history each time, as
//! rdv-insertion's `FollowUpStatus` does (reference §2): never a stored
//! transition, so the status at any past instant is the same function of
//! the events known then.

use super::{FollowUpState, InvitationTrigger, TrackedParticipation};
use crate::rdv::RdvStatus;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpStatus {
    NotInvited,
    InvitationPending,
    RdvPending,
    RdvNeedsStatusUpdate,
    RdvNoshow,
    RdvRevoked,
    RdvExcused,
    RdvSeen,
    Closed,
}

impl FollowUpStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FollowUpStatus::NotInvited => "not_invited",
            FollowUpStatus::InvitationPending => "invitation_pending",
            FollowUpStatus::RdvPending => "rdv_pending",
            FollowUpStatus::RdvNeedsStatusUpdate => "rdv_needs_status_update",
            FollowUpStatus::RdvNoshow => "rdv_noshow",
            FollowUpStatus::RdvRevoked => "rdv_revoked",
            FollowUpStatus::RdvExcused => "rdv_excused",
            FollowUpStatus::RdvSeen => "rdv_seen",
            FollowUpStatus::Closed => "closed",
        }
    }
}

/// Why a follow-up is in "Une intervention est nécessaire".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionReason {
    /// Invited more than N days ago without answer ("Délai dépassé").
    InvitationWindowExceeded,
    /// The RDV was cancelled by either party, or the usager did not come.
    RdvCancelledOrNoshow,
    /// The RDV is past and its outcome was not entered.
    RdvOutcomeMissing,
}

impl TrackedParticipation {
    /// Unknown and still to come.
    pub fn is_pending(&self, now: DateTime<Utc>) -> bool {
        self.status == RdvStatus::Unknown && self.starts_at > now
    }
}

impl FollowUpState {
    /// The status at `now` (reference §2, steps 1 to 4).
    pub fn status(&self, now: DateTime<Utc>) -> FollowUpStatus {
        if self.closed_at.is_some() {
            return FollowUpStatus::Closed;
        }
        let last_invitation = self.invitations.iter().map(|i| i.created_at).max();
        let participations: Vec<&TrackedParticipation> = self.participations.values().collect();
        let Some(last) = participations.iter().copied().max_by_key(|p| (p.created_at, p.rdv_id)) else {
            return match last_invitation {
                Some(_) => FollowUpStatus::InvitationPending,
                None => FollowUpStatus::NotInvited,
            };
        };
        let compared = if last.is_pending(now) {
            last.starts_at
        } else {
            last.created_at
        };
        if last_invitation.is_some_and(|at| at > compared) {
            return FollowUpStatus::InvitationPending;
        }
        if participations.iter().any(|p| p.is_pending(now)) {
            return FollowUpStatus::RdvPending;
        }
        let seen_after = participations
            .iter()
            .any(|p| p.status == RdvStatus::Seen && p.starts_at > last.created_at);
        if last.status == RdvStatus::Seen || seen_after {
            return FollowUpStatus::RdvSeen;
        }
        match last.status {
            RdvStatus::Noshow => FollowUpStatus::RdvNoshow,
            RdvStatus::Revoked => FollowUpStatus::RdvRevoked,
            RdvStatus::Excused => FollowUpStatus::RdvExcused,
            _ => FollowUpStatus::RdvNeedsStatusUpdate,
        }
    }

    /// Whether the follow-up needs an agent at `now`, and why: its status
    /// is one of the action statuses, or it is `invitation_pending` with no
    /// manual invitation within the last `days` days (reminders and periodic
    /// invites do not reset the window, as in rdv-insertion's SQL scope).
    pub fn action_required(&self, now: DateTime<Utc>, days: u32) -> Option<ActionReason> {
        match self.status(now) {
            FollowUpStatus::RdvNeedsStatusUpdate => Some(ActionReason::RdvOutcomeMissing),
            FollowUpStatus::RdvNoshow | FollowUpStatus::RdvRevoked | FollowUpStatus::RdvExcused => {
                Some(ActionReason::RdvCancelledOrNoshow)
            }
            FollowUpStatus::InvitationPending => {
                let since = now - Duration::days(days.into());
                let recent = self
                    .invitations
                    .iter()
                    .any(|i| i.trigger == InvitationTrigger::Manual && i.created_at > since);
                (!recent).then_some(ActionReason::InvitationWindowExceeded)
            }
            _ => None,
        }
    }

    /// The first instant from `now` on at which the follow-up needs action
    /// if nothing else happens, and why. The status only changes when an
    /// RDV starts or an invitation window closes, so those instants are the
    /// only candidates.
    pub fn next_action(&self, now: DateTime<Utc>, days: u32) -> Option<(DateTime<Utc>, ActionReason)> {
        let window = Duration::days(days.into());
        let mut candidates: Vec<DateTime<Utc>> = self
            .participations
            .values()
            .map(|p| p.starts_at)
            .chain(
                self.invitations
                    .iter()
                    .filter(|i| i.trigger == InvitationTrigger::Manual)
                    .map(|i| i.created_at + window),
            )
            .filter(|at| *at > now)
            .collect();
        candidates.push(now);
        candidates.sort();
        candidates
            .into_iter()
            .find_map(|at| self.action_required(at, days).map(|reason| (at, reason)))
    }

    /// rdv-insertion's "Convoquer" button: the category convenes usagers
    /// and the usager missed or excused their RDV, or left the invitation
    /// unanswered past its window.
    pub fn convocable(&self, now: DateTime<Utc>, days: u32) -> bool {
        matches!(self.status(now), FollowUpStatus::RdvNoshow | FollowUpStatus::RdvExcused)
            || self.action_required(now, days) == Some(ActionReason::InvitationWindowExceeded)
    }

    /// Whether a participation of the follow-up is still to come.
    pub fn has_pending_rdv(&self, now: DateTime<Utc>) -> bool {
        self.participations.values().any(|p| p.is_pending(now))
    }
}
