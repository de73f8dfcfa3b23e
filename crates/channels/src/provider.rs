//! The one shape every channel provider has. A provider is a component: it **verifies** and
//! **parses** its webhooks ([`Provider::receive`]), **renders** a reply for its channel and
//! **sends** it ([`Provider::send`]), and says what its channel can do
//! ([`Provider::capabilities`]). The server's one webhook route finds a provider by its path in
//! the [`Registry`](crate::Registry); the outbox worker finds one by the reply's channel. Adding
//! a provider is one file implementing this trait, plus its fixtures.

use crate::{Received, WebhookError};
use async_trait::async_trait;
use frontline_domain::{Channel, NormalizeOptions, OutboundMessage, OutboxId, Timestamp};

/// One webhook request, as the provider sees it: everything it may need to verify and read it.
#[derive(Clone, Copy, Debug)]
pub struct Webhook<'a> {
    /// The path after `/webhooks/` (`twilio`, `email/mailgun`, …): which of the provider's
    /// webhooks this is.
    pub path: &'a str,
    /// The request headers; names are lowercase.
    pub headers: &'a [(String, String)],
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The raw body, exactly as signed.
    pub body: &'a [u8],
    /// When the request arrived (for timestamp tolerance checks and undated messages).
    pub received_at: Timestamp,
    /// How phone numbers without a country code are read.
    pub normalize: &'a NormalizeOptions,
}

impl Webhook<'_> {
    /// The first value of a header (`name` lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        crate::parse_form(self.query.as_bytes())
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// What a provider answers a webhook it accepted with, when not the default JSON summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// What a channel can carry, as its provider knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The longest text one provider message may hold, in characters (`None`: no limit that
    /// matters, as for email). Longer replies are split where the channel allows it.
    pub max_message_chars: Option<usize>,
    /// How long after the customer's last message on the channel a free-form reply may be
    /// sent (WhatsApp's and Messenger's 24 hours); `None`: any time.
    pub reply_window: Option<chrono::Duration>,
    /// Whether the channel shows its own markup (WhatsApp `*bold*`, Telegram's Markdown), so
    /// rendering keeps emphasis; otherwise replies go out as plain text.
    pub markup: bool,
}

impl Capabilities {
    /// Plain text of any length, any time.
    pub const PLAIN: Capabilities = Capabilities {
        max_message_chars: None,
        reply_window: None,
        markup: false,
    };

    /// Whether a free-form reply may go out at `now`, the customer having last written on the
    /// channel at `last_inbound`.
    pub fn window_open(&self, last_inbound: Option<Timestamp>, now: Timestamp) -> bool {
        match self.reply_window {
            None => true,
            Some(window) => last_inbound.is_some_and(|at| now - at < window),
        }
    }
}

/// Why a delivery failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying (network, 5xx, 429).
    #[error("transient: {0}")]
    Transient(String),
    /// Will fail again (4xx, no address).
    #[error("permanent: {0}")]
    Permanent(String),
    /// The customer cannot be reached on this channel now, by us or by anyone retrying (outside
    /// WhatsApp's 24-hour window with no template): a person must follow up another way.
    #[error("unreachable: {0}")]
    Unreachable(String),
}

/// What a sender may need to know beyond the message.
#[derive(Clone, Debug)]
pub struct SendContext {
    /// When the customer last wrote on the message's channel (known for channels with a reply
    /// window).
    pub last_inbound: Option<Timestamp>,
    /// Now.
    pub now: Timestamp,
}

/// A channel provider: its webhooks in, its replies out.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Its name in configuration and logs (`twilio`, `telegram`, …).
    fn name(&self) -> &'static str;

    /// The webhook paths it answers, after `/webhooks/` (usually just its name).
    fn webhook_paths(&self) -> Vec<&'static str> {
        vec![self.name()]
    }

    /// The channels it delivers replies on (none for an inbound-only provider).
    fn channels(&self) -> Vec<Channel>;

    /// What `channel` can carry through this provider.
    fn capabilities(&self, channel: Channel) -> Capabilities;

    /// Answer a `GET` subscription handshake (Meta's), with the body to send back.
    fn handshake(&self, webhook: &Webhook<'_>) -> Result<String, WebhookError> {
        let _ = webhook;
        Err(WebhookError::NoHandshake(self.name().into()))
    }

    /// Verify a webhook `POST` and read what it carries. A request that is not the provider's
    /// is [`WebhookError::Unauthorized`], and nothing of it is read.
    async fn receive(&self, webhook: &Webhook<'_>) -> Result<Received, WebhookError>;

    /// What an accepted webhook is answered with, when the provider expects more than `200`
    /// with a JSON summary (Twilio's empty TwiML).
    fn acknowledgement(&self) -> Option<Acknowledgement> {
        None
    }

    /// `markdown` as the provider messages that carry it on `channel`, in order.
    fn render(&self, channel: Channel, markdown: &str) -> Vec<String>;

    /// Deliver `message` (outbox entry `outbox`); returns the provider's id of what was sent
    /// (comma-separated when it went out as several messages).
    async fn send(
        &self,
        message: &OutboundMessage,
        outbox: OutboxId,
        context: &SendContext,
    ) -> Result<String, SendError>;
}
