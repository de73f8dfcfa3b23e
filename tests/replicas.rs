//! Scale-out: two `frontline serve` processes share one PostgreSQL database (and one shop).
//! Each customer's messages go to the two replicas in turn, and some are sent to both at once
//! (a redelivery racing itself): every message gets exactly one turn, in order, and each
//! conversation's log is the one a single replica writes for the same messages.
//!
//! Needs `FRONTLINE_TEST_DATABASE_URL` (skipped without it, as the other PostgreSQL tests).

mod support;

use frontline_domain::{EventKind, Identity, IdentityKind};
use frontline_store::testing::{postgres, TestStore};
use frontline_store::Store;
use serde_json::{json, Value};
use std::path::Path;
use support::{customers_with_a_pending_order, free_port, frontline, start_on, Running};

const CUSTOMERS: usize = 8;

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
        EventKind::MessageReceived {
            channel_message_id,
            text,
            ..
        } => format!("received {channel_message_id}: {text}"),
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

/// Every customer's conversation logs, normalised, in customer order.
async fn logs(store: &Store, customers: &[(String, String)]) -> Vec<Vec<String>> {
    let mut out = vec![];
    for (email, _) in customers {
        let identity = Identity {
            kind: IdentityKind::Email,
            value: email.clone(),
        };
        let customer = store.identity_owner(&identity).await.unwrap().unwrap();
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

async fn run(db: &TestStore, replicas: usize) -> (Vec<(String, String)>, Vec<Vec<String>>) {
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
    converse(&bases, &customers).await;
    drop(servers);
    let logs = logs(&db.store, &customers).await;
    (customers, logs)
}

/// The message number of a normalised `received c<c>-m<m>: …` line.
fn message_number(line: &str) -> usize {
    let (_, rest) = line.split_once("-m").expect("a message id");
    rest.split_once(':').expect("a text").0.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_process_each_message_once_in_order() {
    let Some(shared) = postgres().await else {
        return;
    };
    let (customers, two) = run(&shared, 2).await;
    let Some(single) = postgres().await else {
        unreachable!()
    };
    let (same_customers, one) = run(&single, 1).await;
    assert_eq!(
        customers, same_customers,
        "both runs start from the same shop"
    );

    for ((email, _), (log_two, log_one)) in customers.iter().zip(two.iter().zip(&one)) {
        // Exactly one turn per message, in the order sent.
        let received: Vec<&String> = log_two
            .iter()
            .filter(|l| l.starts_with("received "))
            .collect();
        assert_eq!(received.len(), script("").len(), "{email}: {log_two:#?}");
        let order: Vec<usize> = received.iter().map(|l| message_number(l)).collect();
        assert_eq!(
            order,
            (0..script("").len()).collect::<Vec<_>>(),
            "{email}: out of order"
        );
        // The log two replicas wrote is the one a single replica writes.
        assert_eq!(log_two, log_one, "{email}");
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
