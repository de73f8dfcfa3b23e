//! The escalation eval (`evals/escalation/conversations.yaml`) on the real parts: the local
//! understanding (all-MiniLM-L6-v2), the demo knowledge base in an embedded qdrant-edge shard,
//! the demo shop and SQLite. Reports precision and recall per trigger and the summaries'
//! context-transfer completeness, and holds them to the issue's targets; plus one scripted
//! handoff whose summary is checked field by field.

use async_trait::async_trait;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use frontline_agent::{Agent, AgentConfig, EscalationSettings};
use frontline_domain::{
    ActionBackend, ActionCall, ActionError, ActionSpec, Channel, ConversationStatus,
    EscalationSummary, EscalationTrigger, Event, EventKind, Identity, IdentityKind, InboundMessage,
    NormalizeOptions, Timestamp,
};
use frontline_escalation::{completeness, EscalationPolicy};
use frontline_flows::{Engine, FlowSet};
use frontline_knowledge::{EdgeIndex, Embedder, KnowledgeBase, KnowledgeSettings, MiniLm};
use frontline_shop::seed::SeedOptions;
use frontline_shop::Shop;
use frontline_store::testing::sqlite;
use frontline_understanding::local::LocalSettings;
use frontline_understanding::{LocalUnderstanding, Understanding};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

const ADA: &str = "email:ada.lovelace1000@example.com";

#[derive(Deserialize)]
struct Suite {
    vip: Vec<String>,
    vip_tiers: Vec<String>,
    conversations: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    expect: String,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    outage: Vec<String>,
    turns: Vec<Turn>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Turn {
    Text(String),
    Full {
        text: String,
        #[serde(default)]
        channel: Option<Channel>,
        #[serde(default)]
        after_days: i64,
    },
}

/// The shop, with some actions failing as in an outage.
struct Outage {
    shop: Shop,
    down: Vec<String>,
}

#[async_trait]
impl ActionBackend for Outage {
    fn catalog(&self) -> Vec<ActionSpec> {
        self.shop.catalog()
    }

    async fn execute(&self, call: &ActionCall) -> Result<serde_json::Value, ActionError> {
        if self.down.contains(&call.name) {
            return Err(ActionError::Backend {
                message: format!("{} is unreachable (connection refused)", call.name),
            });
        }
        self.shop.execute(call).await
    }
}

/// What the suite's conversations share: flows, understanding, knowledge, a seeded shop file.
struct Parts {
    flows: Arc<FlowSet>,
    understanding: Arc<dyn Understanding>,
    kb: Arc<KnowledgeBase>,
    shop_data: frontline_shop::ShopData,
    _dir: tempfile::TempDir,
}

async fn parts() -> Parts {
    let dir = tempfile::tempdir().unwrap();
    let flows =
        Arc::new(FlowSet::load(&repo("flows"), &frontline_shop::actions::catalog()).unwrap());
    let shop = Shop::open(&dir.path().join("shop-template.db"))
        .await
        .unwrap();
    shop.seed_if_empty(&SeedOptions::demo(
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
    ))
    .await
    .unwrap();
    let shop_data = shop.export().await.unwrap();
    let model: Arc<dyn Embedder> = Arc::new(
        MiniLm::load(&MiniLm::default_dir()).expect("model installed by scripts/model.sh"),
    );
    let index = EdgeIndex::open(&dir.path().join("index"), 384).unwrap();
    let kb = Arc::new(KnowledgeBase::new(
        model.clone(),
        Arc::new(index),
        KnowledgeSettings::default(),
    ));
    kb.ingest(&repo("knowledge"), &|_| {}).await.unwrap();
    let understanding = Arc::new(
        LocalUnderstanding::build(flows.clone(), model, LocalSettings::default())
            .await
            .unwrap()
            .with_knowledge(kb.clone()),
    );
    Parts {
        flows,
        understanding,
        kb,
        shop_data,
        _dir: dir,
    }
}

fn start() -> Timestamp {
    // Monday 10:00 UTC: the team is working.
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap()
}

struct Run {
    escalated: Option<EscalationSummary>,
    events: Vec<Event>,
    replies: Vec<String>,
}

async fn run_case(parts: &Parts, settings: &EscalationSettings, case: &Case) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::open(&dir.path().join("shop.db")).await.unwrap();
    shop.load(&parts.shop_data).await.unwrap();
    let db = sqlite().await;
    let now = Arc::new(Mutex::new(start()));
    let clock = now.clone();
    let agent = Agent::new(
        db.store.clone(),
        parts.understanding.clone(),
        Arc::new(Outage {
            shop,
            down: case.outage.clone(),
        }),
        Engine::new(parts.flows.clone()),
        AgentConfig::default(),
    )
    .with_knowledge(parts.kb.clone())
    .with_escalation(settings.clone())
    .with_clock(Arc::new(move || *clock.lock().unwrap()));
    let (kind, value) = case
        .customer
        .as_deref()
        .unwrap_or(ADA)
        .split_once(':')
        .unwrap();
    let kind = match kind {
        "email" => IdentityKind::Email,
        "phone" => IdentityKind::Phone,
        other => panic!("{}: unknown identity kind {other}", case.name),
    };
    let email = Identity::parse(kind, value, &NormalizeOptions::default()).unwrap();
    let mut replies = vec![];
    let mut conversation = None;
    for (i, turn) in case.turns.iter().enumerate() {
        let (text, channel, after_days) = match turn {
            Turn::Text(text) => (text.clone(), Channel::WebChat, 0),
            Turn::Full {
                text,
                channel,
                after_days,
            } => (
                text.clone(),
                channel.unwrap_or(Channel::WebChat),
                *after_days,
            ),
        };
        let received_at = {
            let mut now = now.lock().unwrap();
            *now += Duration::days(after_days) + Duration::minutes(1);
            *now
        };
        let sender = match channel {
            Channel::Sms | Channel::Whatsapp => Identity::parse(
                IdentityKind::Phone,
                "+13035550100",
                &NormalizeOptions::default(),
            )
            .unwrap(),
            _ => email.clone(),
        };
        let sender = if channel == Channel::Whatsapp {
            Identity {
                kind: IdentityKind::Whatsapp,
                value: sender.value,
            }
        } else {
            sender
        };
        let outcome = agent
            .handle(InboundMessage {
                channel,
                channel_message_id: format!("{}-{i}", case.name),
                sender,
                also_known_as: if channel == Channel::Email {
                    vec![]
                } else {
                    vec![email.clone()]
                },
                display_name: None,
                text,
                received_at,
                conversation_hint: None,
                thread: Default::default(),
            })
            .await
            .unwrap_or_else(|e| panic!("{}: turn {i} failed: {e}", case.name));
        replies.extend(outcome.replies.iter().map(|r| r.text.clone()));
        conversation = Some(outcome.conversation_id);
        if outcome.status == ConversationStatus::HandedOff {
            break;
        }
    }
    let events = db.store.events(conversation.unwrap()).await.unwrap();
    let escalated = events.iter().find_map(|e| match &e.kind {
        EventKind::Escalated { summary } => Some((**summary).clone()),
        _ => None,
    });
    db.cleanup().await;
    Run {
        escalated,
        events,
        replies,
    }
}

fn settings(suite: &Suite) -> EscalationSettings {
    let mut policy = EscalationPolicy::default();
    policy.vip.identities = suite.vip.clone();
    policy.vip.to_human_on_tiers = suite.vip_tiers.clone();
    EscalationSettings {
        policy,
        ..EscalationSettings::default()
    }
}

#[tokio::test]
async fn escalation_eval_meets_its_targets() {
    let suite: Suite = serde_norway::from_str(
        &std::fs::read_to_string(repo("evals/escalation/conversations.yaml")).unwrap(),
    )
    .unwrap();
    let parts = parts().await;
    let settings = settings(&suite);
    // expected → predicted counts, per trigger.
    let mut tp: BTreeMap<String, usize> = BTreeMap::new();
    let mut predicted: BTreeMap<String, usize> = BTreeMap::new();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    let (mut complete, mut handoffs, mut happy_escalations) = (0.0, 0, vec![]);
    let mut misses = vec![];
    for case in &suite.conversations {
        let run = run_case(&parts, &settings, case).await;
        let got = run
            .escalated
            .as_ref()
            .map(|s| s.trigger.code().to_string())
            .unwrap_or_else(|| "none".into());
        *expected.entry(case.expect.clone()).or_default() += 1;
        *predicted.entry(got.clone()).or_default() += 1;
        if got == case.expect {
            *tp.entry(got.clone()).or_default() += 1;
        } else {
            misses.push(format!(
                "{}: expected {}, got {got} ({}); replies: {:?}",
                case.name,
                case.expect,
                run.escalated
                    .as_ref()
                    .map(|s| s.reason.as_str())
                    .unwrap_or("-"),
                run.replies
            ));
        }
        if case.expect == "none" && got != "none" {
            happy_escalations.push(case.name.clone());
        }
        if let Some(summary) = &run.escalated {
            let upto: Vec<Event> = run
                .events
                .iter()
                .take_while(|e| !matches!(e.kind, EventKind::Escalated { .. }))
                .cloned()
                .collect();
            let c = completeness(summary, &upto);
            assert!(
                c.ratio() == 1.0,
                "{}: summary fields without evidence: {:?}",
                case.name,
                c.missing()
            );
            complete += c.ratio();
            handoffs += 1;
            frontline_escalation::validate_summary(summary)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
            // Never "I can't help": who, where, when.
            let told = &summary.customer_was_told;
            assert!(
                told.contains("member of our team") && told.contains("won't need to repeat"),
                "{}: {told}",
                case.name
            );
        }
    }
    println!(
        "escalation eval: {} conversations",
        suite.conversations.len()
    );
    for trigger in EscalationTrigger::ALL.iter().map(|t| t.code()) {
        let t = tp.get(trigger).copied().unwrap_or(0) as f64;
        let p = predicted.get(trigger).copied().unwrap_or(0) as f64;
        let e = expected.get(trigger).copied().unwrap_or(0) as f64;
        let precision = if p == 0.0 { 1.0 } else { t / p };
        let recall = if e == 0.0 { 1.0 } else { t / e };
        println!("  {trigger:<20} n={e:<3} precision {precision:.3}  recall {recall:.3}");
        assert!(e >= 5.0, "{trigger}: at least 5 conversations, got {e}");
        assert!(
            precision >= 0.9 && recall >= 0.9,
            "{trigger}: precision {precision:.3}, recall {recall:.3}; misses:\n{}",
            misses.join("\n")
        );
    }
    let happy = expected.get("none").copied().unwrap_or(0);
    println!(
        "  happy paths          n={happy:<3} escalated {}",
        happy_escalations.len()
    );
    println!(
        "  context transfer completeness: {:.3} over {handoffs} handoffs",
        complete / handoffs.max(1) as f64
    );
    for miss in &misses {
        println!("    miss: {miss}");
    }
    assert!(happy >= 30, "at least 30 happy paths, got {happy}");
    assert!(
        happy_escalations.is_empty(),
        "happy paths escalated: {happy_escalations:?}; misses:\n{}",
        misses.join("\n")
    );
}

#[tokio::test]
async fn a_summary_answers_who_what_what_was_tried_why_and_what_next_without_the_transcript() {
    let parts = parts().await;
    let case = Case {
        name: "scripted".into(),
        expect: "negative_sentiment".into(),
        customer: None,
        outage: vec![],
        turns: vec![
            Turn::Text("how long do refunds take?".into()),
            Turn::Text("I want to cancel order #W0000001".into()),
            Turn::Full {
                text: "I have been waiting all day, this is ridiculous and I am furious".into(),
                channel: Some(Channel::Email),
                after_days: 0,
            },
        ],
    };
    let run = run_case(&parts, &EscalationSettings::default(), &case).await;
    let s = run.escalated.expect("handed off");
    // Who.
    let ids: Vec<String> = s
        .customer
        .identities
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert!(ids.contains(&ADA.to_string()), "{ids:?}");
    assert_eq!(s.customer.locale.as_deref(), Some("en"));
    assert!(!s.customer.vip);
    assert_eq!(s.channels_used, [Channel::WebChat, Channel::Email]);
    assert_eq!(s.current_channel, Channel::Email);
    // What.
    assert!(
        s.issue_statement.contains("how long do refunds take?"),
        "{}",
        s.issue_statement
    );
    let flow = s.flow.as_ref().expect("the cancellation in progress");
    assert_eq!(flow.flow_id, "cancel_order");
    assert_eq!(flow.slots["order_id"], "#W0000001");
    assert_eq!(s.tier.as_deref(), Some("transactional"));
    // What was tried.
    assert!(
        s.actions_taken
            .iter()
            .any(|a| a.name == "get_order_details" && a.outcome == "ok"),
        "{:?}",
        s.actions_taken
    );
    assert!(
        !s.knowledge_shown.is_empty(),
        "the refund article was shown"
    );
    assert_eq!(s.sentiment_trajectory.len(), 3);
    assert!(s.sentiment_trajectory[2] <= -0.6);
    // Why.
    assert_eq!(s.trigger, EscalationTrigger::NegativeSentiment);
    assert!(s.reason.contains("upset"), "{}", s.reason);
    assert!(
        s.customer_was_told.contains("by email, in this thread"),
        "{}",
        s.customer_was_told
    );
    assert_eq!(run.replies.last().unwrap(), &s.customer_was_told);
    // What next, and where to look.
    assert!(s.suggested_next_step.contains("frustration"));
    assert!(s.suggested_next_step.contains("cancel_order"));
    assert_eq!(s.routing.queue.as_deref(), Some("support"));
    assert_eq!(s.routing.priority, frontline_domain::Priority::High);
    assert_eq!(
        s.transcript_url,
        format!("/v1/conversations/{}", s.conversation_id)
    );
    let note = frontline_escalation::render_note(&s);
    assert!(note.contains("`cancel_order` at step"), "{note}");
}
