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
use chrono::{NaiveDate, TimeZone, Utc};
use frontline_agent::{Agent, AgentConfig};
use frontline_domain::{
    Channel, Command, EventKind, Identity, IdentityKind, InboundMessage, NormalizeOptions,
};
use frontline_flows::{Engine, FlowSet};
use frontline_knowledge::{EdgeIndex, Embedder, KnowledgeBase, KnowledgeSettings, MiniLm};
use frontline_llm::{Cassette, LlmClient, LlmSettings};
use frontline_shop::seed::SeedOptions;
use frontline_shop::Shop;
use frontline_store::testing::sqlite;
use frontline_understanding::llm::{
    LlmAnswerWriter, LlmUnderstanding, Template, ANSWER_PLACEHOLDERS, COMMAND_PLACEHOLDERS,
};
use frontline_understanding::local::LocalSettings;
use frontline_understanding::LocalUnderstanding;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

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
            "how long do refunds take to reach my card?" => {
                json!({"commands": [{"type": "answer_from_knowledge", "query": "refund timing to a card"}]}).to_string()
            }
            // Invalid: a flow that does not exist.
            _ => json!({"commands": [{"type": "start_flow", "flow_id": "teleport_parcel"}]}).to_string(),
        }
    } else {
        // The answer prompt: cite the first passage.
        ANSWER.to_string()
    };
    if body["stream"] == true {
        // Streamed as OpenAI streams: content deltas, then a usage chunk, then [DONE].
        let mut sse = String::new();
        for piece in ANSWER.split_inclusive(' ').collect::<Vec<_>>().chunks(4) {
            let delta = json!({"choices": [{"index": 0, "delta": {"content": piece.concat()}}]});
            sse.push_str(&format!("data: {delta}\n\n"));
        }
        let usage =
            json!({"choices": [], "usage": {"prompt_tokens": 600, "completion_tokens": 20}});
        sse.push_str(&format!("data: {usage}\n\ndata: [DONE]\n\n"));
        return ([("content-type", "text/event-stream")], sse).into_response();
    }
    Json(json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 800, "completion_tokens": 40, "total_tokens": 840}
    }))
    .into_response()
}

/// What the scripted model writes for the answer prompt.
const ANSWER: &str = "Refunds to a card take 5 to 7 business days after we receive the return [1].";

/// The demo flows, a seeded demo shop in `dir`, and the local embedding model.
async fn demo_parts(dir: &tempfile::TempDir) -> (Arc<FlowSet>, Shop, Arc<dyn Embedder>) {
    let flows =
        Arc::new(FlowSet::load(&repo("flows"), &frontline_shop::actions::catalog()).unwrap());
    let shop = Shop::open(&dir.path().join("shop.db")).await.unwrap();
    shop.seed_if_empty(&SeedOptions::demo(
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
    ))
    .await
    .unwrap();
    let model: Arc<dyn Embedder> = Arc::new(MiniLm::load(&MiniLm::default_dir()).unwrap());
    (flows, shop, model)
}

/// An agent on `understanding`, at Monday 2026-11-02 10:00 UTC.
fn agent_on(
    db: &frontline_store::testing::TestStore,
    understanding: LlmUnderstanding,
    shop: Shop,
    flows: Arc<FlowSet>,
) -> Agent {
    Agent::new(
        db.store.clone(),
        Arc::new(understanding),
        Arc::new(shop),
        Engine::new(flows),
        AgentConfig::default(),
    )
    .with_clock(Arc::new(|| {
        Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap()
    }))
}

fn say(id: &str, text: &str) -> InboundMessage {
    InboundMessage {
        channel: Channel::WebChat,
        channel_message_id: id.into(),
        sender: Identity::parse(
            IdentityKind::Email,
            "ada.lovelace1000@example.com",
            &NormalizeOptions::default(),
        )
        .unwrap(),
        also_known_as: vec![],
        display_name: None,
        text: text.into(),
        received_at: Utc::now(),
        conversation_hint: None,
        thread: Default::default(),
    }
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
    let (flows, shop, model) = demo_parts(&dir).await;
    let index = EdgeIndex::open(&dir.path().join("index"), 384).unwrap();
    let kb = Arc::new(KnowledgeBase::new(
        model.clone(),
        Arc::new(index),
        KnowledgeSettings::default(),
    ));
    kb.ingest(&repo("knowledge"), &|_| {}).await.unwrap();
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
        Template::load(&repo("prompts/command_generator.md"), &COMMAND_PLACEHOLDERS).unwrap(),
        Default::default(),
    );
    let writer = LlmAnswerWriter::new(
        client,
        Template::load(&repo("prompts/answer.md"), &ANSWER_PLACEHOLDERS).unwrap(),
    );
    let db = sqlite().await;
    let agent = agent_on(&db, understanding, shop, flows)
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
        Command::StartFlow {
            flow_id: "cancel_order".into()
        }
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

    // A knowledge question: one call to understand, one to write the grounded answer, which
    // the web chat sees as it is written (drafts, piece by piece, for this customer).
    let mut drafts = agent.drafts().subscribe();
    let asked = say("m4", "how long do refunds take to reach my card?");
    let answer = agent.handle(asked.clone()).await.unwrap();
    assert_eq!(calls(), 3);
    let mut pieces = vec![];
    while let Ok(draft) = drafts.try_recv() {
        assert_eq!(draft.recipient, asked.sender);
        pieces.push(draft.delta);
    }
    assert!(pieces.len() >= 3, "streamed in pieces: {pieces:?}");
    assert_eq!(pieces.concat(), ANSWER);
    let reply = &answer.replies[0].text;
    assert!(
        reply.contains("5 to 7 business days") && reply.contains("(Sources: [1] "),
        "{reply}"
    );

    // Invalid output (an unknown flow): the local reading is used and the reason recorded.
    let odd = agent
        .handle(say(
            "m5",
            "this is ridiculous, my parcel is lost, I am furious",
        ))
        .await
        .unwrap();
    assert!(calls() >= 4);

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
    assert_eq!(understood.len(), 5);
    let (source, _, usage) = &understood[0];
    assert_eq!(source, "llm:scripted");
    let usage = usage.clone().unwrap();
    assert_eq!(
        (usage.calls, usage.prompt_tokens, usage.completion_tokens),
        (1, 800, 40)
    );
    assert!((usage.cost_usd - (800.0 * 0.15 + 40.0 * 0.60) / 1e6).abs() < 1e-12);
    assert!(understood[1].0.ends_with("(deterministic continuation)"));
    assert_eq!(understood[1].2.as_ref().unwrap().calls, 0);
    let (source, sentiment, usage) = &understood[4];
    assert!(source.ends_with("(llm fallback)"), "{source}");
    assert!(usage
        .as_ref()
        .unwrap()
        .fallback
        .as_ref()
        .unwrap()
        .contains("teleport_parcel"));
    assert!(sentiment.unwrap() < -0.5, "{sentiment:?}");
    // The grounded answer's cost is in the knowledge event.
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::KnowledgeConsulted { answered: true, llm: Some(u), .. } if u.calls == 1 && u.fallback.is_none()
    )));
}

/// With the LLM endpoint down, each turn falls back to the local reading and says so; the second
/// such turn in a row hands off as an agent error (the escalation policy's LLM trigger).
#[tokio::test]
async fn an_llm_endpoint_that_stays_down_hands_off_as_an_agent_error() {
    // A port nothing listens on: connection refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let (flows, shop, model) = demo_parts(&dir).await;
    let client = Arc::new(LlmClient::new(
        LlmSettings {
            base_url: url,
            model: "down".into(),
            timeout: Duration::from_secs(3),
            ..LlmSettings::default()
        },
        Cassette::off(),
    ));
    let local = Arc::new(
        LocalUnderstanding::build(flows.clone(), model, LocalSettings::default())
            .await
            .unwrap(),
    );
    let understanding = LlmUnderstanding::new(
        client,
        local,
        None,
        Template::load(&repo("prompts/command_generator.md"), &COMMAND_PLACEHOLDERS).unwrap(),
        Default::default(),
    );
    let db = sqlite().await;
    let agent = agent_on(&db, understanding, shop, flows);
    let first = agent.handle(say("d1", "hello there")).await.unwrap();
    assert_eq!(first.status, frontline_domain::ConversationStatus::Bot);
    assert!(!first.replies.is_empty(), "the local reading still answers");
    let second = agent.handle(say("d2", "thanks, bye")).await.unwrap();
    assert_eq!(
        second.status,
        frontline_domain::ConversationStatus::HandedOff
    );
    let events = db.store.events(second.conversation_id).await.unwrap();
    let usage: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CommandsUnderstood { llm: Some(u), .. } => Some(u.clone()),
            _ => None,
        })
        .collect();
    assert!(
        usage.iter().all(|u| u.unavailable && u.fallback.is_some()),
        "{usage:?}"
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
        frontline_domain::EscalationTrigger::AgentError
    );
    assert!(
        summary.reason.contains("2 turns in a row"),
        "{}",
        summary.reason
    );
    db.cleanup().await;
}
