//! The generic REST channel's message, as a client sends it, validated and normalised into the
//! agent's message type; and ids in request paths.

use crate::ApiError;
use frontline_domain::{Channel, Identity, IdentityKind, InboundMessage, NormalizeOptions};
use serde::Deserialize;

/// Longest message text accepted (characters).
pub const MAX_TEXT_CHARS: usize = 10_000;

/// A handle on the sender, as the client gives it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityRequest {
    /// email, phone, whatsapp, account_id, web_session or chatwoot_contact.
    pub kind: IdentityKind,
    /// The raw value; normalised by the server.
    pub value: String,
}

/// `POST /v1/messages` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRequest {
    /// The channel the message is attributed to (default `rest`).
    #[serde(default = "rest")]
    pub channel: Channel,
    /// The client's id for this message; sending it again is answered from the first delivery.
    pub channel_message_id: String,
    /// Who sent it.
    pub sender: IdentityRequest,
    /// Further handles the client vouches for.
    #[serde(default)]
    pub also_known_as: Vec<IdentityRequest>,
    /// Whether the client proved the sender owns these handles (`channel`, the default: an
    /// authenticated integration that signed its user in) or only passes on what the writer
    /// claims (`claimed`: account actions then need a one-time code).
    #[serde(default = "vouched")]
    pub assurance: frontline_domain::Assurance,
    /// The sender's name, if known.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The message text.
    pub text: String,
}

fn rest() -> Channel {
    Channel::Rest
}

fn vouched() -> frontline_domain::Assurance {
    frontline_domain::Assurance::Channel
}

fn parse_identity(
    field: &str,
    r: &IdentityRequest,
    opts: &NormalizeOptions,
) -> Result<Identity, ApiError> {
    Identity::parse(r.kind, &r.value, opts)
        .map_err(|e| ApiError::invalid(format!("{field}.value"), e.to_string()))
}

impl MessageRequest {
    /// Validate and normalise into the agent's message type.
    pub fn into_inbound(self, opts: &NormalizeOptions) -> Result<InboundMessage, ApiError> {
        let id = self.channel_message_id.trim();
        if id.is_empty() || id.chars().count() > 256 {
            return Err(ApiError::invalid(
                "channel_message_id".to_string(),
                "`channel_message_id` must be 1 to 256 characters",
            ));
        }
        if self.text.trim().is_empty() {
            return Err(ApiError::invalid("text".to_string(), "`text` is empty"));
        }
        if self.text.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::invalid(
                "text".to_string(),
                format!("`text` is longer than {MAX_TEXT_CHARS} characters"),
            ));
        }
        if self.assurance == frontline_domain::Assurance::Code {
            return Err(ApiError::invalid(
                "assurance".to_string(),
                "`code` is granted by a one-time code the agent sends, not by a client; use `channel` or `claimed`".to_string(),
            ));
        }
        let sender = parse_identity("sender", &self.sender, opts)?;
        let also_known_as = self
            .also_known_as
            .iter()
            .enumerate()
            .map(|(i, r)| parse_identity(&format!("also_known_as[{i}]"), r, opts))
            .collect::<Result<_, _>>()?;
        Ok(InboundMessage {
            channel: self.channel,
            channel_message_id: id.to_string(),
            sender,
            also_known_as,
            assurance: self.assurance,
            display_name: self
                .display_name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            text: self.text,
            received_at: chrono_now(),
            conversation_hint: None,
            thread: Default::default(),
        })
    }
}

fn chrono_now() -> frontline_domain::Timestamp {
    std::time::SystemTime::now().into()
}

/// An id in a request path, or a 400 saying it is not a `what` id.
pub fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::invalid(
            "id".to_string(),
            format!("`{raw}` is not a {what} id (a UUID)"),
        )
    })
}
