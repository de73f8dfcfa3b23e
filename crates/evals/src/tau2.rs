//! τ2-bench retail, from the vendored datasets (`evals/datasets/tau2-retail`): flows implementing τ2's retail policy
//! (`evals/tau2-retail/flows`) run on the shop loaded with τ2's `db.json`. For every train task,
//! a simulated customer answers exactly what the flows ask, with the values the task's gold write
//! actions imply; the engine must issue exactly the gold writes, with the same arguments, and
//! escalate where the gold transfers to a human. Generated policy violations must be refused,
//! with the policy's reason, and issue no write. `frontline eval tau2-retail` reports it.

use crate::EvalError;
use chrono::NaiveDate;
use frontline_domain::{ActionBackend, ActionCall, Channel, Command, FlowFrame, ScoredCommand};
use frontline_flows::compile::{CHECK_CODE, SEND_CODE, VERIFICATION_CODE};
use frontline_flows::{Effect, Engine, Env, FlowSet, Input};
use frontline_shop::{Shop, ShopData};
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::Arc;

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

/// What the τ2 retail check found.
#[derive(Clone, Debug, Default)]
pub struct Tau2Report {
    /// Gold writes of the train tasks (less the one τ2's own backend refuses).
    pub gold: usize,
    /// Those issued exactly (or escalated, for transfers).
    pub reproduced: usize,
    /// Invalid gold writes refused, as τ2's backend refuses them.
    pub gold_refused: usize,
    /// Generated policy violations.
    pub violations: usize,
    /// Kinds of violation generated.
    pub violation_kinds: usize,
    /// Violations refused with the policy's reason and no write.
    pub refused: usize,
    /// What went wrong, per task or violation.
    pub failures: Vec<String>,
}

impl std::fmt::Display for Tau2Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "τ2 retail (train): gold writes reproduced {}/{} (+{} gold write refused by policy, as τ2's backend refuses it); policy violations refused {}/{} ({} kinds)",
            self.reproduced, self.gold, self.gold_refused, self.refused, self.violations, self.violation_kinds
        )
    }
}

fn setup(e: impl std::fmt::Display) -> EvalError {
    EvalError::Setup(format!("τ2 retail: {e}"))
}

/// Run the check on τ2's data folder (`db.json`, `tasks_train.json`) with the flows in `flows`.
pub async fn tau2_retail(data: &Path, flows: &Path) -> Result<Tau2Report, EvalError> {
    let db = ShopData::from_json_file(&data.join("db.json")).map_err(setup)?;
    let tasks: Vec<Value> =
        serde_json::from_slice(&std::fs::read(data.join("tasks_train.json")).map_err(|e| {
            EvalError::Io {
                path: data.join("tasks_train.json"),
                source: e,
            }
        })?)
        .map_err(setup)?;
    let flows =
        FlowSet::load(flows, &frontline_shop::actions::catalog()).map_err(EvalError::Invalid)?;
    let engine = Engine::new(Arc::new(flows));
    let tmp = tempfile::tempdir().map_err(setup)?;
    let shop = Shop::open(&tmp.path().join("tau2.db"))
        .await
        .map_err(setup)?;
    let mut report = gold_writes(&engine, &shop, &db, &tasks).await?;
    let violations = refused_violations(&engine, &shop, &db).await?;
    report.violations = violations.violations;
    report.violation_kinds = violations.violation_kinds;
    report.refused = violations.refused;
    report.failures.extend(violations.failures);
    Ok(report)
}

async fn gold_writes(
    engine: &Engine,
    shop: &Shop,
    db: &ShopData,
    tasks: &[Value],
) -> Result<Tau2Report, EvalError> {
    let db = db.clone();
    // Gold writes.
    let (mut reproduced, mut total, mut gold_refused, mut failures) = (0, 0, 0, Vec::new());
    for task in tasks {
        let Some(actions) = task["evaluation_criteria"]["actions"].as_array() else {
            continue;
        };
        let gold: Vec<&Value> = actions
            .iter()
            .filter(|a| WRITES.contains(&a["name"].as_str().unwrap_or_default()))
            .collect();
        if gold.is_empty() {
            continue;
        }
        shop.load(&db).await.map_err(setup)?;
        // How the customer identifies: as the gold's last lookup does (earlier ones may have
        // failed), or by the email of the account involved.
        let mut who = Map::new();
        let last_lookup = actions.iter().rev().find(|a| {
            a["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("find_user_id")
        });
        if let Some(a) = last_lookup {
            match a["name"].as_str().unwrap_or_default() {
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
            let name = write["name"].as_str().unwrap_or_default();
            let env = env(
                format!("tau2-{}-{n}", task["id"].as_str().unwrap_or_default()),
                &authenticated,
            );
            if name == "transfer_to_human_agents" {
                let run = converse(
                    engine,
                    shop,
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
            for (k, v) in write["arguments"].as_object().into_iter().flatten() {
                if k != "user_id" {
                    answers.insert(k.clone(), v.clone());
                }
            }
            let run = converse(
                engine,
                shop,
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
            if KNOWN_INVALID_GOLD.contains(&task["id"].as_str().unwrap_or_default()) {
                // τ2's own backend refuses this gold write; so must we, before trying it.
                if issued.is_empty() && run.said.contains("does not cover") {
                    gold_refused += 1;
                } else {
                    failures.push(format!(
                        "task {}: the invalid gold write was not refused: {}",
                        task["id"], run.said
                    ));
                }
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
    Ok(Tau2Report {
        gold: total - gold_refused,
        reproduced,
        gold_refused,
        failures,
        ..Tau2Report::default()
    })
}

async fn refused_violations(
    engine: &Engine,
    shop: &Shop,
    db: &ShopData,
) -> Result<Tau2Report, EvalError> {
    let db = db.clone();
    let cases = violations(&db);
    let kinds: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.kind).collect();
    let (mut correct, mut failures) = (0, Vec::new());
    let kinds = kinds.len();
    for (n, case) in cases.iter().enumerate() {
        shop.load(&db).await.map_err(setup)?;
        let who: Map<String, Value> = [("email".to_string(), json!(case.email))]
            .into_iter()
            .collect();
        let answers = case.answers.as_object().cloned().unwrap_or_default();
        let mut stack = Vec::new();
        if let Some((flow, first)) = &case.before {
            let run = converse(
                engine,
                shop,
                &mut stack,
                &env(format!("v{n}a"), &None),
                start(flow),
                &who,
                &first.as_object().cloned().unwrap_or_default(),
            )
            .await;
            if run.writes.len() != 1 {
                failures.push(format!(
                    "{}: the first modification is allowed: {}",
                    case.kind, run.said
                ));
            }
            stack.clear();
        }
        let run = converse(
            engine,
            shop,
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
    Ok(Tau2Report {
        violations: cases.len(),
        violation_kinds: kinds,
        refused: correct,
        failures,
        ..Tau2Report::default()
    })
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
            let outcome = match call.name.as_str() {
                SEND_CODE => Ok(json!({"sent": true})),
                // The simulated customer owns the account: the code they read out is right.
                CHECK_CODE => Ok(json!({"verified": true})),
                _ => shop.execute(&call).await,
            };
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
            // The code the account's email or phone received.
            VERIFICATION_CODE => vec![Command::SetSlot {
                name: slot.clone(),
                value: json!("123456"),
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
        // Authenticated earlier in the conversation: the account is proven.
        Some(user) => json!({"user_id": user, "verified_accounts": [user]}),
        None => json!({}),
    };
    Env {
        today: NaiveDate::from_ymd_opt(2026, 11, 21).expect("a date"),
        channel: Channel::Rest,
        customer,
        turn_id: turn,
        message: String::new(),
    }
}

fn start(flow: &str) -> Vec<Command> {
    vec![Command::start_flow(flow)]
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
