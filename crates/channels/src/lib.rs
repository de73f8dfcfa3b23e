//! frontline's channels. Every provider is one component implementing [`Provider`]:
//!
//! * inbound: **verify** the request (signature, token) and **parse** the payload into
//!   [`InboundMessage`]s, delivery receipts and helpdesk events ([`Received`]); the server's one
//!   webhook route, `/webhooks/{path}`, finds the provider in the [`Registry`] and queues what
//!   it read for the agent;
//! * outbound: **render** a reply for the channel (SMS segments, WhatsApp markup, email
//!   threading headers) and **send** it through the provider's API; the server's reply outbox
//!   delivers through the registry.
//!
//! | file | provider | webhook | inbound check | outbound |
//! |---|---|---|---|---|
//! | [`twilio`] | Twilio SMS and WhatsApp | `twilio` | `X-Twilio-Signature` | Messages REST API |
//! | [`whatsapp`] | Meta WhatsApp Cloud API | `whatsapp` (+ `GET` handshake) | `X-Hub-Signature-256` | Graph `/{phone_number_id}/messages` |
//! | [`messenger`] | Facebook Messenger | `messenger` (+ `GET` handshake) | `X-Hub-Signature-256` | Graph `/me/messages` |
//! | [`telegram`] | Telegram Bot API | `telegram` | `X-Telegram-Bot-Api-Secret-Token` | `sendMessage` |
//! | [`email`] | Postmark, Mailgun in; SMTP out | `email/postmark`, `email/mailgun` | basic auth; Mailgun HMAC | SMTP with threading headers |
//! | [`chatwoot`] | Chatwoot Agent Bot | `chatwoot` | URL token | Chatwoot messages API |
//! | [`webchat`] | the embeddable widget | (its own routes) | verified user ids (HMAC) | server-sent events |
//!
//! No business logic lives here: a channel never decides what to say, only how it travels.

pub mod chatwoot;
pub mod email;
pub mod html;
pub mod http;
pub mod messenger;
pub mod meta;
pub mod provider;
pub mod registry;
pub mod render;
pub mod telegram;
pub mod twilio;
pub mod webchat;
pub mod whatsapp;

pub use provider::{Acknowledgement, Capabilities, Provider, SendContext, SendError, Webhook};
pub use registry::{ChannelsConfig, Registry, WebchatConfig};

use frontline_domain::{Channel, Identity, InboundMessage, Timestamp};
use hmac::{Hmac, Mac};

/// Why a webhook request was refused. The server maps these onto HTTP statuses: providers
/// retry non-2xx answers, so only requests that must never be processed get one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Not from the provider (missing or wrong signature, stale timestamp, bad token): 401,
    /// nothing stored.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A subscription handshake with the wrong verify token: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Signed correctly but not a payload we can read: 400 with the reason.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// A `GET` to a provider that has no subscription handshake (only Meta's do): 405.
    #[error("the {0} webhook takes no GET handshake")]
    NoHandshake(String),
}

impl WebhookError {
    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        WebhookError::Malformed(reason.into())
    }
    pub(crate) fn unauthorized(reason: impl Into<String>) -> Self {
        WebhookError::Unauthorized(reason.into())
    }
}

/// A provider's delivery receipt for a message we sent (sent, delivered, read, failed, …):
/// recorded, never answered.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryStatus {
    /// The channel.
    pub channel: Channel,
    /// The provider's id of our message.
    pub provider_message_id: String,
    /// The provider's status word, lowercased.
    pub status: String,
    /// Error details for failures.
    pub detail: Option<String>,
    /// When the provider says it happened.
    pub at: Timestamp,
}

/// What one webhook request carried. Providers batch: one request can hold several messages
/// and receipts; anything else is listed in `ignored` with why (answered 200, since providers
/// retry anything else).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Received {
    /// Customer messages for the agent.
    pub messages: Vec<InboundMessage>,
    /// Delivery receipts to record.
    pub statuses: Vec<DeliveryStatus>,
    /// What a helpdesk reported about its side of a conversation (a person wrote, the
    /// conversation went back to the bot).
    pub helpdesk: Vec<HelpdeskEvent>,
    /// What was deliberately not acted on, and why.
    pub ignored: Vec<String>,
}

/// What a helpdesk tells frontline about a conversation a person has.
#[derive(Clone, Debug, PartialEq)]
pub struct HelpdeskEvent {
    /// The helpdesk (`chatwoot`, `zendesk`, `freshdesk`).
    pub helpdesk: &'static str,
    /// Which conversation it is about.
    pub about: HelpdeskRef,
    /// What happened.
    pub change: frontline_domain::HelpdeskChange,
    /// The helpdesk's id of the event, so a redelivery is applied once (`None`: the helpdesk
    /// sends none, and the change is applied as it comes).
    pub event_id: Option<String>,
    /// When the helpdesk says it happened (`None`: when it arrived).
    pub at: Option<Timestamp>,
}

/// How a helpdesk names the conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelpdeskRef {
    /// By its contact, which finds our customer (Chatwoot).
    Contact(Identity),
    /// By the ticket a handoff opened (its reference, as the handoff outbox recorded it).
    Ticket(String),
}

impl HelpdeskEvent {
    /// A change about a contact, with no id or time of its own (Chatwoot's).
    pub fn about_contact(
        helpdesk: &'static str,
        contact: Identity,
        change: frontline_domain::HelpdeskChange,
    ) -> Self {
        HelpdeskEvent {
            helpdesk,
            about: HelpdeskRef::Contact(contact),
            change,
            event_id: None,
            at: None,
        }
    }
}

impl Received {
    /// Nothing to act on, for this reason.
    pub fn ignored(reason: impl Into<String>) -> Self {
        Received {
            ignored: vec![reason.into()],
            ..Received::default()
        }
    }

    /// Exactly these messages.
    pub fn messages(messages: Vec<InboundMessage>) -> Self {
        Received {
            messages,
            ..Received::default()
        }
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Hmac<sha2::Sha256> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Check a hex-encoded HMAC-SHA256 of `parts` in constant time.
pub(crate) fn verify_hex_sha256(
    key: &[u8],
    parts: &[&[u8]],
    given_hex: &str,
) -> Result<(), WebhookError> {
    let given = hex::decode(given_hex.trim())
        .map_err(|_| WebhookError::unauthorized("the signature is not hex"))?;
    hmac_sha256(key, parts)
        .verify_slice(&given)
        .map_err(|_| WebhookError::unauthorized("the signature does not match the body"))
}

/// Whether two secrets (tokens, passwords) are equal, compared in constant time: both are run
/// through an HMAC and the tags compared, so neither length nor content leaks through timing.
pub fn secrets_match(expected: &[u8], given: &[u8]) -> bool {
    let tag = hmac_sha256(b"frontline-secret-compare", &[expected])
        .finalize()
        .into_bytes();
    hmac_sha256(b"frontline-secret-compare", &[given])
        .verify_slice(&tag)
        .is_ok()
}

/// Seconds since the Unix epoch as a timestamp, or a clear error.
pub(crate) fn unix_seconds(field: &str, raw: &str) -> Result<Timestamp, WebhookError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .ok_or_else(|| WebhookError::malformed(format!("`{field}` is not a Unix time: {raw:?}")))
}

/// Form fields as `(name, value)` pairs, in the order sent.
pub type FormFields = Vec<(String, String)>;

/// Decode an `application/x-www-form-urlencoded` body.
pub fn parse_form(body: &[u8]) -> Result<FormFields, WebhookError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|e| WebhookError::malformed(format!("not a form body: {e}")))
}

/// The text fields of a `multipart/form-data` body (`content_type` carries its boundary), as
/// [`parse_form`] gives them, and how many file parts (attachments) were left out.
pub async fn parse_multipart_form(
    content_type: &str,
    body: bytes::Bytes,
) -> Result<(FormFields, usize), WebhookError> {
    let malformed =
        |e: multer::Error| WebhookError::malformed(format!("not a multipart form: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let (mut fields, mut files) = (Vec::new(), 0);
    while let Some(part) = form.next_field().await.map_err(malformed)? {
        let name = part.name().map(str::to_string);
        match (name, part.file_name()) {
            (Some(name), None) => fields.push((name, part.text().await.map_err(malformed)?)),
            // Attachments (and nameless parts) are not read: the message is its text.
            _ => files += 1,
        }
    }
    Ok((fields, files))
}

/// The first value of a form field.
pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A form field that must be present and non-empty.
pub(crate) fn required<'a>(
    fields: &'a [(String, String)],
    name: &str,
) -> Result<&'a str, WebhookError> {
    field(fields, name)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| WebhookError::malformed(format!("the `{name}` field is missing")))
}

/// The Graph API base, version included, that Meta's providers call by default.
pub(crate) fn graph_api() -> String {
    "https://graph.facebook.com/v21.0".into()
}
