//! ABCD flow-expressiveness check: each subflow written in our format runs exactly the action
//! sequence ABCD's kb.json requires (see evals/abcd/README.md).

use chrono::NaiveDate;
use common::datasets;
use frontline_domain::{ActionKind, ActionSpec, Channel, Command, ScoredCommand};
use frontline_flows::compile::CONFIRMATION;
use frontline_flows::{Effect, Engine, Env, Input};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use std::sync::Arc;

use crate::common;

/// ABCD's actions as a backend catalog (arguments are not modelled: ABCD's slots are alternatives).
fn abcd_catalog(ontology: &Value) -> Vec<ActionSpec> {
    const WRITES: [&str; 5] = [
        "update-account",
        "update-order",
        "offer-refund",
        "make-purchase",
        "make-password",
    ];
    ontology["actions"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|group| group.as_object().unwrap().keys())
        .map(|name| ActionSpec {
            name: name.clone(),
            kind: if WRITES.contains(&name.as_str()) {
                ActionKind::Write
            } else {
                ActionKind::Read
            },
            description: format!("ABCD action {name}"),
            required_args: vec![],
            // ABCD's own catalog: its flows check identity with its own actions.
            owner_only: false,
        })
        .collect()
}

#[test]
fn abcd_subflows_run_exactly_their_required_actions() {
    let data = datasets().join("abcd");
    let read = |f: &str| -> Value {
        serde_json::from_slice(&std::fs::read(data.join(f)).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the vendored ABCD data, evals/datasets/abcd)",
                data.join(f).display()
            )
        }))
        .unwrap()
    };
    let (kb, ontology) = (read("kb.json"), read("ontology.json"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../evals/abcd/flows");
    let flows = common::load_flows(&dir, &abcd_catalog(&ontology));
    let engine = Engine::new(Arc::new(flows));
    let parent: BTreeMap<String, String> = ontology["intents"]["subflows"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(flow, subs)| {
            subs.as_array()
                .unwrap()
                .iter()
                .map(move |s| (s.as_str().unwrap().to_string(), flow.clone()))
        })
        .collect();
    let env = Env {
        today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        channel: Channel::Rest,
        customer: json!({}),
        turn_id: "abcd".into(),
        message: String::new(),
    };

    let mut abcd_flows = BTreeSet::new();
    let mut checked = 0;
    for flow in engine.flows().iter() {
        let id = flow.spec.id.clone();
        let expected: Vec<String> = serde_json::from_value(kb[&id].clone())
            .unwrap_or_else(|_| panic!("`{id}` is not an ABCD subflow"));
        // Answer every slot (enums with their first value) and confirm every write.
        let mut answers: Vec<Command> = flow
            .spec
            .slots
            .iter()
            .map(|(name, slot)| Command::SetSlot {
                name: name.clone(),
                value: json!(slot
                    .values
                    .keys()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| format!("{name} value"))),
            })
            .collect();
        answers.insert(0, Command::start_flow(id.clone()));
        let mut stack = Vec::new();
        let mut ran = Vec::new();
        let mut input = answers;
        for _ in 0..12 {
            let mut effects = engine.advance(
                &mut stack,
                Input::Commands(
                    input
                        .into_iter()
                        .map(|c| ScoredCommand::new(c, 1.0))
                        .collect(),
                ),
                &env,
            );
            while let Some(Effect::CallAction { call, .. }) = effects.last().cloned() {
                ran.push(call.name.clone());
                effects = engine.advance(&mut stack, Input::ActionOutcome(Ok(json!({}))), &env);
            }
            assert!(
                !effects.iter().any(|e| matches!(e, Effect::Escalate { .. })),
                "{id}: escalated: {effects:?}"
            );
            if stack.is_empty() {
                break;
            }
            input = vec![Command::SetSlot {
                name: CONFIRMATION.into(),
                value: json!(true),
            }];
        }
        assert!(stack.is_empty(), "{id} did not finish");
        assert_eq!(
            ran, expected,
            "{id}: the engine ran a different action sequence than kb.json requires"
        );
        abcd_flows.insert(parent[&id].clone());
        checked += 1;
    }
    assert!(checked >= 12, "{checked} subflows");
    assert!(abcd_flows.len() >= 6, "{abcd_flows:?}");
    println!(
        "ABCD: {checked} subflows from {} flows reproduce their required action sequences",
        abcd_flows.len()
    );
}
