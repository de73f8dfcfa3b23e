//! Messages as they cross the boundary: inbound from a channel, outbound to one.

use crate::{Channel, ConversationId, Identity, Timestamp};
use serde::{Deserialize, Serialize};

/// A customer's message, verified and parsed by its channel, before any business logic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The channel it arrived on.
    pub channel: Channel,
    /// The provider's id for this message; a second delivery with the same id is a duplicate.
    pub channel_message_id: String,
    /// The handle the message was sent from.
    pub sender: Identity,
    /// Further handles the channel vouches for (e.g. a Chatwoot contact's email and phone).
    #[serde(default)]
    pub also_known_as: Vec<Identity>,
    /// A display name the channel supplied, if any.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The message text, as the customer wrote it (quoted replies already stripped).
    pub text: String,
    /// When the channel received it.
    pub received_at: Timestamp,
    /// A conversation the channel already knows this belongs to (email `reply+<id>@`, …).
    #[serde(default)]
    pub conversation_hint: Option<ConversationId>,
}

impl InboundMessage {
    /// Every identity this message vouches for, sender first.
    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        std::iter::once(&self.sender).chain(self.also_known_as.iter())
    }
}

/// A reply on its way to a customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The conversation it belongs to.
    pub conversation_id: ConversationId,
    /// The channel to deliver it on (the one the customer last wrote from).
    pub channel: Channel,
    /// Who receives it.
    pub recipient: Identity,
    /// The reply text, before channel-specific rendering.
    pub text: String,
    /// The channel message id this answers, for threading.
    pub in_reply_to: Option<String>,
}
