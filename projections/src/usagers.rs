//! Usagers by organisation, with a folded search text (accents and case
//! removed) over names, e-mail, phone and birth date.

use crate::{
    documents::Documents,
    projector::{Projection, ProjectionError},
};
use rdv_domain::usager::{Usager, UsagerEvent, UsagerProfile};
use rdv_eventstore::{ProjectionTx, StoredEvent, codec::Decoder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const NAME: &str = "usagers";
pub const USAGERS: &str = "usagers";

/// One usager as listed in one organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsagerDoc {
    pub id: Uuid,
    pub profile: UsagerProfile,
    /// Folded text the search matches against.
    pub search: String,
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

    async fn apply(&self, tx: &mut ProjectionTx, event: &StoredEvent) -> Result<(), ProjectionError> {
        if event.aggregate_type != "Usager" {
            return Ok(());
        }
        let mut docs = Documents {
            tx,
            projection: NAME,
            event,
        };
        let UsagerEvent::UsagerCreated {
            organisation_ids,
            profile,
        } = Decoder::<Usager>::default().decode(event)?;
        let doc = UsagerDoc {
            id: docs.aggregate_uuid()?,
            search: search_text(&profile),
            profile,
        };
        for organisation in organisation_ids {
            let parent = organisation.to_string();
            docs.save(USAGERS, &format!("{organisation}:{}", doc.id), Some(&parent), &doc)
                .await?;
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
