//! The channel evals of `evals/channels/journeys.yaml`: continuity (a customer switching
//! channels mid-issue is never asked again for what the conversation has) and consistency (a
//! scenario makes the same decisions on every channel). Both through the real webhooks.

use crate::common;

use common::{sqlite_server, Customer, Server};
use frontline_domain::{Channel, ConversationId, EventKind};
use serde::Deserialize;
use std::collections::BTreeSet;

#[derive(Deserialize)]
struct Suite {
    customer: Customer,
    journeys: Vec<Journey>,
    scenarios: Vec<Scenario>,
}

#[derive(Deserialize)]
struct Journey {
    name: String,
    /// The language the conversation must speak throughout (its replies in it).
    #[serde(default)]
    language: Option<String>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    channel: Channel,
    text: String,
    #[serde(default)]
    with_phone: bool,
}

#[derive(Deserialize)]
struct Scenario {
    name: String,
    steps: Vec<String>,
}

fn suite() -> Suite {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../evals/channels/journeys.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The conversations of every customer record behind the customer's email and phone, newest
/// activity first: more than one means the journey was split.
async fn conversations(server: &Server, who: &Customer) -> Vec<ConversationId> {
    use frontline_domain::{Identity, IdentityKind};
    let store = &server.db.store;
    let mut owners = BTreeSet::new();
    for (kind, raw) in [
        (IdentityKind::Email, &who.email),
        (IdentityKind::Phone, &who.phone),
    ] {
        let identity = Identity::parse(kind, raw, &Default::default()).unwrap();
        if let Some(owner) = store.identity_owner(&identity).await.unwrap() {
            owners.insert(owner);
        }
    }
    let mut out = vec![];
    for owner in owners {
        for c in store.conversations_of(owner).await.unwrap() {
            if !out.contains(&c.id) {
                out.push(c.id);
            }
        }
    }
    out
}

/// Questions asked, and those asking for a slot the conversation already had filled.
async fn asks(server: &Server, conversation: ConversationId) -> (usize, Vec<String>) {
    let mut known: BTreeSet<String> = BTreeSet::new();
    let (mut asked, mut repeats) = (0, vec![]);
    for event in server.db.store.events(conversation).await.unwrap() {
        match &event.kind {
            EventKind::FlowUpdated { stack, .. } => {
                for frame in stack {
                    known.extend(
                        frame
                            .slots
                            .iter()
                            .filter(|(_, v)| !v.is_null())
                            .map(|(k, _)| k.clone()),
                    );
                }
            }
            EventKind::ReplySent {
                asked: Some(slot), ..
            } => {
                asked += 1;
                if known.contains(slot) {
                    repeats.push(slot.clone());
                }
            }
            _ => {}
        }
    }
    (asked, repeats)
}

#[tokio::test]
async fn continuity_journeys_never_ask_again_for_what_the_conversation_has() {
    let suite = suite();
    let (mut asked, mut repeated, mut split) = (0, 0, 0);
    for journey in &suite.journeys {
        let server = sqlite_server().await;
        for (i, step) in journey.steps.iter().enumerate() {
            server
                .say(
                    step.channel,
                    &format!("j{i}-{}", step.channel),
                    &suite.customer,
                    &step.text,
                    step.with_phone,
                )
                .await;
        }
        let conversations = conversations(&server, &suite.customer).await;
        if conversations.len() != 1 {
            split += 1;
        }
        if let Some(expected) = &journey.language {
            for conversation in &conversations {
                let events = server.db.store.events(*conversation).await.unwrap();
                let spoken =
                    frontline_language::settle(events.iter().filter_map(|e| match &e.kind {
                        EventKind::MessageReceived {
                            language, prefers, ..
                        } => Some(frontline_language::Said {
                            language: language.as_deref(),
                            preference: prefers.as_deref(),
                        }),
                        _ => None,
                    }));
                assert_eq!(
                    spoken,
                    Some(expected.as_str()),
                    "{}: the conversation's language",
                    journey.name
                );
                // Every reply is in it: none is the English wording of the same flow (its first
                // line: lists below it name the shop's products in English).
                let detector = frontline_language::Detector::new();
                for event in &events {
                    if let EventKind::ReplySent { text, .. } = &event.kind {
                        let first = text.lines().next().unwrap_or_default();
                        let read = detector.read(first).map(|r| r.language);
                        assert!(
                            read.is_none() || read.as_deref() == Some(expected.as_str()),
                            "{}: a reply in {read:?}: {text}",
                            journey.name
                        );
                    }
                }
            }
        }
        let mut repeats = vec![];
        for conversation in &conversations {
            let (n, r) = asks(&server, *conversation).await;
            asked += n;
            repeats.extend(r);
        }
        repeated += repeats.len();
        let channels: Vec<&str> = journey.steps.iter().map(|s| s.channel.as_str()).collect();
        println!(
            "continuity  {:<50} channels {:<32} conversations {} repeat asks {:?}",
            journey.name,
            channels.join("→"),
            conversations.len(),
            repeats
        );
        server.db.cleanup().await;
    }
    let rate = repeated as f64 / asked.max(1) as f64;
    println!(
        "continuity: {} journeys, {asked} questions asked, {repeated} repeated: repeat-ask rate {rate:.3}; {split} journeys split over conversations",
        suite.journeys.len()
    );
    assert_eq!(split, 0, "every journey stays one conversation");
    assert_eq!(repeated, 0, "repeat-ask rate {rate:.3} (target 0)");
    assert!(
        asked > 0,
        "the journeys ask something, or the figure means nothing"
    );
}

/// What a run decided, channel aside.
async fn decisions(server: &Server, who: &Customer) -> Vec<String> {
    let mut out = vec![];
    for conversation in conversations(server, who).await.into_iter().rev() {
        for event in server.db.store.events(conversation).await.unwrap() {
            match event.kind {
                EventKind::FlowEnded {
                    flow_id, outcome, ..
                } => out.push(format!("flow {flow_id} {outcome}")),
                EventKind::FlowUpdated { stack, .. } => {
                    if let Some(top) = stack.last() {
                        let line = format!("in {} asking {:?}", top.flow_id, top.requested_slot);
                        if out.last() != Some(&line) {
                            out.push(line);
                        }
                    }
                }
                EventKind::ActionExecuted { call, outcome }
                    if !call.name.starts_with("find_user_id_by_") =>
                {
                    out.push(format!(
                        "action {} {} -> {}",
                        call.name,
                        serde_json::to_string(&call.args).unwrap(),
                        if outcome.is_ok() { "ok" } else { "error" }
                    ))
                }
                EventKind::StatusChanged { to, .. } => out.push(format!("status {to}")),
                _ => {}
            }
        }
    }
    out
}

#[tokio::test]
async fn consistency_every_channel_makes_the_same_decisions() {
    let suite = suite();
    let channels = [
        Channel::Rest,
        Channel::WebChat,
        Channel::Email,
        Channel::Sms,
        Channel::Whatsapp,
        Channel::Chatwoot,
    ];
    let (mut runs, mut same) = (0, 0);
    for scenario in &suite.scenarios {
        let mut baseline: Option<Vec<String>> = None;
        for channel in channels {
            let server = sqlite_server().await;
            for (i, text) in scenario.steps.iter().enumerate() {
                server
                    .say(channel, &format!("s{i}"), &suite.customer, text, false)
                    .await;
            }
            let got = decisions(&server, &suite.customer).await;
            server.db.cleanup().await;
            assert!(
                !got.is_empty(),
                "{}: {channel} decided nothing",
                scenario.name
            );
            runs += 1;
            match &baseline {
                None => {
                    same += 1;
                    baseline = Some(got);
                }
                Some(base) if *base == got => same += 1,
                Some(base) => println!(
                    "consistency {:<40} {channel} differs:\n  rest: {base:?}\n  {channel}: {got:?}",
                    scenario.name
                ),
            }
        }
        println!(
            "consistency {:<40} decisions {:?}",
            scenario.name,
            baseline.unwrap_or_default()
        );
    }
    let share = same as f64 / runs as f64;
    println!(
        "consistency: {same}/{runs} channel runs made the REST run's decisions ({:.0}%)",
        share * 100.0
    );
    assert_eq!(same, runs, "target 100%");
}
