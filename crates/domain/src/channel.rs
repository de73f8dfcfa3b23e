//! The channels a customer can write on.

use serde::{Deserialize, Serialize};

/// Where a message came from or goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The generic REST channel (`POST /v1/messages`) and the terminal `chat`.
    Rest,
    /// The embeddable web chat widget.
    WebChat,
    /// Inbound email webhooks, outbound SMTP.
    Email,
    /// SMS through Twilio.
    Sms,
    /// WhatsApp, through Twilio or Meta's Cloud API.
    Whatsapp,
    /// Any inbox of a Chatwoot helpdesk (via its Agent Bot webhook).
    Chatwoot,
    /// Facebook Messenger, a Page's conversations.
    Messenger,
    /// Telegram, through a bot.
    Telegram,
}

crate::wire::wire_names!(Channel, "channel", {
    Rest => "rest",
    WebChat => "web_chat",
    Email => "email",
    Sms => "sms",
    Whatsapp => "whatsapp",
    Chatwoot => "chatwoot",
    Messenger => "messenger",
    Telegram => "telegram",
});

impl Channel {
    /// Whether the reply travels in the response to the inbound request (the REST channel), so
    /// it counts as delivered when the turn ends; other channels deliver through the outbox.
    pub fn replies_in_response(self) -> bool {
        matches!(self, Channel::Rest)
    }

    /// Whether the channel is a helpdesk that delivers its own agents' messages to the customer
    /// (Chatwoot): a person's reply written there is recorded, never relayed a second time.
    pub fn delivers_human_replies(self) -> bool {
        matches!(self, Channel::Chatwoot)
    }

    /// Whether the channel shows a reply as it is written (the web chat, over server-sent
    /// events), so an LLM's answer is streamed to it as drafts before the reply is final.
    pub fn streams_replies(self) -> bool {
        matches!(self, Channel::WebChat)
    }

    /// Whether an answer's source goes out as a link to the article (when a help centre is
    /// configured): everywhere but SMS, where every character costs and an address splits the
    /// message.
    pub fn carries_links(self) -> bool {
        !matches!(self, Channel::Sms)
    }

    /// The longest answer from knowledge the channel should carry, in characters: an SMS
    /// segment pair, a WhatsApp message, an email, a chat bubble.
    pub fn max_answer_chars(self) -> usize {
        match self {
            Channel::Sms => 320,
            Channel::Whatsapp | Channel::Messenger | Channel::Telegram => 1000,
            Channel::Email => 1500,
            Channel::Rest | Channel::WebChat | Channel::Chatwoot => 700,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for &c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        let err = "fax".parse::<Channel>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown channel `fax` (expected one of: rest, web_chat, email, sms, whatsapp, chatwoot, messenger, telegram)"
        );
    }
}
