//! The helpdesk in both directions: a customer on SMS asks for a person, the handoff opens a
//! ticket at a Zendesk (or Freshdesk) API double, and the helpdesk's own webhooks (Zendesk's
//! signed ticket events, Freshdesk's automation-rule payloads with their shared secret) come
//! back: the person's reply reaches the customer by SMS through a Twilio API double, solving
//! the ticket gives the conversation back to the bot and sends the survey, reopening it gives
//! it to a person again. Redeliveries apply once, an older status change arriving late applies
//! not at all, and a tampered request is refused with nothing changed.

use crate::common::*;
use base64::Engine as _;
use frontline_agent::{Agent, ChannelSurvey, SurveySettings};
use frontline_domain::{Channel, ConversationStatus, EventKind, SurveyQuestion};
use frontline_handoff::freshdesk::{Freshdesk, FreshdeskConfig, FreshdeskWebhooks};
use frontline_handoff::inbound::Inbound;
use frontline_handoff::zendesk::{webhook_signature, Zendesk, ZendeskConfig, ZendeskWebhooks};
use frontline_handoff::HandoffTarget;
use frontline_server::delivery::OutboxWorker;
use frontline_store::testing::sqlite;
use frontline_store::Backoff;
use serde_json::{json, Value};
use std::sync::Arc;

const ZENDESK_SECRET: &str = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
const FRESHDESK_SECRET: &str = "fd-rule-secret-7";

/// Sam, who writes by SMS.
fn sam() -> Customer {
    Customer {
        email: "sam.okafor@example.net".into(),
        phone: "+14155550199".into(),
        chatwoot_contact: 17,
    }
}

/// The survey on SMS at once (its default delay is ten minutes).
fn surveys_now() -> SurveySettings {
    let mut settings = SurveySettings::default();
    settings.channels.insert(
        Channel::Sms,
        ChannelSurvey {
            enabled: true,
            delay_seconds: 0,
        },
    );
    settings
}

/// A request's headers, as `(name, value)`.
type Headers = Vec<(&'static str, String)>;

/// One helpdesk's side of the round trip: its API double's answers to the handoff, and its
/// webhooks as it sends them.
struct Helpdesk {
    name: &'static str,
    /// What the API double answers, in order (ticket, then any note).
    script: Vec<(u16, Value)>,
    /// The ticket the handoff opens.
    ticket: &'static str,
    target: fn(String) -> Arc<dyn HandoffTarget>,
    inbound: fn() -> Arc<dyn frontline_channels::Provider>,
    /// `(headers, body)` of a webhook: a person's public reply.
    reply: fn(&str) -> Value,
    /// A status change to `solved` or `open`, at `at`.
    status: fn(&str, &str, chrono::DateTime<chrono::Utc>) -> Value,
    /// The request's headers for `body`; `tamper` signs or authenticates it wrongly.
    headers: fn(&[u8], bool) -> Headers,
}

fn zendesk() -> Helpdesk {
    Helpdesk {
        name: "zendesk",
        script: vec![(201, json!({ "ticket": { "id": 35436 } }))],
        ticket: "35436",
        target: |base| {
            Arc::new(Zendesk::new(
                ZendeskConfig {
                    base_url: base,
                    email: "bot@shop.example".into(),
                    api_token: "zd-token".into(),
                    groups: Default::default(),
                    webhook_secret: Some(ZENDESK_SECRET.into()),
                },
                frontline_handoff::http_client(std::time::Duration::from_secs(5)),
            ))
        },
        inbound: || Inbound::provider(ZendeskWebhooks::new(ZENDESK_SECRET)),
        // Zendesk's ticket events (event version 2022-11-06), as its webhooks post them.
        reply: |ticket| {
            json!({
                "type": "zen:event-type:ticket.comment_added",
                "account_id": 12514403,
                "id": "6f1a2c4e-0b7d-4f8e-9a31-5c2d7e8f9012",
                "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "zendesk_event_version": "2022-11-06",
                "subject": format!("zen:ticket:{ticket}"),
                "detail": { "id": ticket, "status": "OPEN", "requester_id": "90210", "type": "INCIDENT" },
                "event": { "comment": {
                    "id": "88001",
                    "body": "Hi Sam, this is Priya. I've refunded the delivery fee; it shows in 3-5 days.",
                    "is_public": true,
                    "author": { "id": "4001", "is_staff": true, "name": "Priya" }
                }}
            })
        },
        status: |ticket, to, at| {
            let (current, previous) = match to {
                "solved" => ("SOLVED", "OPEN"),
                _ => ("OPEN", "SOLVED"),
            };
            json!({
                "type": "zen:event-type:ticket.status_changed",
                "account_id": 12514403,
                "id": format!("status-{to}-{}", at.timestamp()),
                "time": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "zendesk_event_version": "2022-11-06",
                "subject": format!("zen:ticket:{ticket}"),
                "detail": { "id": ticket, "status": current },
                "event": { "current": current, "previous": previous }
            })
        },
        headers: |body, tamper| {
            let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let secret = if tamper {
                "not-the-secret"
            } else {
                ZENDESK_SECRET
            };
            vec![
                ("content-type", "application/json".into()),
                ("x-zendesk-webhook-id", "01GK8E6BKWMJZD2T8Y5AXJQMG5".into()),
                (
                    "x-zendesk-webhook-signature",
                    webhook_signature(secret, &timestamp, body),
                ),
                ("x-zendesk-webhook-signature-timestamp", timestamp),
            ]
        },
    }
}

fn freshdesk() -> Helpdesk {
    Helpdesk {
        name: "freshdesk",
        script: vec![(201, json!({ "id": 8801 })), (201, json!({ "id": 52 }))],
        ticket: "8801",
        target: |base| {
            Arc::new(Freshdesk::new(
                FreshdeskConfig {
                    base_url: base,
                    api_key: "fd-key".into(),
                    webhook_secret: Some(FRESHDESK_SECRET.into()),
                },
                frontline_handoff::http_client(std::time::Duration::from_secs(5)),
            ))
        },
        inbound: || Inbound::provider(FreshdeskWebhooks::new(FRESHDESK_SECRET)),
        // Freshdesk's automation rule ("Trigger webhook", simple content with these fields).
        reply: |ticket| {
            json!({ "freshdesk_webhook": {
                "ticket_id": ticket,
                "ticket_status": "Open",
                "ticket_latest_public_comment": "<div>Hi Sam, this is Priya. I've refunded the delivery fee; it shows in 3-5 days.</div>",
                "ticket_agent_name": "Priya",
                "triggered_event": "{reply_sent:sent}"
            }})
        },
        status: |ticket, to, at| {
            let (status, from) = match to {
                "solved" => ("Resolved", "Open"),
                _ => ("Open", "Resolved"),
            };
            json!({ "freshdesk_webhook": {
                "ticket_id": ticket,
                "ticket_status": status,
                "ticket_agent_name": "Priya",
                "ticket_updated_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "triggered_event": format!("{{status:{{from:{from},to:{status}}}}}")
            }})
        },
        headers: |_body, tamper| {
            let secret = if tamper { "guess" } else { FRESHDESK_SECRET };
            vec![
                ("content-type", "application/json".into()),
                (
                    "authorization",
                    format!(
                        "Basic {}",
                        base64::engine::general_purpose::STANDARD
                            .encode(format!("frontline:{secret}"))
                    ),
                ),
            ]
        },
    }
}

impl Helpdesk {
    /// Post `body` to this helpdesk's webhook; the status and the JSON answer.
    async fn post(&self, server: &Server, body: &Value, tamper: bool) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        let headers = (self.headers)(&bytes, tamper);
        let (status, answer) = server
            .post(&format!("/webhooks/{}", self.name), &headers, bytes)
            .await;
        (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
    }
}

/// The SMS bodies the Twilio double was asked to send to `phone`, in order.
fn texts_to(twilio: &ProviderDouble, phone: &str) -> Vec<String> {
    twilio
        .requests()
        .iter()
        .filter_map(|(_, _, body)| {
            let form: Vec<(String, String)> = serde_urlencoded::from_str(body).ok()?;
            let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            (field("To")? == phone).then(|| field("Body")).flatten()
        })
        .collect()
}

async fn round_trip(helpdesk: Helpdesk) {
    let (desk, desk_base) = provider_double(helpdesk.script.clone()).await;
    let (twilio, twilio_base) = provider_double(vec![(201, json!({ "sid": "SM-out" }))]).await;
    let target = (helpdesk.target)(desk_base);
    let agent_target = target.clone();
    let inbound = helpdesk.inbound;
    let server = server_for(
        sqlite().await,
        move |agent: Agent| {
            agent
                .with_handoff_target(agent_target)
                .with_surveys(surveys_now())
        },
        move |base| {
            let mut config = channels(base);
            if let Some(t) = config.twilio.as_mut() {
                t.api_base = twilio_base.clone();
            }
            config
        },
        move |_| vec![inbound()],
    )
    .await;
    let store = server.db.store.clone();
    let outbox = OutboxWorker::new(store.clone(), server.registry.clone(), Backoff::default());
    let deliver = || async {
        outbox
            .run_once(chrono::Utc::now() + chrono::Duration::seconds(1))
            .await
            .unwrap()
    };
    let who = sam();

    // 1. Sam asks for a person by SMS: handed off, and the handoff opens a ticket.
    assert_eq!(
        server
            .say(
                Channel::Sms,
                "SM-in-1",
                &who,
                "I want to talk to a real person please",
                false
            )
            .await,
        200
    );
    let phone = frontline_domain::Identity::parse(
        frontline_domain::IdentityKind::Phone,
        &who.phone,
        &Default::default(),
    )
    .unwrap();
    let owner = store.identity_owner(&phone).await.unwrap().unwrap();
    let conversation = store.conversations_of(owner).await.unwrap()[0].clone();
    assert_eq!(conversation.status, ConversationStatus::HandedOff);
    let pass =
        frontline_handoff::dispatch::Dispatcher::new(store.clone(), target, Backoff::default())
            .run_once(chrono::Utc::now())
            .await
            .unwrap();
    assert_eq!(pass.delivered, 1, "{pass:?}");
    assert!(!desk.requests().is_empty());
    assert_eq!(
        store
            .conversation_of_ticket(helpdesk.name, helpdesk.ticket)
            .await
            .unwrap(),
        Some(conversation.id)
    );
    deliver().await;
    let before = texts_to(&twilio, &who.phone).len();

    // A tampered request is refused, and changes nothing.
    let reply = (helpdesk.reply)(helpdesk.ticket);
    let (status, _) = helpdesk.post(&server, &reply, true).await;
    assert_eq!(status, 401);
    deliver().await;
    assert_eq!(texts_to(&twilio, &who.phone).len(), before);

    // 2. The person's reply reaches Sam by SMS, once, however often it is delivered.
    let (status, answer) = helpdesk.post(&server, &reply, false).await;
    assert_eq!(status, 200, "{answer}");
    let (status, again) = helpdesk.post(&server, &reply, false).await;
    assert_eq!(status, 200);
    assert!(again.to_string().contains("seen before"), "{again}");
    deliver().await;
    let texts = texts_to(&twilio, &who.phone);
    assert_eq!(texts.len(), before + 1, "{texts:?}");
    assert_eq!(
        texts.last().unwrap(),
        "Hi Sam, this is Priya. I've refunded the delivery fee; it shows in 3-5 days."
    );

    // 3. Solved: the bot has the conversation again and asks the survey by SMS.
    let t0 = chrono::Utc::now();
    let solved = (helpdesk.status)(helpdesk.ticket, "solved", t0 + chrono::Duration::minutes(2));
    let (status, answer) = helpdesk.post(&server, &solved, false).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        store.conversation(conversation.id).await.unwrap().status,
        ConversationStatus::Bot
    );
    deliver().await;
    let texts = texts_to(&twilio, &who.phone);
    assert_eq!(texts.len(), before + 2, "{texts:?}");
    assert!(
        texts.last().unwrap().contains("reply with a number"),
        "{texts:?}"
    );
    let log = store.events(conversation.id).await.unwrap();
    assert!(log.iter().any(|e| matches!(&e.kind,
        EventKind::SurveySent { question: SurveyQuestion::Csat, channel: Channel::Sms, resolved_by, .. } if resolved_by == "person")));
    // The person's work is scored by the bot's rubric: resolved by them, the summary complete,
    // the customer's messages answered within SMS's promise.
    let quality = frontline_analytics::quality::stored(&log).expect("scored when solved");
    let verdict = |c: &str| {
        quality
            .items
            .iter()
            .find(|i| i.criterion == c)
            .map(|i| (i.verdict, i.reason.clone()))
    };
    assert_eq!(
        verdict("resolved"),
        Some((
            frontline_domain::Verdict::Met,
            format!("solved by a person in {}", helpdesk.name)
        ))
    );
    assert_eq!(
        verdict("summary_complete").unwrap().0,
        frontline_domain::Verdict::Met
    );
    assert_eq!(
        verdict("response_time").unwrap().0,
        frontline_domain::Verdict::Met,
        "{quality:?}"
    );

    // An older status change arriving after the solve (it was sent before) applies not at all.
    let late = (helpdesk.status)(helpdesk.ticket, "open", t0 + chrono::Duration::minutes(1));
    let (_, answer) = helpdesk.post(&server, &late, false).await;
    assert!(answer.to_string().contains("older than"), "{answer}");
    assert_eq!(
        store.conversation(conversation.id).await.unwrap().status,
        ConversationStatus::Bot
    );

    // 4. Reopened: a person has it again, and the bot stays silent.
    let reopened = (helpdesk.status)(helpdesk.ticket, "open", t0 + chrono::Duration::minutes(5));
    let (status, answer) = helpdesk.post(&server, &reopened, false).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        store.conversation(conversation.id).await.unwrap().status,
        ConversationStatus::HandedOff
    );
    server
        .say(
            Channel::Sms,
            "SM-in-2",
            &who,
            "actually one more thing about the fee",
            false,
        )
        .await;
    deliver().await;
    assert_eq!(texts_to(&twilio, &who.phone).len(), before + 2);

    // A ticket frontline never opened is the helpdesk's alone.
    let other = (helpdesk.status)("999999", "solved", t0 + chrono::Duration::minutes(6));
    let (status, answer) = helpdesk.post(&server, &other, false).await;
    assert_eq!(status, 200);
    assert!(
        answer
            .to_string()
            .contains("not one of frontline's handoffs"),
        "{answer}"
    );
}

#[tokio::test]
async fn zendesk_round_trip_reply_by_sms_solve_survey_reopen() {
    round_trip(zendesk()).await;
}

#[tokio::test]
async fn freshdesk_round_trip_reply_by_sms_solve_survey_reopen() {
    round_trip(freshdesk()).await;
}
