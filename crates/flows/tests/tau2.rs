//! τ2-bench retail external check. Flows implementing τ2's retail policy
//! (`evals/tau2-retail/flows`) run on the shop loaded with τ2's `db.json`. For every train task,
//! a simulated customer answers exactly what the flows ask, with the values the task's gold
//! write actions imply. The engine must then issue exactly the gold writes, with the same
//! arguments, and escalate where the gold transfers to a human. Generated policy violations
//! must be refused, with the policy's reason, and must issue no write.

use chrono::NaiveDate;
use frontline_domain::{ActionBackend, ActionCall, Channel, Command, FlowFrame, ScoredCommand};
use frontline_flows::{Effect, Engine, Env, Input};
use frontline_shop::{Shop, ShopData};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

use std::sync::Arc;

mod common;

/// Task 105's gold exchange asks a 17.00 gift card to cover a 21.10 difference.
const KNOWN_INVALID_GOLD: [&str; 1] = ["105"];

const WRITES: [&str; 8] = [
    "cancel_pending_order",
    "modify_pending_order_address",
    "modify_pending_order_items",
    "modify_pending_order_payment",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
    "modify_user_address",
    "transfer_to_human_agents",
];

fn tau2_dir() -> PathBuf {
    common::shared_data().join("tau2-retail")
}

fn engine() -> Engine {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../evals/tau2-retail/flows");
    let flows = common::load_flows(&dir, &frontline_shop::actions::catalog());
    Engine::new(Arc::new(flows))
}

/// What one scripted conversation produced.
struct Run {
    /// The user a lookup found, if any.
    authenticated: Option<String>,
    writes: Vec<ActionCall>,
    said: String,
    escalated: bool,
}

/// Start `flow` and answer every question from `answers` (confirmations with yes), running each
/// action on the real shop.
async fn converse(
    engine: &Engine,
    shop: &Shop,
    stack: &mut Vec<FlowFrame>,
    env: &Env,
    first: Vec<Command>,
    who: &Map<String, Value>,
    answers: &Map<String, Value>,
) -> Run {
    let mut run = Run {
        authenticated: None,
        writes: vec![],
        said: String::new(),
        escalated: false,
    };
    let mut input = first;
    let mut last_asked: Option<String> = None;
    for _ in 0..40 {
        let scored = input
            .into_iter()
            .map(|c| ScoredCommand::new(c, 1.0))
            .collect();
        let mut effects = engine.advance(stack, Input::Commands(scored), env);
        let mut asked = None;
        loop {
            for e in &effects {
                match e {
                    Effect::Say(t) => run.said.push_str(&format!("{t}\n")),
                    Effect::Ask { slot, text } => {
                        run.said.push_str(&format!("{text}\n"));
                        asked = Some(slot.clone());
                    }
                    Effect::Escalate { .. } => run.escalated = true,
                    _ => {}
                }
            }
            let Some(Effect::CallAction { call, write }) = effects.last().cloned() else {
                break;
            };
            if write {
                run.writes.push(call.clone());
            }
            let outcome = shop.execute(&call).await;
            if let (true, Ok(Value::String(user))) =
                (call.name.starts_with("find_user_id"), &outcome)
            {
                run.authenticated = Some(user.clone());
            }
            effects = engine.advance(stack, Input::ActionOutcome(outcome), env);
        }
        let Some(slot) = asked else { break };
        if last_asked.as_deref() == Some(slot.as_str()) && slot != "confirmation" {
            run.said
                .push_str(&format!("(asked `{slot}` again: the answer was refused)\n"));
            break;
        }
        // Questions of the authentication flow are answered with who the customer is; `zip`
        // there is theirs, not the new address's.
        let authenticating = stack
            .last()
            .is_some_and(|f| f.flow_id == "tau2_authenticate");
        let source = if authenticating { who } else { answers };
        input = match slot.as_str() {
            "confirmation" => vec![Command::SetSlot {
                name: slot.clone(),
                value: json!(true),
            }],
            "method" => vec![Command::SetSlot {
                name: slot.clone(),
                value: json!(if who.contains_key("email") {
                    "email"
                } else {
                    "name and zip"
                }),
            }],
            _ => match source.get(&slot) {
                Some(v) => vec![Command::SetSlot {
                    name: slot.clone(),
                    value: v.clone(),
                }],
                None => {
                    run.said.push_str(&format!(
                        "(asked `{slot}`, which the task does not imply)\n"
                    ));
                    break;
                }
            },
        };
        last_asked = Some(slot);
    }
    run
}

fn env(turn: String, authenticated: &Option<String>) -> Env {
    let customer = match authenticated {
        Some(user) => json!({"user_id": user}),
        None => json!({}),
    };
    Env {
        today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        channel: Channel::Rest,
        customer,
        turn_id: turn,
    }
}

fn start(flow: &str) -> Vec<Command> {
    vec![Command::StartFlow {
        flow_id: flow.into(),
    }]
}

#[tokio::test]
async fn tau2_retail_gold_writes_are_reproduced() {
    let dir = tau2_dir();
    let db = ShopData::from_json_file(&dir.join("db.json"))
        .expect("τ2 db.json (set FRONTLINE_SHARED_DATA)");
    let tasks: Vec<Value> =
        serde_json::from_slice(&std::fs::read(dir.join("tasks_train.json")).unwrap()).unwrap();
    let engine = engine();
    let tmp = tempfile::tempdir().unwrap();
    let shop = Shop::open(&tmp.path().join("tau2.db")).await.unwrap();

    // Gold writes.
    let (mut reproduced, mut total, mut gold_refused, mut failures) = (0, 0, 0, Vec::new());
    for task in &tasks {
        let actions = task["evaluation_criteria"]["actions"].as_array().unwrap();
        let gold: Vec<&Value> = actions
            .iter()
            .filter(|a| WRITES.contains(&a["name"].as_str().unwrap()))
            .collect();
        if gold.is_empty() {
            continue;
        }
        shop.load(&db).await.unwrap();
        // How the customer identifies: as the gold's last lookup does (earlier ones may have
        // failed), or by the email of the account involved.
        let mut who = Map::new();
        let last_lookup = actions
            .iter()
            .rev()
            .find(|a| a["name"].as_str().unwrap().starts_with("find_user_id"));
        if let Some(a) = last_lookup {
            match a["name"].as_str().unwrap() {
                "find_user_id_by_email" => {
                    who.insert("email".into(), a["arguments"]["email"].clone())
                }
                "find_user_id_by_name_zip" => {
                    for k in ["first_name", "last_name", "zip"] {
                        who.insert(k.into(), a["arguments"][k].clone());
                    }
                    None
                }
                _ => None,
            };
        }
        if who.is_empty() {
            let user_id = gold.iter().find_map(|a| {
                a["arguments"]["user_id"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| {
                        a["arguments"]["order_id"]
                            .as_str()
                            .map(|o| db.orders[o].user_id.clone())
                    })
            });
            if let Some(user_id) = user_id {
                who.insert("email".into(), json!(db.users[&user_id].email));
            }
        }
        let mut stack = Vec::new();
        let mut authenticated = None;
        for (n, write) in gold.iter().enumerate() {
            total += 1;
            let name = write["name"].as_str().unwrap();
            let env = env(
                format!("tau2-{}-{n}", task["id"].as_str().unwrap()),
                &authenticated,
            );
            if name == "transfer_to_human_agents" {
                let run = converse(
                    &engine,
                    &shop,
                    &mut stack,
                    &env,
                    vec![Command::HumanHandoff {
                        reason: "asked".into(),
                    }],
                    &who,
                    &who,
                )
                .await;
                if run.escalated && run.writes.is_empty() {
                    reproduced += 1;
                } else {
                    failures.push(format!(
                        "task {}: no escalation for transfer_to_human_agents",
                        task["id"]
                    ));
                }
                continue;
            }
            let mut answers = Map::new();
            for (k, v) in write["arguments"].as_object().unwrap() {
                if k != "user_id" {
                    answers.insert(k.clone(), v.clone());
                }
            }
            let run = converse(
                &engine,
                &shop,
                &mut stack,
                &env,
                start(&format!("tau2_{name}")),
                &who,
                &answers,
            )
            .await;
            authenticated = authenticated.or(run.authenticated.clone());
            let issued: Vec<(String, Value)> = run
                .writes
                .iter()
                .map(|c| (c.name.clone(), c.args.clone()))
                .collect();
            if KNOWN_INVALID_GOLD.contains(&task["id"].as_str().unwrap()) {
                // τ2's own backend refuses this gold write; so must we, before trying it.
                assert!(
                    issued.is_empty() && run.said.contains("does not cover"),
                    "task {}: {}",
                    task["id"],
                    run.said
                );
                gold_refused += 1;
            } else if issued == [(name.to_string(), write["arguments"].clone())] {
                reproduced += 1;
            } else {
                failures.push(format!(
                    "task {} write {n} {name} {}: issued {issued:?}\n{}",
                    task["id"], write["arguments"], run.said
                ));
            }
            stack.clear();
        }
    }
    println!("τ2 retail (train): gold writes reproduced {reproduced}/{} (+{gold_refused} gold write refused by policy, as τ2's backend refuses it)", total - gold_refused);
    assert!(
        failures.is_empty(),
        "{} of {total} gold writes not reproduced:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One generated violation: who, which flow, the answers, and the refusal expected.
struct Violation {
    kind: &'static str,
    email: String,
    flow: &'static str,
    answers: Value,
    refusal: &'static str,
    /// A valid write to run first (the "modify twice" case).
    before: Option<(&'static str, Value)>,
}

fn violations(db: &ShopData) -> Vec<Violation> {
    use frontline_shop::model::{OrderStatus, PaymentSource};
    const PER_KIND: usize = 8;
    let mut out: Vec<Violation> = Vec::new();
    let count = |out: &Vec<Violation>, kind: &str| out.iter().filter(|v| v.kind == kind).count();
    for order in db.orders.values() {
        let user = &db.users[&order.user_id];
        let email = user.email.clone();
        let original = order.payment_history[0].payment_method_id.clone();
        let first = &order.items[0];
        let product = &db.products[&first.product_id];
        // Another available option of the first item's product, and the dearest one.
        let other = product
            .variants
            .values()
            .filter(|v| v.available && v.item_id != first.item_id)
            .max_by(|a, b| a.price.total_cmp(&b.price));
        let pending = order.status == OrderStatus::Pending;
        let delivered = order.status == OrderStatus::Delivered;

        if !pending && count(&out, "cancel a non-pending order") < PER_KIND {
            out.push(Violation {
                kind: "cancel a non-pending order",
                email: email.clone(),
                flow: "tau2_cancel_pending_order",
                answers: json!({"order_id": order.order_id, "reason": "no longer needed"}),
                refusal: "only pending orders can be cancelled",
                before: None,
            });
        }
        if pending && count(&out, "invalid cancel reason") < PER_KIND {
            out.push(Violation { kind: "invalid cancel reason", email: email.clone(), flow: "tau2_cancel_pending_order", answers: json!({"order_id": order.order_id, "reason": "found it cheaper elsewhere"}), refusal: "I can only take one of: no longer needed, ordered by mistake", before: None });
        }
        if delivered && count(&out, "refund to a non-original payment method") < PER_KIND {
            if let Some(m) = user
                .payment_methods
                .values()
                .find(|m| m.id != original && m.source != PaymentSource::GiftCard)
            {
                out.push(Violation { kind: "refund to a non-original payment method", email: email.clone(), flow: "tau2_return_delivered_order_items", answers: json!({"order_id": order.order_id, "item_ids": [first.item_id], "payment_method_id": m.id}), refusal: "Refunds go to the original payment method", before: None });
            }
        }
        if let Some(v) = other {
            if pending && count(&out, "exchange a non-delivered order") < PER_KIND {
                out.push(Violation { kind: "exchange a non-delivered order", email: email.clone(), flow: "tau2_exchange_delivered_order_items", answers: json!({"order_id": order.order_id, "item_ids": [first.item_id], "new_item_ids": [v.item_id], "payment_method_id": original}), refusal: "only delivered orders can be exchanged", before: None });
            }
            let card = user
                .payment_methods
                .values()
                .find(|m| m.source != PaymentSource::GiftCard)
                .map(|m| m.id.clone());
            if let (true, Some(card)) = (pending, card) {
                if count(&out, "modify an order twice") < PER_KIND {
                    let change = json!({"order_id": order.order_id, "item_ids": [first.item_id], "new_item_ids": [v.item_id], "payment_method_id": card});
                    out.push(Violation {
                        kind: "modify an order twice",
                        email: email.clone(),
                        flow: "tau2_modify_pending_order_items",
                        answers: change.clone(),
                        refusal: "only pending orders can be modified",
                        before: Some(("tau2_modify_pending_order_items", change)),
                    });
                }
            }
            let poor_gift_card = user.payment_methods.values().find(|m| {
                m.source == PaymentSource::GiftCard
                    && m.balance.unwrap_or(0.0) < v.price - first.price
            });
            if let (true, Some(gc)) = (delivered, poor_gift_card) {
                if count(&out, "insufficient gift card balance") < PER_KIND {
                    out.push(Violation { kind: "insufficient gift card balance", email: email.clone(), flow: "tau2_exchange_delivered_order_items", answers: json!({"order_id": order.order_id, "item_ids": [first.item_id], "new_item_ids": [v.item_id], "payment_method_id": gc.id}), refusal: "does not cover the price difference", before: None });
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn tau2_retail_policy_violations_are_refused_without_writing() {
    let db = ShopData::from_json_file(&tau2_dir().join("db.json"))
        .expect("τ2 db.json (set FRONTLINE_SHARED_DATA)");
    let engine = engine();
    let tmp = tempfile::tempdir().unwrap();
    let shop = Shop::open(&tmp.path().join("tau2.db")).await.unwrap();
    let cases = violations(&db);
    let kinds: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds.len(),
        6,
        "every kind of violation was generated: {kinds:?}"
    );
    let (mut correct, mut failures) = (0, Vec::new());
    for (n, case) in cases.iter().enumerate() {
        shop.load(&db).await.unwrap();
        let who: Map<String, Value> = [("email".to_string(), json!(case.email))]
            .into_iter()
            .collect();
        let answers = case.answers.as_object().unwrap().clone();
        let mut stack = Vec::new();
        if let Some((flow, first)) = &case.before {
            let run = converse(
                &engine,
                &shop,
                &mut stack,
                &env(format!("v{n}a"), &None),
                start(flow),
                &who,
                first.as_object().unwrap(),
            )
            .await;
            assert_eq!(
                run.writes.len(),
                1,
                "{}: the first modification is allowed: {}",
                case.kind,
                run.said
            );
            stack.clear();
        }
        let run = converse(
            &engine,
            &shop,
            &mut stack,
            &env(format!("v{n}"), &None),
            start(case.flow),
            &who,
            &answers,
        )
        .await;
        if run.writes.is_empty() && run.said.contains(case.refusal) {
            correct += 1;
        } else {
            failures.push(format!(
                "{} ({}): writes {:?}\n{}",
                case.kind,
                case.answers,
                run.writes.iter().map(|w| &w.name).collect::<Vec<_>>(),
                run.said
            ));
        }
    }
    println!(
        "τ2 retail policy violations refused correctly: {correct}/{} ({} kinds)",
        cases.len(),
        kinds.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
