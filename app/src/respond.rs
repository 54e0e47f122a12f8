//! How a use case hands its result to its caller: the caller shapes the
//! answer stored with the commit (so that an idempotent replay gives the
//! same bytes), the use case decides what happens. Also [`change_one`],
//! the unit of work of every use case that touches a single record.

use crate::{Context, Error};
use rdv_domain::{DomainError, Services, VersionedAggregate};
use rdv_eventstore::{CommandContext, CommandError, CommandOutcome, CommitSummary, StoredResponse};

/// Shapes the stored answer of a command from its result `T` and the
/// commit. The gateway builds its JSON bodies with it; a test or a CLI can
/// pass any closure.
pub trait Respond<T>: Fn(&T, &CommitSummary<'_>) -> StoredResponse + Send + Sync {}

impl<T, F> Respond<T> for F where F: Fn(&T, &CommitSummary<'_>) -> StoredResponse + Send + Sync {}

/// The record a command changed, for the caller's answer: its aggregate
/// type and id (the answer gives its new version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub aggregate_type: &'static str,
    pub id: String,
}

impl Changed {
    pub fn of<A: VersionedAggregate>(id: impl ToString) -> Self {
        Self {
            aggregate_type: A::TYPE,
            id: id.to_string(),
        }
    }
}

/// Runs one command on one aggregate's stream (at version `if_match` when
/// given, 412 otherwise) and answers with `changed`, which names the
/// record for the caller's answer.
pub(crate) async fn change_one<A, T>(
    app: &Context,
    command: &CommandContext,
    stream: &str,
    change: A::Command,
    if_match: Option<i64>,
    changed: T,
    respond: impl Respond<T>,
) -> Result<CommandOutcome, Error>
where
    A: VersionedAggregate<Error = DomainError, Services = Services>,
    A::Command: Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    let outcome = app
        .commands
        .run(
            command,
            |unit| {
                let (stream, change, changed) = (stream.to_string(), change.clone(), changed.clone());
                Box::pin(async move {
                    unit.handle_expecting::<A>(&stream, change, if_match).await?;
                    Ok::<_, CommandError>(changed)
                })
            },
            respond,
        )
        .await?;
    Ok(outcome)
}

/// [`change_one`] for a record named by its id, answering [`Changed`].
pub(crate) async fn change_record<A>(
    app: &Context,
    command: &CommandContext,
    id: impl ToString,
    change: A::Command,
    if_match: Option<i64>,
    respond: impl Respond<Changed>,
) -> Result<CommandOutcome, Error>
where
    A: VersionedAggregate<Error = DomainError, Services = Services>,
    A::Command: Clone + Send + Sync + 'static,
{
    let changed = Changed::of::<A>(id.to_string());
    let stream = changed.id.clone();
    change_one::<A, _>(app, command, &stream, change, if_match, changed, respond).await
}
