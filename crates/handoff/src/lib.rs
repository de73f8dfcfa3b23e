//! Handoff targets: deliver an escalation to where the human team works.
//!
//! Each target sends the provider's real API requests ([`chatwoot`], [`zendesk`],
//! [`freshdesk`], a signed [`webhook`]). Delivery is a short sequence of steps (create a ticket,
//! add the private note, set labels, open the conversation); each finished step is written into
//! the delivery's [`Progress`], which the caller persists between attempts, so a retry after a
//! 5xx or a crash resumes where it stopped and never creates a second ticket or note. Where a
//! provider offers idempotency keys (Zendesk) they are sent too.
//!
//! The way back ([`inbound`]): Zendesk's and Freshdesk's webhooks report a person's reply, a
//! solved ticket and a reopened one, verified as each provider allows (Zendesk's signature,
//! Freshdesk's shared secret).

pub mod chatwoot;
pub mod dispatch;
pub mod freshdesk;
pub mod inbound;
pub mod webhook;
pub mod zendesk;

use async_trait::async_trait;
use frontline_domain::{EscalationSummary, IdentityKind};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What is handed over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HandoffRequest {
    /// Stable id of this handoff: the idempotency key of every attempt.
    pub id: String,
    /// The structured summary (already schema-checked).
    pub summary: EscalationSummary,
    /// The readable note rendered from it (markdown).
    pub note: String,
}

impl HandoffRequest {
    /// A request for `summary`, with its note rendered, after checking the summary against its
    /// schema: a summary that does not match is never sent.
    pub fn new(
        id: impl Into<String>,
        summary: EscalationSummary,
    ) -> Result<Self, frontline_escalation::SummaryError> {
        frontline_escalation::validate_summary(&summary)?;
        Ok(Self {
            id: id.into(),
            note: frontline_escalation::render_note(&summary),
            summary,
        })
    }

    /// A one-line subject for tickets.
    pub fn subject(&self) -> String {
        let issue = self
            .summary
            .issue_statement
            .trim_start_matches("The customer wrote: ")
            .trim_matches('"');
        let short: String = issue.chars().take(80).collect();
        let ellipsis = if issue.chars().count() > 80 {
            "…"
        } else {
            ""
        };
        format!("[{}] {short}{ellipsis}", self.summary.trigger)
    }

    /// The customer's first identity of a kind.
    pub fn identity(&self, kinds: &[IdentityKind]) -> Option<&str> {
        self.summary
            .customer
            .identities
            .iter()
            .find(|i| kinds.contains(&i.kind))
            .map(|i| i.value.as_str())
    }

    /// The customer's name, or a stand-in.
    pub fn customer_name(&self) -> String {
        self.summary
            .customer
            .name
            .clone()
            .unwrap_or_else(|| format!("Customer {}", self.summary.customer.customer_id))
    }

    /// Tags for helpdesks: the trigger, the flow, VIP.
    pub fn tags(&self) -> Vec<String> {
        let mut tags = vec![
            "frontline".to_string(),
            format!(
                "escalation-{}",
                self.summary.trigger.code().replace('_', "-")
            ),
        ];
        if let Some(flow) = &self.summary.flow {
            tags.push(format!("flow-{}", flow.flow_id.replace('_', "-")));
        }
        if self.summary.customer.vip {
            tags.push("vip".into());
        }
        tags
    }
}

/// Steps of a delivery already done, with what they returned (ticket ids, …). Persist it
/// between attempts.
pub type Progress = serde_json::Map<String, serde_json::Value>;

/// Where a delivered handoff lives at the provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    /// The provider's id for it (ticket or conversation id).
    pub reference: String,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// Worth retrying later: a 5xx, a 429, a timeout, a connection failure.
    #[error("{target}: {message} (will retry)")]
    Transient {
        /// The target.
        target: &'static str,
        /// What happened.
        message: String,
    },
    /// Retrying will not help: a 4xx other than 429, an unexpected response.
    #[error("{target}: {message}")]
    Permanent {
        /// The target.
        target: &'static str,
        /// What happened.
        message: String,
    },
}

impl HandoffError {
    /// A provider call's failure, as `target`'s.
    pub(crate) fn from_send(target: &'static str, error: frontline_channels::SendError) -> Self {
        use frontline_channels::SendError;
        match error {
            SendError::Transient(message) => HandoffError::Transient { target, message },
            SendError::Permanent(message) | SendError::Unreachable(message) => {
                HandoffError::Permanent { target, message }
            }
        }
    }

    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, HandoffError::Transient { .. })
    }
}

/// A place handoffs go.
#[async_trait]
pub trait HandoffTarget: Send + Sync {
    /// Its name (`chatwoot`, `zendesk`, `freshdesk`, `webhook`).
    fn name(&self) -> &'static str;

    /// Deliver, resuming after the steps recorded in `progress` and recording each step done.
    async fn deliver(
        &self,
        request: &HandoffRequest,
        progress: &mut Progress,
    ) -> Result<Delivered, HandoffError>;

    /// Give the conversation back to the bot at the provider, where the provider has such a
    /// state (Chatwoot: status `pending`). The default does nothing: other helpdesks release
    /// by calling frontline's release API.
    async fn release(&self, _delivered: &Delivered) -> Result<(), HandoffError> {
        Ok(())
    }
}

/// An HTTP client for targets, with a timeout (the channels' client: one shape for every
/// provider call).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    frontline_channels::http::client(timeout)
}

/// Send a request and read a JSON answer, sorted into transient and permanent failures by the
/// one classifier every provider call uses ([`frontline_channels::http::answer`]).
pub(crate) async fn send_json(
    target: &'static str,
    what: &str,
    request: reqwest::RequestBuilder,
) -> Result<serde_json::Value, HandoffError> {
    frontline_channels::http::answer(what, request.send().await)
        .await
        .map_err(|e| HandoffError::from_send(target, e))
}

/// Run `step` unless `progress` says it was done; record its result under `key`.
pub(crate) async fn step<F>(
    progress: &mut Progress,
    key: &str,
    step: F,
) -> Result<serde_json::Value, HandoffError>
where
    F: std::future::Future<Output = Result<serde_json::Value, HandoffError>>,
{
    if let Some(done) = progress.get(key) {
        return Ok(done.clone());
    }
    let value = step.await?;
    progress.insert(key.to_string(), value.clone());
    Ok(value)
}

/// Read a number or string id out of a JSON answer.
pub(crate) fn id_at(
    target: &'static str,
    value: &serde_json::Value,
    pointer: &str,
) -> Result<String, HandoffError> {
    match value.pointer(pointer) {
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(HandoffError::Permanent {
            target,
            message: format!("the answer has no id at {pointer}: {value}"),
        }),
    }
}

/// Which target to use, from config (`[handoff]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "target", rename_all = "snake_case")]
pub enum TargetConfig {
    /// Keep handoffs in frontline only (the console and the API show them).
    #[default]
    None,
    /// A Chatwoot account.
    Chatwoot(chatwoot::ChatwootConfig),
    /// A Zendesk Support account.
    Zendesk(zendesk::ZendeskConfig),
    /// A Freshdesk account.
    Freshdesk(freshdesk::FreshdeskConfig),
    /// Any HTTPS endpoint, signed.
    Webhook(webhook::WebhookConfig),
}

impl TargetConfig {
    /// The configured target, if any.
    pub fn build(&self, timeout: Duration) -> Option<std::sync::Arc<dyn HandoffTarget>> {
        let client = http_client(timeout);
        Some(match self {
            TargetConfig::None => return None,
            TargetConfig::Chatwoot(c) => {
                std::sync::Arc::new(chatwoot::Chatwoot::new(c.clone(), client))
            }
            TargetConfig::Zendesk(c) => {
                std::sync::Arc::new(zendesk::Zendesk::new(c.clone(), client))
            }
            TargetConfig::Freshdesk(c) => {
                std::sync::Arc::new(freshdesk::Freshdesk::new(c.clone(), client))
            }
            TargetConfig::Webhook(c) => {
                std::sync::Arc::new(webhook::Webhook::new(c.clone(), client))
            }
        })
    }

    /// The helpdesk's webhooks back to frontline (`/webhooks/zendesk`, `/webhooks/freshdesk`),
    /// when the target has a webhook secret configured.
    pub fn inbound(&self) -> Option<std::sync::Arc<dyn frontline_channels::Provider>> {
        match self {
            TargetConfig::Zendesk(zendesk::ZendeskConfig {
                webhook_secret: Some(secret),
                ..
            }) => Some(inbound::Inbound::provider(zendesk::ZendeskWebhooks::new(
                secret.clone(),
            ))),
            TargetConfig::Freshdesk(freshdesk::FreshdeskConfig {
                webhook_secret: Some(secret),
                ..
            }) => Some(inbound::Inbound::provider(
                freshdesk::FreshdeskWebhooks::new(secret.clone()),
            )),
            _ => None,
        }
    }
}
