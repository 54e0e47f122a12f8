//! What agents read of usagers: one usager's page ([`ReadUsager`]: the
//! fields the espace shows, relatives, RDVs to come and past ones, or the
//! profile as it stood at an instant) and an organisation's search
//! ([`SearchUsagers`]). Hidden or removed fields keep their values and
//! show again when they come back.

use crate::{
    Context, Error,
    caller::{Caller, Place},
    usagers::{usager_field_settings, visible_usager},
};
use chrono::{DateTime, Utc};
use rdv_domain::{
    DomainError,
    ids::{OrganisationId, UsagerId},
    rights::Permission,
    usager::{Usager, UsagerProfile},
};
use rdv_projections::{rdvs::RdvDoc, usagers::UsagerDoc};
use serde::Serialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// An usager as the espace's forms show it now.
#[derive(Serialize, ToSchema)]
pub struct UsagerView {
    pub id: UsagerId,
    pub organisation_ids: BTreeSet<OrganisationId>,
    #[serde(flatten)]
    pub profile: UsagerProfile,
    /// Usagers this one is responsible for (on the usager's own page).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub relatives: Vec<UsagerId>,
    /// On the usager's own page: RDVs to come and past ones (latest first),
    /// in the caller's organisations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdvs: Option<UsagerRdvs>,
}

#[derive(Serialize, ToSchema)]
pub struct UsagerRdvs {
    pub upcoming: Vec<RdvDoc>,
    pub past: Vec<RdvDoc>,
}

/// One usager, now (with relatives and RDVs) or as of a past instant.
#[derive(Debug, Clone)]
pub struct ReadUsager {
    pub usager_id: UsagerId,
    pub as_of: Option<DateTime<Utc>>,
}

impl ReadUsager {
    /// 410 for an usager forgotten (RGPD), unless read as of before.
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<UsagerView, Error> {
        let usager_id = self.usager_id;
        let (usager, organisation) = visible_usager(app, caller, usager_id).await?;
        if self.as_of.is_none() && usager.forgotten_at.is_some() {
            return Err(DomainError::gone("this usager's personal data was erased (RGPD)").into());
        }
        if self.as_of.is_some() {
            let then = app
                .load_as_of::<Usager>(&usager_id.to_string(), self.as_of)
                .await?
                .0
                .ok_or_else(|| Error::not_found("usager as of this instant"))?;
            let profile = usager_field_settings(app, organisation).await?.shown(&then.profile);
            return Ok(UsagerView {
                id: usager_id,
                organisation_ids: then.organisation_ids,
                profile,
                relatives: Vec::new(),
                rdvs: None,
            });
        }
        let profile = usager_field_settings(app, organisation).await?.shown(&usager.profile);
        let docs = app
            .store
            .docs(
                rdv_projections::usagers::NAME,
                rdv_projections::usagers::USAGERS,
                &organisation.to_string(),
            )
            .await?;
        let relatives = docs
            .into_iter()
            .filter_map(|d| serde_json::from_value::<UsagerDoc>(d).ok())
            .filter(|u| u.profile.responsible_id == Some(usager_id))
            .map(|u| UsagerId(u.id))
            .collect();
        let rdvs = usager_rdvs(app, caller, usager_id).await?;
        Ok(UsagerView {
            id: usager_id,
            organisation_ids: usager.organisation_ids,
            profile,
            relatives,
            rdvs: Some(rdvs),
        })
    }
}

/// The usager's RDVs in organisations the caller works in, split at now.
async fn usager_rdvs(app: &Context, caller: &Caller, usager_id: UsagerId) -> Result<UsagerRdvs, Error> {
    let docs = app
        .store
        .docs(
            rdv_projections::rdvs::NAME,
            rdv_projections::rdvs::BY_USAGER,
            &usager_id.to_string(),
        )
        .await?;
    let now = app.services().now();
    let (mut upcoming, mut past) = (Vec::new(), Vec::new());
    // Whether the caller works in an organisation, asked once per organisation.
    let mut visible = std::collections::HashMap::new();
    for doc in docs
        .into_iter()
        .filter_map(|d| serde_json::from_value::<RdvDoc>(d).ok())
    {
        let shown = match visible.get(&doc.organisation_id) {
            Some(shown) => *shown,
            None => {
                let organisation_id = OrganisationId(doc.organisation_id);
                let territory = app.organisation(organisation_id).await?.territory_id;
                let shown = caller.may(Permission::Rdvs, Place::Organisation(organisation_id, territory));
                visible.insert(doc.organisation_id, shown);
                shown
            }
        };
        if !shown {
            continue;
        }
        if doc.ends_at > now {
            upcoming.push(doc)
        } else {
            past.push(doc)
        }
    }
    upcoming.sort_by_key(|r| (r.starts_at, r.id));
    past.sort_by_key(|r| std::cmp::Reverse((r.starts_at, r.id)));
    Ok(UsagerRdvs { upcoming, past })
}

/// The usagers of an organisation matching a search, by last then first
/// name (at most 100). Words match names, e-mail, phone and birth date,
/// ignoring case and accents ("helene 06 12" finds Hélène with 06 12 34 56
/// 78).
#[derive(Debug, Clone)]
pub struct SearchUsagers {
    pub organisation_id: OrganisationId,
    pub search: String,
    pub min_position: Option<i64>,
}

impl SearchUsagers {
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<Vec<UsagerView>, Error> {
        let organisation_id = self.organisation_id;
        app.organisation_for(caller, Permission::Usagers, organisation_id)
            .await?;
        app.wait_for(rdv_projections::usagers::NAME, self.min_position).await?;
        let words: Vec<String> = rdv_projections::usagers::fold(&self.search)
            .split_whitespace()
            .map(|w| w.replace(['.', '-'], ""))
            .collect();
        let settings = usager_field_settings(app, organisation_id).await?;
        let docs = app
            .store
            .docs(
                rdv_projections::usagers::NAME,
                rdv_projections::usagers::USAGERS,
                &organisation_id.to_string(),
            )
            .await?;
        let mut found: Vec<UsagerDoc> = docs
            .into_iter()
            .filter_map(|d| serde_json::from_value::<UsagerDoc>(d).ok())
            .filter(|u| {
                let text = u.search.replace(['.', '-'], "");
                let compact = text.replace(' ', "");
                words
                    .iter()
                    .all(|w| text.contains(w.as_str()) || compact.contains(w.as_str()))
            })
            .collect();
        found.sort_by(|a, b| {
            (a.profile.last_name.as_str(), a.profile.first_name.as_str(), a.id).cmp(&(
                b.profile.last_name.as_str(),
                b.profile.first_name.as_str(),
                b.id,
            ))
        });
        Ok(found
            .into_iter()
            .take(100)
            .map(|u| UsagerView {
                id: UsagerId(u.id),
                organisation_ids: [organisation_id].into(),
                profile: settings.shown(&u.profile),
                relatives: Vec::new(),
                rdvs: None,
            })
            .collect())
    }
}
