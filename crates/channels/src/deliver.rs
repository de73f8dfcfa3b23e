//! Outbound delivery: one [`Sender`] per channel renders a reply for it and calls the
//! provider; the [`OutboxWorker`] drains the store's outbox through them, retrying transient
//! failures with backoff and recording the provider's message id.

use crate::email::{self, EmailIdentity};
use crate::{chatwoot, render, whatsapp};
use async_trait::async_trait;
use frontline_domain::{Channel, EventKind, OutboundMessage, OutboxId, Timestamp};
use frontline_store::{Backoff, DeliveryAttempt, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

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

/// What to do with a reply that can never be delivered on its channel: the agent hands the
/// conversation to a person.
#[async_trait]
pub trait Undeliverable: Send + Sync {
    /// `message` (outbox entry `outbox`) cannot reach the customer, because of `reason`.
    async fn undeliverable(
        &self,
        message: &OutboundMessage,
        outbox: OutboxId,
        reason: &str,
    ) -> Result<(), String>;
}

/// What a sender may need to know beyond the message.
#[derive(Clone, Debug)]
pub struct SendContext {
    /// When the customer last wrote on this channel (the WhatsApp window).
    pub last_inbound: Option<Timestamp>,
    /// Now.
    pub now: Timestamp,
}

/// Delivers replies on one channel.
#[async_trait]
pub trait Sender: Send + Sync {
    /// The channel it serves.
    fn channel(&self) -> Channel;
    /// Deliver `message`; returns the provider's id of what was sent.
    async fn send(
        &self,
        message: &OutboundMessage,
        outbox: OutboxId,
        context: &SendContext,
    ) -> Result<String, SendError>;
}

fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("a TLS backend is compiled in")
}

/// Classify an HTTP answer; returns the JSON body of a success.
async fn answer(
    what: &str,
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<serde_json::Value, SendError> {
    let response = response.map_err(|e| SendError::Transient(format!("{what}: {e}")))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null));
    }
    let detail = format!(
        "{what}: HTTP {status}: {}",
        text.chars().take(300).collect::<String>()
    );
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Err(SendError::Transient(detail))
    } else {
        Err(SendError::Permanent(detail))
    }
}

/// `[channels.twilio]`: SMS (and WhatsApp through Twilio).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// `AC…`.
    pub account_sid: String,
    /// Signs webhooks and authenticates API calls.
    pub auth_token: String,
    /// The number replies come from when the inbound message did not say (E.164).
    #[serde(default)]
    pub from: Option<String>,
    /// The public URL Twilio calls for inbound messages (what it signs).
    pub webhook_url: String,
    /// API base; a test server in tests.
    #[serde(default = "twilio_api")]
    pub api_base: String,
}

fn twilio_api() -> String {
    "https://api.twilio.com".into()
}

/// Sends through Twilio's Messages REST API.
pub struct TwilioSender {
    config: TwilioConfig,
    channel: Channel,
    client: reqwest::Client,
}

impl TwilioSender {
    /// A sender for SMS or WhatsApp-through-Twilio.
    pub fn new(config: TwilioConfig, channel: Channel, timeout: Duration) -> Self {
        Self {
            config,
            channel,
            client: http_client(timeout),
        }
    }
}

#[async_trait]
impl Sender for TwilioSender {
    fn channel(&self) -> Channel {
        self.channel
    }

    async fn send(
        &self,
        message: &OutboundMessage,
        _outbox: OutboxId,
        _context: &SendContext,
    ) -> Result<String, SendError> {
        let whatsapp = self.channel == Channel::Whatsapp;
        let from = message
            .thread
            .via
            .clone()
            .or_else(|| self.config.from.clone())
            .ok_or_else(|| SendError::Permanent("no number to send from".into()))?;
        let number = message.recipient.phone_number().ok_or_else(|| {
            SendError::Permanent(format!("{} has no phone number", message.recipient))
        })?;
        let (to, from, bodies) = if whatsapp {
            let from = if from.starts_with("whatsapp:") {
                from
            } else {
                format!("whatsapp:{from}")
            };
            (
                format!("whatsapp:{number}"),
                from,
                vec![render::whatsapp(&message.text)],
            )
        } else {
            (
                number.to_string(),
                from,
                render::sms(&message.text, render::MAX_SMS_SEGMENTS),
            )
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        );
        let mut sids = Vec::new();
        for body in bodies {
            let form = [
                ("To", to.as_str()),
                ("From", from.as_str()),
                ("Body", body.as_str()),
            ];
            let sent = answer(
                "Twilio Messages",
                self.client
                    .post(&url)
                    .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
                    .form(&form)
                    .send()
                    .await,
            )
            .await?;
            sids.push(sent["sid"].as_str().unwrap_or_default().to_string());
        }
        Ok(sids.join(","))
    }
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
    #[serde(default = "graph_api")]
    pub api_base: String,
}

fn en_us() -> String {
    "en_US".into()
}

fn graph_api() -> String {
    "https://graph.facebook.com/v21.0".into()
}

/// Sends through the Cloud API.
pub struct WhatsappSender {
    config: WhatsappConfig,
    client: reqwest::Client,
}

impl WhatsappSender {
    /// A sender with these settings.
    pub fn new(config: WhatsappConfig, timeout: Duration) -> Self {
        Self {
            config,
            client: http_client(timeout),
        }
    }
}

#[async_trait]
impl Sender for WhatsappSender {
    fn channel(&self) -> Channel {
        Channel::Whatsapp
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
        let text = render::whatsapp(&message.text);
        let body = if whatsapp::window_open(context.last_inbound, context.now) {
            whatsapp::text_body(&message.recipient, &text, message.in_reply_to.as_deref())
        } else {
            match &self.config.template {
                Some(name) => whatsapp::template_body(
                    &message.recipient,
                    name,
                    &self.config.template_language,
                    &text,
                ),
                None => {
                    return Err(SendError::Unreachable(
                        "outside WhatsApp's 24-hour window and no template is configured".into(),
                    ))
                }
            }
        };
        let url = format!(
            "{}/{phone_number_id}/messages",
            self.config.api_base.trim_end_matches('/')
        );
        let sent = answer(
            "WhatsApp send",
            self.client
                .post(url)
                .bearer_auth(&self.config.access_token)
                .json(&body)
                .send()
                .await,
        )
        .await?;
        Ok(sent["messages"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }
}

/// `[channels.email]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The support address replies come from.
    pub address: String,
    /// Its display name.
    #[serde(default = "support_name")]
    pub display_name: String,
    /// The domain of `reply+<conversation>@` addresses and our Message-IDs (default: the
    /// support address's domain).
    #[serde(default)]
    pub reply_domain: Option<String>,
    /// Outbound SMTP: `smtp://host:port` (plain, e.g. a local relay),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS) or `smtps://…:465`.
    pub smtp_url: String,
    /// Mailgun's webhook signing key, to accept Mailgun inbound posts.
    #[serde(default)]
    pub mailgun_signing_key: Option<String>,
    /// `user:password` Postmark's inbound webhook URL carries (basic auth).
    #[serde(default)]
    pub postmark_basic_auth: Option<String>,
}

fn support_name() -> String {
    "Customer Support".into()
}

impl EmailConfig {
    /// The identity parsing and sending share.
    pub fn identity(&self) -> EmailIdentity {
        let domain = self
            .reply_domain
            .clone()
            .or_else(|| self.address.rsplit_once('@').map(|(_, d)| d.to_string()))
            .unwrap_or_else(|| "localhost".into());
        EmailIdentity {
            address: self.address.clone(),
            display_name: self.display_name.clone(),
            reply_domain: domain,
        }
    }
}

/// Sends over SMTP.
pub struct SmtpSender {
    identity: EmailIdentity,
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
}

impl SmtpSender {
    /// A sender for these settings; a bad `smtp_url` is an error naming it.
    pub fn new(config: &EmailConfig, timeout: Duration) -> Result<Self, String> {
        let transport =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&config.smtp_url)
                .map_err(|e| format!("[channels.email] smtp_url `{}`: {e}", config.smtp_url))?
                .timeout(Some(timeout))
                .build();
        Ok(Self {
            identity: config.identity(),
            transport,
        })
    }
}

#[async_trait]
impl Sender for SmtpSender {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    async fn send(
        &self,
        message: &OutboundMessage,
        outbox: OutboxId,
        _context: &SendContext,
    ) -> Result<String, SendError> {
        use lettre::AsyncTransport;
        let mail = email::reply(&self.identity, message, outbox);
        let built = mail.to_message().map_err(SendError::Permanent)?;
        match self.transport.send(built).await {
            Ok(_) => Ok(mail.message_id),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Transient(format!("SMTP: {e}"))),
        }
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

/// Replies through Chatwoot's messages API, as the bot.
pub struct ChatwootSender {
    config: ChatwootConfig,
    client: reqwest::Client,
}

impl ChatwootSender {
    /// A sender with these settings.
    pub fn new(config: ChatwootConfig, timeout: Duration) -> Self {
        Self {
            config,
            client: http_client(timeout),
        }
    }
}

#[async_trait]
impl Sender for ChatwootSender {
    fn channel(&self) -> Channel {
        Channel::Chatwoot
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
        let (path, body) =
            chatwoot::reply_request(thread, &message.text).map_err(SendError::Permanent)?;
        let sent = answer(
            "Chatwoot messages",
            self.client
                .post(format!(
                    "{}{path}",
                    self.config.base_url.trim_end_matches('/')
                ))
                .header("api_access_token", &self.config.bot_token)
                .json(&body)
                .send()
                .await,
        )
        .await?;
        Ok(sent["id"].to_string())
    }
}

/// What one pass over the outbox did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Delivered now.
    pub delivered: usize,
    /// Failed, to be tried again.
    pub retrying: usize,
    /// Given up on.
    pub failed: usize,
    /// Of those given up on, the ones handed to a person because the customer cannot be
    /// reached on the channel.
    pub handed_off: usize,
}

/// Drains the outbox through the configured senders.
pub struct OutboxWorker {
    store: Store,
    senders: HashMap<Channel, Arc<dyn Sender>>,
    backoff: Backoff,
    undeliverable: Option<Arc<dyn Undeliverable>>,
}

impl OutboxWorker {
    /// A worker for these senders (replies on channels without one wait in the outbox).
    pub fn new(store: Store, senders: Vec<Arc<dyn Sender>>, backoff: Backoff) -> Self {
        Self {
            store,
            senders: senders.into_iter().map(|s| (s.channel(), s)).collect(),
            backoff,
            undeliverable: None,
        }
    }

    /// Hand replies that can never be delivered to `handler` (without one they are only marked
    /// failed).
    pub fn with_undeliverable(mut self, handler: Arc<dyn Undeliverable>) -> Self {
        self.undeliverable = Some(handler);
        self
    }

    /// The channels it delivers on.
    pub fn channels(&self) -> Vec<Channel> {
        let mut channels: Vec<Channel> = self.senders.keys().copied().collect();
        channels.sort();
        channels
    }

    /// Deliver what is due at `now`.
    pub async fn run_once(&self, now: Timestamp) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        for entry in self.store.due_outbox(now, 100).await? {
            let Some(sender) = self.senders.get(&entry.message.channel) else {
                continue;
            };
            let last_inbound = if entry.message.channel == Channel::Whatsapp {
                self.store
                    .events(entry.message.conversation_id)
                    .await?
                    .iter()
                    .rev()
                    .find(|e| {
                        matches!(&e.kind, EventKind::MessageReceived { channel, .. } if *channel == Channel::Whatsapp)
                    })
                    .map(|e| e.at)
            } else {
                None
            };
            let context = SendContext { last_inbound, now };
            let attempt = match sender.send(&entry.message, entry.id, &context).await {
                Ok(reference) => {
                    pass.delivered += 1;
                    DeliveryAttempt::Delivered { reference }
                }
                Err(SendError::Transient(error)) if entry.attempts + 1 < self.backoff.attempts => {
                    pass.retrying += 1;
                    tracing::warn!(outbox = %entry.id, %error, "reply delivery failed; retrying");
                    DeliveryAttempt::Retry {
                        next_attempt_at: now + self.backoff.wait(entry.attempts + 1),
                        error,
                    }
                }
                Err(SendError::Unreachable(reason)) => {
                    pass.failed += 1;
                    tracing::warn!(outbox = %entry.id, %reason, "customer unreachable on the channel");
                    if let Some(handler) = &self.undeliverable {
                        match handler
                            .undeliverable(&entry.message, entry.id, &reason)
                            .await
                        {
                            Ok(()) => pass.handed_off += 1,
                            Err(e) => {
                                tracing::error!(outbox = %entry.id, error = %e, "could not hand off an undeliverable reply")
                            }
                        }
                    }
                    DeliveryAttempt::Failed {
                        error: SendError::Unreachable(reason).to_string(),
                    }
                }
                Err(e) => {
                    pass.failed += 1;
                    tracing::error!(outbox = %entry.id, error = %e, "reply delivery failed for good");
                    DeliveryAttempt::Failed {
                        error: e.to_string(),
                    }
                }
            };
            self.store
                .record_outbox_attempt(entry.id, &attempt, now)
                .await?;
        }
        Ok(pass)
    }

    /// A pass whenever `wake` is notified (a reply was queued) or `every` passes, until `stop`
    /// turns true; then one last pass flushes what is due, and it returns.
    pub async fn run(
        self,
        every: Duration,
        wake: Arc<tokio::sync::Notify>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.run_once(chrono::Utc::now()).await {
                tracing::error!(error = %e, "outbox worker: store failed; retrying next pass");
            }
            if *stop.borrow() {
                // That was the last pass, after the stop: what was due is flushed.
                tracing::info!("outbox worker: flushed; stopping");
                return;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// `[channels]`: every channel besides REST is off until configured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelsConfig {
    /// Twilio SMS (and WhatsApp through Twilio when `[channels.whatsapp]` is not set).
    pub twilio: Option<TwilioConfig>,
    /// Meta's WhatsApp Cloud API.
    pub whatsapp: Option<WhatsappConfig>,
    /// Email in (Postmark, Mailgun) and out (SMTP).
    pub email: Option<EmailConfig>,
    /// Chatwoot Agent Bot.
    pub chatwoot: Option<ChatwootConfig>,
    /// The web chat (always on; this only adds verified sign-ins).
    pub webchat: Option<WebchatConfig>,
}

/// `[channels.webchat]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebchatConfig {
    /// The secret the shop's server signs user ids with (`identifier_hash`); without it, the
    /// web chat takes anonymous visitors only.
    pub identity_secret: Option<String>,
    /// The sites whose pages embed the widget (`https://shop.example`, scheme, host and any
    /// port): browsers let them call the web chat routes (CORS), and the session cookie is
    /// then sent cross-site (`SameSite=None; Secure`). Empty: the web chat is same-origin.
    pub allowed_origins: Vec<String>,
}

impl WebchatConfig {
    /// True when other sites embed the widget.
    pub fn cross_site(&self) -> bool {
        !self.allowed_origins.is_empty()
    }
}

impl ChannelsConfig {
    /// A sender for every configured channel; a bad setting is an error naming it.
    pub fn senders(&self, timeout: Duration) -> Result<Vec<Arc<dyn Sender>>, String> {
        let mut senders: Vec<Arc<dyn Sender>> = Vec::new();
        if let Some(twilio) = &self.twilio {
            senders.push(Arc::new(TwilioSender::new(
                twilio.clone(),
                Channel::Sms,
                timeout,
            )));
            if self.whatsapp.is_none() {
                senders.push(Arc::new(TwilioSender::new(
                    twilio.clone(),
                    Channel::Whatsapp,
                    timeout,
                )));
            }
        }
        if let Some(whatsapp) = &self.whatsapp {
            senders.push(Arc::new(WhatsappSender::new(whatsapp.clone(), timeout)));
        }
        if let Some(email) = &self.email {
            senders.push(Arc::new(SmtpSender::new(email, timeout)?));
        }
        if let Some(chatwoot) = &self.chatwoot {
            senders.push(Arc::new(ChatwootSender::new(chatwoot.clone(), timeout)));
        }
        Ok(senders)
    }
}
