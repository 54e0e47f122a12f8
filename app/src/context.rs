//! What every use case shares: the command service and the store, the
//! availability index for slot searches, the projectors running in this
//! process (for read-your-writes waits) and the public address links use.

use crate::error::Error;
use rdv_domain::{DomainError, Services, VersionedAggregate};
use rdv_eventstore::{CommandService, EventStore, codec::Decoder};
use rdv_projections::{ProjectorStatus, availability_index::AvailabilityIndex};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::watch;

/// How long a query with `min_position` waits for its projection.
pub const MIN_POSITION_WAIT: Duration = Duration::from_secs(5);

/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct Context {
    pub commands: CommandService,
    pub store: EventStore,
    /// The address of the pages links in messages open (`RDV_PUBLIC_URL`).
    pub public_url: String,
    /// Progress of the projectors running in this process.
    pub projectors: HashMap<&'static str, watch::Receiver<ProjectorStatus>>,
    /// Plages, absences and reserved time in memory, for slot searches.
    pub availability: Arc<AvailabilityIndex>,
    /// Seals and opens secrets at rest (webhook secrets, invitation tokens).
    pub master_key: rdv_eventstore::sealing::MasterKey,
    /// The feed's head when this process started: the index has the whole
    /// calendar once it reaches it.
    pub started_at_position: i64,
    /// Where messages sent to files are kept (`RDV_DATA_DIR/outbox`):
    /// erasing an usager deletes theirs.
    pub outbox_dir: std::path::PathBuf,
    /// Hosts webhooks may reach without the https and public-address rules
    /// (`RDV_WEBHOOK_ALLOW_HOSTS`).
    pub webhook_allow: rdv_webhook_relay::target::AllowList,
}

impl Context {
    /// An organisation that must exist (404 otherwise).
    pub async fn organisation(
        &self,
        id: rdv_domain::ids::OrganisationId,
    ) -> Result<rdv_domain::organisation::OrganisationState, Error> {
        let organisation = self
            .load::<rdv_domain::organisation::Organisation>(&id.to_string())
            .await?;
        organisation.0.ok_or_else(|| Error::not_found("organisation"))
    }

    /// An organisation that must exist (404), once the caller is checked
    /// to hold `permission` there (403): where most use cases start.
    pub async fn organisation_for(
        &self,
        caller: &crate::caller::Caller,
        permission: rdv_domain::rights::Permission,
        id: rdv_domain::ids::OrganisationId,
    ) -> Result<rdv_domain::organisation::OrganisationState, Error> {
        let organisation = self.organisation(id).await?;
        let place = crate::caller::Place::Organisation(id, organisation.territory_id);
        caller.require(permission, place)?;
        Ok(organisation)
    }

    pub fn services(&self) -> &Services {
        self.commands.services()
    }

    /// Loads an aggregate's current state straight from its stream: always
    /// consistent, used for rights checks and lookups before a command.
    pub async fn load<A: VersionedAggregate>(&self, id: &str) -> Result<A, Error> {
        Ok(self.store.load_aggregate::<A>(id).await?)
    }

    /// An aggregate as it stood at `as_of` (its events that occurred until
    /// then), or now when `as_of` is none: history answers "what was it then".
    pub async fn load_as_of<A: VersionedAggregate>(
        &self,
        id: &str,
        as_of: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<A, Error> {
        let events = self.store.load_stream(A::TYPE, id).await?;
        let until = events
            .iter()
            .take_while(|e| as_of.is_none_or(|at| e.metadata.occurred_at <= at))
            .count();
        Ok(Decoder::<A>::default().fold(&events[..until])?)
    }

    /// A document found by a key handed out by a recent write (a short link,
    /// a participation id): when absent, waits for the projection to reach
    /// the feed's head and looks once more.
    pub async fn recent_doc(
        &self,
        projection: &'static str,
        collection: &str,
        id: &str,
    ) -> Result<Option<serde_json::Value>, Error> {
        if let Some(doc) = self.store.doc(projection, collection, id).await? {
            return Ok(Some(doc));
        }
        self.wait_for(projection, Some(self.store.head().await?)).await?;
        Ok(self.store.doc(projection, collection, id).await?)
    }

    /// Waits until projection `name` has applied the feed up to `min`
    /// (read-your-writes), at most [`MIN_POSITION_WAIT`]; then 503.
    pub async fn wait_for(&self, name: &str, min: Option<i64>) -> Result<(), Error> {
        let Some(min) = min else { return Ok(()) };
        self.check_position(min).await?;
        let deadline = tokio::time::Instant::now() + MIN_POSITION_WAIT;
        match self.projectors.get(name) {
            Some(status) => {
                let mut status = status.clone();
                let reached = tokio::time::timeout_at(
                    deadline,
                    status.wait_for(|s| s.position() >= min || matches!(s, ProjectorStatus::Failed(..))),
                )
                .await;
                match reached {
                    Ok(Ok(s)) if s.position() >= min => Ok(()),
                    Ok(Ok(s)) => Err(Error::NotReady(format!(
                        "projection {name} stopped at position {}",
                        s.position()
                    ))),
                    _ => Err(not_reached(name, min)),
                }
            }
            // Another process projects: follow its checkpoint in the store.
            None => loop {
                if self.store.checkpoint(name).await?.0 >= min {
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(not_reached(name, min));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            },
        }
    }
}

impl Context {
    /// Waits (at most [`MIN_POSITION_WAIT`]) until the availability index has
    /// applied the feed up to `min` and, in any case, up to where the feed
    /// stood when the process started (a search never sees half a calendar).
    pub async fn wait_for_availability(&self, min: Option<i64>) -> Result<(), Error> {
        if let Some(min) = min {
            self.check_position(min).await?;
        }
        let min = min.unwrap_or(0).max(self.started_at_position);
        let mut position = self.availability.position();
        if *position.borrow() < min {
            self.availability.hurry();
        }
        let reached = tokio::time::timeout(MIN_POSITION_WAIT, position.wait_for(|p| *p >= min)).await;
        match (reached, self.availability.failure()) {
            (Ok(Ok(_)), _) => Ok(()),
            (_, Some(failure)) => Err(Error::NotReady(format!("availability index stopped: {failure}"))),
            _ => Err(not_reached("availability", min)),
        }
    }
}

impl Context {
    /// A `min_position` no event holds yet was never answered to anyone:
    /// 422 at once rather than a wait ending in 503. Positions already
    /// reached by the projections cost no query.
    async fn check_position(&self, min: i64) -> Result<(), Error> {
        let reached = self
            .projectors
            .values()
            .map(|s| s.borrow().position())
            .max()
            .unwrap_or(0);
        if min <= reached.max(*self.availability.position().borrow()) {
            return Ok(());
        }
        let last = self.store.last_written().await?;
        if min > last {
            return Err(DomainError::invalid(
                "min_position",
                format!("no event has this position yet (the last written is {last})"),
            )
            .into());
        }
        Ok(())
    }
}

fn not_reached(name: &str, min: i64) -> Error {
    Error::NotReady(format!(
        "projection {name} has not reached position {min} yet; retry shortly"
    ))
}
