//! Telegram, through a bot: the Bot API's webhook (an `Update` per request, authenticated by
//! the `X-Telegram-Bot-Api-Secret-Token` header carrying the `secret_token` given to
//! `setWebhook`; Telegram does not sign bodies) and `sendMessage` out. Private chats only: a
//! customer is their Telegram user id, a `telegram` identity. A contact the customer shares
//! that is their own (its `user_id` is the sender's) adds its phone number as a further
//! identity, so Telegram joins the customer's SMS and WhatsApp history.

use crate::provider::{Capabilities, Provider, SendContext, SendError, Webhook};
use crate::{Received, WebhookError};
use frontline_domain::{
    Assurance, Channel, Identity, IdentityKind, InboundMessage, NormalizeOptions, OutboundMessage,
    OutboxId, ThreadRef, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The header carrying the webhook's secret token.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// What Telegram carries: plain text, 4,096 characters a message, any time.
pub const CAPABILITIES: Capabilities = Capabilities {
    max_message_chars: Some(4096),
    reply_window: None,
    markup: false,
};

/// `[channels.telegram]`: a Telegram bot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot's token from BotFather (`123456:ABC…`).
    pub bot_token: String,
    /// The `secret_token` given to `setWebhook`, which every webhook request carries.
    pub secret_token: String,
    /// Bot API base.
    #[serde(default = "bot_api")]
    pub api_base: String,
}

fn bot_api() -> String {
    "https://api.telegram.org".into()
}

/// Check the secret-token header in constant time.
pub fn verify_secret(expected: &str, given: Option<&str>) -> Result<(), WebhookError> {
    let given = given.ok_or_else(|| {
        WebhookError::unauthorized("the X-Telegram-Bot-Api-Secret-Token header is missing")
    })?;
    if crate::secrets_match(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::unauthorized(
            "X-Telegram-Bot-Api-Secret-Token does not match",
        ))
    }
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    callback_query: Option<CallbackQuery>,
    #[serde(flatten)]
    other: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    #[serde(default)]
    from: Option<User>,
    chat: Chat,
    date: i64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    contact: Option<Contact>,
}

#[derive(Deserialize)]
struct Contact {
    phone_number: String,
    #[serde(default)]
    user_id: Option<i64>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    data: Option<String>,
}

fn display_name(user: &User) -> Option<String> {
    let name = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!name.trim().is_empty()).then_some(name)
}

/// Parse an `Update` (already authenticated); a button press, which carries no time, is dated
/// `received_at`.
pub fn parse(
    body: &[u8],
    opts: &NormalizeOptions,
    received_at: Timestamp,
) -> Result<Received, WebhookError> {
    let update: Update = serde_json::from_slice(body)
        .map_err(|e| WebhookError::malformed(format!("not a Telegram update: {e}")))?;
    let (id, from, chat, at, text, also_known_as) = if let Some(m) = update.message {
        let Some(from) = m.from else {
            return Ok(Received::ignored(format!(
                "update {}: a message without a sender",
                update.update_id
            )));
        };
        let mut also = Vec::new();
        let text = match (&m.text, &m.contact) {
            (Some(text), _) => text.trim().to_string(),
            // The customer's own contact, shared with the bot's "share my number" button.
            (None, Some(contact)) if contact.user_id == Some(from.id) => {
                let phone = Identity::parse(IdentityKind::Phone, &contact.phone_number, opts)
                    .map_err(|e| {
                        WebhookError::malformed(format!("update {}: {e}", update.update_id))
                    })?;
                let text = format!("My phone number is {}", phone.value);
                also.push(phone);
                text
            }
            _ => {
                return Ok(Received::ignored(format!(
                    "update {}: message {} has no text (only text and the sender's own contact are read)",
                    update.update_id, m.message_id
                )))
            }
        };
        let at = chrono::DateTime::from_timestamp(m.date, 0).ok_or_else(|| {
            WebhookError::malformed(format!("`message.date` is not a Unix time: {}", m.date))
        })?;
        (
            format!("{}:{}", m.chat.id, m.message_id),
            from,
            m.chat,
            Some(at),
            text,
            also,
        )
    } else if let Some(q) = update.callback_query {
        // An inline button the customer pressed: its data is what they chose.
        let Some(chat) = q.message.map(|m| m.chat) else {
            return Ok(Received::ignored(format!(
                "update {}: a button press on an inline message",
                update.update_id
            )));
        };
        let text = q.data.unwrap_or_default().trim().to_string();
        (
            format!("callback:{}", q.id),
            q.from,
            chat,
            None,
            text,
            vec![],
        )
    } else {
        let kind = update.other.keys().next().cloned().unwrap_or_default();
        return Ok(Received::ignored(format!(
            "update {} of kind `{kind}` (only messages and button presses are read)",
            update.update_id
        )));
    };
    if chat.kind != "private" || from.is_bot {
        return Ok(Received::ignored(format!(
            "update {}: a {} chat{} (only private chats with people are served)",
            update.update_id,
            chat.kind,
            if from.is_bot { " with a bot" } else { "" }
        )));
    }
    if text.is_empty() {
        return Err(WebhookError::malformed(format!(
            "update {} has no text",
            update.update_id
        )));
    }
    let sender = Identity::parse(IdentityKind::Telegram, &from.id.to_string(), opts)
        .map_err(|e| WebhookError::malformed(format!("update {}: {e}", update.update_id)))?;
    Ok(Received::messages(vec![InboundMessage {
        channel: Channel::Telegram,
        channel_message_id: id,
        sender,
        also_known_as,
        // The secret token proved the request is Telegram's, and Telegram vouches for `from`.
        assurance: Assurance::Channel,
        display_name: display_name(&from),
        text,
        received_at: at.unwrap_or(received_at),
        conversation_hint: None,
        thread: ThreadRef {
            provider_thread: Some(chat.id.to_string()),
            ..ThreadRef::default()
        },
    }]))
}

/// The `sendMessage` body of a text reply in `chat_id`.
pub fn text_body(chat_id: &str, text: &str) -> Value {
    // Chat ids are integers in the Bot API; one that does not parse is sent as written.
    let chat: Value = chat_id
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(chat_id));
    json!({ "chat_id": chat, "text": text })
}

/// Telegram as a provider: `POST /webhooks/telegram` in, `sendMessage` out.
pub struct TelegramProvider {
    config: TelegramConfig,
    client: reqwest::Client,
}

impl TelegramProvider {
    /// A provider with these settings.
    pub fn new(config: TelegramConfig, timeout: std::time::Duration) -> Self {
        Self {
            config,
            client: crate::http::client(timeout),
        }
    }
}

#[async_trait::async_trait]
impl Provider for TelegramProvider {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn channels(&self) -> Vec<Channel> {
        vec![Channel::Telegram]
    }

    fn capabilities(&self, _channel: Channel) -> Capabilities {
        CAPABILITIES
    }

    async fn receive(&self, webhook: &Webhook<'_>) -> Result<Received, WebhookError> {
        verify_secret(&self.config.secret_token, webhook.header(SECRET_HEADER))?;
        parse(webhook.body, webhook.normalize, webhook.received_at)
    }

    fn render(&self, _channel: Channel, markdown: &str) -> Vec<String> {
        crate::render::split(&crate::render::plain_text(markdown), 4096)
    }

    async fn send(
        &self,
        message: &OutboundMessage,
        _outbox: OutboxId,
        _context: &SendContext,
    ) -> Result<String, SendError> {
        // A private chat's id is the user's id.
        let chat = match (&message.thread.provider_thread, &message.recipient) {
            (Some(chat), _) => chat.clone(),
            (None, r) if r.kind == IdentityKind::Telegram => r.value.clone(),
            (None, r) => {
                return Err(SendError::Permanent(format!(
                    "{r} is not a Telegram user and the reply names no chat"
                )))
            }
        };
        let url = format!(
            "{}/bot{}/sendMessage",
            self.config.api_base.trim_end_matches('/'),
            self.config.bot_token
        );
        let mut ids = Vec::new();
        for text in self.render(Channel::Telegram, &message.text) {
            let sent = crate::http::answer(
                "Telegram sendMessage",
                self.client
                    .post(&url)
                    .json(&text_body(&chat, &text))
                    .send()
                    .await,
            )
            .await
            .map_err(|e| {
                // The token is part of the URL, which network errors quote: never log it.
                let hide = |d: String| d.replace(&self.config.bot_token, "<bot token>");
                match e {
                    // The customer blocked the bot: nobody can write to them here any more.
                    SendError::Permanent(d) if d.contains("HTTP 403") => {
                        SendError::Unreachable(hide(d))
                    }
                    SendError::Permanent(d) => SendError::Permanent(hide(d)),
                    SendError::Transient(d) => SendError::Transient(hide(d)),
                    SendError::Unreachable(d) => SendError::Unreachable(hide(d)),
                }
            })?;
            ids.push(sent["result"]["message_id"].to_string());
        }
        Ok(ids.join(","))
    }
}
