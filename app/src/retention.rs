//! The retention job (RGPD): usagers with no activity for `RDV_RETENTION`
//! (two years by default) are forgotten, as an admin's
//! `POST /v1/usagers/{id}/forget` would ([`crate::rgpd::forget`]: their
//! key, their messages, and the disk scrubbed once per run). It reads the rgpd projection's
//! queue of usagers by last activity, only the part past the limit; it is
//! safe to run in several gateways and after a crash, since forgetting a
//! forgotten usager records nothing.

use crate::{
    context::Context,
    error::Error,
    rgpd::{forget, scrub_disk},
};
use rdv_domain::usager::ForgetReason;
use rdv_eventstore::{CommandContext, StoredResponse};
use rdv_projections::rgpd::{self, Inactive, RETENTION_QUEUE};
use tokio_util::sync::CancellationToken;

/// Queue entries read at once.
const PAGE: i64 = 200;

/// Forgets the usagers past the limit every `every`, until `shutdown`.
pub async fn run(state: Context, retention: chrono::Duration, every: std::time::Duration, shutdown: CancellationToken) {
    loop {
        match forget_inactive(&state, retention).await {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(forgotten, "usagers forgotten after the retention period"),
            Err(error) => tracing::warn!(?error, "retention job"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Forgets every usager whose last activity is older than `retention`;
/// returns how many were forgotten.
pub async fn forget_inactive(state: &Context, retention: chrono::Duration) -> Result<usize, Error> {
    let now = state.services().now();
    let below = rgpd::queue_instant(now - retention);
    let ctx = CommandContext::new("system:retention");
    // Every queue id sorts above the empty text.
    let (mut after, mut forgotten, mut last_position) = (String::new(), 0, None);
    loop {
        let page = state
            .store
            .docs_between(rgpd::NAME, RETENTION_QUEUE, (&after, &below), PAGE)
            .await?;
        let Some((last, _)) = page.last() else {
            if forgotten > 0 {
                scrub_disk(state, last_position).await?;
            }
            return Ok(forgotten);
        };
        after = last.clone();
        for (_, doc) in page {
            let inactive: Inactive = serde_json::from_value(doc).map_err(Error::internal)?;
            let usager = inactive.usager_id;
            let done = forget(state, &ctx, usager, ForgetReason::Retention, None, |_, _| {
                StoredResponse {
                    status: 200,
                    body: serde_json::Value::Null,
                }
            })
            .await;
            match done {
                Ok(outcome) if !outcome.events.is_empty() => {
                    forgotten += 1;
                    last_position = outcome.last_position();
                }
                Ok(_) | Err(Error::Domain(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
}
