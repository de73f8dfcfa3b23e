//! Email: inbound webhooks in Postmark's JSON and Mailgun's form format, threading, quoted-reply
//! stripping, auto-reply and bounce filtering; outbound messages with the headers that keep the
//! customer's mail client threading the conversation.
//!
//! Threading, strongest first: a `reply+<conversation>@` address the customer wrote to; one of
//! our own `Message-ID`s in `In-Reply-To`/`References` (they carry the conversation id); else
//! the customer's identity finds their open conversation like on any channel.

use crate::provider::{Capabilities, Provider, SendContext, SendError, Webhook};
use crate::{field, required, unix_seconds, verify_hex_sha256, FormFields, Received, WebhookError};
use frontline_domain::{
    Assurance, Channel, ConversationId, Identity, IdentityKind, InboundMessage, NormalizeOptions,
    OutboundMessage, OutboxId, ThreadRef, Timestamp,
};
use serde::{Deserialize, Serialize};

/// Settings shared by parsing and sending: which domain is ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailIdentity {
    /// The support address replies come from, e.g. `support@shop.example`.
    pub address: String,
    /// The name shown with it.
    pub display_name: String,
    /// The domain of `reply+<conversation>@…` addresses and of our Message-IDs.
    pub reply_domain: String,
}

impl EmailIdentity {
    /// The address that routes a reply straight back to `conversation`.
    pub fn reply_address(&self, conversation: ConversationId) -> String {
        format!("reply+{conversation}@{}", self.reply_domain)
    }

    /// Our Message-ID for a reply (it names the conversation, so a reply to it threads even
    /// when the customer's client drops the `reply+` address).
    pub fn message_id(&self, conversation: ConversationId, outbox: OutboxId) -> String {
        format!("<frontline.{conversation}.{outbox}@{}>", self.reply_domain)
    }

    /// The conversation named by a `reply+<id>@our-domain` address, if it is one.
    fn conversation_in_address(&self, address: &str) -> Option<ConversationId> {
        let address = bare_address(address).to_ascii_lowercase();
        let (local, domain) = address.rsplit_once('@')?;
        if domain != self.reply_domain.to_ascii_lowercase() {
            return None;
        }
        local.strip_prefix("reply+")?.parse().ok()
    }

    /// The conversation named by one of our Message-IDs.
    fn conversation_in_message_id(&self, id: &str) -> Option<ConversationId> {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, domain) = id.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.reply_domain) {
            return None;
        }
        let mut parts = local.strip_prefix("frontline.")?.split('.');
        parts.next()?.parse().ok()
    }
}

/// `Name <a@b>` → `a@b`.
fn bare_address(raw: &str) -> &str {
    match (raw.rfind('<'), raw.rfind('>')) {
        (Some(l), Some(r)) if l < r => raw[l + 1..r].trim(),
        _ => raw.trim(),
    }
}

/// A parsed email, whatever webhook it came from.
#[derive(Clone, Debug, Default)]
struct Mail {
    from: String,
    from_name: Option<String>,
    recipients: Vec<String>,
    subject: String,
    message_id: String,
    in_reply_to: Option<String>,
    references: Vec<String>,
    /// The body with quoted history removed (the provider's stripping when it did it).
    text: String,
    headers: Vec<(String, String)>,
    received_at: Timestamp,
    /// The provider reports an SPF or DKIM pass for the sender's domain.
    authenticated: bool,
}

/// Whether a provider's verdict (`Pass`, `pass (sender SPF authorized) …`) is a pass.
fn passes(verdict: &str) -> bool {
    verdict
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("pass")
}

/// Whether an `Authentication-Results` header the receiving provider added reports an SPF or
/// DKIM pass.
fn authentication_passes(results: &str) -> bool {
    let results = results.to_ascii_lowercase();
    results
        .split(';')
        .map(str::trim)
        .any(|r| r.starts_with("dkim=pass") || r.starts_with("spf=pass"))
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Why this message must not be answered (an auto-reply, a bounce, a list), if it is one.
    fn automated(&self) -> Option<String> {
        if let Some(v) = self.header("Auto-Submitted") {
            if !v.trim().eq_ignore_ascii_case("no") {
                return Some(format!("auto-submitted ({})", v.trim()));
            }
        }
        for h in ["X-Autoreply", "X-Autorespond"] {
            if self.header(h).is_some_and(|v| !v.trim().is_empty()) {
                return Some(format!("auto-reply ({h})"));
            }
        }
        if let Some(p) = self.header("Precedence") {
            let p = p.trim().to_ascii_lowercase();
            if ["auto_reply", "bulk", "junk", "list"].contains(&p.as_str()) {
                return Some(format!("precedence {p}"));
            }
        }
        let from = bare_address(&self.from).to_ascii_lowercase();
        let local = from.split('@').next().unwrap_or_default();
        if ["mailer-daemon", "postmaster"].contains(&local) {
            return Some(format!("bounce from {from}"));
        }
        if self
            .header("Content-Type")
            .is_some_and(|c| c.to_ascii_lowercase().contains("multipart/report"))
        {
            return Some("delivery report".into());
        }
        if self.header("Return-Path").is_some_and(|r| r.trim() == "<>") {
            return Some("null return path (a bounce)".into());
        }
        None
    }

    fn into_received(
        self,
        us: &EmailIdentity,
        opts: &NormalizeOptions,
    ) -> Result<Received, WebhookError> {
        if let Some(why) = self.automated() {
            return Ok(Received::ignored(format!(
                "email {} not answered: {why}",
                self.message_id
            )));
        }
        let sender = Identity::parse(IdentityKind::Email, &self.from, opts)
            .map_err(|e| WebhookError::malformed(format!("`From`: {e}")))?;
        if self.text.trim().is_empty() {
            return Ok(Received::ignored(format!(
                "email {} has no new text",
                self.message_id
            )));
        }
        let hint = self
            .recipients
            .iter()
            .find_map(|r| us.conversation_in_address(r))
            .or_else(|| {
                self.in_reply_to
                    .iter()
                    .chain(self.references.iter().rev())
                    .find_map(|id| us.conversation_in_message_id(id))
            });
        let mut references = self.references.clone();
        if !references.contains(&self.message_id) {
            references.push(self.message_id.clone());
        }
        Ok(Received::messages(vec![InboundMessage {
            channel: Channel::Email,
            channel_message_id: self.message_id.clone(),
            sender,
            also_known_as: vec![],
            // `From` proves nothing unless the provider checked the sender's domain.
            assurance: if self.authenticated {
                Assurance::Channel
            } else {
                Assurance::Claimed
            },
            display_name: self.from_name.clone().filter(|n| !n.trim().is_empty()),
            text: self.text.trim().to_string(),
            received_at: self.received_at,
            conversation_hint: hint,
            thread: ThreadRef {
                subject: Some(self.subject.clone()).filter(|s| !s.trim().is_empty()),
                references,
                provider_thread: None,
                via: self.recipients.first().map(|r| bare_address(r).to_string()),
            },
        }]))
    }
}

/// Split a `References` header into Message-IDs.
fn message_ids(raw: &str) -> Vec<String> {
    raw.split_whitespace()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| t.starts_with('<') && t.ends_with('>') && t.len() > 2)
        .map(str::to_string)
        .collect()
}

/// What the customer wrote in a message: the provider's own stripped reply when it made one,
/// else the plain part without the quoted history, else (mail sent as HTML only) the HTML
/// part's text without it.
fn new_text(stripped: &str, plain: &str, html: &str) -> String {
    if !stripped.trim().is_empty() {
        return stripped.to_string();
    }
    if !plain.trim().is_empty() {
        return strip_quoted(plain);
    }
    strip_quoted(&crate::html::to_text(html))
}

/// Remove the quoted history a reply carries: `>` lines, and everything from an attribution
/// line (`On … wrote:`), an Outlook header block or an `-----Original Message-----` marker on.
/// A trailing signature (`-- `) goes too.
pub fn strip_quoted(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        let lower = t.to_ascii_lowercase();
        let attribution = (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || (lower.starts_with("on ")
                && lines
                    .get(i + 1)
                    .is_some_and(|next| next.trim().to_ascii_lowercase().ends_with("wrote:")));
        let outlook = lower.starts_with("from:")
            && lines[i + 1..]
                .iter()
                .take(4)
                .any(|l| l.trim().to_ascii_lowercase().starts_with("sent:"));
        if attribution
            || outlook
            || lower.starts_with("-----original message-----")
            || t.starts_with("________________________________")
            || *line == "-- "
            || t == "--"
        {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(line);
    }
    kept.join("\n").trim().to_string()
}

/// Postmark's inbound webhook JSON (the fields frontline reads).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Postmark {
    #[serde(default)]
    from_full: Option<PostmarkAddress>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to_full: Vec<PostmarkAddress>,
    #[serde(default)]
    cc_full: Vec<PostmarkAddress>,
    #[serde(default)]
    original_recipient: Option<String>,
    #[serde(default)]
    subject: String,
    #[serde(rename = "MessageID")]
    message_id: String,
    #[serde(default)]
    text_body: String,
    #[serde(default)]
    html_body: String,
    #[serde(default)]
    stripped_text_reply: String,
    #[serde(default)]
    headers: Vec<PostmarkHeader>,
    #[serde(default)]
    date: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkAddress {
    email: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PostmarkHeader {
    name: String,
    value: String,
}

/// Parse Postmark's inbound webhook. Postmark authenticates by basic auth on the webhook URL,
/// which the server checks before calling this.
pub fn parse_postmark(
    body: &[u8],
    us: &EmailIdentity,
    opts: &NormalizeOptions,
    now: Timestamp,
) -> Result<Received, WebhookError> {
    let p: Postmark = serde_json::from_slice(body)
        .map_err(|e| WebhookError::malformed(format!("not a Postmark inbound message: {e}")))?;
    let headers: Vec<(String, String)> = p.headers.into_iter().map(|h| (h.name, h.value)).collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let (from, from_name) = match p.from_full {
        Some(a) => (a.email, a.name),
        None => (
            p.from
                .ok_or_else(|| WebhookError::malformed("`FromFull` and `From` are missing"))?,
            None,
        ),
    };
    let mut recipients: Vec<String> = p
        .to_full
        .into_iter()
        .chain(p.cc_full)
        .map(|a| a.email)
        .collect();
    recipients.extend(p.original_recipient);
    let text = new_text(&p.stripped_text_reply, &p.text_body, &p.html_body);
    let received_at = p
        .date
        .as_deref()
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    let mail = Mail {
        from,
        from_name,
        recipients,
        subject: p.subject,
        // The RFC 5322 id threads; Postmark's own id is the fallback.
        message_id: header("Message-ID").unwrap_or(p.message_id),
        in_reply_to: header("In-Reply-To"),
        references: header("References")
            .as_deref()
            .map(message_ids)
            .unwrap_or_default(),
        text,
        // Postmark adds its own SPF verdict (and receiving results) on top of the headers.
        authenticated: header("Received-SPF").is_some_and(|v| passes(&v))
            || header("Authentication-Results").is_some_and(|v| authentication_passes(&v)),
        headers,
        received_at,
    };
    mail.into_received(us, opts)
}

/// How far a Mailgun timestamp may be from now before the request counts as a replay.
pub const MAILGUN_TOLERANCE_SECS: i64 = 300;

/// Check Mailgun's webhook signature: hex HMAC-SHA256 of `timestamp + token` with the webhook
/// signing key, and a timestamp within [`MAILGUN_TOLERANCE_SECS`] of `now`.
pub fn verify_mailgun(
    signing_key: &str,
    fields: &[(String, String)],
    now: Timestamp,
) -> Result<(), WebhookError> {
    let get = |name: &str| {
        field(fields, name).ok_or_else(|| {
            WebhookError::unauthorized(format!("the Mailgun `{name}` field is missing"))
        })
    };
    let (timestamp, token, signature) = (get("timestamp")?, get("token")?, get("signature")?);
    let at = unix_seconds("timestamp", timestamp)
        .map_err(|e| WebhookError::Unauthorized(e.to_string()))?;
    let skew = (now - at).num_seconds();
    if skew.abs() > MAILGUN_TOLERANCE_SECS {
        return Err(WebhookError::unauthorized(format!(
            "the Mailgun timestamp is {skew} s from now (a replay?)"
        )));
    }
    verify_hex_sha256(
        signing_key.as_bytes(),
        &[timestamp.as_bytes(), token.as_bytes()],
        signature,
    )
}

/// Parse Mailgun's inbound route (`forward()`) form post, already verified.
pub fn parse_mailgun(
    fields: &FormFields,
    us: &EmailIdentity,
    opts: &NormalizeOptions,
    now: Timestamp,
) -> Result<Received, WebhookError> {
    let headers: Vec<(String, String)> = match field(fields, "message-headers") {
        Some(raw) => serde_json::from_str::<Vec<(String, String)>>(raw)
            .map_err(|e| WebhookError::malformed(format!("`message-headers`: {e}")))?,
        None => vec![],
    };
    let header = |name: &str| {
        field(fields, name).map(str::to_string).or_else(|| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        })
    };
    let from_raw = header("from")
        .or_else(|| field(fields, "sender").map(str::to_string))
        .ok_or_else(|| WebhookError::malformed("the `from` field is missing"))?;
    let from_name = from_raw
        .find('<')
        .map(|l| from_raw[..l].trim().trim_matches('"').to_string())
        .filter(|n| !n.is_empty());
    let message_id = header("Message-Id")
        .ok_or_else(|| WebhookError::malformed("the `Message-Id` field is missing"))?;
    let text = new_text(
        field(fields, "stripped-text").unwrap_or_default(),
        field(fields, "body-plain").unwrap_or_default(),
        field(fields, "stripped-html")
            .filter(|h| !h.trim().is_empty())
            .or_else(|| field(fields, "body-html"))
            .unwrap_or_default(),
    );
    let mut recipients: Vec<String> = required(fields, "recipient")?
        .split(',')
        .map(|r| r.trim().to_string())
        .collect();
    recipients.extend(header("To"));
    let mail = Mail {
        from: from_raw.clone(),
        from_name,
        recipients,
        subject: header("subject").unwrap_or_default(),
        message_id,
        in_reply_to: header("In-Reply-To"),
        references: header("References")
            .as_deref()
            .map(message_ids)
            .unwrap_or_default(),
        text,
        // Mailgun's own verdicts on the message it received.
        authenticated: header("X-Mailgun-Spf").is_some_and(|v| passes(&v))
            || header("X-Mailgun-Dkim-Check-Result").is_some_and(|v| passes(&v)),
        headers,
        received_at: field(fields, "timestamp")
            .and_then(|t| unix_seconds("timestamp", t).ok())
            .unwrap_or(now),
    };
    mail.into_received(us, opts)
}

/// A reply ready for SMTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundEmail {
    /// `Name <support@…>`.
    pub from: String,
    /// The customer.
    pub to: String,
    /// `reply+<conversation>@…`.
    pub reply_to: String,
    /// `Re: <their subject>`.
    pub subject: String,
    /// Our id for this message.
    pub message_id: String,
    /// The customer's message this answers.
    pub in_reply_to: Option<String>,
    /// The whole chain, oldest first.
    pub references: Vec<String>,
    /// Plain-text body.
    pub body: String,
    /// The same as a small inline-styled HTML part (sent beside the plain one, as
    /// multipart/alternative).
    pub html: String,
}

/// Build the reply to a customer's email (or a follow-up in the thread).
pub fn reply(us: &EmailIdentity, message: &OutboundMessage, outbox: OutboxId) -> OutboundEmail {
    let subject = match message.thread.subject.as_deref().map(str::trim) {
        Some(s) if s.to_ascii_lowercase().starts_with("re:") => s.to_string(),
        Some(s) if !s.is_empty() => format!("Re: {s}"),
        _ => "Your message to customer support".to_string(),
    };
    let mut references = message.thread.references.clone();
    if let Some(id) = &message.in_reply_to {
        if id.starts_with('<') && !references.contains(id) {
            references.push(id.clone());
        }
    }
    OutboundEmail {
        from: format!("{} <{}>", us.display_name, us.address),
        to: message.recipient.value.clone(),
        reply_to: us.reply_address(message.conversation_id),
        subject,
        message_id: us.message_id(message.conversation_id, outbox),
        in_reply_to: message.in_reply_to.clone().filter(|id| id.starts_with('<')),
        references,
        body: crate::render::plain_text(&message.text),
        html: crate::render::email_html(&message.text),
    }
}

impl OutboundEmail {
    /// As an RFC 5322 message (lettre), headers included.
    pub fn to_message(&self) -> Result<lettre::Message, String> {
        use lettre::message::header::{Header, HeaderName, HeaderValue};
        use lettre::message::MultiPart;
        let mut builder = lettre::Message::builder()
            .from(
                self.from
                    .parse()
                    .map_err(|e| format!("From `{}`: {e}", self.from))?,
            )
            .to(self
                .to
                .parse()
                .map_err(|e| format!("To `{}`: {e}", self.to))?)
            .reply_to(
                self.reply_to
                    .parse()
                    .map_err(|e| format!("Reply-To `{}`: {e}", self.reply_to))?,
            )
            .subject(self.subject.clone())
            .message_id(Some(self.message_id.clone()));
        if let Some(id) = &self.in_reply_to {
            builder = builder.in_reply_to(id.clone());
        }
        if !self.references.is_empty() {
            builder = builder.references(self.references.join(" "));
        }
        // RFC 3834: our replies are automatic responses; well-behaved auto-responders stay
        // quiet, so two bots cannot loop.
        #[derive(Clone)]
        struct AutoSubmitted;
        impl Header for AutoSubmitted {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str("Auto-Submitted")
            }
            fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok(AutoSubmitted)
            }
            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), "auto-replied".to_string())
            }
        }
        builder
            .header(AutoSubmitted)
            .multipart(MultiPart::alternative_plain_html(
                self.body.clone(),
                self.html.clone(),
            ))
            .map_err(|e| e.to_string())
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

/// The webhook path of Postmark's inbound posts.
pub const POSTMARK_PATH: &str = "email/postmark";
/// The webhook path of Mailgun's inbound route.
pub const MAILGUN_PATH: &str = "email/mailgun";

/// Email as a provider: Postmark (basic auth) and Mailgun (signed) inbound webhooks, SMTP out
/// with threading headers.
pub struct EmailProvider {
    config: EmailConfig,
    identity: EmailIdentity,
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
}

impl EmailProvider {
    /// A provider for these settings; a bad `smtp_url` is an error naming it.
    pub fn new(config: EmailConfig, timeout: std::time::Duration) -> Result<Self, String> {
        let transport =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&config.smtp_url)
                .map_err(|e| format!("[channels.email] smtp_url `{}`: {e}", config.smtp_url))?
                .timeout(Some(timeout))
                .build();
        Ok(Self {
            identity: config.identity(),
            config,
            transport,
        })
    }

    async fn mailgun(&self, key: &str, webhook: &Webhook<'_>) -> Result<Received, WebhookError> {
        // Mailgun posts `multipart/form-data` when the message has attachments (and for "store
        // and notify" forwards), else a URL-encoded form.
        let fields = match webhook.header("content-type") {
            Some(c) if c.starts_with("multipart/form-data") => {
                let body = bytes::Bytes::copy_from_slice(webhook.body);
                let (fields, files) = crate::parse_multipart_form(c, body).await?;
                if files > 0 {
                    tracing::info!(files, "email attachments not read; the message is its text");
                }
                fields
            }
            _ => crate::parse_form(webhook.body)?,
        };
        verify_mailgun(key, &fields, webhook.received_at)?;
        parse_mailgun(
            &fields,
            &self.identity,
            webhook.normalize,
            webhook.received_at,
        )
    }
}

/// Check `Authorization: Basic …` against `user:password`, in constant time.
fn check_basic_auth(expected: &str, header: Option<&str>) -> Result<(), WebhookError> {
    use base64::Engine as _;
    let given = header
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .ok_or_else(|| WebhookError::unauthorized("basic auth is missing"))?;
    if crate::secrets_match(expected.as_bytes(), &given) {
        Ok(())
    } else {
        Err(WebhookError::unauthorized("basic auth does not match"))
    }
}

#[async_trait::async_trait]
impl Provider for EmailProvider {
    fn name(&self) -> &'static str {
        "email"
    }

    fn webhook_paths(&self) -> Vec<&'static str> {
        let mut paths = Vec::new();
        if self.config.postmark_basic_auth.is_some() {
            paths.push(POSTMARK_PATH);
        }
        if self.config.mailgun_signing_key.is_some() {
            paths.push(MAILGUN_PATH);
        }
        paths
    }

    fn channels(&self) -> Vec<Channel> {
        vec![Channel::Email]
    }

    fn capabilities(&self, _channel: Channel) -> Capabilities {
        Capabilities::PLAIN
    }

    async fn receive(&self, webhook: &Webhook<'_>) -> Result<Received, WebhookError> {
        match (webhook.path, &self.config) {
            (
                POSTMARK_PATH,
                EmailConfig {
                    postmark_basic_auth: Some(expected),
                    ..
                },
            ) => {
                check_basic_auth(expected, webhook.header("authorization"))?;
                parse_postmark(
                    webhook.body,
                    &self.identity,
                    webhook.normalize,
                    webhook.received_at,
                )
            }
            (
                MAILGUN_PATH,
                EmailConfig {
                    mailgun_signing_key: Some(key),
                    ..
                },
            ) => self.mailgun(key, webhook).await,
            (path, _) => Err(WebhookError::malformed(format!(
                "the email provider has no webhook at `{path}`"
            ))),
        }
    }

    fn render(&self, _channel: Channel, markdown: &str) -> Vec<String> {
        vec![crate::render::plain_text(markdown)]
    }

    async fn send(
        &self,
        message: &OutboundMessage,
        outbox: OutboxId,
        _context: &SendContext,
    ) -> Result<String, SendError> {
        use lettre::AsyncTransport;
        let mail = reply(&self.identity, message, outbox);
        let built = mail.to_message().map_err(SendError::Permanent)?;
        match self.transport.send(built).await {
            Ok(_) => Ok(mail.message_id),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::Transient(format!("SMTP: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> EmailIdentity {
        EmailIdentity {
            address: "support@shop.example".into(),
            display_name: "Shop Support".into(),
            reply_domain: "reply.shop.example".into(),
        }
    }

    #[test]
    fn quoted_history_is_stripped() {
        let gmail = "Yes, please refund it.\n\nOn Mon, 3 Nov 2025 at 10:00, Shop <s@shop.example> wrote:\n> Shall I refund?\n";
        assert_eq!(strip_quoted(gmail), "Yes, please refund it.");
        let wrapped =
            "Thanks!\nOn Mon, 3 Nov 2025 at 10:00, Shop Support\n<s@shop.example> wrote:\n> x";
        assert_eq!(strip_quoted(wrapped), "Thanks!");
        let outlook = "Order #W123\n\nFrom: Shop Support <s@shop.example>\nSent: Monday\nTo: Ada\nSubject: Re: x\n\nold";
        assert_eq!(strip_quoted(outlook), "Order #W123");
        let sig = "Cancel it.\n-- \nAda Lovelace\nAnalytical Engines Ltd";
        assert_eq!(strip_quoted(sig), "Cancel it.");
        let inline = "> earlier\nmy answer";
        assert_eq!(strip_quoted(inline), "my answer");
        assert_eq!(
            strip_quoted("From: the start of a sentence"),
            "From: the start of a sentence"
        );
    }

    #[test]
    fn reply_addresses_and_message_ids_name_the_conversation() {
        let conv = ConversationId::new();
        let us = us();
        assert_eq!(
            us.conversation_in_address(&us.reply_address(conv)),
            Some(conv)
        );
        assert_eq!(
            us.conversation_in_address(&format!(
                "Shop <{}>",
                us.reply_address(conv).to_uppercase()
            )),
            Some(conv)
        );
        assert_eq!(
            us.conversation_in_address(&format!("reply+{conv}@elsewhere.example")),
            None
        );
        let id = us.message_id(conv, OutboxId::new());
        assert_eq!(us.conversation_in_message_id(&id), Some(conv));
        assert_eq!(us.conversation_in_message_id("<abc@mail.gmail.com>"), None);
    }

    #[test]
    fn a_mailgun_reply_to_our_address_or_message_id_carries_the_conversation() {
        let conv = ConversationId::new();
        let us = us();
        let form = |recipient: String, in_reply_to: String| -> FormFields {
            [
                ("recipient", recipient),
                ("from", "Ada <ada@example.com>".to_string()),
                ("subject", "Re: My order".to_string()),
                (
                    "body-plain",
                    "yes please\n\nOn Mon, Shop wrote:\n> ok?".to_string(),
                ),
                ("Message-Id", "<r1@mail.example.com>".to_string()),
                ("In-Reply-To", in_reply_to),
                (
                    "References",
                    format!(
                        "<m0@mail.example.com> {}",
                        us.message_id(conv, OutboxId::new())
                    ),
                ),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let now = chrono::Utc::now();
        let opts = NormalizeOptions::default();
        let by_address = parse_mailgun(
            &form(us.reply_address(conv), "<x@y>".into()),
            &us,
            &opts,
            now,
        )
        .unwrap();
        let m = &by_address.messages[0];
        assert_eq!(m.conversation_hint, Some(conv));
        assert_eq!(m.text, "yes please");
        assert_eq!(m.thread.subject.as_deref(), Some("Re: My order"));
        assert_eq!(
            m.thread.references.last().map(String::as_str),
            Some("<r1@mail.example.com>")
        );
        // A client that dropped the reply+ address still threads by our Message-ID.
        let by_id = parse_mailgun(
            &form("support@shop.example".into(), "<x@y>".into()),
            &us,
            &opts,
            now,
        )
        .unwrap();
        assert_eq!(by_id.messages[0].conversation_hint, Some(conv));
        // Missing fields are named.
        let err =
            parse_mailgun(&vec![("recipient".into(), "a@b".into())], &us, &opts, now).unwrap_err();
        assert!(matches!(err, WebhookError::Malformed(m) if m.contains("from")));
    }

    #[test]
    fn bounces_and_auto_replies_are_recognised() {
        let base = Mail {
            from: "ada@example.com".into(),
            message_id: "<a@b>".into(),
            text: "x".into(),
            ..Mail::default()
        };
        assert!(base.automated().is_none());
        let with = |name: &str, value: &str| Mail {
            headers: vec![(name.into(), value.into())],
            ..base.clone()
        };
        assert!(with("Auto-Submitted", "auto-replied").automated().is_some());
        assert!(with("Auto-Submitted", "no").automated().is_none());
        assert!(with("Precedence", "bulk").automated().is_some());
        assert!(with("X-Autoreply", "yes").automated().is_some());
        assert!(with(
            "Content-Type",
            "multipart/report; report-type=delivery-status"
        )
        .automated()
        .is_some());
        let daemon = Mail {
            from: "MAILER-DAEMON@mx.example.com".into(),
            ..base.clone()
        };
        assert!(daemon.automated().unwrap().contains("bounce"));
    }

    #[test]
    fn references_are_split_into_ids() {
        assert_eq!(
            message_ids("<a@x>  <b@y>,<c@z> junk"),
            vec!["<a@x>", "<b@y>", "<c@z>"]
        );
    }
}
