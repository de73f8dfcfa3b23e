//! Replies out: the reply outbox queue, delivering through the channel providers' registry
//! (retrying transient failures with backoff, recording the provider's message id), and handing
//! a reply that can never reach the customer on its channel to a person.

use async_trait::async_trait;
use frontline_agent::Agent;
use frontline_channels::{Registry, SendContext, SendError};
use frontline_domain::{Channel, OutboundMessage, OutboxId, Timestamp};
use frontline_store::{Backoff, DeliveryAttempt, Store, StoreError};
use std::sync::Arc;

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

/// Drains the outbox through the registry's providers.
pub struct OutboxWorker {
    store: Store,
    providers: Arc<Registry>,
    backoff: Backoff,
    undeliverable: Option<Arc<dyn Undeliverable>>,
}

impl OutboxWorker {
    /// A worker delivering through `providers` (replies on channels without a provider wait
    /// in the outbox).
    pub fn new(store: Store, providers: Arc<Registry>, backoff: Backoff) -> Self {
        Self {
            store,
            providers,
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
        self.providers.channels()
    }

    /// Deliver what is due at `now`.
    pub async fn run_once(&self, now: Timestamp) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        for entry in self.store.due_outbox(now, 100).await? {
            let channel = entry.message.channel;
            let Some(sender) = self.providers.sender(channel) else {
                continue;
            };
            // A survey never reaches a customer a person is still helping.
            if entry.message.survey.is_some()
                && self
                    .store
                    .conversation(entry.message.conversation_id)
                    .await?
                    .status
                    == frontline_domain::ConversationStatus::HandedOff
            {
                let attempt = DeliveryAttempt::Failed {
                    error: "withdrawn: a person has the conversation".into(),
                };
                self.store
                    .record_outbox_attempt(entry.id, &attempt, now)
                    .await?;
                continue;
            }
            // Only a channel with a reply window needs to know when the customer last wrote.
            let last_inbound = if sender.capabilities(channel).reply_window.is_some() {
                self.store
                    .last_inbound(entry.message.conversation_id, channel)
                    .await?
            } else {
                None
            };
            let context = SendContext { last_inbound, now };
            let attempt = match sender.send(&entry.message, entry.id, &context).await {
                Ok(reference) => {
                    pass.delivered += 1;
                    DeliveryAttempt::Delivered { reference }
                }
                Err(SendError::Transient(error)) => {
                    let error = SendError::Transient(error).to_string();
                    let attempt = self.backoff.after_failure(entry.attempts, true, error, now);
                    if let DeliveryAttempt::Retry { error, .. } = &attempt {
                        pass.retrying += 1;
                        tracing::warn!(outbox = %entry.id, %error, "reply delivery failed; retrying");
                    } else {
                        pass.failed += 1;
                        tracing::error!(outbox = %entry.id, "reply delivery failed for good: out of attempts");
                    }
                    attempt
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
}

impl frontline_store::Queue for OutboxWorker {
    fn name(&self) -> &'static str {
        "outbox"
    }

    fn pass(&self, now: Timestamp) -> frontline_store::worker::PassFuture<'_> {
        Box::pin(async move {
            let pass = self.run_once(now).await?;
            Ok(frontline_store::Progress {
                done: pass.delivered + pass.failed,
            })
        })
    }
}

/// Hands a conversation to a person when its reply cannot be delivered.
pub struct HandOffUndeliverable(pub Arc<Agent>);

#[async_trait]
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
