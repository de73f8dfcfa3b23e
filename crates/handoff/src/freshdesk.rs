//! Freshdesk: a ticket for the customer, then the summary as a private note on it. The ticket
//! id is kept in the delivery's progress, so a retry after the note failed adds the note to the
//! same ticket instead of opening a second one.
//!
//! API: `POST /api/v2/tickets`, `POST /api/v2/tickets/{id}/notes`; auth: `{api_key}:X` as HTTP
//! Basic.

use crate::{
    id_at, send_json, step, Delivered, HandoffError, HandoffRequest, HandoffTarget, Progress,
};
use async_trait::async_trait;
use base64::Engine as _;
use frontline_domain::{Channel, IdentityKind, Priority};
use serde::{Deserialize, Serialize};
use serde_json::json;

const TARGET: &str = "freshdesk";

/// `[handoff]` with `target = "freshdesk"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshdeskConfig {
    /// e.g. `https://acme.freshdesk.com`.
    pub base_url: String,
    /// The API key.
    pub api_key: String,
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
