//! Zendesk Support: one ticket per handoff, with the customer as requester, the note as an
//! internal comment (`public: false`), tags, priority, `external_id` = frontline's conversation
//! id, and an `Idempotency-Key` so a retried create returns the first ticket instead of a second.
//!
//! API: `POST /api/v2/tickets.json`; auth: `{email}/token:{api_token}` as HTTP Basic.
//!
//! Back from Zendesk ([`ZendeskWebhooks`], `/webhooks/zendesk`): a webhook subscribed to the
//! ticket events `zen:event-type:ticket.comment_added` and `zen:event-type:ticket.status_changed`
//! tells frontline when a person replies on the ticket (a public comment by staff), solves it,
//! or reopens it. Each request is signed: `X-Zendesk-Webhook-Signature` is
//! base64(HMAC-SHA256(signing secret, `X-Zendesk-Webhook-Signature-Timestamp` + body)). The
//! event's `id` makes a redelivery a duplicate, and its `time` orders status changes.

use crate::inbound::{json_body, text_at, ReadWebhook};
use crate::{
    id_at, send_json, step, Delivered, HandoffError, HandoffRequest, HandoffTarget, Progress,
};
use async_trait::async_trait;
use base64::Engine as _;
use frontline_channels::{HelpdeskEvent, HelpdeskRef, Webhook, WebhookError};
use frontline_domain::{HelpdeskChange, IdentityKind};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use std::collections::BTreeMap;

const TARGET: &str = "zendesk";

/// `[handoff]` with `target = "zendesk"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskConfig {
    /// e.g. `https://acme.zendesk.com`.
    pub base_url: String,
    /// The agent email the API token belongs to.
    pub email: String,
    /// The API token.
    pub api_token: String,
    /// Routing queue name → Zendesk group id.
    #[serde(default)]
    pub groups: BTreeMap<String, u64>,
    /// The signing secret of the Zendesk webhook that reports ticket events back
    /// (`/webhooks/zendesk`); without it, Zendesk's events are not taken.
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

/// How far a signature's timestamp may be from now.
const SIGNATURE_TOLERANCE: chrono::Duration = chrono::Duration::hours(1);

/// Zendesk's ticket-event webhooks, verified with the webhook's signing secret.
pub struct ZendeskWebhooks {
    secret: String,
}

impl ZendeskWebhooks {
    /// Webhooks signed with `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
        }
    }
}

/// `X-Zendesk-Webhook-Signature` for `body` sent at `timestamp` (as the header carries it).
pub fn webhook_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl ReadWebhook for ZendeskWebhooks {
    fn name(&self) -> &'static str {
        TARGET
    }

    fn read(
        &self,
        webhook: &Webhook<'_>,
    ) -> Result<Vec<Result<HelpdeskEvent, String>>, WebhookError> {
        let unauthorized = |why: &str| WebhookError::Unauthorized(why.to_string());
        let signature = webhook
            .header("x-zendesk-webhook-signature")
            .ok_or_else(|| unauthorized("X-Zendesk-Webhook-Signature is missing"))?;
        let timestamp = webhook
            .header("x-zendesk-webhook-signature-timestamp")
            .ok_or_else(|| unauthorized("X-Zendesk-Webhook-Signature-Timestamp is missing"))?;
        let given = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|_| unauthorized("the signature is not base64"))?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("HMAC takes any key");
        mac.update(timestamp.as_bytes());
        mac.update(webhook.body);
        mac.verify_slice(&given)
            .map_err(|_| unauthorized("the signature does not match the body"))?;
        let signed_at = chrono::DateTime::parse_from_rfc3339(timestamp.trim())
            .map_err(|_| unauthorized("the signature timestamp is not a date"))?
            .with_timezone(&chrono::Utc);
        if (webhook.received_at - signed_at).abs() > SIGNATURE_TOLERANCE {
            return Err(unauthorized(
                "the signature timestamp is more than an hour from now (a replay?)",
            ));
        }
        Ok(vec![ticket_event(&json_body(webhook)?)])
    }
}

/// One Zendesk ticket event as a helpdesk change, or why it is not one.
fn ticket_event(body: &serde_json::Value) -> Result<HelpdeskEvent, String> {
    let kind = body["type"].as_str().unwrap_or_default();
    let ticket = text_at(body, "/detail/id")
        .or_else(|| {
            body["subject"]
                .as_str()
                .and_then(|s| s.strip_prefix("zen:ticket:"))
                .map(str::to_string)
        })
        .ok_or_else(|| format!("{kind}: no ticket id"))?;
    let event_id = text_at(body, "/id").ok_or_else(|| format!("{kind}: no event id"))?;
    let at = body["time"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let change = match kind {
        "zen:event-type:ticket.comment_added" => {
            let comment = &body["event"]["comment"];
            if comment["author"]["is_staff"].as_bool() != Some(true) {
                return Err(format!(
                    "ticket {ticket}: a comment by the requester (the customer writes to frontline)"
                ));
            }
            let text = text_at(comment, "/body")
                .ok_or_else(|| format!("ticket {ticket}: a comment with no body"))?;
            HelpdeskChange::PersonWrote {
                author: text_at(comment, "/author/name").unwrap_or_else(|| "Zendesk agent".into()),
                text,
                private: comment["is_public"].as_bool() != Some(true),
            }
        }
        "zen:event-type:ticket.status_changed" => {
            let status = |at: &str| {
                body.pointer(at)
                    .and_then(|v| v.as_str().or_else(|| v["status"].as_str()))
                    .unwrap_or_default()
                    .to_ascii_lowercase()
            };
            let (current, previous) = (status("/event/current"), status("/event/previous"));
            let done = |s: &str| matches!(s, "solved" | "closed");
            match (done(&current), done(&previous)) {
                (true, false) => HelpdeskChange::Solved,
                (false, true) => HelpdeskChange::Reopened,
                _ => {
                    return Err(format!(
                        "ticket {ticket}: {previous} to {current} changes nothing for frontline"
                    ))
                }
            }
        }
        other => return Err(format!("ticket {ticket}: {other} is not acted on")),
    };
    Ok(HelpdeskEvent {
        helpdesk: TARGET,
        about: HelpdeskRef::Ticket(ticket),
        change,
        event_id: Some(event_id),
        at,
    })
}

/// The Zendesk target.
pub struct Zendesk {
    config: ZendeskConfig,
    client: reqwest::Client,
}

impl Zendesk {
    /// A target for this account.
    pub fn new(config: ZendeskConfig, client: reqwest::Client) -> Self {
        Self { config, client }
    }

    /// The ticket as Zendesk's create endpoint wants it.
    pub fn ticket(&self, request: &HandoffRequest) -> serde_json::Value {
        let s = &request.summary;
        let mut requester = json!({ "name": request.customer_name() });
        if let Some(email) = request.identity(&[IdentityKind::Email]) {
            requester["email"] = json!(email);
        }
        let mut ticket = json!({
            "subject": request.subject(),
            "comment": { "body": request.note, "public": false },
            "requester": requester,
            "tags": request.tags(),
            "external_id": s.conversation_id.to_string(),
            "priority": s.routing.priority.as_str(),
            "type": "incident",
        });
        if let Some(group) = s
            .routing
            .queue
            .as_ref()
            .and_then(|q| self.config.groups.get(q))
        {
            ticket["group_id"] = json!(group);
        }
        json!({ "ticket": ticket })
    }
}

#[async_trait]
impl HandoffTarget for Zendesk {
    fn name(&self) -> &'static str {
        TARGET
    }

    async fn deliver(
        &self,
        request: &HandoffRequest,
        progress: &mut Progress,
    ) -> Result<Delivered, HandoffError> {
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}/token:{}",
            self.config.email, self.config.api_token
        ));
        let url = format!(
            "{}/api/v2/tickets.json",
            self.config.base_url.trim_end_matches('/')
        );
        let ticket = step(progress, "ticket", async {
            let created = send_json(
                TARGET,
                "create ticket",
                self.client
                    .post(url)
                    .header("Authorization", format!("Basic {credentials}"))
                    .header("Idempotency-Key", &request.id)
                    .json(&self.ticket(request)),
            )
            .await?;
            Ok(json!(id_at(TARGET, &created, "/ticket/id")?))
        })
        .await?;
        Ok(Delivered {
            reference: id_at(TARGET, &json!({ "t": ticket }), "/t")?,
        })
    }
}
