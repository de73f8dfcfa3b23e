//! A conversation: one customer, one issue thread, any number of channels.

use crate::{Channel, ConversationId, CustomerId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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

impl ConversationStatus {
    /// The wire name, as used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Bot => "bot",
            ConversationStatus::HandedOff => "handed_off",
            ConversationStatus::Resolved => "resolved",
        }
    }
}

impl fmt::Display for ConversationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not bot, handed_off or resolved.
#[derive(Debug, thiserror::Error)]
#[error("unknown conversation status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for ConversationStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bot" => Ok(Self::Bot),
            "handed_off" => Ok(Self::HandedOff),
            "resolved" => Ok(Self::Resolved),
            other => Err(UnknownStatus(other.to_string())),
        }
    }
}

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
