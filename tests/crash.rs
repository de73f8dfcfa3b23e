//! The crash test: the real `frontline serve` as a child process on loopback, a thousand messages
//! across fifty conversations, `kill -9` in the middle of the load, a restart on the same
//! database. Afterwards every acknowledged message has had exactly one turn and exactly one
//! reply, in the order it was sent, and every write action ran at most once. On SQLite and, when
//! `FRONTLINE_TEST_DATABASE_URL` is set, on PostgreSQL.
//!
//! Half the conversations use the REST channel: the turn runs in the request, so the reply in
//! the response is the acknowledgement, and a client that got no answer sends the same message
//! id again (the REST contract). The other half use the web chat, whose `202` acknowledges a
//! message queued for the intake worker: those turns run after the answer, so a kill can catch
//! them queued, mid-turn or answered but not yet marked done.

use crate::support;

use frontline_domain::{EventKind, Identity, IdentityKind};
use frontline_store::testing::{postgres, sqlite, TestStore};
use frontline_store::Store;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{
    customers_with_a_pending_order, free_port, frontline, sigterm_and_wait, start_on, Running,
};

/// Conversations on each channel, and messages in each conversation.
const REST_CONVERSATIONS: usize = 25;
const WEB_CONVERSATIONS: usize = 25;
const MESSAGES: usize = 20;
/// REST messages answered before the kill (of 500): the web chat's are acknowledged faster than
/// their turns run, so by then many of those are queued or mid-turn too.
const KILL_AFTER: usize = 200;

/// What a customer with a pending order says, in order: small talk, order status, knowledge,
/// and a cancellation confirmed with a yes (the write action).
fn rest_script(order: &str) -> Vec<String> {
    let lines = [
        "hi",
        "where is my order {o}?",
        "thanks",
        "how long does delivery take?",
        "I'd like to cancel order {o}",
        "I ordered it by mistake",
        "yes",
        "thank you",
        "do gift cards expire?",
        "hello",
        "which payment methods do you accept?",
        "thanks",
        "how long do refunds take?",
        "hi",
        "what does the warranty cover?",
        "thanks",
        "how do I reset my password?",
        "thank you",
        "hello",
        "thanks, bye",
    ];
    assert_eq!(lines.len(), MESSAGES);
    lines.iter().map(|l| l.replace("{o}", order)).collect()
}

/// What an anonymous web chat visitor says.
fn web_script() -> Vec<String> {
    let lines = [
        "hello",
        "how long does delivery take?",
        "thanks",
        "do gift cards expire?",
        "hi",
        "which payment methods do you accept?",
        "thank you",
        "how long do refunds take?",
        "hello",
        "what does the warranty cover?",
        "thanks",
        "how do I reset my password?",
        "hi",
        "is shipping free?",
        "thanks",
        "how many days do I have to send something back?",
        "hello",
        "do gift cards expire?",
        "thank you",
        "bye",
    ];
    assert_eq!(lines.len(), MESSAGES);
    lines.iter().map(|l| l.to_string()).collect()
}

/// The server under test: stopped with `kill -9` and started again on the same port and data.
struct Server {
    dir: std::path::PathBuf,
    bind: String,
    database_url: String,
    process: Option<Running>,
}

impl Server {
    fn start(&mut self) {
        let mut cmd = frontline(&self.dir);
        // A claim left by the killed process is taken over after this lease.
        cmd.env("FRONTLINE_CONVERSATION__INBOX_LEASE_SECONDS", "2");
        let (process, _) = start_on(cmd, &self.bind, Some(self.database_url.clone()));
        self.process = Some(process);
    }

    fn kill_9(&mut self) {
        let mut process = self.process.take().expect("running");
        process.0.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
        process.0.wait().expect("reaped");
    }
}

/// Send until acknowledged: a request that failed (the server was killed) is sent again once
/// the server is back. REST resends the same message id; the web chat cannot (the server names
/// its messages), so a web message that was stored but never acknowledged may also be answered.
async fn until_acknowledged(request: impl Fn() -> reqwest::RequestBuilder) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match request().send().await {
            Ok(response) if response.status().is_success() => {
                return response.json().await.expect("a JSON acknowledgement")
            }
            Ok(response) => {
                let status = response.status();
                // 409: the same message is being processed by the other (killed) delivery;
                // 429: this sender's retries came too fast.
                assert!(
                    matches!(status.as_u16(), 409 | 429) || status.is_server_error(),
                    "refused: {status} {}",
                    response.text().await.unwrap_or_default()
                );
            }
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "never acknowledged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The run of one backend.
async fn crash_and_recover(db: TestStore) {
    let label = db.label;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Server {
        dir: dir.path().to_path_buf(),
        bind: format!("127.0.0.1:{port}"),
        database_url: db.url(),
        process: None,
    };
    server.start();
    let base = format!("http://127.0.0.1:{port}");

    // Customers with a pending order each, from the shop the server seeded.
    let shop = frontline_shop::Shop::open(&dir.path().join("data/shop.db"))
        .await
        .unwrap();
    let customers = customers_with_a_pending_order(&shop, REST_CONVERSATIONS).await;

    let acknowledged = Arc::new(AtomicUsize::new(0));
    let answered_rest = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut clients = tokio::task::JoinSet::new();
    for (c, (email, order)) in customers.iter().cloned().enumerate() {
        let (http, base, acknowledged) = (http.clone(), base.clone(), acknowledged.clone());
        let answered_rest = answered_rest.clone();
        clients.spawn(async move {
            let mut sent = vec![];
            for (m, text) in rest_script(&order).into_iter().enumerate() {
                let id = format!("rest-{c}-{m}");
                let body = json!({
                    "channel_message_id": id,
                    "sender": {"kind": "email", "value": email},
                    "text": text,
                });
                let outcome =
                    until_acknowledged(|| http.post(format!("{base}/v1/messages")).json(&body))
                        .await;
                assert!(
                    !outcome["replies"].as_array().unwrap().is_empty(),
                    "{id} ({text:?}) acknowledged without a reply: {outcome}"
                );
                acknowledged.fetch_add(1, Ordering::SeqCst);
                answered_rest.fetch_add(1, Ordering::SeqCst);
                sent.push(id);
            }
            (
                Identity {
                    kind: IdentityKind::Email,
                    value: email,
                },
                sent,
            )
        });
    }
    for _ in 0..WEB_CONVERSATIONS {
        let (http, base, acknowledged) = (http.clone(), base.clone(), acknowledged.clone());
        clients.spawn(async move {
            let session: Value =
                until_acknowledged(|| http.get(format!("{base}/v1/webchat/session"))).await;
            let session = session["session"].as_str().unwrap().to_string();
            let cookie = format!("{}={session}", frontline_server::webchat::COOKIE);
            let mut sent = vec![];
            for text in web_script() {
                let queued = until_acknowledged(|| {
                    http.post(format!("{base}/v1/webchat/messages"))
                        .header("cookie", &cookie)
                        .json(&json!({ "text": text }))
                })
                .await;
                acknowledged.fetch_add(1, Ordering::SeqCst);
                sent.push(queued["message_id"].as_str().unwrap().to_string());
                // A visitor types at a human pace; the turns run behind.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (
                Identity {
                    kind: IdentityKind::WebSession,
                    value: session,
                },
                sent,
            )
        });
    }

    // Kill -9 in the middle of the load, then start again on the same database.
    while answered_rest.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill_9();
    let at_kill = acknowledged.load(Ordering::SeqCst);
    let store = Store::connect(&db.url()).await.unwrap();
    let queued_at_kill = store.inbound_backlog().await.unwrap();
    server.start();

    let mut conversations: Vec<(Identity, Vec<String>)> = vec![];
    while let Some(done) = clients.join_next().await {
        conversations.push(done.expect("a client failed"));
    }
    let total: usize = conversations.iter().map(|(_, sent)| sent.len()).sum();
    assert_eq!(total, (REST_CONVERSATIONS + WEB_CONVERSATIONS) * MESSAGES);
    assert!(
        at_kill < total,
        "{label}: the kill came after the load ({at_kill} of {total})"
    );

    // Wait for the queued web chat turns, then stop cleanly and read what was written.
    let deadline = Instant::now() + Duration::from_secs(180);
    while store.inbound_backlog().await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "{label}: queued turns never ran");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sigterm_and_wait(server.process.take().unwrap());

    for (identity, sent) in &conversations {
        let customer = store
            .identity_owner(identity)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{label}: no customer for {identity}"));
        let mut received: Vec<String> = vec![];
        let mut replies_to: HashMap<String, usize> = HashMap::new();
        let mut unanswered_while_bot = vec![];
        let mut surveys_asked = 0;
        for conversation in store.conversations_of(customer).await.unwrap() {
            let events = store.events(conversation.id).await.unwrap();
            let mut handed_off = false;
            let mut waiting: Option<String> = None;
            for event in &events {
                match &event.kind {
                    EventKind::MessageReceived {
                        channel_message_id, ..
                    } => {
                        if let Some(id) = waiting.replace(channel_message_id.clone()) {
                            if !handed_off {
                                unanswered_while_bot.push(id);
                            }
                        }
                        received.push(channel_message_id.clone());
                    }
                    EventKind::ReplySent { .. } => {
                        let id = waiting.take().expect("a reply answers a message");
                        *replies_to.entry(id).or_default() += 1;
                    }
                    EventKind::StatusChanged { to, .. } => {
                        handed_off = to.as_str() != "bot";
                    }
                    EventKind::SurveySent { .. } => surveys_asked += 1,
                    _ => {}
                }
            }
            if let Some(id) = waiting.filter(|_| !handed_off) {
                unanswered_while_bot.push(id);
            }
            for entry in store.outbox_of(conversation.id).await.unwrap() {
                // A resolution survey answers no message (it follows a reply, when due).
                if entry.message.survey.is_some() {
                    continue;
                }
                let to = entry
                    .message
                    .in_reply_to
                    .clone()
                    .expect("replies name their message");
                assert_eq!(
                    replies_to.get(&to).copied(),
                    Some(1),
                    "{label}: outbox entry for {to} without exactly one ReplySent"
                );
            }
        }
        // Exactly one turn per acknowledged message, in the order sent.
        let turns: Vec<&String> = received.iter().filter(|id| sent.contains(id)).collect();
        assert_eq!(
            turns,
            sent.iter().collect::<Vec<_>>(),
            "{label}: {identity}: turns (left) differ from the messages acknowledged (right)"
        );
        assert!(
            unanswered_while_bot.is_empty(),
            "{label}: {identity}: messages without a reply: {unanswered_while_bot:?}"
        );
        for (id, n) in &replies_to {
            assert_eq!(*n, 1, "{label}: {id} was answered {n} times");
        }
        // One outbox entry per reply, and one per survey asked.
        let (replies, surveys) = outbox_entries(&store, customer).await;
        assert_eq!(
            replies,
            replies_to.len(),
            "{label}: {identity}: outbox entries vs replies"
        );
        assert_eq!(
            surveys, surveys_asked,
            "{label}: {identity}: survey entries vs surveys asked"
        );
    }

    // Every write action ran at most once: one audit row per cancelled order, and each of the
    // REST customers' cancellations went through exactly once.
    let mut cancels: BTreeMap<String, usize> = BTreeMap::new();
    for (_, action, args, _) in shop.audit_log().await.unwrap() {
        if action == "cancel_pending_order" {
            *cancels
                .entry(args["order_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    for (_, order) in &customers {
        assert_eq!(
            cancels.get(order).copied(),
            Some(1),
            "{label}: cancellations of {order}"
        );
    }
    assert!(cancels.values().all(|&n| n == 1), "{label}: {cancels:?}");
    eprintln!(
        "{label}: {total} messages acknowledged; kill -9 after {at_kill}, with {queued_at_kill} \
         queued; {} cancellations, each once",
        cancels.len()
    );
    store.close().await;
    db.cleanup().await;
}

/// Outbox entries across a customer's conversations.
/// The customer's outbox entries: replies, and surveys.
async fn outbox_entries(store: &Store, customer: frontline_domain::CustomerId) -> (usize, usize) {
    let (mut replies, mut surveys) = (0, 0);
    for conversation in store.conversations_of(customer).await.unwrap() {
        for entry in store.outbox_of(conversation.id).await.unwrap() {
            match entry.message.survey {
                Some(_) => surveys += 1,
                None => replies += 1,
            }
        }
    }
    (replies, surveys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_and_duplicates_nothing_on_sqlite() {
    crash_and_recover(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_and_duplicates_nothing_on_postgres() {
    let Some(db) = postgres().await else { return };
    crash_and_recover(db).await;
}
