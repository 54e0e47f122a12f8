//! The daily reminders: given an RDV booked more than 48 h ahead, when the
//! scheduler runs, then one `ReminderSent` and one message once the
//! reminder is due, and never a second one.

use crate::world::*;
use rdv_app::reminders::send_due;
use rdv_projections::{Projector, rdvs};

/// Applies the feed to the RDV read model, whose reminder queue the
/// scheduler reads (the gateway's projector does it in a running system).
async fn project_rdvs(g: &Given) {
    let projection = rdv_projections::by_name(rdvs::NAME).expect("the rdvs projection");
    Projector::new(g.app.store.clone(), projection)
        .catch_up()
        .await
        .unwrap();
}

/// The messages queued since the last call (each claimed once).
async fn new_messages(g: &Given) -> usize {
    let claimed = g.app.store.claim_outbox(100, chrono::Duration::hours(1)).await.unwrap();
    claimed.len()
}

#[tokio::test]
async fn a_reminder_is_sent_once_when_it_falls_due() {
    let g = given().await;
    let caller = g.agent_caller().await;
    let (rdv, _) = g.book(&caller, g.booking(g.usager, SLOT)).await.unwrap();
    project_rdvs(&g).await;
    assert_eq!(new_messages(&g).await, 1, "the booking's own notice");

    assert_eq!(send_due(&g.app).await.unwrap(), 0, "not due a week ahead");
    // SLOT is 09:00 UTC on Monday 12 January: due from 09:00 UTC on the 10th.
    g.clock.set("2026-01-10T08:59:00Z".parse().unwrap());
    assert_eq!(send_due(&g.app).await.unwrap(), 0, "not due a minute early");
    g.clock.set("2026-01-10T09:30:00Z".parse().unwrap());
    assert_eq!(send_due(&g.app).await.unwrap(), 1);
    assert_eq!(
        g.event_types("Rdv", &rdv.to_string()).await,
        ["RdvBooked", "ReminderSent"]
    );
    assert_eq!(new_messages(&g).await, 1, "the reminder e-mail");

    project_rdvs(&g).await;
    assert_eq!(send_due(&g.app).await.unwrap(), 0, "never twice");
    assert_eq!(new_messages(&g).await, 0);
}
