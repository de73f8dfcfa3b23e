//! What can stop an agent operation.

use frontline_domain::Channel;
use frontline_store::StoreError;

/// What can stop a turn.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The store failed; the message is released so a redelivery runs the turn again.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The same message is being processed by another request right now.
    #[error("message {channel_message_id} on {channel} is still being processed; retry shortly")]
    InProgress {
        /// The channel.
        channel: Channel,
        /// The provider's message id.
        channel_message_id: String,
    },
    /// A stored turn result could not be read back.
    #[error("stored result of message {0} is unreadable: {1}")]
    CorruptResult(String, String),
}
