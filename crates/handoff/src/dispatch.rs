//! The handoff queue: drains the handoff outbox, delivering each entry to the target with its
//! saved progress, and schedules retries with exponential backoff. A [`frontline_store::Worker`]
//! runs it, as it runs the intake and the reply outbox.

use crate::{Delivered, HandoffRequest, HandoffTarget};
use frontline_domain::Timestamp;
pub use frontline_store::Backoff;
use frontline_store::{DeliveryAttempt, Store, StoreError};
use std::sync::Arc;

/// The key of an entry that releases a conversation at the helpdesk (the bot has it again)
/// instead of handing it off; its value is the reference the handoff got there.
pub const RELEASE: &str = "release";

/// What one pass over the outbox did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Delivered now.
    pub delivered: usize,
    /// Failed and scheduled again.
    pub retrying: usize,
    /// Given up on.
    pub failed: usize,
}

/// Delivers queued handoffs to one target.
pub struct Dispatcher {
    store: Store,
    target: Arc<dyn HandoffTarget>,
    backoff: Backoff,
}

impl Dispatcher {
    /// A dispatcher for `target`'s entries in `store`.
    pub fn new(store: Store, target: Arc<dyn HandoffTarget>, backoff: Backoff) -> Self {
        Self {
            store,
            target,
            backoff,
        }
    }

    /// Try every due entry once.
    pub async fn run_once(&self, now: Timestamp) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        for entry in self.store.due_handoffs(now, 50).await? {
            if entry.target != self.target.name() {
                continue;
            }
            let mut progress = entry.progress.clone();
            let attempt = if let Some(reference) = entry.request.get(RELEASE) {
                let delivered = Delivered {
                    reference: reference.as_str().unwrap_or_default().to_string(),
                };
                match self.target.release(&delivered).await {
                    Ok(()) => DeliveryAttempt::Delivered {
                        reference: delivered.reference,
                    },
                    Err(e) => self.backoff.after_failure(
                        entry.attempts,
                        e.is_transient(),
                        e.to_string(),
                        now,
                    ),
                }
            } else {
                match serde_json::from_value::<HandoffRequest>(entry.request.clone()) {
                    Err(e) => DeliveryAttempt::Failed {
                        error: format!("stored request is unreadable: {e}"),
                    },
                    Ok(request) => match self.target.deliver(&request, &mut progress).await {
                        Ok(delivered) => DeliveryAttempt::Delivered {
                            reference: delivered.reference,
                        },
                        Err(e) => self.backoff.after_failure(
                            entry.attempts,
                            e.is_transient(),
                            e.to_string(),
                            now,
                        ),
                    },
                }
            };
            match &attempt {
                DeliveryAttempt::Delivered { reference } => {
                    tracing::info!(handoff = %entry.id, target = self.target.name(), %reference, "handoff delivered");
                    pass.delivered += 1;
                }
                DeliveryAttempt::Retry { error, .. } => {
                    tracing::warn!(handoff = %entry.id, %error, "handoff delivery failed; will retry");
                    pass.retrying += 1;
                }
                DeliveryAttempt::Failed { error } => {
                    tracing::error!(handoff = %entry.id, %error, "handoff delivery failed for good");
                    pass.failed += 1;
                }
            }
            self.store
                .record_handoff_attempt(&entry.id, &progress, &attempt, now)
                .await?;
        }
        Ok(pass)
    }
}

impl frontline_store::Queue for Dispatcher {
    fn name(&self) -> &'static str {
        "handoffs"
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
