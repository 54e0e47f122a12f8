//! Convoquer over HTTP: the request, then the use case
//! ([`rdv_app::insertion::Convoquer`]) books the RDV or the atelier seat,
//! marks the participation convocable and queues the notices in one
//! transaction.

use super::*;
use crate::{
    extract::Query,
    routes::{follow_ups::follow_up_id, territories::MinPosition},
};
use rdv_app::insertion::{ConvocationAnswer, ConvocationMode, Convoquer};
use rdv_domain::category::InvitationFormat;
use rdv_projections::rdvs as rdv_views;

#[derive(Deserialize, ToSchema)]
pub struct ConvocationRequest {
    organisation_id: OrganisationId,
    #[serde(default)]
    mode: ConvocationMode,
    /// Individual: RFC 3339 start chosen by the agent; absent, the next
    /// free slot of the convocation motif.
    #[schema(value_type = Option<String>)]
    starts_at: Option<DateTime<FixedOffset>>,
    /// Individual: the agent; absent, one free at that time.
    agent_id: Option<AgentId>,
    /// Individual: the lieu (the slot's when computed).
    lieu_id: Option<LieuId>,
    /// Channels of the convocation (default: SMS and e-mail, those the
    /// usager can receive); each asked for must reach the usager.
    formats: Option<BTreeSet<InvitationFormat>>,
}

/// Convokes the usager of a convocable follow-up (no-show, excused, or
/// invited past the window) to an RDV of its category, in one step.
/// `min_position` waits for the motifs and ateliers read models.
#[utoipa::path(post, path = "/v1/follow-ups/{id}/convocations", tag = "insertion", params(("id" = String, Path), MinPosition),
    request_body = ConvocationRequest, security(("bearer" = [])),
    responses((status = 201, body = ConvocationAnswer), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn convoke(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
    body: JsonBody<ConvocationRequest>,
) -> Result<CommandReply, ApiError> {
    let follow_up_id = follow_up_id(&id)?;
    state
        .wait_for(rdv_projections::configuration::NAME, q.min_position)
        .await?;
    state.wait_for(rdv_views::NAME, q.min_position).await?;
    let r = body.value;
    let command = Convoquer {
        follow_up_id,
        organisation_id: r.organisation_id,
        mode: r.mode,
        starts_at: r.starts_at,
        agent_id: r.agent_id,
        lieu_id: r.lieu_id,
        formats: r.formats,
    };
    let ctx = principal.context(&headers, &format!("POST /v1/follow-ups/{id}/convocations"), &body.hash);
    let respond = reply(
        StatusCode::CREATED,
        "Rdv",
        |a: &ConvocationAnswer| a.rdv_id.to_string(),
        |a| json!(a),
    );
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}
