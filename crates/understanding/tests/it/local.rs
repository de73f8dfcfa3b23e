//! The local understanding on the demo flows and knowledge base: the routing set
//! (`evals/understanding/routing.yaml`) with the shipped thresholds, calibration on it, and the
//! behaviours a conversation relies on.

use crate::common;

use frontline_domain::{Channel, Command, SmallTalk};
use frontline_knowledge::{EdgeIndex, KnowledgeBase, KnowledgeSettings};
use frontline_understanding::eval::{
    calibrate_local, evaluate_openings, evaluate_routing, is_held_out, load_routing_set,
    route_accuracy, routed_cases,
};
use frontline_understanding::local::LocalSettings;
use frontline_understanding::{
    ActiveFlow, DialogueContext, KnowledgeProbe, LocalUnderstanding, Understanding,
};
use serde_json::{json, Value};
use std::sync::Arc;

fn today() -> chrono::NaiveDate {
    "2026-11-21".parse().unwrap()
}

fn context(flow: Option<(&str, &str)>) -> DialogueContext {
    DialogueContext {
        channel: Channel::WebChat,
        active_flow: flow.map(|(id, slot)| ActiveFlow {
            flow_id: id.into(),
            requested_slot: Some(slot.into()),
            slots: Default::default(),
            ..Default::default()
        }),
        recent: vec![],
        today: today(),
        offered_flows: vec![],
        language: None,
    }
}

async fn demo_knowledge(dir: &std::path::Path) -> Arc<KnowledgeBase> {
    let index = EdgeIndex::open(dir, 384).unwrap();
    let kb = KnowledgeBase::new(
        common::minilm(),
        Arc::new(index),
        KnowledgeSettings::default(),
    );
    kb.ingest(&common::repo().join("knowledge"), &|_| {})
        .await
        .unwrap();
    Arc::new(kb)
}

/// The local understanding of the demo flows, weighing the demo knowledge base (indexed in
/// `dir`).
async fn with_demo_knowledge(dir: &std::path::Path) -> LocalUnderstanding {
    LocalUnderstanding::build(
        common::flows("flows"),
        common::minilm(),
        LocalSettings::default(),
    )
    .await
    .unwrap()
    .with_knowledge(demo_knowledge(dir).await)
}

#[tokio::test]
async fn the_demo_routing_set_is_routed_right_with_the_shipped_thresholds() {
    let index = tempfile::tempdir().unwrap();
    let kb = demo_knowledge(index.path()).await;
    let flows = common::flows("flows");
    let local = LocalUnderstanding::build(flows, common::minilm(), LocalSettings::default())
        .await
        .unwrap()
        .with_knowledge(kb.clone());
    let cases = load_routing_set(&common::repo().join("evals/understanding/routing.yaml")).unwrap();
    let report = evaluate_routing(&local, &cases, today()).await.unwrap();
    println!("{report}");
    for failure in &report.failures {
        println!("  {failure}");
    }
    assert!(
        report.accuracy >= 0.90,
        "routing accuracy {:.3}",
        report.accuracy
    );
    // Out-of-scope messages are never sent to a flow.
    let (right, total) = report.by_label["none"];
    assert!(
        right as f64 / total as f64 >= 0.8,
        "out of scope {right}/{total}"
    );

    // Calibration on the same set finds settings at least as good, and the shipped ones are
    // within a few points of them.
    let data = routed_cases(&local, Some(kb.as_ref() as &dyn KnowledgeProbe), &cases)
        .await
        .unwrap();
    let (calibrated, accuracy) = calibrate_local(&data, LocalSettings::default());
    println!("calibrated: {calibrated:?} → {accuracy:.3}");
    let shipped = route_accuracy(&data, &LocalSettings::default());
    assert!(accuracy >= shipped);
    assert!(
        shipped >= accuracy - 0.04,
        "shipped {shipped:.3} vs calibrated {accuracy:.3}"
    );
}

#[tokio::test]
async fn flows_start_with_their_slots_and_enums_match_paraphrases() {
    let flows = common::flows("flows");
    let local = LocalUnderstanding::build(flows, common::minilm(), LocalSettings::default())
        .await
        .unwrap();
    let commands = |message: &'static str, ctx: DialogueContext| {
        let local = &local;
        async move {
            local
                .understand(message, &ctx)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.command)
                .collect::<Vec<_>>()
        }
    };
    // A bare email address, when one is asked for, is the answer, even though the router finds
    // it closest to "a person, please" (found by the web chat's browser test).
    assert_eq!(
        commands(
            "ada.lovelace1000@example.com",
            context(Some(("authenticate", "email")))
        )
        .await,
        [Command::SetSlot {
            name: "email".into(),
            value: json!("ada.lovelace1000@example.com")
        }]
    );
    // Wording no example has, with the order id it carries.
    assert_eq!(
        commands(
            "could you tell me what's happening with #W0000002, it hasn't come",
            context(None)
        )
        .await,
        [
            Command::start_flow("order_status"),
            Command::SetSlot {
                name: "order_id".into(),
                value: json!("#W0000002")
            },
        ]
    );
    let hand_back = commands(
        "I'd like to hand back these trainers and get my money",
        context(None),
    )
    .await;
    // Shoes are now often exchanged in the openings the router learned from, so a pair handed
    // back goes to a return or an exchange (asking which is right too); both fix it.
    assert!(
        matches!(&hand_back[..], [Command::StartFlow { flow_id, .. }]
            if flow_id == "return_items" || flow_id == "exchange_items")
            || matches!(&hand_back[..], [Command::Clarify { options }]
                if options.contains(&"return_items".to_string())),
        "{hand_back:?}"
    );
    // Built-in intents in words the patterns don't know.
    assert!(matches!(
        commands(
            "is there an actual person I could chat with?",
            context(None)
        )
        .await[..],
        [Command::HumanHandoff { .. }]
    ));
    assert_eq!(
        commands("good evening", context(None)).await,
        [Command::ChitChat {
            topic: SmallTalk::Greeting
        }]
    );
    // An enum answer in the customer's own words.
    assert_eq!(
        commands(
            "just put it back on my credit card",
            context(Some(("return_items", "refund_to")))
        )
        .await,
        [Command::SetSlot {
            name: "refund_to".into(),
            value: Value::String("original payment method".into())
        }]
    );
    // Out of scope stays out.
    assert!(matches!(
        commands("what's the capital of Peru?", context(None)).await[..],
        [Command::CannotHandle { .. }]
    ));
}

#[tokio::test]
async fn a_question_while_a_free_text_slot_is_asked_goes_to_the_knowledge_base() {
    let index = tempfile::tempdir().unwrap();
    let local = with_demo_knowledge(index.path()).await;
    let ctx = context(Some(("change_shipping_address", "city")));
    let asked = local
        .understand("how long does standard shipping take?", &ctx)
        .await
        .unwrap();
    assert!(
        matches!(asked[..], [ref c] if matches!(c.command, Command::AnswerFromKnowledge { .. })),
        "{asked:?}"
    );
    let answered = local.understand("Springfield", &ctx).await.unwrap();
    assert_eq!(
        answered.into_iter().map(|c| c.command).collect::<Vec<_>>(),
        [Command::SetSlot {
            name: "city".into(),
            value: json!("Springfield")
        }]
    );
}

/// The realistic openings (`evals/understanding/openings.yaml`): at least 40 per flow in
/// customers' words plus negatives; the calibration half is in the flows' examples word for
/// word and the held-out half nowhere in them; on the held-out half, flows are reached and
/// negatives stay out of them.
#[tokio::test]
async fn realistic_openings_reach_their_flow_on_the_held_out_half() {
    let cases =
        load_routing_set(&common::repo().join("evals/understanding/openings.yaml")).unwrap();
    let flows = common::flows("flows");
    let ids: Vec<String> = flows.iter().map(|f| f.spec.id.clone()).collect();
    let examples: std::collections::BTreeSet<&str> = flows
        .iter()
        .flat_map(|f| f.spec.examples.iter().map(String::as_str))
        .collect();
    for id in ids.iter().filter(|id| {
        flows.get(id).is_some_and(|f| {
            f.spec.starts == frontline_flows::spec::Starts::Customer && !id.starts_with("pattern_")
        })
    }) {
        let n = cases.iter().filter(|c| c.accepts(id)).count();
        assert!(n >= 40, "{id}: {n} openings");
    }
    for case in &cases {
        let in_flows = examples.contains(case.message.as_str());
        let for_a_flow = ids.iter().any(|id| case.accepts(id));
        if is_held_out(&case.message) {
            assert!(
                !in_flows,
                "held out, yet a flow example: {:?}",
                case.message
            );
        } else if for_a_flow {
            assert!(
                in_flows,
                "calibration half, not in the flows' examples: {:?}",
                case.message
            );
        }
    }
    let index = tempfile::tempdir().unwrap();
    let kb = demo_knowledge(index.path()).await;
    let local = LocalUnderstanding::build(flows, common::minilm(), LocalSettings::default())
        .await
        .unwrap()
        .with_knowledge(kb);
    let report = evaluate_openings(&local, &cases, &ids, today())
        .await
        .unwrap();
    println!("{report}");
    for failure in &report.routing.failures {
        println!("  {failure}");
    }
    assert!(
        report.flow_cases >= 100 && report.negatives >= 15,
        "{report}"
    );
    assert!(report.flow_accuracy >= FLOW_FLOOR, "{report}");
    assert!(report.false_start_rate <= FALSE_START_CEILING, "{report}");
}

/// Floors for the held-out openings, set from the first measurement (see the closing note).
const FLOW_FLOOR: f64 = 0.80;
const FALSE_START_CEILING: f64 = 0.15;

/// Two requests in one message start both flows, each on its own words, the one asked first
/// on top; a request and a question start the flow and answer the question.
#[tokio::test]
async fn two_requests_in_one_message_start_both_flows_each_on_its_own_words() {
    let index = tempfile::tempdir().unwrap();
    let local = with_demo_knowledge(index.path()).await;
    let commands = |message: &'static str| {
        let local = &local;
        async move {
            local
                .understand(message, &context(None))
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.command)
                .collect::<Vec<_>>()
        }
    };
    let starts = |commands: &[Command]| {
        commands
            .iter()
            .filter_map(|c| match c {
                Command::StartFlow { flow_id, part } => Some((flow_id.clone(), part.clone())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let both = commands("I need to cancel the kettle order. Also where is my desk lamp?").await;
    assert_eq!(
        starts(&both),
        [
            (
                "order_status".to_string(),
                Some("where is my desk lamp?".to_string())
            ),
            (
                "cancel_order".to_string(),
                Some("I need to cancel the kettle order".to_string())
            ),
        ],
        "{both:?}"
    );
    // One request and a question: the flow (on the whole message, which the question may
    // name things in), and the answer.
    let asked = commands(
        "Please start a return for the office chair, and do you cover the return postage?",
    )
    .await;
    assert_eq!(
        starts(&asked),
        [("return_items".to_string(), None)],
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|c| matches!(c, Command::AnswerFromKnowledge { .. })),
        "{asked:?}"
    );
    // One request alone is started on the whole message, as ever.
    assert_eq!(
        starts(&commands("I want to return the yoga mats").await),
        [("return_items".to_string(), None)]
    );
}
