//! Understanding benchmarks (issue #5), printing the figures:
//! - local understanding of one message, end to end (embed + route + extract), on the demo
//!   flows, over the routing and slot sets' messages (target p50 < 5 ms, p99 < 15 ms);
//! - the same without the embedding (routing + extraction alone), and rule understanding.
//!
//! Run: cargo bench -p frontline-understanding --bench understanding
//! Under `cargo test` the binary runs a small smoke version so it cannot rot.

use frontline_domain::Channel;
use frontline_flows::FlowSet;
use frontline_knowledge::{Embedder, MiniLm};
use frontline_understanding::eval::{load_routing_set, load_slot_set};
use frontline_understanding::local::LocalSettings;
use frontline_understanding::{
    ActiveFlow, DialogueContext, LocalUnderstanding, RuleUnderstanding, Understanding,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<44} n={:<5} p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        times.len(),
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        ms(*times.last().unwrap())
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 10 } else { 1 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(rounds, full));
}

async fn run(rounds: usize, full: bool) {
    let flows = Arc::new(
        FlowSet::load(&repo().join("flows"), &frontline_shop::actions::catalog()).unwrap(),
    );
    let model: Arc<dyn Embedder> = Arc::new(
        MiniLm::load(&frontline_knowledge::testing::model_dir())
            .expect("model installed by scripts/model.sh"),
    );
    let local = LocalUnderstanding::build(flows.clone(), model, LocalSettings::default())
        .await
        .unwrap();
    let rules = RuleUnderstanding::new(flows.clone());
    let mut messages: Vec<(String, Option<(String, String)>)> =
        load_routing_set(&repo().join("evals/understanding/routing.yaml"))
            .unwrap()
            .into_iter()
            .map(|c| (c.message, None))
            .collect();
    // Slot answers in the middle of a flow (the demo flows' slots, the set's wording).
    for case in load_slot_set(&repo().join("evals/understanding/slots.yaml"))
        .unwrap()
        .cases
        .into_iter()
        .take(if full { 175 } else { 20 })
    {
        messages.push((
            case.message,
            Some(("change_shipping_address".into(), "city".into())),
        ));
    }
    let context = |flow: &Option<(String, String)>| DialogueContext {
        channel: Channel::WebChat,
        active_flow: flow.as_ref().map(|(id, slot)| ActiveFlow {
            flow_id: id.clone(),
            requested_slot: Some(slot.clone()),
            slots: Default::default(),
            ..Default::default()
        }),
        recent: vec![],
        today: "2026-11-21".parse().unwrap(),
        offered_flows: vec![],
        language: None,
    };
    // Warm up (first calls allocate).
    for (m, f) in messages.iter().take(5) {
        local.understand(m, &context(f)).await.unwrap();
    }
    let mut local_times = Vec::new();
    let mut rule_times = Vec::new();
    let mut route_times = Vec::new();
    let embedder = local.router().embedder().clone();
    for _ in 0..rounds {
        for (message, flow) in &messages {
            let ctx = context(flow);
            let started = Instant::now();
            local.understand(message, &ctx).await.unwrap();
            local_times.push(started.elapsed());

            let embedding = embedder
                .embed(std::slice::from_ref(message))
                .await
                .unwrap()
                .remove(0);
            let started = Instant::now();
            let ranked = local.router().rank(&embedding);
            std::hint::black_box(local.router().decide(&ranked));
            route_times.push(started.elapsed());

            let started = Instant::now();
            rules.understand(message, &ctx).await.unwrap();
            rule_times.push(started.elapsed());
        }
    }
    println!(
        "understanding ({} messages × {rounds}, {} profile)",
        messages.len(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    report("local understanding (embed+route+extract)", local_times);
    report("local routing alone (rank+decide)", route_times);
    report("rule understanding", rule_times);
}
