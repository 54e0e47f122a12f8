//! The auditors' reads: [`ReadRecordHistory`] (every event of a record)
//! and [`ReadAuditFeed`] (a territory's events filtered by time, actor and
//! type, page by page). An auditor holds the `audit` right in a territory
//! (territorial admins and the platform admin may audit too); a record
//! outside the caller's territories is a 404, as a missing one.

use crate::{
    Context, Error,
    audit::{FeedEvent, territories_of},
    caller::{Caller, Place},
};
use chrono::{DateTime, Utc};
use rdv_domain::{DomainError, ids::TerritoryId, rights::Permission};
use rdv_eventstore::StoredEvent;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Every event of a record, oldest first, with its metadata.
#[derive(Debug, Clone)]
pub struct ReadRecordHistory {
    pub aggregate_type: String,
    pub id: String,
}

impl ReadRecordHistory {
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<Vec<FeedEvent>, Error> {
        let events = app.store.load_stream(&self.aggregate_type, &self.id).await?;
        let visible = caller.is_platform_admin() || {
            let territories = territories_of(&app.store, &self.aggregate_type, &self.id).await?;
            territories
                .into_iter()
                .any(|t| caller.may(Permission::Audit, Place::Territory(t)))
        };
        if events.is_empty() || !visible {
            return Err(Error::not_found("record"));
        }
        Ok(events.iter().cloned().map(FeedEvent::from).collect())
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    events: Vec<FeedEvent>,
    /// Pass as `after` for the next page; none once the feed is read.
    next: Option<i64>,
}

/// Feed rows read per page at most, matching or not.
const SCAN: i64 = 5_000;

/// Events in feed order, filtered, after a position.
#[derive(Debug, Clone, Default)]
pub struct ReadAuditFeed {
    /// Required unless the caller is the platform admin.
    pub territory_id: Option<TerritoryId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub actor: Option<String>,
    pub event_type: Option<String>,
    pub after: Option<i64>,
    /// Default 100, at most 1000.
    pub limit: Option<usize>,
}

impl ReadAuditFeed {
    /// A page of at most `limit` events, reading at most [`SCAN`] feed
    /// rows; `next` says where to go on.
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<AuditPage, Error> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(DomainError::invalid("limit", "between 1 and 1000").into());
        }
        let territory = match (self.territory_id, caller.is_platform_admin()) {
            (Some(t), _) if caller.may(Permission::Audit, Place::Territory(t)) => Some(t),
            (Some(_), _) => return Err(DomainError::forbidden("this needs the audit right in the territory").into()),
            (None, true) => None,
            (None, false) => return Err(DomainError::invalid("territory_id", "name the territory you audit").into()),
        };
        let mut after = self.after.unwrap_or(0).max(0);
        let (mut events, mut scanned, mut inside) = (Vec::new(), 0, TerritoryCache::default());
        let next = loop {
            let page = app.store.read_feed(after, 500).await?;
            let Some(last) = page.last().map(|e| e.position) else {
                break None;
            };
            for event in page {
                after = event.position;
                scanned += 1;
                if !self.wanted(&event) {
                    continue;
                }
                if let Some(territory) = territory
                    && !inside.holds(app, territory, &event).await?
                {
                    continue;
                }
                events.push(FeedEvent::from(event));
                if events.len() == limit {
                    break;
                }
            }
            if events.len() == limit || scanned >= SCAN {
                break Some(after.min(last));
            }
        };
        Ok(AuditPage { events, next })
    }

    fn wanted(&self, event: &StoredEvent) -> bool {
        self.from.is_none_or(|f| event.metadata.occurred_at >= f)
            && self.to.is_none_or(|t| event.metadata.occurred_at < t)
            && self.actor.as_ref().is_none_or(|a| *a == event.metadata.actor)
            && self.event_type.as_ref().is_none_or(|t| *t == event.event_type)
    }
}

/// Whether records belong to the audited territory, looked up once each.
#[derive(Default)]
struct TerritoryCache(HashMap<(String, String), bool>);

impl TerritoryCache {
    async fn holds(&mut self, app: &Context, territory: TerritoryId, event: &StoredEvent) -> Result<bool, Error> {
        let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
        if let Some(inside) = self.0.get(&key) {
            return Ok(*inside);
        }
        let territories = territories_of(&app.store, &key.0, &key.1).await?;
        Ok(*self.0.entry(key).or_insert(territories.contains(&territory)))
    }
}
