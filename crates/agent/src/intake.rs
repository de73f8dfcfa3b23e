//! The intake worker: runs the turns of messages channel webhooks queued (the webhook has
//! already answered the provider), through the agent's public [`Agent::handle`], as any other
//! caller of the agent does. A failed turn is retried with backoff; a message that keeps
//! failing is set aside with its error, never dropped silently.

use crate::{Agent, AgentError};
use frontline_domain::Timestamp;
use frontline_store::{Backoff, DeliveryAttempt, StoreError};
use std::sync::Arc;

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntakePass {
    /// Turns run (or answered as duplicates).
    pub handled: usize,
    /// Turns that failed and wait for a retry.
    pub retrying: usize,
    /// Messages set aside after their last attempt.
    pub failed: usize,
}

/// The intake queue for a [`frontline_store::Worker`]: the turns of the messages webhooks
/// queued, retried with `backoff`.
pub struct Intake {
    agent: Arc<Agent>,
    backoff: Backoff,
}

impl Intake {
    /// The intake of `agent`.
    pub fn new(agent: Arc<Agent>, backoff: Backoff) -> Self {
        Self { agent, backoff }
    }

    /// Run the turns of the queued messages due at `now`, oldest first, one per sender (see
    /// [`frontline_store::Store::due_inbound`]); the queue's pass.
    pub async fn run_once(&self, now: Timestamp) -> Result<IntakePass, StoreError> {
        let (agent, backoff) = (&self.agent, &self.backoff);
        let mut pass = IntakePass::default();
        for queued in agent.store().due_inbound(now, 50).await? {
            let message = queued.message;
            let (channel, id) = (message.channel, message.channel_message_id.clone());
            let attempt = match agent.handle(message).await {
                Ok(_) => {
                    pass.handled += 1;
                    DeliveryAttempt::Delivered {
                        reference: String::new(),
                    }
                }
                Err(e) => {
                    let busy = matches!(
                        e,
                        AgentError::InProgress { .. } | AgentError::Store(StoreError::Conflict(_))
                    );
                    let attempt =
                        match backoff.after_failure(queued.attempts, true, e.to_string(), now) {
                            // Another worker is on it, or another turn of the conversation committed
                            // first: look again soon, not after the backoff.
                            DeliveryAttempt::Retry { error, .. } if busy => {
                                DeliveryAttempt::Retry {
                                    next_attempt_at: now + chrono::Duration::seconds(1),
                                    error,
                                }
                            }
                            attempt => attempt,
                        };
                    if matches!(attempt, DeliveryAttempt::Retry { .. }) {
                        pass.retrying += 1;
                    } else {
                        pass.failed += 1;
                        tracing::error!(%channel, channel_message_id = %id, error = %e, "giving up on a queued message");
                    }
                    attempt
                }
            };
            agent
                .store()
                .record_inbound_attempt(channel, &id, &attempt, agent.now())
                .await?;
        }
        Ok(pass)
    }
}

impl frontline_store::Queue for Intake {
    fn name(&self) -> &'static str {
        "intake"
    }

    fn pass(&self, now: Timestamp) -> frontline_store::worker::PassFuture<'_> {
        Box::pin(async move {
            let pass = self.run_once(now).await?;
            Ok(frontline_store::Progress {
                done: pass.handled + pass.failed,
            })
        })
    }
}
