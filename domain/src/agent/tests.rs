use super::*;
use crate::{ErrorKind, FixedClock, values::*};
use chrono::{DateTime, Duration};
use cqrs_es::test::TestFramework;
use std::sync::Arc;

const NOW: &str = "2026-01-05T09:00:00Z";

fn now() -> DateTime<chrono::Utc> {
    NOW.parse().unwrap()
}

fn services_at(instant: DateTime<chrono::Utc>) -> Services {
    Services::new(Arc::new(FixedClock::at(instant)), Duration::days(7))
}

fn org() -> OrganisationId {
    OrganisationId("0190a000-0000-7000-8000-000000000001".parse().unwrap())
}

fn other_org() -> OrganisationId {
    OrganisationId("0190a000-0000-7000-8000-000000000002".parse().unwrap())
}

fn hash(s: &str) -> TokenHash {
    TokenHash(s.into())
}

fn new_agent(role: Role) -> NewAgent {
    NewAgent {
        email: (role != Role::Intervenant).then(|| Email::parse("marie@cms.fr", "email").unwrap()),
        first_name: Text::parse("Marie", "f").unwrap(),
        last_name: Text::parse("Curie", "l").unwrap(),
        services: [ServiceKind::ServiceSocial].into(),
        role,
    }
}

fn invite(role: Role, organisation_id: OrganisationId) -> AgentCommand {
    AgentCommand::InviteAgent {
        agent: new_agent(role),
        organisation_id,
        territory_id: TerritoryId::default(),
        invitation_token: hash("inv"),
    }
}

fn invited() -> AgentEvent {
    AgentEvent::AgentInvited {
        agent: new_agent(Role::Admin),
        organisation_id: org(),
        territory_id: TerritoryId::default(),
        invitation: Some(Invitation {
            token_hash: hash("inv"),
            expires_at: now() + Duration::days(7),
        }),
    }
}

#[tokio::test]
async fn inviting_a_new_agent_issues_an_invitation_valid_for_the_ttl() {
    TestFramework::<Agent>::with(services_at(now()))
        .given_no_previous_events()
        .when_async(invite(Role::Admin, org()))
        .await
        .then_expect_events(vec![invited()]);
}

#[tokio::test]
async fn a_known_agent_only_gets_the_new_role() {
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(invite(Role::Basic, other_org()))
        .await
        .then_expect_events(vec![AgentEvent::AgentAddedToOrganisation {
            organisation_id: other_org(),
            territory_id: TerritoryId::default(),
            role: Role::Basic,
        }]);
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(invite(Role::Basic, org()))
        .await
        .then_expect_error_message("the agent already belongs to this organisation");
}

#[tokio::test]
async fn another_territory_only_proposes_to_share_the_agent_until_it_accepts() {
    let elsewhere = TerritoryId("0190a000-0000-7000-8000-0000000000ff".parse().unwrap());
    let proposal = AgentEvent::AgentSharingProposed {
        organisation_id: other_org(),
        territory_id: elsewhere,
        typed: new_agent(Role::Admin),
        invitation: Invitation {
            token_hash: hash("share"),
            expires_at: now() + Duration::days(7),
        },
    };
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(AgentCommand::InviteAgent {
            agent: new_agent(Role::Admin),
            organisation_id: other_org(),
            territory_id: elsewhere,
            invitation_token: hash("share"),
        })
        .await
        .then_expect_events(vec![proposal.clone()]);
    let mut agent = Agent::default();
    for event in [invited(), proposal.clone()] {
        agent.apply(event);
    }
    let state = agent.state().unwrap();
    assert!(
        !state.memberships.contains_key(&other_org()),
        "no membership before acceptance"
    );
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited(), AgentEvent::InvitationAccepted, proposal.clone()])
        .when_async(AgentCommand::AcceptInvitation {
            token_hash: hash("share"),
            api_token: hash("api"),
        })
        .await
        .then_expect_events(vec![
            AgentEvent::AgentSharingAccepted {
                organisation_id: other_org(),
                territory_id: elsewhere,
                role: Role::Admin,
            },
            AgentEvent::ApiTokenIssued {
                token_hash: hash("api"),
            },
        ]);
    TestFramework::<Agent>::with(services_at(now() + Duration::days(8)))
        .given(vec![invited(), AgentEvent::InvitationAccepted, proposal])
        .when_async(AgentCommand::AcceptInvitation {
            token_hash: hash("share"),
            api_token: hash("api"),
        })
        .await
        .then_expect_error_message(&format!(
            "this invitation expired on {}; ask an administrator to send a new one",
            (now() + Duration::days(7)).to_rfc3339()
        ));
}

#[tokio::test]
async fn an_intervenant_has_no_email_and_no_invitation() {
    TestFramework::<Agent>::with(services_at(now()))
        .given_no_previous_events()
        .when_async(invite(Role::Intervenant, org()))
        .await
        .then_expect_events(vec![AgentEvent::AgentInvited {
            agent: new_agent(Role::Intervenant),
            organisation_id: org(),
            territory_id: TerritoryId::default(),
            invitation: None,
        }]);
    let mut with_email = new_agent(Role::Intervenant);
    with_email.email = Some(Email::parse("x@y.fr", "email").unwrap());
    TestFramework::<Agent>::with(services_at(now()))
        .given_no_previous_events()
        .when_async(AgentCommand::InviteAgent {
            agent: with_email,
            organisation_id: org(),
            territory_id: TerritoryId::default(),
            invitation_token: hash("inv"),
        })
        .await
        .then_expect_error(DomainError::invalid(
            "email",
            "an intervenant has no e-mail and no login",
        ));
}

#[tokio::test]
async fn accepting_activates_and_issues_an_api_token() {
    TestFramework::<Agent>::with(services_at(now() + Duration::days(6)))
        .given(vec![invited()])
        .when_async(AgentCommand::AcceptInvitation {
            token_hash: hash("inv"),
            api_token: hash("api"),
        })
        .await
        .then_expect_events(vec![
            AgentEvent::InvitationAccepted,
            AgentEvent::ApiTokenIssued {
                token_hash: hash("api"),
            },
        ]);
}

#[tokio::test]
async fn an_expired_invitation_is_gone() {
    let result = TestFramework::<Agent>::with(services_at(now() + Duration::days(7)))
        .given(vec![invited()])
        .when_async(AgentCommand::AcceptInvitation {
            token_hash: hash("inv"),
            api_token: hash("api"),
        })
        .await
        .inspect_result();
    assert_eq!(result.unwrap_err().kind, ErrorKind::Gone);
}

#[tokio::test]
async fn a_used_or_wrong_token_is_refused() {
    let used = TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited(), AgentEvent::InvitationAccepted])
        .when_async(AgentCommand::AcceptInvitation {
            token_hash: hash("inv"),
            api_token: hash("api"),
        })
        .await
        .inspect_result();
    assert_eq!(used.unwrap_err().kind, ErrorKind::Gone);
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(AgentCommand::AcceptInvitation {
            token_hash: hash("other"),
            api_token: hash("api"),
        })
        .await
        .then_expect_error(DomainError::invalid("token", "this invitation token is not valid"));
}

#[tokio::test]
async fn reinviting_replaces_the_token_and_the_window() {
    let later = now() + Duration::days(10);
    TestFramework::<Agent>::with(services_at(later))
        .given(vec![invited()])
        .when_async(AgentCommand::ReinviteAgent {
            token_hash: hash("inv2"),
        })
        .await
        .then_expect_events(vec![AgentEvent::AgentReinvited {
            invitation: Invitation {
                token_hash: hash("inv2"),
                expires_at: later + Duration::days(7),
            },
        }]);
    TestFramework::<Agent>::with(services_at(later))
        .given(vec![invited(), AgentEvent::InvitationAccepted])
        .when_async(AgentCommand::ReinviteAgent {
            token_hash: hash("inv2"),
        })
        .await
        .then_expect_error_message("the agent is already active");
    // The first link no longer works once a new one was sent.
    TestFramework::<Agent>::with(services_at(later))
        .given(vec![
            invited(),
            AgentEvent::AgentReinvited {
                invitation: Invitation {
                    token_hash: hash("inv2"),
                    expires_at: later,
                },
            },
        ])
        .when_async(AgentCommand::AcceptInvitation {
            token_hash: hash("inv"),
            api_token: hash("api"),
        })
        .await
        .then_expect_error_message("this invitation token is not valid");
}

#[tokio::test]
async fn roles_change_within_basic_and_admin_only() {
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(AgentCommand::ChangeAgentRole {
            organisation_id: org(),
            role: Role::Basic,
        })
        .await
        .then_expect_events(vec![AgentEvent::AgentRoleChanged {
            organisation_id: org(),
            role: Role::Basic,
        }]);
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(AgentCommand::ChangeAgentRole {
            organisation_id: org(),
            role: Role::Intervenant,
        })
        .await
        .then_expect_error_message("an intervenant cannot become a basic or admin agent, nor the reverse");
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(AgentCommand::ChangeAgentRole {
            organisation_id: other_org(),
            role: Role::Basic,
        })
        .await
        .then_expect_error(DomainError::not_found("agent in this organisation"));
}

#[tokio::test]
async fn territory_rights_and_removal_and_token_revocation() {
    let rights = TerritoryRights {
        admin: false,
        manage_configuration: true,
        manage_webhooks: false,
        audit: false,
    };
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(AgentCommand::GrantTerritoryRights {
            territory_id: TerritoryId::default(),
            rights,
        })
        .await
        .then_expect_events(vec![AgentEvent::TerritoryRightsGranted {
            territory_id: TerritoryId::default(),
            rights,
        }]);
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(AgentCommand::RemoveAgentFromOrganisation { organisation_id: org() })
        .await
        .then_expect_events(vec![AgentEvent::AgentRemovedFromOrganisation {
            organisation_id: org(),
        }]);
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![
            invited(),
            AgentEvent::InvitationAccepted,
            AgentEvent::ApiTokenIssued {
                token_hash: hash("api"),
            },
        ])
        .when_async(AgentCommand::RevokeApiToken {
            token_hash: hash("api"),
        })
        .await
        .then_expect_events(vec![AgentEvent::ApiTokenRevoked {
            token_hash: hash("api"),
        }]);
    TestFramework::<Agent>::with(services_at(now()))
        .given(vec![invited()])
        .when_async(AgentCommand::RevokeApiToken {
            token_hash: hash("api"),
        })
        .await
        .then_expect_error(DomainError::not_found("token"));
}
