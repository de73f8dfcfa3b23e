//! The context a human receives at handoff, so they never ask the customer to start over.
//!
//! Every structured field is filled by code from the conversation's event log; an LLM may only
//! add the optional `narrative`.

use crate::{Channel, ConversationId, Identity, Timestamp};
use serde::{Deserialize, Serialize};

/// Why the conversation was escalated (the reason code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationTrigger {
    /// The customer asked for a human.
    ExplicitRequest,
    /// Sentiment fell below the threshold or kept falling.
    NegativeSentiment,
    /// Understanding or retrieval confidence stayed low.
    LowConfidence,
    /// A flow's `escalate` step or a policy rule.
    Policy,
    /// Clarifications, re-asked slots, failed flows, repeat contacts.
    RepeatedFailure,
    /// A backend action, the LLM or another dependency failed.
    AgentError,
}

/// Who the customer is, as far as the conversation knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryCustomer {
    /// frontline's customer id.
    pub customer_id: String,
    /// Their name, if known.
    pub name: Option<String>,
    /// Every identity attached to them.
    pub identities: Vec<Identity>,
    /// Whether the business treats them as VIP.
    pub vip: bool,
    /// Their language (BCP 47), if known.
    pub locale: Option<String>,
}

/// The flow in progress when the handoff happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryFlow {
    /// Flow id.
    pub flow_id: String,
    /// The step reached.
    pub step: String,
    /// Slot values collected so far.
    pub slots: serde_json::Map<String, serde_json::Value>,
}

/// A backend action taken in the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryAction {
    /// Action name.
    pub name: String,
    /// Its arguments.
    pub args: serde_json::Value,
    /// `ok` or the error code.
    pub outcome: String,
    /// When it ran.
    pub at: Timestamp,
}

/// A knowledge article shown to the customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryArticle {
    /// Document path or id.
    pub document: String,
    /// Title and heading anchor.
    pub title: String,
}

/// The structured handoff context sent with every escalation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscalationSummary {
    /// The conversation handed off.
    pub conversation_id: ConversationId,
    /// Who.
    pub customer: SummaryCustomer,
    /// Channels used in the conversation, in order of first use.
    pub channels_used: Vec<Channel>,
    /// The channel the customer is on now.
    pub current_channel: Channel,
    /// The issue in one sentence.
    pub issue_statement: String,
    /// informational | transactional | complex | emotional, when a flow set it.
    pub tier: Option<String>,
    /// The flow in progress, if any.
    pub flow: Option<SummaryFlow>,
    /// Backend actions taken, with results.
    pub actions_taken: Vec<SummaryAction>,
    /// Knowledge articles shown.
    pub knowledge_shown: Vec<SummaryArticle>,
    /// Per customer message, -1.0 (angry) to 1.0 (happy).
    pub sentiment_trajectory: Vec<f32>,
    /// The reason code.
    pub trigger: EscalationTrigger,
    /// The reason in words.
    pub reason: String,
    /// The agent's last reply before the handoff.
    pub customer_was_told: String,
    /// What the human should do next.
    pub suggested_next_step: String,
    /// Where to read the full transcript.
    pub transcript_url: String,
    /// Optional LLM-written paragraph; never replaces a field above.
    pub narrative: Option<String>,
    /// When the summary was built.
    pub created_at: Timestamp,
}
