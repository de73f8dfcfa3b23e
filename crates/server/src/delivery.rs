//! Replies out: the channels' outbox worker, wired to the agent so that a reply which can never
//! reach the customer on its channel hands the conversation to a person.

use frontline_agent::Agent;
use frontline_channels::{OutboxWorker, Registry, Undeliverable};
use frontline_domain::{OutboundMessage, OutboxId};
use frontline_store::Backoff;
use std::sync::Arc;

/// Hands a conversation to a person when its reply cannot be delivered.
pub struct HandOffUndeliverable(pub Arc<Agent>);

#[async_trait::async_trait]
impl Undeliverable for HandOffUndeliverable {
    async fn undeliverable(
        &self,
        message: &OutboundMessage,
        outbox: OutboxId,
        reason: &str,
    ) -> Result<(), String> {
        let handed_off = self
            .0
            .escalate_undeliverable(message.conversation_id, message.channel, reason)
            .await
            .map_err(|e| e.to_string())?;
        if !handed_off {
            tracing::info!(%outbox, "undeliverable reply in a conversation a person already has");
        }
        Ok(())
    }
}

/// The outbox worker delivering through `providers`, handing undeliverable replies to a
/// person.
pub fn outbox_worker(
    agent: Arc<Agent>,
    providers: Arc<Registry>,
    backoff: Backoff,
) -> OutboxWorker {
    OutboxWorker::new(agent.store().clone(), providers, backoff)
        .with_undeliverable(Arc::new(HandOffUndeliverable(agent)))
}
