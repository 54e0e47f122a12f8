//! The reminder scheduler: 48 h before an RDV its usagers get a reminder
//! (RDV Service Public's `send_reminder` job). Each reminder is a
//! `ReminderSent` event written with its outbox messages in one transaction,
//! and the `Rdv` aggregate refuses a second one for the same start: a
//! restart, a retry or several gateways running the scheduler never send a
//! reminder twice, and none is lost while the process was down (due
//! reminders are picked up on the next tick).

use crate::{
    context::Context,
    error::Error,
    notifications::RdvNotice,
    rdv_notices::{notice_context, notify_all},
};
use chrono::Duration;
use rdv_domain::{
    ErrorKind,
    ids::RdvId,
    rdv::{Rdv, RdvCommand, RdvEvent},
};
use rdv_eventstore::{CommandContext, CommandError, StoredResponse};
use rdv_projections::rdvs::{self, ReminderDoc, reminder_day};
use tokio_util::sync::CancellationToken;

/// Sends the reminders due now, every `every`, until `shutdown`.
pub async fn run(state: Context, every: std::time::Duration, shutdown: CancellationToken) {
    loop {
        match send_due(&state).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "reminders sent"),
            Err(error) => tracing::warn!(?error, "reminder scheduler"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Sends every reminder due by now for an RDV not yet started; returns how
/// many were sent. Reminders due more than two days ago belong to RDVs that
/// have started, so only the last three due days are read.
pub async fn send_due(state: &Context) -> Result<usize, Error> {
    let now = state.services().now();
    let mut sent = 0;
    for back in (0..3).rev() {
        let day = (now - Duration::days(back)).date_naive();
        let docs = state
            .store
            .docs(rdvs::NAME, rdvs::REMINDERS, &reminder_day(day))
            .await?;
        for doc in docs
            .into_iter()
            .filter_map(|d| serde_json::from_value::<ReminderDoc>(d).ok())
        {
            if doc.due <= now && doc.starts_at > now && remind(state, RdvId(doc.rdv_id)).await? {
                sent += 1;
            }
        }
    }
    Ok(sent)
}

/// Sends one RDV's reminder; `false` when it needs none any more (sent by
/// another worker, cancelled, moved or started meanwhile).
async fn remind(state: &Context, rdv_id: RdvId) -> Result<bool, Error> {
    let id = rdv_id.to_string();
    let Some(rdv) = state.load::<Rdv>(&id).await?.0 else {
        return Ok(false);
    };
    let notice = notice_context(state, &rdv.booking).await?;
    let usagers = rdv.active_participants();
    let ctx = CommandContext::new("system:reminders");
    let outcome = state
        .commands
        .run(
            &ctx,
            |unit| {
                let (id, usagers, notice) = (id.clone(), usagers.clone(), notice.clone());
                Box::pin(async move {
                    // The reminder is for the start its event records.
                    for event in unit.handle::<Rdv>(&id, RdvCommand::SendReminder).await? {
                        if let RdvEvent::ReminderSent { starts_at } = event {
                            notify_all(
                                unit,
                                &notice,
                                RdvNotice::Reminder,
                                usagers.clone(),
                                starts_at,
                                None,
                                true,
                            )
                            .await?;
                        }
                    }
                    Ok::<_, CommandError>(())
                })
            },
            |_, _| StoredResponse {
                status: 200,
                body: serde_json::Value::Null,
            },
        )
        .await;
    match outcome {
        Ok(_) => Ok(true),
        Err(CommandError::Domain(e)) if e.kind == ErrorKind::Conflict => Ok(false),
        Err(e) => Err(e.into()),
    }
}
