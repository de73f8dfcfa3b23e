//! The intake worker: runs the turns of messages channel webhooks queued (the webhook has
//! already answered the provider). A failed turn is retried with backoff; a message that keeps
//! failing is set aside with its error, never dropped silently.

use crate::{Agent, AgentError};
use frontline_domain::Timestamp;
use frontline_store::{Backoff, DeliveryAttempt, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;

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

impl Agent {
    /// Run the turns of the queued messages due at `now`, oldest first, one per sender (see
    /// [`frontline_store::Store::due_inbound`]).
    pub async fn run_queue_once(
        &self,
        backoff: &Backoff,
        now: Timestamp,
    ) -> Result<IntakePass, StoreError> {
        let mut pass = IntakePass::default();
        for queued in self.store.due_inbound(now, 50).await? {
            let message = queued.message;
            let (channel, id) = (message.channel, message.channel_message_id.clone());
            let attempt = match self.handle(message).await {
                Ok(_) => {
                    pass.handled += 1;
                    DeliveryAttempt::Delivered {
                        reference: String::new(),
                    }
                }
                Err(e) if queued.attempts + 1 < backoff.attempts => {
                    pass.retrying += 1;
                    let wait = match e {
                        // Another worker is on it, or another turn of the conversation committed
                        // first: look again soon.
                        AgentError::InProgress { .. }
                        | AgentError::Store(StoreError::Conflict(_)) => {
                            chrono::Duration::seconds(1)
                        }
                        _ => backoff.wait(queued.attempts + 1),
                    };
                    DeliveryAttempt::Retry {
                        next_attempt_at: now + wait,
                        error: e.to_string(),
                    }
                }
                Err(e) => {
                    pass.failed += 1;
                    tracing::error!(%channel, channel_message_id = %id, error = %e, "giving up on a queued message");
                    DeliveryAttempt::Failed {
                        error: e.to_string(),
                    }
                }
            };
            self.store
                .record_inbound_attempt(channel, &id, &attempt, (self.clock)())
                .await?;
        }
        Ok(pass)
    }

    /// Run queued turns whenever `wake` is notified (a webhook queued a message) or every
    /// `every`, until `stop` turns true; then the turns still queued are run (the server has
    /// stopped taking messages, so this ends) and it returns. After each pass that ran turns,
    /// `replies` is notified so the outbox worker delivers at once.
    pub async fn run_queue(
        self: Arc<Self>,
        backoff: Backoff,
        every: std::time::Duration,
        wake: Arc<Notify>,
        replies: Arc<Notify>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let handled = match self.run_queue_once(&backoff, (self.clock)()).await {
                Ok(pass) => pass.handled,
                Err(e) => {
                    tracing::error!(error = %e, "intake worker: store failed; retrying");
                    0
                }
            };
            if handled > 0 {
                replies.notify_one();
            }
            // A pass takes one message per sender, so a sender's next message may be due now.
            if handled > 0 {
                continue;
            }
            if *stop.borrow() {
                tracing::info!("intake worker: queue drained; stopping");
                return;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
