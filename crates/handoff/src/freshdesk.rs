//! Freshdesk: a ticket for the customer, then the summary as a private note on it. The ticket
//! id is kept in the delivery's progress, so a retry after the note failed adds the note to the
//! same ticket instead of opening a second one.
//!
//! API: `POST /api/v2/tickets`, `POST /api/v2/tickets/{id}/notes`; auth: `{api_key}:X` as HTTP
//! Basic.
//!
//! Back from Freshdesk ([`FreshdeskWebhooks`], `/webhooks/freshdesk`): automation rules on
//! ticket updates ("agent replies", "status is changed") with the action *Trigger webhook*
//! post the ticket's fields (`ticket_id`, `ticket_status`, `ticket_latest_public_comment`,
//! `ticket_agent_name`, `triggered_event`; optionally `ticket_updated_at`), under
//! `freshdesk_webhook` as Freshdesk's simple content sends them or at the top level. Freshdesk
//! signs nothing: the rule authenticates with a shared secret, as the password of HTTP Basic
//! auth or in an `X-Frontline-Secret` custom header, compared in constant time. A redelivery
//! is the same body again, so the body's digest is the event's id.

use crate::inbound::{json_body, text_at, ReadWebhook};
use crate::{
    id_at, send_json, step, Delivered, HandoffError, HandoffRequest, HandoffTarget, Progress,
};
use async_trait::async_trait;
use base64::Engine as _;
use frontline_channels::{HelpdeskEvent, HelpdeskRef, Webhook, WebhookError};
use frontline_domain::{Channel, HelpdeskChange, IdentityKind, Priority};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

const TARGET: &str = "freshdesk";

/// `[handoff]` with `target = "freshdesk"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshdeskConfig {
    /// e.g. `https://acme.freshdesk.com`.
    pub base_url: String,
    /// The API key.
    pub api_key: String,
    /// The secret Freshdesk's automation rules send back (`/webhooks/freshdesk`); without it,
    /// Freshdesk's webhooks are not taken.
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

/// Freshdesk's automation webhooks, authenticated by a shared secret.
pub struct FreshdeskWebhooks {
    secret: String,
}

impl FreshdeskWebhooks {
    /// Webhooks carrying `secret`.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
        }
    }
}

impl ReadWebhook for FreshdeskWebhooks {
    fn name(&self) -> &'static str {
        TARGET
    }

    fn read(
        &self,
        webhook: &Webhook<'_>,
    ) -> Result<Vec<Result<HelpdeskEvent, String>>, WebhookError> {
        let basic_password = webhook
            .header("authorization")
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_string()));
        let given = webhook
            .header("x-frontline-secret")
            .map(str::to_string)
            .or(basic_password)
            .ok_or_else(|| {
                WebhookError::Unauthorized(
                    "no secret: send it as X-Frontline-Secret or as the basic-auth password".into(),
                )
            })?;
        if !frontline_channels::secrets_match(self.secret.as_bytes(), given.as_bytes()) {
            return Err(WebhookError::Unauthorized(
                "the secret does not match".into(),
            ));
        }
        let body = json_body(webhook)?;
        let fields = body.get("freshdesk_webhook").unwrap_or(&body);
        let ticket = text_at(fields, "/ticket_id").ok_or_else(|| {
            WebhookError::Malformed("ticket_id is missing (see the rule's content)".into())
        })?;
        let digest = hex::encode(Sha256::digest(webhook.body));
        let at = fields
            .get("ticket_updated_at")
            .and_then(|v| v.as_str())
            .and_then(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .ok()
                    .or_else(|| {
                        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
                            .ok()
                            .map(|t| t.and_utc())
                    })
            });
        let triggered = text_at(fields, "/triggered_event")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let comment = text_at(fields, "/ticket_latest_public_comment");
        let status = text_at(fields, "/ticket_status")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let event = |change: HelpdeskChange| HelpdeskEvent {
            helpdesk: TARGET,
            about: HelpdeskRef::Ticket(ticket.clone()),
            event_id: Some(format!("{}:{digest}", change.as_str())),
            change,
            at,
        };
        let mut events = vec![];
        let replied = triggered.is_empty()
            || ["reply", "comment", "note", "conversation"]
                .iter()
                .any(|w| triggered.contains(w));
        match comment {
            Some(text) if replied => events.push(Ok(event(HelpdeskChange::PersonWrote {
                author: text_at(fields, "/ticket_agent_name")
                    .unwrap_or_else(|| "Freshdesk agent".into()),
                text: crate::inbound::html_to_text(&text),
                private: false,
            }))),
            _ => {}
        }
        // A status is read when the rule is about it, or when nothing else came.
        if triggered.contains("status") || (triggered.is_empty() && events.is_empty()) {
            events.push(match status.as_str() {
                "resolved" | "closed" | "4" | "5" => Ok(event(HelpdeskChange::Solved)),
                "open" | "pending" | "2" | "3" => Ok(event(HelpdeskChange::Reopened)),
                other => Err(format!(
                    "ticket {ticket}: status {other:?} changes nothing for frontline"
                )),
            });
        }
        if events.is_empty() {
            events.push(Err(format!(
                "ticket {ticket}: {triggered:?} carries neither a reply nor a status change"
            )));
        }
        Ok(events)
    }
}

/// The Freshdesk target.
pub struct Freshdesk {
    config: FreshdeskConfig,
    client: reqwest::Client,
}

/// Markdown-ish text as the simple HTML Freshdesk bodies take.
pub fn to_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', "<br>")
}

impl Freshdesk {
    /// A target for this account.
    pub fn new(config: FreshdeskConfig, client: reqwest::Client) -> Self {
        Self { config, client }
    }

    fn post(&self, path: &str, body: serde_json::Value) -> reqwest::RequestBuilder {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:X", self.config.api_key));
        self.client
            .post(format!(
                "{}/api/v2{path}",
                self.config.base_url.trim_end_matches('/')
            ))
            .header("Authorization", format!("Basic {credentials}"))
            .json(&body)
    }

    /// The ticket as Freshdesk's create endpoint wants it.
    pub fn ticket(&self, request: &HandoffRequest) -> serde_json::Value {
        let s = &request.summary;
        let mut ticket = json!({
            "name": request.customer_name(),
            "subject": request.subject(),
            "description": to_html(&format!("{}\n\nHanded over by frontline: {}", s.issue_statement, s.reason)),
            "status": 2,
            "priority": match s.routing.priority {
                Priority::Low => 1,
                Priority::Normal => 2,
                Priority::High => 3,
                Priority::Urgent => 4,
            },
            "source": if s.current_channel == Channel::Email { 1 } else { 7 },
            "tags": request.tags(),
        });
        match (
            request.identity(&[IdentityKind::Email]),
            request.identity(&[IdentityKind::Phone, IdentityKind::Whatsapp]),
        ) {
            (Some(email), _) => ticket["email"] = json!(email),
            (None, Some(phone)) => ticket["phone"] = json!(phone),
            (None, None) => ticket["unique_external_id"] = json!(s.customer.customer_id),
        }
        ticket
    }
}

#[async_trait]
impl HandoffTarget for Freshdesk {
    fn name(&self) -> &'static str {
        TARGET
    }

    async fn deliver(
        &self,
        request: &HandoffRequest,
        progress: &mut Progress,
    ) -> Result<Delivered, HandoffError> {
        let ticket = step(progress, "ticket", async {
            let created = send_json(
                TARGET,
                "create ticket",
                self.post("/tickets", self.ticket(request)),
            )
            .await?;
            Ok(json!(id_at(TARGET, &created, "/id")?))
        })
        .await?;
        let ticket = id_at(TARGET, &json!({ "t": ticket }), "/t")?;
        step(progress, "note", async {
            let note = json!({ "body": to_html(&request.note), "private": true });
            let created = send_json(
                TARGET,
                "private note",
                self.post(&format!("/tickets/{ticket}/notes"), note),
            )
            .await?;
            Ok(json!(id_at(TARGET, &created, "/id")?))
        })
        .await?;
        Ok(Delivered { reference: ticket })
    }
}
