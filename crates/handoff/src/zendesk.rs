//! Zendesk Support: one ticket per handoff, with the customer as requester, the note as an
//! internal comment (`public: false`), tags, priority, `external_id` = frontline's conversation
//! id, and an `Idempotency-Key` so a retried create returns the first ticket instead of a second.
//!
//! API: `POST /api/v2/tickets.json`; auth: `{email}/token:{api_token}` as HTTP Basic.

use crate::{
    id_at, send_json, step, Delivered, HandoffError, HandoffRequest, HandoffTarget, Progress,
};
use async_trait::async_trait;
use base64::Engine as _;
use frontline_domain::IdentityKind;
use serde::{Deserialize, Serialize};
use serde_json::json;
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
