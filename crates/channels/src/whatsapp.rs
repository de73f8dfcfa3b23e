//! Meta's WhatsApp Cloud API: the `GET` subscription handshake, `X-Hub-Signature-256` over the
//! raw body, the `entry[].changes[].value` webhook (`messages[]` with `contacts[]`, `statuses[]`),
//! the send API's body and the 24-hour customer-service window.

use crate::provider::{Capabilities, Provider, SendContext, SendError, Webhook};
use crate::{unix_seconds, DeliveryStatus, Received, WebhookError};
use chrono::Duration;
use frontline_domain::{
    Channel, Identity, IdentityKind, InboundMessage, NormalizeOptions, OutboundMessage, OutboxId,
    ThreadRef, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use crate::meta::{verify_signature, verify_subscription, SIGNATURE_HEADER};

/// How long after the customer's last message a free-form reply may be sent.
pub const SERVICE_WINDOW: Duration = Duration::hours(24);

/// What WhatsApp carries: its own markup, 4,096 characters a message, free-form replies within
/// the 24-hour window.
pub const CAPABILITIES: Capabilities = Capabilities {
    max_message_chars: Some(4096),
    reply_window: Some(SERVICE_WINDOW),
    markup: true,
};

#[derive(Deserialize)]
struct Notification {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: String,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize, Default)]
struct ChangeValue {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    phone_number_id: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: Option<String>,
    /// The business-scoped user id (present for every user from 2026; the only id for users
    /// who hide their number behind a username).
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    id: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    from_user_id: Option<String>,
    timestamp: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<TextBody>,
    #[serde(default)]
    interactive: Option<Value>,
    #[serde(default)]
    button: Option<Value>,
}

#[derive(Deserialize)]
struct TextBody {
    body: String,
}

#[derive(Deserialize)]
struct Status {
    id: String,
    status: String,
    timestamp: String,
    #[serde(default)]
    errors: Vec<Value>,
}

/// Parse a webhook notification body (already signature-checked).
pub fn parse(body: &[u8], opts: &NormalizeOptions) -> Result<Received, WebhookError> {
    let note: Notification = serde_json::from_slice(body)
        .map_err(|e| WebhookError::malformed(format!("not a WhatsApp notification: {e}")))?;
    if note.object != "whatsapp_business_account" {
        return Ok(Received::ignored(format!(
            "object `{}` is not whatsapp_business_account",
            note.object
        )));
    }
    let mut received = Received::default();
    for change in note.entry.iter().flat_map(|e| &e.changes) {
        if change.field != "messages" {
            received
                .ignored
                .push(format!("change field `{}`", change.field));
            continue;
        }
        let value: ChangeValue = serde_json::from_value(change.value.clone())
            .map_err(|e| WebhookError::malformed(format!("`value` of a messages change: {e}")))?;
        for status in &value.statuses {
            received.statuses.push(DeliveryStatus {
                channel: Channel::Whatsapp,
                provider_message_id: status.id.clone(),
                status: status.status.to_ascii_lowercase(),
                detail: (!status.errors.is_empty())
                    .then(|| Value::Array(status.errors.clone()).to_string()),
                at: unix_seconds("statuses[].timestamp", &status.timestamp)?,
            });
        }
        for message in &value.messages {
            match inbound(message, &value, opts)? {
                Ok(m) => received.messages.push(m),
                Err(why) => received.ignored.push(why),
            }
        }
    }
    Ok(received)
}

/// One `messages[]` item as an inbound message, or why it is not one.
fn inbound(
    message: &Message,
    value: &ChangeValue,
    opts: &NormalizeOptions,
) -> Result<Result<InboundMessage, String>, WebhookError> {
    let text = match message.kind.as_str() {
        "text" => message.text.as_ref().map(|t| t.body.trim().to_string()),
        // A reply button or list row: its title is what the customer chose.
        "interactive" => message.interactive.as_ref().and_then(|i| {
            ["button_reply", "list_reply"]
                .iter()
                .find_map(|k| i.get(k)?.get("title")?.as_str())
                .map(str::to_string)
        }),
        // A template's quick-reply button.
        "button" => message
            .button
            .as_ref()
            .and_then(|b| b.get("text")?.as_str().map(str::to_string)),
        other => {
            return Ok(Err(format!(
                "message {} of type `{other}` (only text and replies are read)",
                message.id
            )))
        }
    };
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Err(WebhookError::malformed(format!(
            "message {} of type `{}` has no text",
            message.id, message.kind
        )));
    };
    // The contact this message is from: by wa_id, else by business-scoped user id.
    let contact = value.contacts.iter().find(|c| {
        (c.wa_id.is_some() && c.wa_id == message.from)
            || (c.user_id.is_some() && c.user_id == message.from_user_id)
    });
    let wa_id = message
        .from
        .clone()
        .or_else(|| contact.and_then(|c| c.wa_id.clone()));
    let user_id = message
        .from_user_id
        .clone()
        .or_else(|| contact.and_then(|c| c.user_id.clone()));
    let parse = |raw: &str| {
        Identity::parse(IdentityKind::Whatsapp, raw, opts)
            .map_err(|e| WebhookError::malformed(format!("message {}: {e}", message.id)))
    };
    let (sender, also_known_as) = match (&wa_id, &user_id) {
        (Some(wa), user) => {
            let sender = parse(wa)?;
            let mut also = vec![];
            if let Some(phone) = sender.phone_number() {
                also.push(Identity {
                    kind: IdentityKind::Phone,
                    value: phone.to_string(),
                });
            }
            if let Some(user) = user {
                also.push(parse(user)?);
            }
            (sender, also)
        }
        (None, Some(user)) => (parse(user)?, vec![]),
        (None, None) => {
            return Err(WebhookError::malformed(format!(
                "message {} has neither `from` nor `from_user_id`",
                message.id
            )))
        }
    };
    Ok(Ok(InboundMessage {
        channel: Channel::Whatsapp,
        channel_message_id: message.id.clone(),
        sender,
        also_known_as,
        // Meta signed the request: the WhatsApp number is the sender's.
        assurance: frontline_domain::Assurance::Channel,
        display_name: contact
            .and_then(|c| c.profile.as_ref()?.name.clone())
            .filter(|n| !n.trim().is_empty()),
        text,
        received_at: unix_seconds("messages[].timestamp", &message.timestamp)?,
        conversation_hint: None,
        thread: ThreadRef {
            via: value.metadata.phone_number_id.clone(),
            ..ThreadRef::default()
        },
    }))
}

/// Whether a free-form message may still be sent, `last_inbound` being the customer's latest
/// message on WhatsApp.
pub fn window_open(last_inbound: Option<Timestamp>, now: Timestamp) -> bool {
    CAPABILITIES.window_open(last_inbound, now)
}

/// The recipient part of a send request: a phone-based `wa_id` goes in `to`, a business-scoped
/// user id in `recipient`.
fn recipient(to: &Identity) -> (&'static str, String) {
    match to.phone_number() {
        Some(phone) => ("to", phone.trim_start_matches('+').to_string()),
        None => ("recipient", to.value.clone()),
    }
}

/// The send API body of a free-form text reply, threaded as a reply to `context_id` when given.
pub fn text_body(to: &Identity, text: &str, context_id: Option<&str>) -> Value {
    let (key, value) = recipient(to);
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        key: value,
        "type": "text",
        "text": { "preview_url": false, "body": text },
    });
    if let Some(id) = context_id {
        body["context"] = json!({ "message_id": id });
    }
    body
}

/// The send API body of `text` with one-tap answers: reply buttons for up to three, a list
/// (opened by a button naming the first and last choice, "1 – 5") for more.
pub fn choices_body(to: &Identity, text: &str, choices: &[frontline_domain::Choice]) -> Value {
    let (key, value) = recipient(to);
    let interactive = if choices.len() <= 3 {
        let buttons: Vec<Value> = choices
            .iter()
            .map(|c| json!({ "type": "reply", "reply": { "id": c.id, "title": c.title } }))
            .collect();
        json!({ "type": "button", "body": { "text": text }, "action": { "buttons": buttons } })
    } else {
        let rows: Vec<Value> = choices
            .iter()
            .map(|c| json!({ "id": c.id, "title": c.title }))
            .collect();
        let label = format!(
            "{} – {}",
            choices.first().map_or("", |c| c.title.as_str()),
            choices.last().map_or("", |c| c.title.as_str())
        );
        json!({ "type": "list", "body": { "text": text },
                "action": { "button": label, "sections": [{ "rows": rows }] } })
    };
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        key: value,
        "type": "interactive",
        "interactive": interactive,
    })
}

/// The send API body of an approved template (what may be sent outside the 24-hour window),
/// with the reply text as its one body parameter.
pub fn template_body(to: &Identity, template: &str, language: &str, text: &str) -> Value {
    let (key, value) = recipient(to);
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        key: value,
        "type": "template",
        "template": {
            "name": template,
            "language": { "code": language },
            "components": [{
                "type": "body",
                "parameters": [{ "type": "text", "text": text }],
            }],
        },
    })
}

/// `[channels.whatsapp]`: Meta's Cloud API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappConfig {
    /// Checks `X-Hub-Signature-256`.
    pub app_secret: String,
    /// Answers the subscription handshake.
    pub verify_token: String,
    /// A system-user access token for the send API.
    pub access_token: String,
    /// The business number replies come from when the inbound message did not say.
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// An approved template for replies outside the 24-hour window (its body takes one text
    /// parameter); without one, such a reply fails and the conversation is handed to a person.
    #[serde(default)]
    pub template: Option<String>,
    /// The template's language code.
    #[serde(default = "en_us")]
    pub template_language: String,
    /// Graph API base, version included.
    #[serde(default = "crate::graph_api")]
    pub api_base: String,
}

fn en_us() -> String {
    "en_US".into()
}

/// The Cloud API as a provider: `GET`/`POST /webhooks/whatsapp` in, Graph
/// `/{phone_number_id}/messages` out.
pub struct WhatsappProvider {
    config: WhatsappConfig,
    client: reqwest::Client,
}

impl WhatsappProvider {
    /// A provider with these settings.
    pub fn new(config: WhatsappConfig, timeout: std::time::Duration) -> Self {
        Self {
            config,
            client: crate::http::client(timeout),
        }
    }
}

#[async_trait::async_trait]
impl Provider for WhatsappProvider {
    fn name(&self) -> &'static str {
        "whatsapp"
    }

    fn channels(&self) -> Vec<Channel> {
        vec![Channel::Whatsapp]
    }

    fn capabilities(&self, _channel: Channel) -> Capabilities {
        CAPABILITIES
    }

    fn handshake(&self, webhook: &Webhook<'_>) -> Result<String, WebhookError> {
        crate::meta::handshake(webhook, &self.config.verify_token)
    }

    async fn receive(&self, webhook: &Webhook<'_>) -> Result<Received, WebhookError> {
        verify_signature(
            &self.config.app_secret,
            webhook.body,
            webhook.header(SIGNATURE_HEADER),
        )?;
        parse(webhook.body, webhook.normalize)
    }

    fn render(&self, _channel: Channel, markdown: &str) -> Vec<String> {
        crate::render::split(&crate::render::whatsapp(markdown), 4096)
    }

    async fn send(
        &self,
        message: &OutboundMessage,
        _outbox: OutboxId,
        context: &SendContext,
    ) -> Result<String, SendError> {
        let phone_number_id = message
            .thread
            .via
            .clone()
            .or_else(|| self.config.phone_number_id.clone())
            .ok_or_else(|| SendError::Permanent("no business phone number id".into()))?;
        let open = CAPABILITIES.window_open(context.last_inbound, context.now);
        let template = match (&self.config.template, open) {
            (_, true) => None,
            (Some(name), false) => Some(name),
            (None, false) => {
                return Err(SendError::Unreachable(
                    "outside WhatsApp's 24-hour window and no template is configured".into(),
                ))
            }
        };
        let url = format!(
            "{}/{phone_number_id}/messages",
            self.config.api_base.trim_end_matches('/')
        );
        let mut ids = Vec::new();
        let parts = self.render(Channel::Whatsapp, &message.text);
        let last = parts.len().saturating_sub(1);
        for (i, text) in parts.into_iter().enumerate() {
            let body = match template {
                // One-tap answers ride on the last part.
                None if i == last && !message.choices.is_empty() => {
                    choices_body(&message.recipient, &text, &message.choices)
                }
                None => text_body(&message.recipient, &text, message.in_reply_to.as_deref()),
                Some(name) => template_body(
                    &message.recipient,
                    name,
                    &self.config.template_language,
                    &text,
                ),
            };
            let sent = crate::http::answer(
                "WhatsApp send",
                self.client
                    .post(&url)
                    .bearer_auth(&self.config.access_token)
                    .json(&body)
                    .send()
                    .await,
            )
            .await?;
            ids.push(
                sent["messages"][0]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        Ok(ids.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_echoes_the_challenge_only_for_our_token() {
        assert_eq!(
            verify_subscription(
                Some("subscribe"),
                Some("s3cret"),
                Some("1158201444"),
                "s3cret"
            ),
            Ok("1158201444".to_string())
        );
        assert!(matches!(
            verify_subscription(Some("subscribe"), Some("guess"), Some("1"), "s3cret"),
            Err(WebhookError::Forbidden(_))
        ));
        assert!(matches!(
            verify_subscription(Some("unsubscribe"), Some("s3cret"), Some("1"), "s3cret"),
            Err(WebhookError::Forbidden(_))
        ));
        assert!(matches!(
            verify_subscription(Some("subscribe"), Some("s3cret"), None, "s3cret"),
            Err(WebhookError::Malformed(_))
        ));
    }

    /// X-Hub-Signature-256 is the scheme GitHub documents with a worked example (secret
    /// "It's a Secret to Everybody", payload "Hello, World!"); Meta signs the same way.
    #[test]
    fn the_published_sha256_vector_and_tampered_copies() {
        let secret = "It's a Secret to Everybody";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(
            verify_signature(secret, b"Hello, World!", Some(good)),
            Ok(())
        );
        assert!(verify_signature(secret, b"Hello, World?", Some(good)).is_err());
        assert!(verify_signature("another secret", b"Hello, World!", Some(good)).is_err());
        assert!(verify_signature(secret, b"Hello, World!", None).is_err());
        let no_prefix = good.trim_start_matches("sha256=");
        assert!(verify_signature(secret, b"Hello, World!", Some(no_prefix)).is_err());
    }

    fn notification(value: Value) -> Vec<u8> {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "WABA", "changes": [{ "field": "messages", "value": value }] }],
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn text_and_interactive_replies_are_messages_statuses_are_receipts() {
        let body = notification(json!({
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550001111", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Ada" }, "wa_id": "14155550123", "user_id": "US.13491208655302741918" }],
            "messages": [
                { "from": "14155550123", "id": "wamid.A", "timestamp": "1763800000", "type": "text",
                  "text": { "body": "where is my order" } },
                { "from": "14155550123", "id": "wamid.B", "timestamp": "1763800005", "type": "interactive",
                  "interactive": { "type": "button_reply", "button_reply": { "id": "yes", "title": "Yes, cancel it" } } },
                { "from": "14155550123", "id": "wamid.C", "timestamp": "1763800006", "type": "sticker",
                  "sticker": { "id": "1" } }
            ],
            "statuses": [{ "id": "wamid.OUT", "status": "read", "timestamp": "1763800010", "recipient_id": "14155550123" }]
        }));
        let got = parse(&body, &NormalizeOptions::default()).unwrap();
        assert_eq!(got.messages.len(), 2);
        let a = &got.messages[0];
        assert_eq!(a.sender.to_string(), "whatsapp:+14155550123");
        let also: Vec<String> = a.also_known_as.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            also,
            ["phone:+14155550123", "whatsapp:US.13491208655302741918"]
        );
        assert_eq!(a.display_name.as_deref(), Some("Ada"));
        assert_eq!(a.thread.via.as_deref(), Some("106540352242922"));
        assert_eq!(a.received_at.timestamp(), 1763800000);
        assert_eq!(got.messages[1].text, "Yes, cancel it");
        assert_eq!(got.ignored.len(), 1, "{:?}", got.ignored);
        assert_eq!(got.statuses[0].status, "read");
    }

    #[test]
    fn a_username_only_user_is_known_by_business_scoped_id() {
        let body = notification(json!({
            "metadata": { "phone_number_id": "1065" },
            "contacts": [{ "profile": { "name": "Grace" }, "user_id": "US.999" }],
            "messages": [{ "from_user_id": "US.999", "id": "wamid.D", "timestamp": "1763800000",
                           "type": "text", "text": { "body": "hello" } }]
        }));
        let got = parse(&body, &NormalizeOptions::default()).unwrap();
        let m = &got.messages[0];
        assert_eq!(m.sender.to_string(), "whatsapp:US.999");
        assert!(m.also_known_as.is_empty());
        assert_eq!(m.display_name.as_deref(), Some("Grace"));
        assert_eq!(text_body(&m.sender, "hi", None)["recipient"], "US.999");
    }

    #[test]
    fn malformed_and_foreign_payloads() {
        assert!(matches!(
            parse(b"{not json", &NormalizeOptions::default()),
            Err(WebhookError::Malformed(_))
        ));
        let other = json!({ "object": "page", "entry": [] }).to_string();
        let got = parse(other.as_bytes(), &NormalizeOptions::default()).unwrap();
        assert!(got.messages.is_empty() && got.ignored.len() == 1);
        let no_sender = notification(json!({
            "messages": [{ "id": "wamid.E", "timestamp": "1", "type": "text", "text": { "body": "x" } }]
        }));
        assert!(matches!(
            parse(&no_sender, &NormalizeOptions::default()),
            Err(WebhookError::Malformed(m)) if m.contains("neither")
        ));
    }

    #[test]
    fn send_bodies_and_the_window() {
        let to = Identity::parse(
            IdentityKind::Whatsapp,
            "14155550123",
            &NormalizeOptions::default(),
        )
        .unwrap();
        let body = text_body(&to, "Your refund is on its way.", Some("wamid.A"));
        assert_eq!(body["to"], "14155550123");
        assert_eq!(body["text"]["body"], "Your refund is on its way.");
        assert_eq!(body["context"]["message_id"], "wamid.A");
        let t = template_body(
            &to,
            "support_follow_up",
            "en_US",
            "Your refund is on its way.",
        );
        assert_eq!(t["template"]["name"], "support_follow_up");
        assert_eq!(
            t["template"]["components"][0]["parameters"][0]["text"],
            "Your refund is on its way."
        );
        let now = chrono::Utc::now();
        assert!(window_open(Some(now - Duration::hours(23)), now));
        assert!(!window_open(Some(now - Duration::hours(25)), now));
        assert!(!window_open(None, now));
    }

    #[test]
    fn choices_go_out_as_reply_buttons_up_to_three_and_as_a_list_beyond() {
        let to = Identity::parse(
            IdentityKind::Whatsapp,
            "14155550123",
            &NormalizeOptions::default(),
        )
        .unwrap();
        let choice = |n: u8| frontline_domain::Choice {
            id: format!("csat:{n}"),
            title: n.to_string(),
        };
        let two: Vec<_> = (1..=2).map(choice).collect();
        let body = choices_body(&to, "Did that help?", &two);
        assert_eq!(body["type"], "interactive");
        assert_eq!(body["interactive"]["type"], "button");
        assert_eq!(body["interactive"]["body"]["text"], "Did that help?");
        let buttons = body["interactive"]["action"]["buttons"].as_array().unwrap();
        assert_eq!(buttons.len(), 2);
        assert_eq!(buttons[1]["reply"]["id"], "csat:2");
        let five: Vec<_> = (1..=5).map(choice).collect();
        let body = choices_body(&to, "How satisfied are you?", &five);
        assert_eq!(body["interactive"]["type"], "list");
        assert_eq!(body["interactive"]["action"]["button"], "1 – 5");
        let rows = body["interactive"]["action"]["sections"][0]["rows"]
            .as_array()
            .unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[4]["id"], "csat:5");
        assert_eq!(rows[4]["title"], "5");
    }
}
