//! rdv-insertion's daily jobs, each at its local hour in every organisation
//! that configured a category: convocation reminders (10:00), invitation
//! reminders (11:00) and periodic invites (14:00). A job runs once per
//! organisation and local day: its completion is a `DailyRun` event, and
//! a run cut short by a crash runs again, its follow-up rules making the
//! repeat write nothing (see [`rdv_domain::follow_up::daily`]).

use crate::{
    context::Context,
    error::Error,
    follow_ups::{category_of, help_phone, send_notice},
    insertion_messages::{self, InvitationWording, reachable, short_link},
    tokens,
};
use chrono::{Duration, NaiveTime};
use rdv_domain::{
    category::{CategoryState, InvitationFormat},
    daily_run::{DailyRun, DailyRunCommand},
    follow_up::{FollowUp, FollowUpCommand, FollowUpEvent, InvitationTrigger, NoticeEvent, sms_and_email},
    ids::{FollowUpId, OrganisationId},
    motif::Motif,
    organisation::{Organisation, OrganisationState},
    rdv::Rdv,
    usager::Usager,
};
use rdv_eventstore::{CommandContext, CommandError, StoredResponse, UnitOfWork};
use rdv_projections::follow_ups::{self, LISTED, Listing};
use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

/// A daily job and its local hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    ConvocationReminders,
    InvitationReminders,
    PeriodicInvites,
}

impl Job {
    const ALL: [Job; 3] = [
        Job::ConvocationReminders,
        Job::InvitationReminders,
        Job::PeriodicInvites,
    ];

    fn name(self) -> &'static str {
        match self {
            Job::ConvocationReminders => "convocation_reminders",
            Job::InvitationReminders => "invitation_reminders",
            Job::PeriodicInvites => "periodic_invites",
        }
    }

    /// rdv-insertion's `config/schedule.yml` hours, local time.
    fn hour(self) -> u32 {
        match self {
            Job::ConvocationReminders => 10,
            Job::InvitationReminders => 11,
            Job::PeriodicInvites => 14,
        }
    }
}

/// Runs the due jobs every `every`, until `shutdown`.
pub async fn run(state: Context, every: std::time::Duration, shutdown: CancellationToken) {
    loop {
        match run_due(&state).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "insertion daily jobs"),
            Err(error) => tracing::warn!(?error, "insertion daily jobs"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Runs every job whose hour has come today in each organisation and that
/// has not run there today; returns how many follow-ups were written.
pub async fn run_due(state: &Context) -> Result<usize, Error> {
    let mut by_organisation: BTreeMap<OrganisationId, Vec<CategoryState>> = BTreeMap::new();
    for category in follow_ups::configured(&state.store).await? {
        by_organisation
            .entry(category.organisation_id)
            .or_default()
            .push(category);
    }
    let mut written = 0;
    for (organisation_id, categories) in by_organisation {
        let Some(organisation) = state.load::<Organisation>(&organisation_id.to_string()).await?.0 else {
            continue;
        };
        let local = state.services().now().with_timezone(&organisation.timezone.0);
        for job in Job::ALL {
            let hour = NaiveTime::from_hms_opt(job.hour(), 0, 0).unwrap_or_default();
            if local.time() < hour {
                continue;
            }
            let run_id = DailyRun::stream_id(job.name(), organisation_id, local.date_naive());
            if state.load::<DailyRun>(&run_id).await?.is_done() {
                continue;
            }
            for category in &categories {
                written += run_job(state, job, &organisation, category).await?;
            }
            let ctx = CommandContext::new(format!("system:{}", job.name()));
            let done = state
                .commands
                .execute::<DailyRun, _>(&ctx, &run_id, DailyRunCommand::CompleteRun, None, |_, _| {
                    StoredResponse {
                        status: 200,
                        body: serde_json::Value::Null,
                    }
                })
                .await;
            match done {
                Ok(_) | Err(CommandError::Domain(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(written)
}

/// Rows read per page of follow-ups.
const PAGE: i64 = 500;

/// One job over an organisation's follow-ups of one category.
async fn run_job(
    state: &Context,
    job: Job,
    organisation: &OrganisationState,
    category: &CategoryState,
) -> Result<usize, Error> {
    let settings = &category.settings;
    let skip = match job {
        Job::InvitationReminders => settings.optional_rdv_subscription,
        Job::PeriodicInvites => {
            settings.number_of_days_between_periodic_invites.is_none()
                && settings.day_of_the_month_periodic_invites.is_none()
        }
        Job::ConvocationReminders => !settings.convene_user,
    };
    if skip {
        return Ok(0);
    }
    let listing = Listing::of(category.organisation_id, &category.short_name);
    let zone = organisation.timezone.0;
    let mut after: Option<String> = None;
    let mut written = 0;
    loop {
        let (from, to) = listing.range(after.as_deref(), None);
        let page = state
            .store
            .docs_between(follow_ups::NAME, LISTED, (&from, &to), PAGE)
            .await?;
        let full = page.len() as i64 == PAGE;
        for (entry, doc) in follow_ups::with_state(&state.store, &listing, category.organisation_id, &page).await? {
            after = Some(entry);
            let now = state.services().now();
            let due = match job {
                Job::InvitationReminders => doc.state.reminder_due(now, zone).is_some(),
                Job::PeriodicInvites => doc
                    .state
                    .periodic_due(
                        now,
                        zone,
                        settings.number_of_days_between_periodic_invites,
                        settings.day_of_the_month_periodic_invites,
                    )
                    .is_some(),
                Job::ConvocationReminders => !doc.state.convocation_reminders_due(now, zone).is_empty(),
            };
            if due && apply(state, job, organisation, category, doc.id).await? {
                written += 1;
            }
        }
        if !full {
            return Ok(written);
        }
    }
}

/// Applies a job to one follow-up in its own unit, on fresh state; whether
/// it wrote anything.
async fn apply(
    state: &Context,
    job: Job,
    organisation: &OrganisationState,
    category: &CategoryState,
    follow_up_id: FollowUpId,
) -> Result<bool, Error> {
    let ctx = CommandContext::new(format!("system:{}", job.name()));
    // A periodic invite's new link (reminders keep the first one's).
    let code = match job {
        Job::PeriodicInvites => tokens::unused_short_code(&state.store, &[], tokens::new_short_code).await?,
        _ => String::new(),
    };
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let (organisation, category) = (organisation.clone(), category.clone());
                let (public_url, code) = (state.public_url.clone(), code.clone());
                Box::pin(async move {
                    match job {
                        Job::ConvocationReminders => {
                            remind_convocations(unit, &category, follow_up_id, &organisation).await
                        }
                        _ => {
                            let target = (follow_up_id, code);
                            invite_again(unit, job, (&category, &organisation), target, &public_url).await
                        }
                    }
                })
            },
            |_, _| StoredResponse {
                status: 200,
                body: serde_json::Value::Null,
            },
        )
        .await?;
    Ok(!outcome.events.is_empty())
}

async fn remind_convocations(
    unit: &mut UnitOfWork<'_>,
    category: &CategoryState,
    follow_up_id: FollowUpId,
    organisation: &OrganisationState,
) -> Result<(), CommandError> {
    let follow_up = unit.current::<FollowUp>(&follow_up_id.to_string()).await?;
    let follow_up = follow_up.state()?.clone();
    let due: Vec<_> = follow_up
        .convocation_reminders_due(unit.now(), organisation.timezone.0)
        .into_iter()
        .map(|p| p.rdv_id)
        .collect();
    for rdv_id in due {
        let rdv = unit.current::<Rdv>(&rdv_id.to_string()).await?;
        let rdv = rdv.state()?.clone();
        let (motif, _) = unit.load::<Motif>(&rdv.booking.motif_id.to_string()).await?;
        let motif = motif.state()?.clone();
        if category_of(unit, rdv.booking.organisation_id, &motif).await?.is_none() {
            continue;
        }
        let event = NoticeEvent::ParticipationReminder;
        send_notice(unit, category, &motif, (rdv_id, &rdv), follow_up.usager_id, event).await?;
    }
    Ok(())
}

/// An invitation reminder (same link, token and deadline, by SMS and/or
/// e-mail) or a periodic invite (same format, a new link, by `code`, and
/// deadline).
async fn invite_again(
    unit: &mut UnitOfWork<'_>,
    job: Job,
    (category, organisation): (&CategoryState, &OrganisationState),
    (follow_up_id, code): (FollowUpId, String),
    public_url: &str,
) -> Result<(), CommandError> {
    let stream = follow_up_id.to_string();
    let follow_up = unit.current::<FollowUp>(&stream).await?;
    let follow_up = follow_up.state()?.clone();
    let usager = unit.current::<Usager>(&follow_up.usager_id.to_string()).await?;
    let usager = usager.state()?;
    if usager.archived_at.is_some() {
        return Ok(());
    }
    let usager = usager.profile.clone();
    let (now, zone, settings) = (unit.now(), organisation.timezone.0, &category.settings);
    let (invitations, trigger) = match job {
        Job::InvitationReminders => {
            let Some(first) = follow_up.reminder_due(now, zone) else {
                return Ok(());
            };
            let formats = sms_and_email()
                .intersection(&reachable(&usager))
                .filter(|f| settings.invitation_formats.contains(f))
                .map(|f| first.copy(*f, first.code.clone(), first.valid_until))
                .collect::<Vec<_>>();
            (formats, InvitationTrigger::Reminder)
        }
        _ => {
            let every = settings.number_of_days_between_periodic_invites;
            let Some(last) = follow_up.periodic_due(now, zone, every, settings.day_of_the_month_periodic_invites)
            else {
                return Ok(());
            };
            let valid_until = now + Duration::days(settings.number_of_days_before_action_required.into());
            (
                vec![last.copy(last.format, code, valid_until)],
                InvitationTrigger::Periodic,
            )
        }
    };
    let command = FollowUpCommand::SendFollowUpInvitation { invitations, trigger };
    let phone = help_phone(category, organisation).unwrap_or_default();
    for event in unit.handle::<FollowUp>(&stream, command).await? {
        let FollowUpEvent::UsagerInvited { invitation } = event else {
            continue;
        };
        let days_left = (trigger == InvitationTrigger::Reminder).then(|| (invitation.valid_until - now).num_days());
        let wording = InvitationWording::of(category, organisation, &phone, days_left);
        let link = short_link(public_url, &invitation.code);
        if invitation.format != InvitationFormat::Postal
            && let Some(message) = insertion_messages::invitation(invitation.format, &usager, &wording, &link)
        {
            unit.send(message.about(follow_up.usager_id));
        }
    }
    Ok(())
}
