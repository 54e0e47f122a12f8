//! Secret tokens: generated here, given out once, stored only as SHA-256
//! digests. A token names its owner (`rdv_<agent>_<secret>`) so checking it
//! needs no lookup table: the owner's stream holds the digests it accepts.

use crate::error::Error;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use rdv_domain::{ids::AgentId, values::TokenHash};
use rdv_projections::follow_ups;
use sha2::{Digest, Sha256};

const API_PREFIX: &str = "rdv_";
const INVITATION_PREFIX: &str = "inv_";
const ADMIN_OWNER: &str = "admin";

/// Who a presented token claims to belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    PlatformAdmin,
    Agent(AgentId),
}

pub fn hash(token: &str) -> TokenHash {
    TokenHash(hex::encode(Sha256::digest(token.as_bytes())))
}

fn secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn new_admin_token() -> String {
    format!("{API_PREFIX}{ADMIN_OWNER}_{}", secret())
}

pub fn new_api_token(agent: AgentId) -> String {
    format!("{API_PREFIX}{}_{}", agent.0.simple(), secret())
}

pub fn new_invitation_token(agent: AgentId) -> String {
    format!("{INVITATION_PREFIX}{}_{}", agent.0.simple(), secret())
}

const PARTICIPATION_PREFIX: &str = "rdvp_";

/// The usager's magic link to one RDV (see, cancel).
pub fn new_participation_token(rdv: rdv_domain::ids::RdvId) -> String {
    format!("{PARTICIPATION_PREFIX}{}_{}", rdv.0.simple(), secret())
}

/// The RDV a participation token was issued for.
pub fn participation_rdv(token: &str) -> Option<rdv_domain::ids::RdvId> {
    let (owner, _) = token.strip_prefix(PARTICIPATION_PREFIX)?.split_once('_')?;
    owner.parse().ok().map(rdv_domain::ids::RdvId)
}

const FOLLOW_UP_PREFIX: &str = "rdvi_";

/// The booking token of an invitation (shared by its reminders): it opens
/// the category's motifs bookable by invited usagers.
pub fn new_follow_up_token(follow_up: rdv_domain::ids::FollowUpId) -> String {
    format!("{FOLLOW_UP_PREFIX}{}_{}", follow_up.0.simple(), secret())
}

/// The follow-up an invitation token was issued for.
pub fn follow_up_of_token(token: &str) -> Option<rdv_domain::ids::FollowUpId> {
    let (owner, _) = token.strip_prefix(FOLLOW_UP_PREFIX)?.split_once('_')?;
    owner.parse().ok().map(rdv_domain::ids::FollowUpId)
}

/// A short-link code: 8 characters `A-Z0-9`, as rdv-insertion's uuids.
pub fn new_short_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Codes drawn at most for one invitation before giving up (each draw is
/// taken with odds of well under one in a million).
const CODE_DRAWS: usize = 16;

/// A short-link code from `draw` that no invitation holds yet, as the
/// follow-ups read model knows them, nor one of `drawn` (for the same
/// request). Among 36^8 codes a repeat is even odds by two million
/// invitations (the birthday bound), and a repeated code would send an
/// older link to the newer invitation. (Two invitations drawing the same
/// code within the projector's lag stay possible, at odds of about one in
/// 2.8 × 10^12 per pair.)
pub async fn unused_short_code(
    store: &rdv_eventstore::EventStore,
    drawn: &[String],
    mut draw: impl FnMut() -> String,
) -> Result<String, Error> {
    for _ in 0..CODE_DRAWS {
        let code = draw();
        if !drawn.contains(&code)
            && store
                .doc(follow_ups::NAME, follow_ups::INVITATIONS, &code)
                .await?
                .is_none()
        {
            return Ok(code);
        }
    }
    Err(Error::internal("no short-link code left unused after many draws"))
}

/// The owner named by an API token, if it has our shape.
pub fn api_token_owner(token: &str) -> Option<Owner> {
    let (owner, _) = token.strip_prefix(API_PREFIX)?.split_once('_')?;
    if owner == ADMIN_OWNER {
        return Some(Owner::PlatformAdmin);
    }
    owner.parse().ok().map(|id| Owner::Agent(AgentId(id)))
}

/// The agent an invitation token was issued for.
pub fn invitation_agent(token: &str) -> Option<AgentId> {
    let (owner, _) = token.strip_prefix(INVITATION_PREFIX)?.split_once('_')?;
    owner.parse().ok().map(AgentId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_owner_and_hash_stably() {
        let agent = AgentId::new();
        let api = new_api_token(agent);
        assert_eq!(api_token_owner(&api), Some(Owner::Agent(agent)));
        assert_eq!(api_token_owner(&new_admin_token()), Some(Owner::PlatformAdmin));
        assert_eq!(invitation_agent(&new_invitation_token(agent)), Some(agent));
        assert_eq!(api_token_owner("garbage"), None);
        assert_eq!(invitation_agent(&api), None);
        assert_eq!(hash(&api), hash(&api));
        assert_ne!(new_api_token(agent), api);
    }

    #[tokio::test]
    async fn a_short_code_already_given_or_drawn_is_drawn_again() {
        use serde_json::json;
        let dir = tempfile::TempDir::new().unwrap();
        let store = rdv_eventstore::EventStore::open_sqlite(dir.path()).await.unwrap();
        let mut tx = store.begin_projection().await.unwrap();
        tx.put(follow_ups::NAME, follow_ups::INVITATIONS, "TAKEN000", None, &json!({}))
            .await
            .unwrap();
        tx.set_checkpoint(follow_ups::NAME, 1).await.unwrap();
        tx.commit().await.unwrap();

        let mut draws = ["TAKEN000", "DRAWN000", "FREE0000"].into_iter().map(String::from);
        let code = unused_short_code(&store, &["DRAWN000".to_string()], || draws.next().unwrap())
            .await
            .unwrap();
        assert_eq!(code, "FREE0000");
        assert!(
            unused_short_code(&store, &[], || "TAKEN000".to_string()).await.is_err(),
            "a code that is always taken is refused, not looped on"
        );
    }
}
