//! Understanding: a customer message plus its dialogue context in, commands with confidences
//! out. Understanding never acts; the decision engine validates and executes what it proposes.
//!
//! Implementations share the [`Understanding`] trait: [`RuleUnderstanding`] (routes by the
//! loaded flows' examples and reads slot values by their declared types; needs no model), and
//! later the local embedding router and the LLM command generator.

mod rules;

pub use rules::RuleUnderstanding;

use async_trait::async_trait;
use frontline_domain::{Channel, ScoredCommand};
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveFlow {
    /// Flow id.
    pub flow_id: String,
    /// The slot the flow is asking for right now, if any.
    pub requested_slot: Option<String>,
    /// Slots filled so far.
    pub slots: serde_json::Map<String, serde_json::Value>,
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
}

/// Why understanding produced nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum UnderstandingError {
    /// The model or endpoint failed; the caller falls back to another understanding.
    #[error("understanding unavailable: {0}")]
    Unavailable(String),
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
}
