//! The event store suite, run on SQLite and on PostgreSQL.

use chrono::Utc;
use rdv_domain::{
    FixedClock, Services,
    platform::{PLATFORM_ID, Platform, PlatformCommand},
    territory::{Territory, TerritoryCommand, TerritoryEvent},
    values::*,
};
use rdv_eventstore::{codec::Decoder, *};
use rdv_tests::all_stores;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

fn services() -> Services {
    Services::new(
        Arc::new(FixedClock::at("2026-01-05T09:00:00Z".parse().unwrap())),
        chrono::Duration::days(7),
    )
}

fn respond_with_version(
    aggregate_type: &'static str,
    id: String,
) -> impl Fn(&(), &CommitSummary<'_>) -> StoredResponse {
    move |_, summary| StoredResponse {
        status: 201,
        body: json!({
            "version": summary.version_of(aggregate_type, &id),
            "positions": summary.events.iter().map(|e| e.position).collect::<Vec<_>>(),
        }),
    }
}

/// The feed once it shows `count` events. On PostgreSQL the feed only shows
/// events below the oldest transaction still running on the server (that is
/// what makes it gap-free), so under other tests' load it lags a moment.
async fn settled_feed(store: &EventStore, count: usize) -> Vec<StoredEvent> {
    for _ in 0..250 {
        let feed = store.read_feed(0, 1000).await.unwrap();
        if feed.len() >= count {
            return feed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the feed did not show {count} events within 5 s");
}

fn issue_token(hash: &str) -> PlatformCommand {
    PlatformCommand::IssueAdminToken {
        token_hash: TokenHash(hash.into()),
    }
}

fn create_territory() -> TerritoryCommand {
    TerritoryCommand::CreateTerritory {
        name: Text::parse("Drôme", "name").unwrap(),
        departement_number: DepartementNumber::parse("26", "d").unwrap(),
        timezone: TimeZone::PARIS,
    }
}

#[tokio::test]
async fn appended_events_come_back_in_their_stream_and_in_the_feed_with_metadata() {
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let mut ctx = CommandContext::new("platform-admin");
        ctx.causation_id = Some(Uuid::now_v7());
        let id = Uuid::now_v7().to_string();
        let out = commands
            .execute::<Territory, _>(
                &ctx,
                &id,
                create_territory(),
                None,
                respond_with_version("Territory", id.clone()),
            )
            .await
            .unwrap();
        commands
            .execute::<Territory, _>(
                &ctx,
                &id,
                TerritoryCommand::ActivateService {
                    service: ServiceKind::Pmi,
                },
                None,
                respond_with_version("Territory", id.clone()),
            )
            .await
            .unwrap();
        assert_eq!(out.response.body["version"], 1, "{}", s.name);
        let stream = s.store.load_stream("Territory", &id).await.unwrap();
        assert_eq!(stream.len(), 2);
        assert_eq!(stream[0].event_type, "TerritoryCreated");
        assert_eq!(stream[0].event_version, "2.0");
        assert_eq!(stream[0].metadata.actor, "platform-admin");
        assert_eq!(stream[0].metadata.correlation_id, ctx.correlation_id);
        assert_eq!(stream[0].metadata.causation_id, ctx.causation_id);
        assert_eq!(stream[0].metadata.event_id.get_version_num(), 7);
        assert_eq!(
            stream[0].metadata.occurred_at,
            "2026-01-05T09:00:00Z".parse::<chrono::DateTime<Utc>>().unwrap()
        );
        assert_eq!(stream[0].position, out.events[0].position);
        let feed = settled_feed(&s.store, 2).await;
        assert_eq!(feed, *stream, "{}", s.name);
        assert!(feed[0].position < feed[1].position);
        assert_eq!(s.store.head().await.unwrap(), feed[1].position);
        assert!(s.store.read_feed(feed[1].position, 100).await.unwrap().is_empty());
        // A reader's lag counts events, whatever numbers positions skip.
        assert_eq!(s.store.events_after(feed[0].position).await.unwrap(), 1, "{}", s.name);
        assert_eq!(s.store.events_after(feed[1].position).await.unwrap(), 0, "{}", s.name);
        assert_eq!(s.store.events_after(0).await.unwrap(), 2, "{}", s.name);
        let territory: Territory = Decoder::default().fold(&stream).unwrap();
        assert!(territory.state().unwrap().services.contains(&ServiceKind::Pmi));
    }
}

#[tokio::test]
async fn two_commands_racing_on_one_aggregate_are_both_applied() {
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let ctx = CommandContext::new("platform-admin");
        let respond = || respond_with_version("Platform", PLATFORM_ID.into());
        let (a, b) = tokio::join!(
            commands.execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("a"), None, respond()),
            commands.execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("b"), None, respond()),
        );
        let mut versions = vec![
            a.unwrap().response.body["version"].clone(),
            b.unwrap().response.body["version"].clone(),
        ];
        versions.sort_by_key(|v| v.as_i64());
        assert_eq!(versions, vec![json!(1), json!(2)], "{}", s.name);
        let (platform, _) = load::<Platform>(&s.store, PLATFORM_ID).await;
        assert_eq!(platform.admin_tokens.len(), 2);
    }
}

#[tokio::test]
async fn many_racing_commands_all_land_thanks_to_retries() {
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let ctx = CommandContext::new("platform-admin");
        let runs = (0..6).map(|i| {
            let commands = commands.clone();
            let ctx = ctx.clone();
            async move {
                commands
                    .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token(&format!("t{i}")), None, |_, _| {
                        StoredResponse {
                            status: 201,
                            body: json!({}),
                        }
                    })
                    .await
            }
        });
        for result in futures::future::join_all(runs).await {
            result.unwrap();
        }
        assert_eq!(
            s.store.load_stream("Platform", PLATFORM_ID).await.unwrap().len(),
            6,
            "{}",
            s.name
        );
    }
}

async fn load<A: rdv_domain::VersionedAggregate>(store: &EventStore, id: &str) -> (A, usize) {
    let events = store.load_stream(A::TYPE, id).await.unwrap();
    (Decoder::<A>::default().fold(&events).unwrap(), events.len())
}

#[tokio::test]
async fn if_match_fails_when_the_aggregate_moved_on() {
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let ctx = CommandContext::new("platform-admin");
        let respond = || respond_with_version("Platform", PLATFORM_ID.into());
        commands
            .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("a"), Some(0), respond())
            .await
            .unwrap();
        let err = commands
            .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("b"), Some(0), respond())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                CommandError::PreconditionFailed {
                    expected: 0,
                    actual: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        commands
            .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("b"), Some(1), respond())
            .await
            .unwrap();
        assert_eq!(
            s.store.load_stream("Platform", PLATFORM_ID).await.unwrap().len(),
            2,
            "{}",
            s.name
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let mut ctx = CommandContext::new("platform-admin");
        ctx.idempotency = Some(IdempotencyClaim {
            scope: "admin POST /x".into(),
            key: "k-1".into(),
            request_hash: "h1".into(),
        });
        let respond = || respond_with_version("Platform", PLATFORM_ID.into());
        let first = commands
            .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("a"), None, respond())
            .await
            .unwrap();
        let again = commands
            .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("a"), None, respond())
            .await
            .unwrap();
        assert!(!first.replayed);
        assert!(again.replayed);
        assert_eq!(first.response, again.response);
        assert_eq!(
            s.store.load_stream("Platform", PLATFORM_ID).await.unwrap().len(),
            1,
            "{}",
            s.name
        );
        assert_eq!(again.response.body["positions"][0], json!(first.events[0].position));

        let mut other = ctx.clone();
        other.idempotency.as_mut().unwrap().request_hash = "h2".into();
        let err = commands
            .execute::<Platform, _>(&other, PLATFORM_ID, issue_token("b"), None, respond())
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::IdempotencyMismatch));
        assert_eq!(s.store.load_stream("Platform", PLATFORM_ID).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_version_1_event_stored_as_json_loads_into_the_current_type() {
    for s in all_stores().await {
        let id = Uuid::now_v7().to_string();
        let metadata = EventMetadata {
            event_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            actor: "system".into(),
            correlation_id: Uuid::now_v7(),
            causation_id: None,
            idempotency_key: None,
        };
        let v1 = NewEvent {
            event_type: "TerritoryCreated".into(),
            event_version: "1.0".into(),
            payload: json!({"TerritoryCreated": {"name": "Moselle", "departement": "57"}}),
            metadata,
        };
        let request = AppendRequest {
            streams: vec![StreamAppend {
                aggregate_type: "Territory".into(),
                aggregate_id: id.clone(),
                expected_version: 0,
                events: vec![v1],
            }],
            outbox: vec![],
            data_keys: vec![],
        };
        s.store.append(&request, None).await.unwrap();
        let stored = s.store.load_stream("Territory", &id).await.unwrap();
        assert_eq!(stored[0].event_version, "1.0", "stored rows are never rewritten");
        let event = Decoder::<Territory>::default().decode(&stored[0]).unwrap();
        assert_eq!(
            event,
            TerritoryEvent::TerritoryCreated {
                name: Text::parse("Moselle", "n").unwrap(),
                departement_number: DepartementNumber::parse("57", "d").unwrap(),
                timezone: TimeZone::PARIS,
            },
            "{}",
            s.name
        );
    }
}

#[tokio::test]
async fn outbox_messages_are_written_with_their_events_and_claimed_once() {
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let ctx = CommandContext::new("platform-admin");
        let message = OutboxMessage::new("email", json!({"to": "x@y.fr"})).about("usager-1");
        let failing = commands
            .run(
                &ctx,
                |unit| {
                    let message = message.clone();
                    Box::pin(async move {
                        unit.send(message);
                        unit.handle::<Territory>(
                            "missing",
                            TerritoryCommand::ActivateService {
                                service: ServiceKind::Pmi,
                            },
                        )
                        .await
                    })
                },
                |_, _| StoredResponse {
                    status: 200,
                    body: json!({}),
                },
            )
            .await;
        assert!(failing.is_err());
        assert_eq!(
            s.store.outbox_pending().await.unwrap(),
            0,
            "a rejected command writes no message"
        );

        commands
            .run(
                &ctx,
                |unit| {
                    let message = message.clone();
                    Box::pin(async move {
                        unit.send(message);
                        unit.handle::<Platform>(PLATFORM_ID, issue_token("a")).await
                    })
                },
                |_, _| StoredResponse {
                    status: 200,
                    body: json!({}),
                },
            )
            .await
            .unwrap();
        assert_eq!(s.store.outbox_pending().await.unwrap(), 1, "{}", s.name);
        let claimed = s.store.claim_outbox(10, chrono::Duration::seconds(60)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].message, message);
        assert!(
            s.store
                .claim_outbox(10, chrono::Duration::seconds(60))
                .await
                .unwrap()
                .is_empty(),
            "leased"
        );
        s.store
            .outbox_failed(message.id, "smtp down", Utc::now() - chrono::Duration::seconds(1))
            .await
            .unwrap();
        let again = s.store.claim_outbox(10, chrono::Duration::seconds(60)).await.unwrap();
        assert_eq!(again[0].attempts, 2);
        s.store.outbox_sent(message.id).await.unwrap();
        assert_eq!(s.store.outbox_pending().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn projection_documents_and_checkpoint_commit_together() {
    for s in all_stores().await {
        let mut tx = s.store.begin_projection().await.unwrap();
        tx.put("p", "orgs", "o1", Some("t1"), &json!({"name": "A"}))
            .await
            .unwrap();
        tx.put("p", "orgs", "o2", Some("t1"), &json!({"name": "B"}))
            .await
            .unwrap();
        tx.set_checkpoint("p", 42).await.unwrap();
        drop(tx); // rolled back
        assert_eq!(s.store.checkpoint("p").await.unwrap(), (0, None), "{}", s.name);
        assert!(s.store.doc("p", "orgs", "o1").await.unwrap().is_none());

        let mut tx = s.store.begin_projection().await.unwrap();
        tx.put("p", "orgs", "o1", Some("t1"), &json!({"name": "A"}))
            .await
            .unwrap();
        tx.put("p", "orgs", "o2", Some("t1"), &json!({"name": "B"}))
            .await
            .unwrap();
        tx.put("p", "orgs", "o2", Some("t1"), &json!({"name": "B2"}))
            .await
            .unwrap();
        assert_eq!(tx.get("p", "orgs", "o2").await.unwrap(), Some(json!({"name": "B2"})));
        tx.set_checkpoint("p", 42).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(s.store.checkpoint("p").await.unwrap(), (42, None));
        assert_eq!(
            s.store.docs("p", "orgs", "t1").await.unwrap(),
            vec![json!({"name": "A"}), json!({"name": "B2"})]
        );

        s.store.record_projection_error("p", "boom").await.unwrap();
        assert_eq!(s.store.checkpoint("p").await.unwrap(), (42, Some("boom".into())));
    }
}

#[tokio::test]
async fn prefetched_documents_and_cached_listings_follow_the_transactions_writes() {
    for s in all_stores().await {
        // More rows than SQLite writes in one statement, some then deleted.
        let mut tx = s.store.begin_projection().await.unwrap();
        for i in 0..1_200 {
            let doc = json!({"n": i});
            tx.put("p", "items", &format!("i{i:04}"), Some("all"), &doc)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let mut tx = s.store.begin_projection().await.unwrap();
        for i in (0..1_200).step_by(2) {
            tx.delete("p", "items", &format!("i{i:04}")).await.unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(
            s.store.docs("p", "items", "all").await.unwrap().len(),
            600,
            "{}",
            s.name
        );

        let mut tx = s.store.begin_projection().await.unwrap();
        let ids = ["i0001", "i0002", "nowhere"].map(String::from);
        tx.prefetch("p", "items", ids).await.unwrap();
        assert_eq!(tx.get("p", "items", "i0001").await.unwrap(), Some(json!({"n": 1})));
        assert_eq!(
            tx.get::<serde_json::Value>("p", "items", "i0002").await.unwrap(),
            None,
            "{}",
            s.name
        );
        assert_eq!(
            tx.get::<serde_json::Value>("p", "items", "nowhere").await.unwrap(),
            None
        );
        // A listing is cached until its collection is written to.
        assert_eq!(
            tx.list::<serde_json::Value>("p", "items", "all").await.unwrap().len(),
            600
        );
        tx.put("p", "items", "j", Some("all"), &json!({"n": "j"}))
            .await
            .unwrap();
        let listed = tx.list::<serde_json::Value>("p", "items", "all").await.unwrap();
        assert_eq!(
            (listed.len(), listed.last()),
            (601, Some(&json!({"n": "j"}))),
            "{}",
            s.name
        );
        tx.delete("p", "items", "i0001").await.unwrap();
        let listed = tx.list::<serde_json::Value>("p", "items", "all").await.unwrap();
        assert_eq!(
            (listed.len(), listed.first()),
            (600, Some(&json!({"n": 3}))),
            "{}",
            s.name
        );
        tx.commit().await.unwrap();
        assert_eq!(s.store.docs("p", "items", "all").await.unwrap().len(), 600);
        s.store.reset_projection("p").await.unwrap();
        assert_eq!(s.store.checkpoint("p").await.unwrap(), (0, None));
        assert!(s.store.docs("p", "orgs", "t1").await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn documents_written_behind_are_read_back_in_order_and_roll_back_with_the_transaction() {
    for s in all_stores().await {
        let mut tx = s.store.begin_projection().await.unwrap();
        for i in 0..1_200 {
            tx.put("p", "items", &format!("i{i:04}"), Some("all"), &json!({"n": i}))
                .await
                .unwrap();
        }
        tx.flush_behind().await.unwrap();
        // Forgotten from memory while they are being written: read again,
        // after the write, from the transaction.
        tx.forget_unchanged();
        assert_eq!(tx.get("p", "items", "i0007").await.unwrap(), Some(json!({"n": 7})));
        // A second batch changes some, deletes some, and is written behind
        // after the first.
        tx.put("p", "items", "i0007", Some("all"), &json!({"n": "seven"}))
            .await
            .unwrap();
        tx.delete("p", "items", "i0008").await.unwrap();
        tx.flush_behind().await.unwrap();
        tx.forget_unchanged();
        tx.prefetch("p", "items", ["i0007", "i0008", "i0009"].map(String::from))
            .await
            .unwrap();
        assert_eq!(
            tx.get("p", "items", "i0007").await.unwrap(),
            Some(json!({"n": "seven"}))
        );
        assert_eq!(tx.get::<serde_json::Value>("p", "items", "i0008").await.unwrap(), None);
        assert_eq!(
            tx.list::<serde_json::Value>("p", "items", "all").await.unwrap().len(),
            1_199,
            "{}",
            s.name
        );
        // Nothing is visible outside before the commit, nor after a rollback.
        assert!(
            s.store.docs("p", "items", "all").await.unwrap().is_empty(),
            "{}",
            s.name
        );
        tx.put("p", "items", "late", Some("all"), &json!({})).await.unwrap();
        tx.flush_behind().await.unwrap();
        drop(tx);
        assert!(
            s.store.docs("p", "items", "all").await.unwrap().is_empty(),
            "{}",
            s.name
        );

        let mut tx = s.store.begin_projection().await.unwrap();
        tx.put("p", "items", "kept", Some("all"), &json!({"kept": true}))
            .await
            .unwrap();
        tx.flush_behind().await.unwrap();
        tx.set_checkpoint("p", 9).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            s.store.docs("p", "items", "all").await.unwrap(),
            vec![json!({"kept": true})],
            "{}",
            s.name
        );
        assert_eq!(s.store.checkpoint("p").await.unwrap(), (9, None));
    }
}

/// The committed documents of projection `p`'s collection `items` with
/// these ids, by id.
async fn stored_items(store: &rdv_eventstore::EventStore, ids: &[&str]) -> Vec<(String, serde_json::Value)> {
    let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    let mut stored = store.docs_with_ids("p", "items", &ids).await.unwrap();
    stored.sort_by(|a, b| a.0.cmp(&b.0));
    stored
}

#[tokio::test]
async fn documents_known_absent_are_inserted_and_a_wrong_belief_fails_the_write() {
    for s in all_stores().await {
        let mut tx = s.store.begin_projection().await.unwrap();
        tx.put("p", "items", "old", None, &json!({"v": 1})).await.unwrap();
        tx.set_checkpoint("p", 1).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = s.store.begin_projection().await.unwrap();
        // Read absent, then written: inserted.
        tx.prefetch("p", "items", ["read-absent".to_string()]).await.unwrap();
        tx.put("p", "items", "read-absent", None, &json!({"v": 2}))
            .await
            .unwrap();
        // Declared new, changed again and written behind, then changed
        // once more: still one row.
        tx.put_new("p", "items", "new", &json!({"v": 3})).await.unwrap();
        tx.put("p", "items", "new", None, &json!({"v": 4})).await.unwrap();
        tx.flush_behind().await.unwrap();
        tx.put("p", "items", "new", None, &json!({"v": 5})).await.unwrap();
        // Declared new and deleted in the same flush: nothing to write.
        tx.put_new("p", "items", "gone", &json!({"v": 6})).await.unwrap();
        tx.delete("p", "items", "gone").await.unwrap();
        // A stored row deleted, then declared new again: it was stored, so
        // it is replaced rather than inserted twice.
        tx.delete("p", "items", "old").await.unwrap();
        tx.put_new("p", "items", "old", &json!({"v": 7})).await.unwrap();
        tx.set_checkpoint("p", 2).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            stored_items(&s.store, &["old", "read-absent", "new", "gone"]).await,
            vec![
                ("new".to_string(), json!({"v": 5})),
                ("old".to_string(), json!({"v": 7})),
                ("read-absent".to_string(), json!({"v": 2})),
            ],
            "{}",
            s.name
        );

        // A projection wrong about a key being new fails its write (on
        // PostgreSQL, where it is a plain insert), and nothing of the
        // transaction stays.
        if s.name == "postgres" {
            let mut tx = s.store.begin_projection().await.unwrap();
            tx.put("p", "items", "other", None, &json!({})).await.unwrap();
            tx.put_new("p", "items", "new", &json!({"v": 8})).await.unwrap();
            tx.set_checkpoint("p", 3).await.unwrap();
            assert!(tx.commit().await.is_err());
            assert_eq!(s.store.checkpoint("p").await.unwrap(), (2, None));
            assert_eq!(s.store.doc("p", "items", "new").await.unwrap(), Some(json!({"v": 5})));
            assert_eq!(s.store.doc("p", "items", "other").await.unwrap(), None);
        }
    }
}

#[tokio::test]
async fn a_transaction_holding_its_documents_reads_the_others_as_committed_while_writing_behind() {
    for s in all_stores().await {
        let mut tx = s.store.begin_projection().await.unwrap();
        tx.put("p", "items", "committed", None, &json!({"v": 1})).await.unwrap();
        tx.set_checkpoint("p", 1).await.unwrap();
        tx.commit().await.unwrap();

        let mut tx = s.store.begin_projection().await.unwrap();
        assert_eq!(
            tx.hold_documents().await.unwrap(),
            s.name == "postgres",
            "reads beside the transaction on PostgreSQL only"
        );
        for i in 0..2_000 {
            tx.put("p", "items", &format!("w{i:04}"), None, &json!({"n": i}))
                .await
                .unwrap();
        }
        assert_eq!(tx.unwritten(), 2_000);
        tx.flush_behind().await.unwrap();
        assert_eq!(tx.unwritten(), 0, "{}", s.name);
        // Written in this transaction: from memory, as written.
        assert_eq!(tx.get("p", "items", "w0042").await.unwrap(), Some(json!({"n": 42})));
        // Not touched yet: read as committed, present or absent.
        tx.prefetch("p", "items", ["committed", "absent"].map(String::from))
            .await
            .unwrap();
        assert_eq!(tx.get("p", "items", "committed").await.unwrap(), Some(json!({"v": 1})));
        assert_eq!(tx.get::<serde_json::Value>("p", "items", "absent").await.unwrap(), None);
        tx.put("p", "items", "absent", None, &json!({"v": 2})).await.unwrap();
        tx.put("p", "items", "w0042", None, &json!({"n": "changed"}))
            .await
            .unwrap();
        assert_eq!(tx.unwritten(), 2);
        // Nothing is visible outside before the commit.
        assert_eq!(s.store.doc("p", "items", "w0042").await.unwrap(), None, "{}", s.name);
        tx.set_checkpoint("p", 2).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            stored_items(&s.store, &["absent", "committed", "w0042", "w1999"]).await,
            vec![
                ("absent".to_string(), json!({"v": 2})),
                ("committed".to_string(), json!({"v": 1})),
                ("w0042".to_string(), json!({"n": "changed"})),
                ("w1999".to_string(), json!({"n": 1999})),
            ],
            "{}",
            s.name
        );
    }
}

#[tokio::test]
async fn a_reset_waits_for_the_projectors_transaction_and_forgets_what_it_wrote() {
    for s in all_stores().await {
        let mut tx = s.store.begin_projection().await.unwrap();
        assert_eq!(tx.lock_checkpoint("p").await.unwrap(), 0);
        tx.put_new("p", "items", "written", &json!({})).await.unwrap();
        tx.flush_behind().await.unwrap();
        let reset = tokio::spawn({
            let store = s.store.clone();
            async move { store.reset_projection("p").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!reset.is_finished(), "{}: the reset waits for the projector", s.name);
        tx.set_checkpoint("p", 5).await.unwrap();
        tx.commit().await.unwrap();
        reset.await.unwrap().unwrap();
        assert_eq!(s.store.checkpoint("p").await.unwrap(), (0, None), "{}", s.name);
        assert_eq!(s.store.doc("p", "items", "written").await.unwrap(), None, "{}", s.name);
        // Written again from the start: a new row, not a duplicate.
        let mut tx = s.store.begin_projection().await.unwrap();
        tx.put_new("p", "items", "written", &json!({"again": true}))
            .await
            .unwrap();
        tx.set_checkpoint("p", 1).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            s.store.doc("p", "items", "written").await.unwrap(),
            Some(json!({"again": true}))
        );
    }
}

#[tokio::test]
async fn a_cached_stream_catches_up_with_another_process_and_writes_stay_safe() {
    for (s, other) in rdv_tests::store_pairs().await {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let follower = tokio::spawn({
            let store = s.store.clone();
            let shutdown = shutdown.clone();
            async move { store.follow_feed(shutdown).await }
        });
        // Let the follower start (it reads the head first).
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let ours = CommandService::new(s.store.clone(), services());
        let theirs = CommandService::new(other.clone(), services());
        let ctx = CommandContext::new("platform-admin");
        let ok = |_: &(), _: &CommitSummary<'_>| StoredResponse {
            status: 200,
            body: json!({}),
        };
        ours.execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("a"), None, ok)
            .await
            .unwrap();
        assert_eq!(s.store.load_stream("Platform", PLATFORM_ID).await.unwrap().len(), 1);

        // Another process appends; our cached copy is now behind...
        theirs
            .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("b"), None, ok)
            .await
            .unwrap();
        // ...yet a write from here lands on top of it (conflict, evict, retry).
        ours.execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("c"), None, ok)
            .await
            .unwrap();
        assert_eq!(
            other.load_stream("Platform", PLATFORM_ID).await.unwrap().len(),
            3,
            "{}",
            s.name
        );

        // And the follower brings reads up to date within a poll or two.
        theirs
            .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("d"), None, ok)
            .await
            .unwrap();
        let mut seen = 0;
        for _ in 0..100 {
            seen = s.store.load_stream("Platform", PLATFORM_ID).await.unwrap().len();
            if seen == 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(seen, 4, "{}: the cache followed the other process's append", s.name);
        shutdown.cancel();
        follower.await.unwrap();
    }
}

#[tokio::test]
async fn one_unit_may_handle_a_stream_twice_and_builds_on_its_own_events() {
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let ctx = CommandContext::new("platform-admin");
        let out = commands
            .run(
                &ctx,
                |unit| {
                    Box::pin(async move {
                        unit.handle::<Platform>(PLATFORM_ID, issue_token("a")).await?;
                        // The second command sees the first one's token.
                        let revoke = PlatformCommand::RevokeAdminToken {
                            token_hash: TokenHash("a".into()),
                        };
                        unit.handle::<Platform>(PLATFORM_ID, revoke).await.map(|_| ())
                    })
                },
                respond_with_version("Platform", PLATFORM_ID.into()),
            )
            .await
            .unwrap();
        assert_eq!(out.response.body["version"], 2, "{}", s.name);
        let (platform, events) = load::<Platform>(&s.store, PLATFORM_ID).await;
        assert_eq!(events, 2);
        assert!(platform.admin_tokens.is_empty());
    }
}

#[tokio::test]
async fn a_feed_read_by_aggregate_type_skips_the_others_and_says_how_far_it_scanned() {
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let ctx = CommandContext::new("platform-admin");
        let respond = |_: &(), _: &CommitSummary<'_>| StoredResponse {
            status: 201,
            body: json!({}),
        };
        let territory = Uuid::now_v7().to_string();
        commands
            .execute::<Territory, _>(&ctx, &territory, create_territory(), None, respond)
            .await
            .unwrap();
        commands
            .execute::<Platform, _>(&ctx, PLATFORM_ID, issue_token("a"), None, respond)
            .await
            .unwrap();
        settled_feed(&s.store, 2).await;
        let head = s.store.head().await.unwrap();
        let (events, scanned) = s.store.read_feed_of(0, 100, &["Territory"]).await.unwrap();
        assert_eq!(events.len(), 1, "{}", s.name);
        assert_eq!(events[0].aggregate_id, territory);
        assert!(scanned >= head, "{}: scanned to {scanned}, head {head}", s.name);
        let (none, again) = s.store.read_feed_of(scanned, 100, &["Territory"]).await.unwrap();
        assert!(none.is_empty() && again >= scanned, "{}", s.name);
        // A full page stops at its last event, so the rest is read next.
        let (page, upto) = s.store.read_feed_of(0, 1, &["Territory", "Platform"]).await.unwrap();
        assert_eq!((page.len(), upto), (1, page[0].position), "{}", s.name);
    }
}

/// One raw event for stream `id` at `expected_version`.
fn raw_append(id: &str, expected_version: i64) -> AppendRequest {
    AppendRequest {
        streams: vec![StreamAppend {
            aggregate_type: "Probe".into(),
            aggregate_id: id.into(),
            expected_version,
            events: vec![NewEvent {
                event_type: "Probed".into(),
                event_version: "1.0".into(),
                payload: json!({}),
                metadata: EventMetadata {
                    event_id: Uuid::now_v7(),
                    occurred_at: Utc::now(),
                    actor: "test".into(),
                    correlation_id: Uuid::now_v7(),
                    causation_id: None,
                    idempotency_key: None,
                },
            }],
        }],
        outbox: vec![],
        data_keys: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_land_together_and_only_the_conflicting_one_fails() {
    for s in all_stores().await {
        // Forty appends at once (PostgreSQL writes them in groups), two of
        // them to the same stream at the same version.
        let appends = (0..40).map(|i| {
            let store = s.store.clone();
            let id = if i < 2 {
                "shared".to_string()
            } else {
                format!("probe-{i}")
            };
            tokio::spawn(async move { store.append(&raw_append(&id, 0), None).await })
        });
        let results: Vec<_> = futures::future::join_all(appends)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict { .. })))
            .count();
        assert_eq!(
            conflicts,
            1,
            "{}: {:?}",
            s.name,
            results.iter().filter(|r| r.is_err()).collect::<Vec<_>>()
        );
        let mut positions: Vec<i64> = results.iter().flatten().flatten().map(|e| e.position).collect();
        assert_eq!(positions.len(), 39, "{}", s.name);
        positions.sort();
        positions.dedup();
        assert_eq!(positions.len(), 39, "{}: every event has its own position", s.name);
        if s.name == "postgres" {
            // position = xid << 16 + index: some appends shared a transaction.
            let mut transactions: Vec<i64> = positions.iter().map(|p| p >> 16).collect();
            transactions.dedup();
            assert!(
                transactions.len() < 39,
                "group commit gathered appends: {transactions:?}"
            );
        }
        let feed = settled_feed(&s.store, 39).await;
        assert_eq!(
            feed.iter().filter(|e| e.aggregate_type == "Probe").count(),
            39,
            "{}",
            s.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_appends_to_one_stream_at_once_are_all_answered() {
    for s in all_stores().await {
        // On PostgreSQL they cannot share a group: all but one are held back
        // for later groups, and every one of them must still be answered.
        let appends = (0..30).map(|_| {
            let store = s.store.clone();
            tokio::spawn(async move { store.append(&raw_append("hot", 0), None).await })
        });
        let answered = tokio::time::timeout(std::time::Duration::from_secs(10), futures::future::join_all(appends))
            .await
            .unwrap_or_else(|_| panic!("{}: appends left unanswered", s.name));
        let ok = answered.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
        let conflicts = answered
            .iter()
            .filter(|r| matches!(r, Ok(Err(StoreError::Conflict { .. }))))
            .count();
        assert_eq!((ok, conflicts), (1, 29), "{}", s.name);
    }
}

#[tokio::test]
async fn a_projection_transaction_reads_its_own_writes_and_writes_them_all_at_commit() {
    for s in all_stores().await {
        let mut tx = s.store.begin_projection().await.unwrap();
        tx.put("p", "c", "a", Some("g"), &json!({"n": 1})).await.unwrap();
        tx.put("p", "c", "b", Some("g"), &json!({"n": 2})).await.unwrap();
        tx.put("p", "c", "a", Some("g"), &json!({"n": 3})).await.unwrap();
        assert_eq!(
            tx.get("p", "c", "a").await.unwrap(),
            Some(json!({"n": 3})),
            "{}",
            s.name
        );
        tx.delete("p", "c", "b").await.unwrap();
        assert_eq!(
            tx.get::<serde_json::Value>("p", "c", "b").await.unwrap(),
            None,
            "{}",
            s.name
        );
        assert_eq!(
            tx.list::<serde_json::Value>("p", "c", "g").await.unwrap(),
            [json!({"n": 3})],
            "{}",
            s.name
        );
        assert_eq!(
            s.store.doc("p", "c", "a").await.unwrap(),
            None,
            "not visible before commit"
        );
        tx.put("p", "c", "c", Some("g"), &json!({"n": 4})).await.unwrap();
        tx.set_checkpoint("p", 7).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            s.store.docs("p", "c", "g").await.unwrap(),
            [json!({"n": 3}), json!({"n": 4})],
            "{}",
            s.name
        );
        let mut tx = s.store.begin_projection().await.unwrap();
        tx.delete("p", "c", "a").await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            s.store.docs("p", "c", "g").await.unwrap(),
            [json!({"n": 4})],
            "{}",
            s.name
        );
        assert_eq!(s.store.checkpoint("p").await.unwrap().0, 7);
    }
}

/// A collection keyed by what groups its documents is listed by a range
/// of keys, in byte order on both stores (keys differing only in case and
/// punctuation, which a locale's collation would mix up), inside a
/// transaction (its own writes included) and after it.
#[tokio::test]
async fn documents_keyed_by_their_group_are_listed_by_a_range_of_keys() {
    for s in all_stores().await {
        let keys = ["a|B", "a|a", "a|a-1", "a}", "a|", "b|a", "a{x", "A|z"];
        let mut tx = s.store.begin_projection().await.unwrap();
        for (n, key) in keys.iter().enumerate() {
            tx.put("p", "k", key, None, &json!({"n": n})).await.unwrap();
        }
        let listed = tx
            .list_between::<serde_json::Value>("p", "k", ("a|", "a}"))
            .await
            .unwrap();
        assert_eq!(
            listed,
            [json!({"n": 0}), json!({"n": 1}), json!({"n": 2})],
            "{}",
            s.name
        );
        tx.delete("p", "k", "a|a").await.unwrap();
        let listed = tx
            .list_between::<serde_json::Value>("p", "k", ("a|", "a}"))
            .await
            .unwrap();
        assert_eq!(listed, [json!({"n": 0}), json!({"n": 2})], "{}", s.name);
        tx.commit().await.unwrap();
        let page = s.store.docs_between("p", "k", ("a|", "a}"), 10).await.unwrap();
        let ids: Vec<&str> = page.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a|B", "a|a-1"], "{}", s.name);
        let page = s.store.docs_between("p", "k", ("a|B", "a}"), 1).await.unwrap();
        assert_eq!(page, [("a|a-1".to_string(), json!({"n": 2}))], "{}", s.name);
    }
}

/// An agenda long enough to keep snapshots: loads read the latest snapshot
/// and the events after it, the versions commands check stay the stream's,
/// and a snapshot that no longer decodes is ignored and replaced.
#[tokio::test]
async fn a_long_agenda_loads_from_its_snapshot_and_commands_append_after_it() {
    use rdv_domain::VersionedAggregate;
    use rdv_domain::{
        agenda::{Absence, AgentAgenda, AgentAgendaCommand},
        availability::recurrence::Recurrence,
        ids::AbsenceId,
    };
    let every = AgentAgenda::snapshot_every().expect("the agenda keeps snapshots");
    for s in all_stores().await {
        let commands = CommandService::new(s.store.clone(), services());
        let agent = Uuid::now_v7().to_string();
        let create = |k: i64, if_match: Option<i64>| {
            let (commands, agent) = (commands.clone(), agent.clone());
            async move {
                let day = chrono::NaiveDate::from_ymd_opt(2026, 2, 1).unwrap() + chrono::Duration::days(k);
                let absence = Absence {
                    organisation_id: None,
                    title: format!("Formation {k}"),
                    first_day: day,
                    start_time: chrono::NaiveTime::from_hms_opt(14, 0, 0).unwrap(),
                    end_day: day,
                    end_time: chrono::NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
                    recurrence: Recurrence::Once,
                    timezone: TimeZone(chrono_tz::Europe::Paris),
                };
                let command = AgentAgendaCommand::CreateAbsence {
                    absence_id: AbsenceId::new(),
                    absence,
                };
                commands
                    .execute::<AgentAgenda, _>(
                        &CommandContext::new("test"),
                        &agent,
                        command,
                        if_match,
                        respond_with_version("AgentAgenda", agent.clone()),
                    )
                    .await
            }
        };
        let total = every + 8;
        for k in 0..total {
            create(k, None).await.unwrap();
        }
        // The command that found `every` events stored a snapshot of them.
        let tail = s.store.load_tail::<AgentAgenda>(&agent).await.unwrap();
        assert_eq!(tail.snapshot.as_ref().map(|(_, v)| *v), Some(every), "{}", s.name);
        assert_eq!(tail.events.len() as i64, total - every, "{}", s.name);
        let (agenda, version) = s.store.load_versioned::<AgentAgenda>(&agent).await.unwrap();
        assert_eq!((agenda.absences.len() as i64, version), (total, total), "{}", s.name);
        let whole = Decoder::<AgentAgenda>::default()
            .fold(&s.store.load_stream("AgentAgenda", &agent).await.unwrap())
            .unwrap();
        assert_eq!(
            serde_json::to_value(&agenda).unwrap(),
            serde_json::to_value(&whole).unwrap(),
            "{}: the snapshot and its tail fold to the whole stream",
            s.name
        );
        // If-Match compares with the stream's version, not the snapshot's.
        let stale = create(total, Some(total - 1)).await;
        assert!(
            matches!(stale, Err(CommandError::PreconditionFailed { .. })),
            "{}: {stale:?}",
            s.name
        );
        create(total, Some(total)).await.unwrap();
        let (agenda, version) = s.store.load_versioned::<AgentAgenda>(&agent).await.unwrap();
        assert_eq!(
            (agenda.absences.len() as i64, version),
            (total + 1, total + 1),
            "{}",
            s.name
        );

        if let Some(dir) = &s.dir {
            // A snapshot of another shape (the state's type changed since).
            let file = dir.path().join("rdv.sqlite3");
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
                .await
                .unwrap();
            sqlx::query("UPDATE snapshots SET state = '{\"plages\": 7}' WHERE aggregate_id = ?")
                .bind(&agent)
                .execute(&pool)
                .await
                .unwrap();
            let (agenda, version) = s.store.load_versioned::<AgentAgenda>(&agent).await.unwrap();
            assert_eq!((agenda.absences.len() as i64, version), (total + 1, total + 1));
            let tail = s.store.load_tail::<AgentAgenda>(&agent).await.unwrap();
            assert_eq!(tail.snapshot.map(|(_, v)| v), Some(total + 1), "replaced");
            assert!(tail.events.is_empty());
        }
    }
}
