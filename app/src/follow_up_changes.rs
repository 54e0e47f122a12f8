//! An agent's changes to a follow-up (rdv-insertion's "suivi"):
//! [`SetFollowUpClosed`] (closing ends its invitations) and
//! [`SetReferents`].

use crate::{
    Context, Error,
    caller::Caller,
    insertion::visible_follow_up,
    respond::{Changed, Respond, change_record},
};
use rdv_domain::{
    DomainError,
    agent::Agent,
    follow_up::{FollowUp, FollowUpCommand},
    ids::{AgentId, FollowUpId},
};
use rdv_eventstore::{CommandContext, CommandOutcome};
use std::collections::BTreeSet;

/// Closes a follow-up (its invitations stop being valid) or reopens it.
#[derive(Debug, Clone)]
pub struct SetFollowUpClosed {
    pub follow_up_id: FollowUpId,
    pub closed: bool,
    pub if_match: Option<i64>,
}

impl SetFollowUpClosed {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        visible_follow_up(app, caller, self.follow_up_id, None).await?;
        let change = match self.closed {
            true => FollowUpCommand::CloseFollowUp,
            false => FollowUpCommand::ReopenFollowUp,
        };
        change_record::<FollowUp>(app, command, self.follow_up_id, change, self.if_match, respond).await
    }
}

/// Sets the usager's referents in a follow-up: agents of one of its
/// organisations.
#[derive(Debug, Clone)]
pub struct SetReferents {
    pub follow_up_id: FollowUpId,
    pub agent_ids: BTreeSet<AgentId>,
    pub if_match: Option<i64>,
}

impl SetReferents {
    pub async fn run(
        self,
        app: &Context,
        caller: &Caller,
        command: &CommandContext,
        respond: impl Respond<Changed>,
    ) -> Result<CommandOutcome, Error> {
        let (follow_up, _) = visible_follow_up(app, caller, self.follow_up_id, None).await?;
        let organisations = follow_up.organisations();
        for (i, agent) in self.agent_ids.iter().enumerate() {
            let agent = app.load::<Agent>(&agent.to_string()).await?.0;
            if !agent.is_some_and(|a| a.memberships.keys().any(|o| organisations.contains(o))) {
                let message = "no such agent in the follow-up's organisations";
                return Err(DomainError::invalid(&format!("agent_ids[{i}]"), message).into());
            }
        }
        let set = FollowUpCommand::SetReferents {
            agent_ids: self.agent_ids,
        };
        change_record::<FollowUp>(app, command, self.follow_up_id, set, self.if_match, respond).await
    }
}
