//! HTTP turns end to end (issue #10, item 4): REST channel flow turns per second with 1,000
//! conversations at once, on SQLite and on PostgreSQL. Target: ≥ 2,000 flow turns/s on SQLite
//! (release build, this 2-core machine).
//!
//! Every conversation is a demo-shop customer with a pending order (the shop is seeded with
//! enough of them for every pass to meet new customers), identified by email, each on its own
//! keep-alive connection, all 1,000 in flight at once. Each says, waiting for every reply: "where is my order …"
//! (order status: authentication and the order looked up in the shop), "I'd like to cancel
//! order …" (a second flow), "I ordered it by mistake" (the asked reason), "no" (at the
//! confirmation; the shop is left as it was). The third reply is checked to be the
//! confirmation question, so the whole path ran. A turn is `POST /v1/messages` answered with
//! the turn's outcome: identity resolution, the conversation, understanding, the engine, the
//! shop's actions, and the commit.
//!
//! Two understandings: rules (word overlap, no model: what the pipeline itself costs) and local
//! (all-MiniLM-L6-v2, one forward pass of about 4 ms per message, which alone bounds two cores
//! to a few hundred turns per second). Server and load share this process's two-thread runtime,
//! so the figures are conservative.
//!
//! A pass of 1,000 conversations lasts about two seconds, short enough for a burst of other
//! work on the machine to move it by a tenth, so each configuration runs several passes
//! (`FRONTLINE_BENCH_PASSES`, 5 by default), each with customers of its own, and prints every
//! pass and their median; the median is the figure held against the target.
//!
//! Run: cargo bench -p frontline-server --bench turns
//! (`FRONTLINE_BENCH_CONVERSATIONS=N` sets the conversations; 1,000 by default. PostgreSQL runs
//! when `FRONTLINE_TEST_DATABASE_URL` is set.) Under `cargo test` a small smoke version runs.

use frontline_agent::testing::{
    customers_with_a_pending_order, demo_clock, demo_flows, demo_seed_day, minilm, DemoParts,
};
use frontline_agent::Agent;
use frontline_shop::seed::SeedOptions;
use frontline_shop::Shop;
use frontline_understanding::local::LocalSettings;
use frontline_understanding::{LocalUnderstanding, Understanding};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{ms, percentile};

/// What each customer says, in order (`{order}`: one of their pending orders).
const SCRIPT: [&str; 4] = [
    "where is my order {order}",
    "I'd like to cancel order {order}",
    "I ordered it by mistake",
    "no",
];

/// The turn whose reply must be the confirmation question.
const CONFIRMATION_TURN: usize = 2;

/// A shop with at least `needed` customers who each have a pending order: (email, order id)
/// of each. About two customers in three of a seeded shop have one; seeding twice as many as
/// needed leaves a margin.
async fn shop(dir: &std::path::Path, needed: usize) -> (Shop, Vec<(String, String)>) {
    let customers = (needed * 2).max(1_600);
    let options = SeedOptions {
        customers,
        orders: customers * 15 / 4,
        ..SeedOptions::demo(demo_seed_day())
    };
    let shop = Shop::open(&dir.join("shop.db")).await.unwrap();
    shop.seed_if_empty(&options).await.unwrap();
    let customers = customers_with_a_pending_order(&options);
    (shop, customers)
}

/// Run every customer's script at once, each on its own connection; every turn's latency.
async fn converse(base: &str, run: &str, customers: &[(String, String)]) -> Vec<Duration> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(customers.len())
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for (i, (email, order)) in customers.iter().enumerate() {
        let (client, url) = (client.clone(), format!("{base}/v1/messages"));
        let (email, order, run) = (email.clone(), order.clone(), run.to_string());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(SCRIPT.len());
            for (turn, line) in SCRIPT.iter().enumerate() {
                let body = json!({
                    "channel_message_id": format!("{run}-{i}-{turn}"),
                    "sender": {"kind": "email", "value": email},
                    "text": line.replace("{order}", &order),
                });
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .expect("an answer");
                let status = response.status();
                let outcome: Value = response.json().await.expect("a JSON outcome");
                latencies.push(sent.elapsed());
                assert!(status.is_success(), "{status}: {outcome}");
                let reply = outcome["replies"][0]["text"].as_str().unwrap_or_default();
                if turn == CONFIRMATION_TURN {
                    assert!(
                        reply.starts_with(&format!("To confirm: cancel order {order}")),
                        "the cancellation did not reach its confirmation: {reply}"
                    );
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let conversations = common::env_count(
        "FRONTLINE_BENCH_CONVERSATIONS",
        if full { 1_000 } else { 20 },
    );
    let passes = common::env_count("FRONTLINE_BENCH_PASSES", if full { 5 } else { 1 }).max(1);
    common::runtime().block_on(run(full, conversations, passes));
}

async fn run(full: bool, conversations: usize, passes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let warm_up = 50;
    let (shop, customers) = shop(dir.path(), warm_up + passes * conversations).await;
    assert!(
        customers.len() >= warm_up + passes * conversations,
        "the shop has {} customers with a pending order; {warm_up} + {passes} × {conversations} needed",
        customers.len()
    );
    let (warm_up, measured) = customers.split_at(warm_up);
    let parts = DemoParts {
        flows: demo_flows(),
        shop: Arc::new(shop),
    };
    let mut understandings: Vec<(&str, Arc<dyn Understanding>)> = vec![(
        "rules",
        Arc::new(frontline_understanding::RuleUnderstanding::new(
            parts.flows.clone(),
        )),
    )];
    if full {
        let local =
            LocalUnderstanding::build(parts.flows.clone(), minilm(), LocalSettings::default())
                .await
                .expect("local understanding");
        understandings.push(("local (MiniLM)", Arc::new(local)));
    }
    println!(
        "HTTP flow turns: {conversations} conversations at once, {} turns each, POST /v1/messages; {passes} passes",
        SCRIPT.len()
    );
    for (label, understanding) in &understandings {
        for db in frontline_store::testing::all_backends().await {
            let agent: Arc<Agent> = Arc::new(
                parts
                    .agent(db.store.clone(), understanding.clone())
                    .with_clock(demo_clock()),
            );
            let base = common::serve(agent, |_| Default::default(), Default::default()).await;
            let run = format!("{label}-{}", db.label);
            converse(&base, &format!("warm-{run}"), warm_up).await;
            let mut rates = Vec::with_capacity(passes);
            for (pass, customers) in measured.chunks(conversations).take(passes).enumerate() {
                let started = Instant::now();
                let mut latencies = converse(&base, &format!("{run}-{pass}"), customers).await;
                let wall = started.elapsed();
                latencies.sort();
                let rate = latencies.len() as f64 / wall.as_secs_f64();
                rates.push(rate);
                println!(
                    "{label:<15} {:<11} pass {}: {rate:>7.0} turns/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} turns in {:.2} s)",
                    db.label,
                    pass + 1,
                    ms(percentile(&latencies, 0.50)),
                    ms(percentile(&latencies, 0.99)),
                    latencies.len(),
                    wall.as_secs_f64(),
                );
            }
            rates.sort_by(f64::total_cmp);
            println!(
                "{label:<15} {:<11} median {:>7.0} turns/s (slowest {:.0}, fastest {:.0}; target ≥ 2000 turns/s on SQLite)",
                db.label,
                (rates[(rates.len() - 1) / 2] + rates[rates.len() / 2]) / 2.0,
                rates[0],
                rates[rates.len() - 1],
            );
            db.cleanup().await;
        }
    }
}
