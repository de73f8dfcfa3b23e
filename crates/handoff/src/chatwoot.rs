//! Chatwoot: the summary lands as a private note on the customer's Chatwoot conversation (one is
//! opened in the configured inbox when the customer did not write through Chatwoot), with
//! labels and priority, and the conversation is set `open` so an agent picks it up. Releasing
//! sets it back to `pending` (the bot's state).
//!
//! API: `POST /api/v1/accounts/{account}/conversations/{id}/messages` with `private: true`,
//! `…/labels`, `…/toggle_priority`, `…/toggle_status`; contacts and conversations are created
//! with `POST …/contacts` and `POST …/conversations`. Auth: the `api_access_token` header.

use crate::{id_at, step, Delivered, HandoffError, HandoffRequest, HandoffTarget, Progress};
use async_trait::async_trait;
use frontline_channels::chatwoot::ChatwootApi;
use frontline_domain::{IdentityKind, Priority};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const TARGET: &str = "chatwoot";

/// `[handoff]` with `target = "chatwoot"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatwootConfig {
    /// e.g. `https://app.chatwoot.com`.
    pub base_url: String,
    /// The account id.
    pub account_id: u64,
    /// A user or agent-bot access token.
    pub api_access_token: String,
    /// The inbox conversations are opened in for customers who did not write through Chatwoot.
    pub inbox_id: u64,
    /// Labels added to every handed-off conversation, besides the trigger and flow labels.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// The Chatwoot target, on the one Chatwoot API client.
pub struct Chatwoot {
    config: ChatwootConfig,
    api: ChatwootApi,
    account: String,
}

/// Progress key under which the Chatwoot conversation id is kept. A conversation that came in
/// through Chatwoot pre-seeds it, so the note lands on that conversation.
pub const CONVERSATION: &str = "conversation";

fn priority(p: Priority) -> &'static str {
    match p {
        Priority::Low => "low",
        Priority::Normal => "medium",
        Priority::High => "high",
        Priority::Urgent => "urgent",
    }
}

impl Chatwoot {
    /// A target for this account.
    pub fn new(config: ChatwootConfig, client: reqwest::Client) -> Self {
        let api = ChatwootApi::new(&config.base_url, &config.api_access_token, client);
        let account = config.account_id.to_string();
        Self {
            config,
            api,
            account,
        }
    }

    /// `POST` `body` to `path` of the account; `what` names the call in errors.
    async fn post(&self, what: &str, path: &str, body: Value) -> Result<Value, HandoffError> {
        self.api
            .post(what, &self.account, path, &body)
            .await
            .map_err(|e| HandoffError::from_send(TARGET, e))
    }

    /// Find or create the contact; returns (contact id, source id in the inbox).
    async fn contact(&self, request: &HandoffRequest) -> Result<Value, HandoffError> {
        let email = request.identity(&[IdentityKind::Email]);
        let phone = request.identity(&[IdentityKind::Phone]);
        let mut body = json!({
            "inbox_id": self.config.inbox_id,
            "name": request.customer_name(),
            "identifier": request.summary.customer.customer_id,
        });
        if let Some(email) = email {
            body["email"] = json!(email);
        }
        if let Some(phone) = phone {
            body["phone_number"] = json!(phone);
        }
        match self.post("create contact", "/contacts", body).await {
            Ok(created) => Ok(json!({
                "id": id_at(TARGET, &created, "/payload/contact/id")?,
                "source_id": id_at(TARGET, &created, "/payload/contact_inbox/source_id")?,
            })),
            // 422: the contact exists already; find it and join it to the inbox.
            Err(HandoffError::Permanent { message, .. }) if message.contains("422") => {
                let query = request.summary.customer.customer_id.clone();
                let q = email.or(phone).unwrap_or(&query);
                let found = self
                    .api
                    .get(
                        "search contact",
                        &self.account,
                        "/contacts/search",
                        &[("q", q)],
                    )
                    .await
                    .map_err(|e| HandoffError::from_send(TARGET, e))?;
                let id = id_at(TARGET, &found, "/payload/0/id")?;
                let inbox = self
                    .post(
                        "create contact inbox",
                        &format!("/contacts/{id}/contact_inboxes"),
                        json!({ "inbox_id": self.config.inbox_id }),
                    )
                    .await?;
                Ok(json!({ "id": id, "source_id": id_at(TARGET, &inbox, "/source_id")? }))
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl HandoffTarget for Chatwoot {
    fn name(&self) -> &'static str {
        TARGET
    }

    async fn deliver(
        &self,
        request: &HandoffRequest,
        progress: &mut Progress,
    ) -> Result<Delivered, HandoffError> {
        if !progress.contains_key(CONVERSATION) {
            let contact = step(progress, "contact", self.contact(request)).await?;
            let body = json!({
                "source_id": contact["source_id"],
                "inbox_id": self.config.inbox_id,
                "contact_id": contact["id"],
                "status": "open",
                "additional_attributes": {
                    "frontline_conversation_id": request.summary.conversation_id,
                },
            });
            step(progress, CONVERSATION, async {
                let created = self
                    .post("create conversation", "/conversations", body)
                    .await?;
                Ok(json!(id_at(TARGET, &created, "/id")?))
            })
            .await?;
        }
        let conversation = id_at(TARGET, &Value::Object(progress.clone()), "/conversation")?;
        let at = |what: &str| format!("/conversations/{conversation}/{what}");
        step(progress, "note", async {
            let note = json!({
                "content": request.note,
                "message_type": "outgoing",
                "private": true,
            });
            let created = self.post("private note", &at("messages"), note).await?;
            Ok(json!(id_at(TARGET, &created, "/id")?))
        })
        .await?;
        let mut labels = request.tags();
        labels.extend(self.config.labels.iter().cloned());
        step(progress, "labels", async {
            self.post("labels", &at("labels"), json!({ "labels": labels }))
                .await
                .map(|_| json!(true))
        })
        .await?;
        let level = priority(request.summary.routing.priority);
        step(progress, "priority", async {
            self.post(
                "priority",
                &at("toggle_priority"),
                json!({ "priority": level }),
            )
            .await
            .map(|_| json!(true))
        })
        .await?;
        step(progress, "status", async {
            self.post("open", &at("toggle_status"), json!({ "status": "open" }))
                .await
                .map(|_| json!(true))
        })
        .await?;
        Ok(Delivered {
            reference: conversation,
        })
    }

    async fn release(&self, delivered: &Delivered) -> Result<(), HandoffError> {
        self.post(
            "release",
            &format!("/conversations/{}/toggle_status", delivered.reference),
            json!({ "status": "pending" }),
        )
        .await
        .map(|_| ())
    }
}
