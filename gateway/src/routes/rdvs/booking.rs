//! Booking an RDV: by an agent (warnings, never refused for overlaps) or
//! by an usager (offered slots only, never two RDVs on one agent's time).

use super::*;
use rdv_app::booking::{BookPublicRdv, BookRdv, Booked, Booker, PublicBookingAnswer};

#[derive(Deserialize, ToSchema)]
pub struct BookRdvRequest {
    organisation_id: OrganisationId,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
    agent_ids: BTreeSet<AgentId>,
    usager_ids: BTreeSet<UsagerId>,
    /// RFC 3339.
    #[schema(value_type = String)]
    starts_at: DateTime<FixedOffset>,
    /// Defaults to the motif's duration.
    duration_in_min: Option<u32>,
    /// Internal "Contexte" note.
    context: Option<String>,
    /// Collective motifs only: the atelier's title.
    name: Option<String>,
    /// Collective motifs only: seats (default: the motif's); none means
    /// unlimited.
    max_participants_count: Option<u32>,
}

/// Books an RDV as an agent: any time, any agent of the organisation.
/// Overlaps and a start in the past are warnings, as in RDV Service Public.
#[utoipa::path(post, path = "/v1/rdvs", tag = "rdvs", request_body = BookRdvRequest, security(("bearer" = [])),
    responses((status = 201, body = CommandAnswer, description = "also holds warnings"), (status = 422, body = crate::error::Problem)))]
pub async fn book_rdv(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    body: JsonBody<BookRdvRequest>,
) -> Result<CommandReply, ApiError> {
    let r = body.value;
    let command = BookRdv {
        organisation_id: r.organisation_id,
        motif_id: r.motif_id,
        lieu_id: r.lieu_id,
        agent_ids: r.agent_ids,
        usager_ids: r.usager_ids,
        starts_at: r.starts_at,
        duration_in_min: r.duration_in_min,
        context: r.context,
        name: r.name,
        max_participants_count: r.max_participants_count,
    };
    let ctx = principal.context(&headers, "POST /v1/rdvs", &body.hash);
    let respond = reply(
        StatusCode::CREATED,
        "Rdv",
        |b: &Booked| b.rdv_id.to_string(),
        |b| json!({"warnings": b.warnings}),
    );
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

#[derive(Deserialize, ToSchema)]
pub struct PublicBookingRequest {
    organisation_id: OrganisationId,
    motif_id: MotifId,
    lieu_id: Option<LieuId>,
    /// RFC 3339; must be a slot the search offers now.
    #[schema(value_type = String)]
    starts_at: DateTime<FixedOffset>,
    /// Who books, when not invited.
    usager: Option<UsagerFields>,
    /// The token of an invitation link: the invited usager books (the
    /// category's motifs open to invited usagers, no usager fields).
    invitation_token: Option<String>,
    /// A professional booking for the usager (RDV Service Public's
    /// prescripteur): allowed for motifs naming prescripteurs too.
    prescripteur: Option<PrescripteurFields>,
}

/// Who the prescripteur is (kept with the RDV; personal data: never logged).
#[derive(Deserialize, ToSchema)]
pub struct PrescripteurFields {
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

impl PrescripteurFields {
    fn parse(self) -> Result<Prescripteur, ApiError> {
        let mut form = Form::default();
        let first_name = form.required("prescripteur.first_name", self.first_name.as_deref(), Text::parse);
        let last_name = form.required("prescripteur.last_name", self.last_name.as_deref(), Text::parse);
        let email = form.required("prescripteur.email", self.email.as_deref(), Email::parse);
        let phone = self.phone.filter(|p| !p.trim().is_empty());
        let phone = form.optional(
            "prescripteur.phone",
            phone.as_deref(),
            rdv_domain::phone::PhoneE164::parse,
        );
        form.finish(|| {
            Some(Prescripteur {
                first_name: first_name?,
                last_name: last_name?,
                email: email?,
                phone: phone?,
            })
        })
    }
}

/// Books an offered slot as an usager (no login). The agent is chosen among
/// those free at that time by [`agent_preference`]. A slot taken meanwhile is 409 with `next_slots`. Never two
/// RDVs on one agent's time: the agent's day is reserved in the same
/// transaction as the RDV is created.
#[utoipa::path(post, path = "/v1/public/rdvs", tag = "rdvs", request_body = PublicBookingRequest,
    responses((status = 201, body = PublicBookingAnswer), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn public_book(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<PublicBookingRequest>,
) -> Result<CommandReply, ApiError> {
    let r = body.value;
    let prescripteur = r.prescripteur.map(|p| p.parse()).transpose()?;
    let booker = match (r.invitation_token, r.usager) {
        (Some(token), None) => Booker::Invited { token },
        (Some(_), Some(_)) => {
            return Err(DomainError::invalid("usager", "an invited usager books as themself: no usager fields").into());
        }
        (None, Some(fields)) => Booker::New(fields.parse("usager.", state.services().now().date_naive())?),
        (None, None) => return Err(DomainError::invalid("usager", "who books: the usager's fields").into()),
    };
    let command = BookPublicRdv {
        organisation_id: r.organisation_id,
        motif_id: r.motif_id,
        lieu_id: r.lieu_id,
        starts_at: r.starts_at,
        booker,
        prescripteur,
    };
    let ctx = crate::auth::anonymous_context("usager".into(), &headers);
    let respond = reply(
        StatusCode::CREATED,
        "Rdv",
        |a: &PublicBookingAnswer| a.rdv_id.to_string(),
        |a| json!(a),
    );
    Ok(CommandReply(command.run(&state, ctx, respond).await?))
}
