//! An organisation's follow-ups in a category ([`ListFollowUps`]), page by
//! page: all of them, or only "Une intervention est nécessaire" (action
//! statuses, or invited more than N days ago without a manual invitation
//! since), each with its reason, read from a queue ordered by the instant
//! action became needed.

use crate::{Context, Error, caller::Caller, insertion::category_rules};
use chrono::{DateTime, Utc};
use rdv_domain::{
    DomainError,
    follow_up::{ActionReason, FollowUpStatus},
    ids::{FollowUpId, OrganisationId, UsagerId},
    rights::Permission,
};
use rdv_projections::follow_ups::{self, ACTION_QUEUE, LISTED, Listing, queue_bound};
use serde::Serialize;
use utoipa::ToSchema;

/// One follow-up in a list.
#[derive(Serialize, ToSchema)]
pub struct FollowUpListItem {
    pub id: FollowUpId,
    pub usager_id: UsagerId,
    pub status: FollowUpStatus,
    pub action_required: Option<ActionReason>,
    /// Since when it needs action.
    pub action_required_since: Option<DateTime<Utc>>,
    pub convocable: bool,
}

#[derive(Serialize, ToSchema)]
pub struct FollowUpPage {
    pub items: Vec<FollowUpListItem>,
    /// Pass as `after` for the next page; none on the last.
    pub next: Option<String>,
}

/// Read rows per page scan when filtering by status.
const SCAN: i64 = 500;

/// The follow-ups of an organisation in a category, filtered.
#[derive(Debug, Clone)]
pub struct ListFollowUps {
    pub organisation_id: OrganisationId,
    /// Short name of the category.
    pub motif_category: String,
    /// Only the follow-ups that need an agent now.
    pub action_required: bool,
    /// Only this status (computed now).
    pub status: Option<FollowUpStatus>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    pub min_position: Option<i64>,
}

impl ListFollowUps {
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<FollowUpPage, Error> {
        let organisation_id = self.organisation_id;
        app.organisation_for(caller, Permission::Insertion, organisation_id)
            .await?;
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(DomainError::invalid("limit", "between 1 and 200").into());
        }
        app.wait_for(follow_ups::NAME, self.min_position).await?;
        let category = self.motif_category.trim();
        let (days, convene) = category_rules(app, organisation_id, category).await?;
        let now = app.services().now();
        let listing = Listing::of(organisation_id, category);
        let (collection, below) = if self.action_required {
            (ACTION_QUEUE, Some(queue_bound(now)))
        } else {
            (LISTED, None)
        };
        let mut items = Vec::new();
        let mut cursor = self.after.clone();
        let next = loop {
            let (from, to) = listing.range(cursor.as_deref(), below.as_deref());
            let page = app
                .store
                .docs_between(follow_ups::NAME, collection, (&from, &to), SCAN)
                .await?;
            let full = page.len() as i64 == SCAN;
            let mut stopped = None;
            // The states of a page's first `limit` entries are read first: with
            // few filtered out, they fill it.
            'page: for chunk in page.chunks(limit as usize) {
                for (key, doc) in follow_ups::with_state(&app.store, &listing, organisation_id, chunk).await? {
                    let item = FollowUpListItem {
                        id: doc.id,
                        usager_id: doc.state.usager_id,
                        status: doc.state.status(now),
                        action_required: doc.state.action_required(now, days),
                        action_required_since: doc.due.filter(|(at, _)| *at <= now).map(|(at, _)| at),
                        convocable: convene && doc.state.convocable(now, days),
                    };
                    cursor = Some(key.clone());
                    let wanted = self.status.is_none_or(|s| s == item.status)
                        && (!self.action_required || item.action_required.is_some());
                    if wanted {
                        items.push(item);
                        if items.len() as i64 == limit {
                            stopped = Some(key);
                            break 'page;
                        }
                    }
                }
            }
            if stopped.is_some() {
                break stopped;
            }
            if !full {
                break None;
            }
        };
        Ok(FollowUpPage { items, next })
    }
}
