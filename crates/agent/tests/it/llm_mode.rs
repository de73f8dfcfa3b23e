//! The agent in LLM mode, on its real parts (store, demo shop, knowledge base on qdrant-edge,
//! local MiniLM) with the LLM endpoint played by a scripted OpenAI-compatible server on
//! loopback. Checks what the agent does with the LLM: exactly one call on a turn that needs
//! understanding and none on a deterministic continuation; tokens, cost and sentiment recorded
//! per turn; grounded answers written with citations; and every failure falling back to the
//! local reading or the extractive answer, with the reason in the log.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use frontline_agent::testing::{demo_clock, faulty_endpoint, minilm, repo_path, DemoParts, Fault};
use frontline_domain::{
    Channel, Command, EventKind, Identity, IdentityKind, InboundMessage, NormalizeOptions,
};
use frontline_knowledge::{EdgeIndex, KnowledgeBase, KnowledgeSettings};
use frontline_llm::testing::chat_completion_body;
use frontline_llm::{Cassette, LlmClient, LlmSettings};
use frontline_store::testing::sqlite;
use frontline_understanding::llm::{
    LlmAnswerWriter, LlmUnderstanding, Template, ANSWER_PLACEHOLDERS, COMMAND_PLACEHOLDERS,
};
use frontline_understanding::local::LocalSettings;
use frontline_understanding::LocalUnderstanding;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The scripted endpoint: answers by the customer's message; counts calls.
#[derive(Default)]
struct Script {
    calls: Mutex<Vec<String>>,
}

async fn chat(State(script): State<Arc<Script>>, Json(body): Json<Value>) -> Response {
    let messages = body["messages"].as_array().unwrap();
    let last = messages.last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    script.calls.lock().unwrap().push(last.clone());
    // Passages passed the gate: the schema asks for the answer along with the commands.
    let answer_asked = body["response_format"].to_string().contains("\"answer\"");
    let content = if body.get("response_format").is_some() {
        match last.as_str() {
            "hey, could you look into #W0000002 for me" => json!({"commands": [
                {"type": "start_flow", "flow_id": "order_status"},
                {"type": "set_slot", "name": "order_id", "value": "#W0000002"}
            ]})
            .to_string(),
            "I'd like to cancel order #W0000001" => json!({"commands": [
                {"type": "start_flow", "flow_id": "cancel_order"},
                {"type": "set_slot", "name": "order_id", "value": "#W0000001"}
            ]})
            .to_string(),
            "how long do refunds take to reach my card?" if answer_asked => json!({
                "commands": [{"type": "answer_from_knowledge", "query": "refund timing to a card"}],
                "answer": ANSWER,
            })
            .to_string(),
            // Answered in the same call, but citing nothing: not used, and not asked again.
            "how long do refunds take to reach my card, roughly?" if answer_asked => json!({
                "commands": [{"type": "answer_from_knowledge", "query": "refund timing to a card"}],
                "answer": "About a week, I think.",
            })
            .to_string(),
            // Understood, but not answered in the same call: the answer is written apart.
            "and how long until my refund is on the card?" if answer_asked => json!({
                "commands": [{"type": "answer_from_knowledge", "query": "refund timing to a card"}],
                "answer": "",
            })
            .to_string(),
            // Invalid: a flow that does not exist.
            _ => json!({"commands": [{"type": "start_flow", "flow_id": "teleport_parcel"}]})
                .to_string(),
        }
    } else {
        // The answer prompt: cite the first passage.
        ANSWER.to_string()
    };
    // Streamed as OpenAI streams: content deltas, then a usage chunk, then [DONE].
    let streamed = body["stream"] == true;
    let usage = if streamed { (600, 20) } else { (800, 40) };
    let (content_type, body) = chat_completion_body(&content, streamed, usage);
    ([("content-type", content_type)], body).into_response()
}

/// What the scripted model writes for the answer prompt.
const ANSWER: &str = "Refunds to a card take 5 to 7 business days after we receive the return [1].";

fn say(id: &str, text: &str) -> InboundMessage {
    let ada = Identity::parse(
        IdentityKind::Email,
        "ada.lovelace1000@example.com",
        &NormalizeOptions::default(),
    )
    .unwrap();
    frontline_agent::testing::message(Channel::WebChat, id, ada, text)
}

#[tokio::test]
async fn one_call_per_turn_that_needs_it_none_on_continuations_and_fallbacks_recorded() {
    let script = Arc::new(Script::default());
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let parts = DemoParts::new(dir.path()).await;
    let (flows, model) = (parts.flows.clone(), minilm());
    let index = EdgeIndex::open(&dir.path().join("index"), 384).unwrap();
    let kb = Arc::new(KnowledgeBase::new(
        model.clone(),
        Arc::new(index),
        KnowledgeSettings::default(),
    ));
    kb.ingest(&repo_path("knowledge"), &|_| {}).await.unwrap();
    let client = Arc::new(LlmClient::new(
        LlmSettings {
            base_url: url,
            model: "scripted".into(),
            timeout: Duration::from_secs(10),
            prompt_price_per_million: 0.15,
            completion_price_per_million: 0.60,
            ..LlmSettings::default()
        },
        Cassette::off(),
    ));
    let local = Arc::new(
        LocalUnderstanding::build(flows.clone(), model, LocalSettings::default())
            .await
            .unwrap()
            .with_knowledge(kb.clone()),
    );
    let understanding = LlmUnderstanding::new(
        client.clone(),
        local,
        Some(kb.clone()),
        Template::load(
            &repo_path("prompts/command_generator.md"),
            &COMMAND_PLACEHOLDERS,
        )
        .unwrap(),
        Default::default(),
    );
    let writer = LlmAnswerWriter::new(
        client,
        Template::load(&repo_path("prompts/answer.md"), &ANSWER_PLACEHOLDERS).unwrap(),
    );
    let db = sqlite().await;
    let agent = parts
        .agent(db.store.clone(), Arc::new(understanding))
        .with_clock(demo_clock())
        .with_knowledge(kb)
        .with_answer_writer(Arc::new(writer));

    let calls = || script.calls.lock().unwrap().len();
    // Turn 1 needs understanding: one call; the LLM's commands are used.
    let first = agent
        .handle(say("m1", "I'd like to cancel order #W0000001"))
        .await
        .unwrap();
    assert_eq!(calls(), 1);
    assert_eq!(
        first.commands[0].command,
        Command::start_flow("cancel_order")
    );
    // Turn 2 answers the question asked (the reason): a deterministic continuation, no call.
    agent
        .handle(say("m2", "I ordered it by mistake"))
        .await
        .unwrap();
    assert_eq!(calls(), 1);
    // Turn 3 is a yes at the confirmation: no call either.
    let done = agent.handle(say("m3", "yes")).await.unwrap();
    assert_eq!(calls(), 1);
    assert!(
        done.replies[0].text.contains("cancelled"),
        "{}",
        done.replies[0].text
    );

    // A knowledge question: one call understands it and writes the grounded answer from the
    // passages it was shown; the web chat sees the answer as it is written (drafts, piece by
    // piece, for this customer), though the call's JSON streams around it.
    let mut drafts = agent.drafts().subscribe();
    let mut drafted = |asked: &InboundMessage| {
        let mut pieces = vec![];
        while let Ok(draft) = drafts.try_recv() {
            assert_eq!(draft.recipient, asked.sender);
            pieces.push(draft.delta);
        }
        pieces
    };
    let asked = say("m4", "how long do refunds take to reach my card?");
    let answer = agent.handle(asked.clone()).await.unwrap();
    assert_eq!(calls(), 2);
    let pieces = drafted(&asked);
    assert!(pieces.len() >= 3, "streamed in pieces: {pieces:?}");
    assert_eq!(pieces.concat(), ANSWER);
    let reply = &answer.replies[0].text;
    assert!(
        reply.contains("5 to 7 business days") && reply.contains("(Sources: [1] "),
        "{reply}"
    );
    // When the call leaves the answer empty, a second call writes it (streamed too).
    let again = say("m4b", "and how long until my refund is on the card?");
    let answer = agent.handle(again.clone()).await.unwrap();
    assert_eq!(calls(), 4);
    assert_eq!(drafted(&again).concat(), ANSWER);
    assert!(answer.replies[0].text.contains("(Sources: [1] "));
    // An answer written with the commands that cites nothing is not said; the best passage is
    // quoted instead, with no second call (the model had the passages and did not use them).
    let uncited = say("m4c", "how long do refunds take to reach my card, roughly?");
    let answer = agent.handle(uncited.clone()).await.unwrap();
    assert_eq!(calls(), 5);
    let reply = &answer.replies[0].text;
    assert!(!reply.contains("About a week"), "{reply}");
    assert!(
        reply.contains("business days"),
        "the refunds passage: {reply}"
    );

    // Invalid output (an unknown flow): the local reading is used and the reason recorded.
    let odd = agent
        .handle(say(
            "m5",
            "this is ridiculous, my parcel is lost, I am furious",
        ))
        .await
        .unwrap();
    assert!(calls() >= 6);

    let events = agent.store().events(odd.conversation_id).await.unwrap();
    let understood: Vec<(String, Option<f32>, Option<frontline_domain::LlmUsage>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CommandsUnderstood {
                source,
                sentiment,
                llm,
                ..
            } => Some((source.clone(), *sentiment, llm.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(understood.len(), 7);
    let (source, _, usage) = &understood[0];
    assert_eq!(source, "llm:scripted");
    // On the web chat, a call shown passages is streamed (it may answer): its usage is the
    // stream's closing chunk's.
    let usage = usage.clone().unwrap();
    assert_eq!(
        (usage.calls, usage.prompt_tokens, usage.completion_tokens),
        (1, 600, 20)
    );
    assert!((usage.cost_usd - (600.0 * 0.15 + 20.0 * 0.60) / 1e6).abs() < 1e-12);
    assert!(understood[1].0.ends_with("(deterministic continuation)"));
    assert_eq!(understood[1].2.as_ref().unwrap().calls, 0);
    // The answer written with the commands cost nothing more than the understanding's call.
    assert_eq!(understood[3].0, "llm:scripted+knowledge");
    assert_eq!(understood[3].2.as_ref().unwrap().calls, 1);
    let (source, sentiment, usage) = &understood[6];
    assert!(source.ends_with("(llm fallback)"), "{source}");
    assert!(usage
        .as_ref()
        .unwrap()
        .fallback
        .as_ref()
        .unwrap()
        .contains("teleport_parcel"));
    assert!(sentiment.unwrap() < -0.5, "{sentiment:?}");
    // An answer written apart has its cost in the knowledge event; one written with the
    // commands has none of its own.
    // An unfounded one says why the passage was quoted.
    let consulted: Vec<Option<(u32, bool)>> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::KnowledgeConsulted {
                answered: true,
                llm,
                ..
            } => Some(llm.as_ref().map(|u| {
                let unfounded = u
                    .fallback
                    .as_ref()
                    .is_some_and(|f| f.contains("does not hold: the answer cites no passage"));
                (u.calls, unfounded)
            })),
            _ => None,
        })
        .collect();
    assert_eq!(consulted, vec![None, Some((1, false)), Some((0, true))]);
}

/// With the LLM endpoint failing in any way (refused, 500s, hanging, closing the connection),
/// each turn still answers within the LLM deadline by falling back to the local reading, and
/// says so in the log; the second such turn in a row hands off as an agent error (the
/// escalation policy's LLM trigger).
#[tokio::test]
async fn a_failing_llm_endpoint_falls_back_within_the_deadline_then_hands_off() {
    let dir = tempfile::tempdir().unwrap();
    let parts = DemoParts::new(dir.path()).await;
    let local = Arc::new(
        LocalUnderstanding::build(parts.flows.clone(), minilm(), LocalSettings::default())
            .await
            .unwrap(),
    );
    let deadline = Duration::from_millis(800);
    for fault in Fault::ALL {
        let client = Arc::new(LlmClient::new(
            LlmSettings {
                base_url: format!("http://{}/v1", faulty_endpoint(fault).await),
                model: "faulty".into(),
                timeout: deadline,
                ..LlmSettings::default()
            },
            Cassette::off(),
        ));
        let understanding = LlmUnderstanding::new(
            client,
            local.clone(),
            None,
            Template::load(
                &repo_path("prompts/command_generator.md"),
                &COMMAND_PLACEHOLDERS,
            )
            .unwrap(),
            Default::default(),
        );
        let db = sqlite().await;
        let agent = parts
            .agent(db.store.clone(), Arc::new(understanding))
            .with_clock(demo_clock());
        // Generous against scheduling noise; what matters is that no turn waits on the
        // endpoint beyond its deadline.
        let bound = deadline + Duration::from_secs(2);
        let started = std::time::Instant::now();
        let first = agent.handle(say("d1", "hello there")).await.unwrap();
        let took = started.elapsed();
        assert!(took < bound, "{fault:?}: first turn took {took:?}");
        assert_eq!(
            first.status,
            frontline_domain::ConversationStatus::Bot,
            "{fault:?}"
        );
        assert!(
            !first.replies.is_empty(),
            "{fault:?}: the local reading still answers"
        );
        let started = std::time::Instant::now();
        let second = agent.handle(say("d2", "thanks, bye")).await.unwrap();
        let took = started.elapsed();
        assert!(took < bound, "{fault:?}: second turn took {took:?}");
        assert_eq!(
            second.status,
            frontline_domain::ConversationStatus::HandedOff,
            "{fault:?}"
        );
        let events = db.store.events(second.conversation_id).await.unwrap();
        let usage: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CommandsUnderstood { llm: Some(u), .. } => Some(u.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(usage.len(), 2, "{fault:?}");
        assert!(
            usage.iter().all(|u| u.unavailable && u.fallback.is_some()),
            "{fault:?}: {usage:?}"
        );
        let summary = events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::Escalated { summary } => Some(summary.clone()),
                _ => None,
            })
            .expect("handed off");
        assert_eq!(
            summary.trigger,
            frontline_domain::EscalationTrigger::AgentError,
            "{fault:?}"
        );
        assert!(
            summary.reason.contains("2 turns in a row"),
            "{fault:?}: {}",
            summary.reason
        );
        db.cleanup().await;
    }
}
