//! The turn pipeline end to end on the real store (SQLite and PostgreSQL) and the demo shop.

use axum::extract::{Json, State};
use axum::http::Uri;
use axum::Router;
use frontline_agent::testing::{demo_clock, demo_flows, demo_now, message, DemoParts};
use frontline_agent::{Agent, AgentConfig, TurnOutcome};
use frontline_domain::{
    Channel, ConversationStatus, EscalationTrigger, EventKind, Identity, IdentityKind,
    NormalizeOptions,
};
use frontline_flows::Engine;
use frontline_handoff::chatwoot::{Chatwoot, ChatwootConfig};
use frontline_handoff::dispatch::{Backoff, Dispatcher};
use frontline_handoff::{http_client, HandoffTarget};
use frontline_shop::Shop;
use frontline_store::testing::{all_backends, TestStore};
use frontline_understanding::RuleUnderstanding;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const ADA_EMAIL: &str = "ada.lovelace1000@example.com";

/// An agent on rule understanding and the demo shop, at Monday 2026-11-02 10:00 UTC.
async fn rule_agent(store: frontline_store::Store, dir: &tempfile::TempDir) -> Agent {
    DemoParts::new(dir.path())
        .await
        .rule_agent(store)
        .with_clock(demo_clock())
}

async fn agents() -> Vec<(Arc<Agent>, TestStore, tempfile::TempDir)> {
    let mut out = vec![];
    for db in all_backends().await {
        let dir = tempfile::tempdir().unwrap();
        let agent = rule_agent(db.store.clone(), &dir).await;
        out.push((Arc::new(agent), db, dir));
    }
    out
}

fn identity(kind: IdentityKind, raw: &str) -> Identity {
    Identity::parse(kind, raw, &NormalizeOptions::default()).unwrap()
}

fn texts(outcome: &TurnOutcome) -> String {
    outcome.reply_text()
}

#[tokio::test]
async fn one_customer_on_two_channels_is_one_conversation_and_nothing_is_asked_twice() {
    for (agent, db, _dir) in agents().await {
        // Morning: web chat, identified by email, asks about an order without its number.
        let chat = agent
            .handle(message(
                Channel::Rest,
                "rest-1",
                identity(IdentityKind::Email, ADA_EMAIL),
                "Hi, where is my order?",
            ))
            .await
            .unwrap();
        // Her orders are offered; she could point at one, and an order number still works.
        assert!(
            texts(&chat).contains("Which order would you like to know about?\n1) #W0000001"),
            "{}: {}",
            db.label,
            texts(&chat)
        );
        assert_eq!(
            chat.active_flow.as_ref().unwrap().requested_slot.as_deref(),
            Some("order_id")
        );

        // Later: an email from the same address (different case, display-name form) answers.
        let mail = agent
            .handle(message(
                Channel::Email,
                "<m1@mail.example.com>",
                identity(
                    IdentityKind::Email,
                    "Ada Lovelace <ADA.Lovelace1000@example.com>",
                ),
                "It's W0000002",
            ))
            .await
            .unwrap();
        assert_eq!(mail.conversation_id, chat.conversation_id, "{}", db.label);
        assert_eq!(mail.customer_id, chat.customer_id);
        assert!(
            texts(&mail).contains("Order #W0000002 was delivered on"),
            "{}: {}",
            db.label,
            texts(&mail)
        );
        assert!(mail.active_flow.is_none(), "the flow finished");

        let conversation = db.store.conversation(chat.conversation_id).await.unwrap();
        assert_eq!(
            conversation.channels_seen,
            vec![Channel::Rest, Channel::Email]
        );
        let log = db.store.events(chat.conversation_id).await.unwrap();
        let received = log
            .iter()
            .filter(|e| matches!(e.kind, EventKind::MessageReceived { .. }))
            .count();
        assert_eq!(received, 2);
        // The REST reply was delivered in its response; the email reply waits in the outbox.
        let outbox = db.store.outbox_of(chat.conversation_id).await.unwrap();
        assert_eq!(outbox.len(), 2);
        assert!(outbox[0].delivered_at.is_some());
        assert!(outbox[1].delivered_at.is_none());
        assert_eq!(outbox[1].message.channel, Channel::Email);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_message_delivered_twice_gets_one_turn_and_one_reply() {
    for (agent, db, _dir) in agents().await {
        let sms = || {
            message(
                Channel::Sms,
                "SM0001",
                identity(IdentityKind::Phone, "+1 303 555 0100"),
                "where is order #W0000003",
            )
        };
        let first = agent.handle(sms()).await.unwrap();
        let second = agent.handle(sms()).await.unwrap();
        assert!(!first.duplicate && second.duplicate, "{}", db.label);
        assert_eq!(second.replies, first.replies);
        assert!(texts(&first).contains("has shipped"), "{}", texts(&first));

        // Concurrent redeliveries: still exactly one turn.
        let mut handles = vec![];
        for _ in 0..5 {
            let agent = agent.clone();
            handles.push(tokio::spawn(async move {
                agent
                    .handle(message(
                        Channel::Sms,
                        "SM0002",
                        identity(IdentityKind::Phone, "+13035550100"),
                        "thanks!",
                    ))
                    .await
                    .unwrap()
            }));
        }
        let mut fresh = 0;
        for h in handles {
            if !h.await.unwrap().duplicate {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1, "{}", db.label);

        let log = db.store.events(first.conversation_id).await.unwrap();
        let received = log
            .iter()
            .filter(|e| matches!(e.kind, EventKind::MessageReceived { .. }))
            .count();
        let replies = log
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ReplySent { .. }))
            .count();
        assert_eq!((received, replies), (2, 2), "{}", db.label);
        assert_eq!(
            db.store
                .outbox_of(first.conversation_id)
                .await
                .unwrap()
                .len(),
            2
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn asking_for_a_human_hands_off_with_a_summary_and_the_bot_goes_quiet() {
    for (agent, db, _dir) in agents().await {
        let ada = identity(IdentityKind::Email, ADA_EMAIL);
        agent
            .handle(message(
                Channel::WebChat,
                "w1",
                ada.clone(),
                "where is my order W0000003",
            ))
            .await
            .unwrap();
        let handoff = agent
            .handle(message(
                Channel::WebChat,
                "w2",
                ada.clone(),
                "I want to talk to a real person",
            ))
            .await
            .unwrap();
        assert_eq!(
            handoff.status,
            ConversationStatus::HandedOff,
            "{}",
            db.label
        );
        assert!(texts(&handoff).contains("colleague"));

        let log = db.store.events(handoff.conversation_id).await.unwrap();
        let summary = log
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::Escalated { summary } => Some(summary.clone()),
                _ => None,
            })
            .expect("an escalation summary");
        assert_eq!(summary.trigger, EscalationTrigger::ExplicitRequest);
        assert_eq!(
            summary.issue_statement,
            "The customer wrote: \"where is my order W0000003\""
        );
        // The email she wrote from, and what the shop's records link to it, each with how
        // sure the agent is that it is hers.
        assert!(summary.customer.identities.contains(&ada));
        assert!(summary
            .customer
            .identities
            .iter()
            .any(|i| i.kind == IdentityKind::AccountId && i.value == "ada_lovelace_1000"));
        assert_eq!(
            summary.customer.assurance.get(&ada.to_string()),
            Some(&frontline_domain::Assurance::Channel)
        );
        assert_eq!(summary.channels_used, vec![Channel::WebChat]);
        assert_eq!(
            summary
                .actions_taken
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>(),
            [
                "find_user_id_by_email",
                "list_user_orders",
                "get_order_details"
            ]
        );
        assert!(summary.customer_was_told.contains("colleague"));
        // One sentiment score per customer message, neutral questions scoring zero.
        assert_eq!(summary.sentiment_trajectory, vec![0.0, 0.0]);
        assert_eq!(
            summary.transcript_url,
            format!("/v1/conversations/{}", handoff.conversation_id)
        );

        // The bot stays silent on every channel; the messages still land in the conversation.
        let later = agent
            .handle(message(Channel::Email, "e1", ada.clone(), "hello? anyone?"))
            .await
            .unwrap();
        assert_eq!(later.conversation_id, handoff.conversation_id);
        assert!(later.replies.is_empty(), "{}", db.label);
        assert_eq!(later.status, ConversationStatus::HandedOff);

        // The human's reply and private note land in the same log; the reply is queued for the
        // customer on the channel they last wrote from.
        let id = handoff.conversation_id;
        agent
            .record_human_message(id, "Grace (support)", "Hi Ada, I'm on it.", false)
            .await
            .unwrap();
        agent
            .record_human_message(id, "Grace (support)", "customer is polite", true)
            .await
            .unwrap();
        let log = db.store.events(id).await.unwrap();
        let human: Vec<_> = log
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::HumanMessage { text, private, .. } => Some((text.as_str(), *private)),
                _ => None,
            })
            .collect();
        assert_eq!(
            human,
            [("Hi Ada, I'm on it.", false), ("customer is polite", true)]
        );
        let queued = db.store.outbox_of(id).await.unwrap();
        let last = &queued.last().unwrap().message;
        assert_eq!(
            (last.channel, last.text.as_str()),
            (Channel::Email, "Hi Ada, I'm on it.")
        );

        // Released, the bot answers again, in the same conversation.
        assert_eq!(
            agent.release(id).await.unwrap(),
            ConversationStatus::HandedOff
        );
        assert_eq!(
            agent.release(id).await.unwrap(),
            ConversationStatus::Bot,
            "idempotent"
        );
        let back = agent
            .handle(message(
                Channel::Email,
                "e2",
                ada,
                "where is my order W0000003",
            ))
            .await
            .unwrap();
        assert_eq!(back.conversation_id, id);
        assert_eq!(back.status, ConversationStatus::Bot);
        assert!(!back.replies.is_empty(), "{}", db.label);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn orders_are_only_discussed_with_their_owner() {
    for (agent, db, dir) in agents().await {
        // Someone whose email is on no account is asked for the one on their account (which
        // would then need a code), and learns nothing about the order.
        let stranger = identity(IdentityKind::Email, "mallory@example.com");
        let out = agent
            .handle(message(
                Channel::Rest,
                "x1",
                stranger,
                "what is the status of my order #W0000002",
            ))
            .await
            .unwrap();
        let text = texts(&out);
        assert!(
            text.contains("what's the email address you ordered with?"),
            "{}: {text}",
            db.label
        );
        assert!(!text.contains("delivered"), "no status leaks: {text}");

        // Another customer of the shop asking about Ada's order is refused.
        let data = Shop::open(&dir.path().join("shop.db"))
            .await
            .unwrap()
            .export()
            .await
            .unwrap();
        let other = data
            .users
            .values()
            .find(|u| u.user_id != "ada_lovelace_1000")
            .unwrap();
        let out = agent
            .handle(message(
                Channel::Rest,
                "x2",
                identity(IdentityKind::Email, &other.email),
                "where is my order #W0000002",
            ))
            .await
            .unwrap();
        assert!(
            texts(&out).contains("I can't find #W0000002 among the orders on your account"),
            "{}",
            texts(&out)
        );

        // Ada asking about an order that does not exist.
        let ada = identity(IdentityKind::Email, ADA_EMAIL);
        let missing = agent
            .handle(message(
                Channel::Rest,
                "x3",
                ada,
                "where is my order W9999999",
            ))
            .await
            .unwrap();
        assert!(
            texts(&missing).contains("I couldn't find an order #W9999999"),
            "{}",
            texts(&missing)
        );
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_cancellation_runs_its_flow_and_writes_exactly_once() {
    for (agent, db, dir) in agents().await {
        let ada = || identity(IdentityKind::Email, ADA_EMAIL);
        let first = agent
            .handle(message(
                Channel::WebChat,
                "c1",
                ada(),
                "I want to cancel order #W0000001",
            ))
            .await
            .unwrap();
        assert!(
            texts(&first).contains("May I ask why?"),
            "{}: {}",
            db.label,
            texts(&first)
        );
        let second = agent
            .handle(message(
                Channel::WebChat,
                "c2",
                ada(),
                "ordered it by mistake",
            ))
            .await
            .unwrap();
        assert!(
            texts(&second).starts_with("To confirm: cancel order #W0000001"),
            "{}",
            texts(&second)
        );
        // The customer continues by email: the confirmation is still pending there.
        let third = agent
            .handle(message(Channel::Email, "<c3@mail>", ada(), "Yes, go ahead"))
            .await
            .unwrap();
        assert_eq!(third.conversation_id, first.conversation_id);
        assert!(
            texts(&third).starts_with("Done. Order #W0000001 is cancelled."),
            "{}",
            texts(&third)
        );
        // A redelivery of the yes changes nothing.
        assert!(
            agent
                .handle(message(Channel::Email, "<c3@mail>", ada(), "Yes, go ahead"))
                .await
                .unwrap()
                .duplicate
        );

        let shop = Shop::open(&dir.path().join("shop.db")).await.unwrap();
        let audit = shop.audit_log().await.unwrap();
        assert_eq!(audit.len(), 1, "{}: {audit:?}", db.label);
        assert_eq!(audit[0].1, "cancel_pending_order");
        assert_eq!(
            audit[0].2,
            serde_json::json!({"order_id": "#W0000001", "reason": "ordered by mistake"})
        );
        let log = db.store.events(first.conversation_id).await.unwrap();
        assert!(log.iter().any(|e| matches!(&e.kind, EventKind::FlowEnded {
                        flow_id, outcome, ..
                    } if flow_id == "cancel_order" && outcome == "resolved")));
        // Every action is in the log with its arguments and outcome; the write with its key.
        let write = log
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::ActionExecuted { call, outcome }
                    if call.name == "cancel_pending_order" =>
                {
                    Some((call.clone(), outcome.clone()))
                }
                _ => None,
            })
            .expect("the write is logged");
        assert_eq!(write.0.args["order_id"], serde_json::json!("#W0000001"));
        assert!(
            write
                .0
                .idempotency_key
                .as_deref()
                .is_some_and(|k| k.contains(":web_chat:c1/")),
            "{:?}",
            write.0.idempotency_key
        );
        assert_eq!(write.1.unwrap()["status"], serde_json::json!("cancelled"));
        assert!(log.iter().any(|e| matches!(&e.kind, EventKind::ActionExecuted { call, .. } if call.name == "get_order_details" && call.idempotency_key.is_none())));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn small_talk_and_unknown_requests_get_polite_answers() {
    for (agent, db, _dir) in agents().await {
        let who = identity(IdentityKind::WebSession, "cookie-123");
        let hi = agent
            .handle(message(Channel::WebChat, "s1", who.clone(), "hello"))
            .await
            .unwrap();
        assert!(texts(&hi).starts_with("Hi!"), "{}", texts(&hi));
        let odd = agent
            .handle(message(Channel::WebChat, "s2", who, "do you sell unicorns"))
            .await
            .unwrap();
        assert!(
            texts(&odd).contains("not sure I understood"),
            "{}",
            texts(&odd)
        );
        assert_eq!(odd.status, ConversationStatus::Bot);
        db.cleanup().await;
    }
}

#[tokio::test]
async fn a_return_picks_items_by_name_and_refunds_to_a_gift_card() {
    for (agent, db, dir) in agents().await {
        let ada = || identity(IdentityKind::Email, ADA_EMAIL);
        let say = |id: &'static str, text: &'static str| {
            agent.handle(message(Channel::WebChat, id, ada(), text))
        };
        let asked = say("r1", "I want to return my order #W0000002")
            .await
            .unwrap();
        assert!(
            texts(&asked).contains("Which items would you like to return:"),
            "{}: {}",
            db.label,
            texts(&asked)
        );
        assert!(texts(&asked).contains("Yoga Mat"), "{}", texts(&asked));
        let refund = say("r2", "just the yoga mat").await.unwrap();
        assert!(
            texts(&refund).contains("original payment method, or to a gift card?"),
            "{}",
            texts(&refund)
        );
        let confirm = say("r3", "gift card please").await.unwrap();
        assert!(
            texts(&confirm).starts_with("To confirm: return Yoga Mat"),
            "{}",
            texts(&confirm)
        );
        let done = say("r4", "yes").await.unwrap();
        assert!(
            texts(&done).contains("The return for order #W0000002 is open"),
            "{}",
            texts(&done)
        );

        let shop = Shop::open(&dir.path().join("shop.db")).await.unwrap();
        let audit = shop.audit_log().await.unwrap();
        assert_eq!(audit.len(), 1, "{}", db.label);
        assert_eq!(audit[0].1, "return_delivered_order_items");
        assert_eq!(
            audit[0].2["payment_method_id"],
            serde_json::json!("gift_card_1000002")
        );
        let order = &shop.export().await.unwrap().orders["#W0000002"];
        let yoga: Vec<_> = order
            .items
            .iter()
            .filter(|i| i.name == "Yoga Mat")
            .map(|i| i.item_id.clone())
            .collect();
        let mut returned = order.return_items.clone().unwrap();
        returned.sort();
        assert_eq!(returned, yoga, "every Yoga Mat in the order, nothing else");
        db.cleanup().await;
    }
}

/// A backend that never answers in time.
struct HangingBackend;

#[async_trait::async_trait]
impl frontline_domain::ActionBackend for HangingBackend {
    fn catalog(&self) -> Vec<frontline_domain::ActionSpec> {
        frontline_shop::actions::catalog()
    }
    async fn execute(
        &self,
        _call: &frontline_domain::ActionCall,
    ) -> Result<serde_json::Value, frontline_domain::ActionError> {
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        Ok(serde_json::Value::Null)
    }
}

#[tokio::test]
async fn a_backend_that_hangs_gets_an_apology_and_a_handoff_within_the_deadline() {
    let db = frontline_store::testing::sqlite().await;
    let flows = demo_flows();
    let config = AgentConfig {
        action_timeout: std::time::Duration::from_millis(100),
        ..AgentConfig::default()
    };
    let agent = Agent::new(
        db.store.clone(),
        Arc::new(RuleUnderstanding::new(flows.clone())),
        Arc::new(HangingBackend),
        Engine::new(flows),
        config,
    );
    let started = std::time::Instant::now();
    let out = agent
        .handle(message(
            Channel::Sms,
            "SMx",
            identity(IdentityKind::Email, ADA_EMAIL),
            "where is my order #W0000002",
        ))
        .await
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(out.status, ConversationStatus::HandedOff);
    let text = texts(&out);
    assert!(
        text.contains("something went wrong") && text.contains("colleague"),
        "{text}"
    );
    let log = db.store.events(out.conversation_id).await.unwrap();
    let summary = log.iter().find_map(|e| match &e.kind {
        EventKind::Escalated { summary } => Some(summary.clone()),
        _ => None,
    });
    assert_eq!(summary.unwrap().trigger, EscalationTrigger::AgentError);
    assert!(log.iter().any(|e| matches!(&e.kind, EventKind::ActionExecuted { outcome: Err(err), .. } if err.to_string().contains("timed out"))));
    db.cleanup().await;
}

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

async fn chatwoot(State(seen): State<Seen>, uri: Uri, Json(body): Json<Value>) -> Json<Value> {
    let path = uri.path().to_string();
    seen.lock().unwrap().push((path.clone(), body));
    Json(if path.ends_with("/contacts") {
        json!({"payload": {"contact": {"id": 5}, "contact_inbox": {"source_id": "s"}}})
    } else if path.ends_with("/conversations") {
        json!({"id": 321})
    } else if path.ends_with("/messages") {
        json!({"id": 1})
    } else {
        json!({})
    })
}

/// A handoff travels from the turn that decides it, through the store's handoff outbox, to a
/// helpdesk (Chatwoot's real API, served by a local double), and a release reaches it too.
#[tokio::test]
async fn a_handoff_is_queued_delivered_to_chatwoot_and_released_there() {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .fallback(axum::routing::post(chatwoot))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let target: Arc<dyn HandoffTarget> = Arc::new(Chatwoot::new(
        ChatwootConfig {
            base_url: url,
            account_id: 1,
            api_access_token: "t".into(),
            inbox_id: 2,
            labels: vec![],
        },
        http_client(std::time::Duration::from_secs(5)),
    ));

    for db in all_backends().await {
        let dir = tempfile::tempdir().unwrap();
        let agent = rule_agent(db.store.clone(), &dir)
            .await
            .with_handoff_target(target.clone());
        let now = demo_now();
        let out = agent
            .handle(message(
                Channel::WebChat,
                "m1",
                identity(IdentityKind::Email, ADA_EMAIL),
                "I want to talk to a real person",
            ))
            .await
            .unwrap();
        assert_eq!(out.status, ConversationStatus::HandedOff);
        let queued = db.store.handoffs_of(out.conversation_id).await.unwrap();
        assert_eq!(queued.len(), 1, "queued in the turn that decided it");
        assert_eq!(queued[0].target, "chatwoot");
        assert_eq!(queued[0].request["summary"]["trigger"], "explicit_request");

        let dispatcher = Dispatcher::new(db.store.clone(), target.clone(), Backoff::default());
        assert_eq!(dispatcher.run_once(now).await.unwrap().delivered, 1);
        let delivered = &db.store.handoffs_of(out.conversation_id).await.unwrap()[0];
        assert_eq!(delivered.reference.as_deref(), Some("321"));
        {
            let seen = seen.lock().unwrap();
            let note = seen
                .iter()
                .find(|(p, _)| p == "/api/v1/accounts/1/conversations/321/messages")
                .expect("a private note");
            assert_eq!(note.1["private"], true);
            assert!(note.1["content"]
                .as_str()
                .unwrap()
                .contains("explicit_request"));
        }

        // The release reaches the helpdesk through the handoff outbox, not inline.
        let before_release = seen.lock().unwrap().len();
        agent.release(out.conversation_id).await.unwrap();
        assert_eq!(
            seen.lock().unwrap().len(),
            before_release,
            "no HTTP call in the agent"
        );
        assert_eq!(dispatcher.run_once(now).await.unwrap().delivered, 1);
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.0, "/api/v1/accounts/1/conversations/321/toggle_status");
        assert_eq!(last.1, json!({"status": "pending"}));
        db.cleanup().await;
    }
}

#[tokio::test]
async fn each_replica_sees_the_turns_another_ran_on_the_same_conversation() {
    // Agents keep recent logs in memory between turns; what another replica (or a person's
    // message) appended meanwhile must still be read, or the flow state would be stale and the
    // commit would collide with the other's events.
    for db in all_backends().await {
        let dir = tempfile::tempdir().unwrap();
        let parts = DemoParts::new(dir.path()).await;
        let a = parts.rule_agent(db.store.clone()).with_clock(demo_clock());
        let b = parts.rule_agent(db.store.clone()).with_clock(demo_clock());
        let ada = || identity(IdentityKind::Email, ADA_EMAIL);
        let first = a
            .handle(message(
                Channel::WebChat,
                "r1",
                ada(),
                "I want to cancel my order",
            ))
            .await
            .unwrap();
        // Her one pending order is proposed; she answers with its number anyway.
        assert!(
            texts(&first).contains("Is it order #W0000001"),
            "{}",
            texts(&first)
        );
        let second = b
            .handle(message(Channel::WebChat, "r2", ada(), "#W0000001"))
            .await
            .unwrap();
        assert!(
            texts(&second).contains("May I ask why?"),
            "{}",
            texts(&second)
        );
        // Back on the first replica, which kept the log as it was after its own turn.
        let third = a
            .handle(message(
                Channel::WebChat,
                "r3",
                ada(),
                "ordered it by mistake",
            ))
            .await
            .unwrap();
        assert!(
            texts(&third).starts_with("To confirm: cancel order #W0000001"),
            "{}: {}",
            db.label,
            texts(&third)
        );
        let fourth = b
            .handle(message(Channel::WebChat, "r4", ada(), "no"))
            .await
            .unwrap();
        assert_eq!(fourth.conversation_id, first.conversation_id);
        assert!(fourth.active_flow.is_none(), "{}", texts(&fourth));
        // One log, written by both, gap-free.
        let log = db.store.events(first.conversation_id).await.unwrap();
        assert!(log.iter().enumerate().all(|(i, e)| e.seq == i as i64 + 1));
        let received = log
            .iter()
            .filter(|e| matches!(e.kind, EventKind::MessageReceived { .. }))
            .count();
        assert_eq!(received, 4, "{}", db.label);
    }
}
