//! Motif categories as an organisation works with them (rdv-insertion's
//! CategoryConfiguration and its template texts).

use super::{organisations::organisation, territories::MinPosition};
use crate::{
    auth::Principal,
    error::ApiError,
    extract::{CommandHeaders, Form, JsonBody, Query, path_id},
    reply::{CommandAnswer, CommandReply, changed},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use rdv_app::caller::Place;
use rdv_app::categories::ConfigureCategory;
use rdv_domain::rights::Permission;
use rdv_domain::{
    category::{CategorySettings, CategoryState, CategoryTexts, InvitationFormat, TemplateModel, parse_short_name},
    phone::PhoneE164,
    values::Text,
};
use rdv_projections::follow_ups::{self, CATEGORIES};
use serde::Deserialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Template texts; each absent one takes the wording of the model.
#[derive(Deserialize, ToSchema, Default)]
pub struct TextsRequest {
    rdv_title: Option<String>,
    rdv_title_by_phone: Option<String>,
    rdv_purpose: Option<String>,
    user_designation: Option<String>,
    rdv_subject: Option<String>,
    custom_sentence: Option<String>,
    display_mandatory_warning: Option<bool>,
    /// Empty string: no warning.
    punishable_warning: Option<String>,
}

impl TextsRequest {
    fn merged(self, model: TemplateModel) -> CategoryTexts {
        let d = CategoryTexts::of_model(model);
        CategoryTexts {
            rdv_title: self.rdv_title.unwrap_or(d.rdv_title),
            rdv_title_by_phone: self.rdv_title_by_phone.unwrap_or(d.rdv_title_by_phone),
            rdv_purpose: self.rdv_purpose.unwrap_or(d.rdv_purpose),
            user_designation: self.user_designation.unwrap_or(d.user_designation),
            rdv_subject: self.rdv_subject.unwrap_or(d.rdv_subject),
            custom_sentence: self.custom_sentence.filter(|s| !s.trim().is_empty()),
            display_mandatory_warning: self.display_mandatory_warning.unwrap_or(d.display_mandatory_warning),
            punishable_warning: match self.punishable_warning {
                Some(w) if w.trim().is_empty() => None,
                Some(w) => Some(w),
                None => d.punishable_warning,
            },
        }
    }
}

/// A category's configuration; absent fields take rdv-insertion's defaults.
#[derive(Deserialize, ToSchema)]
pub struct ConfigureCategoryRequest {
    /// The category's name, e.g. "RSA orientation".
    name: Option<String>,
    /// Default `standard`.
    model: Option<TemplateModel>,
    #[serde(default)]
    optional_rdv_subscription: bool,
    /// Default sms, email and postal.
    invitation_formats: Option<BTreeSet<InvitationFormat>>,
    /// Default true.
    convene_user: Option<bool>,
    /// Default 10; more than 3.
    number_of_days_before_action_required: Option<u32>,
    /// Default true.
    invite_to_user_organisations_only: Option<bool>,
    #[serde(default)]
    rdv_with_referents: bool,
    number_of_days_between_periodic_invites: Option<u32>,
    day_of_the_month_periodic_invites: Option<u32>,
    /// Help phone of messages; the organisation's when absent.
    phone_number: Option<String>,
    #[serde(default)]
    texts: TextsRequest,
}

/// Reads a category's configuration, naming each wrong field; absent
/// choices take rdv-insertion's defaults.
fn category_settings(short_name: &str, r: ConfigureCategoryRequest) -> Result<(String, CategorySettings), ApiError> {
    let mut form = Form::default();
    let short_name = form.check(parse_short_name(short_name, "short_name"));
    let name = form.required("name", r.name.as_deref(), Text::parse);
    let phone = r.phone_number.filter(|p| !p.trim().is_empty());
    let phone = form.optional("phone_number", phone.as_deref(), PhoneE164::parse);
    let model = r.model.unwrap_or(TemplateModel::Standard);
    let all_formats = [InvitationFormat::Sms, InvitationFormat::Email, InvitationFormat::Postal];
    form.finish(|| {
        let settings = CategorySettings {
            name: name?,
            model,
            optional_rdv_subscription: r.optional_rdv_subscription,
            invitation_formats: r.invitation_formats.unwrap_or_else(|| all_formats.into()),
            convene_user: r.convene_user.unwrap_or(true),
            number_of_days_before_action_required: r.number_of_days_before_action_required.unwrap_or(10),
            invite_to_user_organisations_only: r.invite_to_user_organisations_only.unwrap_or(true),
            rdv_with_referents: r.rdv_with_referents,
            number_of_days_between_periodic_invites: r.number_of_days_between_periodic_invites,
            day_of_the_month_periodic_invites: r.day_of_the_month_periodic_invites,
            phone_number: phone?,
            texts: r.texts.merged(model),
        };
        Some((short_name?, settings))
    })
}

/// Sets how the organisation works with a motif category (organisation
/// admin). Motifs join the category by their `informations.category`.
#[utoipa::path(put, path = "/v1/organisations/{id}/motif-categories/{short_name}", tag = "insertion",
    params(("id" = String, Path), ("short_name" = String, Path, description = "e.g. rsa_orientation")),
    request_body = ConfigureCategoryRequest, security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn configure_category(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, short_name)): Path<(String, String)>,
    body: JsonBody<ConfigureCategoryRequest>,
) -> Result<CommandReply, ApiError> {
    let organisation_id = path_id(&id, "organisation")?;
    let (short_name, settings) = category_settings(&short_name, body.value)?;
    let command = ConfigureCategory {
        organisation_id,
        short_name,
        settings,
        if_match: headers.if_match,
    };
    let short_name = &command.short_name;
    let ctx = principal.context(
        &headers,
        &format!("PUT /v1/organisations/{id}/motif-categories/{short_name}"),
        &body.hash,
    );
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// The motif categories an organisation has configured.
#[utoipa::path(get, path = "/v1/organisations/{id}/motif-categories", tag = "insertion",
    params(("id" = String, Path), MinPosition), security(("bearer" = [])),
    responses((status = 200, body = Vec<CategoryState>)))]
pub async fn list_categories(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
) -> Result<Json<Vec<CategoryState>>, ApiError> {
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require(
        Permission::ReadOrganisationCatalogue,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    state.wait_for(follow_ups::NAME, q.min_position).await?;
    let docs = state.store.docs(follow_ups::NAME, CATEGORIES, &id).await?;
    Ok(Json(
        docs.into_iter()
            .filter_map(|d| serde_json::from_value(d).ok())
            .collect(),
    ))
}
