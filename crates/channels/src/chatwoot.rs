//! Chatwoot's Agent Bot: Chatwoot posts every event of the inboxes the bot is connected to;
//! frontline answers customer messages while the conversation is `pending` (the bot's), and
//! keeps quiet once a person has it. That turns every Chatwoot inbox (Facebook, Instagram,
//! Telegram, email, …) into a frontline channel.
//!
//! Agent Bot webhooks are not signed; the bot's outgoing URL carries a secret token, checked in
//! constant time ([`verify_token`]).

use crate::provider::{Capabilities, Provider, SendContext, SendError, Webhook};
use crate::{HelpdeskEvent, Received, WebhookError};
use frontline_domain::{
    Channel, HelpdeskChange, Identity, IdentityKind, InboundMessage, NormalizeOptions,
    OutboundMessage, OutboxId, ThreadRef, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What a Chatwoot event means for frontline.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A customer wrote in a conversation the bot has: run a turn.
    Customer(Box<InboundMessage>),
    /// A person (agent) wrote in the conversation: record it in the log.
    HumanReply {
        /// The Chatwoot contact (`<account>:<contact>`), which finds our customer.
        contact: Identity,
        /// The agent's name.
        author: String,
        /// What they wrote.
        text: String,
        /// A private note rather than a message to the customer.
        private: bool,
    },
    /// The conversation went back to `pending`: the bot has it again.
    ReturnedToBot {
        /// The Chatwoot contact.
        contact: Identity,
    },
    /// Nothing to do, and why.
    Ignored(String),
}

/// Compare the URL token with the configured one in constant time.
pub fn verify_token(expected: &str, given: Option<&str>) -> Result<(), WebhookError> {
    let given = given.ok_or_else(|| WebhookError::unauthorized("the `token` is missing"))?;
    if crate::secrets_match(expected.as_bytes(), given.as_bytes()) {
        Ok(())
    } else {
        Err(WebhookError::unauthorized("the `token` does not match"))
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn id_at(v: &Value, path: &[&str]) -> Option<String> {
    let v = path.iter().try_fold(v, |v, k| v.get(k))?;
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `incoming`/`outgoing`/… whether Chatwoot sent the name or the enum number.
fn message_type(event: &Value) -> Option<&'static str> {
    match event.get("message_type")? {
        Value::String(s) => ["incoming", "outgoing", "activity", "template"]
            .into_iter()
            .find(|k| *k == s),
        Value::Number(n) => match n.as_u64()? {
            0 => Some("incoming"),
            1 => Some("outgoing"),
            2 => Some("activity"),
            3 => Some("template"),
            _ => None,
        },
        _ => None,
    }
}

/// The contact's identities: the Chatwoot contact id first, then whichever of identifier (the
/// shop's account id), email and phone it has.
fn contact_identities(
    contact: &Value,
    account: &str,
    opts: &NormalizeOptions,
) -> Result<Vec<Identity>, WebhookError> {
    let id = id_at(contact, &["id"])
        .ok_or_else(|| WebhookError::malformed("the contact has no `id`"))?;
    let mut out = vec![Identity {
        kind: IdentityKind::ChatwootContact,
        value: format!("{account}:{id}"),
    }];
    let mut add = |kind, field: &str| {
        if let Some(raw) = str_at(contact, &[field]).filter(|s| !s.trim().is_empty()) {
            match Identity::parse(kind, raw, opts) {
                Ok(identity) => out.push(identity),
                Err(e) => tracing::warn!(error = %e, "ignoring a Chatwoot contact field"),
            }
        }
    };
    add(IdentityKind::AccountId, "identifier");
    add(IdentityKind::Email, "email");
    add(IdentityKind::Phone, "phone_number");
    Ok(out)
}

/// Parse an Agent Bot webhook body.
pub fn parse(body: &[u8], opts: &NormalizeOptions, now: Timestamp) -> Result<Event, WebhookError> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::malformed(format!("not a Chatwoot event: {e}")))?;
    let name = str_at(&event, &["event"])
        .ok_or_else(|| WebhookError::malformed("the `event` field is missing"))?;
    let account = id_at(&event, &["account", "id"])
        .ok_or_else(|| WebhookError::malformed("`account.id` is missing"))?;
    let conversation = event.get("conversation").unwrap_or(&Value::Null);
    // The contact: the conversation's sender meta, else the event's own (status events).
    let contact = conversation
        .get("meta")
        .and_then(|m| m.get("sender"))
        .or_else(|| event.get("meta").and_then(|m| m.get("sender")));
    match name {
        "message_created" => {}
        "conversation_status_changed" => {
            let status = str_at(&event, &["status"]).or_else(|| str_at(conversation, &["status"]));
            if status != Some("pending") {
                return Ok(Event::Ignored(format!(
                    "conversation status changed to {}",
                    status.unwrap_or("?")
                )));
            }
            let contact = contact
                .ok_or_else(|| WebhookError::malformed("`meta.sender` (the contact) is missing"))?;
            let identities = contact_identities(contact, &account, opts)?;
            return Ok(Event::ReturnedToBot {
                contact: identities[0].clone(),
            });
        }
        other => return Ok(Event::Ignored(format!("event `{other}`"))),
    }
    let message_id = id_at(&event, &["id"])
        .ok_or_else(|| WebhookError::malformed("the message `id` is missing"))?;
    let conversation_id = id_at(conversation, &["id"])
        .ok_or_else(|| WebhookError::malformed("`conversation.id` is missing"))?;
    let private = event
        .get("private")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let text = str_at(&event, &["content"])
        .unwrap_or_default()
        .trim()
        .to_string();
    let kind = message_type(&event);
    let sender_type = str_at(&event, &["sender", "type"]);
    match kind {
        Some("incoming") => {}
        // A person's message (a `user`), not the bot's own (`agent_bot`): record it.
        Some("outgoing") if sender_type == Some("user") && !text.is_empty() => {
            let contact = contact.ok_or_else(|| {
                WebhookError::malformed("`conversation.meta.sender` (the contact) is missing")
            })?;
            return Ok(Event::HumanReply {
                contact: contact_identities(contact, &account, opts)?.remove(0),
                author: str_at(&event, &["sender", "name"])
                    .unwrap_or("agent")
                    .to_string(),
                text,
                private,
            });
        }
        other => {
            return Ok(Event::Ignored(format!(
                "message {message_id} is {} from {}",
                other.unwrap_or("of an unknown type"),
                sender_type.unwrap_or("?")
            )))
        }
    }
    if private {
        return Ok(Event::Ignored(format!(
            "message {message_id} is a private note"
        )));
    }
    let status = str_at(conversation, &["status"]).unwrap_or("?");
    if status != "pending" {
        return Ok(Event::Ignored(format!(
            "conversation {conversation_id} is {status}: a person has it"
        )));
    }
    if text.is_empty() {
        return Ok(Event::Ignored(format!("message {message_id} has no text")));
    }
    let contact = contact.or_else(|| event.get("sender")).ok_or_else(|| {
        WebhookError::malformed("the contact (`conversation.meta.sender`) is missing")
    })?;
    let mut identities = contact_identities(contact, &account, opts)?;
    let sender = identities.remove(0);
    Ok(Event::Customer(Box::new(InboundMessage {
        channel: Channel::Chatwoot,
        channel_message_id: format!("{account}:{message_id}"),
        sender,
        also_known_as: identities,
        // The helpdesk (behind its secret URL token) vouches for its contact's handles.
        assurance: frontline_domain::Assurance::Channel,
        display_name: str_at(contact, &["name"])
            .filter(|n| !n.trim().is_empty())
            .map(str::to_string),
        text,
        received_at: now,
        conversation_hint: None,
        thread: ThreadRef {
            provider_thread: Some(format!("{account}:{conversation_id}")),
            via: str_at(conversation, &["channel"]).map(str::to_string),
            ..ThreadRef::default()
        },
    })))
}

impl From<Event> for Received {
    fn from(event: Event) -> Self {
        match event {
            Event::Customer(m) => Received::messages(vec![*m]),
            Event::Ignored(why) => Received::ignored(why),
            Event::HumanReply {
                contact,
                author,
                text,
                private,
            } => Received {
                helpdesk: vec![HelpdeskEvent::about_contact(
                    "chatwoot",
                    contact,
                    HelpdeskChange::PersonWrote {
                        author,
                        text,
                        private,
                    },
                )],
                ..Received::default()
            },
            Event::ReturnedToBot { contact } => Received {
                helpdesk: vec![HelpdeskEvent::about_contact(
                    "chatwoot",
                    contact,
                    HelpdeskChange::ReturnedToBot,
                )],
                ..Received::default()
            },
        }
    }
}

/// The messages-API call that posts a reply in the conversation `provider_thread`
/// (`<account>:<conversation>`): `(account, path, body)` for [`ChatwootApi::post`].
pub fn reply_request(provider_thread: &str, text: &str) -> Result<(String, String, Value), String> {
    let (account, conversation) = provider_thread
        .split_once(':')
        .ok_or_else(|| format!("`{provider_thread}` is not <account>:<conversation>"))?;
    Ok((
        account.to_string(),
        format!("/conversations/{conversation}/messages"),
        json!({ "content": text, "message_type": "outgoing", "private": false }),
    ))
}

/// Chatwoot's application API, the one client of it: the bot's replies here, and the handoff
/// target's contacts, conversations, private notes, labels, priority and status
/// (`frontline_handoff::chatwoot`). Every call carries the `api_access_token` header and is
/// classified by [`crate::http::answer`].
#[derive(Clone, Debug)]
pub struct ChatwootApi {
    base_url: String,
    token: String,
    http: reqwest::Client,
}

impl ChatwootApi {
    /// The API of the installation at `base_url` (e.g. `https://app.chatwoot.com`), as the
    /// holder of `token`.
    pub fn new(base_url: &str, token: &str, http: reqwest::Client) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
        }
    }

    /// `{base}/api/v1/accounts/{account}{path}`.
    pub fn url(&self, account: &str, path: &str) -> String {
        format!("{}/api/v1/accounts/{account}{path}", self.base_url)
    }

    /// `POST` `body` to `path` of `account`; the JSON answer. `what` names the call in errors.
    pub async fn post(
        &self,
        what: &str,
        account: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, SendError> {
        let request = self
            .http
            .post(self.url(account, path))
            .header("api_access_token", &self.token)
            .json(body);
        crate::http::answer(what, request.send().await).await
    }

    /// `GET` `path` of `account` with `query`; the JSON answer.
    pub async fn get(
        &self,
        what: &str,
        account: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, SendError> {
        let request = self
            .http
            .get(self.url(account, path))
            .header("api_access_token", &self.token)
            .query(query);
        crate::http::answer(what, request.send().await).await
    }
}

/// `[channels.chatwoot]`: the Agent Bot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatwootConfig {
    /// The Chatwoot installation, e.g. `https://app.chatwoot.com`.
    pub base_url: String,
    /// The Agent Bot's access token (`api_access_token`).
    pub bot_token: String,
    /// The secret the bot's outgoing URL carries as `?token=`.
    pub webhook_token: String,
}

/// Chatwoot as a provider: `POST /webhooks/chatwoot?token=…` in (customer messages, and a
/// person's replies and hand-backs as helpdesk events), the messages API out, as the bot.
pub struct ChatwootProvider {
    config: ChatwootConfig,
    api: ChatwootApi,
}

impl ChatwootProvider {
    /// A provider with these settings.
    pub fn new(config: ChatwootConfig, timeout: std::time::Duration) -> Self {
        let api = ChatwootApi::new(
            &config.base_url,
            &config.bot_token,
            crate::http::client(timeout),
        );
        Self { config, api }
    }
}

#[async_trait::async_trait]
impl Provider for ChatwootProvider {
    fn name(&self) -> &'static str {
        "chatwoot"
    }

    fn channels(&self) -> Vec<Channel> {
        vec![Channel::Chatwoot]
    }

    fn capabilities(&self, _channel: Channel) -> Capabilities {
        // Chatwoot shows markdown itself, in every inbox it serves.
        Capabilities {
            markup: true,
            ..Capabilities::PLAIN
        }
    }

    async fn receive(&self, webhook: &Webhook<'_>) -> Result<Received, WebhookError> {
        verify_token(
            &self.config.webhook_token,
            webhook.query_param("token").as_deref(),
        )?;
        parse(webhook.body, webhook.normalize, webhook.received_at).map(Received::from)
    }

    fn render(&self, _channel: Channel, markdown: &str) -> Vec<String> {
        vec![markdown.to_string()]
    }

    async fn send(
        &self,
        message: &OutboundMessage,
        _outbox: OutboxId,
        _context: &SendContext,
    ) -> Result<String, SendError> {
        let thread =
            message.thread.provider_thread.as_deref().ok_or_else(|| {
                SendError::Permanent("no Chatwoot conversation to reply in".into())
            })?;
        let (account, path, body) =
            reply_request(thread, &message.text).map_err(SendError::Permanent)?;
        let sent = self
            .api
            .post("Chatwoot messages", &account, &path, &body)
            .await?;
        Ok(sent["id"].to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(message_type: Value, status: &str, private: bool, sender_type: &str) -> Vec<u8> {
        json!({
            "event": "message_created",
            "id": 981,
            "content": "Where is my order #W2378156?",
            "message_type": message_type,
            "content_type": "text",
            "private": private,
            "sender": { "id": 17, "name": "Ada", "type": sender_type },
            "account": { "id": 3, "name": "Shop" },
            "inbox": { "id": 5, "name": "Email" },
            "conversation": {
                "id": 42, "status": status, "channel": "Channel::Email",
                "meta": { "sender": {
                    "id": 17, "name": "Ada Lovelace", "email": "Ada@Example.com",
                    "phone_number": "+14155550123", "identifier": "ada_lovelace_1000", "type": "contact"
                } }
            }
        })
        .to_string()
        .into_bytes()
    }

    fn parse_now(body: &[u8]) -> Event {
        parse(body, &NormalizeOptions::default(), chrono::Utc::now()).unwrap()
    }

    #[test]
    fn an_incoming_message_in_a_pending_conversation_is_a_turn() {
        let Event::Customer(m) = parse_now(&event(json!("incoming"), "pending", false, "contact"))
        else {
            panic!("expected a customer message")
        };
        assert_eq!(m.channel, Channel::Chatwoot);
        assert_eq!(m.channel_message_id, "3:981");
        assert_eq!(m.sender.to_string(), "chatwoot_contact:3:17");
        let also: Vec<String> = m.also_known_as.iter().map(|i| i.to_string()).collect();
        assert_eq!(
            also,
            [
                "account_id:ada_lovelace_1000",
                "email:ada@example.com",
                "phone:+14155550123"
            ]
        );
        assert_eq!(m.thread.provider_thread.as_deref(), Some("3:42"));
        assert_eq!(m.display_name.as_deref(), Some("Ada Lovelace"));
        // The enum number is read the same way.
        assert!(matches!(
            parse_now(&event(json!(0), "pending", false, "contact")),
            Event::Customer(_)
        ));
    }

    #[test]
    fn the_bot_stays_out_of_what_is_not_its_own() {
        for (body, why) in [
            (
                event(json!("incoming"), "open", false, "contact"),
                "a person has it",
            ),
            (
                event(json!("incoming"), "pending", true, "contact"),
                "private",
            ),
            (
                event(json!("outgoing"), "pending", false, "agent_bot"),
                "outgoing from agent_bot",
            ),
            (
                event(json!("activity"), "pending", false, "contact"),
                "activity",
            ),
        ] {
            match parse_now(&body) {
                Event::Ignored(reason) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        let other = json!({ "event": "contact_updated", "account": { "id": 3 } }).to_string();
        assert!(matches!(parse_now(other.as_bytes()), Event::Ignored(_)));
    }

    #[test]
    fn a_persons_reply_and_a_return_to_pending_are_reported() {
        match parse_now(&event(json!("outgoing"), "open", false, "user")) {
            Event::HumanReply {
                contact,
                author,
                private,
                ..
            } => {
                assert_eq!(contact.to_string(), "chatwoot_contact:3:17");
                assert_eq!(author, "Ada");
                assert!(!private);
            }
            other => panic!("{other:?}"),
        }
        let back = json!({
            "event": "conversation_status_changed", "status": "pending", "account": { "id": 3 },
            "id": 42, "meta": { "sender": { "id": 17, "type": "contact" } }
        })
        .to_string();
        assert!(
            matches!(parse_now(back.as_bytes()), Event::ReturnedToBot { contact } if contact.value == "3:17")
        );
    }

    #[test]
    fn malformed_events_say_what_is_missing() {
        let err = parse(b"[]", &NormalizeOptions::default(), chrono::Utc::now()).unwrap_err();
        assert!(matches!(err, WebhookError::Malformed(m) if m.contains("event")));
        let no_account = json!({ "event": "message_created" }).to_string();
        let err = parse(
            no_account.as_bytes(),
            &NormalizeOptions::default(),
            chrono::Utc::now(),
        )
        .unwrap_err();
        assert!(matches!(err, WebhookError::Malformed(m) if m.contains("account.id")));
    }

    #[test]
    fn tokens_and_reply_requests() {
        assert_eq!(verify_token("s3cret", Some("s3cret")), Ok(()));
        assert!(verify_token("s3cret", Some("s3cre")).is_err());
        assert!(verify_token("s3cret", None).is_err());
        let (account, path, body) = reply_request("3:42", "On its way").unwrap();
        let api = ChatwootApi::new("https://chat.example/", "t", reqwest::Client::new());
        assert_eq!(
            api.url(&account, &path),
            "https://chat.example/api/v1/accounts/3/conversations/42/messages"
        );
        assert_eq!(body["message_type"], "outgoing");
        assert!(reply_request("42", "x").is_err());
    }
}
