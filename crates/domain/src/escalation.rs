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

impl EscalationTrigger {
    /// Every trigger, in the order the policy checks them.
    pub const ALL: [EscalationTrigger; 6] = [
        EscalationTrigger::ExplicitRequest,
        EscalationTrigger::Policy,
        EscalationTrigger::AgentError,
        EscalationTrigger::NegativeSentiment,
        EscalationTrigger::LowConfidence,
        EscalationTrigger::RepeatedFailure,
    ];

    /// The reason code as written in config, events and reports (`explicit_request`, …).
    pub fn code(self) -> &'static str {
        match self {
            EscalationTrigger::ExplicitRequest => "explicit_request",
            EscalationTrigger::NegativeSentiment => "negative_sentiment",
            EscalationTrigger::LowConfidence => "low_confidence",
            EscalationTrigger::Policy => "policy",
            EscalationTrigger::RepeatedFailure => "repeated_failure",
            EscalationTrigger::AgentError => "agent_error",
        }
    }
}

impl std::fmt::Display for EscalationTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// How urgently a human should pick a handoff up.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Whenever the queue allows.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before normal work.
    High,
    /// Now.
    Urgent,
}

impl Priority {
    /// The name as written in config and sent to helpdesks (`low`, `normal`, `high`, `urgent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// Where a handoff should go, as decided by the routing rules (hints for the helpdesk).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutingHint {
    /// Queue (or inbox, group) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Team name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// A specific assignee, when a rule names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Skills the human needs (e.g. the flow's id, a language).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<String>,
    /// How urgent.
    pub priority: Priority,
    /// The name of the routing rule that matched, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// A flow's own escalation thresholds, overriding the service-wide policy while it runs
/// (every field optional; unset ones keep the global value).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationOverride {
    /// Escalate when a message's sentiment is at or below this.
    #[serde(default)]
    pub sentiment_below: Option<f32>,
    /// Escalate after this many low-confidence turns in a row.
    #[serde(default)]
    pub low_confidence_turns: Option<u32>,
    /// Escalate after this many clarifications in the conversation.
    #[serde(default)]
    pub max_clarifications: Option<u32>,
    /// Escalate when the same slot would be asked this many times in a row.
    #[serde(default)]
    pub max_same_slot_asks: Option<u32>,
    /// Hand VIP customers to a human as soon as this flow starts.
    #[serde(default)]
    pub vip_to_human: Option<bool>,
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
    /// How sure the agent is that each identity (`kind:value`) is theirs: claimed, proven by
    /// the channel, or proven by a one-time code.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub assurance: std::collections::BTreeMap<String, crate::Assurance>,
    /// Whether the business treats them as VIP.
    pub vip: bool,
    /// Their language (BCP 47), if known.
    pub locale: Option<String>,
}

/// An earlier contact of the same customer, as far as the summary cares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryPriorContact {
    /// The earlier conversation.
    pub conversation_id: ConversationId,
    /// When it was last active.
    pub last_activity_at: Timestamp,
    /// The flows it ran, with how each ended.
    pub flows: Vec<String>,
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
    /// Where the handoff should go.
    pub routing: RoutingHint,
    /// Earlier conversations of the customer within the repeat-contact window.
    #[serde(default)]
    pub prior_contacts: Vec<SummaryPriorContact>,
    /// What the customer was told at handoff (who takes over, where, and when).
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
