//! The helpdesk's side of a handoff coming back: Zendesk's and Freshdesk's webhooks tell
//! frontline when a person replies on the ticket, solves it or reopens it. Each is served at
//! `/webhooks/{helpdesk}` like a channel provider (the server's one webhook route), but
//! delivers nothing: a person's reply goes to the customer through the channel they last used.

use async_trait::async_trait;
use frontline_channels::{
    Capabilities, HelpdeskEvent, Provider, Received, SendContext, SendError, Webhook, WebhookError,
};
use frontline_domain::{Channel, OutboundMessage, OutboxId};
use std::sync::Arc;

/// Reads one helpdesk's webhooks: verifies the request and says what happened to which ticket.
pub trait ReadWebhook: Send + Sync + 'static {
    /// The helpdesk's name, which is also its webhook path.
    fn name(&self) -> &'static str;

    /// Verify `webhook` and read its events (an event it does not act on is `Err` with why,
    /// answered 200 and listed as ignored).
    fn read(
        &self,
        webhook: &Webhook<'_>,
    ) -> Result<Vec<Result<HelpdeskEvent, String>>, WebhookError>;
}

/// A helpdesk's webhooks as an inbound-only provider.
pub struct Inbound<R>(pub R);

impl<R: ReadWebhook> Inbound<R> {
    /// As a provider for the registry.
    pub fn provider(reader: R) -> Arc<dyn Provider> {
        Arc::new(Inbound(reader))
    }
}

#[async_trait]
impl<R: ReadWebhook> Provider for Inbound<R> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn channels(&self) -> Vec<Channel> {
        vec![]
    }

    fn capabilities(&self, _channel: Channel) -> Capabilities {
        Capabilities::PLAIN
    }

    async fn receive(&self, webhook: &Webhook<'_>) -> Result<Received, WebhookError> {
        let mut received = Received::default();
        for event in self.0.read(webhook)? {
            match event {
                Ok(event) => received.helpdesk.push(event),
                Err(why) => received.ignored.push(why),
            }
        }
        Ok(received)
    }

    fn render(&self, _channel: Channel, markdown: &str) -> Vec<String> {
        vec![markdown.to_string()]
    }

    async fn send(
        &self,
        _message: &OutboundMessage,
        _outbox: OutboxId,
        _context: &SendContext,
    ) -> Result<String, SendError> {
        Err(SendError::Permanent(format!(
            "{} delivers no replies: it is a helpdesk",
            self.0.name()
        )))
    }
}

/// The JSON body of a webhook, or why it is not JSON.
pub(crate) fn json_body(webhook: &Webhook<'_>) -> Result<serde_json::Value, WebhookError> {
    serde_json::from_slice(webhook.body)
        .map_err(|e| WebhookError::Malformed(format!("the body is not JSON: {e}")))
}

/// A string or number field as text.
pub(crate) fn text_at(value: &serde_json::Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A helpdesk comment (HTML, as Freshdesk's placeholders give it) as plain text.
pub(crate) fn html_to_text(text: &str) -> String {
    if text.contains('<') {
        frontline_channels::html::to_text(text).trim().to_string()
    } else {
        text.trim().to_string()
    }
}
