//! InviteUsager: given an organisation that configured a category with a
//! motif of it, when an agent invites an usager, then the follow-up records
//! the invitations with their messages, or the rule that refuses them.

use crate::world::*;
use rdv_app::{Error, insertion::InviteUsager};
use rdv_domain::{
    ErrorKind,
    category::{
        CategoryCommand, CategoryConfiguration, CategorySettings, CategoryTexts, InvitationFormat, TemplateModel,
    },
    follow_up::FollowUp,
    ids::{FollowUpId, MotifId},
    motif::{Motif, MotifCommand},
    usager::{Civility, Usager, UsagerCommand},
    values::{ServiceKind, Text},
};
use rdv_eventstore::{CommandContext, CommitSummary, StoredResponse};
use rdv_projections::{Projector, configuration};
use serde_json::json;

pub const CATEGORY: &str = "rsa_orientation";

/// The organisation configures the category and puts a motif in it; the
/// usager gets a civility (needed to invite).
pub async fn with_category(g: &Given) {
    let settings = CategorySettings {
        name: Text::parse("RSA orientation", "name").unwrap(),
        model: TemplateModel::Standard,
        optional_rdv_subscription: false,
        invitation_formats: [InvitationFormat::Sms, InvitationFormat::Email, InvitationFormat::Postal].into(),
        convene_user: true,
        number_of_days_before_action_required: 10,
        invite_to_user_organisations_only: true,
        rdv_with_referents: false,
        number_of_days_between_periodic_invites: None,
        day_of_the_month_periodic_invites: None,
        phone_number: Some(rdv_domain::phone::PhoneE164::parse("04 75 11 22 33", "phone_number").unwrap()),
        texts: CategoryTexts::of_model(TemplateModel::Standard),
    };
    let configure = CategoryCommand::ConfigureCategory {
        organisation_id: g.organisation,
        short_name: CATEGORY.into(),
        settings: Box::new(settings),
    };
    let stream = CategoryConfiguration::stream_id(g.organisation, CATEGORY);
    run::<CategoryConfiguration>(&g.app.commands, &stream, configure).await;
    let motif: Motif = g.app.load(&g.motif.to_string()).await.unwrap();
    let motif = motif.0.unwrap();
    let mut config = motif_config(g.organisation, false);
    config.informations.category = Some(CATEGORY.into());
    let configure = MotifCommand::ConfigureMotif {
        territory_id: motif.territory_id,
        config: Box::new(config),
        active_services: [ServiceKind::ServiceSocial].into(),
    };
    run::<Motif>(&g.app.commands, &MotifId::new().to_string(), configure).await;
    let mut profile = profile("Léa");
    profile.title = Some(Civility::Madame);
    let update = UsagerCommand::UpdateUsager {
        organisation_ids: [g.organisation].into(),
        profile,
    };
    run::<Usager>(&g.app.commands, &g.usager.to_string(), update).await;
    let projection = rdv_projections::by_name(configuration::NAME).expect("the configuration projection");
    Projector::new(g.app.store.clone(), projection)
        .catch_up()
        .await
        .unwrap();
}

pub async fn invite(g: &Given, formats: &[InvitationFormat]) -> Result<(), Error> {
    let command = InviteUsager {
        organisation_id: g.organisation,
        usager_id: g.usager,
        motif_category: CATEGORY.into(),
        formats: formats.to_vec(),
    };
    let respond = |_: &_, _: &CommitSummary<'_>| StoredResponse {
        status: 201,
        body: json!({}),
    };
    let caller = g.agent_caller().await;
    command
        .run(&g.app, &caller, &CommandContext::new(caller.actor()), respond)
        .await?;
    Ok(())
}

#[tokio::test]
async fn an_invitation_is_recorded_with_its_messages_and_not_repeated_within_a_day() {
    let g = given().await;
    with_category(&g).await;
    invite(&g, &[InvitationFormat::Email]).await.unwrap();
    let follow_up = FollowUpId::of(g.usager, CATEGORY).to_string();
    let events = g.event_types("FollowUp", &follow_up).await;
    assert!(events.iter().any(|e| e == "UsagerInvited"), "{events:?}");
    let follow_up: FollowUp = g.app.load(&follow_up).await.unwrap();
    assert_eq!(follow_up.0.unwrap().invitations.len(), 1);
    let sent = g.app.store.claim_outbox(100, chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(sent.len(), 1, "one e-mail");

    let again = invite(&g, &[InvitationFormat::Email]).await.unwrap_err();
    assert!(
        matches!(&again, Error::Domain(e) if e.kind != ErrorKind::Forbidden),
        "{again:?}"
    );
    assert!(
        g.app
            .store
            .claim_outbox(100, chrono::Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn an_usager_without_a_mobile_gets_no_sms_invitation_and_nothing_is_written() {
    let g = given().await;
    with_category(&g).await;
    let refused = invite(&g, &[InvitationFormat::Email, InvitationFormat::Sms])
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Domain(e) if e.kind == ErrorKind::Invalid),
        "{refused:?}"
    );
    let follow_up = FollowUpId::of(g.usager, CATEGORY).to_string();
    assert_eq!(g.event_types("FollowUp", &follow_up).await, Vec::<String>::new());
}
