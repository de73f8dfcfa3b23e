//! The store's behaviour, on SQLite and (when configured) PostgreSQL alike.

use chrono::{Duration, TimeZone, Utc};
use frontline_domain::{
    Channel, Conversation, ConversationStatus, CustomerId, EventKind, Identity, IdentityKind,
    OutboundMessage, Timestamp,
};
use frontline_store::testing::all_backends;
use frontline_store::{DeliveryAttempt, InboxClaim, Store};

fn at(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn email(v: &str) -> Identity {
    Identity {
        kind: IdentityKind::Email,
        value: v.into(),
    }
}

fn phone(v: &str) -> Identity {
    Identity {
        kind: IdentityKind::Phone,
        value: v.into(),
    }
}

/// A customer known by `address`, and a conversation of theirs on `channel`.
async fn customer_with_conversation(
    s: &Store,
    address: &str,
    channel: Channel,
) -> (CustomerId, Conversation) {
    let customer = s
        .resolve_customer(&[email(address)], None, at(0))
        .await
        .unwrap()
        .customer
        .id;
    let conversation = s
        .open_conversation(customer, channel, None, Duration::hours(1), at(0))
        .await
        .unwrap();
    (customer, conversation)
}

#[tokio::test]
async fn identity_resolution_finds_creates_and_attaches() {
    for db in all_backends().await {
        let s = &db.store;
        let first = s
            .resolve_customer(&[email("ada@example.com")], Some("Ada"), at(0))
            .await
            .unwrap();
        assert!(first.created, "{}", db.label);

        // Same handle again: same customer, nothing created.
        let again = s
            .resolve_customer(&[email("ada@example.com")], None, at(1))
            .await
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.customer.id, first.customer.id, "{}", db.label);

        // A message vouching for a new phone alongside the known email attaches the phone.
        let with_phone = s
            .resolve_customer(
                &[phone("+14155550123"), email("ada@example.com")],
                None,
                at(2),
            )
            .await
            .unwrap();
        assert_eq!(with_phone.customer.id, first.customer.id);
        let handles: Vec<_> = with_phone
            .customer
            .identities
            .iter()
            .map(|r| r.identity.clone())
            .collect();
        assert_eq!(
            handles,
            vec![email("ada@example.com"), phone("+14155550123")],
            "{}",
            db.label
        );
        assert_eq!(with_phone.customer.display_name.as_deref(), Some("Ada"));

        // Now the phone alone finds her.
        let by_phone = s
            .resolve_customer(&[phone("+14155550123")], None, at(3))
            .await
            .unwrap();
        assert_eq!(by_phone.customer.id, first.customer.id);

        s.verify_identity(&email("ada@example.com")).await.unwrap();
        let ada = s.customer(first.customer.id).await.unwrap();
        assert!(ada
            .identities
            .iter()
            .any(|r| r.verified && r.identity == email("ada@example.com")));
        assert!(s
            .verify_identity(&email("nobody@example.com"))
            .await
            .is_err());
        db.cleanup().await;
    }
}

/// A returning customer is resolved from one read of their record; it must say exactly what the
/// stored record says, and give way to the full resolution whenever something is to be written.
#[tokio::test]
async fn a_returning_customer_resolves_to_their_stored_record() {
    for db in all_backends().await {
        let s = &db.store;
        let ada = s
            .resolve_customer(
                &[email("ada@example.com"), phone("+14155550123")],
                None,
                at(0),
            )
            .await
            .unwrap()
            .customer;
        for identities in [
            vec![email("ada@example.com")],
            vec![phone("+14155550123")],
            vec![phone("+14155550123"), email("ada@example.com")],
        ] {
            let again = s.resolve_customer(&identities, None, at(5)).await.unwrap();
            assert!(!again.created && again.merged.is_empty(), "{}", db.label);
            assert_eq!(
                again.customer,
                s.customer(ada.id).await.unwrap(),
                "{}",
                db.label
            );
            assert_eq!(again.customer.identities.len(), 2, "{}", db.label);
        }

        // A name given for the first time is stored, and a later one does not replace it.
        let named = s
            .resolve_customer(&[email("ada@example.com")], Some("Ada"), at(6))
            .await
            .unwrap();
        assert_eq!(
            named.customer.display_name.as_deref(),
            Some("Ada"),
            "{}",
            db.label
        );
        let renamed = s
            .resolve_customer(&[email("ada@example.com")], Some("Augusta"), at(7))
            .await
            .unwrap();
        assert_eq!(
            renamed.customer.display_name.as_deref(),
            Some("Ada"),
            "{}",
            db.label
        );

        // A handle the record lacks is attached, on the same customer.
        let third = s
            .resolve_customer(&[email("ada@example.com"), account("acct-7")], None, at(8))
            .await
            .unwrap();
        assert_eq!(third.customer.id, ada.id, "{}", db.label);
        assert_eq!(third.customer.identities.len(), 3, "{}", db.label);
        assert_eq!(
            third.customer,
            s.customer(ada.id).await.unwrap(),
            "{}",
            db.label
        );
        db.cleanup().await;
    }
}

fn account(v: &str) -> Identity {
    Identity {
        kind: IdentityKind::AccountId,
        value: v.into(),
    }
}

#[tokio::test]
async fn a_message_tying_two_customers_merges_them_audited_unless_verified_ids_conflict() {
    for db in all_backends().await {
        let s = &db.store;
        // Known by phone from an SMS, and separately by email with a conversation.
        let by_phone = s
            .resolve_customer(&[phone("+14155550123")], None, at(0))
            .await
            .unwrap()
            .customer
            .id;
        let (by_email, conversation) =
            customer_with_conversation(s, "ada@example.com", Channel::Email).await;
        // The web form vouches for both: the email's owner survives (email outranks phone).
        let tied = s
            .resolve_customer(
                &[phone("+14155550123"), email("ada@example.com")],
                None,
                at(1),
            )
            .await
            .unwrap();
        assert_eq!(tied.customer.id, by_email, "{}", db.label);
        assert_eq!(tied.merged.len(), 1);
        assert_eq!(tied.merged[0].merged, by_phone);
        assert!(
            tied.merged[0].reason.contains("email:ada@example.com"),
            "{}",
            tied.merged[0].reason
        );
        assert_eq!(
            s.identity_owner(&phone("+14155550123")).await.unwrap(),
            Some(by_email)
        );
        assert_eq!(
            s.customer(by_phone).await.unwrap().merged_into,
            Some(by_email)
        );
        assert_eq!(
            s.conversations_of(by_email).await.unwrap()[0].id,
            conversation.id
        );
        let audit = s.merges_of(by_phone).await.unwrap();
        assert_eq!((audit.len(), audit[0].survivor), (1, by_email));
        // The phone alone now finds the survivor.
        let again = s
            .resolve_customer(&[phone("+14155550123")], None, at(2))
            .await
            .unwrap();
        assert_eq!((again.customer.id, again.merged.len()), (by_email, 0));

        // Two customers with different verified account ids are never merged.
        let carol = s
            .resolve_customer(&[account("carol_1")], None, at(3))
            .await
            .unwrap()
            .customer
            .id;
        let dave = s
            .resolve_customer(&[account("dave_2")], None, at(3))
            .await
            .unwrap()
            .customer
            .id;
        s.verify_identity(&account("carol_1")).await.unwrap();
        s.verify_identity(&account("dave_2")).await.unwrap();
        let both = s
            .resolve_customer(&[account("carol_1"), account("dave_2")], None, at(4))
            .await
            .unwrap();
        assert_eq!(
            (both.customer.id, both.merged.len()),
            (carol, 0),
            "{}",
            db.label
        );
        assert_eq!(
            s.identity_owner(&account("dave_2")).await.unwrap(),
            Some(dave)
        );
        assert!(matches!(
            s.merge_customers(carol, dave, "by hand", at(5)).await,
            Err(frontline_store::StoreError::Conflict(_))
        ));
        assert!(s.merges_of(dave).await.unwrap().is_empty());
        db.cleanup().await;
    }
}

#[tokio::test]
async fn racing_first_messages_from_one_handle_create_one_customer() {
    for db in all_backends().await {
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s: Store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                s.resolve_customer(&[email("race@example.com")], None, at(0))
                    .await
                    .unwrap()
                    .customer
                    .id
            }));
        }
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{}: {ids:?}", db.label);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_conversation_continues_across_channels_within_the_window() {
    let window = Duration::hours(72);
    for db in all_backends().await {
        let s = &db.store;
        let ada = s
            .resolve_customer(&[email("ada@example.com")], None, at(0))
            .await
            .unwrap()
            .customer
            .id;
        let chat = s
            .open_conversation(ada, Channel::WebChat, None, window, at(0))
            .await
            .unwrap();
        let mail = s
            .open_conversation(ada, Channel::Email, None, window, at(60))
            .await
            .unwrap();
        assert_eq!(chat.id, mail.id, "{}", db.label);
        assert_eq!(mail.channels_seen, vec![Channel::WebChat, Channel::Email]);
        let stored = s.conversation(chat.id).await.unwrap();
        assert_eq!(stored.channels_seen, vec![Channel::WebChat, Channel::Email]);
        assert_eq!(stored.last_activity_at, at(60));

        // Past the continuity window, a new conversation opens.
        let later = s
            .open_conversation(ada, Channel::Sms, None, window, at(60 + 73 * 60))
            .await
            .unwrap();
        assert_ne!(later.id, chat.id, "{}", db.label);

        // A resolved conversation is never reopened, even through a channel hint.
        assert_eq!(
            s.set_status(later.id, ConversationStatus::Resolved)
                .await
                .unwrap(),
            ConversationStatus::Bot
        );
        let after = s
            .open_conversation(
                ada,
                Channel::Email,
                Some(later.id),
                window,
                at(60 + 74 * 60),
            )
            .await
            .unwrap();
        assert_ne!(after.id, later.id);

        // A hint pointing at someone else's conversation is ignored.
        let bob = s
            .resolve_customer(&[email("bob@example.com")], None, at(0))
            .await
            .unwrap()
            .customer
            .id;
        let bobs = s
            .open_conversation(
                bob,
                Channel::Email,
                Some(after.id),
                window,
                at(60 + 75 * 60),
            )
            .await
            .unwrap();
        assert_ne!(bobs.id, after.id);
        assert_eq!(bobs.customer_id, bob);

        // The hint wins over recency for the customer's own open conversations.
        let hinted = s
            .open_conversation(
                ada,
                Channel::Email,
                Some(after.id),
                window,
                at(60 + 76 * 60),
            )
            .await
            .unwrap();
        assert_eq!(hinted.id, after.id);
        assert_eq!(s.conversations_of(ada).await.unwrap().len(), 3);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn events_append_in_gap_free_order_and_round_trip() {
    for db in all_backends().await {
        let s = &db.store;
        let (_, conv) = customer_with_conversation(s, "ada@example.com", Channel::Rest).await;
        for i in 0..5 {
            let e = s
                .append_event(
                    conv.id,
                    at(i),
                    EventKind::MessageReceived {
                        channel: Channel::Rest,
                        channel_message_id: format!("m{i}"),
                        sender: email("ada@example.com"),
                        text: format!("message {i}"),
                        thread: Default::default(),
                        language: None,
                        prefers: None,
                    },
                )
                .await
                .unwrap();
            assert_eq!(e.seq, i + 1, "{}", db.label);
        }
        s.append_event(
            conv.id,
            at(9),
            EventKind::StatusChanged {
                from: ConversationStatus::Bot,
                to: ConversationStatus::HandedOff,
            },
        )
        .await
        .unwrap();
        let log = s.events(conv.id).await.unwrap();
        assert_eq!(
            log.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert!(
            matches!(&log[2].kind, EventKind::MessageReceived { text, .. } if text == "message 2")
        );
        assert_eq!(log[5].at, at(9));
        assert_eq!(s.events_after(conv.id, 4).await.unwrap().len(), 2);
        assert_eq!(s.event_count(conv.id).await.unwrap(), 6);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_redelivered_message_is_claimed_once() {
    let lease = Duration::seconds(60);
    for db in all_backends().await {
        let s = &db.store;
        let claim = |m: &'static str, t| s.claim_inbound(Channel::Sms, m, lease, t);
        assert_eq!(
            claim("SM1", at(0)).await.unwrap(),
            InboxClaim::Fresh,
            "{}",
            db.label
        );
        assert_eq!(
            claim("SM1", at(0)).await.unwrap(),
            InboxClaim::InProgress,
            "{}",
            db.label
        );
        // The same id on another channel is another message.
        assert_eq!(
            s.claim_inbound(Channel::Email, "SM1", lease, at(0))
                .await
                .unwrap(),
            InboxClaim::Fresh
        );

        let result = serde_json::json!({"reply": "hello"});
        s.complete_inbound(Channel::Sms, "SM1", None, &result, at(0))
            .await
            .unwrap();
        assert_eq!(
            claim("SM1", at(5)).await.unwrap(),
            InboxClaim::Done {
                conversation_id: None,
                result: result.clone()
            },
            "{}",
            db.label
        );

        // A claim whose worker died is taken over once its lease expires, and only then.
        assert_eq!(claim("SM2", at(0)).await.unwrap(), InboxClaim::Fresh);
        assert_eq!(
            claim("SM2", at(0) + Duration::seconds(59)).await.unwrap(),
            InboxClaim::InProgress
        );
        assert_eq!(
            claim("SM2", at(2)).await.unwrap(),
            InboxClaim::Fresh,
            "{}",
            db.label
        );
        assert_eq!(claim("SM2", at(2)).await.unwrap(), InboxClaim::InProgress);
        db.cleanup().await;
    }
}

/// A text message from `from`, provider id `id`.
fn sms(id: &str, from: &str) -> frontline_domain::InboundMessage {
    frontline_domain::InboundMessage {
        channel: Channel::Sms,
        channel_message_id: id.into(),
        sender: phone(from),
        also_known_as: vec![],
        assurance: frontline_domain::Assurance::Channel,
        display_name: None,
        text: format!("message {id}"),
        received_at: at(0),
        conversation_hint: None,
        thread: Default::default(),
    }
}

#[tokio::test]
async fn the_last_message_per_channel_comes_from_the_inbox_once_its_turn_finished() {
    let lease = Duration::seconds(60);
    for db in all_backends().await {
        let s = &db.store;
        let (_, c) = customer_with_conversation(s, "ada@example.com", Channel::Whatsapp).await;
        assert_eq!(s.last_inbound(c.id, Channel::Whatsapp).await.unwrap(), None);
        let finish = |channel: Channel, id: &'static str, t: Timestamp| async move {
            s.claim_inbound(channel, id, lease, t).await.unwrap();
            s.complete_inbound(channel, id, Some(c.id), &serde_json::json!({}), t)
                .await
                .unwrap();
        };
        finish(Channel::Whatsapp, "wamid.1", at(1)).await;
        finish(Channel::Whatsapp, "wamid.2", at(7)).await;
        finish(Channel::Email, "mail-1", at(9)).await;
        // A message still being processed does not count yet.
        s.claim_inbound(Channel::Whatsapp, "wamid.3", lease, at(12))
            .await
            .unwrap();
        assert_eq!(
            s.last_inbound(c.id, Channel::Whatsapp).await.unwrap(),
            Some(at(7)),
            "{}",
            db.label
        );
        assert_eq!(
            s.last_inbound(c.id, Channel::Email).await.unwrap(),
            Some(at(9))
        );
        assert_eq!(
            s.last_inbound(c.id, Channel::Messenger).await.unwrap(),
            None
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn the_queue_hands_out_each_senders_oldest_unfinished_message_only() {
    for db in all_backends().await {
        let s = &db.store;
        let label = &db.label;
        let due = |t| async move {
            s.due_inbound(t, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|q| q.message.channel_message_id)
                .collect::<Vec<_>>()
        };
        // Ada's three, accepted in the same millisecond, and one of Bob's; ids that sort
        // against the order they came in.
        for (id, from) in [
            ("z1", "+15550001"),
            ("y2", "+15550001"),
            ("b1", "+15550002"),
            ("x3", "+15550001"),
        ] {
            assert!(s.accept_inbound(&sms(id, from), at(0)).await.unwrap());
        }
        // A redelivery of Ada's first keeps its place.
        assert!(!s
            .accept_inbound(&sms("z1", "+15550001"), at(1))
            .await
            .unwrap());
        assert_eq!(due(at(1)).await, ["b1", "z1"], "{label}");

        // Her oldest waits for a retry: so does the rest of hers; Bob's goes on.
        let retry = DeliveryAttempt::Retry {
            next_attempt_at: at(5),
            error: "the LLM timed out".into(),
        };
        s.record_inbound_attempt(Channel::Sms, "z1", &retry, at(1))
            .await
            .unwrap();
        assert_eq!(due(at(2)).await, ["b1"], "{label}");
        assert_eq!(due(at(5)).await, ["b1", "z1"], "{label}");

        // Done, her next one is due; set aside for an operator, the one after.
        let delivered = DeliveryAttempt::Delivered {
            reference: String::new(),
        };
        s.record_inbound_attempt(Channel::Sms, "z1", &delivered, at(5))
            .await
            .unwrap();
        assert_eq!(due(at(5)).await, ["b1", "y2"], "{label}");
        let failed = DeliveryAttempt::Failed {
            error: "gave up".into(),
        };
        s.record_inbound_attempt(Channel::Sms, "y2", &failed, at(5))
            .await
            .unwrap();
        s.record_inbound_attempt(Channel::Sms, "b1", &delivered, at(5))
            .await
            .unwrap();
        assert_eq!(due(at(5)).await, ["x3"], "{label}");
        assert_eq!(s.inbound_backlog().await.unwrap(), 1);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn outbox_entries_stay_due_until_delivered() {
    for db in all_backends().await {
        let s = &db.store;
        let (_, conv) = customer_with_conversation(s, "ada@example.com", Channel::Email).await;
        let reply = OutboundMessage {
            conversation_id: conv.id,
            channel: Channel::Email,
            recipient: email("ada@example.com"),
            text: "Your order has shipped.".into(),
            in_reply_to: Some("<m1@example.com>".into()),
            thread: Default::default(),
            choices: vec![],
            survey: None,
        };
        let id = s.enqueue_outbox(&reply, at(0)).await.unwrap();
        let due = s.due_outbox(at(1), 10).await.unwrap();
        assert_eq!(due.len(), 1, "{}", db.label);
        assert_eq!(due[0].message, reply);
        assert_eq!(due[0].id, id);
        s.mark_delivered(id, at(2)).await.unwrap();
        s.mark_delivered(id, at(3)).await.unwrap();
        assert!(s.due_outbox(at(4), 10).await.unwrap().is_empty());
        let all = s.outbox_of(conv.id).await.unwrap();
        assert_eq!(
            all[0].delivered_at,
            Some(at(2)),
            "first delivery time is kept"
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn missing_records_are_reported_as_not_found() {
    for db in all_backends().await {
        let err = db
            .store
            .conversation(frontline_domain::ConversationId::new())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not found"), "{}: {err}", db.label);
        let err = db
            .store
            .customer(frontline_domain::CustomerId::new())
            .await
            .unwrap_err();
        assert!(matches!(err, frontline_store::StoreError::NotFound(_)));
        db.store.ping().await.unwrap();
        db.cleanup().await;
    }
}

fn escalated(
    conversation: &Conversation,
    trigger: frontline_domain::EscalationTrigger,
) -> EventKind {
    use frontline_domain::escalation::SummaryCustomer;
    use frontline_domain::{EscalationSummary, RoutingHint};
    EventKind::Escalated {
        summary: Box::new(EscalationSummary {
            conversation_id: conversation.id,
            customer: SummaryCustomer {
                customer_id: conversation.customer_id.to_string(),
                name: None,
                identities: vec![],
                assurance: Default::default(),
                vip: false,
                locale: None,
            },
            channels_used: conversation.channels_seen.clone(),
            current_channel: conversation.channels_seen[0],
            issue_statement: "help".into(),
            tier: None,
            flow: None,
            actions_taken: vec![],
            knowledge_shown: vec![],
            sentiment_trajectory: vec![],
            trigger,
            reason: "test".into(),
            routing: RoutingHint::default(),
            prior_contacts: vec![],
            customer_was_told: String::new(),
            suggested_next_step: String::new(),
            transcript_url: String::new(),
            narrative: None,
            created_at: at(5),
        }),
    }
}

#[tokio::test]
async fn conversations_are_listed_by_status_channel_escalation_reason_and_activity() {
    use frontline_domain::EscalationTrigger;
    use frontline_store::ConversationFilter;
    for db in all_backends().await {
        let s = &db.store;
        let (_, chat) = customer_with_conversation(s, "a@example.com", Channel::WebChat).await;
        let (_, mail) = customer_with_conversation(s, "b@example.com", Channel::Email).await;
        let (_, sms) = customer_with_conversation(s, "c@example.com", Channel::Sms).await;
        // Later activity: the e-mail conversation moves on to SMS and is escalated by sentiment;
        // the SMS one is escalated on request.
        let mail = s
            .open_conversation(
                mail.customer_id,
                Channel::Sms,
                None,
                Duration::hours(1),
                at(30),
            )
            .await
            .unwrap();
        s.append_event(
            mail.id,
            at(31),
            escalated(&mail, EscalationTrigger::NegativeSentiment),
        )
        .await
        .unwrap();
        s.set_status(mail.id, ConversationStatus::HandedOff)
            .await
            .unwrap();
        s.append_event(
            sms.id,
            at(2),
            escalated(&sms, EscalationTrigger::LowConfidence),
        )
        .await
        .unwrap();
        s.append_event(
            sms.id,
            at(3),
            escalated(&sms, EscalationTrigger::ExplicitRequest),
        )
        .await
        .unwrap();

        let ids = |rows: Vec<frontline_store::ListedConversation>| -> Vec<_> {
            rows.into_iter().map(|r| r.conversation.id).collect()
        };
        let all = s
            .list_conversations(&ConversationFilter::default())
            .await
            .unwrap();
        assert_eq!(
            all[0].conversation.id, mail.id,
            "newest activity first ({})",
            db.label
        );
        assert_eq!(all.len(), 3, "{}", db.label);
        let reasons: Vec<_> = all
            .iter()
            .map(|r| (r.conversation.id, r.escalation))
            .collect();
        assert!(
            reasons.contains(&(sms.id, Some(EscalationTrigger::ExplicitRequest))),
            "the latest escalation counts ({})",
            db.label
        );
        assert!(reasons.contains(&(chat.id, None)), "{}", db.label);

        let by =
            |f: ConversationFilter| async move { ids(s.list_conversations(&f).await.unwrap()) };
        assert_eq!(
            by(ConversationFilter {
                status: Some(ConversationStatus::HandedOff),
                ..Default::default()
            })
            .await,
            vec![mail.id],
            "{}",
            db.label
        );
        let mut on_sms = by(ConversationFilter {
            channel: Some(Channel::Sms),
            ..Default::default()
        })
        .await;
        on_sms.sort();
        let mut expected = vec![mail.id, sms.id];
        expected.sort();
        assert_eq!(
            on_sms, expected,
            "a channel used later counts ({})",
            db.label
        );
        assert_eq!(
            by(ConversationFilter {
                escalation: Some(EscalationTrigger::NegativeSentiment),
                ..Default::default()
            })
            .await,
            vec![mail.id],
            "{}",
            db.label
        );
        assert_eq!(
            by(ConversationFilter {
                escalation: Some(EscalationTrigger::LowConfidence),
                ..Default::default()
            })
            .await,
            Vec::<frontline_domain::ConversationId>::new(),
            "an earlier escalation's reason does not count ({})",
            db.label
        );
        // The tier as last recorded: the chat went from informational to emotional.
        for (to, minute) in [("informational", 4), ("emotional", 5)] {
            s.append_event(
                chat.id,
                at(minute),
                EventKind::TierChanged {
                    from: None,
                    to: to.into(),
                    reason: "test".into(),
                },
            )
            .await
            .unwrap();
        }
        assert_eq!(
            by(ConversationFilter {
                tier: Some("emotional".into()),
                ..Default::default()
            })
            .await,
            vec![chat.id],
            "{}",
            db.label
        );
        assert!(
            by(ConversationFilter {
                tier: Some("informational".into()),
                ..Default::default()
            })
            .await
            .is_empty(),
            "only the latest tier counts ({})",
            db.label
        );
        assert_eq!(
            by(ConversationFilter {
                active_from: Some(at(10)),
                ..Default::default()
            })
            .await,
            vec![mail.id],
            "{}",
            db.label
        );
        assert_eq!(
            by(ConversationFilter {
                active_to: Some(at(10)),
                limit: 1,
                ..Default::default()
            })
            .await
            .len(),
            1,
            "the limit holds ({})",
            db.label
        );
    }
}

#[tokio::test]
async fn a_batch_lands_whole_in_order_and_a_racing_one_is_refused_whole() {
    use frontline_store::{StoreError, Write, WriteBatch};
    for db in all_backends().await {
        let s = &db.store;
        let (_, conversation) =
            customer_with_conversation(s, "batch@example.com", Channel::Rest).await;
        let recipient = email("batch@example.com");
        let event = |seq: i64, to: ConversationStatus| Write::Event {
            conversation_id: conversation.id,
            seq,
            at: at(seq),
            kind: EventKind::StatusChanged {
                from: ConversationStatus::Bot,
                to,
            },
        };
        let reply = |text: &str| Write::Outbox {
            id: frontline_domain::OutboxId::new(),
            message: OutboundMessage {
                conversation_id: conversation.id,
                channel: Channel::Rest,
                recipient: recipient.clone(),
                text: text.into(),
                in_reply_to: None,
                thread: Default::default(),
                choices: vec![],
                survey: None,
            },
            at: at(1),
            delivered: false,
            not_before: None,
        };
        // Three events (one statement), a reply, then one more event.
        let turn = WriteBatch {
            writes: vec![
                event(1, ConversationStatus::HandedOff),
                event(2, ConversationStatus::Bot),
                event(3, ConversationStatus::Resolved),
                reply("first"),
                event(4, ConversationStatus::Bot),
            ],
        };
        s.apply(&turn).await.unwrap();
        let log = s.events(conversation.id).await.unwrap();
        let seqs: Vec<i64> = log.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4], "{}", db.label);
        assert!(matches!(
            log[2].kind,
            EventKind::StatusChanged {
                to: ConversationStatus::Resolved,
                ..
            }
        ));
        // Another writer expected the log to end at 2: its events 3 and 4 collide.
        let racing = WriteBatch {
            writes: vec![
                event(3, ConversationStatus::HandedOff),
                event(4, ConversationStatus::HandedOff),
                reply("second"),
            ],
        };
        let refused = s.apply(&racing).await.unwrap_err();
        assert!(
            matches!(refused, StoreError::Conflict(_)),
            "{}: {refused}",
            db.label
        );
        assert!(refused.to_string().contains("another turn"), "{refused}");
        assert_eq!(
            s.events(conversation.id).await.unwrap(),
            log,
            "nothing of it is kept"
        );
        let replies = s
            .outbox_for_recipient(Channel::Rest, &recipient, None)
            .await
            .unwrap();
        let texts: Vec<&str> = replies.iter().map(|r| r.message.text.as_str()).collect();
        assert_eq!(texts, ["first"], "{}", db.label);
        db.cleanup().await;
    }
}
