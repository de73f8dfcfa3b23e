//! Each handoff target against a local HTTP server that checks method, path, headers and body
//! as the provider documents them, and that a retry after a 5xx creates nothing twice.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use frontline_domain::escalation::{SummaryCustomer, SummaryFlow};
use frontline_domain::{
    Channel, ConversationId, EscalationSummary, EscalationTrigger, Identity, IdentityKind,
    Priority, RoutingHint,
};
use frontline_handoff::chatwoot::{Chatwoot, ChatwootConfig};
use frontline_handoff::dispatch::{Backoff, Dispatcher};
use frontline_handoff::freshdesk::{Freshdesk, FreshdeskConfig};
use frontline_handoff::webhook::{sign, verify, SignatureError, Webhook, WebhookConfig};
use frontline_handoff::zendesk::{Zendesk, ZendeskConfig};
use frontline_handoff::{http_client, Delivered, HandoffRequest, HandoffTarget, Progress};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the server saw.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

type Respond = dyn Fn(&Seen, &Provider) -> (StatusCode, Value) + Send + Sync;

/// A provider double: records requests; `fail_once` makes the next request to a path answer
/// with that status (after doing the work when `work_then_fail` is set, as a flaky server
/// might).
#[derive(Default)]
struct Provider {
    seen: Mutex<Vec<Seen>>,
    fail_once: Mutex<HashMap<String, StatusCode>>,
    tickets: Mutex<HashMap<String, u64>>,
    created: Mutex<u64>,
}

struct Server {
    provider: Provider,
    respond: Box<Respond>,
}

async fn handle(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let seen = Seen {
        method,
        path: uri.path().to_string(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: body.to_vec(),
    };
    server.provider.seen.lock().unwrap().push(seen.clone());
    let forced = server.provider.fail_once.lock().unwrap().remove(&seen.path);
    let (status, value) = (server.respond)(&seen, &server.provider);
    match forced {
        Some(status) => (status, axum::Json(json!({"error": "try again"}))),
        None => (status, axum::Json(value)),
    }
}

async fn serve(respond: Box<Respond>) -> (String, Arc<Server>) {
    let server = Arc::new(Server {
        provider: Provider::default(),
        respond,
    });
    let app = Router::new().fallback(handle).with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, server)
}

fn seen(server: &Server, method: Method, path: &str) -> Vec<Seen> {
    server
        .provider
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.method == method && s.path == path)
        .cloned()
        .collect()
}

fn fail_next(server: &Server, path: &str, status: StatusCode) {
    server
        .provider
        .fail_once
        .lock()
        .unwrap()
        .insert(path.to_string(), status);
}

/// Deliver once while `path` answers `status` (a transient failure), then again. Returns what
/// the failed attempt left in the progress, the second attempt's result, and the final progress.
async fn deliver_after_failure(
    target: &dyn HandoffTarget,
    server: &Server,
    path: &str,
    status: StatusCode,
) -> (Progress, Delivered, Progress) {
    fail_next(server, path, status);
    let mut progress = Progress::new();
    let err = target.deliver(&request(), &mut progress).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    let after_failure = progress.clone();
    let delivered = target.deliver(&request(), &mut progress).await.unwrap();
    (after_failure, delivered, progress)
}

fn summary() -> EscalationSummary {
    let at = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    let conversation_id: ConversationId = "0196f0a0-0000-7000-8000-000000000001".parse().unwrap();
    let mut slots = serde_json::Map::new();
    slots.insert("order_id".into(), json!("#W2378156"));
    EscalationSummary {
        conversation_id,
        customer: SummaryCustomer {
            customer_id: "0196f0a0-0000-7000-8000-0000000000aa".into(),
            name: Some("Ada Lovelace".into()),
            identities: vec![
                Identity {
                    kind: IdentityKind::Email,
                    value: "ada@example.com".into(),
                },
                Identity {
                    kind: IdentityKind::Phone,
                    value: "+15551234567".into(),
                },
            ],
            assurance: Default::default(),
            vip: true,
            locale: Some("en".into()),
        },
        channels_used: vec![Channel::WebChat, Channel::Email],
        current_channel: Channel::Email,
        issue_statement: "The customer wrote: \"I want to return the keyboard from my last order\""
            .into(),
        tier: Some("transactional".into()),
        flow: Some(SummaryFlow {
            flow_id: "return_items".into(),
            step: "s9".into(),
            slots,
        }),
        actions_taken: vec![],
        knowledge_shown: vec![],
        sentiment_trajectory: vec![0.0, -0.4],
        trigger: EscalationTrigger::Policy,
        reason: "return on order #W2378156 is over the $1,000 limit for automated refunds".into(),
        routing: RoutingHint {
            queue: Some("returns".into()),
            priority: Priority::High,
            ..Default::default()
        },
        prior_contacts: vec![],
        customer_was_told: "A colleague will reply by email, in this thread.".into(),
        suggested_next_step: "Review the `return_items` request against policy.".into(),
        transcript_url: format!("/v1/conversations/{conversation_id}"),
        narrative: None,
        created_at: at,
    }
}

fn request() -> HandoffRequest {
    HandoffRequest::new("handoff-1", summary()).expect("the fixture matches the schema")
}

fn client() -> reqwest::Client {
    http_client(Duration::from_secs(5))
}

#[test]
fn a_summary_that_breaks_the_schema_is_never_sent() {
    let mut broken = summary();
    broken.reason = String::new();
    broken.customer.identities.clear();
    let err = HandoffRequest::new("x", broken).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("/reason"), "{text}");
    assert!(text.contains("/customer/identities"), "{text}");
}

#[test]
fn the_note_answers_who_what_why_and_what_next() {
    let note = request().note;
    for expected in [
        "Ada Lovelace",
        "**VIP**",
        "`email:ada@example.com`",
        "web_chat → email",
        "I want to return the keyboard",
        "`return_items` at step `s9` — order_id = #W2378156",
        "over the $1,000 limit",
        "queue `returns`",
        "priority **high**",
        "**Suggested next step:**",
        "0.00 → -0.40",
        "[Full transcript](/v1/conversations/",
    ] {
        assert!(note.contains(expected), "missing {expected:?} in:\n{note}");
    }
}

fn chatwoot_responses() -> Box<Respond> {
    Box::new(|s, p| {
        let path = s.path.as_str();
        if path.ends_with("/contacts") {
            (
                StatusCode::OK,
                json!({"payload": {"contact": {"id": 42}, "contact_inbox": {"source_id": "src-42"}}}),
            )
        } else if path.ends_with("/conversations") {
            (StatusCode::OK, json!({"id": 99, "status": "open"}))
        } else if path.ends_with("/messages") {
            let mut n = p.created.lock().unwrap();
            *n += 1;
            (StatusCode::OK, json!({"id": 1000 + *n, "private": true}))
        } else {
            (StatusCode::OK, json!({"payload": {"success": true}}))
        }
    })
}

#[tokio::test]
async fn chatwoot_private_note_labels_priority_then_open_and_a_retry_posts_no_second_note() {
    let (url, server) = serve(chatwoot_responses()).await;
    let target = Chatwoot::new(
        ChatwootConfig {
            base_url: url,
            account_id: 7,
            api_access_token: "cw-token".into(),
            inbox_id: 3,
            labels: vec!["tier1".into()],
        },
        client(),
    );
    let base = "/api/v1/accounts/7/conversations/99";
    let (after_failure, delivered, _) = deliver_after_failure(
        &target,
        &server,
        &format!("{base}/toggle_status"),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(
        after_failure.contains_key("note"),
        "the note step is recorded: {after_failure:?}"
    );
    assert_eq!(delivered.reference, "99");

    let contact = seen(&server, Method::POST, "/api/v1/accounts/7/contacts");
    assert_eq!(contact.len(), 1);
    assert_eq!(contact[0].body["inbox_id"], 3);
    assert_eq!(contact[0].body["email"], "ada@example.com");
    assert_eq!(contact[0].body["phone_number"], "+15551234567");
    let conversation = seen(&server, Method::POST, "/api/v1/accounts/7/conversations");
    assert_eq!(conversation.len(), 1);
    assert_eq!(conversation[0].body["source_id"], "src-42");
    assert_eq!(conversation[0].body["contact_id"], "42");

    let notes = seen(&server, Method::POST, &format!("{base}/messages"));
    assert_eq!(notes.len(), 1, "the retry must not post the note again");
    assert_eq!(notes[0].headers["api_access_token"], "cw-token");
    assert_eq!(notes[0].body["private"], true);
    assert_eq!(notes[0].body["message_type"], "outgoing");
    assert!(notes[0].body["content"]
        .as_str()
        .unwrap()
        .contains("Handed over by frontline: policy"));
    let labels = seen(&server, Method::POST, &format!("{base}/labels"));
    assert_eq!(
        labels[0].body["labels"],
        json!([
            "frontline",
            "escalation-policy",
            "flow-return-items",
            "vip",
            "tier1"
        ])
    );
    let priority = seen(&server, Method::POST, &format!("{base}/toggle_priority"));
    assert_eq!(priority.len(), 1);
    assert_eq!(priority[0].body, json!({"priority": "high"}));
    let status = seen(&server, Method::POST, &format!("{base}/toggle_status"));
    assert_eq!(status.len(), 2, "failed once, then succeeded");
    assert_eq!(status[1].body, json!({"status": "open"}));

    target.release(&delivered).await.unwrap();
    let status = seen(&server, Method::POST, &format!("{base}/toggle_status"));
    assert_eq!(status.last().unwrap().body, json!({"status": "pending"}));
}

#[tokio::test]
async fn chatwoot_uses_the_customers_own_chatwoot_conversation_when_known() {
    let (url, server) = serve(chatwoot_responses()).await;
    let target = Chatwoot::new(
        ChatwootConfig {
            base_url: url,
            account_id: 7,
            api_access_token: "t".into(),
            inbox_id: 3,
            labels: vec![],
        },
        client(),
    );
    let mut progress = Progress::new();
    progress.insert(frontline_handoff::chatwoot::CONVERSATION.into(), json!(555));
    let delivered = target.deliver(&request(), &mut progress).await.unwrap();
    assert_eq!(delivered.reference, "555");
    assert!(seen(&server, Method::POST, "/api/v1/accounts/7/contacts").is_empty());
    assert_eq!(
        seen(
            &server,
            Method::POST,
            "/api/v1/accounts/7/conversations/555/messages"
        )
        .len(),
        1
    );
}

#[tokio::test]
async fn zendesk_ticket_with_internal_comment_and_an_idempotency_key_that_dedupes_retries() {
    // Zendesk's documented behaviour: a repeated Idempotency-Key returns the first result.
    let (url, server) = serve(Box::new(|s, p| {
        let key = s.headers["idempotency-key"].to_str().unwrap().to_string();
        let mut tickets = p.tickets.lock().unwrap();
        let next = tickets.len() as u64 + 1;
        let id = *tickets.entry(key).or_insert(next);
        (StatusCode::CREATED, json!({"ticket": {"id": id}}))
    }))
    .await;
    let target = Zendesk::new(
        ZendeskConfig {
            base_url: url,
            email: "agent@acme.test".into(),
            api_token: "zd-token".into(),
            groups: [("returns".to_string(), 360001u64)].into(),
            webhook_secret: None,
        },
        client(),
    );
    // The server creates the ticket, then answers 503: the retry must not make a second one.
    let (_, delivered, _) = deliver_after_failure(
        &target,
        &server,
        "/api/v2/tickets.json",
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(delivered.reference, "1");
    assert_eq!(
        server.provider.tickets.lock().unwrap().len(),
        1,
        "one ticket"
    );

    let posts = seen(&server, Method::POST, "/api/v2/tickets.json");
    assert_eq!(posts.len(), 2);
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("agent@acme.test/token:zd-token")
    );
    for post in &posts {
        assert_eq!(post.headers["authorization"], expected_auth.as_str());
        assert_eq!(post.headers["idempotency-key"], "handoff-1");
        assert_eq!(post.headers["content-type"], "application/json");
    }
    let ticket = &posts[0].body["ticket"];
    assert_eq!(ticket["comment"]["public"], false);
    assert!(ticket["comment"]["body"]
        .as_str()
        .unwrap()
        .contains("**Why:**"));
    assert_eq!(ticket["requester"]["email"], "ada@example.com");
    assert_eq!(ticket["requester"]["name"], "Ada Lovelace");
    assert_eq!(
        ticket["external_id"],
        "0196f0a0-0000-7000-8000-000000000001"
    );
    assert_eq!(ticket["priority"], "high");
    assert_eq!(ticket["group_id"], 360001);
    assert!(ticket["tags"].as_array().unwrap().contains(&json!("vip")));
    assert!(ticket["subject"]
        .as_str()
        .unwrap()
        .starts_with("[policy] I want to return the keyboard"));
}

#[tokio::test]
async fn freshdesk_ticket_then_private_note_and_a_failed_note_is_retried_on_the_same_ticket() {
    let (url, server) = serve(Box::new(|s, p| {
        let mut n = p.created.lock().unwrap();
        *n += 1;
        if s.path == "/api/v2/tickets" {
            (StatusCode::CREATED, json!({"id": 77}))
        } else {
            (
                StatusCode::CREATED,
                json!({"id": 9000 + *n, "private": true}),
            )
        }
    }))
    .await;
    let target = Freshdesk::new(
        FreshdeskConfig {
            base_url: url,
            api_key: "fd-key".into(),
            webhook_secret: None,
        },
        client(),
    );
    let (_, delivered, _) = deliver_after_failure(
        &target,
        &server,
        "/api/v2/tickets/77/notes",
        StatusCode::BAD_GATEWAY,
    )
    .await;
    assert_eq!(delivered.reference, "77");

    let tickets = seen(&server, Method::POST, "/api/v2/tickets");
    assert_eq!(
        tickets.len(),
        1,
        "one ticket, though the first delivery failed"
    );
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("fd-key:X")
    );
    assert_eq!(tickets[0].headers["authorization"], auth.as_str());
    let t = &tickets[0].body;
    assert_eq!(t["email"], "ada@example.com");
    assert_eq!(t["status"], 2);
    assert_eq!(t["priority"], 3);
    assert_eq!(t["source"], 1, "the customer is on email");
    assert!(t["description"]
        .as_str()
        .unwrap()
        .contains("Handed over by frontline"));
    let notes = seen(&server, Method::POST, "/api/v2/tickets/77/notes");
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[1].body["private"], true);
    assert!(notes[1].body["body"].as_str().unwrap().contains("<br>"));
}

#[tokio::test]
async fn webhook_is_signed_over_timestamp_and_body_and_keeps_its_delivery_id_across_retries() {
    let (url, server) = serve(Box::new(|_, _| (StatusCode::OK, json!({"ok": true})))).await;
    let target = Webhook::new(
        WebhookConfig {
            url: format!("{url}/hooks/frontline"),
            secret: "whsec-1".into(),
        },
        client(),
    );
    let (_, _, mut progress) = deliver_after_failure(
        &target,
        &server,
        "/hooks/frontline",
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    // Delivered: a third call does nothing.
    target.deliver(&request(), &mut progress).await.unwrap();

    let posts = seen(&server, Method::POST, "/hooks/frontline");
    assert_eq!(posts.len(), 2);
    for post in &posts {
        assert_eq!(post.headers["x-frontline-delivery"], "handoff-1");
        let ts: i64 = post.headers["x-frontline-timestamp"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let sig = post.headers["x-frontline-signature"].to_str().unwrap();
        verify("whsec-1", ts, &post.raw, sig, ts + 5, 300).expect("genuine delivery verifies");
        assert_eq!(post.body["summary"]["trigger"], "policy");
        assert!(post.body["note"].as_str().unwrap().contains("Ada Lovelace"));
    }
    let (post, ts) = (&posts[1], 1_700_000_000);
    let good = sign("whsec-1", ts, &post.raw);
    let mut tampered = post.raw.clone();
    let at = tampered.iter().position(|b| *b == b'A').unwrap();
    tampered[at] = b'B';
    assert_eq!(
        verify("whsec-1", ts, &tampered, &good, ts, 300),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify("other-secret", ts, &post.raw, &good, ts, 300),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify("whsec-1", ts + 1, &post.raw, &good, ts, 300),
        Err(SignatureError::Mismatch),
        "the timestamp is signed too"
    );
    assert_eq!(
        verify("whsec-1", ts, &post.raw, &good, ts + 301, 300),
        Err(SignatureError::Stale(301))
    );
    assert_eq!(
        verify("whsec-1", ts, &post.raw, "sha256=abc", ts, 300),
        Err(SignatureError::Malformed)
    );
}

#[tokio::test]
async fn the_dispatcher_keeps_progress_between_attempts_backs_off_and_gives_up_on_4xx() {
    let (url, server) = serve(Box::new(|s, p| {
        if s.path == "/api/v2/tickets" {
            (StatusCode::CREATED, json!({"id": 5}))
        } else {
            let mut n = p.created.lock().unwrap();
            *n += 1;
            (StatusCode::CREATED, json!({"id": *n}))
        }
    }))
    .await;
    let db = frontline_store::testing::sqlite().await;
    let store = db.store.clone();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
    // The conversation row the handoff refers to.
    let customer = store
        .resolve_customer(
            &[Identity {
                kind: IdentityKind::Email,
                value: "ada@example.com".into(),
            }],
            None,
            t0,
        )
        .await
        .unwrap()
        .customer;
    let conversation = store
        .open_conversation(
            customer.id,
            Channel::Email,
            None,
            chrono::Duration::hours(1),
            t0,
        )
        .await
        .unwrap();
    let mut req = request();
    req.summary.conversation_id = conversation.id;
    let value = serde_json::to_value(&req).unwrap();
    store
        .enqueue_handoff("h-1", conversation.id, "freshdesk", &value, t0)
        .await
        .unwrap();
    store
        .enqueue_handoff("h-1", conversation.id, "freshdesk", &value, t0)
        .await
        .unwrap();
    let target: Arc<dyn HandoffTarget> = Arc::new(Freshdesk::new(
        FreshdeskConfig {
            base_url: url,
            api_key: "k".into(),
            webhook_secret: None,
        },
        client(),
    ));
    let dispatcher = Dispatcher::new(store.clone(), target, Backoff::default());
    fail_next(
        &server,
        "/api/v2/tickets/5/notes",
        StatusCode::SERVICE_UNAVAILABLE,
    );
    let pass = dispatcher.run_once(t0).await.unwrap();
    assert_eq!((pass.delivered, pass.retrying, pass.failed), (0, 1, 0));
    let entry = &store.handoffs_of(conversation.id).await.unwrap()[0];
    assert_eq!(
        entry.progress["ticket"],
        json!("5"),
        "progress survives the failure"
    );
    assert_eq!(entry.next_attempt_at, t0 + chrono::Duration::seconds(15));
    assert!(entry.last_error.as_deref().unwrap().contains("503"));
    // Not due yet: nothing happens.
    assert_eq!(dispatcher.run_once(t0).await.unwrap(), Default::default());
    let later = t0 + chrono::Duration::seconds(15);
    assert_eq!(dispatcher.run_once(later).await.unwrap().delivered, 1);
    let entries = store.handoffs_of(conversation.id).await.unwrap();
    assert_eq!(
        entries.len(),
        1,
        "enqueueing the same handoff twice keeps one"
    );
    assert_eq!(entries[0].reference.as_deref(), Some("5"));
    assert_eq!(entries[0].attempts, 2);
    assert_eq!(seen(&server, Method::POST, "/api/v2/tickets").len(), 1);

    // A 4xx is not retried.
    store
        .enqueue_handoff("h-2", conversation.id, "freshdesk", &value, later)
        .await
        .unwrap();
    fail_next(&server, "/api/v2/tickets", StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(dispatcher.run_once(later).await.unwrap().failed, 1);
    let failed = &store.handoffs_of(conversation.id).await.unwrap()[1];
    assert!(failed.failed_at.is_some());
    assert!(failed.last_error.as_deref().unwrap().contains("422"));
    assert_eq!(Backoff::default().wait(1), chrono::Duration::seconds(15));
    assert_eq!(Backoff::default().wait(3), chrono::Duration::seconds(60));
    assert_eq!(Backoff::default().wait(30), chrono::Duration::minutes(30));
    db.cleanup().await;
}
