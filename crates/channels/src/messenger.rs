//! Facebook Messenger, a Page's conversations through the Messenger Platform: Meta's `GET`
//! handshake and `X-Hub-Signature-256` (shared with WhatsApp, [`crate::meta`]), the
//! `{"object":"page","entry":[{"messaging":[…]}]}` webhook (messages, quick replies and
//! postbacks; delivery and read receipts; our own echoes ignored), and the Send API
//! (`POST /me/messages`, `messaging_type: RESPONSE`) within the 24-hour standard messaging
//! window. A customer is their page-scoped id (PSID), an `messenger` identity.

use crate::provider::{Capabilities, Provider, SendContext, SendError, Webhook};
use crate::{DeliveryStatus, Received, WebhookError};
use frontline_domain::{
    Assurance, Channel, Identity, IdentityKind, InboundMessage, NormalizeOptions, OutboundMessage,
    OutboxId, ThreadRef, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What Messenger carries: plain text, 2,000 characters a message, free-form replies within 24
/// hours of the customer's last message.
pub const CAPABILITIES: Capabilities = Capabilities {
    max_message_chars: Some(2000),
    reply_window: Some(chrono::Duration::hours(24)),
    markup: false,
};

/// `[channels.messenger]`: a Facebook Page's Messenger conversations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessengerConfig {
    /// The Meta app's secret: checks `X-Hub-Signature-256`.
    pub app_secret: String,
    /// Answers the subscription handshake.
    pub verify_token: String,
    /// The Page access token the Send API takes.
    pub page_access_token: String,
    /// Graph API base, version included.
    #[serde(default = "crate::graph_api")]
    pub api_base: String,
}

#[derive(Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Party,
    recipient: Party,
    /// Milliseconds since the epoch.
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    postback: Option<Postback>,
    #[serde(default)]
    delivery: Option<Delivery>,
    #[serde(default)]
    read: Option<Value>,
}

#[derive(Deserialize)]
struct Message {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    attachments: Vec<Value>,
}

#[derive(Deserialize)]
struct Postback {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
    watermark: i64,
}

fn millis(field: &str, ms: i64) -> Result<Timestamp, WebhookError> {
    chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| WebhookError::malformed(format!("`{field}` is not a time: {ms}")))
}

/// Parse a webhook body (already signature-checked).
pub fn parse(body: &[u8], received_at: Timestamp) -> Result<Received, WebhookError> {
    let note: Notification = serde_json::from_slice(body)
        .map_err(|e| WebhookError::malformed(format!("not a Messenger notification: {e}")))?;
    if note.object != "page" {
        return Ok(Received::ignored(format!(
            "object `{}` is not page",
            note.object
        )));
    }
    let mut received = Received::default();
    for event in note.entry.iter().flat_map(|e| &e.messaging) {
        let at = match event.timestamp {
            Some(ms) => millis("messaging[].timestamp", ms)?,
            None => received_at,
        };
        if let Some(delivery) = &event.delivery {
            let at = millis("delivery.watermark", delivery.watermark)?;
            for mid in &delivery.mids {
                received.statuses.push(DeliveryStatus {
                    channel: Channel::Messenger,
                    provider_message_id: mid.clone(),
                    status: "delivered".into(),
                    detail: None,
                    at,
                });
            }
            if delivery.mids.is_empty() {
                received
                    .ignored
                    .push("a delivery watermark without message ids".into());
            }
            continue;
        }
        if event.read.is_some() {
            received
                .ignored
                .push("a read receipt (watermark only)".into());
            continue;
        }
        let (id, text) = match (&event.message, &event.postback) {
            (Some(m), _) if m.is_echo => {
                received
                    .ignored
                    .push(format!("message {} is our own echo", m.mid));
                continue;
            }
            (Some(m), _) => match m.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                // A quick reply carries its title as the text, as the customer saw it.
                Some(text) => (m.mid.clone(), text.to_string()),
                None => {
                    received.ignored.push(format!(
                        "message {} has no text ({} attachments are not read)",
                        m.mid,
                        m.attachments.len()
                    ));
                    continue;
                }
            },
            // A button the customer pressed: its title is what they chose.
            (None, Some(p)) => {
                let text = p
                    .title
                    .clone()
                    .or_else(|| p.payload.clone())
                    .filter(|t| !t.trim().is_empty())
                    .ok_or_else(|| WebhookError::malformed("a postback has no title or payload"))?;
                let id = p.mid.clone().unwrap_or_else(|| {
                    format!("postback:{}:{}", event.sender.id, at.timestamp_millis())
                });
                (id, text)
            }
            (None, None) => {
                received.ignored.push(format!(
                    "a messaging event from {} that is neither a message nor a postback",
                    event.sender.id
                ));
                continue;
            }
        };
        let sender = Identity::parse(
            IdentityKind::Messenger,
            &event.sender.id,
            &NormalizeOptions::default(),
        )
        .map_err(|e| WebhookError::malformed(format!("message {id}: {e}")))?;
        received.messages.push(InboundMessage {
            channel: Channel::Messenger,
            channel_message_id: id,
            sender,
            also_known_as: vec![],
            // Meta signed the request: the PSID is the writer's.
            assurance: Assurance::Channel,
            display_name: None,
            text,
            received_at: at,
            conversation_hint: None,
            thread: ThreadRef {
                via: Some(event.recipient.id.clone()),
                ..ThreadRef::default()
            },
        });
    }
    Ok(received)
}

/// The Send API body of a text reply to `psid`.
pub fn text_body(psid: &str, text: &str) -> Value {
    json!({
        "recipient": { "id": psid },
        "messaging_type": "RESPONSE",
        "message": { "text": text },
    })
}

/// The Send API body of `text` with one-tap answers as quick replies (their payload is the
/// choice's id; a tap comes back as a message with its title).
pub fn choices_body(psid: &str, text: &str, choices: &[frontline_domain::Choice]) -> Value {
    let mut body = text_body(psid, text);
    body["message"]["quick_replies"] = choices
        .iter()
        .map(|c| json!({ "content_type": "text", "title": c.title, "payload": c.id }))
        .collect();
    body
}

/// Messenger as a provider: `GET`/`POST /webhooks/messenger` in, the Send API out.
pub struct MessengerProvider {
    config: MessengerConfig,
    client: reqwest::Client,
}

impl MessengerProvider {
    /// A provider with these settings.
    pub fn new(config: MessengerConfig, timeout: std::time::Duration) -> Self {
        Self {
            config,
            client: crate::http::client(timeout),
        }
    }
}

#[async_trait::async_trait]
impl Provider for MessengerProvider {
    fn name(&self) -> &'static str {
        "messenger"
    }

    fn channels(&self) -> Vec<Channel> {
        vec![Channel::Messenger]
    }

    fn capabilities(&self, _channel: Channel) -> Capabilities {
        CAPABILITIES
    }

    fn handshake(&self, webhook: &Webhook<'_>) -> Result<String, WebhookError> {
        crate::meta::handshake(webhook, &self.config.verify_token)
    }

    async fn receive(&self, webhook: &Webhook<'_>) -> Result<Received, WebhookError> {
        crate::meta::verify_signature(
            &self.config.app_secret,
            webhook.body,
            webhook.header(crate::meta::SIGNATURE_HEADER),
        )?;
        parse(webhook.body, webhook.received_at)
    }

    fn render(&self, _channel: Channel, markdown: &str) -> Vec<String> {
        crate::render::split(&crate::render::plain_text(markdown), 2000)
    }

    async fn send(
        &self,
        message: &OutboundMessage,
        _outbox: OutboxId,
        context: &SendContext,
    ) -> Result<String, SendError> {
        if message.recipient.kind != IdentityKind::Messenger {
            return Err(SendError::Permanent(format!(
                "{} is not a Messenger user",
                message.recipient
            )));
        }
        if !CAPABILITIES.window_open(context.last_inbound, context.now) {
            return Err(SendError::Unreachable(
                "outside Messenger's 24-hour standard messaging window".into(),
            ));
        }
        let url = format!("{}/me/messages", self.config.api_base.trim_end_matches('/'));
        let mut ids = Vec::new();
        let parts = self.render(Channel::Messenger, &message.text);
        let last = parts.len().saturating_sub(1);
        for (i, text) in parts.into_iter().enumerate() {
            // One-tap answers ride on the last part.
            let body = if i == last && !message.choices.is_empty() {
                choices_body(&message.recipient.value, &text, &message.choices)
            } else {
                text_body(&message.recipient.value, &text)
            };
            let sent = crate::http::answer(
                "Messenger Send API",
                self.client
                    .post(&url)
                    .bearer_auth(&self.config.page_access_token)
                    .json(&body)
                    .send()
                    .await,
            )
            .await?;
            ids.push(sent["message_id"].as_str().unwrap_or_default().to_string());
        }
        Ok(ids.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_ride_as_quick_replies_with_their_ids_as_payloads() {
        let choices: Vec<_> = (1..=5)
            .map(|n| frontline_domain::Choice {
                id: format!("csat:{n}"),
                title: n.to_string(),
            })
            .collect();
        let body = choices_body("24012345", "How satisfied are you?", &choices);
        assert_eq!(body["recipient"]["id"], "24012345");
        assert_eq!(body["message"]["text"], "How satisfied are you?");
        let quick = body["message"]["quick_replies"].as_array().unwrap();
        assert_eq!(quick.len(), 5);
        assert_eq!(quick[0]["content_type"], "text");
        assert_eq!(quick[0]["title"], "1");
        assert_eq!(quick[0]["payload"], "csat:1");
    }
}
