//! The rules of rdv-insertion's daily jobs on one follow-up, pure: which
//! invitation a reminder or a periodic invite copies today, and which
//! convocations to remind. The scheduler applies them; the aggregate's
//! 24-hour rule and notice de-duplication make a second run the same day
//! write nothing.

use super::{FollowUpState, Invitation, InvitationTrigger, TrackedParticipation, status::FollowUpStatus};
use crate::{category::InvitationFormat, rdv::RdvStatus};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

/// Reminders come this many calendar days after the first invitation.
pub const DAYS_BEFORE_REMINDER: i64 = 3;
/// Convocation reminders come this many calendar days before the RDV.
pub const DAYS_BEFORE_CONVOCATION_REMINDER: i64 = 2;

fn local_day(at: DateTime<Utc>, zone: Tz) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
}

impl FollowUpState {
    /// The invitations sent since the last participation was created.
    fn invitations_since_last_participation(&self) -> impl Iterator<Item = &Invitation> {
        let since = self.participations.values().map(|p| p.created_at).max();
        self.invitations
            .iter()
            .filter(move |i| since.is_none_or(|at| i.created_at > at))
    }

    /// The invitation a reminder copies today (`SendInvitationRemindersJob`):
    /// the follow-up is `invitation_pending`, and the first invitation since
    /// the last participation was sent exactly 3 calendar days ago by SMS or
    /// e-mail, is not itself a reminder, and stays valid more than 2 more
    /// days. (Optional categories and archived usagers are the caller's.)
    pub fn reminder_due(&self, now: DateTime<Utc>, zone: Tz) -> Option<&Invitation> {
        if self.status(now) != FollowUpStatus::InvitationPending {
            return None;
        }
        let first = self
            .invitations_since_last_participation()
            .min_by_key(|i| i.created_at)?;
        let today = local_day(now, zone);
        let due = local_day(first.created_at, zone) + Duration::days(DAYS_BEFORE_REMINDER) == today
            && matches!(first.format, InvitationFormat::Sms | InvitationFormat::Email)
            && first.trigger != InvitationTrigger::Reminder
            && first.valid_until > now + Duration::days(2);
        due.then_some(first)
    }

    /// The invitation a periodic invite copies today
    /// (`SendPeriodicInvitesJob`): the last invitation, still valid, when
    /// today is the configured day of the month or `every_days` after it.
    pub fn periodic_due(
        &self,
        now: DateTime<Utc>,
        zone: Tz,
        every_days: Option<u32>,
        day_of_month: Option<u32>,
    ) -> Option<&Invitation> {
        if self.closed_at.is_some() {
            return None;
        }
        let last = self.invitations.iter().max_by_key(|i| i.created_at)?;
        if !last.is_valid(now) {
            return None;
        }
        let today = local_day(now, zone);
        let on_day = day_of_month.is_some_and(|d| today.day() == d);
        let elapsed = (today - local_day(last.created_at, zone)).num_days();
        let after = every_days.is_some_and(|n| elapsed == i64::from(n));
        (on_day || after).then_some(last)
    }

    /// Convocations to remind today (`SendConvocationRemindersJob`):
    /// convocable participations not cancelled whose RDV falls on the
    /// calendar day 2 days from today.
    pub fn convocation_reminders_due(&self, now: DateTime<Utc>, zone: Tz) -> Vec<&TrackedParticipation> {
        let day = local_day(now, zone) + Duration::days(DAYS_BEFORE_CONVOCATION_REMINDER);
        self.participations
            .values()
            .filter(|p| {
                p.convocable
                    && p.status == RdvStatus::Unknown
                    && p.starts_at > now
                    && local_day(p.starts_at, zone) == day
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        follow_up::{TrackedParticipation, sms_and_email},
        ids::{InvitationId, MotifId, OrganisationId, RdvId, UsagerId},
        rdv::Actor,
        values::TokenHash,
    };
    use std::collections::BTreeSet;

    const PARIS: Tz = chrono_tz::Europe::Paris;

    fn now() -> DateTime<Utc> {
        "2026-03-10T10:00:00Z".parse().unwrap()
    }

    fn invitation(created: Duration, valid: Duration, trigger: InvitationTrigger) -> Invitation {
        Invitation {
            id: InvitationId::new(),
            code: "ABCD1234".into(),
            format: InvitationFormat::Sms,
            trigger,
            created_at: now() + created,
            valid_until: now() + valid,
            organisation_ids: BTreeSet::new(),
            help_phone: String::new(),
            token: TokenHash(String::new()),
            sealed_token: String::new(),
            clicked: false,
        }
    }

    fn with(invitations: Vec<Invitation>) -> FollowUpState {
        FollowUpState {
            invitations,
            ..FollowUpState::new(UsagerId::new(), "rsa_orientation".into())
        }
    }

    fn participation(starts: Duration, status: RdvStatus, convocable: bool) -> TrackedParticipation {
        TrackedParticipation {
            rdv_id: RdvId::new(),
            organisation_id: OrganisationId::new(),
            motif_id: MotifId::new(),
            lieu_id: None,
            created_at: now() - Duration::days(1),
            created_by: Actor::Usager,
            starts_at: now() + starts,
            status,
            convocable,
            notice_formats: sms_and_email(),
        }
    }

    #[test]
    fn case_9_only_the_invitation_of_three_days_ago_valid_four_more_days_gets_a_reminder() {
        let days = Duration::days;
        let due = with(vec![invitation(-days(3), days(4), InvitationTrigger::Manual)]);
        assert!(due.reminder_due(now(), PARIS).is_some());
        let four_days_ago = with(vec![invitation(-days(4), days(4), InvitationTrigger::Manual)]);
        assert!(four_days_ago.reminder_due(now(), PARIS).is_none());
        let expiring = with(vec![invitation(
            -days(3),
            Duration::hours(4),
            InvitationTrigger::Manual,
        )]);
        assert!(expiring.reminder_due(now(), PARIS).is_none());
        let reminder = with(vec![invitation(-days(3), days(4), InvitationTrigger::Reminder)]);
        assert!(reminder.reminder_due(now(), PARIS).is_none());
        let mut pending = due.clone();
        let booked = participation(days(5), RdvStatus::Unknown, false);
        pending.participations.insert(booked.rdv_id, booked);
        pending
            .participations
            .values_mut()
            .for_each(|p| p.created_at = now() - days(5));
        assert!(pending.reminder_due(now(), PARIS).is_none(), "rdv_pending");
        let mut postal = due.clone();
        postal.invitations[0].format = InvitationFormat::Postal;
        assert!(postal.reminder_due(now(), PARIS).is_none());
    }

    #[test]
    fn case_11_convocations_two_days_ahead_are_reminded() {
        let days = Duration::days;
        let mut s = with(Vec::new());
        let due = participation(days(2), RdvStatus::Unknown, true);
        for p in [
            due.clone(),
            participation(days(3), RdvStatus::Unknown, true),
            participation(days(2), RdvStatus::Revoked, true),
            participation(days(2), RdvStatus::Unknown, false),
        ] {
            s.participations.insert(p.rdv_id, p);
        }
        let reminded: Vec<RdvId> = s
            .convocation_reminders_due(now(), PARIS)
            .iter()
            .map(|p| p.rdv_id)
            .collect();
        assert_eq!(reminded, [due.rdv_id]);
    }

    #[test]
    fn periodic_invites_come_on_their_day_or_after_their_interval_while_valid() {
        let days = Duration::days;
        let s = with(vec![invitation(-days(14), days(2), InvitationTrigger::Manual)]);
        assert!(s.periodic_due(now(), PARIS, Some(14), None).is_some());
        assert!(s.periodic_due(now(), PARIS, Some(15), None).is_none());
        assert!(
            s.periodic_due(now(), PARIS, None, Some(10)).is_some(),
            "the 10th of the month"
        );
        let expired = with(vec![invitation(-days(14), -days(1), InvitationTrigger::Manual)]);
        assert!(expired.periodic_due(now(), PARIS, Some(14), None).is_none());
    }
}
