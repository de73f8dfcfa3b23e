//! The decision engine on the repository's demo flows, with a small in-memory backend double
//! (the engine is pure; the real shop is exercised through the agent's tests).

use chrono::NaiveDate;
use frontline_domain::{ActionCall, ActionError, Channel, Command, FlowFrame, ScoredCommand};
use frontline_flows::spec::Outcome;
use frontline_flows::{Effect, Engine, Env, FlowSet, Input};
use serde_json::{json, Value};
use std::path::Path;

use std::sync::Arc;

use crate::common;

fn env(email: Option<&str>) -> Env {
    Env {
        today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        channel: Channel::Rest,
        // A known email is one the channel proved, and so is Ada's account it is on.
        customer: json!({
            "email": email,
            "phone": null,
            "verified": email.is_some(),
            "verified_accounts": if email.is_some() { json!(["ada_1"]) } else { json!([]) },
        }),
        turn_id: "conv-1:7".into(),
        message: String::new(),
    }
}

/// A backend double: two users, three orders.
struct Backend {
    calls: Vec<ActionCall>,
    fail_next: Option<ActionError>,
    /// Orders that have shipped and been delivered since the conversation began.
    delivered_since: Vec<&'static str>,
}

impl Backend {
    fn new() -> Self {
        Self {
            calls: vec![],
            fail_next: None,
            delivered_since: vec![],
        }
    }

    fn run(&mut self, call: &ActionCall) -> Result<Value, ActionError> {
        self.calls.push(call.clone());
        if let Some(e) = self.fail_next.take() {
            return Err(e);
        }
        let order = |id: &str, user: &str, status: &str| json!({"order_id": id, "user_id": user, "status": status, "payment_history": [{"amount": 80.5}], "fulfillments": [], "delivered_on": null});
        match (call.name.as_str(), &call.args) {
            ("find_user_id_by_email", a) if a["email"] == "ada@example.com" => Ok(json!("ada_1")),
            ("find_user_id_by_email", a) => Err(ActionError::NotFound {
                what: format!("customer with email {}", a["email"]),
            }),
            ("get_order_details", a)
                if self
                    .delivered_since
                    .contains(&a["order_id"].as_str().unwrap()) =>
            {
                Ok(order(a["order_id"].as_str().unwrap(), "ada_1", "delivered"))
            }
            ("get_order_details", a) => match a["order_id"].as_str().unwrap() {
                "#W0000001" => Ok(order("#W0000001", "ada_1", "pending")),
                "#W0000005" => Ok(order("#W0000005", "ada_1", "pending")),
                "#W0000002" => Ok(order("#W0000002", "ada_1", "delivered")),
                "#W0000009" => Ok(order("#W0000009", "bob_2", "pending")),
                other => Err(ActionError::NotFound {
                    what: format!("order {other}"),
                }),
            },
            ("list_user_orders", _) => Ok(json!([
                {"order_id": "#W0000001", "status": "pending", "items": ["Desk Lamp"], "placed_on": "2026-11-18", "total": 80.5},
                {"order_id": "#W0000005", "status": "pending", "items": ["Kettle"], "placed_on": "2026-11-10", "total": 30.0},
                {"order_id": "#W0000002", "status": "delivered", "items": ["Yoga Mat"], "placed_on": "2026-11-02", "delivered_on": "2026-11-09", "total": 40.0}
            ])),
            ("cancel_pending_order", a) => {
                Ok(json!({"order_id": a["order_id"], "status": "cancelled"}))
            }
            // The agent's one-time codes: the account's owner reads 123456.
            ("verification.send", _) => Ok(json!({"sent": true})),
            ("verification.check", a) if a["code"] == "123456" => Ok(json!({"verified": true})),
            ("verification.check", _) => {
                Ok(json!({"verified": false, "next": "retry", "message": "That code isn't right."}))
            }
            (name, _) => panic!("unexpected action {name}"),
        }
    }
}

/// Feed commands, run requested actions against the backend, and collect what was said.
fn turn(
    engine: &Engine,
    stack: &mut Vec<FlowFrame>,
    commands: Vec<Command>,
    backend: &mut Backend,
    env: &Env,
) -> (Vec<String>, Vec<Effect>) {
    let scored = commands
        .into_iter()
        .map(|c| ScoredCommand::new(c, 0.9))
        .collect();
    let mut effects = engine.advance(stack, Input::Commands(scored), env);
    let mut all = Vec::new();
    while let Some(Effect::CallAction { call, .. }) = effects.last() {
        let call = call.clone();
        all.append(&mut effects);
        effects = engine.advance(stack, Input::ActionOutcome(backend.run(&call)), env);
    }
    all.append(&mut effects);
    let texts = all
        .iter()
        .filter_map(|e| match e {
            Effect::Say(t) | Effect::Ask { text: t, .. } => Some(t.clone()),
            _ => None,
        })
        .collect();
    (texts, all)
}

fn start(flow: &str) -> Command {
    Command::start_flow(flow)
}
fn set(name: &str, value: Value) -> Command {
    Command::SetSlot {
        name: name.into(),
        value,
    }
}
fn writes(backend: &Backend) -> Vec<&ActionCall> {
    backend
        .calls
        .iter()
        .filter(|c| c.name == "cancel_pending_order")
        .collect()
}

#[test]
fn the_demo_flows_load_and_pass_every_check() {
    let flows = common::demo_flows();
    let ids: Vec<_> = flows.iter().map(|f| f.spec.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "authenticate",
            "cancel_order",
            "cancel_subscription",
            "change_shipping_address",
            "exchange_items",
            "order_status",
            "return_items"
        ]
    );
}

#[test]
fn cancelling_a_pending_order_asks_the_reason_confirms_then_writes_once() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let (mut stack, mut b, env) = (vec![], Backend::new(), env(Some("ada@example.com")));
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("w0000001"))],
        &mut b,
        &env,
    );
    assert_eq!(
        said,
        ["May I ask why? Is it no longer needed, or was it ordered by mistake?"]
    );
    assert_eq!(
        b.calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        [
            "find_user_id_by_email",
            "list_user_orders",
            "get_order_details"
        ]
    );
    assert_eq!(
        b.calls[2].args,
        json!({"order_id": "#W0000001"}),
        "the id was normalised"
    );

    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("reason", json!("by mistake"))],
        &mut b,
        &env,
    );
    assert_eq!(said, ["To confirm: cancel order #W0000001 (80.50 paid) because it's ordered by mistake? The refund goes back to the original payment method. (yes/no)"]);
    assert!(writes(&b).is_empty(), "nothing written before the yes");
    assert_eq!(
        stack.last().unwrap().requested_slot.as_deref(),
        Some("confirmation")
    );

    let (said, effects) = turn(
        &engine,
        &mut stack,
        vec![set("confirmation", json!(true))],
        &mut b,
        &env,
    );
    assert!(
        said[0].starts_with("Done. Order #W0000001 is cancelled."),
        "{said:?}"
    );
    let w = writes(&b);
    assert_eq!(w.len(), 1);
    assert_eq!(
        w[0].args,
        json!({"order_id": "#W0000001", "reason": "ordered by mistake"})
    );
    assert_eq!(w[0].idempotency_key.as_deref(), Some("conv-1:7/0/s10"));
    assert!(effects.contains(&Effect::FlowEnded {
        flow_id: "cancel_order".into(),
        outcome: Outcome::Resolved
    }));
    assert!(stack.is_empty());
}

#[test]
fn a_no_at_the_confirmation_writes_nothing() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let (mut stack, mut b, env) = (vec![], Backend::new(), env(Some("ada@example.com")));
    turn(
        &engine,
        &mut stack,
        vec![
            start("cancel_order"),
            set("order_id", json!("#W0000001")),
            set("reason", json!("no longer needed")),
        ],
        &mut b,
        &env,
    );
    let (said, effects) = turn(
        &engine,
        &mut stack,
        vec![set("confirmation", json!("no"))],
        &mut b,
        &env,
    );
    assert_eq!(said, ["Okay, I won't go ahead with that."]);
    assert!(writes(&b).is_empty());
    assert!(effects.contains(&Effect::FlowEnded {
        flow_id: "cancel_order".into(),
        outcome: Outcome::Abandoned
    }));
}

#[test]
fn policy_refusals_write_nothing() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let env = env(Some("ada@example.com"));
    for (order, expected) in [
        (
            "#W0000002",
            "Order #W0000002 has already been delivered, so it can no longer be cancelled, but you can return it",
        ),
        (
            "#W0000009",
            "I can't find #W0000009 among the orders on your account.",
        ),
        (
            "#W0000404",
            "I couldn't find an order #W0000404. Could you check the number?",
        ),
    ] {
        let (mut stack, mut b) = (vec![], Backend::new());
        let (said, effects) = turn(
            &engine,
            &mut stack,
            vec![start("cancel_order"), set("order_id", json!(order))],
            &mut b,
            &env,
        );
        assert!(said[0].starts_with(expected), "{order}: {said:?}");
        assert!(writes(&b).is_empty());
        assert!(
            effects.contains(&Effect::FlowEnded {
                flow_id: "cancel_order".into(),
                outcome: Outcome::Failed
            }),
            "{effects:?}"
        );
        assert!(stack.is_empty());
    }
}

#[test]
fn a_correction_reruns_the_steps_after_the_slot_and_asks_to_confirm_again() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let (mut stack, mut b, env) = (vec![], Backend::new(), env(Some("ada@example.com")));
    turn(
        &engine,
        &mut stack,
        vec![
            start("cancel_order"),
            set("order_id", json!("#W0000001")),
            set("reason", json!("no longer needed")),
        ],
        &mut b,
        &env,
    );
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("order_id", json!("W0000005"))],
        &mut b,
        &env,
    );
    assert_eq!(said[0], "Okay, I've changed the order id to #W0000005.");
    assert!(
        said[1].starts_with("To confirm: cancel order #W0000005"),
        "{said:?}"
    );
    assert_eq!(
        b.calls
            .iter()
            .filter(|c| c.name == "get_order_details")
            .count(),
        2,
        "the order was looked up again"
    );
    // A confirmation given before the correction does not count.
    assert!(!stack.last().unwrap().confirmed);
    turn(
        &engine,
        &mut stack,
        vec![set("confirmation", json!(true))],
        &mut b,
        &env,
    );
    assert_eq!(writes(&b)[0].args["order_id"], json!("#W0000005"));
}

#[test]
fn a_digression_runs_another_flow_then_resumes_where_it_was() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let (mut stack, mut b, env) = (vec![], Backend::new(), env(Some("ada@example.com")));
    turn(
        &engine,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("#W0000001"))],
        &mut b,
        &env,
    );
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![start("order_status"), set("order_id", json!("#W0000002"))],
        &mut b,
        &env,
    );
    // order_id belongs to both flows: the newest (order_status) takes it; cancel_order keeps its own.
    assert_eq!(said[0], "Order #W0000002 was delivered on .");
    assert_eq!(
        said[1],
        "Now, back to where we were: cancel an order that hasn't shipped yet."
    );
    assert_eq!(
        said[2],
        "May I ask why? Is it no longer needed, or was it ordered by mistake?"
    );
    assert_eq!(stack.len(), 1);
    assert_eq!(stack[0].slots["order_id"], json!("#W0000001"));
}

/// Drive `cancel_order` on #W0000001 up to its confirmation question.
fn cancel_up_to_the_confirmation(engine: &Engine, b: &mut Backend, env: &Env) -> Vec<FlowFrame> {
    let mut stack = vec![];
    turn(
        engine,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("#W0000001"))],
        b,
        env,
    );
    let (said, _) = turn(
        engine,
        &mut stack,
        vec![set("reason", json!("by mistake"))],
        b,
        env,
    );
    assert!(said
        .last()
        .unwrap()
        .starts_with("To confirm: cancel order #W0000001"));
    stack
}

fn lookups(backend: &Backend) -> usize {
    backend
        .calls
        .iter()
        .filter(|c| c.name == "get_order_details")
        .count()
}

#[test]
fn a_flow_resuming_after_a_digression_checks_its_policy_on_fresh_data() {
    // Found by the property test: the order was pending when cancel_order looked it up; during
    // a digression it was delivered; a yes after the resume must not cancel a delivered order.
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let (mut b, env) = (Backend::new(), env(Some("ada@example.com")));
    let mut stack = cancel_up_to_the_confirmation(&engine, &mut b, &env);
    b.delivered_since.push("#W0000001");
    let (said, effects) = turn(
        &engine,
        &mut stack,
        vec![start("order_status"), set("order_id", json!("#W0000001"))],
        &mut b,
        &env,
    );
    assert_eq!(said[0], "Order #W0000001 was delivered on .");
    assert_eq!(
        said[1],
        "Now, back to where we were: cancel an order that hasn't shipped yet."
    );
    // cancel_order looked the order up again and its policy now refuses.
    assert_eq!(
        lookups(&b),
        3,
        "initial look-up, the digression's, the resume's"
    );
    assert_eq!(
        said[2],
        "Order #W0000001 has already been delivered, so it can no longer be cancelled, but you can return it within 30 days of delivery."
    );
    assert!(effects.contains(&Effect::FlowEnded {
        flow_id: "cancel_order".into(),
        outcome: Outcome::Failed
    }));
    assert!(stack.is_empty());
    turn(
        &engine,
        &mut stack,
        vec![set("confirmation", json!(true))],
        &mut b,
        &env,
    );
    assert!(writes(&b).is_empty(), "a delivered order was cancelled");
}

#[test]
fn a_cancelled_digression_also_resumes_on_fresh_data_and_asks_to_confirm_again() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let (mut b, env) = (Backend::new(), env(Some("ada@example.com")));
    let mut stack = cancel_up_to_the_confirmation(&engine, &mut b, &env);
    // The digression is started and abandoned; the order is still pending.
    turn(
        &engine,
        &mut stack,
        vec![start("order_status")],
        &mut b,
        &env,
    );
    assert!(stack[0].interrupted);
    let (said, _) = turn(&engine, &mut stack, vec![Command::CancelFlow], &mut b, &env);
    assert_eq!(lookups(&b), 2, "the resume looked the order up again");
    // The reason is kept (not asked again); only the confirmation is.
    assert!(said
        .last()
        .unwrap()
        .starts_with("To confirm: cancel order #W0000001"));
    assert!(!stack[0].interrupted && !stack[0].confirmed);
    turn(
        &engine,
        &mut stack,
        vec![set("confirmation", json!(true))],
        &mut b,
        &env,
    );
    assert_eq!(writes(&b).len(), 1);

    // The same with the order delivered meanwhile: no write.
    let mut b = Backend::new();
    let mut stack = cancel_up_to_the_confirmation(&engine, &mut b, &env);
    turn(
        &engine,
        &mut stack,
        vec![start("order_status")],
        &mut b,
        &env,
    );
    b.delivered_since.push("#W0000001");
    let (said, _) = turn(&engine, &mut stack, vec![Command::CancelFlow], &mut b, &env);
    assert!(said
        .iter()
        .any(|s| s.contains("has already been delivered, so it can no longer be cancelled")));
    turn(
        &engine,
        &mut stack,
        vec![set("confirmation", json!(true))],
        &mut b,
        &env,
    );
    assert!(writes(&b).is_empty());
}

#[test]
fn cancel_handoff_unknown_flows_and_bad_values() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let env = env(Some("ada@example.com"));
    let (mut stack, mut b) = (vec![], Backend::new());
    turn(
        &engine,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("#W0000001"))],
        &mut b,
        &env,
    );

    let (said, effects) = turn(
        &engine,
        &mut stack,
        vec![set("reason", json!("it's too expensive"))],
        &mut b,
        &env,
    );
    assert_eq!(
        said[0],
        "Sorry, I can only take one of: no longer needed, ordered by mistake."
    );
    assert_eq!(
        said[1],
        "May I ask why? Is it no longer needed, or was it ordered by mistake?"
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::Rejected { .. })));

    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("order_id", json!("not an order"))],
        &mut b,
        &env,
    );
    assert!(
        said[0].starts_with("Sorry, `not an order` doesn't look right. Which order"),
        "{said:?}"
    );

    let (_, effects) = turn(
        &engine,
        &mut stack,
        vec![start("no_such_flow"), start("authenticate")],
        &mut b,
        &env,
    );
    assert_eq!(
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Rejected { .. }))
            .count(),
        2,
        "{effects:?}"
    );

    let (said, _) = turn(&engine, &mut stack, vec![Command::CancelFlow], &mut b, &env);
    assert_eq!(
        said,
        ["Okay, I've stopped: cancel an order that hasn't shipped yet."]
    );
    assert!(stack.is_empty());

    turn(
        &engine,
        &mut stack,
        vec![start("cancel_order")],
        &mut b,
        &env,
    );
    let (_, effects) = turn(
        &engine,
        &mut stack,
        vec![Command::HumanHandoff {
            reason: "asked".into(),
        }],
        &mut b,
        &env,
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::Escalate {
        trigger: frontline_domain::EscalationTrigger::ExplicitRequest,
        reason,
        queue: None,
        flow: Some(frame),
    } if reason == "asked" && frame.flow_id == "cancel_order")));
    assert!(stack.is_empty());
    assert!(writes(&b).is_empty());
}

#[test]
fn backend_failures_are_retried_where_allowed_then_escalated() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let env = env(Some("ada@example.com"));
    let (mut stack, mut b) = (vec![], Backend::new());
    turn(
        &engine,
        &mut stack,
        vec![
            start("cancel_order"),
            set("order_id", json!("#W0000001")),
            set("reason", json!("no longer needed")),
        ],
        &mut b,
        &env,
    );
    b.fail_next = Some(ActionError::Backend {
        message: "timeout".into(),
    });
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("confirmation", json!("yes"))],
        &mut b,
        &env,
    );
    assert_eq!(writes(&b).len(), 2, "retried once");
    assert_eq!(
        writes(&b)[0].idempotency_key,
        writes(&b)[1].idempotency_key,
        "same key: the backend dedupes"
    );
    assert!(said[0].starts_with("Done."), "{said:?}");

    // A backend that is down is never mistaken for a business answer: apologise and escalate.
    let (mut stack, mut b) = (vec![], Backend::new());
    b.fail_next = Some(ActionError::Backend {
        message: "down".into(),
    });
    let (said, effects) = turn(
        &engine,
        &mut stack,
        vec![start("order_status")],
        &mut b,
        &env,
    );
    assert!(said[0].contains("something went wrong"), "{said:?}");
    assert!(effects.iter().any(
        |e| matches!(e, Effect::Escalate { reason, .. } if reason.contains("find_user_id_by_email"))
    ));
}

#[test]
fn without_a_known_email_authentication_asks_for_one() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let env = env(None);
    let (mut stack, mut b) = (vec![], Backend::new());
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![start("order_status"), set("order_id", json!("#W0000002"))],
        &mut b,
        &env,
    );
    assert_eq!(
        said,
        ["To look up your account, what's the email address you ordered with?"]
    );
    assert!(b.calls.is_empty());
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("email", json!(" Ada@Example.com "))],
        &mut b,
        &env,
    );
    // A typed email only names the account: a code goes to the account, and nothing about
    // the order is said until it is typed back.
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("I've sent a 6-digit code"), "{said:?}");
    assert_eq!(b.calls[0].args, json!({"email": "ada@example.com"}));
    assert_eq!(b.calls[1].name, "verification.send");
    assert_eq!(b.calls[1].args, json!({"account": "ada_1"}));
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("verification_code", json!("000000"))],
        &mut b,
        &env,
    );
    assert_eq!(said[0], "That code isn't right.");
    assert!(!said.iter().any(|s| s.contains("#W0000002")), "{said:?}");
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("verification_code", json!("123 456"))],
        &mut b,
        &env,
    );
    assert_eq!(said, ["Order #W0000002 was delivered on ."]);
}

#[test]
fn an_account_action_without_a_verified_owner_never_runs() {
    // A flow that skips `verify` cannot be loaded (see checks.rs), so build the stack by hand
    // as a tampered log would: cancel_order past its `call: authenticate`, with no proof.
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let env = env(Some("ada@example.com"));
    let mut stack = vec![FlowFrame {
        flow_id: "cancel_order".into(),
        step: "s2".into(),
        instance: "conv-1:7/0".into(),
        ..Default::default()
    }];
    let mut b = Backend::new();
    let (said, effects) = turn(
        &engine,
        &mut stack,
        vec![set("order_id", json!("#W0000001"))],
        &mut b,
        &env,
    );
    assert!(b.calls.is_empty(), "{:?}", b.calls);
    assert!(
        said.iter().any(|s| s.contains("can't solve myself")),
        "{said:?}"
    );
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Escalate { reason, .. } if reason.contains("without a verified owner")
    )));
}

#[test]
fn cx_teams_can_rewrite_repair_turns_with_pattern_flows() {
    let dir = tempfile::tempdir().unwrap();
    for entry in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows")).unwrap()
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("pattern_cancelled.yaml"),
        "id: pattern_cancelled\ndescription: Said when a customer stops a flow.\ntier: informational\nstarts: internal\nslots:\n  flow:\n    type: string\n    prompt: unused\nresponses:\n  stopped: No worries, I've dropped it ({flow}). Anything else?\nsteps:\n  - respond: stopped\n",
    )
    .unwrap();
    let engine = Engine::new(Arc::new(
        FlowSet::load(dir.path(), &frontline_shop::actions::catalog()).unwrap(),
    ));
    let env = env(Some("ada@example.com"));
    let (mut stack, mut b2) = (vec![], Backend::new());
    turn(
        &engine,
        &mut stack,
        vec![start("cancel_order")],
        &mut b2,
        &env,
    );
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![Command::CancelFlow],
        &mut b2,
        &env,
    );
    assert_eq!(
        said,
        ["No worries, I've dropped it (cancel an order that hasn't shipped yet). Anything else?"]
    );
    assert!(stack.is_empty());

    // The rest of the repair wording is content too: a locale file beside the flows replaces
    // what it names (the demo's own file is the built-in English), and keeps the rest.
    std::fs::create_dir_all(dir.path().join("locales")).unwrap();
    std::fs::write(
        dir.path().join("locales/en.yaml"),
        "didnt_catch: \"Hmm, that one went over my head.\"\nhint_options: \"Pick one: {options}.\"\nlist_or: \"or else\"\n",
    )
    .unwrap();
    let flows = FlowSet::load(dir.path(), &frontline_shop::actions::catalog()).unwrap();
    assert!(
        flows
            .capabilities()
            .starts_with("cancel an order that hasn't shipped yet, cancel a subscription, "),
        "{}",
        flows.capabilities()
    );
    assert!(flows
        .capabilities()
        .ends_with(" or else return items from a delivered order for a refund"));
    let engine = Engine::new(Arc::new(flows));
    let mut stack = vec![];
    turn(
        &engine,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("#W0000001"))],
        &mut b2,
        &env,
    );
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![Command::CannotHandle {
            reason: "nothing in it".into(),
        }],
        &mut b2,
        &env,
    );
    assert_eq!(
        said,
        [
            "Hmm, that one went over my head.",
            "May I ask why? Is it no longer needed, or was it ordered by mistake? Pick one: \u{201c}no longer needed\u{201d} or else \u{201c}ordered by mistake\u{201d}."
        ]
    );
}

#[test]
fn commands_beside_a_request_for_a_person_are_refused_with_why_not_dropped() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let (mut stack, mut b, env) = (vec![], Backend::new(), env(Some("ada@example.com")));
    turn(
        &engine,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("#W0000001"))],
        &mut b,
        &env,
    );
    let (_, effects) = turn(
        &engine,
        &mut stack,
        vec![
            set("reason", json!("not a reason at all")),
            Command::HumanHandoff {
                reason: "asked".into(),
            },
        ],
        &mut b,
        &env,
    );
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Rejected {
            command: Command::SetSlot { name, .. },
            reason,
        } if name == "reason" && reason.contains("asked for a person"))),
        "{effects:?}"
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::Escalate { .. })));
    assert!(stack.is_empty());
}

#[test]
fn a_reply_that_answers_nothing_gets_the_question_in_other_words_not_the_same_prompt() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let (mut stack, mut b, env) = (vec![], Backend::new(), env(Some("ada@example.com")));
    let not_understood = || Command::CannotHandle {
        reason: "no slot value in it".into(),
    };
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("#W0000001"))],
        &mut b,
        &env,
    );
    let prompt = "May I ask why? Is it no longer needed, or was it ordered by mistake?";
    assert_eq!(said, [prompt]);

    // Asked again: the question with its options spelled out, never the same words twice.
    let (said, _) = turn(&engine, &mut stack, vec![not_understood()], &mut b, &env);
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!(said[0], "Sorry, I didn't catch that.");
    assert_eq!(
        said[1],
        format!("{prompt} You can say \u{201c}no longer needed\u{201d} or \u{201c}ordered by mistake\u{201d}.")
    );
    // A third time is still not the bare prompt, and an answer then goes on as usual.
    let (said, _) = turn(&engine, &mut stack, vec![not_understood()], &mut b, &env);
    assert_ne!(said.last().unwrap(), prompt);
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("reason", json!("by mistake"))],
        &mut b,
        &env,
    );
    assert!(
        said[0].starts_with("To confirm: cancel order #W0000001"),
        "{said:?}"
    );

    // A value refused with its reason is not rephrased on top: the refusal already said it.
    let (mut stack, mut b) = (vec![], Backend::new());
    turn(
        &engine,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("#W0000001"))],
        &mut b,
        &env,
    );
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![set("reason", json!("it's too expensive"))],
        &mut b,
        &env,
    );
    assert_eq!(said[1], prompt);

    // Without a known email: the email asked again with an example.
    let env = self::env(None);
    let (mut stack, mut b) = (vec![], Backend::new());
    let (first, _) = turn(
        &engine,
        &mut stack,
        vec![start("cancel_order")],
        &mut b,
        &env,
    );
    let (again, _) = turn(&engine, &mut stack, vec![not_understood()], &mut b, &env);
    let asked = first.last().unwrap();
    assert!(
        again.last().unwrap().starts_with(asked.as_str())
            && again
                .last()
                .unwrap()
                .ends_with("Just the email address is enough, like name@example.com."),
        "{first:?} then {again:?}"
    );
}

#[test]
fn a_conversation_changes_language_mid_flow_without_losing_its_place() {
    let engine = Engine::new(Arc::new(common::demo_flows()));
    let spanish = engine.in_locale("es");
    let german = engine.in_locale("de");
    let (mut stack, mut b, env) = (vec![], Backend::new(), env(Some("ada@example.com")));
    // Started in Spanish: the reason is asked in Spanish.
    let (said, _) = turn(
        &spanish,
        &mut stack,
        vec![start("cancel_order"), set("order_id", json!("w0000001"))],
        &mut b,
        &env,
    );
    assert_eq!(
        said,
        ["¿Puedo preguntarle por qué? ¿Ya no lo necesita, o lo pidió por error?"]
    );
    // The customer goes on in German: the same flow, at the same step, in German; a Spanish
    // synonym of the enum value is understood in any language.
    let (said, _) = turn(
        &german,
        &mut stack,
        vec![set("reason", json!("por error"))],
        &mut b,
        &env,
    );
    assert_eq!(
        said,
        ["Zur Bestätigung: Soll ich die Bestellung #W0000001 (80.50 bezahlt) stornieren? Die Erstattung geht auf die ursprüngliche Zahlungsart. (ja/nein)"]
    );
    let (said, _) = turn(
        &german,
        &mut stack,
        vec![set("confirmation", json!(true))],
        &mut b,
        &env,
    );
    assert_eq!(writes(&b).len(), 1);
    assert!(
        said[0].starts_with("Erledigt. Die Bestellung #W0000001 ist storniert."),
        "{said:?}"
    );
    // English stays English, and an unknown locale is the default.
    assert_eq!(
        engine
            .in_locale("fr")
            .flows()
            .wording()
            .say("greeting", &[]),
        "Hi! How can I help?"
    );
    assert_eq!(
        engine
            .in_locale("es-MX")
            .flows()
            .wording()
            .say("greeting", &[]),
        "¡Hola! ¿En qué puedo ayudarle?"
    );
}

#[test]
fn offers_are_labelled_in_the_customers_language() {
    let engine = Engine::new(Arc::new(common::demo_flows())).in_locale("es");
    let (mut stack, mut b, env) = (vec![], Backend::new(), env(Some("ada@example.com")));
    let (said, _) = turn(
        &engine,
        &mut stack,
        vec![start("order_status")],
        &mut b,
        &env,
    );
    let text = said.join("\n");
    assert!(text.contains("¿Sobre qué pedido quiere saber?"), "{text}");
    assert!(
        text.contains("#W0000002: Yoga Mat, entregado, pedido el"),
        "{text}"
    );
    assert!(!text.contains("placed"), "{text}");
}

fn start_on(flow: &str, part: &str) -> Command {
    Command::StartFlow {
        flow_id: flow.into(),
        part: Some(part.into()),
    }
}

/// The demo flows, Ada's backend and the message "Cancel the kettle order, and where is my
/// desk lamp?".
fn two_requests_setup() -> (Engine, Backend, Env) {
    let env = Env {
        message: "Cancel the kettle order, and where is my desk lamp?".into(),
        ..env(Some("ada@example.com"))
    };
    (
        Engine::new(Arc::new(common::demo_flows())),
        Backend::new(),
        env,
    )
}

/// The two starts understood from that message, the first asked for last (on top).
fn two_requests(engine: &Engine, b: &mut Backend, env: &Env) -> (Vec<FlowFrame>, Vec<String>) {
    let mut stack = vec![];
    let (said, _) = turn(
        engine,
        &mut stack,
        vec![
            start_on("order_status", "where is my desk lamp?"),
            start_on("cancel_order", "Cancel the kettle order"),
        ],
        b,
        env,
    );
    (stack, said)
}

#[test]
fn two_requests_in_one_message_run_one_after_the_other_each_on_its_own_words() {
    let (engine, mut b, env) = two_requests_setup();
    let (mut stack, said) = two_requests(&engine, &mut b, &env);
    assert_eq!(said[0], "I'll check where an order is right after this.");
    // The cancellation reads only its own words: the kettle's order, not the lamp's.
    assert!(said[1].contains("#W0000005"), "{said:?}");
    assert!(!said[1].contains("#W0000001"), "{said:?}");
    assert_eq!(stack.len(), 2);
    assert!(stack[0].queued && stack[0].interrupted);
    assert_eq!(stack[1].flow_id, "cancel_order");

    // "yes, that one" to the proposal.
    turn(
        &engine,
        &mut stack,
        vec![set("order_id", json!("#W0000005"))],
        &mut b,
        &env,
    );
    turn(
        &engine,
        &mut stack,
        vec![set("reason", json!("by mistake"))],
        &mut b,
        &env,
    );
    let (said, effects) = turn(
        &engine,
        &mut stack,
        vec![set("confirmation", json!(true))],
        &mut b,
        &env,
    );
    assert_eq!(writes(&b).len(), 1);
    assert_eq!(writes(&b)[0].args["order_id"], "#W0000005");
    assert!(effects.contains(&Effect::FlowEnded {
        flow_id: "cancel_order".into(),
        outcome: Outcome::Resolved
    }));
    // Then the other request, introduced as such, on its own words: the lamp's order.
    let next = said
        .iter()
        .position(|s| s == "Now, your other request: check where an order is.")
        .unwrap_or_else(|| panic!("{said:?}"));
    assert!(said[next + 1].contains("#W0000001"), "{said:?}");
    assert!(!said[next + 1].contains("#W0000005"), "{said:?}");
    assert_eq!(stack.len(), 1);
    assert!(!stack[0].queued);
}

#[test]
fn stopping_the_first_of_two_requests_goes_on_to_the_other() {
    let (engine, mut b, env) = two_requests_setup();
    let (mut stack, _) = two_requests(&engine, &mut b, &env);
    let (said, _) = turn(&engine, &mut stack, vec![Command::CancelFlow], &mut b, &env);
    assert_eq!(
        said[0],
        "Okay, I've stopped: cancel an order that hasn't shipped yet."
    );
    assert_eq!(said[1], "Now, your other request: check where an order is.");
    assert!(said[2].contains("#W0000001"), "{said:?}");
    assert!(writes(&b).is_empty());
    assert_eq!(stack.len(), 1);
    assert_eq!(stack[0].flow_id, "order_status");
}
