//! Replaying history into a fresh store, and checking the live read models
//! against such a replay: the auditor's proof that every view is what the
//! events say, nothing more and nothing less.

use crate::{Projector, projector::ProjectionError};
use rdv_eventstore::{EventStore, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;

/// Events copied per batch.
const BATCH: i64 = 1_000;

/// The chain's documents follow batch boundaries, which differ between a
/// live projector and a replay; `rdv audit verify-chain` checks the chain.
const NOT_COMPARED: [&str; 1] = [crate::chain::NAME];

/// Copies the source's events after `after` up to `until` (inclusive) into
/// `target` as they are stored (personal data stays sealed: the target reads
/// it with the source's keys, so what the source forgot stays forgotten);
/// returns the last position copied and how many events.
async fn copy_feed(source: &EventStore, target: &EventStore, after: i64, until: i64) -> Result<(i64, u64), StoreError> {
    let (mut last, mut count) = (after, 0);
    loop {
        let (mut events, _) = source.stored_feed_of(last, BATCH, &[]).await?;
        events.retain(|e| e.position <= until);
        let Some(end) = events.last().map(|e| e.position) else {
            return Ok((last, count));
        };
        target.import(&events).await?;
        (last, count) = (end, count + events.len() as u64);
    }
}

/// Copies every event of `source` into the fresh `target` and builds every
/// projection there from position 0; returns the number of events.
pub async fn replay(source: &EventStore, target: &EventStore) -> Result<u64, ProjectionError> {
    if target.head().await? != 0 {
        return Err(StoreError::Corrupt("the replay target must be empty".into()).into());
    }
    let target = &target.clone().sharing_keys_of(source);
    let head = source.head().await?;
    let (_, count) = copy_feed(source, target, 0, head).await?;
    for projection in crate::all() {
        Projector::new(target.clone(), projection).catch_up().await?;
    }
    Ok(count)
}

/// A document that differs between the live store and the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub projection: &'static str,
    pub collection: String,
    pub id: String,
    /// (parent, document) on each side; none when the side lacks it.
    pub live: Option<(Option<String>, Value)>,
    pub replayed: Option<(Option<String>, Value)>,
}

/// Rebuilds each projection in the empty `scratch` store up to the live
/// projection's checkpoint and compares every document. Projections are
/// taken in checkpoint order, so the scratch feed only ever grows. Run it
/// on a quiet system (or a copy): live projectors moving meanwhile show as
/// differences.
pub async fn verify(live: &EventStore, scratch: &EventStore) -> Result<Vec<Difference>, ProjectionError> {
    let scratch = &scratch.clone().sharing_keys_of(live);
    let mut projections = Vec::new();
    for projection in crate::all().into_iter().filter(|p| !NOT_COMPARED.contains(&p.name())) {
        let (checkpoint, _) = live.checkpoint(projection.name()).await?;
        projections.push((checkpoint, projection));
    }
    projections.sort_by_key(|(checkpoint, _)| *checkpoint);
    let (mut copied, mut differences) = (0, Vec::new());
    for (checkpoint, projection) in projections {
        copied = copy_feed(live, scratch, copied, checkpoint).await?.0;
        let name = projection.name();
        Projector::new(scratch.clone(), projection).catch_up().await?;
        let index = |rows: Vec<(String, String, Option<String>, Value)>| {
            rows.into_iter()
                .map(|(c, i, p, d)| ((c, i), (p, d)))
                .collect::<BTreeMap<_, _>>()
        };
        let mut theirs = index(live.dump_projection(name).await?);
        for (key, replayed) in index(scratch.dump_projection(name).await?) {
            let live = theirs.remove(&key);
            if live.as_ref() != Some(&replayed) {
                differences.push(Difference {
                    projection: name,
                    collection: key.0,
                    id: key.1,
                    live,
                    replayed: Some(replayed),
                });
            }
        }
        differences.extend(theirs.into_iter().map(|((collection, id), live)| Difference {
            projection: name,
            collection,
            id,
            live: Some(live),
            replayed: None,
        }));
    }
    Ok(differences)
}
