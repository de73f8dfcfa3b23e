//! Scale-out: two `frontline serve` processes share one PostgreSQL database (and one shop).
//! Each customer's messages go to the two replicas in turn, and some are sent to both at once
//! (a redelivery racing itself): every message gets exactly one turn, in order, and each
//! conversation's log is the one a single replica writes for the same messages. Both kinds of
//! intake are covered: the REST channel (the turn runs in the request) and web chat (the
//! message is queued, and the two replicas' workers share the queue).
//!
//! Needs `FRONTLINE_TEST_DATABASE_URL` (skipped without it, as the other PostgreSQL tests).

use crate::support;

use frontline_domain::{EventKind, Identity, IdentityKind};
use frontline_store::testing::{postgres, TestStore};
use frontline_store::Store;
use serde_json::{json, Value};
use std::path::Path;
use support::{
    customers_with_a_pending_order, free_port, frontline, start_on, webchat_session, Running,
};

const CUSTOMERS: usize = 8;

/// Web chat visitors, and what each writes (distinct lines, none that hands off).
const VISITORS: usize = 6;
const WEB_SCRIPT: [&str; 8] = [
    "hello",
    "how long does delivery take?",
    "do gift cards expire?",
    "which payment methods do you accept?",
    "how long do refunds take?",
    "what does the warranty cover?",
    "is shipping free?",
    "thanks",
];

/// The pending order of the customer with `email`.
fn order_of<'a>(customers: &'a [(String, String)], email: &str) -> &'a str {
    &customers.iter().find(|(e, _)| e == email).unwrap().1
}

fn script(order: &str) -> Vec<String> {
    [
        "hi",
        "where is my order {o}?",
        "I'd like to cancel order {o}",
        "I ordered it by mistake",
        "yes",
        "do gift cards expire?",
        "thanks",
        "bye",
    ]
    .iter()
    .map(|l| l.replace("{o}", order))
    .collect()
}

/// A replica: its own data folder (knowledge index), the shared database and shop.
fn replica(data: &Path, database_url: &str, shop: &Path) -> (Running, String) {
    let mut cmd = frontline(data);
    cmd.env("FRONTLINE_SHOP__DATABASE_PATH", shop);
    let port = free_port();
    start_on(
        cmd,
        &format!("127.0.0.1:{port}"),
        Some(database_url.to_string()),
    )
}

/// What a conversation's log says, without ids and times: what two runs must agree on.
fn normalised(kind: &EventKind) -> Option<String> {
    Some(match kind {
        EventKind::MessageReceived { text, .. } => format!("received: {text}"),
        EventKind::ReplySent { text, asked, .. } => format!("replied {text:?} asking {asked:?}"),
        EventKind::ActionExecuted { call, outcome } => {
            format!("action {} {} ok={}", call.name, call.args, outcome.is_ok())
        }
        EventKind::FlowEnded {
            flow_id, outcome, ..
        } => format!("flow {flow_id} {outcome}"),
        EventKind::FlowUpdated { stack, .. } => format!(
            "stack {:?}",
            stack.iter().map(|f| &f.flow_id).collect::<Vec<_>>()
        ),
        EventKind::StatusChanged { from, to } => format!("status {from} -> {to}"),
        _ => return None,
    })
}

/// Every sender's conversation logs, normalised, in the order given.
async fn logs(store: &Store, senders: &[Identity]) -> Vec<Vec<String>> {
    let mut out = vec![];
    for identity in senders {
        let customer = store.identity_owner(identity).await.unwrap().unwrap();
        let mut log = vec![];
        for conversation in store.conversations_of(customer).await.unwrap() {
            for event in store.events(conversation.id).await.unwrap() {
                log.extend(normalised(&event.kind));
            }
        }
        out.push(log);
    }
    out
}

/// Send every customer's script, customers at once, each customer's messages one after the
/// other: message `m` to `bases[m % len]`, and every third one to all of them at once.
async fn converse(bases: &[String], customers: &[(String, String)]) {
    let http = reqwest::Client::new();
    let mut clients = tokio::task::JoinSet::new();
    for (c, (email, order)) in customers.iter().cloned().enumerate() {
        let (http, bases) = (http.clone(), bases.to_vec());
        clients.spawn(async move {
            for (m, text) in script(&order).into_iter().enumerate() {
                let body = json!({
                    "channel_message_id": format!("c{c}-m{m}"),
                    "sender": {"kind": "email", "value": email},
                    "text": text,
                });
                let targets: Vec<&String> = if m % 3 == 2 {
                    bases.iter().collect()
                } else {
                    vec![&bases[m % bases.len()]]
                };
                // All sends start before any is awaited, so a duplicate really races.
                let sends: Vec<_> = targets
                    .iter()
                    .map(|base| {
                        tokio::spawn(http.post(format!("{base}/v1/messages")).json(&body).send())
                    })
                    .collect();
                let mut replies = vec![];
                for send in sends {
                    let response = send.await.unwrap().unwrap();
                    assert_eq!(response.status(), 200, "c{c}-m{m}");
                    let outcome: Value = response.json().await.unwrap();
                    replies.push(outcome["replies"].clone());
                }
                // A message sent to both replicas is answered the same by both.
                assert!(
                    replies.windows(2).all(|w| w[0] == w[1]),
                    "c{c}-m{m}: {replies:?}"
                );
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("a client failed");
    }
}

/// Web chat visitors, each on a session of their own, write `WEB_SCRIPT` without waiting for the
/// answers: message `m` to `bases[m % len]`. Returns each visitor's session.
async fn converse_on_web_chat(bases: &[String]) -> Vec<Identity> {
    let http = reqwest::Client::new();
    let mut visitors = tokio::task::JoinSet::new();
    for _ in 0..VISITORS {
        let (http, bases) = (http.clone(), bases.to_vec());
        visitors.spawn(async move {
            let (session, cookie) = webchat_session(&http, &bases[0]).await;
            for (m, text) in WEB_SCRIPT.iter().enumerate() {
                let response = http
                    .post(format!("{}/v1/webchat/messages", bases[m % bases.len()]))
                    .header("cookie", &cookie)
                    .json(&json!({ "text": text }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 202, "{text}");
            }
            Identity {
                kind: IdentityKind::WebSession,
                value: session,
            }
        });
    }
    let mut sessions = vec![];
    while let Some(done) = visitors.join_next().await {
        sessions.push(done.expect("a visitor failed"));
    }
    sessions
}

/// Wait until every queued message has had its turn.
async fn queue_drained(store: &Store) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while store.inbound_backlog().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "queued turns never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `replicas` servers on `db`; the REST customers' and the web chat visitors' logs.
async fn run(
    db: &TestStore,
    replicas: usize,
) -> (Vec<(String, String)>, Vec<Vec<String>>, Vec<Vec<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let shop_path = dir.path().join("shop.db");
    let mut servers = vec![];
    for r in 0..replicas {
        let data = dir.path().join(format!("replica-{r}"));
        std::fs::create_dir_all(&data).unwrap();
        servers.push(replica(&data, &db.url(), &shop_path));
    }
    let shop = frontline_shop::Shop::open(&shop_path).await.unwrap();
    let customers = customers_with_a_pending_order(&shop, CUSTOMERS).await;
    let bases: Vec<String> = servers.iter().map(|(_, base)| base.clone()).collect();
    let (_, sessions) = tokio::join!(converse(&bases, &customers), converse_on_web_chat(&bases));
    queue_drained(&db.store).await;
    drop(servers);
    let emails: Vec<Identity> = customers
        .iter()
        .map(|(email, _)| Identity {
            kind: IdentityKind::Email,
            value: email.clone(),
        })
        .collect();
    let rest_logs = logs(&db.store, &emails).await;
    let web_logs = logs(&db.store, &sessions).await;
    (customers, rest_logs, web_logs)
}

/// The texts of a normalised log's received messages, in log order.
fn received(log: &[String]) -> Vec<&str> {
    log.iter()
        .filter_map(|l| l.strip_prefix("received: "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_process_each_message_once_in_order() {
    let Some(shared) = postgres().await else {
        return;
    };
    let (customers, two, web_two) = run(&shared, 2).await;
    let Some(single) = postgres().await else {
        unreachable!()
    };
    let (same_customers, one, web_one) = run(&single, 1).await;
    assert_eq!(
        customers, same_customers,
        "both runs start from the same shop"
    );

    for ((email, _), (log_two, log_one)) in customers.iter().zip(two.iter().zip(&one)) {
        // Exactly one turn per message, in the order sent (the script's lines are distinct).
        let order = script(order_of(&customers, email));
        assert_eq!(received(log_two), order, "{email}: {log_two:#?}");
        // The log two replicas wrote is the one a single replica writes.
        assert_eq!(log_two, log_one, "{email}");
    }
    // Queued web chat turns too: once each, in order, answered as one replica answers them.
    assert_eq!(web_two.len(), VISITORS);
    for (visitor, log) in web_two.iter().enumerate() {
        assert_eq!(received(log), WEB_SCRIPT, "visitor {visitor}: {log:#?}");
        assert_eq!(log, &web_one[visitor], "visitor {visitor}");
        let replies = log.iter().filter(|l| l.starts_with("replied ")).count();
        assert_eq!(replies, WEB_SCRIPT.len(), "visitor {visitor}: {log:#?}");
    }
    // The write actions ran once per customer, on the shared shop.
    let cancels = two
        .iter()
        .flatten()
        .filter(|l| l.starts_with("action cancel_pending_order") && l.ends_with("ok=true"))
        .count();
    assert_eq!(cancels, CUSTOMERS);
    shared.cleanup().await;
    single.cleanup().await;
}
