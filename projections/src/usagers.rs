//! Usagers by organisation, with a folded search text (accents and case
//! removed) over names, e-mail, phone and birth date.

use crate::{
    documents::{Documents, ids_of},
    projector::{Projection, ProjectionError},
};
use rdv_domain::{
    ids::OrganisationId,
    usager::{Usager, UsagerEvent, UsagerProfile},
};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use uuid::Uuid;

pub const NAME: &str = "usagers";
pub const USAGERS: &str = "usagers";
/// Every usager once, by id (what an update compares with).
pub const BY_ID: &str = "by_id";

/// One usager as listed in one organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagerDoc {
    pub id: Uuid,
    pub profile: UsagerProfile,
    /// Every organisation of the usager (so an update knows which
    /// organisation lists to leave).
    #[serde(default)]
    pub organisation_ids: BTreeSet<Uuid>,
    /// Folded text the search matches against.
    pub search: String,
    /// Taken out of invitations and reminders.
    #[serde(default)]
    pub archived: bool,
}

/// Lower case without French diacritics, so "Hélène" matches "helene".
pub fn fold(text: &str) -> String {
    text.replace(['œ', 'Œ'], "oe")
        .replace(['æ', 'Æ'], "ae")
        .chars()
        .flat_map(|c| c.to_lowercase())
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' | 'í' => 'i',
            'ô' | 'ö' | 'ó' => 'o',
            'ù' | 'û' | 'ü' | 'ú' => 'u',
            'ÿ' => 'y',
            other => other,
        })
        .collect()
}

fn search_text(profile: &UsagerProfile) -> String {
    let mut parts = vec![profile.first_name.to_string(), profile.last_name.to_string()];
    parts.extend(profile.email.as_ref().map(|e| e.to_string()));
    if let Some(phone) = &profile.phone {
        // E.164 and the national form, so "06 12" and "+336" both match.
        parts.push(phone.to_string());
        if let Some(national) = phone.as_str().strip_prefix("+33") {
            parts.push(format!("0{national}"));
        }
    }
    parts.extend(profile.external_id.clone());
    parts.extend(
        profile
            .birth_date
            .map(|d| format!("{} {}", d.format("%Y-%m-%d"), d.format("%d/%m/%Y"))),
    );
    fold(&parts.join(" "))
}

pub struct Usagers;

#[async_trait::async_trait]
impl Projection for Usagers {
    fn name(&self) -> &'static str {
        NAME
    }

    fn aggregates(&self) -> &'static [&'static str] {
        &["Usager"]
    }

    async fn prefetch(&self, tx: &mut ProjectionTx, events: &[StoredEvent]) -> Result<(), ProjectionError> {
        Ok(tx.prefetch(NAME, BY_ID, ids_of(events, "Usager")).await?)
    }

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "Usager" {
            return Ok(());
        }
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        let id = docs.aggregate_uuid()?;
        let key = |organisation: &dyn std::fmt::Display| format!("{organisation}:{id}");
        let previous = docs.find::<UsagerDoc>(BY_ID, &id.to_string()).await?;
        let (organisation_ids, profile, archived) = match Decoder::<Usager>::default().decode(event)? {
            UsagerEvent::UsagerCreated {
                organisation_ids,
                profile,
            }
            | UsagerEvent::UsagerUpdated {
                organisation_ids,
                profile,
            } => (organisation_ids, profile, previous.as_ref().is_some_and(|p| p.archived)),
            archive @ (UsagerEvent::UsagerArchived { .. } | UsagerEvent::UsagerUnarchived) => {
                let previous: UsagerDoc = docs.load(BY_ID, &id.to_string()).await?;
                let organisation_ids = previous.organisation_ids.iter().map(|o| OrganisationId(*o)).collect();
                let archived = matches!(archive, UsagerEvent::UsagerArchived { .. });
                (organisation_ids, previous.profile, archived)
            }
            // Nothing of a forgotten usager is kept (RGPD).
            UsagerEvent::UsagerForgotten { .. } => {
                for organisation in previous.iter().flat_map(|p| &p.organisation_ids) {
                    docs.delete(USAGERS, &key(organisation)).await?;
                }
                return docs.delete(BY_ID, &id.to_string()).await;
            }
        };
        let organisation_ids: BTreeSet<OrganisationId> = organisation_ids;
        if let Some(previous) = previous {
            for gone in previous
                .organisation_ids
                .iter()
                .filter(|o| !organisation_ids.iter().any(|n| n.0 == **o))
            {
                docs.delete(USAGERS, &key(gone)).await?;
            }
        }
        let doc = UsagerDoc {
            id,
            search: search_text(&profile),
            organisation_ids: organisation_ids.iter().map(|o| o.0).collect(),
            profile,
            archived,
        };
        docs.save(BY_ID, &id.to_string(), None, &doc).await?;
        for organisation in organisation_ids {
            let parent = organisation.to_string();
            docs.save(USAGERS, &key(&organisation), Some(&parent), &doc).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("Hélène GÉRARD-Çœur"), "helene gerard-coeur");
    }
}
