//! What agents read of RDVs: one RDV with its history, now or as it stood
//! at an instant ([`ReadRdv`]), and an organisation's RDVs filtered and
//! paginated as RDV Service Public's API gives them ([`ListRdvs`]). The
//! internal Contexte note is left out while the espace has it turned off.

use crate::{
    Context, Error,
    caller::Caller,
    history::{self, HistoryEntry},
    rdv_access::agent_rdv,
};
use chrono::{DateTime, FixedOffset, Utc};
use rdv_domain::{
    DomainError,
    ids::{AgentId, LieuId, MotifId, OrganisationId, RdvId},
    organisation::OrganisationState,
    rdv::{Rdv, RdvState, RdvStatus},
    rights::Permission,
    territory::Territory,
};
use rdv_projections::rdvs::{self, RdvDoc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Whether the espace shows the internal Contexte field. When it is off,
/// views hide the stored value, which shows again when it is turned back on.
async fn context_shown(app: &Context, organisation: &OrganisationState) -> Result<bool, Error> {
    let territory = app.load::<Territory>(&organisation.territory_id.to_string()).await?;
    Ok(territory.state()?.settings.rdv_fields.context_enabled)
}

/// An RDV with its history.
#[derive(Serialize, ToSchema)]
pub struct RdvWithHistory {
    #[serde(flatten)]
    rdv: RdvDoc,
    /// Every change: who, when, which fields.
    history: Vec<HistoryEntry>,
}

/// An RDV (read from its stream: always current) and its history, or as it
/// stood at `as_of` (its events until then).
#[derive(Debug, Clone)]
pub struct ReadRdv {
    pub rdv_id: RdvId,
    pub as_of: Option<DateTime<Utc>>,
}

impl ReadRdv {
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<RdvWithHistory, Error> {
        let (rdv_id, id) = (self.rdv_id, self.rdv_id.to_string());
        let rdv = agent_rdv(app, caller, rdv_id).await?.rdv;
        let rdv = match self.as_of {
            Some(_) => app
                .load_as_of::<Rdv>(&id, self.as_of)
                .await?
                .0
                .ok_or_else(|| Error::not_found("rdv as of this instant"))?,
            None => rdv,
        };
        let organisation = app.organisation(rdv.booking.organisation_id).await?;
        let show_context = context_shown(app, &organisation).await?;
        let view = |s: &RdvState| {
            let mut doc = RdvDoc::new(rdv_id.0, s);
            doc.context = doc.context.filter(|_| show_context);
            doc
        };
        let mut events = app.store.load_stream("Rdv", &id).await?.to_vec();
        events.retain(|e| self.as_of.is_none_or(|at| e.metadata.occurred_at <= at));
        let history = history::of::<Rdv>(&events, |r| r.0.as_ref().map_or(Value::Null, |s| json!(view(s))))?;
        Ok(RdvWithHistory {
            rdv: view(&rdv),
            history,
        })
    }
}

/// Pagination as RDV Service Public's API gives it.
#[derive(Serialize, ToSchema)]
pub struct PageMeta {
    current_page: usize,
    next_page: Option<usize>,
    prev_page: Option<usize>,
    total_pages: usize,
    total_count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct RdvPage {
    rdvs: Vec<RdvDoc>,
    meta: PageMeta,
}

/// The RDVs of an organisation, filtered, ordered by start then id.
#[derive(Debug, Clone, Default)]
pub struct ListRdvs {
    pub organisation_id: OrganisationId,
    pub starts_after: Option<DateTime<FixedOffset>>,
    pub starts_before: Option<DateTime<FixedOffset>>,
    pub status: Option<RdvStatus>,
    pub agent_id: Option<AgentId>,
    pub lieu_id: Option<LieuId>,
    pub motif_id: Option<MotifId>,
    /// 1-based (default 1).
    pub page: Option<usize>,
    /// Default 100, at most 500.
    pub per_page: Option<usize>,
    pub min_position: Option<i64>,
}

impl ListRdvs {
    pub async fn run(self, app: &Context, caller: &Caller) -> Result<RdvPage, Error> {
        let organisation = app
            .organisation_for(caller, Permission::Rdvs, self.organisation_id)
            .await?;
        let per_page = self.per_page.unwrap_or(100);
        if !(1..=500).contains(&per_page) {
            return Err(DomainError::invalid("per_page", "must be between 1 and 500").into());
        }
        let page = self.page.unwrap_or(1).max(1);
        app.wait_for(rdvs::NAME, self.min_position).await?;
        let docs = app
            .store
            .docs(rdvs::NAME, rdvs::RDVS, &self.organisation_id.to_string())
            .await?;
        let mut found: Vec<RdvDoc> = docs
            .into_iter()
            .filter_map(|d| serde_json::from_value::<RdvDoc>(d).ok())
            .filter(|r| self.wanted(r))
            .collect();
        found.sort_by_key(|r| (r.starts_at, r.id));
        let total_count = found.len();
        let total_pages = total_count.div_ceil(per_page).max(1);
        let mut rdvs: Vec<RdvDoc> = found.into_iter().skip((page - 1) * per_page).take(per_page).collect();
        if !context_shown(app, &organisation).await? {
            rdvs.iter_mut().for_each(|d| d.context = None);
        }
        let meta = PageMeta {
            current_page: page,
            next_page: (page < total_pages).then_some(page + 1),
            prev_page: (page > 1).then_some(page - 1),
            total_pages,
            total_count,
        };
        Ok(RdvPage { rdvs, meta })
    }

    fn wanted(&self, r: &RdvDoc) -> bool {
        self.starts_after.is_none_or(|t| r.starts_at >= t)
            && self.starts_before.is_none_or(|t| r.starts_at < t)
            && self.status.is_none_or(|s| r.status == s)
            && self.agent_id.is_none_or(|a| r.agent_ids.contains(&a.0))
            && self.lieu_id.is_none_or(|l| r.lieu_id == Some(l.0))
            && self.motif_id.is_none_or(|m| r.motif_id == m.0)
    }
}
