//! Property test: whatever the customer says and whatever the backend answers, the engine never
//! panics, never acts on or discloses an account whose owner was not proven (by the channel or
//! a right one-time code), and never issues a write action unless the customer said yes to its
//! confirmation and the flow's policy holds for the data the backend actually returned.

use chrono::NaiveDate;
use frontline_domain::{ActionError, Channel, Command, ScoredCommand, SmallTalk};
use frontline_flows::{Effect, Engine, Env, Input};

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::common;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new(Arc::new(common::demo_flows())))
}

fn command() -> impl Strategy<Value = Command> {
    let flows = prop::sample::select(vec![
        "order_status",
        "cancel_order",
        "change_shipping_address",
        "cancel_subscription",
        "return_items",
        "exchange_items",
        "authenticate",
        "nope",
    ]);
    let slot = prop::sample::select(vec![
        ("order_id", json!("#W0000001")),
        ("order_id", json!("W0000002")),
        ("order_id", json!("#W0000009")),
        ("order_id", json!("junk")),
        ("reason", json!("by mistake")),
        ("reason", json!("too pricey")),
        ("confirmation", json!(true)),
        ("confirmation", json!("yes")),
        ("confirmation", json!(false)),
        ("confirmation", json!("maybe")),
        ("email", json!("ada@example.com")),
        ("email", json!("not an email")),
        ("address1", json!("1 Main St")),
        ("address2", json!("none")),
        ("city", json!("Austin")),
        ("state", json!("tx")),
        ("zip", json!("73301")),
        ("zip", json!("7")),
        ("subscription_id", json!("SUB-1000")),
        ("subscription_id", json!("SUB-1003")),
        ("item_ids", json!("all of them")),
        ("item_ids", json!(["111"])),
        ("refund_to", json!("gift card")),
        ("refund_to", json!("card")),
        ("verification_code", json!("123456")),
        ("verification_code", json!("000000")),
    ]);
    prop_oneof![
        4 => flows.prop_map(Command::start_flow),
        8 => slot.prop_map(|(n, v)| Command::SetSlot { name: n.into(), value: v }),
        1 => Just(Command::CancelFlow),
        1 => Just(Command::HumanHandoff { reason: "asked".into() }),
        1 => Just(Command::ChitChat { topic: SmallTalk::Thanks }),
        1 => Just(Command::CannotHandle { reason: "?".into() }),
        1 => Just(Command::Clarify { options: vec!["cancel_order".into(), "order_status".into()] }),
    ]
}

/// A plausible conversation for one flow, with invalid values and noise mixed in.
fn scenario() -> impl Strategy<Value = (Vec<Vec<Command>>, bool)> {
    let flows = prop::sample::select(vec![
        "cancel_order",
        "change_shipping_address",
        "cancel_subscription",
        "order_status",
        "return_items",
        "exchange_items",
    ]);
    (
        flows,
        prop::collection::vec(command(), 6),
        prop::collection::vec(any::<u8>(), 16),
        any::<bool>(),
    )
        .prop_map(|(flow, mut noise, choices, email_known)| {
            let slots: &[(&str, Value, Value)] = match flow {
                "cancel_order" => &[
                    ("order_id", json!("#W0000001"), json!("junk")),
                    ("reason", json!("by mistake"), json!("too pricey")),
                ],
                "change_shipping_address" => &[
                    ("order_id", json!("#W0000001"), json!("junk")),
                    ("address1", json!("1 Main St"), json!("")),
                    ("address2", json!("none"), json!("")),
                    ("city", json!("Austin"), json!("")),
                    ("state", json!("tx"), json!("1")),
                    ("zip", json!("73301"), json!("7")),
                ],
                "cancel_subscription" => &[
                    ("subscription_id", json!("SUB-1000"), json!("SUB-1003")),
                    ("reason", json!("moving"), json!("")),
                ],
                "return_items" => &[
                    ("order_id", json!("#W0000001"), json!("junk")),
                    ("item_ids", json!("all of them"), json!("the blender")),
                    ("refund_to", json!("gift card"), json!("bitcoin")),
                ],
                "exchange_items" => &[
                    ("order_id", json!("#W0000001"), json!("junk")),
                    ("item_ids", json!("the yoga mat"), json!("all of them")),
                    ("new_item", json!("blue L"), json!("green")),
                ],
                _ => &[("order_id", json!("#W0000002"), json!("junk"))],
            };
            let mut choice = choices.into_iter().cycle();
            let mut turns = vec![vec![Command::start_flow(flow)]];
            if !email_known {
                turns.push(vec![Command::SetSlot {
                    name: "email".into(),
                    value: json!("ada@example.com"),
                }]);
                // The code the account's email received, or a wrong guess first.
                if choice.next().unwrap() % 3 == 0 {
                    turns.push(vec![Command::SetSlot {
                        name: "verification_code".into(),
                        value: json!("000000"),
                    }]);
                }
                turns.push(vec![Command::SetSlot {
                    name: "verification_code".into(),
                    value: json!("123456"),
                }]);
            }
            for (name, valid, invalid) in slots {
                let c = choice.next().unwrap();
                let value = if c % 5 == 0 {
                    invalid.clone()
                } else {
                    valid.clone()
                };
                turns.push(vec![Command::SetSlot {
                    name: name.to_string(),
                    value,
                }]);
                if c % 7 == 0 {
                    if let Some(n) = noise.pop() {
                        turns.push(vec![n]);
                    }
                }
            }
            let answer = match choice.next().unwrap() % 5 {
                0 => json!(false),
                1 => json!("maybe"),
                _ => json!("yes"),
            };
            turns.push(vec![Command::SetSlot {
                name: "confirmation".into(),
                value: answer,
            }]);
            turns.push(vec![Command::SetSlot {
                name: "confirmation".into(),
                value: json!(true),
            }]);
            (turns, email_known)
        })
}

/// A backend answer for `action`, chosen by `pick`.
fn outcome(action: &str, pick: u8) -> Result<Value, ActionError> {
    let backend = || {
        Err(ActionError::Backend {
            message: "down".into(),
        })
    };
    match action {
        // Sent, mostly; now and then refused (rate limited) or failing.
        "verification.send" => match pick % 8 {
            0 => Ok(json!({"sent": false, "message": "Too many codes."})),
            1 => backend(),
            _ => Ok(json!({"sent": true})),
        },
        "find_user_id_by_email" | "find_user_id_by_phone" => match pick % 4 {
            0 => Err(ActionError::NotFound {
                what: "customer".into(),
            }),
            1 => backend(),
            _ => Ok(json!("ada_1")),
        },
        "get_order_details" => {
            if pick.is_multiple_of(7) {
                return Err(ActionError::NotFound {
                    what: "order".into(),
                });
            }
            let status = [
                "pending",
                "processed",
                "delivered",
                "cancelled",
                "pending (item modified)",
            ][(pick / 7 % 5) as usize];
            // Independent bits of `pick` for each property of the order.
            let user = if pick & 0x60 == 0x60 {
                "bob_2"
            } else {
                "ada_1"
            };
            let status = if pick & 0x10 == 0 {
                "delivered"
            } else {
                status
            };
            let delivered_on = if pick & 0x02 == 0 {
                "2026-11-15"
            } else {
                "2026-08-01"
            };
            let amount = if pick.is_multiple_of(13) {
                1500.0
            } else {
                10.0
            };
            Ok(
                json!({"order_id": "#W0000001", "user_id": user, "status": status, "delivered_on": delivered_on,
                      "items": [{"item_id": "111", "name": "Yoga Mat", "product_id": "P1", "price": 40.0, "options": {"color": "red", "size": "M"}},
                                {"item_id": "222", "name": "Lamp", "product_id": "P2", "price": 9.0, "options": {}}],
                      "payment_history": [{"amount": amount, "payment_method_id": "credit_card_1"}], "fulfillments": []}),
            )
        }
        "get_product_details" => Ok(json!({"product_id": "P1", "variants": {
            "111": {"options": {"color": "red", "size": "M"}, "available": true, "price": 40.0},
            "112": {"options": {"color": "blue", "size": "L"}, "available": !pick.is_multiple_of(5), "price": 42.0}
        }})),
        "get_user_details" => Ok(if pick.is_multiple_of(2) {
            json!({"payment_methods": {"credit_card_1": {"source": "credit_card"}, "gift_card_2": {"source": "gift_card"}}})
        } else {
            json!({"payment_methods": {"credit_card_1": {"source": "credit_card"}}})
        }),
        "list_user_subscriptions" => Ok(if pick.is_multiple_of(2) {
            json!([{"subscription_id": "SUB-1000", "status": "active"}])
        } else {
            json!([{"subscription_id": "SUB-1000", "status": "cancelled"}])
        }),
        _ => match pick % 3 {
            0 => Err(ActionError::Refused {
                reason: "no".into(),
            }),
            1 => backend(),
            _ => Ok(json!({})),
        },
    }
}

static WRITES: AtomicUsize = AtomicUsize::new(0);
static WRITES_BY_KIND: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];
const WRITE_KINDS: [&str; 5] = [
    "cancel_pending_order",
    "modify_pending_order_address",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
    "cancel_subscription",
];
static REFUSED_POLICY: AtomicUsize = AtomicUsize::new(0);
static PROVEN_BY_CODE: AtomicUsize = AtomicUsize::new(0);
static OWNER_ONLY_CALLS: AtomicUsize = AtomicUsize::new(0);

/// The actions that act on or disclose an account (the demo shop's catalog says which).
fn owner_only(action: &str) -> bool {
    static OWNER_ONLY: OnceLock<Vec<String>> = OnceLock::new();
    OWNER_ONLY
        .get_or_init(|| {
            frontline_shop::actions::catalog()
                .into_iter()
                .filter(|a| a.owner_only)
                .map(|a| a.name)
                .collect()
        })
        .iter()
        .any(|a| a == action)
}

#[test]
fn no_write_without_confirmation_and_policy() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 20_000,
        ..ProptestConfig::default()
    });
    let random = (
        prop::collection::vec(prop::collection::vec(command(), 1..4), 1..14),
        any::<bool>(),
    );
    // Each write needs a run of lucky backend answers (the customer found, a pending order of
    // theirs, the shop accepting), so the rarest kinds land in well under 1% of cases. Scenarios
    // weigh three to one and the run is 20,000 cases (a few seconds), so that every kind is
    // seen dozens of times and the vacuity check below cannot fail by bad luck (at 5,000 cases
    // and one to one a run now and then saw no cancellation at all).
    let strategy = (
        prop_oneof![1 => random, 3 => scenario()],
        prop::collection::vec(any::<u8>(), 64),
    );
    runner
        .run(&strategy, |((turns, email_known), picks)| {
            check(turns, email_known, picks)
        })
        .unwrap();
    // The property is not vacuous: every kind of write happened, and so did policy refusals.
    let issued: Vec<(&str, usize)> = WRITE_KINDS
        .iter()
        .zip(&WRITES_BY_KIND)
        .map(|(kind, count)| (*kind, count.load(Ordering::Relaxed)))
        .collect();
    eprintln!("writes issued, by kind: {issued:?}");
    for (kind, count) in &issued {
        assert!(*count > 0, "no {kind} was ever issued ({issued:?})");
    }
    assert!(
        WRITES.load(Ordering::Relaxed) > 20,
        "only {} writes",
        WRITES.load(Ordering::Relaxed)
    );
    // Owners were proven both ways, and account actions ran often enough to judge.
    assert!(
        PROVEN_BY_CODE.load(Ordering::Relaxed) > 20,
        "only {} proven by a code",
        PROVEN_BY_CODE.load(Ordering::Relaxed)
    );
    assert!(OWNER_ONLY_CALLS.load(Ordering::Relaxed) > 100);
    assert!(
        REFUSED_POLICY.load(Ordering::Relaxed) > 20,
        "only {} refusals",
        REFUSED_POLICY.load(Ordering::Relaxed)
    );
}

fn check(turns: Vec<Vec<Command>>, email_known: bool, picks: Vec<u8>) -> Result<(), TestCaseError> {
    let engine = engine();
    let env = Env {
        today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        channel: Channel::Rest,
        // A known email is one the channel proved, with the account it is on.
        customer: json!({
            "email": if email_known { json!("ada@example.com") } else { Value::Null },
            "phone": null,
            "verified": email_known,
            "verified_accounts": if email_known { json!(["ada_1"]) } else { json!([]) },
        }),
        turn_id: "prop".into(),
        message: String::new(),
    };
    let mut stack = Vec::new();
    let mut picks = picks.into_iter().cycle();
    // What the customer and the backend have said, to judge each write.
    let (mut asked_confirmation, mut said_yes) = (false, false);
    let (mut user, mut order, mut subscriptions): (Option<Value>, Option<Value>, Option<Value>) =
        (None, None, None);
    // Accounts proven so far: by the channel, then by right codes.
    let mut proven: Vec<Value> = env.customer["verified_accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for commands in turns {
        if asked_confirmation {
            said_yes = commands.iter().any(|c| matches!(c, Command::SetSlot { name, value } if name == "confirmation" && (value == &json!(true) || value == &json!("yes"))));
        }
        let scored = commands
            .into_iter()
            .map(|c| ScoredCommand::new(c, 1.0))
            .collect();
        let mut effects = engine.advance(&mut stack, Input::Commands(scored), &env);
        loop {
            for e in &effects {
                if let Effect::Ask { slot, .. } = e {
                    asked_confirmation = slot == "confirmation";
                    said_yes = false;
                }
            }
            let Some(Effect::CallAction { call, write }) = effects.last().cloned() else {
                break;
            };
            if owner_only(&call.name) {
                OWNER_ONLY_CALLS.fetch_add(1, Ordering::Relaxed);
                let uid = user.clone().unwrap_or(Value::Null);
                prop_assert!(
                    proven.contains(&uid),
                    "{} for account {} whose owner was not proven ({:?})",
                    call.name,
                    uid,
                    proven
                );
            }
            if write {
                WRITES.fetch_add(1, Ordering::Relaxed);
                if let Some(i) = WRITE_KINDS.iter().position(|k| *k == call.name) {
                    WRITES_BY_KIND[i].fetch_add(1, Ordering::Relaxed);
                }
                prop_assert!(
                    said_yes,
                    "write {} without a yes to its confirmation",
                    call.name
                );
                prop_assert!(call.idempotency_key.is_some());
                let uid = user.clone().unwrap_or(Value::Null);
                match call.name.as_str() {
                    "cancel_pending_order" | "modify_pending_order_address" => {
                        let o = order.clone().expect("an order was looked up");
                        prop_assert_eq!(&o["user_id"], &uid, "acting on someone else's order");
                        let allowed: &[&str] = if call.name == "cancel_pending_order" {
                            &["pending"]
                        } else {
                            &["pending", "pending (item modified)"]
                        };
                        prop_assert!(
                            allowed.contains(&o["status"].as_str().unwrap()),
                            "{} on a {} order",
                            call.name,
                            o["status"]
                        );
                    }
                    "return_delivered_order_items" => {
                        let o = order.clone().expect("an order was looked up");
                        prop_assert_eq!(&o["user_id"], &uid, "returning someone else's order");
                        prop_assert_eq!(o["status"].as_str(), Some("delivered"));
                        prop_assert!(
                            o["delivered_on"] == "2026-11-15",
                            "outside the return window"
                        );
                        prop_assert!(
                            o["payment_history"][0]["amount"].as_f64().unwrap() <= 1000.0,
                            "over the automated refund limit"
                        );
                        let pm = call.args["payment_method_id"].as_str().unwrap();
                        prop_assert!(
                            pm == "credit_card_1" || pm.starts_with("gift_card"),
                            "refund to {}",
                            pm
                        );
                        prop_assert!(call.args["item_ids"]
                            .as_array()
                            .is_some_and(|a| !a.is_empty()));
                    }
                    "exchange_delivered_order_items" => {
                        let o = order.clone().expect("an order was looked up");
                        prop_assert_eq!(&o["user_id"], &uid, "exchanging someone else's order");
                        prop_assert_eq!(o["status"].as_str(), Some("delivered"));
                        prop_assert!(
                            o["delivered_on"] == "2026-11-15",
                            "outside the exchange window"
                        );
                        prop_assert_eq!(&call.args["item_ids"], &json!(["111"]));
                        prop_assert_eq!(
                            &call.args["new_item_ids"],
                            &json!(["112"]),
                            "only the available, different option"
                        );
                        prop_assert_eq!(&call.args["payment_method_id"], &json!("credit_card_1"));
                    }
                    "cancel_subscription" => {
                        let subs = subscriptions.clone().expect("subscriptions were listed");
                        let id = &call.args["subscription_id"];
                        prop_assert!(subs
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|s| &s["subscription_id"] == id && s["status"] != "cancelled"));
                    }
                    other => prop_assert!(false, "unexpected write {}", other),
                }
            }
            let result = match call.name.as_str() {
                // No account, no code to match: the agent says wrong to every code.
                "verification.check"
                    if call.args["code"] == "123456" && call.args["account"].is_string() =>
                {
                    PROVEN_BY_CODE.fetch_add(1, Ordering::Relaxed);
                    proven.push(call.args["account"].clone());
                    Ok(json!({"verified": true}))
                }
                "verification.check" => Ok(json!({"verified": false, "next": "retry"})),
                _ => outcome(&call.name, picks.next().unwrap()),
            };
            if let Ok(v) = &result {
                match call.name.as_str() {
                    "find_user_id_by_email" | "find_user_id_by_phone" => user = Some(v.clone()),
                    "get_order_details" => order = Some(v.clone()),
                    "list_user_subscriptions" => subscriptions = Some(v.clone()),
                    _ => {}
                }
            }
            effects = engine.advance(&mut stack, Input::ActionOutcome(result), &env);
            if effects.iter().any(|e| {
                matches!(
                    e,
                    Effect::FlowEnded {
                        outcome: frontline_flows::spec::Outcome::Failed,
                        ..
                    }
                )
            }) {
                REFUSED_POLICY.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Any text at all: an error or a flow, never a panic.
    #[test]
    fn the_loader_never_panics_on_arbitrary_text(text in "(?s).{0,300}") {
        let _ = frontline_flows::parse_flow(Path::new("x.yaml"), &text);
    }

    /// Real flow files with a slice cut out and junk spliced in: an error or a flow, never a panic,
    /// and every error names a line inside the file.
    #[test]
    fn the_loader_never_panics_on_damaged_flows(start in 0usize..2000, len in 0usize..60, junk in "[-:{}\\[\\]#'\" \\n\\ta-z0-9]{0,12}") {
        let original = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows/cancel_order.yaml")).unwrap();
        let mut chars: Vec<char> = original.chars().collect();
        let start = start.min(chars.len());
        let end = (start + len).min(chars.len());
        chars.splice(start..end, junk.chars());
        let damaged: String = chars.into_iter().collect();
        if let Err(diagnostics) = frontline_flows::parse_flow(Path::new("cancel_order.yaml"), &damaged) {
            let lines = damaged.lines().count().max(1) + 1;
            for d in diagnostics {
                prop_assert!(d.position.line >= 1 && d.position.line <= lines, "{d} (file has {lines} lines)");
            }
        }
    }
}
