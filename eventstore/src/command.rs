//! The command service: load → handle → append, retried on conflict.
//!
//! cqrs-es's `CqrsFramework` neither retries on `AggregateConflict` nor
//! returns the new events, and it cannot append to two aggregates at once.
//! This service keeps cqrs-es's `Aggregate::handle`/`apply` and does the rest
//! itself: a [`UnitOfWork`] handles commands on one or more aggregates and
//! appends all their events in one transaction, each stream at the version it
//! was loaded at. A concurrent writer makes the append fail; the whole unit
//! runs again on fresh state, a bounded number of times.

use crate::{codec, error::StoreError, model::*, snapshots::StreamTail, store::EventStore};
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use futures::future::BoxFuture;
use rdv_domain::{DomainError, Services, VersionedAggregate};
use std::{collections::HashMap, time::Duration};
use uuid::Uuid;

/// How many times a unit of work runs before a conflict is reported.
pub const MAX_ATTEMPTS: u32 = 8;

/// Who sends the command and why; becomes each event's metadata.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub actor: String,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub idempotency: Option<IdempotencyClaim>,
}

impl CommandContext {
    pub fn new(actor: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            idempotency: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// `If-Match` named a version the aggregate has moved past.
    #[error("{aggregate_type} {aggregate_id} is at version {actual}, not {expected}")]
    PreconditionFailed {
        aggregate_type: String,
        aggregate_id: String,
        expected: i64,
        actual: i64,
    },
    /// Still conflicting after [`MAX_ATTEMPTS`] runs.
    #[error("too many concurrent changes; try again")]
    Conflict,
    /// The idempotency key was first used with another request body.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The version each touched stream is at after the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamVersion {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub version: i64,
}

/// What a response builder sees of a commit.
#[derive(Debug)]
pub struct CommitSummary<'a> {
    pub streams: &'a [StreamVersion],
    pub events: &'a [CommittedEvent],
}

impl CommitSummary<'_> {
    /// The version of one stream after the command (its loaded version if
    /// the command changed nothing).
    pub fn version_of(&self, aggregate_type: &str, aggregate_id: &str) -> i64 {
        self.streams
            .iter()
            .find(|s| s.aggregate_type == aggregate_type && s.aggregate_id == aggregate_id)
            .map_or(0, |s| s.version)
    }
}

/// The result of a command, new or replayed from its idempotency key.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    pub response: StoredResponse,
    pub events: Vec<CommittedEvent>,
    /// True when the response is the one saved under the idempotency key.
    pub replayed: bool,
}

impl CommandOutcome {
    /// The position of the last event written, for `X-Event-Position`.
    pub fn last_position(&self) -> Option<i64> {
        self.events.last().map(|e| e.position)
    }
}

/// Runs commands against the store.
#[derive(Debug, Clone)]
pub struct CommandService {
    store: EventStore,
    services: Services,
}

impl CommandService {
    pub fn new(store: EventStore, services: Services) -> Self {
        Self { store, services }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Runs `work` in a unit of work and commits it; on a conflict, runs it
    /// again on fresh state. `respond` builds the answer (also the one saved
    /// under the idempotency key) from the value `work` returned and the commit.
    pub async fn run<T, W, R>(
        &self,
        ctx: &CommandContext,
        mut work: W,
        respond: R,
    ) -> Result<CommandOutcome, CommandError>
    where
        W: for<'u> FnMut(&'u mut UnitOfWork<'_>) -> BoxFuture<'u, Result<T, CommandError>>,
        R: Fn(&T, &CommitSummary<'_>) -> StoredResponse + Send + Sync,
        T: Send + Sync,
    {
        if let Some(replayed) = self.replay(ctx).await? {
            return Ok(replayed);
        }
        for attempt in 1..=MAX_ATTEMPTS {
            let mut unit = UnitOfWork {
                service: self,
                ctx,
                loaded: Vec::new(),
                attempt,
                cache: HashMap::new(),
                request: AppendRequest::default(),
            };
            let value = work(&mut unit).await?;
            let UnitOfWork { loaded, request, .. } = unit;
            let versions: Vec<StreamVersion> = loaded
                .into_iter()
                .map(|(aggregate_type, aggregate_id, loaded_version)| {
                    let added = request
                        .streams
                        .iter()
                        .find(|s| s.aggregate_type == aggregate_type && s.aggregate_id == aggregate_id)
                        .map_or(0, |s| s.events.len() as i64);
                    StreamVersion {
                        aggregate_type,
                        aggregate_id,
                        version: loaded_version + added,
                    }
                })
                .collect();
            let responder = |events: &[CommittedEvent]| {
                respond(
                    &value,
                    &CommitSummary {
                        streams: &versions,
                        events,
                    },
                )
            };
            let claim = ctx.idempotency.as_ref().map(|c| (c, &responder as &Responder<'_>));
            match self.store.append(&request, claim).await {
                Ok(events) => {
                    let response = responder(&events);
                    return Ok(CommandOutcome {
                        response,
                        events,
                        replayed: false,
                    });
                }
                Err(StoreError::IdempotencyRace) => {
                    if let Some(replayed) = self.replay(ctx).await? {
                        return Ok(replayed);
                    }
                }
                Err(e) if e.is_conflict() => {
                    tracing::debug!(attempt, error = %e, "conflict, running the command again");
                    if attempt < MAX_ATTEMPTS {
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommandError::Conflict)
    }

    /// The saved answer for the context's idempotency key, if it was used.
    async fn replay(&self, ctx: &CommandContext) -> Result<Option<CommandOutcome>, CommandError> {
        let Some(claim) = &ctx.idempotency else { return Ok(None) };
        match self.store.idempotency(&claim.scope, &claim.key).await? {
            Some(record) if record.request_hash == claim.request_hash => Ok(Some(CommandOutcome {
                response: record.response,
                events: Vec::new(),
                replayed: true,
            })),
            Some(_) => Err(CommandError::IdempotencyMismatch),
            None => Ok(None),
        }
    }
}

/// A few milliseconds, growing with the attempt, with jitter so racing
/// writers do not collide again in lockstep.
fn backoff(attempt: u32) -> Duration {
    let jitter = Uuid::now_v7().as_u128() as u64 % 5;
    Duration::from_millis(u64::from(attempt) * 2 + jitter)
}

/// The commands of one request, appended together.
pub struct UnitOfWork<'s> {
    service: &'s CommandService,
    ctx: &'s CommandContext,
    /// (type, id, version) of every stream handled, in order.
    loaded: Vec<(String, String, i64)>,
    /// 1 on the first run of the unit, 2 on its first retry, and so on.
    attempt: u32,
    /// Streams read in this unit, by (type, id).
    cache: HashMap<(String, String), StreamTail>,
    request: AppendRequest,
}

impl UnitOfWork<'_> {
    pub fn now(&self) -> DateTime<Utc> {
        self.service.services.now()
    }

    pub fn services(&self) -> &Services {
        &self.service.services
    }

    /// Loads an aggregate and its version as stored (without this unit's
    /// pending events). Loading alone does not guard the stream: use it to
    /// read what a command depends on; a stream read twice in one unit is
    /// fetched once.
    pub async fn load<A: VersionedAggregate>(&mut self, id: &str) -> Result<(A, i64), CommandError> {
        let key = (A::TYPE.to_string(), id.to_string());
        // The first load of a stream in the unit may store a snapshot.
        let first = !self.cache.contains_key(&key);
        if first {
            let tail = self.service.store.load_tail::<A>(id).await?;
            self.cache.insert(key.clone(), tail);
        }
        Ok(self.service.store.fold_tail::<A>(id, &self.cache[&key], first).await?)
    }

    /// An aggregate as this unit sees it now: stored events plus the events
    /// this unit already produced for it.
    pub async fn current<A: VersionedAggregate>(&mut self, id: &str) -> Result<A, CommandError> {
        Ok(self.with_pending::<A>(id).await?.0)
    }

    /// The aggregate with this unit's pending events applied, its stored
    /// version, and the index of its pending append if any.
    async fn with_pending<A: VersionedAggregate>(&mut self, id: &str) -> Result<(A, i64, Option<usize>), CommandError> {
        let (mut aggregate, version) = self.load::<A>(id).await?;
        let pending = self
            .request
            .streams
            .iter()
            .position(|s| s.aggregate_type == A::TYPE && s.aggregate_id == id);
        if let Some(index) = pending {
            let decoder = codec::Decoder::<A>::default();
            for (i, event) in self.request.streams[index].events.iter().enumerate() {
                aggregate.apply(decoder.decode(&StoredEvent {
                    position: 0,
                    aggregate_type: A::TYPE.into(),
                    aggregate_id: id.into(),
                    sequence: version + i as i64 + 1,
                    event_type: event.event_type.clone(),
                    event_version: event.event_version.clone(),
                    payload: event.payload.clone(),
                    metadata: event.metadata.clone(),
                })?);
            }
        }
        Ok((aggregate, version, pending))
    }

    /// Handles a command on an aggregate; its events are appended on commit
    /// only if nobody else wrote to the stream meanwhile.
    pub async fn handle<A>(&mut self, id: &str, command: A::Command) -> Result<Vec<A::Event>, CommandError>
    where
        A: VersionedAggregate<Error = DomainError, Services = Services>,
    {
        self.handle_expecting::<A>(id, command, None).await
    }

    /// As [`Self::handle`], but fails with `PreconditionFailed` unless the
    /// aggregate is at `expected` (the `If-Match` header).
    pub async fn handle_expecting<A>(
        &mut self,
        id: &str,
        command: A::Command,
        expected: Option<i64>,
    ) -> Result<Vec<A::Event>, CommandError>
    where
        A: VersionedAggregate<Error = DomainError, Services = Services>,
    {
        let (mut aggregate, version, pending) = self.with_pending::<A>(id).await?;
        if let Some(expected) = expected.filter(|e| *e != version) {
            return Err(CommandError::PreconditionFailed {
                aggregate_type: A::TYPE.into(),
                aggregate_id: id.into(),
                expected,
                actual: version,
            });
        }
        let sink = EventSink::default();
        aggregate.handle(command, &self.service.services, &sink).await?;
        let events = sink.collect().await;
        let occurred_at = self.now();
        let mut new_events = Vec::with_capacity(events.len());
        for event in &events {
            let (event_type, event_version, payload) = codec::encode::<A>(event)?;
            new_events.push(NewEvent {
                event_type,
                event_version,
                payload,
                metadata: EventMetadata {
                    event_id: Uuid::now_v7(),
                    occurred_at,
                    actor: self.ctx.actor.clone(),
                    correlation_id: self.ctx.correlation_id,
                    causation_id: self.ctx.causation_id,
                    idempotency_key: self.ctx.idempotency.as_ref().map(|c| c.key.clone()),
                },
            });
        }
        if !self.loaded.iter().any(|(t, i, _)| t == A::TYPE && i == id) {
            self.loaded.push((A::TYPE.into(), id.into(), version));
        }
        if let Some(index) = pending {
            self.request.streams[index].events.extend(new_events);
        } else if !new_events.is_empty() {
            self.request.streams.push(StreamAppend {
                aggregate_type: A::TYPE.into(),
                aggregate_id: id.into(),
                expected_version: version,
                events: new_events,
            });
        }
        Ok(events)
    }

    /// Declares that a stream was just given a fresh id (UUIDv7) and so has
    /// no events: handling a command on it then needs no read. The append
    /// still checks it, so a wrong claim is a conflict, not a corruption.
    pub fn new_stream<A: VersionedAggregate>(&mut self, id: &str) {
        self.cache
            .insert((A::TYPE.to_string(), id.to_string()), StreamTail::empty());
    }

    /// On the first run only, presumes a stream is still empty without
    /// reading it (an e-mail never invited before, say). If it was not, the
    /// append conflicts and the retry reads it: one read saved in the common
    /// case, one retry paid in the rare one.
    pub fn presume_new<A: VersionedAggregate>(&mut self, id: &str) {
        if self.attempt == 1 {
            self.new_stream::<A>(id);
        }
    }

    /// Queues a message, written with the events and sent after commit.
    pub fn send(&mut self, message: OutboxMessage) {
        self.request.outbox.push(message);
    }
}

/// Runs one command on one aggregate; the common case.
impl CommandService {
    pub async fn execute<A, R>(
        &self,
        ctx: &CommandContext,
        id: &str,
        command: A::Command,
        if_match: Option<i64>,
        respond: R,
    ) -> Result<CommandOutcome, CommandError>
    where
        A: VersionedAggregate<Error = DomainError, Services = Services>,
        A::Command: Clone + Send + Sync + 'static,
        R: Fn(&(), &CommitSummary<'_>) -> StoredResponse + Send + Sync,
    {
        self.run(
            ctx,
            |unit| {
                let (id, command) = (id.to_string(), command.clone());
                Box::pin(async move { unit.handle_expecting::<A>(&id, command, if_match).await.map(|_| ()) })
            },
            respond,
        )
        .await
    }
}
