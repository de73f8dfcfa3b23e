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
    /// How sure the channel is that the sender (and `also_known_as`) are the writer's own:
    /// claimed unless the channel proved it (a signed webhook, a checked identity hash, an
    /// email with an SPF or DKIM pass, an authenticated REST integration).
    #[serde(default)]
    pub assurance: crate::Assurance,
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
    /// What a reply needs to land in the same thread on this channel.
    #[serde(default, skip_serializing_if = "ThreadRef::is_empty")]
    pub thread: ThreadRef,
}

/// Channel facts a reply needs to land in the customer's thread: copied from the inbound
/// message to its reply, opaque to everything between the channel's parser and its sender.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadRef {
    /// Email: the subject the customer wrote under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Email: the `References` chain, oldest first, ending with the message replied to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    /// The provider's own thread, e.g. a Chatwoot conversation `<account>:<conversation>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_thread: Option<String>,
    /// The address the customer wrote to, which the reply comes from: the email address, the
    /// Twilio number, the WhatsApp business phone number id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl ThreadRef {
    /// True when the channel needs nothing to thread its reply.
    pub fn is_empty(&self) -> bool {
        self == &ThreadRef::default()
    }
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
    /// The thread facts of the message this answers.
    #[serde(default, skip_serializing_if = "ThreadRef::is_empty")]
    pub thread: ThreadRef,
    /// One-tap answers, where the channel can show them (the text still says how to answer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<crate::Choice>,
    /// The survey question this message asks, when it is one. A survey is never a reply the
    /// customer waits for: it is withdrawn if they write again, or a person takes over, before
    /// it is due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<crate::SurveyQuestion>,
}
