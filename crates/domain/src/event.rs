//! The append-only event log: a conversation *is* its events; every other view is a projection.

use crate::{
    ActionCall, Channel, ConversationId, ConversationStatus, EscalationSummary, Identity, OutboxId,
    ScoredCommand, Timestamp,
};
use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A customer message arrived.
    MessageReceived {
        /// Channel it arrived on.
        channel: Channel,
        /// The provider's message id.
        channel_message_id: String,
        /// Who sent it.
        sender: Identity,
        /// What they wrote.
        text: String,
    },
    /// Understanding proposed these commands for the last message.
    CommandsUnderstood {
        /// The commands, with confidences.
        commands: Vec<ScoredCommand>,
        /// Which understanding produced them (`rules`, `local`, `llm:<model>`).
        source: String,
    },
    /// A backend action ran.
    ActionExecuted {
        /// The call.
        call: ActionCall,
        /// Its result, or the error.
        outcome: Result<serde_json::Value, crate::ActionError>,
    },
    /// The agent replied.
    ReplySent {
        /// Channel it goes out on.
        channel: Channel,
        /// The reply text.
        text: String,
        /// The outbox entry carrying it.
        outbox_id: OutboxId,
    },
    /// The conversation changed hands.
    StatusChanged {
        /// Before.
        from: ConversationStatus,
        /// After.
        to: ConversationStatus,
    },
    /// The conversation was escalated with this context.
    Escalated {
        /// The summary sent to the human.
        summary: Box<EscalationSummary>,
    },
}

impl EventKind {
    /// The kind's name, as stored (`message_received`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::MessageReceived { .. } => "message_received",
            EventKind::CommandsUnderstood { .. } => "commands_understood",
            EventKind::ActionExecuted { .. } => "action_executed",
            EventKind::ReplySent { .. } => "reply_sent",
            EventKind::StatusChanged { .. } => "status_changed",
            EventKind::Escalated { .. } => "escalated",
        }
    }
}

/// One entry of a conversation's log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// 1-based position in the conversation's log; gap-free.
    pub seq: i64,
    /// When it was recorded.
    pub at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}
