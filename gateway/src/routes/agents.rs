//! Agents over HTTP: invitations and their acceptance, roles, removal,
//! token revocation and reads. Commands run the use cases of
//! [`rdv_app::agents`].

use super::{organisations::organisation, territories::MinPosition};
use crate::{
    auth::{Principal, anonymous_context},
    error::ApiError,
    extract::{CommandHeaders, Form, JsonBody, Query, path_id},
    reply::{CommandAnswer, CommandReply, changed, reply},
    state::AppState,
};
use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use rdv_app::agents::{
    AcceptAgentInvitation, AcceptInvitationAnswer, ChangeAgentRole, InviteAgent, InviteAgentAnswer, ReinviteAgent,
    RemoveAgentFromOrganisation, RevokeToken,
};
use rdv_app::caller::Place;
use rdv_domain::rights::Permission;
use rdv_domain::{
    DomainError,
    agent::{Agent, AgentState},
    ids::AgentId,
    values::{Email, Role, ServiceKind, Text},
};
use rdv_projections::directory::{self, OrganisationAgentView};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
pub struct InviteAgentRequest {
    /// Required, except for an intervenant (who has none).
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// Slugs of services active in the territory, at least one.
    services: Option<Vec<String>>,
    /// `basic`, `admin` or `intervenant`.
    role: Option<Role>,
}

/// Reads the requested services in order, naming `services[i]` on an
/// unknown slug (the use case checks they are active in the territory).
fn parse_services(raw: &[String]) -> Result<Vec<ServiceKind>, DomainError> {
    let parse = |(i, slug): (usize, &String)| ServiceKind::parse(slug, &format!("services[{i}]"));
    raw.iter().enumerate().map(parse).collect()
}

/// The answer of an invitation: the agent's record and the invitation.
fn invited(
    status: StatusCode,
) -> impl Fn(&InviteAgentAnswer, &rdv_eventstore::CommitSummary<'_>) -> rdv_eventstore::StoredResponse + Send + Sync {
    reply(
        status,
        "Agent",
        |a: &InviteAgentAnswer| a.agent_id.to_string(),
        |a| json!(a),
    )
}

/// Invites an agent into an organisation (InviteAgent). A known e-mail only
/// gets the new role; the invitation e-mail goes to the outbox.
#[utoipa::path(post, path = "/v1/organisations/{id}/agents", tag = "agents", params(("id" = String, Path)),
    request_body = InviteAgentRequest, security(("bearer" = [])),
    responses((status = 201, body = InviteAgentAnswer, description = "also holds id, version and events"),
              (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn invite_agent(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path(id): Path<String>,
    body: JsonBody<InviteAgentRequest>,
) -> Result<CommandReply, ApiError> {
    let organisation_id = path_id(&id, "organisation")?;
    let r = body.value;
    let mut form = Form::default();
    let email = form.optional("email", r.email.as_deref(), Email::parse);
    let first_name = form.required("first_name", r.first_name.as_deref(), Text::parse);
    let last_name = form.required("last_name", r.last_name.as_deref(), Text::parse);
    let services = match &r.services {
        Some(raw) => form.check(parse_services(raw)),
        None => {
            form.missing("services");
            None
        }
    };
    if r.role.is_none() {
        form.missing("role");
    }
    let command = form.finish(|| {
        Some(InviteAgent {
            organisation_id,
            email: email?,
            first_name: first_name?,
            last_name: last_name?,
            services: services?,
            role: r.role?,
        })
    })?;
    let ctx = principal.context(&headers, &format!("POST /v1/organisations/{id}/agents"), &body.hash);
    let respond = invited(StatusCode::CREATED);
    Ok(CommandReply(command.run(&state, &principal, &ctx, respond).await?))
}

/// The agents of an organisation, invited or active.
#[utoipa::path(get, path = "/v1/organisations/{id}/agents", tag = "agents", params(("id" = String, Path), MinPosition),
    security(("bearer" = [])), responses((status = 200, body = Vec<OrganisationAgentView>)))]
pub async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<MinPosition>,
) -> Result<Json<Vec<OrganisationAgentView>>, ApiError> {
    let (organisation_id, organisation) = organisation(&state, &id).await?;
    principal.require(
        Permission::ListAgents,
        Place::Organisation(organisation_id, organisation.territory_id),
    )?;
    state.wait_for(directory::NAME, q.min_position).await?;
    let docs = state
        .store
        .docs(directory::NAME, directory::ORGANISATION_AGENTS, &id)
        .await?;
    Ok(Json(
        docs.into_iter()
            .filter_map(|d| serde_json::from_value(d).ok())
            .collect(),
    ))
}

/// Whether the caller may read this agent: the agent itself, a member of
/// one of its organisations (as for the organisation's list), anyone with
/// rights in one of its organisations' territories, or an auditor or
/// territorial admin of a territory where it holds rights.
fn may_read_agent(principal: &Principal, id: AgentId, agent: &AgentState) -> bool {
    principal.is_platform_admin()
        || principal.agent_id() == Some(id)
        || agent.memberships.iter().any(|(organisation, m)| {
            principal.may(
                Permission::ListAgents,
                Place::Organisation(*organisation, m.territory_id),
            )
        })
        || agent
            .territory_rights
            .keys()
            .any(|t| principal.may(Permission::Audit, Place::Territory(*t)))
}

/// An agent: identity, services, invitation status, role per organisation
/// and territory rights (never its tokens), now or as it stood at `as_of`.
/// Read from its stream, so always up to date. Unknown and not visible to
/// the caller answer the same 404.
#[utoipa::path(get, path = "/v1/agents/{id}", tag = "agents", params(("id" = String, Path), crate::extract::AsOf),
    security(("bearer" = [])), responses((status = 200, body = directory::AgentView), (status = 404, body = crate::error::Problem)))]
pub async fn get_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(q): Query<crate::extract::AsOf>,
) -> Result<Json<directory::AgentView>, ApiError> {
    let agent_id: AgentId = path_id(&id, "agent")?;
    let now: Agent = state.load(&id).await?;
    let visible_now = now
        .0
        .as_ref()
        .is_some_and(|now| may_read_agent(&principal, agent_id, now));
    let then = match q.as_of {
        None => now,
        Some(_) => state.load_as_of::<Agent>(&id, q.as_of).await?,
    };
    let then = match then.0 {
        Some(then) if visible_now || may_read_agent(&principal, agent_id, &then) => then,
        None if visible_now => return Err(ApiError::not_found("agent as of this instant")),
        _ => return Err(ApiError::not_found("agent")),
    };
    Ok(Json(directory::AgentView::of_state(agent_id.0, &then)))
}

#[derive(Deserialize, ToSchema)]
pub struct ChangeRoleRequest {
    role: Option<Role>,
}

/// Changes an agent's role in the organisation (basic ⇄ admin).
#[utoipa::path(patch, path = "/v1/organisations/{id}/agents/{agent_id}", tag = "agents",
    params(("id" = String, Path), ("agent_id" = String, Path)), request_body = ChangeRoleRequest, security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
pub async fn change_agent_role(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, agent_id)): Path<(String, String)>,
    body: JsonBody<ChangeRoleRequest>,
) -> Result<CommandReply, ApiError> {
    let command = ChangeAgentRole {
        organisation_id: path_id(&id, "organisation")?,
        agent_id: path_id(&agent_id, "agent")?,
        role: body
            .value
            .role
            .ok_or_else(|| DomainError::invalid("role", "is required"))?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(
        &headers,
        &format!("PATCH /v1/organisations/{id}/agents/{agent_id}"),
        &body.hash,
    );
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// Removes an agent from the organisation (RemoveAgentFromOrganisation).
#[utoipa::path(delete, path = "/v1/organisations/{id}/agents/{agent_id}", tag = "agents",
    params(("id" = String, Path), ("agent_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 404, body = crate::error::Problem)))]
pub async fn remove_agent(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, agent_id)): Path<(String, String)>,
) -> Result<CommandReply, ApiError> {
    let command = RemoveAgentFromOrganisation {
        organisation_id: path_id(&id, "organisation")?,
        agent_id: path_id(&agent_id, "agent")?,
        if_match: headers.if_match,
    };
    let ctx = principal.context(
        &headers,
        &format!("DELETE /v1/organisations/{id}/agents/{agent_id}"),
        "",
    );
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}

/// Sends a new invitation (new token, new validity window) to an agent who
/// has not accepted yet; the previous link stops working.
#[utoipa::path(post, path = "/v1/organisations/{id}/agents/{agent_id}/reinvite", tag = "agents",
    params(("id" = String, Path), ("agent_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = InviteAgentAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn reinvite_agent(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
    Path((id, agent_id)): Path<(String, String)>,
) -> Result<CommandReply, ApiError> {
    let command = ReinviteAgent {
        organisation_id: path_id(&id, "organisation")?,
        agent_id: path_id(&agent_id, "agent")?,
    };
    let path = format!("POST /v1/organisations/{id}/agents/{agent_id}/reinvite");
    let ctx = principal.context(&headers, &path, "");
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, invited(StatusCode::OK)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct AcceptInvitationRequest {
    /// The token from the invitation link.
    token: Option<String>,
}

/// Accepts an invitation (AcceptInvitation) and returns the agent's API
/// token. An expired or already used invitation is 410. Being a one-time
/// exchange of secrets, it ignores `Idempotency-Key`.
#[utoipa::path(post, path = "/v1/agents/invitations/accept", tag = "agents", request_body = AcceptInvitationRequest,
    responses((status = 200, body = AcceptInvitationAnswer), (status = 410, body = crate::error::Problem),
              (status = 422, body = crate::error::Problem)))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<AcceptInvitationRequest>,
) -> Result<CommandReply, ApiError> {
    let token = body
        .value
        .token
        .ok_or_else(|| ApiError::from(DomainError::invalid("token", "is required")))?;
    let ctx = anonymous_context("agent".into(), &headers);
    let respond = reply(
        StatusCode::OK,
        "Agent",
        |a: &AcceptInvitationAnswer| a.agent_id.to_string(),
        |a| json!(a),
    );
    let command = AcceptAgentInvitation { token };
    Ok(CommandReply(command.run(&state, ctx, respond).await?))
}

/// Revokes the token of this request: it stops working at once.
#[utoipa::path(post, path = "/v1/auth/revoke", tag = "agents", security(("bearer" = [])),
    responses((status = 200, body = CommandAnswer), (status = 409, body = crate::error::Problem)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    headers: CommandHeaders,
) -> Result<CommandReply, ApiError> {
    let ctx = principal.context(&headers, "POST /v1/auth/revoke", "");
    let command = RevokeToken {
        set_by_configuration: state.admin_token.as_ref() == Some(principal.token()),
    };
    Ok(CommandReply(
        command.run(&state, &principal, &ctx, changed(StatusCode::OK)).await?,
    ))
}
