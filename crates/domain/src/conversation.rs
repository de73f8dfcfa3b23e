//! A conversation: one customer, one issue thread, any number of channels.

use crate::{Channel, ConversationId, CustomerId, Timestamp};
use serde::{Deserialize, Serialize};

/// Who is handling the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// The agent answers.
    Bot,
    /// A human has it; the agent stays silent on every channel until released.
    HandedOff,
    /// Closed; the customer's next message opens a new conversation.
    Resolved,
}

crate::wire::wire_names!(ConversationStatus, "conversation status", {
    Bot => "bot",
    HandedOff => "handed_off",
    Resolved => "resolved",
});

/// A conversation's header; its content is the event log (see [`crate::Event`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// The customer it belongs to.
    pub customer_id: CustomerId,
    /// Who is handling it.
    pub status: ConversationStatus,
    /// When the first message arrived.
    pub opened_at: Timestamp,
    /// When the last message (either way) was recorded.
    pub last_activity_at: Timestamp,
    /// Every channel the customer has used in it, in order of first use.
    pub channels_seen: Vec<Channel>,
}
