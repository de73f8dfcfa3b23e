//! The agent answering from the knowledge base, on its real parts: the demo articles embedded
//! by all-MiniLM-L6-v2 into an embedded qdrant-edge shard, the real store and the demo shop.

use frontline_agent::testing::{demo_clock, faulty_endpoint, minilm, repo_path, DemoParts, Fault};
use frontline_agent::{Agent, TurnOutcome};
use frontline_domain::{
    Channel, Command, EventKind, Identity, IdentityKind, InboundMessage, NormalizeOptions,
};
use frontline_knowledge::{
    EdgeIndex, EmbedError, Embedder, KnowledgeBase, KnowledgeSettings, QdrantServerIndex,
    VectorIndex,
};
use frontline_store::testing::sqlite;
use std::path::Path;
use std::sync::Arc;

/// An agent on rule understanding that consults a knowledge base on `index`, embedded by
/// `embedder`.
async fn agent_on_index(
    embedder: Arc<dyn Embedder>,
    index: Arc<dyn VectorIndex>,
    dir: &Path,
) -> (Agent, frontline_store::testing::TestStore) {
    let kb = KnowledgeBase::new(embedder, index, KnowledgeSettings::default());
    let db = sqlite().await;
    let agent = DemoParts::new(dir)
        .await
        .rule_agent(db.store.clone())
        .with_clock(demo_clock())
        .with_knowledge(Arc::new(kb));
    (agent, db)
}

/// [`agent_on_index`] on an embedded qdrant-edge shard in `dir`.
async fn agent_with(
    embedder: Arc<dyn Embedder>,
    dir: &Path,
) -> (Agent, frontline_store::testing::TestStore) {
    let index = EdgeIndex::open(&dir.join("index"), 384).unwrap();
    agent_on_index(embedder, Arc::new(index), dir).await
}

fn say(channel: Channel, id: &str, text: &str) -> InboundMessage {
    let ada = Identity::parse(
        IdentityKind::Email,
        "ada.lovelace1000@example.com",
        &NormalizeOptions::default(),
    )
    .unwrap();
    frontline_agent::testing::message(channel, id, ada, text)
}

fn text(outcome: &TurnOutcome) -> String {
    outcome.reply_text()
}

#[tokio::test]
async fn questions_are_answered_with_sources_and_unknowns_are_not_invented() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, db) = agent_with(minilm(), dir.path()).await;
    agent
        .knowledge()
        .unwrap()
        .ingest(&repo_path("knowledge"), &|_| {})
        .await
        .unwrap();

    let answer = agent
        .handle(say(
            Channel::WebChat,
            "k1",
            "How long until a refund reaches my credit card?",
        ))
        .await
        .unwrap();
    let reply = text(&answer);
    assert!(reply.contains("5 to 7 business days"), "{reply}");
    assert!(
        reply.contains("(Source: When will I get my refund?"),
        "{reply}"
    );
    assert!(matches!(
        answer.commands[0].command,
        Command::AnswerFromKnowledge { .. }
    ));

    // SMS answers fit a text message.
    let sms = agent
        .handle(say(Channel::Sms, "k2", "what does the warranty cover?"))
        .await
        .unwrap();
    assert!(
        text(&sms).chars().count() <= 320 && text(&sms).contains("Source: Warranty"),
        "{}",
        text(&sms)
    );

    // Nothing close in the knowledge base: no invented answer, the usual offer instead.
    let unknown = agent
        .handle(say(
            Channel::WebChat,
            "k3",
            "Who won the football game last night?",
        ))
        .await
        .unwrap();
    assert!(
        text(&unknown).contains("I'm not sure I understood"),
        "{}",
        text(&unknown)
    );
    assert!(!text(&unknown).contains("Source:"));
    // It says what this deployment's flows can do, from their descriptions.
    assert!(
        text(&unknown)
            .contains("I can cancel an order that hasn't shipped yet, cancel a subscription, ")
            && text(&unknown).contains(
                "check where an order is or return items from a delivered order for a refund"
            ),
        "{}",
        text(&unknown)
    );

    // A question in the middle of a flow is answered, and the flow's question comes back.
    let started = agent
        .handle(say(Channel::WebChat, "k4", "where is my order?"))
        .await
        .unwrap();
    assert!(text(&started).contains("Which order"), "{}", text(&started));
    let aside = agent
        .handle(say(
            Channel::WebChat,
            "k5",
            "by the way, do gift cards expire?",
        ))
        .await
        .unwrap();
    let reply = text(&aside);
    assert!(
        reply.contains("never expire") && reply.contains("Source: Gift cards"),
        "{reply}"
    );
    assert!(
        reply.contains("Which order"),
        "the flow's question follows: {reply}"
    );
    assert_eq!(aside.active_flow.as_ref().unwrap().flow_id, "order_status");

    // Every consultation is in the log, answered or not, with its sources.
    let events = agent.store().events(answer.conversation_id).await.unwrap();
    let consulted: Vec<(bool, usize)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::KnowledgeConsulted {
                answered, sources, ..
            } => Some((*answered, sources.len())),
            _ => None,
        })
        .collect();
    assert_eq!(consulted.len(), 4, "{consulted:?}");
    assert!(consulted[0].0 && consulted[0].1 >= 1);
    assert!(
        !consulted[2].0 && consulted[2].1 == 0,
        "the abstention is recorded too"
    );

    // A handoff now shows the human what the customer was already told.
    let handoff = agent
        .handle(say(Channel::WebChat, "k6", "I want to talk to a human"))
        .await
        .unwrap();
    let summary = agent
        .store()
        .events(handoff.conversation_id)
        .await
        .unwrap()
        .into_iter()
        .find_map(|e| match e.kind {
            EventKind::Escalated { summary } => Some(summary),
            _ => None,
        })
        .expect("escalated");
    let shown: Vec<&str> = summary
        .knowledge_shown
        .iter()
        .map(|a| a.document.as_str())
        .collect();
    assert!(
        shown.iter().any(|d| d.starts_with("refund-timing.md")),
        "{shown:?}"
    );
    assert!(
        shown.iter().any(|d| d.starts_with("gift-cards.md")),
        "{shown:?}"
    );
    db.cleanup().await;
}

/// An embedder whose service is down.
struct Down;

#[async_trait::async_trait]
impl Embedder for Down {
    fn name(&self) -> String {
        "down".into()
    }
    fn dimension(&self) -> usize {
        384
    }
    async fn embed(&self, _: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Err(EmbedError::Model("connection refused".into()))
    }
}

#[tokio::test]
async fn a_failing_knowledge_base_still_gets_a_reply() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, db) = agent_with(Arc::new(Down), dir.path()).await;
    let outcome = agent
        .handle(say(Channel::WebChat, "d1", "How long do refunds take?"))
        .await
        .unwrap();
    assert!(!outcome.replies.is_empty());
    assert!(
        text(&outcome).contains("I'm not sure I understood"),
        "{}",
        text(&outcome)
    );
    let events = agent.store().events(outcome.conversation_id).await.unwrap();
    assert!(events.iter().any(|e| matches!(&e.kind,
        EventKind::KnowledgeConsulted { answered: false, abstain_reason: Some(r), .. }
            if r.contains("unavailable"))));
    // Flows are unaffected.
    let flow = agent
        .handle(say(Channel::WebChat, "d2", "where is my order #W0000002?"))
        .await
        .unwrap();
    assert!(text(&flow).contains("was delivered on"), "{}", text(&flow));
    db.cleanup().await;
}

/// A Qdrant server that is down, answers garbage, hangs or drops the connection (a loopback
/// endpoint with that fault) costs a question its answer, never the turn: the reply (a
/// clarification) comes within the index's deadline, the log says the knowledge base was
/// unavailable, and flows carry on.
#[tokio::test]
async fn a_qdrant_server_that_fails_in_any_way_still_gets_a_reply_within_the_deadline() {
    let deadline = std::time::Duration::from_millis(500);
    let model = minilm();
    for fault in Fault::ALL {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("http://{}", faulty_endpoint(fault).await);
        let index = QdrantServerIndex::lazy(&url, None, "knowledge", 384, deadline).unwrap();
        let (agent, db) = agent_on_index(model.clone(), Arc::new(index), dir.path()).await;
        let started = std::time::Instant::now();
        let outcome = agent
            .handle(say(Channel::WebChat, "q1", "How long do refunds take?"))
            .await
            .unwrap();
        let took = started.elapsed();
        // Generous against scheduling noise (and the client's one reconnect): what matters is
        // that the turn does not wait on the server beyond its deadline.
        assert!(
            took < deadline * 2 + std::time::Duration::from_secs(2),
            "{fault:?}: the turn took {took:?}"
        );
        assert!(
            text(&outcome).contains("I'm not sure I understood"),
            "{fault:?}: {}",
            text(&outcome)
        );
        let events = agent.store().events(outcome.conversation_id).await.unwrap();
        assert!(
            events.iter().any(|e| matches!(&e.kind,
                EventKind::KnowledgeConsulted { answered: false, abstain_reason: Some(r), .. }
                    if r.contains("knowledge base unavailable") && r.contains("qdrant-server"))),
            "{fault:?}: {events:#?}"
        );
        let flow = agent
            .handle(say(Channel::WebChat, "q2", "where is my order #W0000002?"))
            .await
            .unwrap();
        assert!(
            text(&flow).contains("was delivered on"),
            "{fault:?}: {}",
            text(&flow)
        );
        db.cleanup().await;
    }
}
