//! Understanding: a customer message plus its dialogue context in, commands with confidences
//! out. Understanding never acts; the decision engine validates and executes what it proposes.
//!
//! Implementations share the [`Understanding`] trait:
//! - [`RuleUnderstanding`]: routes by word overlap with the flows' examples; needs no model.
//! - [`LocalUnderstanding`]: routes by embedding similarity (the local MiniLM) to flow examples,
//!   built-in intents and the knowledge base, with calibrated thresholds. The default.
//!
//! Both read slot values with the typed [`extract`]ors and share one command precedence
//! ([`pipeline`]). [`sentiment`] scores each customer message without a model.

pub mod eval;
pub mod extract;
pub mod head;
pub mod llm;
pub mod local;
pub mod pipeline;
pub mod router;
mod rules;
pub mod sentiment;

pub use extract::{yes_no, Extractors};
pub use llm::{AnswerField, LlmUnderstanding};
pub use local::{KnowledgeProbe, LocalUnderstanding};
pub use router::{Builtin, EmbeddingRouter, Intent, Routed, RouterSettings};
pub use rules::RuleUnderstanding;
pub use sentiment::Sentiment;

use async_trait::async_trait;
use frontline_domain::{Channel, LlmUsage, ScoredCommand};
use serde::{Deserialize, Serialize};

/// Who said something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// The customer.
    Customer,
    /// frontline.
    Agent,
    /// A human support agent.
    Human,
}

/// One line of the recent conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    /// Who said it.
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
}

/// The flow in progress, as understanding needs to see it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActiveFlow {
    /// Flow id.
    pub flow_id: String,
    /// The slot the flow is asking for right now, if any.
    pub requested_slot: Option<String>,
    /// Slots filled so far.
    pub slots: serde_json::Map<String, serde_json::Value>,
    /// What the flow offered for the slot it asks (the customer's own orders that fit, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered: Vec<frontline_domain::Offer>,
}

/// What understanding may look at besides the message itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DialogueContext {
    /// The channel the message came on.
    pub channel: Channel,
    /// The flow in progress, if any.
    pub active_flow: Option<ActiveFlow>,
    /// The last few utterances, oldest first (the current message excluded).
    pub recent: Vec<Utterance>,
    /// The customer's today, for "yesterday" and "last Tuesday".
    pub today: chrono::NaiveDate,
    /// The flows the agent's last reply offered or asked the customer to choose between
    /// ("Would you like me to help you return items…?"): a yes to a single one starts it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offered_flows: Vec<String>,
    /// The language the conversation speaks (ISO 639-1; `None`: the default), which answers
    /// are written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Why understanding produced nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum UnderstandingError {
    /// The model or endpoint failed; the caller falls back to another understanding.
    #[error("understanding unavailable: {0}")]
    Unavailable(String),
}

/// What understanding made of one message, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Understood {
    /// The commands, never empty.
    pub commands: Vec<ScoredCommand>,
    /// Who produced them (`rules`, `local:minilm`, `llm:<model>`, or a fallback's name).
    pub source: String,
    /// The LLM's part, when one is configured (calls may be 0).
    pub llm: Option<LlmUsage>,
    /// The answer to an informational question, when the same call wrote one (LLM mode).
    pub answer: Option<AnswerDraft>,
}

/// What the understanding call wrote as the answer to its `AnswerFromKnowledge` command.
#[derive(Clone, Debug, PartialEq)]
pub enum AnswerDraft {
    /// An answer that holds: it is the reply.
    Grounded(KnowledgeAnswer),
    /// An answer that does not hold (it cites no passage shown, or one not shown). The model
    /// had the passages and did not answer from them; asking it again with the same passages
    /// tends to fail the same way, so the agent quotes the best passage instead of a second call.
    Unfounded {
        /// The question, as the `AnswerFromKnowledge` command states it.
        query: String,
        /// Why it does not hold.
        reason: String,
    },
}

impl AnswerDraft {
    /// The question it answers.
    pub fn query(&self) -> &str {
        match self {
            AnswerDraft::Grounded(answer) => &answer.query,
            AnswerDraft::Unfounded { query, .. } => query,
        }
    }
}

/// An answer from the knowledge base written by the understanding call itself, so a question
/// costs one LLM call. It was checked against the passages the call was shown (which passed the
/// relevance gate): it cites at least one of them and none it was not given.
#[derive(Clone, Debug, PartialEq)]
pub struct KnowledgeAnswer {
    /// The question it answers, as the `AnswerFromKnowledge` command states it.
    pub query: String,
    /// The answer, citation markers kept and its sources listed at the end.
    pub text: String,
    /// The passages it cites, in order of first citation.
    pub citations: Vec<frontline_knowledge::Citation>,
    /// The retrieval's confidence in those passages.
    pub confidence: f32,
}

/// Message + context → commands.
#[async_trait]
pub trait Understanding: Send + Sync {
    /// A short name recorded with every result (`rules`, `local`, `llm:<model>`).
    fn name(&self) -> String;

    /// Propose commands for `message`. Never empty: when nothing fits, a `CannotHandle`.
    async fn understand(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<Vec<ScoredCommand>, UnderstandingError>;

    /// [`Understanding::understand`] with its source and cost; what the agent calls.
    async fn interpret(
        &self,
        message: &str,
        context: &DialogueContext,
    ) -> Result<Understood, UnderstandingError> {
        Ok(Understood {
            commands: self.understand(message, context).await?,
            source: self.name(),
            llm: None,
            answer: None,
        })
    }

    /// [`Understanding::interpret`] for a channel that shows replies as they are written:
    /// `on_answer` sees the pieces of an answer the understanding writes itself (see
    /// [`Understood::answer`]) while it forms. They are drafts: only the checked answer counts.
    async fn interpret_streaming(
        &self,
        message: &str,
        context: &DialogueContext,
        on_answer: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<Understood, UnderstandingError> {
        let _ = on_answer;
        self.interpret(message, context).await
    }
}
