//! The right to erasure. [`ForgetUsager`] (an organisation admin's) and
//! the retention job ([`crate::retention`]) forget an usager the same way,
//! through [`forget`]: the usager's data key is destroyed, so every event
//! about them reads with the personal fields erased (the rest of the
//! history stays and verifies); read models drop them, the messages sent
//! to them are deleted from the outbox directory, and then
//! [`scrub_disk`] makes sure no freed page or log of the database still
//! holds their fields in clear.

use crate::{
    Context, Error,
    caller::Caller,
    respond::{Changed, Respond, change_record},
    usagers::visible_usager,
};
use rdv_domain::{
    ids::UsagerId,
    rights::Permission,
    usager::{ForgetReason, Usager, UsagerCommand},
};
use rdv_eventstore::{CommandContext, CommandOutcome};

/// An organisation admin forgets an usager for good; forgetting twice
/// changes nothing. SIs get a `destroyed` webhook with
/// `webhook_reason: "rgpd"`. It returns once the key is destroyed and the
/// disk scrubbed.
#[derive(Debug, Clone)]
pub struct ForgetUsager {
    pub usager_id: UsagerId,
    pub if_match: Option<i64>,
}

impl ForgetUsager {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let (_, organisation_id) = visible_usager(app, caller, self.usager_id).await?;
        app.organisation_for(caller, Permission::ForgetUsager, organisation_id)
            .await?;
        let reason = ForgetReason::Request;
        let outcome = forget(app, command, self.usager_id, reason, self.if_match, respond).await?;
        scrub_disk(app, outcome.last_position()).await?;
        Ok(outcome)
    }
}

/// Destroys the usager's key and deletes the messages sent to them. The
/// caller scrubs the disk afterwards ([`scrub_disk`]), once for a batch.
pub async fn forget(
    app: &Context,
    command: &CommandContext,
    usager_id: UsagerId,
    reason: ForgetReason,
    if_match: Option<i64>,
    respond: impl Respond<Changed>,
) -> Result<CommandOutcome, Error> {
    let messages = app.store.outbox_ids_of(&usager_id.to_string()).await?;
    let forget = UsagerCommand::ForgetUsager { reason };
    let outcome = change_record::<Usager>(app, command, usager_id, forget, if_match, respond).await?;
    for id in messages {
        for extension in ["eml", "sms"] {
            // Absent when sent by SMTP or a gateway, or not sent yet.
            let _ = tokio::fs::remove_file(app.outbox_dir.join(format!("{id}.{extension}"))).await;
        }
    }
    Ok(outcome)
}

/// Waits until the read models have dropped what was forgotten up to
/// `position` (the rgpd projection, and every projection running in this
/// process: a page one of them rewrites after the scrub would keep its old
/// image in the database file until the next checkpoint), then has the
/// store overwrite freed pages and truncate its log, where erased fields
/// could still be read.
pub async fn scrub_disk(app: &Context, position: Option<i64>) -> Result<(), Error> {
    app.wait_for(rdv_projections::rgpd::NAME, position).await?;
    for name in app.projectors.keys() {
        app.wait_for(name, position).await?;
    }
    app.store.scrub_erased().await?;
    Ok(())
}
