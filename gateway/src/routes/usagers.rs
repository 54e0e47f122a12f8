//! Usagers: creation and update with the espace's field settings, search,
//! the usager page (relatives, RDVs) and history.

use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, Form, JsonBody, path_id},
    reply::{CommandAnswer, CommandReply, changed},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::NaiveDate;
use rdv_app::rgpd::ForgetUsager;
use rdv_app::usager_views::{ReadUsager, SearchUsagers, UsagerView};
use rdv_app::usagers::{ArchiveUsager, CreateUsager, UnarchiveUsager, UpdateUsager, visible_usager};
use rdv_domain::{
    ids::{OrganisationId, UsagerId},
    usager::{NotificationPreferences, Usager, UsagerProfile},
    values::{Email, Text},
};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// An usager's identity and contact, as forms send it.
#[derive(Deserialize, ToSchema)]
pub struct UsagerFields {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    birth_date: Option<NaiveDate>,
    /// Values of the espace's custom fields, by key.
    #[serde(default)]
    #[schema(value_type = Object)]
    custom_fields: std::collections::BTreeMap<String, Value>,
    /// E-mail and SMS notifications (both on when absent).
    notifications: Option<NotificationPreferences>,
    /// The SI's own identifier of this usager.
    external_id: Option<String>,
    /// `monsieur` or `madame`: needed to invite or convoke.
    title: Option<rdv_domain::usager::Civility>,
    /// One line: street, postcode and city (for letters).
    address: Option<String>,
    /// CAF or MSA number.
    affiliation_number: Option<String>,
}

impl UsagerFields {
    /// Parses the fields (`prefix` names them in errors, e.g. `usager.`);
    /// a birth date is between 1900 and `today`.
    pub(crate) fn parse(self, prefix: &str, today: chrono::NaiveDate) -> Result<UsagerProfile, ApiError> {
        let mut form = Form::default();
        if let Some(day) = self.birth_date {
            form.check(rdv_domain::values::check_birth_date(
                day,
                today,
                &format!("{prefix}birth_date"),
            ));
        }
        let first_name = form.required(&format!("{prefix}first_name"), self.first_name.as_deref(), Text::parse);
        let last_name = form.required(&format!("{prefix}last_name"), self.last_name.as_deref(), Text::parse);
        let email = form.optional(&format!("{prefix}email"), self.email.as_deref(), Email::parse);
        let phone = self.phone.filter(|p| !p.trim().is_empty());
        let phone = form.optional(
            &format!("{prefix}phone"),
            phone.as_deref(),
            rdv_domain::phone::PhoneE164::parse,
        );
        form.finish(|| {
            Some(UsagerProfile {
                first_name: first_name?,
                last_name: last_name?,
                email: email?,
                phone: phone?,
                birth_date: self.birth_date,
                custom: self.custom_fields,
                responsible_id: None,
                notifications: self.notifications.unwrap_or_default(),
                external_id: self.external_id.map(|id| id.trim().to_string()),
                title: self.title,
                address: trimmed(self.address),
                affiliation_number: trimmed(self.affiliation_number),
            })
        })
    }
}

/// A free text field: trimmed, and none when blank.
fn trimmed(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

#[derive(Deserialize, ToSchema)]
pub struct CreateUsagerRequest {
    organisation_ids: BTreeSet<OrganisationId>,
    /// Makes this usager a relative of another, who books and is notified
    /// for them; the relative joins the responsible's organisations.
    responsible_id: Option<UsagerId>,
    #[serde(flatten)]
    fields: UsagerFields,
}

/// Creates an usager in organisations the agent works in (or a relative of
/// an usager, with `responsible_id`).
#[utoipa::path(post, path = "/v1/usagers", tag = "rdvs", request_body = CreateUsagerRequest, security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer), (status = 422, body = crate::error::Problem)))]
pub async fn create_usager(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    body: JsonBody<CreateUsagerRequest>,
) -> Result<CommandReply, ApiError> {
    let r = body.value;
    let command = CreateUsager {
        profile: r.fields.parse("", state.services().now().date_naive())?,
        organisation_ids: r.organisation_ids,
        responsible_id: r.responsible_id,
    };
    let ctx = principal.context(&headers, "POST /v1/usagers", &body.hash);
    let respond = changed(StatusCode::CREATED);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// What a PATCH of an usager may change: its organisations and its fields.
#[derive(Deserialize)]
struct UsagerUpdate {
    organisation_ids: BTreeSet<OrganisationId>,
    #[serde(flatten)]
    fields: UsagerFields,
}

/// Changes an usager: the body is a JSON merge patch (RFC 7396) of
/// `{organisation_ids, first_name, last_name, email, phone, birth_date,
/// custom_fields, notifications, external_id, title, address,
/// affiliation_number}`; `null` clears a field.
/// Required and custom fields are checked against the espace's settings;
/// the caller must work in every organisation it adds or removes.
#[utoipa::path(patch, path = "/v1/usagers/{id}", tag = "rdvs", params(("id" = String, Path)),
    request_body(content = Object, description = "JSON merge patch of the usager"), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 412, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn update_usager(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<Value>,
) -> Result<CommandReply, ApiError> {
    let usager_id: UsagerId = path_id(&id, "usager")?;
    let (usager, _) = visible_usager(&state, &principal, usager_id).await?;
    let p = &usager.profile;
    let current = json!({
        "organisation_ids": usager.organisation_ids,
        "first_name": p.first_name, "last_name": p.last_name, "email": p.email, "phone": p.phone,
        "birth_date": p.birth_date, "custom_fields": p.custom, "notifications": p.notifications,
        "external_id": p.external_id, "title": p.title, "address": p.address,
        "affiliation_number": p.affiliation_number,
    });
    let update = JsonBody::<UsagerUpdate>::patched(current, body.value)?;
    let command = UpdateUsager {
        usager_id,
        organisation_ids: update.organisation_ids,
        profile: update.fields.parse("", state.services().now().date_naive())?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("PATCH /v1/usagers/{id}"), &body.hash);
    let respond = changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// An usager, with the fields the espace shows (hidden or removed fields
/// keep their values and show again when they come back). With `as_of`,
/// the profile and organisations as they stood then (without the lists).
#[utoipa::path(get, path = "/v1/usagers/{id}", tag = "rdvs", params(("id" = String, Path), crate::extract::AsOf),
    security(("bearer" = [])),
    responses((status = 200, body = UsagerView), (status = 404, body = crate::error::Problem)))]
pub async fn get_usager(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<crate::extract::AsOf>,
) -> Result<Json<UsagerView>, ApiError> {
    let query = ReadUsager {
        usager_id: path_id(&id, "usager")?,
        as_of: q.as_of,
    };
    Ok(Json(query.run(&state, &principal).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct UsagerSearch {
    /// Words matched against names, e-mail, phone and birth date, ignoring
    /// case and accents ("helene 06 12" finds Hélène with 06 12 34 56 78).
    search: Option<String>,
    min_position: Option<i64>,
}

/// The usagers of an organisation matching a search, by last then first name
/// (at most 100), with the fields the espace shows.
#[utoipa::path(get, path = "/v1/organisations/{id}/usagers", tag = "rdvs", params(("id" = String, Path), UsagerSearch),
    security(("bearer" = [])), responses((status = 200, body = Vec<UsagerView>)))]
pub async fn search_usagers(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    crate::extract::Query(q): crate::extract::Query<UsagerSearch>,
) -> Result<Json<Vec<UsagerView>>, ApiError> {
    let query = SearchUsagers {
        organisation_id: path_id(&id, "organisation")?,
        search: q.search.unwrap_or_default(),
        min_position: q.min_position,
    };
    Ok(Json(query.run(&state, &principal).await?))
}

/// Every change of an usager: who, when, which fields (for the agents of
/// its organisations).
#[utoipa::path(get, path = "/v1/usagers/{id}/history", tag = "rdvs", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<rdv_app::history::HistoryEntry>), (status = 404, body = crate::error::Problem)))]
pub async fn usager_history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Vec<rdv_app::history::HistoryEntry>>, ApiError> {
    visible_usager(&state, &principal, path_id(&id, "usager")?).await?;
    let events = state.store.load_stream("Usager", &id).await?;
    Ok(Json(rdv_app::history::of::<Usager>(&events, |u| {
        u.0.as_ref().map_or(
            Value::Null,
            |s| json!({"organisation_ids": s.organisation_ids, "profile": s.profile}),
        )
    })?))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ArchiveRequest {
    /// Internal reason ("déménagement"...).
    reason: Option<String>,
}

/// Archives an usager: no more invitations or reminders, and every
/// invitation still valid ends now (rdv-insertion's archives), in one
/// transaction.
#[utoipa::path(post, path = "/v1/usagers/{id}/archive", tag = "insertion", params(("id" = String, Path)),
    request_body = ArchiveRequest, security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn archive_usager(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<ArchiveRequest>,
) -> Result<CommandReply, ApiError> {
    let command = ArchiveUsager {
        usager_id: path_id(&id, "usager")?,
        reason: body.value.reason,
    };
    let ctx = principal.context(&headers, &format!("POST /v1/usagers/{id}/archive"), &body.hash);
    let respond = changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Brings an archived usager back (invitations may be sent again).
#[utoipa::path(post, path = "/v1/usagers/{id}/unarchive", tag = "insertion", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)))]
pub async fn unarchive_usager(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let command = UnarchiveUsager {
        usager_id: path_id(&id, "usager")?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("POST /v1/usagers/{id}/unarchive"), "");
    let respond = changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// Forgets an usager for good (RGPD right to erasure): their data key is
/// destroyed, so every event about them reads with the personal fields
/// erased (the rest of the history stays and verifies); read models drop
/// them, the messages sent to them are deleted, webhook bodies lose their
/// fields, and SIs get a `destroyed` webhook with `webhook_reason: "rgpd"`.
/// Only an organisation admin may; forgetting twice changes nothing. The
/// answer comes once the key is destroyed.
#[utoipa::path(post, path = "/v1/usagers/{id}/forget", tag = "rdvs", params(("id" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 403, body = crate::error::Problem),
              (status = 404, body = crate::error::Problem)))]
pub async fn forget_usager(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
) -> Result<CommandReply, ApiError> {
    let command = ForgetUsager {
        usager_id: path_id(&id, "usager")?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(&headers, &format!("POST /v1/usagers/{id}/forget"), "");
    let respond = changed(StatusCode::OK);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}
