//! Decision-engine benchmarks. Targets (issue #3): applying one command to a mid-flow state
//! p50 < 20 µs; loading and checking 100 flows < 200 ms.
//! Run: cargo bench -p frontline-flows --bench engine

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use frontline_domain::{Channel, Command, ScoredCommand};
use frontline_flows::{Effect, Engine, Env, FlowSet, Input};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn flows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows")
}

fn env() -> Env {
    Env {
        today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        channel: Channel::Rest,
        customer: json!({"email": "ada@example.com", "phone": null, "verified": true, "verified_accounts": ["ada_1"]}),
        turn_id: "bench".into(),
        message: String::new(),
    }
}

fn set(name: &str, value: serde_json::Value) -> Vec<ScoredCommand> {
    vec![ScoredCommand::new(
        Command::SetSlot {
            name: name.into(),
            value,
        },
        1.0,
    )]
}

fn apply_one_command(c: &mut Criterion) {
    let engine = Engine::new(Arc::new(
        FlowSet::load(&flows_dir(), &frontline_shop::actions::catalog()).unwrap(),
    ));
    let env = env();
    // Drive cancel_order to the point where it waits for the reason.
    let mut stack = Vec::new();
    let start = vec![
        ScoredCommand::new(Command::start_flow("cancel_order"), 1.0),
        ScoredCommand::new(
            Command::SetSlot {
                name: "order_id".into(),
                value: json!("#W0000001"),
            },
            1.0,
        ),
    ];
    let mut effects = engine.advance(&mut stack, Input::Commands(start), &env);
    let outcomes = [
        json!("ada_1"),
        json!([{"order_id": "#W0000001", "status": "pending", "items": ["Desk Lamp"], "placed_on": "2026-11-01", "total": 80.5}]),
        json!({"order_id": "#W0000001", "user_id": "ada_1", "status": "pending", "payment_history": [{"amount": 80.5}]}),
    ];
    for outcome in outcomes {
        assert!(matches!(effects.last(), Some(Effect::CallAction { .. })));
        effects = engine.advance(&mut stack, Input::ActionOutcome(Ok(outcome)), &env);
    }
    assert!(matches!(effects.last(), Some(Effect::Ask { slot, .. }) if slot == "reason"));

    c.bench_function(
        "engine: set a slot mid-flow (cancel_order reason → confirm question)",
        |b| {
            b.iter_batched(
                || stack.clone(),
                |mut s| {
                    engine.advance(
                        &mut s,
                        Input::Commands(set("reason", json!("ordered by mistake"))),
                        &env,
                    )
                },
                BatchSize::SmallInput,
            )
        },
    );
}

fn load_and_check_100_flows(c: &mut Criterion) {
    // Renamed copies of the demo flows, 100 in all (calls still point at the original authenticate).
    let dir = tempfile::tempdir().unwrap();
    let mut sources: Vec<(String, String)> = std::fs::read_dir(flows_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_str().unwrap().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    sources.sort();
    let mut count = 0;
    'copies: for i in 0.. {
        for (stem, text) in &sources {
            if count == 100 {
                break 'copies;
            }
            let (name, body) = if i == 0 {
                (stem.clone(), text.clone())
            } else {
                (
                    format!("{stem}_{i}"),
                    text.replacen(&format!("id: {stem}"), &format!("id: {stem}_{i}"), 1),
                )
            };
            std::fs::write(dir.path().join(format!("{name}.yaml")), body).unwrap();
            count += 1;
        }
    }
    assert_eq!(count, 100);
    let catalog = frontline_shop::actions::catalog();
    assert_eq!(FlowSet::load(dir.path(), &catalog).unwrap().len(), 100);
    let mut group = c.benchmark_group("flows");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("load and check 100 flows", |b| {
        b.iter(|| FlowSet::load(dir.path(), &catalog).unwrap())
    });
    group.finish();
}

criterion_group!(benches, apply_one_command, load_and_check_100_flows);
criterion_main!(benches);
