//! The channels a customer can write on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
}

impl Channel {
    /// All channels, in a stable order.
    pub const ALL: [Channel; 6] = [
        Channel::Rest,
        Channel::WebChat,
        Channel::Email,
        Channel::Sms,
        Channel::Whatsapp,
        Channel::Chatwoot,
    ];

    /// Whether the reply travels in the response to the inbound request (the REST channel), so
    /// it counts as delivered when the turn ends; other channels deliver through the outbox.
    pub fn replies_in_response(self) -> bool {
        matches!(self, Channel::Rest)
    }

    /// The wire name, as used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Rest => "rest",
            Channel::WebChat => "web_chat",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Chatwoot => "chatwoot",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel name that is not one of [`Channel::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown channel `{0}` (expected one of: rest, web_chat, email, sms, whatsapp, chatwoot)")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), c);
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        let err = "fax".parse::<Channel>().unwrap_err();
        assert!(err.to_string().contains("unknown channel `fax`"));
    }
}
