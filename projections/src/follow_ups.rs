//! Follow-ups as agents list them (rdv-insertion's index of usagers by
//! category), and "Une intervention est nécessaire" as a queue ordered by
//! the instant each follow-up starts needing action: listing who needs
//! action now is one index range read below "now", whatever the number of
//! follow-ups, and the status of each is still computed at read time from
//! its history.
//!
//! A follow-up is listed in the organisations of its invitations and RDVs.
//! Also kept: the category configurations per organisation, invitations by
//! their short-link code, and participations by id (for letters).
//!
//! List and queue entries are keyed by what groups them ([`Listing`]), so
//! an organisation's follow-ups in a category are a range of keys: one
//! index entry per document instead of two, which is most of what a
//! rebuild over a large history writes.

use crate::{
    documents::{Documents, ids_of},
    projector::{Projection, ProjectionError},
};
use chrono::{DateTime, Utc};
use rdv_domain::{
    category::{CategoryConfiguration, CategoryEvent, CategoryState},
    follow_up::{ActionReason, FollowUp, FollowUpEvent, FollowUpState},
    ids::{FollowUpId, OrganisationId, ParticipationId, UsagerId},
};
use rdv_eventstore::{EventStore, ProjectionTx, StoreError, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const NAME: &str = "follow_ups";
/// Category configurations by `{organisation}:{short_name}`, under the organisation.
pub const CATEGORIES: &str = "categories";
/// The same, all under [`EVERY_ORGANISATION`]: what the daily jobs go through.
pub const CONFIGURED: &str = "configured";
pub const EVERY_ORGANISATION: &str = "all";
/// Each follow-up once, by id: the only copy of its state.
pub const BY_ID: &str = "by_id";
/// Follow-ups' [`Entry`] by the key of their id in their [`Listing::of`]
/// organisation and category.
pub const LISTED: &str = "listed";
/// The action queue: the same entries by the key of their [`queue_key`] in
/// the same listing.
pub const ACTION_QUEUE: &str = "action_queue";
/// Invitations by short-link code.
pub const INVITATIONS: &str = "invitations";
/// Participations by [`ParticipationId`].
pub const PARTICIPATIONS: &str = "participations";

/// The days before action of a category when no organisation configured it.
const DEFAULT_DAYS: u32 = 10;

/// A group of entries listed together (an organisation's follow-ups in a
/// category): their stored keys start with the
/// group's prefix, so the group is the range of keys [`Listing::range`]
/// gives. Entries are what the list hands out (cursors included), keys
/// what is stored.
pub struct Listing(String);

impl Listing {
    /// An organisation's follow-ups in a category (short names are
    /// `[a-z0-9_]`, so no prefix is another's).
    pub fn of(organisation: OrganisationId, category: &str) -> Self {
        Self(format!("{organisation}|{category}|"))
    }

    /// The stored key of an entry.
    pub fn key(&self, entry: &str) -> String {
        format!("{}{entry}", self.0)
    }

    /// The keys strictly between the entries `after` and `below`, from the
    /// start and to the end of the group when absent.
    pub fn range(&self, after: Option<&str>, below: Option<&str>) -> (String, String) {
        let from = self.key(after.unwrap_or_default());
        // The prefix ends with '|': with '}' (the next character) instead,
        // it sorts after every key of the group.
        let to = match below {
            Some(below) => self.key(below),
            None => format!("{}}}", &self.0[..self.0.len() - 1]),
        };
        (from, to)
    }

    /// The entry a stored key of the group stands for.
    pub fn entry<'k>(&self, key: &'k str) -> &'k str {
        key.strip_prefix(&self.0).unwrap_or(key)
    }
}

/// Queue keys sort by due instant, then follow-up.
pub fn queue_key(due: DateTime<Utc>, follow_up: FollowUpId) -> String {
    format!("{}|{follow_up}", due.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

/// The key every entry due at or before `now` sorts below.
pub fn queue_bound(now: DateTime<Utc>) -> String {
    format!("{}|~", now.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

/// A list or queue entry: which follow-up, and when it needs action in the
/// entry's organisation. The state stays in [`BY_ID`] alone ([`with_state`]
/// reads it for a page): a copy in each entry tripled what a rebuild over a
/// large history writes (1,000,000 events on SQLite: 22.9 s with three
/// copies, 20.3–21.7 s with two, 19.0–19.9 s with one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: FollowUpId,
    /// When it needs action if nothing happens.
    #[serde(default)]
    pub due: Option<(DateTime<Utc>, ActionReason)>,
}

/// A follow-up as listed in one organisation: an [`Entry`] with the state.
#[derive(Debug, Clone)]
pub struct FollowUpDoc {
    pub id: FollowUpId,
    pub organisation_id: OrganisationId,
    pub state: FollowUpState,
    pub due: Option<(DateTime<Utc>, ActionReason)>,
}

/// Ids resolved per statement by [`with_state`].
const RESOLVED: usize = 1_000;

/// A page of an organisation's [`LISTED`] or [`ACTION_QUEUE`] entries, as
/// (key, document) pairs from the store, with each follow-up's state read
/// from [`BY_ID`] in a statement per [`RESOLVED`] entries: (entry, follow-up)
/// in the page's order.
pub async fn with_state(
    store: &EventStore,
    listing: &Listing,
    organisation_id: OrganisationId,
    page: &[(String, serde_json::Value)],
) -> Result<Vec<(String, FollowUpDoc)>, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("{NAME}: {what}"));
    let mut docs = Vec::with_capacity(page.len());
    for chunk in page.chunks(RESOLVED) {
        let entries: Vec<(String, Entry)> = chunk
            .iter()
            .map(|(key, doc)| {
                let entry = serde_json::from_value(doc.clone()).map_err(|e| corrupt(format!("{key}: {e}")))?;
                Ok((listing.entry(key).to_string(), entry))
            })
            .collect::<Result<_, StoreError>>()?;
        let ids: Vec<String> = entries.iter().map(|(_, e)| e.id.to_string()).collect();
        let mut records: HashMap<String, serde_json::Value> =
            store.docs_with_ids(NAME, BY_ID, &ids).await?.into_iter().collect();
        for ((key, entry), id) in entries.into_iter().zip(ids) {
            let record = records
                .remove(&id)
                .ok_or_else(|| corrupt(format!("entry {key} without its follow-up")))?;
            let record: FollowUpRecord = serde_json::from_value(record).map_err(|e| corrupt(format!("{id}: {e}")))?;
            let doc = FollowUpDoc {
                id: entry.id,
                organisation_id,
                state: record.state,
                due: entry.due,
            };
            docs.push((key, doc));
        }
    }
    Ok(docs)
}

/// Every organisation's category configurations.
pub async fn configured(store: &EventStore) -> Result<Vec<CategoryState>, StoreError> {
    store
        .docs(NAME, CONFIGURED, EVERY_ORGANISATION)
        .await?
        .into_iter()
        .map(|doc| serde_json::from_value(doc).map_err(|e| StoreError::Corrupt(format!("{NAME} {CONFIGURED}: {e}"))))
        .collect()
}

/// An usager's follow-ups, found without an index of their own: a
/// follow-up's id derives from its usager and category
/// ([`FollowUpId::of`]) and follow-ups open only in configured categories,
/// so they are those of the ids of every category configured that the
/// read model holds. (An index by usager was a fifth of the documents a
/// rebuild writes, for one reader: archiving an usager.)
pub async fn of_usager(store: &EventStore, usager: UsagerId) -> Result<Vec<FollowUpId>, StoreError> {
    let categories: BTreeSet<String> = configured(store).await?.into_iter().map(|c| c.short_name).collect();
    let ids: BTreeMap<String, FollowUpId> = categories
        .iter()
        .map(|category| FollowUpId::of(usager, category))
        .map(|id| (id.to_string(), id))
        .collect();
    let wanted: Vec<String> = ids.keys().cloned().collect();
    let found = store.docs_with_ids(NAME, BY_ID, &wanted).await?;
    let mut found: Vec<FollowUpId> = found.iter().filter_map(|(id, _)| ids.get(id).copied()).collect();
    found.sort();
    Ok(found)
}

/// The stored follow-up, with where it is listed and queued.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FollowUpRecord {
    state: FollowUpState,
    organisations: BTreeSet<OrganisationId>,
    /// The stored key of each organisation's queue entry.
    queued: BTreeMap<OrganisationId, String>,
}

/// An invitation's short-link code leads to its follow-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationRef {
    pub follow_up_id: FollowUpId,
    pub invitation_id: rdv_domain::ids::InvitationId,
}

/// A participation id leads to its RDV, usager and follow-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParticipationRef {
    pub rdv_id: rdv_domain::ids::RdvId,
    pub usager_id: rdv_domain::ids::UsagerId,
    pub follow_up_id: FollowUpId,
}

pub struct FollowUps;

#[async_trait::async_trait]
impl Projection for FollowUps {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        &["FollowUp", "CategoryConfiguration"]
    }

    /// Follow-up ids are hashes (of the usager and category): every list
    /// and queue entry lands at a random place of its index.
    fn holds_documents(&self) -> bool {
        true
    }

    async fn prefetch(&self, tx: &mut ProjectionTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        Ok(tx.prefetch(NAME, BY_ID, ids_of(events, "FollowUp")).await?)
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        self.apply_batch(tx, std::slice::from_ref(event)).await
    }

    /// A follow-up's events in a batch are folded one after the other and
    /// its entries listed once, as of its last event: a batch that opens,
    /// invites and books writes them once, not three times. A category
    /// configuration lists what came before it first (its delay changes
    /// where they are queued).
    async fn apply_batch(&self, tx: &mut ProjectionTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        let mut folded = Folded::default();
        for event in events {
            match event.aggregate_type.as_str() {
                "FollowUp" => follow_up_event(tx, event, &mut folded).await?,
                "CategoryConfiguration" => {
                    folded.list(tx).await?;
                    let mut docs = Documents {
                        tx: &mut *tx,
                        projection: NAME,
                        event,
                    };
                    category_event(&mut docs, event).await?;
                }
                _ => {}
            }
        }
        folded.list(tx).await
    }
}

/// Follow-ups changed by a batch and not listed yet (in id order: the
/// documents written do not depend on it).
#[derive(Default)]
struct Folded<'e> {
    records: BTreeMap<FollowUpId, Pending<'e>>,
}

/// A follow-up changed and not listed yet.
struct Pending<'e> {
    record: FollowUpRecord,
    /// The organisations it is listed in as stored.
    listed: BTreeSet<OrganisationId>,
    /// The last of its events.
    event: &'e StoredEvent,
}

impl<'e> Folded<'e> {
    /// Lists each follow-up as of its last event, and starts over.
    async fn list(&mut self, tx: &mut ProjectionTx) -> Result<(), ProjectionError> {
        for (id, mut pending) in std::mem::take(&mut self.records) {
            let mut docs = Documents {
                tx: &mut *tx,
                projection: NAME,
                event: pending.event,
            };
            let now = pending.event.metadata.occurred_at;
            relist(&mut docs, id, &mut pending.record, &pending.listed, now).await?;
        }
        Ok(())
    }
}

async fn follow_up_event<'e>(
    tx: &mut ProjectionTx,
    event: &'e StoredEvent,
    folded: &mut Folded<'e>,
) -> Result<(), ProjectionError> {
    let docs = &mut Documents {
        tx,
        projection: NAME,
        event,
    };
    let id = FollowUpId(docs.aggregate_uuid()?);
    let decoded = Decoder::<FollowUp>::default().decode(event)?;
    let (previous, listed) = match folded.records.remove(&id) {
        Some(pending) => (Some(pending.record), pending.listed),
        None => {
            let stored = docs.find::<FollowUpRecord>(BY_ID, &id.to_string()).await?;
            let listed = stored.iter().flat_map(|r| r.organisations.iter().copied()).collect();
            (stored, listed)
        }
    };
    let (mut follow_up, organisations, queued) = match previous {
        Some(r) => (FollowUp(Some(r.state)), r.organisations, r.queued),
        None => (FollowUp(None), BTreeSet::new(), BTreeMap::new()),
    };
    match &decoded {
        FollowUpEvent::UsagerInvited { invitation } => {
            let reference = InvitationRef {
                follow_up_id: id,
                invitation_id: invitation.id,
            };
            docs.save(INVITATIONS, &invitation.code, None, &reference).await?;
        }
        FollowUpEvent::ParticipationTracked { participation } => {
            if let Some(state) = &follow_up.0 {
                let reference = ParticipationRef {
                    rdv_id: participation.rdv_id,
                    usager_id: state.usager_id,
                    follow_up_id: id,
                };
                let pid = ParticipationId::of(participation.rdv_id, state.usager_id);
                docs.save(PARTICIPATIONS, &pid.to_string(), None, &reference).await?;
            }
        }
        _ => {}
    }
    cqrs_es::Aggregate::apply(&mut follow_up, decoded);
    let state = follow_up
        .0
        .ok_or_else(|| ProjectionError::event(event, "a follow-up event before FollowUpOpened"))?;
    let record = FollowUpRecord {
        organisations: organisations.into_iter().chain(state.organisations()).collect(),
        state,
        queued,
    };
    folded.records.insert(id, Pending { record, listed, event });
    Ok(())
}

/// Writes a follow-up's list entries and moves its queue entries; those of
/// the organisations it was not `listed` in yet, and queue entries at a
/// new instant, are new keys.
async fn relist(
    docs: &mut Documents<'_>,
    id: FollowUpId,
    record: &mut FollowUpRecord,
    listed: &BTreeSet<OrganisationId>,
    now: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    for organisation_id in record.organisations.clone() {
        let listing = Listing::of(organisation_id, &record.state.category);
        let days = days_before_action(docs, organisation_id, &record.state.category).await?;
        let entry = Entry {
            id,
            due: record.state.next_action(now, days),
        };
        let key = listing.key(&id.to_string());
        match listed.contains(&organisation_id) {
            true => docs.save(LISTED, &key, None, &entry).await?,
            false => docs.save_new(LISTED, &key, &entry).await?,
        }
        let queued = entry.due.map(|(at, _)| listing.key(&queue_key(at, id)));
        match (record.queued.remove(&organisation_id), &queued) {
            (Some(old), Some(key)) if old == *key => docs.save(ACTION_QUEUE, key, None, &entry).await?,
            (old, queued) => {
                if let Some(old) = old {
                    docs.delete(ACTION_QUEUE, &old).await?;
                }
                // The follow-up's only entry in this listing was `old`.
                if let Some(key) = queued {
                    docs.save_new(ACTION_QUEUE, key, &entry).await?;
                }
            }
        }
        if let Some(key) = queued {
            record.queued.insert(organisation_id, key);
        }
    }
    docs.save(BY_ID, &id.to_string(), None, record).await
}

async fn days_before_action(
    docs: &mut Documents<'_>,
    organisation: OrganisationId,
    category: &str,
) -> Result<u32, ProjectionError> {
    let config: Option<CategoryState> = docs
        .find(CATEGORIES, &CategoryConfiguration::stream_id(organisation, category))
        .await?;
    Ok(config.map_or(DEFAULT_DAYS, |c| c.settings.number_of_days_before_action_required))
}

async fn category_event(docs: &mut Documents<'_>, event: &StoredEvent) -> Result<(), ProjectionError> {
    let CategoryEvent::CategoryConfigured {
        organisation_id,
        short_name,
        settings,
    } = Decoder::<CategoryConfiguration>::default().decode(event)?;
    let before: Option<CategoryState> = docs.find(CATEGORIES, &event.aggregate_id).await?;
    let days_changed = before
        .as_ref()
        .map(|b| b.settings.number_of_days_before_action_required)
        != Some(settings.number_of_days_before_action_required);
    let listing = Listing::of(organisation_id, &short_name);
    let state = CategoryState {
        organisation_id,
        short_name,
        settings,
    };
    docs.save(
        CATEGORIES,
        &event.aggregate_id,
        Some(&organisation_id.to_string()),
        &state,
    )
    .await?;
    docs.save(CONFIGURED, &event.aggregate_id, Some(EVERY_ORGANISATION), &state)
        .await?;
    if !days_changed {
        return Ok(());
    }
    // A new "Délai d'expiration" moves every queue entry of the category.
    let (from, to) = listing.range(None, None);
    let listed = docs.tx.list_between::<Entry>(NAME, LISTED, (&from, &to)).await?;
    for doc in listed {
        let mut record: FollowUpRecord = docs.load(BY_ID, &doc.id.to_string()).await?;
        let listed = record.organisations.clone();
        relist(docs, doc.id, &mut record, &listed, event.metadata.occurred_at).await?;
    }
    Ok(())
}
